/*
 * store_sqlite.c — the embedded SQLite backend of store.h.
 *
 * One database file in WAL mode with synchronous=FULL: a commit returns only
 * once it is on stable storage. Connections live in a small pool; a
 * transaction borrows one. Writers are serialised in-process by a mutex
 * (so threads do not spin in SQLite's busy handler against each other) and
 * across processes (the admin command) by BEGIN IMMEDIATE + busy_timeout;
 * either wait is bounded by the busy timeout (then BUSY).
 * Statements are prepared once per connection and reused. This file is the
 * engine and the operations table; the operations themselves are in
 * store_sqlite_people.c and store_sqlite_log.c (store_sqlite_int.h).
 */
#include "store_sqlite_int.h"
#include "store_backend.h"

#include "mlproto/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Version 1: the first layout. Version 2: enroll_codes.used_by (idempotent
 * enrolment), challenges.peer (outstanding challenges per address).
 * Version 3: leaf_index replaces the index nodes_leaf(hash).
 * Version 4: enroll_codes.id (what admins list and revoke a code by) and
 * enroll_codes.revoked_ms.
 * Version 5: case_jobcentres (the jobcentres a case's grants name) and the
 * index log_by_case, for the jobcentre's reports; the migration leaves
 * meta 'jobcentre_index' = 'pending' for the application to fill the table
 * from the grants already logged (the store does not read envelopes).
 * Version 6: cases.erased_ms (when the case was erased: CASE_ERASE or a
 * retention purge; NULL while it is not), for crypto-shredding (erase.h).
 * Every connection also runs with secure_delete=ON from then on, so that a
 * replaced envelope's bytes are zeroed in the page, not left in its free
 * space.
 * Not a version: the tables witnesses and cosignatures (issue 11). They are
 * additive (new tables, nothing existing changes meaning) and the schema's
 * CREATE TABLE IF NOT EXISTS adds them to a store of any version when it is
 * opened, so they need no migration; and an older server that opens a store
 * holding them still reads everything it knows (it never looks at them). Not
 * bumping the version also keeps it free for the next real migration.
 * The table web_sessions (issue 13: the jobcentre caseworker's web page)
 * is added the same way.
 * Version 7: session challenges are stateless (challenge.h): the table
 * challenges is dropped (the outstanding ones die with it: a device asks
 * for a new one, as after any refusal), and a session keeps the challenge
 * it was opened with, unique (sessions.challenge; NULL for the sessions
 * opened before), with the index sessions_by_expiry for session_purge. */
#define SCHEMA_VERSION 7
/* leaf_index epoch = leaf index >> LEAF_EPOCH_SHIFT (4,096 leaves). The hash
 * lookup probes every epoch once: ceil(size / 4096) index seeks. */
#define LEAF_EPOCH_SHIFT "12"
/* WAL frames (pages) after which the checkpointer thread copies the WAL
 * into the database: SQLite's own default threshold, moved off the writer. */
#define CHECKPOINT_FRAMES 1000
/* journal_size_limit: when a checkpoint rewinds the WAL, SQLite truncates
 * the file to this size; without it, the file keeps its largest size ever
 * (and the page images of old transactions in it) for good. 4 MiB: about
 * CHECKPOINT_FRAMES pages. The server also empties the WAL periodically
 * (mls_app_scrub, net_wal.c). */
#define WAL_SIZE_LIMIT "4194304"
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
    "CREATE TABLE IF NOT EXISTS sessions("
    " token_hash BLOB PRIMARY KEY, device BLOB NOT NULL, expires_ms INTEGER NOT NULL,"
    " challenge BLOB CHECK(length(challenge)=32)) WITHOUT ROWID;"
    /* one session per challenge, whichever instance opened it (NULLs: the
     * sessions of a store before version 7) */
    "CREATE UNIQUE INDEX IF NOT EXISTS sessions_by_challenge ON sessions(challenge);"
    "CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions(expires_ms);"
    "CREATE TABLE IF NOT EXISTS api_tokens("
    " token_hash BLOB PRIMARY KEY, role TEXT NOT NULL, jobcentre TEXT,"
    " created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS cases("
    " case_id BLOB PRIMARY KEY, mentor_id BLOB NOT NULL, erased_ms INTEGER) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS log("
    " idx INTEGER PRIMARY KEY, type INTEGER NOT NULL, received_ms INTEGER NOT NULL,"
    " record_hash BLOB NOT NULL, author BLOB NOT NULL, seq INTEGER NOT NULL,"
    " record_id BLOB NOT NULL, case_id BLOB NOT NULL, kind INTEGER NOT NULL,"
    " mentor_id BLOB, envelope BLOB NOT NULL, UNIQUE(author, seq));"
    "CREATE INDEX IF NOT EXISTS log_by_mentor ON log(mentor_id, idx);"
    "CREATE INDEX IF NOT EXISTS log_by_case ON log(case_id, idx);"
    "CREATE TABLE IF NOT EXISTS case_jobcentres("
    " jobcentre TEXT NOT NULL, case_id BLOB NOT NULL CHECK(length(case_id)=16),"
    " PRIMARY KEY(jobcentre, case_id)) WITHOUT ROWID;"
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
    " received_ms INTEGER NOT NULL);"
    /* witnesses and their cosignatures: additive, no version (see above) */
    "CREATE TABLE IF NOT EXISTS witnesses("
    " name TEXT PRIMARY KEY, vkey TEXT NOT NULL, added_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS cosignatures("
    " size INTEGER NOT NULL, witness TEXT NOT NULL REFERENCES witnesses(name),"
    " ts INTEGER NOT NULL, sig BLOB NOT NULL CHECK(length(sig)=64),"
    " received_ms INTEGER NOT NULL, PRIMARY KEY(size, witness)) WITHOUT ROWID;"
    /* the caseworker's web sessions: additive, no version (see above) */
    "CREATE TABLE IF NOT EXISTS web_sessions("
    " id_hash BLOB PRIMARY KEY CHECK(length(id_hash)=32),"
    " token_hash BLOB NOT NULL CHECK(length(token_hash)=32),"
    " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS web_sessions_by_expiry ON web_sessions(expires_ms);";

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
  /* the schema then creates case_jobcentres and log_by_case */
  [4] = "INSERT OR REPLACE INTO meta(key, value) VALUES('jobcentre_index', CAST('pending' AS BLOB));",
  [5] = "ALTER TABLE cases ADD COLUMN erased_ms INTEGER;",
  /* the schema then creates the two indexes of sessions */
  [6] = "DROP TABLE IF EXISTS challenges;"
        "ALTER TABLE sessions ADD COLUMN challenge BLOB CHECK(length(challenge)=32);",
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
  /* the earliest first, along sessions_by_expiry */
  [S_SESS_PURGE] = "DELETE FROM sessions WHERE token_hash IN (SELECT token_hash FROM sessions"
                   " WHERE expires_ms <= ?1 ORDER BY expires_ms LIMIT ?2)",
  [S_SESS_ADD] = "INSERT INTO sessions(token_hash, device, expires_ms, challenge)"
                 " VALUES(?1, ?2, ?3, ?4)",
  [S_SESS_GET] = "SELECT device FROM sessions WHERE token_hash = ?1 AND expires_ms > ?2",
  [S_WEB_ADD] = "INSERT INTO web_sessions(id_hash, token_hash, created_ms, expires_ms)"
                " VALUES(?1, ?2, ?3, ?4)",
  [S_WEB_GET] = "SELECT token_hash, created_ms, expires_ms FROM web_sessions"
                " WHERE id_hash = ?1 AND expires_ms > ?2",
  [S_WEB_TOUCH] = "UPDATE web_sessions SET expires_ms = ?2 WHERE id_hash = ?1",
  [S_WEB_DELETE] = "DELETE FROM web_sessions WHERE id_hash = ?1",
  [S_WEB_PURGE] = "DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM web_sessions"
                  " WHERE expires_ms <= ?1 ORDER BY expires_ms LIMIT ?2)",
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
  /* a node follows its predecessor (tiles hold no gap): no row otherwise */
  [S_NODE_PUT] = "INSERT INTO nodes(level, idx, hash) SELECT ?1, ?2, ?3 WHERE ?2 = 0"
                 " OR EXISTS(SELECT 1 FROM nodes WHERE level = ?1 AND idx = ?2 - 1)",
  [S_NODE_GET] = "SELECT hash FROM nodes WHERE level = ?1 AND idx = ?2",
  [S_STH_PUT] = "INSERT OR REPLACE INTO meta(key, value) VALUES('sth', ?1)",
  [S_STH_GET] = "SELECT value FROM meta WHERE key = 'sth'",
  [S_FORK_ADD] = "INSERT INTO forks(author, seq, logged, pushed, device, received_ms)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
  [S_FORK_COUNT] = "SELECT count(*) FROM forks",
  /* tlog tiles: one seek and a scan of the primary key each; the log's
   * columns before the envelope (the last column) are read without its
   * overflow pages */
  [S_NODE_RANGE] = "SELECT idx, hash FROM nodes WHERE level = ?1 AND idx BETWEEN ?2 AND ?3"
                   " ORDER BY idx",
  [S_LEAF_ENTRY_RANGE] = "SELECT idx, type, received_ms, record_hash FROM log"
                         " WHERE idx BETWEEN ?1 AND ?2 ORDER BY idx",
  [S_TOKEN_GET] = "SELECT role, coalesce(jobcentre, '') FROM api_tokens WHERE token_hash = ?1",
  [S_JC_ADD] = "INSERT OR IGNORE INTO case_jobcentres(jobcentre, case_id) VALUES(?1, ?2)",
  [S_JC_CASES] = "SELECT case_id FROM case_jobcentres WHERE jobcentre = ?1 ORDER BY case_id",
  /* no leaf hash: a report needs none (NULL: row_entry leaves it zero) */
  [S_CASE_ENTRIES] = "SELECT idx, type, received_ms, record_hash, author, seq,"
                     " record_id, case_id, kind, mentor_id, envelope, NULL"
                     " FROM log WHERE case_id = ?1 AND idx < ?2 ORDER BY idx",
  /* one seek of log_by_case for the max */
  [S_CASE_VERSION] = "SELECT mentor_id, coalesce(erased_ms, 0),"
                     " (SELECT max(idx) FROM log WHERE case_id = ?1 AND idx < ?2)"
                     " FROM cases WHERE case_id = ?1",
  [S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
  [S_META_PUT] = "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)",
  [S_ENVELOPE_PUT] = "UPDATE log SET envelope = ?2 WHERE idx = ?1",
  [S_CASE_ERASED_GET] = "SELECT coalesce(erased_ms, 0) FROM cases WHERE case_id = ?1",
  [S_CASE_ERASED_SET] = "UPDATE cases SET erased_ms = coalesce(erased_ms, ?2) WHERE case_id = ?1",
  [S_CASE_LIST] = "SELECT case_id, coalesce(erased_ms, 0) FROM cases ORDER BY case_id",
  [S_FORK_LIST] = "SELECT id, logged, pushed FROM forks ORDER BY id",
  [S_FORK_PUT] = "UPDATE forks SET logged = ?2, pushed = ?3 WHERE id = ?1",
  /* witnesses (no schema version: see SCHEMA_VERSION) */
  [S_WITNESS_ADD] = "INSERT INTO witnesses(name, vkey, added_ms) VALUES(?1, ?2, ?3)",
  [S_WITNESS_GET] = "SELECT name, vkey, added_ms FROM witnesses WHERE name = ?1",
  [S_WITNESS_LIST] = "SELECT name, vkey, added_ms FROM witnesses ORDER BY name",
  /* one per (size, witness); a later timestamp replaces, nothing else does */
  [S_COSIG_PUT] = "INSERT INTO cosignatures(size, witness, ts, sig, received_ms)"
                  " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(size, witness) DO UPDATE"
                  " SET ts = excluded.ts, sig = excluded.sig, received_ms = excluded.received_ms"
                  " WHERE excluded.ts > cosignatures.ts",
  [S_COSIG_LIST] = "SELECT c.witness, c.size, c.ts, c.sig, c.received_ms FROM cosignatures c"
                   " JOIN witnesses w ON w.name = c.witness WHERE c.size = ?1"
                   " ORDER BY c.witness LIMIT ?2",
};

static const mls_store_ops SQ_OPS;

int sq_map_rc(int rc) {
  /* a reference to a row that does not exist (PostgreSQL's 23503 alike) */
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) return MLPROTO_ERR_NOT_FOUND;
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
  return sq_map_rc(sqlite3_exec(c->db, sql, NULL, NULL, NULL));
}

/* conn_exec, retried while SQLite answers BUSY, for up to busy_ms. For the
 * statements of opening a store, where SQLite may answer BUSY without
 * calling the busy handler: switching a new file to WAL while another
 * process or thread opens it too (the lock on the journal mode, the -shm's
 * recovery), or BEGIN IMMEDIATE racing with that switch. Seen with four
 * threads opening one new store under valgrind (test_store's
 * t_open_concurrent). */
static int conn_exec_patient(conn *c, const char *sql, unsigned busy_ms) {
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (unsigned pause_us = 1000;; pause_us = pause_us < 16000 ? pause_us * 2 : pause_us) {
    int rc = conn_exec(c, sql);
    if (rc != MLPROTO_ERR_BUSY) return rc;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t)(now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
    if (ms >= (int64_t)busy_ms) return rc;
    usleep(pause_us);
  }
}

/* STORE_MIGRATED when admin migrate marked this store (store.h
 * MLS_META_MIGRATED): read in the opening transaction, before a migration
 * or the schema could touch the file. */
static int refuse_migrated(conn *c) {
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(c->db, "SELECT 1 FROM meta WHERE key = ?1", -1, &s, NULL);
  if (rc != SQLITE_OK) return sq_map_rc(rc);
  sqlite3_bind_text(s, 1, MLS_META_MIGRATED, -1, SQLITE_STATIC);
  rc = sqlite3_step(s);
  sqlite3_finalize(s);
  if (rc == SQLITE_ROW) {
    mls_logf("error", "store_migrated", "meta=%s", MLS_META_MIGRATED);
    return MLPROTO_ERR_STORE_MIGRATED;
  }
  return rc == SQLITE_DONE ? MLPROTO_OK : sq_map_rc(rc);
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
  return sq_map_rc(rc);
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
      sqlite3_exec(st->ckpt_db,
                   "PRAGMA synchronous=FULL; PRAGMA trusted_schema=OFF;"
                   " PRAGMA journal_size_limit=" WAL_SIZE_LIMIT ";",
                   NULL, NULL, NULL) != SQLITE_OK) {
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
    int r = (rc == SQLITE_CANTOPEN && !create) ? MLPROTO_ERR_NOT_FOUND : sq_map_rc(rc);
    conn_free(c);
    return r;
  }
  sqlite3_extended_result_codes(c->db, 1);
  sqlite3_busy_timeout(c->db, (int)st->busy_ms);
  /* WAL + FULL: a commit is durable when it returns (DESIGN §8). */
  /* secure_delete: freed cells are zeroed, so an erased envelope's old
   * bytes do not linger in a page's free space (schema v6, erase.h). */
  int r = conn_exec_patient(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                       " PRAGMA foreign_keys=ON; PRAGMA trusted_schema=OFF;"
                       " PRAGMA secure_delete=ON; PRAGMA journal_size_limit=" WAL_SIZE_LIMIT ";",
                       st->busy_ms);
  if (r) { conn_free(c); return r; }
  conn_hooks(st, c);
  *out = c;
  return MLPROTO_OK;
}

sqlite3_stmt *sq_stmt(conn *c, enum stmt_id id) {
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
int sq_step_done(sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? MLPROTO_OK : sq_map_rc(rc);
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
    if (st->n_conns < st->max_conns) break;
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

int mls_store_sqlite_open(mls_store **out, const char *path, const mls_store_options *opt) {
  *out = NULL;
  int create = opt->create;
  unsigned busy_ms = opt->busy_timeout_ms;
  sq_store *st = calloc(1, sizeof *st);
  if (!st) return MLPROTO_ERR_OUT_OF_MEMORY;
  st->base.ops = &SQ_OPS;
  st->busy_ms = busy_ms;
  st->max_conns = (int)opt->connections;
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
  rc = conn_exec_patient(c, "BEGIN IMMEDIATE", busy_ms);
  int version = 0;
  if (!rc) rc = schema_version(c, &version);
  if (!rc && version > SCHEMA_VERSION) {
    /* Written by a newer server: its layout may mean something we would
     * misread or damage. Refuse rather than guess. */
    mls_logf("error", "store_too_new", "version=%d supported=%d", version, SCHEMA_VERSION);
    rc = MLPROTO_ERR_STORE_TOO_NEW;
  }
  if (!rc && version > 0) rc = refuse_migrated(c); /* before anything is written */
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
    if (rc != MLPROTO_ERR_STORE_TOO_NEW && rc != MLPROTO_ERR_STORE_MIGRATED)
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

/* The in-process writer lock, waited for at most the busy timeout (as
 * another process's writer is by BEGIN IMMEDIATE): BUSY after it. */
static int writer_lock(sq_store *st) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += st->busy_ms / 1000;
  until.tv_nsec += (long)(st->busy_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  int e = pthread_mutex_timedlock(&st->writer, &until);
  return e == 0 ? MLPROTO_OK : e == ETIMEDOUT ? MLPROTO_ERR_BUSY : MLPROTO_ERR_INTERNAL;
}

static int sq_begin(mls_store *base, int mode, mls_txn **out) {
  sq_store *st = (sq_store *)base;
  *out = NULL;
  sq_txn *tx = calloc(1, sizeof *tx);
  if (!tx) return MLPROTO_ERR_OUT_OF_MEMORY;
  tx->base.ops = &SQ_OPS;
  tx->st = st;
  tx->write = mode == MLS_TXN_WRITE;
  int rc = tx->write ? writer_lock(st) : MLPROTO_OK;
  if (rc) {
    free(tx);
    return rc;
  }
  rc = pool_get(st, &tx->c);
  if (!rc) {
    sqlite3_stmt *s = sq_stmt(tx->c, tx->write ? S_BEGIN_WRITE : S_BEGIN_READ);
    rc = s ? sq_step_done(s) : MLPROTO_ERR_STORAGE;
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
    sqlite3_stmt *s = sq_stmt(tx->c, S_ROLLBACK);
    if (!s || sq_step_done(s)) sqlite3_exec(tx->c->db, "ROLLBACK", NULL, NULL, NULL);
  }
  txn_release(tx);
}

static int sq_commit(mls_txn *base) {
  sq_txn *tx = (sq_txn *)base;
  sqlite3_stmt *s = sq_stmt(tx->c, S_COMMIT);
  int rc = s ? sq_step_done(s) : MLPROTO_ERR_STORAGE;
  if (rc) {
    sq_rollback(base);
    return rc;
  }
  txn_release(tx);
  return MLPROTO_OK;
}


int sq_blob_eq(sqlite3_stmt *s, int col, uint8_t *out, size_t n) {
  if (sqlite3_column_bytes(s, col) != (int)n) return MLPROTO_ERR_STORAGE;
  const void *p = sqlite3_column_blob(s, col);
  if (!p && n) return MLPROTO_ERR_STORAGE;
  memcpy(out, p, n);
  return MLPROTO_OK;
}

void sq_text_copy(sqlite3_stmt *s, int col, char *out, size_t cap) {
  const unsigned char *t = sqlite3_column_text(s, col);
  size_t n = t ? (size_t)sqlite3_column_bytes(s, col) : 0;
  if (n >= cap) n = cap - 1;
  if (n) memcpy(out, t, n);
  out[n] = 0;
}

/* Runs a one-row query; NOT_FOUND when there is no row. The row is left
 * for the caller to read; it calls sqlite3_reset via the next sq_stmt(). */
int sq_step_row(sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return MLPROTO_OK;
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? MLPROTO_ERR_NOT_FOUND : sq_map_rc(rc);
}

/* A TRUNCATE checkpoint on a pool connection: the WAL's old page images
 * (an envelope before its erasure) are copied over and the file emptied.
 * It holds the in-process writer lock meanwhile, so that this process's
 * writers wait on the mutex, not in SQLite's busy handler against it; it
 * waits for readers (and another process's writer) up to the busy timeout. */
static int sq_scrub(mls_store *base) {
  sq_store *st = (sq_store *)base;
  conn *c;
  int rc = writer_lock(st);
  if (rc) return rc;
  rc = pool_get(st, &c);
  if (!rc) {
    rc = sq_map_rc(sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL));
    pool_put(st, c);
  }
  pthread_mutex_unlock(&st->writer);
  return rc;
}

static const mls_store_ops SQ_OPS = {
  .version = MLS_STORE_OPS_VERSION,
  .caps = MLS_STORE_CAP_SCRUB_FILES,
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
  .session_add = sq_session_add,
  .session_purge = sq_session_purge,
  .session_get = sq_session_get,
  .web_session_add = sq_web_session_add,
  .web_session_get = sq_web_session_get,
  .web_session_touch = sq_web_session_touch,
  .web_session_delete = sq_web_session_delete,
  .web_session_purge = sq_web_session_purge,
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
  .node_range = sq_node_range,
  .leaf_entry_range = sq_leaf_entry_range,
  .api_token_get = sq_api_token_get,
  .case_jobcentre_add = sq_case_jobcentre_add,
  .jobcentre_cases = sq_jobcentre_cases,
  .case_entries = sq_case_entries,
  .meta_get = sq_meta_get,
  .meta_put = sq_meta_put,
  .envelope_replace = sq_envelope_replace,
  .case_erased_get = sq_case_erased_get,
  .case_version = sq_case_version,
  .case_erased_set = sq_case_erased_set,
  .case_list = sq_case_list,
  .fork_list = sq_fork_list,
  .fork_replace = sq_fork_replace,
  .scrub = sq_scrub,
  .witness_add = sq_witness_add,
  .witness_get = sq_witness_get,
  .witness_list = sq_witness_list,
  .cosig_put = sq_cosig_put,
  .cosig_list = sq_cosig_list,
};
