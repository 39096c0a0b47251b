/* libmentorlog through its public API: domain examples, profile errors,
 * no plaintext at rest, out-of-memory at every allocation. */
#include "testutil.h"

#include "mentorlog/mentorlog.h"

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpl[256];

static const char *newdir(void) {
  const char *t = getenv("TMPDIR");
  snprintf(tmpl, sizeof tmpl, "%s/mlclient-XXXXXX", t && *t ? t : "/tmp");
  assert_non_null(mkdtemp(tmpl));
  static char prof[300];
  snprintf(prof, sizeof prof, "%s/p", tmpl);
  return prof;
}

static void rmtree(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static mentorlog_open_options pass(const char *p) {
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.passphrase = p;
  o.passphrase_len = strlen(p);
  o.kdf = MENTORLOG_KDF_FAST_INSECURE;
  return o;
}

static mentorlog *create(const char *dir) {
  mentorlog *h = NULL;
  mentorlog_open_options o = pass("correct horse");
  assert_int_equal(mentorlog_create(&h, dir, &o), 0);
  assert_non_null(h);
  return h;
}

static mentorlog_date D(const char *s) {
  mentorlog_date d;
  assert_int_equal(mentorlog_parse_date(&d, s), 0);
  return d;
}
static int64_t T(const char *s) {
  int64_t t;
  assert_int_equal(mentorlog_parse_local_time(&t, s), 0);
  return t;
}

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
static size_t hits_in_dir(const char *dir, const char *needle) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t hits = 0, nl = strlen(needle);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    size_t len;
    char *b = tu_read_file(p, &len);
    if (!b)
      continue;
    for (size_t i = 0; i + nl <= len; i++)
      if (memcmp(b + i, needle, nl) == 0)
        hits++;
    free(b);
  }
  closedir(d);
  return hits;
}

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
    assert_int_equal(hits_in_dir(dir, needles[i]), 0);
  rmtree(tmpl);
}

/* ----------------------------------------------------- out of memory */

static long fail_at, alloc_count;
static void *t_malloc(size_t n, void *ud) {
  (void)ud;
  if (fail_at && ++alloc_count == fail_at)
    return NULL;
  return malloc(n);
}
static void *t_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  if (fail_at && ++alloc_count == fail_at)
    return NULL;
  return realloc(p, n);
}
static void t_free(void *p, void *ud) {
  (void)ud;
  free(p);
}

/* A representative sequence; returns the first error (0 when all passed). */
static const uint8_t oom_key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static mentorlog_open_options keyopt(void) {
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.key = oom_key;
  return o;
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
  size_t n = 0;
  if ((err = mentorlog_case_open(h, c, "Oom Person", NULL)) || (err = mentorlog_grant_open(h, g, c, &gp)) ||
      (err = mentorlog_contact_add(h, r, c, &cp)) || (err = mentorlog_note_add(h, NULL, c, "n", 1)) ||
      (err = mentorlog_notes(h, c, &ns, &n)) || (err = mentorlog_grant_compliance(h, g, 20600LL * 86400000, &cc))) {
    /* err holds the first failure */
  }
  mentorlog_notes_free(ns, n);
  mentorlog_compliance_free(cc);
  mentorlog_close(h);
  return err;
}

static void out_of_memory(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h0 = NULL;
  mentorlog_open_options ko = keyopt();
  assert_int_equal(mentorlog_create(&h0, dir, &ko), 0);
  mentorlog_close(h0);
  mentorlog_allocator a = {t_malloc, t_realloc, t_free, NULL};
  assert_int_equal(mentorlog_set_allocator(&a), 0);
  long n;
  uint64_t before = 0;
  for (n = 1; n < 100000; n++) {
    fail_at = n;
    alloc_count = 0;
    int err = sequence(dir);
    fail_at = 0;
    if (err == 0 && alloc_count < n)
      break; /* the whole sequence ran without reaching allocation n */
    /* SQLite absorbs some failures itself (err == 0); otherwise an error code */
    assert_true(err <= 0);
    /* the database is whole and verifies after every failure */
    mentorlog *h = NULL;
    mentorlog_open_options o = keyopt();
    assert_int_equal(mentorlog_open(&h, dir, &o), 0);
    assert_int_equal(mentorlog_verify(h), 0);
    uint64_t recs;
    assert_int_equal(mentorlog_counts(h, &recs, NULL), 0);
    assert_true(recs >= before);
    before = recs;
    mentorlog_close(h);
  }
  print_message("out of memory: failed each of %ld allocations in turn\n", n - 1);
  assert_true(n > 100);
  assert_int_equal(mentorlog_set_allocator(NULL), 0);
  rmtree(tmpl);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(domain_examples),
      cmocka_unit_test(profile_errors),
      cmocka_unit_test(no_plaintext_at_rest),
      cmocka_unit_test(out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
