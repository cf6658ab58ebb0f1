#include "pjson.h"
#include "proto_codec.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMBER(type, m, off) (*(type *)((char *)(m) + (off)))

void pjson_field_name(const char *p, char *buf, size_t len)
{
	size_t o = 0;
	bool up = false;
	for (; *p && o + 1 < len; p++) {
		if (*p == '_') {
			up = true;
			continue;
		}
		buf[o++] = up ? (char)toupper((unsigned char)*p) : *p;
		up = false;
	}
	if (len)
		buf[o] = 0;
}

/* ---- base64 (standard alphabet out; standard or URL-safe in) ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *d, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)d[i + 1] << 8;
		if (i + 2 < n)
			v |= d[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = 0;
	return out;
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

static int b64_decode(const char *s, size_t n, ProtobufCBinaryData *out)
{
	while (n && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	uint8_t *d = malloc(n * 3 / 4 + 1);
	if (!d)
		return -1;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64_val(s[i]);
		if (v < 0) {
			free(d);
			return -1;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			d[o++] = (uint8_t)(acc >> bits);
		}
	}
	out->data = d;
	out->len = o;
	return 0;
}

/* ---- encode ---- */

static bool field_present(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
	const void *p = (const char *)m + f->offset;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return MEMBER(uint32_t, m, f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return true;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		if (!s)
			return false;
		return f->label == PROTOBUF_C_LABEL_OPTIONAL ? true : s[0] != 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)p != NULL;
	default:
		break;
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return MEMBER(protobuf_c_boolean, m, f->quantifier_offset) != 0;
	/* proto3 scalar: present when not zero */
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return *(const uint64_t *)p != 0;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)p != 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)p != 0;
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len != 0;
	default:
		return *(const uint32_t *)p != 0;
	}
}

static json_t *enc_double(double v)
{
	if (isnan(v))
		return json_string("NaN");
	if (isinf(v))
		return json_string(v > 0 ? "Infinity" : "-Infinity");
	return json_real(v);
}

static json_t *enc_message(const ProtobufCMessage *m, unsigned flags);

/*
 * A string field as JSON. protobuf-c does not check UTF-8, so bytes that
 * are not valid UTF-8 become U+FFFD here: the output is always valid JSON.
 */
static json_t *enc_string(const char *s)
{
	if (!s)
		return json_string("");
	json_t *j = json_string(s);
	if (j)
		return j;
	size_t n = strlen(s);
	char *buf = malloc(3 * n + 1), *o = buf;
	if (!buf)
		return NULL;
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t len = u[i] < 0x80         ? 1
		             : (u[i] >> 5) == 6  ? 2
		             : (u[i] >> 4) == 14 ? 3
		             : (u[i] >> 3) == 30 ? 4
		                                 : 0;
		bool ok = len && i + len <= n;
		for (size_t k = 1; ok && k < len; k++)
			ok = (u[i + k] & 0xc0) == 0x80;
		if (ok) {
			/* jansson also refuses overlong forms and surrogates */
			json_t *t = json_stringn((const char *)u + i, len);
			ok = t != NULL;
			json_decref(t);
		}
		if (ok) {
			memcpy(o, u + i, len);
			o += len;
			i += len;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	*o = 0;
	j = json_string(buf);
	free(buf);
	return j;
}

static json_t *enc_value(const ProtobufCFieldDescriptor *f, const void *p, unsigned flags)
{
	char buf[32];
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (flags & PJSON_PROTO_NAMES)
			return json_integer((json_int_t) * (const int64_t *)p);
		snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *)p);
		return json_string(buf);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if ((flags & PJSON_PROTO_NAMES) && *(const uint64_t *)p <= (uint64_t)INT64_MAX)
			return json_integer((json_int_t) * (const uint64_t *)p);
		snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *)p);
		return json_string(buf);
	case PROTOBUF_C_TYPE_FLOAT:
		return enc_double(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return enc_double(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		const ProtobufCEnumValue *ev =
		    protobuf_c_enum_descriptor_get_value(f->descriptor, v);
		return ev ? json_string(ev->name) : json_integer(v);
	}
	case PROTOBUF_C_TYPE_STRING:
		return enc_string(*(char *const *)p);
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		char *s = b64_encode(b->data, b->len);
		json_t *j = s ? json_string(s) : NULL;
		free(s);
		return j;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
		return sub ? enc_message(sub, flags) : json_object();
	}
	}
	return NULL;
}

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return 4;
	}
}

/* A map field: repeated XxxEntry with exactly `key` = 1 and `value` = 2. */
static bool is_map(const ProtobufCFieldDescriptor *f)
{
	if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return false;
	const ProtobufCMessageDescriptor *d = f->descriptor;
	size_t nl = strlen(d->name);
	return d->n_fields == 2 && nl > 5 && strcmp(d->name + nl - 5, "Entry") == 0 &&
	       strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0;
}

static json_t *enc_map_key(const ProtobufCMessage *entry)
{
	const ProtobufCFieldDescriptor *kf = &entry->descriptor->fields[0];
	json_t *k = enc_value(kf, (const char *)entry + kf->offset, 0);
	if (!k || json_is_string(k))
		return k;
	char buf[32];
	if (json_is_integer(k))
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(k));
	else
		snprintf(buf, sizeof(buf), "%s", json_is_true(k) ? "true" : "false");
	json_decref(k);
	return json_string(buf);
}

static json_t *enc_repeated(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m,
                            unsigned flags)
{
	size_t n = MEMBER(size_t, m, f->quantifier_offset);
	const char *arr = MEMBER(const char *, m, f->offset);
	size_t es = elem_size(f->type);
	bool map = is_map(f);
	json_t *out = map ? json_object() : json_array();
	for (size_t i = 0; out && i < n; i++) {
		json_t *v;
		if (map) {
			const ProtobufCMessage *e = ((ProtobufCMessage *const *)arr)[i];
			const ProtobufCFieldDescriptor *vf = &e->descriptor->fields[1];
			json_t *k = enc_map_key(e);
			v = enc_value(vf, (const char *)e + vf->offset, flags);
			if (!k || !v || json_object_set_new(out, json_string_value(k), v) != 0) {
				json_decref(k);
				json_decref(v);
				json_decref(out);
				return NULL;
			}
			json_decref(k);
			continue;
		}
		v = enc_value(f, arr + i * es, flags);
		if (!v || json_array_append_new(out, v) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static json_t *enc_message(const ProtobufCMessage *m, unsigned flags)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	json_t *o = json_object();
	char name[128];
	for (unsigned i = 0; o && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		json_t *v;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			if (MEMBER(size_t, m, f->quantifier_offset) == 0)
				continue;
			v = enc_repeated(f, m, flags);
		} else {
			if (!field_present(f, m))
				continue;
			v = enc_value(f, (const char *)m + f->offset, flags);
		}
		if (flags & PJSON_PROTO_NAMES)
			snprintf(name, sizeof(name), "%s", f->name);
		else
			pjson_field_name(f->name, name, sizeof(name));
		if (!v || json_object_set_new(o, name, v) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *pjson_encode(const ProtobufCMessage *m)
{
	return enc_message(m, 0);
}

char *pjson_dumps(const ProtobufCMessage *m)
{
	return pjson_dumps_flags(m, 0);
}

char *pjson_dumps_flags(const ProtobufCMessage *m, unsigned flags)
{
	json_t *j = enc_message(m, flags);
	if (!j)
		return NULL;
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	return s;
}

/* ---- decode ---- */

struct dec {
	unsigned flags;
	pjson_skip_f skipped; /* with PJSON_IGNORE_UNKNOWN: told of each key skipped */
	void *skip_arg;
	char *err;
	size_t errlen;
	char path[256];
	int depth;
};

/*
 * err = "<path>: <reason>". The reason is kept whole; a path too long for
 * the rest of err loses its beginning ("...<tail>"), the end being the
 * field nearest the fault.
 */
__attribute__((format(printf, 2, 3))) static int fail(struct dec *c, const char *fmt, ...)
{
	if (!c->errlen || c->err[0])
		return -1;
	char why[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	size_t plen = strlen(c->path), wlen = strlen(why);
	if (plen == 0) {
		snprintf(c->err, c->errlen, "%s", why);
		return -1;
	}
	size_t room = c->errlen > wlen + 3 ? c->errlen - wlen - 3 : 0;
	if (plen < room)
		snprintf(c->err, c->errlen, "%s: %s", c->path, why);
	else if (room > 4)
		snprintf(c->err, c->errlen, "...%s: %s", c->path + plen - (room - 4), why);
	else
		snprintf(c->err, c->errlen, "%s", why);
	return -1;
}

static bool loose_eq(const char *a, const char *b)
{
	for (;;) {
		while (*a == '_')
			a++;
		while (*b == '_')
			b++;
		if (!*a || !*b)
			return *a == *b;
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
		a++;
		b++;
	}
}

/* key == the JSON name of proto field name p, compared as it is derived. */
static bool json_name_eq(const char *p, const char *key)
{
	bool up = false;
	for (; *p; p++) {
		if (*p == '_') {
			up = true;
			continue;
		}
		if (*key++ != (up ? (char)toupper((unsigned char)*p) : *p))
			return false;
		up = false;
	}
	return *key == 0;
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
                                                  const char *key, unsigned flags)
{
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (strcmp(key, f->name) == 0 ||
		    (!(flags & PJSON_PROTO_NAMES_ONLY) && json_name_eq(f->name, key)))
			return f;
	}
	if (flags & PJSON_LOOSE_NAMES)
		for (unsigned i = 0; i < d->n_fields; i++)
			if (loose_eq(key, d->fields[i].name))
				return &d->fields[i];
	return NULL;
}

/* An integer from a JSON number or a decimal string, within [lo, hi]. */
static int dec_int(struct dec *c, const json_t *j, bool is_signed, uint64_t max, void *out,
                   size_t sz)
{
	int64_t sv = 0;
	uint64_t uv = 0;
	bool neg = false;
	if (json_is_integer(j)) {
		sv = json_integer_value(j);
		neg = sv < 0;
		uv = neg ? 0 : (uint64_t)sv;
	} else if (json_is_real(j)) {
		double d = json_real_value(j);
		if (d != floor(d) || fabs(d) > 9.007199254740992e15)
			return fail(c, "expected an integer, got %g", d);
		sv = (int64_t)d;
		neg = sv < 0;
		uv = neg ? 0 : (uint64_t)sv;
	} else if (json_is_string(j)) {
		const char *s = json_string_value(j);
		char *end;
		errno = 0;
		if (*s == '-') {
			sv = strtoll(s, &end, 10);
			neg = true;
		} else {
			uv = strtoull(s, &end, 10);
			sv = (int64_t)uv;
		}
		if (!*s || *end || errno || (!neg && !isdigit((unsigned char)*s)))
			return fail(c, "'%s' is not an integer", s);
	} else {
		return fail(c, "expected an integer");
	}
	if (neg && !is_signed)
		return fail(c, "expected an unsigned integer, got %" PRId64, sv);
	if (is_signed) {
		int64_t lim = (int64_t)(max >> 1);
		if ((neg && sv < -lim - 1) || (!neg && uv > (uint64_t)lim))
			return fail(c, "integer out of range");
	} else if (uv > max) {
		return fail(c, "integer out of range");
	}
	if (sz == 8)
		memcpy(out, is_signed ? (void *)&sv : (void *)&uv, 8);
	else if (is_signed) {
		int32_t v = (int32_t)sv;
		memcpy(out, &v, 4);
	} else {
		uint32_t v = (uint32_t)uv;
		memcpy(out, &v, 4);
	}
	return 0;
}

static int dec_double(struct dec *c, const json_t *j, double *out)
{
	if (json_is_number(j)) {
		*out = json_number_value(j);
		return 0;
	}
	if (json_is_string(j)) {
		const char *s = json_string_value(j);
		if (strcmp(s, "NaN") == 0)
			*out = NAN;
		else if (strcmp(s, "Infinity") == 0)
			*out = INFINITY;
		else if (strcmp(s, "-Infinity") == 0)
			*out = -INFINITY;
		else {
			char *end;
			*out = strtod(s, &end);
			if (!*s || *end)
				return fail(c, "'%s' is not a number", s);
		}
		return 0;
	}
	return fail(c, "expected a number");
}

static ProtobufCMessage *dec_message(struct dec *c, const ProtobufCMessageDescriptor *d,
                                     const json_t *j);

/* Decodes one value of field f into p (the field's slot or an array element). */
static int dec_value(struct dec *c, const ProtobufCFieldDescriptor *f, const json_t *j, void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return dec_int(c, j, true, UINT32_MAX, p, 4);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return dec_int(c, j, false, UINT32_MAX, p, 4);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return dec_int(c, j, true, UINT64_MAX, p, 8);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return dec_int(c, j, false, UINT64_MAX, p, 8);
	case PROTOBUF_C_TYPE_FLOAT: {
		double v;
		if (dec_double(c, j, &v) != 0)
			return -1;
		*(float *)p = (float)v;
		return 0;
	}
	case PROTOBUF_C_TYPE_DOUBLE:
		return dec_double(c, j, p);
	case PROTOBUF_C_TYPE_BOOL:
		if (!json_is_boolean(j))
			return fail(c, "expected true or false");
		*(protobuf_c_boolean *)p = json_is_true(j);
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev = NULL;
		if (json_is_string(j)) {
			ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor,
			                                                  json_string_value(j));
			if (!ev && (c->flags & PJSON_LOOSE_NAMES)) {
				const ProtobufCEnumDescriptor *ed = f->descriptor;
				for (unsigned i = 0; i < ed->n_values && !ev; i++)
					if (loose_eq(ed->values[i].name, json_string_value(j)))
						ev = &ed->values[i];
			}
			if (!ev)
				return fail(c, "unknown %s value '%s'",
				            ((const ProtobufCEnumDescriptor *)f->descriptor)->name,
				            json_string_value(j));
		} else if (json_is_integer(j)) {
			/* enums are open: a number outside the listed values is kept,
			 * as the binary decoder keeps it */
			json_int_t v = json_integer_value(j);
			if (v < INT32_MIN || v > INT32_MAX)
				return fail(c, "enum number %" JSON_INTEGER_FORMAT " out of range",
				            v);
			*(int *)p = (int)v;
			return 0;
		} else {
			return fail(c, "expected an enum name");
		}
		*(int *)p = ev->value;
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		if (!json_is_string(j))
			return fail(c, "expected a string");
		char *s = strndup(json_string_value(j), json_string_length(j));
		if (!s)
			return fail(c, "out of memory");
		if (strlen(s) != json_string_length(j)) {
			free(s);
			return fail(c, "string holds a NUL character");
		}
		*(char **)p = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES:
		if (!json_is_string(j))
			return fail(c, "expected a base64 string");
		if (b64_decode(json_string_value(j), json_string_length(j), p) != 0)
			return fail(c, "invalid base64");
		return 0;
	case PROTOBUF_C_TYPE_MESSAGE: {
		ProtobufCMessage *sub = dec_message(c, f->descriptor, j);
		if (!sub)
			return -1;
		*(ProtobufCMessage **)p = sub;
		return 0;
	}
	}
	return fail(c, "unsupported field type");
}

static void path_push(struct dec *c, const char *seg, size_t *saved)
{
	*saved = strlen(c->path);
	snprintf(c->path + *saved, sizeof(c->path) - *saved, "%s%s",
	         *saved && seg[0] != '[' ? "." : "", seg);
}

/* A map key (JSON object keys are strings) as the key field's value. */
static int dec_map_key(struct dec *c, const ProtobufCFieldDescriptor *kf, const char *key, void *p)
{
	if (kf->type == PROTOBUF_C_TYPE_STRING) {
		*(char **)p = strdup(key);
		return *(char **)p ? 0 : fail(c, "out of memory");
	}
	if (kf->type == PROTOBUF_C_TYPE_BOOL) {
		if (strcmp(key, "true") && strcmp(key, "false"))
			return fail(c, "map key '%s' is not a bool", key);
		*(protobuf_c_boolean *)p = strcmp(key, "true") == 0;
		return 0;
	}
	json_t *s = json_string(key);
	int rc = s ? dec_value(c, kf, s, p) : fail(c, "out of memory");
	json_decref(s);
	return rc;
}

static int dec_map(struct dec *c, const ProtobufCFieldDescriptor *f, const json_t *j,
                   ProtobufCMessage *m)
{
	if (!json_is_object(j))
		return fail(c, "expected an object (map)");
	const ProtobufCMessageDescriptor *ed = f->descriptor;
	size_t n = json_object_size(j), i = 0;
	ProtobufCMessage **arr = calloc(n ? n : 1, sizeof(*arr));
	if (!arr)
		return fail(c, "out of memory");
	MEMBER(void *, m, f->offset) = arr;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)j, key, v)
	{
		ProtobufCMessage *e = calloc(1, ed->sizeof_message);
		if (!e)
			return fail(c, "out of memory");
		protobuf_c_message_init(ed, e);
		arr[i++] = e;
		MEMBER(size_t, m, f->quantifier_offset) = i;
		size_t saved;
		char seg[80];
		snprintf(seg, sizeof(seg), "[%.70s]", key);
		path_push(c, seg, &saved);
		const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
		int rc = dec_map_key(c, kf, key, (char *)e + kf->offset);
		if (rc == 0)
			rc = dec_value(c, vf, v, (char *)e + vf->offset);
		c->path[saved] = 0;
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int dec_repeated(struct dec *c, const ProtobufCFieldDescriptor *f, const json_t *j,
                        ProtobufCMessage *m)
{
	if (is_map(f))
		return dec_map(c, f, j, m);
	if (!json_is_array(j))
		return fail(c, "expected an array");
	size_t n = json_array_size(j), es = elem_size(f->type);
	char *arr = calloc(n ? n : 1, es);
	if (!arr)
		return fail(c, "out of memory");
	MEMBER(void *, m, f->offset) = arr;
	for (size_t i = 0; i < n; i++) {
		size_t saved;
		char seg[32];
		snprintf(seg, sizeof(seg), "[%zu]", i);
		path_push(c, seg, &saved);
		int rc = json_is_null(json_array_get(j, i))
		             ? fail(c, "null in an array")
		             : dec_value(c, f, json_array_get(j, i), arr + i * es);
		c->path[saved] = 0;
		if (rc != 0)
			return -1;
		/* count only what was decoded, so a partial message frees cleanly */
		MEMBER(size_t, m, f->quantifier_offset) = i + 1;
	}
	return 0;
}

/* Frees what a oneof member or a singular field holds before it is replaced. */
static void clear_field(const ProtobufCFieldDescriptor *f, ProtobufCMessage *m)
{
	void *p = (char *)m + f->offset;
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		char *s = *(char **)p;
		if (s && s != (const char *)f->default_value)
			free(s);
		*(char **)p = NULL;
	} else if (f->type == PROTOBUF_C_TYPE_BYTES) {
		free(((ProtobufCBinaryData *)p)->data);
		memset(p, 0, sizeof(ProtobufCBinaryData));
	} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		if (*(ProtobufCMessage **)p)
			protobuf_c_message_free_unpacked(*(ProtobufCMessage **)p, NULL);
		*(void **)p = NULL;
	}
}

static int dec_field(struct dec *c, const ProtobufCFieldDescriptor *f, const json_t *v,
                     ProtobufCMessage *m)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		if (MEMBER(size_t, m, f->quantifier_offset))
			return fail(c, "field given twice");
		return dec_repeated(c, f, v, m);
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *cs = &MEMBER(uint32_t, m, f->quantifier_offset);
		if (*cs) {
			const ProtobufCFieldDescriptor *old =
			    protobuf_c_message_descriptor_get_field(m->descriptor, *cs);
			if (old && old != f)
				return fail(c, "oneof already has '%s' set", old->name);
			if (old)
				clear_field(old, m);
		}
		*cs = 0;
		if (dec_value(c, f, v, (char *)m + f->offset) != 0) {
			clear_field(f, m);
			return -1;
		}
		*cs = f->id;
		return 0;
	}
	clear_field(f, m);
	if (dec_value(c, f, v, (char *)m + f->offset) != 0) {
		if (f->type == PROTOBUF_C_TYPE_STRING)
			*(const char **)((char *)m + f->offset) = f->default_value;
		return -1;
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		MEMBER(protobuf_c_boolean, m, f->quantifier_offset) = 1;
	return 0;
}

static bool required_missing(const ProtobufCMessage *m, const char **name)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->label != PROTOBUF_C_LABEL_REQUIRED)
			continue;
		const void *p = (const char *)m + f->offset;
		if ((f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) &&
		    *(void *const *)p == NULL) {
			*name = f->name;
			return true;
		}
	}
	return false;
}

static ProtobufCMessage *dec_message(struct dec *c, const ProtobufCMessageDescriptor *d,
                                     const json_t *j)
{
	if (!json_is_object(j)) {
		fail(c, "expected an object (%s)", d->name);
		return NULL;
	}
	if (++c->depth > PROTO_MAX_DEPTH) {
		fail(c, "messages nested more than %d levels deep", PROTO_MAX_DEPTH);
		c->depth--;
		return NULL;
	}
	ProtobufCMessage *m = calloc(1, d->sizeof_message);
	if (!m) {
		fail(c, "out of memory");
		c->depth--;
		return NULL;
	}
	protobuf_c_message_init(d, m);
	/* required strings and messages start NULL so a missing one is seen */
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)j, key, v)
	{
		const ProtobufCFieldDescriptor *f = find_field(d, key, c->flags);
		size_t saved;
		if (!f && (c->flags & PJSON_IGNORE_UNKNOWN)) {
			if (c->skipped) { /* whoever asked is told which, and where */
				path_push(c, key, &saved);
				c->skipped(c->skip_arg, c->path, d->name);
				c->path[saved] = 0;
			}
			continue; /* as stout's parser: a key naming no field is skipped */
		}
		path_push(c, key, &saved);
		int rc = 0;
		if (!f)
			rc = fail(c, "unknown field of %s", d->name);
		else if (!json_is_null(v))
			rc = dec_field(c, f, v, m);
		c->path[saved] = 0;
		if (rc != 0)
			goto error;
	}
	const char *missing;
	if (required_missing(m, &missing)) {
		fail(c, "required field '%s' of %s is missing", missing, d->name);
		goto error;
	}
	c->depth--;
	return m;
error:
	c->depth--;
	protobuf_c_message_free_unpacked(m, NULL);
	return NULL;
}

ProtobufCMessage *pjson_decode(const ProtobufCMessageDescriptor *desc, const json_t *j,
                               unsigned flags, char *err, size_t errlen)
{
	return pjson_decode_skipping(desc, j, flags, NULL, NULL, err, errlen);
}

ProtobufCMessage *pjson_decode_skipping(const ProtobufCMessageDescriptor *desc, const json_t *j,
                                        unsigned flags, pjson_skip_f skipped, void *arg, char *err,
                                        size_t errlen)
{
	struct dec c = {
	    .flags = flags, .skipped = skipped, .skip_arg = arg, .err = err, .errlen = errlen};
	if (errlen)
		err[0] = 0;
	return dec_message(&c, desc, j);
}

ProtobufCMessage *pjson_loads(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
                              char *err, size_t errlen)
{
	return pjson_loads_flags(desc, text, len, 0, err, errlen);
}

ProtobufCMessage *pjson_loads_flags(const ProtobufCMessageDescriptor *desc, const char *text,
                                    size_t len, unsigned flags, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		snprintf(err, errlen, "invalid JSON at line %d column %d: %s", je.line, je.column,
		         je.text);
		return NULL;
	}
	ProtobufCMessage *m = pjson_decode(desc, j, flags, err, errlen);
	json_decref(j);
	return m;
}
