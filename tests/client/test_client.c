/* libmentorlog through its public API: domain examples, profile errors,
 * no plaintext at rest, out-of-memory at every allocation. */
#include "clientutil.h"
#include "testutil.h"

#include "mentorlog/mentorlog.h"
#include "mlproto/errors.h"

#include <dirent.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void grant(mentorlog *h, uint8_t gid[16], const uint8_t cid[16], const char *s, const char *e,
                  uint32_t min_minutes) {
  mentorlog_grant_params p = {.version = MENTORLOG_GRANT_VERSION, .jobcentre = "0101", .reference = "REF-1",
                              .start = D(s), .end = D(e), .minutes_per_week = 120};
  mentorlog_rule_default(&p.rule);
  p.rule.min_minutes = min_minutes;
  assert_int_equal(mentorlog_grant_open(h, gid, cid, &p), 0);
}

static void contact(mentorlog *h, uint8_t rid[16], const uint8_t cid[16], const char *at, uint32_t min, int ch,
                    int outcome) {
  mentorlog_contact_params p = {.version = MENTORLOG_CONTACT_VERSION, .start_ms = T(at), .minutes = min,
                                .channel = ch, .outcome = outcome};
  assert_int_equal(mentorlog_contact_add(h, rid, cid, &p), 0);
}

static const mentorlog_period *period_of(const mentorlog_compliance *c, const char *week) {
  for (size_t i = 0; i < c->nperiods; i++) {
    char w[9];
    mentorlog_iso_week(w, c->periods[i].start);
    if (strcmp(w, week) == 0)
      return &c->periods[i];
  }
  fail_msg("no period %s", week);
  return NULL;
}

/* domain.md worked examples 1, 2, 4/5, 11, 16, 18, 22, 26 */
static void domain_examples(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = create(dir);
  uint8_t c[16], g[16], r[16];
  mentorlog_compliance *cp;
  int64_t late = T("2027-06-01T00:00:00Z");

  /* 1: grant from Mon 2025-12-29; held phone call 2025-12-29 10:00 -> 2026-W01 */
  assert_int_equal(mentorlog_case_open(h, c, "Example One", NULL), 0);
  grant(h, g, c, "2025-12-29", "2026-02-28", 0);
  contact(h, r, c, "2025-12-29 10:00", 30, MENTORLOG_CHANNEL_PHONE, MENTORLOG_OUTCOME_HELD);
  assert_int_equal(mentorlog_grant_compliance(h, g, late, &cp), 0);
  assert_int_equal(period_of(cp, "2026-W01")->status, MENTORLOG_MET);
  mentorlog_compliance_free(cp);

  /* 2: grant 2026-12-21..2027-02-28; held visit Sat 2027-01-02 -> 2026-W53 */
  assert_int_equal(mentorlog_case_open(h, c, "Example Two", NULL), 0);
  grant(h, g, c, "2026-12-21", "2027-02-28", 0);
  contact(h, r, c, "2027-01-02 11:00", 60, MENTORLOG_CHANNEL_HOME_VISIT, MENTORLOG_OUTCOME_HELD);
  assert_int_equal(mentorlog_grant_compliance(h, g, late, &cp), 0);
  assert_int_equal(period_of(cp, "2026-W53")->status, MENTORLOG_MET);
  assert_int_equal(period_of(cp, "2027-W01")->start, D("2027-01-04"));
  assert_int_equal(period_of(cp, "2027-W01")->status, MENTORLOG_MISSED);
  mentorlog_compliance_free(cp);

  /* 4 and 5: grant from Thu 2025-09-04: W36 partial; a held visit Fri makes it MET */
  assert_int_equal(mentorlog_case_open(h, c, "Example Four", NULL), 0);
  grant(h, g, c, "2025-09-04", "2025-12-31", 0);
  assert_int_equal(mentorlog_grant_compliance(h, g, late, &cp), 0);
  assert_int_equal(period_of(cp, "2025-W36")->status, MENTORLOG_NOT_ASSESSABLE);
  assert_string_equal(period_of(cp, "2025-W36")->reason, "partial");
  mentorlog_compliance_free(cp);
  contact(h, r, c, "2025-09-05 09:00", 60, MENTORLOG_CHANNEL_HOME_VISIT, MENTORLOG_OUTCOME_HELD);
  assert_int_equal(mentorlog_grant_compliance(h, g, late, &cp), 0);
  assert_int_equal(period_of(cp, "2025-W36")->status, MENTORLOG_MET);
  mentorlog_compliance_free(cp);

  /* 11: held call at 2025-03-30T22:30Z -> local Monday 00:30 -> 2025-W14 */
  assert_int_equal(mentorlog_case_open(h, c, "Example Eleven", NULL), 0);
  grant(h, g, c, "2025-03-24", "2025-05-31", 0);
  contact(h, r, c, "2025-03-30T22:30:00Z", 20, MENTORLOG_CHANNEL_PHONE, MENTORLOG_OUTCOME_HELD);
  assert_int_equal(mentorlog_grant_compliance(h, g, late, &cp), 0);
  assert_int_equal(period_of(cp, "2025-W14")->status, MENTORLOG_MET);
  assert_int_equal(period_of(cp, "2025-W13")->status, MENTORLOG_MISSED);
  mentorlog_compliance_free(cp);

  /* 16, 18, 22, 26 in one grant with M = 10 */
  assert_int_equal(mentorlog_case_open(h, c, "Example Sixteen", NULL), 0);
  grant(h, g, c, "2026-03-02", "2026-05-31", 10);
  /* 18: three held contacts in W10, none in W11 */
  for (int i = 0; i < 3; i++)
    contact(h, r, c, "2026-03-03 10:00", 30, MENTORLOG_CHANNEL_IN_PERSON, MENTORLOG_OUTCOME_HELD);
  /* 16: W12 two failed phone attempts and one SMS */
  contact(h, r, c, "2026-03-16 10:00", 5, MENTORLOG_CHANNEL_PHONE, MENTORLOG_OUTCOME_ATTEMPT_FAILED);
  contact(h, r, c, "2026-03-17 10:00", 5, MENTORLOG_CHANNEL_PHONE, MENTORLOG_OUTCOME_ATTEMPT_FAILED);
  contact(h, r, c, "2026-03-18 10:00", 1, MENTORLOG_CHANNEL_MESSAGE, MENTORLOG_OUTCOME_HELD);
  /* 26: W13 a 6-minute video call with M = 10: an attempt */
  contact(h, r, c, "2026-03-24 10:00", 6, MENTORLOG_CHANNEL_VIDEO, MENTORLOG_OUTCOME_HELD);
  /* 22: a contact in W14 later corrected to W15 */
  uint8_t r22[16], r22b[16];
  contact(h, r22, c, "2026-03-31 10:00", 30, MENTORLOG_CHANNEL_IN_PERSON, MENTORLOG_OUTCOME_HELD);
  assert_int_equal(mentorlog_grant_compliance(h, g, late, &cp), 0);
  assert_int_equal(period_of(cp, "2026-W14")->status, MENTORLOG_MET);
  mentorlog_compliance_free(cp);
  mentorlog_contact_params p = {.version = MENTORLOG_CONTACT_VERSION, .start_ms = T("2026-04-07 10:00"),
                                .minutes = 30, .channel = MENTORLOG_CHANNEL_IN_PERSON,
                                .outcome = MENTORLOG_OUTCOME_HELD};
  assert_int_equal(mentorlog_contact_correct(h, r22b, r22, &p), 0);
  assert_int_equal(mentorlog_grant_compliance(h, g, late, &cp), 0);
  assert_int_equal(period_of(cp, "2026-W10")->status, MENTORLOG_MET);
  assert_int_equal(period_of(cp, "2026-W10")->qualifying, 3);
  assert_int_equal(period_of(cp, "2026-W11")->status, MENTORLOG_MISSED);
  assert_int_equal(period_of(cp, "2026-W12")->status, MENTORLOG_MISSED_WITH_ATTEMPTS);
  /* definition 6: the held SMS (channel outside Q) is an attempt too */
  assert_int_equal(period_of(cp, "2026-W12")->attempts, 3);
  assert_int_equal(period_of(cp, "2026-W13")->status, MENTORLOG_MISSED_WITH_ATTEMPTS);
  assert_int_equal(period_of(cp, "2026-W14")->status, MENTORLOG_MISSED);
  assert_int_equal(period_of(cp, "2026-W15")->status, MENTORLOG_MET);
  mentorlog_compliance_free(cp);
  /* both versions stay in history; the list shows only the current one */
  int present = 0;
  assert_int_equal(mentorlog_has_record(h, r22, &present), 0);
  assert_int_equal(present, 1);
  mentorlog_contact *cs;
  size_t n;
  assert_int_equal(mentorlog_contacts(h, c, &cs, &n), 0);
  assert_int_equal(n, 8);
  mentorlog_contacts_free(cs, n);
  /* void removes it from the count */
  assert_int_equal(mentorlog_contact_void(h, NULL, r22b, "entered twice"), 0);
  assert_int_equal(mentorlog_grant_compliance(h, g, late, &cp), 0);
  assert_int_equal(period_of(cp, "2026-W15")->status, MENTORLOG_MISSED);
  mentorlog_compliance_free(cp);

  /* 14: nonexistent and ambiguous wall times are refused */
  int64_t t;
  assert_int_equal(mentorlog_parse_local_time(&t, "2025-03-30 02:30"), -252);
  assert_int_equal(mentorlog_parse_local_time(&t, "2025-10-26 02:30"), -253);
  assert_int_equal(mentorlog_parse_local_time(&t, "2025-10-26 02:30+01:00"), 0);

  assert_int_equal(mentorlog_verify(h), 0);
  mentorlog_close(h);
  rmtree(tmpl);
}


/* A grant's life: update (all parameters replaced, purpose sealed), close
 * with a sealed reason, no update once closed. */
static void grant_update_close(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = create(dir);
  uint8_t c[16], g[16], r1[16], r2[16];
  assert_int_equal(mentorlog_case_open(h, c, "Grant Life", NULL), 0);
  grant(h, g, c, "2026-03-02", "2026-05-31", 0);
  mentorlog_grant_params p = {.version = MENTORLOG_GRANT_VERSION, .jobcentre = "0101", .reference = "REF-2",
                              .legal_basis = "LAB 2019 s. 78", .purpose = "SEALEDPURPOSE job search",
                              .start = D("2026-03-02"), .end = D("2026-06-30"), .minutes_per_week = 180};
  mentorlog_rule_default(&p.rule);
  p.rule.period_weeks = 2;
  p.rule.late_days = 3;
  assert_int_equal(mentorlog_grant_update(h, r1, g, &p), 0);
  /* the update's record is not the grant's id; both resolve to the grant */
  assert_memory_not_equal(r1, g, 16);
  mentorlog_grant *gs;
  size_t n;
  assert_int_equal(mentorlog_grants(h, c, &gs, &n), 0);
  assert_int_equal(n, 1);
  assert_memory_equal(gs[0].id, g, 16);
  assert_memory_equal(gs[0].record, r1, 16);
  assert_string_equal(gs[0].reference, "REF-2");
  assert_string_equal(gs[0].legal_basis, "LAB 2019 s. 78");
  assert_string_equal(gs[0].purpose, "SEALEDPURPOSE job search");
  assert_int_equal(gs[0].end, D("2026-06-30"));
  assert_int_equal(gs[0].rule.period_weeks, 2);
  assert_int_equal(gs[0].rule.late_days, 3);
  assert_int_equal(gs[0].minutes_per_week, 180);
  assert_int_equal(gs[0].closed, 0);
  assert_null(gs[0].close_reason);
  mentorlog_grants_free(gs, n);
  /* compliance follows the update: 2-week periods */
  mentorlog_compliance *cp;
  assert_int_equal(mentorlog_grant_compliance(h, g, T("2027-01-01T00:00:00Z"), &cp), 0);
  assert_int_equal(cp->periods[0].end - cp->periods[0].start, 13);
  mentorlog_compliance_free(cp);
  /* an invalid update is refused and changes nothing */
  p.end = D("2027-03-01");
  assert_int_equal(mentorlog_grant_update(h, NULL, g, &p), -256); /* BAD_PERIOD: > 6 months */
  /* close with a sealed reason */
  assert_int_equal(mentorlog_grant_close(h, r2, g, D("2026-04-15"), "SEALEDREASON moved to Aarhus"), 0);
  assert_int_equal(mentorlog_grants(h, c, &gs, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(gs[0].closed, 1);
  assert_int_equal(gs[0].end, D("2026-04-15"));
  assert_string_equal(gs[0].close_reason, "SEALEDREASON moved to Aarhus");
  assert_string_equal(gs[0].purpose, "SEALEDPURPOSE job search"); /* parameters of the last update */
  mentorlog_grants_free(gs, n);
  assert_int_equal(mentorlog_grant_compliance(h, g, T("2027-01-01T00:00:00Z"), &cp), 0);
  assert_int_equal(cp->end, D("2026-04-15"));
  mentorlog_compliance_free(cp);
  /* a closed grant is not reopened by an update */
  p.end = D("2026-06-30");
  assert_int_equal(mentorlog_grant_update(h, NULL, g, &p), -308); /* GRANT_CLOSED */
  assert_string_not_equal(mentorlog_errmsg(h), "");
  /* a reason over the cap is refused */
  char big[4100];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  assert_int_equal(mentorlog_grant_close(h, NULL, g, D("2026-04-10"), big), -5); /* TOO_LARGE */
  /* a close without reason: none shown */
  uint8_t g2[16];
  grant(h, g2, c, "2026-07-01", "2026-12-31", 0);
  assert_int_equal(mentorlog_grant_close(h, NULL, g2, D("2026-08-01"), NULL), 0);
  assert_int_equal(mentorlog_grants(h, c, &gs, &n), 0);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++)
    if (memcmp(gs[i].id, g2, 16) == 0) {
      assert_int_equal(gs[i].closed, 1);
      assert_null(gs[i].close_reason);
    }
  mentorlog_grants_free(gs, n);
  assert_int_equal(mentorlog_verify(h), 0);
  mentorlog_close(h);
  /* neither the purpose nor the reason is at rest in plaintext */
  assert_int_equal(cu_hits_str(dir, "SEALEDREASON"), 0);
  assert_int_equal(cu_hits_str(dir, "SEALEDPURPOSE"), 0);
  assert_int_equal(cu_hits_str(dir, "Aarhus"), 0);
  rmtree(tmpl);
}

/* late_entry (definition 9) uses L of the grant covering the contact's
 * date, the default 7 outside every grant. Contacts are recorded now (the
 * device clock), so dates are relative to today. */
static void late_entry_per_grant(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = create(dir);
  uint8_t c[16], ga[16], gb[16], r[16];
  assert_int_equal(mentorlog_case_open(h, c, "Late Entry", NULL), 0);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  mentorlog_date today = mentorlog_local_date((int64_t)ts.tv_sec * 1000);
  /* grant A [today-100, today-50] with L = 60; grant B [today-40, today+10] with L = 7 */
  mentorlog_grant_params p = {.version = MENTORLOG_GRANT_VERSION, .jobcentre = "0101", .reference = "A",
                              .start = today - 100, .end = today - 50, .minutes_per_week = 60};
  mentorlog_rule_default(&p.rule);
  p.rule.late_days = 60;
  assert_int_equal(mentorlog_grant_open(h, ga, c, &p), 0);
  p.reference = "B";
  p.start = today - 40;
  p.end = today + 10;
  p.rule.late_days = 7;
  assert_int_equal(mentorlog_grant_open(h, gb, c, &p), 0);
  struct {
    int days_ago;
    int late;
  } cases[] = {
      {55, 0}, /* in A: 55 days < L 60 */
      {30, 1}, /* in B: 30 days > L 7 */
      {5, 0},  /* in B: 5 days < 7 */
      {45, 1}, /* between the grants: default L 7 */
  };
  uint8_t ids[4][16];
  for (size_t i = 0; i < 4; i++) {
    /* 10:00 UTC is the same Copenhagen date */
    mentorlog_contact_params cp = {.version = MENTORLOG_CONTACT_VERSION,
                                   .start_ms = ((int64_t)(today - cases[i].days_ago)) * 86400000 + 36000000,
                                   .minutes = 30, .channel = MENTORLOG_CHANNEL_PHONE,
                                   .outcome = MENTORLOG_OUTCOME_HELD};
    assert_int_equal(mentorlog_contact_add(h, r, c, &cp), 0);
    memcpy(ids[i], r, 16);
  }
  mentorlog_contact *cs;
  size_t n;
  assert_int_equal(mentorlog_contacts(h, c, &cs, &n), 0);
  assert_int_equal(n, 4);
  for (size_t i = 0; i < 4; i++) {
    const mentorlog_contact *found = NULL;
    for (size_t j = 0; j < n; j++)
      if (memcmp(cs[j].id, ids[i], 16) == 0)
        found = &cs[j];
    assert_non_null(found);
    if (found->late_entry != cases[i].late)
      fail_msg("contact %d days ago: late_entry %d, expected %d", cases[i].days_ago, found->late_entry,
               cases[i].late);
  }
  mentorlog_contacts_free(cs, n);
  mentorlog_close(h);
  rmtree(tmpl);
}

static void profile_errors(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = create(dir), *h2 = NULL;
  uint8_t c[16];
  assert_int_equal(mentorlog_case_open(h, c, "Kirsten", "555"), 0);
  mentorlog_close(h);
  mentorlog_open_options o = pass("correct horse"), bad = pass("wrong horse");
  /* exists already */
  assert_int_equal(mentorlog_create(&h2, dir, &o), -303);
  assert_null(h2);
  /* wrong passphrase: specific error, no handle, nothing changed */
  assert_int_equal(mentorlog_open(&h2, dir, &bad), -300);
  assert_null(h2);
  /* rekey: the old passphrase stops working, records untouched */
  assert_int_equal(mentorlog_open(&h, dir, &o), 0);
  mentorlog_open_options nw = pass("new battery staple");
  assert_int_equal(mentorlog_rekey(h, &nw), 0);
  mentorlog_close(h);
  assert_int_equal(mentorlog_open(&h2, dir, &o), -300);
  assert_int_equal(mentorlog_open(&h, dir, &nw), 0);
  mentorlog_case *cs;
  size_t n;
  assert_int_equal(mentorlog_cases(h, &cs, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(cs[0].name, "Kirsten");
  mentorlog_cases_free(cs, n);
  mentorlog_close(h);
  /* no profile */
  char other[400];
  snprintf(other, sizeof other, "%s/none", tmpl);
  assert_int_equal(mentorlog_open(&h2, other, &nw), -304);
  assert_null(h2);
  /* a newer schema version */
  char db[400];
  snprintf(db, sizeof db, "%s/mentorlog.db", dir);
  sqlite3 *s;
  assert_int_equal(sqlite3_open(db, &s), SQLITE_OK);
  assert_int_equal(sqlite3_exec(s, "PRAGMA user_version=99", 0, 0, 0), SQLITE_OK);
  sqlite3_close(s);
  assert_int_equal(mentorlog_open(&h2, dir, &nw), -302);
  assert_null(h2);
  /* corrupted file: overwrite the header page */
  FILE *f = fopen(db, "r+b");
  assert_non_null(f);
  char junk[4096];
  memset(junk, 0x5a, sizeof junk);
  fwrite(junk, 1, sizeof junk, f);
  fclose(f);
  int err = mentorlog_open(&h2, dir, &nw);
  assert_int_equal(err, -301);
  assert_null(h2);
  rmtree(tmpl);
}

/* grep-like: count occurrences of needle in every file under dir. */
static void no_plaintext_at_rest(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = create(dir);
  uint8_t c[2][16], rec[16], keep_note[16];
  assert_int_equal(mentorlog_case_open(h, c[0], "Citizen Alpha Zulu", "+4511223344"), 0);
  assert_int_equal(mentorlog_case_open(h, c[1], "Citizen Bravo Yankee", "+4599887766"), 0);
  char text[128];
  assert_int_equal(mentorlog_batch_begin(h), 0);
  for (int i = 0; i < 500; i++) {
    snprintf(text, sizeof text, "MARKERNOTE%05d private words", i);
    assert_int_equal(mentorlog_note_add(h, rec, c[i % 2], text, strlen(text)), 0);
    if (i == 0)
      memcpy(keep_note, rec, 16);
    snprintf(text, sizeof text, "MARKERCONTACT%05d", i);
    mentorlog_contact_params p = {.version = MENTORLOG_CONTACT_VERSION, .start_ms = T("2026-02-02 10:00"),
                                  .minutes = 30, .channel = MENTORLOG_CHANNEL_PHONE,
                                  .outcome = MENTORLOG_OUTCOME_HELD, .note = text};
    assert_int_equal(mentorlog_contact_add(h, rec, c[i % 2], &p), 0);
    if (i % 50 == 0) {
      snprintf(text, sizeof text, "MARKERFIX%05d", i);
      p.note = text;
      assert_int_equal(mentorlog_contact_correct(h, NULL, rec, &p), 0);
    }
  }
  assert_int_equal(mentorlog_batch_commit(h), 0);
  /* the erased case's notes (case 0) must be gone; case 1 still readable */
  uint8_t erased_note[16];
  assert_int_equal(mentorlog_note_add(h, erased_note, c[0], "MARKERLAST", 10), 0);
  assert_int_equal(mentorlog_case_erase(h, c[0]), 0);
  mentorlog_note *ns;
  size_t n;
  assert_int_equal(mentorlog_notes(h, c[1], &ns, &n), 0);
  assert_int_equal(n, 250);
  mentorlog_notes_free(ns, n);
  assert_int_equal(mentorlog_notes(h, c[0], &ns, &n), -305);
  assert_int_equal(mentorlog_note_revise(h, NULL, keep_note, "x", 1), -305);
  assert_int_equal(mentorlog_verify(h), 0); /* headers stay: the chain verifies */
  mentorlog_close(h);
  /* after close and with the passphrase, case 0 stays unreadable */
  mentorlog_open_options o = pass("correct horse");
  assert_int_equal(mentorlog_open(&h, dir, &o), 0);
  assert_int_equal(mentorlog_notes(h, c[0], &ns, &n), -305);
  assert_int_equal(mentorlog_verify(h), 0);
  mentorlog_close(h);
  /* every file of the profile: no marker, no name, no phone */
  const char *needles[] = {"MARKER", "Citizen", "Alpha", "Bravo", "4511223344", "private words"};
  for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
    assert_int_equal(cu_hits_str(dir, needles[i]), 0);
  rmtree(tmpl);
}

/* --------------------------------------------- store: schema, trust */

static sqlite3 *rawdb(const char *dir) {
  char db[400];
  snprintf(db, sizeof db, "%s/mentorlog.db", dir);
  sqlite3 *s = NULL;
  assert_int_equal(sqlite3_open(db, &s), SQLITE_OK);
  return s;
}

static sqlite3_int64 raw_int(sqlite3 *s, const char *sql) {
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  sqlite3_int64 v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

/* The query plan of the case list names the kind index. */
static int case_list_uses_kind_index(sqlite3 *s) {
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(s, "EXPLAIN QUERY PLAN SELECT envelope, hash FROM records"
                                         " WHERE kind BETWEEN 1 AND 1 ORDER BY rid", -1, &st, NULL), SQLITE_OK);
  int found = 0;
  while (sqlite3_step(st) == SQLITE_ROW)
    found |= strstr((const char *)sqlite3_column_text(st, 3), "records_kind") != NULL;
  sqlite3_finalize(st);
  return found;
}

/* The query plan of an item's heads looks the first version up by record_id
 * and later versions in the partial records_item index. */
static int item_heads_use_indexes(sqlite3 *s) {
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(s, "EXPLAIN QUERY PLAN SELECT r.record_id FROM records r"
                                         " WHERE (r.record_id = ?1 OR (r.item_id = ?1 AND r.item_id != r.record_id))",
                                      -1, &st, NULL), SQLITE_OK);
  int found = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *d = (const char *)sqlite3_column_text(st, 3);
    found |= (strstr(d, "records_item") != NULL) << 0;
    found |= (strstr(d, "(record_id=?)") != NULL) << 1;
  }
  sqlite3_finalize(st);
  return found == 3;
}

/* A version-1 profile (an hlc column, UNIQUE hash, the full item index, no
 * kind index, envelopes in plaintext) is migrated on open to version 5 (v2:
 * the kind index; v3: no UNIQUE on hash, records_item only for later
 * versions; v4: no hlc column, every envelope sealed at rest): every record
 * is kept with its rid (v5: the sync tables replaced by sealed ones), the chain verifies, item heads still work for an
 * item corrected before and after the migration, and no disclosed byte of
 * the plaintext era is left in any file. */
static void schema_migration(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = create(dir);
  uint8_t c[16], r[16], r2[16], r3[16], g[16];
  assert_int_equal(mentorlog_case_open(h, c, "Migra Person", "+4500000000"), 0);
  mentorlog_grant_params gp = {.version = MENTORLOG_GRANT_VERSION, .jobcentre = "0461", .reference = "ODE-MIGR-7",
                               .legal_basis = "LAB 2019 s. 31", .start = D("2026-03-02"), .end = D("2026-05-31"),
                               .minutes_per_week = 120};
  mentorlog_rule_default(&gp.rule);
  assert_int_equal(mentorlog_grant_open(h, g, c, &gp), 0);
  contact(h, r, c, "2026-03-02 10:00", 30, MENTORLOG_CHANNEL_PHONE, MENTORLOG_OUTCOME_HELD);
  mentorlog_contact_params p = {.version = MENTORLOG_CONTACT_VERSION, .start_ms = T("2026-03-02 11:00"),
                                .minutes = 40, .channel = MENTORLOG_CHANNEL_PHONE,
                                .outcome = MENTORLOG_OUTCOME_HELD};
  assert_int_equal(mentorlog_contact_correct(h, r2, r, &p), 0);
  cu_needles plain = {0};
  assert_true(cu_needles_of_profile(h, &plain) >= 5);
  cu_make_v1_profile(h);
  mentorlog_close(h);
  char pdir[300];
  snprintf(pdir, sizeof pdir, "%s", dir);
  assert_true(cu_hits(pdir, &plain) > 0); /* the v1 file has them: the check can fail */
  sqlite3 *s = rawdb(dir);
  assert_int_equal(raw_int(s, "PRAGMA user_version"), 1);
  sqlite3_int64 nrec = raw_int(s, "SELECT count(*) FROM records");
  sqlite3_int64 rids = raw_int(s, "SELECT sum(rid * seq) FROM records");
  assert_int_equal(raw_int(s, "SELECT count(*) FROM pragma_index_list('records') WHERE origin = 'u'"), 3);
  assert_false(case_list_uses_kind_index(s));
  sqlite3_close(s);
  /* a wrong passphrase migrates nothing */
  mentorlog_open_options bad = pass("wrong horse"), good = pass("correct horse");
  assert_int_equal(mentorlog_open(&h, dir, &bad), -300);
  s = rawdb(dir);
  assert_int_equal(raw_int(s, "PRAGMA user_version"), 1);
  sqlite3_close(s);
  assert_int_equal(mentorlog_open(&h, dir, &good), 0);
  mentorlog_close(h);
  assert_int_equal(cu_hits(pdir, &plain), 0); /* sealed, VACUUMed, WAL truncated */
  cu_needles_free(&plain);
  assert_int_equal(mentorlog_open(&h, dir, &good), 0);
  mentorlog_case *cs;
  size_t n;
  assert_int_equal(mentorlog_cases(h, &cs, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(cs[0].name, "Migra Person");
  mentorlog_cases_free(cs, n);
  mentorlog_contact *ct;
  assert_int_equal(mentorlog_contacts(h, c, &ct, &n), 0);
  assert_int_equal(n, 1);
  assert_memory_equal(ct[0].id, r, 16);
  assert_memory_equal(ct[0].record, r2, 16);
  assert_int_equal(ct[0].conflict, 0);
  mentorlog_contacts_free(ct, n);
  /* correcting the first version finds the head the correction made */
  p.minutes = 50;
  assert_int_equal(mentorlog_contact_correct(h, r3, r, &p), 0);
  assert_int_equal(mentorlog_contacts(h, c, &ct, &n), 0);
  assert_int_equal(n, 1);
  assert_memory_equal(ct[0].id, r, 16);
  assert_memory_equal(ct[0].record, r3, 16);
  assert_int_equal(ct[0].conflict, 0);
  assert_int_equal(ct[0].minutes, 50);
  mentorlog_contacts_free(ct, n);
  assert_int_equal(mentorlog_verify(h), 0);
  mentorlog_close(h);
  s = rawdb(dir);
  assert_int_equal(raw_int(s, "PRAGMA user_version"), 5);
  assert_int_equal(raw_int(s, "SELECT count(*) FROM maintenance"), 0); /* the scrub ran and is done */
  /* v5: the v1 sync tables are gone, the sealed ones are there */
  assert_int_equal(raw_int(s, "SELECT count(*) FROM sqlite_master WHERE name IN ('sync_state', 'server_events')"), 0);
  assert_int_equal(raw_int(s, "SELECT count(*) FROM sqlite_master WHERE name IN ('sync', 'receipts', 'grants')"), 3);
  assert_int_equal(raw_int(s, "SELECT count(*) FROM pragma_table_info('receipts') WHERE name = 'sealed'"), 1);
  /* the case key became generation 0, tagged */
  assert_int_equal(raw_int(s, "SELECT count(*) FROM case_keys WHERE gen = 0 AND tag != zeroblob(16)"), 1);
  assert_int_equal(raw_int(s, "SELECT count(*) FROM pragma_table_info('records') WHERE name = 'hlc'"), 0);
  assert_int_equal(raw_int(s, "SELECT count(*) FROM records"), nrec + 1);
  char sql[128]; /* every old record kept its rid */
  snprintf(sql, sizeof sql, "SELECT sum(rid * seq) FROM records WHERE seq <= %lld", (long long)nrec);
  assert_int_equal(raw_int(s, sql), rids);
  assert_int_equal(raw_int(s, "SELECT count(*) FROM pragma_index_list('records') WHERE origin = 'u'"), 2);
  assert_int_equal(raw_int(s, "SELECT count(*) FROM pragma_index_list('records')"
                              " WHERE name = 'records_item' AND partial = 1"), 1);
  assert_true(case_list_uses_kind_index(s));
  assert_true(item_heads_use_indexes(s));
  assert_int_equal(raw_int(s, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
  sqlite3_close(s);
  rmtree(tmpl);
}

/* Offsets of a protobuf bytes field (number 1..15, length < 2^14) in buf. */
static size_t pb_field(const uint8_t *buf, size_t len, unsigned field, size_t *flen) {
  size_t i = 0;
  while (i < len) {
    unsigned tag = buf[i++];
    assert_int_equal(tag & 7, 2); /* every Envelope field is length-delimited */
    size_t l = buf[i] & 0x7f;
    if (buf[i++] & 0x80)
      l |= (size_t)(buf[i++] & 0x7f) << 7;
    if ((tag >> 3) == field) {
      *flen = l;
      return i;
    }
    i += l;
  }
  fail_msg("field %u not in the envelope", field);
  return 0;
}

static int contacts_err(mentorlog *h, const uint8_t c[16]) {
  mentorlog_contact *ct = NULL;
  size_t n = 0;
  int err = mentorlog_contacts(h, c, &ct, &n);
  mentorlog_contacts_free(ct, n);
  return err;
}

/* Reads are bound to the record hash stored when the record was written,
 * and each sealed row to its record id: any change of the envelope (inside
 * its sealing or of the sealed bytes), a row moved to another record, or a
 * change of the stored hash alone is PROFILE_CORRUPT. A row rewritten
 * consistently (bad signature, matching hash, sealed under the profile's
 * record key: only someone with the passphrase and the file can do it) is
 * what the reads deliberately do not re-check; mentorlog_verify does, and
 * finds it. */
static void stored_hash_binding(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = create(dir);
  uint8_t c[16], r[16], r_other[16];
  assert_int_equal(mentorlog_case_open(h, c, "Hash Person", NULL), 0);
  mentorlog_contact_params p = {.version = MENTORLOG_CONTACT_VERSION, .start_ms = T("2026-03-02 10:00"),
                                .minutes = 30, .channel = MENTORLOG_CHANNEL_PHONE,
                                .outcome = MENTORLOG_OUTCOME_HELD, .note = "bound note"};
  assert_int_equal(mentorlog_contact_add(h, r, c, &p), 0);
  assert_int_equal(mentorlog_contact_add(h, r_other, c, &p), 0);
  assert_int_equal(contacts_err(h, c), 0);

  size_t len, blen, olen;
  uint8_t *orig, hash[32];
  cu_plain_get(h, r, &orig, &len, hash);
  uint8_t *blob = cu_blob_get(h, r, &blen), *other_blob = cu_blob_get(h, r_other, &olen);
  uint8_t *env = malloc(len > blen ? len : blen);
  assert_non_null(env);
  size_t hlen, slen, dlen;
  size_t hoff = pb_field(orig, len, 1, &hlen), soff = pb_field(orig, len, 2, &slen);
  size_t doff = pb_field(orig, len, 3, &dlen);
  assert_int_equal(slen, 64);

  struct { size_t off; const char *what; } flips[] = {{hoff + hlen / 2, "header"}, {soff + 10, "signature"},
                                                       {doff + dlen - 1, "disclosed"}, {len - 1, "sealed"}};
  for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
    memcpy(env, orig, len);
    env[flips[i].off] ^= 0x01;
    cu_plain_put(h, r, env, len, NULL);
    if (contacts_err(h, c) != -301)
      fail_msg("a flipped %s byte was read back", flips[i].what);
  }
  /* a flipped byte of the sealed row itself, and another record's row */
  for (size_t off = 0; off < blen; off += blen / 7) {
    memcpy(env, blob, blen);
    env[off] ^= 0x20;
    cu_blob_put(h, r, env, blen, NULL);
    if (contacts_err(h, c) != -301)
      fail_msg("a flipped byte %zu of the sealed row was read back", off);
  }
  cu_blob_put(h, r, other_blob, olen, NULL);
  assert_int_equal(contacts_err(h, c), -301);
  /* the stored hash alone changed */
  uint8_t other[32];
  memcpy(other, hash, 32);
  other[0] ^= 0x80;
  cu_plain_put(h, r, orig, len, other);
  assert_int_equal(contacts_err(h, c), -301);
  /* consistent rewrite: a bad signature with its matching record hash */
  memcpy(env, orig, len);
  env[soff + 10] ^= 0x01;
  crypto_hash_sha256_state hs;
  crypto_hash_sha256_init(&hs);
  crypto_hash_sha256_update(&hs, env + hoff, hlen);
  crypto_hash_sha256_update(&hs, env + soff, slen);
  crypto_hash_sha256_final(&hs, other);
  cu_plain_put(h, r, env, len, other);
  assert_int_equal(contacts_err(h, c), 0);        /* the documented trust boundary */
  assert_int_equal(mentorlog_verify(h), -306);    /* ... which verify closes */
  /* restored: all is well again */
  cu_blob_put(h, r, blob, blen, hash);
  assert_int_equal(contacts_err(h, c), 0);
  assert_int_equal(mentorlog_verify(h), 0);
  mentorlog_close(h);
  free(orig);
  free(env);
  free(blob);
  free(other_blob);
  rmtree(tmpl);
}

/* Batches write the chain row once, at commit: after commits, a rolled-back
 * batch and a failed operation inside a batch, the stored tip (what open
 * loads) matches the records, and appending continues the chain. */
static void batch_chain_tip(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = create(dir);
  uint8_t c[16], r[16], unknown[16] = {0xee};
  assert_int_equal(mentorlog_case_open(h, c, "Batch Person", NULL), 0);
  uint64_t recs, outbox;
  assert_int_equal(mentorlog_batch_begin(h), 0);
  for (int i = 0; i < 50; i++)
    contact(h, r, c, "2026-03-02 10:00", 30, MENTORLOG_CHANNEL_PHONE, MENTORLOG_OUTCOME_HELD);
  assert_int_equal(mentorlog_batch_commit(h), 0);
  assert_int_equal(mentorlog_batch_begin(h), 0);
  for (int i = 0; i < 5; i++)
    contact(h, r, c, "2026-03-03 10:00", 30, MENTORLOG_CHANNEL_PHONE, MENTORLOG_OUTCOME_HELD);
  mentorlog_batch_rollback(h);
  assert_int_equal(mentorlog_verify(h), 0);
  assert_int_equal(mentorlog_batch_begin(h), 0);
  contact(h, r, c, "2026-03-04 10:00", 30, MENTORLOG_CHANNEL_PHONE, MENTORLOG_OUTCOME_HELD);
  assert_int_equal(mentorlog_note_add(h, NULL, c, "", 0), -1);      /* fails, the batch goes on */
  assert_int_equal(mentorlog_note_add(h, NULL, unknown, "x", 1), -7);
  assert_int_equal(mentorlog_note_revise(h, NULL, r, "x", 1), -1);  /* r is a contact, not a note */
  contact(h, r, c, "2026-03-05 10:00", 30, MENTORLOG_CHANNEL_PHONE, MENTORLOG_OUTCOME_HELD);
  assert_int_equal(mentorlog_batch_commit(h), 0);
  contact(h, r, c, "2026-03-06 10:00", 30, MENTORLOG_CHANNEL_PHONE, MENTORLOG_OUTCOME_HELD); /* own transaction */
  assert_int_equal(mentorlog_batch_commit(h), -1);                  /* no batch open */
  /* A failure while storing (here: the next seq's outbox slot is taken, so
   * the outbox INSERT fails after the record INSERT) rolls the whole batch
   * back; writers and commit refuse until rollback. */
  uint64_t before;
  assert_int_equal(mentorlog_counts(h, &before, NULL), 0);
  sqlite3 *s = rawdb(dir);
  char sql[200];
  snprintf(sql, sizeof sql, "INSERT INTO outbox VALUES (%llu, zeroblob(16))", (unsigned long long)before + 3);
  assert_int_equal(sqlite3_exec(s, sql, 0, 0, 0), SQLITE_OK);
  assert_int_equal(mentorlog_batch_begin(h), 0);
  contact(h, r, c, "2026-03-07 10:00", 30, MENTORLOG_CHANNEL_PHONE, MENTORLOG_OUTCOME_HELD);
  contact(h, r, c, "2026-03-07 11:00", 30, MENTORLOG_CHANNEL_PHONE, MENTORLOG_OUTCOME_HELD);
  mentorlog_contact_params cp = {.version = MENTORLOG_CONTACT_VERSION, .start_ms = T("2026-03-07 12:00"),
                                 .minutes = 30, .channel = MENTORLOG_CHANNEL_PHONE, .outcome = MENTORLOG_OUTCOME_HELD};
  assert_int_equal(mentorlog_contact_add(h, NULL, c, &cp), -8);
  assert_int_equal(mentorlog_contact_add(h, NULL, c, &cp), -1);
  assert_int_equal(mentorlog_batch_commit(h), -1);
  mentorlog_batch_rollback(h); /* no batch open any more: harmless */
  assert_int_equal(mentorlog_counts(h, &recs, NULL), 0);
  assert_int_equal(recs, before);
  assert_int_equal(sqlite3_exec(s, "DELETE FROM outbox WHERE record_id = zeroblob(16)", 0, 0, 0), SQLITE_OK);
  sqlite3_close(s);
  assert_int_equal(mentorlog_verify(h), 0);
  contact(h, r, c, "2026-03-08 10:00", 30, MENTORLOG_CHANNEL_PHONE, MENTORLOG_OUTCOME_HELD); /* the chain goes on */
  mentorlog_close(h);
  mentorlog_open_options o = pass("correct horse");
  assert_int_equal(mentorlog_open(&h, dir, &o), 0);
  assert_int_equal(mentorlog_verify(h), 0);
  assert_int_equal(mentorlog_counts(h, &recs, &outbox), 0);
  assert_int_equal(recs, 2 + 50 + 2 + 1 + 1);
  assert_int_equal(outbox, recs);
  s = rawdb(dir);
  assert_int_equal(raw_int(s, "SELECT seq FROM chain"), (sqlite3_int64)recs);
  assert_int_equal(raw_int(s, "SELECT count(*) FROM chain c JOIN records r ON r.hash = c.head AND r.seq = c.seq"), 1);
  assert_int_equal(raw_int(s, "SELECT (SELECT hlc FROM chain) > 0"), 1);
  sqlite3_close(s);
  mentorlog_close(h);
  rmtree(tmpl);
}

/* ----------------------------------------------------- out of memory */

/* The hook fails allocation number fail_at (counting from 1) and keeps a
 * balance of live blocks, so a leak after a failure is caught in release
 * builds too (ASan's leak checker only reports at exit). */
static long fail_at, alloc_count, live_blocks;
static void *t_malloc(size_t n, void *ud) {
  (void)ud;
  if (fail_at && ++alloc_count == fail_at)
    return NULL;
  void *p = malloc(n);
  if (p)
    live_blocks++;
  return p;
}
static void *t_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  if (fail_at && ++alloc_count == fail_at)
    return NULL;
  void *q = realloc(p, n);
  if (q && !p)
    live_blocks++;
  return q;
}
static void t_free(void *p, void *ud) {
  (void)ud;
  if (p)
    live_blocks--;
  free(p);
}

/* A representative sequence; returns the first error (0 when all passed). */
static const uint8_t oom_key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static mentorlog_open_options keyopt(void) {
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.key = oom_key;
  return o;
}

/* Records each step of sequence() adds when it commits: case (KEY_GRANT +
 * CASE_OPEN), grant, contact, a batch of two contacts (one commit, chain row
 * written once), note, grant close. */
static const int seq_records[] = {2, 1, 1, 2, 1, 1};

static int batch_step(mentorlog *h, const uint8_t c[16], const mentorlog_contact_params *cp) {
  int err = mentorlog_batch_begin(h);
  if (err)
    return err;
  mentorlog_contact_params plain = *cp;
  plain.note = NULL;
  if ((err = mentorlog_contact_add(h, NULL, c, cp)) || (err = mentorlog_contact_add(h, NULL, c, &plain))) {
    /* Failed before storing: the batch goes on (0). Failed while storing:
     * the library rolled the batch back (INVALID_ARGUMENT); or SQLite did,
     * on its own out-of-memory (IO). Either way writers and commit refuse. */
    int again = mentorlog_contact_add(h, NULL, c, &plain);
    if (again != 0 && again != -1 && again != -4)
      fail_msg("a writer after a failure in a batch: %d", again);
    if (again != 0)
      assert_int_equal(mentorlog_batch_commit(h), again);
    mentorlog_batch_rollback(h);
    return err;
  }
  return mentorlog_batch_commit(h);
}

static int sequence(const char *dir) {
  mentorlog *h = NULL;
  mentorlog_open_options o = keyopt();
  int err = mentorlog_open(&h, dir, &o);
  if (err)
    return err;
  uint8_t c[16], g[16], r[16];
  mentorlog_grant_params gp = {.version = MENTORLOG_GRANT_VERSION, .jobcentre = "0101", .reference = "R",
                               .start = 20454, .end = 20540, .minutes_per_week = 60};
  mentorlog_rule_default(&gp.rule);
  mentorlog_contact_params cp = {.version = MENTORLOG_CONTACT_VERSION, .start_ms = 20455LL * 86400000 + 36000000,
                                 .minutes = 30, .channel = 1, .outcome = 1, .note = "oom note"};
  mentorlog_compliance *cc = NULL;
  mentorlog_note *ns = NULL;
  mentorlog_contact *cs = NULL;
  mentorlog_grant *gs = NULL;
  size_t n = 0, ncs = 0, ngs = 0;
  if ((err = mentorlog_case_open(h, c, "Oom Person", NULL)) || (err = mentorlog_grant_open(h, g, c, &gp)) ||
      (err = mentorlog_contact_add(h, r, c, &cp)) || (err = batch_step(h, c, &cp)) ||
      (err = mentorlog_note_add(h, NULL, c, "n", 1)) ||
      (err = mentorlog_grant_close(h, NULL, g, 20530, "moved away")) || (err = mentorlog_notes(h, c, &ns, &n)) ||
      (err = mentorlog_contacts(h, c, &cs, &ncs)) || (err = mentorlog_grants(h, c, &gs, &ngs)) ||
      (err = mentorlog_grant_compliance(h, g, 20600LL * 86400000, &cc))) {
    /* err holds the first failure */
  }
  mentorlog_notes_free(ns, n);
  mentorlog_contacts_free(cs, ncs);
  mentorlog_grants_free(gs, ngs);
  mentorlog_compliance_free(cc);
  mentorlog_close(h);
  return err;
}

static void copy_file(const char *from, const char *to) {
  size_t len;
  char *b = tu_read_file(from, &len);
  assert_non_null(b);
  FILE *f = fopen(to, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
  free(b);
}

/* Every allocation the sequence reaches fails once, in turn. Each attempt
 * starts from the same baseline database, so the check after it is exact:
 * the file holds the records of a prefix of the committed steps, never a
 * part of one. The profile lives on tmpfs (/dev/shm) when there is one:
 * fsync is free there and each attempt commits up to five times; what is
 * tested (the library's handling of each failed allocation) does not
 * depend on the file system. */
static void out_of_memory(void **state) {
  (void)state;
  char root[256];
  struct stat sb;
  const char *shm = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0
                        ? "/dev/shm" : NULL;
  if (shm) {
    snprintf(root, sizeof root, "%s/mlclient-oom-XXXXXX", shm);
    assert_non_null(mkdtemp(root));
  } else {
    newdir();
    snprintf(root, sizeof root, "%s", tmpl);
  }
  char dir[300], db[320], base[320];
  snprintf(dir, sizeof dir, "%s/p", root);
  snprintf(db, sizeof db, "%s/mentorlog.db", dir);
  snprintf(base, sizeof base, "%s/baseline.db", root);
  mentorlog *h0 = NULL;
  mentorlog_open_options ko = keyopt();
  assert_int_equal(mentorlog_create(&h0, dir, &ko), 0);
  uint64_t base_recs = 0;
  assert_int_equal(mentorlog_counts(h0, &base_recs, NULL), 0);
  mentorlog_close(h0); /* the last connection checkpoints and removes the WAL */
  char wal[330];
  snprintf(wal, sizeof wal, "%s-wal", db);
  assert_int_not_equal(access(wal, F_OK), 0);
  copy_file(db, base);

  mentorlog_allocator a = {t_malloc, t_realloc, t_free, NULL};
  assert_int_equal(mentorlog_set_allocator(&a), 0);
  long n, full_allocs = 0;
  for (n = 1; n < 1000000; n++) {
    copy_file(base, db);
    long live_before = live_blocks;
    fail_at = n;
    alloc_count = 0;
    int err = sequence(dir);
    long reached = alloc_count;
    fail_at = 0;
    /* nothing leaks after a failure (SQLite frees its caches on close) */
    assert_int_equal(live_blocks, live_before);
    if (err == 0 && reached < n) {
      full_allocs = reached;
      break; /* the whole sequence ran without reaching allocation n */
    }
    /* SQLite absorbs some failures itself (err == 0); otherwise an error code */
    if (err != 0) {
      assert_true(err < 0);
      assert_non_null(mentorlog_errname(err));
    }
    /* the database is whole, verifies, and holds exactly the committed steps */
    mentorlog *h = NULL;
    mentorlog_open_options o = keyopt();
    assert_int_equal(mentorlog_open(&h, dir, &o), 0);
    assert_int_equal(mentorlog_verify(h), 0);
    uint64_t recs;
    assert_int_equal(mentorlog_counts(h, &recs, NULL), 0);
    uint64_t want = base_recs;
    int whole = recs == want;
    for (size_t i = 0; i < sizeof seq_records / sizeof seq_records[0]; i++)
      whole |= recs == (want += (uint64_t)seq_records[i]);
    if (!whole)
      fail_msg("allocation %ld: %llu records, not a prefix of the steps", n, (unsigned long long)recs);
    if (err == 0)
      assert_int_equal(recs, want); /* a run that reported success wrote everything */
    mentorlog_close(h);
  }
  print_message("out of memory: failed each of %ld allocations in turn (%s)\n", n - 1,
                shm ? "profile on /dev/shm" : "profile in TMPDIR");
  assert_int_equal(full_allocs, n - 1);
  assert_true(n > 100);
  assert_int_equal(mentorlog_set_allocator(NULL), 0);
  rmtree(root);
}

/* ------------------------------------------------ the header contract */

/* Every code of errors.def has its MENTORLOG_ERR_ constant with the same
 * value (a missing one does not compile), and the generated header holds
 * no other. */
static void error_constants_match_errors_def(void **state) {
  (void)state;
  size_t n = 0;
#define MLPROTO_ERROR(name, value, http, msg)                                                      \
  do {                                                                                             \
    assert_int_equal((int)MENTORLOG_ERR_##name, (int)MLPROTO_ERR_##name);                          \
    assert_int_equal((int)MENTORLOG_ERR_##name, (value));                                          \
    assert_string_equal(mentorlog_errname(MENTORLOG_ERR_##name), #name);                           \
    assert_string_equal(mentorlog_strerror(MENTORLOG_ERR_##name), (msg));                          \
    n++;                                                                                           \
  } while (0);
#include "mlproto/errors.def"
#undef MLPROTO_ERROR
  assert_true(n > 50);
  size_t len = 0;
  char *h = tu_read_file(ML_BINARY_DIR "/client-core/include/mentorlog/mentorlog_errors.h", &len);
  assert_non_null(h);
  size_t defined = 0;
  for (const char *p = h; (p = strstr(p, "\n  MENTORLOG_ERR_")) != NULL; p++)
    defined++;
  free(h);
  assert_int_equal(defined, n);
}

static char *filled(size_t n) {
  char *s = malloc(n + 1);
  assert_non_null(s);
  memset(s, 'a', n);
  s[n] = 0;
  return s;
}

/* Each text cap of mentorlog.h: exactly the cap is stored and reads back,
 * one byte more is TOO_LARGE (the passphrase's: INVALID_ARGUMENT, and
 * WRONG_PASSPHRASE on open). */
static void size_caps_enforced(void **state) {
  (void)state;
  assert_int_equal(mentorlog_name_max(), MENTORLOG_NAME_MAX);
  assert_int_equal(mentorlog_text_max(), MENTORLOG_TEXT_MAX);
  assert_int_equal(mentorlog_passphrase_max(), MENTORLOG_PASSPHRASE_MAX);
  const char *dir = newdir();
  char *pp = filled(MENTORLOG_PASSPHRASE_MAX + 1);
  mentorlog *h = NULL;
  mentorlog_open_options o = pass(pp);
  assert_int_equal(mentorlog_create(&h, dir, &o), MENTORLOG_ERR_INVALID_ARGUMENT);
  assert_null(h);
  o.passphrase_len = MENTORLOG_PASSPHRASE_MAX;
  assert_int_equal(mentorlog_create(&h, dir, &o), 0);
  mentorlog_close(h);
  h = NULL;
  o.passphrase_len = MENTORLOG_PASSPHRASE_MAX + 1;
  assert_int_equal(mentorlog_open(&h, dir, &o), MENTORLOG_ERR_WRONG_PASSPHRASE);
  assert_null(h);
  o.passphrase_len = MENTORLOG_PASSPHRASE_MAX;
  assert_int_equal(mentorlog_open(&h, dir, &o), 0);
  o.passphrase_len = MENTORLOG_PASSPHRASE_MAX + 1;
  assert_int_equal(mentorlog_rekey(h, &o), MENTORLOG_ERR_INVALID_ARGUMENT);
  free(pp);

  uint8_t c[16], g[16], r[16], r2[16];
  char *big;
  /* case: name, phone */
  big = filled(MENTORLOG_NAME_MAX + 1);
  assert_int_equal(mentorlog_case_open(h, c, big, NULL), MENTORLOG_ERR_TOO_LARGE);
  big[MENTORLOG_NAME_MAX] = 0;
  assert_int_equal(mentorlog_case_open(h, c, big, NULL), 0);
  free(big);
  big = filled(MENTORLOG_PHONE_MAX + 1);
  assert_int_equal(mentorlog_case_open(h, c, "N", big), MENTORLOG_ERR_TOO_LARGE);
  big[MENTORLOG_PHONE_MAX] = 0;
  assert_int_equal(mentorlog_case_open(h, c, "N", big), 0);
  free(big);
  mentorlog_case *cs;
  size_t ncs;
  assert_int_equal(mentorlog_cases(h, &cs, &ncs), 0);
  assert_int_equal(ncs, 2);
  for (size_t i = 0; i < ncs; i++)
    assert_true(strlen(cs[i].name) == MENTORLOG_NAME_MAX ||
                (cs[i].phone && strlen(cs[i].phone) == MENTORLOG_PHONE_MAX));
  mentorlog_cases_free(cs, ncs);

  /* grant: jobcentre, reference, legal basis, purpose */
  struct {
    size_t cap;
    int field; /* 0 jobcentre, 1 reference, 2 legal basis, 3 purpose */
  } gf[] = {{MENTORLOG_CODE_MAX, 0}, {MENTORLOG_CODE_MAX, 1}, {MENTORLOG_LEGAL_BASIS_MAX, 2},
            {MENTORLOG_PURPOSE_MAX, 3}};
  for (size_t i = 0; i < sizeof gf / sizeof gf[0]; i++) {
    for (int over = 1; over >= 0; over--) {
      big = filled(gf[i].cap + (size_t)over);
      mentorlog_grant_params p;
      mentorlog_grant_params_init(&p);
      p.jobcentre = gf[i].field == 0 ? big : "0101";
      p.reference = gf[i].field == 1 ? big : "REF-1";
      p.legal_basis = gf[i].field == 2 ? big : NULL;
      p.purpose = gf[i].field == 3 ? big : NULL;
      p.start = D("2026-01-05");
      p.end = D("2026-03-31");
      int err = mentorlog_grant_open(h, g, c, &p);
      if (err != (over ? MENTORLOG_ERR_TOO_LARGE : 0))
        fail_msg("grant field %d at cap%s: %s (%s)", gf[i].field, over ? "+1" : "",
                 mentorlog_errname(err), mentorlog_errmsg(h));
      if (!over) { /* the update path checks the same caps */
        assert_int_equal(mentorlog_grant_update(h, r, g, &p), 0);
        big[gf[i].cap] = 'a';
        big = realloc(big, gf[i].cap + 2);
        big[gf[i].cap + 1] = 0;
        if (gf[i].field == 0)
          p.jobcentre = big;
        else if (gf[i].field == 1)
          p.reference = big;
        else if (gf[i].field == 2)
          p.legal_basis = big;
        else
          p.purpose = big;
        assert_int_equal(mentorlog_grant_update(h, r, g, &p), MENTORLOG_ERR_TOO_LARGE);
      }
      free(big);
    }
  }
  /* grant close reason */
  big = filled(MENTORLOG_REASON_MAX + 1);
  assert_int_equal(mentorlog_grant_close(h, r, g, D("2026-03-01"), big), MENTORLOG_ERR_TOO_LARGE);
  big[MENTORLOG_REASON_MAX] = 0;
  assert_int_equal(mentorlog_grant_close(h, r, g, D("2026-03-01"), big), 0);
  mentorlog_grant *gs;
  size_t ngs;
  assert_int_equal(mentorlog_grants(h, c, &gs, &ngs), 0);
  int seen_reason = 0;
  for (size_t i = 0; i < ngs; i++)
    seen_reason |= gs[i].close_reason && strlen(gs[i].close_reason) == MENTORLOG_REASON_MAX;
  mentorlog_grants_free(gs, ngs);
  assert_true(seen_reason);
  free(big);

  /* contact note, void reason */
  mentorlog_contact_params cp;
  mentorlog_contact_params_init(&cp);
  cp.start_ms = T("2026-01-06 10:00");
  cp.minutes = 30;
  cp.channel = MENTORLOG_CHANNEL_PHONE;
  cp.outcome = MENTORLOG_OUTCOME_HELD;
  big = filled(MENTORLOG_CONTACT_NOTE_MAX + 1);
  cp.note = big;
  assert_int_equal(mentorlog_contact_add(h, r, c, &cp), MENTORLOG_ERR_TOO_LARGE);
  big[MENTORLOG_CONTACT_NOTE_MAX] = 0;
  assert_int_equal(mentorlog_contact_add(h, r, c, &cp), 0);
  big[MENTORLOG_CONTACT_NOTE_MAX] = 'a';
  assert_int_equal(mentorlog_contact_correct(h, r2, r, &cp), MENTORLOG_ERR_TOO_LARGE);
  big[MENTORLOG_CONTACT_NOTE_MAX] = 0;
  assert_int_equal(mentorlog_contact_correct(h, r2, r, &cp), 0);
  free(big);
  mentorlog_contact *ct;
  size_t nct;
  assert_int_equal(mentorlog_contacts(h, c, &ct, &nct), 0);
  assert_int_equal(nct, 1);
  assert_int_equal(strlen(ct[0].note), MENTORLOG_CONTACT_NOTE_MAX);
  mentorlog_contacts_free(ct, nct);
  big = filled(MENTORLOG_VOID_REASON_MAX + 1);
  assert_int_equal(mentorlog_contact_void(h, r2, r, big), MENTORLOG_ERR_TOO_LARGE);
  big[MENTORLOG_VOID_REASON_MAX] = 0;
  assert_int_equal(mentorlog_contact_void(h, r2, r, big), 0);
  free(big);

  /* note text (by length, not NUL) */
  big = filled(MENTORLOG_TEXT_MAX + 1);
  assert_int_equal(mentorlog_note_add(h, r, c, big, MENTORLOG_TEXT_MAX + 1), MENTORLOG_ERR_TOO_LARGE);
  assert_int_equal(mentorlog_note_add(h, r, c, big, MENTORLOG_TEXT_MAX), 0);
  assert_int_equal(mentorlog_note_revise(h, r2, r, big, MENTORLOG_TEXT_MAX + 1), MENTORLOG_ERR_TOO_LARGE);
  assert_int_equal(mentorlog_note_revise(h, r2, r, big, MENTORLOG_TEXT_MAX), 0);
  free(big);
  mentorlog_note *nt;
  size_t nnt;
  assert_int_equal(mentorlog_notes(h, c, &nt, &nnt), 0);
  assert_int_equal(nnt, 1);
  assert_int_equal(strlen(nt[0].text), MENTORLOG_TEXT_MAX);
  mentorlog_notes_free(nt, nnt);

  /* absence: approval reference, reason */
  for (int field = 0; field < 2; field++) {
    size_t cap = field == 0 ? MENTORLOG_CODE_MAX : MENTORLOG_REASON_MAX;
    big = filled(cap + 1);
    mentorlog_absence_params ap;
    mentorlog_absence_params_init(&ap);
    ap.from = D("2026-01-12");
    ap.to = D("2026-01-16");
    ap.kind = MENTORLOG_ABSENCE_CITIZEN_SICK;
    ap.approved_ref = field == 0 ? big : "APP-1";
    ap.reason = field == 1 ? big : NULL;
    assert_int_equal(mentorlog_absence_add(h, r, c, &ap), MENTORLOG_ERR_TOO_LARGE);
    big[cap] = 0;
    int err = mentorlog_absence_add(h, r, c, &ap);
    if (err)
      fail_msg("absence field %d at cap: %s (%s)", field, mentorlog_errname(err), mentorlog_errmsg(h));
    free(big);
  }
  mentorlog_absence *ab;
  size_t nab;
  assert_int_equal(mentorlog_absences(h, c, &ab, &nab), 0);
  assert_int_equal(nab, 2);
  assert_true(strlen(ab[0].approved_ref) == MENTORLOG_CODE_MAX ||
              strlen(ab[1].approved_ref) == MENTORLOG_CODE_MAX);
  mentorlog_absences_free(ab, nab);

  assert_int_equal(mentorlog_verify(h), 0);
  mentorlog_close(h);
  rmtree(tmpl);
}

/* A profile made with the fast test KDF is reported weak; a rekey with the
 * default KDF (same passphrase) stores INTERACTIVE parameters. */
static void weak_kdf_reported_and_rekey_upgrades(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = create(dir); /* MENTORLOG_KDF_FAST_INSECURE */
  assert_int_equal(mentorlog_kdf_available(MENTORLOG_KDF_FAST_INSECURE), 1);
  mentorlog_profile_info info;
  mentorlog_profile_info_init(&info);
  assert_int_equal(info.version, MENTORLOG_PROFILE_INFO_VERSION);
  assert_int_equal(mentorlog_profile_info_get(h, &info), 0);
  assert_int_equal(info.keystore, 0);
  assert_int_equal(info.kdf_weak, 1);
  assert_int_equal(info.kdf_opslimit, 1);
  assert_int_equal(info.kdf_memlimit, 8u << 20);
  /* versions: 0 and a future one are refused */
  mentorlog_profile_info bad = MENTORLOG_PROFILE_INFO_INIT;
  bad.version = 0;
  assert_int_equal(mentorlog_profile_info_get(h, &bad), MENTORLOG_ERR_INVALID_ARGUMENT);
  bad.version = MENTORLOG_PROFILE_INFO_VERSION + 1;
  assert_int_equal(mentorlog_profile_info_get(h, &bad), MENTORLOG_ERR_INVALID_ARGUMENT);
  assert_int_equal(mentorlog_profile_info_get(NULL, &info), MENTORLOG_ERR_INVALID_ARGUMENT);

  /* a weak profile still opens (the stored parameters are used) */
  mentorlog_close(h);
  h = NULL;
  mentorlog_open_options o = pass("correct horse");
  assert_int_equal(mentorlog_open(&h, dir, &o), 0);
  assert_int_equal(mentorlog_profile_info_get(h, &info), 0);
  assert_int_equal(info.kdf_weak, 1);

  o.kdf = MENTORLOG_KDF_INTERACTIVE;
  assert_int_equal(mentorlog_rekey(h, &o), 0);
  assert_int_equal(mentorlog_profile_info_get(h, &info), 0);
  assert_int_equal(info.kdf_weak, 0);
  assert_int_equal(info.kdf_opslimit, crypto_pwhash_OPSLIMIT_INTERACTIVE);
  assert_int_equal(info.kdf_memlimit, crypto_pwhash_MEMLIMIT_INTERACTIVE);
  mentorlog_close(h);
  h = NULL;
  assert_int_equal(mentorlog_open(&h, dir, &o), 0); /* the kdf field is ignored by open */
  assert_int_equal(mentorlog_profile_info_get(h, &info), 0);
  assert_int_equal(info.kdf_weak, 0);

  /* a keystore key: no KDF, never weak */
  uint8_t key[MENTORLOG_KEY_BYTES];
  memset(key, 7, sizeof key);
  mentorlog_open_options ko = MENTORLOG_OPEN_OPTIONS_INIT;
  ko.key = key;
  assert_int_equal(mentorlog_rekey(h, &ko), 0);
  assert_int_equal(mentorlog_profile_info_get(h, &info), 0);
  assert_int_equal(info.keystore, 1);
  assert_int_equal(info.kdf_weak, 0);
  assert_int_equal(info.kdf_opslimit, 0);
  mentorlog_close(h);
  rmtree(tmpl);
}

/* The library's own floor for a new passphrase: MENTORLOG_PASSPHRASE_MIN
 * bytes at create and rekey (strength rules are the application's); an
 * existing profile still opens with a shorter one. */
static void passphrase_min_length(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = NULL;
  char p9[] = "123456789", p10[] = "1234567890";
  assert_int_equal((int)strlen(p10), MENTORLOG_PASSPHRASE_MIN);
  mentorlog_open_options o9 = pass(p9), o10 = pass(p10);
  assert_int_equal(mentorlog_create(&h, dir, &o9), MENTORLOG_ERR_INVALID_ARGUMENT);
  assert_null(h);
  assert_int_equal(mentorlog_create(&h, dir, &o10), 0);
  assert_int_equal(mentorlog_rekey(h, &o9), MENTORLOG_ERR_INVALID_ARGUMENT);
  mentorlog_close(h);
  assert_int_equal(mentorlog_open(&h, dir, &o10), 0); /* the refused rekey changed nothing */
  mentorlog_close(h);
  rmtree(tmpl);
}

int main(void) {
  /* ML_TEST_FILTER=name runs one test (cmocka's glob pattern). */
  if (getenv("ML_TEST_FILTER"))
    cmocka_set_test_filter(getenv("ML_TEST_FILTER"));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(domain_examples),
      cmocka_unit_test(grant_update_close),
      cmocka_unit_test(late_entry_per_grant),
      cmocka_unit_test(profile_errors),
      cmocka_unit_test(no_plaintext_at_rest),
      cmocka_unit_test(schema_migration),
      cmocka_unit_test(stored_hash_binding),
      cmocka_unit_test(batch_chain_tip),
      cmocka_unit_test(out_of_memory),
      cmocka_unit_test(passphrase_min_length),
      cmocka_unit_test(error_constants_match_errors_def),
      cmocka_unit_test(size_caps_enforced),
      cmocka_unit_test(weak_kdf_reported_and_rekey_upgrades),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
