/* store_tamper.c — see store_tamper.h. */
#include "store_tamper.h"
#include "test_store.h"
#include "testutil.h"

#include "mlproto/errors.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ML_TEST_HAVE_PQ
#include <libpq-fe.h>
#endif

/* Up to two parameters: integers (blob NULL) or one blob first. */
typedef struct param {
  const uint8_t *blob;
  size_t len;
  int64_t i;
} param;

static int is_sqlite(const char *uri) {
  if (!uri) fail_msg("store_tamper: no store URI");
  if (strncmp(uri, "sqlite:", 7) == 0) return 1;
  if (strncmp(uri, "postgresql:", 11) == 0) return 0;
  fail_msg("store_tamper: a store URI of an unknown kind");
  return 0;
}

/* Runs sql on the SQLite file with the parameters bound as ?1, ?2;
 * returns the rows changed. */
static int64_t sq_exec(const char *uri, const char *sql, const param *p, size_t np) {
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(uri + 7, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
    fail_msg("store_tamper: open %s: %s", uri + 7, db ? sqlite3_errmsg(db) : "?");
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    fail_msg("store_tamper: %s: %s", sql, sqlite3_errmsg(db));
  for (size_t k = 0; k < np; k++) {
    if (p[k].blob) sqlite3_bind_blob(st, (int)k + 1, p[k].blob, (int)p[k].len, SQLITE_TRANSIENT);
    else sqlite3_bind_int64(st, (int)k + 1, p[k].i);
  }
  int rc = sqlite3_step(st);
  if (rc != SQLITE_DONE) fail_msg("store_tamper: %s: %s", sql, sqlite3_errmsg(db));
  int64_t changed = sqlite3_changes(db);
  sqlite3_finalize(st);
  if (sqlite3_close(db) != SQLITE_OK) fail_msg("store_tamper: close");
  return changed;
}

#ifdef ML_TEST_HAVE_PQ
/* Runs sql (parameters $1, $2: integers as text, blobs binary) on the
 * test's schema; returns the rows changed. */
static int64_t pg_exec(const char *uri, const char *sql, const param *p, size_t np) {
  PGconn *c = PQconnectdb(uri + 11);
  if (PQstatus(c) != CONNECTION_OK) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
    PQfinish(c);
    fail_msg("store_tamper: cannot connect to the test PostgreSQL: %s", msg);
  }
  const char *vals[2];
  int lens[2], fmts[2];
  char num[2][24];
  for (size_t k = 0; k < np && k < 2; k++) {
    if (p[k].blob) {
      vals[k] = (const char *)p[k].blob;
      lens[k] = (int)p[k].len;
      fmts[k] = 1;
    } else {
      snprintf(num[k], sizeof num[k], "%" PRId64, p[k].i);
      vals[k] = num[k];
      lens[k] = 0;
      fmts[k] = 0;
    }
  }
  PGresult *res = PQexecParams(c, sql, (int)np, NULL, vals, lens, fmts, 0);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    fail_msg("store_tamper: %s: %s", sql, msg);
  }
  int64_t changed = strtoll(PQcmdTuples(res), NULL, 10);
  PQclear(res);
  PQfinish(c);
  return changed;
}
#endif

static int64_t run(const char *uri, const char *sqlite_sql, const char *pg_sql, const param *p,
                   size_t np) {
  if (is_sqlite(uri)) return sq_exec(uri, sqlite_sql, p, np);
#ifdef ML_TEST_HAVE_PQ
  return pg_exec(uri, pg_sql, p, np);
#else
  (void)pg_sql;
  fail_msg("store_tamper: a PostgreSQL store, but the tests were built without libpq");
  return 0;
#endif
}

int64_t store_sql_int(const char *uri, const char *sql) {
  int64_t v = -1;
  if (is_sqlite(uri)) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(uri + 7, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
      fail_msg("store_sql_int: open %s", uri + 7);
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
      fail_msg("store_sql_int: %s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
  }
#ifdef ML_TEST_HAVE_PQ
  PGconn *c = PQconnectdb(uri + 11);
  if (PQstatus(c) != CONNECTION_OK) {
    PQfinish(c);
    fail_msg("store_sql_int: cannot connect to the test PostgreSQL");
  }
  PGresult *res = PQexec(c, sql);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    fail_msg("store_sql_int: %s: %s", sql, msg);
  }
  if (!PQgetisnull(res, 0, 0)) v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
  PQclear(res);
  PQfinish(c);
#else
  fail_msg("store_sql_int: a PostgreSQL store, but the tests were built without libpq");
#endif
  return v;
}

void store_sql_exec(const char *uri, const char *sql) {
  if (is_sqlite(uri)) {
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(uri + 7, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
      fail_msg("store_sql_exec: open %s", uri + 7);
    sqlite3_busy_timeout(db, 10000);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
      char msg[512];
      snprintf(msg, sizeof msg, "%s", err ? err : "?");
      sqlite3_free(err);
      sqlite3_close(db);
      fail_msg("store_sql_exec: %s: %s", sql, msg);
    }
    sqlite3_close(db);
    return;
  }
#ifdef ML_TEST_HAVE_PQ
  PGconn *c = PQconnectdb(uri + 11);
  if (PQstatus(c) != CONNECTION_OK) {
    PQfinish(c);
    fail_msg("store_sql_exec: cannot connect to the test PostgreSQL");
  }
  PGresult *res = PQexec(c, sql);
  if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    fail_msg("store_sql_exec: %s: %s", sql, msg);
  }
  PQclear(res);
  PQfinish(c);
#else
  fail_msg("store_sql_exec: a PostgreSQL store, but the tests were built without libpq");
#endif
}

static void expect_one(int64_t changed, const char *what) {
  if (changed != 1) fail_msg("store_tamper: %s changed %" PRId64 " rows, not 1", what, changed);
}

void store_tamper_node_delete(const char *uri, unsigned level, uint64_t index) {
  if (is_sqlite(uri)) {
    param p[2] = {{.i = (int64_t)level}, {.i = (int64_t)index}};
    expect_one(sq_exec(uri, "DELETE FROM nodes WHERE level = ?1 AND idx = ?2", p, 2), "node delete");
    return;
  }
  /* The tile must hold the node: more than index % 256 hashes. */
  uint64_t pos = index % 256;
  param p[2] = {{.i = (int64_t)level}, {.i = (int64_t)(index / 256)}};
  char sql[200];
  if (pos == 0)
    snprintf(sql, sizeof sql, "DELETE FROM tiles WHERE level = $1 AND idx = $2");
  else
    snprintf(sql, sizeof sql,
             "UPDATE tiles SET hashes = substring(hashes from 1 for %" PRIu64 ")"
             " WHERE level = $1 AND idx = $2 AND length(hashes) > %" PRIu64,
             pos * 32, pos * 32);
  expect_one(run(uri, NULL, sql, p, 2), "node delete (its tile cut)");
}

void store_tamper_log_delete(const char *uri, uint64_t index) {
  param p[1] = {{.i = (int64_t)index}};
  expect_one(run(uri, "DELETE FROM log WHERE idx = ?1", "DELETE FROM log WHERE idx = $1", p, 1),
             "log delete");
}

void store_tamper_envelope_set(const char *uri, uint64_t index, const uint8_t *bytes, size_t len) {
  param p[2] = {{.blob = bytes, .len = len}, {.i = (int64_t)index}};
  expect_one(run(uri, "UPDATE log SET envelope = ?1 WHERE idx = ?2",
                 "UPDATE log SET envelope = $1 WHERE idx = $2", p, 2),
             "envelope set");
}

void store_tamper_sth_rewind(const char *uri, const uint8_t *blob, size_t len, uint64_t size) {
  if (is_sqlite(uri)) {
    param p[1] = {{.blob = blob, .len = len}};
    expect_one(sq_exec(uri, "UPDATE meta SET value = ?1 WHERE key = 'sth'", p, 1), "sth rewind");
  } else {
    param p[1] = {{.i = (int64_t)size}};
    if (run(uri, NULL, "DELETE FROM checkpoints WHERE size > $1", p, 1) < 1)
      fail_msg("store_tamper: no checkpoint newer than size %" PRIu64 " to take back", size);
  }
  /* what the store now gives as its head is the older one */
  mls_store *st = t_store_open(uri);
  mls_txn *tx = NULL;
  uint8_t got[256];
  size_t n = 0;
  int rc = mls_store_begin(st, MLS_TXN_READ, &tx);
  if (!rc) rc = MLS_TX(tx, sth_get, got, sizeof got, &n);
  mls_store_rollback(tx);
  mls_store_close(st);
  if (rc) fail_msg("store_tamper: sth_get after the rewind: %s", mlproto_errname(rc));
  if (n != len || memcmp(got, blob, len) != 0)
    fail_msg("store_tamper: the store's head after the rewind is not the one of size %" PRIu64, size);
}

void store_tamper_jobcentre_index_forget(const char *uri) {
  run(uri, "DELETE FROM case_jobcentres", "DELETE FROM case_jobcentres", NULL, 0);
  static const uint8_t pending[] = "pending";
  param p[1] = {{.blob = pending, .len = sizeof pending - 1}};
  expect_one(run(uri,
                 "INSERT OR REPLACE INTO meta(key, value) VALUES('jobcentre_index', ?1)",
                 "INSERT INTO meta(key, value) VALUES('jobcentre_index', $1)"
                 " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                 p, 1),
             "jobcentre_index pending");
}
