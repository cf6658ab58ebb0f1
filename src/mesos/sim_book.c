/* An agent's reservations and persistent volumes in the simulator; see sim_book.h. */
#include "sim_book.h"

#include "arena.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-9

static const char *const kinds[SB_N] = {"cpus", "mem", "disk"};

static int kind_of(const Mesos__V1__Resource *r)
{
	for (int k = 0; k < SB_N; k++)
		if (r->name && strcmp(r->name, kinds[k]) == 0)
			return k;
	return -1;
}

static bool has_persistence(const Mesos__V1__Resource *r)
{
	return r->disk && r->disk->persistence;
}

bool sim_book_is_reserved(const Mesos__V1__Resource *r)
{
	return (r->role && strcmp(r->role, "*") != 0) || r->reservation || has_persistence(r);
}

/* The reservation's identity: its labels as "k=v\n..."; malloc'd. */
static char *resv_key(const Mesos__V1__Resource *r)
{
	const Mesos__V1__Labels *l = r->reservation ? r->reservation->labels : NULL;
	size_t len = 1;
	for (size_t i = 0; l && i < l->n_labels; i++)
		len += strlen(l->labels[i]->key ? l->labels[i]->key : "") +
		       strlen(l->labels[i]->value ? l->labels[i]->value : "") + 2;
	char *k = malloc(len), *p = k;
	if (k == NULL)
		return NULL;
	*p = '\0';
	for (size_t i = 0; l && i < l->n_labels; i++)
		p += sprintf(p, "%s=%s\n", l->labels[i]->key ? l->labels[i]->key : "",
		             l->labels[i]->value ? l->labels[i]->value : "");
	return k;
}

static struct sim_resv *find_resv(const struct sim_book *b, const char *key)
{
	for (size_t i = 0; i < b->n_r; i++)
		if (strcmp(b->r[i].key, key) == 0)
			return &b->r[i];
	return NULL;
}

static struct sim_vol *find_vol(const struct sim_book *b, const char *id)
{
	for (size_t i = 0; i < b->n_v; i++)
		if (strcmp(b->v[i].id, id) == 0)
			return &b->v[i];
	return NULL;
}

static double amount(const Mesos__V1__Resource *r)
{
	return r->type == MESOS__V1__VALUE__TYPE__SCALAR && r->scalar ? r->scalar->value : NAN;
}

/*
 * A reserved resource of the framework's role as an operation names it:
 * a scalar cpus/mem/disk amount, positive and finite, with the role and a
 * reservation. Returns its kind, or -1 with why.
 */
static int reserved_scalar(const Mesos__V1__Resource *r, const char *role, const char *op,
                           char *why, size_t wl)
{
	int k = kind_of(r);
	double v = amount(r);
	if (k < 0 || !isfinite(v) || v <= 0) {
		snprintf(why, wl,
		         "Invalid %s Operation: resource '%s' is not a positive cpus, mem or "
		         "disk scalar",
		         op, r->name ? r->name : "");
		return -1;
	}
	if (r->reservation == NULL || !r->role || strcmp(r->role, "*") == 0) {
		snprintf(why, wl, "Invalid %s Operation: resource %s is not dynamically reserved",
		         op, r->name);
		return -1;
	}
	if (strcmp(r->role, role) != 0) {
		snprintf(why, wl,
		         "Invalid %s Operation: resource %s has role '%s', the framework's role is "
		         "'%s'",
		         op, r->name, r->role, role);
		return -1;
	}
	return k;
}

static void resv_free(struct sim_resv *r)
{
	free(r->key);
	free(r->principal);
	for (size_t i = 0; i < r->n_labels; i++) {
		free(r->lk[i]);
		free(r->lv[i]);
	}
	free(r->lk);
	free(r->lv);
}

/* A new empty reservation like r's; NULL on ENOMEM. */
static struct sim_resv *resv_add(struct sim_book *b, const Mesos__V1__Resource *r, char *key)
{
	struct sim_resv *nr = realloc(b->r, (b->n_r + 1) * sizeof(*nr));
	if (nr == NULL)
		return NULL;
	b->r = nr;
	struct sim_resv *x = &b->r[b->n_r];
	memset(x, 0, sizeof(*x));
	const Mesos__V1__Labels *l = r->reservation->labels;
	size_t n = l ? l->n_labels : 0;
	x->key = key;
	x->principal = r->reservation->principal ? strdup(r->reservation->principal) : NULL;
	x->lk = calloc(n ? n : 1, sizeof(char *));
	x->lv = calloc(n ? n : 1, sizeof(char *));
	for (size_t i = 0; x->lk && x->lv && i < n; i++, x->n_labels++) {
		x->lk[i] = strdup(l->labels[i]->key ? l->labels[i]->key : "");
		x->lv[i] = strdup(l->labels[i]->value ? l->labels[i]->value : "");
	}
	if (!x->lk || !x->lv) {
		resv_free(x);
		return NULL;
	}
	b->n_r++;
	return x;
}

int sim_book_reserve(struct sim_book *b, const char *role, const char *principal,
                     Mesos__V1__Resource *const *res, size_t n, double unres[SB_N], char *why,
                     size_t wl)
{
	double want[SB_N] = {0};
	if (!role || !role[0] || strcmp(role, "*") == 0) {
		snprintf(why, wl,
		         "Invalid RESERVE Operation: a framework of role '*' cannot reserve");
		return -1;
	}
	if (n == 0) {
		snprintf(why, wl, "Invalid RESERVE Operation: no resources");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const Mesos__V1__Resource *r = res[i];
		int k = reserved_scalar(r, role, "RESERVE", why, wl);
		if (k < 0)
			return -1;
		if (has_persistence(r)) {
			snprintf(why, wl,
			         "Invalid RESERVE Operation: a persistent volume is made by "
			         "CREATE, not RESERVE");
			return -1;
		}
		const char *p = r->reservation->principal;
		if ((principal && principal[0]) ? (!p || strcmp(p, principal) != 0) : (p && p[0])) {
			snprintf(why, wl,
			         "Invalid RESERVE Operation: the reservation's principal '%s' does "
			         "not match the framework's '%s'",
			         p ? p : "", principal ? principal : "");
			return -1;
		}
		want[k] += amount(r);
	}
	for (int k = 0; k < SB_N; k++)
		if (want[k] > unres[k] + EPS) {
			snprintf(why, wl,
			         "Invalid RESERVE Operation: %g %s asked, %g unreserved offered",
			         want[k], kinds[k], unres[k]);
			return -1;
		}
	for (size_t i = 0; i < n; i++) {
		char *key = resv_key(res[i]);
		struct sim_resv *x = key ? find_resv(b, key) : NULL;
		if (x)
			free(key);
		else if (!key || !(x = resv_add(b, res[i], key))) {
			free(key);
			snprintf(why, wl, "out of memory");
			return -1; /* partly applied only under ENOMEM */
		}
		int k = kind_of(res[i]);
		x->total[k] += amount(res[i]);
		unres[k] -= amount(res[i]);
	}
	return 0;
}

static void drop_empty(struct sim_book *b)
{
	for (size_t i = 0; i < b->n_r;) {
		struct sim_resv *x = &b->r[i];
		if (x->total[SB_CPUS] > EPS || x->total[SB_MEM] > EPS || x->total[SB_DISK] > EPS) {
			i++;
			continue;
		}
		resv_free(x);
		b->r[i] = b->r[--b->n_r];
	}
}

int sim_book_unreserve(struct sim_book *b, const char *role, Mesos__V1__Resource *const *res,
                       size_t n, double unres[SB_N], char *why, size_t wl)
{
	if (n == 0) {
		snprintf(why, wl, "Invalid UNRESERVE Operation: no resources");
		return -1;
	}
	/* validate against each reservation's free part, summing what this op asks of it */
	double *asked = calloc((b->n_r ? b->n_r : 1) * SB_N, sizeof(double));
	struct sim_resv **of = calloc(n, sizeof(*of));
	int rc = -1;
	if (!asked || !of) {
		snprintf(why, wl, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const Mesos__V1__Resource *r = res[i];
		int k = reserved_scalar(r, role, "UNRESERVE", why, wl);
		if (k < 0)
			goto out;
		if (has_persistence(r)) {
			snprintf(why, wl,
			         "Invalid UNRESERVE Operation: persistent volume %s must be "
			         "destroyed first",
			         r->disk->persistence->id ? r->disk->persistence->id : "");
			goto out;
		}
		char *key = resv_key(r);
		of[i] = key ? find_resv(b, key) : NULL;
		free(key);
		if (of[i] == NULL) {
			snprintf(why, wl,
			         "Invalid UNRESERVE Operation: no reservation with those "
			         "labels on this agent");
			goto out;
		}
		size_t slot = (size_t)(of[i] - b->r);
		asked[slot * SB_N + (size_t)k] += amount(r);
		if (asked[slot * SB_N + (size_t)k] > of[i]->total[k] - of[i]->used[k] + EPS) {
			snprintf(why, wl,
			         "Invalid UNRESERVE Operation: %g %s asked, %g of that reservation "
			         "free (the rest in use by tasks or volumes)",
			         asked[slot * SB_N + (size_t)k], kinds[k],
			         of[i]->total[k] - of[i]->used[k]);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		int k = kind_of(res[i]);
		of[i]->total[k] -= amount(res[i]);
		if (of[i]->total[k] < EPS)
			of[i]->total[k] = 0;
		unres[k] += amount(res[i]);
	}
	drop_empty(b);
	rc = 0;
out:
	free(asked);
	free(of);
	return rc;
}

/* A volume as CREATE/DESTROY/LAUNCH name it: checked shape, its id. */
static const char *volume_shape(const Mesos__V1__Resource *r, const char *role, const char *op,
                                char *why, size_t wl)
{
	if (kind_of(r) != SB_DISK || !has_persistence(r) || !r->disk->persistence->id ||
	    !r->disk->persistence->id[0]) {
		snprintf(why, wl,
		         "Invalid %s Operation: a persistent volume is a disk resource "
		         "with disk.persistence.id",
		         op);
		return NULL;
	}
	if (reserved_scalar(r, role, op, why, wl) < 0)
		return NULL;
	if (!r->disk->volume || !r->disk->volume->container_path ||
	    !r->disk->volume->container_path[0]) {
		snprintf(why, wl,
		         "Invalid %s Operation: volume %s has no disk.volume.container_path", op,
		         r->disk->persistence->id);
		return NULL;
	}
	return r->disk->persistence->id;
}

int sim_book_create(struct sim_book *b, const char *role, Mesos__V1__Resource *const *vols,
                    size_t n, char *why, size_t wl)
{
	if (n == 0) {
		snprintf(why, wl, "Invalid CREATE Operation: no volumes");
		return -1;
	}
	double *asked = calloc(b->n_r ? b->n_r : 1, sizeof(double));
	struct sim_resv **of = calloc(n, sizeof(*of));
	int rc = -1;
	if (!asked || !of) {
		snprintf(why, wl, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *id = volume_shape(vols[i], role, "CREATE", why, wl);
		if (id == NULL)
			goto out;
		bool dup = find_vol(b, id) != NULL;
		for (size_t k = 0; k < i && !dup; k++)
			dup = strcmp(vols[k]->disk->persistence->id, id) == 0;
		if (dup) {
			snprintf(why, wl,
			         "Invalid CREATE Operation: persistent volume %s already "
			         "exists on this agent",
			         id);
			goto out;
		}
		char *key = resv_key(vols[i]);
		of[i] = key ? find_resv(b, key) : NULL;
		free(key);
		if (of[i] == NULL) {
			snprintf(why, wl,
			         "Invalid CREATE Operation: volume %s: no reservation with its "
			         "labels on this agent",
			         id);
			goto out;
		}
		size_t slot = (size_t)(of[i] - b->r);
		asked[slot] += amount(vols[i]);
		double free_ = of[i]->total[SB_DISK] - of[i]->used[SB_DISK];
		if (asked[slot] > free_ + EPS) {
			snprintf(why, wl,
			         "Invalid CREATE Operation: volume %s needs %g MB of disk, the "
			         "reservation has %g MB free",
			         id, amount(vols[i]), free_);
			goto out;
		}
	}
	struct sim_vol *nv = realloc(b->v, (b->n_v + n) * sizeof(*nv));
	if (nv == NULL) {
		snprintf(why, wl, "out of memory");
		goto out;
	}
	b->v = nv;
	for (size_t i = 0; i < n; i++) {
		struct sim_vol *v = &b->v[b->n_v++];
		memset(v, 0, sizeof(*v));
		v->id = strdup(vols[i]->disk->persistence->id);
		v->path = strdup(vols[i]->disk->volume->container_path);
		v->resv_key = strdup(of[i]->key);
		v->mb = amount(vols[i]);
		of[i]->used[SB_DISK] += v->mb;
	}
	rc = 0;
out:
	free(asked);
	free(of);
	return rc;
}

static void vol_free(struct sim_vol *v)
{
	free(v->id);
	free(v->path);
	free(v->resv_key);
	free(v->task);
}

int sim_book_destroy(struct sim_book *b, const char *role, Mesos__V1__Resource *const *vols,
                     size_t n, char *why, size_t wl)
{
	if (n == 0) {
		snprintf(why, wl, "Invalid DESTROY Operation: no volumes");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *id = volume_shape(vols[i], role, "DESTROY", why, wl);
		if (id == NULL)
			return -1;
		const struct sim_vol *v = find_vol(b, id);
		if (v == NULL) {
			snprintf(why, wl,
			         "Invalid DESTROY Operation: persistent volume %s does not "
			         "exist on this agent",
			         id);
			return -1;
		}
		if (v->task) {
			snprintf(why, wl,
			         "Invalid DESTROY Operation: persistent volume %s is in use by "
			         "task %s",
			         id, v->task);
			return -1;
		}
		if (fabs(v->mb - amount(vols[i])) > EPS) {
			snprintf(why, wl, "Invalid DESTROY Operation: volume %s is %g MB, not %g",
			         id, v->mb, amount(vols[i]));
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct sim_vol *v = find_vol(b, vols[i]->disk->persistence->id);
		if (v == NULL)
			continue; /* named twice */
		struct sim_resv *x = find_resv(b, v->resv_key);
		if (x)
			x->used[SB_DISK] -= v->mb;
		vol_free(v);
		*v = b->v[--b->n_v];
	}
	return 0;
}

void sim_claim_fini(struct sim_claim *c)
{
	free(c->resv_key);
	free(c->vol_id);
	memset(c, 0, sizeof(*c));
}

int sim_book_check_task(const struct sim_book *b, const char *role, Mesos__V1__Resource *const *res,
                        size_t n, struct sim_claim *c, char *why, size_t wl)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		const Mesos__V1__Resource *r = res[i];
		if (!sim_book_is_reserved(r))
			continue;
		char *key = NULL;
		if (has_persistence(r)) {
			const char *id = volume_shape(r, role, "LAUNCH", why, wl);
			const struct sim_vol *v = id ? find_vol(b, id) : NULL;
			if (id && !v)
				snprintf(why, wl,
				         "Task uses persistent volume %s, which is not offered",
				         id);
			else if (v && v->task)
				snprintf(why, wl,
				         "Task uses persistent volume %s, in use by task %s", id,
				         v->task);
			else if (v && c->vol_id)
				snprintf(why, wl, "Task uses more than one persistent volume");
			if (!v || v->task || c->vol_id)
				goto fail;
			if (!(c->vol_id = strdup(id)))
				goto oom;
			continue;
		}
		int k = reserved_scalar(r, role, "LAUNCH", why, wl);
		if (k < 0)
			goto fail;
		if (!(key = resv_key(r)))
			goto oom;
		if (c->resv_key && strcmp(c->resv_key, key) != 0) {
			free(key);
			snprintf(why, wl, "Task uses resources of more than one reservation");
			goto fail;
		}
		if (!c->resv_key)
			c->resv_key = key;
		else
			free(key);
		c->amt[k] += amount(r);
	}
	if (c->resv_key) {
		const struct sim_resv *x = find_resv(b, c->resv_key);
		for (int k = 0; k < SB_N; k++)
			if (!x || c->amt[k] > x->total[k] - x->used[k] + EPS) {
				snprintf(why, wl, "Task uses more reserved %s than offered",
				         kinds[k]);
				goto fail;
			}
	}
	return 0;
oom:
	snprintf(why, wl, "out of memory");
fail:
	sim_claim_fini(c);
	return -1;
}

void sim_book_take(struct sim_book *b, const struct sim_claim *c, const char *task_id)
{
	struct sim_resv *x = c->resv_key ? find_resv(b, c->resv_key) : NULL;
	for (int k = 0; x && k < SB_N; k++)
		x->used[k] += c->amt[k];
	struct sim_vol *v = c->vol_id ? find_vol(b, c->vol_id) : NULL;
	if (v) {
		free(v->task);
		v->task = strdup(task_id);
	}
}

void sim_book_give(struct sim_book *b, const struct sim_claim *c)
{
	struct sim_resv *x = c->resv_key ? find_resv(b, c->resv_key) : NULL;
	for (int k = 0; x && k < SB_N; k++)
		x->used[k] = x->used[k] - c->amt[k] < EPS ? 0 : x->used[k] - c->amt[k];
	struct sim_vol *v = c->vol_id ? find_vol(b, c->vol_id) : NULL;
	if (v) {
		free(v->task);
		v->task = NULL;
	}
}

bool sim_book_any_free(const struct sim_book *b)
{
	for (size_t i = 0; i < b->n_v; i++)
		if (!b->v[i].task)
			return true;
	for (size_t i = 0; i < b->n_r; i++)
		for (int k = 0; k < SB_N; k++)
			if (b->r[i].total[k] - b->r[i].used[k] > 0.005)
				return true;
	return false;
}

/* --- as resources ------------------------------------------------------------- */

struct book_res {
	Mesos__V1__Resource r;
	Mesos__V1__Value__Scalar sc;
	Mesos__V1__Resource__ReservationInfo ri;
	Mesos__V1__Labels labels;
	Mesos__V1__Resource__DiskInfo di;
	Mesos__V1__Resource__DiskInfo__Persistence pe;
	Mesos__V1__Volume vol;
};

static void *zalloc(struct arena *ar, size_t size)
{
	void *p = arena_alloc(ar, size ? size : 1);
	if (p)
		memset(p, 0, size ? size : 1);
	return p;
}

static bool fill(struct arena *ar, struct book_res *m, const struct sim_resv *x, const char *role,
                 int k, double v)
{
	mesos__v1__resource__init(&m->r);
	mesos__v1__value__scalar__init(&m->sc);
	mesos__v1__resource__reservation_info__init(&m->ri);
	mesos__v1__labels__init(&m->labels);
	m->sc.value = v;
	m->r.name = (char *)kinds[k];
	m->r.type = MESOS__V1__VALUE__TYPE__SCALAR;
	m->r.scalar = &m->sc;
	m->r.role = (char *)role;
	m->ri.principal = x->principal;
	Mesos__V1__Label *lab = zalloc(ar, x->n_labels * sizeof(*lab));
	Mesos__V1__Label **labp = zalloc(ar, x->n_labels * sizeof(*labp));
	if (!lab || !labp)
		return false;
	for (size_t i = 0; i < x->n_labels; i++) {
		mesos__v1__label__init(&lab[i]);
		lab[i].key = x->lk[i];
		lab[i].value = x->lv[i];
		labp[i] = &lab[i];
	}
	m->labels.n_labels = x->n_labels;
	m->labels.labels = labp;
	m->ri.labels = x->n_labels ? &m->labels : NULL;
	m->r.reservation = &m->ri;
	return true;
}

Mesos__V1__Resource **sim_book_resources(const struct sim_book *b, const char *role, bool free_only,
                                         size_t *n, struct arena *ar)
{
	size_t cap = b->n_r * SB_N + b->n_v;
	struct book_res *m = zalloc(ar, cap * sizeof(*m));
	Mesos__V1__Resource **out = zalloc(ar, cap * sizeof(*out));
	*n = 0;
	if (!m || !out)
		return NULL;
	for (size_t i = 0; i < b->n_r; i++) {
		const struct sim_resv *x = &b->r[i];
		double vols = 0;
		for (size_t j = 0; j < b->n_v; j++)
			if (strcmp(b->v[j].resv_key, x->key) == 0)
				vols += b->v[j].mb;
		for (int k = 0; k < SB_N; k++) {
			double v = free_only ? x->total[k] - x->used[k]
			                     : x->total[k] - (k == SB_DISK ? vols : 0);
			if (v <= 0.005)
				continue;
			if (!fill(ar, &m[*n], x, role, k, v))
				return NULL;
			out[*n] = &m[*n].r;
			(*n)++;
		}
	}
	for (size_t j = 0; j < b->n_v; j++) {
		const struct sim_vol *v = &b->v[j];
		const struct sim_resv *x = find_resv(b, v->resv_key);
		if ((free_only && v->task) || x == NULL)
			continue;
		struct book_res *e = &m[*n];
		if (!fill(ar, e, x, role, SB_DISK, v->mb))
			return NULL;
		mesos__v1__resource__disk_info__init(&e->di);
		mesos__v1__resource__disk_info__persistence__init(&e->pe);
		mesos__v1__volume__init(&e->vol);
		e->pe.id = v->id;
		e->pe.principal = x->principal;
		e->vol.container_path = v->path;
		e->vol.mode = MESOS__V1__VOLUME__MODE__RW;
		e->di.persistence = &e->pe;
		e->di.volume = &e->vol;
		e->r.disk = &e->di;
		out[*n] = &e->r;
		(*n)++;
	}
	return out;
}

void sim_book_reserved(const struct sim_book *b, double out[SB_N])
{
	memset(out, 0, SB_N * sizeof(double));
	for (size_t i = 0; i < b->n_r; i++)
		for (int k = 0; k < SB_N; k++)
			out[k] += b->r[i].total[k];
}

void sim_book_fini(struct sim_book *b)
{
	for (size_t i = 0; i < b->n_r; i++)
		resv_free(&b->r[i]);
	for (size_t i = 0; i < b->n_v; i++)
		vol_free(&b->v[i]);
	free(b->r);
	free(b->v);
	memset(b, 0, sizeof(*b));
}
