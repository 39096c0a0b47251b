/*
 * test_server_app.c — the application half of the sync server, driven
 * through mls_app_handle() with real requests on a temporary data directory
 * (real SQLite store, real keys, real records; no network).
 */
#define _GNU_SOURCE /* memmem */
#include "testutil.h"

#include "admin.h"
#include "admin_run.h"
#include "app.h"
#include "app_limits.h"
#include "devsim.h"
#include "log_fmt.h"
#include "store.h"
#include "store_tamper.h"
#include "test_store.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define T0 UINT64_C(1767225600000) /* 2026-01-01 */
#define CT "application/vnd.mentorlog.v1+protobuf"

typedef struct fx {
  char dir[64];
  char store[TEST_STORE_URI_CAP]; /* test_store.h */
  mls_app *app;
  uint64_t now;
  uint8_t server_pub[32];
  char mentor_a[40], mentor_b[40];
  int verify_first; /* mls_app_config.verify_first of the next fx_open */
} fx;

/* Runs `admin --data DIR args...`, stdout captured into out. */
static int admin(fx *f, char *out, size_t cap, const char *a1, const char *a2, const char *a3,
                 const char *a4) {
  const char *args[] = {a1, a2, a3, a4, NULL};
  return sa_admin(f->dir, out, cap, args);
}

typedef struct resp {
  int status;
  int code;
  char name[64];
  uint8_t *body;
  size_t len;
  char extra[1024];
} resp;

static void resp_free(resp *r) {
  free(r->body);
  memset(r, 0, sizeof *r);
}

/* A request to the instance app (several may share f's data directory). */
static resp call_at(fx *f, mls_app *app, const char *method, const char *path, const char *query,
                    const uint8_t *body, size_t len, const char *token, const char *peer) {
  mls_header hs[3];
  size_t nh = 0;
  char auth[200];
  if (body) hs[nh++] = (mls_header){"Content-Type", CT};
  if (token) {
    snprintf(auth, sizeof auth, "Bearer %s", token);
    hs[nh++] = (mls_header){"authorization", auth};
  }
  mls_request rq = {.method = method, .path = path, .query = query ? query : "",
                    .headers = hs, .n_headers = nh, .body = body, .body_len = len,
                    .peer = peer ? peer : "10.0.0.1", .conn_id = 1};
  mls_response rs;
  memset(&rs, 0, sizeof rs);
  mls_app_handle(app, &rq, &rs, f->now);
  resp r;
  memset(&r, 0, sizeof r);
  r.status = rs.status;
  r.code = rs.error_code;
  r.len = rs.body.len;
  r.body = malloc(r.len ? r.len : 1);
  memcpy(r.body, rs.body.data, r.len);
  snprintf(r.extra, sizeof r.extra, "%s", rs.extra_headers);
  if (rs.error_code) sim_error_code(r.body, r.len, r.name);
  mlproto_buf_free(&rs.body);
  return r;
}

static resp call(fx *f, const char *method, const char *path, const char *query,
                 const uint8_t *body, size_t len, const char *token, const char *peer) {
  return call_at(f, f->app, method, path, query, body, len, token, peer);
}

/* mls_app_authorize of a head (no body): 200 when it lets the body be read,
 * else the status of its refusal. */
static int authorize(fx *f, const char *method, const char *path, const char *token,
                     const char *peer) {
  mls_header hs[1];
  char auth[1400];
  size_t nh = 0;
  if (token) {
    snprintf(auth, sizeof auth, "Bearer %s", token);
    hs[nh++] = (mls_header){"Authorization", auth};
  }
  mls_request rq = {.method = method, .path = path, .query = "", .headers = hs, .n_headers = nh,
                    .peer = peer, .conn_id = 1};
  mls_response rs;
  memset(&rs, 0, sizeof rs);
  int rc = mls_app_authorize(f->app, &rq, &rs, f->now);
  int status = rc == MLPROTO_OK ? 200 : rs.status;
  if (rc != MLPROTO_OK) assert_int_equal(rs.error_code, rc);
  mlproto_buf_free(&rs.body);
  return status;
}

static void fx_open(fx *f) {
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .create = 1,
                        .verify_first = f->verify_first};
  assert_int_equal(mls_app_open(&f->app, &cfg), MLPROTO_OK);
}

/* Reopens the app; verify_first 1: every push batch verified before it is
 * written (the path of concurrent pushes), 0: the default. */
static void fx_reopen(fx *f, int verify_first) {
  mls_app_close(f->app);
  f->verify_first = verify_first;
  fx_open(f);
}

/* A connection of the test's own to the server's SQLite database: only for
 * the tests of SQLite's own layout and its migrations (sqlite_only()). */
static sqlite3 *db_open(fx *f) {
  assert_false(test_store_is_pg());
  char db_path[128];
  snprintf(db_path, sizeof db_path, "%s/server.db", f->dir);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
  return db;
}

static void db_exec(fx *f, const char *sql) {
  sqlite3 *db = db_open(f);
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) fail_msg("%s: %s", sql, err ? err : "?");
  sqlite3_close(db);
}

/* The first row of sql, stepped; the caller reads it and calls db_done. */
static sqlite3_stmt *db_row(sqlite3 *db, const char *sql) {
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  return st;
}

/* One integer from SQL that runs on both backends (store_sql_int). */
static int64_t store_int(fx *f, const char *sql) { return store_sql_int(f->store, sql); }

static int64_t db_int(fx *f, const char *sql) {
  sqlite3 *db = db_open(f);
  sqlite3_stmt *st = db_row(db, sql);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

/* A test of SQLite's own schema history (migrations from older SQLite
 * layouts, PRAGMA user_version, sqlite_master, its leaf_index, its files):
 * skipped, and said so, on another backend. */
static void sqlite_only(const char *why) {
  if (test_store_is_pg()) {
    print_message("SKIPPED on PostgreSQL: %s\n", why);
    skip();
  }
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/mls-test-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(test_store_uri(f->store, sizeof f->store, f->dir), 0);
  /* Codes are dated by the admin command's clock: the app's "now" starts there. */
  f->now = (uint64_t)time(NULL) * 1000;
  /* The server creates its store; admin refuses a directory without one. */
  fx_open(f);
  assert_int_equal(admin(f, f->mentor_a, sizeof f->mentor_a, "mentor", "add", "Anna", NULL), 0);
  assert_int_equal(admin(f, f->mentor_b, sizeof f->mentor_b, "mentor", "add", "Bo", NULL), 0);
  assert_int_equal(strlen(f->mentor_a), 32);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  mls_app_close(f->app);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(test_store_drop(f->store), 0);
  free(f);
  return 0;
}

static void get_code(fx *f, const char *mentor, char code[64]) {
  assert_int_equal(admin(f, code, 64, "enroll-code", mentor, NULL, NULL), 0);
  assert_int_equal(strlen(code), 23);
}

static resp enroll(fx *f, sim_dev *d, const char *code) {
  size_t len;
  uint8_t *b = sim_enroll_body(d, code, &len);
  resp r = call(f, "POST", "/v1/enroll", NULL, b, len, NULL, NULL);
  free(b);
  if (r.status == 200) {
    ProtobufCMessage *m = NULL;
    assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_ENROLL_RESPONSE, r.body, r.len), 0);
    memcpy(f->server_pub, ((Mentorlog__V1__EnrollResponse *)m)->server_pub.data, 32);
    mlproto_msg_free(m);
  }
  return r;
}

static resp session(fx *f, sim_dev *d, const char *peer) {
  resp c = call(f, "GET", "/v1/session/challenge", NULL, NULL, 0, NULL, peer);
  assert_int_equal(c.status, 200);
  size_t len;
  uint8_t *b = sim_session_body(d, c.body, c.len, &len);
  resp_free(&c);
  resp r = call(f, "POST", "/v1/session", NULL, b, len, NULL, peer);
  free(b);
  if (r.status == 200) assert_int_equal(sim_take_token(d, r.body, r.len), 0);
  return r;
}

/* Enrol a device for the mentor and open a session. */
static void device_up(fx *f, sim_dev *d, const char *mentor) {
  sim_dev_init(d);
  char code[64];
  get_code(f, mentor, code);
  resp r = enroll(f, d, code);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  r = session(f, d, NULL);
  assert_int_equal(r.status, 200);
  resp_free(&r);
}

static resp push(fx *f, sim_dev *d, uint8_t **envs, size_t *lens, size_t n) {
  size_t len;
  uint8_t *b = sim_push_body(envs, lens, n, &len);
  resp r = call(f, "POST", "/v1/push", NULL, b, len, d->token, NULL);
  free(b);
  return r;
}

static void sth_of(const resp *r, mlproto_msg_type type, mlproto_sth *out) {
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, type, r->body, r->len), 0);
  Mentorlog__V1__SignedTreeHead *pb;
  if (type == MLPROTO_MSG_PUSH_RESPONSE) pb = ((Mentorlog__V1__PushResponse *)m)->sth;
  else if (type == MLPROTO_MSG_PULL_RESPONSE) pb = ((Mentorlog__V1__PullResponse *)m)->sth;
  else pb = (Mentorlog__V1__SignedTreeHead *)m;
  assert_non_null(pb);
  memset(out, 0, sizeof *out);
  out->size = pb->size;
  out->timestamp_ms = pb->timestamp_ms;
  assert_int_equal(pb->root.len, 32);
  assert_int_equal(pb->signature.len, 64);
  memcpy(out->root, pb->root.data, 32);
  memcpy(out->signature, pb->signature.data, 64);
  mlproto_msg_free(m);
}

static mlproto_sth current_sth(fx *f) {
  resp r = call(f, "GET", "/v1/log/sth", NULL, NULL, 0, NULL, NULL);
  assert_int_equal(r.status, 200);
  mlproto_sth s;
  sth_of(&r, MLPROTO_MSG_SIGNED_TREE_HEAD, &s);
  resp_free(&r);
  assert_int_equal(mlproto_sth_verify(&s, f->server_pub), MLPROTO_OK);
  return s;
}

static void free_envs(uint8_t **envs, size_t n) {
  for (size_t i = 0; i < n; i++) mlproto_free(envs[i]);
}

/* Pull everything visible from since, page by page; returns the count and
 * checks every inclusion proof against the pull's tree head. */
/* The log entry (type, receipt time, record hash of env) is leaf `index` of
 * the tree `sth` signed: fetch the inclusion proof and verify it. */
static void assert_included(fx *f, mlproto_log_entry_type type, uint64_t received_at_ms,
                            const uint8_t *env, size_t env_len, uint64_t index,
                            const mlproto_sth *sth) {
  mlproto_log_entry e = {.type = type, .received_at_ms = received_at_ms};
  assert_int_equal(mlproto_record_hash(e.record_hash, env, env_len), 0);
  uint8_t leaf[32];
  assert_int_equal(mlproto_log_entry_leaf_hash(leaf, &e), 0);
  char iq[80];
  snprintf(iq, sizeof iq, "index=%llu&size=%llu", (unsigned long long)index,
           (unsigned long long)sth->size);
  resp ir = call(f, "GET", "/v1/log/proof/inclusion", iq, NULL, 0, NULL, NULL);
  assert_int_equal(ir.status, 200);
  ProtobufCMessage *pm = NULL;
  assert_int_equal(mlproto_msg_unpack(&pm, MLPROTO_MSG_INCLUSION_PROOF, ir.body, ir.len), 0);
  Mentorlog__V1__InclusionProof *ip = (Mentorlog__V1__InclusionProof *)pm;
  uint8_t proof[64][32];
  for (size_t k = 0; k < ip->n_hashes; k++) memcpy(proof[k], ip->hashes[k].data, 32);
  assert_int_equal(mlproto_merkle_verify_inclusion(leaf, index, sth->size,
                                                   (const uint8_t(*)[32])proof, ip->n_hashes,
                                                   sth->root),
                   MLPROTO_OK);
  mlproto_msg_free(pm);
  resp_free(&ir);
}

static size_t pull_all(fx *f, sim_dev *d, uint64_t since, unsigned limit, uint64_t *indices,
                       size_t cap) {
  size_t n = 0;
  for (int pages = 0; pages < 1000; pages++) {
    char q[64];
    snprintf(q, sizeof q, "since=%llu&limit=%u", (unsigned long long)since, limit);
    resp r = call(f, "GET", "/v1/pull", q, NULL, 0, d->token, NULL);
    assert_int_equal(r.status, 200);
    mlproto_sth sth;
    sth_of(&r, MLPROTO_MSG_PULL_RESPONSE, &sth);
    assert_int_equal(mlproto_sth_verify(&sth, f->server_pub), MLPROTO_OK);
    ProtobufCMessage *m = NULL;
    assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_PULL_RESPONSE, r.body, r.len), 0);
    Mentorlog__V1__PullResponse *p = (Mentorlog__V1__PullResponse *)m;
    assert_true(p->n_items <= limit);
    for (size_t i = 0; i < p->n_items; i++) {
      Mentorlog__V1__LogItem *it = p->items[i];
      assert_true(it->log_index >= since);
      if (n) assert_true(it->log_index > indices[n - 1]);
      assert_true(n < cap);
      indices[n++] = it->log_index;
      /* The leaf is in the tree the server signed. */
      assert_included(f, (mlproto_log_entry_type)it->entry_type, it->received_at_ms,
                      it->envelope.data, it->envelope.len, it->log_index, &sth);
    }
    int more = p->more;
    assert_true(p->next_since >= since);
    since = p->next_since;
    mlproto_msg_free(m);
    resp_free(&r);
    if (!more) break;
  }
  return n;
}

/* ------------------------------------------------------------------ tests */

static void test_happy_path(void **state) {
  fx *f = *state;
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  uint8_t case1[16];
  mlproto_random_id(case1);
  uint8_t *envs[3];
  size_t lens[3];
  envs[0] = sim_record(&d, MLPROTO_KIND_CASE_OPEN, case1, &lens[0]);
  envs[1] = sim_record(&d, MLPROTO_KIND_NOTE, case1, &lens[1]);
  envs[2] = sim_record(&d, MLPROTO_KIND_NOTE, case1, &lens[2]);
  resp r = push(f, &d, envs, lens, 3);
  assert_int_equal(r.status, 200);
  mlproto_sth sth;
  sth_of(&r, MLPROTO_MSG_PUSH_RESPONSE, &sth);
  assert_int_equal(mlproto_sth_verify(&sth, f->server_pub), MLPROTO_OK);
  assert_int_equal(sth.size, 4); /* DEVICE_ENROLLED + 3 */
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_PUSH_RESPONSE, r.body, r.len), 0);
  Mentorlog__V1__PushResponse *pr = (Mentorlog__V1__PushResponse *)m;
  assert_int_equal(pr->n_results, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(pr->results[i]->status, "OK");
    assert_int_equal(pr->results[i]->log_index, i + 1);
    /* The answer alone lets the device check its record is in the signed tree. */
    assert_int_equal(pr->results[i]->received_at_ms, f->now);
    assert_included(f, MLPROTO_LOG_DEVICE_RECORD, pr->results[i]->received_at_ms, envs[i],
                    lens[i], pr->results[i]->log_index, &sth);
  }
  mlproto_msg_free(m);
  resp_free(&r);
  assert_int_equal(mls_app_log_size(f->app), 4);

  uint64_t idx[16];
  assert_int_equal(pull_all(f, &d, 0, 100, idx, 16), 4);
  assert_int_equal(idx[0], 0);
  assert_int_equal(idx[3], 3);
  /* Another mentor's device sees none of it, only its own enrolment. */
  sim_dev e;
  device_up(f, &e, f->mentor_b);
  assert_int_equal(pull_all(f, &e, 0, 100, idx, 16), 1);
  assert_int_equal(idx[0], 4);
  free_envs(envs, 3);
  sim_dev_free(&d);
  sim_dev_free(&e);
}

/* Each refusal: its code, and nothing changed (log size, tree head). */
static void expect_refused(fx *f, sim_dev *d, uint8_t **envs, size_t *lens, size_t n,
                           const char *code) {
  mlproto_sth before = current_sth(f);
  resp r = push(f, d, envs, lens, n);
  assert_string_equal(r.name, code);
  assert_int_equal(r.status, mlproto_http_status(mlproto_errcode(code)));
  resp_free(&r);
  mlproto_sth after = current_sth(f);
  assert_int_equal(after.size, before.size);
  assert_memory_equal(after.root, before.root, 32);
}

/* Flips one bit of an envelope's Ed25519 signature. */
static void flip_signature(uint8_t *env, size_t len) {
  mlproto_record_peek pk;
  assert_int_equal(mlproto_record_peek_fields(&pk, env, len), 0);
  /* The Ed25519 signature is field 2 of the envelope: tag 0x12, length 64. */
  size_t at = 0;
  for (size_t i = 0; i + 2 < len; i++)
    if (env[i] == 0x12 && env[i + 1] == 64) { at = i + 2; break; }
  assert_true(at > 0);
  env[at + 10] ^= 0x01;
}

/* A refusal names its record: "record K of N" in the error's message. */
static void expect_refused_at(fx *f, sim_dev *d, uint8_t **envs, size_t *lens, size_t n,
                              const char *code, const char *which) {
  resp r = push(f, d, envs, lens, n);
  assert_string_equal(r.name, code);
  size_t wl = strlen(which), at = 0;
  while (at + wl <= r.len && memcmp(r.body + at, which, wl) != 0) at++;
  assert_true(at + wl <= r.len);
  resp_free(&r);
}

/* The first bad record in batch order is named, whichever check finds it:
 * a wrong prev (a store check) before a bad signature, and a bad signature
 * before a wrong prev — whether the batch was verified before it was
 * written or while (app.c, push_begin). d's head is not moved. */
static void first_bad_named(fx *f, sim_dev *d, const uint8_t case_id[16]) {
  uint8_t *e[3];
  size_t l[3];
  uint8_t h1[32], h2[32], h3[32], bogus[32];
  memset(bogus, 0x5a, 32);
  e[0] = sim_record_at(d, MLPROTO_KIND_NOTE, case_id, d->seq + 1, d->head, &l[0], h1);
  e[1] = sim_record_at(d, MLPROTO_KIND_NOTE, case_id, d->seq + 2, bogus, &l[1], h2);
  e[2] = sim_record_at(d, MLPROTO_KIND_NOTE, case_id, d->seq + 3, h2, &l[2], h3);
  flip_signature(e[2], l[2]);
  expect_refused(f, d, e, l, 3, "PREV_MISMATCH");
  expect_refused_at(f, d, e, l, 3, "PREV_MISMATCH", "record 2 of 3");
  free_envs(&e[1], 2);
  e[1] = sim_record_at(d, MLPROTO_KIND_NOTE, case_id, d->seq + 2, h1, &l[1], h2);
  flip_signature(e[1], l[1]);
  e[2] = sim_record_at(d, MLPROTO_KIND_NOTE, case_id, d->seq + 3, bogus, &l[2], h3);
  expect_refused(f, d, e, l, 3, "BAD_SIGNATURE");
  expect_refused_at(f, d, e, l, 3, "BAD_SIGNATURE", "record 2 of 3");
  free_envs(e, 3);
}

static void test_push_refusals(void **state) {
  fx *f = *state;
  sim_dev d, other, b;
  device_up(f, &d, f->mentor_a);
  device_up(f, &other, f->mentor_a);
  device_up(f, &b, f->mentor_b);
  uint8_t case1[16], case_b[16], unknown_case[16];
  mlproto_random_id(case1);
  mlproto_random_id(case_b);
  mlproto_random_id(unknown_case);
  uint8_t *e[4];
  size_t l[4];
  e[0] = sim_record(&d, MLPROTO_KIND_CASE_OPEN, case1, &l[0]);
  resp r = push(f, &d, e, l, 1);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  uint8_t *eb = sim_record(&b, MLPROTO_KIND_CASE_OPEN, case_b, &l[1]);
  r = push(f, &b, &eb, &l[1], 1);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  mlproto_free(eb);
  uint8_t h[32], zero[32] = {0};

  /* gap: seq 3 after 1 */
  e[1] = sim_record_at(&d, MLPROTO_KIND_NOTE, case1, 3, d.head, &l[1], h);
  expect_refused(f, &d, &e[1], &l[1], 1, "SEQ_GAP");
  mlproto_free(e[1]);
  /* wrong prev (a zero prev at seq 2 would not even build: use another hash) */
  uint8_t bogus[32];
  memset(bogus, 0x5a, 32);
  e[1] = sim_record_at(&d, MLPROTO_KIND_NOTE, case1, 2, bogus, &l[1], h);
  expect_refused(f, &d, &e[1], &l[1], 1, "PREV_MISMATCH");
  mlproto_free(e[1]);
  /* bad signature: one bit of the Ed25519 signature flipped */
  e[1] = sim_record_at(&d, MLPROTO_KIND_NOTE, case1, 2, d.head, &l[1], h);
  flip_signature(e[1], l[1]);
  expect_refused(f, &d, &e[1], &l[1], 1, "BAD_SIGNATURE");
  mlproto_free(e[1]);
  /* author != session device */
  e[1] = sim_record_at(&other, MLPROTO_KIND_CASE_OPEN, case1, 1, zero, &l[1], h);
  expect_refused(f, &d, &e[1], &l[1], 1, "AUTHOR_MISMATCH");
  mlproto_free(e[1]);
  /* another mentor's case */
  e[1] = sim_record_at(&d, MLPROTO_KIND_NOTE, case_b, 2, d.head, &l[1], h);
  expect_refused(f, &d, &e[1], &l[1], 1, "NOT_YOUR_CASE");
  mlproto_free(e[1]);
  e[1] = sim_record_at(&d, MLPROTO_KIND_CASE_OPEN, case_b, 2, d.head, &l[1], h);
  expect_refused(f, &d, &e[1], &l[1], 1, "NOT_YOUR_CASE");
  mlproto_free(e[1]);
  /* a non-CASE_OPEN record for a case the server does not know */
  e[1] = sim_record_at(&d, MLPROTO_KIND_NOTE, unknown_case, 2, d.head, &l[1], h);
  expect_refused(f, &d, &e[1], &l[1], 1, "NOT_YOUR_CASE");
  mlproto_free(e[1]);
  /* all or nothing: two good records and a bad third */
  e[1] = sim_record(&d, MLPROTO_KIND_NOTE, case1, &l[1]);
  e[2] = sim_record(&d, MLPROTO_KIND_NOTE, case1, &l[2]);
  e[3] = sim_record_at(&d, MLPROTO_KIND_NOTE, case_b, 4, d.head, &l[3], h);
  expect_refused(f, &d, &e[1], &l[1], 3, "NOT_YOUR_CASE");
  r = push(f, &d, &e[1], &l[1], 2); /* the good part alone goes in */
  assert_int_equal(r.status, 200);
  resp_free(&r);
  free_envs(&e[1], 3);
  first_bad_named(f, &d, case1);
  fx_reopen(f, 1);
  first_bad_named(f, &d, case1);
  fx_reopen(f, 0);
  /* a server event kind from a device */
  {
    Mentorlog__V1__DeviceRevoked dr = MENTORLOG__V1__DEVICE_REVOKED__INIT;
    dr.device_pub.data = other.pub;
    dr.device_pub.len = 32;
    mlproto_disclosed disc = MENTORLOG__V1__DISCLOSED__INIT;
    disc.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_DEVICE_REVOKED;
    disc.device_revoked = &dr;
    mlproto_record_params p;
    memset(&p, 0, sizeof p);
    mlproto_random_id(p.record_id);
    p.seq = d.seq + 1;
    memcpy(p.prev, d.head, 32);
    p.hlc = T0 << 16;
    p.kind = MLPROTO_KIND_DEVICE_REVOKED;
    uint8_t *ev = NULL;
    size_t evl = 0;
    assert_int_equal(mlproto_record_build(&ev, &evl, h, &p, &disc, NULL, NULL, d.sign), 0);
    expect_refused(f, &d, &ev, &evl, 1, "KIND_NOT_ALLOWED");
    mlproto_free(ev);
  }
  /* too many records: counted before decoding */
  {
    enum { OVER = MLPROTO_PUSH_MAX_RECORDS + 1 };
    static uint8_t *many[OVER];
    static size_t ml[OVER];
    uint8_t *one = sim_record_at(&d, MLPROTO_KIND_NOTE, case1, d.seq + 1, d.head, &ml[0], h);
    for (int i = 0; i < OVER; i++) { many[i] = one; ml[i] = ml[0]; }
    expect_refused(f, &d, many, ml, OVER, "BATCH_TOO_LARGE");
    /* exactly the cap is not refused for its size (here: a resend of one
     * record many times over, SEQ_GAP within the batch) */
    expect_refused(f, &d, many, ml, OVER - 1, "SEQ_GAP");
    mlproto_free(one);
  }
  /* no token, a bad token */
  {
    size_t len;
    uint8_t *body = sim_push_body(e, l, 1, &len);
    r = call(f, "POST", "/v1/push", NULL, body, len, NULL, NULL);
    assert_string_equal(r.name, "UNAUTHENTICATED");
    resp_free(&r);
    r = call(f, "POST", "/v1/push", NULL, body, len, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL);
    assert_string_equal(r.name, "UNAUTHENTICATED");
    assert_int_equal(r.status, 401);
    resp_free(&r);
    /* garbage body */
    uint8_t junk[5] = {0xff, 0xff, 0xff, 0xff, 0xff};
    r = call(f, "POST", "/v1/push", NULL, junk, 5, d.token, NULL);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    free(body);
  }
  mlproto_free(e[0]);
  sim_dev_free(&d);
  sim_dev_free(&other);
  sim_dev_free(&b);
}

static void test_idempotent_fork_replay(void **state) {
  fx *f = *state;
  sim_dev d, d2;
  device_up(f, &d, f->mentor_a);
  device_up(f, &d2, f->mentor_a);
  uint8_t c1[16];
  mlproto_random_id(c1);
  uint8_t *e[2];
  size_t l[2];
  e[0] = sim_record(&d, MLPROTO_KIND_CASE_OPEN, c1, &l[0]);
  e[1] = sim_record(&d, MLPROTO_KIND_NOTE, c1, &l[1]);
  resp r = push(f, &d, e, l, 2);
  assert_int_equal(r.status, 200);
  mlproto_sth first;
  sth_of(&r, MLPROTO_MSG_PUSH_RESPONSE, &first);
  resp_free(&r);
  /* identical resend: same answer, same indices, nothing appended */
  r = push(f, &d, e, l, 2);
  assert_int_equal(r.status, 200);
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_PUSH_RESPONSE, r.body, r.len), 0);
  Mentorlog__V1__PushResponse *pr = (Mentorlog__V1__PushResponse *)m;
  assert_int_equal(pr->results[0]->log_index, 2);
  assert_int_equal(pr->results[1]->log_index, 3);
  assert_int_equal(pr->sth->size, first.size);
  mlproto_msg_free(m);
  resp_free(&r);
  /* replay of the captured push in a new session: acknowledged, unchanged */
  r = session(f, &d, NULL);
  resp_free(&r);
  r = push(f, &d, e, l, 2);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  assert_int_equal(current_sth(f).size, first.size);
  /* ... and by another device of the same mentor: not its records */
  expect_refused(f, &d2, e, l, 2, "AUTHOR_MISMATCH");
  /* fork: a different record at seq 2 */
  uint8_t h[32];
  uint8_t prev1[32];
  assert_int_equal(mlproto_record_hash(prev1, e[0], l[0]), 0);
  uint8_t *fk = sim_record_at(&d, MLPROTO_KIND_NOTE, c1, 2, prev1, &l[1], h);
  expect_refused(f, &d, &fk, &l[1], 1, "FORK");
  /* the evidence was kept: the same fork pushed again is refused again */
  expect_refused(f, &d, &fk, &l[1], 1, "FORK");
  mlproto_free(fk);
  /* the chain continues normally after the refusal */
  uint8_t *n3 = sim_record(&d, MLPROTO_KIND_NOTE, c1, &l[0]);
  r = push(f, &d, &n3, &l[0], 1);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  mlproto_free(n3);
  free_envs(e, 2);
  sim_dev_free(&d);
  sim_dev_free(&d2);
}

static void test_revoked_and_unknown(void **state) {
  fx *f = *state;
  sim_dev d, stranger;
  device_up(f, &d, f->mentor_a);
  sim_dev_init(&stranger);
  char id[40], out[256];
  assert_int_equal(admin(f, out, sizeof out, "device", "list", "--json", NULL), 0);
  assert_non_null(strstr(out, "\"status\":\"active\""));
  /* the id is the first 32 hex digits after "id":" */
  const char *p = strstr(out, "\"id\":\"");
  assert_non_null(p);
  memcpy(id, p + 6, 32);
  id[32] = 0;
  uint64_t size0 = current_sth(f).size;
  /* admin revokes while the app is open: logged and effective at once */
  assert_int_equal(admin(f, out, sizeof out, "device", "revoke", id, NULL), 0);
  mlproto_sth s = current_sth(f);
  assert_int_equal(s.size, size0 + 1);
  uint8_t c1[16];
  mlproto_random_id(c1);
  size_t l;
  uint8_t *e = sim_record(&d, MLPROTO_KIND_CASE_OPEN, c1, &l);
  resp r = push(f, &d, &e, &l, 1);
  assert_string_equal(r.name, "UNAUTHENTICATED");
  resp_free(&r);
  mlproto_free(e);
  /* a revoked and an unknown device get byte-identical answers */
  resp ra = session(f, &d, "10.9.9.1");
  resp rb = session(f, &stranger, "10.9.9.2");
  assert_int_equal(ra.status, 401);
  assert_int_equal(ra.status, rb.status);
  assert_int_equal(ra.len, rb.len);
  assert_memory_equal(ra.body, rb.body, ra.len);
  resp_free(&ra);
  resp_free(&rb);
  /* the revocation event reached the mentor's feed (checked from a sibling) */
  sim_dev d3;
  device_up(f, &d3, f->mentor_a);
  uint64_t idx[8];
  assert_int_equal(pull_all(f, &d3, 0, 2, idx, 8), 3); /* enrolled, revoked, enrolled */
  /* revoking again: no such active device */
  assert_int_equal(admin(f, out, sizeof out, "device", "revoke", id, NULL), 1);
  sim_dev_free(&d);
  sim_dev_free(&d3);
  sim_dev_free(&stranger);
}

static void test_enrol_codes(void **state) {
  fx *f = *state;
  sim_dev d, e, g;
  sim_dev_init(&d);
  sim_dev_init(&e);
  sim_dev_init(&g);
  char code[64];
  get_code(f, f->mentor_a, code);
  resp r = enroll(f, &d, code);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  uint64_t size = current_sth(f).size;
  r = enroll(f, &e, code); /* single use */
  assert_string_equal(r.name, "ENROLL_CODE_INVALID");
  resp_free(&r);
  /* expired: 30 minutes TTL, used after 31 */
  char out[64];
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", f->mentor_a, "--ttl", "30m"), 0);
  f->now += 31 * 60 * 1000;
  r = enroll(f, &e, out);
  assert_string_equal(r.name, "ENROLL_CODE_INVALID");
  resp_free(&r);
  /* unknown code; typing variations of a valid one are accepted */
  r = enroll(f, &e, "AAAAA-BBBBB-CCCCC-DDDDD");
  assert_string_equal(r.name, "ENROLL_CODE_INVALID");
  resp_free(&r);
  assert_int_equal(current_sth(f).size, size);
  get_code(f, f->mentor_b, code);
  for (char *p = code; *p; p++)
    if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
  r = enroll(f, &g, code);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  /* the same device twice */
  get_code(f, f->mentor_b, code);
  r = enroll(f, &g, code);
  assert_string_equal(r.name, "ALREADY_EXISTS");
  resp_free(&r);
  /* unknown mentor; bad TTLs */
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "00000000000000000000000000000000", NULL, NULL), 1);
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", f->mentor_a, "--ttl", "31d"), 2);
  sim_dev_free(&d);
  sim_dev_free(&e);
  sim_dev_free(&g);
}

static void test_pagination_and_consistency(void **state) {
  fx *f = *state;
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  uint8_t c1[16];
  mlproto_random_id(c1);
  mlproto_sth heads[12];
  heads[0] = current_sth(f);
  for (int i = 1; i < 12; i++) {
    size_t l;
    uint8_t *e = sim_record(&d, i == 1 ? MLPROTO_KIND_CASE_OPEN : MLPROTO_KIND_NOTE, c1, &l);
    resp r = push(f, &d, &e, &l, 1);
    assert_int_equal(r.status, 200);
    sth_of(&r, MLPROTO_MSG_PUSH_RESPONSE, &heads[i]);
    resp_free(&r);
    mlproto_free(e);
    f->now += 1000;
  }
  uint64_t idx[32];
  for (unsigned lim = 1; lim <= 5; lim++) {
    assert_int_equal(pull_all(f, &d, 0, lim, idx, 32), 12);
    for (int i = 0; i < 12; i++) assert_int_equal(idx[i], (uint64_t)i);
  }
  assert_int_equal(pull_all(f, &d, 7, 3, idx, 32), 5); /* resumed from a cursor */
  /* every pair of tree heads is consistent */
  for (int a = 0; a < 12; a++)
    for (int b = a; b < 12; b++) {
      char q[64];
      snprintf(q, sizeof q, "first=%llu&second=%llu", (unsigned long long)heads[a].size,
               (unsigned long long)heads[b].size);
      resp r = call(f, "GET", "/v1/log/proof/consistency", q, NULL, 0, NULL, NULL);
      assert_int_equal(r.status, 200);
      ProtobufCMessage *m = NULL;
      assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_CONSISTENCY_PROOF, r.body, r.len), 0);
      Mentorlog__V1__ConsistencyProof *cp = (Mentorlog__V1__ConsistencyProof *)m;
      uint8_t proof[64][32];
      for (size_t k = 0; k < cp->n_hashes; k++) memcpy(proof[k], cp->hashes[k].data, 32);
      assert_int_equal(mlproto_sth_check_consistency(&heads[a], &heads[b],
                                                     (const uint8_t(*)[32])proof, cp->n_hashes),
                       MLPROTO_OK);
      mlproto_msg_free(m);
      resp_free(&r);
    }
  /* bad queries */
  const char *bad[] = {"first=0&second=3", "first=5&second=3", "first=1&second=999",
                       "second=3", "first=x", "first=1&first=2", "first=1&bogus=2"};
  const char *codes[] = {"TREE_RANGE", "TREE_RANGE", "TREE_RANGE", "BAD_QUERY", "BAD_QUERY",
                         "BAD_QUERY", "BAD_QUERY"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    resp r = call(f, "GET", "/v1/log/proof/consistency", bad[i], NULL, 0, NULL, NULL);
    assert_string_equal(r.name, codes[i]);
    resp_free(&r);
  }
  resp r = call(f, "GET", "/v1/log/proof/inclusion", "index=12&size=12", NULL, 0, NULL, NULL);
  assert_string_equal(r.name, "TREE_RANGE");
  resp_free(&r);
  r = call(f, "GET", "/v1/pull", "limit=0", NULL, 0, d.token, NULL);
  assert_string_equal(r.name, "BAD_QUERY");
  resp_free(&r);
  sim_dev_free(&d);
}

static void test_throttling(void **state) {
  fx *f = *state;
  sim_dev d, stranger;
  device_up(f, &d, f->mentor_a);
  sim_dev_init(&stranger);
  /* an attacker at one address: 10 free failures, then backoff */
  int limited = 0;
  for (int i = 0; i < 14; i++) {
    resp r = session(f, &stranger, "192.0.2.66");
    if (strcmp(r.name, "RATE_LIMITED") == 0) {
      limited = 1;
      assert_int_equal(r.status, 429);
      assert_non_null(strstr(r.extra, "Retry-After: "));
    } else {
      assert_string_equal(r.name, "UNAUTHENTICATED");
    }
    resp_free(&r);
  }
  assert_true(limited);
  /* the mentor, elsewhere, is not locked out */
  resp r = session(f, &d, "198.51.100.7");
  assert_int_equal(r.status, 200);
  resp_free(&r);
  /* forged attempts claiming the mentor's key (bad signatures) from many
   * addresses do not count against the device: it is never delayed */
  for (int i = 0; i < 8; i++) {
    char addr[32];
    snprintf(addr, sizeof addr, "203.0.113.%d", i);
    resp c = call(f, "GET", "/v1/session/challenge", NULL, NULL, 0, NULL, addr);
    size_t len;
    uint8_t *b = sim_session_body(&stranger, c.body, c.len, &len);
    /* forge: the stranger signs, but claims the mentor's device key */
    ProtobufCMessage *m = NULL;
    assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_SESSION_REQUEST, b, len), 0);
    memcpy(((Mentorlog__V1__SessionRequest *)m)->device_pub.data, d.pub, 32);
    uint8_t *fb = NULL;
    size_t fl = 0;
    assert_int_equal(mlproto_msg_pack(&fb, &fl, m), 0);
    resp x = call(f, "POST", "/v1/session", NULL, fb, fl, NULL, addr);
    assert_true(strcmp(x.name, "UNAUTHENTICATED") == 0 || strcmp(x.name, "RATE_LIMITED") == 0);
    resp_free(&x);
    mlproto_free(fb);
    mlproto_msg_free(m);
    free(b);
    resp_free(&c);
  }
  r = session(f, &d, "198.51.100.7");
  assert_int_equal(r.status, 200);
  resp_free(&r);
  /* per-device request budget */
  limited = 0;
  for (int i = 0; i < 150 && !limited; i++) {
    resp p = call(f, "GET", "/v1/pull", "", NULL, 0, d.token, NULL);
    if (p.status == 429) limited = 1;
    else assert_int_equal(p.status, 200);
    resp_free(&p);
  }
  assert_true(limited);
  f->now += 5000;
  r = call(f, "GET", "/v1/pull", "", NULL, 0, d.token, NULL);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  sim_dev_free(&d);
  sim_dev_free(&stranger);
}

static void test_routes_and_errors(void **state) {
  fx *f = *state;
  resp r = call(f, "GET", "/healthz", NULL, NULL, 0, NULL, NULL);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  assert_true(mls_app_route_is_fast("GET", "/healthz"));
  assert_false(mls_app_route_is_fast("POST", "/v1/push"));
  /* /metrics is not a route of the devices' listener (net_metrics.c serves it) */
  r = call(f, "GET", "/metrics", NULL, NULL, 0, NULL, NULL);
  assert_int_equal(r.status, 404);
  resp_free(&r);
  mls_response m;
  memset(&m, 0, sizeof m);
  mls_app_metrics(f->app, &m);
  assert_int_equal(m.status, 200);
  assert_string_equal(m.route, "metrics");
  assert_non_null(memmem(m.body.data, m.body.len, "mentorlog_log_size", 18));
  mlproto_buf_free(&m.body);
  /* the body rule: bodies wait for credentials on the routes that take them */
  assert_int_equal(mls_app_body_rule("POST", "/v1/push"), MLS_BODY_AFTER_AUTH);
  assert_int_equal(mls_app_body_rule("POST", "/v1/log/cosignature"), MLS_BODY_AFTER_AUTH);
  assert_int_equal(mls_app_body_rule("GET", "/v1/pull"), MLS_BODY_AFTER_AUTH);
  assert_int_equal(mls_app_body_rule("HEAD", "/v1/audit/log"), MLS_BODY_AFTER_AUTH);
  assert_int_equal(mls_app_body_rule("GET", "/v1/jobcentre/grants/X/contacts"), MLS_BODY_AFTER_AUTH);
  assert_int_equal(mls_app_body_rule("POST", "/v1/enroll"), MLS_BODY_OPEN);
  assert_int_equal(mls_app_body_rule("POST", "/v1/session"), MLS_BODY_OPEN);
  assert_int_equal(mls_app_body_rule("GET", "/v1/push"), MLS_BODY_OPEN); /* 405 */
  assert_int_equal(mls_app_body_rule("POST", "/nope"), MLS_BODY_OPEN);   /* 404 */
  r = call(f, "GET", "/nope", NULL, NULL, 0, NULL, NULL);
  assert_string_equal(r.name, "NOT_FOUND");
  resp_free(&r);
  r = call(f, "DELETE", "/v1/push", NULL, NULL, 0, NULL, NULL);
  assert_string_equal(r.name, "METHOD_NOT_ALLOWED");
  assert_int_equal(r.status, 405);
  resp_free(&r);
  /* wrong content type */
  mls_header h = {"Content-Type", "application/json"};
  mls_request rq = {.method = "POST", .path = "/v1/enroll", .query = "", .headers = &h,
                    .n_headers = 1, .body = (const uint8_t *)"{}", .body_len = 2, .peer = "x"};
  mls_response rs;
  memset(&rs, 0, sizeof rs);
  mls_app_handle(f->app, &rq, &rs, f->now);
  assert_int_equal(rs.status, 415);
  assert_int_equal(rs.error_code, MLPROTO_ERR_UNSUPPORTED_MEDIA_TYPE);
  mlproto_buf_free(&rs.body);
  /* JSON error body on request */
  mls_header hj = {"Accept", "application/json"};
  mls_request rj = {.method = "GET", .path = "/v1/pull", .query = "", .headers = &hj,
                    .n_headers = 1, .peer = "x"};
  memset(&rs, 0, sizeof rs);
  mls_app_handle(f->app, &rj, &rs, f->now);
  assert_int_equal(rs.status, 401);
  assert_string_equal(rs.content_type, "application/json");
  assert_true(rs.body.len > 0);
  char *txt = strndup((char *)rs.body.data, rs.body.len);
  assert_non_null(strstr(txt, "\"code\":\"UNAUTHENTICATED\""));
  free(txt);
  mlproto_buf_free(&rs.body);
  /* mls_app_error for the network half */
  memset(&rs, 0, sizeof rs);
  mls_app_error(&rs, MLPROTO_ERR_BODY_TOO_LARGE, "4 MiB", 0);
  assert_int_equal(rs.status, 413);
  char name[64];
  sim_error_code(rs.body.data, rs.body.len, name);
  assert_string_equal(name, "BODY_TOO_LARGE");
  mlproto_buf_free(&rs.body);
  /* its JSON body, escaped by the writer; a detail that is not UTF-8 leaves
   * the code's own text */
  static const struct {
    const char *detail, *body;
  } js[] = {
      {"id \"<x>\" & \xc3\xa6\n", "{\"code\":\"NOT_FOUND\",\"message\":\"not found: id \\\"\\u003cx\\u003e\\\" "
                                 "\\u0026 \xc3\xa6\\n\"}\n"},
      {"\xc3", "{\"code\":\"NOT_FOUND\",\"message\":\"not found\"}\n"},
      {NULL, "{\"code\":\"NOT_FOUND\",\"message\":\"not found\"}\n"},
  };
  for (size_t i = 0; i < sizeof js / sizeof js[0]; i++) {
    memset(&rs, 0, sizeof rs);
    mls_app_error(&rs, MLPROTO_ERR_NOT_FOUND, js[i].detail, 1);
    assert_string_equal(rs.content_type, "application/json");
    assert_int_equal(rs.body.len, strlen(js[i].body));
    assert_memory_equal(rs.body.data, js[i].body, rs.body.len);
    mlproto_buf_free(&rs.body);
  }
}

static void test_restart_keeps_log(void **state) {
  fx *f = *state;
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  uint8_t c1[16];
  mlproto_random_id(c1);
  size_t l;
  uint8_t *e = sim_record(&d, MLPROTO_KIND_CASE_OPEN, c1, &l);
  resp r = push(f, &d, &e, &l, 1);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  mlproto_free(e);
  mlproto_sth before = current_sth(f);
  mls_app_close(f->app);
  fx_open(f);
  mlproto_sth after = current_sth(f);
  assert_int_equal(after.size, before.size);
  assert_memory_equal(after.root, before.root, 32);
  /* sessions survive a restart (they live in the store) */
  e = sim_record(&d, MLPROTO_KIND_NOTE, c1, &l);
  r = push(f, &d, &e, &l, 1);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  mlproto_free(e);
  /* the server key file is private */
  char path[128];
  snprintf(path, sizeof path, "%s/server.key", f->dir);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  sim_dev_free(&d);
}

/* GET /v1/log/sth with Accept: application/json answers the same signed head
 * as JSON; its hex fields must decode to a head that verifies. */
static void test_sth_json(void **state) {
  fx *f = *state;
  sim_dev d;
  device_up(f, &d, f->mentor_a); /* learns the server key; the log is not empty */
  sim_dev_free(&d);
  mlproto_sth pb = current_sth(f);
  assert_true(pb.size >= 1);
  mls_header h = {"Accept", "application/json"};
  mls_request rq = {.method = "GET", .path = "/v1/log/sth", .query = "", .headers = &h,
                    .n_headers = 1, .peer = "10.0.0.1", .conn_id = 1};
  mls_response rs;
  memset(&rs, 0, sizeof rs);
  mls_app_handle(f->app, &rq, &rs, f->now);
  assert_int_equal(rs.status, 200);
  assert_string_equal(rs.content_type, "application/json");
  char text[512];
  assert_true(rs.body.len < sizeof text);
  memcpy(text, rs.body.data, rs.body.len);
  text[rs.body.len] = '\0';
  mlproto_buf_free(&rs.body);
  unsigned long long size, ts;
  char root[65], sig[129];
  assert_int_equal(sscanf(text, "{\"size\":%llu,\"root\":\"%64[0-9a-f]\",\"timestamp_ms\":%llu,"
                                "\"signature\":\"%128[0-9a-f]\"}",
                          &size, root, &ts, sig), 4);
  mlproto_sth js = {.size = size, .timestamp_ms = ts};
  assert_int_equal(mlproto_hex_decode(js.root, 32, root, strlen(root)), MLPROTO_OK);
  assert_int_equal(mlproto_hex_decode(js.signature, 64, sig, strlen(sig)), MLPROTO_OK);
  assert_int_equal(mlproto_sth_verify(&js, f->server_pub), MLPROTO_OK);
  assert_int_equal(js.size, pb.size);
  assert_memory_equal(js.root, pb.root, 32);
}

static void test_ttl_parse(void **state) {
  (void)state;
  struct { const char *s; int ok; uint64_t ms; } t[] = {
    {"30m", 1, 1800000}, {"24h", 1, 86400000}, {"7d", 1, 604800000}, {"90s", 1, 90000},
    {"30d", 1, 2592000000ull}, {"31d", 0, 0}, {"0h", 0, 0}, {"h", 0, 0}, {"", 0, 0},
    {"5", 0, 0}, {"5w", 0, 0}, {"-1h", 0, 0}, {"1hh", 0, 0}, {"99999999999d", 0, 0},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    uint64_t ms = 0;
    int rc = mls_admin_parse_ttl(t[i].s, &ms);
    assert_int_equal(rc == 0, t[i].ok);
    if (t[i].ok) assert_int_equal(ms, t[i].ms);
  }
}

/* ------------------------------------------------ hardening (issue 4) --- */

/* A SessionRequest signed by `signer` over a challenge body, but claiming
 * the public key `claimed` (a forgery: its signature cannot verify). */
static uint8_t *forged_session_body(sim_dev *signer, const uint8_t claimed[32],
                                    const uint8_t *chal, size_t chal_len, size_t *out_len) {
  size_t len;
  uint8_t *b = sim_session_body(signer, chal, chal_len, &len);
  assert_non_null(b);
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_SESSION_REQUEST, b, len), 0);
  memcpy(((Mentorlog__V1__SessionRequest *)m)->device_pub.data, claimed, 32);
  uint8_t *fb = NULL;
  assert_int_equal(mlproto_msg_pack(&fb, out_len, m), 0);
  mlproto_msg_free(m);
  free(b);
  uint8_t *copy = malloc(*out_len);
  memcpy(copy, fb, *out_len);
  mlproto_free(fb);
  return copy;
}

/* Item 3: failures with a victim's public key but a bad signature never
 * count against the victim's device, only against the attacker's address. */
static void test_forged_key_no_lockout(void **state) {
  fx *f = *state;
  sim_dev victim, attacker;
  device_up(f, &victim, f->mentor_a);
  sim_dev_init(&attacker);
  resp ch = call(f, "GET", "/v1/session/challenge", NULL, NULL, 0, NULL, "192.0.2.200");
  assert_int_equal(ch.status, 200);
  size_t fl;
  uint8_t *forged = forged_session_body(&attacker, victim.pub, ch.body, ch.len, &fl);
  int limited = 0;
  for (int i = 0; i < 1000; i++) {
    resp x = call(f, "POST", "/v1/session", NULL, forged, fl, NULL, "192.0.2.66");
    assert_true(x.status == 401 || x.status == 429);
    if (x.status == 429) limited++;
    resp_free(&x);
  }
  assert_true(limited >= 980); /* the attacker's address is braked */
  /* ... and from many addresses, every attempt reaching the store */
  for (int a = 0; a < 40; a++) {
    char addr[32];
    snprintf(addr, sizeof addr, "203.0.113.%d", a + 1);
    for (int i = 0; i < 3; i++) {
      resp x = call(f, "POST", "/v1/session", NULL, forged, fl, NULL, addr);
      assert_int_equal(x.status, 401);
      resp_free(&x);
    }
  }
  resp r = session(f, &victim, "198.51.100.7");
  assert_int_equal(r.status, 200);
  resp_free(&r);
  /* Failures with the device's VALID signature (a replayed, spent challenge)
   * still brake that device, whatever the address. */
  resp c2 = call(f, "GET", "/v1/session/challenge", NULL, NULL, 0, NULL, "198.51.100.8");
  size_t vl;
  uint8_t *valid = sim_session_body(&victim, c2.body, c2.len, &vl);
  int dev_limited = 0;
  for (int i = 0; i < 8; i++) {
    char addr[32];
    snprintf(addr, sizeof addr, "198.18.0.%d", i + 1);
    resp x = call(f, "POST", "/v1/session", NULL, valid, vl, NULL, addr);
    if (i == 0) assert_int_equal(x.status, 200);
    else if (x.status == 429) dev_limited = 1;
    else assert_string_equal(x.name, "CHALLENGE_INVALID");
    resp_free(&x);
  }
  assert_true(dev_limited);
  free(valid);
  resp_free(&c2);
  free(forged);
  resp_free(&ch);
  sim_dev_free(&victim);
  sim_dev_free(&attacker);
}

/* Item 11: per-address limits key IPv6 on its /64. */
static void test_ipv6_prefix_keys(void **state) {
  fx *f = *state;
  uint8_t k1[MLS_LIMIT_KEY_MAX], k2[MLS_LIMIT_KEY_MAX], k3[MLS_LIMIT_KEY_MAX];
  size_t l1 = mls_addr_key(k1, "2001:db8:1:2::1");
  size_t l2 = mls_addr_key(k2, "2001:db8:1:2:ffff:ffff:ffff:ffff");
  size_t l3 = mls_addr_key(k3, "2001:db8:1:3::1");
  assert_int_equal(l1, l2);
  assert_memory_equal(k1, k2, l1);
  assert_true(l1 != l3 || memcmp(k1, k3, l1) != 0);
  l1 = mls_addr_key(k1, "192.0.2.1");
  l2 = mls_addr_key(k2, "::ffff:192.0.2.1");
  assert_int_equal(l1, l2);
  assert_memory_equal(k1, k2, l1);

  sim_dev stranger;
  sim_dev_init(&stranger);
  for (int i = 0; i < 12; i++) {
    resp r = session(f, &stranger, "2001:db8:1:2::1");
    assert_true(r.status == 401 || r.status == 429);
    resp_free(&r);
  }
  resp r = session(f, &stranger, "2001:db8:1:2::ffff");
  assert_string_equal(r.name, "RATE_LIMITED"); /* same /64 */
  resp_free(&r);
  r = session(f, &stranger, "2001:db8:1:3::1");
  assert_string_equal(r.name, "UNAUTHENTICATED"); /* the next /64 is not braked */
  resp_free(&r);
  sim_dev_free(&stranger);
}

typedef struct push_job {
  fx *f;
  sim_dev *d;
  uint8_t *env;
  size_t len;
  resp r;
} push_job;

static void *push_thread(void *arg) {
  push_job *j = arg;
  j->r = push(j->f, j->d, &j->env, &j->len, 1);
  return NULL;
}

/* Item 4: a revocation committed between a push's authentication and its
 * append wins: no record of the revoked device lands after it. */
static void test_push_revoked_in_between(void **state) {
  fx *f = *state;
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  uint64_t size0 = current_sth(f).size;
  /* A second opening of the store, as the admin command's: hold the writer
   * lock; the push authenticates (a read) and then waits for the write
   * transaction of its append. */
  mls_store *other = t_store_open(f->store);
  mls_txn *tx = NULL;
  assert_int_equal(mls_store_begin(other, MLS_TXN_WRITE, &tx), MLPROTO_OK);
  uint8_t c1[16];
  mlproto_random_id(c1);
  push_job j = {.f = f, .d = &d};
  j.env = sim_record(&d, MLPROTO_KIND_CASE_OPEN, c1, &j.len);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, push_thread, &j), 0);
  usleep(300 * 1000); /* ordering only: let the push pass authentication */
  assert_int_equal(MLS_TX(tx, device_revoke, d.pub, f->now), MLPROTO_OK);
  assert_int_equal(mls_store_commit(tx), MLPROTO_OK);
  assert_int_equal(pthread_join(t, NULL), 0);
  mls_store_close(other);
  assert_string_equal(j.r.name, "UNAUTHENTICATED");
  assert_int_equal(current_sth(f).size, size0);
  resp_free(&j.r);
  mlproto_free(j.env);
  sim_dev_free(&d);
}

typedef struct batch_job {
  fx *f;
  sim_dev *d;
  uint8_t *envs[256];
  size_t lens[256], n;
  resp r;
} batch_job;

static void *batch_thread(void *arg) {
  batch_job *j = arg;
  j->r = push(j->f, j->d, j->envs, j->lens, j->n);
  return NULL;
}

/* The /metrics text (200), as a NUL-terminated string to free. */
static char *scrape_metrics(fx *f) {
  mls_response m;
  memset(&m, 0, sizeof m);
  mls_app_metrics(f->app, &m);
  assert_int_equal(m.status, 200);
  char *txt = strndup((char *)m.body.data, m.body.len);
  assert_non_null(txt);
  mlproto_buf_free(&m.body);
  return txt;
}

/* The scrape holds the line "NAME VALUE". */
static void expect_sample(const char *txt, const char *name, uint64_t value) {
  char want[128];
  snprintf(want, sizeof want, "\n%s %llu\n", name, (unsigned long long)value);
  if (!strstr(txt, want)) fail_msg("want '%s' in metrics", want + 1);
}

/* Waits until n pushes are in flight (between authentication and answer). */
static void wait_in_flight(fx *f, unsigned n) {
  for (int i = 0; i < 20000; i++) {
    unsigned now;
    uint64_t w;
    mls_app_push_stats(f->app, &now, &w);
    if (now >= n) return;
    usleep(1000);
  }
  fail_msg("no push in flight");
}

/* Pipelined pushes (push_order.h): batch k+1 of a device, sent while the
 * 256-record batch k is still being verified, is appended after k, also
 * when it reaches the writer first (it finds a gap and waits for k); a batch
 * that leaves a real gap gets SEQ_GAP whatever the timing. Whether k+1
 * overtakes k depends on the scheduler (k's verification keeps both cores
 * busy), so pairs are pushed until one took the waiting path: at most 40. */
static void test_push_pipelined(void **state) {
  fx *f = *state;
  /* Batch k, when alone in flight as it starts, is written while it is
   * verified and holds the writer from the start: k + 1 then seldom gets
   * ahead of it. The first DEFAULT_PAIRS pairs run so (every outcome must
   * be right, whichever way they interleave); the rest on the path taken
   * once two pushes are in flight (verify first, then write), until k + 1
   * has overtaken k at least once. */
  enum { DEFAULT_PAIRS = 4 };
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  uint8_t c1[16];
  mlproto_random_id(c1);
  int overtaken = 0, pairs = 0;
  for (int round = 0; round < DEFAULT_PAIRS + 41 && (!overtaken || round < DEFAULT_PAIRS + 2);
       round++, pairs++) {
    if (round == DEFAULT_PAIRS) fx_reopen(f, 1);
    /* the second pair of each part leaves a real gap */
    int gap = round == 1 || round == DEFAULT_PAIRS + 1;
    batch_job k = {.f = f, .d = &d, .n = 256};
    for (size_t i = 0; i < k.n; i++)
      k.envs[i] = sim_record(&d, round == 0 && i == 0 ? MLPROTO_KIND_CASE_OPEN : MLPROTO_KIND_NOTE, c1,
                             &k.lens[i]);
    uint8_t *next;
    size_t next_len;
    if (!gap) {
      next = sim_record(&d, MLPROTO_KIND_NOTE, c1, &next_len); /* k + 1 */
    } else {
      uint8_t prev[32], h[32];
      memset(prev, 0x11, sizeof prev);
      next = sim_record_at(&d, MLPROTO_KIND_NOTE, c1, d.seq + 2, prev, &next_len, h);
    }
    uint64_t wait0, waits;
    unsigned in_flight;
    mls_app_push_stats(f->app, &in_flight, &wait0);
    uint64_t size0 = current_sth(f).size;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, batch_thread, &k), 0);
    wait_in_flight(f, 1);
    resp r = push(f, &d, &next, &next_len, 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(k.r.status, 200);
    mls_app_push_stats(f->app, &in_flight, &waits);
    assert_int_equal(in_flight, 0);
    if (!gap) {
      assert_int_equal(r.status, 200);
      ProtobufCMessage *m = NULL;
      assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_PUSH_RESPONSE, r.body, r.len), 0);
      Mentorlog__V1__PushResponse *pr = (Mentorlog__V1__PushResponse *)m;
      assert_int_equal(pr->results[0]->log_index, size0 + 256); /* after all of k */
      mlproto_msg_free(m);
      assert_int_equal(current_sth(f).size, size0 + 257);
      if (round >= DEFAULT_PAIRS) overtaken = waits > wait0;
    } else {
      assert_string_equal(r.name, "SEQ_GAP");
      assert_int_equal(current_sth(f).size, size0 + 256);
    }
    resp_free(&r);
    resp_free(&k.r);
    mlproto_free(next);
    free_envs(k.envs, k.n);
    f->now += 10000; /* under the per-device request rate */
  }
  assert_true(overtaken);
  assert_true(pairs >= DEFAULT_PAIRS + 2); /* the second gap pair ran too */
  /* A gap inside a batch is the batch's own fault: SEQ_GAP at once, no
   * wait, even after an identical resend and while another push of the
   * device is in flight (k is still being verified: verify_first). */
  {
    size_t rl;
    uint8_t *resent = sim_record(&d, MLPROTO_KIND_NOTE, c1, &rl);
    resp r0 = push(f, &d, &resent, &rl, 1);
    assert_int_equal(r0.status, 200);
    resp_free(&r0);
    f->now += 10000;
    batch_job k = {.f = f, .d = &d, .n = 256};
    for (size_t i = 0; i < k.n; i++) k.envs[i] = sim_record(&d, MLPROTO_KIND_NOTE, c1, &k.lens[i]);
    uint8_t *two[2], h[32];
    size_t two_len[2];
    two[0] = resent;
    two_len[0] = rl;
    two[1] = sim_record_at(&d, MLPROTO_KIND_NOTE, c1, d.seq + 2, d.head, &two_len[1], h);
    uint64_t w0, w1;
    unsigned fl;
    mls_app_push_stats(f->app, &fl, &w0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, batch_thread, &k), 0);
    wait_in_flight(f, 1);
    resp r1 = push(f, &d, two, two_len, 2);
    assert_string_equal(r1.name, "SEQ_GAP");
    mls_app_push_stats(f->app, &fl, &w1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(k.r.status, 200);
    assert_int_equal(w1, w0);
    resp_free(&r1);
    resp_free(&k.r);
    free_envs(k.envs, k.n);
    free_envs(two, 2);
    f->now += 10000;
  }
  /* The waits are in /metrics, and nothing is left in flight. */
  unsigned in_flight;
  uint64_t waits;
  mls_app_push_stats(f->app, &in_flight, &waits);
  assert_true(waits > 0);
  char *txt = scrape_metrics(f);
  expect_sample(txt, "mentorlog_push_order_waits_total", waits);
  expect_sample(txt, "mentorlog_pushes_in_flight", 0);
  free(txt);
  sim_dev_free(&d);
}

/* Item 5: u64 query parameters are strict and at most INT64_MAX. */
static void test_query_strict(void **state) {
  fx *f = *state;
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  static const struct { const char *q; int status; } pulls[] = {
    {"since=9223372036854775807", 200}, {"since=9223372036854775808", 400},
    {"since=18446744073709551615", 400}, {"since=0", 200}, {"since=007", 400},
    {"since=-1", 400}, {"since=", 400}, {"limit=00", 400}, {"since=1%30", 400},
  };
  for (size_t i = 0; i < sizeof pulls / sizeof pulls[0]; i++) {
    resp r = call(f, "GET", "/v1/pull", pulls[i].q, NULL, 0, d.token, NULL);
    if (r.status != pulls[i].status) fail_msg("pull?%s: %d", pulls[i].q, r.status);
    if (r.status == 400) assert_string_equal(r.name, "BAD_QUERY");
    resp_free(&r);
  }
  resp r = call(f, "GET", "/v1/log/proof/inclusion", "index=9223372036854775808&size=1", NULL, 0,
                NULL, NULL);
  assert_string_equal(r.name, "BAD_QUERY");
  resp_free(&r);
  r = call(f, "GET", "/v1/log/proof/consistency", "first=01", NULL, 0, NULL, NULL);
  assert_string_equal(r.name, "BAD_QUERY");
  resp_free(&r);
  sim_dev_free(&d);
}

static void enroll_ids(const resp *r, uint8_t dev[16], uint8_t mentor[16], uint8_t spub[32]) {
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_ENROLL_RESPONSE, r->body, r->len), 0);
  Mentorlog__V1__EnrollResponse *er = (Mentorlog__V1__EnrollResponse *)m;
  memcpy(dev, er->device_id.data, 16);
  memcpy(mentor, er->mentor_id.data, 16);
  memcpy(spub, er->server_pub.data, 32);
  mlproto_msg_free(m);
}

/* Item 6: a retried enrolment (same code, same keys) gets the first answer. */
static void test_enrol_retry(void **state) {
  fx *f = *state;
  sim_dev d, other;
  sim_dev_init(&d);
  sim_dev_init(&other);
  char code[64];
  get_code(f, f->mentor_a, code);
  resp r1 = enroll(f, &d, code);
  assert_int_equal(r1.status, 200);
  uint64_t size = current_sth(f).size;
  f->now += 5000;
  resp r2 = enroll(f, &d, code);
  assert_int_equal(r2.status, 200);
  uint8_t d1[16], m1[16], s1[32], d2[16], m2[16], s2[32];
  enroll_ids(&r1, d1, m1, s1);
  enroll_ids(&r2, d2, m2, s2);
  assert_memory_equal(d1, d2, 16);
  assert_memory_equal(m1, m2, 16);
  assert_memory_equal(s1, s2, 32);
  assert_int_equal(current_sth(f).size, size); /* nothing logged twice */
  resp_free(&r1);
  resp_free(&r2);
  /* another device with the used code stays refused */
  resp r = enroll(f, &other, code);
  assert_string_equal(r.name, "ENROLL_CODE_INVALID");
  resp_free(&r);
  /* the device enrolled through a code it did not use: not a retry */
  char code2[64];
  get_code(f, f->mentor_a, code2);
  r = enroll(f, &other, code2);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  r = enroll(f, &d, code2);
  assert_string_equal(r.name, "ENROLL_CODE_INVALID");
  resp_free(&r);
  sim_dev_free(&d);
  sim_dev_free(&other);
}

/* Item 8: codes are read as Crockford base32 reads them. */
static void test_enrol_crockford(void **state) {
  fx *f = *state;
  char code[64];
  int found = 0;
  for (int i = 0; i < 40 && !found; i++) {
    get_code(f, f->mentor_a, code);
    found = strpbrk(code, "01") != NULL;
  }
  assert_true(found);
  /* o for 0, I or l for 1, lower case, without dashes (spaces never reach
   * the server: the wire decoder allows [A-Za-z0-9._-] in a code) */
  int one = 0;
  char typed[64];
  size_t n = 0;
  for (char *p = code; *p; p++) {
    char ch = *p;
    if (ch == '-') continue;
    if (ch == '0') ch = 'o';
    else if (ch == '1') ch = (one++ % 2) ? 'I' : 'l';
    else if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
    typed[n++] = ch;
  }
  typed[n] = 0;
  strcpy(code, typed);
  sim_dev d;
  sim_dev_init(&d);
  resp r = enroll(f, &d, code);
  if (r.status != 200) fail_msg("'%s': %d %s", code, r.status, r.name);
  resp_free(&r);
  /* a symbol outside the alphabet is no code at all */
  sim_dev e;
  sim_dev_init(&e);
  get_code(f, f->mentor_a, code);
  code[0] = 'U';
  r = enroll(f, &e, code);
  assert_string_equal(r.name, "ENROLL_CODE_INVALID");
  resp_free(&r);
  sim_dev_free(&d);
  sim_dev_free(&e);
}


/* Pushes n records (a CASE_OPEN, then NOTEs) in batches of up to 256. */
static void push_many(fx *f, sim_dev *d, size_t n) {
  uint8_t c[16];
  mlproto_random_id(c);
  for (size_t done = 0; done < n;) {
    uint8_t *envs[256];
    size_t lens[256], k = 0;
    for (; k < 256 && done + k < n; k++)
      envs[k] = sim_record(d, done + k == 0 ? MLPROTO_KIND_CASE_OPEN : MLPROTO_KIND_NOTE, c, &lens[k]);
    resp r = push(f, d, envs, lens, k);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    free_envs(envs, k);
    done += k;
    f->now += 1000; /* under the per-device request rate */
  }
}

/* The leaf hash at index idx, read from the store (its contract). */
static void stored_leaf(fx *f, uint64_t idx, uint8_t leaf[32]) { t_leaf_hash(f->store, idx, leaf); }

/* GET /v1/log/proof/inclusion?hash=leaf: status; on 200 the index it names
 * is want and the proof verifies against the current tree head. */
static int proof_by_hash(fx *f, const uint8_t leaf[32], uint64_t want) {
  char hex[65], q[80];
  mlproto_hex_encode(hex, leaf, 32);
  snprintf(q, sizeof q, "hash=%s", hex);
  mlproto_sth sth = current_sth(f);
  resp r = call(f, "GET", "/v1/log/proof/inclusion", q, NULL, 0, NULL, NULL);
  int status = r.status;
  if (status == 200) {
    ProtobufCMessage *pm = NULL;
    assert_int_equal(mlproto_msg_unpack(&pm, MLPROTO_MSG_INCLUSION_PROOF, r.body, r.len), 0);
    Mentorlog__V1__InclusionProof *ip = (Mentorlog__V1__InclusionProof *)pm;
    assert_int_equal(ip->leaf_index, want);
    assert_int_equal(ip->tree_size, sth.size);
    uint8_t proof[64][32];
    for (size_t k = 0; k < ip->n_hashes; k++) memcpy(proof[k], ip->hashes[k].data, 32);
    assert_int_equal(mlproto_merkle_verify_inclusion(leaf, want, sth.size, (const uint8_t(*)[32])proof,
                                                     ip->n_hashes, sth.root),
                     MLPROTO_OK);
    mlproto_msg_free(pm);
  } else {
    assert_string_equal(r.name, "NOT_FOUND");
  }
  resp_free(&r);
  return status;
}

/* Proofs by leaf hash over a log of 9,001 leaves (SQLite files them in
 * leaf_index epochs of 4,096: the leaves on both sides of each border are
 * asked for), and an unknown hash, even one sharing a leaf's first bytes,
 * is NOT_FOUND. */
static void test_proof_by_hash(void **state) {
  fx *f = *state;
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  push_many(f, &d, 9000); /* leaves 0 (DEVICE_ENROLLED) .. 9000 */
  assert_int_equal(mls_app_log_size(f->app), 9001);
  const uint64_t at[] = {0, 1, 4095, 4096, 4097, 8191, 8192, 9000};
  uint8_t leaf[32];
  for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
    stored_leaf(f, at[i], leaf);
    assert_int_equal(proof_by_hash(f, leaf, at[i]), 200);
  }
  stored_leaf(f, 5000, leaf);
  leaf[31] ^= 1; /* same prefix, another hash */
  assert_int_equal(proof_by_hash(f, leaf, 0), 404);
  memset(leaf, 0x5a, sizeof leaf);
  assert_int_equal(proof_by_hash(f, leaf, 0), 404);
  sim_dev_free(&d);
}

/* SQLite's leaf_index: every epoch (4,096 leaves) is searched, the
 * checkpointer thread moves the WAL into the database file, and a
 * matching 8-byte prefix filed under another index finds nothing. */
static void test_proof_by_hash_leaf_index(void **state) {
  sqlite_only("SQLite's leaf_index table, its epochs and its WAL checkpoints");
  fx *f = *state;
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  push_many(f, &d, 9000); /* leaves 0 (DEVICE_ENROLLED) .. 9000 */
  assert_int_equal(mls_app_log_size(f->app), 9001);
  assert_int_equal(db_int(f, "SELECT count(*) FROM leaf_index"), 9001);
  assert_int_equal(db_int(f, "SELECT max(epoch) FROM leaf_index"), 2);
  /* Checkpoints run on the store's own thread (writers do none): what the
   * 9,000 records wrote reaches the database file (~8 MB in all), not only
   * the WAL. The thread runs on its own time (slowly under valgrind), so
   * this waits for it, up to 60 s. */
  char path[128];
  snprintf(path, sizeof path, "%s/server.db", f->dir);
  struct stat dbf = {0};
  for (int i = 0; i < 1200 && (stat(path, &dbf) != 0 || dbf.st_size <= 4 * 1024 * 1024); i++)
    usleep(50 * 1000);
  assert_true(dbf.st_size > 4 * 1024 * 1024);
  uint8_t leaf[32];
  /* a decoy: leaf 5000's prefix filed under index 3 in epoch 0 */
  stored_leaf(f, 5000, leaf);
  char sql[160], hex[17];
  mlproto_hex_encode(hex, leaf, 8);
  snprintf(sql, sizeof sql, "INSERT INTO leaf_index VALUES(0, X'%s', 3)", hex);
  db_exec(f, sql);
  assert_int_equal(proof_by_hash(f, leaf, 5000), 200);
  leaf[31] ^= 1; /* same prefix, another hash */
  assert_int_equal(proof_by_hash(f, leaf, 0), 404);
  sim_dev_free(&d);
}

/* The sessions table of versions 1..6 (and the challenges table of
 * versions 2..6 is created by the caller, who knows which). */
#define SESSIONS_V6                                                                   \
  "DROP INDEX sessions_by_challenge; DROP INDEX sessions_by_expiry;"                  \
  "ALTER TABLE sessions DROP COLUMN challenge;"
#define CHALLENGES_V6                                                                 \
  "CREATE TABLE challenges(challenge BLOB PRIMARY KEY, expires_ms INTEGER NOT NULL,"  \
  " peer BLOB NOT NULL) WITHOUT ROWID;"                                               \
  "CREATE INDEX challenges_by_peer ON challenges(peer, expires_ms);"                  \
  "CREATE INDEX challenges_by_expiry ON challenges(expires_ms);"

/* Item 9: a store of a newer version is refused; an older one migrated. */
static void test_store_versions(void **state) {
  sqlite_only("migrations from SQLite layouts of versions 1 and 99 (PRAGMA user_version, sqlite_master)");
  fx *f = *state;
  sim_dev d0;
  device_up(f, &d0, f->mentor_a);
  push_many(f, &d0, 20);
  sim_dev_free(&d0);
  mls_app_close(f->app);
  f->app = NULL;
  db_exec(f, "PRAGMA user_version=99");
  mls_app *app = NULL;
  assert_int_equal(mls_app_open(&app, &(mls_app_config){.data_dir = f->dir, .store_uri = f->store,
                                                        .create = 1}),
                   MLPROTO_ERR_STORE_TOO_NEW);
  assert_null(app);
  assert_int_equal(db_int(f, "PRAGMA user_version"), 99); /* untouched */
  /* the admin command refuses it too */
  char out[64];
  assert_int_equal(admin(f, out, sizeof out, "mentor", "add", "Cy", NULL), 1);
  /* rebuild the version-1 layout, then open: migrated to the current one */
  db_exec(f, SESSIONS_V6
             "DROP INDEX enroll_codes_by_id; ALTER TABLE enroll_codes DROP COLUMN id;"
             "ALTER TABLE enroll_codes DROP COLUMN revoked_ms;"
             "ALTER TABLE enroll_codes DROP COLUMN used_by;"
             "CREATE TABLE challenges(challenge BLOB PRIMARY KEY, expires_ms INTEGER NOT NULL)"
             " WITHOUT ROWID; DROP TABLE leaf_index;"
             "CREATE INDEX nodes_leaf ON nodes(hash) WHERE level = 0;"
             "DROP TABLE case_jobcentres; DROP INDEX log_by_case;"
             "ALTER TABLE cases DROP COLUMN erased_ms; PRAGMA user_version=1");
  fx_open(f);
  assert_int_equal(db_int(f, "PRAGMA user_version"), 7);
  /* version 7: no challenges table; sessions keep their challenge */
  assert_int_equal(db_int(f, "SELECT count(*) FROM sqlite_master WHERE name = 'challenges'"), 0);
  assert_int_equal(db_int(f, "SELECT count(*) FROM sqlite_master WHERE name IN"
                             " ('sessions_by_challenge', 'sessions_by_expiry')"), 2);
  /* version 6: cases.erased_ms, NULL (not erased) for the cases there were */
  assert_int_equal(db_int(f, "SELECT count(*) FROM pragma_table_info('cases')"
                             " WHERE name = 'erased_ms'"), 1);
  assert_int_equal(db_int(f, "SELECT count(*) FROM cases WHERE erased_ms IS NOT NULL"), 0);
  /* version 5: the grant index exists, and the application filled it at open */
  assert_int_equal(db_int(f, "SELECT count(*) FROM sqlite_master WHERE name = 'log_by_case'"), 1);
  assert_int_equal(db_int(f, "SELECT count(*) FROM meta WHERE key = 'jobcentre_index'"
                             " AND value = CAST('done' AS BLOB)"), 1);
  assert_int_equal(db_int(f, "SELECT count(*) FROM pragma_table_info('enroll_codes')"
                             " WHERE name = 'used_by'"), 1);
  /* version 4: the code used above got an id */
  assert_int_equal(db_int(f, "SELECT count(*) FROM enroll_codes WHERE length(id) = 8"), 1);
  /* version 3: every leaf is in leaf_index, the hash index is gone */
  assert_int_equal(db_int(f, "SELECT count(*) FROM sqlite_master WHERE name = 'nodes_leaf'"), 0);
  assert_int_equal(db_int(f, "SELECT count(*) FROM leaf_index"), 21); /* an enrolment + 20 */
  assert_int_equal(db_int(f, "SELECT count(*) FROM leaf_index l JOIN nodes n ON n.level = 0"
                             " AND n.idx = l.idx AND substr(n.hash, 1, 8) = l.prefix"
                             " AND l.epoch = l.idx >> 12"), 21);
  uint8_t leaf[32];
  stored_leaf(f, 17, leaf);
  assert_int_equal(proof_by_hash(f, leaf, 17), 200);
  sim_dev d;
  device_up(f, &d, f->mentor_a); /* enrolment and sessions work on the migrated store */
  sim_dev_free(&d);
}

/* How often needle occurs in hay. */
static int count_str(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

/* Store version 3 -> 4: codes issued before ids existed get distinct
 * random ids; the unused ones still enrol, and can be listed and revoked. */
static void test_store_v3_codes(void **state) {
  sqlite_only("the migration of a SQLite store of version 3 (enroll_codes without ids)");
  fx *f = *state;
  char c1[64], c2[64], c3[64];
  get_code(f, f->mentor_a, c1);
  get_code(f, f->mentor_a, c2);
  get_code(f, f->mentor_b, c3);
  mls_app_close(f->app);
  f->app = NULL;
  /* the version-3 layout of enroll_codes (and of cases: no erased_ms) */
  db_exec(f, SESSIONS_V6 CHALLENGES_V6
             "DROP INDEX enroll_codes_by_id; ALTER TABLE enroll_codes DROP COLUMN id;"
             "ALTER TABLE enroll_codes DROP COLUMN revoked_ms;"
             "ALTER TABLE cases DROP COLUMN erased_ms; PRAGMA user_version=3");
  fx_open(f);
  assert_int_equal(db_int(f, "PRAGMA user_version"), 7);
  assert_int_equal(db_int(f, "SELECT count(DISTINCT id) FROM enroll_codes WHERE length(id) = 8"), 3);
  assert_int_equal(db_int(f, "SELECT count(*) FROM enroll_codes WHERE revoked_ms IS NOT NULL"), 0);
  assert_int_equal(db_int(f, "SELECT count(*) FROM sqlite_master WHERE name = 'enroll_codes_by_id'"), 1);
  /* ids stay unique after the migration too */
  sqlite3 *db = db_open(f);
  assert_int_equal(sqlite3_exec(db, "UPDATE enroll_codes SET id = (SELECT min(id) FROM enroll_codes)",
                                NULL, NULL, NULL), SQLITE_CONSTRAINT);
  sqlite3_close(db);
  char out[4096];
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "list", NULL, NULL), 0);
  assert_int_equal(count_str(out, "  active"), 3);
  /* revoke c1 by its id: refused at enrolment; c2 and c3 still enrol */
  db = db_open(f);
  sqlite3_stmt *st = db_row(db, "SELECT hex(id) FROM enroll_codes WHERE rowid = 1"); /* c1 */
  char id[17];
  snprintf(id, sizeof id, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "revoke", id, NULL), 0); /* upper-case hex */
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "list", NULL, NULL), 0);
  assert_int_equal(count_str(out, "  active"), 2);
  sim_dev d, e;
  sim_dev_init(&d);
  sim_dev_init(&e);
  assert_int_equal(db_int(f, "SELECT count(*) FROM enroll_codes WHERE revoked_ms IS NOT NULL"
                             " AND rowid = 1"), 1);
  resp r = enroll(f, &d, c1);
  assert_string_equal(r.name, "ENROLL_CODE_INVALID");
  resp_free(&r);
  r = enroll(f, &d, c2);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  r = enroll(f, &e, c3);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  sim_dev_free(&d);
  sim_dev_free(&e);
}

/* enroll-code revoke ID: a prefix of 4+ digits names one code, or is
 * AMBIGUOUS_PREFIX; a used code is not revoked (its device is); list hides
 * used, expired and revoked codes unless --all. */
static void test_enroll_code_admin(void **state) {
  fx *f = *state;
  /* the conformance suite (test_store) runs code_list, code_get and
   * code_revoke on both backends; this test needs fixed ids */
  sqlite_only("fixes the codes' ids through SQLite's rowid to test id prefixes");
  char c1[64], c2[64], c3[64], out[8192];
  get_code(f, f->mentor_a, c1);
  get_code(f, f->mentor_a, c2);
  assert_int_equal(admin(f, c3, sizeof c3, "enroll-code", f->mentor_b, "--ttl", "1s"), 0);
  /* fixed ids, so that prefixes can be tested */
  assert_int_equal(db_int(f, "SELECT max(rowid) FROM enroll_codes"), 3); /* c1, c2, c3 */
  db_exec(f, "UPDATE enroll_codes SET id = X'abcd000000000001' WHERE rowid = 1;"
             "UPDATE enroll_codes SET id = X'abcd000000000002' WHERE rowid = 2;"
             "UPDATE enroll_codes SET id = X'ef00000000000003' WHERE rowid = 3");
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "revoke", "abcd", NULL), 1); /* ambiguous */
  assert_int_equal(db_int(f, "SELECT count(*) FROM enroll_codes WHERE revoked_ms IS NOT NULL"), 0);
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "revoke", "abc", NULL), 2); /* too short */
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "revoke", "abcd0g", NULL), 2);
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "revoke", "0123", NULL), 1); /* unknown */
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "revoke", "abcd000000000002", NULL), 0);
  assert_string_equal(out, "revoked code abcd000000000002");
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "revoke", "ABCD000000000002", NULL), 1);
  /* now "abcd" names one unrevoked code, but a prefix still matches every
   * code, revoked ones too: ambiguous */
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "revoke", "abcd", NULL), 1);
  sim_dev d, e;
  sim_dev_init(&d);
  sim_dev_init(&e);
  resp r = enroll(f, &d, c2);
  assert_string_equal(r.name, "ENROLL_CODE_INVALID");
  resp_free(&r);
  r = enroll(f, &d, c1);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  /* used: not revoked, and its retried enrolment still gets its answer */
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "revoke", "abcd000000000001", NULL), 1);
  assert_int_equal(db_int(f, "SELECT count(*) FROM enroll_codes WHERE revoked_ms IS NOT NULL"), 1);
  r = enroll(f, &d, c1);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  /* the 1 s code expires; list shows none of them, --all every one */
  usleep(1100 * 1000);
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "list", NULL, NULL), 0);
  assert_null(strchr(out, '\n')); /* the header only */
  assert_non_null(strstr(out, "CODE ID"));
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "list", "--json", NULL), 0);
  assert_string_equal(out, "[]");
  assert_int_equal(admin(f, out, sizeof out, "enroll-code", "list", "--all", NULL), 0);
  assert_non_null(strstr(out, "abcd000000000001"));
  assert_non_null(strstr(out, "  used     "));
  assert_non_null(strstr(out, "abcd000000000002"));
  assert_non_null(strstr(out, "  revoked"));
  assert_non_null(strstr(out, "ef00000000000003"));
  assert_non_null(strstr(out, "  expired"));
  assert_non_null(strstr(out, f->mentor_b));
  /* no code, with or without its dashes, in any listing */
  const char *codes[] = {c1, c2, c3};
  char all[8192];
  assert_int_equal(admin(f, all, sizeof all, "enroll-code", "list", "--all", "--json"), 0);
  for (int i = 0; i < 3; i++) {
    char bare[32];
    size_t n = 0;
    for (const char *p = codes[i]; *p; p++)
      if (*p != '-') bare[n++] = *p;
    bare[n] = 0;
    assert_null(strstr(out, codes[i]));
    assert_null(strstr(all, codes[i]));
    assert_null(strstr(all, bare));
  }
  sim_dev_free(&d);
  sim_dev_free(&e);
}

/* ------------------------------------ stateless challenges (issue 12) --- */

static uint64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

/* GET /v1/session/challenge at app: 200, the challenge and its expiry. */
static void get_challenge(fx *f, mls_app *app, const char *peer, uint8_t ch[32],
                          uint64_t *expires) {
  resp r = call_at(f, app, "GET", "/v1/session/challenge", NULL, NULL, 0, NULL, peer);
  if (r.status != 200) fail_msg("challenge: %d %s", r.status, r.name);
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_CHALLENGE_RESPONSE, r.body, r.len), 0);
  Mentorlog__V1__ChallengeResponse *c = (Mentorlog__V1__ChallengeResponse *)m;
  assert_int_equal(c->challenge.len, 32);
  memcpy(ch, c->challenge.data, 32);
  if (expires) *expires = c->expires_ms;
  mlproto_msg_free(m);
  resp_free(&r);
}

/* The SessionRequest body of d answering ch (signed by d over ch as given). */
static uint8_t *answer_body(sim_dev *d, const uint8_t ch[32], size_t *len) {
  Mentorlog__V1__ChallengeResponse cr = MENTORLOG__V1__CHALLENGE_RESPONSE__INIT;
  cr.challenge = (ProtobufCBinaryData){32, (uint8_t *)ch};
  uint8_t *packed = NULL;
  size_t pl = 0;
  assert_int_equal(mlproto_msg_pack(&packed, &pl, &cr.base), 0);
  uint8_t *b = sim_session_body(d, packed, pl, len);
  mlproto_free(packed);
  assert_non_null(b);
  return b;
}

/* POST /v1/session at app; a 200's token goes to d. */
static resp answer_at(fx *f, mls_app *app, sim_dev *d, const uint8_t *body, size_t len,
                      const char *peer) {
  resp r = call_at(f, app, "POST", "/v1/session", NULL, body, len, NULL, peer);
  if (r.status == 200) assert_int_equal(sim_take_token(d, r.body, r.len), 0);
  return r;
}

/* Asserts the answer's status and error name ("" for a 200). */
static void expect(resp r, int status, const char *name, const char *what) {
  if (r.status != status || strcmp(r.name, name) != 0)
    fail_msg("%s: %d %s, want %d %s", what, r.status, r.name, status, name);
  resp_free(&r);
}

/* Issued and answered at one instance: the challenge as the wire carries
 * it, one session per challenge, a failed answer spends it too, the
 * expiry to the millisecond, and every byte tampered with refused. */
static void test_challenge_one_instance(void **state) {
  fx *f = *state;
  sim_dev d, stranger;
  device_up(f, &d, f->mentor_a);
  sim_dev_init(&stranger);
  /* 32 bytes: version 1, 7 random bytes, the expiry, the tag */
  uint8_t ch[32], ch2[32];
  uint64_t exp = 0, exp2 = 0;
  get_challenge(f, f->app, "192.0.2.1", ch, &exp);
  assert_int_equal(exp, f->now + 60000);
  assert_int_equal(ch[0], 1);
  assert_int_equal(be64(ch + 8), exp);
  get_challenge(f, f->app, "192.0.2.1", ch2, &exp2);
  assert_int_equal(exp2, exp);
  assert_memory_not_equal(ch + 1, ch2 + 1, 7);
  /* answered once; the same answer again is refused */
  size_t len;
  uint8_t *b = answer_body(&d, ch, &len);
  expect(answer_at(f, f->app, &d, b, len, "192.0.2.1"), 200, "", "first answer");
  resp p = call(f, "GET", "/v1/pull", "", NULL, 0, d.token, NULL);
  assert_int_equal(p.status, 200);
  resp_free(&p);
  expect(answer_at(f, f->app, &d, b, len, "192.0.2.1"), 401, "CHALLENGE_INVALID", "replay");
  free(b);
  /* a failed answer (a key the server does not know) spends the challenge
   * as well: no row was written, only this instance's memory refuses it */
  int64_t rows = store_int(f, "SELECT count(*) FROM sessions");
  b = answer_body(&stranger, ch2, &len);
  expect(answer_at(f, f->app, &stranger, b, len, "192.0.2.2"), 401, "UNAUTHENTICATED", "stranger");
  expect(answer_at(f, f->app, &stranger, b, len, "192.0.2.2"), 401, "CHALLENGE_INVALID",
         "stranger again");
  free(b);
  assert_int_equal(store_int(f, "SELECT count(*) FROM sessions"), rows);
  /* valid until the millisecond before expires_ms */
  uint64_t t = f->now;
  get_challenge(f, f->app, "192.0.2.1", ch, &exp);
  get_challenge(f, f->app, "192.0.2.1", ch2, &exp2);
  f->now = exp - 1;
  b = answer_body(&d, ch, &len);
  expect(answer_at(f, f->app, &d, b, len, "192.0.2.1"), 200, "", "just in time");
  free(b);
  f->now = exp2;
  b = answer_body(&d, ch2, &len);
  expect(answer_at(f, f->app, &d, b, len, "192.0.2.1"), 401, "CHALLENGE_INVALID", "expired");
  free(b);
  /* an expired challenge is refused however it is answered, later too */
  f->now = t + 3600 * 1000;
  b = answer_body(&d, ch2, &len);
  expect(answer_at(f, f->app, &d, b, len, "192.0.2.1"), 401, "CHALLENGE_INVALID", "long expired");
  free(b);
  /* each byte changed (and signed so by the device itself): refused */
  for (int i = 0; i < 32; i++) {
    char peer[32];
    snprintf(peer, sizeof peer, "198.51.100.%d", i + 1);
    if (i % 2 == 0) { /* a good session resets the device's failure count */
      f->now += 100;
      resp r = session(f, &d, peer);
      assert_int_equal(r.status, 200);
      resp_free(&r);
    }
    for (int v = 0; v < 2; v++) {
      f->now += 100;
      get_challenge(f, f->app, peer, ch, &exp);
      ch[i] ^= v ? 0x80 : 0x01;
      b = answer_body(&d, ch, &len);
      resp r = answer_at(f, f->app, &d, b, len, peer);
      free(b);
      if (r.status != 401 || strcmp(r.name, "CHALLENGE_INVALID") != 0)
        fail_msg("byte %d ^ 0x%02x: %d %s", i, v ? 0x80 : 0x01, r.status, r.name);
      resp_free(&r);
    }
  }
  sim_dev_free(&d);
  sim_dev_free(&stranger);
}

/* A second instance opened on the same data directory (the same store),
 * as instances behind a load balancer: each answers what the other
 * issued; a challenge opens one session, whichever instance it is
 * answered at; another store's instance refuses them. */
static void test_challenge_cross_instance(void **state) {
  fx *f = *state;
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  mls_app *b = NULL;
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .create = 1};
  assert_int_equal(mls_app_open(&b, &cfg), MLPROTO_OK);
  assert_int_equal(store_int(f, "SELECT count(*) FROM meta WHERE key = 'challenge_key'"), 1);
  /* issued at A, answered at B; the token works at A */
  uint8_t ch[32];
  size_t len;
  get_challenge(f, f->app, "192.0.2.10", ch, NULL);
  uint8_t *body = answer_body(&d, ch, &len);
  expect(answer_at(f, b, &d, body, len, "192.0.2.11"), 200, "", "A's challenge at B");
  resp p = call(f, "GET", "/v1/pull", "", NULL, 0, d.token, NULL);
  assert_int_equal(p.status, 200);
  resp_free(&p);
  /* the same answer at A, whose memory never saw it: the store refuses a
   * second session from that challenge; at B, its memory does */
  expect(answer_at(f, f->app, &d, body, len, "192.0.2.12"), 401, "CHALLENGE_INVALID",
         "replay at A");
  expect(answer_at(f, b, &d, body, len, "192.0.2.13"), 401, "CHALLENGE_INVALID", "replay at B");
  char sql[160], hex[65];
  mlproto_hex_encode(hex, ch, 32);
  if (test_store_is_pg())
    snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions WHERE challenge = '\\x%s'::bytea", hex);
  else
    snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions WHERE challenge = X'%s'", hex);
  assert_int_equal(store_int(f, sql), 1);
  free(body);
  /* the other way round */
  get_challenge(f, b, "192.0.2.14", ch, NULL);
  body = answer_body(&d, ch, &len);
  expect(answer_at(f, f->app, &d, body, len, "192.0.2.15"), 200, "", "B's challenge at A");
  expect(answer_at(f, b, &d, body, len, "192.0.2.16"), 401, "CHALLENGE_INVALID", "replay at B");
  free(body);
  /* B restarted: still the same key (created once) */
  mls_app_close(b);
  assert_int_equal(mls_app_open(&b, &cfg), MLPROTO_OK);
  get_challenge(f, f->app, "192.0.2.17", ch, NULL);
  body = answer_body(&d, ch, &len);
  expect(answer_at(f, b, &d, body, len, "192.0.2.17"), 200, "", "after B's restart");
  free(body);
  assert_int_equal(store_int(f, "SELECT count(*) FROM meta WHERE key = 'challenge_key'"), 1);
  /* an instance of another store has another key */
  char other[64];
  strcpy(other, "/tmp/mls-test-XXXXXX");
  assert_non_null(mkdtemp(other));
  mls_app *c = NULL;
  char other_store[TEST_STORE_URI_CAP];
  assert_int_equal(test_store_uri(other_store, sizeof other_store, other), 0);
  mls_app_config ocfg = {.data_dir = other, .store_uri = other_store, .create = 1};
  assert_int_equal(mls_app_open(&c, &ocfg), MLPROTO_OK);
  get_challenge(f, f->app, "192.0.2.18", ch, NULL);
  body = answer_body(&d, ch, &len);
  expect(answer_at(f, c, &d, body, len, "192.0.2.18"), 401, "CHALLENGE_INVALID", "at another store");
  free(body);
  get_challenge(f, c, "192.0.2.19", ch, NULL);
  body = answer_body(&d, ch, &len);
  expect(answer_at(f, f->app, &d, body, len, "192.0.2.19"), 401, "CHALLENGE_INVALID",
         "another store's");
  free(body);
  mls_app_close(c);
  assert_int_equal(test_store_drop(other_store), 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", other);
  assert_int_equal(system(cmd), 0);
  mls_app_close(b);
  sim_dev_free(&d);
}

static int64_t data_version(sqlite3 *db) {
  sqlite3_stmt *st = db_row(db, "PRAGMA data_version");
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

static off_t file_size(fx *f, const char *name) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", f->dir, name);
  struct stat sb;
  return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* GET /v1/session/challenge writes nothing and takes no writer lock: the
 * database's data_version (which moves with every commit of another
 * connection) and its files stay as they were, and challenges are issued
 * at once while another connection holds the writer lock. */
static void test_challenge_no_store_write(void **state) {
  fx *f = *state;
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  int pg = test_store_is_pg();
  sqlite3 *db = pg ? NULL : db_open(f);
  int64_t v0 = pg ? 0 : data_version(db);
  off_t db0 = pg ? 0 : file_size(f, "server.db"), wal0 = pg ? 0 : file_size(f, "server.db-wal");
  /* PostgreSQL has no per-database commit counter a test can read alone
   * (other tests share the cluster): the rows of every table a challenge
   * could touch are counted instead */
  const char *count_sql = "SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM meta)"
                          " + (SELECT count(*) FROM log)";
  int64_t rows0 = store_int(f, count_sql);
  uint8_t ch[32];
  for (int i = 0; i < 50; i++) {
    char peer[32];
    snprintf(peer, sizeof peer, "203.0.113.%d", i + 1);
    get_challenge(f, f->app, peer, ch, NULL);
  }
  assert_int_equal(store_int(f, count_sql), rows0);
  if (!pg) {
    assert_int_equal(data_version(db), v0);
    assert_int_equal(file_size(f, "server.db"), db0);
    assert_int_equal(file_size(f, "server.db-wal"), wal0);
  } else {
    print_message("PostgreSQL: rows counted; SQLite's data_version and file sizes not checked\n");
  }
  /* another process holds the writer lock (a write transaction of a second
   * opening of the store; the app's busy timeout is 5 s) */
  mls_store *other = t_store_open(f->store);
  mls_txn *held = NULL;
  assert_int_equal(mls_store_begin(other, MLS_TXN_WRITE, &held), MLPROTO_OK);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  get_challenge(f, f->app, "203.0.113.200", ch, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  mls_store_rollback(held);
  mls_store_close(other);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  if (ms > 2500) fail_msg("a challenge waited %.0f ms for the writer lock", ms);
  /* the control: answering it writes (the session), and the test sees that */
  size_t len;
  uint8_t *b = answer_body(&d, ch, &len);
  expect(answer_at(f, f->app, &d, b, len, "203.0.113.200"), 200, "", "answer");
  free(b);
  assert_true(store_int(f, count_sql) > rows0);
  if (!pg) {
    assert_true(data_version(db) != v0);
    sqlite3_close(db);
  }
  sim_dev_free(&d);
}

/* The spent set's bound (mls_app_config.challenge_spent_max): with room
 * for 4, a fifth answer within the challenges' life is refused 503
 * UNAVAILABLE with Retry-After until the earliest expires, nothing spent
 * is forgotten meanwhile, the refusals count as no one's failure, and
 * once the earliest expired there is room again. */
static void test_challenge_spent_bound(void **state) {
  fx *f = *state;
  mls_app_close(f->app);
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .create = 1,
                        .challenge_spent_max = 4};
  assert_int_equal(mls_app_open(&f->app, &cfg), MLPROTO_OK);
  sim_dev d;
  sim_dev_init(&d);
  char code[64];
  get_code(f, f->mentor_a, code);
  resp r = enroll(f, &d, code);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  uint8_t ch[32];
  uint64_t first_exp = 0, exp;
  uint8_t *first = NULL;
  size_t first_len = 0, len;
  for (int i = 0; i < 4; i++) {
    f->now += 1000;
    get_challenge(f, f->app, "192.0.2.30", ch, &exp);
    uint8_t *b = answer_body(&d, ch, &len);
    expect(answer_at(f, f->app, &d, b, len, "192.0.2.30"), 200, "", "within the bound");
    if (i == 0) {
      first = b;
      first_len = len;
      first_exp = exp;
    } else {
      free(b);
    }
  }
  f->now += 1000; /* 4 s after the first: 56 s until it expires */
  get_challenge(f, f->app, "192.0.2.30", ch, &exp);
  uint8_t *b = answer_body(&d, ch, &len);
  r = answer_at(f, f->app, &d, b, len, "192.0.2.30");
  assert_int_equal(r.status, 503);
  assert_string_equal(r.name, "UNAVAILABLE");
  assert_non_null(strstr(r.extra, "Retry-After: 56\r\n"));
  resp_free(&r);
  /* a spent one is still refused as spent, not forgotten */
  expect(answer_at(f, f->app, &d, first, first_len, "192.0.2.31"), 401, "CHALLENGE_INVALID",
         "spent, set full");
  /* 503s are nobody's failure: a dozen from one address, with the device's
   * valid signature, and neither the address (10 free) nor the device
   * (5 free) is braked */
  for (int i = 0; i < 12; i++) {
    f->now += 100;
    uint8_t c2[32];
    get_challenge(f, f->app, "192.0.2.32", c2, NULL);
    uint8_t *b2 = answer_body(&d, c2, &len);
    expect(answer_at(f, f->app, &d, b2, len, "192.0.2.32"), 503, "UNAVAILABLE", "full");
    free(b2);
  }
  /* the first one expired: room for one */
  f->now = first_exp;
  get_challenge(f, f->app, "192.0.2.32", ch, NULL);
  free(b);
  b = answer_body(&d, ch, &len);
  expect(answer_at(f, f->app, &d, b, len, "192.0.2.32"), 200, "", "after the earliest expired");
  free(b);
  free(first);
  sim_dev_free(&d);
}

/* Expired sessions are deleted a few at a time (64) where a session is
 * written anyway, and nowhere else. */
static void test_session_purge(void **state) {
  fx *f = *state;
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  for (int i = 0; i < 69; i++) {
    f->now += 100;
    resp r = session(f, &d, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
  }
  assert_int_equal(store_int(f, "SELECT count(*) FROM sessions"), 70);
  f->now += 3600 * 1000 + 1; /* every one expired */
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM sessions WHERE expires_ms <= %" PRIu64, f->now);
  assert_int_equal(store_int(f, sql), 70);
  uint8_t ch[32];
  for (int i = 0; i < 10; i++) get_challenge(f, f->app, NULL, ch, NULL);
  assert_int_equal(store_int(f, "SELECT count(*) FROM sessions"), 70);
  resp r = session(f, &d, NULL);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  assert_int_equal(store_int(f, sql), 70 - 64);
  assert_int_equal(store_int(f, "SELECT count(*) FROM sessions"), 70 - 64 + 1);
  f->now += 100;
  r = session(f, &d, NULL);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  assert_int_equal(store_int(f, sql), 0);
  assert_int_equal(store_int(f, "SELECT count(*) FROM sessions"), 2);
  sim_dev_free(&d);
}

/* Store version 6 -> 7: the challenges table goes, sessions opened before
 * keep working (their challenge unknown: NULL), new ones are unique by it. */
static void test_store_v6_sessions(void **state) {
  fx *f = *state;
  sqlite_only("the migration of a SQLite store of version 6 (sessions without challenges)");
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  mls_app_close(f->app);
  f->app = NULL;
  db_exec(f, SESSIONS_V6 CHALLENGES_V6
             "INSERT INTO challenges VALUES(randomblob(32), 1, X'34c0000201');"
             "PRAGMA user_version=6");
  assert_int_equal(db_int(f, "SELECT count(*) FROM pragma_table_info('sessions')"), 3);
  fx_open(f);
  assert_int_equal(db_int(f, "PRAGMA user_version"), 7);
  assert_int_equal(db_int(f, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'challenges%'"), 0);
  assert_int_equal(db_int(f, "SELECT count(*) FROM sessions WHERE challenge IS NULL"), 1);
  resp p = call(f, "GET", "/v1/pull", "", NULL, 0, d.token, NULL);
  assert_int_equal(p.status, 200); /* the session opened before */
  resp_free(&p);
  resp r = session(f, &d, NULL);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  assert_int_equal(db_int(f, "SELECT count(*) FROM sessions WHERE length(challenge) = 32"), 1);
  /* unique, as a fresh store's */
  sqlite3 *db = db_open(f);
  assert_int_equal(sqlite3_exec(db, "INSERT INTO sessions SELECT randomblob(32), device,"
                                    " expires_ms, challenge FROM sessions WHERE challenge IS NOT NULL",
                                NULL, NULL, NULL), SQLITE_CONSTRAINT);
  sqlite3_close(db);
  sim_dev_free(&d);
}

/* Item 12 (application half): 401 names its scheme, 405 lists the methods. */
static void test_auth_and_allow_headers(void **state) {
  fx *f = *state;
  resp r = call(f, "GET", "/v1/pull", NULL, NULL, 0, NULL, NULL);
  assert_int_equal(r.status, 401);
  assert_non_null(strstr(r.extra, "WWW-Authenticate: Bearer\r\n"));
  resp_free(&r);
  r = call(f, "GET", "/v1/pull", NULL, NULL, 0, "not-a-valid-token-at-all", NULL);
  assert_int_equal(r.status, 401);
  assert_non_null(strstr(r.extra, "WWW-Authenticate: Bearer\r\n"));
  resp_free(&r);
  r = call(f, "DELETE", "/v1/pull", NULL, NULL, 0, NULL, NULL);
  assert_int_equal(r.status, 405);
  assert_non_null(strstr(r.extra, "Allow: GET, HEAD\r\n"));
  resp_free(&r);
  r = call(f, "GET", "/v1/push", NULL, NULL, 0, NULL, NULL);
  assert_int_equal(r.status, 405);
  assert_non_null(strstr(r.extra, "Allow: POST\r\n"));
  resp_free(&r);
}

/* Item 14: /metrics shows the log size of the store, also after the admin
 * command appended (a revocation). */
static void test_metrics_log_size_fresh(void **state) {
  fx *f = *state;
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  char out[256], id[33];
  assert_int_equal(admin(f, out, sizeof out, "device", "list", "--json", NULL), 0);
  const char *p = strstr(out, "\"id\":\"");
  assert_non_null(p);
  memcpy(id, p + 6, 32);
  id[32] = 0;
  assert_int_equal(admin(f, out, sizeof out, "device", "revoke", id, NULL), 0);
  uint64_t size = current_sth(f).size;
  char *txt = scrape_metrics(f);
  expect_sample(txt, "mentorlog_log_size", size);
  /* item 15: the histogram's help says what it holds */
  assert_non_null(strstr(txt, "# HELP mentorlog_push_batch_ms Latency of an accepted push batch"));
  free(txt);
  sim_dev_free(&d);
}

/* The value of the unlabelled sample NAME in a scrape (fails when absent). */
static double sample_value(const char *txt, const char *name) {
  char want[128];
  snprintf(want, sizeof want, "\n%s ", name);
  const char *p = strstr(txt, want);
  if (!p) fail_msg("no sample %s in metrics", name);
  return strtod(p + strlen(want), NULL);
}

typedef struct push_meters {
  double pushes, total, store, lock;
} push_meters;

static push_meters push_meters_now(fx *f) {
  char *txt = scrape_metrics(f);
  push_meters m = {sample_value(txt, "mentorlog_pushes_total"),
                   sample_value(txt, "mentorlog_push_seconds_total"),
                   sample_value(txt, "mentorlog_push_store_seconds_total"),
                   sample_value(txt, "mentorlog_push_lock_wait_seconds_total")};
  free(txt);
  return m;
}

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The push time counters: an accepted batch adds one push and its time,
 * within the time the call took, of which the store's part (begin to
 * commit) and the lock wait inside it are parts; a refused batch adds
 * nothing; a push that finds the writer lock held (by a second opening of
 * the store, as `admin` would) counts that wait as lock wait. */
static void test_metrics_push_time(void **state) {
  fx *f = *state;
  sim_dev d;
  device_up(f, &d, f->mentor_a);
  uint8_t c1[16];
  mlproto_random_id(c1);
  uint8_t *envs[64];
  size_t lens[64];
  envs[0] = sim_record(&d, MLPROTO_KIND_CASE_OPEN, c1, &lens[0]);
  for (size_t i = 1; i < 64; i++) envs[i] = sim_record(&d, MLPROTO_KIND_NOTE, c1, &lens[i]);

  push_meters m0 = push_meters_now(f);
  double t0 = mono_s();
  resp r = push(f, &d, envs, lens, 64);
  double wall = mono_s() - t0;
  assert_int_equal(r.status, 200);
  resp_free(&r);
  push_meters m1 = push_meters_now(f);
  assert_true(m1.pushes == m0.pushes + 1);
  double total = m1.total - m0.total, store = m1.store - m0.store, lock = m1.lock - m0.lock;
  print_message("one batch of 64: %.6f s in the app, %.6f s in the store, %.6f s lock wait"
                " (the call: %.6f s)\n", total, store, lock, wall);
  assert_true(store > 0);
  assert_true(lock >= 0);
  assert_true(store <= total);
  assert_true(lock <= store);
  assert_true(total <= wall + 1e-6);
  /* and so do the totals, whatever other tests of this process pushed */
  assert_true(m1.store <= m1.total);
  assert_true(m1.lock <= m1.store);
  free_envs(envs, 64);
  f->now += 10000;

  /* refused (a case no one opened): not counted */
  uint8_t c2[16];
  mlproto_random_id(c2);
  size_t bl;
  uint8_t bh[32]; /* the next seq, without moving d's chain */
  uint8_t *bad = sim_record_at(&d, MLPROTO_KIND_NOTE, c2, d.seq + 1, d.head, &bl, bh);
  r = push(f, &d, &bad, &bl, 1);
  assert_string_equal(r.name, "NOT_YOUR_CASE");
  resp_free(&r);
  mlproto_free(bad);
  push_meters m2 = push_meters_now(f);
  assert_true(m2.pushes == m1.pushes);
  assert_true(m2.total == m1.total && m2.store == m1.store && m2.lock == m1.lock);
  f->now += 10000;

  /* the writer lock held for ~300 ms while the push waits for it */
  mls_store *other = t_store_open(f->store);
  mls_txn *held = NULL;
  assert_int_equal(mls_store_begin(other, MLS_TXN_WRITE, &held), MLPROTO_OK);
  push_job j = {.f = f, .d = &d};
  j.env = sim_record(&d, MLPROTO_KIND_NOTE, c1, &j.len);
  pthread_t t;
  t0 = mono_s();
  assert_int_equal(pthread_create(&t, NULL, push_thread, &j), 0);
  wait_in_flight(f, 1); /* authenticated: next it begins its transaction */
  double t_in = mono_s();
  usleep(300 * 1000);
  double held_s = mono_s() - t_in;
  mls_store_rollback(held);
  assert_int_equal(pthread_join(t, NULL), 0);
  wall = mono_s() - t0;
  mls_store_close(other);
  assert_int_equal(j.r.status, 200);
  resp_free(&j.r);
  mlproto_free(j.env);
  push_meters m3 = push_meters_now(f);
  assert_true(m3.pushes == m2.pushes + 1);
  total = m3.total - m2.total;
  store = m3.store - m2.store;
  lock = m3.lock - m2.lock;
  print_message("behind a held writer lock (%.3f s): %.6f s in the app, %.6f s in the store,"
                " %.6f s lock wait\n", held_s, total, store, lock);
  /* it waited nearly all the time the lock was held after it was in
   * flight (minus decoding its body), and no longer than the call */
  assert_true(lock >= held_s - 0.1);
  assert_true(lock <= store);
  assert_true(store <= total);
  assert_true(total <= wall + 1e-6);
  sim_dev_free(&d);
}

/* Item 16: endpoints without credentials are metered per address. */
static void test_unauth_rate(void **state) {
  fx *f = *state;
  int limited = 0;
  for (int i = 0; i < 300 && !limited; i++) {
    resp r = call(f, "GET", "/healthz", NULL, NULL, 0, NULL, "192.0.2.9");
    if (r.status == 429) {
      limited = 1;
      assert_string_equal(r.name, "RATE_LIMITED");
      assert_non_null(strstr(r.extra, "Retry-After: "));
      assert_true(i >= 200); /* the burst */
    } else {
      assert_int_equal(r.status, 200);
    }
    resp_free(&r);
  }
  assert_true(limited);
  resp r = call(f, "GET", "/v1/log/sth", NULL, NULL, 0, NULL, "192.0.2.9");
  assert_int_equal(r.status, 429);
  resp_free(&r);
  r = call(f, "GET", "/healthz", NULL, NULL, 0, NULL, "192.0.2.10");
  assert_int_equal(r.status, 200);
  resp_free(&r);
  f->now += 2000;
  r = call(f, "GET", "/healthz", NULL, NULL, 0, NULL, "192.0.2.9");
  assert_int_equal(r.status, 200);
  resp_free(&r);
}

/* Item 7: admin refuses a directory that holds no server; init creates one. */
static void test_admin_needs_store(void **state) {
  (void)state;
  fx g;
  memset(&g, 0, sizeof g);
  strcpy(g.dir, "/tmp/mls-test-XXXXXX");
  assert_non_null(mkdtemp(g.dir));
  assert_int_equal(test_store_uri(g.store, sizeof g.store, g.dir), 0);
  char out[256], path[128];
  assert_int_equal(admin(&g, out, sizeof out, "mentor", "add", "Dee", NULL), 1);
  snprintf(path, sizeof path, "%s/server.db", g.dir);
  assert_int_not_equal(access(path, F_OK), 0);
  snprintf(path, sizeof path, "%s/server.key", g.dir);
  assert_int_not_equal(access(path, F_OK), 0);
  assert_int_equal(admin(&g, out, sizeof out, "init", "extra", NULL, NULL), 2);
  assert_int_equal(admin(&g, out, sizeof out, "init", NULL, NULL, NULL), 0);
  assert_int_equal(access(path, F_OK), 0);
  assert_int_equal(admin(&g, out, sizeof out, "mentor", "add", "Dee", NULL), 0);
  assert_int_equal(strlen(out), 32);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g.dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(test_store_drop(g.store), 0);
}

/* Item 13: the one logfmt writer. */
static void test_log_format(void **state) {
  (void)state;
  struct timespec ts = {.tv_sec = 1767225600, .tv_nsec = 123456789};
  char line[MLS_LOG_LINE_MAX + 2];
  size_t n = mls_log_format(line, sizeof line, &ts, "info", "stopped", "");
  assert_string_equal(line, "ts=2026-01-01T00:00:00.123Z level=info msg=stopped\n");
  assert_int_equal(n, strlen(line));
  mls_log_format(line, sizeof line, &ts, "warn", "two words", "conn=7 code=BUSY ");
  assert_string_equal(line, "ts=2026-01-01T00:00:00.123Z level=warn msg=\"two words\" conn=7 code=BUSY\n");
  char v[32];
  assert_string_equal(mls_log_value(v, sizeof v, "2001:db8::1"), "2001:db8::1");
  assert_string_equal(mls_log_value(v, sizeof v, "a \"b\"\n"), "\"a \\\"b\\\"\\x0a\"");
  assert_string_equal(mls_log_value(v, sizeof v, ""), "\"\"");
  /* cut to fit, still closed */
  assert_string_equal(mls_log_value(v, 8, "a b c d e f"), "\"a b c\"");
  char big[2000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  n = mls_log_format(line, sizeof line, &ts, "info", "m", big);
  assert_int_equal(n, sizeof line - 1);
  assert_int_equal(line[n - 1], '\n');
}

/* The authorization matrix: every endpoint x every role, each cell the
 * written answer (docs/wire-protocol.md §2, docs/reports.md). Roles: a
 * device of mentor A, a device of mentor B, a revoked device of A, the
 * tokens of jobcentre A ("bench-jc", the jobcentre of A's grant) and B, an
 * auditor's, a witness's, and none. A request's body, where it has one, is
 * that role's own (a device pushes its own next record; a cosignature post
 * carries a protobuf body, which a role allowed to post is refused with 415
 * after its token was accepted: test_witness posts real ones). */
enum { R_DEV_A, R_DEV_B, R_REVOKED, R_JC_A, R_JC_B, R_AUDITOR, R_WITNESS, R_NONE, R__N };
static const char *const ROLE_NAME[R__N] = {"device A", "device B",  "revoked device", "jobcentre A",
                                            "jobcentre B", "auditor", "witness",        "no token"};

static void test_authorization_matrix(void **state) {
  fx *f = *state;
  sim_dev a, b, rv;
  device_up(f, &a, f->mentor_a);
  device_up(f, &b, f->mentor_b);
  device_up(f, &rv, f->mentor_a);
  uint8_t case_a[16];
  mlproto_random_id(case_a);
  uint8_t *envs[2];
  size_t lens[2];
  envs[0] = sim_record(&a, MLPROTO_KIND_CASE_OPEN, case_a, &lens[0]);
  envs[1] = sim_record(&a, MLPROTO_KIND_GRANT_OPEN, case_a, &lens[1]);
  resp r = push(f, &a, envs, lens, 2);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  /* the grant's sealed part (its purpose, encrypted): no answer to a
   * jobcentre may carry any of its bytes, raw or hex */
  mlproto_record *gr = NULL;
  assert_int_equal(mlproto_record_verify(&gr, envs[1], lens[1]), MLPROTO_OK);
  assert_true(gr->sealed_len >= 24);
  uint8_t nonce[12];
  char nonce_hex[25];
  memcpy(nonce, gr->sealed, sizeof nonce);
  mlproto_hex_encode(nonce_hex, nonce, sizeof nonce);
  mlproto_record_free(gr);
  free_envs(envs, 2);
  char ref[16];
  snprintf(ref, sizeof ref, "REF-%02x%02x%02x%02x", case_a[0], case_a[1], case_a[2], case_a[3]);
  char id[33], out[256];
  uint8_t rv_id[16];
  mls_device_id(rv_id, rv.pub);
  mlproto_hex_encode(id, rv_id, 16);
  assert_int_equal(admin(f, out, sizeof out, "device", "revoke", id, NULL), 0);
  char tok[R__N][160];
  memset(tok, 0, sizeof tok);
  snprintf(tok[R_DEV_A], 160, "%s", a.token);
  snprintf(tok[R_DEV_B], 160, "%s", b.token);
  snprintf(tok[R_REVOKED], 160, "%s", rv.token);
  const char *jca[] = {"token", "add", "--role", "jobcentre", "--jobcentre", SIM_JOBCENTRE, NULL};
  const char *jcb[] = {"token", "add", "--role", "jobcentre", "--jobcentre", "other-jc", NULL};
  assert_int_equal(sa_admin(f->dir, tok[R_JC_A], 64, jca), 0);
  assert_int_equal(sa_admin(f->dir, tok[R_JC_B], 64, jcb), 0);
  assert_int_equal(admin(f, tok[R_AUDITOR], 64, "token", "add", "--role", "auditor"), 0);
  assert_int_equal(admin(f, tok[R_WITNESS], 64, "token", "add", "--role", "witness"), 0);

  char contacts[96];
  const char *month = "month=2026-06";
  snprintf(contacts, sizeof contacts, "/v1/jobcentre/grants/%s/contacts", ref);
  enum { PUSH = 1, BLOB = 2 }; /* the body: the role's own next record; some bytes */
  static const int PUB[R__N] = {200, 200, 200, 200, 200, 200, 200, 200};
  static const int DEV[R__N] = {200, 200, 401, 401, 401, 401, 401, 401};
  static const int JC[R__N] = {401, 401, 401, 200, 200, 403, 403, 401};
  static const int JC_OWN[R__N] = {401, 401, 401, 200, 404, 403, 403, 401};
  static const int AUDIT[R__N] = {401, 401, 401, 403, 403, 200, 403, 401};
  static const int COSIG[R__N] = {401, 401, 401, 415, 415, 415, 415, 401};
  struct cell {
    const char *method, *path, *query;
    int body;
    const int *want;
  } cells[] = {
      {"POST", "/v1/push", NULL, PUSH, DEV},
      {"GET", "/v1/pull", "since=0", 0, DEV},
      {"GET", "/v1/log/checkpoint", NULL, 0, PUB},
      {"GET", "/v1/log/sth", NULL, 0, PUB},
      {"GET", "/v1/log/proof/inclusion", "index=0", 0, PUB},
      {"GET", "/v1/log/proof/consistency", "first=1", 0, PUB},
      {"GET", "/v1/log/tile/0/000.p/1", NULL, 0, PUB},
      {"GET", "/v1/log/tile/entries/000.p/1", NULL, 0, PUB},
      {"GET", "/v1/jobcentre/compliance", NULL, 0, JC},
      {"GET", "/v1/jobcentre/timesheet", month, 0, JC},
      {"GET", contacts, NULL, 0, JC_OWN},
      {"GET", "/v1/session/challenge", NULL, 0, PUB},
      {"GET", "/healthz", NULL, 0, PUB},
      {"GET", "/v1/audit/log", "since=0", 0, AUDIT},
      {"POST", "/v1/log/cosignature", NULL, BLOB, COSIG},
  };
  sim_dev *self[R__N] = {&a, &b, &rv, NULL, NULL, NULL, NULL, NULL};
  uint8_t case_b[16];
  mlproto_random_id(case_b);
  for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++)
    for (int role = 0; role < R__N; role++) {
      uint8_t *body = NULL;
      size_t len = 0;
      if (cells[i].body == PUSH) {
        /* a device its own next record; the others a record of device A's */
        sim_dev *d = self[role] ? self[role] : &a;
        size_t el;
        uint64_t seq = d->seq;
        uint8_t head[32];
        memcpy(head, d->head, 32);
        uint8_t *env = sim_record(d, d == &b ? MLPROTO_KIND_CASE_OPEN : MLPROTO_KIND_NOTE,
                                  d == &b ? case_b : case_a, &el);
        if (d == &b) mlproto_random_id(case_b);
        body = sim_push_body(&env, &el, 1, &len);
        mlproto_free(env);
        if (cells[i].want[role] != 200) { /* refused: the chain does not move */
          d->seq = seq;
          memcpy(d->head, head, 32);
        }
      } else if (cells[i].body == BLOB) {
        len = 8;
        body = malloc(len);
        memcpy(body, "\x0a\x06" "abcdef", len);
      }
      f->now += 100; /* under every request budget */
      /* the check before a body is read agrees with the handler on every
       * refusal of credentials, and lets everything else through */
      char peer[32]; /* one address per route: its failed tokens stay under --auth-fail-limit */
      snprintf(peer, sizeof peer, "10.0.%zu.7", i);
      int pre = authorize(f, cells[i].method, cells[i].path, role == R_NONE ? NULL : tok[role],
                          peer);
      int want = cells[i].want[role];
      if (pre != (want == 401 || want == 403 ? want : 200))
        fail_msg("authorize %s %s as %s: %d, want %d", cells[i].method, cells[i].path,
                 ROLE_NAME[role], pre, want);
      r = call(f, cells[i].method, cells[i].path, cells[i].query, body, len,
               role == R_NONE ? NULL : tok[role], peer);
      free(body);
      if (r.status != cells[i].want[role])
        fail_msg("%s %s as %s: %d, want %d (%s)", cells[i].method, cells[i].path,
                 ROLE_NAME[role], r.status, cells[i].want[role], r.name);
      /* no jobcentre answer carries a sealed byte */
      if (role == R_JC_A || role == R_JC_B) {
        assert_null(memmem(r.body, r.len, nonce, sizeof nonce));
        assert_null(memmem(r.body, r.len, nonce_hex, 24));
      }
      resp_free(&r);
    }
  sim_dev_free(&a);
  sim_dev_free(&b);
  sim_dev_free(&rv);
}

/* Failed bearer tokens per address (--auth-fail-limit, 20 by default): the
 * 21st bad token from one address is refused 429 before it is looked up,
 * and so is then every bearer request of that address, good tokens too,
 * until the bucket refills (20 a minute); other addresses are not affected.
 * Device session tokens and API tokens share the budget. */
static void test_bearer_failures(void **state) {
  fx *f = *state;
  char good[64];
  const char *jc[] = {"token", "add", "--role", "jobcentre", "--jobcentre", SIM_JOBCENTRE, NULL};
  assert_int_equal(sa_admin(f->dir, good, sizeof good, jc), 0);
  char bad[48];
  memset(bad, 'A', 43);
  bad[43] = 0;
  const char *here = "192.0.2.9", *there = "192.0.2.10";
  for (int i = 0; i < 20; i++) {
    f->now += 10;
    resp r = i % 2 ? call(f, "GET", "/v1/jobcentre/compliance", NULL, NULL, 0, bad, here)
                   : call(f, "GET", "/v1/pull", NULL, NULL, 0, bad, here);
    assert_int_equal(r.status, 401);
    resp_free(&r);
  }
  resp r = call(f, "GET", "/v1/jobcentre/compliance", NULL, NULL, 0, bad, here);
  assert_int_equal(r.status, 429);
  assert_string_equal(r.name, "RATE_LIMITED");
  assert_non_null(strstr(r.extra, "Retry-After: "));
  resp_free(&r);
  /* the good token from the same address: limited too (shared NAT: docs) */
  r = call(f, "GET", "/v1/jobcentre/compliance", NULL, NULL, 0, good, here);
  assert_int_equal(r.status, 429);
  resp_free(&r);
  assert_int_equal(authorize(f, "POST", "/v1/push", bad, here), 429);
  /* another address is not */
  r = call(f, "GET", "/v1/jobcentre/compliance", NULL, NULL, 0, good, there);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  r = call(f, "GET", "/v1/pull", NULL, NULL, 0, bad, there);
  assert_int_equal(r.status, 401);
  resp_free(&r);
  /* three seconds refill one token: a good request spends none */
  f->now += 3100;
  for (int i = 0; i < 3; i++) {
    r = call(f, "GET", "/v1/jobcentre/compliance", NULL, NULL, 0, good, here);
    assert_int_equal(r.status, 200);
    resp_free(&r);
  }
  r = call(f, "GET", "/v1/pull", NULL, NULL, 0, bad, here);
  assert_int_equal(r.status, 401);
  resp_free(&r);
  r = call(f, "GET", "/v1/pull", NULL, NULL, 0, bad, here);
  assert_int_equal(r.status, 429);
  resp_free(&r);
  /* a request without any token is refused meanwhile too; elsewhere it is
   * the usual 401, and no failure: twenty of them leave the budget whole */
  r = call(f, "GET", "/v1/pull", NULL, NULL, 0, NULL, here);
  assert_int_equal(r.status, 429);
  resp_free(&r);
  for (int i = 0; i < 25; i++) {
    r = call(f, "GET", "/v1/pull", NULL, NULL, 0, NULL, "192.0.2.11");
    assert_int_equal(r.status, 401);
    resp_free(&r);
  }
  r = call(f, "GET", "/v1/jobcentre/compliance", NULL, NULL, 0, good, "192.0.2.11");
  assert_int_equal(r.status, 200);
  resp_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ttl_parse),
    cmocka_unit_test_setup_teardown(test_happy_path, setup, teardown),
    cmocka_unit_test_setup_teardown(test_push_refusals, setup, teardown),
    cmocka_unit_test_setup_teardown(test_idempotent_fork_replay, setup, teardown),
    cmocka_unit_test_setup_teardown(test_revoked_and_unknown, setup, teardown),
    cmocka_unit_test_setup_teardown(test_enrol_codes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pagination_and_consistency, setup, teardown),
    cmocka_unit_test_setup_teardown(test_throttling, setup, teardown),
    cmocka_unit_test_setup_teardown(test_routes_and_errors, setup, teardown),
    cmocka_unit_test_setup_teardown(test_restart_keeps_log, setup, teardown),
    cmocka_unit_test_setup_teardown(test_sth_json, setup, teardown),
    cmocka_unit_test_setup_teardown(test_forged_key_no_lockout, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ipv6_prefix_keys, setup, teardown),
    cmocka_unit_test_setup_teardown(test_push_revoked_in_between, setup, teardown),
    cmocka_unit_test_setup_teardown(test_query_strict, setup, teardown),
    cmocka_unit_test_setup_teardown(test_enrol_retry, setup, teardown),
    cmocka_unit_test_setup_teardown(test_enrol_crockford, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_versions, setup, teardown),
    cmocka_unit_test_setup_teardown(test_proof_by_hash, setup, teardown),
    cmocka_unit_test_setup_teardown(test_proof_by_hash_leaf_index, setup, teardown),
    cmocka_unit_test_setup_teardown(test_push_pipelined, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_v3_codes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_enroll_code_admin, setup, teardown),
    cmocka_unit_test_setup_teardown(test_challenge_one_instance, setup, teardown),
    cmocka_unit_test_setup_teardown(test_challenge_cross_instance, setup, teardown),
    cmocka_unit_test_setup_teardown(test_challenge_no_store_write, setup, teardown),
    cmocka_unit_test_setup_teardown(test_challenge_spent_bound, setup, teardown),
    cmocka_unit_test_setup_teardown(test_session_purge, setup, teardown),
    cmocka_unit_test_setup_teardown(test_store_v6_sessions, setup, teardown),
    cmocka_unit_test_setup_teardown(test_auth_and_allow_headers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_metrics_log_size_fresh, setup, teardown),
    cmocka_unit_test_setup_teardown(test_metrics_push_time, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unauth_rate, setup, teardown),
    cmocka_unit_test_setup_teardown(test_authorization_matrix, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bearer_failures, setup, teardown),
    cmocka_unit_test(test_admin_needs_store),
    cmocka_unit_test(test_log_format),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
