/* admin_migrate_io.c — `admin migrate`'s errors, progress and the small
 * SQL calls of both its halves (admin_migrate_int.h). */
#include "admin_migrate_int.h"
#include "store_pg_int.h"

double mig_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int mig_fail(mig *m, int rc, const char *fmt, ...) {
  if (!m->why[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->why, sizeof m->why, fmt, ap);
    va_end(ap);
  }
  return rc;
}

void mig_progress(const char *fmt, ...) {
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
int mig_pg_failed(mig *m, PGresult *r, const char *what) {
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  int rc = pg_sqlstate_rc(state); /* the backend's mapping (store_pg.c) */
  return mig_fail(m, rc, "PostgreSQL: %s failed (SQLSTATE %s%s)", what, state ? state : "none",
              PQstatus(m->pg) == CONNECTION_OK ? "" : ", connection lost");
}

/* A statement without parameters; its result (binary) into *res when res
 * is not NULL. want: the status it must end with. */
int mig_pg_run(mig *m, const char *sql, ExecStatusType want, const char *what, PGresult **res) {
  if (res) *res = NULL;
  PGresult *r = PQexecParams(m->pg, sql, 0, NULL, NULL, NULL, NULL, 1);
  if (PQresultStatus(r) != want) {
    int rc = mig_pg_failed(m, r, what);
    PQclear(r);
    return rc;
  }
  if (res) *res = r;
  else PQclear(r);
  return MLPROTO_OK;
}


/* An int8 column of a binary result (0 for NULL). */
uint64_t mig_r_u64(const PGresult *r, int row, int col) {
  if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8) return 0;
  return be_get((const uint8_t *)PQgetvalue(r, row, col), 8);
}

/* One int8 of a one-row query. */
int mig_pg_u64(mig *m, const char *sql, const char *what, uint64_t *out) {
  PGresult *r;
  int rc = mig_pg_run(m, sql, PGRES_TUPLES_OK, what, &r);
  if (rc) return rc;
  if (PQntuples(r) != 1 || PQgetlength(r, 0, 0) != 8) {
    PQclear(r);
    return mig_fail(m, MLPROTO_ERR_STORAGE, "PostgreSQL: %s: unexpected answer", what);
  }
  *out = mig_r_u64(r, 0, 0);
  PQclear(r);
  return MLPROTO_OK;
}

int mig_sq_failed(mig *m, int rc, const char *what) {
  int code = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED ? MLPROTO_ERR_STORE_IN_USE
             : (rc & 0xff) == SQLITE_NOMEM                              ? MLPROTO_ERR_OUT_OF_MEMORY
                                                                        : MLPROTO_ERR_STORAGE;
  return mig_fail(m, code, "server.db: %s failed (SQLite %d)", what, rc);
}

int mig_sq_count(mig *m, const char *name, uint64_t *out) {
  char sql[96];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", name);
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(m->db, sql, -1, &s, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    *out = (uint64_t)sqlite3_column_int64(s, 0);
    rc = SQLITE_OK;
  }
  sqlite3_finalize(s);
  return rc == SQLITE_OK ? MLPROTO_OK : mig_sq_failed(m, rc, "count");
}
