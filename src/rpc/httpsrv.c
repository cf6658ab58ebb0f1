#include "clock.h"
#include "httpsrv.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "version.h"

struct httpsrv {
	struct httpsrv_config cfg;
	struct rpc_table *t;
	struct MHD_Daemon *d;
	uint16_t port;
	_Atomic unsigned long_polls; /* running now */
	unsigned max_long_polls;
};

struct req {
	uint8_t *body;
	size_t len;
	bool too_big;
};

static enum MHD_Result send_buf(struct MHD_Connection *c, unsigned status, const char *ctype,
                                void *buf, size_t len, enum MHD_ResponseMemoryMode mode,
                                const char *err_code)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, mode);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	if (err_code) {
		MHD_add_response_header(r, "Rpc-Status", "error");
		MHD_add_response_header(r, "Rpc-Error-Code", err_code);
	}
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *s)
{
	return send_buf(c, status, "text/plain; charset=utf-8", (void *)s, strlen(s),
	                MHD_RESPMEM_MUST_COPY, NULL);
}

static enum MHD_Result rpc_error_as(struct MHD_Connection *c, const struct rpc_status *st,
                                    unsigned http)
{
	json_t *j = json_pack("{s:s,s:s}", "code", rpc_code_name(st->code), "message", st->msg);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s)
		return MHD_NO;
	return send_buf(c, http, "application/json", s, strlen(s), MHD_RESPMEM_MUST_FREE,
	                rpc_code_name(st->code));
}

static enum MHD_Result rpc_error(struct MHD_Connection *c, const struct rpc_status *st)
{
	return rpc_error_as(c, st, (unsigned)rpc_code_http(st->code));
}

static enum MHD_Result api(struct httpsrv *h, struct MHD_Connection *c, struct req *rq)
{
	struct rpc_status st = {RPC_OK, ""};
	const char *proc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Rpc-Procedure");
	const char *enc_s = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Rpc-Encoding");
	const char *ttl_s = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Context-TTL-MS");
	enum rpc_encoding enc = RPC_ENC_JSON;
	uint64_t ttl = 0;

	if (rq->too_big) {
		rpc_fail(&st, RPC_RESOURCE_EXHAUSTED, "request body above %zu bytes",
		         h->cfg.max_request_bytes);
		return rpc_error_as(c, &st, 413);
	}
	if (!proc || !*proc) {
		rpc_fail(&st, RPC_INVALID_ARGUMENT, "missing Rpc-Procedure header");
		return rpc_error(c, &st);
	}
	if (enc_s && strcasecmp(enc_s, "proto") == 0)
		enc = RPC_ENC_PROTO;
	else if (enc_s && strcasecmp(enc_s, "json") != 0) {
		rpc_fail(&st, RPC_INVALID_ARGUMENT, "Rpc-Encoding '%.40s': expected json or proto",
		         enc_s);
		return rpc_error(c, &st);
	}
	if (ttl_s) {
		char *end;
		unsigned long long v = strtoull(ttl_s, &end, 10);
		if (!isdigit((unsigned char)*ttl_s) || *end || v == 0) {
			rpc_fail(&st, RPC_INVALID_ARGUMENT,
			         "Context-TTL-MS '%.40s' is not a positive "
			         "integer",
			         ttl_s);
			return rpc_error(c, &st);
		}
		ttl = v;
	}
	struct rpc_method *m = rpc_lookup_procedure(h->t, proc);
	if (!m) {
		rpc_fail(&st, RPC_UNIMPLEMENTED, "unknown procedure %.200s", proc);
		return rpc_error_as(c, &st, 404);
	}
	if (m->long_poll && atomic_fetch_add(&h->long_polls, 1) >= h->max_long_polls) {
		atomic_fetch_sub(&h->long_polls, 1);
		rpc_fail(&st, RPC_RESOURCE_EXHAUSTED,
		         "%u long polls in progress, the most HTTP runs at once (gRPC runs more)",
		         h->max_long_polls);
		return rpc_error(c, &st);
	}
	uint64_t t0 = (clock_mono_ns() / 1000000u);
	uint8_t *out;
	size_t out_len;
	rpc_invoke(m, enc, rq->body, rq->len, &out, &out_len, &st);
	if (m->long_poll)
		atomic_fetch_sub(&h->long_polls, 1);
	if (st.code == RPC_OK && ttl && (clock_mono_ns() / 1000000u) - t0 > ttl) {
		free(out);
		rpc_fail(&st, RPC_DEADLINE_EXCEEDED, "call took longer than Context-TTL-MS %llu",
		         (unsigned long long)ttl);
	}
	if (st.code != RPC_OK)
		return rpc_error(c, &st);
	return send_buf(c, 200, enc == RPC_ENC_JSON ? "application/json" : "application/x-protobuf",
	                out ? (void *)out : (void *)"", out_len,
	                out ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT, NULL);
}

static enum MHD_Result metrics(struct httpsrv *h, struct MHD_Connection *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return MHD_NO;
	rpc_write_metrics(h->t, f);
	if (h->cfg.metrics)
		h->cfg.metrics(h->cfg.arg, f);
	fclose(f);
	return send_buf(c, 200, "text/plain; version=0.0.4", buf, len, MHD_RESPMEM_MUST_FREE, NULL);
}

/* "60s", "5m", "1h", "250ms" or plain seconds: seconds (> 0, at most a
 * day), or -1. */
static double duration_s(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	double unit = !*end || !strcmp(end, "s") ? 1
	              : !strcmp(end, "ms")       ? 1e-3
	              : !strcmp(end, "m")        ? 60
	              : !strcmp(end, "h")        ? 3600
	                                         : -1;
	double secs = v * unit;
	return end != s && unit > 0 && isfinite(secs) && secs > 0 && secs <= 86400 ? secs : -1;
}

/*
 * /logging-level: GET answers the level; PUT/POST with the level as the
 * body sets it; any method with ?level=L[&duration=D] sets it (for D, then
 * back: upstream's form).
 */
static enum MHD_Result logging_level(struct MHD_Connection *c, const char *method, struct req *rq)
{
	char buf[64];
	const char *ql = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "level");
	const char *qd = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "duration");
	if (ql) {
		enum log_level lv;
		double secs = qd ? duration_s(qd) : 0;
		if (!log_level_parse(ql, &lv))
			return text(c, 400, "level: expected debug, info, warn or error\n");
		if (qd && secs < 0)
			return text(c, 400, "duration: expected e.g. 60s, 5m, 1h (at most 24h)\n");
		if (qd)
			log_set_level_for(lv, secs);
		else
			log_set_level(lv);
		log_info("http", "logging level set to %s%s%s", log_level_name(lv),
		         qd ? " for " : "", qd ? qd : "");
	} else if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
		size_t n = rq->len < sizeof(buf) - 1 ? rq->len : sizeof(buf) - 1;
		memcpy(buf, rq->body ? (const char *)rq->body : "", n);
		buf[n] = 0;
		while (n && isspace((unsigned char)buf[n - 1]))
			buf[--n] = 0;
		enum log_level lv;
		if (!log_level_parse(buf, &lv))
			return text(c, 400, "expected debug, info, warn or error\n");
		log_set_level(lv);
		log_info("http", "logging level set to %s", log_level_name(lv));
	}
	snprintf(buf, sizeof(buf), "%s\n", log_level_name(log_get_level()));
	return text(c, 200, buf);
}

/* GET /ui, /ui/ and /ui/<file>: the UI's static files. */
static enum MHD_Result asset(struct httpsrv *h, struct MHD_Connection *c, const char *url,
                             const char *method)
{
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return text(c, 405, "GET only\n");
	if (strcmp(url, "/ui") == 0) {
		struct MHD_Response *r =
		    MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, "Location", "/ui/");
		enum MHD_Result ret = MHD_queue_response(c, 301, r);
		MHD_destroy_response(r);
		return ret;
	}
	const char *name = url[4] ? url + 4 : "index.html";
	for (size_t i = 0; i < h->cfg.n_assets; i++) {
		const struct httpsrv_asset *a = &h->cfg.assets[i];
		if (strcmp(a->name, name) != 0)
			continue;
		struct MHD_Response *r = MHD_create_response_from_buffer(a->len, (void *)a->bytes,
		                                                         MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, "Content-Type", a->type);
		MHD_add_response_header(r, "Cache-Control", "no-cache");
		MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
		enum MHD_Result ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	return text(c, 404, "not found\n");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
	struct httpsrv *h = cls;
	struct req *rq = *con_cls;
	(void)version;
	if (!rq) {
		if (!(rq = calloc(1, sizeof(*rq))))
			return MHD_NO;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (rq->too_big || rq->len + *upload_size > h->cfg.max_request_bytes) {
			rq->too_big = true;
			free(rq->body);
			rq->body = NULL;
			rq->len = 0;
		} else {
			uint8_t *nb = realloc(rq->body, rq->len + *upload_size);
			if (!nb)
				return MHD_NO;
			memcpy(nb + rq->len, upload, *upload_size);
			rq->body = nb;
			rq->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/api/v1") == 0 || strncmp(url, "/api/v1/", 8) == 0) {
		if (strcmp(method, "POST") != 0)
			return text(c, 405, "POST only\n");
		return api(h, c, rq);
	}
	if (rq->too_big)
		return text(c, 413, "request body too large\n");
	if (strcmp(url, "/health") == 0) {
		char why[256] = "";
		if (h->cfg.health && !h->cfg.health(h->cfg.arg, why, sizeof(why) - 1)) {
			strcat(why, "\n");
			return text(c, 503, why);
		}
		return text(c, 200, "ok\n");
	}
	if (strcmp(url, "/leaderhealth") == 0) {
		bool lead = !h->cfg.is_leader || h->cfg.is_leader(h->cfg.arg);
		return text(c, lead ? 200 : 503, lead ? "leader\n" : "not leader\n");
	}
	if (strcmp(url, "/version") == 0) {
		char buf[128];
		snprintf(buf, sizeof(buf), "{\"name\":\"pelotond\",\"version\":\"%s\"}\n",
		         pel_version());
		return send_buf(c, 200, "application/json", buf, strlen(buf), MHD_RESPMEM_MUST_COPY,
		                NULL);
	}
	if (strcmp(url, "/metrics") == 0)
		return metrics(h, c);
	unsigned status;
	char *out = NULL;
	if (h->cfg.route &&
	    h->cfg.route(h->cfg.arg, method, url, rq->body, rq->len, &status, &out)) {
		if (!out)
			return text(c, 500, "out of memory\n");
		return send_buf(c, status, "application/json", out, strlen(out),
		                MHD_RESPMEM_MUST_FREE, NULL);
	}
	if (strcmp(url, "/logging-level") == 0)
		return logging_level(c, method, rq);
	if (strcmp(url, "/ui") == 0 ||
	    (strncmp(url, "/ui/", 4) == 0 && strncmp(url, "/ui/data/", 9) != 0))
		return asset(h, c, url, method);
	return text(c, 404, "not found\n");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct req *rq = *con_cls;
	if (rq) {
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

struct httpsrv *httpsrv_start(const struct httpsrv_config *cfg, struct rpc_table *t, char *err,
                              size_t errlen)
{
	struct httpsrv *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->cfg = *cfg;
	h->t = t;
	if (!h->cfg.threads)
		h->cfg.threads = 4;
	if (!h->cfg.max_request_bytes)
		h->cfg.max_request_bytes = 4u << 20;
	if (!h->cfg.conn_timeout_s)
		h->cfg.conn_timeout_s = 30;
	if (!h->cfg.max_conns)
		h->cfg.max_conns = 1024;
	if (!h->cfg.max_conns_per_ip)
		h->cfg.max_conns_per_ip = 64;
	h->max_long_polls = h->cfg.threads / 2 ? h->cfg.threads / 2 : 1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(cfg->port)};
	sa.sin_addr.s_addr = htonl(cfg->bind_any ? INADDR_ANY : INADDR_LOOPBACK);
	h->d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, cfg->port, NULL,
	    NULL, handle, h, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE,
	    (unsigned)h->cfg.threads, MHD_OPTION_CONNECTION_TIMEOUT, h->cfg.conn_timeout_s,
	    MHD_OPTION_CONNECTION_LIMIT, h->cfg.max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    h->cfg.max_conns_per_ip, MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_END);
	if (!h->d) {
		snprintf(err, errlen, "cannot listen for HTTP on port %u", cfg->port);
		free(h);
		return NULL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : cfg->port;
	log_info("http", "serving HTTP on port %u", h->port);
	return h;
}

uint16_t httpsrv_port(const struct httpsrv *h)
{
	return h->port;
}

void httpsrv_stop(struct httpsrv *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
