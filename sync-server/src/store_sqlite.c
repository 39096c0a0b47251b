/*
 * store_sqlite.c — the embedded SQLite backend of store.h.
 *
 * One database file in WAL mode with synchronous=FULL: a commit returns only
 * once it is on stable storage. Connections live in a small pool; a
 * transaction borrows one. Writers are serialised in-process by a mutex
 * (so threads do not spin in SQLite's busy handler against each other) and
 * across processes (the admin command) by BEGIN IMMEDIATE + busy_timeout.
 * Statements are prepared once per connection and reused.
 */
#include "store.h"
#include "log_fmt.h"

#include "mlproto/errors.h"

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POOL_MAX 16
/* Version 1: the first layout. Version 2: enroll_codes.used_by (idempotent
 * enrolment), challenges.peer (outstanding challenges per address).
 * Version 3: leaf_index replaces the index nodes_leaf(hash).
 * Version 4: enroll_codes.id (what admins list and revoke a code by) and
 * enroll_codes.revoked_ms. */
#define SCHEMA_VERSION 4
/* leaf_index epoch = leaf index >> LEAF_EPOCH_SHIFT (4,096 leaves). The hash
 * lookup probes every epoch once: ceil(size / 4096) index seeks. */
#define LEAF_EPOCH_SHIFT "12"
/* Expired challenges removed per challenge_add: bounded work per request. */
#define CHALLENGE_PURGE_BATCH 64
/* WAL frames (pages) after which the checkpointer thread copies the WAL
 * into the database: SQLite's own default threshold, moved off the writer. */
#define CHECKPOINT_FRAMES 1000
/* Leaf hash -> index, for proofs by hash (see SCHEMA). */
#define LEAF_INDEX_TABLE                                                \
  "CREATE TABLE IF NOT EXISTS leaf_index("                              \
  " epoch INTEGER NOT NULL, prefix BLOB NOT NULL, idx INTEGER NOT NULL," \
  " PRIMARY KEY(epoch, prefix, idx)) WITHOUT ROWID;"

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS mentors("
    " id BLOB PRIMARY KEY CHECK(length(id)=16), name TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS enroll_codes("
    " code_hash BLOB PRIMARY KEY CHECK(length(code_hash)=32),"
    " mentor_id BLOB NOT NULL REFERENCES mentors(id), created_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL, used_ms INTEGER, used_by BLOB,"
    " id BLOB CHECK(length(id)=8), revoked_ms INTEGER);"
    "CREATE UNIQUE INDEX IF NOT EXISTS enroll_codes_by_id ON enroll_codes(id);"
    "CREATE TABLE IF NOT EXISTS devices("
    " pub BLOB PRIMARY KEY CHECK(length(pub)=32), id BLOB NOT NULL UNIQUE, box_pub BLOB NOT NULL,"
    " mentor_id BLOB NOT NULL REFERENCES mentors(id), label TEXT NOT NULL,"
    " enrolled_ms INTEGER NOT NULL, revoked_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS challenges("
    " challenge BLOB PRIMARY KEY, expires_ms INTEGER NOT NULL, peer BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS challenges_by_peer ON challenges(peer, expires_ms);"
    "CREATE INDEX IF NOT EXISTS challenges_by_expiry ON challenges(expires_ms);"
    "CREATE TABLE IF NOT EXISTS sessions("
    " token_hash BLOB PRIMARY KEY, device BLOB NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS api_tokens("
    " token_hash BLOB PRIMARY KEY, role TEXT NOT NULL, jobcentre TEXT,"
    " created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS cases("
    " case_id BLOB PRIMARY KEY, mentor_id BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS log("
    " idx INTEGER PRIMARY KEY, type INTEGER NOT NULL, received_ms INTEGER NOT NULL,"
    " record_hash BLOB NOT NULL, author BLOB NOT NULL, seq INTEGER NOT NULL,"
    " record_id BLOB NOT NULL, case_id BLOB NOT NULL, kind INTEGER NOT NULL,"
    " mentor_id BLOB, envelope BLOB NOT NULL, UNIQUE(author, seq));"
    "CREATE INDEX IF NOT EXISTS log_by_mentor ON log(mentor_id, idx);"
    "CREATE TABLE IF NOT EXISTS nodes("
    " level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
    " PRIMARY KEY(level, idx)) WITHOUT ROWID;"
    /* Leaf hash -> index, for proofs by hash. A plain index on the hash has
     * random keys: each new leaf dirtied its own page of it, so every
     * commit wrote about one 4 KiB page per record to the WAL and again at
     * the checkpoint. Keyed by (epoch = idx >> 12, the first 8 bytes of the hash),
     * new leaves land in the current epoch's ~20 pages only; a lookup probes
     * each epoch once and confirms the whole hash in nodes. */
    LEAF_INDEX_TABLE
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS forks("
    " id INTEGER PRIMARY KEY, author BLOB NOT NULL, seq INTEGER NOT NULL,"
    " logged BLOB NOT NULL, pushed BLOB NOT NULL, device BLOB NOT NULL,"
    " received_ms INTEGER NOT NULL);";

/* MIGRATIONS[v] takes a store of version v to v + 1, inside the opening
 * write transaction; the schema above is applied after the last one (its
 * IF NOT EXISTS statements then only add what is new). */
static const char *const MIGRATIONS[SCHEMA_VERSION] = {
  [0] = NULL, /* 0: a new, empty database: the schema creates everything */
  [1] = "ALTER TABLE enroll_codes ADD COLUMN used_by BLOB;"
        /* outstanding challenges are short-lived: recreated, not copied */
        "DROP TABLE IF EXISTS challenges;",
  [2] = LEAF_INDEX_TABLE
        "INSERT INTO leaf_index SELECT idx >> " LEAF_EPOCH_SHIFT ", substr(hash, 1, 8), idx"
        " FROM nodes WHERE level = 0;"
        "DROP INDEX IF EXISTS nodes_leaf;",
  /* codes issued before ids existed get a random one (SQLite evaluates
   * randomblob() per row); the schema then adds the unique index */
  [3] = "ALTER TABLE enroll_codes ADD COLUMN id BLOB CHECK(length(id)=8);"
        "ALTER TABLE enroll_codes ADD COLUMN revoked_ms INTEGER;"
        "UPDATE enroll_codes SET id = randomblob(8);",
};

enum stmt_id {
  S_BEGIN_READ, S_BEGIN_WRITE, S_COMMIT, S_ROLLBACK,
  S_MENTOR_ADD, S_MENTOR_GET, S_MENTOR_LIST,
  S_CODE_ADD, S_CODE_GET, S_CODE_USE,
  S_DEVICE_ADD, S_DEVICE_GET, S_DEVICE_GET_ID, S_DEVICE_LIST, S_DEVICE_REVOKE,
  S_CHAL_ADD, S_CHAL_DEL, S_CHAL_PURGE, S_SESS_PURGE, S_CHAL_PURGE_SOME, S_CHAL_COUNT_PEER,
  S_CODE_USED_BY, S_CODE_LIST, S_CODE_GET_ID, S_CODE_REVOKE,
  S_SESS_ADD, S_SESS_GET,
  S_TOKEN_ADD,
  S_CASE_GET, S_CASE_PUT,
  S_AUTHOR_HEAD, S_RECORD_AT, S_ENVELOPE_AT,
  S_LOG_ADD, S_LOG_SIZE, S_LOG_LIST_ALL, S_LOG_LIST_MENTOR, S_LEAF_FIND, S_LEAF_INDEX_PUT,
  S_NODE_PUT, S_NODE_GET,
  S_STH_PUT, S_STH_GET,
  S_FORK_ADD, S_FORK_COUNT,
  S__COUNT
};

static const char *const SQL[S__COUNT] = {
  [S_BEGIN_READ] = "BEGIN",
  [S_BEGIN_WRITE] = "BEGIN IMMEDIATE",
  [S_COMMIT] = "COMMIT",
  [S_ROLLBACK] = "ROLLBACK",
  [S_MENTOR_ADD] = "INSERT INTO mentors(id, name, created_ms) VALUES(?1, ?2, ?3)",
  [S_MENTOR_GET] = "SELECT id, name, created_ms FROM mentors WHERE id = ?1",
  [S_MENTOR_LIST] = "SELECT id, name, created_ms FROM mentors ORDER BY created_ms, id",
  [S_CODE_ADD] = "INSERT INTO enroll_codes(code_hash, mentor_id, created_ms, expires_ms, id)"
                 " VALUES(?1, ?2, ?3, ?4, ?5)",
  [S_CODE_GET] = "SELECT mentor_id FROM enroll_codes WHERE code_hash = ?1"
                 " AND used_ms IS NULL AND revoked_ms IS NULL AND expires_ms > ?2",
  /* never the hash: it stays in the store */
  [S_CODE_LIST] = "SELECT id, mentor_id, created_ms, expires_ms, used_ms, used_by, revoked_ms"
                  " FROM enroll_codes ORDER BY created_ms, id",
  [S_CODE_GET_ID] = "SELECT id, mentor_id, created_ms, expires_ms, used_ms, used_by, revoked_ms"
                    " FROM enroll_codes WHERE id = ?1",
  [S_CODE_REVOKE] = "UPDATE enroll_codes SET revoked_ms = ?2 WHERE id = ?1"
                    " AND used_ms IS NULL AND revoked_ms IS NULL",
  [S_CODE_USE] = "UPDATE enroll_codes SET used_ms = ?2, used_by = ?3 WHERE code_hash = ?1",
  [S_CODE_USED_BY] = "SELECT used_by, mentor_id FROM enroll_codes WHERE code_hash = ?1"
                     " AND used_ms IS NOT NULL AND used_by IS NOT NULL",
  [S_DEVICE_ADD] = "INSERT INTO devices(pub, box_pub, mentor_id, label, enrolled_ms, revoked_ms, id)"
                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
  [S_DEVICE_GET] = "SELECT pub, box_pub, mentor_id, label, enrolled_ms, revoked_ms, id"
                   " FROM devices WHERE pub = ?1",
  [S_DEVICE_GET_ID] = "SELECT pub, box_pub, mentor_id, label, enrolled_ms, revoked_ms, id"
                      " FROM devices WHERE id = ?1",
  [S_DEVICE_LIST] = "SELECT pub, box_pub, mentor_id, label, enrolled_ms, revoked_ms, id"
                    " FROM devices ORDER BY enrolled_ms, pub",
  [S_DEVICE_REVOKE] = "UPDATE devices SET revoked_ms = ?2 WHERE pub = ?1 AND revoked_ms = 0",
  [S_CHAL_ADD] = "INSERT INTO challenges(challenge, expires_ms, peer) VALUES(?1, ?2, ?3)",
  [S_CHAL_PURGE_SOME] = "DELETE FROM challenges WHERE challenge IN (SELECT challenge FROM"
                        " challenges WHERE expires_ms <= ?1 ORDER BY expires_ms LIMIT ?2)",
  [S_CHAL_COUNT_PEER] = "SELECT count(*) FROM challenges WHERE peer = ?1 AND expires_ms > ?2",
  [S_CHAL_DEL] = "DELETE FROM challenges WHERE challenge = ?1 RETURNING expires_ms",
  [S_CHAL_PURGE] = "DELETE FROM challenges WHERE expires_ms <= ?1",
  [S_SESS_PURGE] = "DELETE FROM sessions WHERE expires_ms <= ?1",
  [S_SESS_ADD] = "INSERT INTO sessions(token_hash, device, expires_ms) VALUES(?1, ?2, ?3)",
  [S_SESS_GET] = "SELECT device FROM sessions WHERE token_hash = ?1 AND expires_ms > ?2",
  [S_TOKEN_ADD] = "INSERT INTO api_tokens(token_hash, role, jobcentre, created_ms)"
                  " VALUES(?1, ?2, ?3, ?4)",
  [S_CASE_GET] = "SELECT mentor_id FROM cases WHERE case_id = ?1",
  [S_CASE_PUT] = "INSERT INTO cases(case_id, mentor_id) VALUES(?1, ?2)",
  [S_AUTHOR_HEAD] = "SELECT seq, record_hash FROM log WHERE author = ?1 ORDER BY seq DESC LIMIT 1",
  [S_RECORD_AT] = "SELECT idx, record_hash, received_ms FROM log WHERE author = ?1 AND seq = ?2",
  [S_ENVELOPE_AT] = "SELECT envelope FROM log WHERE idx = ?1",
  [S_LOG_ADD] = "INSERT INTO log(idx, type, received_ms, record_hash, author, seq, record_id,"
                " case_id, kind, mentor_id, envelope)"
                " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
  [S_LOG_SIZE] = "SELECT coalesce(max(idx) + 1, 0) FROM log",
  [S_LOG_LIST_ALL] = "SELECT l.idx, l.type, l.received_ms, l.record_hash, l.author, l.seq,"
                     " l.record_id, l.case_id, l.kind, l.mentor_id, l.envelope, n.hash"
                     " FROM log l JOIN nodes n ON n.level = 0 AND n.idx = l.idx"
                     " WHERE l.idx >= ?1 ORDER BY l.idx LIMIT ?2",
  [S_LOG_LIST_MENTOR] = "SELECT l.idx, l.type, l.received_ms, l.record_hash, l.author, l.seq,"
                        " l.record_id, l.case_id, l.kind, l.mentor_id, l.envelope, n.hash"
                        " FROM log l JOIN nodes n ON n.level = 0 AND n.idx = l.idx"
                        " WHERE l.mentor_id = ?3 AND l.idx >= ?1 ORDER BY l.idx LIMIT ?2",
  /* one seek per epoch, from epoch 0 to the last leaf's */
  [S_LEAF_FIND] = "WITH RECURSIVE e(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM e"
                  "  WHERE x < (SELECT coalesce(max(idx), 0) >> " LEAF_EPOCH_SHIFT " FROM nodes WHERE level = 0))"
                  " SELECT min(l.idx) FROM e CROSS JOIN leaf_index l"
                  " CROSS JOIN nodes n ON n.level = 0 AND n.idx = l.idx"
                  " WHERE l.epoch = e.x AND l.prefix = substr(?1, 1, 8) AND n.hash = ?1",
  [S_LEAF_INDEX_PUT] = "INSERT INTO leaf_index(epoch, prefix, idx)"
                       " VALUES(?1 >> " LEAF_EPOCH_SHIFT ", substr(?2, 1, 8), ?1)",
  [S_NODE_PUT] = "INSERT INTO nodes(level, idx, hash) VALUES(?1, ?2, ?3)",
  [S_NODE_GET] = "SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2",
  [S_STH_PUT] = "INSERT OR REPLACE INTO meta(key, value) VALUES('sth', ?1)",
  [S_STH_GET] = "SELECT value FROM meta WHERE key = 'sth'",
  [S_FORK_ADD] = "INSERT INTO forks(author, seq, logged, pushed, device, received_ms)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
  [S_FORK_COUNT] = "SELECT count(*) FROM forks",
};

typedef struct conn {
  sqlite3 *db;
  sqlite3_stmt *stmt[S__COUNT];
  struct conn *next;
} conn;

typedef struct sq_store {
  mls_store base;
  char *path;
  unsigned busy_ms;
  pthread_mutex_t lock;       /* guards the pool */
  pthread_cond_t freed;
  pthread_mutex_t writer;     /* one writer transaction at a time in this process */
  conn *free_list;
  int n_conns;
  /* Checkpoints run on their own thread and connection (PASSIVE: they never
   * block a writer), so no commit pays for copying the WAL into the
   * database and syncing it: with SQLite's automatic checkpoints, one commit
   * in ~15 did that while holding the writer lock (1-2 ms per push batch on
   * average). The WAL hook of every pool connection wakes the thread. */
  pthread_mutex_t ckpt_mu;
  pthread_cond_t ckpt_cv;
  pthread_t ckpt_thread;
  sqlite3 *ckpt_db;
  int ckpt_running, ckpt_pending, ckpt_stop;
} sq_store;

typedef struct sq_txn {
  mls_txn base;
  sq_store *st;
  conn *c;
  int write;
} sq_txn;

static const mls_store_ops SQ_OPS;

static int map_rc(int rc) {
  switch (rc & 0xff) {
  case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return MLPROTO_OK;
  case SQLITE_BUSY: case SQLITE_LOCKED: return MLPROTO_ERR_BUSY;
  case SQLITE_FULL: return MLPROTO_ERR_DISK_FULL;
  case SQLITE_CONSTRAINT: return MLPROTO_ERR_ALREADY_EXISTS;
  case SQLITE_NOMEM: return MLPROTO_ERR_OUT_OF_MEMORY;
  case SQLITE_IOERR: case SQLITE_CORRUPT: case SQLITE_CANTOPEN: return MLPROTO_ERR_STORAGE;
  default: return MLPROTO_ERR_STORAGE;
  }
}

static void conn_free(conn *c) {
  if (!c) return;
  for (int i = 0; i < S__COUNT; i++) sqlite3_finalize(c->stmt[i]);
  sqlite3_close_v2(c->db);
  free(c);
}

static int conn_exec(conn *c, const char *sql) {
  return map_rc(sqlite3_exec(c->db, sql, NULL, NULL, NULL));
}

static int schema_version(conn *c, int *out) {
  sqlite3_stmt *s = NULL;
  int rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &s, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    *out = sqlite3_column_int(s, 0);
    rc = SQLITE_OK;
  }
  sqlite3_finalize(s);
  return map_rc(rc);
}

/* After a commit: frames = pages now in the WAL. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames) {
  (void)db;
  (void)name;
  sq_store *st = arg;
  if (frames >= CHECKPOINT_FRAMES) {
    pthread_mutex_lock(&st->ckpt_mu);
    st->ckpt_pending = 1;
    pthread_cond_signal(&st->ckpt_cv);
    pthread_mutex_unlock(&st->ckpt_mu);
  }
  return SQLITE_OK;
}

static void *ckpt_main(void *arg) {
  sq_store *st = arg;
  pthread_mutex_lock(&st->ckpt_mu);
  for (;;) {
    while (!st->ckpt_pending && !st->ckpt_stop) pthread_cond_wait(&st->ckpt_cv, &st->ckpt_mu);
    if (st->ckpt_stop) break;
    st->ckpt_pending = 0;
    pthread_mutex_unlock(&st->ckpt_mu);
    int log_frames = 0, copied = 0;
    int rc = sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                       &copied);
    if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
      mls_logf("error", "checkpoint_failed", "sqlite_rc=%d", rc);
    pthread_mutex_lock(&st->ckpt_mu);
  }
  pthread_mutex_unlock(&st->ckpt_mu);
  return NULL;
}

/* Starts the checkpointer; without it (no thread or connection) the pool
 * connections keep SQLite's automatic checkpoints. */
static void ckpt_start(sq_store *st) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(st->path, &st->ckpt_db, flags, NULL) != SQLITE_OK ||
      sqlite3_exec(st->ckpt_db, "PRAGMA synchronous=FULL; PRAGMA trusted_schema=OFF;", NULL, NULL,
                   NULL) != SQLITE_OK) {
    sqlite3_close_v2(st->ckpt_db);
    st->ckpt_db = NULL;
    return;
  }
  sqlite3_busy_timeout(st->ckpt_db, (int)st->busy_ms);
  if (pthread_create(&st->ckpt_thread, NULL, ckpt_main, st) != 0) {
    sqlite3_close_v2(st->ckpt_db);
    st->ckpt_db = NULL;
    return;
  }
  st->ckpt_running = 1;
}

static void ckpt_stop(sq_store *st) {
  if (!st->ckpt_running) return;
  pthread_mutex_lock(&st->ckpt_mu);
  st->ckpt_stop = 1;
  pthread_cond_signal(&st->ckpt_cv);
  pthread_mutex_unlock(&st->ckpt_mu);
  pthread_join(st->ckpt_thread, NULL);
  sqlite3_close_v2(st->ckpt_db);
  st->ckpt_db = NULL;
  st->ckpt_running = 0;
}

/* Pool connections leave checkpoints to the checkpointer when it runs. */
static void conn_hooks(sq_store *st, conn *c) {
  if (!st->ckpt_running) return;
  sqlite3_wal_autocheckpoint(c->db, 0);
  sqlite3_wal_hook(c->db, wal_hook, st);
}

static int conn_open(sq_store *st, int create, conn **out) {
  *out = NULL;
  conn *c = calloc(1, sizeof *c);
  if (!c) return MLPROTO_ERR_OUT_OF_MEMORY;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(st->path, &c->db, flags, NULL);
  if (rc != SQLITE_OK) {
    int r = (rc == SQLITE_CANTOPEN && !create) ? MLPROTO_ERR_NOT_FOUND : map_rc(rc);
    conn_free(c);
    return r;
  }
  sqlite3_extended_result_codes(c->db, 1);
  sqlite3_busy_timeout(c->db, (int)st->busy_ms);
  /* WAL + FULL: a commit is durable when it returns (DESIGN §8). */
  int r = conn_exec(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                       " PRAGMA foreign_keys=ON; PRAGMA trusted_schema=OFF;");
  if (r) { conn_free(c); return r; }
  conn_hooks(st, c);
  *out = c;
  return MLPROTO_OK;
}

static sqlite3_stmt *stmt(conn *c, enum stmt_id id) {
  if (!c->stmt[id]) {
    if (sqlite3_prepare_v3(c->db, SQL[id], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[id], NULL) !=
        SQLITE_OK) {
      mls_logf("error", "sqlite_prepare_failed", "stmt=%d sqlite_rc=%d", (int)id,
               sqlite3_errcode(c->db));
      return NULL;
    }
  }
  sqlite3_reset(c->stmt[id]);
  sqlite3_clear_bindings(c->stmt[id]);
  return c->stmt[id];
}

/* Step a statement that returns no row (or whose rows we ignore). */
static int step_done(sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? MLPROTO_OK : map_rc(rc);
}

static void pool_put(sq_store *st, conn *c) {
  pthread_mutex_lock(&st->lock);
  c->next = st->free_list;
  st->free_list = c;
  pthread_cond_signal(&st->freed);
  pthread_mutex_unlock(&st->lock);
}

static int pool_get(sq_store *st, conn **out) {
  pthread_mutex_lock(&st->lock);
  for (;;) {
    if (st->free_list) {
      *out = st->free_list;
      st->free_list = (*out)->next;
      pthread_mutex_unlock(&st->lock);
      return MLPROTO_OK;
    }
    if (st->n_conns < POOL_MAX) break;
    pthread_cond_wait(&st->freed, &st->lock);
  }
  st->n_conns++;
  pthread_mutex_unlock(&st->lock);
  int rc = conn_open(st, 0, out);
  if (rc) {
    pthread_mutex_lock(&st->lock);
    st->n_conns--;
    pthread_cond_signal(&st->freed);
    pthread_mutex_unlock(&st->lock);
  }
  return rc;
}

static void sq_close(mls_store *base) {
  sq_store *st = (sq_store *)base;
  ckpt_stop(st);
  while (st->free_list) {
    conn *c = st->free_list;
    st->free_list = c->next;
    conn_free(c);
  }
  pthread_mutex_destroy(&st->lock);
  pthread_cond_destroy(&st->freed);
  pthread_mutex_destroy(&st->writer);
  pthread_mutex_destroy(&st->ckpt_mu);
  pthread_cond_destroy(&st->ckpt_cv);
  free(st->path);
  free(st);
}

int mls_store_open_sqlite(mls_store **out, const char *path, int create, unsigned busy_ms) {
  *out = NULL;
  sq_store *st = calloc(1, sizeof *st);
  if (!st) return MLPROTO_ERR_OUT_OF_MEMORY;
  st->base.ops = &SQ_OPS;
  st->busy_ms = busy_ms;
  st->path = strdup(path);
  pthread_mutex_init(&st->lock, NULL);
  pthread_cond_init(&st->freed, NULL);
  pthread_mutex_init(&st->writer, NULL);
  pthread_mutex_init(&st->ckpt_mu, NULL);
  pthread_cond_init(&st->ckpt_cv, NULL);
  if (!st->path) { sq_close(&st->base); return MLPROTO_ERR_OUT_OF_MEMORY; }
  if (create) {
    /* Mentor names and token hashes: owner-only. SQLite gives the -wal and
     * -shm files the database's mode. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) close(fd);
  }
  conn *c;
  int rc = conn_open(st, create, &c);
  if (rc) { sq_close(&st->base); return rc; }
  st->n_conns = 1;
  /* Schema creation races with a concurrently starting admin: IMMEDIATE
   * makes one of them wait; IF NOT EXISTS makes the second a no-op. */
  rc = conn_exec(c, "BEGIN IMMEDIATE");
  int version = 0;
  if (!rc) rc = schema_version(c, &version);
  if (!rc && version > SCHEMA_VERSION) {
    /* Written by a newer server: its layout may mean something we would
     * misread or damage. Refuse rather than guess. */
    mls_logf("error", "store_too_new", "version=%d supported=%d", version, SCHEMA_VERSION);
    rc = MLPROTO_ERR_STORE_TOO_NEW;
  }
  for (int v = version; !rc && v > 0 && v < SCHEMA_VERSION; v++) {
    if (MIGRATIONS[v]) rc = conn_exec(c, MIGRATIONS[v]);
    if (!rc) mls_logf("info", "store_migrated", "from=%d to=%d", v, v + 1);
  }
  if (!rc) rc = conn_exec(c, SCHEMA);
  if (!rc && version != SCHEMA_VERSION) {
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", SCHEMA_VERSION);
    rc = conn_exec(c, sql);
  }
  if (!rc) rc = conn_exec(c, "COMMIT");
  else sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
  if (rc) {
    if (rc != MLPROTO_ERR_STORE_TOO_NEW)
      mls_logf("error", "schema_failed", "sqlite_rc=%d", sqlite3_errcode(c->db));
    conn_free(c);
    st->n_conns = 0;
    sq_close(&st->base);
    return rc;
  }
  ckpt_start(st);
  conn_hooks(st, c);
  pool_put(st, c);
  *out = &st->base;
  return MLPROTO_OK;
}

static int sq_begin(mls_store *base, int mode, mls_txn **out) {
  sq_store *st = (sq_store *)base;
  *out = NULL;
  sq_txn *tx = calloc(1, sizeof *tx);
  if (!tx) return MLPROTO_ERR_OUT_OF_MEMORY;
  tx->base.ops = &SQ_OPS;
  tx->st = st;
  tx->write = mode == MLS_TXN_WRITE;
  if (tx->write) pthread_mutex_lock(&st->writer);
  int rc = pool_get(st, &tx->c);
  if (!rc) {
    sqlite3_stmt *s = stmt(tx->c, tx->write ? S_BEGIN_WRITE : S_BEGIN_READ);
    rc = s ? step_done(s) : MLPROTO_ERR_STORAGE;
    if (rc) pool_put(st, tx->c);
  }
  if (rc) {
    if (tx->write) pthread_mutex_unlock(&st->writer);
    free(tx);
    return rc;
  }
  *out = &tx->base;
  return MLPROTO_OK;
}

static void txn_release(sq_txn *tx) {
  pool_put(tx->st, tx->c);
  if (tx->write) pthread_mutex_unlock(&tx->st->writer);
  free(tx);
}

static void sq_rollback(mls_txn *base) {
  sq_txn *tx = (sq_txn *)base;
  if (!sqlite3_get_autocommit(tx->c->db)) {
    sqlite3_stmt *s = stmt(tx->c, S_ROLLBACK);
    if (!s || step_done(s)) sqlite3_exec(tx->c->db, "ROLLBACK", NULL, NULL, NULL);
  }
  txn_release(tx);
}

static int sq_commit(mls_txn *base) {
  sq_txn *tx = (sq_txn *)base;
  sqlite3_stmt *s = stmt(tx->c, S_COMMIT);
  int rc = s ? step_done(s) : MLPROTO_ERR_STORAGE;
  if (rc) {
    sq_rollback(base);
    return rc;
  }
  txn_release(tx);
  return MLPROTO_OK;
}

#define CONN(tx) (((sq_txn *)(tx))->c)
#define PREP(var, tx, id)                         \
  sqlite3_stmt *var = stmt(CONN(tx), id);         \
  if (!var) return MLPROTO_ERR_STORAGE

static int blob_eq(sqlite3_stmt *s, int col, uint8_t *out, size_t n) {
  if (sqlite3_column_bytes(s, col) != (int)n) return MLPROTO_ERR_STORAGE;
  const void *p = sqlite3_column_blob(s, col);
  if (!p && n) return MLPROTO_ERR_STORAGE;
  memcpy(out, p, n);
  return MLPROTO_OK;
}

static void text_copy(sqlite3_stmt *s, int col, char *out, size_t cap) {
  const unsigned char *t = sqlite3_column_text(s, col);
  size_t n = t ? (size_t)sqlite3_column_bytes(s, col) : 0;
  if (n >= cap) n = cap - 1;
  if (n) memcpy(out, t, n);
  out[n] = 0;
}

/* Runs a one-row query; NOT_FOUND when there is no row. The row is left
 * for the caller to read; it calls sqlite3_reset via the next stmt(). */
static int step_row(sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return MLPROTO_OK;
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? MLPROTO_ERR_NOT_FOUND : map_rc(rc);
}

/* --- mentors --- */

static int sq_mentor_add(mls_txn *tx, const mls_mentor *m) {
  if (strlen(m->name) > MLS_NAME_MAX) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_MENTOR_ADD);
  sqlite3_bind_blob(s, 1, m->id, 16, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, m->name, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)m->created_ms);
  return step_done(s);
}

static int read_mentor(sqlite3_stmt *s, mls_mentor *m) {
  memset(m, 0, sizeof *m);
  int rc = blob_eq(s, 0, m->id, 16);
  text_copy(s, 1, m->name, sizeof m->name);
  m->created_ms = (uint64_t)sqlite3_column_int64(s, 2);
  return rc;
}

static int sq_mentor_get(mls_txn *tx, const uint8_t id[16], mls_mentor *out) {
  PREP(s, tx, S_MENTOR_GET);
  sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
  int rc = step_row(s);
  if (rc) return rc;
  rc = read_mentor(s, out);
  sqlite3_reset(s);
  return rc;
}

static int sq_mentor_list(mls_txn *tx, mls_mentor_fn fn, void *ud) {
  PREP(s, tx, S_MENTOR_LIST);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    mls_mentor m;
    int r = read_mentor(s, &m);
    if (!r) r = fn(ud, &m);
    if (r) { sqlite3_reset(s); return r; }
  }
  sqlite3_reset(s);
  return map_rc(rc);
}

/* --- enrolment codes --- */

static int sq_code_add(mls_txn *tx, const uint8_t h[32], const uint8_t id[MLS_CODE_ID_LEN],
                       const uint8_t mentor[16], uint64_t created, uint64_t expires) {
  PREP(s, tx, S_CODE_ADD);
  sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, mentor, 16, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)created);
  sqlite3_bind_int64(s, 4, (sqlite3_int64)expires);
  sqlite3_bind_blob(s, 5, id, MLS_CODE_ID_LEN, SQLITE_STATIC);
  return step_done(s);
}

static int read_code(sqlite3_stmt *s, mls_enroll_code *c) {
  memset(c, 0, sizeof *c);
  int rc = blob_eq(s, 0, c->id, MLS_CODE_ID_LEN);
  if (!rc) rc = blob_eq(s, 1, c->mentor_id, 16);
  c->created_ms = (uint64_t)sqlite3_column_int64(s, 2);
  c->expires_ms = (uint64_t)sqlite3_column_int64(s, 3);
  if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
    c->used_ms = (uint64_t)sqlite3_column_int64(s, 4);
    if (!c->used_ms) c->used_ms = 1;
    /* used_by is NULL for codes used before version 2 */
    if (!rc && sqlite3_column_type(s, 5) != SQLITE_NULL) rc = blob_eq(s, 5, c->used_by, 32);
  }
  if (sqlite3_column_type(s, 6) != SQLITE_NULL) {
    c->revoked_ms = (uint64_t)sqlite3_column_int64(s, 6);
    if (!c->revoked_ms) c->revoked_ms = 1;
  }
  return rc;
}

static int sq_code_list(mls_txn *tx, mls_code_fn fn, void *ud) {
  PREP(s, tx, S_CODE_LIST);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    mls_enroll_code c;
    int r = read_code(s, &c);
    if (!r) r = fn(ud, &c);
    if (r) { sqlite3_reset(s); return r; }
  }
  sqlite3_reset(s);
  return map_rc(rc);
}

static int sq_code_get(mls_txn *tx, const uint8_t id[MLS_CODE_ID_LEN], mls_enroll_code *out) {
  PREP(s, tx, S_CODE_GET_ID);
  sqlite3_bind_blob(s, 1, id, MLS_CODE_ID_LEN, SQLITE_STATIC);
  int rc = step_row(s);
  if (rc) return rc;
  rc = read_code(s, out);
  sqlite3_reset(s);
  return rc;
}

static int sq_code_revoke(mls_txn *tx, const uint8_t id[MLS_CODE_ID_LEN], uint64_t now) {
  PREP(s, tx, S_CODE_REVOKE);
  sqlite3_bind_blob(s, 1, id, MLS_CODE_ID_LEN, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)(now ? now : 1));
  int rc = step_done(s);
  if (rc) return rc;
  return sqlite3_changes(CONN(tx)->db) == 1 ? MLPROTO_OK : MLPROTO_ERR_NOT_FOUND;
}

static int sq_code_consume(mls_txn *tx, const uint8_t h[32], uint64_t now,
                           const uint8_t device[32], uint8_t mentor[16]) {
  PREP(s, tx, S_CODE_GET);
  sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)now);
  int rc = step_row(s);
  if (rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_ERR_ENROLL_CODE_INVALID;
  if (rc) return rc;
  rc = blob_eq(s, 0, mentor, 16);
  sqlite3_reset(s);
  if (rc) return rc;
  PREP(u, tx, S_CODE_USE);
  sqlite3_bind_blob(u, 1, h, 32, SQLITE_STATIC);
  sqlite3_bind_int64(u, 2, (sqlite3_int64)now);
  sqlite3_bind_blob(u, 3, device, 32, SQLITE_STATIC);
  return step_done(u);
}

static int sq_code_used_by(mls_txn *tx, const uint8_t h[32], uint8_t device[32],
                           uint8_t mentor[16]) {
  PREP(s, tx, S_CODE_USED_BY);
  sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
  int rc = step_row(s);
  if (rc) return rc;
  rc = blob_eq(s, 0, device, 32);
  if (!rc) rc = blob_eq(s, 1, mentor, 16);
  sqlite3_reset(s);
  return rc;
}

/* --- devices --- */

static int sq_device_add(mls_txn *tx, const mls_device *d) {
  if (strlen(d->label) > MLS_LABEL_MAX) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_DEVICE_ADD);
  sqlite3_bind_blob(s, 1, d->pub, 32, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, d->box_pub, 32, SQLITE_STATIC);
  sqlite3_bind_blob(s, 3, d->mentor_id, 16, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, d->label, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 5, (sqlite3_int64)d->enrolled_ms);
  sqlite3_bind_int64(s, 6, (sqlite3_int64)d->revoked_ms);
  sqlite3_bind_blob(s, 7, d->id, 16, SQLITE_STATIC);
  return step_done(s);
}

static int read_device(sqlite3_stmt *s, mls_device *d) {
  memset(d, 0, sizeof *d);
  int rc = blob_eq(s, 0, d->pub, 32);
  if (!rc) rc = blob_eq(s, 1, d->box_pub, 32);
  if (!rc) rc = blob_eq(s, 2, d->mentor_id, 16);
  text_copy(s, 3, d->label, sizeof d->label);
  d->enrolled_ms = (uint64_t)sqlite3_column_int64(s, 4);
  d->revoked_ms = (uint64_t)sqlite3_column_int64(s, 5);
  if (!rc) rc = blob_eq(s, 6, d->id, 16);
  return rc;
}

static int sq_device_get(mls_txn *tx, const uint8_t pub[32], mls_device *out) {
  PREP(s, tx, S_DEVICE_GET);
  sqlite3_bind_blob(s, 1, pub, 32, SQLITE_STATIC);
  int rc = step_row(s);
  if (rc) return rc;
  rc = read_device(s, out);
  sqlite3_reset(s);
  return rc;
}

static int sq_device_get_by_id(mls_txn *tx, const uint8_t id[16], mls_device *out) {
  PREP(s, tx, S_DEVICE_GET_ID);
  sqlite3_bind_blob(s, 1, id, 16, SQLITE_STATIC);
  int rc = step_row(s);
  if (rc) return rc;
  rc = read_device(s, out);
  sqlite3_reset(s);
  return rc;
}

static int sq_device_list(mls_txn *tx, mls_device_fn fn, void *ud) {
  PREP(s, tx, S_DEVICE_LIST);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    mls_device d;
    int r = read_device(s, &d);
    if (!r) r = fn(ud, &d);
    if (r) { sqlite3_reset(s); return r; }
  }
  sqlite3_reset(s);
  return map_rc(rc);
}

static int sq_device_revoke(mls_txn *tx, const uint8_t pub[32], uint64_t now) {
  PREP(s, tx, S_DEVICE_REVOKE);
  sqlite3_bind_blob(s, 1, pub, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)(now ? now : 1));
  int rc = step_done(s);
  if (rc) return rc;
  return sqlite3_changes(CONN(tx)->db) == 1 ? MLPROTO_OK : MLPROTO_ERR_NOT_FOUND;
}

/* --- challenges and sessions --- */

static int sq_challenge_add(mls_txn *tx, const uint8_t ch[32], uint64_t now, uint64_t expires,
                            const uint8_t *peer, size_t peer_len, uint32_t max_per_peer) {
  if (peer_len == 0 || peer_len > 64) return MLPROTO_ERR_INVALID_ARGUMENT;
  PREP(p, tx, S_CHAL_PURGE_SOME);
  sqlite3_bind_int64(p, 1, (sqlite3_int64)now);
  sqlite3_bind_int(p, 2, CHALLENGE_PURGE_BATCH);
  int rc = step_done(p);
  if (rc) return rc;
  PREP(n, tx, S_CHAL_COUNT_PEER);
  sqlite3_bind_blob(n, 1, peer, (int)peer_len, SQLITE_STATIC);
  sqlite3_bind_int64(n, 2, (sqlite3_int64)now);
  rc = step_row(n);
  if (rc) return rc;
  sqlite3_int64 outstanding = sqlite3_column_int64(n, 0);
  sqlite3_reset(n);
  if (outstanding >= (sqlite3_int64)max_per_peer) return MLPROTO_ERR_RATE_LIMITED;
  PREP(s, tx, S_CHAL_ADD);
  sqlite3_bind_blob(s, 1, ch, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)expires);
  sqlite3_bind_blob(s, 3, peer, (int)peer_len, SQLITE_STATIC);
  return step_done(s);
}

static int sq_challenge_consume(mls_txn *tx, const uint8_t ch[32], uint64_t now) {
  PREP(s, tx, S_CHAL_DEL);
  sqlite3_bind_blob(s, 1, ch, 32, SQLITE_STATIC);
  int rc = step_row(s);
  uint64_t expires = rc ? 0 : (uint64_t)sqlite3_column_int64(s, 0);
  if (!rc) {
    int r = sqlite3_step(s); /* finish the DELETE ... RETURNING */
    sqlite3_reset(s);
    if (r != SQLITE_DONE) rc = map_rc(r);
  }
  if (rc && rc != MLPROTO_ERR_NOT_FOUND) return rc;
  /* Keep the tables small: expired rows go at every consumption. */
  PREP(p1, tx, S_CHAL_PURGE);
  sqlite3_bind_int64(p1, 1, (sqlite3_int64)now);
  int r = step_done(p1);
  if (r) return r;
  PREP(p2, tx, S_SESS_PURGE);
  sqlite3_bind_int64(p2, 1, (sqlite3_int64)now);
  r = step_done(p2);
  if (r) return r;
  if (rc == MLPROTO_ERR_NOT_FOUND || expires <= now) return MLPROTO_ERR_CHALLENGE_INVALID;
  return MLPROTO_OK;
}

static int sq_session_add(mls_txn *tx, const uint8_t h[32], const uint8_t dev[32], uint64_t exp) {
  PREP(s, tx, S_SESS_ADD);
  sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, dev, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)exp);
  return step_done(s);
}

static int sq_session_get(mls_txn *tx, const uint8_t h[32], uint64_t now, uint8_t dev[32]) {
  PREP(s, tx, S_SESS_GET);
  sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)now);
  int rc = step_row(s);
  if (rc == MLPROTO_ERR_NOT_FOUND) return MLPROTO_ERR_UNAUTHENTICATED;
  if (rc) return rc;
  rc = blob_eq(s, 0, dev, 32);
  sqlite3_reset(s);
  return rc;
}

static int sq_api_token_add(mls_txn *tx, const uint8_t h[32], const char *role,
                            const char *jobcentre, uint64_t created) {
  if (jobcentre && strlen(jobcentre) > MLS_JOBCENTRE_MAX) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_TOKEN_ADD);
  sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, role, -1, SQLITE_STATIC);
  if (jobcentre) sqlite3_bind_text(s, 3, jobcentre, -1, SQLITE_STATIC);
  else sqlite3_bind_null(s, 3);
  sqlite3_bind_int64(s, 4, (sqlite3_int64)created);
  return step_done(s);
}

/* --- cases --- */

static int sq_case_owner(mls_txn *tx, const uint8_t case_id[16], uint8_t mentor[16]) {
  PREP(s, tx, S_CASE_GET);
  sqlite3_bind_blob(s, 1, case_id, 16, SQLITE_STATIC);
  int rc = step_row(s);
  if (rc) return rc;
  rc = blob_eq(s, 0, mentor, 16);
  sqlite3_reset(s);
  return rc;
}

static int sq_case_claim(mls_txn *tx, const uint8_t case_id[16], const uint8_t mentor[16]) {
  PREP(s, tx, S_CASE_PUT);
  sqlite3_bind_blob(s, 1, case_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, mentor, 16, SQLITE_STATIC);
  return step_done(s);
}

/* --- records and the log --- */

static int sq_author_head(mls_txn *tx, const uint8_t author[32], uint64_t *seq, uint8_t hash[32]) {
  PREP(s, tx, S_AUTHOR_HEAD);
  sqlite3_bind_blob(s, 1, author, 32, SQLITE_STATIC);
  int rc = step_row(s);
  if (rc == MLPROTO_ERR_NOT_FOUND) {
    *seq = 0;
    memset(hash, 0, 32);
    return MLPROTO_OK;
  }
  if (rc) return rc;
  *seq = (uint64_t)sqlite3_column_int64(s, 0);
  rc = blob_eq(s, 1, hash, 32);
  sqlite3_reset(s);
  return rc;
}

static int sq_record_at(mls_txn *tx, const uint8_t author[32], uint64_t seq, mls_record_ref *out) {
  PREP(s, tx, S_RECORD_AT);
  sqlite3_bind_blob(s, 1, author, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
  int rc = step_row(s);
  if (rc) return rc;
  out->index = (uint64_t)sqlite3_column_int64(s, 0);
  out->received_ms = (uint64_t)sqlite3_column_int64(s, 2);
  rc = blob_eq(s, 1, out->record_hash, 32);
  sqlite3_reset(s);
  return rc;
}

static int sq_envelope_at(mls_txn *tx, uint64_t index, uint8_t *buf, size_t cap, size_t *len) {
  PREP(s, tx, S_ENVELOPE_AT);
  sqlite3_bind_int64(s, 1, (sqlite3_int64)index);
  int rc = step_row(s);
  if (rc) return rc;
  size_t n = (size_t)sqlite3_column_bytes(s, 0);
  if (n > cap) rc = MLPROTO_ERR_BUFFER_TOO_SMALL;
  else {
    if (n) memcpy(buf, sqlite3_column_blob(s, 0), n);
    *len = n;
  }
  sqlite3_reset(s);
  return rc;
}

static int sq_log_append(mls_txn *tx, const mls_log_entry *e) {
  if (e->envelope_len > MLS_ENVELOPE_MAX) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_LOG_ADD);
  sqlite3_bind_int64(s, 1, (sqlite3_int64)e->index);
  sqlite3_bind_int(s, 2, e->type);
  sqlite3_bind_int64(s, 3, (sqlite3_int64)e->received_ms);
  sqlite3_bind_blob(s, 4, e->record_hash, 32, SQLITE_STATIC);
  sqlite3_bind_blob(s, 5, e->author, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 6, (sqlite3_int64)e->seq);
  sqlite3_bind_blob(s, 7, e->record_id, 16, SQLITE_STATIC);
  sqlite3_bind_blob(s, 8, e->case_id, 16, SQLITE_STATIC);
  sqlite3_bind_int64(s, 9, e->kind);
  if (e->has_mentor) sqlite3_bind_blob(s, 10, e->mentor_id, 16, SQLITE_STATIC);
  else sqlite3_bind_null(s, 10);
  sqlite3_bind_blob(s, 11, e->envelope, (int)e->envelope_len, SQLITE_STATIC);
  return step_done(s);
}

static int sq_log_size(mls_txn *tx, uint64_t *size) {
  PREP(s, tx, S_LOG_SIZE);
  int rc = step_row(s);
  if (rc) return rc;
  *size = (uint64_t)sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  return MLPROTO_OK;
}

static int sq_log_list(mls_txn *tx, const uint8_t *mentor, uint64_t since, uint32_t limit,
                       mls_entry_fn fn, void *ud) {
  PREP(s, tx, mentor ? S_LOG_LIST_MENTOR : S_LOG_LIST_ALL);
  sqlite3_bind_int64(s, 1, (sqlite3_int64)since);
  sqlite3_bind_int64(s, 2, limit);
  if (mentor) sqlite3_bind_blob(s, 3, mentor, 16, SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    mls_log_entry e;
    memset(&e, 0, sizeof e);
    e.index = (uint64_t)sqlite3_column_int64(s, 0);
    e.type = (uint8_t)sqlite3_column_int(s, 1);
    e.received_ms = (uint64_t)sqlite3_column_int64(s, 2);
    int r = blob_eq(s, 3, e.record_hash, 32);
    if (!r) r = blob_eq(s, 4, e.author, 32);
    e.seq = (uint64_t)sqlite3_column_int64(s, 5);
    if (!r) r = blob_eq(s, 6, e.record_id, 16);
    if (!r) r = blob_eq(s, 7, e.case_id, 16);
    e.kind = (uint32_t)sqlite3_column_int64(s, 8);
    if (!r && sqlite3_column_type(s, 9) != SQLITE_NULL) {
      e.has_mentor = 1;
      r = blob_eq(s, 9, e.mentor_id, 16);
    }
    e.envelope = sqlite3_column_blob(s, 10);
    e.envelope_len = (size_t)sqlite3_column_bytes(s, 10);
    if (!r) r = blob_eq(s, 11, e.leaf_hash, 32);
    if (!r) r = fn(ud, &e);
    if (r) { sqlite3_reset(s); return r; }
  }
  sqlite3_reset(s);
  return map_rc(rc);
}

static int sq_leaf_find(mls_txn *tx, const uint8_t leaf[32], uint64_t *index) {
  PREP(s, tx, S_LEAF_FIND);
  sqlite3_bind_blob(s, 1, leaf, 32, SQLITE_STATIC);
  int rc = step_row(s);
  if (rc) return rc;
  if (sqlite3_column_type(s, 0) == SQLITE_NULL) rc = MLPROTO_ERR_NOT_FOUND;
  else *index = (uint64_t)sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  return rc;
}

static int sq_node_put(mls_txn *tx, unsigned level, uint64_t index, const uint8_t h[32]) {
  PREP(s, tx, S_NODE_PUT);
  sqlite3_bind_int(s, 1, (int)level);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)index);
  sqlite3_bind_blob(s, 3, h, 32, SQLITE_STATIC);
  int rc = step_done(s);
  if (rc || level != 0) return rc;
  PREP(l, tx, S_LEAF_INDEX_PUT);
  sqlite3_bind_int64(l, 1, (sqlite3_int64)index);
  sqlite3_bind_blob(l, 2, h, 32, SQLITE_STATIC);
  return step_done(l);
}

static int sq_node_get(mls_txn *tx, unsigned level, uint64_t index, uint8_t h[32]) {
  PREP(s, tx, S_NODE_GET);
  sqlite3_bind_int(s, 1, (int)level);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)index);
  int rc = step_row(s);
  if (rc) return rc;
  rc = blob_eq(s, 0, h, 32);
  sqlite3_reset(s);
  return rc;
}

static int sq_sth_put(mls_txn *tx, const uint8_t *blob, size_t len) {
  if (len > 256) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_STH_PUT);
  sqlite3_bind_blob(s, 1, blob, (int)len, SQLITE_STATIC);
  return step_done(s);
}

static int sq_sth_get(mls_txn *tx, uint8_t *blob, size_t cap, size_t *len) {
  PREP(s, tx, S_STH_GET);
  int rc = step_row(s);
  if (rc) return rc;
  size_t n = (size_t)sqlite3_column_bytes(s, 0);
  if (n > cap) rc = MLPROTO_ERR_BUFFER_TOO_SMALL;
  else {
    if (n) memcpy(blob, sqlite3_column_blob(s, 0), n);
    *len = n;
  }
  sqlite3_reset(s);
  return rc;
}

static int sq_fork_add(mls_txn *tx, const uint8_t author[32], uint64_t seq, const uint8_t *logged,
                       size_t logged_len, const uint8_t *pushed, size_t pushed_len,
                       const uint8_t device[32], uint64_t now) {
  if (logged_len > MLS_ENVELOPE_MAX || pushed_len > MLS_ENVELOPE_MAX) return MLPROTO_ERR_TOO_LARGE;
  PREP(s, tx, S_FORK_ADD);
  sqlite3_bind_blob(s, 1, author, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, (sqlite3_int64)seq);
  sqlite3_bind_blob(s, 3, logged, (int)logged_len, SQLITE_STATIC);
  sqlite3_bind_blob(s, 4, pushed, (int)pushed_len, SQLITE_STATIC);
  sqlite3_bind_blob(s, 5, device, 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 6, (sqlite3_int64)now);
  return step_done(s);
}

static int sq_fork_count(mls_txn *tx, uint64_t *count) {
  PREP(s, tx, S_FORK_COUNT);
  int rc = step_row(s);
  if (rc) return rc;
  *count = (uint64_t)sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  return MLPROTO_OK;
}

static const mls_store_ops SQ_OPS = {
  .name = "sqlite",
  .close = sq_close,
  .begin = sq_begin,
  .commit = sq_commit,
  .rollback = sq_rollback,
  .mentor_add = sq_mentor_add,
  .mentor_get = sq_mentor_get,
  .mentor_list = sq_mentor_list,
  .code_add = sq_code_add,
  .code_consume = sq_code_consume,
  .code_used_by = sq_code_used_by,
  .code_list = sq_code_list,
  .code_get = sq_code_get,
  .code_revoke = sq_code_revoke,
  .device_add = sq_device_add,
  .device_get = sq_device_get,
  .device_get_by_id = sq_device_get_by_id,
  .device_list = sq_device_list,
  .device_revoke = sq_device_revoke,
  .challenge_add = sq_challenge_add,
  .challenge_consume = sq_challenge_consume,
  .session_add = sq_session_add,
  .session_get = sq_session_get,
  .api_token_add = sq_api_token_add,
  .case_owner = sq_case_owner,
  .case_claim = sq_case_claim,
  .author_head = sq_author_head,
  .record_at = sq_record_at,
  .envelope_at = sq_envelope_at,
  .log_append = sq_log_append,
  .log_size = sq_log_size,
  .log_list = sq_log_list,
  .leaf_find = sq_leaf_find,
  .node_put = sq_node_put,
  .node_get = sq_node_get,
  .sth_put = sq_sth_put,
  .sth_get = sq_sth_get,
  .fork_add = sq_fork_add,
  .fork_count = sq_fork_count,
};
