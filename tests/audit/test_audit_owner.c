/*
 * test_audit_owner.c — what `mentorlog-audit report` (tools/audit/report.h)
 * takes from the file beside the verification, on synthetic logs
 * (auditgen.h): the mentor of each device (DEVICE_ENROLLED), the owner of
 * each case (the mentor of its first record, its CASE_OPEN), hence each
 * grant's mentor keys; a log no honest server writes (a case begun by
 * another record, a record by another mentor's device) is refused with
 * NOT_YOUR_CASE although `verify` finds nothing; a file that does not
 * verify is refused with its findings; the jobcentre filter and `now`;
 * signatures vouched for by a kept checkpoint (vouch_kept): the same
 * report, and a changed signature still refused (PROOF_INVALID at the kept
 * size instead of BAD_SIGNATURE at its entry), a changed disclosed byte as
 * before.
 */
#define _GNU_SOURCE /* memmem */
#include "testutil.h"

#include "auditgen.h"
#include "report.h"

#include "mlproto/errors.h"
#include "mlproto/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000ULL
#define JUNE_1 20605 /* 2026-06-01, a Monday: devsim's grant start */
#define NOW_2027 INT64_C(1798761600000) /* 2027-01-01 */

static const uint8_t M1[16] = {0x11}, M2[16] = {0x22};

typedef struct fx {
  ag_log l;
  sim_dev a, a2, b;
  uint8_t c1[16], c2[16];
} fx;

/* A contact of d in week w of the grant (Tuesday 09:00 UTC). */
static void contact_in_week(fx *f, sim_dev *d, const uint8_t c[16], unsigned w) {
  d->contact_start_ms = ((uint64_t)(JUNE_1 + 7 * w + 1) * 86400 + 9 * 3600) * 1000;
  ag_record(&f->l, d, MLPROTO_KIND_CONTACT, c);
}

/* a (M1): case 1 with a grant and contacts in weeks 0, 1, 3; a2 (M1 too)
 * one in week 4; b (M2): case 2 with a grant. */
static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  ag_init(&f->l);
  sim_dev_init(&f->a);
  sim_dev_init(&f->a2);
  sim_dev_init(&f->b);
  memset(f->c1, 0xc1, 16);
  memset(f->c2, 0xc2, 16);
  ag_enroll_as(&f->l, &f->a, M1);
  ag_enroll_as(&f->l, &f->b, M2);
  ag_enroll_as(&f->l, &f->a2, M1);
  ag_record(&f->l, &f->a, MLPROTO_KIND_CASE_OPEN, f->c1);
  ag_record(&f->l, &f->a, MLPROTO_KIND_GRANT_OPEN, f->c1);
  contact_in_week(f, &f->a, f->c1, 0);
  contact_in_week(f, &f->a, f->c1, 1);
  ag_record(&f->l, &f->b, MLPROTO_KIND_CASE_OPEN, f->c2);
  ag_record(&f->l, &f->b, MLPROTO_KIND_GRANT_OPEN, f->c2);
  contact_in_week(f, &f->a, f->c1, 3);
  ag_record(&f->l, &f->a, MLPROTO_KIND_NOTE, f->c1);
  contact_in_week(f, &f->a2, f->c1, 4);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  ag_free(&f->l);
  sim_dev_free(&f->a);
  sim_dev_free(&f->a2);
  sim_dev_free(&f->b);
  free(f);
  return 0;
}

static void build_kept(fx *f, const char *jc, int64_t now, const mlproto_checkpoint *kept,
                       audit_report *r) {
  mlproto_buf b;
  ag_file(&f->l, &b);
  audit_report_options o = {.key = &f->l.key, .kept = kept, .n_kept = kept ? 1 : 0,
                            .vouch_kept = 1, .threads = 2, .jobcentre = jc, .now_ms = now};
  assert_int_equal(audit_report_build(r, b.data, b.len, &o), MLPROTO_OK);
  mlproto_buf_free(&b);
}

static void build(fx *f, const char *jc, int64_t now, audit_report *r) {
  mlproto_buf b;
  ag_file(&f->l, &b);
  audit_report_options o = {.key = &f->l.key, .threads = 2, .jobcentre = jc, .now_ms = now};
  assert_int_equal(audit_report_build(r, b.data, b.len, &o), MLPROTO_OK);
  mlproto_buf_free(&b);
}

static const mlproto_grant_report *of_case(const audit_report *r, const uint8_t c[16]) {
  for (size_t i = 0; i < r->n; i++)
    if (memcmp(r->g[i]->case_id, c, 16) == 0) return r->g[i];
  return NULL;
}

static void honest_log(void **state) {
  fx *f = *state;
  audit_report r;
  build(f, NULL, NOW_2027, &r);
  assert_false(r.refused);
  assert_int_equal(r.verify.findings_total, 0);
  assert_int_equal(r.n, 2);
  assert_int_equal(r.cases, 2);
  assert_int_equal(r.records, 6); /* 2 grants, 4 contacts: no CASE_OPEN, no NOTE */
  const mlproto_grant_report *g = of_case(&r, f->c1);
  assert_non_null(g);
  assert_string_equal(g->jobcentre_id, SIM_JOBCENTRE);
  const mlproto_compliance *c = g->compliance;
  assert_non_null(c);
  /* weeks 0, 1, 3 by a and week 4 by a2 (the same mentor): MET; week 2 MISSED */
  static const int want[] = {MLPROTO_PERIOD_MET, MLPROTO_PERIOD_MET, MLPROTO_PERIOD_MISSED,
                             MLPROTO_PERIOD_MET, MLPROTO_PERIOD_MET, MLPROTO_PERIOD_MISSED};
  for (size_t k = 0; k < 6; k++) assert_int_equal(c->periods[k].status, want[k]);
  assert_int_equal(c->periods[4].qualifying, 1);
  /* receipt times from the file */
  for (size_t i = 0; i < g->n_contacts; i++) {
    assert_true(g->contacts[i].log_index != MLPROTO_REPORT_NOT_LOGGED);
    assert_true(g->contacts[i].received_at_ms >= AG_T0);
  }
  mlproto_buf doc;
  mlproto_buf_init(&doc, 1u << 20);
  assert_int_equal(audit_report_render(&doc, MLPROTO_REPORT_JSON, &r, MLPROTO_DATE_NONE,
                                       MLPROTO_DATE_NONE), 0);
  assert_non_null(strstr((const char *)doc.data, "\"jobcentre\":null"));
  assert_non_null(strstr((const char *)doc.data, "\"jobcentre\":\"" SIM_JOBCENTRE "\""));
  assert_non_null(strstr((const char *)doc.data, "\"generated_at\":\"2027-01-01T00:00:00.000Z\""));
  mlproto_buf_free(&doc);
  audit_report_free(&r);

  /* another jobcentre: no grant; the default now: the last entry's receipt */
  build(f, "other-jc", AUDIT_NOW_LOG, &r);
  assert_false(r.refused);
  assert_int_equal(r.n, 0);
  assert_int_equal(r.now_ms, (int64_t)f->l.e[f->l.n - 1].received);
  audit_report_free(&r);
  build(f, SIM_JOBCENTRE, NOW_2027, &r);
  assert_int_equal(r.n, 2);
  audit_report_free(&r);
}

/* The report refuses; verify alone finds nothing. */
static void refused_for_ownership(fx *f, uint64_t index) {
  audit_report r;
  build(f, NULL, NOW_2027, &r);
  assert_int_equal(r.verify.findings_total, 0);
  assert_true(r.refused);
  assert_int_equal(r.code, MLPROTO_ERR_NOT_YOUR_CASE);
  assert_int_equal(r.code_index, index);
  assert_int_equal(r.ownership_total, 1);
  assert_int_equal(r.n, 0);
  mlproto_buf doc;
  mlproto_buf_init(&doc, 1u << 20);
  assert_int_equal(audit_report_render(&doc, MLPROTO_REPORT_JSON, &r, MLPROTO_DATE_NONE,
                                       MLPROTO_DATE_NONE), MLPROTO_ERR_INVALID_ARGUMENT);
  mlproto_buf_free(&doc);
  audit_report_free(&r);
}

static void another_mentors_record(void **state) {
  fx *f = *state;
  contact_in_week(f, &f->b, f->c1, 5); /* b is M2's, case 1 M1's */
  refused_for_ownership(f, f->l.n - 1);
}

static void case_begun_without_case_open(void **state) {
  fx *f = *state;
  uint8_t c3[16];
  memset(c3, 0xc3, 16);
  contact_in_week(f, &f->b, c3, 0);
  refused_for_ownership(f, f->l.n - 1);
}

static void unverified_file(void **state) {
  fx *f = *state;
  size_t n = 0;
  size_t at = ag_disclosed_at(f->l.e[5].env, f->l.e[5].len, &n); /* a's first contact */
  f->l.e[5].env[at + n / 2] ^= 1;
  audit_report r;
  build(f, NULL, NOW_2027, &r);
  assert_true(r.refused);
  assert_true(r.verify.findings_total > 0);
  assert_int_equal(r.verify.findings[0].code, MLPROTO_ERR_DISCLOSED_HASH_MISMATCH);
  assert_int_equal(r.n, 0);
  audit_report_free(&r);
}

static char *doc_of(const audit_report *r) {
  mlproto_buf doc;
  mlproto_buf_init(&doc, 1u << 20);
  assert_int_equal(audit_report_render(&doc, MLPROTO_REPORT_CSV, r, MLPROTO_DATE_NONE,
                                       MLPROTO_DATE_NONE), 0);
  char *t = calloc(1, doc.len + 1);
  memcpy(t, doc.data, doc.len);
  mlproto_buf_free(&doc);
  return t;
}

static void kept_checkpoint_vouches(void **state) {
  fx *f = *state;
  audit_report full, fast;
  build(f, NULL, NOW_2027, &full);
  /* every entry but the last under a kept checkpoint: the last one is verified */
  mlproto_checkpoint kept = ag_checkpoint_of(&f->l, f->l.n - 1);
  build_kept(f, NULL, NOW_2027, &kept, &fast);
  assert_false(fast.refused);
  char *a = doc_of(&full), *b = doc_of(&fast);
  assert_string_equal(a, b);
  free(a);
  free(b);
  audit_report_free(&full);
  audit_report_free(&fast);

  /* a signature changed under the kept checkpoint: refused all the same */
  ag_entry *e = &f->l.e[5];
  mlproto_record *rec = NULL;
  assert_int_equal(mlproto_record_verify(&rec, e->env, e->len), MLPROTO_OK);
  uint8_t *sig = memmem(e->env, e->len, rec->signature, 64);
  mlproto_record_free(rec);
  assert_non_null(sig);
  sig[10] ^= 1;
  build_kept(f, NULL, NOW_2027, &kept, &fast);
  assert_true(fast.refused);
  /* the next record of its author no longer links to it, and the root at
   * the kept size is not the kept one */
  int root = 0;
  for (size_t i = 0; i < fast.verify.n_findings; i++)
    root += fast.verify.findings[i].code == MLPROTO_ERR_PROOF_INVALID;
  assert_int_equal(root, 1);
  audit_report_free(&fast);
  build(f, NULL, NOW_2027, &full);
  assert_true(full.refused);
  assert_int_equal(full.verify.findings[0].code, MLPROTO_ERR_BAD_SIGNATURE);
  audit_report_free(&full);
  sig[10] ^= 1;
  /* a disclosed byte: its hash is still checked under the kept checkpoint */
  size_t n = 0, at = ag_disclosed_at(e->env, e->len, &n);
  e->env[at + n / 2] ^= 1;
  build_kept(f, NULL, NOW_2027, &kept, &fast);
  assert_true(fast.refused);
  assert_int_equal(fast.verify.findings[0].code, MLPROTO_ERR_DISCLOSED_HASH_MISMATCH);
  audit_report_free(&fast);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(honest_log, setup, teardown),
      cmocka_unit_test_setup_teardown(another_mentors_record, setup, teardown),
      cmocka_unit_test_setup_teardown(case_begun_without_case_open, setup, teardown),
      cmocka_unit_test_setup_teardown(unverified_file, setup, teardown),
      cmocka_unit_test_setup_teardown(kept_checkpoint_vouches, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
