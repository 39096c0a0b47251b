/*
 * client-core internal header: the handle, the storage layer and helpers
 * shared by the .c files of libmentorlog. Names: mentorlog__ / ml__.
 */
#ifndef MENTORLOG_INTERNAL_H
#define MENTORLOG_INTERNAL_H

#include "mentorlog/mentorlog.h"
#include "mlproto/alloc.h"
#include "mlproto/errors.h"

#include <sqlite3.h>
#include <stdbool.h>

#define ML_SCHEMA_VERSION 5
#define ML_DB_NAME "mentorlog.db"
#define ML_CASEKEY_CACHE 32

#include "mlproto/crypto.h"
#include "mlproto/hlc.h"

/* Statements cached on the handle (SQL text in store.c). */
enum ml_sql {
  ML_SQL_BEGIN,
  ML_SQL_COMMIT,
  ML_SQL_RECORD_INSERT,
  ML_SQL_SUPERSEDE_INSERT,
  ML_SQL_CHAIN_UPDATE,
  ML_SQL_OUTBOX_INSERT,
  ML_SQL_CASE_CHECK,
  ML_SQL_CASEKEY_GET,
  ML_SQL_RECORD_META,   /* item_id, case_id, kind of a record_id */
  ML_SQL_ITEM_HEADS,
  ML_SQL_RECORD_BY_ID,  /* envelope, hash of a record_id */
  ML_SQL_CASE_RECORDS,  /* envelope, hash of a case's records of kinds lo..hi */
  ML_SQL_KIND_RECORDS,  /* envelope, hash of all records of kinds lo..hi */
  /* sync (sync_*.c): one of each per record pushed or pulled */
  ML_SQL_RECEIPT_PUT,
  ML_SQL_RECEIPT_GET,
  ML_SQL_RECEIPT_VERIFIED,
  ML_SQL_OUTBOX_DELETE,
  ML_SQL_HELD_HASH,     /* hash of (author, seq) */
  ML_SQL_AUTHOR_TIP,    /* seq, hash of an author's last record */
  ML_SQL_RECORD_STORED, /* a record id or (author, seq) held */
  ML_SQL_GRANT_ROW,
  ML_SQL_CASE_OPENER,
  ML_SQL_COUNT
};

struct mentorlog {
  sqlite3 *db;
  /* Long-lived secrets (mlproto keys live in sodium_malloc memory). */
  mlproto_key *sign;    /* Ed25519 identity */
  mlproto_key *box;     /* X25519, receives case keys */
  mlproto_key *storage; /* WRAP key: case keys at rest */
  mlproto_key *rowkey;  /* WRAP subkey of storage: record envelopes at rest */
  /* Opened envelopes land here (wiped after each use, freed on close). */
  uint8_t *envbuf;
  size_t envcap;
  /* Wall clock in Unix ms (open options; default CLOCK_REALTIME). */
  int64_t (*clock_ms)(void *ctx);
  void *clock_ctx;
  /* Participants of the transaction layer (store.c), in registration
   * order: what a rollback must restore besides the database. */
  const struct ml_txpart *txparts[4];
  size_t n_txparts;
  uint8_t sign_pk[32];
  uint8_t box_pk[32];
  /* chain tip of this device */
  uint64_t seq;
  uint8_t head[32];
  mlproto_hlc_state hlc;
  /* tip before the current operation, restored on rollback */
  uint64_t saved_seq;
  uint8_t saved_head[32];
  uint64_t saved_hlc;
  int batch;         /* inside mentorlog_batch_begin */
  /* The chain row lags the in-memory tip inside a transaction: records set
   * it dirty, the outermost commit writes it once (ml__chain_store). */
  int chain_dirty;
  /* The last ml__chain_load failed (e.g. out of memory during a rollback):
   * the in-memory tip may be wrong, so the next write reloads it first and
   * fails rather than chain onto a stale tip. */
  int chain_stale;
  int batch_failed; /* an operation failed: the batch was rolled back */
  int erased_pending; /* a case was erased in the open transaction: truncate the
                         WAL (old page images) after its commit */
  /* Prepared once per handle (SQLITE_PREPARE_PERSISTENT), finalized on
   * close: parsing and planning cost more than the statements themselves. */
  sqlite3_stmt *stmts[ML_SQL_COUNT];
  /* Unwrapped case keys, least recently used evicted: unwrapping costs a
   * sodium_malloc (guard pages, mprotect, munmap) per call otherwise. Each
   * key lives in its own sodium_malloc block and is wiped when evicted,
   * flushed (rollback, erasure) or the handle closes. */
  struct ml_casekey {
    uint8_t case_id[16];
    int64_t gen;      /* the key's generation (case_keys.gen) */
    int newest;       /* the newest generation when loaded */
    mlproto_key *key; /* NULL: free slot */
    uint64_t used;
  } casekeys[ML_CASEKEY_CACHE];
  uint64_t casekey_tick;
  char errmsg[256];
};

/* ---- errors ---- */
/* Store code+detail in h->errmsg (printf-like); returns code. */
int ml__fail(mentorlog *h, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Map a SQLite result code (and the db's errno for I/O) onto our codes. */
int ml__sqlite_err(mentorlog *h, int rc, const char *what);

/* ---- storage (store.c) ---- */
/* Open/create the database file in dir. create: must not exist yet. */
int ml__db_open(mentorlog *h, const char *dir, bool create);
int ml__db_migrate(mentorlog *h, bool own_tx);
/* Maintenance a migration left for after its COMMIT (the v4 scrub:
 * checkpoint, VACUUM); retried at each open until it succeeds; never fails. */
void ml__db_maintain(mentorlog *h);
int ml__exec(mentorlog *h, const char *sql);
int ml__begin(mentorlog *h);   /* BEGIN IMMEDIATE unless in a batch */
int ml__commit(mentorlog *h);  /* COMMIT unless in a batch */
/* Undo the operation: its transaction, or inside a batch the whole batch
 * (later operations and mentorlog_batch_commit fail until rollback). */
void ml__rollback(mentorlog *h);
int ml__prepare(mentorlog *h, sqlite3_stmt **st, const char *sql);
/* A cached statement, reset and without bindings; hand it back with
 * ml__stmt_put (never finalize it) on every path, before the next call that
 * could want the same statement (INTERNAL if it is still running). */
int ml__stmt_get(mentorlog *h, enum ml_sql id, sqlite3_stmt **st);
void ml__stmt_put(sqlite3_stmt *st); /* reset + clear bindings; NULL: no-op */
/* Step a cached write statement to DONE and put it back. */
int ml__stmt_run(mentorlog *h, sqlite3_stmt *st, const char *what);
void ml__stmt_close_all(mentorlog *h); /* finalize every cached statement */

/* ---- transactions (store.c) ----
 * State kept in memory beside the database (the chain tip, the case-key
 * cache, later the sync cursor) registers a participant: begin snapshots
 * it when an outermost transaction starts (an operation, or a batch),
 * flush writes what was deferred to the database just before COMMIT, and
 * rollback restores it after ROLLBACK. Each hook may be NULL. */
struct ml_txpart {
  const char *name;
  void (*begin)(mentorlog *h);
  int (*flush)(mentorlog *h);
  void (*rollback)(mentorlog *h, bool batch);
};
/* The participants of chain.c and keys.c. */
extern const struct ml_txpart ml__chain_txpart;
extern const struct ml_txpart ml__casekey_txpart;
/* Register p on h (at open, before any transaction); INTERNAL when full. */
int ml__tx_register(mentorlog *h, const struct ml_txpart *p);
/* BEGIN IMMEDIATE of an outermost transaction and every begin hook. */
int ml__tx_begin_outer(mentorlog *h);
/* Every flush hook, then COMMIT; on failure the transaction is rolled back
 * (ml__tx_rollback_outer) and the error returned. */
int ml__tx_commit_outer(mentorlog *h);
/* ROLLBACK (when one is open) and every rollback hook. */
void ml__tx_rollback_outer(mentorlog *h, bool batch);
/* The handle's wall clock (open options), Unix ms. */
int64_t ml__now_ms(mentorlog *h);

/* ---- the record store (recstore.c; more in records_int.h) ---- */
int ml__recstore_init(mentorlog *h);   /* derive the record key (after unlock) */
void ml__recstore_close(mentorlog *h); /* wipe and free its key and buffer */
/* Schema v4 migration: seal every envelope stored in plaintext, in place. */
int ml__recstore_seal_all(mentorlog *h);

/* ---- keys (keys.c) ---- */
/* Validate o as create/rekey would (options, passphrase length, KDF
 * available in this build) without deriving anything. */
int ml__keyring_check(mentorlog *h, const mentorlog_open_options *o);
int ml__keyring_create(mentorlog *h, const mentorlog_open_options *o);
int ml__keyring_unlock(mentorlog *h, const mentorlog_open_options *o);
int ml__keyring_rewrap(mentorlog *h, const mentorlog_open_options *o);
/* Case key: wrap k and store it as the case's next generation (0 for the
 * first); *gen (may be NULL) gets it. Drops the case from the cache. */
int ml__casekey_store(mentorlog *h, const uint8_t case_id[16], const mlproto_key *k, int64_t *gen);
/* The case's newest key, borrowed from the handle's cache (valid until the
 * next call on h that writes, rolls back or erases; never freed by the
 * caller). CASE_ERASED when destroyed, NO_CASE_KEY when never granted. */
int ml__casekey(mentorlog *h, const uint8_t case_id[16], const mlproto_key **out);
/* The key of one generation, borrowed the same way; NOT_FOUND when absent. */
int ml__casekey_gen(mentorlog *h, const uint8_t case_id[16], int64_t gen, const mlproto_key **out);
/* The generations held for a case, newest first (at most cap); *n their count. */
int ml__casekey_gens(mentorlog *h, const uint8_t case_id[16], int64_t *gens, size_t cap, size_t *n);
/* A 16-byte tag naming a key (keyed BLAKE2b: equal tags, equal keys;
 * nothing else about the key). */
void ml__casekey_tag(uint8_t tag[16], const mlproto_key *k);
/* 1 when the case holds a key with this tag. */
int ml__casekey_has_tag(mentorlog *h, const uint8_t case_id[16], const uint8_t tag[16], int *has);
/* Schema v5 migration: the tag of every stored case key. */
int ml__casekey_tag_all(mentorlog *h);
/* Drop cached case keys: one case (case_id) or all (NULL). */
void ml__casekey_flush(mentorlog *h, const uint8_t *case_id);

/* ---- the chain tip (chain.c) ---- */
int ml__chain_load(mentorlog *h);
/* Write the in-memory tip to the chain row if records were appended since
 * the last store (called by the outermost commit, inside its transaction). */
int ml__chain_store(mentorlog *h);

/* Little helpers. */
char *ml__strdup(const char *s); /* NULL in -> NULL out; via the allocator */
#endif
