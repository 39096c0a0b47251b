/* admin_migrate_int.h — what the files of `admin migrate` share:
 * admin_migrate.c (the command, server.db's hold and check, the copy),
 * admin_migrate_verify.c (the read-back before COMMIT), admin_migrate_io.c
 * (errors, progress, and the small SQL calls both make). */
#ifndef MLS_ADMIN_MIGRATE_INT_H
#define MLS_ADMIN_MIGRATE_INT_H

#include "admin_int.h"

#include "mlproto/errors.h"
#include "mlproto/merkle.h"
#include "mlproto/util.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The layouts this file maps: store_sqlite.c's and store_pg.c's
 * SCHEMA_VERSION. A store of another version is refused (the migration
 * would copy columns it does not know of): update TABLES with them. */
#define SQLITE_LAYOUT 7
#define PG_LAYOUT "1"

#define COPY_CHUNK ((size_t)1 << 20) /* bytes per PQputCopyData */
#define FIELD_MAX ((size_t)MLS_ENVELOPE_MAX) /* the largest value (an envelope) */
#define BUF_CAP (COPY_CHUNK + FIELD_MAX + 64) /* a chunk, one field past it, a trailer */
#define FETCH_ROWS "8192"            /* rows per FETCH of the read-back */
#define SQLITE_BUSY_MS 2000          /* for a short admin command to finish */
#define PG_LOCK_TIMEOUT "10s"        /* for a writer of the target to finish */

#define MIG_MAX_TABLES 32 /* tables of server.db at most (mig.digest) */

typedef struct mig mig;
typedef struct table table;

/* A table of server.db. types: one letter per copied column, in COPY
 * order: i integer, I integer or NULL, b blob, B blob or NULL, t text,
 * T text or NULL, c a challenge (blob; NULL gets 32 random bytes). */
struct table {
  const char *name;      /* in server.db */
  const char *columns;   /* every column server.db has ("a, b, c"): checked */
  const char *pg;        /* the PostgreSQL table it fills (NULL: none) */
  const char *select;    /* NULL: SELECT columns FROM name */
  const char *copy_cols; /* NULL: columns */
  const char *types;
  int (*copy)(mig *m, const table *t); /* NULL: the plain copy */
};

struct mig {
  sqlite3 *db;
  PGconn *pg;
  const uint8_t *pk;
  char why[384];           /* what failed, for stderr (never a row, never the URI) */
  uint8_t *buf;            /* the COPY data not sent yet */
  size_t len;
  uint64_t src_rows;       /* rows of the table being copied, read */
  uint64_t log_size;       /* server.db's log */
  uint64_t nodes;          /* server.db's tree nodes */
  uint64_t tiles;          /* tiles made of them */
  uint64_t meta_rows;      /* meta rows copied to meta (sth is not) */
  uint64_t challenges;     /* sessions that got a random challenge */
  uint64_t rows_total;
  uint8_t sth[256];        /* meta 'sth' */
  int outcome_unknown;     /* PostgreSQL's COMMIT cannot be told: server.db stays marked */
  /* the content of every plainly copied table (content_check): the sum mod
   * 2^256 of BLAKE2b-256 of each row's COPY tuple as sent; rowh is the
   * running hash of the tuple being sent (NULL: none) */
  crypto_generichash_state *rowh;
  uint8_t digest[MIG_MAX_TABLES][32];
  size_t sth_len;
  mlproto_sth head;        /* ... decoded */
  double t0;
};

/* server.db's tables and how each is copied (admin_migrate.c), in an
 * order the foreign keys allow; the tables of the PostgreSQL layout. */
extern const table mls_mig_tables[];
extern const size_t mls_mig_n_tables;
extern const char *const mls_mig_pg_tables[];
extern const size_t mls_mig_n_pg_tables;
#define TABLES mls_mig_tables
#define N_TABLES mls_mig_n_tables
#define PG_TABLES mls_mig_pg_tables
#define N_PG_TABLES mls_mig_n_pg_tables

static inline uint64_t be_get(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

static inline void be_put(uint8_t *p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

/* sum += h, mod 2^256 (little-endian): an order-free digest of a set of
 * rows that, unlike XOR, two equal rows do not cancel out of. */
static inline void digest_add(uint8_t sum[32], const uint8_t h[32]) {
  unsigned carry = 0;
  for (int i = 0; i < 32; i++) {
    carry += (unsigned)sum[i] + h[i];
    sum[i] = (uint8_t)carry;
    carry >>= 8;
  }
}

/* admin_migrate_io.c */
int mig_fail(mig *m, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void mig_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
double mig_now_s(void);
int mig_pg_failed(mig *m, PGresult *r, const char *what);
int mig_pg_run(mig *m, const char *sql, ExecStatusType want, const char *what, PGresult **res);
uint64_t mig_r_u64(const PGresult *r, int row, int col);
int mig_pg_u64(mig *m, const char *sql, const char *what, uint64_t *out);
int mig_sq_failed(mig *m, int rc, const char *what);
int mig_sq_count(mig *m, const char *name, uint64_t *out);

/* admin_migrate_verify.c: everything read back from PostgreSQL before
 * COMMIT (the top of admin_migrate.c, step 5); MIGRATE_MISMATCH and m->why
 * when anything differs. */
int mig_verify(mig *m);

#endif
