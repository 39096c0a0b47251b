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
#include "app.h"

#include "mentorlog/mentorlog.h"
#include "mentorlog/sync.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct fx {
  char dir[64];
  mls_app *app;
  int64_t now;
  char mentor_a[40], mentor_b[40];
} fx;

static int admin(fx *f, char *out, size_t cap, const char *a1, const char *a2, const char *a3) {
  const char *argv[7] = {"admin", "--data", f->dir, a1, a2, a3, NULL};
  int argc = 3;
  while (argc < 6 && argv[argc]) argc++;
  char path[96];
  snprintf(path, sizeof path, "%s/admin.out", f->dir);
  fflush(stdout);
  int saved = dup(1);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(fd, 1);
  close(fd);
  int rc = mls_admin_main(argc, (char **)argv);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  size_t n = 0;
  char *s = tu_read_file(path, &n);
  if (out) {
    snprintf(out, cap, "%s", s ? s : "");
    char *nl = strchr(out, '\n');
    if (nl) *nl = 0;
  }
  free(s);
  unlink(path);
  return rc;
}

/* Run the engine to DONE or FAIL through the app; returns the final error. */
static int run(fx *f, mentorlog *h, const mentorlog_sync_options *o, char *msg, size_t cap) {
  mentorlog_sync *s = NULL;
  int err = mentorlog_sync_new(h, o, &s);
  if (err) {
    snprintf(msg, cap, "new: %s", mentorlog_errmsg(h));
    return err;
  }
  for (int guard = 0; guard < 100000; guard++) {
    mentorlog_sync_action a;
    mentorlog_sync_step(s, f->now, &a);
    if (a.kind == MENTORLOG_SYNC_DONE || a.kind == MENTORLOG_SYNC_FAIL) {
      snprintf(msg, cap, "%s", mentorlog_sync_errmsg(s));
      err = a.kind == MENTORLOG_SYNC_FAIL ? a.error : 0;
      break;
    }
    if (a.kind == MENTORLOG_SYNC_WAIT) {
      f->now = a.until_ms;
      continue;
    }
    char path[512], *q;
    snprintf(path, sizeof path, "%s", a.path);
    q = strchr(path, '?');
    if (q) *q++ = 0;
    mls_header hs[4];
    for (size_t i = 0; i < a.n_headers && i < 4; i++)
      hs[i] = (mls_header){a.headers[i].name, a.headers[i].value};
    mls_request rq = {.method = a.method, .path = path, .query = q ? q : "", .headers = hs,
                      .n_headers = a.n_headers, .body = a.body, .body_len = a.body_len,
                      .peer = "10.0.0.1", .conn_id = 1};
    mls_response rs;
    memset(&rs, 0, sizeof rs);
    mls_app_handle(f->app, &rq, &rs, (uint64_t)f->now);
    f->now += 1;
    assert_int_equal(mentorlog_sync_deliver(s, a.request_id, rs.status, NULL, 0, rs.body.data, rs.body.len, f->now), 0);
    mlproto_buf_free(&rs.body);
  }
  mentorlog_sync_free(s);
  return err;
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
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.passphrase = "correct horse battery";
  o.passphrase_len = strlen(o.passphrase);
  o.kdf = MENTORLOG_KDF_FAST_INSECURE;
  mentorlog *h = NULL;
  assert_int_equal(mentorlog_create(&h, dir, &o), 0);
  char code[64];
  assert_int_equal(admin(f, code, sizeof code, "enroll-code", mentor, NULL), 0);
  mentorlog_sync_options so = MENTORLOG_SYNC_OPTIONS_INIT;
  so.enroll_code = code;
  so.server_url = "https://127.0.0.1:1";
  so.server_pin = "sha256:00";
  so.label = name;
  char msg[600];
  int err = run(f, h, &so, msg, sizeof msg);
  if (err) fail_msg("enrol %s: %s (%s)", name, mentorlog_errname(err), msg);
  return h;
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/mls-sync-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  f->now = (int64_t)time(NULL) * 1000;
  mls_app_config cfg = {.data_dir = f->dir, .create = 1};
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(two_devices_and_a_stranger, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
