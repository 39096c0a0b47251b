/* The SQLite layer: pragmas, schema, migrations, transactions, error mapping. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Schema v1. Records are stored whole (header, signature, disclosed, sealed)
 * so they can be re-verified and pushed byte for byte; the indexed columns
 * are copies of header fields for queries. */
static const char schema_v1[] =
    "CREATE TABLE keyring("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  kdf INTEGER NOT NULL, opslimit INTEGER NOT NULL, memlimit INTEGER NOT NULL,"
    "  salt BLOB NOT NULL, wrapped BLOB NOT NULL,"
    "  sign_pk BLOB NOT NULL, box_pk BLOB NOT NULL);"
    "CREATE TABLE records("
    "  rid INTEGER PRIMARY KEY,"
    "  record_id BLOB NOT NULL UNIQUE, case_id BLOB NOT NULL, item_id BLOB NOT NULL,"
    "  author BLOB NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL, hlc INTEGER NOT NULL,"
    "  hash BLOB NOT NULL UNIQUE, envelope BLOB NOT NULL,"
    "  UNIQUE (author, seq));"
    "CREATE INDEX records_case ON records(case_id, kind);"
    "CREATE INDEX records_item ON records(item_id);"
    /* edges of the supersede graph: rec supersedes old */
    "CREATE TABLE supersedes(rec BLOB NOT NULL, old BLOB NOT NULL, PRIMARY KEY (rec, old)) WITHOUT ROWID;"
    "CREATE INDEX supersedes_old ON supersedes(old);"
    /* this device's chain tip (one row) */
    "CREATE TABLE chain(id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, head BLOB NOT NULL,"
    "  hlc INTEGER NOT NULL);"
    "INSERT INTO chain VALUES (1, 0, zeroblob(32), 0);"
    /* own records not yet acknowledged by the server, in seq order */
    "CREATE TABLE outbox(seq INTEGER PRIMARY KEY, record_id BLOB NOT NULL);"
    "CREATE TABLE case_keys(case_id BLOB PRIMARY KEY, wrapped BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE erased_cases(case_id BLOB PRIMARY KEY, at_hlc INTEGER NOT NULL) WITHOUT ROWID;"
    /* sync: pull cursor and last signed tree head (one row) */
    "CREATE TABLE sync_state(id INTEGER PRIMARY KEY CHECK (id = 1), pull_cursor INTEGER NOT NULL,"
    "  sth BLOB);"
    "INSERT INTO sync_state VALUES (1, 0, NULL);"
    /* receipts: the server's log index and receipt time of a record */
    "CREATE TABLE receipts(record_id BLOB PRIMARY KEY, log_index INTEGER NOT NULL,"
    "  received_ms INTEGER NOT NULL) WITHOUT ROWID;"
    /* server events (DEVICE_ENROLLED, ESCROW_KEY, ...) received by pull */
    "CREATE TABLE server_events(log_index INTEGER PRIMARY KEY, kind INTEGER NOT NULL,"
    "  envelope BLOB NOT NULL);";

/* v2: listing every case (or every record of a kind) searched the whole
 * records table; records_case(case_id, kind) only serves one case. */
static const char schema_v2[] = "CREATE INDEX records_kind ON records(kind);";

/* A migration: SQL, then (when not NULL) code that needs the unlocked keys. */
struct migration {
  int to;
  const char *sql;
  int (*fn)(mentorlog *h);
};
/* v3: indexes that bulk writing paid for and no query used. The UNIQUE on
 * hash (a random key: every batch dirtied nearly every page of its index)
 * is implied by record_id's, and a first version's item_id is its own
 * record_id, so records_item holds only later versions (item heads look up
 * the first version by record_id). A UNIQUE constraint cannot be dropped, so
 * the table is rebuilt (SQLite's "making other kinds of table schema
 * changes"); rids are kept, so the order of records is unchanged. */
static const char schema_v3[] =
    "CREATE TABLE records_v3("
    "  rid INTEGER PRIMARY KEY,"
    "  record_id BLOB NOT NULL UNIQUE, case_id BLOB NOT NULL, item_id BLOB NOT NULL,"
    "  author BLOB NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL, hlc INTEGER NOT NULL,"
    "  hash BLOB NOT NULL, envelope BLOB NOT NULL,"
    "  UNIQUE (author, seq));"
    "INSERT INTO records_v3 SELECT rid, record_id, case_id, item_id, author, seq, kind, hlc, hash,"
    "  envelope FROM records;"
    "DROP TABLE records;"
    "ALTER TABLE records_v3 RENAME TO records;"
    "CREATE INDEX records_case ON records(case_id, kind);"
    "CREATE INDEX records_item ON records(item_id) WHERE item_id != record_id;"
    "CREATE INDEX records_kind ON records(kind);";

/* v4: nothing readable at rest (DESIGN.md, "At rest"). The hlc column (the
 * device's clock when a record was written, close to a contact's time) goes:
 * it lives only inside the sealed envelope now, and item heads are ordered by
 * rid. Then ml__recstore_seal_all seals every envelope under the record key
 * in place; secure_delete zeroes the old cells, and the caller checkpoints
 * the WAL with TRUNCATE and VACUUMs once the transaction is committed, so no
 * old page image survives in any file. */
static const char schema_v4[] =
    "CREATE TABLE records_v4("
    "  rid INTEGER PRIMARY KEY,"
    "  record_id BLOB NOT NULL UNIQUE, case_id BLOB NOT NULL, item_id BLOB NOT NULL,"
    "  author BLOB NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL,"
    "  hash BLOB NOT NULL, envelope BLOB NOT NULL,"
    "  UNIQUE (author, seq));"
    "INSERT INTO records_v4 SELECT rid, record_id, case_id, item_id, author, seq, kind, hash,"
    "  envelope FROM records;"
    "DROP TABLE records;"
    "ALTER TABLE records_v4 RENAME TO records;"
    "CREATE INDEX records_case ON records(case_id, kind);"
    "CREATE INDEX records_item ON records(item_id) WHERE item_id != record_id;"
    "CREATE INDEX records_kind ON records(kind);"
    /* maintenance left to do after a migration's COMMIT (ml__db_maintain) */
    "CREATE TABLE maintenance(task TEXT PRIMARY KEY) WITHOUT ROWID;"
    "INSERT INTO maintenance VALUES ('scrub');";

/* v5: sync (sync_state.c). The v1 tables for it were never written; they
 * kept a cursor, receipts and server events in plaintext. Now: one sealed
 * state row; receipts with their index and receipt time sealed (the index
 * maps to a time through the public log); and which recipients the log's
 * KEY_GRANTs name per case (random case ids, public box keys, and a tag
 * of the key: a keyed hash that tells only which grants carry one key). */
static const char schema_v5[] =
    "DROP TABLE sync_state; DROP TABLE receipts; DROP TABLE server_events;"
    "CREATE TABLE sync(id INTEGER PRIMARY KEY CHECK (id = 1), state BLOB NOT NULL);"
    "CREATE TABLE receipts(record_id BLOB PRIMARY KEY, sealed BLOB NOT NULL,"
    "  verified INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE grants(case_id BLOB NOT NULL, recipient BLOB NOT NULL, tag BLOB NOT NULL,"
    "  PRIMARY KEY (case_id, recipient, tag)) WITHOUT ROWID;"
    /* case keys in generations: a rotation (a device was revoked) adds one;
     * new records are sealed under the newest, older ones still open */
    "CREATE TABLE case_keys_v5(case_id BLOB NOT NULL, gen INTEGER NOT NULL, tag BLOB NOT NULL,"
    "  wrapped BLOB NOT NULL, PRIMARY KEY (case_id, gen)) WITHOUT ROWID;"
    "INSERT INTO case_keys_v5 SELECT case_id, 0, zeroblob(16), wrapped FROM case_keys;"
    "DROP TABLE case_keys; ALTER TABLE case_keys_v5 RENAME TO case_keys;"
    /* acknowledgements delete outbox rows by record id */
    "CREATE INDEX outbox_record ON outbox(record_id);";

static const struct migration migrations[] = {
    {1, schema_v1, NULL}, {2, schema_v2, NULL}, {3, schema_v3, NULL},
    {4, schema_v4, ml__recstore_seal_all}, {5, schema_v5, ml__casekey_tag_all}};

static const char *const cached_sql[ML_SQL_COUNT] = {
    [ML_SQL_BEGIN] = "BEGIN IMMEDIATE",
    [ML_SQL_COMMIT] = "COMMIT",
    [ML_SQL_RECORD_INSERT] = "INSERT INTO records(record_id, case_id, item_id, author, seq, kind, hash,"
                             " envelope) VALUES (?,?,?,?,?,?,?,?)",
    [ML_SQL_SUPERSEDE_INSERT] = "INSERT OR IGNORE INTO supersedes VALUES (?,?)",
    [ML_SQL_CHAIN_UPDATE] = "UPDATE chain SET seq = ?, head = ?, hlc = ? WHERE id = 1",
    [ML_SQL_OUTBOX_INSERT] = "INSERT INTO outbox VALUES (?,?)",
    [ML_SQL_CASE_CHECK] = "SELECT (SELECT count(*) FROM records WHERE case_id = ?1 AND kind = 1),"
                          " (SELECT count(*) FROM erased_cases WHERE case_id = ?1)",
    [ML_SQL_CASEKEY_GET] = "SELECT wrapped, gen FROM case_keys WHERE case_id = ?1 AND (?2 < 0 OR gen = ?2)"
                          " ORDER BY gen DESC LIMIT 1",
    [ML_SQL_RECORD_META] = "SELECT item_id, case_id, kind FROM records WHERE record_id = ?",
    /* versions of an item that no version of the same item supersedes */
    [ML_SQL_ITEM_HEADS] = "SELECT r.record_id FROM records r"
                          " WHERE (r.record_id = ?1 OR (r.item_id = ?1 AND r.item_id != r.record_id))"
                          " AND NOT EXISTS"
                          " (SELECT 1 FROM supersedes s JOIN records x ON x.record_id = s.rec"
                          "  WHERE s.old = r.record_id AND x.item_id = ?1) ORDER BY r.rid DESC LIMIT 16",
    /* rows for ml__row_record: record_id (the AAD), sealed envelope, hash */
    [ML_SQL_RECORD_BY_ID] = "SELECT record_id, envelope, hash FROM records WHERE record_id = ?",
    [ML_SQL_CASE_RECORDS] = "SELECT record_id, envelope, hash FROM records WHERE case_id = ?1"
                            " AND kind BETWEEN ?2 AND ?3 ORDER BY rid",
    [ML_SQL_KIND_RECORDS] = "SELECT record_id, envelope, hash FROM records WHERE kind BETWEEN ?1 AND ?2"
                            " ORDER BY rid",
};

int ml__fail(mentorlog *h, int code, const char *fmt, ...) {
  if (h) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->errmsg, sizeof h->errmsg, fmt, ap);
    va_end(ap);
  }
  return code;
}

int ml__sqlite_err(mentorlog *h, int rc, const char *what) {
  int code;
  int prim = rc & 0xff;
  int sys = (h && h->db) ? sqlite3_system_errno(h->db) : 0;
  if (prim == SQLITE_NOMEM || rc == SQLITE_IOERR_NOMEM)
    code = MLPROTO_ERR_OUT_OF_MEMORY;
  else if (prim == SQLITE_FULL || (prim == SQLITE_IOERR && (sys == ENOSPC || sys == EFBIG || sys == EDQUOT)))
    code = MLPROTO_ERR_DISK_FULL;
  else if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
    code = MLPROTO_ERR_BUSY;
  else if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB || prim == SQLITE_FORMAT)
    code = MLPROTO_ERR_PROFILE_CORRUPT;
  else if (prim == SQLITE_IOERR || prim == SQLITE_CANTOPEN || prim == SQLITE_READONLY ||
           prim == SQLITE_PERM)
    code = MLPROTO_ERR_IO;
  else if (prim == SQLITE_CONSTRAINT)
    code = MLPROTO_ERR_ALREADY_EXISTS;
  else
    code = MLPROTO_ERR_INTERNAL;
  /* SQLite's messages carry no data values, only names: safe to show. */
  return ml__fail(h, code, "%s: %s", what, sqlite3_errstr(rc));
}

int ml__exec(mentorlog *h, const char *sql) {
  int rc = sqlite3_exec(h->db, sql, NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : ml__sqlite_err(h, rc, "database");
}

int ml__prepare(mentorlog *h, sqlite3_stmt **st, const char *sql) {
  int rc = sqlite3_prepare_v2(h->db, sql, -1, st, NULL);
  if (rc != SQLITE_OK) {
    *st = NULL;
    return ml__sqlite_err(h, rc, "database");
  }
  return 0;
}

int ml__stmt_get(mentorlog *h, enum ml_sql id, sqlite3_stmt **st) {
  sqlite3_stmt *s = h->stmts[id];
  if (!s) {
    int rc = sqlite3_prepare_v3(h->db, cached_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL);
    if (rc != SQLITE_OK) {
      *st = NULL;
      return ml__sqlite_err(h, rc, "database");
    }
    h->stmts[id] = s;
  } else if (sqlite3_stmt_busy(s)) {
    /* a caller forgot ml__stmt_put, or nested the same statement */
    *st = NULL;
    return ml__fail(h, MLPROTO_ERR_INTERNAL, "statement %d already in use", (int)id);
  }
  *st = s;
  return 0;
}

void ml__stmt_put(sqlite3_stmt *st) {
  if (st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st); /* SQLITE_STATIC bindings point into callers' frames */
  }
}

int ml__stmt_run(mentorlog *h, sqlite3_stmt *st, const char *what) {
  int rc = sqlite3_step(st);
  int err = rc == SQLITE_DONE ? 0 : ml__sqlite_err(h, rc, what);
  ml__stmt_put(st);
  return err;
}

void ml__stmt_close_all(mentorlog *h) {
  for (size_t i = 0; i < ML_SQL_COUNT; i++) {
    sqlite3_finalize(h->stmts[i]);
    h->stmts[i] = NULL;
  }
}

static int exec_cached(mentorlog *h, enum ml_sql id, const char *what) {
  sqlite3_stmt *st;
  int err = ml__stmt_get(h, id, &st);
  return err ? err : ml__stmt_run(h, st, what);
}

/* ------------------------------------------------------ transactions */

int ml__tx_register(mentorlog *h, const struct ml_txpart *p) {
  if (h->n_txparts == sizeof h->txparts / sizeof h->txparts[0])
    return ml__fail(h, MLPROTO_ERR_INTERNAL, "too many transaction participants");
  h->txparts[h->n_txparts++] = p;
  return 0;
}

int ml__tx_begin_outer(mentorlog *h) {
  int err = exec_cached(h, ML_SQL_BEGIN, "begin");
  if (err)
    return err;
  for (size_t i = 0; i < h->n_txparts; i++)
    if (h->txparts[i]->begin)
      h->txparts[i]->begin(h);
  return 0;
}

void ml__tx_rollback_outer(mentorlog *h, bool batch) {
  if (!sqlite3_get_autocommit(h->db))
    sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
  for (size_t i = 0; i < h->n_txparts; i++)
    if (h->txparts[i]->rollback)
      h->txparts[i]->rollback(h, batch);
}

int ml__tx_commit_outer(mentorlog *h) {
  int err = 0;
  for (size_t i = 0; !err && i < h->n_txparts; i++)
    if (h->txparts[i]->flush)
      err = h->txparts[i]->flush(h);
  if (!err)
    err = exec_cached(h, ML_SQL_COMMIT, "commit");
  if (err)
    ml__tx_rollback_outer(h, false);
  return err;
}

int64_t ml__now_ms(mentorlog *h) {
  if (h->clock_ms)
    return h->clock_ms(h->clock_ctx);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One operation = one transaction, or a part of the caller's batch. No
 * SAVEPOINT per operation inside a batch: with pages already dirty in the
 * transaction, each savepoint copies them into the sub-journal (~10 us per
 * record, 12% of bulk creation). Validation happens before ml__begin, so
 * what fails after it is the environment (disk full, I/O, memory); the
 * whole batch is then rolled back at once (ml__rollback), as SQLite itself
 * does for some of those errors. */
int ml__begin(mentorlog *h) {
  if (h->batch) {
    if (h->batch_failed)
      return ml__fail(h, MLPROTO_ERR_INVALID_ARGUMENT,
                      "an operation of this batch failed and the batch was rolled back");
    /* SQLite may have dropped the transaction on an error: never start a
     * new one silently, the in-memory tip would name missing records. */
    if (sqlite3_get_autocommit(h->db))
      return ml__fail(h, MLPROTO_ERR_IO, "the batch was rolled back after an earlier error");
    return 0;
  }
  return ml__tx_begin_outer(h);
}

int ml__commit(mentorlog *h) {
  if (h->batch)
    return 0; /* mentorlog_batch_commit flushes and commits */
  return ml__tx_commit_outer(h);
}

void ml__rollback(mentorlog *h) {
  ml__tx_rollback_outer(h, h->batch != 0);
  if (h->batch)
    h->batch_failed = 1; /* later writers and the commit fail until batch_rollback */
}

static int db_path(mentorlog *h, char *buf, size_t cap, const char *dir) {
  int n = snprintf(buf, cap, "%s/%s", dir, ML_DB_NAME);
  if (n < 0 || (size_t)n >= cap)
    return ml__fail(h, MLPROTO_ERR_TOO_LARGE, "profile path too long");
  return 0;
}

int ml__db_open(mentorlog *h, const char *dir, bool create) {
  char path[4096];
  int err = db_path(h, path, sizeof path, dir);
  if (err)
    return err;
  struct stat sb;
  if (create) {
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
      return ml__fail(h, errno == ENOSPC ? MLPROTO_ERR_DISK_FULL : MLPROTO_ERR_IO,
                      "cannot create profile directory: %s", strerror(errno));
    if (stat(path, &sb) == 0)
      return ml__fail(h, MLPROTO_ERR_PROFILE_EXISTS, "a profile already exists in %s", dir);
  } else if (stat(path, &sb) != 0) {
    return ml__fail(h, MLPROTO_ERR_NO_PROFILE, "no profile in %s (run init first)", dir);
  }
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
              (create ? SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE : 0);
  int rc = sqlite3_open_v2(path, &h->db, flags & ~SQLITE_OPEN_EXCLUSIVE, NULL);
  if (rc != SQLITE_OK) {
    err = ml__sqlite_err(h, rc, "open database");
    sqlite3_close_v2(h->db); /* sqlite3_open_v2 may leave a handle on error */
    h->db = NULL;
    return err;
  }
  if (create)
    chmod(path, 0600);
  sqlite3_extended_result_codes(h->db, 1);
  sqlite3_busy_timeout(h->db, 5000);
  /* secure_delete before anything is written; journal_mode forces a read
   * of the header, so a damaged file is caught here. */
  err = ml__exec(h, "PRAGMA secure_delete=ON; PRAGMA temp_store=MEMORY;"
                    "PRAGMA foreign_keys=ON; PRAGMA cell_size_check=ON;");
  if (err)
    return err;
  sqlite3_stmt *st = NULL;
  if ((err = ml__prepare(h, &st, "PRAGMA journal_mode=WAL")))
    return err;
  rc = sqlite3_step(st);
  bool wal = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
  if (rc != SQLITE_ROW)
    err = ml__sqlite_err(h, rc, "journal_mode");
  sqlite3_finalize(st);
  if (err)
    return err;
  if (!wal)
    return ml__fail(h, MLPROTO_ERR_IO, "the database cannot use WAL mode");
  return ml__exec(h, "PRAGMA synchronous=FULL;");
}

int ml__db_migrate(mentorlog *h, bool own_tx) {
  sqlite3_stmt *st = NULL;
  int err = ml__prepare(h, &st, "PRAGMA user_version");
  if (err)
    return err;
  int rc = sqlite3_step(st);
  int version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
  if (rc != SQLITE_ROW)
    err = ml__sqlite_err(h, rc, "read schema version");
  sqlite3_finalize(st);
  if (err)
    return err;
  if (version > ML_SCHEMA_VERSION)
    return ml__fail(h, MLPROTO_ERR_PROFILE_TOO_NEW,
                    "profile schema version %d; this build reads up to %d", version,
                    ML_SCHEMA_VERSION);
  if (version == ML_SCHEMA_VERSION)
    return 0;
  if (own_tx && (err = ml__exec(h, "BEGIN IMMEDIATE")))
    return err;
  for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++) {
    if (migrations[i].to <= version)
      continue;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", migrations[i].to);
    if ((err = ml__exec(h, migrations[i].sql)) || (migrations[i].fn && (err = migrations[i].fn(h))) ||
        (err = ml__exec(h, sql))) {
      if (own_tx)
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
      return err;
    }
  }
  /* A new profile has no plaintext past to scrub. */
  if (version == 0 && (err = ml__exec(h, "DELETE FROM maintenance")))
    return err;
  if (!own_tx)
    return 0;
  rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    err = ml__sqlite_err(h, rc, "migrate");
    sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
  }
  return err;
}

/* v4 sealed the envelopes in place; secure_delete zeroed the old cells in
 * the new page images, but the old images sit in the WAL, and VACUUM makes
 * sure no freed page keeps any. Done after the migration's COMMIT (VACUUM
 * cannot run in a transaction); the task row is removed only once it
 * succeeded, so an interrupted or failed scrub (disk full, a reader holding
 * the WAL) is tried again at the next open, and never fails the open. */
void ml__db_maintain(mentorlog *h) {
  sqlite3_stmt *st = NULL;
  if (ml__prepare(h, &st, "SELECT count(*) FROM maintenance WHERE task = 'scrub'"))
    return;
  bool scrub = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
  sqlite3_finalize(st);
  if (!scrub)
    return;
  char msg[sizeof h->errmsg];
  memcpy(msg, h->errmsg, sizeof msg);
  if (ml__exec(h, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;") == 0 &&
      ml__exec(h, "DELETE FROM maintenance WHERE task = 'scrub'") == 0)
    (void)ml__exec(h, "PRAGMA wal_checkpoint(TRUNCATE);");
  memcpy(h->errmsg, msg, sizeof msg);
}
