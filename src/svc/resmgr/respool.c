/* Resource pool tree and entitlement; see respool.h. */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "respool.h"
#include "text.h"
#include "hash.h"
#include "ids.h"

#define NAME_MAX_LEN 255
#define ID_LEN IDS_UUID_LEN

struct pool {
	char id[ID_LEN];
	char *name;
	struct pool *parent;
	struct pool **kids;
	size_t n_kids, cap_kids;
	struct respool_res res[RES_N];
	double controller_pct;
	double demand[RES_N];      /* leaves: set by admission; internal: sum of kids */
	double allocation[RES_N];  /* same */
	double entitlement[RES_N]; /* output of respool_entitle */
	int64_t active_tasks;
	void *payload; /* the edge's config bytes */
	size_t payload_len;
};

struct respool_tree {
	pthread_rwlock_t lock;
	struct pool *root;
	struct pool **all;
	size_t n_all, cap_all;
	/* id -> pool, open addressing over `all` (admission looks pools up per
	 * gang); rebuilt on create/delete; NULL after ENOMEM: linear search */
	struct pool **by_id;
	size_t id_mask;
};

static int fail(struct respool_error *err, enum respool_err code, const char *fmt, ...)
{
	if (err != NULL) {
		va_list ap;
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static size_t id_hash(const char *id)
{
	uint64_t h = pel_fnv1a_str(id);
	return (size_t)(h ^ (h >> 29));
}

static void index_rebuild(struct respool_tree *t)
{
	size_t cap = 16;
	while (cap < 2 * t->n_all)
		cap *= 2;
	free(t->by_id);
	t->by_id = calloc(cap, sizeof(*t->by_id));
	if (t->by_id == NULL)
		return;
	t->id_mask = cap - 1;
	for (size_t i = 0; i < t->n_all; i++) {
		size_t b = id_hash(t->all[i]->id) & t->id_mask;
		while (t->by_id[b] != NULL)
			b = (b + 1) & t->id_mask;
		t->by_id[b] = t->all[i];
	}
}

static struct pool *find(struct respool_tree *t, const char *id)
{
	if (id == NULL || id[0] == '\0')
		return t->root;
	if (t->by_id != NULL) {
		for (size_t b = id_hash(id) & t->id_mask; t->by_id[b] != NULL;
		     b = (b + 1) & t->id_mask)
			if (strcmp(t->by_id[b]->id, id) == 0)
				return t->by_id[b];
		return NULL;
	}
	for (size_t i = 0; i < t->n_all; i++)
		if (strcmp(t->all[i]->id, id) == 0)
			return t->all[i];
	return NULL;
}

static bool push(void ***arr, size_t *n, size_t *cap, void *item)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		void **a = realloc(*arr, nc * sizeof(*a));
		if (a == NULL)
			return false;
		*arr = a;
		*cap = nc;
	}
	(*arr)[(*n)++] = item;
	return true;
}

static void remove_ptr(void **arr, size_t *n, void *item)
{
	for (size_t i = 0; i < *n; i++) {
		if (arr[i] == item) {
			arr[i] = arr[--*n];
			return;
		}
	}
}

struct respool_tree *respool_tree_create(void)
{
	struct respool_tree *t = calloc(1, sizeof(*t));
	struct pool *root = calloc(1, sizeof(*root));

	if (t == NULL || root == NULL || (root->name = strdup("/")) == NULL) {
		free(root);
		free(t);
		return NULL;
	}
	strcpy(root->id, "root");
	for (int k = 0; k < RES_N; k++)
		root->res[k] =
		    (struct respool_res){.reservation = INFINITY, .limit = INFINITY, .share = 1};
	pthread_rwlock_init(&t->lock, NULL);
	t->root = root;
	if (!push((void ***)&t->all, &t->n_all, &t->cap_all, root)) {
		respool_tree_destroy(t);
		return NULL;
	}
	return t;
}

void respool_tree_destroy(struct respool_tree *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n_all; i++) {
		free(t->all[i]->name);
		free(t->all[i]->kids);
		free(t->all[i]->payload);
		free(t->all[i]);
	}
	if (t->n_all == 0 && t->root) {
		free(t->root->name);
		free(t->root);
	}
	free(t->all);
	free(t->by_id);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}

/* Keeps a copy of the config's payload (best effort: none on ENOMEM). */
static void set_payload(struct pool *p, const struct respool_config *c)
{
	free(p->payload);
	p->payload = NULL;
	p->payload_len = 0;
	if (c->payload != NULL && c->payload_len > 0 && (p->payload = malloc(c->payload_len))) {
		memcpy(p->payload, c->payload, c->payload_len);
		p->payload_len = c->payload_len;
	}
}

/* R1, R4: the config on its own. */
static int check_config(const struct respool_config *c, struct respool_error *err)
{
	if (c->name == NULL || c->name[0] == '\0' || strchr(c->name, '/') != NULL ||
	    text_check(c->name, NAME_MAX_LEN) != NULL)
		return fail(err, RESPOOL_INVALID_CONFIG,
		            "pool name must be 1-255 bytes of UTF-8 without '/' or control "
		            "characters");
	for (int k = 0; k < RES_N; k++) {
		const struct respool_res *r = &c->res[k];
		if (!c->res_set[k])
			continue;
		if (!isfinite(r->reservation) || !isfinite(r->limit) || !isfinite(r->share))
			return fail(err, RESPOOL_INVALID_CONFIG, "%s: values must be finite",
			            respool_kind_name((enum respool_kind)k));
		if (r->reservation < 0)
			return fail(err, RESPOOL_INVALID_CONFIG, "%s: reservation %g is negative",
			            respool_kind_name((enum respool_kind)k), r->reservation);
		if (r->limit < r->reservation)
			return fail(
			    err, RESPOOL_INVALID_CONFIG, "%s: limit %g is below reservation %g",
			    respool_kind_name((enum respool_kind)k), r->limit, r->reservation);
		if (r->share <= 0)
			return fail(err, RESPOOL_INVALID_CONFIG, "%s: share must be > 0, got %g",
			            respool_kind_name((enum respool_kind)k), r->share);
	}
	return 0;
}

static void effective_res(const struct respool_config *c, struct respool_res out[RES_N])
{
	for (int k = 0; k < RES_N; k++)
		out[k] = c->res_set[k]
		             ? c->res[k]
		             : (struct respool_res){.reservation = 0, .limit = 0, .share = 1};
}

/* R3 (names) and R5 (reservations) for `self` (may be NULL) under parent. */
static int check_placement(struct pool *parent, struct pool *self, const char *name,
                           const struct respool_res res[RES_N], struct respool_error *err)
{
	double sum[RES_N] = {0};

	for (size_t i = 0; i < parent->n_kids; i++) {
		struct pool *k = parent->kids[i];
		if (k == self)
			continue;
		if (strcmp(k->name, name) == 0)
			return fail(err, RESPOOL_ALREADY_EXISTS,
			            "pool '%s' already exists under %s", name,
			            parent == NULL ? "/" : parent->name);
		for (int r = 0; r < RES_N; r++)
			sum[r] += k->res[r].reservation;
	}
	for (int r = 0; r < RES_N; r++)
		if (sum[r] + res[r].reservation > parent->res[r].reservation + 1e-9)
			return fail(err, RESPOOL_INVALID_CONFIG,
			            "%s: children's reservations %g exceed the parent's %g",
			            respool_kind_name((enum respool_kind)r),
			            sum[r] + res[r].reservation, parent->res[r].reservation);
	return 0;
}

static int create(struct respool_tree *t, const struct respool_config *cfg, const char *want_id,
                  char *id, size_t id_len, struct respool_error *err)
{
	struct respool_res res[RES_N];
	int rc = -1;

	if (cfg == NULL || id == NULL || id_len < ID_LEN)
		return fail(err, RESPOOL_INVALID_CONFIG, "missing config or id buffer");
	if (want_id != NULL && (want_id[0] == '\0' || strlen(want_id) >= ID_LEN))
		return fail(err, RESPOOL_INVALID_CONFIG, "pool id '%s' is not 1..%d characters",
		            want_id, ID_LEN - 1);
	if (check_config(cfg, err) != 0)
		return -1;
	effective_res(cfg, res);
	pthread_rwlock_wrlock(&t->lock);
	struct pool *parent = find(t, cfg->parent_id);
	if (parent == NULL) {
		fail(err, RESPOOL_NOT_FOUND, "parent pool '%s' not found", cfg->parent_id);
		goto out;
	}
	if (check_placement(parent, NULL, cfg->name, res, err) != 0)
		goto out;
	if (want_id != NULL && find(t, want_id) != NULL) {
		fail(err, RESPOOL_ALREADY_EXISTS, "pool id '%s' exists", want_id);
		goto out;
	}
	struct pool *p = calloc(1, sizeof(*p));
	if (p == NULL || (p->name = strdup(cfg->name)) == NULL) {
		free(p);
		fail(err, RESPOOL_NO_MEMORY, "out of memory");
		goto out;
	}
	if (want_id != NULL)
		snprintf(p->id, ID_LEN, "%s", want_id);
	else
		ids_uuid(p->id);
	memcpy(p->res, res, sizeof(res));
	p->controller_pct = cfg->controller_pct;
	p->parent = parent;
	set_payload(p, cfg);
	if (!push((void ***)&t->all, &t->n_all, &t->cap_all, p)) {
		free(p->name);
		free(p);
		fail(err, RESPOOL_NO_MEMORY, "out of memory");
		goto out;
	}
	if (!push((void ***)&parent->kids, &parent->n_kids, &parent->cap_kids, p)) {
		t->n_all--;
		free(p->name);
		free(p);
		fail(err, RESPOOL_NO_MEMORY, "out of memory");
		goto out;
	}
	index_rebuild(t);
	snprintf(id, id_len, "%s", p->id);
	rc = 0;
out:
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

int respool_create(struct respool_tree *t, const struct respool_config *cfg, char *id,
                   size_t id_len, struct respool_error *err)
{
	return create(t, cfg, NULL, id, id_len, err);
}

int respool_restore(struct respool_tree *t, const char *id, const struct respool_config *cfg,
                    struct respool_error *err)
{
	char out[ID_LEN];
	return create(t, cfg, id, out, sizeof(out), err);
}

static bool is_within(const struct pool *p, const struct pool *ancestor)
{
	for (; p != NULL; p = p->parent)
		if (p == ancestor)
			return true;
	return false;
}

int respool_update(struct respool_tree *t, const char *id, const struct respool_config *cfg,
                   struct respool_error *err)
{
	struct respool_res res[RES_N];
	int rc = -1;

	if (cfg == NULL || check_config(cfg, err) != 0)
		return cfg ? -1 : fail(err, RESPOOL_INVALID_CONFIG, "missing config");
	effective_res(cfg, res);
	pthread_rwlock_wrlock(&t->lock);
	struct pool *p = id ? find(t, id) : NULL;
	struct pool *parent = find(t, cfg->parent_id);
	if (p == NULL || p == t->root) {
		fail(err, RESPOOL_NOT_FOUND, "pool '%s' not found%s", id ? id : "",
		     p == t->root ? " (the root cannot be updated)" : "");
		goto out;
	}
	if (parent == NULL) {
		fail(err, RESPOOL_NOT_FOUND, "parent pool '%s' not found", cfg->parent_id);
		goto out;
	}
	if (is_within(parent, p)) { /* R7 */
		fail(err, RESPOOL_INVALID_CONFIG,
		     "cannot move pool '%s' under itself or a descendant", p->name);
		goto out;
	}
	if (check_placement(parent, p, cfg->name, res, err) != 0)
		goto out;
	/* R5 downwards: the pool's own children must still fit its new reservation */
	for (int r = 0; r < RES_N; r++) {
		double sum = 0;
		for (size_t i = 0; i < p->n_kids; i++)
			sum += p->kids[i]->res[r].reservation;
		if (sum > res[r].reservation + 1e-9) {
			fail(err, RESPOOL_INVALID_CONFIG,
			     "%s: children's reservations %g exceed the new reservation %g",
			     respool_kind_name((enum respool_kind)r), sum, res[r].reservation);
			goto out;
		}
	}
	char *name = strdup(cfg->name);
	if (name == NULL || (parent != p->parent && !push((void ***)&parent->kids, &parent->n_kids,
	                                                  &parent->cap_kids, p))) {
		free(name);
		fail(err, RESPOOL_NO_MEMORY, "out of memory");
		goto out;
	}
	if (parent != p->parent) {
		remove_ptr((void **)p->parent->kids, &p->parent->n_kids, p);
		p->parent = parent;
	}
	free(p->name);
	p->name = name;
	memcpy(p->res, res, sizeof(res));
	p->controller_pct = cfg->controller_pct;
	set_payload(p, cfg);
	rc = 0;
out:
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

int respool_delete(struct respool_tree *t, const char *id, struct respool_error *err)
{
	int rc = -1;

	pthread_rwlock_wrlock(&t->lock);
	struct pool *p = id && id[0] ? find(t, id) : NULL;
	if (p == NULL || p == t->root) {
		fail(err, RESPOOL_NOT_FOUND, "pool '%s' not found%s", id ? id : "",
		     p == t->root ? " (the root cannot be deleted)" : "");
	} else if (p->n_kids > 0) { /* R6 */
		fail(err, RESPOOL_IS_NOT_LEAF, "pool '%s' has %zu child pools", p->name, p->n_kids);
	} else if (p->active_tasks > 0) {
		fail(err, RESPOOL_IS_BUSY, "pool '%s' has %lld active tasks", p->name,
		     (long long)p->active_tasks);
	} else {
		remove_ptr((void **)p->parent->kids, &p->parent->n_kids, p);
		remove_ptr((void **)t->all, &t->n_all, p);
		index_rebuild(t);
		free(p->name);
		free(p->kids);
		free(p->payload);
		free(p);
		rc = 0;
	}
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

int respool_lookup(struct respool_tree *t, const char *path, char *id, size_t id_len,
                   struct respool_error *err)
{
	char seg[NAME_MAX_LEN + 1];
	int rc = 0;

	if (path == NULL || path[0] != '/')
		return fail(err, RESPOOL_INVALID_PATH, "path '%s' must start with '/'",
		            path ? path : "");
	pthread_rwlock_rdlock(&t->lock);
	struct pool *p = t->root;
	for (const char *s = path + 1; *s != '\0' && p != NULL;) {
		const char *slash = strchr(s, '/');
		size_t len = slash ? (size_t)(slash - s) : strlen(s);
		if (len == 0 || len > NAME_MAX_LEN) {
			rc = fail(err, RESPOOL_INVALID_PATH,
			          "path '%s' has an empty or long segment", path);
			break;
		}
		memcpy(seg, s, len);
		seg[len] = '\0';
		struct pool *next = NULL;
		for (size_t i = 0; i < p->n_kids && next == NULL; i++)
			if (strcmp(p->kids[i]->name, seg) == 0)
				next = p->kids[i];
		p = next;
		s += len + (slash ? 1 : 0);
	}
	if (rc == 0 && p == NULL)
		rc = fail(err, RESPOOL_PATH_NOT_FOUND, "no pool at path '%s'", path);
	if (rc == 0)
		snprintf(id, id_len, "%s", p->id);
	pthread_rwlock_unlock(&t->lock);
	return rc;
}

static size_t path_into(const struct pool *p, char *buf, size_t len)
{
	if (p->parent == NULL)
		return (size_t)snprintf(buf, len, "/");
	size_t n = path_into(p->parent, buf, len);
	if (n == 1)
		n = 0; /* root "/" is the separator itself */
	return n +
	       (size_t)snprintf(buf + (n < len ? n : len), n < len ? len - n : 0, "/%s", p->name);
}

int respool_path(struct respool_tree *t, const char *id, char *buf, size_t len)
{
	pthread_rwlock_rdlock(&t->lock);
	struct pool *p = find(t, id);
	if (p != NULL)
		path_into(p, buf, len);
	pthread_rwlock_unlock(&t->lock);
	return p ? 0 : -1;
}

bool respool_is_leaf(struct respool_tree *t, const char *id)
{
	pthread_rwlock_rdlock(&t->lock);
	struct pool *p = find(t, id);
	bool leaf = p != NULL && p->n_kids == 0;
	pthread_rwlock_unlock(&t->lock);
	return leaf;
}

size_t respool_count(struct respool_tree *t)
{
	pthread_rwlock_rdlock(&t->lock);
	size_t n = t->n_all;
	pthread_rwlock_unlock(&t->lock);
	return n;
}

/* Adds delta to field `off` of p and every ancestor. */
static int add_up(struct respool_tree *t, const char *id, const double delta[RES_N], size_t off)
{
	pthread_rwlock_wrlock(&t->lock);
	struct pool *p = find(t, id);
	for (struct pool *q = p; q != NULL; q = q->parent) {
		double *v = (double *)((char *)q + off);
		for (int k = 0; k < RES_N; k++)
			v[k] += delta[k];
	}
	pthread_rwlock_unlock(&t->lock);
	return p ? 0 : -1;
}

int respool_add_demand(struct respool_tree *t, const char *id, const double delta[RES_N])
{
	return add_up(t, id, delta, offsetof(struct pool, demand));
}

int respool_add_allocation(struct respool_tree *t, const char *id, const double delta[RES_N])
{
	return add_up(t, id, delta, offsetof(struct pool, allocation));
}

int respool_set_active_tasks(struct respool_tree *t, const char *id, int64_t delta)
{
	pthread_rwlock_wrlock(&t->lock);
	struct pool *p = find(t, id);
	if (p != NULL)
		p->active_tasks += delta;
	pthread_rwlock_unlock(&t->lock);
	return p ? 0 : -1;
}

/*
 * ENTITLEMENT — HOW IT WORKS (per resource kind, independently)
 *
 * The root is entitled to the cluster capacity C. A pool entitled to E
 * divides E among its children in three passes:
 *
 *  1. Reservations first: child c gets g_c = min(reservation_c, demand_c,
 *     limit_c). If the sum exceeds E (the cluster is smaller than what was
 *     reserved), E is water-filled over the g_c instead (max-min by share,
 *     each capped at its g_c): a pool reserving more than the cluster has
 *     and asking for it all does not starve a sibling that asks for little
 *     (scaling every g_c by E / sum gave a 2-cpu pool 0.26 cpus of 128 next
 *     to one asking for 1,000).
 *  2. Demand: the rest R = E - sum(g_c) is water-filled among children
 *     whose cap u_c = min(limit_c, demand_c) is not met, in proportion to
 *     share: each active child gets R * share_c / sum(active shares),
 *     clipped at u_c; what a clipped child could not use goes back into R
 *     and the loop repeats over those still active, until R is spent or no
 *     child can take more (max-min fairness weighted by share).
 *  3. Headroom: what is still left is water-filled the same way with the
 *     cap min(limit_c) alone, so a pool can admit new work before the next
 *     recomputation sees its demand.
 *
 * A child's entitlement is what it got; it divides that among its own
 * children the same way. Demand of an internal pool is the sum of its
 * leaves' demand (allocation + pending tasks), so an idle pool (demand 0)
 * gets nothing in passes 1-2 and its reservation flows to its busy
 * siblings ("lending"); it gets it back at the next recomputation after
 * its demand returns, since pass 1 serves reservations before anything.
 *
 * LIMITATIONS: shares are relative among siblings only; O(pools x kids)
 * per kind; a pool is only as entitled as its parent.
 */

/* Water-fills `rest` into give[] by share, child i capped at cap[i]; returns what is left. */
static double waterfill(struct pool *p, int k, double *give, const double *cap, bool *active,
                        double rest)
{
	size_t n = p->n_kids;

	for (size_t i = 0; i < n; i++)
		active[i] = give[i] + 1e-9 < cap[i];
	while (rest > 1e-9) {
		double shares = 0, used = 0;
		for (size_t i = 0; i < n; i++)
			if (active[i])
				shares += p->kids[i]->res[k].share;
		if (shares <= 0)
			break;
		for (size_t i = 0; i < n; i++) {
			if (!active[i])
				continue;
			double got =
			    fmin(rest * p->kids[i]->res[k].share / shares, cap[i] - give[i]);
			give[i] += got;
			used += got;
			if (give[i] >= cap[i] - 1e-9)
				active[i] = false;
		}
		rest -= used;
		if (used <= 1e-12)
			break;
	}
	return rest;
}

static void divide(struct pool *p, int k)
{
	double e = p->entitlement[k], sum = 0;
	size_t n = p->n_kids;

	if (n == 0)
		return;
	double *give = calloc(n, sizeof(double)), *cap = calloc(n, sizeof(double));
	bool *active = calloc(n, sizeof(bool));
	if (give == NULL || cap == NULL || active == NULL) {
		free(give);
		free(cap);
		free(active);
		return; /* ENOMEM: children keep their previous entitlement */
	}
	for (size_t i = 0; i < n; i++) { /* pass 1 */
		struct pool *c = p->kids[i];
		cap[i] = fmax(0, fmin(c->res[k].reservation, fmin(c->res[k].limit, c->demand[k])));
		sum += cap[i];
	}
	double rest;
	if (sum > e) { /* reserved more than there is: max-min over the reservations */
		rest = waterfill(p, k, give, cap, active, e);
	} else {
		memcpy(give, cap, n * sizeof(double));
		rest = e - sum;
	}
	for (size_t i = 0; i < n; i++) /* pass 2: demand */
		cap[i] = fmin(p->kids[i]->res[k].limit, p->kids[i]->demand[k]);
	rest = waterfill(p, k, give, cap, active, rest);
	for (size_t i = 0; i < n; i++) /* pass 3: headroom */
		cap[i] = p->kids[i]->res[k].limit;
	waterfill(p, k, give, cap, active, rest);
	for (size_t i = 0; i < n; i++) {
		p->kids[i]->entitlement[k] = give[i];
		divide(p->kids[i], k);
	}
	free(give);
	free(cap);
	free(active);
}

void respool_entitle(struct respool_tree *t, const double capacity[RES_N])
{
	pthread_rwlock_wrlock(&t->lock);
	for (int k = 0; k < RES_N; k++) {
		t->root->entitlement[k] = capacity[k];
		divide(t->root, k);
	}
	pthread_rwlock_unlock(&t->lock);
}

int respool_info(struct respool_tree *t, const char *id, struct respool_info *info)
{
	int rc = -1;

	memset(info, 0, sizeof(*info));
	pthread_rwlock_rdlock(&t->lock);
	struct pool *p = find(t, id);
	if (p != NULL) {
		snprintf(info->id, sizeof(info->id), "%s", p->id);
		snprintf(info->parent_id, sizeof(info->parent_id), "%s",
		         p->parent ? p->parent->id : "");
		info->child_ids = calloc(p->n_kids ? p->n_kids : 1, sizeof(char *));
		rc = info->child_ids ? 0 : -1;
		for (size_t i = 0; rc == 0 && i < p->n_kids; i++) {
			if ((info->child_ids[i] = strdup(p->kids[i]->id)) == NULL)
				rc = -1;
			else
				info->n_children++;
		}
		if (rc == 0 && p->payload_len > 0) {
			info->payload = malloc(p->payload_len);
			if (info->payload != NULL) {
				memcpy(info->payload, p->payload, p->payload_len);
				info->payload_len = p->payload_len;
			}
		}
	}
	pthread_rwlock_unlock(&t->lock);
	if (rc != 0)
		respool_info_fini(info);
	return rc;
}

void respool_info_fini(struct respool_info *info)
{
	for (size_t i = 0; info->child_ids && i < info->n_children; i++)
		free(info->child_ids[i]);
	free(info->child_ids);
	free(info->payload);
	memset(info, 0, sizeof(*info));
}

char **respool_list(struct respool_tree *t, size_t *n)
{
	pthread_rwlock_rdlock(&t->lock);
	char **ids = calloc(t->n_all ? t->n_all : 1, sizeof(char *));
	*n = 0;
	for (size_t i = 0; ids && i < t->n_all; i++)
		if ((ids[*n] = strdup(t->all[i]->id)) != NULL)
			(*n)++;
	pthread_rwlock_unlock(&t->lock);
	return ids;
}

int respool_usage(struct respool_tree *t, const char *id, struct respool_usage *out)
{
	pthread_rwlock_rdlock(&t->lock);
	struct pool *p = find(t, id);
	if (p != NULL) {
		memcpy(out->entitlement, p->entitlement, sizeof(out->entitlement));
		memcpy(out->allocation, p->allocation, sizeof(out->allocation));
		memcpy(out->demand, p->demand, sizeof(out->demand));
		memcpy(out->res, p->res, sizeof(out->res));
		out->controller_pct = p->controller_pct;
	}
	pthread_rwlock_unlock(&t->lock);
	return p ? 0 : -1;
}
