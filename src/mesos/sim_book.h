/*
 * sim_book: an agent's checkpointed resources in the simulated master —
 * the framework role's dynamic reservations and the persistent volumes
 * made on them — and the offer operations that change them (RESERVE,
 * UNRESERVE, CREATE, DESTROY), validated as a Mesos master validates them
 * (src/master/validation.cpp, offer operations; src/master/master.cpp,
 * Master::_accept applies them in order to the offered resources and
 * drops an invalid one with a log line, going on with the next).
 *
 * Resources use the pre-refinement format the reference documents: a
 * dynamically reserved resource has `role` (the framework's) and
 * `reservation` (principal, labels); a persistent volume is a reserved
 * disk resource with `disk.persistence.id` and `disk.volume`. A
 * reservation is identified by its labels (the role is always the
 * framework's); amounts of one reservation add up.
 *
 * A book lives with its agent: reservations and volumes are checkpointed
 * on the agent (the agent's meta directory, not its id), so they survive a
 * task's end and the agent's loss and return.
 *
 * Not thread-safe: the sim's mutex guards it.
 */
#ifndef SIM_BOOK_H
#define SIM_BOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "mesos/v1/mesos.pb-c.h"

enum { SB_CPUS, SB_MEM, SB_DISK, SB_N };

struct sim_resv {
	char *key; /* the labels as "k=v\n..." (the reservation's identity) */
	char *principal;
	size_t n_labels;
	char **lk, **lv;
	double total[SB_N]; /* reserved */
	double used[SB_N];  /* by tasks and, for disk, volumes */
};

struct sim_vol {
	char *id, *path, *resv_key;
	double mb;
	char *task; /* the live task using it, or NULL */
};

struct sim_book {
	struct sim_resv *r;
	size_t n_r;
	struct sim_vol *v;
	size_t n_v;
};

/* What one task takes of the book: reserved amounts of one reservation, a volume. */
struct sim_claim {
	char *resv_key; /* NULL: nothing reserved */
	double amt[SB_N];
	char *vol_id; /* NULL: no volume */
};

/*
 * The operations. `unres` is the agent's unreserved free cpus, mem, disk:
 * RESERVE takes from it, UNRESERVE gives back. 0, or -1 with why (nothing
 * changed: an operation is applied whole or not at all).
 */
int sim_book_reserve(struct sim_book *b, const char *role, const char *principal,
                     Mesos__V1__Resource *const *res, size_t n, double unres[SB_N], char *why,
                     size_t wl);
int sim_book_unreserve(struct sim_book *b, const char *role, Mesos__V1__Resource *const *res,
                       size_t n, double unres[SB_N], char *why, size_t wl);
int sim_book_create(struct sim_book *b, const char *role, Mesos__V1__Resource *const *vols,
                    size_t n, char *why, size_t wl);
int sim_book_destroy(struct sim_book *b, const char *role, Mesos__V1__Resource *const *vols,
                     size_t n, char *why, size_t wl);

/* Whether r is reserved or a volume (anything but a plain unreserved resource). */
bool sim_book_is_reserved(const Mesos__V1__Resource *r);

/*
 * A launching task's reserved resources and volume against the book (its
 * unreserved ones are the caller's): 0 with *c filled (free with
 * sim_claim_fini), or -1 with why.
 */
int sim_book_check_task(const struct sim_book *b, const char *role, Mesos__V1__Resource *const *res,
                        size_t n, struct sim_claim *c, char *why, size_t wl);
void sim_book_take(struct sim_book *b, const struct sim_claim *c, const char *task_id);
void sim_book_give(struct sim_book *b, const struct sim_claim *c);
void sim_claim_fini(struct sim_claim *c);

/* True when something reserved is free to offer. */
bool sim_book_any_free(const struct sim_book *b);

/*
 * The book as resources, allocated in ar (they borrow the book's texts:
 * use them before the book changes): free_only, what an offer carries
 * (each reservation's free part, each volume not in use); otherwise
 * everything (GET_AGENTS' totals). NULL on ENOMEM.
 */
struct arena;
Mesos__V1__Resource **sim_book_resources(const struct sim_book *b, const char *role, bool free_only,
                                         size_t *n, struct arena *ar);

/* Reserved totals [cpus, mem, disk] (volumes included). */
void sim_book_reserved(const struct sim_book *b, double out[SB_N]);
void sim_book_fini(struct sim_book *b);

#endif
