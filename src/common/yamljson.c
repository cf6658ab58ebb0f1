#include "yamljson.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define MAX_DEPTH 64

struct line_ent {
	char *path;
	unsigned line;
};

struct yamljson_lines {
	struct line_ent *v;
	size_t n, cap;
};

struct ctx {
	yaml_parser_t p;
	const struct yamljson_opts *opts; /* NULL: defaults */
	struct yamljson_lines *lines;
	char path[512];
	char *err;
	size_t errlen;
	int depth;
};

static void note(struct ctx *c, unsigned line)
{
	struct yamljson_lines *l = c->lines;
	if (!l)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct line_ent *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	char *p = strdup(c->path);
	if (!p)
		return;
	l->v[l->n++] = (struct line_ent){p, line};
}

static json_t *scalar(const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || n == 0)
		return n == 0 && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
		           ? json_null()
		           : json_stringn(s, n);
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
		return json_false();
	if (!strcmp(s, "null") || !strcmp(s, "~") || !strcmp(s, "Null"))
		return json_null();
	char *end;
	errno = 0;
	long long iv = strtoll(s, &end, 10);
	if (*end == 0 && errno == 0 && (isdigit((unsigned char)s[0]) || s[0] == '-'))
		return json_integer(iv);
	errno = 0;
	double dv = strtod(s, &end);
	if (*end == 0 && errno == 0 && (isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '.'))
		return json_real(dv);
	return json_stringn(s, n);
}

static int fail(struct ctx *c, unsigned line, const char *msg)
{
	if (c->errlen && !c->err[0])
		snprintf(c->err, c->errlen, "line %u: %s", line, msg);
	return -1;
}

static json_t *node(struct ctx *c, yaml_event_t *ev);

static json_t *mapping(struct ctx *c)
{
	json_t *o = json_object();
	for (;;) {
		yaml_event_t k;
		if (!yaml_parser_parse(&c->p, &k)) {
			fail(c, (unsigned)c->p.problem_mark.line + 1,
			     c->p.problem ? c->p.problem : "?");
			json_decref(o);
			return NULL;
		}
		if (k.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&k);
			return o;
		}
		if (k.type != YAML_SCALAR_EVENT) {
			fail(c, (unsigned)k.start_mark.line + 1,
			     "mapping keys must be plain scalars");
			yaml_event_delete(&k);
			json_decref(o);
			return NULL;
		}
		char key[128];
		snprintf(key, sizeof(key), "%s", (const char *)k.data.scalar.value);
		unsigned line = (unsigned)k.start_mark.line + 1;
		yaml_event_delete(&k);
		size_t saved = strlen(c->path);
		snprintf(c->path + saved, sizeof(c->path) - saved, "%s%s", saved ? "." : "", key);
		note(c, line);
		if (json_object_get(o, key)) {
			if (!c->opts || !c->opts->duplicate) {
				fail(c, line, "duplicate key");
				json_decref(o);
				return NULL;
			}
			c->opts->duplicate(c->opts->arg, line, c->path); /* the last one wins */
		}
		yaml_event_t v;
		json_t *val = NULL;
		if (yaml_parser_parse(&c->p, &v)) {
			val = node(c, &v);
			yaml_event_delete(&v);
		} else {
			fail(c, (unsigned)c->p.problem_mark.line + 1,
			     c->p.problem ? c->p.problem : "?");
		}
		c->path[saved] = 0;
		if (!val) {
			json_decref(o);
			return NULL;
		}
		json_object_set_new(o, key, val);
	}
}

static json_t *sequence(struct ctx *c)
{
	json_t *a = json_array();
	for (size_t i = 0;; i++) {
		yaml_event_t v;
		if (!yaml_parser_parse(&c->p, &v)) {
			fail(c, (unsigned)c->p.problem_mark.line + 1,
			     c->p.problem ? c->p.problem : "?");
			json_decref(a);
			return NULL;
		}
		if (v.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&v);
			return a;
		}
		size_t saved = strlen(c->path);
		snprintf(c->path + saved, sizeof(c->path) - saved, "[%zu]", i);
		note(c, (unsigned)v.start_mark.line + 1);
		json_t *val = node(c, &v);
		yaml_event_delete(&v);
		c->path[saved] = 0;
		if (!val) {
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, val);
	}
}

static json_t *node(struct ctx *c, yaml_event_t *ev)
{
	unsigned line = (unsigned)ev->start_mark.line + 1;
	if (c->depth >= MAX_DEPTH)
		return fail(c, line, "nested too deeply"), NULL;
	json_t *r = NULL;
	c->depth++;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		r = scalar(ev);
		break;
	case YAML_MAPPING_START_EVENT:
		r = mapping(c);
		break;
	case YAML_SEQUENCE_START_EVENT:
		r = sequence(c);
		break;
	case YAML_ALIAS_EVENT:
		fail(c, line, "aliases are not supported");
		break;
	default:
		fail(c, line, "unexpected YAML event");
		break;
	}
	c->depth--;
	return r;
}

json_t *yamljson_parse(const char *text, size_t len, struct yamljson_lines **lines, char *err,
                       size_t errlen)
{
	return yamljson_parse_opts(text, len, NULL, lines, err, errlen);
}

json_t *yamljson_parse_opts(const char *text, size_t len, const struct yamljson_opts *opts,
                            struct yamljson_lines **lines, char *err, size_t errlen)
{
	struct ctx c = {.opts = opts, .err = err, .errlen = errlen};
	if (errlen)
		err[0] = 0;
	if (lines) {
		*lines = calloc(1, sizeof(**lines));
		c.lines = *lines;
	}
	yaml_parser_initialize(&c.p);
	yaml_parser_set_input_string(&c.p, (const unsigned char *)text, len);
	json_t *root = NULL;
	bool in_doc = false;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&c.p, &ev)) {
			fail(&c, (unsigned)c.p.problem_mark.line + 1,
			     c.p.problem ? c.p.problem : "syntax error");
			break;
		}
		yaml_event_type_t t = ev.type;
		if (t == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			if (!root)
				root = json_object(); /* empty file: empty mapping */
			break;
		}
		if (t == YAML_DOCUMENT_START_EVENT) {
			if (root) {
				fail(&c, (unsigned)ev.start_mark.line + 1,
				     "only one document per file");
				yaml_event_delete(&ev);
				json_decref(root);
				root = NULL;
				break;
			}
			in_doc = true;
		} else if (in_doc && t != YAML_DOCUMENT_END_EVENT && t != YAML_STREAM_START_EVENT) {
			root = node(&c, &ev);
			if (!root) {
				yaml_event_delete(&ev);
				break;
			}
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&c.p);
	if (!root && lines) {
		yamljson_lines_free(*lines);
		*lines = NULL;
	}
	return root;
}

json_t *yamljson_load_file(const char *path, struct yamljson_lines **lines, char *err,
                           size_t errlen)
{
	return yamljson_load_file_opts(path, NULL, lines, err, errlen);
}

json_t *yamljson_load_file_opts(const char *path, const struct yamljson_opts *opts,
                                struct yamljson_lines **lines, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? 2 * cap : 8192;
			if (cap > (64u << 20)) {
				snprintf(err, errlen, "%s: larger than 64 MiB", path);
				free(buf);
				fclose(f);
				return NULL;
			}
			char *nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	char sub[256];
	json_t *j = yamljson_parse_opts(buf ? buf : "", len, opts, lines, sub, sizeof(sub));
	free(buf);
	if (!j)
		snprintf(err, errlen, "%s:%s", path, sub + (strncmp(sub, "line ", 5) == 0 ? 5 : 0));
	return j;
}

unsigned yamljson_line(const struct yamljson_lines *l, const char *path)
{
	if (!l)
		return 0;
	char p[512];
	snprintf(p, sizeof(p), "%s", path);
	for (;;) {
		for (size_t i = 0; i < l->n; i++)
			if (strcmp(l->v[i].path, p) == 0)
				return l->v[i].line;
		char *cut = strrchr(p, '.');
		char *br = strrchr(p, '[');
		if (br && (!cut || br > cut))
			cut = br;
		if (!cut)
			return 0;
		*cut = 0;
	}
}

void yamljson_lines_free(struct yamljson_lines *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	free(l);
}

/* ---- emitting ---------------------------------------------------------- */

/* A number in one of YAML 1.1's spellings: with underscores, a sign, 0x /
 * 0o / 0b prefixes, sexagesimal (1:30), exponents. */
static bool looks_numeric(const char *s)
{
	char buf[128];
	size_t n = 0;
	for (; *s && n < sizeof(buf) - 1; s++)
		if (*s != '_')
			buf[n++] = *s;
	if (*s || n == 0)
		return false; /* longer than any number worth the care */
	buf[n] = 0;
	const char *p = buf + (buf[0] == '+' || buf[0] == '-');
	if (p[0] == '0' && p[1] && strchr("xXoObB", p[1]) && p[2]) {
		for (p += 2; *p; p++)
			if (!isxdigit((unsigned char)*p))
				return false;
		return true;
	}
	if (isdigit((unsigned char)p[0]) && strchr(p, ':')) {
		for (; *p; p++)
			if (!isdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return false;
		return true;
	}
	char *end;
	strtod(p, &end);
	return end != p && *end == 0;
}

/* Whether a plain scalar s would be read back as something but a string by
 * a YAML 1.1 reader (PyYAML, go-yaml v2): then it is quoted. */
static bool reads_as_other(const char *s)
{
	static const char *const words[] = {"true", "false", "yes", "no", "on", "off",
	                                    "null", "y",     "n",   "~",  "=",  "<<"};
	size_t n = strlen(s);
	if (n == 0)
		return true;
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	if (strcasecmp(s, ".inf") == 0 || strcasecmp(s, "-.inf") == 0 ||
	    strcasecmp(s, "+.inf") == 0 || strcasecmp(s, ".nan") == 0 || looks_numeric(s))
		return true;
	/* timestamps: 2026-12-04, 2026-12-04T23:59:59.123Z */
	return n >= 10 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[3]) &&
	       s[4] == '-' && isdigit((unsigned char)s[5]) && s[7] == '-' &&
	       isdigit((unsigned char)s[8]);
}

static int emit_scalar(yaml_emitter_t *e, const char *s, bool is_string)
{
	yaml_event_t ev;
	yaml_scalar_style_t style = is_string && reads_as_other(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
	                                                           : YAML_ANY_SCALAR_STYLE;
	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
	                                  style))
		return -1;
	return yaml_emitter_emit(e, &ev) ? 0 : -1;
}

static int emit_value(yaml_emitter_t *e, const json_t *v, int depth)
{
	yaml_event_t ev;
	const char *k;
	json_t *x;
	size_t i;
	if (depth > 256)
		return -1;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
		                                         YAML_BLOCK_MAPPING_STYLE) ||
		    !yaml_emitter_emit(e, &ev))
			return -1;
		json_object_foreach((json_t *)v, k, x)
		{
			if (emit_scalar(e, k, true) != 0 || emit_value(e, x, depth + 1) != 0)
				return -1;
		}
		return yaml_mapping_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev) ? 0 : -1;
	case JSON_ARRAY:
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
		                                          YAML_BLOCK_SEQUENCE_STYLE) ||
		    !yaml_emitter_emit(e, &ev))
			return -1;
		json_array_foreach(v, i, x)
		{
			if (emit_value(e, x, depth + 1) != 0)
				return -1;
		}
		return yaml_sequence_end_event_initialize(&ev) && yaml_emitter_emit(e, &ev) ? 0
		                                                                            : -1;
	case JSON_STRING:
		return emit_scalar(e, json_string_value(v), true);
	default: {
		char *s = json_dumps(v, JSON_ENCODE_ANY);
		int rc = s ? emit_scalar(e, s, false) : -1;
		free(s);
		return rc;
	}
	}
}

int yamljson_emit(const json_t *v, FILE *out, char *err, size_t errlen)
{
	yaml_emitter_t e;
	yaml_event_t ev;
	if (!yaml_emitter_initialize(&e)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	yaml_emitter_set_output_file(&e, out);
	yaml_emitter_set_unicode(&e, 1);
	yaml_emitter_set_width(&e, -1); /* long strings stay on their line */
	int rc = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
	                 yaml_emitter_emit(&e, &ev) &&
	                 yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
	                 yaml_emitter_emit(&e, &ev) && emit_value(&e, v, 0) == 0 &&
	                 yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&e, &ev) &&
	                 yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&e, &ev) &&
	                 yaml_emitter_flush(&e)
	             ? 0
	             : -1;
	if (rc != 0)
		snprintf(err, errlen, "%s",
		         e.problem ? e.problem : "cannot write YAML (nesting too deep?)");
	yaml_emitter_delete(&e);
	return rc;
}
