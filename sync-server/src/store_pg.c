/*
 * store_pg.c — the PostgreSQL backend of store.h (DESIGN §6): several
 * stateless server instances on several machines share one database.
 *
 * Connections. Blocking libpq, in a pool of at most opt->connections (one
 * per thread using the store at once); a transaction borrows one. Every
 * statement is prepared once per connection when it is opened (one round
 * trip), parameters and results travel in the binary formats. A connection
 * that failed (killed backend, network) is closed when released; a pooled
 * one found dead when a transaction begins is replaced at once, so the
 * store recovers by itself once the database answers again. lock_timeout
 * is opt->busy_timeout_ms.
 *
 * Transactions.
 *   READ:  BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY — one snapshot
 *          for every statement of the transaction.
 *   WRITE: BEGIN ISOLATION LEVEL READ COMMITTED, then, as its first
 *          statement, SELECT size, last_received_ms FROM log_head FOR UPDATE:
 *          the one serialisation point of every writer of every instance
 *          (and of `admin`). While a writer holds it no other writer runs,
 *          so what the writer reads stays true until its commit: its later
 *          statements (each with a fresh READ COMMITTED snapshot) see every
 *          commit made before it got the lock, and nothing else changes.
 *          A writer that waits longer than lock_timeout gets BUSY (55P03).
 *   The same round trip reads the largest checkpoint (sth_put checks
 *   against it). COMMIT returns when it is durable: synchronous_commit is
 *   raised to on when the server's setting is off or local (with
 *   synchronous replication, on also waits for the standby's flush).
 *
 * The write buffer (store_pg_buf.c). What a push writes — log rows, tile
 * hashes, case claims, case jobcentres, the tree head — is kept in memory
 * and sent at COMMIT in one statement per table, in the same round trip as
 * the COMMIT. A push batch costs 3 round trips under the lock, plus one per
 * case it writes to, whatever its size: the lock (with the top checkpoint),
 * its device with the device's author head and the tiles' edge (what a
 * push appends to; writes that read no device, sign-ins say, pay for
 * neither), each
 * case's owner with its erasure time (kept for case_erased_get), and the
 * buffer with the COMMIT (before: 6 + 2 per case; no throughput change was
 * measurable on loopback, docs/benchmarks.md). Reads of
 * what the transaction wrote are answered from the buffer (log size, author
 * head, records, envelopes, nodes, case owners); the few reads it cannot
 * answer (listings, ranges) flush it first. Every contract error is still
 * reported by the call that causes it: the duplicate-key checks are made
 * against the buffer and against what the database held when the lock was
 * taken (exact, since no other writer runs meanwhile).
 *
 * Errors. Expected outcomes (a duplicate, a missing row, an invalid code)
 * never raise a database error (ON CONFLICT DO NOTHING, UPDATE ...
 * RETURNING), so the transaction stays usable after them, as in SQLite.
 * Any other failure aborts the backend's transaction: the mls_txn then
 * returns that error until it is rolled back. SQLSTATEs are mapped in
 * pg_fail(); logs carry the SQLSTATE and the statement, never a message
 * (it may quote a row) nor the conninfo.
 *
 * Schema. Unqualified names (the connection's search_path decides the
 * schema), created and migrated under pg_advisory_xact_lock keyed by the
 * current schema, so instances starting together do not race; the version
 * is meta 'schema_version'. The tree's perfect-subtree hashes are kept as
 * C2SP tiles: tile (level, idx) is the concatenated hashes of nodes (level,
 * idx*256) .. (level, idx*256 + n - 1); node_get reads 32 bytes of one row,
 * node_range one or two rows.
 *
 * scrub(): VACUUM log, forks (the tables whose rows envelope_replace and
 * fork_replace replace), outside any transaction. It makes the replaced
 * row versions unreachable and their space reusable; it does NOT zero the
 * bytes in the data files (they stay until the space is reused), nor
 * remove them from WAL segments not yet recycled, WAL archives, replicas'
 * files or backups; a version that a still-open snapshot can see is only
 * removed by a later VACUUM (autovacuum or the next scrub). Hence no
 * MLS_STORE_CAP_SCRUB_FILES. docs/operator.md §16.1 tells the operator.
 */
#include "store_pg_int.h"
#include "store_backend.h"

#include "mlproto/errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Version 1: the first layout (the SQLite store's tables and columns, with
 * tiles instead of nodes, log.leaf_hash, log_head and checkpoints). */
#define SCHEMA_VERSION 1
#define SCHEMA_KEY "schema_version"
/* Advisory lock of schema creation and migration: this key and the
 * current schema (two stores in two schemas of one database do not wait
 * for each other). */
#define SCHEMA_LOCK \
  "SELECT pg_advisory_xact_lock(hashtext('mentorlog.schema'), hashtext(coalesce(current_schema(), '')))"

/* The schema of version 1. Column names and keys as in store_sqlite.c
 * (tools and tests read both); bigint for INTEGER, bytea for BLOB.
 * STORAGE EXTERNAL: envelopes and hashes do not compress, so PostgreSQL
 * need not try. leaf_hash: log_by_leaf is keyed by (epoch = idx >> 12, the
 * hash's first 8 bytes) as SQLite's leaf_index is, so that new leaves
 * land in the current epoch's few index pages instead of a random page
 * each; leaf_find probes each epoch once. fillfactor leaves room for the
 * in-place (HOT) updates of the rows every commit rewrites. */
static const char SCHEMA[] =
    "CREATE TABLE mentors("
    " id bytea PRIMARY KEY CHECK(length(id)=16), name text NOT NULL, created_ms bigint NOT NULL);"
    "CREATE TABLE enroll_codes("
    " code_hash bytea PRIMARY KEY CHECK(length(code_hash)=32),"
    " mentor_id bytea NOT NULL REFERENCES mentors(id), created_ms bigint NOT NULL,"
    " expires_ms bigint NOT NULL, used_ms bigint, used_by bytea,"
    " id bytea CHECK(length(id)=8), revoked_ms bigint);"
    "CREATE UNIQUE INDEX enroll_codes_by_id ON enroll_codes(id);"
    "CREATE TABLE devices("
    " pub bytea PRIMARY KEY CHECK(length(pub)=32), id bytea NOT NULL UNIQUE, box_pub bytea NOT NULL,"
    " mentor_id bytea NOT NULL REFERENCES mentors(id), label text NOT NULL,"
    " enrolled_ms bigint NOT NULL, revoked_ms bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE sessions("
    " token_hash bytea PRIMARY KEY, device bytea NOT NULL, expires_ms bigint NOT NULL,"
    " challenge bytea NOT NULL UNIQUE CHECK(length(challenge)=32));"
    "CREATE INDEX sessions_by_expiry ON sessions(expires_ms);"
    "CREATE TABLE api_tokens("
    " token_hash bytea PRIMARY KEY, role text NOT NULL, jobcentre text, created_ms bigint NOT NULL);"
    "CREATE TABLE cases("
    " case_id bytea PRIMARY KEY, mentor_id bytea NOT NULL, erased_ms bigint);"
    "CREATE TABLE log("
    " idx bigint PRIMARY KEY, type bigint NOT NULL, received_ms bigint NOT NULL,"
    " record_hash bytea NOT NULL, author bytea NOT NULL, seq bigint NOT NULL,"
    " record_id bytea NOT NULL, case_id bytea NOT NULL, kind bigint NOT NULL,"
    " mentor_id bytea, envelope bytea NOT NULL, leaf_hash bytea NOT NULL CHECK(length(leaf_hash)=32),"
    " UNIQUE(author, seq));"
    "ALTER TABLE log ALTER COLUMN envelope SET STORAGE EXTERNAL;"
    "CREATE INDEX log_by_mentor ON log(mentor_id, idx);"
    "CREATE INDEX log_by_case ON log(case_id, idx);"
    "CREATE INDEX log_by_leaf ON log((idx >> 12), (substring(leaf_hash from 1 for 8)));"
    "CREATE TABLE case_jobcentres("
    " jobcentre text NOT NULL, case_id bytea NOT NULL CHECK(length(case_id)=16),"
    " PRIMARY KEY(jobcentre, case_id));"
    "CREATE TABLE tiles("
    " level smallint NOT NULL CHECK(level BETWEEN 0 AND 63), idx bigint NOT NULL,"
    " hashes bytea NOT NULL CHECK(length(hashes) BETWEEN 32 AND 8192 AND length(hashes) % 32 = 0),"
    " PRIMARY KEY(level, idx)) WITH (fillfactor = 50);"
    "ALTER TABLE tiles ALTER COLUMN hashes SET STORAGE EXTERNAL;"
    "CREATE TABLE log_head("
    " one boolean PRIMARY KEY DEFAULT true CHECK (one), size bigint NOT NULL,"
    " last_received_ms bigint NOT NULL) WITH (fillfactor = 10);"
    "INSERT INTO log_head(size, last_received_ms) VALUES(0, 0);"
    "CREATE TABLE checkpoints(size bigint PRIMARY KEY, note bytea NOT NULL);"
    "CREATE TABLE meta(key text PRIMARY KEY, value bytea NOT NULL);"
    "CREATE TABLE forks("
    " id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, author bytea NOT NULL,"
    " seq bigint NOT NULL, logged bytea NOT NULL, pushed bytea NOT NULL, device bytea NOT NULL,"
    " received_ms bigint NOT NULL);"
    "ALTER TABLE forks ALTER COLUMN logged SET STORAGE EXTERNAL;"
    "ALTER TABLE forks ALTER COLUMN pushed SET STORAGE EXTERNAL;"
    "CREATE TABLE witnesses(name text PRIMARY KEY, vkey text NOT NULL, added_ms bigint NOT NULL);"
    "CREATE TABLE cosignatures("
    " size bigint NOT NULL, witness text NOT NULL REFERENCES witnesses(name),"
    " ts bigint NOT NULL, sig bytea NOT NULL CHECK(length(sig)=64),"
    " received_ms bigint NOT NULL, PRIMARY KEY(size, witness));";
/* Session challenges are stateless (challenge.h): no challenges table; a
 * session keeps the challenge that opened it, unique (store.h). */

/* Tables added without a schema version (store.h: the caseworker's web
 * sessions), as SQLite adds them: created if absent at every opening, in
 * the schema's transaction, so a store of any version gets them and an
 * older server that opens it never looks at them. */
static const char SCHEMA_ADDITIVE[] =
    "CREATE TABLE IF NOT EXISTS web_sessions("
    " id_hash bytea PRIMARY KEY CHECK(length(id_hash)=32),"
    " token_hash bytea NOT NULL CHECK(length(token_hash)=32),"
    " created_ms bigint NOT NULL, expires_ms bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS web_sessions_by_expiry ON web_sessions(expires_ms);";

/* MIGRATIONS[v] takes a store of version v to v + 1 inside the opening
 * transaction (under the advisory lock); 0 is a new, empty schema, which
 * SCHEMA creates whole. */
static const char *const MIGRATIONS[SCHEMA_VERSION] = {
  [0] = NULL,
};

#define LOG_COLS \
  "idx, type, received_ms, record_hash, author, seq, record_id, case_id, kind, mentor_id, envelope"
#define CODE_COLS "id, mentor_id, created_ms, expires_ms, used_ms, used_by, revoked_ms"
#define DEVICE_COLS "pub, box_pub, mentor_id, label, enrolled_ms, revoked_ms, id"

/* Parameters are cast where PostgreSQL could not infer their type from
 * the column they meet (a binary parameter must be of exactly that type). */
static const char *const SQL[P__COUNT] = {
  [P_BEGIN_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
  [P_BEGIN_WRITE] = "BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE",
  [P_LOCK_HEAD] = "SELECT size, last_received_ms FROM log_head FOR UPDATE",
  [P_TOP_CHECKPOINT] = "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1",
  [P_COMMIT] = "COMMIT",
  [P_ROLLBACK] = "ROLLBACK",
  [P_MENTOR_ADD] = "INSERT INTO mentors(id, name, created_ms) VALUES($1, $2, $3)"
                   " ON CONFLICT DO NOTHING",
  [P_MENTOR_GET] = "SELECT id, name, created_ms FROM mentors WHERE id = $1",
  [P_MENTOR_LIST] = "SELECT id, name, created_ms FROM mentors ORDER BY created_ms, id",
  [P_CODE_ADD] = "INSERT INTO enroll_codes(code_hash, mentor_id, created_ms, expires_ms, id)"
                 " VALUES($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
  /* one statement: the check and the mark (SQLite's two, atomic there by its lock) */
  [P_CODE_CONSUME] = "UPDATE enroll_codes SET used_ms = $2, used_by = $3 WHERE code_hash = $1"
                     " AND used_ms IS NULL AND revoked_ms IS NULL AND expires_ms > $2"
                     " RETURNING mentor_id",
  [P_CODE_USED_BY] = "SELECT used_by, mentor_id FROM enroll_codes WHERE code_hash = $1"
                     " AND used_ms IS NOT NULL AND used_by IS NOT NULL",
  [P_CODE_LIST] = "SELECT " CODE_COLS " FROM enroll_codes ORDER BY created_ms, id",
  [P_CODE_GET_ID] = "SELECT " CODE_COLS " FROM enroll_codes WHERE id = $1",
  [P_CODE_REVOKE] = "UPDATE enroll_codes SET revoked_ms = $2 WHERE id = $1"
                    " AND used_ms IS NULL AND revoked_ms IS NULL",
  [P_DEVICE_ADD] = "INSERT INTO devices(" DEVICE_COLS ") VALUES($1, $2, $3, $4, $5, $6, $7)"
                   " ON CONFLICT DO NOTHING",
  [P_DEVICE_GET] = "SELECT " DEVICE_COLS " FROM devices WHERE pub = $1",
  [P_DEVICE_GET_ID] = "SELECT " DEVICE_COLS " FROM devices WHERE id = $1",
  [P_DEVICE_LIST] = "SELECT " DEVICE_COLS " FROM devices ORDER BY enrolled_ms, pub",
  [P_DEVICE_REVOKE] = "UPDATE devices SET revoked_ms = $2 WHERE pub = $1 AND revoked_ms = 0",
  /* the challenge is unique: a second session from one challenge is
   * refused at any instance (store.h); ALREADY_EXISTS either way */
  [P_SESS_ADD] = "INSERT INTO sessions(token_hash, device, expires_ms, challenge)"
                 " VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
  [P_SESS_PURGE] = "DELETE FROM sessions WHERE token_hash IN (SELECT token_hash FROM sessions"
                   " WHERE expires_ms <= $1 ORDER BY expires_ms LIMIT $2)",
  [P_SESS_GET] = "SELECT device FROM sessions WHERE token_hash = $1 AND expires_ms > $2",
  [P_WEB_ADD] = "INSERT INTO web_sessions(id_hash, token_hash, created_ms, expires_ms)"
                " VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
  [P_WEB_GET] = "SELECT token_hash, created_ms, expires_ms FROM web_sessions"
                " WHERE id_hash = $1 AND expires_ms > $2",
  [P_WEB_TOUCH] = "UPDATE web_sessions SET expires_ms = $2 WHERE id_hash = $1",
  [P_WEB_DELETE] = "DELETE FROM web_sessions WHERE id_hash = $1",
  [P_WEB_PURGE] = "DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM web_sessions"
                  " WHERE expires_ms <= $1 ORDER BY expires_ms LIMIT $2)",
  [P_TOKEN_ADD] = "INSERT INTO api_tokens(token_hash, role, jobcentre, created_ms)"
                  " VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING",
  [P_TOKEN_GET] = "SELECT role, coalesce(jobcentre, '') FROM api_tokens WHERE token_hash = $1",
  [P_CASE_GET] = "SELECT mentor_id, coalesce(erased_ms, 0) FROM cases WHERE case_id = $1",
  [P_CASE_PUT] = "INSERT INTO cases(case_id, mentor_id) VALUES($1, $2) ON CONFLICT DO NOTHING",
  [P_CASE_ERASED_GET] = "SELECT coalesce(erased_ms, 0) FROM cases WHERE case_id = $1",
  [P_CASE_ERASED_SET] = "UPDATE cases SET erased_ms = coalesce(erased_ms, $2) WHERE case_id = $1",
  [P_CASE_LIST] = "SELECT case_id, coalesce(erased_ms, 0) FROM cases ORDER BY case_id",
  [P_CASE_VERSION] = "SELECT mentor_id, coalesce(erased_ms, 0),"
                     " (SELECT max(idx) FROM log WHERE case_id = $1 AND idx < $2)"
                     " FROM cases WHERE case_id = $1",
  [P_JC_CASES] = "SELECT case_id FROM case_jobcentres WHERE jobcentre = $1 ORDER BY case_id",
  [P_META_GET] = "SELECT value FROM meta WHERE key = $1",
  [P_META_PUT] = "INSERT INTO meta(key, value) VALUES($1, $2)"
                 " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
  [P_AUTHOR_HEAD] = "SELECT seq, record_hash FROM log WHERE author = $1 ORDER BY seq DESC LIMIT 1",
  [P_RECORD_AT] = "SELECT idx, record_hash, received_ms FROM log WHERE author = $1 AND seq = $2",
  [P_ENVELOPE_AT] = "SELECT envelope FROM log WHERE idx = $1",
  [P_ENVELOPE_PUT] = "UPDATE log SET envelope = $2 WHERE idx = $1",
  [P_LOG_SIZE] = "SELECT size FROM log_head",
  [P_LOG_LIST_ALL] = "SELECT " LOG_COLS ", leaf_hash FROM log WHERE idx >= $1"
                     " ORDER BY idx LIMIT $2",
  [P_LOG_LIST_MENTOR] = "SELECT " LOG_COLS ", leaf_hash FROM log"
                        " WHERE mentor_id = $3 AND idx >= $1 ORDER BY idx LIMIT $2",
  /* no leaf hash: a report needs none (NULL: the entry's stays zero) */
  [P_CASE_ENTRIES] = "SELECT " LOG_COLS ", NULL::bytea FROM log"
                     " WHERE case_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx LIMIT $4",
  /* one seek of log_by_leaf (both columns) per epoch, from 0 to the last
   * leaf's: LATERAL ... LIMIT 1 keeps the planner from a join that scans
   * the whole index on its second column */
  [P_LEAF_FIND] = "SELECT min(l.idx) FROM"
                  " generate_series(0::bigint, (SELECT coalesce(max(idx), 0) FROM log) >> 12) e(x)"
                  " CROSS JOIN LATERAL (SELECT idx FROM log WHERE (idx >> 12) = e.x"
                  "  AND substring(leaf_hash from 1 for 8) = substring($1::bytea from 1 for 8)"
                  "  AND leaf_hash = $1::bytea ORDER BY idx LIMIT 1) l",
  [P_LEAF_ENTRY_RANGE] = "SELECT idx, type, received_ms, record_hash FROM log"
                         " WHERE idx BETWEEN $1 AND $2 ORDER BY idx",
  [P_NODE_GET] = "SELECT substring(hashes from ((($2::bigint) & 255) * 32 + 1)::int4 for 32)"
                 " FROM tiles WHERE level = $1 AND idx = ($2::bigint) >> 8",
  [P_NODE_RANGE] = "SELECT idx, hashes FROM tiles WHERE level = $1 AND idx BETWEEN $2 AND $3"
                   " ORDER BY idx",
  /* the last tile of every level (length(): from the TOAST pointer, not read) */
  [P_TILE_EDGES] = "SELECT l::bigint, t.idx, length(t.hashes)::bigint"
                   " FROM generate_series(0, 63) l CROSS JOIN LATERAL"
                   " (SELECT idx, hashes FROM tiles WHERE level = l ORDER BY idx DESC LIMIT 1) t",
  [P_TILE_LEN] = "SELECT length(hashes)::bigint FROM tiles WHERE level = $1 AND idx = $2",
  [P_STH_GET] = "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1",
  [P_FORK_ADD] = "INSERT INTO forks(author, seq, logged, pushed, device, received_ms)"
                 " VALUES($1, $2, $3, $4, $5, $6)",
  [P_FORK_COUNT] = "SELECT count(*) FROM forks",
  [P_FORK_LIST] = "SELECT id, logged, pushed FROM forks WHERE id >= $1 ORDER BY id LIMIT $2",
  [P_FORK_PUT] = "UPDATE forks SET logged = $2, pushed = $3 WHERE id = $1",
  [P_WITNESS_ADD] = "INSERT INTO witnesses(name, vkey, added_ms) VALUES($1, $2, $3)"
                    " ON CONFLICT DO NOTHING",
  [P_WITNESS_GET] = "SELECT name, vkey, added_ms FROM witnesses WHERE name = $1",
  /* COLLATE "C": byte order, as SQLite's BINARY */
  [P_WITNESS_LIST] = "SELECT name, vkey, added_ms FROM witnesses ORDER BY name COLLATE \"C\"",
  /* one per (size, witness), a later timestamp replaces; no witness: w empty */
  [P_COSIG_PUT] = "WITH w AS (SELECT name FROM witnesses WHERE name = $2::text),"
                  " ins AS (INSERT INTO cosignatures(size, witness, ts, sig, received_ms)"
                  "  SELECT $1::bigint, w.name, $3::bigint, $4::bytea, $5::bigint FROM w"
                  "  ON CONFLICT(size, witness) DO UPDATE SET ts = excluded.ts, sig = excluded.sig,"
                  "  received_ms = excluded.received_ms WHERE excluded.ts > cosignatures.ts"
                  "  RETURNING 1)"
                  " SELECT (SELECT count(*) FROM w), (SELECT count(*) FROM ins)",
  [P_COSIG_LIST] = "SELECT c.witness, c.size, c.ts, c.sig, c.received_ms FROM cosignatures c"
                   " JOIN witnesses w ON w.name = c.witness WHERE c.size = $1"
                   " ORDER BY c.witness COLLATE \"C\" LIMIT $2",
  /* the write buffer: one statement per table */
  [P_FLUSH_LOG] = "INSERT INTO log(" LOG_COLS ", leaf_hash) SELECT * FROM unnest("
                  "$1::bigint[], $2::bigint[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bigint[],"
                  " $7::bytea[], $8::bytea[], $9::bigint[], $10::bytea[], $11::bytea[], $12::bytea[])",
  /* the writer knows each tile's stored length (read under the lock): a
   * new tile is inserted, a stored one grows by the new hashes */
  [P_FLUSH_TILES] = "INSERT INTO tiles(level, idx, hashes)"
                    " SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])"
                    " ON CONFLICT(level, idx) DO UPDATE SET hashes = tiles.hashes || excluded.hashes",
  [P_FLUSH_CASES] = "INSERT INTO cases(case_id, mentor_id)"
                    " SELECT * FROM unnest($1::bytea[], $2::bytea[])",
  [P_FLUSH_JC] = "INSERT INTO case_jobcentres(jobcentre, case_id)"
                 " SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING",
  [P_STH_PUT] = "INSERT INTO checkpoints(size, note) VALUES($1, $2)",
  [P_HEAD_PUT] = "UPDATE log_head SET size = $1, last_received_ms = $2",
};

/* Names of the prepared statements, and of the statements in the logs. */
static const char *const NAMES[P__COUNT] = {
#define PG_STMT_NAME(n) #n,
  PG_STMTS(PG_STMT_NAME)
#undef PG_STMT_NAME
};
static void stmt_name(char out[32], enum pg_stmt id) { snprintf(out, 32, "%s", NAMES[id]); }

static const mls_store_ops PG_OPS;

/* ------------------------------------------------------------ statements --- */

int pg_exec(pg_txn *tx, enum pg_stmt id, const pg_par *p, PGresult **res) {
  if (res) *res = NULL;
  if (tx->failed) return tx->failed;
  char name[32];
  stmt_name(name, id);
  static const pg_par none;
  if (!p) p = &none;
  PGresult *r = PQexecPrepared(tx->c->db, name, p->n, p->val, p->len, p->fmt, 1);
  ExecStatusType s = PQresultStatus(r);
  if (r && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)) {
    if (res) *res = r;
    else PQclear(r);
    return MLPROTO_OK;
  }
  int rc = pg_fail(tx->c, r, name);
  PQclear(r);
  tx->failed = rc;
  return rc;
}

int pg_pipeline(pg_store *st, pg_conn *c, pg_cmd *cmds, size_t n) {
  (void)st;
  for (size_t i = 0; i < n; i++) cmds[i].res = NULL;
  PGconn *db = c->db;
  if (!PQenterPipelineMode(db)) return pg_fail(c, NULL, "pipeline");
  static const pg_par none;
  char name[32] = "pipeline";
  for (size_t i = 0; i < n; i++) {
    const pg_par *p = cmds[i].p ? cmds[i].p : &none;
    stmt_name(name, cmds[i].id);
    if (!PQsendQueryPrepared(db, name, p->n, p->val, p->len, p->fmt, 1)) {
      c->broken = 1; /* half a batch sent: the connection is not reused */
      return pg_fail(c, NULL, name);
    }
  }
  if (!PQpipelineSync(db)) {
    c->broken = 1;
    return pg_fail(c, NULL, "sync");
  }
  int rc = MLPROTO_OK;
  for (size_t i = 0; i < n; i++) {
    PGresult *r = PQgetResult(db);
    if (!r) {
      c->broken = 1;
      return rc ? rc : pg_fail(c, NULL, "pipeline");
    }
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
      cmds[i].res = r;
    } else {
      if (s != PGRES_PIPELINE_ABORTED && !rc) {
        stmt_name(name, cmds[i].id);
        rc = pg_fail(c, r, name);
      }
      PQclear(r);
    }
    /* the NULL that ends each statement's results */
    for (PGresult *x; (x = PQgetResult(db));) {
      PQclear(x);
      c->broken = 1;
    }
  }
  PGresult *sync = PQgetResult(db);
  if (!sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) c->broken = 1;
  PQclear(sync);
  if (!PQexitPipelineMode(db)) c->broken = 1;
  if (!rc && c->broken) rc = pg_fail(c, NULL, "pipeline");
  return rc;
}

/* ----------------------------------------------------------- connections --- */

/* Notices (e.g. "relation exists, skipping") may quote names: dropped. */
static void notice_drop(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static void conn_free(pg_conn *c) {
  if (!c) return;
  PQfinish(c->db);
  free(c);
}

/* A simple-protocol statement with text results; OK or the mapped error. */
static int conn_simple(pg_conn *c, const char *sql, const char *what, PGresult **res) {
  if (res) *res = NULL;
  PGresult *r = PQexec(c->db, sql);
  ExecStatusType s = PQresultStatus(r);
  if (r && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)) {
    if (res) *res = r;
    else PQclear(r);
    return MLPROTO_OK;
  }
  int rc = pg_fail(c, r, what);
  PQclear(r);
  return rc;
}

static int prepare_all(pg_conn *c) {
  PGconn *db = c->db;
  if (!PQenterPipelineMode(db)) return pg_fail(c, NULL, "prepare");
  char name[32];
  for (int i = 0; i < P__COUNT; i++) {
    stmt_name(name, (enum pg_stmt)i);
    if (!PQsendPrepare(db, name, SQL[i], 0, NULL)) {
      c->broken = 1;
      return pg_fail(c, NULL, name);
    }
  }
  if (!PQpipelineSync(db)) {
    c->broken = 1;
    return pg_fail(c, NULL, "prepare");
  }
  int rc = MLPROTO_OK;
  for (int i = 0; i < P__COUNT; i++) {
    PGresult *r = PQgetResult(db);
    if (!r) {
      c->broken = 1;
      return rc ? rc : pg_fail(c, NULL, "prepare");
    }
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_PIPELINE_ABORTED && !rc) {
      stmt_name(name, (enum pg_stmt)i);
      rc = pg_fail(c, r, name);
    }
    PQclear(r);
    for (PGresult *x; (x = PQgetResult(db));) PQclear(x);
  }
  PGresult *sync = PQgetResult(db);
  if (!sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) c->broken = 1;
  PQclear(sync);
  if (!PQexitPipelineMode(db)) c->broken = 1;
  if (!rc && c->broken) rc = pg_fail(c, NULL, "prepare");
  return rc;
}

/* 1 the first time (for a warning logged once per store). */
static int warn_once(pg_store *st, int *flag) {
  pthread_mutex_lock(&st->lock);
  int first = !*flag;
  *flag = 1;
  pthread_mutex_unlock(&st->lock);
  return first;
}

/* Connects and sets the session up: lock_timeout, quiet notices, a durable
 * synchronous_commit. prepare: also prepares every statement (the schema
 * must exist). */
static int conn_open(pg_store *st, int prepare, pg_conn **out) {
  *out = NULL;
  pg_conn *c = calloc(1, sizeof *c);
  if (!c) return MLPROTO_ERR_OUT_OF_MEMORY;
  /* later keywords override the conninfo's: UTF-8 is what we send */
  const char *keys[] = {"dbname", "fallback_application_name", "client_encoding", NULL};
  const char *vals[] = {st->conninfo, "mentorlog-server", "UTF8", NULL};
  c->db = PQconnectdbParams(keys, vals, 1);
  if (!c->db) {
    free(c);
    return MLPROTO_ERR_OUT_OF_MEMORY;
  }
  if (PQstatus(c->db) != CONNECTION_OK) {
    /* PQerrorMessage names hosts, users, sockets: not logged */
    mls_logf("error", "pg_connect_failed", "needs_password=%d", PQconnectionNeedsPassword(c->db));
    conn_free(c);
    return MLPROTO_ERR_STORAGE;
  }
  PQsetNoticeProcessor(c->db, notice_drop, NULL);
  char ms[32];
  snprintf(ms, sizeof ms, "%ums", st->busy_ms);
  const char *pv[] = {ms};
  PGresult *r = PQexecParams(c->db,
                             "SELECT set_config('lock_timeout', $1, false),"
                             " set_config('client_min_messages', 'warning', false),"
                             " current_setting('synchronous_commit'), current_setting('fsync')",
                             1, NULL, pv, NULL, NULL, 0);
  int rc = MLPROTO_OK;
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
    rc = pg_fail(c, r, "session");
  } else {
    const char *sync = PQgetvalue(r, 0, 2), *fsync = PQgetvalue(r, 0, 3);
    if (strcmp(sync, "off") == 0 || strcmp(sync, "local") == 0) {
      /* off: a commit would return before it is on disk; local: before a
       * synchronous standby has it (a failover could lose it) */
      if (warn_once(st, &st->warned_sync))
        mls_logf("warn", "pg_synchronous_commit_raised", "was=%s now=on", sync);
      rc = conn_simple(c, "SET synchronous_commit = on", "session", NULL);
    }
    if (!rc && strcmp(fsync, "on") != 0 && warn_once(st, &st->warned_fsync))
      mls_logf("warn", "pg_fsync_off", "hint=the_server_does_not_make_commits_durable");
  }
  PQclear(r);
  if (!rc && prepare) rc = prepare_all(c);
  if (rc) {
    conn_free(c);
    return rc;
  }
  *out = c;
  return MLPROTO_OK;
}

static void pool_put(pg_store *st, pg_conn *c) {
  /* a connection in any state but idle and healthy is not reused */
  if (c->broken || PQstatus(c->db) != CONNECTION_OK ||
      PQtransactionStatus(c->db) != PQTRANS_IDLE) {
    conn_free(c);
    pthread_mutex_lock(&st->lock);
    st->n_conns--;
    pthread_cond_signal(&st->freed);
    pthread_mutex_unlock(&st->lock);
    return;
  }
  pthread_mutex_lock(&st->lock);
  c->next = st->free_list;
  st->free_list = c;
  pthread_cond_signal(&st->freed);
  pthread_mutex_unlock(&st->lock);
}

/* A pooled connection, or a new one; *fresh says which. */
static int pool_get(pg_store *st, pg_conn **out, int *fresh) {
  *fresh = 0;
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
  int rc = conn_open(st, 1, out);
  if (rc) {
    pthread_mutex_lock(&st->lock);
    st->n_conns--;
    pthread_cond_signal(&st->freed);
    pthread_mutex_unlock(&st->lock);
    return rc;
  }
  *fresh = 1;
  return MLPROTO_OK;
}

/* ----------------------------------------------------------------- schema --- */

/* meta's schema_version: ASCII digits */
static int parse_version(const PGresult *r, int *out) {
  const char *v = PQgetvalue(r, 0, 0);
  int n = 0;
  if (!*v) return MLPROTO_ERR_STORAGE;
  for (; *v; v++) {
    if (*v < '0' || *v > '9' || n > 100000) return MLPROTO_ERR_STORAGE;
    n = n * 10 + (*v - '0');
  }
  *out = n;
  return MLPROTO_OK;
}

/* Creates or migrates the schema in one transaction under the advisory
 * lock; reads only when it is current. */
static int schema_setup(pg_conn *c, int create) {
  int rc = conn_simple(c, "BEGIN ISOLATION LEVEL READ COMMITTED", "schema", NULL);
  if (!rc) rc = conn_simple(c, SCHEMA_LOCK, "schema_lock", NULL);
  PGresult *r = NULL;
  int version = 0, exists = 0;
  if (!rc) rc = conn_simple(c, "SELECT to_regclass('meta') IS NOT NULL", "schema", &r);
  if (!rc) exists = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  PQclear(r);
  r = NULL;
  if (!rc && exists) {
    rc = conn_simple(c, "SELECT convert_from(value, 'UTF8') FROM meta WHERE key = '" SCHEMA_KEY "'",
                     "schema", &r);
    if (!rc && PQntuples(r) != 1) {
      mls_logf("error", "pg_schema_unversioned", "hint=meta_has_no_schema_version");
      rc = MLPROTO_ERR_STORAGE;
    }
    if (!rc && parse_version(r, &version)) {
      mls_logf("error", "pg_schema_unversioned", "hint=schema_version_unreadable");
      rc = MLPROTO_ERR_STORAGE;
    }
    PQclear(r);
  }
  if (!rc && !exists && !create) rc = MLPROTO_ERR_NOT_FOUND;
  if (!rc && version > SCHEMA_VERSION) {
    /* written by a newer server: refuse rather than misread or damage it */
    mls_logf("error", "store_too_new", "version=%d supported=%d", version, SCHEMA_VERSION);
    rc = MLPROTO_ERR_STORE_TOO_NEW;
  }
  if (!rc && exists) { /* admin migrate's marker (store.h), before anything is written */
    rc = conn_simple(c, "SELECT 1 FROM meta WHERE key = '" MLS_META_MIGRATED "'", "schema", &r);
    if (!rc && PQntuples(r) > 0) {
      mls_logf("error", "store_migrated", "meta=%s", MLS_META_MIGRATED);
      rc = MLPROTO_ERR_STORE_MIGRATED;
    }
    PQclear(r);
    r = NULL;
  }
  for (int v = version; !rc && v > 0 && v < SCHEMA_VERSION; v++) {
    if (MIGRATIONS[v]) rc = conn_simple(c, MIGRATIONS[v], "migration", NULL);
    if (!rc) mls_logf("info", "store_migrated", "from=%d to=%d", v, v + 1);
  }
  if (!rc && !exists) rc = conn_simple(c, SCHEMA, "schema_create", NULL);
  if (!rc) rc = conn_simple(c, SCHEMA_ADDITIVE, "schema_additive", NULL);
  if (!rc && version != SCHEMA_VERSION) {
    char sql[160];
    snprintf(sql, sizeof sql,
             "INSERT INTO meta(key, value) VALUES('" SCHEMA_KEY "', convert_to('%d', 'UTF8'))"
             " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
             SCHEMA_VERSION);
    rc = conn_simple(c, sql, "schema_version", NULL);
  }
  if (!rc) return conn_simple(c, "COMMIT", "schema_commit", NULL);
  if (!c->broken) {
    PGresult *x = PQexec(c->db, "ROLLBACK");
    if (PQresultStatus(x) != PGRES_COMMAND_OK) c->broken = 1;
    PQclear(x);
  }
  return rc;
}

/* ------------------------------------------------------------------ store --- */

static void pg_close(mls_store *base) {
  pg_store *st = (pg_store *)base;
  if (!st) return;
  while (st->free_list) {
    pg_conn *c = st->free_list;
    st->free_list = c->next;
    conn_free(c);
  }
  pthread_mutex_destroy(&st->lock);
  pthread_cond_destroy(&st->freed);
  if (st->conninfo) {
    memset(st->conninfo, 0, strlen(st->conninfo));
    free(st->conninfo);
  }
  free(st);
}

int mls_store_pg_open(mls_store **out, const char *conninfo, const mls_store_options *opt) {
  *out = NULL;
  pg_store *st = calloc(1, sizeof *st);
  if (!st) return MLPROTO_ERR_OUT_OF_MEMORY;
  st->base.ops = &PG_OPS;
  st->busy_ms = opt->busy_timeout_ms;
  st->max_conns = (int)opt->connections;
  pthread_mutex_init(&st->lock, NULL);
  pthread_cond_init(&st->freed, NULL);
  st->conninfo = strdup(conninfo);
  if (!st->conninfo) {
    pg_close(&st->base);
    return MLPROTO_ERR_OUT_OF_MEMORY;
  }
  pg_conn *c;
  int rc = conn_open(st, 0, &c);
  if (rc) {
    pg_close(&st->base);
    return rc;
  }
  rc = schema_setup(c, opt->create);
  if (!rc) rc = prepare_all(c);
  if (rc) {
    conn_free(c);
    pg_close(&st->base);
    return rc;
  }
  st->n_conns = 1;
  pool_put(st, c);
  *out = &st->base;
  return MLPROTO_OK;
}

/* ----------------------------------------------------------- transactions --- */

static void txn_free(pg_txn *tx) {
  pg_buf_free(tx);
  free(tx);
}

/* Ends whatever the connection still has open and returns it. */
static void txn_release(pg_txn *tx) {
  pg_conn *c = tx->c;
  if (!c->broken && PQtransactionStatus(c->db) != PQTRANS_IDLE) {
    char name[32];
    stmt_name(name, P_ROLLBACK);
    PGresult *r = PQexecPrepared(c->db, name, 0, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) c->broken = 1;
    PQclear(r);
  }
  pool_put(tx->st, c);
  tx->c = NULL;
}

static int begin_on(pg_txn *tx) {
  pg_cmd cmds[3] = {{.id = tx->write ? P_BEGIN_WRITE : P_BEGIN_READ},
                    {.id = P_LOCK_HEAD},
                    {.id = P_TOP_CHECKPOINT}};
  size_t n = tx->write ? 3 : 1;
  int rc = pg_pipeline(tx->st, tx->c, cmds, n);
  if (!rc && tx->write) {
    PGresult *h = cmds[1].res, *t = cmds[2].res;
    if (PQntuples(h) != 1) {
      mls_logf("error", "pg_log_head_missing", "rows=%d", PQntuples(h));
      rc = MLPROTO_ERR_STORAGE;
    } else {
      tx->head_size = tx->db_size = pg_r_u64(h, 0, 0);
      tx->head_last_ms = tx->last_ms = pg_r_u64(h, 0, 1);
    }
    if (!rc && PQntuples(t) == 1) {
      int len = PQgetlength(t, 0, 1);
      if (len < 0 || (size_t)len > sizeof tx->top_note) {
        rc = MLPROTO_ERR_STORAGE;
      } else {
        tx->have_top = 1;
        tx->top_size = pg_r_u64(t, 0, 0);
        tx->top_len = (size_t)len;
        memcpy(tx->top_note, PQgetvalue(t, 0, 1), (size_t)len);
      }
    }
  }
  for (size_t i = 0; i < n; i++) PQclear(cmds[i].res);
  return rc;
}

static int pg_begin(mls_store *base, int mode, mls_txn **out) {
  pg_store *st = (pg_store *)base;
  *out = NULL;
  pg_txn *tx = calloc(1, sizeof *tx);
  if (!tx) return MLPROTO_ERR_OUT_OF_MEMORY;
  tx->base.ops = &PG_OPS;
  tx->st = st;
  tx->write = mode == MLS_TXN_WRITE;
  int rc;
  /* A pooled connection whose backend went away fails here before any
   * work: replaced by the next (at most every pooled one, then a new). */
  for (int attempt = 0;; attempt++) {
    int fresh;
    if ((rc = pool_get(st, &tx->c, &fresh))) break;
    rc = begin_on(tx);
    if (!rc) break;
    int retry = tx->c->broken && !fresh && attempt <= st->max_conns;
    txn_release(tx);
    if (!retry) break;
  }
  if (rc) {
    txn_free(tx);
    return rc;
  }
  *out = &tx->base;
  return MLPROTO_OK;
}

static void pg_rollback(mls_txn *base) {
  pg_txn *tx = PTX(base);
  txn_release(tx);
  txn_free(tx);
}

static int pg_commit(mls_txn *base) {
  pg_txn *tx = PTX(base);
  int rc = tx->failed;
  if (!rc) {
    if (tx->write) {
      rc = pg_commit_batch(tx);
    } else {
      char name[32];
      stmt_name(name, P_COMMIT);
      PGresult *r = PQexecPrepared(tx->c->db, name, 0, NULL, NULL, NULL, 1);
      if (PQresultStatus(r) != PGRES_COMMAND_OK) rc = pg_fail(tx->c, r, name);
      PQclear(r);
    }
  }
  txn_release(tx);
  txn_free(tx);
  return rc;
}

static int pg_scrub(mls_store *base) {
  pg_store *st = (pg_store *)base;
  pg_conn *c;
  int fresh;
  int rc = pool_get(st, &c, &fresh);
  if (rc) return rc;
  /* One instance at a time: every instance runs this periodically
   * (--wal-truncate), and N VACUUMs of the same tables in the same second
   * only wait for each other. A session-level advisory lock (VACUUM cannot
   * run inside a transaction, so not pg_try_advisory_xact_lock): the one
   * that does not get it returns at once, successfully — the other is
   * doing the same work. The key is the schema-qualified table's oid, so
   * two stores (schemas) of one database do not exclude each other. */
  PGresult *r;
  rc = conn_simple(c, "SELECT pg_try_advisory_lock('log'::regclass::oid::bigint)", "scrub lock",
                   &r);
  if (rc) {
    pool_put(st, c);
    return rc;
  }
  int got = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
  PQclear(r);
  if (!got) {
    pool_put(st, c);
    return MLPROTO_OK;
  }
  /* outside any transaction (VACUUM cannot run in one) */
  rc = conn_simple(c, "VACUUM log, forks", "vacuum", NULL);
  /* an unlock that fails (a broken connection) ends with the session */
  (void)conn_simple(c, "SELECT pg_advisory_unlock('log'::regclass::oid::bigint)", "scrub unlock",
                    NULL);
  pool_put(st, c);
  return rc;
}

static const mls_store_ops PG_OPS = {
  .version = MLS_STORE_OPS_VERSION,
  .caps = MLS_STORE_CAP_SHARED,
  .name = "postgresql",
  .close = pg_close,
  .begin = pg_begin,
  .commit = pg_commit,
  .rollback = pg_rollback,
  .mentor_add = pg_mentor_add,
  .mentor_get = pg_mentor_get,
  .mentor_list = pg_mentor_list,
  .code_add = pg_code_add,
  .code_consume = pg_code_consume,
  .code_used_by = pg_code_used_by,
  .code_list = pg_code_list,
  .code_get = pg_code_get,
  .code_revoke = pg_code_revoke,
  .device_add = pg_device_add,
  .device_get = pg_device_get,
  .device_get_by_id = pg_device_get_by_id,
  .device_list = pg_device_list,
  .device_revoke = pg_device_revoke,
  /* Session challenges are stateless (HMAC, issue "challenge"): these two
   * operations are leaving store.h and have no table here. */
  .session_add = pg_session_add,
  .session_get = pg_session_get,
  .session_purge = pg_session_purge,
  .web_session_add = pg_web_session_add,
  .web_session_get = pg_web_session_get,
  .web_session_touch = pg_web_session_touch,
  .web_session_delete = pg_web_session_delete,
  .web_session_purge = pg_web_session_purge,
  .api_token_add = pg_api_token_add,
  .case_owner = pg_case_owner,
  .case_claim = pg_case_claim,
  .author_head = pg_author_head,
  .record_at = pg_record_at,
  .envelope_at = pg_envelope_at,
  .log_append = pg_log_append,
  .log_size = pg_log_size,
  .log_list = pg_log_list,
  .leaf_find = pg_leaf_find,
  .node_put = pg_node_put,
  .node_get = pg_node_get,
  .sth_put = pg_sth_put,
  .sth_get = pg_sth_get,
  .fork_add = pg_fork_add,
  .fork_count = pg_fork_count,
  .node_range = pg_node_range,
  .leaf_entry_range = pg_leaf_entry_range,
  .api_token_get = pg_api_token_get,
  .case_jobcentre_add = pg_case_jobcentre_add,
  .jobcentre_cases = pg_jobcentre_cases,
  .case_entries = pg_case_entries,
  .case_version = pg_case_version,
  .meta_get = pg_meta_get,
  .meta_put = pg_meta_put,
  .envelope_replace = pg_envelope_replace,
  .case_erased_get = pg_case_erased_get,
  .case_erased_set = pg_case_erased_set,
  .case_list = pg_case_list,
  .fork_list = pg_fork_list,
  .fork_replace = pg_fork_replace,
  .scrub = pg_scrub,
  .witness_add = pg_witness_add,
  .witness_get = pg_witness_get,
  .witness_list = pg_witness_list,
  .cosig_put = pg_cosig_put,
  .cosig_list = pg_cosig_list,
};
