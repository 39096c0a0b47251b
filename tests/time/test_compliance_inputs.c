/* mlproto_compliance_inputs_from_records: a grant's compliance inputs from
 * real signed records (mlproto_record_build, then mlproto_record_verify),
 * through to mlproto_compliance_compute. */
#include "testutil.h"

#include "mlproto/report.h"

#include "mlproto/alloc.h"
#include "mlproto/civiltime.h"
#include "mlproto/compliance.h"
#include "mlproto/crypto.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXR 48

typedef struct rb {
  mlproto_key *mentor, *other; /* two authors (device keys) */
  uint8_t mentor_pk[32], other_pk[32];
  uint8_t case_id[16], case2[16];
  mlproto_record *r[MAXR];
  uint8_t *env[MAXR];
  size_t env_len[MAXR];
  size_t n;
  mlproto_compliance_inputs *in;
  mlproto_compliance *res;
} rb;

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

static int setup(void **state) {
  if (mlproto_crypto_init() != MLPROTO_OK)
    return -1;
  rb *b = calloc(1, sizeof *b);
  if (!b || mlproto_key_generate(&b->mentor, MLPROTO_KEY_SIGN) ||
      mlproto_key_generate(&b->other, MLPROTO_KEY_SIGN))
    return -1;
  if (mlproto_key_public(b->mentor_pk, b->mentor) ||
      mlproto_key_public(b->other_pk, b->other))
    return -1;
  mlproto_random_id(b->case_id);
  mlproto_random_id(b->case2);
  *state = b;
  return 0;
}

static int teardown(void **state) {
  rb *b = *state;
  for (size_t i = 0; i < b->n; i++) {
    mlproto_record_free(b->r[i]);
    mlproto_free(b->env[i]);
  }
  mlproto_compliance_inputs_free(b->in);
  mlproto_compliance_free(b->res);
  mlproto_key_free(b->mentor);
  mlproto_key_free(b->other);
  free(b);
  return 0;
}

/* Build, sign and verify one record; returns its index in b->r. The chain
 * (seq, prev) is not what this module looks at: every record is seq 1. */
static size_t add(rb *b, mlproto_kind kind, mlproto_disclosed *d, const char *recorded,
                  const size_t *sup, size_t n_sup, mlproto_key *author, const uint8_t *case_id) {
  assert_true(b->n < MAXR);
  mlproto_record_params p;
  memset(&p, 0, sizeof p);
  mlproto_random_id(p.record_id);
  memcpy(p.case_id, case_id ? case_id : b->case_id, 16);
  p.seq = 1;
  p.hlc = ((uint64_t)T(recorded) << 16) | (uint64_t)b->n; /* distinct and ordered */
  p.kind = kind;
  uint8_t links[4][16];
  assert_true(n_sup <= 4);
  for (size_t i = 0; i < n_sup; i++)
    memcpy(links[i], b->r[sup[i]]->record_id, 16);
  p.n_supersedes = n_sup;
  p.supersedes = n_sup ? (const uint8_t(*)[16])links : NULL;
  d->payload_case = (Mentorlog__V1__Disclosed__PayloadCase)kind;
  uint8_t *env = NULL;
  size_t len = 0;
  int rc = mlproto_record_build(&env, &len, NULL, &p, d, NULL, NULL, author ? author : b->mentor);
  if (rc != MLPROTO_OK)
    fail_msg("build %s: %s", mlproto_kind_name(kind), mlproto_errname(rc));
  assert_int_equal(mlproto_record_verify(&b->r[b->n], env, len), MLPROTO_OK);
  b->env[b->n] = env;
  b->env_len[b->n] = len;
  return b->n++;
}

typedef struct grant_spec {
  const char *start, *end;
  uint32_t period_weeks, min_minutes, partial_days, late_days, minutes;
  const Mentorlog__V1__Channel *channels;
  size_t n_channels;
} grant_spec;

static const Mentorlog__V1__Channel default_q[] = {
    MENTORLOG__V1__CHANNEL__CHANNEL_IN_PERSON, MENTORLOG__V1__CHANNEL__CHANNEL_HOME_VISIT,
    MENTORLOG__V1__CHANNEL__CHANNEL_PHONE};

static size_t grant(rb *b, mlproto_kind kind, grant_spec g, const char *recorded, const size_t *sup,
                    size_t n_sup) {
  Mentorlog__V1__ContactRule rule = MENTORLOG__V1__CONTACT_RULE__INIT;
  rule.period_weeks = g.period_weeks ? g.period_weeks : 1;
  rule.contacts_needed = 1;
  rule.qualifying_channels = (Mentorlog__V1__Channel *)(g.channels ? g.channels : default_q);
  rule.n_qualifying_channels = g.channels ? g.n_channels : 3;
  rule.min_minutes = g.min_minutes;
  rule.partial_days = g.partial_days ? g.partial_days : 3;
  rule.grace_days = 7;
  rule.late_days = g.late_days ? g.late_days : 7;
  Mentorlog__V1__GrantDisclosed gd = MENTORLOG__V1__GRANT_DISCLOSED__INIT;
  gd.jobcentre_id = (char *)"kk-101";
  gd.case_ref = (char *)"JC/2026:4711";
  gd.legal_basis = (char *)"LAB 78-81";
  gd.start_day = (uint32_t)D(g.start);
  gd.end_day = (uint32_t)D(g.end);
  gd.rule = &rule;
  gd.granted_minutes_per_week = g.minutes;
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  if (kind == MLPROTO_KIND_GRANT_OPEN)
    d.grant_open = &gd;
  else
    d.grant_update = &gd;
  return add(b, kind, &d, recorded, sup, n_sup, NULL, NULL);
}

static size_t grant_close(rb *b, const char *day, const char *recorded, const size_t *sup,
                          size_t n_sup) {
  Mentorlog__V1__GrantCloseDisclosed gc = MENTORLOG__V1__GRANT_CLOSE_DISCLOSED__INIT;
  gc.close_day = (uint32_t)D(day);
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  d.grant_close = &gc;
  return add(b, MLPROTO_KIND_GRANT_CLOSE, &d, recorded, sup, n_sup, NULL, NULL);
}

static size_t contact(rb *b, const char *start, uint32_t minutes, int channel, int outcome,
                      int voided, const size_t *sup, size_t n_sup, mlproto_key *author,
                      const uint8_t *case_id) {
  Mentorlog__V1__ContactDisclosed cd = MENTORLOG__V1__CONTACT_DISCLOSED__INIT;
  cd.start_ms = (uint64_t)T(start);
  cd.duration_minutes = minutes;
  cd.channel = (Mentorlog__V1__Channel)channel;
  cd.outcome = (Mentorlog__V1__Outcome)outcome;
  cd.transport_minutes = 15;
  cd.voided = voided;
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  d.contact = &cd;
  return add(b, MLPROTO_KIND_CONTACT, &d, start, sup, n_sup, author, case_id);
}

static size_t held(rb *b, const char *start) {
  return contact(b, start, 60, MLPROTO_CHANNEL_HOME_VISIT, MLPROTO_OUTCOME_HELD, 0, NULL, 0, NULL,
                 NULL);
}

static size_t absence(rb *b, const char *from, const char *to, int approved, const size_t *sup,
                      size_t n_sup) {
  Mentorlog__V1__AbsenceDisclosed ad = MENTORLOG__V1__ABSENCE_DISCLOSED__INIT;
  ad.from_day = (uint32_t)D(from);
  ad.to_day = (uint32_t)D(to);
  ad.kind = MENTORLOG__V1__ABSENCE_KIND__ABSENCE_HOSPITALISED;
  ad.approved = approved;
  ad.approval_ref = (char *)(approved ? "JC-2026-17" : "");
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  d.absence = &ad;
  char recorded[32];
  snprintf(recorded, sizeof recorded, "%s 08:00", from);
  return add(b, MLPROTO_KIND_ABSENCE, &d, recorded, sup, n_sup, NULL, NULL);
}

static size_t other_kind(rb *b, mlproto_kind kind) {
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  Mentorlog__V1__CaseOpenDisclosed co = MENTORLOG__V1__CASE_OPEN_DISCLOSED__INIT;
  Mentorlog__V1__NoteDisclosed no = MENTORLOG__V1__NOTE_DISCLOSED__INIT;
  if (kind == MLPROTO_KIND_CASE_OPEN)
    d.case_open = &co;
  else
    d.note = &no;
  return add(b, kind, &d, "2026-05-20 09:00", NULL, 0, NULL, NULL);
}

static int inputs(rb *b, size_t grant_idx, const uint8_t (*keys)[32], size_t n_keys) {
  mlproto_compliance_inputs_free(b->in);
  b->in = NULL;
  return mlproto_compliance_inputs_from_records(&b->in, (const struct mlproto_record *const *)b->r,
                                                b->n, b->r[grant_idx]->record_id, keys, n_keys);
}

static const mlproto_compliance *run(rb *b, size_t grant_idx, int64_t now) {
  int rc = inputs(b, grant_idx, NULL, 0);
  if (rc != MLPROTO_OK)
    fail_msg("inputs: %s", mlproto_errname(rc));
  mlproto_compliance_free(b->res);
  b->res = NULL;
  rc = mlproto_compliance_compute(&b->res, &b->in->grant, b->in->contacts, b->in->n_contacts,
                                  b->in->absences, b->in->n_absences, now);
  if (rc != MLPROTO_OK)
    fail_msg("compute: %s", mlproto_errname(rc));
  return b->res;
}

#define LATER T("2030-01-01 12:00")

static const mlproto_period *period_at(const mlproto_compliance *r, const char *day) {
  mlproto_date d = D(day);
  for (size_t i = 0; i < r->n_periods; i++)
    if (r->periods[i].start <= d && d <= r->periods[i].end)
      return &r->periods[i];
  fail_msg("no period holds %s", day);
  return NULL;
}

static size_t contact_input(const rb *b, size_t rec) {
  for (size_t i = 0; i < b->in->n_contacts; i++)
    if (b->in->contact_record[i] == rec)
      return i;
  fail_msg("record %zu is not among the contacts", rec);
  return 0;
}

/* ------------------------------------------------------------- tests */

/* One case with every kind of history: an update changing the rule, two
 * concurrent closes, a corrected contact, a voided one, a conflict, a
 * superseded absence, an unapproved one, other kinds, another case. */
static void test_inputs_full_case(void **state) {
  rb *b = *state;
  other_kind(b, MLPROTO_KIND_CASE_OPEN);
  size_t go = grant(b, MLPROTO_KIND_GRANT_OPEN,
                    (grant_spec){.start = "2026-06-01", .end = "2026-11-29", .minutes = 120},
                    "2026-05-25 09:00", NULL, 0);
  static const Mentorlog__V1__Channel phone_video[] = {MENTORLOG__V1__CHANNEL__CHANNEL_VIDEO,
                                                       MENTORLOG__V1__CHANNEL__CHANNEL_PHONE};
  size_t gu = grant(b, MLPROTO_KIND_GRANT_UPDATE,
                    (grant_spec){.start = "2026-06-01",
                                 .end = "2026-11-29",
                                 .period_weeks = 2,
                                 .min_minutes = 10,
                                 .partial_days = 4,
                                 .late_days = 3,
                                 .minutes = 180,
                                 .channels = phone_video,
                                 .n_channels = 2},
                    "2026-05-26 09:00", &go, 1);
  /* Two devices close concurrently (both supersede the update): the
   * earlier close day ends support, whichever record is newer. */
  size_t c1 = grant_close(b, "2026-07-31", "2026-06-20 09:00", &gu, 1);
  size_t c2 = grant_close(b, "2026-07-12", "2026-06-19 09:00", &gu, 1);
  /* Contacts. */
  size_t k1 = contact(b, "2026-06-02 10:00", 30, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_HELD, 0,
                      NULL, 0, NULL, NULL);
  size_t k1b = contact(b, "2026-06-09 10:00", 30, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_HELD, 0,
                       &k1, 1, NULL, NULL); /* corrected to the next period */
  size_t k2 = contact(b, "2026-06-16 10:00", 5, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_HELD, 0,
                      NULL, 0, NULL, NULL); /* shorter than M: an attempt */
  size_t k2v = contact(b, "2026-06-16 10:00", 5, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_HELD, 1,
                       &k2, 1, NULL, NULL); /* voided */
  size_t k3 = contact(b, "2026-06-30 10:00", 45, MLPROTO_CHANNEL_VIDEO, MLPROTO_OUTCOME_HELD, 0,
                      NULL, 0, NULL, NULL);
  size_t k3a = contact(b, "2026-06-30 10:00", 50, MLPROTO_CHANNEL_VIDEO, MLPROTO_OUTCOME_HELD, 0,
                       &k3, 1, NULL, NULL);
  size_t k3b = contact(b, "2026-06-30 10:00", 55, MLPROTO_CHANNEL_VIDEO, MLPROTO_OUTCOME_HELD, 0,
                       &k3, 1, b->other, NULL); /* concurrent with k3a: a conflict */
  contact(b, "2026-06-03 10:00", 60, MLPROTO_CHANNEL_HOME_VISIT, MLPROTO_OUTCOME_HELD, 0, NULL, 0,
          NULL, b->case2); /* another case: ignored */
  /* Absences. */
  size_t a1 = absence(b, "2026-07-06", "2026-07-12", 1, NULL, 0);
  size_t a1b = absence(b, "2026-06-15", "2026-06-28", 1, &a1, 1); /* moved */
  size_t a2 = absence(b, "2026-07-01", "2026-07-05", 0, NULL, 0); /* not approved */
  other_kind(b, MLPROTO_KIND_NOTE);

  assert_int_equal(inputs(b, go, NULL, 0), MLPROTO_OK);
  const mlproto_compliance_inputs *in = b->in;
  assert_memory_equal(in->grant_id, b->r[go]->record_id, 16);
  assert_memory_equal(in->case_id, b->case_id, 16);
  /* The update's parameters. */
  assert_int_equal(in->params_record, gu);
  assert_int_equal(in->grant.start, D("2026-06-01"));
  assert_int_equal(in->grant.end, D("2026-11-29"));
  assert_int_equal(in->grant.rule.period_weeks, 2);
  assert_int_equal(in->grant.rule.min_minutes, 10);
  assert_int_equal(in->grant.rule.min_working_days, 4);
  assert_int_equal(in->grant.rule.late_days, 3);
  assert_int_equal(in->grant.rule.contacts_needed, 1);
  assert_int_equal(in->grant.rule.grace_days, 7);
  assert_int_equal(in->grant.rule.channels,
                   MLPROTO_CHANNEL_BIT(MLPROTO_CHANNEL_VIDEO) |
                       MLPROTO_CHANNEL_BIT(MLPROTO_CHANNEL_PHONE));
  assert_int_equal(in->grant.granted_minutes_per_week, 180);
  /* The earliest of the concurrent closes. */
  assert_int_equal(in->grant.closed, D("2026-07-12"));
  assert_int_equal(in->close_record, c2);
  assert_true(in->grant_conflict);
  (void)c1;
  /* Every contact version of the case, in record_id order. */
  assert_int_equal(in->n_contacts, 7);
  for (size_t i = 1; i < in->n_contacts; i++)
    assert_true(memcmp(in->contacts[i - 1].item.record_id, in->contacts[i].item.record_id, 16) < 0);
  const mlproto_contact *c = &in->contacts[contact_input(b, k1b)];
  assert_memory_equal(c->item.record_id, b->r[k1b]->record_id, 16);
  assert_int_equal(c->item.n_supersedes, 1);
  assert_memory_equal(c->item.supersedes[0], b->r[k1]->record_id, 16);
  assert_int_equal(c->item.hlc, b->r[k1b]->hlc);
  assert_memory_equal(c->item.author, b->mentor_pk, 32);
  assert_int_equal(c->start_ms, T("2026-06-09 10:00"));
  assert_int_equal(c->duration_minutes, 30);
  assert_int_equal(c->transport_minutes, 15);
  assert_int_equal(c->channel, MLPROTO_CHANNEL_PHONE);
  assert_int_equal(c->outcome, MLPROTO_OUTCOME_HELD);
  assert_int_equal(c->recorded_at_ms, T("2026-06-09 10:00"));
  assert_int_equal(c->received_at_ms, 0);
  assert_int_equal(c->end_ms, 0);
  assert_true(c->by_grant_mentor);
  assert_false(c->voided);
  assert_true(in->contacts[contact_input(b, k2v)].voided);
  assert_false(in->contacts[contact_input(b, k2)].voided);
  assert_memory_equal(in->contacts[contact_input(b, k3b)].item.author, b->other_pk, 32);
  assert_memory_equal(in->contacts[contact_input(b, k3a)].item.supersedes[0], b->r[k3]->record_id,
                      16);
  /* Absences: the current version of each item, unapproved ones flagged. */
  assert_int_equal(in->n_absences, 2);
  for (size_t i = 0; i < in->n_absences; i++) {
    if (in->absence_record[i] == a1b) {
      assert_int_equal(in->absences[i].from, D("2026-06-15"));
      assert_int_equal(in->absences[i].to, D("2026-06-28"));
      assert_true(in->absences[i].approved);
    } else {
      assert_int_equal(in->absence_record[i], a2);
      assert_false(in->absences[i].approved);
    }
  }

  /* And through the engine. */
  const mlproto_compliance *r = run(b, go, LATER);
  assert_int_equal(r->effective_end, D("2026-07-12"));
  assert_int_equal(r->n_periods, 3); /* 2-week periods from 06-01 to 07-12 */
  assert_int_equal(r->n_contacts, 2); /* k1b and the conflicting k3 item */
  assert_int_equal(r->n_conflicts, 1);
  /* k1 moved to 06-09 (period 0); k2 is voided, so 06-15..06-28 is only
   * the absence: no in-scope day. */
  assert_int_equal(period_at(r, "2026-06-01")->qualifying, 1);
  assert_int_equal(period_at(r, "2026-06-01")->status, MLPROTO_PERIOD_MET);
  assert_int_equal(period_at(r, "2026-06-15")->status, MLPROTO_PERIOD_NOT_ASSESSABLE);
  assert_int_equal(period_at(r, "2026-06-15")->reason, MLPROTO_NA_ABSENCE);
  assert_int_equal(period_at(r, "2026-06-15")->attempts, 0);
  /* 06-29..07-12: the conflict's newest head (k3b or k3a) qualifies; the
   * unapproved absence 07-01..05 and the superseded 07-06..12 exempt
   * nothing. */
  const mlproto_period *p = period_at(r, "2026-06-29");
  assert_int_equal(p->qualifying, 1);
  assert_false(p->absence_reduced);
  assert_int_equal(p->status, MLPROTO_PERIOD_MET);
}

/* The same records in another order give the same inputs and answer. */
static void test_inputs_order_independent(void **state) {
  rb *b = *state;
  size_t go = grant(b, MLPROTO_KIND_GRANT_OPEN,
                    (grant_spec){.start = "2026-06-03", .end = "2026-08-30", .minutes = 60},
                    "2026-05-25 09:00", NULL, 0);
  size_t k = held(b, "2026-06-10 10:00");
  size_t k2 = contact(b, "2026-06-11 10:00", 60, MLPROTO_CHANNEL_HOME_VISIT, MLPROTO_OUTCOME_HELD,
                      0, &k, 1, NULL, NULL);
  contact(b, "2026-06-12 10:00", 60, MLPROTO_CHANNEL_HOME_VISIT, MLPROTO_OUTCOME_HELD, 0, &k, 1,
          b->other, NULL);
  held(b, "2026-06-24 10:00");
  size_t a = absence(b, "2026-06-03", "2026-06-03", 1, NULL, 0);
  absence(b, "2026-06-03", "2026-06-04", 1, &a, 1);
  absence(b, "2026-07-06", "2026-07-19", 1, NULL, 0);
  grant_close(b, "2026-07-31", "2026-07-01 09:00", &go, 1);
  (void)k2;
  assert_int_equal(inputs(b, go, NULL, 0), MLPROTO_OK);
  mlproto_compliance_inputs *first = b->in;
  b->in = NULL;
  mlproto_compliance *ra = NULL, *rb_ = NULL;
  assert_int_equal(mlproto_compliance_compute(&ra, &first->grant, first->contacts,
                                              first->n_contacts, first->absences,
                                              first->n_absences, LATER),
                   MLPROTO_OK);
  /* Reverse the records. */
  const mlproto_record *rev[MAXR];
  for (size_t i = 0; i < b->n; i++)
    rev[i] = b->r[b->n - 1 - i];
  mlproto_compliance_inputs *second = NULL;
  assert_int_equal(mlproto_compliance_inputs_from_records(
                       &second, (const struct mlproto_record *const *)rev, b->n,
                       b->r[go]->record_id, NULL, 0),
                   MLPROTO_OK);
  assert_memory_equal(&first->grant, &second->grant, sizeof first->grant);
  assert_memory_equal(first->grant_id, second->grant_id, 16);
  assert_int_equal(first->n_contacts, second->n_contacts);
  for (size_t i = 0; i < first->n_contacts; i++) {
    const mlproto_contact *x = &first->contacts[i], *y = &second->contacts[i];
    assert_memory_equal(x->item.record_id, y->item.record_id, 16);
    assert_int_equal(x->item.n_supersedes, y->item.n_supersedes);
    if (x->item.n_supersedes)
      assert_memory_equal(x->item.supersedes, y->item.supersedes, 16 * x->item.n_supersedes);
    assert_int_equal(x->start_ms, y->start_ms);
    assert_int_equal(x->recorded_at_ms, y->recorded_at_ms);
    assert_int_equal(first->contact_record[i], b->n - 1 - second->contact_record[i]);
  }
  assert_int_equal(first->n_absences, 2);
  assert_int_equal(second->n_absences, 2);
  assert_memory_equal(first->absences, second->absences, 2 * sizeof *first->absences);
  assert_int_equal(mlproto_compliance_compute(&rb_, &second->grant, second->contacts,
                                              second->n_contacts, second->absences,
                                              second->n_absences, LATER),
                   MLPROTO_OK);
  assert_int_equal(ra->n_periods, rb_->n_periods);
  assert_memory_equal(ra->periods, rb_->periods, ra->n_periods * sizeof *ra->periods);
  assert_memory_equal(ra->contacts, rb_->contacts, ra->n_contacts * sizeof *ra->contacts);
  assert_memory_equal(&ra->totals.met, &rb_->totals.met, sizeof ra->totals.met);
  /* Example 28 from records: the cut week W23 (Wed..Fri = K) loses Wed and
   * Thu to the current absence version (the superseded one held Wed only)
   * and has no contact (06-10..06-12 are W24): NOT_ASSESSABLE(absence). */
  assert_int_equal(ra->periods[0].status, MLPROTO_PERIOD_NOT_ASSESSABLE);
  assert_int_equal(ra->periods[0].reason, MLPROTO_NA_ABSENCE);
  mlproto_compliance_free(ra);
  mlproto_compliance_free(rb_);
  mlproto_compliance_inputs_free(first);
  mlproto_compliance_inputs_free(second);
}

/* A close superseded by a later update (re-opened) no longer counts; a
 * grant id may name any version of the grant. */
static void test_inputs_close_superseded(void **state) {
  rb *b = *state;
  size_t go = grant(b, MLPROTO_KIND_GRANT_OPEN,
                    (grant_spec){.start = "2026-06-01", .end = "2026-08-30", .minutes = 60},
                    "2026-05-25 09:00", NULL, 0);
  size_t gc = grant_close(b, "2026-06-14", "2026-06-10 09:00", &go, 1);
  assert_int_equal(inputs(b, go, NULL, 0), MLPROTO_OK);
  assert_int_equal(b->in->grant.closed, D("2026-06-14"));
  assert_int_equal(b->in->params_record, go);
  assert_false(b->in->grant_conflict);
  size_t gu = grant(b, MLPROTO_KIND_GRANT_UPDATE,
                    (grant_spec){.start = "2026-06-01", .end = "2026-07-31", .minutes = 90},
                    "2026-06-12 09:00", &gc, 1);
  assert_int_equal(inputs(b, gc, NULL, 0), MLPROTO_OK); /* by the close's id */
  assert_int_equal(b->in->grant.closed, MLPROTO_DATE_NONE);
  assert_int_equal(b->in->close_record, SIZE_MAX);
  assert_int_equal(b->in->params_record, gu);
  assert_int_equal(b->in->grant.end, D("2026-07-31"));
  assert_int_equal(b->in->grant.granted_minutes_per_week, 90);
  assert_memory_equal(b->in->grant_id, b->r[go]->record_id, 16);
  /* A close before the start: no periods (engine), no validation trouble. */
  grant_close(b, "2026-05-31", "2026-06-13 09:00", &gu, 1);
  const mlproto_compliance *r = run(b, go, LATER);
  assert_int_equal(r->n_periods, 0);
  assert_int_equal(r->effective_end, MLPROTO_DATE_NONE);
  /* Two grants in one case: each its own item. */
  size_t g2 = grant(b, MLPROTO_KIND_GRANT_OPEN,
                    (grant_spec){.start = "2026-09-01", .end = "2026-12-31", .minutes = 30},
                    "2026-08-25 09:00", NULL, 0);
  assert_int_equal(inputs(b, g2, NULL, 0), MLPROTO_OK);
  assert_int_equal(b->in->grant.start, D("2026-09-01"));
  assert_int_equal(b->in->grant.closed, MLPROTO_DATE_NONE);
}

/* by_grant_mentor from the mentor's device keys. */
static void test_inputs_mentor_keys(void **state) {
  rb *b = *state;
  size_t go = grant(b, MLPROTO_KIND_GRANT_OPEN,
                    (grant_spec){.start = "2026-06-01", .end = "2026-08-30", .minutes = 60},
                    "2026-05-25 09:00", NULL, 0);
  size_t mine = held(b, "2026-06-02 10:00");
  size_t theirs = contact(b, "2026-06-09 10:00", 60, MLPROTO_CHANNEL_HOME_VISIT,
                          MLPROTO_OUTCOME_HELD, 0, NULL, 0, b->other, NULL);
  const uint8_t keys[1][32];
  memcpy((void *)keys[0], b->mentor_pk, 32);
  assert_int_equal(inputs(b, go, keys, 1), MLPROTO_OK);
  assert_true(b->in->contacts[contact_input(b, mine)].by_grant_mentor);
  assert_false(b->in->contacts[contact_input(b, theirs)].by_grant_mentor);
  mlproto_compliance *r = NULL;
  assert_int_equal(mlproto_compliance_compute(&r, &b->in->grant, b->in->contacts,
                                              b->in->n_contacts, b->in->absences,
                                              b->in->n_absences, LATER),
                   MLPROTO_OK);
  assert_int_equal(r->periods[0].status, MLPROTO_PERIOD_MET);
  assert_int_equal(r->periods[1].status, MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS);
  mlproto_compliance_free(r);
  /* No keys: every author is the mentor. */
  assert_int_equal(inputs(b, go, NULL, 0), MLPROTO_OK);
  assert_true(b->in->contacts[contact_input(b, theirs)].by_grant_mentor);
}

static void test_inputs_errors(void **state) {
  rb *b = *state;
  mlproto_compliance_inputs *in = (mlproto_compliance_inputs *)1;
  uint8_t none[16] = {0};
  const struct mlproto_record *const *recs = (const struct mlproto_record *const *)b->r;
  assert_int_equal(mlproto_compliance_inputs_from_records(NULL, recs, 0, none, NULL, 0),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_compliance_inputs_from_records(&in, NULL, 1, none, NULL, 0),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_null(in);
  assert_int_equal(mlproto_compliance_inputs_from_records(&in, recs, 0, NULL, NULL, 0),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_compliance_inputs_from_records(&in, recs, 0, none, NULL, 1),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_compliance_inputs_from_records(&in, recs, 0, none, NULL, 0),
                   MLPROTO_ERR_NOT_FOUND);
  size_t go = grant(b, MLPROTO_KIND_GRANT_OPEN,
                    (grant_spec){.start = "2026-06-01", .end = "2026-08-30", .minutes = 60},
                    "2026-05-25 09:00", NULL, 0);
  size_t k = held(b, "2026-06-02 10:00");
  assert_int_equal(inputs(b, k, NULL, 0), MLPROTO_ERR_NOT_FOUND); /* a contact's id */
  assert_null(b->in);
  assert_int_equal(mlproto_compliance_inputs_from_records(&in, recs, b->n, none, NULL, 0),
                   MLPROTO_ERR_NOT_FOUND);
  /* A NULL entry. */
  const mlproto_record *holes[3] = {b->r[go], NULL, b->r[k]};
  assert_int_equal(mlproto_compliance_inputs_from_records(
                       &in, (const struct mlproto_record *const *)holes, 3,
                       b->r[go]->record_id, NULL, 0),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  /* The same record twice. */
  const mlproto_record *dup[3] = {b->r[go], b->r[k], b->r[k]};
  assert_int_equal(mlproto_compliance_inputs_from_records(
                       &in, (const struct mlproto_record *const *)dup, 3,
                       b->r[go]->record_id, NULL, 0),
                   MLPROTO_ERR_ALREADY_EXISTS);
  assert_null(in);
  /* Only a close of the grant in the set: no parameters. */
  size_t gc = grant_close(b, "2026-06-30", "2026-06-20 09:00", &go, 1);
  const mlproto_record *only_close[1] = {b->r[gc]};
  assert_int_equal(mlproto_compliance_inputs_from_records(
                       &in, (const struct mlproto_record *const *)only_close, 1,
                       b->r[gc]->record_id, NULL, 0),
                   MLPROTO_ERR_NOT_FOUND);
  /* A contact whose disclosed part was erased: no honest answer. */
  uint8_t *env = NULL;
  size_t len = 0;
  mlproto_record *erased = NULL;
  assert_int_equal(mlproto_envelope_erase(&env, &len, b->env[k], b->env_len[k],
                                          MLPROTO_PART_DISCLOSED),
                   MLPROTO_OK);
  assert_int_equal(mlproto_record_verify(&erased, env, len), MLPROTO_OK);
  assert_null(erased->disclosed);
  const mlproto_record *with_erased[2] = {b->r[go], erased};
  assert_int_equal(mlproto_compliance_inputs_from_records(
                       &in, (const struct mlproto_record *const *)with_erased, 2,
                       b->r[go]->record_id, NULL, 0),
                   MLPROTO_ERR_SEALED_ERASED);
  assert_null(in);
  mlproto_record_free(erased);
  mlproto_free(env);
  /* The grant's own parameters erased. */
  assert_int_equal(mlproto_envelope_erase(&env, &len, b->env[go], b->env_len[go],
                                          MLPROTO_PART_DISCLOSED),
                   MLPROTO_OK);
  assert_int_equal(mlproto_record_verify(&erased, env, len), MLPROTO_OK);
  const mlproto_record *grant_erased[1] = {erased};
  assert_int_equal(mlproto_compliance_inputs_from_records(
                       &in, (const struct mlproto_record *const *)grant_erased, 1,
                       erased->record_id, NULL, 0),
                   MLPROTO_ERR_SEALED_ERASED);
  mlproto_record_free(erased);
  mlproto_free(env);
}

static void test_inputs_out_of_memory(void **state) {
  rb *b = *state;
  size_t go = grant(b, MLPROTO_KIND_GRANT_OPEN,
                    (grant_spec){.start = "2026-06-01", .end = "2026-08-30", .minutes = 60},
                    "2026-05-25 09:00", NULL, 0);
  size_t k = held(b, "2026-06-02 10:00");
  contact(b, "2026-06-03 10:00", 60, MLPROTO_CHANNEL_HOME_VISIT, MLPROTO_OUTCOME_HELD, 0, &k, 1,
          NULL, NULL);
  absence(b, "2026-06-15", "2026-06-21", 1, NULL, 0);
  grant_close(b, "2026-07-31", "2026-07-01 09:00", &go, 1);
  int rc = MLPROTO_ERR_OUT_OF_MEMORY;
  long budget;
  for (budget = 0; budget < 100 && rc == MLPROTO_ERR_OUT_OF_MEMORY; budget++) {
    tu_oom_budget = budget;
    tu_oom_live = 0;
    mlproto_set_allocator(&tu_oom_allocator);
    mlproto_compliance_inputs *in = (mlproto_compliance_inputs *)1;
    rc = mlproto_compliance_inputs_from_records(&in, (const struct mlproto_record *const *)b->r,
                                                b->n, b->r[go]->record_id, NULL, 0);
    if (rc == MLPROTO_OK) {
      assert_int_equal(in->n_contacts, 2);
      mlproto_compliance_inputs_free(in);
    } else {
      assert_int_equal(rc, MLPROTO_ERR_OUT_OF_MEMORY);
      assert_null(in);
    }
    mlproto_set_allocator(NULL);
    assert_int_equal(tu_oom_live, 0);
  }
  assert_int_equal(rc, MLPROTO_OK);
  assert_true(budget > 4);
}


/* How often needle occurs in hay. */
static int occurrences(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

static char *doc(mlproto_buf *buf) {
  assert_int_equal(mlproto_buf_append(buf, "", 1), MLPROTO_OK); /* NUL */
  return (char *)buf->data;
}

/* mlproto/report.h over the same records: one grant's report (its figures
 * from the engine, its contacts with their log positions) and the three
 * documents, with a range, and an erased grant. */
static void test_report_documents(void **state) {
  rb *b = *state;
  other_kind(b, MLPROTO_KIND_CASE_OPEN);
  size_t go = grant(b, MLPROTO_KIND_GRANT_OPEN,
                    (grant_spec){.start = "2026-06-01", .end = "2026-07-26", .minutes = 120},
                    "2026-05-25 09:00", NULL, 0);
  held(b, "2026-06-02 10:00");                                          /* W23: MET */
  contact(b, "2026-06-10 10:00", 5, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_ATTEMPT_FAILED, 0,
          NULL, 0, NULL, NULL);                                         /* W24: an attempt */
  contact(b, "2026-06-16 10:00", 30, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_HELD, 0, NULL, 0,
          NULL, NULL);                                                  /* W25: MET */
  held(b, "2026-07-01 10:00");                                          /* W27: MET, July */
  mlproto_log_pos pos[MAXR];
  for (size_t i = 0; i < b->n; i++)
    pos[i] = (mlproto_log_pos){100 + i, (uint64_t)T("2026-07-20 12:00") + i};
  mlproto_grant_report *g = NULL;
  int64_t now = T("2026-08-15 00:00");
  assert_int_equal(mlproto_grant_report_build(&g, (const struct mlproto_record *const *)b->r, pos,
                                              b->n, b->r[go]->record_id, NULL, 0, now),
                   MLPROTO_OK);
  assert_false(g->erased);
  assert_int_equal(g->invalid, 0);
  assert_string_equal(g->jobcentre_id, "kk-101");
  assert_string_equal(g->case_ref, "JC/2026:4711");
  assert_memory_equal(g->grant_id, b->r[go]->record_id, 16);
  assert_non_null(g->compliance);
  assert_int_equal(g->n_contacts, 4);
  for (size_t i = 0; i < g->n_contacts; i++) {
    size_t rec = (size_t)(g->contacts[i].log_index - 100);
    assert_memory_equal(g->contacts[i].record_id, b->r[rec]->record_id, 16);
    assert_int_equal(g->contacts[i].received_at_ms, pos[rec].received_at_ms);
    assert_true(g->contacts[i].late_sync); /* received weeks after it was recorded */
  }
  /* the late syncs are the engine's, from the log's receipt times */
  assert_int_equal(g->compliance->late_syncs, 4);

  mlproto_report_meta m = {.checkpoint_size = 4242, .origin = "log.example/1",
                           .generated_at_ms = now, .jobcentre_id = "kk-101",
                           .from = MLPROTO_DATE_NONE, .to = MLPROTO_DATE_NONE,
                           .month = MLPROTO_DATE_NONE};
  memset(m.checkpoint_root, 0xab, 32);
  const mlproto_grant_report *gs[1] = {g};
  mlproto_buf buf;
  mlproto_buf_init(&buf, 1 << 20);
  assert_int_equal(mlproto_report_compliance(&buf, MLPROTO_REPORT_JSON, &m, gs, 1), MLPROTO_OK);
  const char *j = doc(&buf);
  assert_non_null(strstr(j, "{\"report\":\"compliance\",\"jobcentre\":\"kk-101\",\"checkpoint\":"
                            "{\"origin\":\"log.example/1\",\"size\":4242,\"root\":\"abab"));
  assert_non_null(strstr(j, "\"case_ref\":\"JC/2026:4711\""));
  assert_int_equal(occurrences(j, "\"k\":"), (int)g->compliance->n_periods);
  assert_int_equal(occurrences(j, "\"status\":\"MISSED_WITH_ATTEMPTS\""), 1); /* W24 */
  assert_int_equal(occurrences(j, "\"status\":\"MISSED\""), 4); /* W26, W28, W29, W30 */
  assert_non_null(strstr(j, "\"missed\":[1,3,5,6,7]"));
  assert_non_null(strstr(j, "\"minutes_held\":150,\"minutes_granted\":960"));
  assert_non_null(strstr(j, "\"last_contact\":\"2026-07-01\""));
  /* CSV: a header and one row per period, each ended by CRLF */
  mlproto_buf_reset(&buf);
  assert_int_equal(mlproto_report_compliance(&buf, MLPROTO_REPORT_CSV, &m, gs, 1), MLPROTO_OK);
  const char *c = doc(&buf);
  assert_int_equal(occurrences(c, "\r\n"), (int)g->compliance->n_periods + 1);
  assert_int_equal(occurrences(c, "\n"), occurrences(c, "\r\n"));
  assert_int_equal(strncmp(c, "grant_id,case_ref,legal_basis,state,", 36), 0);
  assert_non_null(strstr(c, ",JC/2026:4711,LAB 78-81,OPEN,2026-06-01,2026-07-26,2026-07-26,1,"
                            "2026-06-08,2026-06-14,2026-W24,MISSED_WITH_ATTEMPTS,,0,1,0,150,960,"));
  /* A range of one week: that period only, the figures over it */
  m.from = D("2026-06-08");
  m.to = D("2026-06-14");
  mlproto_buf_reset(&buf);
  assert_int_equal(mlproto_report_compliance(&buf, MLPROTO_REPORT_JSON, &m, gs, 1), MLPROTO_OK);
  j = doc(&buf);
  assert_int_equal(occurrences(j, "\"k\":"), 1);
  assert_non_null(strstr(j, "\"from\":\"2026-06-08\",\"to\":\"2026-06-14\""));
  assert_non_null(strstr(j, "\"minutes_held\":0,\"minutes_granted\":120"));
  assert_non_null(strstr(j, "\"contacts\":1,"));
  assert_non_null(strstr(j, "\"last_contact\":\"2026-06-02\""));
  /* the contacts of the range: the attempt, with its three times */
  mlproto_buf_reset(&buf);
  assert_int_equal(mlproto_report_contacts(&buf, MLPROTO_REPORT_JSON, &m, g), MLPROTO_OK);
  j = doc(&buf);
  assert_int_equal(occurrences(j, "\"record_id\":"), 1);
  assert_non_null(strstr(j, "\"start\":\"2026-06-10T08:00:00.000Z\",\"recorded_at\":"
                            "\"2026-06-10T08:00:00.000Z\",\"received_at\":\"2026-07-20T10:00:00.00"));
  assert_non_null(strstr(j, "\"outcome\":\"attempt-failed\""));
  /* timesheet of June: 60 + 30 held minutes, transport of the three contacts */
  m.from = m.to = MLPROTO_DATE_NONE;
  m.month = D("2026-06-01");
  mlproto_buf_reset(&buf);
  assert_int_equal(mlproto_report_timesheet(&buf, MLPROTO_REPORT_JSON, &m, gs, 1), MLPROTO_OK);
  j = doc(&buf);
  assert_non_null(strstr(j, "\"month\":\"2026-06\""));
  assert_non_null(strstr(j, "\"billable_minutes\":90,\"transport_minutes\":45,\"held_contacts\":2"));
  assert_int_equal(occurrences(j, "\"record_id\":"), 3);
  mlproto_buf_reset(&buf);
  assert_int_equal(mlproto_report_timesheet(&buf, MLPROTO_REPORT_CSV, &m, gs, 1), MLPROTO_OK);
  c = doc(&buf);
  assert_int_equal(occurrences(c, "\r\n"), 4); /* header + 3 contacts */
  mlproto_grant_report_free(g);

  /* The grant's parameters erased: a report that says so, with no figures. */
  uint8_t *env = NULL;
  size_t len = 0;
  mlproto_record *erased = NULL;
  assert_int_equal(mlproto_envelope_erase(&env, &len, b->env[go], b->env_len[go],
                                          MLPROTO_PART_DISCLOSED),
                   MLPROTO_OK);
  assert_int_equal(mlproto_record_verify(&erased, env, len), MLPROTO_OK);
  const mlproto_record *recs[MAXR];
  for (size_t i = 0; i < b->n; i++) recs[i] = i == go ? erased : b->r[i];
  assert_int_equal(mlproto_grant_report_build(&g, (const struct mlproto_record *const *)recs, pos,
                                              b->n, b->r[go]->record_id, NULL, 0, now),
                   MLPROTO_OK);
  assert_true(g->erased);
  assert_null(g->compliance);
  assert_int_equal(g->n_contacts, 0);
  assert_string_equal(g->case_ref, "");
  assert_true(mlproto_grant_report_in_range(g, D("2030-01-01"), D("2030-01-31")));
  gs[0] = g;
  mlproto_buf_reset(&buf);
  assert_int_equal(mlproto_report_compliance(&buf, MLPROTO_REPORT_JSON, &m, gs, 1), MLPROTO_OK);
  j = doc(&buf);
  assert_non_null(strstr(j, "\"state\":\"ERASED\"}"));
  assert_null(strstr(j, "\"periods\""));
  mlproto_buf_reset(&buf);
  assert_int_equal(mlproto_report_compliance(&buf, MLPROTO_REPORT_CSV, &m, gs, 1), MLPROTO_OK);
  c = doc(&buf);
  assert_int_equal(occurrences(c, "\r\n"), 2);
  assert_non_null(strstr(c, ",ERASED,"));
  mlproto_grant_report_free(g);
  mlproto_record_free(erased);
  mlproto_free(env);
  mlproto_buf_free(&buf);
}

/* Every document of one grant's report, one after another (NUL-ended),
 * for comparing two reports byte for byte. */
static char *all_docs(const mlproto_grant_report *g, int64_t now) {
  mlproto_report_meta m = {.checkpoint_size = 77, .origin = "log.example/1",
                           .generated_at_ms = now, .jobcentre_id = "kk-101",
                           .from = MLPROTO_DATE_NONE, .to = MLPROTO_DATE_NONE,
                           .month = MLPROTO_DATE_NONE};
  const mlproto_grant_report *gs[1] = {g};
  mlproto_buf buf;
  mlproto_buf_init(&buf, 1 << 22);
  for (int f = MLPROTO_REPORT_JSON; f <= MLPROTO_REPORT_CSV; f++) {
    m.month = MLPROTO_DATE_NONE;
    assert_int_equal(mlproto_report_compliance(&buf, f, &m, gs, 1), MLPROTO_OK);
    assert_int_equal(mlproto_report_contacts(&buf, f, &m, g), MLPROTO_OK);
    m.month = D("2026-06-01");
    assert_int_equal(mlproto_report_timesheet(&buf, f, &m, gs, 1), MLPROTO_OK);
  }
  char *s = strdup(doc(&buf));
  mlproto_buf_free(&buf);
  return s;
}

/* mlproto_grant_basis_build + mlproto_grant_report_compute give the report
 * mlproto_grant_report_build gives, at any `now`, from one basis computed
 * again and again (the server's cache), with and without log positions,
 * with another author's contact and an absence; and for an erased grant. */
static void test_basis_same_as_build(void **state) {
  rb *b = *state;
  other_kind(b, MLPROTO_KIND_CASE_OPEN);
  size_t go = grant(b, MLPROTO_KIND_GRANT_OPEN,
                    (grant_spec){.start = "2026-06-01", .end = "2026-07-26", .minutes = 120},
                    "2026-05-25 09:00", NULL, 0);
  held(b, "2026-06-02 10:00");
  size_t c2 = contact(b, "2026-06-10 10:00", 5, MLPROTO_CHANNEL_PHONE,
                      MLPROTO_OUTCOME_ATTEMPT_FAILED, 0, NULL, 0, NULL, NULL);
  contact(b, "2026-06-11 10:00", 45, MLPROTO_CHANNEL_PHONE, MLPROTO_OUTCOME_HELD, 0, &c2, 1,
          NULL, NULL); /* supersedes the attempt */
  contact(b, "2026-06-17 10:00", 60, MLPROTO_CHANNEL_HOME_VISIT, MLPROTO_OUTCOME_HELD, 0, NULL, 0,
          b->other, NULL); /* not the mentor's device */
  absence(b, "2026-06-22", "2026-06-28", 1, NULL, 0);
  held(b, "2026-07-01 10:00");
  mlproto_log_pos pos[MAXR];
  for (size_t i = 0; i < b->n; i++)
    pos[i] = (mlproto_log_pos){10 + i, (uint64_t)T("2026-06-20 12:00") + 1000 * i};
  pos[3] = (mlproto_log_pos){MLPROTO_REPORT_NOT_LOGGED, 0}; /* not pushed yet */
  const uint8_t keys[1][32];
  memcpy((void *)keys[0], b->mentor_pk, 32);
  static const char *const nows[] = {"2026-05-30 12:00", "2026-06-12 09:00", "2026-06-20 12:00",
                                     "2026-07-27 00:00", "2027-01-01 00:00"};
  for (int with_pos = 0; with_pos < 2; with_pos++) {
    const mlproto_log_pos *p = with_pos ? pos : NULL;
    mlproto_grant_basis *basis = NULL;
    assert_int_equal(mlproto_grant_basis_build(&basis, (const struct mlproto_record *const *)b->r,
                                               p, b->n, b->r[go]->record_id, keys, 1),
                     MLPROTO_OK);
    assert_true(mlproto_grant_basis_bytes(basis) > sizeof(mlproto_compliance_inputs));
    for (size_t k = 0; k < sizeof nows / sizeof nows[0]; k++) {
      int64_t now = T(nows[k]);
      mlproto_grant_report *want = NULL, *got = NULL;
      assert_int_equal(mlproto_grant_report_build(&want, (const struct mlproto_record *const *)b->r,
                                                  p, b->n, b->r[go]->record_id, keys, 1, now),
                       MLPROTO_OK);
      assert_int_equal(mlproto_grant_report_compute(&got, basis, now), MLPROTO_OK);
      assert_int_equal(got->n_contacts, want->n_contacts);
      assert_true(want->n_contacts >= 4);
      char *a = all_docs(want, now), *c = all_docs(got, now);
      assert_string_equal(c, a);
      free(a);
      free(c);
      mlproto_grant_report_free(want);
      mlproto_grant_report_free(got);
    }
    mlproto_grant_basis_free(basis);
  }

  /* erased: the same ERASED report both ways */
  uint8_t *env = NULL;
  size_t len = 0;
  mlproto_record *erased = NULL;
  assert_int_equal(mlproto_envelope_erase(&env, &len, b->env[go], b->env_len[go],
                                          MLPROTO_PART_DISCLOSED),
                   MLPROTO_OK);
  assert_int_equal(mlproto_record_verify(&erased, env, len), MLPROTO_OK);
  const mlproto_record *recs[MAXR];
  for (size_t i = 0; i < b->n; i++) recs[i] = i == go ? erased : b->r[i];
  mlproto_grant_basis *basis = NULL;
  assert_int_equal(mlproto_grant_basis_build(&basis, (const struct mlproto_record *const *)recs,
                                             pos, b->n, b->r[go]->record_id, keys, 1),
                   MLPROTO_OK);
  int64_t now = T("2026-08-01 00:00");
  mlproto_grant_report *want = NULL, *got = NULL;
  assert_int_equal(mlproto_grant_report_build(&want, (const struct mlproto_record *const *)recs,
                                              pos, b->n, b->r[go]->record_id, keys, 1, now),
                   MLPROTO_OK);
  assert_int_equal(mlproto_grant_report_compute(&got, basis, now), MLPROTO_OK);
  assert_true(got->erased);
  char *a = all_docs(want, now), *c = all_docs(got, now);
  assert_string_equal(c, a);
  assert_non_null(strstr(c, "\"state\":\"ERASED\""));
  free(a);
  free(c);
  mlproto_grant_report_free(want);
  mlproto_grant_report_free(got);
  mlproto_grant_basis_free(basis);
  mlproto_record_free(erased);
  mlproto_free(env);

  /* refusals */
  assert_int_equal(mlproto_grant_report_compute(&got, NULL, now), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_null(got);
  uint8_t unknown[16] = {1};
  assert_int_equal(mlproto_grant_basis_build(&basis, (const struct mlproto_record *const *)b->r,
                                             pos, b->n, unknown, keys, 1),
                   MLPROTO_ERR_NOT_FOUND);
  assert_null(basis);
  assert_int_equal(mlproto_grant_basis_bytes(NULL), 0);
  mlproto_grant_basis_free(NULL);
}

/* mlproto_report_compliance_slice: for every split of the grants into one,
 * two or three slices, in JSON and CSV, with and without a range, the
 * slices appended in order are the one writer's document. */
static void test_compliance_slices(void **state) {
  rb *b = *state;
  other_kind(b, MLPROTO_KIND_CASE_OPEN);
  size_t go = grant(b, MLPROTO_KIND_GRANT_OPEN,
                    (grant_spec){.start = "2026-06-01", .end = "2026-07-26", .minutes = 120},
                    "2026-05-25 09:00", NULL, 0);
  held(b, "2026-06-02 10:00");
  held(b, "2026-06-16 10:00");
  int64_t now = T("2026-08-15 00:00");
  mlproto_grant_report *g = NULL, *e = NULL;
  assert_int_equal(mlproto_grant_report_build(&g, (const struct mlproto_record *const *)b->r,
                                              NULL, b->n, b->r[go]->record_id, NULL, 0, now),
                   MLPROTO_OK);
  uint8_t *env = NULL;
  size_t len = 0;
  mlproto_record *erased = NULL;
  assert_int_equal(mlproto_envelope_erase(&env, &len, b->env[go], b->env_len[go],
                                          MLPROTO_PART_DISCLOSED),
                   MLPROTO_OK);
  assert_int_equal(mlproto_record_verify(&erased, env, len), MLPROTO_OK);
  const mlproto_record *recs[MAXR];
  for (size_t i = 0; i < b->n; i++) recs[i] = i == go ? erased : b->r[i];
  assert_int_equal(mlproto_grant_report_build(&e, (const struct mlproto_record *const *)recs,
                                              NULL, b->n, b->r[go]->record_id, NULL, 0, now),
                   MLPROTO_OK);
  const mlproto_grant_report *gs[5] = {g, e, g, g, e};
  mlproto_report_meta m = {.checkpoint_size = 9, .origin = "log.example/1",
                           .generated_at_ms = now, .jobcentre_id = "kk-101",
                           .from = MLPROTO_DATE_NONE, .to = MLPROTO_DATE_NONE,
                           .month = MLPROTO_DATE_NONE};
  mlproto_buf whole, parts;
  mlproto_buf_init(&whole, 1 << 20);
  mlproto_buf_init(&parts, 1 << 20);
  size_t splits = 0;
  for (int ranged = 0; ranged < 2; ranged++) {
    m.from = ranged ? D("2026-06-08") : MLPROTO_DATE_NONE;
    m.to = ranged ? D("2026-06-21") : MLPROTO_DATE_NONE;
    for (int f = MLPROTO_REPORT_JSON; f <= MLPROTO_REPORT_CSV; f++)
      for (size_t n = 0; n <= 5; n++) {
        mlproto_buf_reset(&whole);
        assert_int_equal(mlproto_report_compliance(&whole, f, &m, gs, n), MLPROTO_OK);
        /* cut points 0 < x < y < n; x == n: no second cut, y == n: no third */
        for (size_t x = n ? 1 : 0; x <= n; x++)
          for (size_t y = x == n ? n : x + 1; y <= n; y++) {
            mlproto_buf_reset(&parts);
            assert_int_equal(mlproto_report_compliance_slice(&parts, f, &m, gs, n, 0, x), MLPROTO_OK);
            if (x < n)
              assert_int_equal(mlproto_report_compliance_slice(&parts, f, &m, gs, n, x, y),
                               MLPROTO_OK);
            if (y < n)
              assert_int_equal(mlproto_report_compliance_slice(&parts, f, &m, gs, n, y, n),
                               MLPROTO_OK);
            assert_int_equal(parts.len, whole.len);
            assert_memory_equal(parts.data, whole.data, whole.len);
            splits++;
          }
      }
  }
  /* per n: 1 (whole) + (n - 1) two-way + C(n - 1, 2) three-way splits */
  assert_int_equal(splits, 2 * 2 * (1 + 1 + 2 + 4 + 7 + 11));
  assert_int_equal(mlproto_report_compliance_slice(&parts, 0, &m, gs, 5, 3, 2),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_report_compliance_slice(&parts, 0, &m, gs, 5, 0, 6),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  mlproto_buf_free(&whole);
  mlproto_buf_free(&parts);
  mlproto_grant_report_free(g);
  mlproto_grant_report_free(e);
  mlproto_record_free(erased);
  mlproto_free(env);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T_(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
      T_(test_inputs_full_case),
      T_(test_inputs_order_independent),
      T_(test_inputs_close_superseded),
      T_(test_inputs_mentor_keys),
      T_(test_inputs_errors),
      T_(test_inputs_out_of_memory),
      T_(test_report_documents),
      T_(test_basis_same_as_build),
      T_(test_compliance_slices),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
