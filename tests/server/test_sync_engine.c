/*
 * test_sync_engine.c — the device's sync engine (mentorlog/sync.h) against
 * the server's application half in the same process (mls_app_handle on a
 * temporary data directory: real store, real keys, real records; no
 * network). The basic paths: enrolment, push, pull, approval and key
 * grants, isolation of a second mentor, an unapproved device that reads no
 * note. Faults, lies and convergence: tests/sync.
 */
#include "testutil.h"

#include "admin.h"
#include "admin_run.h"
#include "test_store.h"
#include "app.h"
#include "app_sync.h"

#include "mentorlog/mentorlog.h"
#include "mentorlog/sync.h"
#include "records_int.h" /* client-core's internals: which key seals a record */
#include "sync_int.h"    /* and the sync state (an escrow key set by hand) */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Allocation hooks for the whole process (mentorlog_set_allocator, first
 * thing in main): pass-through, except that while `device` is set (the
 * engine's own calls, not the server's) allocation number fail_at fails. */
static long fail_at, alloc_count, live_blocks;
static int device_side; /* the engine's calls: allocation fail_at fails */
static int counting;    /* the device's whole life (open .. close): blocks counted */
static int server_side; /* inside the server's app: never counted */
static void *t_malloc(size_t n, void *ud) {
  (void)ud;
  if (device_side && fail_at && ++alloc_count == fail_at)
    return NULL;
  void *p = malloc(n);
  if (p && counting && !server_side)
    live_blocks++;
  return p;
}
static void *t_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  if (device_side && fail_at && ++alloc_count == fail_at)
    return NULL;
  void *q = realloc(p, n);
  if (q && !p && counting && !server_side)
    live_blocks++;
  return q;
}
static void t_free(void *p, void *ud) {
  (void)ud;
  if (p && counting && !server_side)
    live_blocks--;
  free(p);
}

typedef struct fx {
  char dir[64];
  char store[TEST_STORE_URI_CAP]; /* test_store.h */
  mls_app *app;
  int64_t now;
  char mentor_a[40], mentor_b[40];
} fx;

static int admin(fx *f, char *out, size_t cap, const char *a1, const char *a2, const char *a3) {
  const char *args[] = {a1, a2, a3, NULL};
  return sa_admin(f->dir, out, cap, args);
}

/* Whose code runs: the allocation hooks above count and fail the device's. */
static void side_of(int side) {
  device_side = side == SA_DEVICE;
  server_side = side == SA_SERVER;
}

static int run(fx *f, mentorlog *h, const mentorlog_sync_options *o, char *msg, size_t cap) {
  return sa_sync(f->app, h, o, &f->now, msg, cap, side_of);
}

static int sync_once(fx *f, mentorlog *h) {
  mentorlog_sync_options o = MENTORLOG_SYNC_OPTIONS_INIT;
  char msg[600];
  int err = run(f, h, &o, msg, sizeof msg);
  if (err) print_message("sync: %s (%s)\n", mentorlog_errname(err), msg);
  return err;
}

static mentorlog *device(fx *f, const char *name, const char *mentor) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/%s", f->dir, name);
  return sa_device(f->app, f->dir, dir, name, mentor, &f->now, side_of);
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/mls-sync-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(test_store_uri(f->store, sizeof f->store, f->dir), 0);
  f->now = (int64_t)time(NULL) * 1000;
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .create = 1};
  assert_int_equal(mls_app_open(&f->app, &cfg), 0);
  assert_int_equal(admin(f, f->mentor_a, sizeof f->mentor_a, "mentor", "add", "Anna"), 0);
  assert_int_equal(admin(f, f->mentor_b, sizeof f->mentor_b, "mentor", "add", "Bo"), 0);
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

static size_t count_notes(mentorlog *h, const uint8_t c[16], int *locked) {
  mentorlog_note *v;
  size_t n;
  assert_int_equal(mentorlog_notes(h, c, &v, &n), 0);
  *locked = 0;
  size_t texts = 0;
  for (size_t i = 0; i < n; i++) {
    texts += v[i].text != NULL;
    *locked += v[i].locked;
  }
  mentorlog_notes_free(v, n);
  return texts;
}

static void two_devices_and_a_stranger(void **state) {
  fx *f = *state;
  mentorlog *a1 = device(f, "a1", f->mentor_a);
  uint8_t c[16], r[16];
  assert_int_equal(mentorlog_case_open(a1, c, "Citizen One", NULL), 0);
  assert_int_equal(mentorlog_note_add(a1, r, c, "first visit went well", 21), 0);
  assert_int_equal(sync_once(f, a1), 0);
  uint64_t nrec, nout;
  assert_int_equal(mentorlog_counts(a1, &nrec, &nout), 0);
  assert_int_equal(nout, 0);
  mentorlog_sync_info si = {.version = MENTORLOG_SYNC_INFO_VERSION};
  assert_int_equal(mentorlog_sync_status(a1, &si), 0);
  assert_int_equal(si.enrolled, 1);
  assert_int_equal(si.approved, 1);
  assert_int_equal(si.devices, 1);
  /* every acknowledged record proven in the log (one run of 3: two proofs) */
  assert_int_equal(si.receipts, 3);
  assert_int_equal(si.receipts_unverified, 0);

  mentorlog *a2 = device(f, "a2", f->mentor_a);
  assert_int_equal(sync_once(f, a2), 0);
  /* a2 has the records, but no key: the note is locked */
  int locked;
  assert_int_equal(count_notes(a2, c, &locked), 0);
  assert_int_equal(locked, 1);
  si = (mentorlog_sync_info){.version = MENTORLOG_SYNC_INFO_VERSION};
  assert_int_equal(mentorlog_sync_status(a2, &si), 0);
  assert_int_equal(si.approved, 0);
  assert_int_equal(si.cases_locked, 1);

  /* a1 learns a2, approves it with the fingerprint a2 shows */
  assert_int_equal(sync_once(f, a1), 0);
  mentorlog_device *dv;
  size_t nd;
  assert_int_equal(mentorlog_devices(a1, &dv, &nd), 0);
  assert_int_equal(nd, 2);
  char fpr[MENTORLOG_FINGERPRINT_LEN + 1];
  assert_int_equal(mentorlog_fingerprint(a2, fpr), 0);
  assert_string_equal(dv[1].fingerprint, fpr);
  assert_int_equal(dv[1].approved, 0);
  assert_int_equal(mentorlog_device_approve(a1, dv[1].id, "0000-0000-0000-0000"), MENTORLOG_ERR_FINGERPRINT_MISMATCH);
  assert_int_equal(mentorlog_device_approve(a1, dv[1].id, fpr), 0);
  mentorlog_devices_free(dv, nd);
  assert_int_equal(sync_once(f, a1), 0);
  assert_int_equal(sync_once(f, a2), 0);
  assert_int_equal(count_notes(a2, c, &locked), 1);
  assert_int_equal(locked, 0);

  /* a2 writes; a1 reads it */
  uint8_t r2[16];
  assert_int_equal(mentorlog_note_add(a2, r2, c, "second visit", 12), 0);
  assert_int_equal(sync_once(f, a2), 0);
  assert_int_equal(sync_once(f, a1), 0);
  assert_int_equal(count_notes(a1, c, &locked), 2);

  /* the other mentor sees nothing of it */
  mentorlog *b1 = device(f, "b1", f->mentor_b);
  assert_int_equal(sync_once(f, b1), 0);
  mentorlog_case *cs;
  size_t n;
  assert_int_equal(mentorlog_cases(b1, &cs, &n), 0);
  assert_int_equal(n, 0);
  mentorlog_cases_free(cs, n);
  assert_int_equal(mentorlog_counts(b1, &nrec, &nout), 0);
  assert_int_equal(nrec, 0);
  mentorlog_close(a1);
  mentorlog_close(a2);
  mentorlog_close(b1);
}

static void approve(fx *f, mentorlog *by, mentorlog *dev) {
  assert_int_equal(sync_once(f, by), 0);
  mentorlog_device *dv;
  size_t nd;
  char fpr[MENTORLOG_FINGERPRINT_LEN + 1];
  assert_int_equal(mentorlog_fingerprint(dev, fpr), 0);
  assert_int_equal(mentorlog_devices(by, &dv, &nd), 0);
  int done = 0;
  for (size_t i = 0; i < nd; i++)
    if (strcmp(dv[i].fingerprint, fpr) == 0) {
      assert_int_equal(mentorlog_device_approve(by, dv[i].id, fpr), 0);
      done = 1;
    }
  mentorlog_devices_free(dv, nd);
  assert_true(done);
  assert_int_equal(sync_once(f, by), 0);
  assert_int_equal(sync_once(f, dev), 0);
}

/* Does the sealed part of record rid open under generation gen of its case key? */
static int opens_with(mentorlog *h, const uint8_t c[16], const uint8_t rid[16], int64_t gen) {
  sqlite3_stmt *st;
  assert_int_equal(ml__stmt_get(h, ML_SQL_RECORD_BY_ID, &st), 0);
  sqlite3_bind_blob(st, 1, rid, 16, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  mlproto_record *r = NULL;
  assert_int_equal(ml__row_record(h, st, 0, 1, 2, &r), 0);
  ml__stmt_put(st);
  const mlproto_key *k = NULL;
  assert_int_equal(ml__casekey_gen(h, c, gen, &k), 0);
  mlproto_sealed *sl = NULL;
  int err = mlproto_record_open_sealed(&sl, r, k);
  mlproto_sealed_free(sl);
  mlproto_record_free(r);
  return err == 0;
}

/* A revoked device: its session (so its push) is refused; the others
 * rotate the case keys, and what they write later is sealed under a key it
 * never had, which the remaining devices read. */
static void revocation_rotates_keys(void **state) {
  fx *f = *state;
  mentorlog *a1 = device(f, "a1", f->mentor_a);
  uint8_t c[16], r[16];
  assert_int_equal(mentorlog_case_open(a1, c, "Citizen Two", NULL), 0);
  assert_int_equal(mentorlog_note_add(a1, r, c, "before", 6), 0);
  assert_int_equal(sync_once(f, a1), 0);
  mentorlog *a2 = device(f, "a2", f->mentor_a);
  mentorlog *a3 = device(f, "a3", f->mentor_a);
  approve(f, a1, a2);
  approve(f, a1, a3);
  int locked;
  assert_int_equal(count_notes(a3, c, &locked), 1);
  mentorlog_sync_info si = {.version = MENTORLOG_SYNC_INFO_VERSION};
  assert_int_equal(mentorlog_sync_status(a3, &si), 0);
  char hex[33];
  for (int i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", si.device_id[i]);
  assert_int_equal(admin(f, NULL, 0, "device", "revoke", hex), 0);
  /* a3: refused */
  uint8_t r3[16];
  assert_int_equal(mentorlog_note_add(a3, r3, c, "after, by the revoked", 21), 0);
  int err = sync_once(f, a3);
  assert_true(err == MENTORLOG_ERR_UNAUTHENTICATED || err == MENTORLOG_ERR_DEVICE_REVOKED);
  uint64_t nrec, nout;
  assert_int_equal(mentorlog_counts(a3, &nrec, &nout), 0);
  assert_int_equal(nout, 1); /* kept, not lost */
  /* a1 learns the revocation, rotates, writes */
  assert_int_equal(sync_once(f, a1), 0);
  int64_t gens[4];
  size_t ng;
  assert_int_equal(ml__casekey_gens(a1, c, gens, 4, &ng), 0);
  assert_int_equal(ng, 2);
  uint8_t r4[16];
  assert_int_equal(mentorlog_note_add(a1, r4, c, "after", 5), 0);
  assert_false(opens_with(a1, c, r4, gens[1])); /* not under the key a3 held */
  assert_true(opens_with(a1, c, r4, gens[0]));
  assert_true(opens_with(a1, c, r, gens[1]));   /* the old note: the old key */
  assert_int_equal(sync_once(f, a1), 0);
  assert_int_equal(sync_once(f, a2), 0);
  assert_int_equal(count_notes(a2, c, &locked), 2); /* a2 got the new key */
  assert_int_equal(locked, 0);
  mentorlog_device *dv;
  size_t nd;
  assert_int_equal(mentorlog_devices(a2, &dv, &nd), 0);
  assert_int_equal(nd, 3);
  assert_int_equal(dv[2].revoked, 1);
  assert_int_equal(dv[2].approved, 0);
  mentorlog_devices_free(dv, nd);
  mentorlog_close(a1);
  mentorlog_close(a2);
  mentorlog_close(a3);
}

/* The data directory (the profiles, the server's files) and the store as
 * out_of_memory saved them (test_store_save: the SQLite file is in dir). */
static void restore(fx *f) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s.base' '%s'", f->dir, f->dir, f->dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(test_store_restore(f->store), 0);
}

static mentorlog *open_dev(fx *f, const char *name) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/%s", f->dir, name);
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.passphrase = "correct horse battery";
  o.passphrase_len = strlen(o.passphrase);
  mentorlog *h = NULL;
  assert_int_equal(mentorlog_open(&h, dir, &o), 0);
  return h;
}

/* Every allocation of one sync (push 5, pull 8 of another device, key
 * grants) fails once, in turn (the first 300, then every 37th; under
 * valgrind the first 20, then every 251st; ML_OOM_ALL=1 tries every one): the engine fails cleanly with a code,
 * leaks nothing, and the next sync completes with every record exactly
 * once. Each attempt starts from a copy of the same server and profile. */
static void out_of_memory(void **state) {
  fx *f = *state;
  mentorlog *a1 = device(f, "a1", f->mentor_a);
  uint8_t c[16], r[16];
  assert_int_equal(mentorlog_case_open(a1, c, "Citizen Three", NULL), 0);
  assert_int_equal(sync_once(f, a1), 0);
  mentorlog *a2 = device(f, "a2", f->mentor_a);
  approve(f, a1, a2);
  for (int i = 0; i < 8; i++) assert_int_equal(mentorlog_note_add(a1, r, c, "from a1", 7), 0);
  assert_int_equal(sync_once(f, a1), 0);
  for (int i = 0; i < 5; i++) assert_int_equal(mentorlog_note_add(a2, r, c, "from a2", 7), 0);
  uint64_t a1_recs, want, got, out;
  assert_int_equal(mentorlog_counts(a1, &a1_recs, NULL), 0);
  want = a1_recs + 5;
  mentorlog_close(a1);
  mentorlog_close(a2);
  mls_app_close(f->app);
  f->app = NULL;
  char cmd[512];
  snprintf(cmd, sizeof cmd, "cp -a '%s' '%s.base'", f->dir, f->dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(test_store_save(f->store), 0);
  int64_t t0 = f->now;
  long total = 0, tried = 0;
  int all = getenv("ML_OOM_ALL") != NULL;
  /* under valgrind (its preload is in the environment) fewer attempts:
   * memcheck is about what each one touches, not about how many */
  const char *pre = getenv("LD_PRELOAD");
  int vg = pre && strstr(pre, "vgpreload");
  long dense = vg ? 20 : 300, stride = vg ? 251 : 37;
  /* n = 0: two runs without a failure first; the second's balance of
   * blocks is what every attempt must end with (a first open frees a block
   * or two that a library made before the hooks counted) */
  long balance = 0;
  for (long n = -1;; ) {
    restore(f);
    f->now = t0;
    mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .create = 0};
    assert_int_equal(mls_app_open(&f->app, &cfg), 0);
    long live = live_blocks;
    counting = 1;
    mentorlog *h = open_dev(f, "a2");
    fail_at = n > 0 ? n : 0;
    alloc_count = 0;
    mentorlog_sync_options o = MENTORLOG_SYNC_OPTIONS_INIT;
    char msg[600];
    int err = run(f, h, &o, msg, sizeof msg);
    long reached = alloc_count;
    fail_at = 0;
    if (err) /* a code, never a crash; most are OUT_OF_MEMORY, some the storage's own */
      assert_true(err < 0 && strcmp(mentorlog_errname(err), "UNKNOWN_ERROR") != 0);
    /* then a clean sync brings everything, each record once */
    assert_int_equal(run(f, h, &o, msg, sizeof msg), 0);
    assert_int_equal(mentorlog_counts(h, &got, &out), 0);
    assert_int_equal(out, 0);
    assert_int_equal(got, want);
    assert_int_equal(mentorlog_verify(h), 0);
    int locked;
    assert_int_equal(count_notes(h, c, &locked), 13);
    mentorlog_close(h);
    counting = 0;
    mls_app_close(f->app);
    f->app = NULL;
    if (getenv("ML_OOM_DEBUG"))
      print_message("n=%ld balance %ld reached %ld err %d\n", n, live_blocks - live, reached, err);
    if (n == 0)
      balance = live_blocks - live;
    if (n > 0) {
      if (live_blocks - live != balance)
        fail_msg("allocation %ld failed: %ld blocks left over", n, live_blocks - live - balance);
      tried++;
    }
    if (n <= 0) {
      n++;
      if (n == 0)
        continue;
      n = 1;
      continue;
    }
    if (reached < n) {
      total = reached;
      break; /* the sync ran without reaching allocation n */
    }
    n += (all || n < dense) ? 1 : stride;
  }
  print_message("out of memory: %ld of %ld allocations of one sync failed in turn\n", tried - 1, total);
  assert_true(total > 300 && tried > (vg ? 20 : 300));
  snprintf(cmd, sizeof cmd, "rm -rf '%s.base'", f->dir);
  assert_int_equal(system(cmd), 0);
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .create = 0};
  assert_int_equal(mls_app_open(&f->app, &cfg), 0);
}

/* An organisation's escrow key (here set in the device's state by hand:
 * the server cannot announce one before issue 11): every case key the
 * device holds is granted to it at the next sync, and the escrow's secret
 * opens the grant to the case's key. */
static void escrow_gets_every_key(void **state) {
  fx *f = *state;
  mentorlog *a1 = device(f, "a1", f->mentor_a);
  uint8_t c[16], r[16];
  assert_int_equal(mentorlog_case_open(a1, c, "Citizen Four", NULL), 0);
  assert_int_equal(mentorlog_note_add(a1, r, c, "for the auditor", 15), 0);
  assert_int_equal(sync_once(f, a1), 0);
  mlproto_key *esc = NULL;
  assert_int_equal(mlproto_key_generate(&esc, MLPROTO_KEY_BOX), 0);
  struct ml_sync_state *st = calloc(1, sizeof *st);
  assert_int_equal(ml__sync_load(a1, st), 0);
  st->has_escrow = 1;
  assert_int_equal(mlproto_key_public(st->escrow_pub, esc), 0);
  assert_int_equal(ml__begin(a1), 0);
  assert_int_equal(ml__sync_store(a1, st), 0);
  assert_int_equal(ml__commit(a1), 0);
  mentorlog_sync_info si = {.version = MENTORLOG_SYNC_INFO_VERSION};
  assert_int_equal(mentorlog_sync_status(a1, &si), 0);
  assert_int_equal(si.pending_grants, 1);
  assert_int_equal(sync_once(f, a1), 0);
  si = (mentorlog_sync_info){.version = MENTORLOG_SYNC_INFO_VERSION};
  assert_int_equal(mentorlog_sync_status(a1, &si), 0);
  assert_int_equal(si.pending_grants, 0);
  /* the newest KEY_GRANT of the case names the escrow key; it opens */
  sqlite3_stmt *q;
  assert_int_equal(ml__prepare(a1, &q, "SELECT record_id, envelope, hash FROM records WHERE case_id = ? AND kind = 8"
                                       " ORDER BY rid DESC LIMIT 1"), 0);
  sqlite3_bind_blob(q, 1, c, 16, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(q), SQLITE_ROW);
  mlproto_record *g = NULL;
  assert_int_equal(ml__row_record(a1, q, 0, 1, 2, &g), 0);
  sqlite3_finalize(q);
  const Mentorlog__V1__KeyGrantDisclosed *kg = g->disclosed->key_grant;
  int opened = 0;
  for (size_t i = 0; i < kg->n_keys; i++) {
    if (memcmp(kg->keys[i]->recipient.data, st->escrow_pub, 32) != 0) continue;
    mlproto_key *ck = NULL;
    assert_int_equal(mlproto_case_key_open(&ck, kg->keys[i]->sealed_key.data, esc), 0);
    /* the key the escrow got opens the note */
    assert_int_equal(ml__stmt_get(a1, ML_SQL_RECORD_BY_ID, &q), 0);
    sqlite3_bind_blob(q, 1, r, 16, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    mlproto_record *nr = NULL;
    assert_int_equal(ml__row_record(a1, q, 0, 1, 2, &nr), 0);
    ml__stmt_put(q);
    mlproto_sealed *sl = NULL;
    assert_int_equal(mlproto_record_open_sealed(&sl, nr, ck), 0);
    assert_string_equal(sl->note->text, "for the auditor");
    mlproto_sealed_free(sl);
    mlproto_record_free(nr);
    mlproto_key_free(ck);
    opened = 1;
  }
  assert_true(opened);
  mlproto_record_free(g);
  mlproto_key_free(esc);
  free(st);
  mentorlog_close(a1);
}

int main(void) {
  mentorlog_allocator al = {t_malloc, t_realloc, t_free, NULL};
  assert_int_equal(mentorlog_set_allocator(&al), 0);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(two_devices_and_a_stranger, setup, teardown),
      cmocka_unit_test_setup_teardown(revocation_rotates_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(escrow_gets_every_key, setup, teardown),
      cmocka_unit_test_setup_teardown(out_of_memory, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
