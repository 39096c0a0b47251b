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
#include "admin_migrate_int.h"

static int copy_nodes(mig *m, const table *t);
static int copy_meta(mig *m, const table *t);

#define LOG_COLUMNS "idx, type, received_ms, record_hash, author, seq, record_id, case_id, kind, mentor_id, envelope"

/* In an order the foreign keys allow (mentors before codes and devices,
 * witnesses before cosignatures). */
const table TABLES[] = {
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
const size_t N_TABLES = sizeof TABLES / sizeof TABLES[0];
_Static_assert(sizeof TABLES / sizeof TABLES[0] <= MIG_MAX_TABLES, "mig.digest holds MIG_MAX_TABLES tables");

/* The tables of the PostgreSQL layout: those TABLES fill, and the three
 * filled here besides (checkpoints from meta 'sth', log_head). */
const char *const PG_TABLES[] = {
  "mentors", "enroll_codes", "devices", "sessions", "api_tokens", "cases", "log",
  "case_jobcentres", "tiles", "meta", "forks", "witnesses", "cosignatures", "web_sessions",
  "checkpoints", "log_head",
};
const size_t N_PG_TABLES = sizeof PG_TABLES / sizeof PG_TABLES[0];

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
  if (!m->pg) return mig_fail(m, MLPROTO_ERR_OUT_OF_MEMORY, "PostgreSQL: no memory to connect");
  if (PQstatus(m->pg) != CONNECTION_OK)
    return mig_fail(m, MLPROTO_ERR_STORAGE, "cannot connect to the PostgreSQL store%s",
                PQconnectionNeedsPassword(m->pg)
                    ? ": it needs a password, give it in PGPASSFILE (~/.pgpass)" : "");
  PQsetNoticeProcessor(m->pg, notice_drop, NULL);
  PGresult *r;
  int rc = mig_pg_run(m,
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
    return mig_pg_failed(m, NULL, "COPY data");
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


/* A field: its length (-1: NULL) and bytes. The buffer holds COPY_CHUNK
 * and one field past it: it is sent before a field that starts beyond. */
static int out_field(mig *m, const void *p, size_t n, int null) {
  if (!null && n > FIELD_MAX)
    return mig_fail(m, MLPROTO_ERR_TOO_LARGE, "server.db holds a value of %zu bytes (at most %zu)", n,
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
    int rc = mig_pg_failed(m, r, what);
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
    rc = mig_pg_failed(m, NULL, what);
  for (PGresult *r; (r = PQgetResult(m->pg));) {
    if (!rc && PQresultStatus(r) != PGRES_COMMAND_OK) rc = mig_pg_failed(m, r, what);
    else if (!rc && strtoull(PQcmdTuples(r), NULL, 10) != rows)
      rc = mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "%s: %" PRIu64 " rows sent, PostgreSQL took %s",
                pg_table, rows, PQcmdTuples(r));
    PQclear(r);
  }
  return rc;
}

/* ----------------------------------------------------------------- SQLite --- */

/* Holds server.db exclusively (see the top of this file) in a read
 * transaction that lasts until sqlite_release(). */
static int sqlite_hold(mig *m, const char *path) {
  int rc = sqlite3_open_v2(path, &m->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) return mig_sq_failed(m, rc, "open");
  sqlite3_extended_result_codes(m->db, 1);
  sqlite3_busy_timeout(m->db, SQLITE_BUSY_MS);
  /* synchronous=FULL: the marker's commit is what keeps the old copy from
   * serving once PostgreSQL's commits, so it must be on the disk first */
  rc = sqlite3_exec(m->db, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA trusted_schema=OFF;"
                    " PRAGMA synchronous=FULL;", NULL, NULL, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_exec(m->db, "BEGIN EXCLUSIVE", NULL, NULL, NULL);
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
    return mig_fail(m, MLPROTO_ERR_STORE_IN_USE,
                "server.db is open in another process: stop every server (and admin command) "
                "on it first");
  if (rc != SQLITE_OK) return mig_sq_failed(m, rc, "exclusive lock");
  sqlite3_stmt *s;
  int version = -1;
  rc = sqlite3_prepare_v2(m->db, "PRAGMA user_version", -1, &s, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    version = sqlite3_column_int(s, 0);
    rc = SQLITE_OK;
  }
  sqlite3_finalize(s);
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
    return mig_fail(m, MLPROTO_ERR_STORE_IN_USE,
                "server.db is open in another process: stop every server (and admin command) "
                "on it first");
  if (rc != SQLITE_OK) return mig_sq_failed(m, rc, "layout version");
  if (version != SQLITE_LAYOUT)
    return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
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
  if (rc != SQLITE_OK) return mig_sq_failed(m, rc, "schema");
  size_t seen = 0;
  int r = MLPROTO_OK;
  while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(s, 0);
    if (!name || !table_find(name))
      r = mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
               "server.db has a table \"%.64s\" that migrate does not know; nothing was copied "
               "(admin_migrate.c must learn where it goes)", name ? name : "");
    else seen++;
  }
  sqlite3_finalize(s);
  if (r) return r;
  if (rc != SQLITE_DONE) return mig_sq_failed(m, rc, "schema");
  if (seen != N_TABLES)
    return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "server.db lacks %zu of the tables of layout %d",
                N_TABLES - seen, SQLITE_LAYOUT);
  for (size_t i = 0; i < N_TABLES && !r; i++) {
    const table *t = &TABLES[i];
    /* a type letter per copied column: a slip in TABLES, not in the store */
    if (t->types) {
      size_t cols = 1;
      for (const char *p = t->copy_cols ? t->copy_cols : t->columns; *p; p++) cols += *p == ',';
      if (cols != strlen(t->types))
        return mig_fail(m, MLPROTO_ERR_INTERNAL, "admin_migrate.c: table %s: %zu columns, %zu types",
                    t->name, cols, strlen(t->types));
    }
    if ((rc = sqlite3_prepare_v2(m->db, "SELECT name FROM pragma_table_info(?1)", -1, &s, NULL)))
      return mig_sq_failed(m, rc, "columns");
    sqlite3_bind_text(s, 1, t->name, -1, SQLITE_STATIC);
    size_t n = 0;
    while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW) {
      const char *col = (const char *)sqlite3_column_text(s, 0);
      if (!col || !in_list(t->columns, col))
        r = mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                 "server.db's table %s has a column \"%.64s\" that migrate does not know; "
                 "nothing was copied", t->name, col ? col : "");
      n++;
    }
    sqlite3_finalize(s);
    if (r) return r;
    size_t want = 1;
    for (const char *p = t->columns; *p; p++) want += *p == ',';
    if (n != want)
      return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "server.db's table %s lacks columns of layout %d",
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
      return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "server.db: %s.%s is NULL in row %" PRIu64,
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
  return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
              "server.db: %s.%s holds a value of SQLite type %d in row %" PRIu64
              " where migrate expects '%c'", t->name, sqlite3_column_name(s, c), st, m->src_rows,
              type);
}

/* Runs sql on server.db and calls row(m, t, s) for each row. */
static int each_row(mig *m, const table *t, const char *sql,
                    int (*row)(mig *m, const table *t, sqlite3_stmt *s)) {
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(m->db, sql, -1, &s, NULL);
  if (rc != SQLITE_OK) return mig_sq_failed(m, rc, "select");
  int r = MLPROTO_OK;
  while (!r && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    r = row(m, t, s);
    m->src_rows++;
  }
  sqlite3_finalize(s);
  if (!r && rc != SQLITE_DONE) r = mig_sq_failed(m, rc, "select");
  return r;
}

/* A row's tuple is hashed as it is written (from its field count on) and
 * added to its table's digest, which the verification compares with the
 * read-back's: row_begin, then out_tuple and its fields, then row_end. */
static void row_begin(mig *m, crypto_generichash_state *st) {
  crypto_generichash_init(st, NULL, 0, 32);
  m->rowh = st;
}

static void row_end(mig *m, const table *t, crypto_generichash_state *st) {
  m->rowh = NULL;
  uint8_t h[32];
  crypto_generichash_final(st, h, sizeof h);
  digest_add(m->digest[t - TABLES], h);
}

static int plain_row(mig *m, const table *t, sqlite3_stmt *s) {
  size_t n = strlen(t->types);
  crypto_generichash_state st;
  row_begin(m, &st);
  int rc = out_tuple(m, (unsigned)n);
  for (size_t c = 0; !rc && c < n; c++) rc = out_column(m, t, s, (int)c, t->types[c]);
  row_end(m, t, &st);
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
    rc = mig_sq_failed(m, sr, "select");
  while (!rc && (sr = sqlite3_step(s)) == SQLITE_ROW) {
    int64_t level = sqlite3_column_int64(s, 0), idx = sqlite3_column_int64(s, 1);
    if (sqlite3_column_type(s, 0) != SQLITE_INTEGER || sqlite3_column_type(s, 1) != SQLITE_INTEGER ||
        sqlite3_column_type(s, 2) != SQLITE_BLOB || sqlite3_column_bytes(s, 2) != 32 || level < 0 ||
        level > 63) {
      rc = mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "server.db: nodes row %" PRIu64 " is malformed",
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
      rc = mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "server.db: tree node (%u, %" PRIu64 ") is missing", a->level, a->next);
      break;
    }
    if (a->n == 256 && (rc = tile_out(m, a))) break;
    memcpy(a->h + a->n * 32, sqlite3_column_blob(s, 2), 32);
    a->n++;
    a->next++;
    m->src_rows++;
  }
  if (!rc && sr != SQLITE_DONE) rc = mig_sq_failed(m, sr, "select");
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
    return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "server.db: meta row %" PRIu64 " is malformed",
                m->src_rows);
  if (strcmp(key, "sth") == 0) {
    size_t n = (size_t)sqlite3_column_bytes(s, 1);
    if (n > sizeof m->sth ||
        mlproto_sth_decode(&m->head, sqlite3_column_blob(s, 1), n) != MLPROTO_OK)
      return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH, "server.db: the stored tree head is malformed");
    memcpy(m->sth, sqlite3_column_blob(s, 1), n);
    m->sth_len = n;
    return MLPROTO_OK;
  }
  if (strcmp(key, "schema_version") == 0)
    return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "server.db: meta holds 'schema_version', which is PostgreSQL's own key");
  m->meta_rows++;
  crypto_generichash_state st;
  row_begin(m, &st); /* verified against the read-back, value for value */
  int rc = out_tuple(m, 2);
  if (!rc) rc = out_field(m, key, strlen(key), 0);
  /* the value as bytes, whichever of blob or text SQLite keeps it as */
  if (!rc) rc = out_field(m, sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1), 0);
  row_end(m, t, &st);
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
    rc = mig_pg_failed(m, r, "list tables");
    PQclear(r);
    return rc;
  }
  int n = PQntuples(r);
  for (int i = 0; i < n && !rc; i++) {
    const char *name = PQgetvalue(r, i, 0);
    int known = 0;
    for (size_t k = 0; k < N_PG_TABLES; k++) known |= strcmp(PG_TABLES[k], name) == 0;
    if (!known)
      rc = mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "the PostgreSQL schema has a table \"%.64s\" that migrate does not fill", name);
  }
  PQclear(r);
  if (rc) return rc;
  if (n != (int)N_PG_TABLES)
    return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
                "the PostgreSQL schema lacks tables of layout " PG_LAYOUT);
  if ((rc = mig_pg_run(m, "SELECT convert_from(value, 'UTF8') FROM meta WHERE key = 'schema_version'",
                   PGRES_TUPLES_OK, "layout version", &r)))
    return rc;
  int ok = PQntuples(r) == 1 && PQgetlength(r, 0, 0) == (int)strlen(PG_LAYOUT) &&
           memcmp(PQgetvalue(r, 0, 0), PG_LAYOUT, strlen(PG_LAYOUT)) == 0;
  PQclear(r);
  if (!ok)
    return mig_fail(m, MLPROTO_ERR_MIGRATE_MISMATCH,
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
    if ((rc = mig_pg_u64(m, sql, "emptiness check", &any))) return rc;
    if (any)
      return mig_fail(m, MLPROTO_ERR_STORE_NOT_EMPTY,
                  "the PostgreSQL store already holds data (table %s): migrate only into a new, "
                  "empty store", t);
  }
  return MLPROTO_OK;
}

/* --------------------------------------------------------- verification --- */

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
    if (sr != SQLITE_OK) return mig_sq_failed(m, sr, "log size");
  }
  for (size_t i = 0; i < N_TABLES; i++) {
    const table *t = &TABLES[i];
    double t0 = mig_now_s();
    m->src_rows = 0;
    if (!t->pg) {
      uint64_t n;
      if ((rc = mig_sq_count(m, t->name, &n))) return rc;
      mig_progress("%-16s %10" PRIu64 " rows not copied (derived: PostgreSQL's index log_by_leaf)",
               t->name, n);
      continue;
    }
    rc = t->copy ? t->copy(m, t) : copy_plain(m, t);
    if (rc) {
      if (!m->why[0]) mig_fail(m, rc, "copying %s", t->name);
      return rc;
    }
    m->rows_total += m->src_rows;
    double dt = mig_now_s() - t0;
    if (t->copy == copy_nodes)
      mig_progress("%-16s %10" PRIu64 " rows -> %" PRIu64 " tiles (%.1f s)", t->name, m->src_rows,
               m->tiles, dt);
    else if (t->copy == copy_meta)
      mig_progress("%-16s %10" PRIu64 " rows (%s) (%.1f s)", t->name, m->src_rows,
               m->sth_len ? "the tree head -> checkpoints" : "no tree head", dt);
    else if (t == table_find("sessions") && m->challenges)
      mig_progress("%-16s %10" PRIu64 " rows (%" PRIu64 " from before layout 7 given a random "
               "challenge) (%.1f s)", t->name, m->src_rows, m->challenges, dt);
    else
      mig_progress("%-16s %10" PRIu64 " rows (%.1f s)", t->name, m->src_rows, dt);
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
  rc = PQresultStatus(r) == PGRES_COMMAND_OK ? MLPROTO_OK : mig_pg_failed(m, r, "UPDATE log_head");
  PQclear(r);
  if (!rc)
    rc = mig_pg_run(m,
                "SELECT setval(pg_get_serial_sequence('forks', 'id'), coalesce(max(id), 0) + 1, false)"
                " FROM forks",
                PGRES_TUPLES_OK, "forks' identity", NULL);
  /* the planner's statistics, which a bulk load leaves empty */
  if (!rc) {
    double t0 = mig_now_s();
    rc = mig_pg_run(m, "ANALYZE", PGRES_COMMAND_OK, "ANALYZE", NULL);
    if (!rc) mig_progress("ANALYZE (%.1f s)", mig_now_s() - t0);
  }
  return rc;
}

/* The marker (store.h MLS_META_MIGRATED) in server.db: from the moment it
 * is committed, mls_store_open refuses server.db (STORE_MIGRATED), so no
 * server of this DIR serves the old copy of a log that continues
 * elsewhere. It names the migration's id, which PostgreSQL's copy holds
 * too (meta "migrated_from"). */
static int mark_source(mig *m, const char *id) {
  char v[200];
  int n = snprintf(v, sizeof v, "migrated at %" PRIu64 " to postgresql, log size %" PRIu64
                   ", migration %s", adm_now_ms(), m->log_size, id);
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(m->db, "INSERT INTO meta(key, value) VALUES (?1, ?2)", -1, &s, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(s, 1, MLS_META_MIGRATED, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, v, n, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  }
  sqlite3_finalize(s);
  if (rc == SQLITE_OK) rc = sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL);
  return rc == SQLITE_OK ? MLPROTO_OK : mig_sq_failed(m, rc, "mark server.db as migrated");
}

/* The copy did not commit: server.db serves again. (The exclusive lock is
 * still held: locking_mode=EXCLUSIVE keeps it past the marker's commit.) */
static int unmark_source(mig *m) {
  int rc = sqlite3_exec(m->db,
                        "BEGIN IMMEDIATE; DELETE FROM meta WHERE key = '" MLS_META_MIGRATED "'; COMMIT",
                        NULL, NULL, NULL);
  if (rc == SQLITE_OK) return MLPROTO_OK;
  sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* After a COMMIT whose answer was lost: on a new connection, once the
 * log_head lock is free again (the old transaction has ended, whichever
 * way), whether PostgreSQL holds this migration's id. 1: committed, 0: not,
 * -1: cannot tell. */
static int committed_after_all(mig *m, const char *to, const char *id) {
  PQfinish(m->pg);
  m->pg = NULL;
  if (pg_connect(m, mls_store_uri_conninfo(to))) return -1;
  int out = -1;
  PGresult *r = PQexec(m->pg, "BEGIN");
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (ok) {
    r = PQexec(m->pg, "SELECT size FROM log_head FOR UPDATE"); /* waits for the old one */
    ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
  }
  if (ok) {
    const char *vals[1] = {id};
    r = PQexecParams(m->pg,
                     "SELECT count(*) FROM meta WHERE key = 'migrated_from'"
                     " AND position(convert_to($1, 'UTF8') in value) > 0",
                     1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
      out = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
    PQclear(r);
  }
  PQclear(PQexec(m->pg, "ROLLBACK"));
  return out;
}

/* The end of a verified copy, in the order that never leaves two live
 * copies: PostgreSQL's copy gets the migration's id; server.db's marker
 * (with the id) is committed; then PostgreSQL COMMITs. A COMMIT that
 * failed leaves server.db unmarked again; one whose answer was lost is
 * looked up (committed_after_all); one that cannot be told keeps the
 * marker, and says what to check. */
static int finish(mig *m, const char *to) {
  uint8_t raw[16];
  char id[33];
  randombytes_buf(raw, sizeof raw);
  mlproto_hex_encode(id, raw, sizeof raw);
  char prov[160];
  snprintf(prov, sizeof prov, "migration %s from SQLite, log size %" PRIu64, id, m->log_size);
  const char *vals[1] = {prov};
  PGresult *r = PQexecParams(m->pg,
                             "INSERT INTO meta(key, value) VALUES ('migrated_from', convert_to($1, 'UTF8'))",
                             1, NULL, vals, NULL, NULL, 0);
  int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? MLPROTO_OK : mig_pg_failed(m, r, "INSERT meta");
  PQclear(r);
  if (!rc) rc = mark_source(m, id);
  if (!rc) mig_progress("server.db marked as migrated (migration %s); committing PostgreSQL", id);
  if (rc) {
    PQclear(PQexec(m->pg, "ROLLBACK"));
    return rc;
  }
  r = PQexec(m->pg, "COMMIT");
  ExecStatusType st = PQresultStatus(r);
  int answered = r && PQstatus(m->pg) == CONNECTION_OK &&
                 (st == PGRES_COMMAND_OK || st == PGRES_FATAL_ERROR || st == PGRES_NONFATAL_ERROR);
  /* a COMMIT of a failed transaction answers ROLLBACK */
  int committed = st == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
  if (!committed && answered) rc = mig_pg_failed(m, r, "COMMIT");
  PQclear(r);
  if (committed) return MLPROTO_OK;
  if (!answered) {
    int k = committed_after_all(m, to, id);
    if (k == 1) {
      mig_progress("the COMMIT's answer was lost; PostgreSQL holds migration %s: committed", id);
      return MLPROTO_OK;
    }
    if (k < 0) {
      m->outcome_unknown = 1;
      m->why[0] = '\0'; /* this, not the reconnection's failure, is what to read */
      return mig_fail(m, MLPROTO_ERR_STORAGE,
                      "the COMMIT's answer was lost and PostgreSQL cannot be asked: server.db stays "
                      "marked as migrated. If PostgreSQL's meta 'migrated_from' names migration %s, "
                      "the copy committed (serve it with --store); if not, remove server.db's marker "
                      "(docs/operator.md, Migrating)", id);
    }
    rc = mig_fail(m, MLPROTO_ERR_STORAGE, "the connection was lost at COMMIT, which did not commit");
  }
  int x = unmark_source(m);
  if (x != SQLITE_OK) {
    m->outcome_unknown = 1;
    m->why[0] = '\0';
    return mig_fail(m, MLPROTO_ERR_STORAGE,
                    "nothing was committed to PostgreSQL, but server.db's marker could not be "
                    "removed (SQLite %s): remove it (docs/operator.md, Migrating)", sqlite3_errstr(x));
  }
  return rc;
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
    return mig_fail(m, rc, "cannot open the PostgreSQL store (nothing was copied)");
  mls_store_close(st);
  if ((rc = pg_connect(m, mls_store_uri_conninfo(to)))) return rc;
  if ((rc = mig_pg_run(m, "BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE", PGRES_COMMAND_OK, "BEGIN",
                   NULL)))
    return rc;
  /* every writer of the target queues behind this lock until COMMIT */
  rc = mig_pg_run(m, "SELECT size FROM log_head FOR UPDATE", PGRES_TUPLES_OK, "lock log_head", NULL);
  if (!rc) rc = check_target(m);
  if (!rc) {
    mig_progress("server.db held exclusively; the PostgreSQL store is empty, copying");
    rc = copy_all(m);
  }
  if (!rc) rc = mig_verify(m);
  if (!rc) return finish(m, to);
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
  m.t0 = mig_now_s();
  m.buf = malloc(BUF_CAP);
  rc = m.buf ? migrate(&m, db_path, to) : MLPROTO_ERR_OUT_OF_MEMORY;
  double dt = mig_now_s() - m.t0;
  PQfinish(m.pg);
  sqlite_release(&m);
  if (m.buf) sodium_memzero(m.buf, BUF_CAP); /* it held meta's secrets on their way */
  free(m.buf);
  if (rc) {
    char what[640];
    snprintf(what, sizeof what, "migrate: %s%s", m.why[0] ? m.why : "failed",
             m.outcome_unknown ? "" : "; the PostgreSQL store was left as it was");
    return adm_failure(what, rc);
  }
  printf("migrated %" PRIu64 " rows of %s (log size %" PRIu64 ", checkpoint size %" PRIu64
         ") to PostgreSQL in %.1f s (%.0f log entries/s); serve it with --store, never "
         "%s again (it is marked: servers refuse it, STORE_MIGRATED)\n", m.rows_total, db_path,
         m.log_size, m.sth_len ? m.head.size : 0, dt, dt > 0 ? (double)m.log_size / dt : 0.0,
         db_path);
  return 0;
}
