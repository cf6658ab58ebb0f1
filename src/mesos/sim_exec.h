/*
 * sim_exec: mesos-sim --exec — a task's command run as an agent's command
 * executor runs it: `sh -c <value>` (or the argv when `shell` is false) in a
 * sandbox directory of its own (<root>/<agent id>/<task id>, with files
 * stdout and stderr), the TaskInfo's environment plus MESOS_SANDBOX and
 * MESOS_TASK_ID, in a process group of its own so a kill reaches its
 * children. For tests and the demo at small sizes: every task is a real
 * process.
 */
#ifndef SIM_EXEC_H
#define SIM_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mesos/v1/mesos.pb-c.h"

/*
 * Starts ti's command for task_id on agent_id under root; its pid, or -1
 * with why (no command, the sandbox or the process could not be made).
 * dir receives the sandbox path.
 */
pid_t sim_exec_start(const char *root, const char *agent_id, const char *task_id,
                     const Mesos__V1__TaskInfo *ti, char *dir, size_t dlen, char *why, size_t wl);

/* The sandbox of a task (whether it exists or not). */
void sim_exec_sandbox(const char *root, const char *agent_id, const char *task_id, char *dir,
                      size_t len);

/* SIGKILL of its group, then its reaping (blocking). */
void sim_exec_kill_now(pid_t pid);

/* Signals a started task's whole process group (SIGTERM, SIGKILL). */
void sim_exec_signal(pid_t pid, int sig);

/*
 * The task's end, if it ended: true with *code (its exit status, or
 * 128 + the signal that ended it) and *signaled; false while it runs.
 */
bool sim_exec_ended(pid_t pid, int *code, bool *signaled);

#endif
