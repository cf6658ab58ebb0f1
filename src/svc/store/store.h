/*
 * store: durable state in RocksDB — one database, a column family per
 * entity, values are the protobuf bytes of the reference messages behind a
 * 9-byte header, and many writers' batches share one WAL write and one
 * sync (group commit).
 *
 * VALUES: byte 0 = format (0 raw, 1 zstd frame; bit 0x80: a 4-byte tag
 * follows the version), bytes 1..8 = the entity's version
 * (ChangeLog.version, little endian; 0 when unversioned), [the tag: a task
 * runtime's state, big endian,] then the payload. Payloads above
 * `compress_threshold` (default 4 KiB: job configs with many
 * instanceConfig entries) are zstd-compressed at level 3 — the fast end of
 * zstd, where a 100 KB JobConfig shrinks ~10x for ~0.2 ms; small values
 * stay raw (RocksDB's own block compression takes them).
 * RocksDB leaves L0 uncompressed and uses zstd from L1 down.
 *
 * KEYS (a job id never contains NUL, so "<job>\0" is an exact prefix;
 * integers are big-endian so byte order is numeric order):
 *   meta          "framework_id" and other singletons
 *   pools         <pool id>                         -> ResourcePoolConfig
 *   job_config    <job>\0 <version u64>             -> JobConfig
 *   job_runtime   <job>                             -> job.RuntimeInfo
 *   job_index     (none written: stores from 0.1 kept jobs by pool, state
 *                 and label here, never read; store_purge_job deletes a
 *                 job's old keys, and the family stays so they open)
 *   task_runtime  <job>\0 <instance u32>            -> task.RuntimeInfo, its
 *                                                      state as the value's tag
 *   task_events   <job>\0 <instance u32> <~time u64> <seq u32>
 *                                                   -> TaskEvent, newest first
 *   volumes       <volume id>                       -> PersistentVolumeInfo
 *   updates       <job>\0 <update id>               -> the job manager's update
 *                                                      record (jobmgr/rollout.c)
 *
 * A job's tasks by state: one range scan of the job's task_runtime keys,
 * filtered on the state tag in the value header (no protobuf decoding, no
 * copy of the others). No secondary index: moving a task_state entry
 * (a delete and a put) was half the memtable inserts of every status
 * update, and the index was read only by such queries — bench_store,
 * 8 writers: ~170k updates/s with it, ~290k without. Live jobs' tasks by
 * state are answered from the job manager's memory; this is for the rest.
 *
 * GROUP COMMIT: store_submit queues a batch and returns; one committer
 * thread takes everything queued, checks each batch's expected versions
 * (optimistic concurrency: a batch with a stale version is refused whole,
 * STORE_ESTALE, and nothing of it is written), merges the rest into one
 * WriteBatch, writes it with one sync, then runs every batch's completion.
 * A writer learns its batch is durable only from that completion; the
 * status-update path acknowledges Mesos from it. `sync = false` (an
 * option) skips the fsync: faster, and a machine crash may lose the last
 * acknowledged batches (a process crash does not: the WAL is written).
 *
 * READS see a consistent snapshot per scan. Unreadable values (bad header,
 * zstd failure) are reported naming the column family and key, counted,
 * and skipped.
 */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum store_cf {
	STORE_META,
	STORE_POOLS,
	STORE_JOB_CONFIG,
	STORE_JOB_RUNTIME,
	STORE_JOB_INDEX,
	STORE_TASK_RUNTIME,
	STORE_TASK_EVENTS,
	STORE_VOLUMES,
	STORE_UPDATES,
	STORE_N_CF,
};

enum store_status {
	STORE_OK = 0,
	STORE_ESTALE = 1,   /* an expected version did not match: nothing written */
	STORE_EIO = 2,      /* RocksDB refused the write (message logged) */
	STORE_ENOENT = 3,   /* no such key */
	STORE_ECORRUPT = 4, /* the stored value is unreadable */
	STORE_ECLOSED = 5,  /* the store is closing */
	STORE_ENOMEM = 6,
};

struct store_config {
	const char *path;          /* database directory (created) */
	bool no_sync;              /* true: no fsync per group (see above) */
	size_t compress_threshold; /* 0 = 4096 bytes; SIZE_MAX = never */
	size_t max_group_bytes;    /* 0 = 8 MiB of ops per group */
	bool no_compression;       /* no zstd anywhere (benchmarks compare) */
};

struct store;

/* The RocksDB column family name of cf (tools, tests). */
const char *store_cf_name(enum store_cf cf);

/* Opens (creating) the database; NULL with a message in err. */
struct store *store_open(const struct store_config *cfg, char *err, size_t errlen);

/* Drains queued batches (their completions run), stops, closes. NULL ok. */
void store_close(struct store *s);

/* Waits until every batch submitted so far has run its completion (the
 * store stays open): before freeing what completions point at. Batches
 * submitted meanwhile, by completions too, are waited for as well. */
void store_drain(struct store *s);

/* A batch of changes applied atomically. */
struct store_batch;
/* A new empty batch; s (may be NULL) gives the compression threshold. */
struct store_batch *store_batch_new(struct store *s);
void store_batch_free(struct store_batch *b);
size_t store_batch_ops(const struct store_batch *b);

/* Version to expect: any, or "key absent" (create). */
#define STORE_ANY_VERSION UINT64_MAX
#define STORE_ABSENT 0

/*
 * Puts a value with `version` in its header. With expect != ANY the batch
 * is refused (STORE_ESTALE) unless the stored version (0 if absent) equals
 * `expect` at commit time. Returns 0, or -1 (ENOMEM; the batch is then
 * poisoned and its commit fails with STORE_ENOMEM).
 */
int store_put(struct store_batch *b, enum store_cf cf, const void *key, size_t klen,
              const void *val, size_t vlen, uint64_t version, uint64_t expect);
int store_del(struct store_batch *b, enum store_cf cf, const void *key, size_t klen);
/* Deletes every key starting with prefix as of now (point deletes of the
 * keys a scan finds: b must have been made with its store). 0 or -1. */
int store_del_prefix(struct store_batch *b, enum store_cf cf, const void *prefix, size_t plen);

/* Completion: runs on the committer thread; must be quick. */
typedef void (*store_done_f)(void *arg, enum store_status st);

/* Queues b (owned by the store from now on); done(arg, status) follows. */
void store_submit(struct store *s, struct store_batch *b, store_done_f done, void *arg);

/* Submits and waits; returns the status. */
enum store_status store_commit(struct store *s, struct store_batch *b);

/*
 * Writes b on the calling thread with its own WriteBatch and sync, no
 * group commit and no version checks (the benchmark's baseline, bulk
 * loads before versioned writers start: the committer's version cache does
 * not see these writes). Frees b; returns the status.
 */
enum store_status store_write_direct(struct store *s, struct store_batch *b, bool sync);

/*
 * Reads one value: STORE_OK with *val (malloc'd, caller frees), *vlen and
 * *version (either may be NULL), STORE_ENOENT or STORE_ECORRUPT.
 */
enum store_status store_get(struct store *s, enum store_cf cf, const void *key, size_t klen,
                            void **val, size_t *vlen, uint64_t *version);

/* Scan callback: return false to stop. Value borrowed for the call. */
typedef bool (*store_scan_f)(void *arg, const void *key, size_t klen, const void *val, size_t vlen,
                             uint64_t version);

/*
 * Calls fn for every key with `prefix` (in key order, or reverse), over one
 * snapshot. Unreadable values are skipped and counted. Returns the number
 * of entries visited, or -1 (ENOMEM).
 */
long store_scan(struct store *s, enum store_cf cf, const void *prefix, size_t plen, bool reverse,
                store_scan_f fn, void *arg);

struct store_stats {
	uint64_t groups, batches, ops, stale, corrupt, compressed, syncs;
	uint64_t write_ns;      /* time inside RocksDB writes (WAL, sync, memtable) */
	uint64_t commit_cpu_ns; /* CPU time of the committer thread */
};
void store_get_stats(struct store *s, struct store_stats *out);
/* Prometheus text: commit groups, write time, corrupt values skipped. */
void store_write_metrics(struct store *s, FILE *f);

/* Approximate bytes on disk (SST + WAL) of the database. */
uint64_t store_disk_bytes(struct store *s);
/* Flushes memtables and compacts everything (benchmarks, tests). */
void store_compact(struct store *s);

/*
 * Keys (see the table above). Each writes into buf (room for at least
 * strlen(id) + 24 bytes) and returns the key length.
 */
size_t store_key_job_config(char *buf, const char *job, uint64_t version);
size_t store_key_task(char *buf, const char *job, uint32_t instance);
size_t store_key_task_event(char *buf, const char *job, uint32_t instance, uint64_t time_ns,
                            uint32_t seq);
/* "<job>\0" or "<job>\0<instance>": the prefix of a job's (or task's) keys. */
size_t store_key_job_prefix(char *buf, const char *job);
size_t store_key_task_prefix(char *buf, const char *job, uint32_t instance);

/*
 * Task runtime update as one batch: the runtime (versioned: expect is the
 * version the writer read) tagged with its state, and the event (may be
 * NULL). Returns 0 or -1 (ENOMEM).
 */
int store_task_update(struct store_batch *b, const char *job, uint32_t instance,
                      const void *runtime, size_t rlen, uint64_t version, uint64_t expect,
                      uint32_t state, const void *event, size_t elen, uint64_t event_ns,
                      uint32_t event_seq);

/*
 * A job's tasks in `state`, in instance order, over one snapshot: fn gets
 * each one's instance, runtime (borrowed for the call) and version; return
 * false to stop. Runtimes written without a state (store_put) never match.
 * Returns the number of matching tasks visited, or -1 (ENOMEM).
 */
typedef bool (*store_task_f)(void *arg, uint32_t instance, const void *runtime, size_t len,
                             uint64_t version);
long store_tasks_by_state(struct store *s, const char *job, uint32_t state, store_task_f fn,
                          void *arg);

/* Deletes a job and everything under it (configs, runtime, tasks, events,
 * updates, legacy index keys) in one batch. Readers keep their snapshot. */
enum store_status store_purge_job(struct store *s, const char *job);

/*
 * Recovery at start: pool(id, config bytes) for every pool; job(id,
 * runtime bytes, version) for every job — return true to have its tasks
 * loaded (the caller keeps non-terminal jobs) — then task(job, instance,
 * runtime bytes, version) for each. Unreadable values are skipped and
 * counted (store_stats.corrupt). Any callback may be NULL.
 */
struct store_recover_ops {
	void (*pool)(void *arg, const char *id, const void *cfg, size_t len);
	bool (*job)(void *arg, const char *job, const void *runtime, size_t len, uint64_t version);
	void (*task)(void *arg, const char *job, uint32_t instance, const void *runtime, size_t len,
	             uint64_t version);
};
struct store_recover_stats {
	uint64_t pools, jobs, jobs_loaded, tasks;
};
int store_recover(struct store *s, const struct store_recover_ops *ops, void *arg,
                  struct store_recover_stats *out);

/* Framework id (meta): put into a batch; get (STORE_OK / ENOENT). */
int store_framework_id_put(struct store_batch *b, const char *id);
enum store_status store_framework_id_get(struct store *s, char *buf, size_t len);

#endif
