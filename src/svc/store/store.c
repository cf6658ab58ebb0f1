/* Durable state in RocksDB with group commit; see store.h. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <rocksdb/c.h>
#include <zstd.h>

#include "clock.h"
#include "log.h"
#include "hash.h"
#include "store.h"

#define HDR 9
#define FMT_RAW 0
#define FMT_ZSTD 1
#define FMT_TAGGED 0x80 /* a 4-byte tag follows the version */
#define TAG_LEN 4
#define ZSTD_LEVEL 3
#define MAX_VALUE (256u << 20) /* refuse to inflate anything larger */

enum op_type { OP_PUT, OP_DEL };

/* (cf, key) -> version; open addressing. */
struct gmap_ent {
	const char *key;
	uint32_t klen;
	uint32_t h; /* low bits of key_hash: compared before the key (no miss on it) */
	uint8_t cf;
	bool versioned; /* written with a version or checked: worth caching */
	bool unread;    /* its check could not read RocksDB: check again */
	uint64_t version;
	struct vc_ent *vc; /* its version cache entry, when the check found one */
};

/*
 * A version cache entry: one cache line with the key inline when it fits
 * (a task key of a 36-character job id is 41 bytes), so a probe of the
 * million-entry table costs one cache miss, not two (slot, then key).
 */
#define VC_INLINE 48
struct vc_ent {
	uint64_t version;
	uint32_t h;
	uint16_t klen; /* 0: an empty slot (keys are never empty) */
	uint8_t cf;
	bool ext; /* longer than VC_INLINE: key holds a pointer to a copy */
	char key[VC_INLINE];
};

struct vcache {
	struct vc_ent *e;
	size_t cap, n;
	uint64_t gen; /* bumped when entries move (growth, clear): pointers die */
};

static const char *const cf_names[STORE_N_CF] = {
    [STORE_META] = "default", /* RocksDB's default family holds the singletons */
    [STORE_POOLS] = "pools",
    [STORE_JOB_CONFIG] = "job_config",
    [STORE_JOB_RUNTIME] = "job_runtime",
    [STORE_JOB_INDEX] = "job_index",
    [STORE_TASK_RUNTIME] = "task_runtime",
    [STORE_TASK_EVENTS] = "task_events",
    [STORE_VOLUMES] = "volumes",
    [STORE_UPDATES] = "updates",
};

/* Families earlier versions had: dropped when a database still has them. */
static const char *const retired_cf_names[] = {"task_state"};

const char *store_cf_name(enum store_cf cf)
{
	return (unsigned)cf < STORE_N_CF ? cf_names[cf] : "unknown";
}

struct op {
	uint8_t type, cf;
	uint64_t expect;
	size_t koff, klen, voff, vlen; /* into the batch's buffer; the value has its header */
};

struct store_batch {
	struct op *ops;
	size_t n, cap;
	char *buf;
	size_t blen, bcap;
	bool poisoned;
	struct store *s; /* for its compression threshold; NULL: the default */
	enum store_status status;
	store_done_f done;
	void *arg;
	struct store_batch *next;
};

struct gmap {
	struct gmap_ent *e;
	size_t cap, n;
	/* a group's map: the slots in use, in insertion order, so a reset and a
	 * merge touch only those (the table keeps the capacity of the largest
	 * group; clearing it whole per group was ~2% of the committer) */
	bool track;
	size_t *slots;
};

/*
 * Committers: batches are routed by their first key's entity (the bytes
 * before the first NUL: the job of a task key), so each committer owns a
 * partition of the versioned keys and checks them against its own cache.
 * Committers writing at once are joined by RocksDB into one WAL write and
 * sync and insert into the memtable in parallel. On this 2-core machine
 * two committers measured worse than one (bench_store, writers=8: 61k vs
 * 76k updates/s; 77k with pipelined writes, at 3x the p99): concurrent
 * inserts lose the skip list's sequential-insert splice, even with
 * memtable_insert_hint_per_batch. One it is; the routing stays for bigger
 * machines. Also measured and dropped: a committer split in two threads
 * (one checks and builds the next group while the other writes): 12-15%
 * slower here, the two cores being busy already; memtables hashed by job
 * (prefix extractor + hash skip list): bench_store +25%, but bench_e2e
 * -30%, as a 100,000-task job is one bucket without the inline skip
 * list's sequential-insert splice.
 */
#define N_COMMITTERS 1

/* A queue of batch lists handed to one thread (a committer, the syncer). */
struct bqueue {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct store_batch *head, *tail;
	bool closing;
};

static void bq_init(struct bqueue *q)
{
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
}

static void bq_fini(struct bqueue *q)
{
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
}

/* Appends the list first..last; false (nothing queued) once closing. */
static bool bq_put(struct bqueue *q, struct store_batch *first, struct store_batch *last)
{
	pthread_mutex_lock(&q->mu);
	bool ok = !q->closing;
	if (ok) {
		if (q->tail)
			q->tail->next = first;
		else
			q->head = first;
		q->tail = last;
		pthread_cond_signal(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	return ok;
}

/* Everything queued, waiting for some; NULL once closing and drained. */
static struct store_batch *bq_take(struct bqueue *q)
{
	pthread_mutex_lock(&q->mu);
	while (q->head == NULL && !q->closing)
		pthread_cond_wait(&q->cv, &q->mu);
	struct store_batch *list = q->head;
	q->head = q->tail = NULL;
	pthread_mutex_unlock(&q->mu);
	return list;
}

static void bq_close(struct bqueue *q)
{
	pthread_mutex_lock(&q->mu);
	q->closing = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

struct committer {
	struct store *s;
	struct bqueue q;
	pthread_t th;
	bool started;
	struct vcache vcache; /* last committed versions of this partition's keys */
};

struct store {
	rocksdb_t *db;
	rocksdb_options_t *opts;
	rocksdb_column_family_handle_t *cf[STORE_N_CF];
	rocksdb_writeoptions_t *wopts;
	rocksdb_readoptions_t *ropts;
	size_t threshold, max_group_bytes;
	struct committer cm[N_COMMITTERS];
	_Atomic uint64_t in_flight; /* submitted, completion not yet run */
	/* retention */
	_Atomic uint64_t groups, batches, ops, stale, corrupt, compressed, syncs, write_ns,
	    commit_cpu_ns;
	bool sync;
	/*
	 * The syncer (when sync is on). A committer writes a group without a
	 * sync and hands its batches here; one SyncWAL covers every group
	 * written before it started, then their completions run, in order. The
	 * committer meanwhile builds and inserts the next group: CPU work and
	 * the fsync overlap instead of taking turns. Groups written but not
	 * yet synced are readable (and their versions are what the next
	 * group's checks expect) before they are durable; nothing is
	 * acknowledged before. A failed sync fails its batches (and RocksDB
	 * refuses writes after it).
	 */
	rocksdb_writeoptions_t *wopts_nosync;
	struct bqueue sy;
	bool sy_started;
	pthread_t sy_th;
};

static void *syncer(void *arg);

static uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- batches ------------------------------------------------------------------ */

struct store_batch *store_batch_new(struct store *s)
{
	struct store_batch *b = calloc(1, sizeof(struct store_batch));
	if (b != NULL)
		b->s = s;
	return b;
}

void store_batch_free(struct store_batch *b)
{
	if (b == NULL)
		return;
	free(b->ops);
	free(b->buf);
	free(b);
}

size_t store_batch_ops(const struct store_batch *b)
{
	return b->n;
}

static bool buf_room(struct store_batch *b, size_t more)
{
	if (b->blen + more <= b->bcap)
		return true;
	size_t nc = b->bcap ? b->bcap : 256;
	while (nc < b->blen + more)
		nc *= 2;
	char *nb = realloc(b->buf, nc);
	if (nb == NULL)
		return false;
	b->buf = nb;
	b->bcap = nc;
	return true;
}

static struct op *op_add(struct store_batch *b)
{
	if (b->poisoned)
		return NULL;
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 4;
		struct op *no = realloc(b->ops, nc * sizeof(*no));
		if (no == NULL) {
			b->poisoned = true;
			return NULL;
		}
		b->ops = no;
		b->cap = nc;
	}
	return &b->ops[b->n];
}

static int add_bytes(struct store_batch *b, const void *p, size_t len, size_t *off)
{
	if (!buf_room(b, len)) {
		b->poisoned = true;
		return -1;
	}
	*off = b->blen;
	if (len)
		memcpy(b->buf + b->blen, p, len);
	b->blen += len;
	return 0;
}

static void put_u64le(char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (char)(v >> (8 * i));
}

static uint64_t get_u64le(const char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)(uint8_t)p[i] << (8 * i);
	return v;
}

static void put_be32(char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (char)(v >> (24 - 8 * i));
}

static uint32_t get_be32(const char *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v = v << 8 | (uint8_t)p[i];
	return v;
}

/* store_put, with a tag in the header when tag is not NULL. */
static int put_value(struct store_batch *b, enum store_cf cf, const void *key, size_t klen,
                     const void *val, size_t vlen, uint64_t version, uint64_t expect,
                     const uint32_t *tag)
{
	struct op *o = op_add(b);
	if (o == NULL || (unsigned)cf >= STORE_N_CF || klen == 0) {
		b->poisoned = true;
		return -1;
	}
	*o = (struct op){.type = OP_PUT, .cf = (uint8_t)cf, .expect = expect, .klen = klen};
	if (add_bytes(b, key, klen, &o->koff) != 0)
		return -1;
	/* compress big values here, on the writer's thread, not the committer's */
	size_t threshold = b->s ? b->s->threshold : 4096;
	bool z = vlen > threshold;
	size_t hl = HDR + (tag ? TAG_LEN : 0);
	size_t room = hl + (z ? ZSTD_compressBound(vlen) : vlen);
	if (!buf_room(b, room)) {
		b->poisoned = true;
		return -1;
	}
	char *h = b->buf + b->blen;
	put_u64le(h + 1, version);
	h[0] = FMT_RAW;
	if (tag) {
		h[0] |= FMT_TAGGED;
		put_be32(h + HDR, *tag);
	}
	size_t plen = vlen;
	if (z) {
		size_t c = ZSTD_compress(h + hl, ZSTD_compressBound(vlen), val, vlen, ZSTD_LEVEL);
		if (!ZSTD_isError(c) && c < vlen) {
			h[0] = (char)(h[0] | FMT_ZSTD);
			plen = c;
			if (b->s)
				atomic_fetch_add(&b->s->compressed, 1);
		} else {
			z = false;
		}
	}
	if (!z && vlen)
		memcpy(h + hl, val, vlen);
	o->voff = b->blen;
	o->vlen = hl + plen;
	b->blen += o->vlen;
	b->n++;
	return 0;
}

int store_put(struct store_batch *b, enum store_cf cf, const void *key, size_t klen,
              const void *val, size_t vlen, uint64_t version, uint64_t expect)
{
	return put_value(b, cf, key, klen, val, vlen, version, expect, NULL);
}

int store_del(struct store_batch *b, enum store_cf cf, const void *key, size_t klen)
{
	struct op *o = op_add(b);
	if (o == NULL || (unsigned)cf >= STORE_N_CF || klen == 0) {
		b->poisoned = true;
		return -1;
	}
	*o = (struct op){
	    .type = OP_DEL, .cf = (uint8_t)cf, .expect = STORE_ANY_VERSION, .klen = klen};
	if (add_bytes(b, key, klen, &o->koff) != 0)
		return -1;
	b->n++;
	return 0;
}

/* Whether a raw entry is to be decoded and passed on (a scan's filter). */
typedef bool (*scan_filter_f)(void *arg, const char *key, size_t klen, const char *val,
                              size_t vlen);
static long scan(struct store *s, enum store_cf cf, const void *prefix, size_t plen, bool reverse,
                 scan_filter_f keep, store_scan_f fn, void *arg);

struct del_ctx {
	struct store_batch *b;
	enum store_cf cf;
	int rc;
};

/* A scan filter that deletes every key it sees (and decodes none). */
static bool del_seen(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct del_ctx *c = arg;
	if (c->rc == 0)
		c->rc = store_del(c->b, c->cf, key, klen);
	return false;
}

/*
 * Point deletes of the keys found, not a DeleteRange: RocksDB 7.8 (Debian
 * 12) keeps the memtable's insert hints (hinted_inserts) in one map for
 * point keys and range tombstones, so a range tombstone inserted with a
 * point key's splice corrupts the skip list (its debug build asserts);
 * newer RocksDB keeps hints to point keys. Point deletes also keep the
 * version cache exact, where a range left it to be dropped whole.
 */
int store_del_prefix(struct store_batch *b, enum store_cf cf, const void *prefix, size_t plen)
{
	if (b->s == NULL || (unsigned)cf >= STORE_N_CF || plen == 0) {
		b->poisoned = true;
		return -1;
	}
	struct del_ctx c = {b, cf, 0};
	if (scan(b->s, cf, prefix, plen, false, del_seen, NULL, &c) < 0 || c.rc != 0) {
		b->poisoned = true;
		return -1;
	}
	return 0;
}

/* The first key after every key starting with p (p incremented); 0: none. */
static size_t prefix_end(const char *p, size_t plen, char *out)
{
	memcpy(out, p, plen);
	while (plen > 0) {
		if ((uint8_t)out[plen - 1] != 0xff) {
			out[plen - 1]++;
			return plen;
		}
		plen--;
	}
	return 0;
}

/* --- value decoding ------------------------------------------------------------- */

static void key_text(const char *k, size_t klen, char *out, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < klen && n + 5 < len; i++) {
		uint8_t c = (uint8_t)k[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, len - n, "\\x%02x", c);
	}
	out[n < len ? n : len - 1] = '\0';
}

/* Decodes a stored value; NULL *out when corrupt (logged, counted). */
static enum store_status decode(struct store *s, enum store_cf cf, const char *key, size_t klen,
                                const char *v, size_t vlen, void **out, size_t *olen,
                                uint64_t *version)
{
	const char *why = NULL;
	*out = NULL;
	uint8_t f = vlen > 0 ? (uint8_t)v[0] : 0xff;
	size_t hl = vlen > 0 && (f & FMT_TAGGED) ? HDR + TAG_LEN : HDR;
	int fmt = f & ~FMT_TAGGED;
	if (vlen < hl) {
		why = "shorter than its header";
	} else if (fmt == FMT_RAW) {
		*olen = vlen - hl;
		*out = malloc(*olen ? *olen : 1);
		if (*out == NULL)
			return STORE_ENOMEM;
		memcpy(*out, v + hl, *olen);
	} else if (fmt == FMT_ZSTD) {
		unsigned long long n = ZSTD_getFrameContentSize(v + hl, vlen - hl);
		if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN || n > MAX_VALUE) {
			why = "bad zstd frame header";
		} else if ((*out = malloc(n ? n : 1)) == NULL) {
			return STORE_ENOMEM;
		} else {
			size_t got = ZSTD_decompress(*out, n, v + hl, vlen - hl);
			if (ZSTD_isError(got) || got != n) {
				free(*out);
				*out = NULL;
				why = "zstd frame does not decompress";
			}
			*olen = n;
		}
	} else {
		why = "unknown value format";
	}
	if (why != NULL) {
		char kt[160];
		key_text(key, klen, kt, sizeof(kt));
		log_error("store", "unreadable value in %s at key \"%s\": %s (skipped)",
		          cf_names[cf], kt, why);
		atomic_fetch_add(&s->corrupt, 1);
		return STORE_ECORRUPT;
	}
	if (version)
		*version = get_u64le(v + 1);
	return STORE_OK;
}

/* --- open / close ---------------------------------------------------------------- */

static void *committer(void *arg);

/*
 * Memtable inserts from a kept splice that may be fixed partially. A
 * single writer's inserts start from the skip list's last insert, but when
 * the new key is past the next node there (an older version of the
 * previous task, its older events) RocksDB recomputes the splice from the
 * top: ~76 key comparisons per insert in bench_store, each a TLS lookup
 * and a virtual call. With an insert-hint prefix extractor it keeps a
 * splice per prefix and fixes only the levels that no longer bracket the
 * key: ~40. The prefix is the key's first byte (sorted inserts of a group
 * share it in long runs). Only the options-string interface sets it.
 */
static void hinted_inserts(struct store *s)
{
	rocksdb_options_t *o = rocksdb_options_create();
	char *err = NULL;
	rocksdb_get_options_from_string(
	    s->opts, "memtable_insert_with_hint_prefix_extractor=rocksdb.CappedPrefix.1", o, &err);
	if (err != NULL) {
		log_warn("store", "memtable insert hints not set (%s): inserts cost more", err);
		rocksdb_free(err);
		rocksdb_options_destroy(o);
		return;
	}
	rocksdb_options_destroy(s->opts);
	s->opts = o;
}

struct store *store_open(const struct store_config *cfg, char *err, size_t errlen)
{
	char *rerr = NULL;
	struct store *s;

	if (cfg == NULL || cfg->path == NULL || cfg->path[0] == '\0') {
		snprintf(err, errlen, "store: no database path given");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "store: out of memory");
		return NULL;
	}
	s->threshold = cfg->compress_threshold ? cfg->compress_threshold : 4096;
	s->max_group_bytes = cfg->max_group_bytes ? cfg->max_group_bytes : 8u << 20;
	s->sync = !cfg->no_sync;
	s->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(s->opts, 1);
	rocksdb_options_set_create_missing_column_families(s->opts, 1);
	/* no compression in L0 (hot, rewritten soon), zstd below */
	int levels[7] = {rocksdb_no_compression,   rocksdb_zstd_compression,
	                 rocksdb_zstd_compression, rocksdb_zstd_compression,
	                 rocksdb_zstd_compression, rocksdb_zstd_compression,
	                 rocksdb_zstd_compression};
	if (cfg->no_compression)
		for (int i = 0; i < 7; i++)
			levels[i] = rocksdb_no_compression;
	rocksdb_options_set_num_levels(s->opts, 7);
	rocksdb_options_set_compression_per_level(s->opts, levels, 7);
	rocksdb_options_set_bottommost_compression(
	    s->opts, cfg->no_compression ? rocksdb_no_compression : rocksdb_zstd_compression);
	if (cfg->no_compression)
		s->threshold = SIZE_MAX;
	rocksdb_options_increase_parallelism(s->opts, 2);
	/* reuse WAL files: a sync then overwrites allocated blocks instead of
	 * growing a file (ext4 would commit its journal for the new size) */
	rocksdb_options_set_recycle_log_file_num(s->opts, 4);
	hinted_inserts(s);
	/* the families, and any retired one the database still has (dropped below) */
	enum { N_RETIRED = sizeof(retired_cf_names) / sizeof(retired_cf_names[0]) };
	const char *names[STORE_N_CF + N_RETIRED];
	const rocksdb_options_t *cf_opts[STORE_N_CF + N_RETIRED];
	rocksdb_column_family_handle_t *handles[STORE_N_CF + N_RETIRED];
	int n_open = 0;
	for (; n_open < STORE_N_CF; n_open++) {
		names[n_open] = cf_names[n_open];
		cf_opts[n_open] = s->opts;
	}
	size_t n_have = 0;
	char *lerr = NULL;
	char **have = rocksdb_list_column_families(s->opts, cfg->path, &n_have, &lerr);
	rocksdb_free(lerr); /* a new database has none */
	for (size_t i = 0; i < n_have; i++)
		for (int r = 0; r < N_RETIRED; r++)
			if (strcmp(have[i], retired_cf_names[r]) == 0) {
				names[n_open] = retired_cf_names[r];
				cf_opts[n_open++] = s->opts;
			}
	if (have)
		rocksdb_list_column_families_destroy(have, n_have);
	s->db = rocksdb_open_column_families(s->opts, cfg->path, n_open, names, cf_opts, handles,
	                                     &rerr);
	for (int i = STORE_N_CF; s->db != NULL && i < n_open; i++) {
		rocksdb_drop_column_family(s->db, handles[i], &rerr);
		log_info("store", "dropped the retired column family %s%s%s", names[i],
		         rerr ? ": " : "", rerr ? rerr : "");
		rocksdb_free(rerr);
		rerr = NULL;
		rocksdb_column_family_handle_destroy(handles[i]);
	}
	memcpy(s->cf, handles, sizeof(s->cf));
	if (s->db == NULL) {
		snprintf(err, errlen, "store: cannot open %s: %s", cfg->path,
		         rerr ? rerr : "unknown error");
		rocksdb_free(rerr);
		rocksdb_options_destroy(s->opts);
		free(s);
		return NULL;
	}
	s->wopts = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wopts, s->sync);
	s->wopts_nosync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wopts_nosync, 0);
	bq_init(&s->sy);
	if (s->sync) {
		if (pthread_create(&s->sy_th, NULL, syncer, s) != 0) {
			snprintf(err, errlen, "store: cannot start the syncer thread");
			store_close(s);
			return NULL;
		}
		pthread_setname_np(s->sy_th, "store-sync");
		s->sy_started = true;
	}
	s->ropts = rocksdb_readoptions_create();
	for (int i = 0; i < N_COMMITTERS; i++) {
		struct committer *c = &s->cm[i];
		c->s = s;
		bq_init(&c->q);
	}
	for (int i = 0; i < N_COMMITTERS; i++) {
		if (pthread_create(&s->cm[i].th, NULL, committer, &s->cm[i]) != 0) {
			snprintf(err, errlen, "store: cannot start the committer threads");
			store_close(s);
			return NULL;
		}
		pthread_setname_np(s->cm[i].th, "store-commit");
		s->cm[i].started = true;
	}
	log_info("store", "opened %s (sync %s, compress above %zu bytes)", cfg->path,
	         s->sync ? "on" : "off", s->threshold);
	return s;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < N_COMMITTERS; i++) {
		struct committer *c = &s->cm[i];
		bq_close(&c->q);
		if (c->started)
			pthread_join(c->th, NULL);
	}
	/* after the committers: they hand their last groups over */
	bq_close(&s->sy);
	if (s->sy_started)
		pthread_join(s->sy_th, NULL);
	for (int i = 0; i < STORE_N_CF; i++)
		if (s->cf[i])
			rocksdb_column_family_handle_destroy(s->cf[i]);
	rocksdb_close(s->db);
	rocksdb_writeoptions_destroy(s->wopts);
	rocksdb_writeoptions_destroy(s->wopts_nosync);
	rocksdb_readoptions_destroy(s->ropts);
	rocksdb_options_destroy(s->opts);
	for (int i = 0; i < N_COMMITTERS; i++) {
		bq_fini(&s->cm[i].q);
	}
	bq_fini(&s->sy);
	free(s);
}

/* --- group commit ------------------------------------------------------------ */

/* The committer owning b's first key's entity. */
static unsigned route(const struct store_batch *b)
{
	if (N_COMMITTERS == 1 || b->n == 0)
		return 0; /* one committer: no hash per submit */
	const char *k = b->buf + b->ops[0].koff;
	size_t n = b->ops[0].klen;
	const char *nul = memchr(k, '\0', n);
	if (nul != NULL)
		n = (size_t)(nul - k);
	uint64_t h = pel_fnv1a(k, n);
	return (unsigned)((h ^ (h >> 32)) % N_COMMITTERS);
}

void store_submit(struct store *s, struct store_batch *b, store_done_f done, void *arg)
{
	b->done = done;
	b->arg = arg;
	b->next = NULL;
	atomic_fetch_add(&s->in_flight, 1);
	if (!bq_put(&s->cm[route(b)].q, b, b)) {
		if (done)
			done(arg, STORE_ECLOSED);
		store_batch_free(b);
		atomic_fetch_sub(&s->in_flight, 1);
	}
}

void store_drain(struct store *s)
{
	struct timespec ts = {0, 1000000};
	while (atomic_load(&s->in_flight) > 0)
		nanosleep(&ts, NULL);
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	enum store_status st;
};

static void wake(void *arg, enum store_status st)
{
	struct waiter *w = arg;
	pthread_mutex_lock(&w->mu);
	w->st = st;
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

enum store_status store_commit(struct store *s, struct store_batch *b)
{
	struct waiter w = {.done = false};
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	store_submit(s, b, wake, &w);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	return w.st;
}

/*
 * Versions written earlier in the group being built, so a later batch's
 * expectation sees them: open addressing on (cf, key), reset per group.
 */

/* Eight bytes at a time (byte-wise FNV was most of gmap's cost on 41-byte keys). */
static uint64_t key_hash(uint8_t cf, const char *k, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)cf << 56) ^ n, w;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, k + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, k + i, n - i);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 29);
}

/* gmap_find with the key's hash already known (h = key_hash(cf, k, n)). */
static struct gmap_ent *gmap_find_h(struct gmap *m, uint8_t cf, const char *k, size_t n, uint64_t h,
                                    bool add)
{
	if (add && (m->n + 1) * 2 > m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 1024;
		struct gmap_ent *ne = calloc(nc, sizeof(*ne));
		size_t *ns = m->track ? malloc((nc / 2) * sizeof(*ns)) : NULL;
		if (ne == NULL || (m->track && ns == NULL)) {
			free(ne);
			return NULL;
		}
		for (size_t i = 0, j = 0; i < (m->track ? m->n : m->cap); i++) {
			const struct gmap_ent *o = &m->e[m->track ? m->slots[i] : i];
			if (o->key == NULL)
				continue;
			size_t b = o->h & (nc - 1);
			while (ne[b].key != NULL)
				b = (b + 1) & (nc - 1);
			ne[b] = *o;
			if (ns)
				ns[j++] = b;
		}
		free(m->e);
		free(m->slots);
		m->e = ne;
		m->slots = ns;
		m->cap = nc;
	}
	if (m->cap == 0)
		return NULL;
	size_t b = h & (m->cap - 1);
	for (; m->e[b].key != NULL; b = (b + 1) & (m->cap - 1))
		if (m->e[b].h == (uint32_t)h && m->e[b].cf == cf && m->e[b].klen == n &&
		    memcmp(m->e[b].key, k, n) == 0)
			return &m->e[b];
	if (!add)
		return NULL;
	m->e[b] = (struct gmap_ent){.key = k, .klen = (uint32_t)n, .h = (uint32_t)h, .cf = cf};
	if (m->track)
		m->slots[m->n] = b;
	m->n++;
	return &m->e[b];
}

static struct gmap_ent *gmap_find(struct gmap *m, uint8_t cf, const char *k, size_t n, bool add)
{
	return gmap_find_h(m, cf, k, n, key_hash(cf, k, n), add);
}

static void gmap_reset(struct gmap *m)
{
	if (m->track)
		for (size_t i = 0; i < m->n; i++)
			m->e[m->slots[i]] = (struct gmap_ent){0};
	else if (m->n)
		memset(m->e, 0, m->cap * sizeof(*m->e));
	m->n = 0;
}

/*
 * The version cache: versions of keys written with a version (task and job
 * runtimes) as last committed, with copies of their keys, so checking an
 * expectation rarely reads RocksDB. Merged from a group after its write
 * succeeded; dropped whole past VCACHE_MAX keys.
 */
#define VCACHE_MAX (4u << 20)

static const char *vc_key(const struct vc_ent *e)
{
	const char *k;
	if (!e->ext)
		return e->key;
	memcpy(&k, e->key, sizeof(k));
	return k;
}

static struct vc_ent *vc_find(struct vcache *v, uint8_t cf, const char *k, size_t n, uint64_t h)
{
	if (v->cap == 0)
		return NULL;
	for (size_t b = h & (v->cap - 1); v->e[b].klen != 0; b = (b + 1) & (v->cap - 1)) {
		struct vc_ent *e = &v->e[b];
		if (e->h == (uint32_t)h && e->cf == cf && e->klen == n &&
		    memcmp(vc_key(e), k, n) == 0)
			return e;
	}
	return NULL;
}

/* A table of cap entries; big ones asked to live on huge pages (TLB misses). */
static struct vc_ent *vc_table(size_t cap)
{
	size_t bytes = cap * sizeof(struct vc_ent);
	void *p = NULL;
	if (bytes >= (2u << 20)) {
		if (posix_memalign(&p, 2u << 20, bytes) != 0)
			return NULL;
		madvise(p, bytes, MADV_HUGEPAGE);
		memset(p, 0, bytes);
		return p;
	}
	return calloc(cap, sizeof(struct vc_ent));
}

/* Adds (cf, k) (absent) with a copy of its key; NULL when out of memory. */
static struct vc_ent *vc_add(struct vcache *v, uint8_t cf, const char *k, size_t n, uint64_t h)
{
	if (n > UINT16_MAX)
		return NULL;
	if ((v->n + 1) * 2 > v->cap) {
		size_t nc = v->cap ? v->cap * 2 : 4096;
		struct vc_ent *ne = vc_table(nc);
		if (ne == NULL)
			return NULL;
		for (size_t i = 0; i < v->cap; i++) {
			if (v->e[i].klen == 0)
				continue;
			size_t b = v->e[i].h & (nc - 1);
			while (ne[b].klen != 0)
				b = (b + 1) & (nc - 1);
			ne[b] = v->e[i];
		}
		free(v->e);
		v->e = ne;
		v->cap = nc;
		v->gen++;
	}
	size_t b = h & (v->cap - 1);
	while (v->e[b].klen != 0)
		b = (b + 1) & (v->cap - 1);
	struct vc_ent *e = &v->e[b];
	*e = (struct vc_ent){.h = (uint32_t)h, .klen = (uint16_t)n, .cf = cf, .ext = n > VC_INLINE};
	if (e->ext) {
		char *copy = malloc(n);
		if (copy == NULL) {
			e->klen = 0;
			return NULL;
		}
		memcpy(copy, k, n);
		memcpy(e->key, &copy, sizeof(copy));
	} else {
		memcpy(e->key, k, n);
	}
	v->n++;
	return e;
}

static void vcache_clear(struct vcache *v)
{
	for (size_t i = 0; i < v->cap; i++)
		if (v->e[i].klen != 0 && v->e[i].ext)
			free((char *)vc_key(&v->e[i]));
	free(v->e);
	*v = (struct vcache){.gen = v->gen + 1};
}

/* g: a group's (tracked) map; its vc pointers were taken at generation gen */
static void vcache_merge(struct vcache *v, const struct gmap *g, uint64_t gen)
{
	if (v->n + g->n > VCACHE_MAX)
		vcache_clear(v);
	for (size_t i = 0; i < g->n; i++) {
		const struct gmap_ent *e = &g->e[g->slots[i]];
		struct vc_ent *c =
		    e->vc && v->gen == gen ? e->vc : vc_find(v, e->cf, e->key, e->klen, e->h);
		if (c == NULL && e->versioned)
			c = vc_add(v, e->cf, e->key, e->klen, e->h);
		if (c != NULL)
			c->version = e->version;
	}
}

/*
 * The stored version of (cf, key) as of this group: 0 when absent. Recorded
 * in the group's map with the cache entry it came from, so the merge after
 * the write finds it without a second probe.
 */
static int current_version(struct committer *c, struct gmap *m, uint8_t cf, const char *k, size_t n,
                           uint64_t *out)
{
	struct store *s = c->s;
	uint64_t h = key_hash(cf, k, n);
	size_t had = m->n;
	struct gmap_ent *e = gmap_find_h(m, cf, k, n, h, true);
	if (e != NULL && m->n == had) {
		*out = e->version; /* written or checked earlier in this group */
		if (!e->unread)
			return 0;
	}
	struct vc_ent *vc = vc_find(&c->vcache, cf, k, n, h);
	if (vc != NULL) {
		*out = vc->version;
	} else {
		char *err = NULL;
		size_t vlen = 0;
		char *v = rocksdb_get_cf(s->db, s->ropts, s->cf[cf], k, n, &vlen, &err);
		if (err != NULL) {
			log_error("store", "read of %s failed: %s", cf_names[cf], err);
			rocksdb_free(err);
			if (e != NULL)
				e->unread = true;
			return -1;
		}
		*out = v == NULL ? 0 : vlen >= HDR ? get_u64le(v + 1) : UINT64_MAX - 1;
		rocksdb_free(v);
	}
	if (e != NULL) {
		e->version = *out;
		e->versioned = true;
		e->unread = false;
		e->vc = vc;
	}
	return 0;
}

/* Checks b's expectations against the group; STORE_OK to include it. */
static enum store_status batch_check(struct committer *c, struct gmap *m,
                                     const struct store_batch *b)
{
	if (b->poisoned)
		return STORE_ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		const struct op *o = &b->ops[i];
		if (o->expect == STORE_ANY_VERSION)
			continue;
		uint64_t cur;
		if (current_version(c, m, o->cf, b->buf + o->koff, o->klen, &cur) != 0)
			return STORE_EIO;
		if (cur != o->expect)
			return STORE_ESTALE;
	}
	return STORE_OK;
}

/* Adds op o of batch b to wb. */
static void wb_add(rocksdb_writebatch_t *wb, struct store *s, const struct store_batch *b,
                   const struct op *o)
{
	const char *k = b->buf + o->koff;
	rocksdb_column_family_handle_t *cf = s->cf[o->cf];
	if (o->type == OP_PUT) {
		rocksdb_writebatch_put_cf(wb, cf, k, o->klen, b->buf + o->voff, o->vlen);
	} else {
		rocksdb_writebatch_delete_cf(wb, cf, k, o->klen);
	}
}

/* Records in m the versions b's ops leave. */
static void batch_versions(struct gmap *m, const struct store_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct op *o = &b->ops[i];
		const char *k = b->buf + o->koff;
		if (o->type == OP_PUT) {
			uint64_t ver = get_u64le(b->buf + o->voff + 1);
			if (ver == 0 && o->expect == STORE_ANY_VERSION)
				continue; /* unversioned (events, indexes): nothing to check later
				           */
			struct gmap_ent *e = gmap_find(m, o->cf, k, o->klen, true);
			if (e != NULL) {
				e->version = ver;
				e->versioned = true;
				e->unread = false;
			}
		} else if (o->type == OP_DEL) {
			struct gmap_ent *e = gmap_find(m, o->cf, k, o->klen, true);
			if (e != NULL) {
				e->version = 0;
				e->unread = false;
			}
		}
	}
}

/* Adds b's ops to wb and, when m is given, the versions they leave to m. */
static void batch_apply(struct gmap *m, rocksdb_writebatch_t *wb, struct store *s,
                        const struct store_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		wb_add(wb, s, b, &b->ops[i]);
	if (m != NULL)
		batch_versions(m, b);
}

/*
 * A group's ops in key order. The memtable is a skip list that keeps the
 * splice of its last insert: keys inserted in order are found from there
 * in a few comparisons instead of a descent from the top (each comparison
 * is costly in the shared librocksdb: a perf-context TLS lookup). Ops on
 * the same key keep their order (seq), so the result is the same.
 */
struct gop {
	const char *key; /* the op's, copied here: comparing touches no batch */
	size_t klen;
	uint8_t cf;
	size_t seq;
	const struct store_batch *b;
	const struct op *o;
};

static bool gop_after(const struct gop *a, const struct gop *b)
{
	if (a->cf != b->cf)
		return a->cf > b->cf;
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int c = memcmp(a->key, b->key, n);
	if (c != 0)
		return c > 0;
	if (a->klen != b->klen)
		return a->klen > b->klen;
	return a->seq > b->seq;
}

struct gops {
	struct gop *v, *tmp;
	size_t *runs; /* cap + 1 */
	size_t n, cap;
};

static bool gops_add(struct gops *g, const struct store_batch *b)
{
	if (g->n + b->n > g->cap) {
		size_t nc = g->cap ? g->cap : 4096;
		while (nc < g->n + b->n)
			nc *= 2;
		struct gop *nv = realloc(g->v, nc * sizeof(*nv));
		if (nv == NULL)
			return false;
		g->v = nv;
		struct gop *nt = realloc(g->tmp, nc * sizeof(*nt));
		if (nt == NULL)
			return false;
		g->tmp = nt;
		size_t *nr = realloc(g->runs, (nc + 1) * sizeof(*nr));
		if (nr == NULL)
			return false;
		g->runs = nr;
		g->cap = nc;
	}
	for (size_t i = 0; i < b->n; i++, g->n++) {
		const struct op *o = &b->ops[i];
		g->v[g->n] = (struct gop){b->buf + o->koff, o->klen, o->cf, g->n, b, o};
	}
	return true;
}

/*
 * Sorts g->v by (family, key, seq). A group interleaves writers whose own
 * batches mostly come in key order, so within a family the ops form runs:
 * the families are split apart (stably) and the runs found and merged
 * pairwise, O(n log runs) comparisons inlined, where qsort took n log n
 * through a function pointer.
 */
static void gops_sort(struct gops *g)
{
	size_t n = g->n, at[STORE_N_CF + 1] = {0};
	for (size_t i = 0; i < n; i++)
		at[g->v[i].cf + 1]++;
	for (int c = 0; c < STORE_N_CF; c++)
		at[c + 1] += at[c];
	for (size_t i = 0; i < n; i++)
		g->tmp[at[g->v[i].cf]++] = g->v[i];
	struct gop *src = g->tmp, *dst = g->v;
	size_t *runs = g->runs, nr = 0;
	runs[nr++] = 0;
	for (size_t i = 1; i < n; i++)
		if (gop_after(&src[i - 1], &src[i]))
			runs[nr++] = i;
	runs[nr] = n;
	while (nr > 1) {
		size_t k = 0;
		for (size_t r = 0; r < nr; r += 2) {
			size_t lo = runs[r], mid = runs[r + 1], hi = r + 2 <= nr ? runs[r + 2] : n;
			size_t i = lo, j = mid, o = lo;
			while (i < mid && j < hi)
				dst[o++] = gop_after(&src[i], &src[j]) ? src[j++] : src[i++];
			while (i < mid)
				dst[o++] = src[i++];
			while (j < hi)
				dst[o++] = src[j++];
			runs[k++] = lo;
		}
		runs[k] = n;
		nr = k;
		struct gop *t = src;
		src = dst;
		dst = t;
	}
	if (src != g->v)
		memcpy(g->v, src, n * sizeof(*src));
}

/* Runs the completions of a list of batches (their status, else st) and frees them. */
static void complete(struct store *s, struct store_batch *list, enum store_status st)
{
	for (struct store_batch *b = list, *next; b != NULL; b = next) {
		next = b->next;
		enum store_status bs = b->status == STORE_OK ? st : b->status;
		if (b->done)
			b->done(b->arg, bs);
		store_batch_free(b);
		atomic_fetch_sub(&s->in_flight, 1);
	}
}

static void *syncer(void *arg)
{
	struct store *s = arg;
	for (;;) {
		struct store_batch *list = bq_take(&s->sy);
		if (list == NULL)
			break; /* closing, and everything handed over is done */
		bool written = false;
		for (struct store_batch *b = list; b != NULL && !written; b = b->next)
			written = b->status == STORE_OK;
		enum store_status st = STORE_OK;
		if (written) {
			char *err = NULL;
			uint64_t t0 = wall_ns();
			rocksdb_flush_wal(s->db, 1, &err);
			atomic_fetch_add(&s->write_ns, wall_ns() - t0);
			atomic_fetch_add(&s->syncs, 1);
			if (err != NULL) {
				log_error("store", "WAL sync failed: %s", err);
				rocksdb_free(err);
				st = STORE_EIO;
			}
		}
		complete(s, list, st);
	}
	return NULL;
}

static void *committer(void *arg)
{
	/* RocksDB's per-thread perf counters default to counting (one per key
	 * compare in the memtable, through a TLS lookup each): not here */
	rocksdb_set_perf_level(rocksdb_disable);
	struct committer *c = arg;
	struct store *s = c->s;
	struct gmap m = {.track = true};
	struct vcache *vcache = &c->vcache;
	struct gops ops = {0};
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();

	for (;;) {
		struct store_batch *list = bq_take(&c->q);
		if (list == NULL)
			break; /* closing, and everything queued is done */
		while (list != NULL) {
			/* one group: batches up to max_group_bytes */
			struct store_batch *g = list, *last = NULL;
			size_t bytes = 0, nb = 0, nops = 0;
			bool sorted = true;
			rocksdb_writebatch_clear(wb);
			gmap_reset(&m);
			uint64_t gen = vcache->gen;
			ops.n = 0;
			for (struct store_batch *b = list; b != NULL; b = b->next) {
				enum store_status st = batch_check(c, &m, b);
				b->status = st;
				if (st == STORE_OK) {
					batch_versions(&m, b);
					sorted = sorted && gops_add(&ops, b);
					nops += b->n;
				} else if (st == STORE_ESTALE) {
					atomic_fetch_add(&s->stale, 1);
				}
				bytes += b->blen;
				nb++;
				last = b;
				if (bytes >= s->max_group_bytes)
					break;
			}
			list = last->next;
			last->next = NULL;
			if (sorted && ops.n > 0) {
				gops_sort(&ops);
				for (size_t i = 0; i < ops.n; i++)
					wb_add(wb, s, ops.v[i].b, ops.v[i].o);
			} else if (!sorted) {
				for (struct store_batch *b = g; b != NULL; b = b->next)
					if (b->status == STORE_OK)
						batch_apply(NULL, wb, s, b);
			}
			enum store_status wst = STORE_OK;
			if (nops > 0) {
				char *err = NULL;
				uint64_t t0 = wall_ns();
				rocksdb_write(s->db, s->sync ? s->wopts_nosync : s->wopts, wb,
				              &err);
				atomic_fetch_add(&s->write_ns, wall_ns() - t0);
				if (err != NULL) {
					log_error("store", "group write of %zu batches failed: %s",
					          nb, err);
					rocksdb_free(err);
					wst = STORE_EIO;
				}
				if (wst == STORE_OK)
					vcache_merge(vcache, &m, gen);
			}
			atomic_store(&s->commit_cpu_ns, thread_cpu_ns());
			atomic_fetch_add(&s->groups, 1);
			atomic_fetch_add(&s->batches, nb);
			atomic_fetch_add(&s->ops, nops);
			for (struct store_batch *b = g; b != NULL; b = b->next)
				if (b->status == STORE_OK)
					b->status = wst;
			if (s->sync) {
				/* the syncer closes only after the committers */
				bq_put(&s->sy, g, last);
			} else {
				complete(c->s, g, STORE_OK);
			}
		}
	}
	rocksdb_writebatch_destroy(wb);
	free(ops.v);
	free(ops.tmp);
	free(ops.runs);
	free(m.e);
	free(m.slots);
	vcache_clear(vcache);
	return NULL;
}

enum store_status store_write_direct(struct store *s, struct store_batch *b, bool sync)
{
	char *err = NULL;
	enum store_status st = b->poisoned ? STORE_ENOMEM : STORE_OK;
	if (st == STORE_OK) {
		rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
		rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
		rocksdb_writeoptions_set_sync(wo, sync);
		batch_apply(NULL, wb, s, b); /* no version checks follow: nothing to record */
		rocksdb_write(s->db, wo, wb, &err);
		if (err != NULL) {
			log_error("store", "direct write failed: %s", err);
			rocksdb_free(err);
			st = STORE_EIO;
		}
		rocksdb_writeoptions_destroy(wo);
		rocksdb_writebatch_destroy(wb);
	}
	store_batch_free(b);
	return st;
}

/* --- reads ----------------------------------------------------------------------- */

enum store_status store_get(struct store *s, enum store_cf cf, const void *key, size_t klen,
                            void **val, size_t *vlen, uint64_t *version)
{
	char *err = NULL;
	size_t n = 0, olen = 0;
	void *out;

	*val = NULL;
	if ((unsigned)cf >= STORE_N_CF)
		return STORE_ENOENT;
	char *v = rocksdb_get_cf(s->db, s->ropts, s->cf[cf], key, klen, &n, &err);
	if (err != NULL) {
		log_error("store", "read of %s failed: %s", cf_names[cf], err);
		rocksdb_free(err);
		return STORE_EIO;
	}
	if (v == NULL)
		return STORE_ENOENT;
	enum store_status st = decode(s, cf, key, klen, v, n, &out, &olen, version);
	rocksdb_free(v);
	if (st == STORE_OK) {
		*val = out;
		if (vlen)
			*vlen = olen;
	}
	return st;
}

static bool has_prefix(const char *k, size_t klen, const char *p, size_t plen)
{
	return klen >= plen && memcmp(k, p, plen) == 0;
}

/* store_scan, skipping entries `keep` (when given) refuses before decoding. */
static long scan(struct store *s, enum store_cf cf, const void *prefix, size_t plen, bool reverse,
                 scan_filter_f keep, store_scan_f fn, void *arg)
{
	const char *p = prefix;
	long visited = 0;

	if ((unsigned)cf >= STORE_N_CF)
		return -1;
	const rocksdb_snapshot_t *snap = rocksdb_create_snapshot(s->db);
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_snapshot(ro, snap);
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(s->db, ro, s->cf[cf]);
	if (!reverse) {
		if (plen)
			rocksdb_iter_seek(it, p, plen);
		else
			rocksdb_iter_seek_to_first(it);
	} else {
		char end[plen ? plen : 1];
		size_t elen = plen ? prefix_end(p, plen, end) : 0;
		if (elen == 0) {
			rocksdb_iter_seek_to_last(it);
		} else {
			rocksdb_iter_seek_for_prev(it, end, elen);
			size_t kl;
			const char *k;
			if (rocksdb_iter_valid(it) && (k = rocksdb_iter_key(it, &kl)) != NULL &&
			    kl == elen && memcmp(k, end, elen) == 0)
				rocksdb_iter_prev(it);
		}
	}
	for (; rocksdb_iter_valid(it); reverse ? rocksdb_iter_prev(it) : rocksdb_iter_next(it)) {
		size_t kl, vl, olen = 0;
		const char *k = rocksdb_iter_key(it, &kl);
		if (!has_prefix(k, kl, p, plen))
			break;
		const char *v = rocksdb_iter_value(it, &vl);
		if (keep != NULL && !keep(arg, k, kl, v, vl))
			continue;
		void *out;
		uint64_t ver = 0;
		enum store_status st = decode(s, cf, k, kl, v, vl, &out, &olen, &ver);
		if (st == STORE_ECORRUPT)
			continue;
		if (st != STORE_OK) {
			visited = -1;
			break;
		}
		visited++;
		bool more = fn(arg, k, kl, out, olen, ver);
		free(out);
		if (!more)
			break;
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	rocksdb_release_snapshot(s->db, snap);
	return visited;
}

long store_scan(struct store *s, enum store_cf cf, const void *prefix, size_t plen, bool reverse,
                store_scan_f fn, void *arg)
{
	return scan(s, cf, prefix, plen, reverse, NULL, fn, arg);
}

void store_get_stats(struct store *s, struct store_stats *out)
{
	*out = (struct store_stats){
	    .groups = atomic_load(&s->groups),
	    .batches = atomic_load(&s->batches),
	    .ops = atomic_load(&s->ops),
	    .stale = atomic_load(&s->stale),
	    .corrupt = atomic_load(&s->corrupt),
	    .compressed = atomic_load(&s->compressed),
	    .syncs = atomic_load(&s->syncs),
	    .write_ns = atomic_load(&s->write_ns),
	    .commit_cpu_ns = atomic_load(&s->commit_cpu_ns),
	};
}

uint64_t store_disk_bytes(struct store *s)
{
	uint64_t total = 0;
	for (int i = 0; i < STORE_N_CF; i++) {
		char *v =
		    rocksdb_property_value_cf(s->db, s->cf[i], "rocksdb.total-sst-files-size");
		if (v != NULL)
			total += strtoull(v, NULL, 10);
		free(v);
	}
	return total;
}

void store_compact(struct store *s)
{
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
	rocksdb_flushoptions_set_wait(fo, 1);
	rocksdb_compactoptions_t *co = rocksdb_compactoptions_create();
	rocksdb_compactoptions_set_bottommost_level_compaction(co, 2 /* kForce */);
	for (int i = 0; i < STORE_N_CF; i++) {
		char *err = NULL;
		rocksdb_flush_cf(s->db, fo, s->cf[i], &err);
		rocksdb_free(err);
		/* force a rewrite: a lone L0 file would otherwise move down as is,
		 * keeping L0's (absent) compression */
		rocksdb_compact_range_cf_opt(s->db, s->cf[i], co, NULL, 0, NULL, 0);
	}
	rocksdb_compactoptions_destroy(co);
	rocksdb_flushoptions_destroy(fo);
}

/* --- keys and typed helpers ---------------------------------------------------- */

static void put_be64(char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (char)(v >> (56 - 8 * i));
}

size_t store_key_job_prefix(char *buf, const char *job)
{
	size_t n = strlen(job);
	memcpy(buf, job, n + 1); /* with its NUL */
	return n + 1;
}

size_t store_key_job_config(char *buf, const char *job, uint64_t version)
{
	size_t n = store_key_job_prefix(buf, job);
	put_be64(buf + n, version);
	return n + 8;
}

size_t store_key_task(char *buf, const char *job, uint32_t instance)
{
	size_t n = store_key_job_prefix(buf, job);
	put_be32(buf + n, instance);
	return n + 4;
}

size_t store_key_task_prefix(char *buf, const char *job, uint32_t instance)
{
	return store_key_task(buf, job, instance);
}

size_t store_key_task_event(char *buf, const char *job, uint32_t instance, uint64_t time_ns,
                            uint32_t seq)
{
	size_t n = store_key_task(buf, job, instance);
	put_be64(buf + n, ~time_ns); /* newest first in key order */
	put_be32(buf + n + 8, ~seq);
	return n + 12;
}

int store_task_update(struct store_batch *b, const char *job, uint32_t instance,
                      const void *runtime, size_t rlen, uint64_t version, uint64_t expect,
                      uint32_t state, const void *event, size_t elen, uint64_t event_ns,
                      uint32_t event_seq)
{
	size_t jl = strlen(job);
	char k[jl + 24];
	size_t n = store_key_task(k, job, instance);
	int rc = put_value(b, STORE_TASK_RUNTIME, k, n, runtime, rlen, version, expect, &state);
	if (rc == 0 && event != NULL) {
		n = store_key_task_event(k, job, instance, event_ns, event_seq);
		rc = store_put(b, STORE_TASK_EVENTS, k, n, event, elen, 0, STORE_ANY_VERSION);
	}
	return rc;
}

struct by_state {
	size_t plen; /* "<job>\0" */
	uint32_t state;
	store_task_f fn;
	void *arg;
};

static bool state_matches(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
	const struct by_state *c = arg;
	return klen == c->plen + 4 && vlen >= HDR + TAG_LEN && (val[0] & FMT_TAGGED) &&
	       get_be32(val + HDR) == c->state;
}

static bool state_task(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                       uint64_t version)
{
	const struct by_state *c = arg;
	return c->fn(c->arg, get_be32((const char *)key + c->plen), val, vlen, version);
}

long store_tasks_by_state(struct store *s, const char *job, uint32_t state, store_task_f fn,
                          void *arg)
{
	char k[strlen(job) + 24];
	struct by_state c = {store_key_job_prefix(k, job), state, fn, arg};
	return scan(s, STORE_TASK_RUNTIME, k, c.plen, false, state_matches, state_task, &c);
}

#define FRAMEWORK_KEY "framework_id"

int store_framework_id_put(struct store_batch *b, const char *id)
{
	return store_put(b, STORE_META, FRAMEWORK_KEY, strlen(FRAMEWORK_KEY), id, strlen(id), 0,
	                 STORE_ANY_VERSION);
}

enum store_status store_framework_id_get(struct store *s, char *buf, size_t len)
{
	void *v;
	size_t n;
	enum store_status st =
	    store_get(s, STORE_META, FRAMEWORK_KEY, strlen(FRAMEWORK_KEY), &v, &n, NULL);
	if (st != STORE_OK)
		return st;
	snprintf(buf, len, "%.*s", (int)n, (const char *)v);
	free(v);
	return STORE_OK;
}

/* --- purge, recovery ------------------------------------------------------------ */

/*
 * Adds to b a delete of every key a job index record lists (stores written
 * before the index went, when pelotond 0.1 kept jobs by pool, state and
 * label there, unread: their keys go with their job).
 */
static void del_recorded(struct store *s, struct store_batch *b, const char *rk, size_t rklen)
{
	void *rec = NULL;
	size_t rlen = 0;
	if (store_get(s, STORE_JOB_INDEX, rk, rklen, &rec, &rlen, NULL) != STORE_OK)
		return;
	const char *p = rec;
	for (size_t off = 0; off + 2 <= rlen;) {
		size_t kl = ((size_t)(uint8_t)p[off] << 8) | (uint8_t)p[off + 1];
		if (off + 2 + kl > rlen)
			break;
		store_del(b, STORE_JOB_INDEX, p + off + 2, kl);
		off += 2 + kl;
	}
	free(rec);
}

enum store_status store_purge_job(struct store *s, const char *job)
{
	size_t jl = strlen(job);
	char k[jl + 24];
	struct store_batch *b = store_batch_new(s);
	if (b == NULL)
		return STORE_ENOMEM;
	store_del(b, STORE_JOB_RUNTIME, job, jl);
	size_t n = store_key_job_prefix(k, job);
	static const enum store_cf under[] = {STORE_JOB_CONFIG, STORE_TASK_RUNTIME,
	                                      STORE_TASK_EVENTS, STORE_UPDATES};
	for (size_t i = 0; i < sizeof(under) / sizeof(under[0]); i++)
		store_del_prefix(b, under[i], k, n);
	/* a legacy index record and the keys it names */
	k[0] = 'r';
	memcpy(k + 1, job, jl);
	del_recorded(s, b, k, 1 + jl);
	store_del(b, STORE_JOB_INDEX, k, 1 + jl);
	return store_commit(s, b);
}

struct rec_ctx {
	struct store *s;
	const struct store_recover_ops *ops;
	void *arg;
	struct store_recover_stats *st;
	const char *job; /* tasks: the job being loaded */
	size_t skip;
};

static bool rec_pool(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                     uint64_t version)
{
	struct rec_ctx *c = arg;
	(void)version;
	char id[klen + 1];
	memcpy(id, key, klen);
	id[klen] = '\0';
	c->st->pools++;
	if (c->ops->pool)
		c->ops->pool(c->arg, id, val, vlen);
	return true;
}

static bool rec_task(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                     uint64_t version)
{
	struct rec_ctx *c = arg;
	if (klen != c->skip + 4)
		return true;
	const uint8_t *p = (const uint8_t *)key + c->skip;
	uint32_t inst = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	c->st->tasks++;
	if (c->ops->task)
		c->ops->task(c->arg, c->job, inst, val, vlen, version);
	return true;
}

static bool rec_job(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                    uint64_t version)
{
	struct rec_ctx *c = arg;
	char job[klen + 1];
	memcpy(job, key, klen);
	job[klen] = '\0';
	c->st->jobs++;
	if (c->ops->job && !c->ops->job(c->arg, job, val, vlen, version))
		return true;
	c->st->jobs_loaded++;
	char pre[klen + 2];
	struct rec_ctx tc = *c;
	tc.job = job;
	tc.skip = store_key_job_prefix(pre, job);
	store_scan(c->s, STORE_TASK_RUNTIME, pre, tc.skip, false, rec_task, &tc);
	return true;
}

int store_recover(struct store *s, const struct store_recover_ops *ops, void *arg,
                  struct store_recover_stats *out)
{
	struct store_recover_stats st = {0};
	struct rec_ctx c = {s, ops, arg, &st, NULL, 0};
	if (store_scan(s, STORE_POOLS, "", 0, false, rec_pool, &c) < 0 ||
	    store_scan(s, STORE_JOB_RUNTIME, "", 0, false, rec_job, &c) < 0)
		return -1;
	if (out)
		*out = st;
	log_info("store", "recovered %llu pools, %llu jobs (%llu loaded), %llu tasks",
	         (unsigned long long)st.pools, (unsigned long long)st.jobs,
	         (unsigned long long)st.jobs_loaded, (unsigned long long)st.tasks);
	return 0;
}

void store_write_metrics(struct store *s, FILE *f)
{
	struct store_stats ss;
	store_get_stats(s, &ss);
	fprintf(f,
	        "# HELP peloton_store_groups_total Commit groups written (each one WAL sync).\n"
	        "# TYPE peloton_store_groups_total counter\npeloton_store_groups_total %llu\n"
	        "# HELP peloton_store_write_seconds_total Time inside RocksDB writes.\n"
	        "# TYPE peloton_store_write_seconds_total counter\n"
	        "peloton_store_write_seconds_total %g\n"
	        "# HELP peloton_store_corrupt_values_total Stored values that did not decode "
	        "(skipped, logged by key).\n"
	        "# TYPE peloton_store_corrupt_values_total counter\n"
	        "peloton_store_corrupt_values_total %llu\n",
	        (unsigned long long)ss.groups, (double)ss.write_ns / 1e9,
	        (unsigned long long)ss.corrupt);
}
