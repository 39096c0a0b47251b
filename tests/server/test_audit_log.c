/*
 * test_audit_log.c — GET /v1/audit/log on the server's application half in
 * the same process, and `admin export-log`. Devices of two mentors sync
 * real records; an auditor's token then pages through the whole log (every
 * mentor's records and the server's events, contiguous, each page with the
 * checkpoint of the listing's size, the very note /v1/log/checkpoint?size=
 * serves), a later listing pinned to an earlier size stops at it, and the
 * file export-log writes is byte for byte the file built from the pages
 * (mlproto/auditlog.h). Refusals: no token, an unknown one, a jobcentre's,
 * bad queries, a size beyond the log.
 */
#include "testutil.h"

#include "admin_run.h"
#include "test_store.h"
#include "app.h"
#include "app_sync.h"

#include "mentorlog/mentorlog.h"
#include "mlproto/auditlog.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct fx {
  char dir[64];
  char store[TEST_STORE_URI_CAP]; /* test_store.h */
  mls_app *app;
  int64_t now;
  char mentor_a[40], mentor_b[40];
  char tok_audit[64], tok_jc[64], vkey[400];
  mentorlog *a1, *a2, *b1;
} fx;

typedef sa_resp resp;

static resp get(fx *f, const char *path, const char *query, const char *token) {
  return sa_get(f->app, (uint64_t)f->now, path, query, token, NULL);
}
static void resp_free(resp *r) { sa_resp_free(r); }

/* One page: 200, decoded and validated (mlproto_msg_unpack). */
static Mentorlog__V1__AuditLogResponse *page(fx *f, const char *query) {
  resp r = get(f, "/v1/audit/log", query, f->tok_audit);
  if (r.status != 200) fail_msg("audit log ?%s: %d %s", query, r.status, r.code);
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_AUDIT_LOG_RESPONSE, r.body, r.len), 0);
  resp_free(&r);
  return (Mentorlog__V1__AuditLogResponse *)m;
}

static int sync_dev(fx *f, mentorlog *h) { return sa_sync_dev(f->app, h, &f->now); }

static void contact(mentorlog *h, const uint8_t c[16], int64_t start_ms) {
  sa_contact(h, c, start_ms, 45, MENTORLOG_CHANNEL_IN_PERSON, MENTORLOG_OUTCOME_HELD, 0,
             "talked about the week");
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  strcpy(f->dir, "/tmp/mls-audit-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(test_store_uri(f->store, sizeof f->store, f->dir), 0);
  f->now = (int64_t)time(NULL) * 1000;
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .create = 1};
  assert_int_equal(mls_app_open(&f->app, &cfg), 0);
  const char *ma[] = {"mentor", "add", "Anna", NULL}, *mb[] = {"mentor", "add", "Bo", NULL};
  assert_int_equal(sa_admin(f->dir, f->mentor_a, sizeof f->mentor_a, ma), 0);
  assert_int_equal(sa_admin(f->dir, f->mentor_b, sizeof f->mentor_b, mb), 0);
  const char *ta[] = {"token", "add", "--role", "auditor", NULL};
  assert_int_equal(sa_admin(f->dir, f->tok_audit, sizeof f->tok_audit, ta), 0);
  const char *tj[] = {"token", "add", "--role", "jobcentre", "--jobcentre", "kbh", NULL};
  assert_int_equal(sa_admin(f->dir, f->tok_jc, sizeof f->tok_jc, tj), 0);
  const char *lk[] = {"log-key", NULL};
  assert_int_equal(sa_admin(f->dir, f->vkey, sizeof f->vkey, lk), 0);

  char dir[128];
  snprintf(dir, sizeof dir, "%s/a1", f->dir);
  f->a1 = sa_device(f->app, f->dir, dir, "a1", f->mentor_a, &f->now, NULL);
  snprintf(dir, sizeof dir, "%s/b1", f->dir);
  f->b1 = sa_device(f->app, f->dir, dir, "b1", f->mentor_b, &f->now, NULL);
  uint8_t ca[16], cb[16];
  assert_int_equal(mentorlog_case_open(f->a1, ca, "Ada", NULL), 0);
  assert_int_equal(mentorlog_case_open(f->b1, cb, "Cai", NULL), 0);
  for (int i = 0; i < 3; i++) {
    contact(f->a1, ca, f->now - (i + 1) * 86400000LL);
    contact(f->b1, cb, f->now - (i + 2) * 86400000LL);
  }
  assert_int_equal(sync_dev(f, f->a1), 0);
  assert_int_equal(sync_dev(f, f->b1), 0);
  snprintf(dir, sizeof dir, "%s/a2", f->dir);
  f->a2 = sa_device(f->app, f->dir, dir, "a2", f->mentor_a, &f->now, NULL);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  mentorlog_close(f->a1);
  mentorlog_close(f->a2);
  mentorlog_close(f->b1);
  mls_app_close(f->app);
  sa_rmrf(f->dir);
  assert_int_equal(test_store_drop(f->store), 0);
  free(f);
  return 0;
}

static void refusals(void **state) {
  fx *f = *state;
  resp r = get(f, "/v1/audit/log", NULL, NULL);
  assert_int_equal(r.status, 401);
  assert_string_equal(r.code, "UNAUTHENTICATED");
  assert_non_null(strstr(r.headers, "WWW-Authenticate: Bearer"));
  resp_free(&r);
  r = get(f, "/v1/audit/log", NULL, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  assert_int_equal(r.status, 401);
  resp_free(&r);
  r = get(f, "/v1/audit/log", NULL, f->tok_jc);
  assert_int_equal(r.status, 403);
  assert_string_equal(r.code, "FORBIDDEN");
  resp_free(&r);
  static const char *const bad[] = {"limit=0", "since=-1", "since=01", "size=x", "sinc=1",
                                    "since=1&since=2", "limit"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    r = get(f, "/v1/audit/log", bad[i], f->tok_audit);
    if (r.status != 400 || strcmp(r.code, "BAD_QUERY") != 0)
      fail_msg("?%s: %d %s", bad[i], r.status, r.code);
    resp_free(&r);
  }
  r = get(f, "/v1/audit/log", "size=100000", f->tok_audit);
  assert_int_equal(r.status, 400);
  assert_string_equal(r.code, "TREE_RANGE");
  resp_free(&r);
  r = get(f, "/v1/audit/log", NULL, f->tok_audit);
  assert_int_equal(r.status, 200);
  resp_free(&r);
}

/* Every page of the listing of the checkpoint of `size` (0: the latest),
 * limit items each, appended as an audit log file into b. Returns the size. */
static uint64_t fetch_all(fx *f, uint64_t size, unsigned limit, mlproto_buf *b, unsigned *pages) {
  char q[96];
  if (size) snprintf(q, sizeof q, "since=0&limit=%u&size=%llu", limit, (unsigned long long)size);
  else snprintf(q, sizeof q, "since=0&limit=%u", limit);
  Mentorlog__V1__AuditLogResponse *p = page(f, q);
  uint64_t n = p->tree_size, next = 0, events = 0;
  assert_true(size == 0 || n == size);
  assert_string_equal(p->log_key, f->vkey);
  /* the note is the checkpoint of that size, as the log endpoint serves it */
  snprintf(q, sizeof q, "size=%llu", (unsigned long long)n);
  resp cp = get(f, "/v1/log/checkpoint", q, NULL);
  assert_int_equal(cp.status, 200);
  assert_int_equal(cp.len, p->checkpoint.len);
  assert_memory_equal(cp.body, p->checkpoint.data, cp.len);
  uint8_t *note = malloc(cp.len);
  assert_non_null(note);
  memcpy(note, cp.body, cp.len);
  size_t note_len = cp.len;
  resp_free(&cp);
  mlproto_buf_init(b, 64u << 20);
  assert_int_equal(mlproto_auditlog_header_encode(b, p->log_key, n), 0);
  *pages = 0;
  for (;;) {
    (*pages)++;
    assert_true(p->n_items <= limit);
    assert_int_equal(p->tree_size, n);
    assert_int_equal(p->checkpoint.len, note_len);
    assert_memory_equal(p->checkpoint.data, note, note_len);
    for (size_t i = 0; i < p->n_items; i++) {
      const Mentorlog__V1__LogItem *it = p->items[i];
      assert_int_equal(it->log_index, next); /* contiguous, every mentor's */
      next++;
      events += it->entry_type == MLPROTO_LOG_SERVER_EVENT;
      assert_int_equal(mlproto_auditlog_entry_encode(b, it->log_index, it->entry_type,
                                                     it->received_at_ms, it->envelope.data,
                                                     it->envelope.len), 0);
    }
    int more = p->more;
    uint64_t ns = p->next_since;
    mlproto_msg_free(&p->base);
    if (!more) {
      assert_int_equal(ns, n);
      break;
    }
    assert_int_equal(ns, next);
    snprintf(q, sizeof q, "since=%llu&limit=%u&size=%llu", (unsigned long long)ns, limit,
             (unsigned long long)n);
    p = page(f, q);
  }
  assert_int_equal(next, n);
  assert_true(events >= 2); /* the enrolments, server events of no device's listing */
  assert_int_equal(mlproto_auditlog_checkpoint_encode(b, note, note_len), 0);
  free(note);
  return n;
}

static char *read_all(const char *path, size_t *len) {
  char *s = tu_read_file(path, len);
  if (!s) fail_msg("cannot read %s", path);
  return s;
}

static void pages_and_export(void **state) {
  fx *f = *state;
  mlproto_buf b;
  unsigned pages;
  uint64_t n = fetch_all(f, 0, 4, &b, &pages);
  assert_true(n >= 11); /* 3 enrolments, 2 + 6 records and their key grants */
  assert_int_equal(pages, (n + 3) / 4);

  char out[128];
  snprintf(out, sizeof out, "%s/export.log", f->dir);
  const char *ex[] = {"export-log", "--out", out, NULL};
  assert_int_equal(sa_admin(f->dir, NULL, 0, ex), 0);
  struct stat st;
  assert_int_equal(stat(out, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  size_t len;
  char *file = read_all(out, &len);
  assert_int_equal(len, b.len);
  assert_memory_equal(file, b.data, len);
  free(file);
  /* an existing file is never replaced */
  assert_int_equal(sa_admin(f->dir, NULL, 0, ex), 1);
  const char *beyond[] = {"export-log", "--out", "/tmp/never-written", "--size", "999999", NULL};
  assert_int_equal(sa_admin(f->dir, NULL, 0, beyond), 1);
  assert_int_not_equal(access("/tmp/never-written", F_OK), 0);
  const char *usage[] = {"export-log", NULL};
  assert_int_equal(sa_admin(f->dir, NULL, 0, usage), 2);
  mlproto_buf_free(&b);

  /* The log grows; a listing of the earlier size stops at it, and so does
   * an export of that size: the same bytes as before. */
  uint8_t c[16];
  assert_int_equal(mentorlog_case_open(f->b1, c, "Dan", NULL), 0);
  assert_int_equal(sync_dev(f, f->b1), 0);
  uint64_t m = fetch_all(f, n, 1000, &b, &pages);
  assert_int_equal(m, n);
  assert_int_equal(pages, 1);
  file = read_all(out, &len);
  assert_int_equal(len, b.len);
  assert_memory_equal(file, b.data, len);
  free(file);
  char out2[128], sz[24];
  snprintf(out2, sizeof out2, "%s/export-%llu.log", f->dir, (unsigned long long)n);
  snprintf(sz, sizeof sz, "%llu", (unsigned long long)n);
  const char *ex2[] = {"export-log", "--out", out2, "--size", sz, NULL};
  assert_int_equal(sa_admin(f->dir, NULL, 0, ex2), 0);
  file = read_all(out2, &len);
  assert_int_equal(len, b.len);
  assert_memory_equal(file, b.data, len);
  free(file);
  mlproto_buf_free(&b);
  /* the latest listing has grown */
  Mentorlog__V1__AuditLogResponse *p = page(f, "limit=1");
  assert_true(p->tree_size > n);
  assert_int_equal(p->n_items, 1);
  assert_true(p->more);
  assert_int_equal(p->next_since, 1);
  mlproto_msg_free(&p->base);
}

static void since_past_size(void **state) {
  fx *f = *state;
  Mentorlog__V1__AuditLogResponse *p = page(f, "since=5&size=5");
  assert_int_equal(p->n_items, 0);
  assert_false(p->more);
  assert_int_equal(p->next_since, 5);
  assert_int_equal(p->tree_size, 5);
  mlproto_msg_free(&p->base);
  p = page(f, "since=4&size=5");
  assert_int_equal(p->n_items, 1);
  assert_int_equal(p->items[0]->log_index, 4);
  assert_false(p->more);
  mlproto_msg_free(&p->base);
  p = page(f, "since=900000");
  assert_int_equal(p->n_items, 0);
  assert_false(p->more);
  assert_int_equal(p->next_since, 900000);
  mlproto_msg_free(&p->base);
  p = page(f, "size=0");
  assert_int_equal(p->n_items, 0);
  assert_int_equal(p->tree_size, 0);
  assert_int_equal(p->next_since, 0);
  mlproto_msg_free(&p->base);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(refusals),
      cmocka_unit_test(pages_and_export),
      cmocka_unit_test(since_past_size),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
