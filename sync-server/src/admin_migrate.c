/*
 * admin_migrate.c — `admin --data DIR migrate --to URI`: DIR's SQLite store
 * (server.db) copied whole into an empty PostgreSQL store.
 *
 * Order of the work, each step refusing before the next touches anything:
 *   1. DIR opens as every admin command opens it (adm_open: the log key, the
 *      log's identity, the witnessed guard), which also brings server.db's
 *      layout to this server's version; then it is closed again.
 *   2. server.db is held exclusively: one connection in locking_mode
 *      EXCLUSIVE inside BEGIN EXCLUSIVE. In WAL mode every connection that
 *      has the file open (a server, an admin command) holds a shared lock on
 *      it for as long as it is open, so the exclusive lock is refused while
 *      any runs (STORE_IN_USE), and no server can open the file until the
 *      migration ends. Its tables and columns are checked against TABLES
 *      below: a table or column this file does not know fails the migration
 *      (MIGRATE_MISMATCH) rather than being left behind.
 *   3. The target is opened with mls_store_open (create): the PostgreSQL
 *      backend's own migrations make its schema the current one; closed.
 *   4. One connection of its own, one transaction: log_head is locked (every
 *      writer of every instance queues there), the target must be empty
 *      (STORE_NOT_EMPTY) and hold exactly the tables known here; every
 *      table goes in with COPY ... FROM STDIN (FORMAT binary); log_head and
 *      the forks' identity are set, ANALYZE.
 *   5. Before COMMIT, read back from PostgreSQL: the row count of every
 *      table and the content of every plainly copied one (a binary COPY TO
 *      of its columns: the sum mod 2^256 of BLAKE2b-256 of each row's tuple
 *      bytes, equal to the sum over the tuples sent — every value of every
 *      row, the log's envelopes included, in any order), the log's size, the latest checkpoint (the same bytes, its
 *      signature under the log key), and the Merkle tree: every leaf hash
 *      recomputed from its entry, every stored tile hash recomputed from the
 *      leaves, the root at the checkpoint's size equal to the checkpoint's.
 *      Any difference: MIGRATE_MISMATCH, ROLLBACK, the target stays empty.
 *
 * Mapping (store_sqlite.c -> store_pg.c, both of the versions named below):
 * the tables of the same name and columns are copied as they are; log gets
 * leaf_hash from nodes (level 0); nodes become tiles (256 hashes of one
 * level per row); meta's 'sth' becomes the one row of checkpoints, its
 * other keys stay in meta; leaf_index is not copied (PostgreSQL's index
 * log_by_leaf replaces it); sessions opened before SQLite layout 7 have no
 * challenge, which PostgreSQL requires: they get 32 random bytes (a
 * challenge is only kept to make one single-use, and random bytes collide
 * with none). Progress goes to stderr, the summary line to stdout; nothing
 * of a row, nor the URI, is ever printed.
 */
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
  int unmarked;            /* committed, but server.db's marker was not */
  /* the content of every plainly copied table (content_check): the sum mod
   * 2^256 of BLAKE2b-256 of each row's COPY tuple as sent; rowh is the
   * running hash of the tuple being sent (NULL: none) */
  crypto_generichash_state *rowh;
  uint8_t digest[32][32];
  size_t sth_len;
  mlproto_sth head;        /* ... decoded */
  double t0;
};

static int copy_nodes(mig *m, const table *t);
static int copy_meta(mig *m, const table *t);

#define LOG_COLUMNS "idx, type, received_ms, record_hash, author, seq, record_id, case_id, kind, mentor_id, envelope"

/* In an order the foreign keys allow (mentors before codes and devices,
 * witnesses before cosignatures). */
static const table TABLES[] = {
  {"mentors", "id, name, created_ms", "mentors", NULL, NULL, "bti", NULL},
  {"enroll_codes", "code_hash, mentor_id, created_ms, expires_ms, used_ms, used_by, id, revoked_ms",
   "enroll_codes", NULL, NULL, "bbiiIBBI", NULL},
  {"devices", "pub, id, box_pub, mentor_id, label, enrolled_ms, revoked_ms", "devices", NULL, NULL,
   "bbbbtii", NULL},
  {"sessions", "token_hash, device, expires_ms, challenge", "sessions", NULL, NULL, "bbic", NULL},
  {"api_tokens", "token_hash, role, jobcentre, created_ms", "api_tokens", NULL, NULL, "btTi", NULL},
  {"cases", "case_id, mentor_id, erased_ms", "cases", NULL, NULL, "bbI", NULL},
  /* the leaf hash from nodes; LEFT JOIN: a leaf missing there is a NULL,
   * refused (b), not a row left out */
  {"log", LOG_COLUMNS, "log",
   "SELECT l.idx, l.type, l.received_ms, l.record_hash, l.author, l.seq, l.record_id, l.case_id,"
   " l.kind, l.mentor_id, l.envelope, n.hash FROM log l"
   " LEFT JOIN nodes n ON n.level = 0 AND n.idx = l.idx ORDER BY l.idx",
   LOG_COLUMNS ", leaf_hash", "iiibbibbiBbb", NULL},
  {"case_jobcentres", "jobcentre, case_id", "case_jobcentres", NULL, NULL, "tb", NULL},
  {"nodes", "level, idx, hash", "tiles", NULL, NULL, NULL, copy_nodes},
  /* derived: PostgreSQL's index log_by_leaf does its work */
  {"leaf_index", "epoch, prefix, idx", NULL, NULL, NULL, NULL, NULL},
  {"meta", "key, value", "meta", NULL, NULL, NULL, copy_meta},
  {"forks", "id, author, seq, logged, pushed, device, received_ms", "forks", NULL, NULL, "ibibbbi",
   NULL},
  {"witnesses", "name, vkey, added_ms", "witnesses", NULL, NULL, "tti", NULL},
  {"cosignatures", "size, witness, ts, sig, received_ms", "cosignatures", NULL, NULL, "itibi", NULL},
  /* the caseworkers' web sessions (additive in both layouts): signed-in
   * caseworkers stay signed in */
  {"web_sessions", "id_hash, token_hash, created_ms, expires_ms", "web_sessions", NULL, NULL, "bbii",
   NULL},
};
#define N_TABLES (sizeof TABLES / sizeof TABLES[0])
_Static_assert(N_TABLES <= 32, "mig.digest holds 32 tables");

/* The tables of the PostgreSQL layout: those TABLES fill, and the three
 * filled here besides (checkpoints from meta 'sth', log_head). */
static const char *const PG_TABLES[] = {
  "mentors", "enroll_codes", "devices", "sessions", "api_tokens", "cases", "log",
  "case_jobcentres", "tiles", "meta", "forks", "witnesses", "cosignatures", "web_sessions",
  "checkpoints", "log_head",
};
#define N_PG_TABLES (sizeof PG_TABLES / sizeof PG_TABLES[0])

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(mig *m, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(mig *m, int rc, const char *fmt, ...) {
  if (!m->why[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->why, sizeof m->why, fmt, ap);
    va_end(ap);
  }
  return rc;
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("mentorlog-server admin: migrate: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* ------------------------------------------------------------- PostgreSQL --- */

/* A failed statement: its SQLSTATE, never the server's message (it may
 * quote a row or name hosts). */
static int pg_failed(mig *m, PGresult *r, const char *what) {
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  int rc = MLPROTO_ERR_STORAGE;
  if (state && strcmp(state, "53100") == 0) rc = MLPROTO_ERR_DISK_FULL;
  else if (state && strcmp(state, "53200") == 0) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  else if (state && (strcmp(state, "55P03") == 0 || strcmp(state, "40P01") == 0))
    rc = MLPROTO_ERR_BUSY;
  return fail(m, rc, "PostgreSQL: %s failed (SQLSTATE %s%s)", what, state ? state : "none",
              PQstatus(m->pg) == CONNECTION_OK ? "" : ", connection lost");
}

/* A statement without parameters; its result (binary) into *res when res
 * is not NULL. want: the status it must end with. */
static int pg_run(mig *m, const char *sql, ExecStatusType want, const char *what, PGresult **res) {
  if (res) *res = NULL;
  PGresult *r = PQexecParams(m->pg, sql, 0, NULL, NULL, NULL, NULL, 1);
  if (PQresultStatus(r) != want) {
    int rc = pg_failed(m, r, what);
    PQclear(r);
    return rc;
  }
  if (res) *res = r;
  else PQclear(r);
  return MLPROTO_OK;
}

static uint64_t be_get(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

static void be_put(uint8_t *p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

/* An int8 column of a binary result (0 for NULL). */
static uint64_t r_u64(const PGresult *r, int row, int col) {
  if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8) return 0;
  return be_get((const uint8_t *)PQgetvalue(r, row, col), 8);
}

/* One int8 of a one-row query. */
static int pg_u64(mig *m, const char *sql, const char *what, uint64_t *out) {
  PGresult *r;
  int rc = pg_run(m, sql, PGRES_TUPLES_OK, what, &r);
  if (rc) return rc;
  if (PQntuples(r) != 1 || PQgetlength(r, 0, 0) != 8) {
    PQclear(r);
    return fail(m, MLPROTO_ERR_STORAGE, "PostgreSQL: %s: unexpected answer", what);
  }
  *out = r_u64(r, 0, 0);
  PQclear(r);
  return MLPROTO_OK;
}

/* Session set-up as the backend's own (store_pg.c conn_open): lock_timeout,
 * quiet notices, UTF-8, a durable commit. */
static void notice_drop(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static int pg_connect(mig *m, const char *conninfo) {
  const char *keys[] = {"dbname", "fallback_application_name", "client_encoding", NULL};
  const char *vals[] = {conninfo, "mentorlog-server admin migrate", "UTF8", NULL};
  m->pg = PQconnectdbParams(keys, vals, 1);
  if (!m->pg) return fail(m, MLPROTO_ERR_OUT_OF_MEMORY, "PostgreSQL: no memory to connect");
  if (PQstatus(m->pg) != CONNECTION_OK)
    return fail(m, MLPROTO_ERR_STORAGE, "cannot connect to the PostgreSQL store%s",
                PQconnectionNeedsPassword(m->pg)
                    ? ": it needs a password, give it in PGPASSFILE (~/.pgpass)" : "");
  PQsetNoticeProcessor(m->pg, notice_drop, NULL);
  PGresult *r;
  int rc = pg_run(m,
                  "SELECT set_config('lock_timeout', '" PG_LOCK_TIMEOUT "', false),"
                  " set_config('client_min_messages', 'warning', false),"
                  " set_config('synchronous_commit', 'on', false)",
                  PGRES_TUPLES_OK, "session set-up", &r);
  PQclear(r);
  return rc;
}

/* --- binary COPY (PostgreSQL's "COPY ... (FORMAT binary)" file format) --- */

static int out_flush(mig *m) {
  if (m->len && PQputCopyData(m->pg, (const char *)m->buf, (int)m->len) != 1)
    return pg_failed(m, NULL, "COPY data");
  m->len = 0;
  return MLPROTO_OK;
}

static void out_bytes(mig *m, const void *p, size_t n) {
  if (n) memcpy(m->buf + m->len, p, n);
  if (n && m->rowh) crypto_generichash_update(m->rowh, m->buf + m->len, n);
  m->len += n;
}

static void out_u16(mig *m, unsigned v) {
  uint8_t b[2];
  be_put(b, v, 2);
  out_bytes(m, b, 2);
}

static void out_u32(mig *m, uint32_t v) {
  uint8_t b[4];
  be_put(b, v, 4);
  out_bytes(m, b, 4);
}

/* sum += h, mod 2^256 (little-endian): an order-free digest of a set of
 * rows that, unlike XOR, two equal rows do not cancel out of. */
static void digest_add(uint8_t sum[32], const uint8_t h[32]) {
  unsigned carry = 0;
  for (int i = 0; i < 32; i++) {
    carry += (unsigned)sum[i] + h[i];
    sum[i] = (uint8_t)carry;
    carry >>= 8;
  }
}

/* A field: its length (-1: NULL) and bytes. The buffer holds COPY_CHUNK
 * and one field past it: it is sent before a field that starts beyond. */
static int out_field(mig *m, const void *p, size_t n, int null) {
  if (!null && n > FIELD_MAX)
    return fail(m, MLPROTO_ERR_TOO_LARGE, "server.db holds a value of %zu bytes (at most %zu)", n,
                FIELD_MAX);
  if (m->len > COPY_CHUNK) {
    int rc = out_flush(m);
    if (rc) return rc;
  }
  out_u32(m, null ? UINT32_MAX : (uint32_t)n);
  if (!null) out_bytes(m, p, n);
  return MLPROTO_OK;
}

static int out_i64(mig *m, int64_t v) {
  uint8_t b[8];
  be_put(b, (uint64_t)v, 8);
  return out_field(m, b, 8, 0);
}

static int out_i16(mig *m, unsigned v) {
  uint8_t b[2];
  be_put(b, v, 2);
  return out_field(m, b, 2, 0);
}

static int out_tuple(mig *m, unsigned fields) {
  if (m->len > COPY_CHUNK) {
    int rc = out_flush(m);
    if (rc) return rc;
  }
  out_u16(m, fields);
  return MLPROTO_OK;
}

static int copy_begin(mig *m, const char *pg_table, const char *cols) {
  char sql[512];
  snprintf(sql, sizeof sql, "COPY %s(%s) FROM STDIN (FORMAT binary)", pg_table, cols);
  PGresult *r = PQexec(m->pg, sql);
  if (PQresultStatus(r) != PGRES_COPY_IN) {
    char what[64];
    snprintf(what, sizeof what, "COPY %s", pg_table);
    int rc = pg_failed(m, r, what);
    PQclear(r);
    return rc;
  }
  PQclear(r);
  m->len = 0;
  static const uint8_t header[19] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};
  out_bytes(m, header, sizeof header); /* signature, flags 0, no extension */
  return MLPROTO_OK;
}

/* Ends the COPY: rc 0 sends the trailer and checks that PostgreSQL took
 * `rows` rows; otherwise the COPY is abandoned (the transaction fails). */
static int copy_end(mig *m, const char *pg_table, int rc, uint64_t rows) {
  char what[64];
  snprintf(what, sizeof what, "COPY %s", pg_table);
  if (!rc) {
    out_u16(m, 0xffff);
    rc = out_flush(m);
  }
  m->len = 0;
  if (PQputCopyEnd(m->pg, rc ? "abandoned by mentorlog-server admin migrate" : NULL) != 1 && !rc)
    rc = pg_failed(m, NULL, what);
  for (PGresult *r; (r = PQgetResult(m->pg));) {
    if (!rc && PQresultStatus(r) != PGRES_COMMAND_OK) rc = pg_failed(m, r, what);
    else if (!rc && strtoull(PQcmdTuples(r), NULL, 10) != rows)
      rc = fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "%s: %" PRIu64 " rows sent, PostgreSQL took %s",
                pg_table, rows, PQcmdTuples(r));
    PQclear(r);
  }
  return rc;
}

/* ----------------------------------------------------------------- SQLite --- */

static int sq_failed(mig *m, int rc, const char *what) {
  int code = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? MLPROTO_ERR_STORE_IN_USE
             : (rc & 0xff) == SQLITE_NOMEM                              ? MLPROTO_ERR_OUT_OF_MEMORY
                                                                        : MLPROTO_ERR_STORAGE;
  return fail(m, code, "server.db: %s failed (SQLite %d)", what, rc);
}

static int sq_count(mig *m, const char *name, uint64_t *out) {
  char sql[96];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", name);
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(m->db, sql, -1, &s, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    *out = (uint64_t)sqlite3_column_int64(s, 0);
    rc = SQLITE_OK;
  }
  sqlite3_finalize(s);
  return rc == SQLITE_OK ? MLPROTO_OK : sq_failed(m, rc, "count");
}

/* Holds server.db exclusively (see the top of this file) in a read
 * transaction that lasts until sqlite_release(). */
static int sqlite_hold(mig *m, const char *path) {
  int rc = sqlite3_open_v2(path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) return sq_failed(m, rc, "open");
  sqlite3_extended_result_codes(m->db, 1);
  sqlite3_busy_timeout(m->db, SQLITE_BUSY_MS);
  rc = sqlite3_exec(m->db, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA trusted_schema=OFF;", NULL, NULL,
                    NULL);
  if (rc == SQLITE_OK) rc = sqlite3_exec(m->db, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
    return fail(m, MLPROTO_ERR_STORE_IN_USE,
                "server.db is open in another process: stop every server (and admin command) "
                "on it first");
  if (rc != SQLITE_OK) return sq_failed(m, rc, "exclusive lock");
  sqlite3_stmt *s;
  int version = -1;
  rc = sqlite3_prepare_v2(m->db, "PRAGMA user_version", -1, &s, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    version = sqlite3_column_int(s, 0);
    rc = SQLITE_OK;
  }
  sqlite3_finalize(s);
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
    return fail(m, MLPROTO_ERR_STORE_IN_USE,
                "server.db is open in another process: stop every server (and admin command) "
                "on it first");
  if (rc != SQLITE_OK) return sq_failed(m, rc, "layout version");
  if (version != SQLITE_LAYOUT)
    return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "server.db has layout version %d; this migrate copies version %d (update "
                "admin_migrate.c with store_sqlite.c)", version, SQLITE_LAYOUT);
  return MLPROTO_OK;
}

static void sqlite_release(mig *m) {
  if (!m->db) return;
  sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close_v2(m->db);
  m->db = NULL;
}

static const table *table_find(const char *name) {
  for (size_t i = 0; i < N_TABLES; i++)
    if (strcmp(TABLES[i].name, name) == 0) return &TABLES[i];
  return NULL;
}

/* Is name one of the comma-separated list? */
static int in_list(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    size_t k = strcspn(p, ",");
    if (k == n && strncmp(p, name, n) == 0) return 1;
    p += k;
    while (*p == ',' || *p == ' ') p++;
  }
  return 0;
}

/* Every table and column of server.db is one TABLES knows, and the other
 * way round: nothing in the file is silently left behind. */
static int check_source(mig *m) {
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(m->db,
                              "SELECT name FROM sqlite_schema WHERE type = 'table'"
                              " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                              -1, &s, NULL);
  if (rc != SQLITE_OK) return sq_failed(m, rc, "schema");
  size_t seen = 0;
  int r = MLPROTO_OK;
  while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(s, 0);
    if (!name || !table_find(name))
      r = fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
               "server.db has a table \"%.64s\" that migrate does not know; nothing was copied "
               "(admin_migrate.c must learn where it goes)", name ? name : "");
    else seen++;
  }
  sqlite3_finalize(s);
  if (r) return r;
  if (rc != SQLITE_DONE) return sq_failed(m, rc, "schema");
  if (seen != N_TABLES)
    return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "server.db lacks %zu of the tables of layout %d",
                N_TABLES - seen, SQLITE_LAYOUT);
  for (size_t i = 0; i < N_TABLES && !r; i++) {
    const table *t = &TABLES[i];
    /* a type letter per copied column: a slip in TABLES, not in the store */
    if (t->types) {
      size_t cols = 1;
      for (const char *p = t->copy_cols ? t->copy_cols : t->columns; *p; p++) cols += *p == ',';
      if (cols != strlen(t->types))
        return fail(m, MLPROTO_ERR_INTERNAL, "admin_migrate.c: table %s: %zu columns, %zu types",
                    t->name, cols, strlen(t->types));
    }
    if ((rc = sqlite3_prepare_v2(m->db, "SELECT name FROM pragma_table_info(?1)", -1, &s, NULL)))
      return sq_failed(m, rc, "columns");
    sqlite3_bind_text(s, 1, t->name, -1, SQLITE_STATIC);
    size_t n = 0;
    while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW) {
      const char *col = (const char *)sqlite3_column_text(s, 0);
      if (!col || !in_list(t->columns, col))
        r = fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                 "server.db's table %s has a column \"%.64s\" that migrate does not know; "
                 "nothing was copied", t->name, col ? col : "");
      n++;
    }
    sqlite3_finalize(s);
    if (r) return r;
    size_t want = 1;
    for (const char *p = t->columns; *p; p++) want += *p == ',';
    if (n != want)
      return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "server.db's table %s lacks columns of layout %d",
                  t->name, SQLITE_LAYOUT);
  }
  return MLPROTO_OK;
}

/* ------------------------------------------------------------- the copy --- */

/* Column c of the current row as the type letter says, into the COPY. */
static int out_column(mig *m, const table *t, sqlite3_stmt *s, int c, char type) {
  int st = sqlite3_column_type(s, c);
  int nullable = type == 'I' || type == 'B' || type == 'T';
  if (st == SQLITE_NULL) {
    if (type == 'c') {
      uint8_t ch[32];
      randombytes_buf(ch, sizeof ch);
      m->challenges++;
      return out_field(m, ch, sizeof ch, 0);
    }
    if (!nullable)
      return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "server.db: %s.%s is NULL in row %" PRIu64,
                  t->name, sqlite3_column_name(s, c), m->src_rows);
    return out_field(m, NULL, 0, 1);
  }
  switch (type) {
  case 'i': case 'I':
    if (st != SQLITE_INTEGER) break;
    return out_i64(m, sqlite3_column_int64(s, c));
  case 'b': case 'B': case 'c':
    if (st != SQLITE_BLOB) break;
    return out_field(m, sqlite3_column_blob(s, c), (size_t)sqlite3_column_bytes(s, c), 0);
  case 't': case 'T':
    if (st != SQLITE_TEXT) break;
    return out_field(m, sqlite3_column_text(s, c), (size_t)sqlite3_column_bytes(s, c), 0);
  default:
    return MLPROTO_ERR_INTERNAL;
  }
  return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
              "server.db: %s.%s holds a value of SQLite type %d in row %" PRIu64
              " where migrate expects '%c'", t->name, sqlite3_column_name(s, c), st, m->src_rows,
              type);
}

/* Runs sql on server.db and calls row(m, t, s) for each row. */
static int each_row(mig *m, const table *t, const char *sql,
                    int (*row)(mig *m, const table *t, sqlite3_stmt *s)) {
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(m->db, sql, -1, &s, NULL);
  if (rc != SQLITE_OK) return sq_failed(m, rc, "select");
  int r = MLPROTO_OK;
  while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    r = row(m, t, s);
    m->src_rows++;
  }
  sqlite3_finalize(s);
  if (!r && rc != SQLITE_DONE) r = sq_failed(m, rc, "select");
  return r;
}

static int plain_row(mig *m, const table *t, sqlite3_stmt *s) {
  size_t n = strlen(t->types);
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, 32);
  m->rowh = &st; /* the tuple's bytes from its field count on */
  int rc = out_tuple(m, (unsigned)n);
  for (size_t c = 0; !rc && c < n; c++) rc = out_column(m, t, s, (int)c, t->types[c]);
  m->rowh = NULL;
  uint8_t h[32];
  crypto_generichash_final(&st, h, sizeof h);
  digest_add(m->digest[t - TABLES], h);
  return rc;
}

static int copy_plain(mig *m, const table *t) {
  char sql[1024];
  const char *q = t->select;
  if (!q) {
    snprintf(sql, sizeof sql, "SELECT %s FROM %s", t->columns, t->name);
    q = sql;
  }
  int rc = copy_begin(m, t->pg, t->copy_cols ? t->copy_cols : t->columns);
  if (rc) return rc;
  rc = each_row(m, t, q, plain_row);
  return copy_end(m, t->pg, rc, m->src_rows);
}

/* nodes -> tiles: the hashes of (level, 256k .. 256k + n - 1) in one row.
 * Each level's nodes follow each other from 0 (the tree has no gap). */
typedef struct tile_acc {
  int any;
  unsigned level;
  uint64_t next;      /* the index the next node of this level must have */
  uint8_t h[256 * 32];
  size_t n;
} tile_acc;

static int tile_out(mig *m, tile_acc *a) {
  if (!a->n) return MLPROTO_OK;
  int rc = out_tuple(m, 3);
  if (!rc) rc = out_i16(m, a->level);
  if (!rc) rc = out_i64(m, (int64_t)((a->next - 1) >> 8));
  if (!rc) rc = out_field(m, a->h, a->n * 32, 0);
  a->n = 0;
  m->tiles++;
  return rc;
}

static int copy_nodes(mig *m, const table *t) {
  int rc = copy_begin(m, "tiles", "level, idx, hashes");
  if (rc) return rc;
  tile_acc *a = calloc(1, sizeof *a);
  sqlite3_stmt *s = NULL;
  if (!a) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  int sr = SQLITE_OK;
  if (!rc && (sr = sqlite3_prepare_v2(m->db, "SELECT level, idx, hash FROM nodes ORDER BY level, idx",
                                      -1, &s, NULL)) != SQLITE_OK)
    rc = sq_failed(m, sr, "select");
  while (!rc && (sr = sqlite3_step(s)) == SQLITE_ROW) {
    int64_t level = sqlite3_column_int64(s, 0), idx = sqlite3_column_int64(s, 1);
    if (sqlite3_column_type(s, 0) != SQLITE_INTEGER || sqlite3_column_type(s, 1) != SQLITE_INTEGER ||
        sqlite3_column_type(s, 2) != SQLITE_BLOB || sqlite3_column_bytes(s, 2) != 32 || level < 0 ||
        level > 63) {
      rc = fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "server.db: nodes row %" PRIu64 " is malformed",
                m->src_rows);
      break;
    }
    if (!a->any || (unsigned)level != a->level) {
      if ((rc = tile_out(m, a))) break;
      a->any = 1;
      a->level = (unsigned)level;
      a->next = 0;
    }
    if ((uint64_t)idx != a->next) {
      rc = fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "server.db: tree node (%u, %" PRIu64 ") is missing", a->level, a->next);
      break;
    }
    if (a->n == 256 && (rc = tile_out(m, a))) break;
    memcpy(a->h + a->n * 32, sqlite3_column_blob(s, 2), 32);
    a->n++;
    a->next++;
    m->src_rows++;
  }
  if (!rc && sr != SQLITE_DONE) rc = sq_failed(m, sr, "select");
  if (!rc) rc = tile_out(m, a);
  sqlite3_finalize(s);
  free(a);
  m->nodes = m->src_rows;
  (void)t;
  return copy_end(m, "tiles", rc, m->tiles);
}

/* meta: 'sth' is the latest tree head (checkpoints), the rest stays meta. */
static int meta_row(mig *m, const table *t, sqlite3_stmt *s) {
  const char *key = (const char *)sqlite3_column_text(s, 0);
  if (sqlite3_column_type(s, 0) != SQLITE_TEXT || sqlite3_column_type(s, 1) == SQLITE_NULL)
    return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "server.db: meta row %" PRIu64 " is malformed",
                m->src_rows);
  if (strcmp(key, "sth") == 0) {
    size_t n = (size_t)sqlite3_column_bytes(s, 1);
    if (n > sizeof m->sth ||
        mlproto_sth_decode(&m->head, sqlite3_column_blob(s, 1), n) != MLPROTO_OK)
      return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "server.db: the stored tree head is malformed");
    memcpy(m->sth, sqlite3_column_blob(s, 1), n);
    m->sth_len = n;
    return MLPROTO_OK;
  }
  if (strcmp(key, "schema_version") == 0)
    return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "server.db: meta holds 'schema_version', which is PostgreSQL's own key");
  m->meta_rows++;
  int rc = out_tuple(m, 2);
  if (!rc) rc = out_field(m, key, strlen(key), 0);
  /* the value as bytes, whichever of blob or text SQLite keeps it as */
  if (!rc) rc = out_field(m, sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1), 0);
  (void)t;
  return rc;
}

static int copy_meta(mig *m, const table *t) {
  int rc = copy_begin(m, "meta", "key, value");
  if (rc) return rc;
  rc = each_row(m, t, "SELECT key, value FROM meta ORDER BY key", meta_row);
  rc = copy_end(m, "meta", rc, m->meta_rows);
  if (rc || !m->sth_len) return rc;
  if ((rc = copy_begin(m, "checkpoints", "size, note"))) return rc;
  rc = out_tuple(m, 2);
  if (!rc) rc = out_i64(m, (int64_t)m->head.size);
  if (!rc) rc = out_field(m, m->sth, m->sth_len, 0);
  return copy_end(m, "checkpoints", rc, 1);
}

/* ------------------------------------------------------------ the target --- */

/* The target holds exactly PG_TABLES in its layout PG_LAYOUT, and no data. */
static int check_target(mig *m) {
  /* text results: the names are compared as C strings */
  PGresult *r = PQexec(m->pg, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()");
  int rc = MLPROTO_OK;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = pg_failed(m, r, "list tables");
    PQclear(r);
    return rc;
  }
  int n = PQntuples(r);
  for (int i = 0; i < n && !rc; i++) {
    const char *name = PQgetvalue(r, i, 0);
    int known = 0;
    for (size_t k = 0; k < N_PG_TABLES; k++) known |= strcmp(PG_TABLES[k], name) == 0;
    if (!known)
      rc = fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "the PostgreSQL schema has a table \"%.64s\" that migrate does not fill", name);
  }
  PQclear(r);
  if (rc) return rc;
  if (n != (int)N_PG_TABLES)
    return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "the PostgreSQL schema lacks tables of layout " PG_LAYOUT);
  if ((rc = pg_run(m, "SELECT convert_from(value, 'UTF8') FROM meta WHERE key = 'schema_version'",
                   PGRES_TUPLES_OK, "layout version", &r)))
    return rc;
  int ok = PQntuples(r) == 1 && PQgetlength(r, 0, 0) == (int)strlen(PG_LAYOUT) &&
           memcmp(PQgetvalue(r, 0, 0), PG_LAYOUT, strlen(PG_LAYOUT)) == 0;
  PQclear(r);
  if (!ok)
    return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "the PostgreSQL store is not of layout " PG_LAYOUT " (update admin_migrate.c "
                "with store_pg.c)");
  for (size_t k = 0; k < N_PG_TABLES; k++) {
    char sql[160];
    const char *t = PG_TABLES[k];
    if (strcmp(t, "log_head") == 0)
      snprintf(sql, sizeof sql, "SELECT count(*) FROM log_head WHERE size <> 0");
    else if (strcmp(t, "meta") == 0)
      snprintf(sql, sizeof sql,
               "SELECT count(*) FROM (SELECT 1 FROM meta WHERE key <> 'schema_version' LIMIT 1) x");
    else
      snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT 1 FROM %s LIMIT 1) x", t);
    uint64_t any;
    if ((rc = pg_u64(m, sql, "emptiness check", &any))) return rc;
    if (any)
      return fail(m, MLPROTO_ERR_STORE_NOT_EMPTY,
                  "the PostgreSQL store already holds data (table %s): migrate only into a new, "
                  "empty store", t);
  }
  return MLPROTO_OK;
}

/* --------------------------------------------------------- verification --- */

/* The stored tiles, one per level at a time, to compare computed nodes. */
typedef struct tile_cache {
  int valid;
  uint64_t idx;
  size_t n;
  uint8_t h[256 * 32];
} tile_cache;

typedef struct walk {
  mig *m;
  tile_cache *tc; /* [64] */
  uint64_t nodes; /* computed nodes compared */
} walk;

static int node_check(walk *w, const mlproto_merkle_node *nd) {
  mig *m = w->m;
  tile_cache *c = &w->tc[nd->level];
  uint64_t tidx = nd->index >> 8;
  if (!c->valid || c->idx != tidx) {
    uint8_t lv[2], ix[8];
    be_put(lv, nd->level, 2);
    be_put(ix, tidx, 8);
    const char *vals[2] = {(const char *)lv, (const char *)ix};
    int lens[2] = {2, 8}, fmts[2] = {1, 1};
    PGresult *r = PQexecParams(m->pg,
                               "SELECT hashes FROM tiles WHERE level = $1::smallint AND idx = $2::bigint",
                               2, NULL, vals, lens, fmts, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      int rc = pg_failed(m, r, "read tiles");
      PQclear(r);
      return rc;
    }
    int len = PQntuples(r) == 1 ? PQgetlength(r, 0, 0) : -1;
    if (len < 32 || len > (int)sizeof c->h || len % 32) {
      PQclear(r);
      return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "PostgreSQL: tile (%u, %" PRIu64 ") is missing or malformed", nd->level, tidx);
    }
    memcpy(c->h, PQgetvalue(r, 0, 0), (size_t)len);
    c->n = (size_t)len / 32;
    c->idx = tidx;
    c->valid = 1;
    PQclear(r);
  }
  size_t off = (size_t)(nd->index & 255);
  if (off >= c->n || memcmp(c->h + off * 32, nd->hash, 32) != 0)
    return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "PostgreSQL: the tree node (%u, %" PRIu64 ") differs from the one its leaves make",
                nd->level, nd->index);
  w->nodes++;
  return MLPROTO_OK;
}

/* Every leaf of the copied log, in order: its hash from its entry, the
 * tree nodes it completes against the tiles, the root at the checkpoint's
 * size against the checkpoint. */
static int verify_tree(mig *m, uint64_t *tiles_checked) {
  walk w = {.m = m, .tc = calloc(64, sizeof(tile_cache))};
  if (!w.tc) return MLPROTO_ERR_OUT_OF_MEMORY;
  mlproto_merkle_compact cr;
  mlproto_merkle_compact_init(&cr);
  uint8_t root[32];
  int have_root = 0;
  if (m->sth_len && m->head.size == 0) {
    mlproto_merkle_empty_root(root);
    have_root = 1;
  }
  int rc = pg_run(m,
                  "DECLARE migrate_leaves NO SCROLL CURSOR FOR SELECT idx, type, received_ms,"
                  " record_hash, leaf_hash FROM log ORDER BY idx",
                  PGRES_COMMAND_OK, "read the log", NULL);
  mlproto_merkle_node *nodes = malloc(MLPROTO_MERKLE_MAX_NEW_NODES * sizeof *nodes);
  if (!nodes) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  for (int done = 0; !rc && !done;) {
    PGresult *r;
    if ((rc = pg_run(m, "FETCH FORWARD " FETCH_ROWS " FROM migrate_leaves", PGRES_TUPLES_OK,
                     "read the log", &r)))
      break;
    int n = PQntuples(r);
    done = n == 0;
    for (int i = 0; i < n && !rc; i++) {
      uint64_t idx = r_u64(r, i, 0);
      mlproto_log_entry e = {.type = (mlproto_log_entry_type)r_u64(r, i, 1),
                             .received_at_ms = r_u64(r, i, 2)};
      uint8_t leaf[32];
      size_t nn = 0;
      if (idx != cr.size || PQgetlength(r, i, 3) != 32 || PQgetlength(r, i, 4) != 32) {
        rc = fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "PostgreSQL: log entry %" PRIu64 " is missing or malformed", cr.size);
        break;
      }
      memcpy(e.record_hash, PQgetvalue(r, i, 3), 32);
      if (mlproto_log_entry_leaf_hash(leaf, &e) != MLPROTO_OK ||
          memcmp(leaf, PQgetvalue(r, i, 4), 32) != 0) {
        rc = fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "log entry %" PRIu64 ": its leaf hash is not the hash of its entry", idx);
        break;
      }
      if ((rc = mlproto_merkle_compact_append(&cr, leaf, nodes, &nn))) break;
      for (size_t k = 0; k < nn && !rc; k++) rc = node_check(&w, &nodes[k]);
      if (!rc && m->sth_len && cr.size == m->head.size) {
        mlproto_merkle_compact_root(&cr, root);
        have_root = 1;
      }
    }
    PQclear(r);
  }
  free(nodes);
  free(w.tc);
  if (rc) return rc;
  if ((rc = pg_run(m, "CLOSE migrate_leaves", PGRES_COMMAND_OK, "read the log", NULL))) return rc;
  if (cr.size != m->log_size)
    return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "PostgreSQL holds %" PRIu64 " log entries, server.db %" PRIu64, cr.size,
                m->log_size);
  if (m->sth_len && (!have_root || memcmp(root, m->head.root, 32) != 0))
    return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "the root of the copied log at size %" PRIu64 " is not the checkpoint's",
                m->head.size);
  /* every stored hash was compared; and no stored hash is left over */
  uint64_t stored;
  if ((rc = pg_u64(m, "SELECT (coalesce(sum(length(hashes)), 0) / 32)::bigint FROM tiles",
                   "count tree nodes", &stored)))
    return rc;
  if (stored != w.nodes || stored != m->nodes)
    return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "tree nodes: server.db %" PRIu64 ", PostgreSQL %" PRIu64 ", made from the "
                "leaves %" PRIu64, m->nodes, stored, w.nodes);
  *tiles_checked = w.nodes;
  return MLPROTO_OK;
}

/* Reads table t back from PostgreSQL with a binary COPY of the columns it
 * was copied into, and compares the digest of its rows (each tuple's bytes,
 * field count to last field, as the server sends them: the same binary
 * forms migrate sent) with the digest of what was sent: every value of
 * every row, not only how many there are. */
static int content_check(mig *m, const table *t) {
  char sql[600];
  snprintf(sql, sizeof sql, "COPY (SELECT %s FROM %s) TO STDOUT (FORMAT binary)",
           t->copy_cols ? t->copy_cols : t->columns, t->pg);
  PGresult *r = PQexec(m->pg, sql);
  if (PQresultStatus(r) != PGRES_COPY_OUT) {
    int rc = pg_failed(m, r, "read back");
    PQclear(r);
    return rc;
  }
  PQclear(r);
  uint8_t sum[32] = {0};
  size_t cap = 1 << 16, have = 0, pos = 0;
  uint8_t *buf = malloc(cap);
  int rc = buf ? MLPROTO_OK : MLPROTO_ERR_OUT_OF_MEMORY;
  int header = 0, trailer = 0, end = 0;
  while (!rc && !end) {
    char *data = NULL;
    int n = PQgetCopyData(m->pg, &data, 0);
    if (n == -1) {
      end = 1;
    } else if (n < 0) {
      rc = pg_failed(m, NULL, "read back");
    } else {
      if (pos) { /* what was parsed goes; a partial item stays */
        memmove(buf, buf + pos, have - pos);
        have -= pos;
        pos = 0;
      }
      if (have + (size_t)n > cap) {
        while (have + (size_t)n > cap) cap *= 2;
        uint8_t *nb = realloc(buf, cap);
        if (!nb) rc = MLPROTO_ERR_OUT_OF_MEMORY;
        else buf = nb;
      }
      if (!rc) {
        memcpy(buf + have, data, (size_t)n);
        have += (size_t)n;
      }
    }
    PQfreemem(data);
    /* whole items only: the header, then tuples, then the trailer */
    while (!rc && !trailer) {
      if (!header) {
        if (have - pos < 19) break;
        uint64_t ext = be_get(buf + pos + 15, 4);
        if (memcmp(buf + pos, "PGCOPY\n\377\r\n", 11) != 0 || ext > 1 << 20) {
          rc = fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "table %s: the read-back is not a binary COPY",
                    t->name);
          break;
        }
        if (have - pos < 19 + ext) break;
        pos += 19 + (size_t)ext;
        header = 1;
        continue;
      }
      if (have - pos < 2) break;
      unsigned fields = (unsigned)be_get(buf + pos, 2);
      if (fields == 0xffff) {
        trailer = 1;
        pos += 2;
        break;
      }
      size_t at = pos + 2;
      int whole = 1;
      for (unsigned f = 0; f < fields; f++) {
        if (have - at < 4) { whole = 0; break; }
        uint64_t len = be_get(buf + at, 4);
        at += 4;
        if (len == 0xffffffffu) continue; /* NULL */
        if (have - at < len) { whole = 0; break; }
        at += (size_t)len;
      }
      if (!whole) break;
      uint8_t h[32];
      crypto_generichash(h, sizeof h, buf + pos, at - pos, NULL, 0);
      digest_add(sum, h);
      pos = at;
    }
  }
  free(buf);
  if (!rc) {
    r = PQgetResult(m->pg);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) rc = pg_failed(m, r, "read back");
    PQclear(r);
    while ((r = PQgetResult(m->pg))) PQclear(r);
  }
  if (rc) return rc;
  if (!header || !trailer || sodium_memcmp(sum, m->digest[t - TABLES], 32) != 0)
    return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "table %s: the rows in PostgreSQL are not the rows of server.db (their content "
                "differs)", t->name);
  return MLPROTO_OK;
}

static int verify(mig *m) {
  int rc;
  /* row counts: what server.db held, what PostgreSQL holds now */
  for (size_t i = 0; i < N_TABLES; i++) {
    const table *t = &TABLES[i];
    if (!t->pg || t->copy) continue; /* tiles and meta below */
    uint64_t src, dst;
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", t->pg);
    if ((rc = sq_count(m, t->name, &src)) || (rc = pg_u64(m, sql, "count rows", &dst))) return rc;
    if (src != dst)
      return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "table %s: %" PRIu64 " rows in server.db, %" PRIu64 " in PostgreSQL", t->name, src,
                  dst);
    if ((rc = content_check(m, t))) return rc;
  }
  uint64_t src, dst, tiles, checkpoints, head;
  if ((rc = sq_count(m, "meta", &src)) ||
      (rc = pg_u64(m, "SELECT count(*) FROM meta WHERE key <> 'schema_version'", "count rows", &dst)))
    return rc;
  if (src != dst + (m->sth_len ? 1 : 0))
    return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "table meta: %" PRIu64 " rows in server.db, %" PRIu64 " in PostgreSQL (and %d "
                "checkpoint)", src, dst, m->sth_len ? 1 : 0);
  if ((rc = pg_u64(m, "SELECT count(*) FROM tiles", "count rows", &tiles)) ||
      (rc = pg_u64(m, "SELECT count(*) FROM checkpoints", "count rows", &checkpoints)) ||
      (rc = pg_u64(m, "SELECT size FROM log_head", "log size", &head)))
    return rc;
  if (tiles != m->tiles || checkpoints != (m->sth_len ? 1u : 0u) || head != m->log_size)
    return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "PostgreSQL holds %" PRIu64 " tiles (%" PRIu64 " made), %" PRIu64
                " checkpoints, log size %" PRIu64 " (server.db: %" PRIu64 ")", tiles, m->tiles,
                checkpoints, head, m->log_size);
  /* the latest checkpoint: the same bytes, signed by this log's key */
  if (m->sth_len) {
    PGresult *r;
    if ((rc = pg_run(m, "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1", PGRES_TUPLES_OK,
                     "read the checkpoint", &r)))
      return rc;
    int same = PQntuples(r) == 1 && PQgetlength(r, 0, 0) == (int)m->sth_len &&
               memcmp(PQgetvalue(r, 0, 0), m->sth, m->sth_len) == 0;
    PQclear(r);
    if (!same)
      return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "the latest checkpoint in PostgreSQL is not server.db's");
    if (mlproto_sth_verify(&m->head, m->pk) != MLPROTO_OK)
      return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "server.db's tree head is not signed by DIR/server.key");
    if (m->head.size > m->log_size)
      return fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                  "the checkpoint's size %" PRIu64 " is beyond the log's %" PRIu64, m->head.size,
                  m->log_size);
  }
  uint64_t nodes = 0;
  double t = now_s();
  if ((rc = verify_tree(m, &nodes))) return rc;
  progress("verified: row counts of %zu tables, log size %" PRIu64 ", checkpoint of size %" PRIu64
           ", %" PRIu64 " leaf and tree hashes recomputed (%.1f s)",
           N_PG_TABLES, m->log_size, m->sth_len ? m->head.size : 0, nodes, now_s() - t);
  return MLPROTO_OK;
}

/* ------------------------------------------------------------- the steps --- */

static int copy_all(mig *m) {
  int rc;
  {
    /* the log's size is its largest index + 1; a gap shows in verify */
    sqlite3_stmt *s;
    int sr = sqlite3_prepare_v2(m->db, "SELECT coalesce(max(idx) + 1, 0) FROM log", -1, &s, NULL);
    if (sr == SQLITE_OK && (sr = sqlite3_step(s)) == SQLITE_ROW) {
      m->log_size = (uint64_t)sqlite3_column_int64(s, 0);
      sr = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (sr != SQLITE_OK) return sq_failed(m, sr, "log size");
  }
  for (size_t i = 0; i < N_TABLES; i++) {
    const table *t = &TABLES[i];
    double t0 = now_s();
    m->src_rows = 0;
    if (!t->pg) {
      uint64_t n;
      if ((rc = sq_count(m, t->name, &n))) return rc;
      progress("%-16s %10" PRIu64 " rows not copied (derived: PostgreSQL's index log_by_leaf)",
               t->name, n);
      continue;
    }
    rc = t->copy ? t->copy(m, t) : copy_plain(m, t);
    if (rc) {
      if (!m->why[0]) fail(m, rc, "copying %s", t->name);
      return rc;
    }
    m->rows_total += m->src_rows;
    double dt = now_s() - t0;
    if (t->copy == copy_nodes)
      progress("%-16s %10" PRIu64 " rows -> %" PRIu64 " tiles (%.1f s)", t->name, m->src_rows,
               m->tiles, dt);
    else if (t->copy == copy_meta)
      progress("%-16s %10" PRIu64 " rows (%s) (%.1f s)", t->name, m->src_rows,
               m->sth_len ? "the tree head -> checkpoints" : "no tree head", dt);
    else if (t == table_find("sessions") && m->challenges)
      progress("%-16s %10" PRIu64 " rows (%" PRIu64 " from before layout 7 given a random "
               "challenge) (%.1f s)", t->name, m->src_rows, m->challenges, dt);
    else
      progress("%-16s %10" PRIu64 " rows (%.1f s)", t->name, m->src_rows, dt);
  }
  /* log_head as the backend keeps it (store_pg_buf.c), the next fork id */
  uint8_t sz[8];
  be_put(sz, m->log_size, 8);
  const char *vals[1] = {(const char *)sz};
  int lens[1] = {8}, fmts[1] = {1};
  PGresult *r = PQexecParams(m->pg,
                             "UPDATE log_head SET size = $1::bigint,"
                             " last_received_ms = (SELECT coalesce(max(received_ms), 0) FROM log)",
                             1, NULL, vals, lens, fmts, 1);
  rc = PQresultStatus(r) == PGRES_COMMAND_OK ? MLPROTO_OK : pg_failed(m, r, "UPDATE log_head");
  PQclear(r);
  if (!rc)
    rc = pg_run(m,
                "SELECT setval(pg_get_serial_sequence('forks', 'id'), coalesce(max(id), 0) + 1, false)"
                " FROM forks",
                PGRES_TUPLES_OK, "forks' identity", NULL);
  /* the planner's statistics, which a bulk load leaves empty */
  if (!rc) {
    double t0 = now_s();
    rc = pg_run(m, "ANALYZE", PGRES_COMMAND_OK, "ANALYZE", NULL);
    if (!rc) progress("ANALYZE (%.1f s)", now_s() - t0);
  }
  return rc;
}

/* The marker (store.h MLS_META_MIGRATED) in server.db's exclusive
 * transaction, written after the verification and committed only after
 * PostgreSQL's COMMIT: from then on mls_store_open refuses server.db
 * (STORE_MIGRATED), so no server of this DIR serves the old copy of a log
 * that continues elsewhere. A failed migration leaves no marker. */
static int mark_source(mig *m) {
  char v[160];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int n = snprintf(v, sizeof v, "migrated at %" PRIu64 " to postgresql, log size %" PRIu64,
                   (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, m->log_size);
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(m->db, "INSERT INTO meta(key, value) VALUES (?1, ?2)", -1, &s, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(s, 1, MLS_META_MIGRATED, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, v, n, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  }
  sqlite3_finalize(s);
  return rc == SQLITE_OK ? MLPROTO_OK : sq_failed(m, rc, "mark server.db as migrated");
}

static int migrate(mig *m, const char *db_path, const char *to) {
  int rc = sqlite_hold(m, db_path);
  if (!rc) rc = check_source(m);
  if (rc) return rc;
  /* the target's schema: the backend's own migrations, at its version */
  mls_store *st = NULL;
  mls_store_options so = {.version = MLS_STORE_OPTIONS_VERSION, .create = 1, .connections = 1,
                          .busy_timeout_ms = 10000};
  if ((rc = mls_store_open(&st, to, &so)))
    return fail(m, rc, "cannot open the PostgreSQL store (nothing was copied)");
  mls_store_close(st);
  if ((rc = pg_connect(m, mls_store_uri_conninfo(to)))) return rc;
  if ((rc = pg_run(m, "BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE", PGRES_COMMAND_OK, "BEGIN",
                   NULL)))
    return rc;
  /* every writer of the target queues behind this lock until COMMIT */
  rc = pg_run(m, "SELECT size FROM log_head FOR UPDATE", PGRES_TUPLES_OK, "lock log_head", NULL);
  if (!rc) rc = check_target(m);
  if (!rc) {
    progress("server.db held exclusively; the PostgreSQL store is empty, copying");
    rc = copy_all(m);
  }
  if (!rc) rc = verify(m);
  if (!rc) rc = mark_source(m);
  if (!rc) {
    PGresult *r = PQexec(m->pg, "COMMIT");
    /* a COMMIT of a failed transaction answers ROLLBACK */
    if (PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(r), "COMMIT") != 0)
      rc = pg_failed(m, r, "COMMIT");
    PQclear(r);
    if (rc) return rc; /* server.db's marker is rolled back by sqlite_release */
    /* committed: server.db keeps the marker (its transaction commits now) */
    int src = sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL);
    if (src != SQLITE_OK) {
      m->unmarked = 1;
      fprintf(stderr,
              "mentorlog-server admin: migrate: WARNING: the copy committed, but server.db "
              "could not be marked as migrated (SQLite %s): move it out of DIR yourself, so "
              "that no server serves it again\n",
              sqlite3_errstr(src));
    }
    return MLPROTO_OK;
  }
  PQclear(PQexec(m->pg, "ROLLBACK"));
  return rc;
}

static const char MIGRATE_USAGE[] =
    "usage: mentorlog-server admin --data DIR migrate --to URI\n"
    "  copies DIR's SQLite store (server.db) whole into the empty PostgreSQL store URI\n"
    "  (postgresql://... or postgresql:KEY=VALUE ...; no password: PGPASSFILE), in one\n"
    "  transaction, verified before it commits; see docs/operator.md, Migrating.\n";

int adm_cmd_migrate(const char *dir, const char *uri, int argc, char **argv) {
  const char *to = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--to") == 0 && i + 1 < argc && !to) {
      to = argv[++i];
    } else {
      fputs(MIGRATE_USAGE, stderr);
      return EXIT_USAGE;
    }
  }
  if (!to) {
    fputs(MIGRATE_USAGE, stderr);
    return EXIT_USAGE;
  }
  const char *why = NULL;
  if (mls_store_uri_check(to, &why)) {
    fprintf(stderr, "mentorlog-server admin: migrate --to: %s\n", why);
    return EXIT_USAGE;
  }
  const char *backend = mls_store_uri_backend(to);
  if (strcmp(backend, "postgresql") != 0) {
    fprintf(stderr, "mentorlog-server admin: migrate --to: the target must be a postgresql: "
                    "store (the source is DIR's SQLite store)\n");
    return EXIT_USAGE;
  }
  if (strcmp(mls_store_uri_backend(uri), "sqlite") != 0) {
    fprintf(stderr, "mentorlog-server admin: migrate copies DIR's SQLite store: leave out --store "
                    "(or give DIR's sqlite: store)\n");
    return EXIT_USAGE;
  }
  /* DIR opens as for every command (key, identity, witnessed guard; the
   * SQLite layout brought to this server's), then is closed again */
  admin a;
  int rc = adm_open(&a, dir, uri, 0, NULL, 1);
  if (rc) return adm_open_failure(rc, dir, 0, NULL);
  char db_path[MLS_PATH_MAX];
  snprintf(db_path, sizeof db_path, "%s", uri + strlen("sqlite:"));
  uint8_t pk[32];
  memcpy(pk, a.pk, 32);
  adm_close(&a);

  mig m;
  memset(&m, 0, sizeof m);
  m.pk = pk;
  m.t0 = now_s();
  m.buf = malloc(BUF_CAP);
  rc = m.buf ? migrate(&m, db_path, to) : MLPROTO_ERR_OUT_OF_MEMORY;
  double dt = now_s() - m.t0;
  PQfinish(m.pg);
  sqlite_release(&m);
  free(m.buf);
  if (rc) {
    char what[480];
    snprintf(what, sizeof what, "migrate: %s; the PostgreSQL store was left as it was",
             m.why[0] ? m.why : "failed");
    return adm_failure(what, rc);
  }
  printf("migrated %" PRIu64 " rows of %s (log size %" PRIu64 ", checkpoint size %" PRIu64
         ") to PostgreSQL in %.1f s (%.0f log entries/s); serve it with --store, never "
         "%s again%s\n", m.rows_total, db_path, m.log_size, m.sth_len ? m.head.size : 0, dt,
         dt > 0 ? (double)m.log_size / dt : 0.0, db_path,
         m.unmarked ? "" : " (it is marked: servers refuse it, STORE_MIGRATED)");
  return 0;
}
