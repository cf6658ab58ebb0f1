/*
 * respool: the resource pool tree and its entitlement (respool.proto).
 *
 * Pools form a tree under the root "/"; each has, per resource kind (cpu,
 * memory, disk, gpu), a reservation, a limit and a share. The resource
 * manager admits a pool's tasks while its allocation fits its entitlement,
 * which respool_entitle() computes from the cluster capacity and each
 * pool's demand (see the essay above respool_entitle in respool.c).
 *
 * Validation rules (each refused with RESPOOL_INVALID_CONFIG and a reason):
 *   R1 name non-empty, no '/', at most 255 bytes;
 *   R2 the parent exists;
 *   R3 sibling names are unique (RESPOOL_ALREADY_EXISTS);
 *   R4 per kind: reservation >= 0, limit >= reservation, share > 0, all
 *      finite; kinds are "cpu", "memory", "disk", "gpu", each at most once;
 *   R5 the children's reservations (per kind) do not exceed the parent's
 *      reservation (the root's is unbounded);
 *   R6 a pool with children (RESPOOL_IS_NOT_LEAF) or with active tasks
 *      (RESPOOL_IS_BUSY) cannot be deleted;
 *   R7 a pool cannot be moved under itself or its own descendant.
 *
 * Thread-safety: one rwlock around the tree; readers (lookups, admission
 * reading entitlements) share it. Not the hot path.
 */
#ifndef RESPOOL_H
#define RESPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resmgr_seam.h"

struct respool_res {
	double reservation, limit, share;
};

struct respool_config {
	const char *name;
	const char *parent_id; /* NULL or "" = the root */
	struct respool_res res[RES_N];
	bool res_set[RES_N];   /* kinds given; others default to 0 / 0 / 1 */
	double controller_pct; /* controller tasks hold at most this percent of the
	                        * reservation (ControllerLimit.maxPercent); 0: no limit */
	const void *payload;   /* opaque bytes kept with the pool (the edge keeps the
	                        * packed ResourcePoolConfig); copied; may be NULL */
	size_t payload_len;
};

/* Outcome of an operation; maps onto respool.proto's error messages. */
enum respool_err {
	RESPOOL_OK = 0,
	RESPOOL_ALREADY_EXISTS,
	RESPOOL_INVALID_CONFIG,
	RESPOOL_NOT_FOUND,
	RESPOOL_PATH_NOT_FOUND,
	RESPOOL_INVALID_PATH,
	RESPOOL_IS_BUSY,
	RESPOOL_IS_NOT_LEAF,
	RESPOOL_NO_MEMORY,
};

struct respool_error {
	enum respool_err code;
	char msg[256];
};

struct respool_tree;

/* A new tree holding only the root "/" (id "root"). NULL on ENOMEM. */
struct respool_tree *respool_tree_create(void);
void respool_tree_destroy(struct respool_tree *t);

/*
 * Creates a pool; on success writes its id (caller's buffer of id_len
 * bytes, at least 37). Returns 0, or -1 with *err filled.
 */
int respool_create(struct respool_tree *t, const struct respool_config *cfg, char *id,
                   size_t id_len, struct respool_error *err);

/* Recovery: creates a pool under its stored id (same rules as create;
 * RESPOOL_ALREADY_EXISTS when the id is taken). */
int respool_restore(struct respool_tree *t, const char *id, const struct respool_config *cfg,
                    struct respool_error *err);

/* Replaces a pool's config (name, parent, resources); rules R1-R5, R7. */
int respool_update(struct respool_tree *t, const char *id, const struct respool_config *cfg,
                   struct respool_error *err);

/* Deletes a leaf without active tasks (R6). The root cannot be deleted. */
int respool_delete(struct respool_tree *t, const char *id, struct respool_error *err);

/* Path ("/a/b") -> id; "/" is the root. */
int respool_lookup(struct respool_tree *t, const char *path, char *id, size_t id_len,
                   struct respool_error *err);

/* Full path of a pool into buf; -1 if unknown. */
int respool_path(struct respool_tree *t, const char *id, char *buf, size_t len);

/* True when the pool exists and has no children. */
bool respool_is_leaf(struct respool_tree *t, const char *id);

/* Number of pools, root included. */
size_t respool_count(struct respool_tree *t);

/*
 * Accounting used by admission: a pool's demand (what its tasks ask for:
 * allocation + pending) and allocation (admitted tasks), per kind, on
 * leaves; internal pools sum their children. Deltas may be negative.
 */
int respool_add_demand(struct respool_tree *t, const char *id, const double delta[RES_N]);
int respool_add_allocation(struct respool_tree *t, const char *id, const double delta[RES_N]);
int respool_set_active_tasks(struct respool_tree *t, const char *id, int64_t delta);

/* Recomputes every pool's entitlement from the cluster capacity. */
void respool_entitle(struct respool_tree *t, const double capacity[RES_N]);

/* A pool's identity and links (for Get / Query). Free with respool_info_fini. */
struct respool_info {
	char id[40], parent_id[40]; /* parent_id "" for the root */
	char **child_ids;
	size_t n_children;
	void *payload;
	size_t payload_len;
};

/* Fills info for pool id; -1 if unknown or ENOMEM. */
int respool_info(struct respool_tree *t, const char *id, struct respool_info *info);
void respool_info_fini(struct respool_info *info);

/* Ids of every pool, root first (caller frees each and the array). */
char **respool_list(struct respool_tree *t, size_t *n);

/* A pool's numbers (entitlement as of the last respool_entitle). */
struct respool_usage {
	double entitlement[RES_N], allocation[RES_N], demand[RES_N];
	struct respool_res res[RES_N];
	double controller_pct; /* 0: no controller limit */
};
int respool_usage(struct respool_tree *t, const char *id, struct respool_usage *out);

#endif
