/* JSON-lines logger; see log.h. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static _Atomic int log_threshold = LOG_INFO;
/* a temporary threshold: back to revert_level at revert_at (CLOCK_MONOTONIC
 * ns; 0 = none) */
static _Atomic uint64_t revert_at;
static _Atomic int revert_level = LOG_INFO;

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug",
    [LOG_INFO] = "info",
    [LOG_WARN] = "warn",
    [LOG_ERROR] = "error",
};

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* The threshold now: a temporary one that ran out is reverted here. */
static int threshold(void)
{
	uint64_t at = atomic_load_explicit(&revert_at, memory_order_relaxed);
	if (at && mono_ns() >= at && atomic_compare_exchange_strong(&revert_at, &at, 0))
		atomic_store(&log_threshold, atomic_load(&revert_level));
	return atomic_load_explicit(&log_threshold, memory_order_relaxed);
}

void log_set_level(enum log_level level)
{
	atomic_store(&revert_at, 0);
	atomic_store_explicit(&log_threshold, (int)level, memory_order_relaxed);
}

void log_set_level_for(enum log_level level, double secs)
{
	if (!atomic_load(&revert_at)) /* (a second one keeps the first's base) */
		atomic_store(&revert_level, atomic_load(&log_threshold));
	atomic_store_explicit(&log_threshold, (int)level, memory_order_relaxed);
	atomic_store(&revert_at, mono_ns() + (uint64_t)(secs * 1e9));
}

enum log_level log_get_level(void)
{
	return (enum log_level)threshold();
}

const char *log_level_name(enum log_level level)
{
	if ((unsigned)level > LOG_ERROR)
		return "unknown";
	return level_names[level];
}

bool log_level_parse(const char *name, enum log_level *out)
{
	if (name == NULL)
		return false;
	for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	if (strcasecmp(name, "warning") == 0) {
		*out = LOG_WARN;
		return true;
	}
	return false;
}

/* Appends `s` JSON-escaped to buf[*len..cap); stops silently when full. */
static void json_escape(char *buf, size_t cap, size_t *len, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = *len;

	for (; *s != '\0' && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else if (c == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else if (c < 0x20) {
			memcpy(buf + n, "\\u00", 4);
			buf[n + 4] = hex[c >> 4];
			buf[n + 5] = hex[c & 15];
			n += 6;
		} else {
			buf[n++] = (char)c;
		}
	}
	*len = n;
}

/* Whether stderr is the systemd journal: JOURNAL_STREAM is "dev:inode" of
 * the stream systemd connected, and stderr is that very stream. */
static bool to_journal(void)
{
	static _Atomic int known = -1;
	int k = atomic_load(&known);
	if (k >= 0)
		return k;
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	k = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
	atomic_store(&known, k);
	return k;
}

static void write_line(enum log_level level, const char *module, const char *const *kv,
                       const char *msg)
{
	static const char prio[] = {'7', '6', '4', '3'}; /* syslog: debug info warning err */
	char line[LOG_LINE_MAX + 512];
	struct timespec ts;
	struct tm tm;
	size_t len = 0;

	if (to_journal()) {
		line[0] = '<';
		line[1] = prio[(unsigned)level <= LOG_ERROR ? level : LOG_ERROR];
		line[2] = '>';
		len = 3;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	len += strftime(line + len, sizeof(line) - len, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
	len += (size_t)snprintf(line + len, sizeof(line) - len,
	                        ".%06ldZ\",\"level\":\"%s\",\"module\":\"", ts.tv_nsec / 1000,
	                        log_level_name(level));
	json_escape(line, sizeof(line) - 16, &len, module ? module : "-");
	for (size_t i = 0; kv && kv[i]; i += 2) {
		if (!kv[i + 1] || !kv[i + 1][0] || len + 64 > sizeof(line) - LOG_LINE_MAX / 2)
			continue;
		memcpy(line + len, "\",\"", 3);
		len += 3;
		json_escape(line, sizeof(line) - 16, &len, kv[i]);
		memcpy(line + len, "\":\"", 3);
		len += 3;
		json_escape(line, sizeof(line) - LOG_LINE_MAX / 2, &len, kv[i + 1]);
	}
	memcpy(line + len, "\",\"msg\":\"", 9);
	len += 9;
	json_escape(line, sizeof(line) - 16, &len, msg);
	memcpy(line + len, "\"}\n", 3);
	len += 3;
	/* One write per line: concurrent lines never interleave. */
	ssize_t r = write(STDERR_FILENO, line, len);
	(void)r;
}

static void vlog(enum log_level level, const char *module, const char *const *kv, const char *fmt,
                 va_list ap)
{
	char msg[LOG_LINE_MAX];
	if ((int)level < threshold())
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	write_line(level, module, kv, msg);
}

void log_write(enum log_level level, const char *module, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, module, NULL, fmt, ap);
	va_end(ap);
}

void log_write_kv(enum log_level level, const char *module, const char *const *kv, const char *fmt,
                  ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, module, kv, fmt, ap);
	va_end(ap);
}

void log_task(enum log_level level, const char *module, const char *job, unsigned instance,
              const char *host, const char *fmt, ...)
{
	char inst[16], task[160];
	snprintf(inst, sizeof(inst), "%u", instance);
	snprintf(task, sizeof(task), "%s-%u", job ? job : "", instance);
	const char *const kv[] = {"job", job, "instance", inst, "task", task, "host", host, NULL};
	va_list ap;
	va_start(ap, fmt);
	vlog(level, module, kv, fmt, ap);
	va_end(ap);
}
