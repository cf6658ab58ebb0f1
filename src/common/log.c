/* JSON-lines logger; see log.h. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static _Atomic int log_threshold = LOG_INFO;

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug",
    [LOG_INFO] = "info",
    [LOG_WARN] = "warn",
    [LOG_ERROR] = "error",
};

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&log_threshold, (int)level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_threshold, memory_order_relaxed);
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

void log_write(enum log_level level, const char *module, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX];
	char line[LOG_LINE_MAX + 128];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t len;

	if ((int)level < atomic_load_explicit(&log_threshold, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	len = strftime(line, sizeof(line), "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
	len += (size_t)snprintf(line + len, sizeof(line) - len,
	                        ".%06ldZ\",\"level\":\"%s\",\"module\":\"", ts.tv_nsec / 1000,
	                        log_level_name(level));
	json_escape(line, sizeof(line) - 16, &len, module ? module : "-");
	memcpy(line + len, "\",\"msg\":\"", 9);
	len += 9;
	json_escape(line, sizeof(line) - 16, &len, msg);
	memcpy(line + len, "\"}\n", 3);
	len += 3;
	/* One write per line: concurrent lines never interleave. */
	ssize_t r = write(STDERR_FILENO, line, len);
	(void)r;
}
