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

#define ML_SCHEMA_VERSION 1
#define ML_DB_NAME "mentorlog.db"
#define ML_CASEKEY_CACHE 32

#include "mlproto/crypto.h"
#include "mlproto/hlc.h"

struct mentorlog {
  sqlite3 *db;
  /* Long-lived secrets (mlproto keys live in sodium_malloc memory). */
  mlproto_key *sign;    /* Ed25519 identity */
  mlproto_key *box;     /* X25519, receives case keys */
  mlproto_key *storage; /* WRAP key: case keys at rest */
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
  /* Unwrapped case keys, least recently used evicted: unwrapping costs a
   * sodium_malloc (guard pages, mprotect, munmap) per call otherwise. Each
   * key lives in its own sodium_malloc block and is wiped when evicted,
   * flushed (rollback, erasure) or the handle closes. */
  struct ml_casekey {
    uint8_t case_id[16];
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
int ml__exec(mentorlog *h, const char *sql);
int ml__begin(mentorlog *h);   /* BEGIN IMMEDIATE unless in a batch */
int ml__commit(mentorlog *h);  /* COMMIT unless in a batch */
void ml__rollback(mentorlog *h);
int ml__prepare(mentorlog *h, sqlite3_stmt **st, const char *sql);

/* ---- keys (keys.c) ---- */
int ml__keyring_create(mentorlog *h, const mentorlog_open_options *o);
int ml__keyring_unlock(mentorlog *h, const mentorlog_open_options *o);
int ml__keyring_rewrap(mentorlog *h, const mentorlog_open_options *o);
/* Case key: wrap a fresh key and store it. */
int ml__casekey_store(mentorlog *h, const uint8_t case_id[16], const mlproto_key *k);
/* The case key, borrowed from the handle's cache (valid until the next
 * call on h that writes, rolls back or erases; never freed by the caller).
 * CASE_ERASED when destroyed. */
int ml__casekey(mentorlog *h, const uint8_t case_id[16], const mlproto_key **out);
/* Drop cached case keys: one case (case_id) or all (NULL). */
void ml__casekey_flush(mentorlog *h, const uint8_t *case_id);

/* ---- records (records.c) ---- */
int ml__chain_load(mentorlog *h);

/* Little helpers. */
char *ml__strdup(const char *s); /* NULL in -> NULL out; via the allocator */
#endif
