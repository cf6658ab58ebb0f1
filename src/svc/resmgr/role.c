/* The resource manager role; see resmgr_role.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "respoolsvc.h"
#include "role_int.h"

struct resmgr_role *resmgr_role_create(const struct resmgr_role_config *cfg, char *err,
                                       size_t errlen)
{
	struct resmgr_role *r = calloc(1, sizeof(*r));
	if (r == NULL || !(r->pools = respool_tree_create()) || !(r->tq = taskqueue_create(0))) {
		snprintf(err, errlen, "out of memory");
		resmgr_role_destroy(r);
		return NULL;
	}
	r->cfg = *cfg;
	size_t failed = 0, n = respoolsvc_recover(r->pools, cfg->store, &failed);
	log_info("resmgr", "recovered %zu pools (%zu refused)", n, failed);
	struct resmgr_config rc = {.pools = r->pools,
	                           .placing_timeout_ns = cfg->placing_timeout_ns};
	if (!(r->rm = resmgr_create(&rc))) {
		snprintf(err, errlen, "out of memory");
		resmgr_role_destroy(r);
		return NULL;
	}
	return r;
}

void resmgr_role_destroy(struct resmgr_role *r)
{
	if (r == NULL)
		return;
	resmgr_role_stop(r);
	resmgr_destroy(r->rm);
	taskqueue_destroy(r->tq);
	respool_tree_destroy(r->pools);
	free(r);
}

int resmgr_role_start(struct resmgr_role *r)
{
	struct resmgr_driver_config dc = {.preempt_ms = r->cfg.preempt_ms,
	                                  .capacity = r->cfg.hm.index.capacity,
	                                  .capacity_arg = r->cfg.hm.index.arg};
	if (resmgr_start(r->rm, &dc) != 0)
		return -1;
	r->started = true;
	return 0;
}

void resmgr_role_stop(struct resmgr_role *r)
{
	if (r && r->started)
		resmgr_stop(r->rm);
	if (r)
		r->started = false;
}

struct resmgr_ops resmgr_role_ops(struct resmgr_role *r)
{
	return resmgr_local_ops(r->rm);
}

/* Tasks waiting per pool: pending (not admitted) and ready (admitted, not placed). */
struct poolq {
	char id[40];
	uint64_t pending, ready;
};
struct poolq_acc {
	struct poolq *v;
	size_t n;
};

static void poolq_cb(const struct resmgr_task_view *t, void *arg)
{
	struct poolq_acc *a = arg;
	if (t->state != TASK_PENDING && t->state != TASK_READY)
		return;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].id, t->pool_id) == 0) {
			if (t->state == TASK_PENDING)
				a->v[i].pending++;
			else
				a->v[i].ready++;
			return;
		}
}

/* Every pool's id and tasks waiting (ids[], v[] of n; free with
 * poolq_free). 0 or -1 (ENOMEM). */
static int poolq_collect(struct resmgr_role *r, char ***ids, struct poolq_acc *a)
{
	size_t n = 0;
	*ids = respool_list(r->pools, &n);
	*a = (struct poolq_acc){calloc(n ? n : 1, sizeof(struct poolq)), n};
	if (!*ids || !a->v) {
		free(a->v);
		for (size_t i = 0; *ids && i < n; i++)
			free((*ids)[i]);
		free(*ids);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		snprintf(a->v[i].id, sizeof(a->v[i].id), "%s", (*ids)[i]);
	resmgr_foreach_task(r->rm, poolq_cb, a);
	return 0;
}

static void poolq_free(char **ids, struct poolq_acc *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(ids[i]);
	free(ids);
	free(a->v);
}

/* JSON has no infinity: an unbounded number (the root's limit) is -1. */
static double finite_or(double x)
{
	return isfinite(x) ? x : -1;
}

/* Per pool and kind: reservation, limit, entitlement, allocation, demand. */
static void write_pool_usage(struct resmgr_role *r, FILE *f, char **ids, size_t n)
{
	static const char *const what[] = {"reservation", "entitlement", "allocation", "demand"};
	static const char *const help[] = {
	    "Resources reserved for the pool (its config).",
	    "What the pool may use now: its reservation plus its share of what others leave.",
	    "Resources of the pool's admitted tasks.",
	    "Resources the pool's tasks ask for: allocation plus waiting."};
	for (int w = 0; w < 4; w++) {
		fprintf(f, "# HELP peloton_pool_%s %s\n# TYPE peloton_pool_%s gauge\n", what[w],
		        help[w], what[w]);
		for (size_t i = 0; i < n; i++) {
			char path[512];
			struct respool_usage u;
			if (respool_path(r->pools, ids[i], path, sizeof(path)) != 0 ||
			    respool_usage(r->pools, ids[i], &u) != 0)
				continue;
			for (int k = 0; k < RES_N; k++) {
				double v = w == 0   ? u.res[k].reservation
				           : w == 1 ? u.entitlement[k]
				           : w == 2 ? u.allocation[k]
				                    : u.demand[k];
				fprintf(f, "peloton_pool_%s{pool=\"%s\",resource=\"%s\"} %g\n",
				        what[w], path, respool_kind_name((enum respool_kind)k),
				        finite_or(v));
			}
		}
	}
}

void resmgr_role_write_metrics(struct resmgr_role *r, FILE *f)
{
	char **ids;
	struct poolq_acc a;
	resmgr_write_latency(r->rm, f);
	if (poolq_collect(r, &ids, &a) != 0)
		return;
	fprintf(f, "# HELP peloton_pool_tasks Tasks waiting per resource pool: pending (not "
	           "admitted) and ready (admitted, waiting for a host).\n"
	           "# TYPE peloton_pool_tasks gauge\n");
	for (size_t i = 0; i < a.n; i++) {
		char path[512];
		if (respool_path(r->pools, ids[i], path, sizeof(path)) == 0 &&
		    respool_is_leaf(r->pools, ids[i]))
			fprintf(f,
			        "peloton_pool_tasks{pool=\"%s\",queue=\"pending\"} %llu\n"
			        "peloton_pool_tasks{pool=\"%s\",queue=\"ready\"} %llu\n",
			        path, (unsigned long long)a.v[i].pending, path,
			        (unsigned long long)a.v[i].ready);
	}
	write_pool_usage(r, f, ids, a.n);
	poolq_free(ids, &a);
}

/* The pool's depth under the root (0 for the root). */
static int depth_of(const char *path)
{
	int d = 0;
	for (const char *s = path; *s; s++)
		d += *s == '/';
	return strcmp(path, "/") == 0 ? 0 : d;
}

static json_t *pool_json(struct resmgr_role *r, const char *id, json_int_t waiting)
{
	char path[512];
	struct respool_usage u;
	if (respool_path(r->pools, id, path, sizeof(path)) != 0 ||
	    respool_usage(r->pools, id, &u) != 0)
		return NULL;
	json_t *res = json_object();
	for (int k = 0; k < RES_N; k++)
		json_object_set_new(
		    res, respool_kind_name((enum respool_kind)k),
		    json_pack("{s:f,s:f,s:f,s:f,s:f}", "reservation",
		              finite_or(u.res[k].reservation), "limit", finite_or(u.res[k].limit),
		              "entitlement", finite_or(u.entitlement[k]), "allocation",
		              finite_or(u.allocation[k]), "demand", finite_or(u.demand[k])));
	return json_pack("{s:s,s:s,s:i,s:I,s:o}", "id", id, "path", path, "depth", depth_of(path),
	                 "pending", waiting, "resources", res);
}

bool resmgr_role_http(struct resmgr_role *r, const char *method, const char *url, unsigned *status,
                      char **out)
{
	if (strcmp(url, "/ui/data/pools") != 0)
		return false;
	*status = 405;
	if (strcmp(method, "GET") != 0) {
		*out = strdup("{\"error\":\"GET only\"}");
		return true;
	}
	char **ids;
	struct poolq_acc a;
	json_t *pools = json_array();
	if (poolq_collect(r, &ids, &a) == 0) {
		for (size_t i = 0; i < a.n; i++) {
			json_t *x =
			    pool_json(r, ids[i], (json_int_t)(a.v[i].pending + a.v[i].ready));
			if (x)
				json_array_append_new(pools, x);
		}
		poolq_free(ids, &a);
	}
	json_t *j = json_pack("{s:o}", "pools", pools);
	*out = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	*status = 200;
	return true;
}
