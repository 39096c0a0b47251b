/*
 * report_cache.h — the jobcentre reports' per-case cache (app_jobcentre.c;
 * docs/operator.md "The report cache").
 *
 * A report reads every record of every case of a jobcentre and computes
 * each grant at the request's `now`. What does not depend on `now` — per
 * case, the mlproto_grant_basis of each of its grants (mlproto/report.h):
 * the parsed records' compliance inputs, codes and log positions — is kept
 * here between requests, keyed by what the store says of the case in the
 * request's own read snapshot (store.h case_version):
 *   - the index of its newest log entry below the checkpoint: a push to the
 *     case, or a late record of an erased case, makes it larger;
 *   - its erasure time: a CASE_ERASE, or `admin retention purge` (a
 *     separate process, whose RETENTION_PURGE event is not an entry of the
 *     case), sets it from 0 to the time; an erased case's entries never
 *     change again;
 *   - the device keys of its owner: a device enrolled or revoked, or the
 *     case claimed by someone else.
 * Any difference is a miss, and the case is parsed again from the store.
 * Nothing else changes what a case shows (the jobcentre index, the
 * checkpoint and `now` are read per request), so an answer built from the
 * cache is byte for byte the one built without it.
 *
 * Because the key is read from the database, not invalidated by the
 * process that wrote, this also holds for writers in other processes (the
 * admin command) and for several server instances sharing one database, as
 * long as every writer keeps the invariant store.h states at case_version
 * (each instance then has its own cache: memory, not coherence, is what
 * several instances multiply).
 *
 * Bounded: the bytes of the entries it holds (mlproto_grant_basis_bytes and
 * each entry's own) stay at most cap; past it the least recently used
 * entries go (an entry larger than cap is not kept). An entry a request
 * uses stays alive until the request releases it, even once evicted or
 * replaced; what a request holds is bounded by its gather cap.
 *
 * Thread-safe: any number of requests may use one cache at once. One mutex
 * guards the table, held for lookups and links only, never while parsing or
 * computing. An entry is never changed once it is put: threads read it
 * without the lock. A NULL cache is a cache that keeps nothing.
 */
#ifndef MLS_REPORT_CACHE_H
#define MLS_REPORT_CACHE_H

#include "mlproto/report.h"

#include <stddef.h>
#include <stdint.h>

/* The default cap (mls_app_config.report_cache_bytes 0). */
#define MLS_RCACHE_DEFAULT_BYTES ((size_t)256 << 20)

typedef struct mls_rcache mls_rcache;

/* One case: its key and the bases of its grants (one per GRANT_OPEN, in log
 * order). The fields are read-only once the entry is made; the rest is the
 * cache's. */
typedef struct mls_rcase {
  uint8_t case_id[16];
  uint64_t last_index; /* UINT64_MAX: no entry below the checkpoint */
  uint64_t erased_ms;
  size_t n_keys;
  uint8_t (*keys)[32];
  size_t n, cap;
  mlproto_grant_basis **g;
  /* the cache's */
  size_t bytes;
  unsigned refs;
  int linked;
  struct mls_rcase *hnext, *prev, *next;
} mls_rcase;

typedef struct mls_rcache_stats {
  uint64_t hits, misses, evictions;
  size_t entries, bytes, cap;
} mls_rcache_stats;

/* A cache of at most cap bytes. OUT_OF_MEMORY, INVALID_ARGUMENT (cap 0). */
int mls_rcache_new(mls_rcache **out, size_t cap);
/* Every entry must have been released. NULL: no-op. */
void mls_rcache_free(mls_rcache *c);

/* The entry of case_id when its key is the one given, with a reference for
 * the caller (mls_rcache_release), or NULL: a miss (always, for NULL c). */
mls_rcase *mls_rcache_get(mls_rcache *c, const uint8_t case_id[16], uint64_t last_index,
                          uint64_t erased_ms, const uint8_t (*keys)[32], size_t n_keys);

/* A new entry with that key, room for n_grants bases and no base yet, with
 * one reference (the caller's). OUT_OF_MEMORY. */
int mls_rcase_new(mls_rcase **out, const uint8_t case_id[16], uint64_t last_index,
                  uint64_t erased_ms, const uint8_t (*keys)[32], size_t n_keys, size_t n_grants);
/* Appends b (the entry owns it from then on) while there is room (n < cap);
 * for the entry's maker, before mls_rcache_put. */
void mls_rcase_add(mls_rcase *e, mlproto_grant_basis *b);

/* Keeps e (a reference of the cache's own; the caller keeps its own) in
 * place of its case's older entry, then evicts past the cap. An entry
 * larger than the cap is not kept. NULL c: nothing. */
void mls_rcache_put(mls_rcache *c, mls_rcase *e);
/* Drops the caller's reference; the entry is freed with its last. NULL e:
 * nothing. c: the cache e was got from or put to (NULL when none). */
void mls_rcache_release(mls_rcache *c, mls_rcase *e);

/* Forgets the entry of case_id (an erased case: its disclosed parts leave
 * memory as they left the store); a request holding it keeps it until it
 * releases it. NULL c, or no entry: nothing. A concurrent report that read
 * its snapshot before the erasure committed may put the case back; its key
 * (erasure time 0) never matches again, and eviction frees it. */
void mls_rcache_drop(mls_rcache *c, const uint8_t case_id[16]);

/* Counters since mls_rcache_new (zero for NULL). */
void mls_rcache_stats_get(mls_rcache *c, mls_rcache_stats *out);

#endif
