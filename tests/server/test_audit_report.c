/*
 * test_audit_report.c — `mentorlog-audit report` (the real binary) against
 * the server's own compliance documents. Devices of two mentors (client-core,
 * synced with their real engine against the application half in this
 * process) write grants for two jobcentres, contacts (held, an attempt, a
 * missed week, late entries) and an approved absence; the log is exported
 * (`admin export-log`) and the report recomputed from the file must be, for
 * each jobcentre, byte for byte the server's GET /v1/jobcentre/compliance
 * answer at the same instant — JSON and CSV, whole and over a range — and
 * the report of every jobcentre must hold every grant, each naming its
 * jobcentre. Then a device erases a case and `admin retention purge` purges
 * another: both grants are ERASED in the report as in the server's. A file
 * changed by one byte, cut short, or checked against another key is refused
 * (exit 1, nothing on standard output, the stable code on standard error);
 * usage errors exit 2; --help exits 0.
 */
#include "testutil.h"

#include "admin_run.h"
#include "test_store.h"
#include "app.h"
#include "app_sync.h"

#include "mentorlog/mentorlog.h"
#include "mlproto/civiltime.h"
#include "mlproto/util.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS 86400000LL

extern char **environ;

typedef struct fx {
  char dir[64];
  char store[TEST_STORE_URI_CAP]; /* test_store.h */
  mls_app *app;
  int64_t now;
  mentorlog_date today;
  char mentor_a[40], mentor_b[40];
  char tok_kbh[64], tok_aar[64];
  char vkey[200];
  mentorlog *a1, *b1;
  uint8_t c[6][16], g[6][16];
  char file[128];
} fx;

typedef sa_resp resp;

/* ----------------------------------------------------------- helpers --- */

static resp get(fx *f, const char *path, const char *query, const char *token) {
  return sa_get(f->app, (uint64_t)f->now, path, query, token, NULL);
}

static int admin(fx *f, char *out, size_t cap, const char *const *args) {
  return sa_admin(f->dir, out, cap, args);
}

static void sync_dev(fx *f, mentorlog *h) {
  mentorlog_sync_options o = MENTORLOG_SYNC_OPTIONS_INIT;
  char msg[600];
  int err = sa_sync(f->app, h, &o, &f->now, msg, sizeof msg, NULL);
  if (err) fail_msg("sync: %s (%s)", mentorlog_errname(err), msg);
}

static void hex16(char out[33], const uint8_t id[16]) { mlproto_hex_encode(out, id, 16); }

static void grant(mentorlog *h, const uint8_t c[16], uint8_t out[16], const char *jc,
                  const char *ref, mentorlog_date start, mentorlog_date end) {
  sa_grant(h, c, out, jc, ref, start, end);
}

static void contact(mentorlog *h, const uint8_t c[16], int64_t start_ms, uint32_t minutes,
                    int channel, int outcome) {
  sa_contact(h, c, start_ms, minutes, channel, outcome, 10, "NOTE-SECRET");
}

static int64_t noon(mentorlog_date d) { return sa_noon(d); }

/* The binary's result: exit status, stdout, stderr. */
typedef struct run {
  int status;
  char *out, *err;
  size_t out_len;
} run;

static void run_free(run *r) {
  free(r->out);
  free(r->err);
}

/* mentorlog-audit ARGS... (NULL-terminated). */
static run audit(fx *f, const char *a0, ...) {
  const char *argv[32] = {ML_AUDIT_BIN, a0};
  size_t n = 2;
  va_list ap;
  va_start(ap, a0);
  const char *a;
  while (n + 1 < 32 && (a = va_arg(ap, const char *))) argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  char po[128], pe[128];
  snprintf(po, sizeof po, "%s/audit.out", f->dir);
  snprintf(pe, sizeof pe, "%s/audit.err", f->dir);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, po, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, pe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  assert_int_equal(posix_spawn(&pid, ML_AUDIT_BIN, &fa, NULL, (char *const *)argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  run r = {.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1};
  size_t el = 0;
  r.out = tu_read_file(po, &r.out_len);
  r.err = tu_read_file(pe, &el);
  assert_non_null(r.out);
  assert_non_null(r.err);
  return r;
}

static void export_log(fx *f, const char *name) {
  snprintf(f->file, sizeof f->file, "%s/%s", f->dir, name);
  const char *args[] = {"export-log", "--out", f->file, NULL};
  assert_int_equal(admin(f, NULL, 0, args), 0);
}

static const char *ms(char buf[24], int64_t v) {
  snprintf(buf, 24, "%lld", (long long)v);
  return buf;
}

/* The report for jobcentre jc at f->now (format "--json" or "--csv", a
 * range or NULLs) must be the server's answer to query q, byte for byte. */
static void same_as_server(fx *f, const char *jc, const char *token, const char *fmt,
                           const char *from, const char *to, const char *q) {
  char now[24];
  run r = from ? audit(f, "report", f->file, "--log-key", f->vkey, fmt, "--jobcentre", jc,
                       "--now", ms(now, f->now), "--from", from, "--to", to, (char *)NULL)
               : audit(f, "report", f->file, "--log-key", f->vkey, fmt, "--jobcentre", jc,
                       "--now", ms(now, f->now), (char *)NULL);
  if (r.status != 0) fail_msg("report %s %s: exit %d: %s", jc, fmt, r.status, r.err);
  resp s = get(f, "/v1/jobcentre/compliance", q, token);
  assert_int_equal(s.status, 200);
  if (s.len != r.out_len || memcmp(s.body, r.out, s.len) != 0)
    fail_msg("report --jobcentre %s %s (%s): %zu bytes, the server's %zu:\n%.400s\n---\n%.400s",
             jc, fmt, q ? q : "", r.out_len, s.len, r.out, s.text);
  assert_string_equal(r.err, "");
  sa_resp_free(&s);
  run_free(&r);
}

/* ------------------------------------------------------------- setup --- */

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/mls-arep-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(test_store_uri(f->store, sizeof f->store, f->dir), 0);
  f->now = (int64_t)time(NULL) * 1000;
  f->today = (mentorlog_date)(f->now / DAY_MS);
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .create = 1};
  assert_int_equal(mls_app_open(&f->app, &cfg), 0);
  const char *ma[] = {"mentor", "add", "Anna", NULL}, *mb[] = {"mentor", "add", "Bo", NULL};
  assert_int_equal(admin(f, f->mentor_a, sizeof f->mentor_a, ma), 0);
  assert_int_equal(admin(f, f->mentor_b, sizeof f->mentor_b, mb), 0);
  const char *kbh[] = {"token", "add", "--role", "jobcentre", "--jobcentre", "kbh", NULL};
  assert_int_equal(admin(f, f->tok_kbh, sizeof f->tok_kbh, kbh), 0);
  const char *aar[] = {"token", "add", "--role", "jobcentre", "--jobcentre", "aarhus", NULL};
  assert_int_equal(admin(f, f->tok_aar, sizeof f->tok_aar, aar), 0);
  const char *lk[] = {"log-key", NULL};
  assert_int_equal(admin(f, f->vkey, sizeof f->vkey, lk), 0);

  char dir[128];
  snprintf(dir, sizeof dir, "%s/a1", f->dir);
  f->a1 = sa_device(f->app, f->dir, dir, "a1", f->mentor_a, &f->now, NULL);
  snprintf(dir, sizeof dir, "%s/b1", f->dir);
  f->b1 = sa_device(f->app, f->dir, dir, "b1", f->mentor_b, &f->now, NULL);

  /* A: case 0 for kbh, eight weeks of contacts (a missed week, an attempt,
   * late entries: the first weeks are written today) and an approved
   * absence; case 1 for aarhus; case 4 for kbh (to be erased); case 5 for
   * kbh, ended long ago (to be purged). B: case 2 for kbh, case 3 aarhus. */
  mentorlog_date s = f->today - 56;
  assert_int_equal(mentorlog_case_open(f->a1, f->c[0], "NAME-SECRET Ada", NULL), 0);
  grant(f->a1, f->c[0], f->g[0], "kbh", "KBH-001", s, f->today + 60);
  for (int w = 0; w < 8; w++) {
    if (w == 3) continue;
    contact(f->a1, f->c[0], noon(s + 7 * w + 1), 60, MENTORLOG_CHANNEL_HOME_VISIT,
            MENTORLOG_OUTCOME_HELD);
  }
  contact(f->a1, f->c[0], noon(s + 7 * 3 + 2), 5, MENTORLOG_CHANNEL_PHONE,
          MENTORLOG_OUTCOME_ATTEMPT_FAILED);
  mentorlog_absence_params ap;
  mentorlog_absence_params_init(&ap);
  ap.from = f->today + 7;
  ap.to = f->today + 20;
  ap.kind = 1;
  ap.approved_ref = "KBH-ABS-1";
  uint8_t r[16];
  assert_int_equal(mentorlog_absence_add(f->a1, r, f->c[0], &ap), 0);
  assert_int_equal(mentorlog_case_open(f->a1, f->c[1], "NAME-SECRET Bent", NULL), 0);
  grant(f->a1, f->c[1], f->g[1], "aarhus", "AAR-77", f->today - 20, f->today + 20);
  contact(f->a1, f->c[1], noon(f->today - 2), 30, MENTORLOG_CHANNEL_IN_PERSON,
          MENTORLOG_OUTCOME_HELD);
  assert_int_equal(mentorlog_case_open(f->a1, f->c[4], "NAME-SECRET Dan", NULL), 0);
  grant(f->a1, f->c[4], f->g[4], "kbh", "KBH-004", f->today - 30, f->today + 30);
  contact(f->a1, f->c[4], noon(f->today - 3), 45, MENTORLOG_CHANNEL_VIDEO,
          MENTORLOG_OUTCOME_HELD);
  assert_int_equal(mentorlog_case_open(f->a1, f->c[5], "NAME-SECRET Eva", NULL), 0);
  grant(f->a1, f->c[5], f->g[5], "kbh", "KBH-005", f->today - 300, f->today - 200);
  assert_int_equal(mentorlog_case_open(f->b1, f->c[2], "NAME-SECRET Cai", NULL), 0);
  grant(f->b1, f->c[2], f->g[2], "kbh", "KBH-002", f->today - 10, f->today + 30);
  contact(f->b1, f->c[2], noon(f->today - 1), 90, MENTORLOG_CHANNEL_IN_PERSON,
          MENTORLOG_OUTCOME_HELD);
  assert_int_equal(mentorlog_case_open(f->b1, f->c[3], "NAME-SECRET Dora", NULL), 0);
  grant(f->b1, f->c[3], f->g[3], "aarhus", "AAR-78", f->today - 40, f->today + 10);
  sync_dev(f, f->a1);
  sync_dev(f, f->b1);
  export_log(f, "a.audit");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  mentorlog_close(f->a1);
  mentorlog_close(f->b1);
  mls_app_close(f->app);
  sa_rmrf(f->dir);
  assert_int_equal(test_store_drop(f->store), 0);
  free(f);
  return 0;
}

/* SELECT max(received_ms) FROM log, through the store contract. */
static int max_received_fn(void *ud, const mls_log_entry *e) {
  int64_t *m = ud;
  if ((int64_t)e->received_ms > *m) *m = (int64_t)e->received_ms;
  return 0;
}

/* -------------------------------------------------------------- tests --- */

static void identical_to_the_server(void **state) {
  fx *f = *state;
  same_as_server(f, "kbh", f->tok_kbh, "--json", NULL, NULL, NULL);
  same_as_server(f, "kbh", f->tok_kbh, "--csv", NULL, NULL, "format=csv");
  same_as_server(f, "aarhus", f->tok_aar, "--json", NULL, NULL, NULL);
  same_as_server(f, "aarhus", f->tok_aar, "--csv", NULL, NULL, "format=csv");
  /* a range that leaves grants and periods out */
  char from[11], to[11], q[80];
  mlproto_date_format(from, f->today - 14);
  mlproto_date_format(to, f->today - 1);
  snprintf(q, sizeof q, "from=%s&to=%s", from, to);
  same_as_server(f, "kbh", f->tok_kbh, "--json", from, to, q);
  snprintf(q, sizeof q, "from=%s&to=%s&format=csv", from, to);
  same_as_server(f, "kbh", f->tok_kbh, "--csv", from, to, q);

  /* --now as the document's generated_at (RFC 3339 with ms) is the same instant */
  char now[24];
  run a = audit(f, "report", f->file, "--log-key", f->vkey, "--jobcentre", "kbh", "--now",
                ms(now, f->now), (char *)NULL);
  const char *ga = strstr(a.out, "\"generated_at\":\"");
  assert_non_null(ga);
  char stamp[25];
  memcpy(stamp, ga + 16, 24);
  stamp[24] = 0;
  run b = audit(f, "report", f->file, "--log-key", f->vkey, "--jobcentre", "kbh", "--now", stamp,
                (char *)NULL);
  assert_int_equal(b.status, 0);
  assert_string_equal(a.out, b.out);
  run_free(&a);
  run_free(&b);

  /* with the state of a `verify --state` of the file: the same document
   * (its signatures vouched for by the kept checkpoint) */
  char sdir[128];
  snprintf(sdir, sizeof sdir, "%s/audit-state", f->dir);
  a = audit(f, "verify", f->file, "--log-key", f->vkey, "--state", sdir, (char *)NULL);
  assert_int_equal(a.status, 0);
  run_free(&a);
  a = audit(f, "report", f->file, "--log-key", f->vkey, "--now", ms(now, f->now), "--csv",
            (char *)NULL);
  b = audit(f, "report", f->file, "--state", sdir, "--now", ms(now, f->now), "--csv",
            (char *)NULL);
  assert_int_equal(b.status, 0);
  assert_string_equal(a.out, b.out);
  run_free(&a);
  run_free(&b);
  snprintf(sdir, sizeof sdir, "%s/no-such-state", f->dir);
  a = audit(f, "report", f->file, "--state", sdir, (char *)NULL);
  assert_int_equal(a.status, 1); /* never created */
  assert_non_null(strstr(a.err, "not a state directory"));
  run_free(&a);

  /* default now: the receipt time of the file's last entry */
  int64_t last = 0;
  t_log_each(f->store, max_received_fn, &last);
  assert_true(last > 0);
  a = audit(f, "report", f->file, "--log-key", f->vkey, (char *)NULL);
  b = audit(f, "report", f->file, "--log-key", f->vkey, "--json", "--now", ms(now, last),
            (char *)NULL);
  assert_int_equal(a.status, 0);
  assert_string_equal(a.out, b.out);
  run_free(&a);
  run_free(&b);
}

static void every_jobcentre(void **state) {
  fx *f = *state;
  char now[24];
  run r = audit(f, "report", f->file, "--log-key", f->vkey, "--now", ms(now, f->now),
                (char *)NULL);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "{\"report\":\"compliance\",\"jobcentre\":null,"));
  /* every grant, each naming its jobcentre right after its case id */
  for (int i = 0; i < 6; i++) {
    char g[33], c[33], want[160];
    hex16(g, f->g[i]);
    hex16(c, f->c[i]);
    snprintf(want, sizeof want, "{\"grant_id\":\"%s\",\"case_id\":\"%s\",\"jobcentre\":\"%s\"", g, c,
             i == 1 || i == 3 ? "aarhus" : "kbh");
    if (!strstr(r.out, want)) fail_msg("no %s in\n%.600s", want, r.out);
  }
  /* ordered by jobcentre, then reference */
  char g1[33], g0[33];
  hex16(g1, f->g[1]);
  hex16(g0, f->g[0]);
  assert_true(strstr(r.out, g1) < strstr(r.out, g0)); /* aarhus < kbh */
  run_free(&r);
  r = audit(f, "report", f->file, "--log-key", f->vkey, "--csv", "--now", ms(now, f->now),
            (char *)NULL);
  assert_int_equal(r.status, 0);
  assert_int_equal(strncmp(r.out, "grant_id,jobcentre,case_ref,legal_basis,state,", 46), 0);
  char row[64];
  snprintf(row, sizeof row, "\r\n%s,aarhus,AAR-77,", g1);
  assert_non_null(strstr(r.out, row));
  assert_null(strstr(r.out, "SECRET"));
  run_free(&r);
}

static void erased_grants(void **state) {
  fx *f = *state;
  assert_int_equal(mentorlog_case_erase(f->a1, f->c[4]), 0);
  sync_dev(f, f->a1);
  char before[11];
  mlproto_date_format(before, f->today - 100);
  const char *purge[] = {"retention", "purge", "--before", before, NULL};
  assert_int_equal(admin(f, NULL, 0, purge), 0);
  export_log(f, "b.audit");
  same_as_server(f, "kbh", f->tok_kbh, "--json", NULL, NULL, NULL);
  same_as_server(f, "kbh", f->tok_kbh, "--csv", NULL, NULL, "format=csv");
  char now[24];
  run r = audit(f, "report", f->file, "--log-key", f->vkey, "--jobcentre", "kbh", "--now",
                ms(now, f->now), (char *)NULL);
  assert_int_equal(r.status, 0);
  for (int i = 4; i <= 5; i++) {
    char g[33], want[120];
    hex16(g, f->g[i]);
    snprintf(want, sizeof want, "{\"grant_id\":\"%s\",\"case_id\":", g);
    const char *at = strstr(r.out, want);
    assert_non_null(at);
    const char *st = strstr(at, "\"state\":\"");
    assert_non_null(st);
    assert_int_equal(strncmp(st, "\"state\":\"ERASED\"", 16), 0);
  }
  assert_null(strstr(r.out, "KBH-004")); /* the codes went with the erasure */
  run_free(&r);
  /* aarhus's document of the file also lists them (the file cannot say whose
   * they were: docs/reports.md); the server's does not */
  r = audit(f, "report", f->file, "--log-key", f->vkey, "--jobcentre", "aarhus", "--now",
            ms(now, f->now), (char *)NULL);
  resp s = get(f, "/v1/jobcentre/compliance", NULL, f->tok_aar);
  char g4[33];
  hex16(g4, f->g[4]);
  assert_non_null(strstr(r.out, g4));
  assert_null(strstr(s.text, g4));
  sa_resp_free(&s);
  run_free(&r);
}

/* The file with byte `at` changed, at path. */
static void write_changed(const char *src, const char *path, size_t at, size_t keep) {
  size_t n = 0;
  char *b = tu_read_file(src, &n);
  assert_non_null(b);
  if (at < n) b[at] ^= 0x20;
  FILE *o = fopen(path, "wb");
  assert_non_null(o);
  assert_int_equal(fwrite(b, 1, keep < n ? keep : n, o), keep < n ? keep : n);
  fclose(o);
  free(b);
}

static void refuses_a_tampered_file(void **state) {
  fx *f = *state;
  size_t n = 0;
  free(tu_read_file(f->file, &n));
  /* bytes inside entries (a third and half into the file) and in the
   * checkpoint's signature line (near the end) */
  char bad[128];
  snprintf(bad, sizeof bad, "%s/bad.audit", f->dir);
  size_t offsets[] = {n / 2, n / 3, n - 120};
  for (size_t i = 0; i < 3; i++) {
    write_changed(f->file, bad, offsets[i], SIZE_MAX);
    run r = audit(f, "report", bad, "--log-key", f->vkey, (char *)NULL);
    if (r.status != 1) fail_msg("byte %zu changed: exit %d", offsets[i], r.status);
    assert_int_equal(r.out_len, 0);
    assert_non_null(strstr(r.err, "does not verify"));
    assert_non_null(strstr(r.err, "no report is printed"));
    assert_non_null(strstr(r.err, "mentorlog-audit: report: "));
    run_free(&r);
  }
  /* cut short */
  write_changed(f->file, bad, SIZE_MAX, n - 10);
  run r = audit(f, "report", bad, "--log-key", f->vkey, "--csv", (char *)NULL);
  assert_int_equal(r.status, 1);
  assert_int_equal(r.out_len, 0);
  assert_non_null(strstr(r.err, "AUDIT_FILE_TRUNCATED"));
  run_free(&r);
  /* another log's key (the same name) */
  r = audit(f, "report", f->file, "--log-key",
            "mentorlog.example/log+2878df77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs",
            (char *)NULL);
  assert_int_equal(r.status, 1);
  assert_int_equal(r.out_len, 0);
  assert_non_null(strstr(r.err, "CHECKPOINT_ORIGIN"));
  run_free(&r);
  /* no such file */
  r = audit(f, "report", "/nonexistent/x.audit", "--log-key", f->vkey, (char *)NULL);
  assert_int_equal(r.status, 1);
  assert_non_null(strstr(r.err, "report: NOT_FOUND: cannot read"));
  run_free(&r);
}

static void usage(void **state) {
  fx *f = *state;
  run r = audit(f, "report", "--help", (char *)NULL);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.out, "Usage: mentorlog-audit report FILE"));
  assert_non_null(strstr(r.out, "prints NO report unless every check holds"));
  run_free(&r);
  r = audit(f, "--help", (char *)NULL);
  assert_non_null(strstr(r.out, "report "));
  run_free(&r);
  static const char *const bad[][6] = {
      {"report", NULL},
      {"report", "F", NULL},                                      /* no key */
      {"report", "F", "--log-key", "nonsense", NULL},
      {"report", "F", "--log-key", "K", "--json", "--csv"},
      {"report", "F", "--log-key", "K", "--from", "2026-13-01"},
      {"report", "F", "--log-key", "K", "--now", "yesterday"},
      {"report", "F", "--log-key", "K", "--jobcentre", ""},
      {"report", "F", "G", NULL},
      {"report", "F", "--log-key", "K", "--what", NULL},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *a[6];
    for (int k = 0; k < 6; k++)
      a[k] = bad[i][k] && strcmp(bad[i][k], "K") == 0 ? f->vkey
             : bad[i][k] && strcmp(bad[i][k], "F") == 0 ? f->file : bad[i][k];
    r = audit(f, a[0], a[1], a[2], a[3], a[4], a[5], (char *)NULL);
    if (r.status != 2) fail_msg("case %zu: exit %d", i, r.status);
    assert_int_equal(r.out_len, 0);
    run_free(&r);
  }
  r = audit(f, "report", f->file, "--log-key", f->vkey, "--from", "2026-11-10", "--to",
            "2026-11-01", (char *)NULL);
  assert_int_equal(r.status, 2);
  run_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(identical_to_the_server, setup, teardown),
      cmocka_unit_test_setup_teardown(every_jobcentre, setup, teardown),
      cmocka_unit_test_setup_teardown(erased_grants, setup, teardown),
      cmocka_unit_test_setup_teardown(refuses_a_tampered_file, setup, teardown),
      cmocka_unit_test_setup_teardown(usage, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
