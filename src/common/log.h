/*
 * log: JSON-lines logging to stderr (one object per line: ts, level,
 * module, msg, and the ids a line is about — job, instance, task, host —
 * as fields of their own), the format operators feed to their log
 * pipelines. When stderr is the systemd journal (JOURNAL_STREAM names it),
 * each line starts with its syslog priority, <3> error to <7> debug, so
 * `journalctl -p err` finds errors.
 *
 * The level is one process-wide atomic, changeable at run time (the daemon's
 * PUT /logging-level). Thread-safe: each line is formatted into a stack
 * buffer and written with one write(2), so lines from threads never
 * interleave. Lines longer than LOG_LINE_MAX are truncated, never split.
 */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO = 1,
	LOG_WARN = 2,
	LOG_ERROR = 3,
};

#define LOG_LINE_MAX 4096

/* Sets / reads the process-wide threshold (a set cancels a temporary one). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* The threshold `level` for `secs` seconds, then back to what it was
 * (upstream's /logging-level?level=debug&duration=60s). */
void log_set_level_for(enum log_level level, double secs);

/* "debug", "info", "warn", "error" (also "warning"); false if unknown. */
bool log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

/* Writes one line if level >= threshold. `module` is a short static name. */
void log_write(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* log_write with fields: kv is NULL-terminated pairs of key and value
 * (values NULL or "" are left out), e.g. {"job", id, "instance", "3", NULL}. */
void log_write_kv(enum log_level level, const char *module, const char *const *kv, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

/* A line about one job (the field "job"). */
#define log_job(lvl, mod, job, ...) \
	log_write_kv(lvl, mod, (const char *const[]){"job", (job), NULL}, __VA_ARGS__)

/* A line about one task: fields job, instance, task ("<job>-<instance>")
 * and host (when known). */
void log_task(enum log_level level, const char *module, const char *job, unsigned instance,
              const char *host, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#define log_debug(mod, ...) log_write(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...) log_write(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_write(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_write(LOG_ERROR, mod, __VA_ARGS__)

#endif
