/* The compliance engine: every worked example of domain.md, the edge cases
 * around it, the heads computation, limits and allocation failures. */
#include "testutil.h"

#include "mlproto/alloc.h"
#include "mlproto/compliance.h"
#include "mlproto/errors.h"
#include "mlproto/mentorlog.pb-c.h"

#include <stdlib.h>
#include <string.h>

#define MAXC 64
/* An HLC value at tick n (the tests only need an order). */
#define MLPROTO_HLC_MAKE_TEST(n) ((uint64_t)(n) << 16)

/* A grant with its contact versions and absences, built by the tests. */
typedef struct fx {
  mlproto_grant grant;
  mlproto_contact c[MAXC];
  uint8_t sup[MAXC][4][16];
  size_t n;
  mlproto_absence a[8];
  size_t na;
  mlproto_compliance *res;
} fx;

static mlproto_date D(const char *s) {
  mlproto_date d = 0;
  assert_int_equal(mlproto_date_parse(&d, s, strlen(s)), MLPROTO_OK);
  return d;
}

static int64_t T(const char *s) {
  int64_t ms = 0;
  int rc = mlproto_datetime_parse(&ms, s, strlen(s));
  if (rc != MLPROTO_OK)
    fail_msg("parse '%s': %s", s, mlproto_errname(rc));
  return ms;
}

static void fx_grant(fx *f, const char *start, const char *end) {
  mlproto_compliance_free(f->res);
  memset(f, 0, sizeof *f);
  f->grant.start = D(start);
  f->grant.end = D(end);
  f->grant.closed = MLPROTO_DATE_NONE;
  mlproto_rule_default(&f->grant.rule);
  f->grant.granted_minutes_per_week = 120;
}

/* A held, qualifying-by-default contact at a wall time ("YYYY-MM-DD HH:MM",
 * Copenhagen) or a UTC instant ("...Z"), recorded at its start and received
 * an hour later. */
static mlproto_contact *fx_add(fx *f, const char *start, uint32_t minutes, mlproto_channel ch,
                               mlproto_outcome oc) {
  assert_true(f->n < MAXC);
  mlproto_contact *c = &f->c[f->n];
  memset(c, 0, sizeof *c);
  c->item.record_id[0] = (uint8_t)(f->n + 1);
  c->item.record_id[15] = 0xAB;
  c->item.hlc = MLPROTO_HLC_MAKE_TEST(f->n + 1);
  c->item.author[0] = 1;
  c->start_ms = T(start);
  c->duration_minutes = minutes;
  c->channel = ch;
  c->outcome = oc;
  c->by_grant_mentor = 1;
  c->recorded_at_ms = c->start_ms + 60000;
  c->received_at_ms = c->start_ms + 3600000;
  f->n++;
  return c;
}

static mlproto_contact *fx_held(fx *f, const char *start) {
  return fx_add(f, start, 60, MLPROTO_CHANNEL_HOME_VISIT, MLPROTO_OUTCOME_HELD);
}

/* Version `newer` supersedes version `older` (indexes into f->c). */
static void fx_supersede(fx *f, size_t newer, size_t older) {
  mlproto_contact *c = &f->c[newer];
  assert_true(c->item.n_supersedes < 4);
  memcpy(f->sup[newer][c->item.n_supersedes], f->c[older].item.record_id, 16);
  c->item.n_supersedes++;
  c->item.supersedes = (const uint8_t(*)[16])f->sup[newer];
}

static void fx_absence(fx *f, const char *from, const char *to, int approved) {
  f->a[f->na++] = (mlproto_absence){D(from), D(to), approved};
}

static const mlproto_compliance *fx_run(fx *f, int64_t now) {
  mlproto_compliance_free(f->res);
  f->res = NULL;
  int rc = mlproto_compliance_compute(&f->res, &f->grant, f->c, f->n, f->a, f->na, now);
  if (rc != MLPROTO_OK)
    fail_msg("compute: %s", mlproto_errname(rc));
  return f->res;
}

/* Far after every grant in these tests: all grace periods are over. */
#define LATER T("2030-01-01 12:00")

static const mlproto_period *period_of_week(const mlproto_compliance *r, const char *label) {
  for (size_t i = 0; i < r->n_periods; i++)
    for (uint32_t w = 0; w < r->periods[i].n_weeks; w++)
      if (strcmp(r->periods[i].weeks[w], label) == 0)
        return &r->periods[i];
  fail_msg("no period holds %s", label);
  return NULL;
}

static void assert_status(const mlproto_compliance *r, const char *week, mlproto_period_status st,
                          mlproto_na_reason reason) {
  const mlproto_period *p = period_of_week(r, week);
  if (p->status != st || p->reason != reason)
    fail_msg("%s: got %s/%s, want %s/%s", week, mlproto_period_status_name((int)p->status),
             mlproto_na_reason_name((int)p->reason), mlproto_period_status_name((int)st),
             mlproto_na_reason_name((int)reason));
}

static int teardown(void **state) {
  fx *f = *state;
  mlproto_compliance_free(f->res);
  free(f);
  return 0;
}

static int setup(void **state) {
  *state = calloc(1, sizeof(fx));
  return *state ? 0 : -1;
}

/* ------------------------------------------------------ worked examples */

static void test_example01_new_year_week(void **state) {
  fx *f = *state;
  fx_grant(f, "2025-12-29", "2026-03-31");
  fx_add(f, "2025-12-29 10:00", 30, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_HELD);
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_string_equal(r->periods[0].weeks[0], "2026-W01");
  assert_int_equal(r->periods[0].start, D("2025-12-29"));
  assert_status(r, "2026-W01", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
  assert_int_equal(r->contacts[0].period, 0);
  assert_int_equal(r->contacts[0].local_date, D("2025-12-29"));
}

static void test_example02_week53(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-12-21", "2027-02-28");
  fx_held(f, "2027-01-02 11:00");
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_string_equal(r->periods[1].weeks[0], "2026-W53");
  assert_string_equal(r->periods[2].weeks[0], "2027-W01");
  assert_int_equal(r->periods[2].start, D("2027-01-04"));
  assert_status(r, "2026-W53", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
  assert_int_equal(r->contacts[0].period, 1);
  assert_status(r, "2027-W01", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_int_equal(r->n_periods, 10); /* 2026-W52 .. 2027-W08 */
}

static void test_example04_partial_first_week(void **state) {
  fx *f = *state;
  fx_grant(f, "2025-09-04", "2025-12-31");
  const mlproto_compliance *r = fx_run(f, LATER);
  const mlproto_period *p = period_of_week(r, "2025-W36");
  assert_int_equal(p->working_days, 2);
  assert_int_equal(p->in_scope_days, 4);
  assert_true(p->cut);
  assert_status(r, "2025-W36", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_PARTIAL);
  assert_status(r, "2025-W37", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_int_equal(r->totals.not_assessable, 1);
}

static void test_example05_partial_week_met(void **state) {
  fx *f = *state;
  fx_grant(f, "2025-09-04", "2025-12-31");
  fx_held(f, "2025-09-05 09:00");
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_status(r, "2025-W36", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
  assert_int_equal(r->totals.met, 1);
}

static void test_example06_last_week_wednesday(void **state) {
  fx *f = *state;
  fx_grant(f, "2025-09-01", "2025-10-15"); /* ends Wednesday of 2025-W42 */
  const mlproto_compliance *r = fx_run(f, T("2025-10-20 12:00"));
  const mlproto_period *p = period_of_week(r, "2025-W42");
  assert_int_equal(p->working_days, 3);
  assert_true(p->cut);
  assert_status(r, "2025-W42", MLPROTO_PERIOD_PENDING, MLPROTO_NA_NONE);
  r = fx_run(f, LATER);
  assert_status(r, "2025-W42", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_int_equal(r->n_periods, 7);
  assert_int_equal(r->totals.n_missed, 7);
  assert_int_equal(r->totals.assessable_final, 7);
}

static void test_example08_holiday_week_still_required(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-03-02", "2026-05-31");
  fx_held(f, "2026-03-26 10:00"); /* W13 */
  fx_held(f, "2026-04-07 10:00"); /* W15 */
  f->grant.rule.min_working_days = 5; /* K never applies to a full week */
  const mlproto_compliance *r = fx_run(f, LATER);
  const mlproto_period *p = period_of_week(r, "2026-W14");
  assert_int_equal(p->working_days, 3);
  assert_false(p->cut);
  assert_status(r, "2026-W14", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_status(r, "2026-W13", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
  assert_status(r, "2026-W15", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
}

static void test_example11_utc_sunday_is_local_monday(void **state) {
  fx *f = *state;
  fx_grant(f, "2025-03-24", "2025-06-30");
  fx_add(f, "2025-03-30T22:30:00Z", 20, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_HELD);
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_int_equal(r->contacts[0].local_date, D("2025-03-31"));
  assert_status(r, "2025-W14", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
  assert_status(r, "2025-W13", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
}

static void test_example14_duration_from_instants(void **state) {
  fx *f = *state;
  fx_grant(f, "2025-10-01", "2026-03-31");
  mlproto_contact *c = fx_held(f, "2025-10-26 01:30");
  c->end_ms = T("2025-10-26 03:30");
  c = fx_held(f, "2026-03-29 01:30"); /* spring 2026 is 29 March */
  c->end_ms = T("2026-03-29 03:30");
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_int_equal(r->contacts[0].minutes, 180);
  assert_int_equal(r->contacts[1].minutes, 60);
  assert_int_equal(period_of_week(r, "2025-W43")->minutes_held, 180);
  assert_int_equal(r->totals.minutes_held, 240);
  /* The domain's date, 2025-03-30, in its own grant. */
  fx_grant(f, "2025-03-03", "2025-08-31");
  c = fx_held(f, "2025-03-30 01:30");
  c->end_ms = T("2025-03-30 03:30");
  r = fx_run(f, LATER);
  assert_int_equal(r->contacts[0].minutes, 60);
}

static void test_example16_attempts_and_sms(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-31");
  fx_add(f, "2026-01-06 10:00", 2, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_ATTEMPT_FAILED);
  fx_add(f, "2026-01-07 10:00", 2, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_ATTEMPT_FAILED);
  fx_add(f, "2026-01-08 10:00", 1, MLPROTO_CHANNEL_MESSAGE, MLPROTO_OUTCOME_HELD);
  const mlproto_compliance *r = fx_run(f, LATER);
  const mlproto_period *p = period_of_week(r, "2026-W02");
  assert_int_equal(p->qualifying, 0);
  assert_int_equal(p->attempts, 3);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS, MLPROTO_NA_NONE);
  /* cancelled-by-mentor alone is not an attempt. */
  fx_grant(f, "2026-01-05", "2026-03-31");
  fx_add(f, "2026-01-06 10:00", 0, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_CANCELLED_BY_MENTOR);
  r = fx_run(f, LATER);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
}

static void test_example18_no_carry_over(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-02-23", "2026-05-31");
  fx_held(f, "2026-03-02 10:00");
  fx_held(f, "2026-03-04 10:00");
  fx_held(f, "2026-03-06 10:00");
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_int_equal(period_of_week(r, "2026-W10")->qualifying, 3);
  assert_status(r, "2026-W10", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
  assert_status(r, "2026-W11", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
}

static void test_example20_late_sync(void **state) {
  fx *f = *state;
  fx_grant(f, "2025-12-29", "2026-03-31");
  mlproto_contact *c = fx_held(f, "2026-01-02 10:00");
  c->recorded_at_ms = T("2026-01-02 18:00");
  c->received_at_ms = T("2026-01-20 09:00");
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_status(r, "2026-W01", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
  assert_true(r->contacts[0].late_sync);
  assert_false(r->contacts[0].late_entry);
  assert_int_equal(r->late_syncs, 1);
  /* Not yet received is never late_sync. */
  c->received_at_ms = 0;
  r = fx_run(f, LATER);
  assert_false(r->contacts[0].late_sync);
}

static void test_example21_late_entry(void **state) {
  fx *f = *state;
  fx_grant(f, "2025-12-29", "2026-03-31");
  mlproto_contact *c = fx_held(f, "2026-01-02 10:00");
  c->recorded_at_ms = T("2026-01-15 10:00");
  c->received_at_ms = T("2026-01-15 10:05");
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_status(r, "2026-W01", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
  assert_true(r->contacts[0].late_entry);
  assert_false(r->contacts[0].late_sync);
  /* Exactly L days is not late; one ms more is. */
  c->recorded_at_ms = c->start_ms + 7 * MLPROTO_MS_PER_DAY;
  r = fx_run(f, LATER);
  assert_false(r->contacts[0].late_entry);
  c->recorded_at_ms++;
  r = fx_run(f, LATER);
  assert_true(r->contacts[0].late_entry);
  /* L is the grant's rule. */
  f->grant.rule.late_days = 8;
  r = fx_run(f, LATER);
  assert_false(r->contacts[0].late_entry);
  assert_int_equal(r->late_entries, 0);
}

/* Definition 9 as one function: boundaries, L = 0, records made before the
 * start, and no overflow at the ends of int64. */
static void test_late_flags_functions(void **state) {
  (void)state;
  const int64_t day = MLPROTO_MS_PER_DAY, t0 = T("2026-01-02 10:00");
  assert_false(mlproto_late_entry(t0, t0 + 7 * day, 7));
  assert_true(mlproto_late_entry(t0, t0 + 7 * day + 1, 7));
  assert_false(mlproto_late_entry(t0, t0, 0));
  assert_true(mlproto_late_entry(t0, t0 + 1, 0));
  assert_false(mlproto_late_entry(t0, t0 - 30 * day, 7)); /* recorded before: not late */
  assert_true(mlproto_late_entry(t0, t0 + 367 * day, MLPROTO_RULE_MAX_DAYS));
  assert_false(mlproto_late_entry(t0, t0 + 366 * day, MLPROTO_RULE_MAX_DAYS));
  assert_true(mlproto_late_entry(INT64_MIN, INT64_MAX, UINT32_MAX));
  assert_false(mlproto_late_entry(INT64_MAX, INT64_MIN, 0));
  assert_false(mlproto_late_sync(t0, 0, 7)); /* not yet received */
  assert_false(mlproto_late_sync(t0, t0 + 7 * day, 7));
  assert_true(mlproto_late_sync(t0, t0 + 7 * day + 1, 7));
  assert_false(mlproto_late_sync(t0, t0 - day, 0));
}

static void test_example22_correction_moves_week(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-02-23", "2026-05-31");
  fx_held(f, "2026-03-03 10:00");        /* W10 */
  fx_held(f, "2026-03-10 10:00");        /* the correction: W11 */
  fx_supersede(f, 1, 0);
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_status(r, "2026-W10", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_status(r, "2026-W11", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
  assert_int_equal(r->n_contacts, 1);
  assert_int_equal(r->contacts[0].index, 1);
  assert_int_equal(r->n_conflicts, 0);
  /* Both versions stay in the history of the item. */
  mlproto_heads *h = NULL;
  mlproto_item items[2] = {f->c[0].item, f->c[1].item};
  assert_int_equal(mlproto_heads_compute(&h, items, 2), MLPROTO_OK);
  assert_int_equal(h->n_groups, 1);
  assert_int_equal(h->groups[0].n_versions, 2);
  assert_int_equal(h->groups[0].representative, 1);
  mlproto_heads_free(h);
}

static void test_example25_renewal_separate(void **state) {
  fx *f = *state;
  /* Grant A ends Sunday 2026-03-01; B starts Monday 2026-03-02. */
  fx_grant(f, "2025-09-08", "2026-03-01");
  fx_held(f, "2026-03-02 10:00"); /* belongs to B */
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_status(r, "2026-W09", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_int_equal(r->n_periods, 25); /* 2025-W37 .. 2026-W09 */
  assert_int_equal(r->contacts[0].period, -1);
  assert_int_equal(r->totals.minutes_held, 0);
  fx_grant(f, "2026-03-02", "2026-08-31");
  fx_held(f, "2026-03-01 10:00"); /* belongs to A */
  r = fx_run(f, LATER);
  assert_int_equal(r->periods[0].start, D("2026-03-02"));
  assert_status(r, "2026-W10", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_int_equal(r->contacts[0].period, -1);
}

static void test_example26_short_video_is_attempt(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-31");
  f->grant.rule.min_minutes = 10;
  fx_add(f, "2026-01-07 10:00", 6, MLPROTO_CHANNEL_VIDEO, MLPROTO_OUTCOME_HELD);
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_false(r->contacts[0].qualifies);
  assert_true(r->contacts[0].attempt);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS, MLPROTO_NA_NONE);
  f->c[0].duration_minutes = 10; /* M itself qualifies */
  r = fx_run(f, LATER);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
}

/* ------------------------------------------------------------ edge cases */

/* Example 27: a full week shortened by an approved absence (Mon..Thu) keeps
 * an in-scope working day (Fri): K is for cut periods only, so the week is
 * assessable and, without a contact, MISSED once final. */
static void test_example27_absence_does_not_make_full_week_partial(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-06-01", "2026-06-28");
  fx_absence(f, "2026-06-08", "2026-06-11", 1);
  const mlproto_compliance *r = fx_run(f, LATER);
  const mlproto_period *p = period_of_week(r, "2026-W24");
  assert_false(p->cut);
  assert_true(p->absence_reduced);
  assert_int_equal(p->working_days, 1);
  assert_int_equal(p->in_scope_days, 3); /* Fri, Sat, Sun */
  assert_status(r, "2026-W24", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_int_equal(r->totals.not_assessable, 0);
  assert_int_equal(r->totals.assessable_final, 4);
  /* Still PENDING during its grace (the end of Sunday 06-14 + 7 days). */
  r = fx_run(f, T("2026-06-21 23:59"));
  assert_status(r, "2026-W24", MLPROTO_PERIOD_PENDING, MLPROTO_NA_NONE);
  /* Only the weekend left in scope: still assessable (an in-scope day). */
  fx_absence(f, "2026-06-12", "2026-06-12", 1);
  r = fx_run(f, LATER);
  p = period_of_week(r, "2026-W24");
  assert_int_equal(p->working_days, 0);
  assert_int_equal(p->in_scope_days, 2);
  assert_status(r, "2026-W24", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  /* The whole week absent: no in-scope day, NOT_ASSESSABLE(absence). */
  fx_absence(f, "2026-06-13", "2026-06-14", 1);
  r = fx_run(f, LATER);
  assert_status(r, "2026-W24", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_ABSENCE);
  /* An unapproved absence exempts nothing. */
  f->na = 0;
  fx_absence(f, "2026-06-08", "2026-06-14", 0);
  r = fx_run(f, LATER);
  assert_int_equal(period_of_week(r, "2026-W24")->working_days, 5);
  assert_status(r, "2026-W24", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
}

/* Example 28: the cut leaves Wed..Fri = K; an approved absence on Wednesday
 * takes it below K: NOT_ASSESSABLE(absence). Without the absence the same
 * week is assessable. */
static void test_example28_cut_week_below_k_by_absence(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-06-03", "2026-08-30");
  fx_absence(f, "2026-06-03", "2026-06-03", 1);
  const mlproto_compliance *r = fx_run(f, LATER);
  const mlproto_period *p = period_of_week(r, "2026-W23");
  assert_true(p->cut);
  assert_true(p->absence_reduced);
  assert_int_equal(p->working_days, 2);
  assert_status(r, "2026-W23", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_ABSENCE);
  assert_status(r, "2026-W24", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  /* A qualifying contact still makes it MET (the first rule wins). */
  fx_held(f, "2026-06-05 10:00");
  r = fx_run(f, LATER);
  assert_status(r, "2026-W23", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
}

/* The mirror of example 28: without the absence the cut week has 3 = K
 * working days and is assessable. */
static void test_example28_without_absence_assessable(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-06-03", "2026-08-30");
  const mlproto_compliance *r = fx_run(f, LATER);
  const mlproto_period *p = period_of_week(r, "2026-W23");
  assert_true(p->cut);
  assert_false(p->absence_reduced);
  assert_int_equal(p->working_days, 3);
  assert_status(r, "2026-W23", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  /* An unapproved absence on the Wednesday changes nothing. */
  fx_absence(f, "2026-06-03", "2026-06-03", 0);
  r = fx_run(f, LATER);
  assert_status(r, "2026-W23", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
}

/* A cut period below K by the cut alone is PARTIAL, also when approved
 * absences take further days out of it (as long as an in-scope day is
 * left; none left is ABSENCE, the first clause of definition 7). At the
 * grant's end as at its start. */
static void test_cut_below_k_is_partial_even_with_absence(void **state) {
  fx *f = *state;
  fx_grant(f, "2025-09-04", "2025-12-31"); /* example 4: Thu, Fri = 2 < K */
  fx_absence(f, "2025-09-04", "2025-09-04", 1);
  const mlproto_compliance *r = fx_run(f, LATER);
  const mlproto_period *p = period_of_week(r, "2025-W36");
  assert_true(p->absence_reduced);
  assert_int_equal(p->working_days, 1);
  assert_int_equal(p->in_scope_days, 3);
  assert_status(r, "2025-W36", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_PARTIAL);
  fx_absence(f, "2025-09-05", "2025-09-06", 1); /* only Sunday left */
  r = fx_run(f, LATER);
  assert_status(r, "2025-W36", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_PARTIAL);
  fx_absence(f, "2025-09-07", "2025-09-07", 1); /* nothing left in scope */
  r = fx_run(f, LATER);
  assert_int_equal(period_of_week(r, "2025-W36")->in_scope_days, 0);
  assert_status(r, "2025-W36", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_ABSENCE);
  /* The last week, cut by E on a Tuesday (2 < K), with an absence Monday. */
  fx_grant(f, "2026-01-05", "2026-03-31");
  fx_absence(f, "2026-03-30", "2026-03-30", 1);
  r = fx_run(f, LATER);
  assert_status(r, "2026-W14", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_PARTIAL);
  /* A close date cuts like an end: closed Wed 03-18 leaves Mon..Wed = K;
   * an absence on Tuesday takes it below K. */
  f->grant.closed = D("2026-03-18");
  f->na = 0;
  r = fx_run(f, LATER);
  assert_status(r, "2026-W12", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  fx_absence(f, "2026-03-17", "2026-03-17", 1);
  r = fx_run(f, LATER);
  assert_status(r, "2026-W12", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_ABSENCE);
}

/* A full P = 2 period with one week absent keeps five working days of the
 * other week, and one with a single in-scope day is still assessable. */
static void test_p2_full_period_with_absence(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-29");
  f->grant.rule.period_weeks = 2;
  f->grant.rule.min_working_days = 6;
  fx_absence(f, "2026-01-05", "2026-01-17", 1); /* all of k = 0 but Sunday 01-18 */
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_int_equal(r->periods[0].in_scope_days, 1);
  assert_int_equal(r->periods[0].working_days, 0);
  assert_false(r->periods[0].cut);
  assert_int_equal(r->periods[0].status, MLPROTO_PERIOD_MISSED);
  assert_int_equal(r->periods[0].reason, MLPROTO_NA_NONE);
}

static void test_p2_anchoring_across_week53(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-12-16", "2027-03-31"); /* Wednesday of 2026-W51 */
  f->grant.rule.period_weeks = 2;
  fx_held(f, "2027-01-05 10:00"); /* 2027-W01, paired with 2026-W53 */
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_string_equal(r->periods[0].weeks[0], "2026-W51");
  assert_string_equal(r->periods[0].weeks[1], "2026-W52");
  assert_string_equal(r->periods[1].weeks[0], "2026-W53");
  assert_string_equal(r->periods[1].weeks[1], "2027-W01");
  assert_string_equal(r->periods[2].weeks[0], "2027-W02");
  assert_int_equal(r->periods[1].start, D("2026-12-28"));
  assert_int_equal(r->periods[1].end, D("2027-01-10"));
  assert_int_equal(r->contacts[0].period, 1);
  assert_status(r, "2026-W53", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
  /* First period cut by S on Wednesday: Wed..Fri W51 + W52 minus Christmas. */
  assert_int_equal(r->periods[0].working_days, 3 + 4); /* 25 Dec is a Friday */
  assert_status(r, "2026-W51", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
}

static void test_n2_requires_two(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-31");
  f->grant.rule.contacts_needed = 2;
  fx_held(f, "2026-01-06 10:00");
  const mlproto_compliance *r = fx_run(f, LATER);
  /* One qualifying contact is not an attempt: plain MISSED. */
  assert_int_equal(period_of_week(r, "2026-W02")->qualifying, 1);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  fx_held(f, "2026-01-11 22:00");
  r = fx_run(f, LATER);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
}

static void test_grant_shorter_than_a_week(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-06", "2026-01-08"); /* Tue..Thu: 3 working days */
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_int_equal(r->n_periods, 1);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_int_equal(r->n_weeks, 1);
  assert_int_equal(r->weeks[0].days_in_grant, 3);
  assert_int_equal(r->weeks[0].minutes_granted, 51); /* 120 * 3 / 7 = 51.4 */
  f->grant.start = D("2026-01-07");
  r = fx_run(f, LATER);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_PARTIAL);
  /* A one-day grant on a Saturday: in scope, no working day. */
  f->grant.start = f->grant.end = D("2026-01-10");
  r = fx_run(f, LATER);
  assert_int_equal(r->periods[0].in_scope_days, 1);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_PARTIAL);
}

static void test_absence_whole_period(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-31");
  fx_absence(f, "2026-01-10", "2026-01-20", 1); /* covers all of W03 */
  fx_held(f, "2026-01-14 10:00");                /* in the absence: does not qualify */
  const mlproto_compliance *r = fx_run(f, LATER);
  const mlproto_period *p = period_of_week(r, "2026-W03");
  assert_int_equal(p->in_scope_days, 0);
  assert_status(r, "2026-W03", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_ABSENCE);
  assert_true(r->contacts[0].in_absence);
  assert_false(r->contacts[0].qualifies);
  /* W02 loses Sat+Sun only: still 5 working days. */
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_true(period_of_week(r, "2026-W02")->absence_reduced);
  /* W04 keeps Wed..Fri = 3 = K: assessable. */
  assert_int_equal(period_of_week(r, "2026-W04")->working_days, 3);
  assert_status(r, "2026-W04", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  /* One more absent day leaves 2 < K, but W04 is a full week: K does not
   * apply (definition 7, example 27), so it stays assessable. */
  fx_absence(f, "2026-01-21", "2026-01-21", 1);
  r = fx_run(f, LATER);
  assert_int_equal(period_of_week(r, "2026-W04")->working_days, 2);
  assert_status(r, "2026-W04", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
}

static void test_unapproved_absence_no_exemption(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-31");
  fx_absence(f, "2026-01-12", "2026-01-18", 0);
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_status(r, "2026-W03", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_int_equal(period_of_week(r, "2026-W03")->in_scope_days, 7);
}

static void test_cut_and_absence_reason(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-07", "2026-03-31"); /* Wed: the cut leaves 3 = K */
  fx_absence(f, "2026-01-07", "2026-01-07", 1);
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_ABSENCE);
  f->grant.start = D("2026-01-08"); /* the cut alone leaves 2 */
  r = fx_run(f, LATER);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_PARTIAL);
}

static void test_contact_on_end_date_and_day_after(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-01-14");
  fx_held(f, "2026-01-14 23:59");
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_status(r, "2026-W03", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
  f->c[0].start_ms = T("2026-01-15 00:00");
  r = fx_run(f, LATER);
  assert_status(r, "2026-W03", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_int_equal(r->contacts[0].period, -1);
  assert_false(r->contacts[0].qualifies);
  assert_false(r->contacts[0].attempt);
  assert_int_equal(r->last_contact_date, MLPROTO_DATE_NONE);
  /* A close date ends the grant early. */
  f->c[0].start_ms = T("2026-01-14 10:00");
  f->grant.closed = D("2026-01-09");
  r = fx_run(f, LATER);
  assert_int_equal(r->effective_end, D("2026-01-09"));
  assert_int_equal(r->n_periods, 1);
  assert_int_equal(r->contacts[0].period, -1);
  f->grant.closed = D("2026-01-01"); /* closed before it began */
  r = fx_run(f, LATER);
  assert_int_equal(r->n_periods, 0);
  assert_int_equal(r->n_weeks, 0);
  assert_int_equal(r->n_months, 0);
}

static void test_sunday_2330_utc_is_monday(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-31");
  fx_held(f, "2026-01-11T23:30:00Z"); /* Sunday in UTC, Monday 00:30 local */
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_int_equal(r->contacts[0].local_date, D("2026-01-12"));
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_status(r, "2026-W03", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
}

static void test_grace_boundary(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-31");
  /* W02 ends Sunday 2026-01-11; + G = 7 days: final at local midnight
   * starting 2026-01-19, i.e. 2026-01-18T23:00Z. */
  int64_t boundary = T("2026-01-18T23:00:00Z");
  const mlproto_compliance *r = fx_run(f, boundary - 1);
  assert_int_equal(r->periods[0].final_at_ms, boundary);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_PENDING, MLPROTO_NA_NONE);
  /* All pending but the last, cut to Mon+Tue (2 working days < K). */
  assert_int_equal(r->totals.pending, r->n_periods - 1);
  assert_status(r, "2026-W14", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_PARTIAL);
  r = fx_run(f, boundary);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_status(r, "2026-W03", MLPROTO_PERIOD_PENDING, MLPROTO_NA_NONE);
  assert_int_equal(r->totals.assessable_final, 1);
  /* Across a DST change the boundary is still local midnight. */
  fx_grant(f, "2026-03-16", "2026-05-31");
  r = fx_run(f, LATER);
  assert_int_equal(period_of_week(r, "2026-W12")->final_at_ms, T("2026-03-29T23:00:00Z") - 3600000);
  /* An open period already MET is MET, not PENDING. */
  fx_grant(f, "2026-01-05", "2026-03-31");
  fx_held(f, "2026-01-06 10:00");
  r = fx_run(f, T("2026-01-06 12:00"));
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
}

static void test_conflict_counted_once(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-31");
  f->grant.rule.contacts_needed = 2;
  fx_held(f, "2026-01-06 10:00");  /* original */
  fx_held(f, "2026-01-06 10:00");  /* device A's edit */
  fx_held(f, "2026-01-06 11:00");  /* device B's edit, concurrently */
  fx_supersede(f, 1, 0);
  fx_supersede(f, 2, 0);
  f->c[1].item.hlc = MLPROTO_HLC_MAKE_TEST(10);
  f->c[2].item.hlc = MLPROTO_HLC_MAKE_TEST(10);
  f->c[2].item.author[0] = 2; /* same hlc: the author bytes decide */
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_int_equal(r->n_contacts, 1);
  assert_int_equal(r->contacts[0].index, 2);
  assert_true(r->contacts[0].conflict);
  assert_int_equal(period_of_week(r, "2026-W02")->qualifying, 1);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_int_equal(r->n_conflicts, 1);
  assert_int_equal(r->conflicts[0].n_heads, 2);
  assert_int_equal(r->conflicts[0].heads[0], 2);
  assert_int_equal(r->conflicts[0].heads[1], 1);
  assert_int_equal(r->conflicts[0].n_versions, 3);
  /* A merge that supersedes both heads resolves the conflict. */
  fx_held(f, "2026-01-06 10:30");
  f->c[3].item.hlc = MLPROTO_HLC_MAKE_TEST(20);
  fx_supersede(f, 3, 1);
  fx_supersede(f, 3, 2);
  r = fx_run(f, LATER);
  assert_int_equal(r->n_conflicts, 0);
  assert_int_equal(r->contacts[0].index, 3);
  assert_false(r->contacts[0].conflict);
}

static void test_voided_contact_ignored(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-31");
  fx_held(f, "2026-01-06 10:00");
  mlproto_contact *v = fx_held(f, "2026-01-06 10:00");
  v->voided = 1;
  fx_supersede(f, 1, 0);
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_int_equal(r->n_contacts, 0);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_int_equal(r->totals.minutes_held, 0);
  assert_int_equal(r->months[0].billable_minutes, 0);
}

static void test_chain_of_corrections(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-31");
  fx_held(f, "2026-01-06 10:00");                                          /* W02 */
  fx_add(f, "2026-01-13 10:00", 45, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_NO_SHOW); /* W03 */
  fx_add(f, "2026-01-20 10:00", 30, MLPROTO_CHANNEL_VIDEO, MLPROTO_OUTCOME_HELD);   /* W04 */
  fx_supersede(f, 1, 0);
  fx_supersede(f, 2, 1);
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_int_equal(r->n_contacts, 1);
  assert_int_equal(r->contacts[0].index, 2);
  assert_int_equal(r->contacts[0].minutes, 30);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_status(r, "2026-W03", MLPROTO_PERIOD_MISSED, MLPROTO_NA_NONE);
  assert_status(r, "2026-W04", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
  assert_int_equal(r->last_contact_date, D("2026-01-20"));
}

static void test_billing_months_by_local_date(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-12", "2026-04-30");
  mlproto_contact *c = fx_add(f, "2026-01-31T23:30:00Z", 50, MLPROTO_CHANNEL_IN_PERSON,
                              MLPROTO_OUTCOME_HELD); /* local 1 February */
  c->transport_minutes = 25;
  c = fx_add(f, "2026-01-31 22:00", 40, MLPROTO_CHANNEL_HOME_VISIT, MLPROTO_OUTCOME_HELD);
  c->transport_minutes = 15;
  c = fx_add(f, "2026-02-03 10:00", 0, MLPROTO_CHANNEL_HOME_VISIT, MLPROTO_OUTCOME_NO_SHOW);
  c->transport_minutes = 30; /* a wasted journey: transport, not billable */
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_int_equal(r->n_months, 4);
  assert_string_equal(r->months[0].month, "2026-01");
  assert_string_equal(r->months[3].month, "2026-04");
  assert_int_equal(r->months[0].billable_minutes, 40);
  assert_int_equal(r->months[0].transport_minutes, 15);
  assert_int_equal(r->months[0].held_contacts, 1);
  assert_int_equal(r->months[1].billable_minutes, 50);
  assert_int_equal(r->months[1].transport_minutes, 55);
  assert_int_equal(r->months[1].held_contacts, 1);
  assert_int_equal(r->totals.transport_minutes, 70);
  assert_int_equal(r->totals.minutes_held, 90);
  /* Weekly hours: W05 holds Jan 31 (Sat), W06 holds Feb 1 (Sun). */
  const mlproto_week_hours *w05 = NULL, *w06 = NULL;
  for (size_t i = 0; i < r->n_weeks; i++) {
    if (strcmp(r->weeks[i].week, "2026-W05") == 0)
      w05 = &r->weeks[i];
    if (strcmp(r->weeks[i].week, "2026-W06") == 0)
      w06 = &r->weeks[i];
  }
  assert_non_null(w05);
  assert_non_null(w06);
  assert_int_equal(w05->minutes_held, 90); /* Jan 31 22:00 and Feb 1 00:30 are both W05 */
  assert_int_equal(w06->minutes_held, 0);
  assert_int_equal(w05->minutes_granted, 120);
}

static void test_totals_and_weeks(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-01", "2026-06-30");
  f->grant.granted_minutes_per_week = 180;
  for (int i = 0; i < 10; i++) {
    char buf[32];
    mlproto_date d = D("2026-01-06") + 14 * i;
    assert_int_equal(mlproto_date_format(buf, d), MLPROTO_OK);
    strcat(buf, " 10:00");
    fx_held(f, buf);
  }
  const mlproto_compliance *r = fx_run(f, T("2026-04-01 12:00"));
  assert_int_equal(r->n_periods, 27); /* 2026-W01 .. 2026-W27 */
  assert_status(r, "2026-W01", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_PARTIAL); /* Thu+Fri, 1 Jan */
  assert_int_equal(r->totals.met + r->totals.pending + r->totals.not_assessable + r->totals.n_missed,
                   r->n_periods);
  assert_int_equal(r->totals.assessable_final, r->totals.met + r->totals.n_missed);
  for (uint32_t i = 0; i < r->totals.n_missed; i++) {
    mlproto_period_status st = r->periods[r->totals.missed[i]].status;
    assert_true(st == MLPROTO_PERIOD_MISSED || st == MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS);
  }
  assert_int_equal(r->totals.met, 10);
  assert_int_equal(r->totals.minutes_held, 600);
  assert_int_equal(r->n_weeks, 27);
  uint64_t granted = 0;
  for (size_t i = 0; i < r->n_weeks; i++)
    granted += r->weeks[i].minutes_granted;
  assert_int_equal(granted, r->totals.minutes_granted);
  assert_int_equal(r->weeks[1].minutes_granted, 180);
  assert_int_equal(r->weeks[0].minutes_granted, 103); /* 4 days: 102.86 */
  assert_int_equal(r->n_months, 6);
  assert_int_equal(r->last_contact_date, D("2026-05-12"));
}

static void test_non_mentor_and_channel_rules(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-31");
  mlproto_contact *c = fx_held(f, "2026-01-06 10:00");
  c->by_grant_mentor = 0;
  f->grant.rule.channels = MLPROTO_CHANNEL_BIT(MLPROTO_CHANNEL_HOME_VISIT);
  fx_add(f, "2026-01-13 10:00", 30, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_HELD);
  fx_add(f, "2026-01-20 10:00", 30, MLPROTO_CHANNEL_HOME_VISIT, MLPROTO_OUTCOME_HELD);
  const mlproto_compliance *r = fx_run(f, LATER);
  assert_status(r, "2026-W02", MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS, MLPROTO_NA_NONE);
  assert_status(r, "2026-W03", MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS, MLPROTO_NA_NONE);
  assert_status(r, "2026-W04", MLPROTO_PERIOD_MET, MLPROTO_NA_NONE);
  assert_int_equal(period_of_week(r, "2026-W02")->minutes_held, 60); /* delivered anyway */
}

static void test_order_independent(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-06-30");
  fx_held(f, "2026-01-06 10:00");
  fx_held(f, "2026-01-06 11:00");
  fx_supersede(f, 1, 0);
  fx_held(f, "2026-01-06 12:00");
  fx_supersede(f, 2, 0); /* conflict */
  fx_add(f, "2026-02-10 10:00", 5, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_NO_SHOW);
  fx_held(f, "2026-03-03 09:00");
  fx_held(f, "2026-03-03 09:00"); /* same start: record_id orders */
  fx_absence(f, "2026-02-16", "2026-02-28", 1);
  fx_absence(f, "2026-02-20", "2026-03-01", 1);
  mlproto_compliance *a = NULL, *b = NULL;
  assert_int_equal(mlproto_compliance_compute(&a, &f->grant, f->c, f->n, f->a, f->na, LATER),
                   MLPROTO_OK);
  /* Reverse contacts (fixing the supersedes pointers) and absences. */
  fx g = *f;
  g.res = NULL;
  for (size_t i = 0; i < f->n; i++) {
    g.c[i] = f->c[f->n - 1 - i];
    memcpy(g.sup[i], f->sup[f->n - 1 - i], sizeof g.sup[i]);
    g.c[i].item.supersedes = (const uint8_t(*)[16])g.sup[i];
  }
  g.a[0] = f->a[1];
  g.a[1] = f->a[0];
  assert_int_equal(mlproto_compliance_compute(&b, &g.grant, g.c, g.n, g.a, g.na, LATER),
                   MLPROTO_OK);
  assert_int_equal(a->n_periods, b->n_periods);
  assert_memory_equal(a->periods, b->periods, a->n_periods * sizeof *a->periods);
  assert_memory_equal(a->weeks, b->weeks, a->n_weeks * sizeof *a->weeks);
  assert_memory_equal(a->months, b->months, a->n_months * sizeof *a->months);
  assert_int_equal(a->n_contacts, b->n_contacts);
  for (size_t i = 0; i < a->n_contacts; i++) {
    assert_int_equal(b->contacts[i].index, f->n - 1 - a->contacts[i].index);
    assert_int_equal(a->contacts[i].local_date, b->contacts[i].local_date);
    assert_int_equal(a->contacts[i].period, b->contacts[i].period);
    assert_memory_equal(f->c[a->contacts[i].index].item.record_id,
                        g.c[b->contacts[i].index].item.record_id, 16);
  }
  assert_int_equal(a->n_conflicts, 1);
  assert_int_equal(b->n_conflicts, 1);
  assert_status(a, "2026-W08", MLPROTO_PERIOD_NOT_ASSESSABLE, MLPROTO_NA_ABSENCE);
  mlproto_compliance_free(a);
  mlproto_compliance_free(b);
}

/* ------------------------------------------------------- heads (generic) */

static void test_heads_generic(void **state) {
  (void)state;
  mlproto_item it[6];
  memset(it, 0, sizeof it);
  for (int i = 0; i < 6; i++) {
    it[i].record_id[0] = (uint8_t)(10 + i);
    it[i].hlc = (uint64_t)(100 - i);
  }
  /* 0 <- 1 (1 supersedes 0); 2 names itself and an unknown id; 3 <-> 4 cycle; 5 alone. */
  uint8_t s1[1][16] = {{10}}, s2[2][16] = {{12}, {99}}, s3[1][16] = {{14}}, s4[1][16] = {{13}};
  it[1].supersedes = (const uint8_t(*)[16])s1, it[1].n_supersedes = 1;
  it[2].supersedes = (const uint8_t(*)[16])s2, it[2].n_supersedes = 2;
  it[3].supersedes = (const uint8_t(*)[16])s3, it[3].n_supersedes = 1;
  it[4].supersedes = (const uint8_t(*)[16])s4, it[4].n_supersedes = 1;
  mlproto_heads *h = NULL;
  assert_int_equal(mlproto_heads_compute(&h, it, 6), MLPROTO_OK);
  assert_int_equal(h->n_groups, 4);
  /* Groups ordered by representative, newest last: reps 5 (hlc 95), 3 (cycle,
   * newest version hlc 97), 2 (98), 1 (99). */
  assert_int_equal(h->groups[0].representative, 5);
  assert_int_equal(h->groups[1].representative, 3);
  assert_int_equal(h->groups[1].n_heads, 0);
  assert_int_equal(h->groups[1].n_versions, 2);
  assert_int_equal(h->groups[2].representative, 2);
  assert_int_equal(h->groups[2].n_heads, 1);
  assert_int_equal(h->groups[3].representative, 1);
  assert_int_equal(h->groups[3].versions[0], 0); /* newest version first */
  assert_int_equal(h->groups[3].versions[1], 1);
  assert_int_equal(h->group_of[0], 3);
  assert_false(h->is_head[0]);
  assert_true(h->is_head[1]);
  assert_false(h->is_head[3]);
  mlproto_heads_free(h);
  /* Duplicates are refused. */
  it[5].record_id[0] = 10;
  assert_int_equal(mlproto_heads_compute(&h, it, 6), MLPROTO_ERR_ALREADY_EXISTS);
  assert_null(h);
  assert_int_equal(mlproto_heads_compute(&h, NULL, 0), MLPROTO_OK);
  assert_int_equal(h->n_groups, 0);
  mlproto_heads_free(h);
  mlproto_heads_free(NULL);
  it[0].n_supersedes = MLPROTO_HEADS_MAX_LINKS + 1;
  assert_int_equal(mlproto_heads_compute(&h, it, 1), MLPROTO_ERR_TOO_LARGE);
  assert_int_equal(mlproto_heads_compute(&h, it, MLPROTO_MAX_ITEMS + 1), MLPROTO_ERR_TOO_LARGE);
}

/* ----------------------------------------------------- rules and errors */

static void test_names(void **state) {
  (void)state;
  static const char *const ch[] = {"in-person", "home-visit", "accompaniment", "video",
                                   "phone",     "message",    "other"};
  for (int i = 0; i < MLPROTO_CHANNEL__COUNT; i++) {
    assert_string_equal(mlproto_channel_name(i + 1), ch[i]); /* wire values start at 1 */
    mlproto_channel c;
    assert_int_equal(mlproto_channel_from_name(&c, ch[i], strlen(ch[i])), MLPROTO_OK);
    assert_int_equal(c, i + 1);
  }
  assert_null(mlproto_channel_name(0));
  assert_null(mlproto_channel_name(MLPROTO_CHANNEL__COUNT + 1));
  assert_int_equal(MLPROTO_CHANNEL_PHONE, MENTORLOG__V1__CHANNEL__CHANNEL_PHONE);
  assert_int_equal(MLPROTO_CHANNEL_OTHER, MENTORLOG__V1__CHANNEL__CHANNEL_OTHER);
  assert_int_equal(MLPROTO_OUTCOME_HELD, MENTORLOG__V1__OUTCOME__OUTCOME_HELD);
  assert_int_equal(MLPROTO_OUTCOME_CANCELLED_BY_MENTOR,
                   MENTORLOG__V1__OUTCOME__OUTCOME_CANCELLED_BY_MENTOR);
  static const char *const oc[] = {"held", "attempt-failed", "no-show", "cancelled-by-citizen",
                                   "cancelled-by-mentor"};
  for (int i = 0; i < MLPROTO_OUTCOME__COUNT; i++) {
    assert_string_equal(mlproto_outcome_name(i + 1), oc[i]);
    mlproto_outcome o;
    assert_int_equal(mlproto_outcome_from_name(&o, oc[i], strlen(oc[i])), MLPROTO_OK);
    assert_int_equal(o, i + 1);
  }
  assert_null(mlproto_outcome_name(0));
  mlproto_channel c;
  mlproto_outcome o;
  assert_int_equal(mlproto_channel_from_name(&c, "Phone", 5), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_channel_from_name(&c, "phone", 4), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_outcome_from_name(&o, "home_visit", 10), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_null(mlproto_channel_name(8));
  assert_null(mlproto_outcome_name(-1));
  assert_string_equal(mlproto_period_status_name(MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS),
                      "MISSED_WITH_ATTEMPTS");
  assert_string_equal(mlproto_na_reason_name(MLPROTO_NA_ABSENCE), "absence");
  assert_int_equal(MLPROTO_CHANNELS_DEFAULT, 0x3E); /* bits 1..5 */
  assert_int_equal(MLPROTO_CHANNELS_ALL, 0xFE);     /* bits 1..7 */
}

static void test_rule_and_grant_validation(void **state) {
  (void)state;
  mlproto_rule r;
  mlproto_rule_default(&r);
  assert_int_equal(mlproto_rule_validate(&r), MLPROTO_OK);
  assert_int_equal(r.period_weeks, 1);
  assert_int_equal(r.min_working_days, 3);
  assert_int_equal(r.grace_days, 7);
  mlproto_rule bad;
  bad = r, bad.period_weeks = 3;
  assert_int_equal(mlproto_rule_validate(&bad), MLPROTO_ERR_BAD_RULE);
  bad = r, bad.period_weeks = 0;
  assert_int_equal(mlproto_rule_validate(&bad), MLPROTO_ERR_BAD_RULE);
  bad = r, bad.contacts_needed = 0;
  assert_int_equal(mlproto_rule_validate(&bad), MLPROTO_ERR_BAD_RULE);
  bad = r, bad.channels = 0;
  assert_int_equal(mlproto_rule_validate(&bad), MLPROTO_ERR_BAD_RULE);
  bad = r, bad.channels = 0x100; /* no channel 8 */
  assert_int_equal(mlproto_rule_validate(&bad), MLPROTO_ERR_BAD_RULE);
  bad = r, bad.channels = 0x01 | 0x02; /* bit 0 is no channel */
  assert_int_equal(mlproto_rule_validate(&bad), MLPROTO_ERR_BAD_RULE);
  bad = r, bad.min_working_days = 6;
  assert_int_equal(mlproto_rule_validate(&bad), MLPROTO_ERR_BAD_RULE);
  bad.period_weeks = 2;
  assert_int_equal(mlproto_rule_validate(&bad), MLPROTO_OK);
  bad = r, bad.grace_days = MLPROTO_RULE_MAX_DAYS + 1;
  assert_int_equal(mlproto_rule_validate(&bad), MLPROTO_ERR_BAD_RULE);

  static const struct {
    const char *s, *max;
  } six[] = {{"2026-01-01", "2026-06-30"}, {"2025-08-31", "2026-02-28"},
             {"2025-08-29", "2026-02-28"}, {"2025-08-28", "2026-02-27"},
             {"2026-03-15", "2026-09-14"}, {"2026-07-01", "2026-12-31"},
             {"2026-08-31", "2027-02-28"}, {"2027-08-30", "2028-02-29"}};
  for (size_t i = 0; i < sizeof six / sizeof six[0]; i++) {
    mlproto_date m;
    assert_int_equal(mlproto_grant_max_end(&m, D(six[i].s)), MLPROTO_OK);
    assert_int_equal(m, D(six[i].max));
  }
  mlproto_grant g = {D("2026-01-01"), D("2026-06-30"), MLPROTO_DATE_NONE, r, 600};
  assert_int_equal(mlproto_grant_validate(&g), MLPROTO_OK);
  g.end = D("2026-07-01");
  assert_int_equal(mlproto_grant_validate(&g), MLPROTO_ERR_BAD_PERIOD);
  g.end = D("2025-12-31");
  assert_int_equal(mlproto_grant_validate(&g), MLPROTO_ERR_BAD_PERIOD);
  g.end = g.start;
  assert_int_equal(mlproto_grant_validate(&g), MLPROTO_OK);
  g.rule.period_weeks = 5;
  assert_int_equal(mlproto_grant_validate(&g), MLPROTO_ERR_BAD_RULE);
  g.rule = r;
  g.granted_minutes_per_week = 10081;
  assert_int_equal(mlproto_grant_validate(&g), MLPROTO_ERR_OUT_OF_RANGE);
  g.granted_minutes_per_week = 0;
  g.start = g.end = D("1979-12-31");
  assert_int_equal(mlproto_grant_validate(&g), MLPROTO_ERR_BAD_DATE);
}

static void test_input_errors(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-31");
  mlproto_compliance *r = (mlproto_compliance *)1;
  fx_held(f, "2026-01-06 10:00");
  fx_held(f, "2026-01-07 10:00");
  f->c[1].end_ms = f->c[1].start_ms - 1;
  assert_int_equal(mlproto_compliance_compute(&r, &f->grant, f->c, 2, NULL, 0, LATER),
                   MLPROTO_ERR_FIELD_RANGE);
  assert_null(r);
  f->c[1].end_ms = f->c[1].start_ms + 1441 * 60000;
  assert_int_equal(mlproto_compliance_compute(&r, &f->grant, f->c, 2, NULL, 0, LATER),
                   MLPROTO_ERR_FIELD_RANGE);
  f->c[1].end_ms = f->c[1].start_ms + 1440 * 60000;
  assert_int_equal(mlproto_compliance_compute(&r, &f->grant, f->c, 2, NULL, 0, LATER), MLPROTO_OK);
  mlproto_compliance_free(r);
  f->c[1].channel = (mlproto_channel)9;
  assert_int_equal(mlproto_compliance_compute(&r, &f->grant, f->c, 2, NULL, 0, LATER),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  f->c[1].channel = MLPROTO_CHANNEL_PHONE;
  f->c[1].start_ms = 0;
  f->c[1].end_ms = 0;
  assert_int_equal(mlproto_compliance_compute(&r, &f->grant, f->c, 2, NULL, 0, LATER),
                   MLPROTO_ERR_FIELD_RANGE);
  f->c[1].start_ms = T("2026-01-07 10:00");
  f->c[1].item.record_id[0] = f->c[0].item.record_id[0];
  assert_int_equal(mlproto_compliance_compute(&r, &f->grant, f->c, 2, NULL, 0, LATER),
                   MLPROTO_ERR_ALREADY_EXISTS);
  fx_absence(f, "2026-02-02", "2026-02-01", 1);
  assert_int_equal(mlproto_compliance_compute(&r, &f->grant, f->c, 1, f->a, 1, LATER),
                   MLPROTO_ERR_BAD_PERIOD);
  assert_int_equal(mlproto_compliance_compute(&r, &f->grant, f->c,
                                              MLPROTO_COMPLIANCE_MAX_CONTACTS + 1, NULL, 0, LATER),
                   MLPROTO_ERR_TOO_LARGE);
  assert_int_equal(mlproto_compliance_compute(&r, &f->grant, f->c, 1, f->a,
                                              MLPROTO_COMPLIANCE_MAX_ABSENCES + 1, LATER),
                   MLPROTO_ERR_TOO_LARGE);
  assert_int_equal(mlproto_compliance_compute(&r, &f->grant, NULL, 1, NULL, 0, LATER),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  f->grant.end = D("2026-07-06");
  assert_int_equal(mlproto_compliance_compute(&r, &f->grant, f->c, 1, NULL, 0, LATER),
                   MLPROTO_ERR_BAD_PERIOD);
  mlproto_compliance_free(NULL);
}

/* Fail the k-th allocation for k = 1, 2, ... until the call succeeds:
 * every failure must report OUT_OF_MEMORY and leak nothing. */
static long fail_at, alloc_count;
static void *oom_malloc(size_t n, void *ud) {
  (void)ud;
  return ++alloc_count == fail_at ? NULL : malloc(n);
}
static void *oom_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  return ++alloc_count == fail_at ? NULL : realloc(p, n);
}
static void oom_free(void *p, void *ud) {
  (void)ud;
  free(p);
}

static void test_out_of_memory(void **state) {
  fx *f = *state;
  fx_grant(f, "2026-01-05", "2026-03-31");
  fx_held(f, "2026-01-06 10:00");
  fx_held(f, "2026-01-06 11:00");
  fx_supersede(f, 1, 0);
  fx_held(f, "2026-01-06 12:00");
  fx_supersede(f, 2, 0);
  fx_absence(f, "2026-02-02", "2026-02-08", 1);
  mlproto_allocator a = {oom_malloc, oom_realloc, oom_free, NULL};
  mlproto_set_allocator(&a);
  int rc = MLPROTO_ERR_OUT_OF_MEMORY;
  long k;
  for (k = 1; k < 100 && rc == MLPROTO_ERR_OUT_OF_MEMORY; k++) {
    fail_at = k;
    alloc_count = 0;
    mlproto_compliance *r = (mlproto_compliance *)1;
    rc = mlproto_compliance_compute(&r, &f->grant, f->c, f->n, f->a, f->na, LATER);
    if (rc == MLPROTO_OK) {
      assert_int_equal(r->n_conflicts, 1);
      mlproto_compliance_free(r);
    } else {
      assert_int_equal(rc, MLPROTO_ERR_OUT_OF_MEMORY);
      assert_null(r);
    }
  }
  mlproto_set_allocator(NULL);
  assert_int_equal(rc, MLPROTO_OK);
  assert_true(k > 5); /* several allocations were exercised */
}

int main(void) {
#define T_(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
  const struct CMUnitTest tests[] = {
      T_(test_example01_new_year_week),
      T_(test_example02_week53),
      T_(test_example04_partial_first_week),
      T_(test_example05_partial_week_met),
      T_(test_example06_last_week_wednesday),
      T_(test_example08_holiday_week_still_required),
      T_(test_example11_utc_sunday_is_local_monday),
      T_(test_example14_duration_from_instants),
      T_(test_example16_attempts_and_sms),
      T_(test_example18_no_carry_over),
      T_(test_example20_late_sync),
      T_(test_example21_late_entry),
      T_(test_late_flags_functions),
      T_(test_example22_correction_moves_week),
      T_(test_example25_renewal_separate),
      T_(test_example26_short_video_is_attempt),
      T_(test_example27_absence_does_not_make_full_week_partial),
      T_(test_example28_cut_week_below_k_by_absence),
      T_(test_example28_without_absence_assessable),
      T_(test_cut_below_k_is_partial_even_with_absence),
      T_(test_p2_full_period_with_absence),
      T_(test_p2_anchoring_across_week53),
      T_(test_n2_requires_two),
      T_(test_grant_shorter_than_a_week),
      T_(test_absence_whole_period),
      T_(test_unapproved_absence_no_exemption),
      T_(test_cut_and_absence_reason),
      T_(test_contact_on_end_date_and_day_after),
      T_(test_sunday_2330_utc_is_monday),
      T_(test_grace_boundary),
      T_(test_conflict_counted_once),
      T_(test_voided_contact_ignored),
      T_(test_chain_of_corrections),
      T_(test_billing_months_by_local_date),
      T_(test_totals_and_weeks),
      T_(test_non_mentor_and_channel_rules),
      T_(test_order_independent),
      T_(test_heads_generic),
      T_(test_names),
      T_(test_rule_and_grant_validation),
      T_(test_input_errors),
      T_(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
