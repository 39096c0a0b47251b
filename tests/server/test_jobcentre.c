/*
 * test_jobcentre.c — the jobcentre's reports (GET /v1/jobcentre/compliance,
 * /grants/REF/contacts, /timesheet) on the server's application half in the
 * same process. Devices of two mentors write cases, grants for two
 * jobcentres, contacts with notes, and sync with their real engine; the
 * reports are then read with jobcentre tokens from the admin command and
 * compared with what each device computes for its own grants, and checked
 * for isolation (another jobcentre's grants, a sealed byte, a note's text,
 * a citizen's name never appear) and for every refusal.
 */
#define _GNU_SOURCE /* memmem */
#include "testutil.h"

#include "admin_run.h"
#include "store_tamper.h"
#include "test_store.h"
#include "app.h"
#include "app_sync.h"
#include "store.h"

#include "mentorlog/mentorlog.h"
#include "mlproto/civiltime.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS 86400000LL

typedef struct fx {
  char dir[64];
  char store[TEST_STORE_URI_CAP]; /* test_store.h */
  mls_app *app;
  int64_t now;
  char mentor_a[40], mentor_b[40];
  char tok_kbh[64], tok_aar[64], tok_audit[64];
  mentorlog *a1, *b1;
  uint8_t case1[16], case2[16], case3[16];
  uint8_t g1[16], g2[16], g3[16];
  mentorlog_date today;
} fx;

typedef sa_resp resp;

static int admin(fx *f, char *out, size_t cap, const char *a1, const char *a2, const char *a3,
                 const char *a4, const char *a5) {
  const char *args[] = {a1, a2, a3, a4, a5, NULL};
  return sa_admin(f->dir, out, cap, args);
}

static resp get(fx *f, const char *path, const char *query, const char *token) {
  return sa_get(f->app, (uint64_t)f->now, path, query, token, NULL);
}
static void resp_free(resp *r) { sa_resp_free(r); }

static int sync_dev(fx *f, mentorlog *h) { return sa_sync_dev(f->app, h, &f->now); }

static void hex16(char out[33], const uint8_t id[16]) { mlproto_hex_encode(out, id, 16); }

static void grant(fx *f, mentorlog *h, const uint8_t c[16], uint8_t out[16], const char *jc,
                  const char *ref, mentorlog_date start, mentorlog_date end) {
  (void)f;
  sa_grant(h, c, out, jc, ref, start, end);
}

static void contact(mentorlog *h, const uint8_t c[16], int64_t start_ms, uint32_t minutes,
                    int channel, int outcome, uint32_t transport) {
  sa_contact(h, c, start_ms, minutes, channel, outcome, transport,
             "NOTE-SECRET the citizen talked about debts");
}

/* Noon, Copenhagen-ish (UTC 11:00), of day d. */
static int64_t noon(mentorlog_date d) { return sa_noon(d); }

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/mls-jc-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  assert_int_equal(test_store_uri(f->store, sizeof f->store, f->dir), 0);
  f->now = (int64_t)time(NULL) * 1000;
  f->today = (mentorlog_date)(f->now / DAY_MS);
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .create = 1};
  assert_int_equal(mls_app_open(&f->app, &cfg), 0);
  assert_int_equal(admin(f, f->mentor_a, sizeof f->mentor_a, "mentor", "add", "Anna", 0, 0), 0);
  assert_int_equal(admin(f, f->mentor_b, sizeof f->mentor_b, "mentor", "add", "Bo", 0, 0), 0);
  const char *kbh[] = {"token", "add", "--role", "jobcentre", "--jobcentre", "kbh", NULL};
  assert_int_equal(sa_admin(f->dir, f->tok_kbh, sizeof f->tok_kbh, kbh), 0);
  const char *aar[] = {"token", "add", "--role", "jobcentre", "--jobcentre", "aarhus", NULL};
  assert_int_equal(sa_admin(f->dir, f->tok_aar, sizeof f->tok_aar, aar), 0);
  assert_int_equal(admin(f, f->tok_audit, sizeof f->tok_audit, "token", "add", "--role",
                         "auditor", 0), 0);

  char dir[128];
  snprintf(dir, sizeof dir, "%s/a1", f->dir);
  f->a1 = sa_device(f->app, f->dir, dir, "a1", f->mentor_a, &f->now, NULL);
  snprintf(dir, sizeof dir, "%s/b1", f->dir);
  f->b1 = sa_device(f->app, f->dir, dir, "b1", f->mentor_b, &f->now, NULL);

  /* Mentor A: case 1 for kbh (contacts over eight weeks), case 2 for aarhus. */
  mentorlog_date s = f->today - 56, e = f->today + 60;
  assert_int_equal(mentorlog_case_open(f->a1, f->case1, "NAME-SECRET Ada", "+4512345678"), 0);
  grant(f, f->a1, f->case1, f->g1, "kbh", "KBH-2026-001", s, e);
  for (int w = 0; w < 8; w++) {
    if (w == 3) continue; /* a missed week */
    int64_t t = noon(s + 7 * w + 1);
    contact(f->a1, f->case1, t, 60, MENTORLOG_CHANNEL_HOME_VISIT, MENTORLOG_OUTCOME_HELD, 15);
    if (w == 5) /* and an attempt the same week */
      contact(f->a1, f->case1, t + DAY_MS, 5, MENTORLOG_CHANNEL_PHONE,
              MENTORLOG_OUTCOME_ATTEMPT_FAILED, 0);
  }
  contact(f->a1, f->case1, noon(f->today), 45, MENTORLOG_CHANNEL_VIDEO, MENTORLOG_OUTCOME_HELD, 0);
  assert_int_equal(mentorlog_case_open(f->a1, f->case2, "NAME-SECRET Bent", NULL), 0);
  grant(f, f->a1, f->case2, f->g2, "aarhus", "AAR-77", f->today - 20, f->today + 20);
  contact(f->a1, f->case2, noon(f->today - 2), 30, MENTORLOG_CHANNEL_IN_PERSON,
          MENTORLOG_OUTCOME_HELD, 0);
  /* Mentor B: case 3 for kbh. */
  assert_int_equal(mentorlog_case_open(f->b1, f->case3, "NAME-SECRET Cai", NULL), 0);
  grant(f, f->b1, f->case3, f->g3, "kbh", "KBH-2026-002", f->today - 10, f->today + 30);
  contact(f->b1, f->case3, noon(f->today - 1), 90, MENTORLOG_CHANNEL_IN_PERSON,
          MENTORLOG_OUTCOME_HELD, 20);
  assert_int_equal(sync_dev(f, f->a1), 0);
  assert_int_equal(sync_dev(f, f->b1), 0);
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

/* ------------------------------------------------------------- CSV --- */

#define MAX_FIELDS 32
typedef struct csv_row {
  char *f[MAX_FIELDS];
  int n;
} csv_row;

/* Splits body (modified in place) into at most max rows (RFC 4180 with CRLF). */
static int csv_parse(char *body, csv_row *rows, int max) {
  int nr = 0;
  char *p = body;
  while (*p && nr < max) {
    csv_row *r = &rows[nr++];
    r->n = 0;
    for (;;) {
      char *out = p, *field = p;
      if (*p == '"') {
        p++;
        field = out = p;
        for (;;) {
          assert_true(*p != 0);
          if (*p == '"' && p[1] == '"') { *out++ = '"'; p += 2; }
          else if (*p == '"') { p++; break; }
          else *out++ = *p++;
        }
      } else {
        while (*p && *p != ',' && *p != '\r') out++, p++;
      }
      char end = *p;
      *out = 0;
      assert_true(r->n < MAX_FIELDS);
      r->f[r->n++] = field;
      if (end == ',') { p++; continue; }
      assert_int_equal(end, '\r');
      assert_int_equal(p[1], '\n');
      p += 2;
      break;
    }
  }
  return nr;
}

static int col(const csv_row *header, const char *name) {
  for (int i = 0; i < header->n; i++)
    if (strcmp(header->f[i], name) == 0) return i;
  fail_msg("no column %s", name);
  return -1;
}

/* --------------------------------------------------------------- tests --- */

/* Every sealed part the store holds (the log's envelopes, through the
 * store contract) is absent from r. */
typedef struct sealed_ud {
  const resp *r;
  int sealed;
} sealed_ud;

static int sealed_fn(void *ud, const mls_log_entry *e) {
  sealed_ud *u = ud;
  mlproto_record *rec = NULL;
  if (mlproto_record_verify_stored(&rec, e->envelope, e->envelope_len, e->record_hash) != 0) return 0;
  if (rec->sealed && rec->sealed_len >= 12) {
    char hex[25];
    mlproto_hex_encode(hex, rec->sealed, 12);
    assert_null(strstr(u->r->text, hex));
    assert_null(memmem(u->r->text, u->r->len, rec->sealed, 12));
    u->sealed++;
  }
  mlproto_record_free(rec);
  return 0;
}

/* What no jobcentre answer may hold: names, notes, purposes, and any byte
 * run of a sealed part (its nonce, hex-encoded, as a report writes ids). */
static void assert_nothing_sealed(fx *f, const resp *r) {
  assert_null(strstr(r->text, "SECRET"));
  assert_null(strstr(r->text, "4512345678"));
  sealed_ud u = {.r = r};
  t_log_each(f->store, sealed_fn, &u);
  int sealed = u.sealed;
  assert_true(sealed > 10);
}

static void compliance_matches_the_devices(void **state) {
  fx *f = *state;
  resp r = get(f, "/v1/jobcentre/compliance", "format=csv", f->tok_kbh);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.ctype, "text/csv; charset=utf-8");
  assert_non_null(strstr(r.headers, "Cache-Control: no-store"));
  assert_non_null(strstr(r.headers, "X-Mentorlog-Checkpoint: "));
  assert_nothing_sealed(f, &r);
  csv_row rows[256];
  int n = csv_parse(r.text, rows, 256);
  assert_true(n > 2);
  const csv_row *hd = &rows[0];
  int c_grant = col(hd, "grant_id"), c_status = col(hd, "status"), c_q = col(hd, "qualifying"),
      c_att = col(hd, "attempts"), c_min = col(hd, "period_minutes_held"),
      c_start = col(hd, "period_start"), c_gh = col(hd, "grant_minutes_held"),
      c_gg = col(hd, "grant_minutes_granted"), c_size = col(hd, "checkpoint_size");
  char g1[33], g2[33], g3[33];
  hex16(g1, f->g1);
  hex16(g2, f->g2);
  hex16(g3, f->g3);
  /* Each kbh grant's periods equal what its own device computes. */
  struct { mentorlog *h; const uint8_t *id; const char *hex; } gs[] = {
      {f->a1, f->g1, g1}, {f->b1, f->g3, g3}};
  for (size_t k = 0; k < 2; k++) {
    mentorlog_compliance *dc = NULL;
    assert_int_equal(mentorlog_grant_compliance(gs[k].h, gs[k].id, f->now, &dc), 0);
    size_t seen = 0;
    for (int i = 1; i < n; i++) {
      if (strcmp(rows[i].f[c_grant], gs[k].hex) != 0) continue;
      assert_true(seen < dc->nperiods);
      const mentorlog_period *p = &dc->periods[seen++];
      char d[11];
      mlproto_date_format(d, p->start);
      assert_string_equal(rows[i].f[c_start], d);
      assert_string_equal(rows[i].f[c_status], mentorlog_status_name(p->status));
      assert_int_equal(strtoul(rows[i].f[c_q], NULL, 10), p->qualifying);
      assert_int_equal(strtoul(rows[i].f[c_att], NULL, 10), p->attempts);
      assert_int_equal(strtoul(rows[i].f[c_min], NULL, 10), p->minutes_held);
      assert_int_equal(strtoull(rows[i].f[c_gh], NULL, 10), dc->minutes_held);
      assert_int_equal(strtoull(rows[i].f[c_gg], NULL, 10), dc->minutes_granted);
      assert_true(strtoull(rows[i].f[c_size], NULL, 10) > 0);
    }
    assert_int_equal(seen, dc->nperiods);
    mentorlog_compliance_free(dc);
  }
  /* The missed week and the attempt are there for grant 1. */
  int missed = 0, with_attempts = 0;
  for (int i = 1; i < n; i++) {
    assert_string_not_equal(rows[i].f[c_grant], g2); /* aarhus's grant: never */
    if (strcmp(rows[i].f[c_grant], g1) != 0) continue;
    missed += strcmp(rows[i].f[c_status], "MISSED") == 0;
    with_attempts += strcmp(rows[i].f[c_status], "MISSED_WITH_ATTEMPTS") == 0;
  }
  assert_int_equal(missed, 1);
  assert_int_equal(with_attempts, 0); /* the attempt's week was met by the visit */
  resp_free(&r);

  /* JSON: the same grants, the checkpoint named, aarhus's grant absent. */
  r = get(f, "/v1/jobcentre/compliance", NULL, f->tok_kbh);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.ctype, "application/json; charset=utf-8");
  assert_non_null(strstr(r.text, g1));
  assert_non_null(strstr(r.text, g3));
  assert_null(strstr(r.text, g2));
  assert_non_null(strstr(r.text, "\"report\":\"compliance\""));
  assert_non_null(strstr(r.text, "\"checkpoint\":{\"origin\":"));
  assert_non_null(strstr(r.text, "\"case_ref\":\"KBH-2026-001\""));
  assert_nothing_sealed(f, &r);
  resp_free(&r);

  /* aarhus sees only its own. */
  r = get(f, "/v1/jobcentre/compliance", NULL, f->tok_aar);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.text, g2));
  assert_null(strstr(r.text, g1));
  assert_null(strstr(r.text, g3));
  resp_free(&r);

  /* A range: only the grants and periods that meet it. */
  char q[96], from[11], to[11];
  mlproto_date_format(from, f->today - 70);
  mlproto_date_format(to, f->today - 56);
  snprintf(q, sizeof q, "from=%s&to=%s", from, to);
  r = get(f, "/v1/jobcentre/compliance", q, f->tok_kbh);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.text, g1)); /* its first day, today - 56, is in the range */
  assert_null(strstr(r.text, g3));    /* starts on today - 10 */
  resp_free(&r);
  mlproto_date_format(to, f->today - 57);
  snprintf(q, sizeof q, "from=%s&to=%s", from, to);
  r = get(f, "/v1/jobcentre/compliance", q, f->tok_kbh);
  assert_int_equal(r.status, 200);
  assert_null(strstr(r.text, g1)); /* the day before: no grant */
  assert_non_null(strstr(r.text, "\"grants\":[]"));
  resp_free(&r);
}

static void contacts_and_timesheet(void **state) {
  fx *f = *state;
  char path[128], g1[33];
  hex16(g1, f->g1);
  /* by municipal reference and by grant id: the same document */
  resp a = get(f, "/v1/jobcentre/grants/KBH-2026-001/contacts", "format=csv", f->tok_kbh);
  snprintf(path, sizeof path, "/v1/jobcentre/grants/%s/contacts", g1);
  resp b = get(f, path, "format=csv", f->tok_kbh);
  assert_int_equal(a.status, 200);
  assert_int_equal(b.status, 200);
  assert_string_equal(a.text, b.text);
  assert_nothing_sealed(f, &a);
  csv_row rows[64];
  int n = csv_parse(a.text, rows, 64);
  mentorlog_contact *cv;
  size_t nc;
  assert_int_equal(mentorlog_contacts(f->a1, f->case1, &cv, &nc), 0);
  assert_int_equal((size_t)(n - 1), nc); /* every current contact, one row each */
  int c_rec = col(&rows[0], "received_at"), c_idx = col(&rows[0], "log_index"),
      c_late = col(&rows[0], "late_entry");
  int late = 0;
  for (int i = 1; i < n; i++) {
    assert_true(strlen(rows[i].f[c_rec]) == 24); /* 2026-12-03T12:00:00.000Z */
    assert_true(strlen(rows[i].f[c_idx]) > 0);
    late += rows[i].f[c_late][0] == '1';
  }
  /* the device flags the same late entries (dated more than L = 7 days
   * before they were written: the first weeks' contacts) */
  int want_late = 0;
  for (size_t i = 0; i < nc; i++) want_late += cv[i].late_entry;
  assert_int_equal(late, want_late);
  assert_true(late >= 5);
  mentorlog_contacts_free(cv, nc);
  resp_free(&a);
  resp_free(&b);
  /* another jobcentre's grant: not found, by either name */
  a = get(f, "/v1/jobcentre/grants/KBH-2026-001/contacts", NULL, f->tok_aar);
  assert_int_equal(a.status, 404);
  resp_free(&a);
  a = get(f, path, NULL, f->tok_aar);
  assert_int_equal(a.status, 404);
  resp_free(&a);

  /* Timesheet of this month: held minutes of the month, transport apart. */
  char month[8];
  mlproto_month_format(month, f->today);
  char q[32];
  snprintf(q, sizeof q, "month=%s&format=csv", month);
  a = get(f, "/v1/jobcentre/timesheet", q, f->tok_kbh);
  assert_int_equal(a.status, 200);
  assert_nothing_sealed(f, &a);
  n = csv_parse(a.text, rows, 64);
  int c_bill = col(&rows[0], "billable_minutes"), c_tr = col(&rows[0], "transport_minutes"),
      c_date = col(&rows[0], "date");
  uint64_t bill = 0, tr = 0;
  for (int i = 1; i < n; i++) {
    assert_int_equal(strncmp(rows[i].f[c_date], month, 7), 0);
    bill += strtoull(rows[i].f[c_bill], NULL, 10);
    tr += strtoull(rows[i].f[c_tr], NULL, 10);
  }
  /* expected: the contacts of the kbh grants written above, dated this month */
  uint64_t want_bill = 0, want_tr = 0;
  mentorlog_date s = f->today - 56;
  char m2[8];
  for (int w = 0; w < 8; w++) {
    if (w == 3) continue;
    mlproto_month_format(m2, s + 7 * w + 1);
    if (strcmp(m2, month) == 0) want_bill += 60, want_tr += 15;
  }
  want_bill += 45; /* today, video */
  mlproto_month_format(m2, f->today - 1);
  if (strcmp(m2, month) == 0) want_bill += 90, want_tr += 20; /* mentor B's */
  assert_int_equal(bill, want_bill);
  assert_int_equal(tr, want_tr);
  resp_free(&a);
  snprintf(q, sizeof q, "month=%s", month);
  a = get(f, "/v1/jobcentre/timesheet", q, f->tok_kbh);
  assert_int_equal(a.status, 200);
  char want[64];
  snprintf(want, sizeof want, "\"month\":\"%s\"", month);
  assert_non_null(strstr(a.text, want));
  resp_free(&a);
}

/* A range that leaves out a grant ordered before grants it keeps: the ones
 * left out are freed, the kept ones rendered (a grant left out before a
 * kept one once freed the last kept one instead, and leaked itself). */
static void range_leaves_out_an_earlier_grant(void **state) {
  fx *f = *state;
  uint8_t g0[16], c0[16];
  char g0h[33], g1[33], g3[33];
  assert_int_equal(mentorlog_case_open(f->a1, c0, "NAME-SECRET Dan", NULL), 0);
  grant(f, f->a1, c0, g0, "kbh", "KBH-2026-000", f->today - 90, f->today - 60);
  assert_int_equal(sync_dev(f, f->a1), 0);
  hex16(g0h, g0);
  hex16(g1, f->g1);
  hex16(g3, f->g3);
  char q[64], from[11], to[11];
  mlproto_date_format(from, f->today - 10);
  mlproto_date_format(to, f->today);
  snprintf(q, sizeof q, "from=%s&to=%s", from, to);
  resp r = get(f, "/v1/jobcentre/compliance", q, f->tok_kbh);
  assert_int_equal(r.status, 200);
  assert_null(strstr(r.text, g0h));
  const char *a = strstr(r.text, g1), *b = strstr(r.text, g3);
  assert_non_null(a);
  assert_non_null(b);
  assert_true(a < b); /* KBH-2026-001 before -002 */
  resp_free(&r);
  /* without the range all three, in reference order */
  r = get(f, "/v1/jobcentre/compliance", NULL, f->tok_kbh);
  assert_int_equal(r.status, 200);
  const char *z = strstr(r.text, g0h);
  assert_non_null(z);
  assert_true(z < strstr(r.text, g1));
  resp_free(&r);
}

/* Two grants under one municipal reference (a renewal): the reference is
 * ambiguous, the grant id is not. */
static void ambiguous_reference(void **state) {
  fx *f = *state;
  uint8_t g4[16];
  grant(f, f->a1, f->case1, g4, "kbh", "KBH-2026-001", f->today + 61, f->today + 90);
  assert_int_equal(sync_dev(f, f->a1), 0);
  resp r = get(f, "/v1/jobcentre/grants/KBH-2026-001/contacts", NULL, f->tok_kbh);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.text, "AMBIGUOUS"));
  resp_free(&r);
  char path[128], hex[33];
  hex16(hex, g4);
  snprintf(path, sizeof path, "/v1/jobcentre/grants/%s/contacts", hex);
  r = get(f, path, NULL, f->tok_kbh);
  assert_int_equal(r.status, 200);
  resp_free(&r);
  /* a grant whose municipal reference is g4's id does not take g4's links:
   * the id wins (else a mentor could make any grant's page ambiguous) */
  uint8_t g5[16];
  grant(f, f->a1, f->case1, g5, "kbh", hex, f->today + 91, f->today + 120);
  assert_int_equal(sync_dev(f, f->a1), 0);
  r = get(f, path, NULL, f->tok_kbh);
  assert_int_equal(r.status, 200);
  char want[64];
  snprintf(want, sizeof want, "\"grant_id\":\"%s\"", hex);
  assert_non_null(strstr(r.text, want));
  resp_free(&r);
}

static void refusals(void **state) {
  fx *f = *state;
  static const char *const routes[] = {"/v1/jobcentre/compliance", "/v1/jobcentre/timesheet",
                                       "/v1/jobcentre/grants/KBH-2026-001/contacts"};
  for (size_t i = 0; i < 3; i++) {
    const char *q = i == 1 ? "month=2026-11" : NULL;
    resp r = get(f, routes[i], q, NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    r = get(f, routes[i], q, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); /* unknown */
    assert_int_equal(r.status, 401);
    resp_free(&r);
    r = get(f, routes[i], q, f->tok_audit); /* another role */
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.text, "jobcentre token"));
    resp_free(&r);
  }
  /* a jobcentre token is no device session */
  resp r = get(f, "/v1/pull", "since=0", f->tok_kbh);
  assert_int_equal(r.status, 401);
  resp_free(&r);
  static const struct { const char *path, *q; } bad[] = {
      {"/v1/jobcentre/compliance", "from=2026-13-01"},
      {"/v1/jobcentre/compliance", "from=2026-11-10&to=2026-11-01"},
      {"/v1/jobcentre/compliance", "from=2020-01-01&to=2026-01-01"},
      {"/v1/jobcentre/compliance", "format=xml"},
      {"/v1/jobcentre/compliance", "who=me"},
      {"/v1/jobcentre/timesheet", ""},
      {"/v1/jobcentre/timesheet", "month=2026-1"},
      {"/v1/jobcentre/timesheet", "month=2026-13"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    r = get(f, bad[i].path, bad[i].q, f->tok_kbh);
    if (r.status != 400) fail_msg("%s?%s: %d", bad[i].path, bad[i].q, r.status);
    resp_free(&r);
  }
  r = get(f, "/v1/jobcentre/grants/no such/contacts", NULL, f->tok_kbh);
  assert_int_equal(r.status, 404);
  resp_free(&r);
  r = get(f, "/v1/jobcentre/grants/KBH-2026-001/notes", NULL, f->tok_kbh);
  assert_int_equal(r.status, 404);
  resp_free(&r);
}

/* A store migrated from version 4 holds grants but no index: the app fills
 * it at open, so the reports find them. */
static void index_backfilled(void **state) {
  fx *f = *state;
  resp before = get(f, "/v1/jobcentre/compliance", "format=csv", f->tok_kbh);
  mls_app_close(f->app);
  f->app = NULL;
  store_tamper_jobcentre_index_forget(f->store);
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store};
  assert_int_equal(mls_app_open(&f->app, &cfg), 0);
  resp after = get(f, "/v1/jobcentre/compliance", "format=csv", f->tok_kbh);
  assert_int_equal(after.status, 200);
  assert_string_equal(before.text, after.text);
  resp_free(&before);
  resp_free(&after);
}

/* ------------------------------------------------------ report cache --- */

/* The same data directory served by an app without a report cache. */
static mls_app *uncached_app(fx *f) {
  mls_app *u = NULL;
  mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .no_report_cache = 1};
  assert_int_equal(mls_app_open(&u, &cfg), 0);
  return u;
}

static mls_app_cache_stats stats(mls_app *app) {
  mls_app_cache_stats s;
  mls_app_report_cache_stats(app, &s);
  return s;
}

/* The answer of app and of u (uncached) to the same request at the same
 * now: status, headers and body byte for byte. Returns app's. */
static resp same_answer(fx *f, mls_app *app, mls_app *u, const char *path, const char *query) {
  resp a = sa_get(app, (uint64_t)f->now, path, query, f->tok_kbh, NULL);
  resp b = sa_get(u, (uint64_t)f->now, path, query, f->tok_kbh, NULL);
  assert_int_equal(a.status, 200);
  assert_int_equal(b.status, 200);
  assert_string_equal(a.headers, b.headers);
  assert_int_equal(a.len, b.len);
  assert_memory_equal(a.body, b.body, a.len);
  resp_free(&b);
  return a;
}

static const struct { const char *path, *query; } ANSWERS[] = {
    {"/v1/jobcentre/compliance", NULL},
    {"/v1/jobcentre/compliance", "format=csv"},
    {"/v1/jobcentre/grants/KBH-2026-001/contacts", NULL},
    {"/v1/jobcentre/grants/KBH-2026-001/contacts", "format=csv"},
};

/* Every answer from the cache (a hit) equals the uncached answer for the
 * same store, checkpoint and now, byte for byte; a push to a case, and a
 * device enrolled for its mentor, are misses for that case only, and the
 * answers after them are again the uncached ones (not the cached ones). */
static void cached_answers_are_uncached_answers(void **state) {
  fx *f = *state;
  mls_app *u = uncached_app(f);
  mls_app_cache_stats s0 = stats(f->app);
  assert_int_equal(s0.hits + s0.misses, 0);
  assert_true(s0.cap > 0);
  assert_int_equal(stats(u).cap, 0); /* none */
  /* first: kbh's two cases parsed (misses) */
  resp first = same_answer(f, f->app, u, "/v1/jobcentre/compliance", NULL);
  mls_app_cache_stats s1 = stats(f->app);
  assert_int_equal(s1.misses, 2);
  assert_int_equal(s1.hits, 0);
  assert_int_equal(s1.entries, 2);
  assert_true(s1.bytes > 0 && s1.bytes <= s1.cap);
  /* again, every answer: hits only, the same bytes */
  for (size_t i = 0; i < sizeof ANSWERS / sizeof ANSWERS[0]; i++) {
    resp r = same_answer(f, f->app, u, ANSWERS[i].path, ANSWERS[i].query);
    if (i == 0) {
      assert_int_equal(r.len, first.len);
      assert_memory_equal(r.body, first.body, r.len);
    }
    resp_free(&r);
  }
  char month[8], q[32];
  mlproto_month_format(month, f->today);
  snprintf(q, sizeof q, "month=%s", month);
  resp t = same_answer(f, f->app, u, "/v1/jobcentre/timesheet", q);
  resp_free(&t);
  mls_app_cache_stats s2 = stats(f->app);
  assert_int_equal(s2.misses, 2);
  assert_int_equal(s2.hits, 2 * 5);

  /* a new contact in case 1: its case is parsed again, case 3 is not */
  contact(f->a1, f->case1, noon(f->today - 1), 50, MENTORLOG_CHANNEL_PHONE,
          MENTORLOG_OUTCOME_HELD, 0);
  assert_int_equal(sync_dev(f, f->a1), 0);
  resp after = same_answer(f, f->app, u, "/v1/jobcentre/compliance", NULL);
  mls_app_cache_stats s3 = stats(f->app);
  assert_int_equal(s3.misses, s2.misses + 1);
  assert_int_equal(s3.hits, s2.hits + 1);
  assert_int_equal(s3.entries, 2); /* the new version in place of the old */
  assert_false(after.len == first.len && memcmp(after.body, first.body, first.len) == 0);
  resp_free(&after);

  /* a second device of mentor B: case 3's keys changed, a miss */
  char dir[128];
  snprintf(dir, sizeof dir, "%s/b2", f->dir);
  mentorlog *b2 = sa_device(f->app, f->dir, dir, "b2", f->mentor_b, &f->now, NULL);
  after = same_answer(f, f->app, u, "/v1/jobcentre/compliance", NULL);
  mls_app_cache_stats s4 = stats(f->app);
  assert_int_equal(s4.misses, s3.misses + 1);
  assert_int_equal(s4.hits, s3.hits + 1);
  resp_free(&after);
  /* and at another now (a later request): hits, yet the uncached answer */
  f->now += 3 * DAY_MS;
  for (size_t i = 0; i < sizeof ANSWERS / sizeof ANSWERS[0]; i++) {
    resp r = same_answer(f, f->app, u, ANSWERS[i].path, ANSWERS[i].query);
    resp_free(&r);
  }
  assert_int_equal(stats(f->app).misses, s4.misses);
  mentorlog_close(b2);
  resp_free(&first);
  mls_app_close(u);
}

/* The cap: an app whose cache holds less than one case keeps nothing; one
 * that holds about one case evicts; both answer as the uncached app. */
static void cache_cap(void **state) {
  fx *f = *state;
  mls_app *u = uncached_app(f);
  resp r = same_answer(f, f->app, u, "/v1/jobcentre/compliance", NULL);
  resp_free(&r);
  mls_app_cache_stats full = stats(f->app);
  assert_int_equal(full.entries, 2);
  size_t caps[] = {64, full.bytes - 1};
  for (size_t k = 0; k < 2; k++) {
    mls_app *small = NULL;
    mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .report_cache_bytes = caps[k]};
    assert_int_equal(mls_app_open(&small, &cfg), 0);
    for (int rep = 0; rep < 3; rep++) {
      for (size_t i = 0; i < sizeof ANSWERS / sizeof ANSWERS[0]; i++) {
        r = same_answer(f, small, u, ANSWERS[i].path, ANSWERS[i].query);
        resp_free(&r);
      }
    }
    mls_app_cache_stats s = stats(small);
    assert_int_equal(s.cap, caps[k]);
    assert_true(s.bytes <= s.cap);
    if (k == 0) {
      assert_int_equal(s.entries, 0);
      assert_int_equal(s.hits, 0);
    } else {
      assert_int_equal(s.entries, 1);
      assert_true(s.evictions > 0);
    }
    mls_app_close(small);
  }
  mls_app_close(u);
}

/* The compliance document written in slices on every core (here one grant
 * a slice: kbh's two grants, two slices) is the one writer's, in every
 * format and range, cached or not. */
static void compliance_in_slices(void **state) {
  fx *f = *state;
  mls_app *u = uncached_app(f);
  for (int cached = 0; cached < 2; cached++) {
    mls_app *sl = NULL;
    mls_app_config cfg = {.data_dir = f->dir, .store_uri = f->store, .report_slice_grants = 1, .no_report_cache = !cached};
    assert_int_equal(mls_app_open(&sl, &cfg), 0);
    char q[96], qc[112], from[11], to[11];
    mlproto_date_format(from, f->today - 30);
    mlproto_date_format(to, f->today);
    snprintf(q, sizeof q, "from=%s&to=%s", from, to);
    snprintf(qc, sizeof qc, "%s&format=csv", q);
    const char *qs[] = {NULL, "format=csv", q, qc};
    for (int rep = 0; rep < 2; rep++)
      for (size_t i = 0; i < 4; i++) {
        resp r = same_answer(f, sl, u, "/v1/jobcentre/compliance", qs[i]);
        assert_non_null(strstr(r.text, "KBH-2026-001"));
        assert_non_null(strstr(r.text, "KBH-2026-002"));
        resp_free(&r);
      }
    mls_app_close(sl);
  }
  mls_app_close(u);
}

/* Requests at once on one app, its cache cold: each thread's answers are
 * the uncached answer (threads race to parse, put and use the same cases). */
typedef struct racer {
  fx *f;
  const resp *want;
  int bad;
} racer;

static void *race(void *ud) {
  racer *r = ud;
  for (int i = 0; i < 4; i++) {
    resp a = sa_get(r->f->app, (uint64_t)r->f->now, "/v1/jobcentre/compliance", NULL,
                    r->f->tok_kbh, NULL);
    r->bad += a.status != 200 || a.len != r->want->len || memcmp(a.body, r->want->body, a.len);
    resp_free(&a);
  }
  return NULL;
}

static void concurrent_requests(void **state) {
  fx *f = *state;
  mls_app *u = uncached_app(f);
  resp want = sa_get(u, (uint64_t)f->now, "/v1/jobcentre/compliance", NULL, f->tok_kbh, NULL);
  assert_int_equal(want.status, 200);
  pthread_t th[4];
  racer rs[4];
  for (int i = 0; i < 4; i++) {
    rs[i] = (racer){.f = f, .want = &want};
    assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(rs[i].bad, 0);
  }
  mls_app_cache_stats s = stats(f->app);
  assert_int_equal(s.hits + s.misses, 4 * 4 * 2);
  assert_int_equal(s.entries, 2);
  resp_free(&want);
  mls_app_close(u);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(compliance_matches_the_devices, setup, teardown),
      cmocka_unit_test_setup_teardown(contacts_and_timesheet, setup, teardown),
      cmocka_unit_test_setup_teardown(range_leaves_out_an_earlier_grant, setup, teardown),
      cmocka_unit_test_setup_teardown(ambiguous_reference, setup, teardown),
      cmocka_unit_test_setup_teardown(refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(index_backfilled, setup, teardown),
      cmocka_unit_test_setup_teardown(cached_answers_are_uncached_answers, setup, teardown),
      cmocka_unit_test_setup_teardown(cache_cap, setup, teardown),
      cmocka_unit_test_setup_teardown(concurrent_requests, setup, teardown),
      cmocka_unit_test_setup_teardown(compliance_in_slices, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
