/*
 * test_migrate.c — `mentorlog-server admin migrate --to URI` with the real
 * server and the real admin command: an SQLite store made by a running
 * server (devices enrolled and pushing, a revoked device, fork evidence, a
 * witness and its cosignature, an auditor token, an unused enrolment code)
 * is copied into a fresh PostgreSQL schema (the ctest fixture's cluster),
 * and a server started on that store serves the same log:
 *
 *   - refusals first: while the server runs, STORE_IN_USE; a target URI
 *     with a password, refused before anything (the password never
 *     printed); server.db with a table migrate does not know, and with one
 *     log entry whose leaf no longer matches it: MIGRATE_MISMATCH, and the
 *     target holds nothing afterwards (one transaction); a value changed
 *     on its way in (a trigger on the target): the content read back
 *     differs, MIGRATE_MISMATCH, nothing committed;
 *   - the migration (the sessions without the challenge that stores before
 *     SQLite layout 7 have: PostgreSQL requires one, they get a random
 *     one and stay valid); server.db then marked: a second migration,
 *     an admin command and a server on it refuse (STORE_MIGRATED); with
 *     the marker deleted, a second one into the same store:
 *     STORE_NOT_EMPTY, and no marker left by that failure;
 *   - every table's row count and every leaf hash the same in both stores;
 *   - the server on PostgreSQL: the same tree head (size, root) and the
 *     same checkpoint note with the cosignature line; an inclusion proof
 *     found by leaf hash and a consistency proof from an older head verify;
 *     the device pushes on with its old session token and pulls; the
 *     revoked device stays refused; the unused enrolment code enrols a new
 *     device; a fork is refused with evidence again (a new evidence id);
 *     the auditor token still authenticates; `admin --store` lists the
 *     devices.
 *
 * Needs PostgreSQL (ML_TEST_PG_FILE, the fixture): registered only there.
 */
#include "testutil.h"

#include "test_sync_util.h"
#include "store_tamper.h"

#include "it_netclient.h"

#include "mlproto/checkpoint.h"
#include "mlproto/cosignature.h"
#include "mlproto/errors.h"
#include "mlproto/alloc.h"

#include <sodium.h>
#include <sqlite3.h>
#include <time.h>

#define WITNESS "witness.test/migrate"
#define N_BATCHES 14 /* of 20 records: past one tile of 256 leaves */

/* admin ARGS with stderr captured into out along with stdout; exit status. */
static int admin_all(ih_server *s, char *out, size_t cap, const char *const *args) {
  const char *argv[32] = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", ih_server_binary(), "admin",
                          "--data", s->data};
  size_t n = 7;
  if (test_store_cli(s->store)) {
    argv[n++] = "--store";
    argv[n++] = s->store;
  }
  for (size_t i = 0; args[i] && n + 1 < 32; i++) argv[n++] = args[i];
  argv[n] = NULL;
  int rc = ih_run(out, cap, 300000, argv);
  fprintf(stderr, "admin %s: exit %d\n%s", args[0], rc, out);
  return rc;
}

static int migrate_to(ih_server *s, const char *to, char *out, size_t cap) {
  const char *args[] = {"migrate", "--to", to, NULL};
  return admin_all(s, out, cap, args);
}



/* POST /v1/log/cosignature?size=N: the status, the answer's text. */
static int post_cosig(ih_server *s, uint64_t size, const char *token, const char *line,
                      char text[64]) {
  ml_netclient *c = it_client(s);
  char target[96], auth[128];
  snprintf(target, sizeof target, "/v1/log/cosignature?size=%llu", (unsigned long long)size);
  snprintf(auth, sizeof auth, "Bearer %s", token);
  mlproto_http_header hs[2] = {{"Content-Type", "text/plain"}, {"Authorization", auth}};
  ml_netclient_response r;
  assert_int_equal(ml_netclient_request(c, "POST", target, hs, 2, line, strlen(line), &r), 0);
  int st = r.status;
  snprintf(text, 64, "%.*s", (int)(r.body_len < 63 ? r.body_len : 63), (const char *)r.body);
  ml_netclient_response_free(&r);
  ml_netclient_close(c);
  return st;
}

static mlproto_sth get_sth(sc *c) {
  int st;
  uint8_t *rb;
  size_t rl;
  mlproto_sth s;
  assert_int_equal(sc_call(c, "GET", "/v1/log/sth", NULL, NULL, 0, &st, &rb, &rl), 0);
  assert_int_equal(st, 200);
  assert_int_equal(sc_sth(rb, rl, MLPROTO_MSG_SIGNED_TREE_HEAD, &s), 0);
  free(rb);
  return s;
}

/* Pushes n envelopes as d; the status, the error name ("" on 200), the head. */
static int push(sc *c, sim_dev *d, uint8_t **e, size_t *l, size_t n, char name[64],
                mlproto_sth *sth) {
  size_t len;
  uint8_t *body = sim_push_body(e, l, n, &len);
  int st;
  uint8_t *rb;
  size_t rl;
  assert_int_equal(sc_call(c, "POST", "/v1/push", d->token, body, len, &st, &rb, &rl), 0);
  free(body);
  name[0] = 0;
  if (st != 200) sim_error_code(rb, rl, name);
  else if (sth) assert_int_equal(sc_sth(rb, rl, MLPROTO_MSG_PUSH_RESPONSE, sth), 0);
  free(rb);
  return st;
}

/* n NOTE records of d in one push (200 required). */
static mlproto_sth push_notes(sc *c, sim_dev *d, const uint8_t case_id[16], size_t n) {
  uint8_t *e[32];
  size_t l[32];
  assert_true(n <= 32);
  for (size_t i = 0; i < n; i++) e[i] = sim_record(d, MLPROTO_KIND_NOTE, case_id, &l[i]);
  char name[64];
  mlproto_sth sth;
  assert_int_equal(push(c, d, e, l, n, name, &sth), 200);
  for (size_t i = 0; i < n; i++) mlproto_free(e[i]);
  return sth;
}

static size_t pull_count(sc *c, sim_dev *d) {
  int st;
  uint8_t *rb;
  size_t rl;
  assert_int_equal(sc_call(c, "GET", "/v1/pull?since=0&limit=1000", d->token, NULL, 0, &st, &rb, &rl),
                   0);
  assert_int_equal(st, 200);
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_PULL_RESPONSE, rb, rl), 0);
  Mentorlog__V1__PullResponse *p = (Mentorlog__V1__PullResponse *)m;
  assert_false(p->more);
  size_t n = p->n_items;
  mlproto_msg_free(m);
  free(rb);
  return n;
}

/* One statement on server.db behind everyone's back (the server is stopped). */
static void sqlite_exec(const ih_server *s, const char *sql) {
  char path[400];
  snprintf(path, sizeof path, "%s/server.db", s->data);
  sqlite3 *db;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) fprintf(stderr, "%s: %s\n", sql, err ? err : "?");
  sqlite3_free(err);
  assert_int_equal(sqlite3_changes(db) > 0 || strncmp(sql, "CREATE", 6) == 0 ||
                       strncmp(sql, "DROP", 4) == 0, 1);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
  assert_int_equal(rc, SQLITE_OK);
}

/* The target holds no data: no log, no mentor, no device. */
static void assert_empty(const char *uri) {
  assert_int_equal(t_log_size(uri), 0);
  assert_int_equal(store_sql_int(uri, "SELECT count(*) FROM mentors"), 0);
  assert_int_equal(store_sql_int(uri, "SELECT count(*) FROM devices"), 0);
  assert_int_equal(store_sql_int(uri, "SELECT count(*) FROM meta WHERE key <> 'schema_version'"), 0);
}

/* A migration into pg with a trigger on the target (body: its PL/pgSQL,
 * on: "BEFORE INSERT ON t ..."; DEFERRABLE makes a constraint trigger that
 * fires at COMMIT) fails naming why, and leaves the target empty. */
static void refused_by_trigger(ih_server *s, const char *pg, const char *table, const char *body,
                               const char *on, const char *why) {
  char sql[512], out[16384];
  snprintf(sql, sizeof sql, "CREATE FUNCTION ml_test_trigger() RETURNS trigger LANGUAGE plpgsql AS $$"
                            " BEGIN %s END $$", body);
  store_sql_exec(pg, sql);
  snprintf(sql, sizeof sql, "CREATE %sTRIGGER ml_test_trigger %s EXECUTE FUNCTION ml_test_trigger()",
           strstr(on, "DEFERRABLE") ? "CONSTRAINT " : "", on);
  store_sql_exec(pg, sql);
  assert_int_equal(migrate_to(s, pg, out, sizeof out), 1);
  if (!strstr(out, why)) fail_msg("the migration's refusal lacks \"%s\": %s", why, out);
  assert_non_null(strstr(out, strstr(on, "DEFERRABLE") ? "COMMIT" : "MIGRATE_MISMATCH"));
  assert_empty(pg);
  snprintf(sql, sizeof sql, "DROP TRIGGER ml_test_trigger ON %s", table);
  store_sql_exec(pg, sql);
  store_sql_exec(pg, "DROP FUNCTION ml_test_trigger()");
}

static const char *const SHARED_TABLES[] = {
  "mentors", "enroll_codes", "devices", "sessions", "api_tokens", "cases", "log",
  "case_jobcentres", "forks", "witnesses", "cosignatures", "web_sessions",
};

static void migrate_then_serve_on_postgresql(void **state) {
  (void)state;
  /* the source: a server on its data directory's SQLite store */
  char pgfile[512];
  const char *f = getenv("ML_TEST_PG_FILE");
  assert_non_null(f);
  snprintf(pgfile, sizeof pgfile, "%s", f);
  setenv("ML_TEST_PG_FILE", "", 1);
  ih_server s;
  int rc = ih_server_init(&s, NULL);
  setenv("ML_TEST_PG_FILE", pgfile, 1);
  assert_int_equal(rc, 0);
  assert_int_equal(strncmp(s.store, "sqlite:", 7), 0);
  char sqlite_uri[TEST_STORE_URI_CAP];
  snprintf(sqlite_uri, sizeof sqlite_uri, "%s", s.store);
  assert_int_equal(ih_server_start(&s), 0);
  /* the target: a fresh schema of the fixture's cluster */
  char target_dir[400], pg[TEST_STORE_URI_CAP];
  snprintf(target_dir, sizeof target_dir, "%s/target", s.root);
  assert_int_equal(test_store_uri(pg, sizeof pg, target_dir), 0);
  assert_int_equal(strncmp(pg, "postgresql:", 11), 0);

  sc c;
  sc_init(&c, &s);
  char mentor_a[40], mentor_b[40], out[16384];
  const char *ma[] = {"mentor", "add", "Anna Jensen", NULL};
  const char *mb[] = {"mentor", "add", "Bo Hansen", NULL};
  assert_int_equal(ih_admin(&s, mentor_a, sizeof mentor_a, ma), 0);
  assert_int_equal(ih_admin(&s, mentor_b, sizeof mentor_b, mb), 0);
  sim_dev d, d2, b, e;
  sim_dev_init(&d);
  sim_dev_init(&d2);
  sim_dev_init(&b);
  sim_dev_init(&e);
  assert_int_equal(sc_device_up(&c, &d, mentor_a), 0);
  assert_int_equal(sc_device_up(&c, &d2, mentor_a), 0);
  assert_int_equal(sc_device_up(&c, &b, mentor_b), 0);
  char unused_code[64];
  const char *ec[] = {"enroll-code", mentor_a, NULL};
  assert_int_equal(ih_admin(&s, unused_code, sizeof unused_code, ec), 0);

  /* records: d's case, b's case; an older head to prove consistency from */
  uint8_t case_a[16], case_b[16];
  mlproto_random_id(case_a);
  mlproto_random_id(case_b);
  size_t l0;
  uint8_t *first = sim_record(&d, MLPROTO_KIND_CASE_OPEN, case_a, &l0);
  char name[64];
  mlproto_sth s1;
  assert_int_equal(push(&c, &d, &first, &l0, 1, name, &s1), 200);
  {
    /* a grant: its jobcentre goes to case_jobcentres */
    size_t lg;
    uint8_t *g = sim_record(&d, MLPROTO_KIND_GRANT_OPEN, case_a, &lg);
    assert_int_equal(push(&c, &d, &g, &lg, 1, name, NULL), 200);
    mlproto_free(g);
  }
  {
    size_t lb;
    uint8_t *x = sim_record(&b, MLPROTO_KIND_CASE_OPEN, case_b, &lb);
    assert_int_equal(push(&c, &b, &x, &lb, 1, name, NULL), 200);
    mlproto_free(x);
  }
  for (int i = 0; i < N_BATCHES; i++) push_notes(&c, &d, case_a, 20);
  push_notes(&c, &b, case_b, 3);
  /* fork evidence: another record at d's seq 2 */
  uint8_t prev1[32], h[32];
  assert_int_equal(mlproto_record_hash(prev1, first, l0), 0);
  {
    size_t lx;
    uint8_t *x = sim_record_at(&d, MLPROTO_KIND_NOTE, case_a, 2, prev1, &lx, h);
    assert_int_equal(push(&c, &d, &x, &lx, 1, name, NULL), mlproto_http_status(MLPROTO_ERR_FORK));
    assert_string_equal(name, "FORK");
    mlproto_free(x);
  }
  /* d2 revoked */
  char list[8192], id[40], pubhex[65];
  const char *la[] = {"device", "list", "--json", NULL};
  assert_int_equal(ih_admin(&s, list, sizeof list, la), 0);
  mlproto_hex_encode(pubhex, d2.pub, 32);
  char *at = strstr(list, pubhex);
  assert_non_null(at);
  memcpy(id, at - 92, 32); /* {"id":"<32>","mentor":"<32>","public_key":"<64>" */
  id[32] = 0;
  const char *ra[] = {"device", "revoke", id, NULL};
  assert_int_equal(ih_admin(&s, out, sizeof out, ra), 0);

  /* a witness, an auditor token, the witness's cosignature of the head */
  uint8_t wpk[32], wsk[64];
  crypto_sign_keypair(wpk, wsk);
  char vkey[MLPROTO_NOTE_VKEY_MAX], token[128];
  assert_int_equal(mlproto_cosig_vkey_format(vkey, sizeof vkey, NULL, WITNESS, wpk), MLPROTO_OK);
  const char *wa[] = {"witness", "add", WITNESS, vkey, NULL};
  assert_int_equal(ih_admin(&s, out, sizeof out, wa), 0);
  const char *ta[] = {"token", "add", "--role", "auditor", NULL};
  assert_int_equal(ih_admin(&s, token, sizeof token, ta), 0);
  mlproto_sth before = get_sth(&c);
  size_t nl, bl;
  char *note = it_get_checkpoint(&s, &nl);
  assert_int_equal(mlproto_note_body_len((const uint8_t *)note, nl, &bl), MLPROTO_OK);
  mlproto_cosig cs;
  char line[MLPROTO_COSIG_LINE_MAX], text[64];
  assert_int_equal(mlproto_cosig_sign(&cs, (const uint8_t *)note, bl, (uint64_t)time(NULL) - 5,
                                      WITNESS, wsk), MLPROTO_OK);
  assert_int_equal(mlproto_cosig_line_format(line, sizeof line, NULL, &cs), MLPROTO_OK);
  free(note);
  assert_int_equal(post_cosig(&s, before.size, token, line, text), 200);
  assert_string_equal(text, "stored\n");
  note = it_get_checkpoint(&s, &nl);
  assert_non_null(strstr(note, line));
  size_t pulled = pull_count(&c, &d);
  assert_true(before.size > 256);

  /* refused while the server runs: it has server.db open */
  assert_int_equal(migrate_to(&s, pg, out, sizeof out), 1);
  assert_non_null(strstr(out, "STORE_IN_USE"));
  sc_free(&c);
  assert_int_equal(ih_server_stop(&s), 0);

  /* a password in the target URI: refused before anything, never echoed */
  const char *bad[] = {"postgresql:host=/nonexistent dbname=x password=hunter2-secret",
                       "postgresql://u:hunter2-secret@localhost/x",
                       "postgres://localhost/x?password=hunter2-secret"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(migrate_to(&s, bad[i], out, sizeof out), 2);
    assert_non_null(strstr(out, "password"));
    assert_null(strstr(out, "hunter2"));
  }
  assert_int_equal(migrate_to(&s, "sqlite:/tmp/elsewhere", out, sizeof out), 2);

  /* a table migrate does not know: refused, nothing copied */
  sqlite_exec(&s, "CREATE TABLE unknown_future(x)");
  assert_int_equal(migrate_to(&s, pg, out, sizeof out), 1);
  assert_non_null(strstr(out, "MIGRATE_MISMATCH"));
  assert_non_null(strstr(out, "unknown_future"));
  sqlite_exec(&s, "DROP TABLE unknown_future");
  /* an entry whose leaf hash no longer matches it: found before COMMIT */
  sqlite_exec(&s, "UPDATE log SET received_ms = received_ms + 1 WHERE idx = 7");
  assert_int_equal(migrate_to(&s, pg, out, sizeof out), 1);
  assert_non_null(strstr(out, "MIGRATE_MISMATCH"));
  assert_non_null(strstr(out, "log entry 7"));
  assert_empty(pg); /* the schema was made, the copy rolled back */
  sqlite_exec(&s, "UPDATE log SET received_ms = received_ms - 1 WHERE idx = 7");
  /* a value changed on its way into PostgreSQL (a trigger on the target):
   * the rows read back differ from those sent, nothing is committed; also
   * a value of meta (the count alone would match) */
  refused_by_trigger(&s, pg, "sessions", "NEW.expires_ms := NEW.expires_ms + 1; RETURN NEW;",
                     "BEFORE INSERT ON sessions FOR EACH ROW",
                     "table sessions: the rows in PostgreSQL are not");
  refused_by_trigger(&s, pg, "meta", "NEW.value := NEW.value || '\\x00'::bytea; RETURN NEW;",
                     "BEFORE INSERT ON meta FOR EACH ROW WHEN (NEW.key <> 'schema_version')",
                     "table meta: the rows in PostgreSQL are not");

  /* sessions as a store before SQLite layout 7 kept them: no challenge */
  sqlite_exec(&s, "UPDATE sessions SET challenge = NULL");
  /* a caseworker's web session (the row as app_web.c writes it) */
  sqlite_exec(&s, "INSERT INTO web_sessions VALUES (randomblob(32), randomblob(32), 1, 4102444800000)");

  /* PostgreSQL refuses the COMMIT itself (a deferred trigger fires there):
   * server.db, marked before the COMMIT, is unmarked again, the target
   * is as empty as it was, and the source serves again */
  refused_by_trigger(&s, pg, "meta", "RAISE EXCEPTION 'refused at commit';",
                     "AFTER INSERT ON meta DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                     " WHEN (NEW.key = 'migrated_from')",
                     "the PostgreSQL store was left as it was");
  assert_int_equal(store_sql_int(sqlite_uri, "SELECT count(*) FROM meta WHERE key = 'migrated_to'"),
                   0);

  /* the migration; then the same target again */
  assert_int_equal(migrate_to(&s, pg, out, sizeof out), 0);
  assert_non_null(strstr(out, "migrated "));
  assert_non_null(strstr(out, "given a random challenge"));
  char want[64];
  snprintf(want, sizeof want, "log size %llu", (unsigned long long)before.size);
  assert_non_null(strstr(out, want));
  assert_non_null(strstr(out, "it is marked"));
  /* both copies name the same migration */
  assert_int_equal(store_sql_int(pg, "SELECT count(*) FROM meta WHERE key = 'migrated_from'"), 1);
  /* server.db is marked: a second migration, any admin command and a
   * server on it refuse (STORE_MIGRATED) */
  assert_int_equal(migrate_to(&s, pg, out, sizeof out), 1);
  assert_non_null(strstr(out, "STORE_MIGRATED"));
  {
    const char *args[] = {"mentor", "add", "Nobody", NULL};
    assert_int_equal(admin_all(&s, out, sizeof out, args), 1);
    assert_non_null(strstr(out, "STORE_MIGRATED"));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "exec \"%s\" serve --data '%s' --listen 127.0.0.1:0 2>&1",
             ih_server_binary(), s.data);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    assert_int_equal(ih_run(out, sizeof out, 30000, argv), 1);
    assert_non_null(strstr(out, "admin migrate"));
    assert_non_null(strstr(out, "STORE_MIGRATED"));
    /* refused before the opening could touch the file: a store of an
     * older layout is not migrated forward first */
    store_sql_exec(sqlite_uri, "PRAGMA user_version = 6");
    assert_int_equal(admin_all(&s, out, sizeof out, args), 1);
    assert_non_null(strstr(out, "STORE_MIGRATED"));
    assert_int_equal(store_sql_int(sqlite_uri, "PRAGMA user_version"), 6);
    store_sql_exec(sqlite_uri, "PRAGMA user_version = 7");
  }
  /* without the marker (deleted by hand): the same target again is
   * STORE_NOT_EMPTY, and a failed migration leaves no marker */
  sqlite_exec(&s, "DELETE FROM meta WHERE key = 'migrated_to'");
  assert_int_equal(migrate_to(&s, pg, out, sizeof out), 1);
  assert_non_null(strstr(out, "STORE_NOT_EMPTY"));
  assert_int_equal(store_sql_int(sqlite_uri, "SELECT count(*) FROM meta WHERE key = 'migrated_to'"),
                   0);

  /* both stores, read through their own backends */
  for (size_t i = 0; i < sizeof SHARED_TABLES / sizeof SHARED_TABLES[0]; i++) {
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", SHARED_TABLES[i]);
    int64_t a = store_sql_int(sqlite_uri, sql), p = store_sql_int(pg, sql);
    if (a != p) fail_msg("%s: %lld rows in SQLite, %lld in PostgreSQL", SHARED_TABLES[i],
                         (long long)a, (long long)p);
    assert_true(a > 0);
  }
  assert_int_equal(t_log_size(pg), before.size);
  for (uint64_t i = 0; i < before.size; i++) {
    uint8_t x[32], y[32];
    t_leaf_hash(sqlite_uri, i, x);
    t_leaf_hash(pg, i, y);
    assert_memory_equal(x, y, 32);
  }

  /* serve the PostgreSQL store from the same data directory */
  snprintf(s.store, sizeof s.store, "%s", pg);
  assert_int_equal(ih_server_start(&s), 0);
  sc_init(&c, &s);
  mlproto_sth after = get_sth(&c);
  assert_int_equal(after.size, before.size);
  assert_memory_equal(after.root, before.root, 32);
  size_t nl2;
  char *note2 = it_get_checkpoint(&s, &nl2);
  assert_string_equal(note2, note); /* the same signed note, the cosignature line with it */
  free(note2);
  free(note);
  {
    /* inclusion by leaf hash (log_by_leaf), consistency from s1 */
    uint8_t leaf[32];
    t_leaf_hash(pg, 100, leaf);
    char hex[65], q[160];
    mlproto_hex_encode(hex, leaf, 32);
    snprintf(q, sizeof q, "/v1/log/proof/inclusion?hash=%s&size=%llu", hex,
             (unsigned long long)after.size);
    int st;
    uint8_t *rb;
    size_t rl;
    assert_int_equal(sc_call(&c, "GET", q, NULL, NULL, 0, &st, &rb, &rl), 0);
    assert_int_equal(st, 200);
    ProtobufCMessage *m = NULL;
    assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_INCLUSION_PROOF, rb, rl), 0);
    Mentorlog__V1__InclusionProof *ip = (Mentorlog__V1__InclusionProof *)m;
    assert_int_equal(ip->leaf_index, 100);
    uint8_t proof[64][32];
    assert_true(ip->n_hashes <= 64);
    for (size_t k = 0; k < ip->n_hashes; k++) memcpy(proof[k], ip->hashes[k].data, 32);
    assert_int_equal(mlproto_merkle_verify_inclusion(leaf, 100, after.size,
                                                     (const uint8_t(*)[32])proof, ip->n_hashes,
                                                     after.root), MLPROTO_OK);
    mlproto_msg_free(m);
    free(rb);
    snprintf(q, sizeof q, "/v1/log/proof/consistency?first=%llu&second=%llu",
             (unsigned long long)s1.size, (unsigned long long)after.size);
    assert_int_equal(sc_call(&c, "GET", q, NULL, NULL, 0, &st, &rb, &rl), 0);
    assert_int_equal(st, 200);
    assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_CONSISTENCY_PROOF, rb, rl), 0);
    Mentorlog__V1__ConsistencyProof *cp = (Mentorlog__V1__ConsistencyProof *)m;
    for (size_t k = 0; k < cp->n_hashes; k++) memcpy(proof[k], cp->hashes[k].data, 32);
    assert_int_equal(mlproto_sth_check_consistency(&s1, &after, (const uint8_t(*)[32])proof,
                                                   cp->n_hashes), MLPROTO_OK);
    mlproto_msg_free(m);
    free(rb);
  }
  /* d goes on with its old session token; its pull has the new record */
  mlproto_sth grown = push_notes(&c, &d, case_a, 1);
  assert_int_equal(grown.size, after.size + 1);
  assert_int_equal(pull_count(&c, &d), pulled + 1);
  {
    /* and its grown head extends the migrated one */
    int st;
    uint8_t *rb;
    size_t rl;
    char q[96];
    snprintf(q, sizeof q, "/v1/log/proof/consistency?first=%llu&second=%llu",
             (unsigned long long)after.size, (unsigned long long)grown.size);
    assert_int_equal(sc_call(&c, "GET", q, NULL, NULL, 0, &st, &rb, &rl), 0);
    assert_int_equal(st, 200);
    ProtobufCMessage *m = NULL;
    assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_CONSISTENCY_PROOF, rb, rl), 0);
    Mentorlog__V1__ConsistencyProof *cp = (Mentorlog__V1__ConsistencyProof *)m;
    uint8_t proof[64][32];
    for (size_t k = 0; k < cp->n_hashes; k++) memcpy(proof[k], cp->hashes[k].data, 32);
    assert_int_equal(mlproto_sth_check_consistency(&after, &grown, (const uint8_t(*)[32])proof,
                                                   cp->n_hashes), MLPROTO_OK);
    mlproto_msg_free(m);
    free(rb);
  }
  /* the revoked device stays refused */
  {
    size_t lx;
    uint8_t *x = sim_record(&d2, MLPROTO_KIND_CASE_OPEN, case_b, &lx);
    assert_int_equal(push(&c, &d2, &x, &lx, 1, name, NULL), 401);
    assert_string_equal(name, "UNAUTHENTICATED");
    mlproto_free(x);
  }
  /* the code issued before the migration enrols a new device */
  {
    size_t len, rlen;
    int st;
    uint8_t *rb;
    uint8_t *body = sim_enroll_body(&e, unused_code, &len);
    assert_int_equal(sc_call(&c, "POST", "/v1/enroll", NULL, body, len, &st, &rb, &rlen), 0);
    assert_int_equal(st, 200);
    free(body);
    free(rb);
  }
  /* fork evidence again: a new row after the copied ones */
  {
    size_t lx;
    uint8_t *x = sim_record_at(&d, MLPROTO_KIND_CONTACT, case_a, 2, prev1, &lx, h);
    assert_int_equal(push(&c, &d, &x, &lx, 1, name, NULL), mlproto_http_status(MLPROTO_ERR_FORK));
    assert_string_equal(name, "FORK");
    mlproto_free(x);
    assert_int_equal(store_sql_int(pg, "SELECT count(*) FROM forks"),
                     store_sql_int(sqlite_uri, "SELECT count(*) FROM forks") + 1);
  }
  /* the auditor token authenticates; the cosignature is there already */
  assert_int_equal(post_cosig(&s, before.size, token, line, text), 200);
  assert_string_equal(text, "kept\n");
  /* admin on the PostgreSQL store */
  const char *dl[] = {"device", "list", NULL};
  assert_int_equal(ih_admin(&s, list, sizeof list, dl), 0);
  char idd[33];
  mls_device_id(h, d.pub);
  mlproto_hex_encode(idd, h, 16);
  assert_non_null(strstr(list, idd));
  assert_non_null(strstr(list, "revoked"));

  mlproto_free(first);
  sc_free(&c);
  assert_int_equal(ih_server_stop(&s), 0);
  char *log = ih_server_log(&s);
  assert_non_null(log);
  assert_null(strstr(log, "Anna"));
  free(log);
  sim_dev_free(&d);
  sim_dev_free(&d2);
  sim_dev_free(&b);
  sim_dev_free(&e);
  ih_server_cleanup(&s);
}

int main(void) {
  if (mlproto_crypto_init() || sodium_init() < 0) return 1;
  if (!test_store_is_pg()) {
    fprintf(stderr, "test_migrate needs PostgreSQL: ML_TEST_PG_FILE (the ctest fixture)\n");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(migrate_then_serve_on_postgresql, ih_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
