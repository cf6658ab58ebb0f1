/* HTTP face of the simulated master; see sim_http.h. */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <dirent.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "clock.h"
#include "log.h"
#include "pjson.h"
#include "proto_codec.h"
#include "recordio.h"
#include "sim_http.h"

#define MAX_BODY (16u << 20)

/* One SUBSCRIBE connection: RecordIO bytes waiting to be sent. */
struct stream {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *q;
	size_t len, cap, off;
	bool closed;
	bool json; /* events as JSON (Accept: application/json) */
	char id[64];
	struct sim_http *h;
};

struct sim_http {
	struct sim *sim;
	struct MHD_Daemon *d;
	uint16_t port;
	pthread_t ticker;
	_Atomic int stop;
	pthread_mutex_t mu; /* current and the faults below */
	struct stream *current;
	uint64_t unavailable_until_ns; /* 503 until then */
	char redirect[128];            /* 307 to this address while set */
	uint64_t redirect_until_ns;    /* 0: until cleared */
	/* --authenticate-http-frameworks: the principals and secrets of
	 * --credentials; set once before the first call (sim_http_auth) */
	_Atomic(struct sim_creds *) creds;
};

struct sim_creds {
	size_t n;
	struct {
		char *principal, *secret;
	} * v;
};

struct req {
	uint8_t *body;
	size_t len;
	bool too_big;
};

static void stream_close(struct stream *st)
{
	pthread_mutex_lock(&st->mu);
	st->closed = true;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

/* sim's emit: frames the event onto the stream's queue (under the sim lock);
 * NULL ends the stream (the master closed it). */
static void stream_push(void *arg, const uint8_t *ev, size_t len)
{
	struct stream *st = arg;
	char *text = NULL;
	if (ev == NULL) {
		stream_close(st);
		return;
	}
	if (st->json) {
		ProtobufCMessage *m =
		    proto_decode(&mesos__v1__scheduler__event__descriptor, ev, len, NULL, NULL);
		text = m ? pjson_dumps_flags(m, PJSON_PROTO_NAMES) : NULL;
		if (m)
			protobuf_c_message_free_unpacked(m, NULL);
		if (text == NULL)
			return;
		ev = (const uint8_t *)text;
		len = strlen(text);
	}
	char hdr[24];
	size_t hl = recordio_header(len, hdr);
	pthread_mutex_lock(&st->mu);
	if (!st->closed) {
		if (st->off > 0 && st->off == st->len)
			st->off = st->len = 0;
		if (st->len + hl + len > st->cap) {
			size_t nc = st->cap ? st->cap : 65536;
			while (nc < st->len + hl + len)
				nc *= 2;
			uint8_t *nq = realloc(st->q, nc);
			if (nq == NULL) {
				st->closed = true; /* the client will resubscribe */
				pthread_cond_broadcast(&st->cv);
				pthread_mutex_unlock(&st->mu);
				free(text);
				return;
			}
			st->q = nq;
			st->cap = nc;
		}
		memcpy(st->q + st->len, hdr, hl);
		memcpy(st->q + st->len + hl, ev, len);
		st->len += hl + len;
		pthread_cond_signal(&st->cv);
	}
	pthread_mutex_unlock(&st->mu);
	free(text);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	(void)pos;
	pthread_mutex_lock(&st->mu);
	while (st->off == st->len && !st->closed)
		clock_cond_wait(&st->cv, &st->mu, clock_mono_ns() + 1000000000ull);
	if (st->off == st->len && st->closed) {
		pthread_mutex_unlock(&st->mu);
		return MHD_CONTENT_READER_END_OF_STREAM;
	}
	size_t n = st->len - st->off < max ? st->len - st->off : max;
	memcpy(buf, st->q + st->off, n);
	st->off += n;
	pthread_mutex_unlock(&st->mu);
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	struct stream *st = cls;
	struct sim_http *h = st->h;
	sim_unsubscribe(h->sim, st->id); /* sim no longer emits to st */
	pthread_mutex_lock(&h->mu);
	if (h->current == st)
		h->current = NULL;
	pthread_mutex_unlock(&h->mu);
	free(st->q);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
	free(st);
}

static enum MHD_Result reply_typed(struct MHD_Connection *c, unsigned status, const char *text,
                                   const char *type)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text)
{
	return reply_typed(c, status, text, "text/plain; charset=utf-8");
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, const char *text)
{
	return reply_typed(c, status, text, "application/json");
}

/* A body in `ct` (protobuf or JSON) decoded as desc; NULL with the reason in err. */
static ProtobufCMessage *decode_body(const ProtobufCMessageDescriptor *desc, bool json,
                                     const struct req *rq, char *err, size_t err_len)
{
	const char *why = NULL;
	char jerr[200];
	ProtobufCMessage *m;
	if (json) {
		/* as a master parses JSON (stout): proto field names, unknown keys skipped */
		m = pjson_loads_flags(desc, (const char *)(rq->body ? rq->body : (uint8_t *)""),
		                      rq->len, PJSON_MESOS, jerr, sizeof(jerr));
		why = jerr;
	} else {
		m = proto_decode(desc, rq->body, rq->len, NULL, &why);
	}
	if (m == NULL)
		snprintf(err, err_len, "Failed to parse body into %s: %s", desc->short_name,
		         why ? why : "malformed");
	return m;
}

/*
 * The encodings of a request, as a master decides them (Mesos
 * src/master/http.cpp, Master::Http::scheduler): no Content-Type is 400, one
 * other than JSON or protobuf 415; the answer is JSON whenever the Accept
 * header allows it (no header, a wildcard, or application/json), else
 * protobuf if allowed, else 406. False when answered here.
 */
static bool encodings(struct MHD_Connection *c, bool *json_in, bool *json_out, enum MHD_Result *ret)
{
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	const char *ac = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
	if (ct == NULL) {
		*ret = reply(c, MHD_HTTP_BAD_REQUEST, "Expecting 'Content-Type' to be present");
		return false;
	}
	*json_in = strncmp(ct, "application/json", 16) == 0;
	if (!*json_in && strncmp(ct, "application/x-protobuf", 22) != 0) {
		*ret =
		    reply(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
		          "Expecting 'Content-Type' of application/json or application/x-protobuf");
		return false;
	}
	if (ac == NULL || strstr(ac, "application/json") != NULL || strstr(ac, "*/*") != NULL ||
	    strstr(ac, "application/*") != NULL) {
		*json_out = true;
	} else if (strstr(ac, "application/x-protobuf") != NULL) {
		*json_out = false;
	} else {
		*ret = reply(c, MHD_HTTP_NOT_ACCEPTABLE,
		             "Expecting 'Accept' to allow 'application/x-protobuf' or "
		             "'application/json'");
		return false;
	}
	return true;
}

static enum MHD_Result subscribe(struct sim_http *h, struct MHD_Connection *c,
                                 const Mesos__V1__Scheduler__Call *call, bool json)
{
	char err[256];
	struct stream *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	pthread_mutex_init(&st->mu, NULL);
	clock_cond_init(&st->cv);
	st->h = h;
	st->json = json;
	int code =
	    sim_subscribe(h->sim, call, stream_push, st, st->id, sizeof(st->id), err, sizeof(err));
	bool refused = code == SIM_SUBSCRIBE_REFUSED; /* 200: one ERROR, then the end */
	if (code != 200 && !refused) {
		pthread_mutex_destroy(&st->mu);
		pthread_cond_destroy(&st->cv);
		free(st->q);
		free(st);
		return reply(c, (unsigned)code, err);
	}
	/* the previous subscription's stream ends (the simulator failed it over) */
	pthread_mutex_lock(&h->mu);
	struct stream *old = refused ? NULL : h->current;
	if (!refused)
		h->current = st;
	if (old != NULL)
		stream_close(old);
	pthread_mutex_unlock(&h->mu);
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
	                                                           stream_read, st, stream_free);
	if (r == NULL) {
		stream_close(st);
		stream_free(st);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type",
	                        json ? "application/json" : "application/x-protobuf");
	MHD_add_response_header(r, "Mesos-Stream-Id", st->id);
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* 307 or 503 while those faults last; false when the master serves. */
static bool faulted(struct sim_http *h, struct MHD_Connection *c, const char *url,
                    enum MHD_Result *ret)
{
	uint64_t now = clock_mono_ns();
	char to[128] = "";
	bool down;
	pthread_mutex_lock(&h->mu);
	if (h->redirect[0] && h->redirect_until_ns && now >= h->redirect_until_ns)
		h->redirect[0] = '\0';
	snprintf(to, sizeof(to), "%s", h->redirect);
	down = now < h->unavailable_until_ns;
	pthread_mutex_unlock(&h->mu);
	if (to[0]) {
		char loc[200];
		snprintf(loc, sizeof(loc), "//%s%s", to, url);
		struct MHD_Response *r =
		    MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		if (r == NULL) {
			*ret = MHD_NO;
			return true;
		}
		MHD_add_response_header(r, "Location", loc);
		*ret = MHD_queue_response(c, MHD_HTTP_TEMPORARY_REDIRECT, r);
		MHD_destroy_response(r);
		return true;
	}
	if (down) {
		*ret = reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "No leading master (simulated)");
		return true;
	}
	return false;
}

/*
 * A master started with --authenticate_http_frameworks: a scheduler call
 * carries HTTP basic credentials of a known principal, else 401 with
 * `WWW-Authenticate: Basic realm="Mesos master"` (the master's realm).
 * The principal (malloc'd) goes to *who; true to go on, false with *ret.
 */
static bool authenticated(struct sim_http *h, struct MHD_Connection *c, char **who,
                          enum MHD_Result *ret)
{
	struct sim_creds *cr = atomic_load(&h->creds);
	*who = NULL;
	if (cr == NULL)
		return true;
	char *pass = NULL, *user = MHD_basic_auth_get_username_password(c, &pass);
	bool ok = false;
	for (size_t i = 0; user && pass && i < cr->n && !ok; i++)
		ok = strcmp(cr->v[i].principal, user) == 0 && strcmp(cr->v[i].secret, pass) == 0;
	if (ok)
		*who = strdup(user);
	if (user)
		MHD_free(user);
	if (pass)
		MHD_free(pass);
	if (ok && *who)
		return true;
	static const char msg[] = "Authentication required: the principal and secret of "
	                          "--credentials, as HTTP basic authentication";
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
	*ret = r ? MHD_queue_basic_auth_fail_response(c, "Mesos master", r) : MHD_NO;
	if (r)
		MHD_destroy_response(r);
	log_debug("sim", "scheduler call refused: %s",
	          user ? "wrong credentials" : "no credentials");
	return false;
}

static enum MHD_Result scheduler(struct sim_http *h, struct MHD_Connection *c, struct req *rq)
{
	char err[256];
	bool json_in, json_out;
	enum MHD_Result ret;
	if (!encodings(c, &json_in, &json_out, &ret))
		return ret;
	if (rq->too_big)
		return reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "Request body too large");
	char *who;
	if (!authenticated(h, c, &who, &ret))
		return ret;
	Mesos__V1__Scheduler__Call *call = (Mesos__V1__Scheduler__Call *)decode_body(
	    &mesos__v1__scheduler__call__descriptor, json_in, rq, err, sizeof(err));
	if (call == NULL) {
		free(who);
		return reply(c, MHD_HTTP_BAD_REQUEST, err);
	}
	const char *sid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Mesos-Stream-Id");
	Mesos__V1__FrameworkInfo *fi = call->subscribe ? call->subscribe->framework_info : NULL;
	if (who && fi && !fi->principal) {
		fi->principal = who; /* the master sets it; freed with the call */
		who = NULL;
	}
	if (who && fi && strcmp(fi->principal, who) != 0) {
		/* as the master: the framework is who authenticated (master/http.cpp) */
		snprintf(err, sizeof(err),
		         "Authenticated principal '%s' does not match principal '%s' set in "
		         "`FrameworkInfo`",
		         who, fi->principal);
		ret = reply(c, MHD_HTTP_BAD_REQUEST, err);
	} else if (call->has_type && call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE &&
	           sid) {
		ret = reply(c, MHD_HTTP_BAD_REQUEST,
		            "Subscribe calls should not include the 'Mesos-Stream-Id' header");
	} else if (call->has_type && call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE) {
		ret = subscribe(h, c, call, json_out);
	} else {
		int code = sim_call(h->sim, sid, call, err, sizeof(err));
		ret = reply(c, (unsigned)code, code == 202 ? "" : err);
	}
	free(who);
	protobuf_c_message_free_unpacked(&call->base, NULL);
	return ret;
}

int sim_http_auth(struct sim_http *h, const char *credentials_path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_load_file(credentials_path, 0, &je), *list, *e;
	if (root == NULL) {
		snprintf(err, errlen, "%s: %s (line %d)", credentials_path, je.text, je.line);
		return -1;
	}
	list = json_object_get(root, "credentials");
	struct sim_creds *cr = calloc(1, sizeof(*cr));
	size_t n = json_array_size(list), i;
	if (cr)
		cr->v = calloc(n ? n : 1, sizeof(*cr->v));
	json_array_foreach(list, i, e)
	{
		const char *p = json_string_value(json_object_get(e, "principal"));
		const char *s = json_string_value(json_object_get(e, "secret"));
		if (!cr || !cr->v || !p || !s || !*p) {
			snprintf(err, errlen,
			         "%s: credentials[%zu] needs a principal and a secret (Mesos's "
			         "{\"credentials\": [{\"principal\": ..., \"secret\": ...}]})",
			         credentials_path, i);
			break;
		}
		cr->v[cr->n].principal = strdup(p);
		cr->v[cr->n].secret = strdup(s);
		cr->n++;
	}
	json_decref(root);
	if (!cr || cr->n == 0 || cr->n != n) {
		if (cr && cr->n == 0 && n == 0)
			snprintf(err, errlen, "%s: no credentials", credentials_path);
		for (size_t k = 0; cr && k < cr->n; k++) {
			free(cr->v[k].principal);
			free(cr->v[k].secret);
		}
		if (cr)
			free(cr->v);
		free(cr);
		return -1;
	}
	atomic_store(&h->creds, cr);
	log_info("sim", "scheduler calls must authenticate: %zu principal(s) from %s", cr->n,
	         credentials_path);
	return 0;
}

/* POST /api/v1: the operator API. */
static enum MHD_Result operator_api(struct sim_http *h, struct MHD_Connection *c, struct req *rq)
{
	char err[256];
	bool json_in, json_out;
	enum MHD_Result ret;
	if (!encodings(c, &json_in, &json_out, &ret))
		return ret;
	if (rq->too_big)
		return reply(c, MHD_HTTP_CONTENT_TOO_LARGE, "Request body too large");
	Mesos__V1__Master__Call *call = (Mesos__V1__Master__Call *)decode_body(
	    &mesos__v1__master__call__descriptor, json_in, rq, err, sizeof(err));
	if (call == NULL)
		return reply(c, MHD_HTTP_BAD_REQUEST, err);
	char *body;
	size_t len;
	int code = sim_operator(h->sim, call, json_out, &body, &len, err, sizeof(err));
	protobuf_c_message_free_unpacked(&call->base, NULL);
	if (code != 200)
		return reply(c, (unsigned)code, err);
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type",
	                        json_out ? "application/json" : "application/x-protobuf");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/*
 * GET /files/browse?path=/sandbox/<agent>/<task>: the sandbox listing an
 * agent gives (JSON array of path, size, mode, nlink, uid, gid, mtime).
 */
/* --exec: the real sandbox's files, listed as an agent lists them. */
static enum MHD_Result browse_real(struct MHD_Connection *c, const char *shown, const char *real)
{
	DIR *d = opendir(real);
	if (d == NULL)
		return reply(c, MHD_HTTP_NOT_FOUND, "No such sandbox");
	json_t *a = json_array();
	for (struct dirent *e; a && (e = readdir(d)) != NULL;) {
		char p[4480];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", real, e->d_name);
		if (stat(p, &st) != 0)
			continue;
		char sp[4480];
		snprintf(sp, sizeof(sp), "%s/%s", shown, e->d_name);
		json_array_append_new(a,
		                      json_pack("{s:s,s:I,s:s,s:i,s:s,s:s,s:I}", "path", sp, "size",
		                                (json_int_t)st.st_size, "mode",
		                                S_ISDIR(st.st_mode) ? "drwxr-xr-x" : "-rw-r--r--",
		                                "nlink", (int)st.st_nlink, "uid", "root", "gid",
		                                "root", "mtime", (json_int_t)st.st_mtime));
	}
	closedir(d);
	char *body = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	enum MHD_Result r = body ? reply_json(c, MHD_HTTP_OK, body)
	                         : reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	free(body);
	return r;
}

/*
 * "/sandbox/<agent>/<task>[/<file>]" as the task's real sandbox path (--exec):
 * real gets the directory, rest the file part (may be empty). False for an
 * unknown task, a path outside its sandbox or one with "..".
 */
static bool sandbox_path(struct sim_http *h, const char *path, char *real, size_t rlen,
                         const char **rest)
{
	char task[256];
	const char *p = path && strncmp(path, "/sandbox/", 9) == 0 ? strchr(path + 9, '/') : NULL;
	if (!p || strstr(path, ".."))
		return false;
	const char *end = strchr(p + 1, '/');
	size_t tl = end ? (size_t)(end - p - 1) : strlen(p + 1);
	if (tl == 0 || tl >= sizeof(task))
		return false;
	memcpy(task, p + 1, tl);
	task[tl] = '\0';
	char shown[256];
	if (!sim_sandbox(h->sim, task, shown, sizeof(shown)) ||
	    strncmp(path, shown, strlen(shown)) != 0 || !sim_sandbox_dir(h->sim, task, real, rlen))
		return false;
	*rest = path + strlen(shown);
	return true;
}

/*
 * GET /files/read?path=...&offset=N&length=M (--exec): a sandbox file's
 * bytes as an agent serves them, {"data": ..., "offset": N}; offset -1
 * gives the size only.
 */
static enum MHD_Result read_file(struct sim_http *h, struct MHD_Connection *c)
{
	const char *path = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "path");
	const char *off = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "offset");
	const char *len = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "length");
	char real[4200], file[8400];
	const char *rest = NULL;
	if (!sandbox_path(h, path, real, sizeof(real), &rest) || !rest[0])
		return reply(c, MHD_HTTP_NOT_FOUND, "No such file");
	snprintf(file, sizeof(file), "%s%s", real, rest);
	FILE *f = fopen(file, "rb");
	if (!f)
		return reply(c, MHD_HTTP_NOT_FOUND, "No such file");
	long o = off ? atol(off) : 0, l = len ? atol(len) : 65536;
	if (l < 0 || l > (1 << 20))
		l = 1 << 20;
	json_t *j;
	if (o < 0) { /* the size */
		fseek(f, 0, SEEK_END);
		j = json_pack("{s:s,s:I}", "data", "", "offset", (json_int_t)ftell(f));
	} else {
		char *buf = malloc((size_t)l + 1);
		size_t n = 0;
		if (buf && fseek(f, o, SEEK_SET) == 0)
			n = fread(buf, 1, (size_t)l, f);
		j = buf ? json_pack("{s:s%,s:I}", "data", buf, n, "offset", (json_int_t)o) : NULL;
		free(buf);
	}
	fclose(f);
	char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	enum MHD_Result r = body ? reply_json(c, MHD_HTTP_OK, body)
	                         : reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "unreadable");
	free(body);
	return r;
}

static enum MHD_Result browse(struct sim_http *h, struct MHD_Connection *c)
{
	const char *path = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "path");
	const char *task = path ? strrchr(path, '/') : NULL;
	char dir[256], real[4200];
	const char *rest = NULL;
	if (sandbox_path(h, path, real, sizeof(real), &rest) && !rest[0])
		return browse_real(c, path, real);
	if (!task || !task[1] || !sim_sandbox(h->sim, task + 1, dir, sizeof(dir)) ||
	    strcmp(dir, path) != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "No such sandbox");
	char body[1024];
	long now = (long)time(NULL);
	snprintf(body, sizeof(body),
	         "[{\"path\":\"%s/stderr\",\"size\":0,\"mode\":\"-rw-r--r--\",\"nlink\":1,"
	         "\"uid\":\"root\",\"gid\":\"root\",\"mtime\":%ld},"
	         "{\"path\":\"%s/stdout\",\"size\":0,\"mode\":\"-rw-r--r--\",\"nlink\":1,"
	         "\"uid\":\"root\",\"gid\":\"root\",\"mtime\":%ld}]",
	         dir, now, dir, now);
	return reply_json(c, MHD_HTTP_OK, body);
}

/* POST /sim/fault?action=...: sim_http_fault from the query. */
static enum MHD_Result fault(struct sim_http *h, struct MHD_Connection *c)
{
	const char *action = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "action");
	const char *agent = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "agent");
	const char *to = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "to");
	const char *secs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "secs");
	const char *rate = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "rate");
	const char *num = secs ? secs : rate;
	char err[256], *end = NULL;
	double value = 0;
	if (num != NULL) {
		value = strtod(num, &end);
		if (end == num || *end != '\0' || !isfinite(value) || value < 0) {
			snprintf(err, sizeof(err), "'%s' is not a non-negative number", num);
			return reply(c, MHD_HTTP_BAD_REQUEST, err);
		}
	}
	if (action == NULL)
		return reply(c, MHD_HTTP_BAD_REQUEST, "Expecting 'action' in the query");
	if (sim_http_fault(h, action, agent ? agent : to, value, err, sizeof(err)) != 0)
		return reply(c, MHD_HTTP_BAD_REQUEST, err);
	return reply_json(c, MHD_HTTP_OK, "{\"ok\":true}");
}

static enum MHD_Result stats(struct sim_http *h, struct MHD_Connection *c)
{
	struct sim_stats st;
	char body[1024];
	sim_get_stats(h->sim, &st);
	snprintf(body, sizeof(body),
	         "{\"agents\":%u,\"offers_sent\":%llu,\"accepts\":%llu,\"launched\":%llu,"
	         "\"dropped\":%llu,\"running\":%llu,\"finished\":%llu,\"failed\":%llu,"
	         "\"killed\":%llu,\"updates_sent\":%llu,\"acks\":%llu,\"events\":%llu,"
	         "\"rescinds\":%llu,\"duplicates\":%llu,\"unreachable\":%llu,"
	         "\"agents_down\":%llu,\"lost_launches\":%llu,\"running_peak\":%llu,"
	         "\"health_checks\":%llu,\"health_kills\":%llu,\"running_low\":%llu,"
	         "\"ops_applied\":%llu,\"ops_refused\":%llu,\"shutdowns\":%llu}",
	         sim_agent_count(h->sim), (unsigned long long)st.offers_sent,
	         (unsigned long long)st.accepts, (unsigned long long)st.launched,
	         (unsigned long long)st.dropped, (unsigned long long)st.running,
	         (unsigned long long)st.finished, (unsigned long long)st.failed,
	         (unsigned long long)st.killed, (unsigned long long)st.updates_sent,
	         (unsigned long long)st.acks, (unsigned long long)st.events,
	         (unsigned long long)st.rescinds, (unsigned long long)st.duplicates,
	         (unsigned long long)st.unreachable, (unsigned long long)st.agents_down,
	         (unsigned long long)st.lost_launches, (unsigned long long)st.running_peak,
	         (unsigned long long)st.health_checks, (unsigned long long)st.health_kills,
	         (unsigned long long)st.running_low, (unsigned long long)st.ops_applied,
	         (unsigned long long)st.ops_refused, (unsigned long long)st.shutdowns);
	return reply_json(c, MHD_HTTP_OK, body);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
	struct sim_http *h = cls;
	struct req *rq = *con_cls;
	enum MHD_Result ret;
	(void)version;
	if (rq == NULL) {
		if ((rq = calloc(1, sizeof(*rq))) == NULL)
			return MHD_NO;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (rq->len + *upload_size > MAX_BODY) {
			rq->too_big = true;
		} else {
			uint8_t *nb = realloc(rq->body, rq->len + *upload_size);
			if (nb == NULL)
				return MHD_NO;
			memcpy(nb + rq->len, upload, *upload_size);
			rq->body = nb;
			rq->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	bool post = strcmp(method, "POST") == 0;
	if (strcmp(url, "/health") == 0)
		return reply(c, MHD_HTTP_OK, "ok\n");
	if (strcmp(url, "/files/browse") == 0)
		return browse(h, c);
	if (strcmp(url, "/files/read") == 0)
		return read_file(h, c);
	if (strcmp(url, "/sim/stats") == 0)
		return stats(h, c);
	if (strcmp(url, "/sim/fault") == 0)
		return post ? fault(h, c)
		            : reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Expecting 'POST'");
	bool sched = strcmp(url, "/api/v1/scheduler") == 0, oper = strcmp(url, "/api/v1") == 0;
	if (!sched && !oper)
		return reply(c, MHD_HTTP_NOT_FOUND, "Not found");
	if (!post)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "Expecting 'POST'");
	if (faulted(h, c, url, &ret))
		return ret;
	return sched ? scheduler(h, c, rq) : operator_api(h, c, rq);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct req *rq = *con_cls;
	if (rq != NULL) {
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

static void *tick(void *arg)
{
	struct sim_http *h = arg;
	while (!atomic_load(&h->stop)) {
		struct timespec ts, d = {0, 10000000};
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sim_tick(h->sim, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
		nanosleep(&d, NULL);
	}
	return NULL;
}

struct sim_http *sim_http_start(struct sim *s, uint16_t port, char *err, size_t err_len)
{
	struct sim_http *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	h->sim = s;
	pthread_mutex_init(&h->mu, NULL);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* poll(), not select(): no FD_SETSIZE ceiling on connections */
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                            MHD_USE_POLL | MHD_USE_ERROR_LOG,
	                        port, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, &sa,
	                        MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_END);
	if (h->d == NULL) {
		snprintf(err, err_len, "cannot listen on 127.0.0.1:%u", port);
		pthread_mutex_destroy(&h->mu);
		free(h);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : port;
	sim_set_address(s, "127.0.0.1", h->port);
	if (pthread_create(&h->ticker, NULL, tick, h) != 0) {
		MHD_stop_daemon(h->d);
		pthread_mutex_destroy(&h->mu);
		free(h);
		snprintf(err, err_len, "cannot start the ticker thread");
		return NULL;
	}
	log_info("sim", "listening on 127.0.0.1:%u", h->port);
	return h;
}

uint16_t sim_http_port(const struct sim_http *h)
{
	return h->port;
}

void sim_http_drop_stream(struct sim_http *h)
{
	pthread_mutex_lock(&h->mu);
	if (h->current != NULL)
		stream_close(h->current);
	pthread_mutex_unlock(&h->mu);
}

int sim_http_fault(struct sim_http *h, const char *action, const char *arg, double value, char *err,
                   size_t err_len)
{
	uint64_t now = clock_mono_ns();
	if (strcmp(action, "drop-stream") == 0) {
		sim_http_drop_stream(h);
	} else if (strcmp(action, "stall-heartbeats") == 0) {
		sim_stall_heartbeats(h->sim, value);
	} else if (strcmp(action, "agent-down") == 0 || strcmp(action, "agent-up") == 0) {
		if (arg == NULL || !arg[0]) {
			snprintf(err, err_len, "%s needs an agent (id, hostname or index)", action);
			return -1;
		}
		return action[6] == 'd' ? sim_agent_down(h->sim, arg, err, err_len)
		                        : sim_agent_up(h->sim, arg, err, err_len);
	} else if (strcmp(action, "unavailable") == 0) {
		pthread_mutex_lock(&h->mu);
		h->unavailable_until_ns = now + (uint64_t)(value * 1e9);
		pthread_mutex_unlock(&h->mu);
		sim_http_drop_stream(h);
	} else if (strcmp(action, "redirect") == 0) {
		if (arg == NULL || !arg[0] || strlen(arg) >= sizeof(h->redirect) ||
		    strchr(arg, ':') == NULL || strpbrk(arg, "/ \r\n") != NULL) {
			snprintf(err, err_len, "redirect needs to=host:port");
			return -1;
		}
		pthread_mutex_lock(&h->mu);
		snprintf(h->redirect, sizeof(h->redirect), "%s", arg);
		h->redirect_until_ns = value > 0 ? now + (uint64_t)(value * 1e9) : 0;
		pthread_mutex_unlock(&h->mu);
		sim_http_drop_stream(h);
	} else if (strcmp(action, "duplicate-updates") == 0 ||
	           strcmp(action, "lose-launches") == 0) {
		if (value > 1) {
			snprintf(err, err_len, "%s wants a rate in [0, 1]", action);
			return -1;
		}
		if (action[0] == 'd')
			sim_set_dup_rate(h->sim, value);
		else
			sim_set_lose_rate(h->sim, value);
	} else if (strcmp(action, "teardown") == 0) {
		return sim_teardown(h->sim, err, err_len);
	} else if (strcmp(action, "mark") == 0) {
		sim_mark(h->sim); /* not a fault: a measurement window (running_low) */
	} else if (strcmp(action, "clear") == 0) {
		pthread_mutex_lock(&h->mu);
		h->unavailable_until_ns = 0;
		h->redirect[0] = '\0';
		pthread_mutex_unlock(&h->mu);
	} else {
		snprintf(
		    err, err_len,
		    "unknown action '%s' (drop-stream, stall-heartbeats, agent-down, agent-up, "
		    "unavailable, redirect, duplicate-updates, lose-launches, teardown, clear, "
		    "mark)",
		    action);
		return -1;
	}
	log_info("sim", "fault: %s%s%s", action, arg ? " " : "", arg ? arg : "");
	return 0;
}

void sim_http_stop(struct sim_http *h)
{
	if (h == NULL)
		return;
	atomic_store(&h->stop, 1);
	pthread_join(h->ticker, NULL);
	sim_http_drop_stream(h);
	MHD_stop_daemon(h->d);
	pthread_mutex_destroy(&h->mu);
	struct sim_creds *cr = atomic_load(&h->creds);
	for (size_t k = 0; cr && k < cr->n; k++) {
		free(cr->v[k].principal);
		free(cr->v[k].secret);
	}
	if (cr)
		free(cr->v);
	free(cr);
	free(h);
}
