#include "grpcinit.h"

#include <pthread.h>

#include <grpc/grpc.h>

/*
 * Debian builds Abseil without NDEBUG, so every absl::Mutex the gRPC core
 * takes also runs Abseil's lock-order deadlock detector, which updates one
 * process-wide graph under one global spin lock: all gRPC threads of the
 * process serialise on it (GraphCycles::GetId and friends were ~3% of a
 * bench_rpc profile, plus the contention). Release builds of Abseil have it
 * off; we turn it off the same way. The setter is C++
 * (absl::SetMutexDeadlockDetectionMode(OnDeadlockCycle::kIgnore), kIgnore
 * being 0); it is referenced weakly under Debian's mangled name, so an
 * Abseil built another way simply keeps its default.
 */
extern void _ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE(int mode)
    __attribute__((weak));

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void)
{
	if (_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE)
		_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE(0);
	grpc_init();
}

void pel_grpc_init(void)
{
	pthread_once(&once, init);
}
