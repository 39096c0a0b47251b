/* test_store.c — see test_store.h. */
#define _GNU_SOURCE
#include "test_store.h"
#include "testutil.h"

#include "mlproto/errors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#ifdef ML_TEST_HAVE_PQ
#include <libpq-fe.h>
#endif

#define MAX_STORES 64

static struct made {
  char dir[512];
  char uri[TEST_STORE_URI_CAP];
  char schema[24]; /* "" for SQLite */
} made[MAX_STORES];

static int tsfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int tsfail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("test_store: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return -1;
}

int test_store_is_pg(void) {
  const char *p = getenv("ML_TEST_PG_FILE");
  return p && *p;
}

/* The conninfo line of ML_TEST_PG_FILE, trimmed. */
static int pg_conninfo(char *out, size_t cap) {
  const char *path = getenv("ML_TEST_PG_FILE");
  FILE *f = fopen(path, "r");
  if (!f)
    return tsfail("ML_TEST_PG_FILE=%s cannot be read (%s): is the ctest fixture 'postgresql' "
                  "set up? Not falling back to SQLite", path, strerror(errno));
  char *line = fgets(out, (int)cap, f);
  fclose(f);
  if (!line) return tsfail("ML_TEST_PG_FILE=%s is empty", path);
  size_t n = strlen(out);
  while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ' || out[n - 1] == '\t'))
    out[--n] = '\0';
  if (!n) return tsfail("ML_TEST_PG_FILE=%s holds an empty line", path);
  return 0;
}

#ifdef ML_TEST_HAVE_PQ
/* The server's notices ("schema ... does not exist, skipping") are not the
 * test's business: errors are reported with the failing statement. */
static void quiet(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

static PGconn *pg_connect(const char *conninfo) {
  PGconn *c = PQconnectdb(conninfo);
  if (PQstatus(c) != CONNECTION_OK) {
    tsfail("cannot connect to the test PostgreSQL: %s", PQerrorMessage(c));
    PQfinish(c);
    return NULL;
  }
  PQsetNoticeProcessor(c, quiet, NULL);
  return c;
}

/* One statement on a fresh connection (never printing the conninfo). */
static int pg_exec(const char *conninfo, const char *sql) {
  PGconn *c = pg_connect(conninfo);
  if (!c) return -1;
  PGresult *res = PQexec(c, sql);
  int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : tsfail("%s: %s", sql, PQerrorMessage(c));
  PQclear(res);
  PQfinish(c);
  return rc;
}
/* Runs sql (which must return rows) and collects column 0 of each row,
 * NUL-separated, into out. The number of rows, or -1. */
static int pg_column(PGconn *c, const char *sql, const char *param, char *out, size_t cap) {
  PGresult *res = PQexecParams(c, sql, 1, NULL, &param, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    int r = tsfail("%s: %s", sql, PQerrorMessage(c));
    PQclear(res);
    return r;
  }
  size_t n = 0;
  int rows = PQntuples(res);
  for (int i = 0; i < rows; i++) {
    const char *v = PQgetvalue(res, i, 0);
    size_t l = strlen(v) + 1;
    if (n + l >= cap) {
      PQclear(res);
      return tsfail("too many tables");
    }
    memcpy(out + n, v, l);
    n += l;
  }
  out[n] = '\0';
  PQclear(res);
  return rows;
}

static int pg_cmd(PGconn *c, const char *sql) {
  PGresult *res = PQexec(c, sql);
  int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : tsfail("%s: %s", sql, PQerrorMessage(c));
  PQclear(res);
  return rc;
}
#endif

static void drop_all_at_exit(void);

int test_store_uri(char *out, size_t cap, const char *data_dir) {
  static int registered;
  if (!registered && atexit(drop_all_at_exit) == 0) registered = 1;
  if (!out || cap < TEST_STORE_URI_CAP || !data_dir || !*data_dir)
    return tsfail("test_store_uri: bad arguments");
  out[0] = '\0';
  struct made *m = NULL;
  for (size_t i = 0; i < MAX_STORES && !m; i++)
    if (!made[i].dir[0]) m = &made[i];
  if (!m) return tsfail("more than %d stores at once (missing test_store_drop?)", MAX_STORES);
  if (strlen(data_dir) >= sizeof m->dir) return tsfail("data directory name too long");
  char uri[TEST_STORE_URI_CAP], schema[24] = "";
  if (!test_store_is_pg()) {
    int n = snprintf(uri, sizeof uri, "sqlite:%s/server.db", data_dir);
    if (n < 0 || (size_t)n >= sizeof uri) return tsfail("data directory name too long");
  } else {
#ifndef ML_TEST_HAVE_PQ
    return tsfail("ML_TEST_PG_FILE is set but the tests were built without libpq");
#else
    char ci[MLS_STORE_URI_MAX];
    if (pg_conninfo(ci, sizeof ci)) return -1;
    uint8_t r[8];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) return tsfail("getrandom failed");
    snprintf(schema, sizeof schema, "t_");
    for (size_t i = 0; i < sizeof r; i++) snprintf(schema + 2 + 2 * i, 3, "%02x", r[i]);
    int n = snprintf(uri, sizeof uri, "postgresql:%s options='-c search_path=%s'", ci, schema);
    if (n < 0 || (size_t)n >= sizeof uri) return tsfail("the conninfo is too long for a store URI");
    const char *why = NULL;
    /* a password in the file would reach command lines: refused here too */
    if (mls_store_uri_check(uri, &why)) return tsfail("the store URI is refused: %s", why);
    char sql[64];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
    if (pg_exec(ci, sql)) return -1;
#endif
  }
  snprintf(m->dir, sizeof m->dir, "%s", data_dir);
  snprintf(m->uri, sizeof m->uri, "%s", uri);
  snprintf(m->schema, sizeof m->schema, "%s", schema);
  snprintf(out, cap, "%s", uri);
  return 0;
}

static struct made *find_uri(const char *uri) {
  for (size_t i = 0; uri && *uri && i < MAX_STORES; i++)
    if (made[i].dir[0] && strcmp(made[i].uri, uri) == 0) return &made[i];
  return NULL;
}

static int drop(struct made *m) {
  int rc = 0;
#ifdef ML_TEST_HAVE_PQ
  if (m->schema[0]) {
    char ci[MLS_STORE_URI_MAX], sql[96];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s, %s_saved CASCADE", m->schema, m->schema);
    rc = pg_conninfo(ci, sizeof ci) ? -1 : pg_exec(ci, sql);
  }
#endif
  memset(m, 0, sizeof *m);
  return rc;
}

int test_store_drop(const char *uri) {
  struct made *m = find_uri(uri);
  return m ? drop(m) : 0;
}

static void drop_all_at_exit(void) {
  if (getenv("ML_KEEP_TEST_DIRS")) {
    for (size_t i = 0; i < MAX_STORES; i++)
      if (made[i].schema[0]) fprintf(stderr, "test_store: kept schema %s\n", made[i].schema);
    return;
  }
  for (size_t i = 0; i < MAX_STORES; i++)
    if (made[i].dir[0]) drop(&made[i]);
}

const char *test_store_of(const char *data_dir) {
  const char *u = NULL;
  for (size_t i = 0; data_dir && i < MAX_STORES; i++)
    if (made[i].dir[0] && strcmp(made[i].dir, data_dir) == 0) u = made[i].uri;
  return u;
}

const char *test_store_cli(const char *uri) {
  if (!uri || strncmp(uri, "sqlite:", 7) == 0) return NULL;
  return uri;
}

/* save (restore 0) or restore (1) the PostgreSQL schema of m */
static int save_restore(const struct made *m, int restore) {
#ifndef ML_TEST_HAVE_PQ
  (void)m;
  (void)restore;
  return tsfail("a PostgreSQL store, but the tests were built without libpq");
#else
  char ci[MLS_STORE_URI_MAX];
  if (pg_conninfo(ci, sizeof ci)) return -1;
  PGconn *c = pg_connect(ci);
  if (!c) return -1;
  char saved[40], tables[4096], sql[512];
  snprintf(saved, sizeof saved, "%s_saved", m->schema);
  int rc = 0, n = pg_column(c, "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1",
                            restore ? saved : m->schema, tables, sizeof tables);
  if (n < 0) rc = -1;
  else if (restore && n == 0) rc = tsfail("test_store_restore: nothing saved");
  if (!rc) rc = pg_cmd(c, "BEGIN");
  if (!rc && !restore) {
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", saved, saved);
    rc = pg_cmd(c, sql);
  }
  if (!rc && restore) {
    /* every table at once: foreign keys between them do not stop it */
    size_t k = (size_t)snprintf(sql, sizeof sql, "TRUNCATE");
    for (const char *t = tables; *t && !rc; t += strlen(t) + 1) {
      k += (size_t)snprintf(sql + k, sizeof sql - k, "%s %s.%s", t == tables ? "" : ",", m->schema, t);
      if (k >= sizeof sql) rc = tsfail("too many tables");
    }
    if (!rc) rc = pg_cmd(c, sql);
  }
  for (const char *t = tables; *t && !rc && !restore; t += strlen(t) + 1) {
    snprintf(sql, sizeof sql, "CREATE TABLE %s.%s AS TABLE %s.%s", saved, t, m->schema, t);
    rc = pg_cmd(c, sql);
  }
  /* Refilled in an order the foreign keys allow: a table whose rows name
   * rows not back yet is tried again after the others (a savepoint undoes
   * the attempt), until a pass brings no table back. */
  int left = restore ? n : 0;
  char done[64] = {0};
  while (!rc && left > 0) {
    int progress = 0, i = 0;
    for (const char *t = tables; *t && !rc; t += strlen(t) + 1, i++) {
      if (i >= (int)sizeof done) rc = tsfail("too many tables");
      if (rc || done[i]) continue;
      if ((rc = pg_cmd(c, "SAVEPOINT refill"))) break;
      snprintf(sql, sizeof sql, "INSERT INTO %s.%s OVERRIDING SYSTEM VALUE SELECT * FROM %s.%s",
               m->schema, t, saved, t);
      PGresult *res = PQexec(c, sql);
      int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
      PQclear(res);
      if (ok) {
        done[i] = 1;
        left--;
        progress = 1;
        rc = pg_cmd(c, "RELEASE SAVEPOINT refill");
      } else {
        rc = pg_cmd(c, "ROLLBACK TO SAVEPOINT refill");
      }
    }
    if (!rc && !progress) rc = tsfail("test_store_restore: %d tables cannot be refilled", left);
  }
  if (!rc) rc = pg_cmd(c, "COMMIT");
  PQfinish(c); /* without COMMIT: rolled back */
  return rc;
#endif
}

int test_store_save(const char *uri) {
  struct made *m = find_uri(uri);
  if (!m) return tsfail("test_store_save: not a store test_store_uri made");
  return m->schema[0] ? save_restore(m, 0) : 0;
}

int test_store_restore(const char *uri) {
  struct made *m = find_uri(uri);
  if (!m) return tsfail("test_store_restore: not a store test_store_uri made");
  return m->schema[0] ? save_restore(m, 1) : 0;
}

/* --------------------------------------------------------------- reads --- */

mls_store *t_store_open(const char *uri) {
  if (!uri) fail_msg("t_store_open: no store URI");
  mls_store_options o = {.version = MLS_STORE_OPTIONS_VERSION, .create = 0,
                         .busy_timeout_ms = 10000, .connections = 2};
  mls_store *st = NULL;
  int rc = mls_store_open(&st, uri, &o);
  if (rc) fail_msg("mls_store_open (%s store): %s", mls_store_uri_backend(uri),
                   mlproto_errname(rc));
  return st;
}

typedef struct each_page {
  mls_entry_fn fn;
  void *ud;
  uint64_t next;
  uint32_t seen;
  int stop;
} each_page;

static int each_page_fn(void *ud, const mls_log_entry *e) {
  each_page *p = ud;
  p->next = e->index + 1;
  p->seen++;
  int r = p->fn(p->ud, e);
  if (r) p->stop = r;
  return r;
}

int t_log_each(const char *uri, mls_entry_fn fn, void *ud) {
  mls_store *st = t_store_open(uri);
  mls_txn *tx = NULL;
  int rc = mls_store_begin(st, MLS_TXN_READ, &tx);
  if (rc) {
    mls_store_close(st);
    fail_msg("begin: %s", mlproto_errname(rc));
  }
  each_page p = {.fn = fn, .ud = ud};
  for (;;) {
    p.seen = 0;
    rc = MLS_TX(tx, log_list, NULL, p.next, 512, each_page_fn, &p);
    if (p.stop || rc || p.seen < 512) break;
  }
  mls_store_rollback(tx);
  mls_store_close(st);
  if (p.stop) return p.stop;
  if (rc) fail_msg("log_list: %s", mlproto_errname(rc));
  return 0;
}

int t_log_match(const t_log_filter *f, const mls_log_entry *e) {
  if (f->record_id && memcmp(e->record_id, f->record_id, 16) != 0) return 0;
  if (f->case_id && memcmp(e->case_id, f->case_id, 16) != 0) return 0;
  if (f->mentor_id && (!e->has_mentor || memcmp(e->mentor_id, f->mentor_id, 16) != 0)) return 0;
  if (f->author && memcmp(e->author, f->author, 32) != 0) return 0;
  if (f->type >= 0 && e->type != f->type) return 0;
  if (f->kind >= 0 && e->kind != (uint64_t)f->kind) return 0;
  if (f->from >= 0 && e->index < (uint64_t)f->from) return 0;
  if (f->to >= 0 && e->index >= (uint64_t)f->to) return 0;
  return 1;
}

typedef struct count_ud {
  const t_log_filter *f;
  uint64_t n;
} count_ud;

static int count_fn(void *ud, const mls_log_entry *e) {
  count_ud *c = ud;
  if (t_log_match(c->f, e)) c->n++;
  return 0;
}

uint64_t t_log_count(const char *uri, const t_log_filter *f) {
  count_ud c = {.f = f};
  t_log_each(uri, count_fn, &c);
  return c.n;
}

uint64_t t_log_size(const char *uri) {
  mls_store *st = t_store_open(uri);
  mls_txn *tx = NULL;
  uint64_t size = 0;
  int rc = mls_store_begin(st, MLS_TXN_READ, &tx);
  if (!rc) rc = MLS_TX(tx, log_size, &size);
  mls_store_rollback(tx);
  mls_store_close(st);
  if (rc) fail_msg("log_size: %s", mlproto_errname(rc));
  return size;
}

void t_leaf_hash(const char *uri, uint64_t idx, uint8_t out[32]) {
  mls_store *st = t_store_open(uri);
  mls_txn *tx = NULL;
  int rc = mls_store_begin(st, MLS_TXN_READ, &tx);
  if (!rc) rc = MLS_TX(tx, node_get, 0, idx, out);
  mls_store_rollback(tx);
  mls_store_close(st);
  if (rc) fail_msg("node_get(0, %llu): %s", (unsigned long long)idx, mlproto_errname(rc));
}
