/*
 * yamljson: a YAML document as a jansson value, remembering the line of
 * every mapping key and sequence item so errors found later (by pjson, by
 * config checks) can be reported as file:line.
 *
 * Scalars become JSON strings, except plain (unquoted) scalars that read as
 * an integer, a float, true/false or null, which become those types. One
 * document per file; anchors and aliases are refused (no billion laughs).
 */
#ifndef YAMLJSON_H
#define YAMLJSON_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

struct yamljson_lines;

/*
 * Parses `len` bytes. Returns the value (caller json_decref's it) and, when
 * lines is not NULL, a line table (free with yamljson_lines_free). NULL on
 * a syntax error, with "line N: problem" in err.
 */
json_t *yamljson_parse(const char *text, size_t len, struct yamljson_lines **lines, char *err,
                       size_t errlen);
/* Reads and parses a file; errors are prefixed with the path. */
json_t *yamljson_load_file(const char *path, struct yamljson_lines **lines, char *err,
                           size_t errlen);

/* What a parse tolerates (the CLI loading upstream's specs as upstream did). */
struct yamljson_opts {
	/* non-NULL: a key given twice in a mapping is told here (its line and
	 * path) and the last one wins, instead of an error */
	void (*duplicate)(void *arg, unsigned line, const char *path);
	void *arg;
};
json_t *yamljson_parse_opts(const char *text, size_t len, const struct yamljson_opts *opts,
                            struct yamljson_lines **lines, char *err, size_t errlen);
json_t *yamljson_load_file_opts(const char *path, const struct yamljson_opts *opts,
                                struct yamljson_lines **lines, char *err, size_t errlen);

/*
 * The line of the node at `path` ("defaultconfig.resource.cpulimit",
 * "instanceconfig[3].name" — pjson's error paths), or of its nearest
 * ancestor; 0 when unknown.
 */
unsigned yamljson_line(const struct yamljson_lines *l, const char *path);
void yamljson_lines_free(struct yamljson_lines *l);

/*
 * Writes v as a YAML document through libyaml's emitter: block style, keys
 * in the value's order; a string that a YAML 1.1 reader would take for
 * something else (a number, a bool, null, a timestamp) is quoted, so the
 * output loads back as the same value. 0, or -1 with the emitter's problem
 * in err.
 */
int yamljson_emit(const json_t *v, FILE *out, char *err, size_t errlen);

#endif
