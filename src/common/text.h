/*
 * text: what a name or label from a client may hold.
 *
 * Names (jobs, pools, ports) and labels (keys and values) end up in logs,
 * metric labels, the CLI's tables and Mesos TaskInfos. They must be valid
 * UTF-8 without control characters: no C0 (U+0000-U+001F), no DEL (U+007F),
 * no C1 (U+0080-U+009F). Every other character is allowed. docs/LIMITS.md
 * lists the limits per field.
 */
#ifndef TEXT_H
#define TEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * NULL when s (NUL-terminated, NULL counts as empty) is at most max bytes of
 * valid UTF-8 without control characters; else a static reason.
 */
const char *text_check(const char *s, size_t max);

/* RFC 3339 (UTC, milliseconds) of a wall-clock time in ns; "" for 0. */
void text_rfc3339(uint64_t wall_ns, char *buf, size_t len);

#endif
