/*
 * test_store.c — the conformance suite of the store contract (store.h), one
 * suite for every backend:
 *   test_store sqlite       a SQLite store in a temporary directory per test
 *   test_store postgresql   a PostgreSQL store in a schema of its own per test,
 *                           on the cluster whose conninfo ML_TEST_PG_FILE names
 *                           (ctest's postgresql fixture, tests/pg)
 * Without an argument: postgresql when ML_TEST_PG_FILE is set, else sqlite.
 * Every operation, every documented error, schema creation (empty, reopen,
 * openers racing, a newer store refused untouched), ranges and their edges,
 * writers racing (BUSY, contiguous indexes, no lost update), snapshot
 * isolation of READ, rollback, reads of a write transaction's own writes,
 * and (PostgreSQL, the one backend with a server connection to lose) a
 * connection killed in the middle of a transaction. A few direct SQL
 * helpers per backend (raw_*) mark a store newer, read its layout and
 * kill connections; everything else goes through store.h.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "testutil.h"

#include "store.h"

#include "mlproto/errors.h"
#include "mlproto/merkle.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int g_pg;              /* the backend under test: PostgreSQL */
static char g_conninfo[1024]; /* PostgreSQL: the cluster's conninfo line */
static PGconn *g_ctl;         /* PostgreSQL: the suite's own connection */
static unsigned g_seq;        /* names of schemas and directories */

typedef struct fixture {
  char uri[MLS_STORE_URI_MAX + 1];
  char dir[256];     /* sqlite: the temporary directory */
  char db[300];      /* sqlite: the database file */
  char schema[64];   /* postgresql: the schema (also the application_name) */
  mls_store *st;     /* opened by open_default() */
} fixture;

/* ---------------------------------------------------------------- raw SQL --- */

static PGresult *pg_raw(const fixture *f, const char *sql) {
  char buf[4096];
  snprintf(buf, sizeof buf, "SET search_path = %s; %s", f->schema, sql);
  PGresult *r = PQexec(g_ctl, buf);
  ExecStatusType s = PQresultStatus(r);
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
    fail_msg("raw SQL failed: %s: %s", sql, PQerrorMessage(g_ctl));
  return r;
}

/* The first column of the first row of sql as text ("" without a row). */
static void raw_text(const fixture *f, const char *sql, char *out, size_t cap) {
  out[0] = 0;
  if (g_pg) {
    PGresult *r = pg_raw(f, sql);
    if (PQntuples(r) > 0) snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return;
  }
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  sqlite3_stmt *s;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW && sqlite3_column_text(s, 0))
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
  else if (rc != SQLITE_ROW) assert_int_equal(rc, SQLITE_DONE);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

static void raw_exec(const fixture *f, const char *sql) {
  if (g_pg) {
    PQclear(pg_raw(f, sql));
    return;
  }
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static int raw_version(const fixture *f) {
  char v[32];
  raw_text(f, g_pg ? "SELECT convert_from(value, 'UTF8') FROM meta WHERE key = 'schema_version'"
                   : "PRAGMA user_version",
           v, sizeof v);
  return atoi(v);
}

static void raw_set_version(const fixture *f, int v) {
  char sql[200];
  if (g_pg)
    snprintf(sql, sizeof sql,
             "UPDATE meta SET value = convert_to('%d', 'UTF8') WHERE key = 'schema_version'", v);
  else snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
  raw_exec(f, sql);
}

/* Everything the store holds, as text: its layout and every row. */
static char *raw_fingerprint(const fixture *f) {
  size_t cap = 1 << 20, len = 0;
  char *out = calloc(1, cap);
  assert_non_null(out);
#define ADD(s)                                                   \
  do {                                                           \
    size_t n_ = strlen(s);                                       \
    assert_true(len + n_ + 2 < cap);                             \
    memcpy(out + len, s, n_);                                    \
    len += n_;                                                   \
    out[len++] = '|';                                            \
  } while (0)
  if (g_pg) {
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT table_name || '.' || column_name || ':' || data_type FROM"
             " information_schema.columns WHERE table_schema = '%s'"
             " ORDER BY table_name, ordinal_position", f->schema);
    PGresult *r = pg_raw(f, sql);
    for (int i = 0; i < PQntuples(r); i++) ADD(PQgetvalue(r, i, 0));
    PQclear(r);
    snprintf(sql, sizeof sql,
             "SELECT tablename FROM pg_tables WHERE schemaname = '%s' ORDER BY 1", f->schema);
    r = pg_raw(f, sql);
    for (int i = 0; i < PQntuples(r); i++) {
      char q[300];
      snprintf(q, sizeof q, "SELECT t::text FROM %s t ORDER BY 1", PQgetvalue(r, i, 0));
      PGresult *rows = pg_raw(f, q);
      ADD(PQgetvalue(r, i, 0));
      for (int k = 0; k < PQntuples(rows); k++) ADD(PQgetvalue(rows, k, 0));
      PQclear(rows);
    }
    PQclear(r);
  } else {
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s, *t;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT name, coalesce(sql, '') FROM sqlite_master"
                                            " ORDER BY name", -1, &s, NULL), SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
      const char *name = (const char *)sqlite3_column_text(s, 0);
      ADD(name);
      ADD((const char *)sqlite3_column_text(s, 1));
      char q[300];
      snprintf(q, sizeof q, "SELECT * FROM \"%s\"", name);
      if (sqlite3_prepare_v2(db, q, -1, &t, NULL) != SQLITE_OK) continue; /* an index */
      while (sqlite3_step(t) == SQLITE_ROW)
        for (int c = 0; c < sqlite3_column_count(t); c++) {
          char hex[2 * 1024 + 1] = "";
          int n = sqlite3_column_bytes(t, c);
          const uint8_t *b = sqlite3_column_blob(t, c);
          for (int k = 0; k < n && k < 1024; k++) snprintf(hex + 2 * k, 3, "%02x", b[k]);
          ADD(hex);
        }
      sqlite3_finalize(t);
    }
    sqlite3_finalize(s);
    sqlite3_exec(db, "PRAGMA user_version", NULL, NULL, NULL);
    sqlite3_close(db);
  }
#undef ADD
  return out;
}

/* PostgreSQL: terminates every backend of this test's store, and waits
 * until they are gone. */
static void raw_kill(const fixture *f) {
  char sql[300];
  snprintf(sql, sizeof sql,
           "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
           " WHERE application_name = '%s'", f->schema);
  char n[32];
  raw_text(f, sql, n, sizeof n);
  assert_true(atoi(n) >= 1);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'", f->schema);
  for (int i = 0; i < 500; i++) {
    raw_text(f, sql, n, sizeof n);
    if (atoi(n) == 0) return;
    usleep(10000);
  }
  fail_msg("the killed backends did not go");
}

/* ---------------------------------------------------------------- fixture --- */

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)type;
  (void)ftw;
  remove(path);
  return 0;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f) return -1;
  unsigned seq = __atomic_add_fetch(&g_seq, 1, __ATOMIC_SEQ_CST);
  if (g_pg) {
    snprintf(f->schema, sizeof f->schema, "ts_%ld_%u", (long)getpid(), seq);
    char sql[200];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", f->schema,
             f->schema);
    PGresult *r = PQexec(g_ctl, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) return -1;
    int n = snprintf(f->uri, sizeof f->uri,
                     "postgresql:%.800s options='-c search_path=%s' application_name=%s",
                     g_conninfo, f->schema, f->schema);
    if (n < 0 || (size_t)n >= sizeof f->uri) return -1;
  } else {
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/mlstore-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->db, sizeof f->db, "%s/server.db", f->dir);
    snprintf(f->uri, sizeof f->uri, "sqlite:%s", f->db);
  }
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  mls_store_close(f->st);
  if (g_pg) {
    char sql[200];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", f->schema);
    PQclear(PQexec(g_ctl, sql));
  } else {
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  }
  free(f);
  return 0;
}

static int open_store(const fixture *f, int create, unsigned busy_ms, mls_store **out) {
  mls_store_options o = {.version = MLS_STORE_OPTIONS_VERSION, .create = create,
                         .busy_timeout_ms = busy_ms, .connections = 8};
  return mls_store_open(out, f->uri, &o);
}

/* The fixture's store, created; 2 s busy timeout. */
static mls_store *open_default(fixture *f) {
  assert_int_equal(open_store(f, 1, 2000, &f->st), MLPROTO_OK);
  assert_non_null(f->st);
  return f->st;
}

static mls_txn *begin(mls_store *st, int mode) {
  mls_txn *tx = NULL;
  assert_int_equal(mls_store_begin(st, mode, &tx), MLPROTO_OK);
  assert_non_null(tx);
  return tx;
}

static void commit(mls_txn *tx) { assert_int_equal(mls_store_commit(tx), MLPROTO_OK); }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(uint8_t *b, size_t n, unsigned tag) {
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(tag * 31u + i * 7u + 1u);
}

/* --------------------------------------------------------- log entries --- */

#define ENV_LEN 40

typedef struct ent {
  mls_log_entry e;
  uint8_t env[ENV_LEN];
} ent;

/* The entry of (author tag, seq) at index: deterministic fields, a real
 * leaf hash; mentor tag 0: concerns no mentor. */
static void mk_entry(ent *x, uint64_t index, unsigned author, uint64_t seq,
                     const uint8_t case_id[16], unsigned mentor, uint64_t received) {
  memset(x, 0, sizeof *x);
  mls_log_entry *e = &x->e;
  e->index = index;
  e->type = MLPROTO_LOG_DEVICE_RECORD;
  e->received_ms = received;
  memset(e->author, (int)author, 32);
  e->seq = seq;
  uint8_t in[40];
  memcpy(in, e->author, 32);
  for (int i = 0; i < 8; i++) in[32 + i] = (uint8_t)(seq >> (8 * i));
  crypto_hash_sha256(e->record_hash, in, sizeof in);
  memcpy(e->record_id, e->record_hash, 16);
  if (case_id) memcpy(e->case_id, case_id, 16);
  e->kind = 5;
  if (mentor) {
    e->has_mentor = 1;
    memset(e->mentor_id, (int)mentor, 16);
  }
  fill(x->env, ENV_LEN, (unsigned)(seq * 3 + author));
  e->envelope = x->env;
  e->envelope_len = ENV_LEN;
  mlproto_log_entry le = {.type = MLPROTO_LOG_DEVICE_RECORD, .received_at_ms = received};
  memcpy(le.record_hash, e->record_hash, 32);
  assert_int_equal(mlproto_log_entry_leaf_hash(e->leaf_hash, &le), MLPROTO_OK);
}

static int node_fn(void *ud, unsigned level, uint64_t index, uint8_t out[32]) {
  return MLS_TX((mls_txn *)ud, node_get, level, index, out);
}

/* Appends n entries of author (seqs after its head) at the log's end, and
 * the tree nodes they complete, as log.c does. */
static int append_n(mls_txn *tx, uint64_t n, unsigned author, const uint8_t case_id[16],
                    unsigned mentor, uint64_t received) {
  uint64_t size, seq;
  uint8_t head[32];
  int rc = MLS_TX(tx, log_size, &size);
  uint8_t a[32];
  memset(a, (int)author, 32);
  if (!rc) rc = MLS_TX(tx, author_head, a, &seq, head);
  mlproto_merkle_compact cr;
  if (!rc) rc = mlproto_merkle_compact_load(&cr, size, node_fn, tx);
  for (uint64_t i = 0; !rc && i < n; i++) {
    ent x;
    mk_entry(&x, size + i, author, seq + 1 + i, case_id, mentor, received);
    if ((rc = MLS_TX(tx, log_append, &x.e))) break;
    mlproto_merkle_node nodes[MLPROTO_MERKLE_MAX_NEW_NODES];
    size_t k = 0;
    if ((rc = mlproto_merkle_compact_append(&cr, x.e.leaf_hash, nodes, &k))) break;
    for (size_t j = 0; !rc && j < k; j++)
      rc = MLS_TX(tx, node_put, nodes[j].level, nodes[j].index, nodes[j].hash);
  }
  return rc;
}

/* The tree nodes leaf completes (after a log_append of one's own). */
static int put_leaf_nodes(mls_txn *tx, mlproto_merkle_compact *cr, const uint8_t leaf[32]) {
  mlproto_merkle_node nodes[MLPROTO_MERKLE_MAX_NEW_NODES];
  size_t k = 0;
  int rc = mlproto_merkle_compact_append(cr, leaf, nodes, &k);
  for (size_t j = 0; !rc && j < k; j++)
    rc = MLS_TX(tx, node_put, nodes[j].level, nodes[j].index, nodes[j].hash);
  return rc;
}

static int collect_leaf(void *ud, const mls_log_entry *e) {
  mlproto_merkle_compact *cr = ud;
  return mlproto_merkle_compact_append(cr, e->leaf_hash, NULL, NULL);
}

/* The root read from the stored nodes equals the root of the listed
 * leaves: every node the tree needs is stored, in the right place. */
static void check_tree(mls_txn *tx) {
  uint64_t size;
  assert_int_equal(MLS_TX(tx, log_size, &size), MLPROTO_OK);
  mlproto_merkle_compact cr;
  mlproto_merkle_compact_init(&cr);
  assert_int_equal(MLS_TX(tx, log_list, NULL, 0, UINT32_MAX, collect_leaf, &cr), MLPROTO_OK);
  assert_int_equal(cr.size, size);
  uint8_t want[32], got[32];
  mlproto_merkle_compact_root(&cr, want);
  for (uint64_t s = size; s > 0; s = s * 2 / 3) {
    uint8_t r[32];
    assert_int_equal(mlproto_merkle_root_at(r, s, node_fn, tx), MLPROTO_OK);
  }
  assert_int_equal(mlproto_merkle_root_at(got, size, node_fn, tx), MLPROTO_OK);
  assert_memory_equal(got, want, 32);
}

/* Listing callbacks. */
typedef struct seen {
  size_t n;
  uint64_t idx[2048];
  int stop_at; /* return 77 at the stop_at-th call (1-based), 0: never */
} seen;

static int see_entry(void *ud, const mls_log_entry *e) {
  seen *s = ud;
  if (s->n < 2048) s->idx[s->n] = e->index;
  s->n++;
  return s->stop_at && (int)s->n == s->stop_at ? 77 : 0;
}

static int count_any(void *ud) {
  seen *s = ud;
  s->n++;
  return s->stop_at && (int)s->n == s->stop_at ? 77 : 0;
}

static int see_mentor(void *ud, const mls_mentor *m) { (void)m; return count_any(ud); }
static int see_code(void *ud, const mls_enroll_code *c) { (void)c; return count_any(ud); }
static int see_device(void *ud, const mls_device *d) { (void)d; return count_any(ud); }
static int see_case(void *ud, const uint8_t id[16]) { (void)id; return count_any(ud); }
static int see_case_state(void *ud, const uint8_t id[16], uint64_t e) {
  (void)id;
  (void)e;
  return count_any(ud);
}
static int see_witness(void *ud, const mls_witness *w) { (void)w; return count_any(ud); }
static int see_cosig(void *ud, const mls_cosignature *c) { (void)c; return count_any(ud); }
static int see_fork(void *ud, uint64_t id, const uint8_t *l, size_t ll, const uint8_t *p, size_t pl) {
  (void)id;
  (void)l;
  (void)ll;
  (void)p;
  (void)pl;
  return count_any(ud);
}

/* ------------------------------------------------------------ the table --- */

static void t_ops_table(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  assert_int_equal(st->ops->version, MLS_STORE_OPS_VERSION);
  assert_string_equal(st->ops->name, g_pg ? "postgresql" : "sqlite");
  assert_int_equal(st->ops->caps, g_pg ? MLS_STORE_CAP_SHARED : MLS_STORE_CAP_SCRUB_FILES);
  assert_non_null(st->ops->session_purge);
  assert_string_equal(mls_store_uri_backend(f->uri), g_pg ? "postgresql" : "sqlite");
  assert_int_equal(mls_store_uri_check(f->uri, NULL), MLPROTO_OK);
}

/* ------------------------------------------------------------- opening --- */

static void t_open_empty_reopen(void **state) {
  fixture *f = *state;
  mls_store *st = (mls_store *)1;
  /* no schema, create 0: NOT_FOUND, and nothing made */
  assert_int_equal(open_store(f, 0, 2000, &st), MLPROTO_ERR_NOT_FOUND);
  assert_null(st);
  if (g_pg) {
    char n[32], sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_tables WHERE schemaname = '%s'", f->schema);
    raw_text(f, sql, n, sizeof n);
    assert_string_equal(n, "0");
  } else {
    assert_int_equal(access(f->db, F_OK), -1);
  }
  /* create, write, close, reopen without create: there */
  st = open_default(f);
  int version = raw_version(f);
  assert_true(version >= 1);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  mls_mentor m = {.created_ms = 5};
  fill(m.id, 16, 1);
  strcpy(m.name, "Anna");
  assert_int_equal(MLS_TX(tx, mentor_add, &m), MLPROTO_OK);
  assert_int_equal(append_n(tx, 3, 9, NULL, 0, 100), MLPROTO_OK);
  commit(tx);
  mls_store_close(st);
  f->st = NULL;
  char *before = raw_fingerprint(f);
  assert_int_equal(open_store(f, 0, 2000, &f->st), MLPROTO_OK);
  mls_store_close(f->st);
  assert_int_equal(open_store(f, 1, 2000, &f->st), MLPROTO_OK);
  /* a reopen changes nothing */
  char *after = raw_fingerprint(f);
  assert_string_equal(before, after);
  free(before);
  free(after);
  assert_int_equal(raw_version(f), version);
  tx = begin(f->st, MLS_TXN_READ);
  mls_mentor got;
  assert_int_equal(MLS_TX(tx, mentor_get, m.id, &got), MLPROTO_OK);
  assert_string_equal(got.name, "Anna");
  uint64_t size;
  assert_int_equal(MLS_TX(tx, log_size, &size), MLPROTO_OK);
  assert_int_equal(size, 3);
  check_tree(tx);
  commit(tx);
}

typedef struct opener {
  const fixture *f;
  pthread_barrier_t *go;
  int rc;
  mls_store *st;
} opener;

static void *open_main(void *arg) {
  opener *o = arg;
  pthread_barrier_wait(o->go);
  mls_store_options opt = {.version = MLS_STORE_OPTIONS_VERSION, .create = 1,
                           .busy_timeout_ms = 20000, .connections = 2};
  o->rc = mls_store_open(&o->st, o->f->uri, &opt);
  return NULL;
}

/* Instances starting together on an empty store: each opens it, the schema
 * is made once, and each can write. */
static void t_open_concurrent(void **state) {
  fixture *f = *state;
  enum { N = 4 };
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, N);
  opener o[N];
  pthread_t t[N];
  for (int i = 0; i < N; i++) {
    o[i] = (opener){.f = f, .go = &go};
    assert_int_equal(pthread_create(&t[i], NULL, open_main, &o[i]), 0);
  }
  for (int i = 0; i < N; i++) pthread_join(t[i], NULL);
  pthread_barrier_destroy(&go);
  for (int i = 0; i < N; i++) {
    assert_int_equal(o[i].rc, MLPROTO_OK);
    mls_txn *tx = begin(o[i].st, MLS_TXN_WRITE);
    mls_mentor m = {.created_ms = (uint64_t)i};
    fill(m.id, 16, (unsigned)i + 10);
    strcpy(m.name, "m");
    assert_int_equal(MLS_TX(tx, mentor_add, &m), MLPROTO_OK);
    assert_int_equal(append_n(tx, 1, (unsigned)i + 1, NULL, 0, 10), MLPROTO_OK);
    commit(tx);
  }
  for (int i = 0; i < N; i++) mls_store_close(o[i].st);
  mls_store *st = open_default(f);
  mls_txn *tx = begin(st, MLS_TXN_READ);
  seen s = {0};
  assert_int_equal(MLS_TX(tx, mentor_list, see_mentor, &s), MLPROTO_OK);
  assert_int_equal(s.n, N);
  uint64_t size;
  assert_int_equal(MLS_TX(tx, log_size, &size), MLPROTO_OK);
  assert_int_equal(size, N);
  check_tree(tx);
  commit(tx);
  if (g_pg) {
    char n[16];
    raw_text(f, "SELECT count(*) FROM log_head", n, sizeof n);
    assert_string_equal(n, "1");
  }
}

/* A store written by a newer server: refused, create or not, untouched. */
static void t_store_too_new(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(tx, 2, 3, NULL, 0, 1), MLPROTO_OK);
  commit(tx);
  mls_store_close(st);
  f->st = NULL;
  int v = raw_version(f);
  raw_set_version(f, v + 1);
  char *before = raw_fingerprint(f);
  for (int create = 0; create < 2; create++) {
    st = (mls_store *)1;
    assert_int_equal(open_store(f, create, 2000, &st), MLPROTO_ERR_STORE_TOO_NEW);
    assert_null(st);
  }
  char *after = raw_fingerprint(f);
  assert_string_equal(before, after);
  assert_int_equal(raw_version(f), v + 1);
  free(before);
  free(after);
  /* the version this server writes opens again */
  raw_set_version(f, v);
  open_default(f);
}

/* -------------------------------------------------------------- people --- */

static void t_mentors(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  mls_mentor a = {.created_ms = 20}, b = {.created_ms = 10}, c = {.created_ms = 20}, got;
  fill(a.id, 16, 1);
  fill(b.id, 16, 2);
  fill(c.id, 16, 3);
  strcpy(a.name, "Anna Ærø");
  strcpy(b.name, "Bo");
  strcpy(c.name, "C");
  assert_int_equal(MLS_TX(tx, mentor_get, a.id, &got), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, mentor_add, &a), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, mentor_add, &b), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, mentor_add, &c), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, mentor_add, &a), MLPROTO_ERR_ALREADY_EXISTS);
  mls_mentor big = {.created_ms = 1};
  fill(big.id, 16, 4);
  memset(big.name, 'x', MLS_NAME_MAX);
  assert_int_equal(MLS_TX(tx, mentor_add, &big), MLPROTO_OK); /* at the cap */
  commit(tx);
  tx = begin(st, MLS_TXN_READ);
  assert_int_equal(MLS_TX(tx, mentor_get, a.id, &got), MLPROTO_OK);
  assert_memory_equal(got.id, a.id, 16);
  assert_string_equal(got.name, "Anna Ærø");
  assert_int_equal(got.created_ms, 20);
  assert_int_equal(MLS_TX(tx, mentor_get, big.id, &got), MLPROTO_OK);
  assert_int_equal(strlen(got.name), MLS_NAME_MAX);
  /* by created_ms, then id */
  seen s = {0};
  assert_int_equal(MLS_TX(tx, mentor_list, see_mentor, &s), MLPROTO_OK);
  assert_int_equal(s.n, 4);
  s = (seen){.stop_at = 2};
  assert_int_equal(MLS_TX(tx, mentor_list, see_mentor, &s), 77);
  assert_int_equal(s.n, 2);
  commit(tx);
}

static int mentor_ids(void *ud, const mls_mentor *m) {
  uint8_t *out = ud;
  size_t i = out[0]++;
  out[1 + i] = m->id[0];
  return 0;
}

static void t_mentor_order(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  uint64_t created[] = {30, 10, 30, 20};
  uint8_t first[] = {0x90, 0x50, 0x10, 0xff};
  for (int i = 0; i < 4; i++) {
    mls_mentor m = {.created_ms = created[i]};
    memset(m.id, first[i], 16);
    strcpy(m.name, "n");
    assert_int_equal(MLS_TX(tx, mentor_add, &m), MLPROTO_OK);
  }
  uint8_t got[8] = {0};
  assert_int_equal(MLS_TX(tx, mentor_list, mentor_ids, got), MLPROTO_OK);
  commit(tx);
  assert_int_equal(got[0], 4);
  const uint8_t want[] = {0x50, 0xff, 0x10, 0x90}; /* created_ms, then id bytes */
  assert_memory_equal(got + 1, want, 4);
}

static void add_mentor(mls_txn *tx, unsigned tag) {
  mls_mentor m = {.created_ms = tag};
  memset(m.id, (int)tag, 16);
  snprintf(m.name, sizeof m.name, "mentor %u", tag);
  assert_int_equal(MLS_TX(tx, mentor_add, &m), MLPROTO_OK);
}

static void t_codes(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  add_mentor(tx, 7);
  uint8_t men[16], h1[32], h2[32], h3[32], h4[32], id1[8], id2[8], id3[8], id4[8], dev[32];
  memset(men, 7, 16);
  fill(h1, 32, 1);
  fill(h2, 32, 2);
  fill(h3, 32, 3);
  fill(h4, 32, 4);
  fill(id1, 8, 11);
  fill(id2, 8, 12);
  fill(id3, 8, 13);
  fill(id4, 8, 14);
  fill(dev, 32, 20);
  assert_int_equal(MLS_TX(tx, code_add, h1, id1, men, 100, 1000), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, code_add, h2, id2, men, 100, 200), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, code_add, h3, id3, men, 50, 1000), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, code_add, h1, id4, men, 100, 1000), MLPROTO_ERR_ALREADY_EXISTS);
  assert_int_equal(MLS_TX(tx, code_add, h4, id1, men, 100, 1000), MLPROTO_ERR_ALREADY_EXISTS);
  commit(tx);

  tx = begin(st, MLS_TXN_WRITE);
  mls_enroll_code c;
  assert_int_equal(MLS_TX(tx, code_get, id4, &c), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, code_get, id1, &c), MLPROTO_OK);
  assert_memory_equal(c.mentor_id, men, 16);
  assert_int_equal(c.created_ms, 100);
  assert_int_equal(c.expires_ms, 1000);
  assert_int_equal(c.used_ms, 0);
  assert_int_equal(c.revoked_ms, 0);
  uint8_t d2[32], m2[16];
  assert_int_equal(MLS_TX(tx, code_used_by, h1, d2, m2), MLPROTO_ERR_NOT_FOUND);
  uint8_t got_m[16];
  assert_int_equal(MLS_TX(tx, code_consume, h1, 500, dev, got_m), MLPROTO_OK);
  assert_memory_equal(got_m, men, 16);
  /* used, expired, unknown, revoked: one answer */
  assert_int_equal(MLS_TX(tx, code_consume, h1, 500, dev, got_m), MLPROTO_ERR_ENROLL_CODE_INVALID);
  assert_int_equal(MLS_TX(tx, code_consume, h2, 200, dev, got_m), MLPROTO_ERR_ENROLL_CODE_INVALID);
  assert_int_equal(MLS_TX(tx, code_consume, h4, 1, dev, got_m), MLPROTO_ERR_ENROLL_CODE_INVALID);
  assert_int_equal(MLS_TX(tx, code_used_by, h1, d2, m2), MLPROTO_OK);
  assert_memory_equal(d2, dev, 32);
  assert_memory_equal(m2, men, 16);
  assert_int_equal(MLS_TX(tx, code_get, id1, &c), MLPROTO_OK);
  assert_int_equal(c.used_ms, 500);
  assert_memory_equal(c.used_by, dev, 32);
  /* revoke: an unused one (expired too), not a used or revoked one */
  assert_int_equal(MLS_TX(tx, code_revoke, id1, 600), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, code_revoke, id2, 600), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, code_revoke, id2, 700), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, code_revoke, id4, 700), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, code_revoke, id3, 0), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, code_consume, h3, 60, dev, got_m), MLPROTO_ERR_ENROLL_CODE_INVALID);
  assert_int_equal(MLS_TX(tx, code_get, id3, &c), MLPROTO_OK);
  assert_true(c.revoked_ms > 0); /* revoked at 0: still shown as revoked */
  assert_int_equal(MLS_TX(tx, code_get, id2, &c), MLPROTO_OK);
  assert_int_equal(c.revoked_ms, 600);
  commit(tx);

  /* oldest first: created_ms, then id */
  tx = begin(st, MLS_TXN_READ);
  seen s = {0};
  assert_int_equal(MLS_TX(tx, code_list, see_code, &s), MLPROTO_OK);
  assert_int_equal(s.n, 3);
  s = (seen){.stop_at = 1};
  assert_int_equal(MLS_TX(tx, code_list, see_code, &s), 77);
  commit(tx);
}

static int first_code(void *ud, const mls_enroll_code *c) {
  uint8_t *out = ud;
  out[1 + out[0]++] = c->id[0];
  return 0;
}

static void t_code_order(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  add_mentor(tx, 1);
  uint8_t men[16];
  memset(men, 1, 16);
  uint64_t created[] = {5, 3, 5};
  uint8_t ids[] = {0x33, 0x99, 0x22};
  for (int i = 0; i < 3; i++) {
    uint8_t h[32], id[8];
    fill(h, 32, (unsigned)i + 40);
    memset(id, ids[i], 8);
    assert_int_equal(MLS_TX(tx, code_add, h, id, men, created[i], 100), MLPROTO_OK);
  }
  uint8_t got[8] = {0};
  assert_int_equal(MLS_TX(tx, code_list, first_code, got), MLPROTO_OK);
  commit(tx);
  const uint8_t want[] = {3, 0x99, 0x22, 0x33};
  assert_memory_equal(got, want, 4);
}

static mls_device mk_device(unsigned tag, unsigned mentor, uint64_t enrolled) {
  mls_device d;
  memset(&d, 0, sizeof d);
  memset(d.pub, (int)tag, 32);
  fill(d.box_pub, 32, tag);
  mls_device_id(d.id, d.pub);
  memset(d.mentor_id, (int)mentor, 16);
  snprintf(d.label, sizeof d.label, "phone %u", tag);
  d.enrolled_ms = enrolled;
  return d;
}

static int first_device(void *ud, const mls_device *d) {
  uint8_t *out = ud;
  out[1 + out[0]++] = d->pub[0];
  return 0;
}

static void t_devices(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  add_mentor(tx, 1);
  mls_device a = mk_device(0x30, 1, 50), b = mk_device(0x20, 1, 60), c = mk_device(0x10, 1, 50);
  assert_int_equal(MLS_TX(tx, device_add, &a), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, device_add, &b), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, device_add, &c), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, device_add, &a), MLPROTO_ERR_ALREADY_EXISTS);
  mls_device same_id = mk_device(0x40, 1, 1);
  memcpy(same_id.id, a.id, 16);
  assert_int_equal(MLS_TX(tx, device_add, &same_id), MLPROTO_ERR_ALREADY_EXISTS);
  mls_device full = mk_device(0x50, 1, 70);
  memset(full.label, 'L', MLS_LABEL_MAX);
  full.label[MLS_LABEL_MAX] = 0;
  assert_int_equal(MLS_TX(tx, device_add, &full), MLPROTO_OK);
  assert_int_equal(append_n(tx, 3, 0x30, NULL, 0, 1), MLPROTO_OK); /* a's records 1..3 */
  commit(tx);

  /* a push reads the device, then its head (PostgreSQL: one round trip) */
  tx = begin(st, MLS_TXN_WRITE);
  mls_device got;
  uint64_t seq = 0;
  uint8_t head[32];
  assert_int_equal(MLS_TX(tx, device_get, a.pub, &got), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, author_head, a.pub, &seq, head), MLPROTO_OK);
  assert_int_equal(seq, 3);
  assert_int_equal(append_n(tx, 2, 0x30, NULL, 0, 1), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, device_get, a.pub, &got), MLPROTO_OK); /* again, rows buffered */
  assert_int_equal(MLS_TX(tx, author_head, a.pub, &seq, head), MLPROTO_OK);
  assert_int_equal(seq, 5);
  assert_int_equal(MLS_TX(tx, device_get, c.pub, &got), MLPROTO_OK); /* no records */
  assert_int_equal(MLS_TX(tx, author_head, c.pub, &seq, head), MLPROTO_OK);
  assert_int_equal(seq, 0);
  commit(tx);
  tx = begin(st, MLS_TXN_READ);
  assert_int_equal(MLS_TX(tx, author_head, a.pub, &seq, head), MLPROTO_OK);
  assert_int_equal(seq, 5);
  commit(tx);

  tx = begin(st, MLS_TXN_WRITE);
  uint8_t nobody[32];
  memset(nobody, 0x77, 32);
  assert_int_equal(MLS_TX(tx, device_get, nobody, &got), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, device_get_by_id, nobody, &got), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, device_get, a.pub, &got), MLPROTO_OK);
  assert_memory_equal(&got, &a, sizeof got);
  assert_int_equal(MLS_TX(tx, device_get_by_id, b.id, &got), MLPROTO_OK);
  assert_memory_equal(&got, &b, sizeof got);
  assert_int_equal(MLS_TX(tx, device_get, full.pub, &got), MLPROTO_OK);
  assert_int_equal(strlen(got.label), MLS_LABEL_MAX);
  assert_int_equal(MLS_TX(tx, device_revoke, a.pub, 900), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, device_revoke, a.pub, 901), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, device_revoke, nobody, 901), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, device_revoke, b.pub, 0), MLPROTO_OK);
  commit(tx);

  /* a device of a mentor the store does not have: the foreign key, the
   * same code on every backend (PostgreSQL's 23503; SQLite's
   * SQLITE_CONSTRAINT_FOREIGNKEY); the transaction is then only rolled back */
  tx = begin(st, MLS_TXN_WRITE);
  mls_device orphan = mk_device(0x60, 9, 80);
  assert_int_equal(MLS_TX(tx, device_add, &orphan), MLPROTO_ERR_NOT_FOUND);
  mls_store_rollback(tx);
  tx = begin(st, MLS_TXN_READ);
  assert_int_equal(MLS_TX(tx, device_get, a.pub, &got), MLPROTO_OK);
  assert_int_equal(got.revoked_ms, 900);
  assert_int_equal(MLS_TX(tx, device_get, b.pub, &got), MLPROTO_OK);
  assert_true(got.revoked_ms > 0);
  uint8_t order[8] = {0};
  assert_int_equal(MLS_TX(tx, device_list, first_device, order), MLPROTO_OK);
  const uint8_t want[] = {4, 0x10, 0x30, 0x20, 0x50}; /* enrolled_ms, then pub */
  assert_memory_equal(order, want, 5);
  seen s = {.stop_at = 3};
  assert_int_equal(MLS_TX(tx, device_list, see_device, &s), 77);
  commit(tx);
}

static void t_sessions_tokens(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  uint8_t h1[32], h2[32], h3[32], dev[32], got[32];
  fill(h1, 32, 1);
  fill(h2, 32, 2);
  fill(h3, 32, 3);
  fill(dev, 32, 9);
  uint8_t c1[32], c2[32], c3[32], c4[32];
  fill(c1, 32, 11);
  fill(c2, 32, 12);
  fill(c3, 32, 13);
  fill(c4, 32, 14);
  assert_int_equal(MLS_TX(tx, session_add, h1, dev, 1000, c1), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, session_add, h1, dev, 2000, c2), MLPROTO_ERR_ALREADY_EXISTS);
  /* a challenge opens one session: another token with the same challenge */
  assert_int_equal(MLS_TX(tx, session_add, h2, dev, 2000, c1), MLPROTO_ERR_ALREADY_EXISTS);
  assert_int_equal(MLS_TX(tx, session_add, h2, dev, 1, NULL), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, session_get, h1, 999, got), MLPROTO_OK);
  assert_memory_equal(got, dev, 32);
  assert_int_equal(MLS_TX(tx, session_get, h1, 1000, got), MLPROTO_ERR_UNAUTHENTICATED);
  assert_int_equal(MLS_TX(tx, session_get, h2, 1, got), MLPROTO_ERR_UNAUTHENTICATED);
  /* purge: expired ones only (expires_ms <= now), earliest first, at most max */
  assert_int_equal(MLS_TX(tx, session_add, h2, dev, 500, c2), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, session_add, h3, dev, 3000, c3), MLPROTO_OK);
  uint32_t purged = 99;
  assert_int_equal(MLS_TX(tx, session_purge, 1000, 0, &purged), MLPROTO_OK);
  assert_int_equal(purged, 0);
  assert_int_equal(MLS_TX(tx, session_purge, 1000, 1, &purged), MLPROTO_OK);
  assert_int_equal(purged, 1); /* h2 (500), the earliest */
  assert_int_equal(MLS_TX(tx, session_get, h1, 999, got), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, session_purge, 1000, 10, &purged), MLPROTO_OK);
  assert_int_equal(purged, 1); /* h1 (1000 <= 1000) */
  assert_int_equal(MLS_TX(tx, session_get, h3, 999, got), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, session_purge, 1000, 10, NULL), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, session_get, h3, 2999, got), MLPROTO_OK);
  /* h1's token hash is free again once its session is purged */
  assert_int_equal(MLS_TX(tx, session_add, h1, dev, 4000, c4), MLPROTO_OK);

  char role[MLS_ROLE_MAX + 1], jc[MLS_JOBCENTRE_MAX + 1], longjc[MLS_JOBCENTRE_MAX + 2];
  assert_int_equal(MLS_TX(tx, api_token_get, h1, role, jc), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, api_token_add, h1, "jobcentre", "0101", 5), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, api_token_add, h2, "auditor", NULL, 6), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, api_token_add, h1, "auditor", NULL, 7), MLPROTO_ERR_ALREADY_EXISTS);
  memset(longjc, 'j', sizeof longjc - 1);
  longjc[sizeof longjc - 1] = 0;
  assert_int_equal(MLS_TX(tx, api_token_add, h3, "jobcentre", longjc, 7), MLPROTO_ERR_TOO_LARGE);
  commit(tx);
  tx = begin(st, MLS_TXN_READ);
  assert_int_equal(MLS_TX(tx, api_token_get, h1, role, jc), MLPROTO_OK);
  assert_string_equal(role, "jobcentre");
  assert_string_equal(jc, "0101");
  assert_int_equal(MLS_TX(tx, api_token_get, h2, role, jc), MLPROTO_OK);
  assert_string_equal(role, "auditor");
  assert_string_equal(jc, "");
  assert_int_equal(MLS_TX(tx, api_token_get, h3, role, jc), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, session_get, h1, 10, got), MLPROTO_OK);
  commit(tx);
}

/* The caseworker's web sessions (issue 13): keyed by the cookie's hash,
 * holding the API token's hash; expired ones are not found and purged
 * earliest first; touch renews, delete ends; the rows outlive the
 * transaction and a reopening of the store. */
static void t_web_sessions(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  assert_non_null(st->ops->web_session_add);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  uint8_t s1[32], s2[32], s3[32], t1[32], t2[32], got[32];
  fill(s1, 32, 21);
  fill(s2, 32, 22);
  fill(s3, 32, 23);
  fill(t1, 32, 31);
  fill(t2, 32, 32);
  uint64_t created = 0, expires = 0;
  assert_int_equal(MLS_TX(tx, web_session_get, s1, 1, got, &created, &expires),
                   MLPROTO_ERR_UNAUTHENTICATED);
  assert_int_equal(MLS_TX(tx, web_session_add, s1, t1, 100, 1000), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, web_session_add, s1, t2, 100, 2000), MLPROTO_ERR_ALREADY_EXISTS);
  assert_int_equal(MLS_TX(tx, web_session_add, s2, t1, 200, 500), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, web_session_add, s3, t2, 300, 3000), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, web_session_get, s1, 999, got, &created, &expires), MLPROTO_OK);
  assert_memory_equal(got, t1, 32);
  assert_int_equal(created, 100);
  assert_int_equal(expires, 1000);
  /* expired at its expiry */
  assert_int_equal(MLS_TX(tx, web_session_get, s1, 1000, got, NULL, NULL),
                   MLPROTO_ERR_UNAUTHENTICATED);
  /* touch renews (and may revive: the application decides before) */
  assert_int_equal(MLS_TX(tx, web_session_touch, s1, 1500), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, web_session_get, s1, 1000, got, NULL, &expires), MLPROTO_OK);
  assert_int_equal(expires, 1500);
  fill(got, 32, 99);
  assert_int_equal(MLS_TX(tx, web_session_touch, got, 1500), MLPROTO_ERR_NOT_FOUND);
  /* purge: expired only, earliest first, at most max */
  uint32_t purged = 99;
  assert_int_equal(MLS_TX(tx, web_session_purge, 2000, 0, &purged), MLPROTO_OK);
  assert_int_equal(purged, 0);
  assert_int_equal(MLS_TX(tx, web_session_purge, 2000, 1, &purged), MLPROTO_OK);
  assert_int_equal(purged, 1); /* s2 (500) */
  assert_int_equal(MLS_TX(tx, web_session_get, s2, 1, got, NULL, NULL),
                   MLPROTO_ERR_UNAUTHENTICATED);
  assert_int_equal(MLS_TX(tx, web_session_get, s1, 1, got, NULL, NULL), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, web_session_purge, 2000, 10, NULL), MLPROTO_OK); /* s1 (1500) */
  assert_int_equal(MLS_TX(tx, web_session_get, s1, 1, got, NULL, NULL),
                   MLPROTO_ERR_UNAUTHENTICATED);
  assert_int_equal(MLS_TX(tx, web_session_get, s3, 2999, got, NULL, NULL), MLPROTO_OK);
  assert_memory_equal(got, t2, 32);
  commit(tx);
  /* delete: once */
  tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(MLS_TX(tx, web_session_add, s1, t1, 4000, 9000), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, web_session_delete, s3), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, web_session_delete, s3), MLPROTO_ERR_NOT_FOUND);
  commit(tx);
  mls_store_close(st);
  f->st = NULL;
  st = open_default(f);
  tx = begin(st, MLS_TXN_READ);
  assert_int_equal(MLS_TX(tx, web_session_get, s3, 1, got, NULL, NULL),
                   MLPROTO_ERR_UNAUTHENTICATED);
  assert_int_equal(MLS_TX(tx, web_session_get, s1, 5000, got, &created, &expires), MLPROTO_OK);
  assert_memory_equal(got, t1, 32);
  assert_int_equal(created, 4000);
  assert_int_equal(expires, 9000);
  commit(tx);
}

static int case_first(void *ud, const uint8_t id[16]) {
  uint8_t *out = ud;
  out[1 + out[0]++] = id[0];
  return 0;
}

static int case_state(void *ud, const uint8_t id[16], uint64_t erased) {
  uint64_t *out = ud;
  out[1 + 2 * out[0]] = id[0];
  out[2 + 2 * out[0]] = erased;
  out[0]++;
  return 0;
}

static void t_cases(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  uint8_t c1[16], c2[16], c3[16], m1[16], m2[16], got[16];
  memset(c1, 0x30, 16);
  memset(c2, 0x10, 16);
  memset(c3, 0x20, 16);
  memset(m1, 1, 16);
  memset(m2, 2, 16);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(MLS_TX(tx, case_owner, c1, got), MLPROTO_ERR_NOT_FOUND);
  uint64_t erased = 9, last = 0;
  assert_int_equal(MLS_TX(tx, case_erased_get, c1, &erased), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, case_erased_set, c1, 5), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, case_version, c1, UINT64_MAX, got, &erased, &last),
                   MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, case_claim, c1, m1), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_claim, c1, m2), MLPROTO_ERR_ALREADY_EXISTS);
  assert_int_equal(MLS_TX(tx, case_claim, c2, m2), MLPROTO_OK); /* not asked first */
  assert_int_equal(MLS_TX(tx, case_owner, c1, got), MLPROTO_OK);
  assert_memory_equal(got, m1, 16);
  assert_int_equal(MLS_TX(tx, case_erased_get, c1, &erased), MLPROTO_OK);
  assert_int_equal(erased, 0);
  commit(tx);

  tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(MLS_TX(tx, case_owner, c3, got), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, case_claim, c3, m2), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_claim, c1, m2), MLPROTO_ERR_ALREADY_EXISTS);
  assert_int_equal(MLS_TX(tx, case_claim, c3, m1), MLPROTO_ERR_ALREADY_EXISTS);
  /* asked first (PostgreSQL keeps the erasure time case_owner read) */
  assert_int_equal(MLS_TX(tx, case_owner, c2, got), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_erased_get, c2, &erased), MLPROTO_OK);
  assert_int_equal(erased, 0);
  assert_int_equal(MLS_TX(tx, case_erased_set, c2, 0), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, case_erased_set, c2, 700), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_erased_set, c2, 800), MLPROTO_OK); /* keeps the first */
  assert_int_equal(MLS_TX(tx, case_erased_set, c3, 900), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_erased_get, c2, &erased), MLPROTO_OK);
  assert_int_equal(erased, 700);
  /* case_version: the newest entry below `below` */
  assert_int_equal(MLS_TX(tx, case_version, c1, UINT64_MAX, got, &erased, &last), MLPROTO_OK);
  assert_memory_equal(got, m1, 16);
  assert_int_equal(erased, 0);
  assert_int_equal(last, UINT64_MAX);
  assert_int_equal(append_n(tx, 2, 4, NULL, 0, 1), MLPROTO_OK);  /* indexes 0, 1: other case */
  assert_int_equal(append_n(tx, 3, 5, c1, 1, 1), MLPROTO_OK);    /* 2, 3, 4 */
  assert_int_equal(MLS_TX(tx, case_version, c1, UINT64_MAX, got, &erased, &last), MLPROTO_OK);
  assert_int_equal(last, 4);
  assert_int_equal(MLS_TX(tx, case_version, c1, 4, got, &erased, &last), MLPROTO_OK);
  assert_int_equal(last, 3);
  assert_int_equal(MLS_TX(tx, case_version, c1, 2, got, &erased, &last), MLPROTO_OK);
  assert_int_equal(last, UINT64_MAX);
  assert_int_equal(MLS_TX(tx, case_version, c2, UINT64_MAX, got, &erased, &last), MLPROTO_OK);
  assert_int_equal(erased, 700);
  /* jobcentres */
  char longjc[MLS_JOBCENTRE_MAX + 2];
  memset(longjc, 'j', sizeof longjc - 1);
  longjc[sizeof longjc - 1] = 0;
  assert_int_equal(MLS_TX(tx, case_jobcentre_add, c1, "0101"), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_jobcentre_add, c1, "0101"), MLPROTO_OK); /* idempotent */
  assert_int_equal(MLS_TX(tx, case_jobcentre_add, c3, "0101"), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_jobcentre_add, c2, "0101"), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_jobcentre_add, c2, "0202"), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_jobcentre_add, c2, ""), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, case_jobcentre_add, c2, longjc), MLPROTO_ERR_TOO_LARGE);
  commit(tx);

  tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(MLS_TX(tx, case_jobcentre_add, c1, "0101"), MLPROTO_OK); /* again, committed */
  /* a committed erasure, read with the owner; a later one keeps it */
  assert_int_equal(MLS_TX(tx, case_owner, c2, got), MLPROTO_OK);
  assert_memory_equal(got, m2, 16);
  assert_int_equal(MLS_TX(tx, case_erased_set, c2, 990), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_erased_get, c2, &erased), MLPROTO_OK);
  assert_int_equal(erased, 700);
  commit(tx);
  tx = begin(st, MLS_TXN_READ);
  uint8_t order[8] = {0};
  assert_int_equal(MLS_TX(tx, jobcentre_cases, "0101", case_first, order), MLPROTO_OK);
  const uint8_t want[] = {3, 0x10, 0x20, 0x30};
  assert_memory_equal(order, want, 4);
  memset(order, 0, sizeof order);
  assert_int_equal(MLS_TX(tx, jobcentre_cases, "0202", case_first, order), MLPROTO_OK);
  assert_int_equal(order[0], 1);
  memset(order, 0, sizeof order);
  assert_int_equal(MLS_TX(tx, jobcentre_cases, "9999", case_first, order), MLPROTO_OK);
  assert_int_equal(order[0], 0);
  seen s = {.stop_at = 2};
  assert_int_equal(MLS_TX(tx, jobcentre_cases, "0101", see_case, &s), 77);
  uint64_t states[16] = {0};
  assert_int_equal(MLS_TX(tx, case_list, case_state, states), MLPROTO_OK);
  const uint64_t want_states[] = {3, 0x10, 700, 0x20, 900, 0x30, 0};
  assert_memory_equal(states, want_states, sizeof want_states);
  s = (seen){.stop_at = 1};
  assert_int_equal(MLS_TX(tx, case_list, see_case_state, &s), 77);
  commit(tx);
}

static void t_meta(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  uint8_t buf[MLS_META_MAX + 1], big[MLS_META_MAX + 1];
  size_t len = 99;
  char key65[66];
  memset(key65, 'k', 65);
  key65[65] = 0;
  assert_int_equal(MLS_TX(tx, meta_get, "x", buf, sizeof buf, &len), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, meta_put, "x", (const uint8_t *)"one", 3), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, meta_put, "x", (const uint8_t *)"two!", 4), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, meta_put, "empty", NULL, 0), MLPROTO_OK);
  fill(big, sizeof big, 3);
  assert_int_equal(MLS_TX(tx, meta_put, "big", big, MLS_META_MAX), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, meta_put, "big2", big, MLS_META_MAX + 1), MLPROTO_ERR_TOO_LARGE);
  assert_int_equal(MLS_TX(tx, meta_put, key65, big, 1), MLPROTO_ERR_TOO_LARGE);
  commit(tx);
  tx = begin(st, MLS_TXN_READ);
  assert_int_equal(MLS_TX(tx, meta_get, "x", buf, sizeof buf, &len), MLPROTO_OK);
  assert_int_equal(len, 4);
  assert_memory_equal(buf, "two!", 4);
  assert_int_equal(MLS_TX(tx, meta_get, "x", buf, 3, &len), MLPROTO_ERR_BUFFER_TOO_SMALL);
  assert_int_equal(MLS_TX(tx, meta_get, "empty", buf, sizeof buf, &len), MLPROTO_OK);
  assert_int_equal(len, 0);
  assert_int_equal(MLS_TX(tx, meta_get, "big", buf, sizeof buf, &len), MLPROTO_OK);
  assert_int_equal(len, MLS_META_MAX);
  assert_memory_equal(buf, big, MLS_META_MAX);
  commit(tx);
}

/* ------------------------------------------------------------------ log --- */

static void t_log(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  uint8_t case_a[16], none[32] = {0}, hash[32];
  memset(case_a, 0xca, 16);
  mls_txn *tx = begin(st, MLS_TXN_READ);
  uint64_t size = 9, seq = 9, idx;
  assert_int_equal(MLS_TX(tx, log_size, &size), MLPROTO_OK);
  assert_int_equal(size, 0);
  uint8_t a1[32];
  memset(a1, 1, 32);
  assert_int_equal(MLS_TX(tx, author_head, a1, &seq, hash), MLPROTO_OK);
  assert_int_equal(seq, 0);
  assert_memory_equal(hash, none, 32);
  commit(tx);

  /* 300 entries of author 1 (mentor 1, case a), then 300 of author 2 (no mentor) */
  tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(tx, 300, 1, case_a, 1, 1000), MLPROTO_OK);
  commit(tx);
  tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(tx, 300, 2, NULL, 0, 2000), MLPROTO_OK);
  commit(tx);

  tx = begin(st, MLS_TXN_WRITE);
  ent x, y;
  mlproto_merkle_compact cr;
  assert_int_equal(mlproto_merkle_compact_load(&cr, 600, node_fn, tx), MLPROTO_OK);
  /* the index must be the log's size */
  mk_entry(&x, 599, 3, 1, NULL, 0, 1);
  assert_int_equal(MLS_TX(tx, log_append, &x.e), MLPROTO_ERR_ALREADY_EXISTS);
  mk_entry(&x, 601, 3, 1, NULL, 0, 1);
  assert_int_equal(MLS_TX(tx, log_append, &x.e), MLPROTO_ERR_INVALID_ARGUMENT);
  /* (author, seq) once: a stored one, one of this transaction */
  mk_entry(&x, 600, 1, 17, NULL, 0, 1);
  assert_int_equal(MLS_TX(tx, log_append, &x.e), MLPROTO_ERR_ALREADY_EXISTS);
  mk_entry(&x, 600, 3, 1, NULL, 0, 3000);
  assert_int_equal(MLS_TX(tx, log_append, &x.e), MLPROTO_OK);
  assert_int_equal(put_leaf_nodes(tx, &cr, x.e.leaf_hash), MLPROTO_OK);
  mk_entry(&y, 601, 3, 1, NULL, 0, 3000);
  assert_int_equal(MLS_TX(tx, log_append, &y.e), MLPROTO_ERR_ALREADY_EXISTS);
  /* a gap in an author's seqs is the caller's business: stored */
  mk_entry(&y, 601, 3, 5, NULL, 0, 3000);
  assert_int_equal(MLS_TX(tx, log_append, &y.e), MLPROTO_OK);
  assert_int_equal(put_leaf_nodes(tx, &cr, y.e.leaf_hash), MLPROTO_OK);
  mk_entry(&y, 602, 3, 3, NULL, 0, 3000);
  assert_int_equal(MLS_TX(tx, log_append, &y.e), MLPROTO_OK);
  assert_int_equal(put_leaf_nodes(tx, &cr, y.e.leaf_hash), MLPROTO_OK);
  mk_entry(&y, 603, 3, 5, NULL, 0, 3000);
  assert_int_equal(MLS_TX(tx, log_append, &y.e), MLPROTO_ERR_ALREADY_EXISTS);
  /* the same leaf again (another author and seq, the same record hash and time) */
  mk_entry(&y, 603, 4, 1, NULL, 0, 3000);
  memcpy(y.e.record_hash, x.e.record_hash, 32);
  memcpy(y.e.leaf_hash, x.e.leaf_hash, 32);
  assert_int_equal(MLS_TX(tx, log_append, &y.e), MLPROTO_OK);
  assert_int_equal(put_leaf_nodes(tx, &cr, y.e.leaf_hash), MLPROTO_OK);
  static uint8_t huge[MLS_ENVELOPE_MAX + 1];
  mk_entry(&y, 604, 4, 2, NULL, 0, 3000);
  y.e.envelope = huge;
  y.e.envelope_len = MLS_ENVELOPE_MAX + 1;
  assert_int_equal(MLS_TX(tx, log_append, &y.e), MLPROTO_ERR_TOO_LARGE);
  y.e.envelope_len = MLS_ENVELOPE_MAX;
  fill(huge, MLS_ENVELOPE_MAX, 5);
  assert_int_equal(MLS_TX(tx, log_append, &y.e), MLPROTO_OK); /* at the cap */
  assert_int_equal(put_leaf_nodes(tx, &cr, y.e.leaf_hash), MLPROTO_OK);
  commit(tx);

  tx = begin(st, MLS_TXN_READ);
  assert_int_equal(MLS_TX(tx, log_size, &size), MLPROTO_OK);
  assert_int_equal(size, 605);
  assert_int_equal(MLS_TX(tx, author_head, a1, &seq, hash), MLPROTO_OK);
  assert_int_equal(seq, 300);
  ent e300;
  mk_entry(&e300, 299, 1, 300, case_a, 1, 1000);
  assert_memory_equal(hash, e300.e.record_hash, 32);
  uint8_t a3[32];
  memset(a3, 3, 32);
  assert_int_equal(MLS_TX(tx, author_head, a3, &seq, hash), MLPROTO_OK);
  assert_int_equal(seq, 5);
  mls_record_ref ref;
  assert_int_equal(MLS_TX(tx, record_at, a1, 300, &ref), MLPROTO_OK);
  assert_int_equal(ref.index, 299);
  assert_int_equal(ref.received_ms, 1000);
  assert_memory_equal(ref.record_hash, e300.e.record_hash, 32);
  assert_int_equal(MLS_TX(tx, record_at, a1, 301, &ref), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, record_at, a3, 4, &ref), MLPROTO_ERR_NOT_FOUND);
  uint8_t *buf = malloc(MLS_ENVELOPE_MAX);
  assert_non_null(buf);
  size_t len = 0;
  assert_int_equal(MLS_TX(tx, envelope_at, 299, buf, MLS_ENVELOPE_MAX, &len), MLPROTO_OK);
  assert_int_equal(len, ENV_LEN);
  assert_memory_equal(buf, e300.env, ENV_LEN);
  assert_int_equal(MLS_TX(tx, envelope_at, 299, buf, ENV_LEN - 1, &len),
                   MLPROTO_ERR_BUFFER_TOO_SMALL);
  assert_int_equal(MLS_TX(tx, envelope_at, 605, buf, MLS_ENVELOPE_MAX, &len), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, envelope_at, UINT64_MAX, buf, MLS_ENVELOPE_MAX, &len),
                   MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, envelope_at, 604, buf, MLS_ENVELOPE_MAX, &len), MLPROTO_OK);
  assert_int_equal(len, MLS_ENVELOPE_MAX);
  assert_memory_equal(buf, huge, MLS_ENVELOPE_MAX);
  /* leaf_find: the lowest of two equal leaves */
  assert_int_equal(MLS_TX(tx, leaf_find, x.e.leaf_hash, &idx), MLPROTO_OK);
  assert_int_equal(idx, 600);
  assert_int_equal(MLS_TX(tx, leaf_find, e300.e.leaf_hash, &idx), MLPROTO_OK);
  assert_int_equal(idx, 299);
  assert_int_equal(MLS_TX(tx, leaf_find, none, &idx), MLPROTO_ERR_NOT_FOUND);
  check_tree(tx);
  free(buf);

  /* listings: all, by mentor, since, limit, stop, past the end */
  seen *s = calloc(1, sizeof *s);
  assert_non_null(s);
  assert_int_equal(MLS_TX(tx, log_list, NULL, 0, 1000, see_entry, s), MLPROTO_OK);
  assert_int_equal(s->n, 605);
  for (size_t i = 0; i < s->n; i++) assert_int_equal(s->idx[i], i);
  memset(s, 0, sizeof *s);
  assert_int_equal(MLS_TX(tx, log_list, NULL, 100, 300, see_entry, s), MLPROTO_OK);
  assert_int_equal(s->n, 300);
  assert_int_equal(s->idx[0], 100);
  assert_int_equal(s->idx[299], 399);
  uint8_t m1[16];
  memset(m1, 1, 16);
  memset(s, 0, sizeof *s);
  assert_int_equal(MLS_TX(tx, log_list, m1, 290, 1000, see_entry, s), MLPROTO_OK);
  assert_int_equal(s->n, 10);
  assert_int_equal(s->idx[9], 299);
  memset(s, 0, sizeof *s);
  assert_int_equal(MLS_TX(tx, log_list, NULL, 605, 10, see_entry, s), MLPROTO_OK);
  assert_int_equal(s->n, 0);
  assert_int_equal(MLS_TX(tx, log_list, NULL, UINT64_MAX, 10, see_entry, s), MLPROTO_OK);
  assert_int_equal(s->n, 0);
  assert_int_equal(MLS_TX(tx, log_list, NULL, 0, 0, see_entry, s), MLPROTO_OK);
  assert_int_equal(s->n, 0);
  *s = (seen){.stop_at = 260};
  assert_int_equal(MLS_TX(tx, log_list, NULL, 0, 1000, see_entry, s), 77);
  assert_int_equal(s->n, 260);
  /* case entries: below, ascending */
  memset(s, 0, sizeof *s);
  assert_int_equal(MLS_TX(tx, case_entries, case_a, UINT64_MAX, see_entry, s), MLPROTO_OK);
  assert_int_equal(s->n, 300);
  memset(s, 0, sizeof *s);
  assert_int_equal(MLS_TX(tx, case_entries, case_a, 7, see_entry, s), MLPROTO_OK);
  assert_int_equal(s->n, 7);
  *s = (seen){.stop_at = 3};
  assert_int_equal(MLS_TX(tx, case_entries, case_a, 7, see_entry, s), 77);
  free(s);
  commit(tx);
}

typedef struct entry_check {
  int n;
  int ok;
} entry_check;

/* Every listed entry equals the one mk_entry makes for it. */
static int check_entry(void *ud, const mls_log_entry *e) {
  entry_check *c = ud;
  ent want;
  uint8_t case_a[16];
  memset(case_a, 0xca, 16);
  mk_entry(&want, e->index, 1, e->index + 1, case_a, 1, 1000);
  c->n++;
  c->ok &= e->type == want.e.type && e->received_ms == want.e.received_ms &&
           memcmp(e->record_hash, want.e.record_hash, 32) == 0 &&
           memcmp(e->author, want.e.author, 32) == 0 && e->seq == want.e.seq &&
           memcmp(e->record_id, want.e.record_id, 16) == 0 &&
           memcmp(e->case_id, want.e.case_id, 16) == 0 && e->kind == want.e.kind &&
           e->has_mentor == 1 && memcmp(e->mentor_id, want.e.mentor_id, 16) == 0 &&
           e->envelope_len == ENV_LEN && memcmp(e->envelope, want.env, ENV_LEN) == 0;
  return 0;
}

static int check_leaf(void *ud, const mls_log_entry *e) {
  entry_check *c = ud;
  ent want;
  uint8_t case_a[16];
  memset(case_a, 0xca, 16);
  mk_entry(&want, e->index, 1, e->index + 1, case_a, 1, 1000);
  c->ok &= memcmp(e->leaf_hash, want.e.leaf_hash, 32) == 0;
  return 0;
}

static int check_no_leaf(void *ud, const mls_log_entry *e) {
  entry_check *c = ud;
  static const uint8_t zero[32];
  c->n++;
  c->ok &= memcmp(e->leaf_hash, zero, 32) == 0;
  return 0;
}

static void t_log_fields(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  uint8_t case_a[16];
  memset(case_a, 0xca, 16);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(tx, 20, 1, case_a, 1, 1000), MLPROTO_OK);
  commit(tx);
  tx = begin(st, MLS_TXN_READ);
  entry_check c = {0, 1};
  assert_int_equal(MLS_TX(tx, log_list, NULL, 0, 100, check_entry, &c), MLPROTO_OK);
  assert_int_equal(c.n, 20);
  assert_true(c.ok);
  assert_int_equal(MLS_TX(tx, log_list, NULL, 0, 100, check_leaf, &c), MLPROTO_OK);
  assert_true(c.ok);
  c = (entry_check){0, 1};
  assert_int_equal(MLS_TX(tx, case_entries, case_a, UINT64_MAX, check_entry, &c), MLPROTO_OK);
  assert_int_equal(c.n, 20);
  assert_true(c.ok);
  c = (entry_check){0, 1};
  assert_int_equal(MLS_TX(tx, case_entries, case_a, UINT64_MAX, check_no_leaf, &c), MLPROTO_OK);
  assert_true(c.ok); /* case_entries does not read the leaf hash */
  mls_leaf_entry le[20];
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 0, 20, le), MLPROTO_OK);
  for (int i = 0; i < 20; i++) {
    ent want;
    mk_entry(&want, (uint64_t)i, 1, (uint64_t)i + 1, case_a, 1, 1000);
    assert_int_equal(le[i].type, MLPROTO_LOG_DEVICE_RECORD);
    assert_int_equal(le[i].received_ms, 1000);
    assert_memory_equal(le[i].record_hash, want.e.record_hash, 32);
  }
  commit(tx);
}

static void t_envelope_replace(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(tx, 5, 1, NULL, 0, 1), MLPROTO_OK);
  commit(tx);
  tx = begin(st, MLS_TXN_WRITE);
  uint8_t env[100], buf[200];
  size_t len;
  fill(env, sizeof env, 77);
  assert_int_equal(MLS_TX(tx, envelope_replace, 3, env, sizeof env), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, envelope_replace, 5, env, sizeof env), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, envelope_replace, 2, env, MLS_ENVELOPE_MAX + 1), MLPROTO_ERR_TOO_LARGE);
  assert_int_equal(MLS_TX(tx, envelope_at, 3, buf, sizeof buf, &len), MLPROTO_OK);
  assert_int_equal(len, sizeof env);
  assert_memory_equal(buf, env, sizeof env);
  commit(tx);
  /* the old bytes leave the files (SQLite) or become unreachable (PostgreSQL) */
  assert_int_equal(mls_store_scrub(st), MLPROTO_OK);
  tx = begin(st, MLS_TXN_READ);
  assert_int_equal(MLS_TX(tx, envelope_at, 3, buf, sizeof buf, &len), MLPROTO_OK);
  assert_memory_equal(buf, env, sizeof env);
  assert_int_equal(MLS_TX(tx, envelope_at, 2, buf, sizeof buf, &len), MLPROTO_OK);
  assert_int_equal(len, ENV_LEN);
  check_tree(tx); /* the leaves did not change */
  commit(tx);
}

/* ---------------------------------------------------------- nodes, ranges --- */

static void node_hash(uint8_t h[32], unsigned level, uint64_t index) {
  uint8_t in[9];
  in[0] = (uint8_t)level;
  for (int i = 0; i < 8; i++) in[1 + i] = (uint8_t)(index >> (8 * i));
  crypto_hash_sha256(h, in, sizeof in);
}

static int put_nodes(mls_txn *tx, unsigned level, uint64_t from, uint64_t to) {
  for (uint64_t i = from; i < to; i++) {
    uint8_t h[32];
    node_hash(h, level, i);
    int rc = MLS_TX(tx, node_put, level, i, h);
    if (rc) return rc;
  }
  return MLPROTO_OK;
}

static void t_nodes(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  uint8_t h[32], got[32];
  /* level 0 in three transactions: a tile filled across commits, then the next */
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(MLS_TX(tx, node_get, 0, 0, got), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(put_nodes(tx, 0, 0, 100), MLPROTO_OK);
  commit(tx);
  tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(put_nodes(tx, 0, 100, 300), MLPROTO_OK);
  assert_int_equal(put_nodes(tx, 1, 0, 150), MLPROTO_OK);
  assert_int_equal(put_nodes(tx, 8, 0, 1), MLPROTO_OK);
  commit(tx);
  tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(put_nodes(tx, 0, 300, 520), MLPROTO_OK);
  /* duplicates: stored before, and of this transaction */
  node_hash(h, 0, 5);
  assert_int_equal(MLS_TX(tx, node_put, 0, 5, h), MLPROTO_ERR_ALREADY_EXISTS);
  assert_int_equal(MLS_TX(tx, node_put, 0, 299, h), MLPROTO_ERR_ALREADY_EXISTS);
  assert_int_equal(MLS_TX(tx, node_put, 0, 519, h), MLPROTO_ERR_ALREADY_EXISTS);
  assert_int_equal(MLS_TX(tx, node_put, 8, 0, h), MLPROTO_ERR_ALREADY_EXISTS);
  /* a gap: past the next node of its level, in its tile or in a later one */
  assert_int_equal(MLS_TX(tx, node_put, 0, 521, h), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_put, 0, 768, h), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_put, 1, 256, h), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_put, 2, 3, h), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_put, 64, 0, h), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_put, 0, UINT64_MAX, h), MLPROTO_ERR_INVALID_ARGUMENT);
  /* the first node of a level */
  assert_int_equal(put_nodes(tx, 2, 0, 1), MLPROTO_OK);
  commit(tx);

  tx = begin(st, MLS_TXN_READ);
  for (uint64_t i = 0; i < 520; i += 37) {
    assert_int_equal(MLS_TX(tx, node_get, 0, i, got), MLPROTO_OK);
    node_hash(h, 0, i);
    assert_memory_equal(got, h, 32);
  }
  assert_int_equal(MLS_TX(tx, node_get, 0, 519, got), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, node_get, 0, 520, got), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, node_get, 1, 149, got), MLPROTO_OK);
  node_hash(h, 1, 149);
  assert_memory_equal(got, h, 32);
  assert_int_equal(MLS_TX(tx, node_get, 1, 150, got), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, node_get, 3, 0, got), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, node_get, 64, 0, got), MLPROTO_ERR_NOT_FOUND);

  static uint8_t out[MLS_RANGE_MAX][32];
  static const uint8_t zero[MLS_RANGE_MAX][32];
  /* a whole tile; across two tiles; the partial last tile; one node */
  assert_int_equal(MLS_TX(tx, node_range, 0, 256, 256, out), MLPROTO_OK);
  for (uint32_t i = 0; i < 256; i++) {
    node_hash(h, 0, 256 + i);
    assert_memory_equal(out[i], h, 32);
  }
  assert_int_equal(MLS_TX(tx, node_range, 0, 200, 256, out), MLPROTO_OK);
  node_hash(h, 0, 200);
  assert_memory_equal(out[0], h, 32);
  node_hash(h, 0, 455);
  assert_memory_equal(out[255], h, 32);
  assert_int_equal(MLS_TX(tx, node_range, 0, 512, 8, out), MLPROTO_OK);
  node_hash(h, 0, 519);
  assert_memory_equal(out[7], h, 32);
  assert_int_equal(MLS_TX(tx, node_range, 8, 0, 1, out), MLPROTO_OK);
  node_hash(h, 8, 0);
  assert_memory_equal(out[0], h, 32);
  /* any one missing: NOT_FOUND, zeros */
  memset(out, 0xee, sizeof out);
  assert_int_equal(MLS_TX(tx, node_range, 0, 512, 9, out), MLPROTO_ERR_NOT_FOUND);
  assert_memory_equal(out, zero, 9 * 32);
  assert_int_equal(MLS_TX(tx, node_range, 0, 300, 256, out), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, node_range, 1, 100, 51, out), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, node_range, 1, 100, 50, out), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, node_range, 5, 0, 1, out), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, node_range, 0, (UINT64_C(1) << 63) - 1, 1, out), MLPROTO_ERR_NOT_FOUND);
  /* bad ranges */
  assert_int_equal(MLS_TX(tx, node_range, 0, 0, 0, out), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_range, 0, 0, MLS_RANGE_MAX + 1, out), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_range, 64, 0, 1, out), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_range, 0, UINT64_C(1) << 63, 1, out), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_range, 0, (UINT64_C(1) << 63) - 1, 2, out),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, node_range, 0, UINT64_MAX - 10, 20, out), MLPROTO_ERR_INVALID_ARGUMENT);
  commit(tx);
}

static void t_leaf_entry_range(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(tx, 300, 1, NULL, 0, 5), MLPROTO_OK);
  commit(tx);
  tx = begin(st, MLS_TXN_READ);
  static mls_leaf_entry e[MLS_RANGE_MAX];
  static const mls_leaf_entry zero[MLS_RANGE_MAX];
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 0, 256, e), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 44, 256, e), MLPROTO_OK);
  ent want;
  mk_entry(&want, 44, 1, 45, NULL, 0, 5);
  assert_memory_equal(e[0].record_hash, want.e.record_hash, 32);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 299, 1, e), MLPROTO_OK);
  memset(e, 0xee, sizeof e);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 45, 256, e), MLPROTO_ERR_NOT_FOUND);
  assert_memory_equal(e, zero, 256 * sizeof e[0]);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 300, 1, e), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 0, 0, e), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 0, MLS_RANGE_MAX + 1, e), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, UINT64_MAX, 1, e), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, (UINT64_C(1) << 63) - 1, 1, e), MLPROTO_ERR_NOT_FOUND);
  commit(tx);
}

/* ------------------------------------------------------------ tree heads --- */

static void sth_blob(uint8_t out[MLPROTO_STH_ENCODED_BYTES], uint64_t size, uint64_t ts) {
  mlproto_sth h;
  memset(&h, 0, sizeof h);
  h.size = size;
  h.timestamp_ms = ts;
  fill(h.root, 32, (unsigned)size);
  fill(h.signature, 64, (unsigned)ts);
  mlproto_sth_encode(out, &h);
}

static void t_sth(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  uint8_t a[MLPROTO_STH_ENCODED_BYTES], a2[MLPROTO_STH_ENCODED_BYTES],
      b[MLPROTO_STH_ENCODED_BYTES], c[MLPROTO_STH_ENCODED_BYTES], got[256];
  sth_blob(a, 1, 100);
  sth_blob(a2, 1, 101);
  sth_blob(b, 3, 200);
  sth_blob(c, 2, 300);
  size_t len;
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(MLS_TX(tx, sth_get, got, sizeof got, &len), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, sth_put, a, sizeof a), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, sth_get, got, sizeof got, &len), MLPROTO_OK);
  assert_int_equal(len, sizeof a);
  assert_memory_equal(got, a, sizeof a);
  commit(tx);
  tx = begin(st, MLS_TXN_WRITE);
  /* the same head again: nothing to do; another head for that size: refused */
  assert_int_equal(MLS_TX(tx, sth_put, a, sizeof a), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, sth_put, a2, sizeof a2), MLPROTO_ERR_STORAGE);
  assert_int_equal(MLS_TX(tx, sth_put, a, 50), MLPROTO_ERR_INVALID_ARGUMENT);
  uint8_t big[257] = {0};
  assert_int_equal(MLS_TX(tx, sth_put, big, sizeof big), MLPROTO_ERR_TOO_LARGE);
  assert_int_equal(MLS_TX(tx, sth_put, b, sizeof b), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, sth_put, c, sizeof c), MLPROTO_ERR_STORAGE); /* heads only grow */
  assert_int_equal(MLS_TX(tx, sth_put, a, sizeof a), MLPROTO_ERR_STORAGE);
  assert_int_equal(MLS_TX(tx, sth_get, got, sizeof got, &len), MLPROTO_OK);
  assert_memory_equal(got, b, sizeof b);
  assert_int_equal(MLS_TX(tx, sth_get, got, 10, &len), MLPROTO_ERR_BUFFER_TOO_SMALL);
  commit(tx);
  tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(MLS_TX(tx, sth_put, c, sizeof c), MLPROTO_ERR_STORAGE);
  assert_int_equal(MLS_TX(tx, sth_put, b, sizeof b), MLPROTO_OK);
  mls_store_rollback(tx);
  tx = begin(st, MLS_TXN_READ);
  assert_int_equal(MLS_TX(tx, sth_get, got, sizeof got, &len), MLPROTO_OK);
  assert_int_equal(len, sizeof b);
  assert_memory_equal(got, b, sizeof b);
  assert_int_equal(MLS_TX(tx, sth_get, got, 10, &len), MLPROTO_ERR_BUFFER_TOO_SMALL);
  commit(tx);
}

/* ---------------------------------------------------------------- forks --- */

typedef struct fork_seen {
  int n;
  uint64_t id[4];
  size_t logged_len[4];
  uint8_t first[4];
} fork_seen;

static int fork_rows(void *ud, uint64_t id, const uint8_t *logged, size_t ll, const uint8_t *p,
                     size_t pl) {
  fork_seen *s = ud;
  (void)pl;
  if (s->n < 4) {
    s->id[s->n] = id;
    s->logged_len[s->n] = ll;
    s->first[s->n] = p[0];
  }
  (void)logged;
  s->n++;
  return 0;
}

static void t_forks(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  uint8_t author[32], dev[32], l1[50], p1[60], l2[10], p2[20];
  memset(author, 1, 32);
  memset(dev, 2, 32);
  fill(l1, sizeof l1, 1);
  fill(p1, sizeof p1, 2);
  fill(l2, sizeof l2, 3);
  fill(p2, sizeof p2, 4);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  uint64_t n = 9;
  assert_int_equal(MLS_TX(tx, fork_count, &n), MLPROTO_OK);
  assert_int_equal(n, 0);
  assert_int_equal(MLS_TX(tx, fork_add, author, 3, l1, sizeof l1, p1, sizeof p1, dev, 10), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, fork_add, author, 3, l1, sizeof l1, p1, sizeof p1, dev, 11), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, fork_add, author, 4, l2, sizeof l2, p2, sizeof p2, dev, 12), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, fork_add, author, 5, l2, MLS_ENVELOPE_MAX + 1, p2, 1, dev, 12),
                   MLPROTO_ERR_TOO_LARGE);
  commit(tx);
  tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(MLS_TX(tx, fork_count, &n), MLPROTO_OK);
  assert_int_equal(n, 3);
  fork_seen s = {0};
  assert_int_equal(MLS_TX(tx, fork_list, fork_rows, &s), MLPROTO_OK);
  assert_int_equal(s.n, 3);
  assert_true(s.id[0] < s.id[1] && s.id[1] < s.id[2]); /* oldest first */
  assert_int_equal(s.logged_len[2], sizeof l2);
  assert_int_equal(MLS_TX(tx, fork_replace, s.id[1], l2, sizeof l2, p2, sizeof p2), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, fork_replace, s.id[2] + 100, l2, sizeof l2, p2, sizeof p2),
                   MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, fork_replace, s.id[1], l2, MLS_ENVELOPE_MAX + 1, p2, sizeof p2),
                   MLPROTO_ERR_TOO_LARGE);
  commit(tx);
  assert_int_equal(mls_store_scrub(st), MLPROTO_OK);
  tx = begin(st, MLS_TXN_READ);
  fork_seen s2 = {0};
  assert_int_equal(MLS_TX(tx, fork_list, fork_rows, &s2), MLPROTO_OK);
  assert_int_equal(s2.n, 3);
  assert_int_equal(s2.logged_len[1], sizeof l2);
  assert_int_equal(s2.first[1], p2[0]);
  seen stop = {.stop_at = 2};
  assert_int_equal(MLS_TX(tx, fork_list, see_fork, &stop), 77);
  commit(tx);
}

/* Many forks: their listing is read in pieces by PostgreSQL. */
static void t_forks_many(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  uint8_t author[32], dev[32], env[100];
  memset(author, 1, 32);
  memset(dev, 2, 32);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  for (unsigned i = 0; i < 100; i++) {
    fill(env, sizeof env, i);
    assert_int_equal(MLS_TX(tx, fork_add, author, i, env, sizeof env, env, sizeof env, dev, i),
                     MLPROTO_OK);
  }
  commit(tx);
  tx = begin(st, MLS_TXN_READ);
  seen s = {0};
  assert_int_equal(MLS_TX(tx, fork_list, see_fork, &s), MLPROTO_OK);
  assert_int_equal(s.n, 100);
  commit(tx);
}

/* ------------------------------------------------------------- witnesses --- */

static int witness_names(void *ud, const mls_witness *w) {
  char *out = ud;
  strcat(out, w->name);
  strcat(out, ",");
  return 0;
}

static int cosig_names(void *ud, const mls_cosignature *c) {
  char *out = ud;
  char b[300];
  snprintf(b, sizeof b, "%s@%" PRIu64 "/%" PRIu64 ",", c->witness, c->size, c->timestamp);
  strcat(out, b);
  return 0;
}

static void t_witnesses(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  mls_witness a = {.added_ms = 1}, b = {.added_ms = 2}, c = {.added_ms = 3}, got;
  strcpy(a.name, "beta.example/w");
  strcpy(a.vkey, "beta.example/w+01020304+AAAA");
  strcpy(b.name, "Zeta.example/w"); /* byte order: 'Z' < 'b' */
  strcpy(b.vkey, "Zeta.example/w+01020304+BBBB");
  strcpy(c.name, "alpha.example/w");
  strcpy(c.vkey, "alpha.example/w+01020304+CCCC");
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(MLS_TX(tx, witness_get, a.name, &got), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, witness_add, &a), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, witness_add, &b), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, witness_add, &c), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, witness_add, &a), MLPROTO_ERR_ALREADY_EXISTS);
  mls_witness empty = {.added_ms = 1};
  strcpy(empty.vkey, "x");
  assert_int_equal(MLS_TX(tx, witness_add, &empty), MLPROTO_ERR_TOO_LARGE);
  assert_int_equal(MLS_TX(tx, witness_get, b.name, &got), MLPROTO_OK);
  assert_memory_equal(&got, &b, sizeof got);

  mls_cosignature cs = {.size = 5, .timestamp = 100, .received_ms = 9};
  strcpy(cs.witness, a.name);
  fill(cs.sig, 64, 1);
  int stored = 7;
  assert_int_equal(MLS_TX(tx, cosig_put, &cs, &stored), MLPROTO_OK);
  assert_int_equal(stored, 1);
  assert_int_equal(MLS_TX(tx, cosig_put, &cs, &stored), MLPROTO_OK);
  assert_int_equal(stored, 0); /* as new */
  cs.timestamp = 99;
  assert_int_equal(MLS_TX(tx, cosig_put, &cs, &stored), MLPROTO_OK);
  assert_int_equal(stored, 0); /* older */
  cs.timestamp = 150;
  assert_int_equal(MLS_TX(tx, cosig_put, &cs, &stored), MLPROTO_OK);
  assert_int_equal(stored, 1); /* newer: replaces */
  strcpy(cs.witness, b.name);
  assert_int_equal(MLS_TX(tx, cosig_put, &cs, &stored), MLPROTO_OK);
  strcpy(cs.witness, c.name);
  assert_int_equal(MLS_TX(tx, cosig_put, &cs, &stored), MLPROTO_OK);
  cs.size = 6;
  assert_int_equal(MLS_TX(tx, cosig_put, &cs, &stored), MLPROTO_OK);
  strcpy(cs.witness, "nobody.example/w");
  stored = 7;
  assert_int_equal(MLS_TX(tx, cosig_put, &cs, &stored), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(stored, 0);
  cs.size = UINT64_MAX;
  assert_int_equal(MLS_TX(tx, cosig_put, &cs, &stored), MLPROTO_ERR_OUT_OF_RANGE);
  /* the transaction goes on after those refusals */
  commit(tx);

  tx = begin(st, MLS_TXN_READ);
  char names[1024] = "";
  assert_int_equal(MLS_TX(tx, witness_list, witness_names, names), MLPROTO_OK);
  assert_string_equal(names, "Zeta.example/w,alpha.example/w,beta.example/w,");
  names[0] = 0;
  assert_int_equal(MLS_TX(tx, cosig_list, 5, 10, cosig_names, names), MLPROTO_OK);
  assert_string_equal(names, "Zeta.example/w@5/150,alpha.example/w@5/150,beta.example/w@5/150,");
  names[0] = 0;
  assert_int_equal(MLS_TX(tx, cosig_list, 5, 2, cosig_names, names), MLPROTO_OK);
  assert_string_equal(names, "Zeta.example/w@5/150,alpha.example/w@5/150,");
  names[0] = 0;
  assert_int_equal(MLS_TX(tx, cosig_list, 7, 10, cosig_names, names), MLPROTO_OK);
  assert_string_equal(names, "");
  assert_int_equal(MLS_TX(tx, cosig_list, UINT64_MAX, 10, cosig_names, names),
                   MLPROTO_ERR_OUT_OF_RANGE);
  seen s = {.stop_at = 1};
  assert_int_equal(MLS_TX(tx, witness_list, see_witness, &s), 77);
  s = (seen){.stop_at = 2};
  assert_int_equal(MLS_TX(tx, cosig_list, 5, 10, see_cosig, &s), 77);
  commit(tx);
}

/* -------------------------------------------------------- transactions --- */

/* Everything a write transaction did is gone after a rollback: buffered
 * or not, and also what it had to write out early. */
static void t_rollback(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(tx, 3, 1, NULL, 0, 1), MLPROTO_OK);
  commit(tx);
  char *before = raw_fingerprint(f);
  uint8_t c1[16], m1[16], sth[MLPROTO_STH_ENCODED_BYTES], got[32];
  memset(c1, 1, 16);
  memset(m1, 2, 16);
  sth_blob(sth, 10, 1);
  for (int early = 0; early < 2; early++) {
    tx = begin(st, MLS_TXN_WRITE);
    add_mentor(tx, 5);
    assert_int_equal(MLS_TX(tx, case_owner, c1, got), MLPROTO_ERR_NOT_FOUND);
    assert_int_equal(MLS_TX(tx, case_claim, c1, m1), MLPROTO_OK);
    assert_int_equal(MLS_TX(tx, case_jobcentre_add, c1, "0101"), MLPROTO_OK);
    assert_int_equal(append_n(tx, 300, 2, c1, 2, 5), MLPROTO_OK);
    assert_int_equal(MLS_TX(tx, meta_put, "k", (const uint8_t *)"v", 1), MLPROTO_OK);
    assert_int_equal(MLS_TX(tx, sth_put, sth, sizeof sth), MLPROTO_OK);
    uint8_t env[8] = {0};
    assert_int_equal(MLS_TX(tx, envelope_replace, 1, env, sizeof env), MLPROTO_OK);
    if (early) {
      /* listings make a buffering backend write what it holds */
      seen s = {0};
      assert_int_equal(MLS_TX(tx, log_list, NULL, 0, 1000, see_entry, &s), MLPROTO_OK);
      assert_int_equal(s.n, 303);
      assert_int_equal(MLS_TX(tx, jobcentre_cases, "0101", see_case, &s), MLPROTO_OK);
      static uint8_t out[MLS_RANGE_MAX][32];
      assert_int_equal(MLS_TX(tx, node_range, 0, 0, 256, out), MLPROTO_OK);
      assert_int_equal(append_n(tx, 5, 2, c1, 2, 5), MLPROTO_OK);
    }
    mls_store_rollback(tx);
    char *after = raw_fingerprint(f);
    assert_string_equal(before, after);
    free(after);
  }
  free(before);
  tx = begin(st, MLS_TXN_READ);
  uint64_t size;
  assert_int_equal(MLS_TX(tx, log_size, &size), MLPROTO_OK);
  assert_int_equal(size, 3);
  assert_int_equal(MLS_TX(tx, case_owner, c1, got), MLPROTO_ERR_NOT_FOUND);
  check_tree(tx);
  commit(tx);
  mls_store_rollback(NULL); /* a no-op */
}

/* A write transaction reads what it wrote, before and after the backend
 * wrote out what it buffers, and the commit keeps exactly that. */
static void t_read_your_writes(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  uint8_t c1[16], c2[16], m1[16], got[32], sth[MLPROTO_STH_ENCODED_BYTES], blob[256];
  memset(c1, 0x11, 16);
  memset(c2, 0x22, 16);
  memset(m1, 1, 16);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(tx, 10, 9, NULL, 0, 1), MLPROTO_OK);
  commit(tx);

  tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(MLS_TX(tx, case_owner, c1, got), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, case_claim, c1, m1), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_owner, c1, got), MLPROTO_OK);
  assert_memory_equal(got, m1, 16);
  uint64_t erased = 5, last, size, seq, idx;
  assert_int_equal(MLS_TX(tx, case_erased_get, c1, &erased), MLPROTO_OK);
  assert_int_equal(erased, 0);
  assert_int_equal(MLS_TX(tx, case_jobcentre_add, c1, "0101"), MLPROTO_OK);
  assert_int_equal(append_n(tx, 300, 1, c1, 1, 7), MLPROTO_OK); /* 10 .. 309 */
  assert_int_equal(MLS_TX(tx, log_size, &size), MLPROTO_OK);
  assert_int_equal(size, 310);
  uint8_t a1[32], hash[32];
  memset(a1, 1, 32);
  assert_int_equal(MLS_TX(tx, author_head, a1, &seq, hash), MLPROTO_OK);
  assert_int_equal(seq, 300);
  mls_record_ref ref;
  assert_int_equal(MLS_TX(tx, record_at, a1, 150, &ref), MLPROTO_OK);
  assert_int_equal(ref.index, 159);
  assert_int_equal(ref.received_ms, 7);
  ent want;
  mk_entry(&want, 159, 1, 150, c1, 1, 7);
  assert_memory_equal(ref.record_hash, want.e.record_hash, 32);
  uint8_t buf[100];
  size_t len;
  assert_int_equal(MLS_TX(tx, envelope_at, 159, buf, sizeof buf, &len), MLPROTO_OK);
  assert_int_equal(len, ENV_LEN);
  assert_memory_equal(buf, want.env, ENV_LEN);
  assert_int_equal(MLS_TX(tx, envelope_at, 159, buf, 3, &len), MLPROTO_ERR_BUFFER_TOO_SMALL);
  uint8_t env2[20];
  fill(env2, sizeof env2, 99);
  assert_int_equal(MLS_TX(tx, envelope_replace, 160, env2, sizeof env2), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, envelope_at, 160, buf, sizeof buf, &len), MLPROTO_OK);
  assert_int_equal(len, sizeof env2);
  assert_memory_equal(buf, env2, sizeof env2);
  assert_int_equal(MLS_TX(tx, node_get, 0, 159, got), MLPROTO_OK);
  assert_memory_equal(got, want.e.leaf_hash, 32);
  assert_int_equal(MLS_TX(tx, node_get, 8, 0, got), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, node_get, 0, 310, got), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, leaf_find, want.e.leaf_hash, &idx), MLPROTO_OK);
  assert_int_equal(idx, 159);
  sth_blob(sth, 310, 1);
  assert_int_equal(MLS_TX(tx, sth_put, sth, sizeof sth), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, sth_get, blob, sizeof blob, &len), MLPROTO_OK);
  assert_memory_equal(blob, sth, sizeof sth);
  /* the reads a buffer cannot answer */
  mls_leaf_entry le[2];
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 308, 2, le), MLPROTO_OK);
  assert_int_equal(le[1].received_ms, 7);
  assert_int_equal(MLS_TX(tx, leaf_entry_range, 309, 2, le), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, case_version, c1, UINT64_MAX, got, &erased, &last), MLPROTO_OK);
  assert_int_equal(last, 309);
  seen s = {0};
  assert_int_equal(MLS_TX(tx, case_entries, c1, UINT64_MAX, see_entry, &s), MLPROTO_OK);
  assert_int_equal(s.n, 300);
  s = (seen){0};
  assert_int_equal(MLS_TX(tx, jobcentre_cases, "0101", see_case, &s), MLPROTO_OK);
  assert_int_equal(s.n, 1);
  check_tree(tx);
  /* and more after them */
  assert_int_equal(MLS_TX(tx, case_owner, c2, got), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(tx, case_claim, c2, m1), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_claim, c2, m1), MLPROTO_ERR_ALREADY_EXISTS);
  assert_int_equal(MLS_TX(tx, case_claim, c1, m1), MLPROTO_ERR_ALREADY_EXISTS);
  assert_int_equal(append_n(tx, 5, 1, c2, 1, 8), MLPROTO_OK); /* 310 .. 314 */
  assert_int_equal(MLS_TX(tx, author_head, a1, &seq, hash), MLPROTO_OK);
  assert_int_equal(seq, 305);
  ent dup;
  mk_entry(&dup, 315, 1, 302, c2, 1, 8);
  assert_int_equal(MLS_TX(tx, log_append, &dup.e), MLPROTO_ERR_ALREADY_EXISTS);
  mk_entry(&dup, 315, 1, 150, c2, 1, 8);
  assert_int_equal(MLS_TX(tx, log_append, &dup.e), MLPROTO_ERR_ALREADY_EXISTS);
  assert_int_equal(MLS_TX(tx, case_erased_set, c2, 50), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, case_erased_get, c2, &erased), MLPROTO_OK);
  assert_int_equal(erased, 50);
  sth_blob(sth, 315, 2);
  assert_int_equal(MLS_TX(tx, sth_put, sth, sizeof sth), MLPROTO_OK);
  s = (seen){0};
  assert_int_equal(MLS_TX(tx, log_list, NULL, 300, 100, see_entry, &s), MLPROTO_OK);
  assert_int_equal(s.n, 15);
  check_tree(tx);
  commit(tx);

  tx = begin(st, MLS_TXN_READ);
  assert_int_equal(MLS_TX(tx, log_size, &size), MLPROTO_OK);
  assert_int_equal(size, 315);
  check_tree(tx);
  assert_int_equal(MLS_TX(tx, envelope_at, 160, buf, sizeof buf, &len), MLPROTO_OK);
  assert_memory_equal(buf, env2, sizeof env2);
  assert_int_equal(MLS_TX(tx, sth_get, blob, sizeof blob, &len), MLPROTO_OK);
  assert_memory_equal(blob, sth, sizeof sth);
  assert_int_equal(MLS_TX(tx, case_erased_get, c2, &erased), MLPROTO_OK);
  assert_int_equal(erased, 50);
  assert_int_equal(MLS_TX(tx, case_owner, c2, got), MLPROTO_OK);
  s = (seen){0};
  assert_int_equal(MLS_TX(tx, case_entries, c2, UINT64_MAX, see_entry, &s), MLPROTO_OK);
  assert_int_equal(s.n, 5);
  commit(tx);
}

/* A read transaction sees one snapshot: what commits after its first read
 * is not in it. */
static void t_snapshot(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  uint8_t sth[MLPROTO_STH_ENCODED_BYTES], blob[256], got[16];
  mls_txn *w = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(w, 2, 1, NULL, 0, 1), MLPROTO_OK);
  sth_blob(sth, 2, 1);
  assert_int_equal(MLS_TX(w, sth_put, sth, sizeof sth), MLPROTO_OK);
  commit(w);

  mls_txn *r = begin(st, MLS_TXN_READ);
  uint64_t size;
  assert_int_equal(MLS_TX(r, log_size, &size), MLPROTO_OK);
  assert_int_equal(size, 2);

  w = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(w, 3, 1, NULL, 0, 1), MLPROTO_OK);
  add_mentor(w, 4);
  uint8_t c[16], m[16];
  memset(c, 3, 16);
  memset(m, 4, 16);
  assert_int_equal(MLS_TX(w, case_claim, c, m), MLPROTO_OK);
  uint8_t sth2[MLPROTO_STH_ENCODED_BYTES];
  sth_blob(sth2, 5, 2);
  assert_int_equal(MLS_TX(w, sth_put, sth2, sizeof sth2), MLPROTO_OK);
  commit(w);

  assert_int_equal(MLS_TX(r, log_size, &size), MLPROTO_OK);
  assert_int_equal(size, 2);
  uint8_t buf[100];
  size_t len;
  assert_int_equal(MLS_TX(r, envelope_at, 2, buf, sizeof buf, &len), MLPROTO_ERR_NOT_FOUND);
  mls_mentor mm;
  uint8_t mid[16];
  memset(mid, 4, 16);
  assert_int_equal(MLS_TX(r, mentor_get, mid, &mm), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(r, case_owner, c, got), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(MLS_TX(r, sth_get, blob, sizeof blob, &len), MLPROTO_OK);
  assert_memory_equal(blob, sth, sizeof sth);
  seen s = {0};
  assert_int_equal(MLS_TX(r, log_list, NULL, 0, 100, see_entry, &s), MLPROTO_OK);
  assert_int_equal(s.n, 2);
  uint8_t a1[32], hash[32];
  uint64_t seq;
  memset(a1, 1, 32);
  assert_int_equal(MLS_TX(r, author_head, a1, &seq, hash), MLPROTO_OK);
  assert_int_equal(seq, 2);
  check_tree(r);
  commit(r);

  r = begin(st, MLS_TXN_READ);
  assert_int_equal(MLS_TX(r, log_size, &size), MLPROTO_OK);
  assert_int_equal(size, 5);
  assert_int_equal(MLS_TX(r, case_owner, c, got), MLPROTO_OK);
  check_tree(r);
  commit(r);
}

typedef struct waiter {
  mls_store *st;
  int rc;
  double secs;
} waiter;

static void *begin_writer(void *arg) {
  waiter *w = arg;
  mls_txn *tx = NULL;
  double t0 = now_s();
  w->rc = mls_store_begin(w->st, MLS_TXN_WRITE, &tx);
  w->secs = now_s() - t0;
  if (!w->rc) mls_store_rollback(tx);
  return NULL;
}

/* Two writers: the second waits for the busy timeout, then gets BUSY;
 * whether it is another instance (a second handle) or a thread of this one. */
static void t_busy(void **state) {
  fixture *f = *state;
  mls_store *a, *b;
  assert_int_equal(open_store(f, 1, 300, &a), MLPROTO_OK);
  assert_int_equal(open_store(f, 0, 300, &b), MLPROTO_OK);
  mls_txn *tx = begin(a, MLS_TXN_WRITE);
  add_mentor(tx, 1);
  for (int same = 0; same < 2; same++) {
    waiter w = {.st = same ? a : b};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, begin_writer, &w), 0);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, MLPROTO_ERR_BUSY);
    assert_true(w.secs >= 0.25);
    assert_true(w.secs < 5);
  }
  /* readers are not held up by the writer */
  mls_txn *r = begin(b, MLS_TXN_READ);
  uint64_t size;
  assert_int_equal(MLS_TX(r, log_size, &size), MLPROTO_OK);
  commit(r);
  commit(tx);
  tx = begin(b, MLS_TXN_WRITE);
  mls_mentor m;
  uint8_t id[16];
  memset(id, 1, 16);
  assert_int_equal(MLS_TX(tx, mentor_get, id, &m), MLPROTO_OK);
  commit(tx);
  mls_store_close(a);
  mls_store_close(b);
}

typedef struct appender {
  mls_store *st;
  unsigned author;
  int rounds, rc, busy;
} appender;

/* Each round: a write transaction appends 1..3 entries at the log's end and
 * adds one to a counter in meta (read, then written: a lost update would
 * show). */
static void *append_main(void *arg) {
  appender *a = arg;
  for (int i = 0; i < a->rounds && !a->rc; i++) {
    mls_txn *tx;
    int rc = mls_store_begin(a->st, MLS_TXN_WRITE, &tx);
    if (rc == MLPROTO_ERR_BUSY) {
      a->busy++;
      i--;
      continue;
    }
    if (rc) {
      a->rc = rc;
      break;
    }
    rc = append_n(tx, 1 + (unsigned)i % 3, a->author, NULL, a->author, 1);
    uint8_t v[8] = {0};
    size_t len = 0;
    if (!rc) {
      rc = MLS_TX(tx, meta_get, "counter", v, sizeof v, &len);
      if (rc == MLPROTO_ERR_NOT_FOUND) rc = MLPROTO_OK;
    }
    uint64_t n = 0;
    for (size_t k = 0; k < len; k++) n = (n << 8) | v[k];
    n++;
    for (int k = 7; k >= 0; k--) {
      v[k] = (uint8_t)n;
      n >>= 8;
    }
    if (!rc) rc = MLS_TX(tx, meta_put, "counter", v, 8);
    if (rc) {
      mls_store_rollback(tx);
      a->rc = rc;
      break;
    }
    a->rc = mls_store_commit(tx);
  }
  return NULL;
}

static void t_concurrent_appends(void **state) {
  fixture *f = *state;
  enum { THREADS = 4, ROUNDS = 30 };
  mls_store *st[2];
  assert_int_equal(open_store(f, 1, 20000, &st[0]), MLPROTO_OK);
  assert_int_equal(open_store(f, 0, 20000, &st[1]), MLPROTO_OK); /* a second instance */
  appender ap[THREADS];
  pthread_t t[THREADS];
  for (int i = 0; i < THREADS; i++) {
    ap[i] = (appender){.st = st[i % 2], .author = (unsigned)i + 1, .rounds = ROUNDS};
    assert_int_equal(pthread_create(&t[i], NULL, append_main, &ap[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  uint64_t want = 0;
  for (int i = 0; i < THREADS; i++) {
    assert_int_equal(ap[i].rc, MLPROTO_OK);
    for (int k = 0; k < ROUNDS; k++) want += 1 + (unsigned)k % 3;
  }
  mls_txn *tx = begin(st[1], MLS_TXN_READ);
  uint64_t size;
  assert_int_equal(MLS_TX(tx, log_size, &size), MLPROTO_OK);
  assert_int_equal(size, want);
  uint8_t v[8];
  size_t len;
  assert_int_equal(MLS_TX(tx, meta_get, "counter", v, sizeof v, &len), MLPROTO_OK);
  uint64_t n = 0;
  for (size_t k = 0; k < len; k++) n = (n << 8) | v[k];
  assert_int_equal(n, THREADS * ROUNDS);
  /* contiguous indexes, each author's seqs 1..n without a hole */
  seen *s = calloc(1, sizeof *s);
  assert_non_null(s);
  assert_int_equal(MLS_TX(tx, log_list, NULL, 0, 10000, see_entry, s), MLPROTO_OK);
  assert_int_equal(s->n, want);
  for (size_t i = 0; i < s->n; i++) assert_int_equal(s->idx[i], i);
  free(s);
  for (int i = 0; i < THREADS; i++) {
    uint8_t a[32], h[32];
    uint64_t seq, per = 0;
    memset(a, i + 1, 32);
    assert_int_equal(MLS_TX(tx, author_head, a, &seq, h), MLPROTO_OK);
    for (int k = 0; k < ROUNDS; k++) per += 1 + (unsigned)k % 3;
    assert_int_equal(seq, per);
    seen m = {0};
    uint8_t men[16];
    memset(men, i + 1, 16);
    assert_int_equal(MLS_TX(tx, log_list, men, 0, 10000, see_entry, &m), MLPROTO_OK);
    assert_int_equal(m.n, per);
  }
  check_tree(tx);
  commit(tx);
  mls_store_close(st[0]);
  mls_store_close(st[1]);
}

/* PostgreSQL: the server ends the store's connections (a restart, a
 * failover, an administrator) in the middle of a transaction: that
 * transaction fails, nothing of it stays, and the next ones work. */
static void t_killed_connection(void **state) {
  fixture *f = *state;
  mls_store *st = open_default(f);
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(tx, 3, 1, NULL, 0, 1), MLPROTO_OK);
  commit(tx);

  /* a write transaction, mid-way */
  tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(tx, 2, 1, NULL, 0, 1), MLPROTO_OK);
  raw_kill(f);
  mls_mentor m = {.created_ms = 1};
  memset(m.id, 9, 16);
  strcpy(m.name, "x");
  assert_int_equal(MLS_TX(tx, mentor_add, &m), MLPROTO_ERR_STORAGE);
  assert_int_equal(MLS_TX(tx, log_size, &(uint64_t){0}), MLPROTO_ERR_STORAGE); /* stays failed */
  assert_int_equal(mls_store_commit(tx), MLPROTO_ERR_STORAGE);

  /* buffered writes only, killed before the commit: the commit fails */
  tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(tx, 2, 1, NULL, 0, 1), MLPROTO_OK);
  raw_kill(f);
  assert_int_equal(mls_store_commit(tx), MLPROTO_ERR_STORAGE);

  /* a read transaction, mid-way */
  tx = begin(st, MLS_TXN_READ);
  uint64_t size;
  assert_int_equal(MLS_TX(tx, log_size, &size), MLPROTO_OK);
  raw_kill(f);
  assert_int_equal(MLS_TX(tx, log_size, &size), MLPROTO_ERR_STORAGE);
  mls_store_rollback(tx);

  /* idle pooled connections killed: the next begin replaces them */
  mls_txn *t1 = begin(st, MLS_TXN_READ), *t2 = begin(st, MLS_TXN_READ);
  assert_int_equal(MLS_TX(t1, log_size, &size), MLPROTO_OK);
  commit(t1);
  commit(t2);
  raw_kill(f);
  tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(MLS_TX(tx, log_size, &size), MLPROTO_OK);
  assert_int_equal(size, 3); /* nothing of the failed transactions */
  assert_int_equal(append_n(tx, 4, 1, NULL, 0, 1), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, mentor_add, &m), MLPROTO_OK);
  commit(tx);
  tx = begin(st, MLS_TXN_READ);
  assert_int_equal(MLS_TX(tx, log_size, &size), MLPROTO_OK);
  assert_int_equal(size, 7);
  check_tree(tx);
  commit(tx);
}

typedef struct holder {
  mls_store *st;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int state; /* 1: reading, 2: release */
} holder;

static void *hold_reader(void *arg) {
  holder *h = arg;
  mls_txn *tx;
  uint64_t size;
  if (mls_store_begin(h->st, MLS_TXN_READ, &tx) || MLS_TX(tx, log_size, &size)) return NULL;
  pthread_mutex_lock(&h->mu);
  h->state = 1;
  pthread_cond_broadcast(&h->cv);
  while (h->state != 2) pthread_cond_wait(&h->cv, &h->mu);
  pthread_mutex_unlock(&h->mu);
  mls_store_commit(tx);
  return NULL;
}

/* scrub with a reader open: SQLite's TRUNCATE checkpoint must wait for it
 * (BUSY after the timeout); PostgreSQL's VACUUM does not wait (the row
 * versions that reader can see stay until a later VACUUM: no
 * MLS_STORE_CAP_SCRUB_FILES). Without a reader both finish. */
static void t_scrub_reader(void **state) {
  fixture *f = *state;
  mls_store *st;
  assert_int_equal(open_store(f, 1, 300, &st), MLPROTO_OK);
  f->st = st;
  mls_txn *tx = begin(st, MLS_TXN_WRITE);
  assert_int_equal(append_n(tx, 2, 1, NULL, 0, 1), MLPROTO_OK);
  commit(tx);
  holder h = {.st = st};
  pthread_mutex_init(&h.mu, NULL);
  pthread_cond_init(&h.cv, NULL);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, hold_reader, &h), 0);
  pthread_mutex_lock(&h.mu);
  while (h.state != 1) pthread_cond_wait(&h.cv, &h.mu);
  pthread_mutex_unlock(&h.mu);
  tx = begin(st, MLS_TXN_WRITE);
  uint8_t env[4] = {1, 2, 3, 4};
  assert_int_equal(MLS_TX(tx, envelope_replace, 0, env, sizeof env), MLPROTO_OK);
  commit(tx);
  int rc = mls_store_scrub(st);
  pthread_mutex_lock(&h.mu);
  h.state = 2;
  pthread_cond_broadcast(&h.cv);
  pthread_mutex_unlock(&h.mu);
  pthread_join(t, NULL);
  pthread_mutex_destroy(&h.mu);
  pthread_cond_destroy(&h.cv);
  assert_int_equal(rc, (st->ops->caps & MLS_STORE_CAP_SCRUB_FILES) ? MLPROTO_ERR_BUSY : MLPROTO_OK);
  assert_int_equal(mls_store_scrub(st), MLPROTO_OK);
  if (!g_pg) {
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    struct stat sb;
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(sb.st_size, 0); /* truncated */
  }
}

/* ------------------------------------------------------------------ main --- */

static int load_pg(void) {
  const char *path = getenv("ML_TEST_PG_FILE");
  if (!path || !*path) {
    fprintf(stderr, "test_store postgresql: ML_TEST_PG_FILE is not set (ctest sets it, with the "
                    "postgresql fixture of tests/pg)\n");
    return -1;
  }
  size_t len = 0;
  char *s = tu_read_file(path, &len);
  if (!s) {
    fprintf(stderr, "test_store postgresql: cannot read %s (%s): did pg_start run?\n", path,
            strerror(errno));
    return -1;
  }
  s[strcspn(s, "\r\n")] = 0;
  snprintf(g_conninfo, sizeof g_conninfo, "%s", s);
  free(s);
  g_ctl = PQconnectdb(g_conninfo);
  if (PQstatus(g_ctl) != CONNECTION_OK) {
    fprintf(stderr, "test_store postgresql: cannot connect: %s", PQerrorMessage(g_ctl));
    return -1;
  }
  PQclear(PQexec(g_ctl, "SET client_min_messages = warning"));
  return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(int argc, char **argv) {
  const char *backend = argc > 1 ? argv[1] : getenv("ML_TEST_PG_FILE") ? "postgresql" : "sqlite";
  if (strcmp(backend, "postgresql") == 0) g_pg = 1;
  else if (strcmp(backend, "sqlite") != 0) {
    fprintf(stderr, "usage: test_store [sqlite|postgresql]\n");
    return 2;
  }
  if (sodium_init() < 0) return 1;
  if (g_pg && load_pg()) {
    PQfinish(g_ctl);
    return 1;
  }
  const struct CMUnitTest common[] = {
    T(t_ops_table),        T(t_open_empty_reopen), T(t_open_concurrent), T(t_store_too_new),
    T(t_mentors),          T(t_mentor_order),      T(t_codes),           T(t_code_order),
    T(t_devices),          T(t_sessions_tokens),   T(t_web_sessions),   T(t_cases),           T(t_meta),
    T(t_log),              T(t_log_fields),        T(t_envelope_replace), T(t_nodes),
    T(t_leaf_entry_range), T(t_sth),               T(t_forks),           T(t_forks_many),
    T(t_witnesses),        T(t_rollback),          T(t_read_your_writes), T(t_snapshot),
    T(t_busy),             T(t_concurrent_appends), T(t_scrub_reader),
  };
  /* Only PostgreSQL has a server connection that can be lost. */
  const struct CMUnitTest pg_only[] = {T(t_killed_connection)};
  int rc;
  if (g_pg) {
    rc = cmocka_run_group_tests_name("store_postgresql", common, NULL, NULL);
    rc |= cmocka_run_group_tests_name("store_postgresql_connection", pg_only, NULL, NULL);
  } else {
    printf("test_store sqlite: t_killed_connection runs for postgresql only (SQLite has no "
           "server connection to lose)\n");
    rc = cmocka_run_group_tests_name("store_sqlite", common, NULL, NULL);
  }
  PQfinish(g_ctl);
  return rc;
}
