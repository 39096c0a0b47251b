/* client-core at rest: a lost profile reveals nothing but what DESIGN.md
 * lists as the residual leak. For a week of realistic records, every
 * record's exact serialized disclosed part and each disclosed value of at
 * least 4 bytes (references, legal basis, approval reference, the absence
 * kind's name, a contact's start instant) must be in none of the profile's
 * files (database, -wal, -shm, journals): while the profile is open, after
 * close, after rekey, and after SIGKILLs in the middle of writes (four, at different moments). Also: the
 * record store takes records of other authors through the same path, and
 * the clock comes in through the open options. */
#include "clientutil.h"
#include "testutil.h"

#include "records_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const refs[] = {"KBH-2026-004711", "ODE/2026/33817", "AAR:26-90210"};
static const char *const jobcentres[] = {"0101", "0461", "0751"};
static const char *const bases[] = {"LAB 2019 s. 31 stk. 1", "LAB s. 78 (mentor)", "Aktivloven s. 19"};

static void grant_of(mentorlog *h, uint8_t g[16], const uint8_t c[16], int i) {
  mentorlog_grant_params p = {.version = MENTORLOG_GRANT_VERSION, .jobcentre = jobcentres[i],
                              .reference = refs[i], .legal_basis = bases[i], .purpose = "job search plan",
                              .start = D("2026-03-02"), .end = D("2026-08-30"), .minutes_per_week = 180};
  mentorlog_rule_default(&p.rule);
  assert_int_equal(mentorlog_grant_open(h, g, c, &p), 0);
}

/* A mentor's week with three citizens: grants, daily contacts with notes
 * on every channel and outcome, a correction, a voided contact, an update
 * and a close of a grant, notes, approved and unapproved absences. */
static void week_of_records(mentorlog *h) {
  static const char *const names[] = {"Citizen Anna Andersen", "Citizen Bo Bech", "Citizen Cai Carlsen"};
  uint8_t c[3][16], g[3][16], r[16], keep[16];
  for (int i = 0; i < 3; i++) {
    assert_int_equal(mentorlog_case_open(h, c[i], names[i], "+45 20 30 40 50"), 0);
    grant_of(h, g[i], c[i], i);
  }
  char when[32], note[128];
  for (int day = 0; day < 7; day++)
    for (int i = 0; i < 3; i++) {
      snprintf(when, sizeof when, "2026-03-%02d %02d:%02d", 2 + day, 9 + i, 15 * i);
      snprintf(note, sizeof note, "day %d: talked about the debt advice appointment", day);
      mentorlog_contact_params p = {.version = MENTORLOG_CONTACT_VERSION, .start_ms = T(when),
                                    .minutes = 30 + 15 * (uint32_t)i, .channel = 1 + (day + i) % 7,
                                    .outcome = 1 + (day * 3 + i) % 5, .transport_minutes = 20, .note = note};
      assert_int_equal(mentorlog_contact_add(h, r, c[i], &p), 0);
      if (day == 1 && i == 0)
        memcpy(keep, r, 16);
    }
  mentorlog_contact_params fix = {.version = MENTORLOG_CONTACT_VERSION, .start_ms = T("2026-03-03 13:40"),
                                  .minutes = 75, .channel = MENTORLOG_CHANNEL_HOME_VISIT,
                                  .outcome = MENTORLOG_OUTCOME_HELD, .note = "corrected: it was a home visit"};
  assert_int_equal(mentorlog_contact_correct(h, r, keep, &fix), 0);
  assert_int_equal(mentorlog_contact_void(h, NULL, r, "entered twice"), 0);
  mentorlog_absence_params a = {.version = MENTORLOG_ABSENCE_VERSION, .from = D("2026-03-09"),
                                .to = D("2026-03-13"), .kind = MENTORLOG_ABSENCE_HOSPITALISED,
                                .approved_ref = "APPR-2026-0815", .reason = "admitted to hospital"};
  assert_int_equal(mentorlog_absence_add(h, NULL, c[1], &a), 0);
  a.kind = MENTORLOG_ABSENCE_CITIZEN_HOLIDAY;
  a.approved_ref = "KBH/FERIE/2026/07";
  a.from = D("2026-07-06");
  a.to = D("2026-07-24");
  assert_int_equal(mentorlog_absence_add(h, NULL, c[2], &a), 0);
  a.kind = MENTORLOG_ABSENCE_CITIZEN_SICK;
  a.approved_ref = NULL;
  assert_int_equal(mentorlog_absence_add(h, NULL, c[0], &a), 0);
  const char *text = "Anna wants to try the bakery internship";
  assert_int_equal(mentorlog_note_add(h, NULL, c[0], text, strlen(text)), 0);
  mentorlog_grant_params up = {.version = MENTORLOG_GRANT_VERSION, .jobcentre = "0101",
                               .reference = "KBH-2026-004711-B", .legal_basis = "LAB 2019 s. 31 stk. 2",
                               .start = D("2026-03-02"), .end = D("2026-07-31"), .minutes_per_week = 120};
  mentorlog_rule_default(&up.rule);
  assert_int_equal(mentorlog_grant_update(h, NULL, g[0], &up), 0);
  assert_int_equal(mentorlog_grant_close(h, NULL, g[2], D("2026-03-31"), "moved to Aalborg"), 0);
}

/* Every needle of the profile's own records; at least the week's 38. */
static void needles(const char *dir, cu_needles *ns) {
  mentorlog *h = NULL;
  mentorlog_open_options o = pass("correct horse");
  assert_int_equal(mentorlog_open(&h, dir, &o), 0);
  assert_true(cu_needles_of_profile(h, ns) >= 38);
  mentorlog_close(h);
}

static void at_rest_week(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = create(dir);
  week_of_records(h);
  cu_needles ns = {0};
  assert_true(cu_needles_of_profile(h, &ns) >= 38);
  /* the test knows what it looks for: the values are among the needles */
  size_t named = 0;
  for (size_t i = 0; i < ns.n; i++)
    named += (ns.v[i].n == strlen("APPR-2026-0815") && !memcmp(ns.v[i].b, "APPR-2026-0815", ns.v[i].n)) ||
             (ns.v[i].n == strlen("hospitalised") && !memcmp(ns.v[i].b, "hospitalised", ns.v[i].n)) ||
             (ns.v[i].n == strlen(refs[1]) && !memcmp(ns.v[i].b, refs[1], ns.v[i].n));
  assert_int_equal(named, 3);
  /* a new profile has no plaintext past: no scrub is pending */
  sqlite3_stmt *st;
  assert_int_equal(ml__prepare(h, &st, "SELECT count(*) FROM maintenance"), 0);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  /* while open: the WAL holds the week's pages */
  assert_int_equal(cu_hits(dir, &ns), 0);
  mentorlog_close(h);
  assert_int_equal(cu_hits(dir, &ns), 0);
  /* rekey: the keyring row changes, nothing else becomes readable */
  mentorlog_open_options o = pass("correct horse"), o2 = pass("battery staple horse");
  assert_int_equal(mentorlog_open(&h, dir, &o), 0);
  assert_int_equal(mentorlog_rekey(h, &o2), 0);
  assert_int_equal(cu_hits(dir, &ns), 0);
  assert_int_equal(mentorlog_rekey(h, &o), 0);
  mentorlog_close(h);
  assert_int_equal(cu_hits(dir, &ns), 0);
  cu_needles_free(&ns);
  rmtree(tmpl);
}

/* Values of the child's writes, known to the parent without reading them. */
#define KILL_PREFIX_REF "KILLREF"
#define KILL_PREFIX_APPR "KILLAPPR"
#define KILL_PREFIX_JC "KILLJC"

static void child_writes(const char *dir) {
  mentorlog *h = NULL;
  mentorlog_open_options o = pass("correct horse");
  if (mentorlog_open(&h, dir, &o))
    _exit(3);
  uint8_t c[16];
  if (mentorlog_case_open(h, c, "Citizen Killed Midwrite", NULL))
    _exit(4);
  char ref[40], jc[40], appr[40];
  for (unsigned i = 0;; i++) {
    if (mentorlog_batch_begin(h))
      _exit(5);
    for (unsigned k = 0; k < 50; k++) {
      unsigned n = i * 50 + k;
      snprintf(ref, sizeof ref, KILL_PREFIX_REF "-%06u", n);
      snprintf(jc, sizeof jc, KILL_PREFIX_JC "%u", n);
      snprintf(appr, sizeof appr, KILL_PREFIX_APPR "/%06u", n);
      mentorlog_grant_params p = {.version = MENTORLOG_GRANT_VERSION, .jobcentre = jc, .reference = ref,
                                  .legal_basis = "KILLBASIS", .start = D("2026-03-02"),
                                  .end = D("2026-08-30"), .minutes_per_week = 60};
      mentorlog_rule_default(&p.rule);
      mentorlog_absence_params a = {.version = MENTORLOG_ABSENCE_VERSION, .from = D("2026-04-06"),
                                    .to = D("2026-04-10"), .kind = MENTORLOG_ABSENCE_HOSPITALISED,
                                    .approved_ref = appr};
      if (mentorlog_grant_open(h, NULL, c, &p) || mentorlog_absence_add(h, NULL, c, &a))
        _exit(6);
    }
    if (mentorlog_batch_commit(h))
      _exit(7);
  }
}

/* SIGKILL in the middle of writes, four times at different moments: the
 * files as the crash left them (a WAL with committed and torn frames), then
 * after recovery, hold no disclosed value. */
static void at_rest_sigkill(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = create(dir);
  week_of_records(h);
  mentorlog_close(h);
  cu_needles fixed = {0};
  cu_needle_str(&fixed, KILL_PREFIX_REF, "a killed writer's reference");
  cu_needle_str(&fixed, KILL_PREFIX_APPR, "a killed writer's approval reference");
  cu_needle_str(&fixed, KILL_PREFIX_JC, "a killed writer's jobcentre");
  cu_needle_str(&fixed, "KILLBASIS", "a killed writer's legal basis");
  cu_needle_str(&fixed, "hospitalised", "absence kind");
  for (int round = 0; round < 4; round++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
      child_writes(dir);
    struct timespec ts = {0, (30 + 50 * round) * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFSIGNALED(st))
      fail_msg("the writer ended by itself (status %d) before it was killed", st);
    assert_int_equal(cu_hits(dir, &fixed), 0); /* as the crash left the files */
    cu_needles ns = {0};
    needles(dir, &ns); /* recovery, and every record committed before the kill */
    assert_int_equal(cu_hits(dir, &ns), 0);
    assert_int_equal(cu_hits(dir, &fixed), 0);
    cu_needles_free(&ns);
  }
  assert_int_equal(mentorlog_open(&h, dir, &(mentorlog_open_options){0}), MLPROTO_ERR_INVALID_ARGUMENT);
  mentorlog_open_options o = pass("correct horse");
  assert_int_equal(mentorlog_open(&h, dir, &o), 0);
  assert_int_equal(mentorlog_verify(h), 0);
  uint64_t recs;
  assert_int_equal(mentorlog_counts(h, &recs, NULL), 0);
  assert_true(recs > 60); /* the writers did write between the kills */
  mentorlog_close(h);
  cu_needles_free(&fixed);
  rmtree(tmpl);
}

/* Records of another author (the mentor's other device) enter through the
 * record store: verified in full, their item derived from what they
 * supersede, sealed at rest, never queued in the outbox. */
static void ingest_other_device(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = create(dir);
  uint8_t c[16];
  assert_int_equal(mentorlog_case_open(h, c, "Citizen Two Devices", NULL), 0);
  uint64_t recs0, out0;
  assert_int_equal(mentorlog_counts(h, &recs0, &out0), 0);

  mlproto_key *other = NULL;
  assert_int_equal(mlproto_key_generate(&other, MLPROTO_KEY_SIGN), 0);
  Mentorlog__V1__ContactDisclosed cd = MENTORLOG__V1__CONTACT_DISCLOSED__INIT;
  cd.start_ms = (uint64_t)T("2026-03-04 09:30");
  cd.duration_minutes = 45;
  cd.channel = MENTORLOG__V1__CHANNEL__CHANNEL_IN_PERSON;
  cd.outcome = MENTORLOG__V1__OUTCOME__OUTCOME_HELD;
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_CONTACT;
  d.contact = &cd;
  mlproto_record_params p = {.seq = 1, .hlc = (uint64_t)T("2026-03-04 10:00") << 16,
                             .kind = MLPROTO_KIND_CONTACT};
  mlproto_random_id(p.record_id);
  memcpy(p.case_id, c, 16);
  uint8_t *e1 = NULL, *e2 = NULL, h1[32];
  size_t l1, l2;
  assert_int_equal(mlproto_record_build(&e1, &l1, h1, &p, &d, NULL, NULL, other), 0);
  uint8_t first[16];
  memcpy(first, p.record_id, 16);
  /* the correction: seq 2, superseding the first */
  cd.duration_minutes = 60;
  p.seq = 2;
  memcpy(p.prev, h1, 32);
  p.hlc += 1 << 16;
  p.n_supersedes = 1;
  p.supersedes = (const uint8_t(*)[16])first;
  mlproto_random_id(p.record_id);
  assert_int_equal(mlproto_record_build(&e2, &l2, NULL, &p, &d, NULL, NULL, other), 0);

  /* out of order: the correction names a record not stored yet; inside a
   * batch the refusal leaves the batch (and the device's own writes) alone */
  mentorlog_contact_params cp = {.version = MENTORLOG_CONTACT_VERSION, .start_ms = T("2026-03-05 10:00"),
                                 .minutes = 30, .channel = MENTORLOG_CHANNEL_PHONE,
                                 .outcome = MENTORLOG_OUTCOME_HELD};
  assert_int_equal(mentorlog_batch_begin(h), 0);
  assert_int_equal(mentorlog_contact_add(h, NULL, c, &cp), 0);
  assert_int_equal(ml__record_ingest(h, e2, l2), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(mentorlog_contact_add(h, NULL, c, &cp), 0);
  assert_int_equal(mentorlog_batch_commit(h), 0);
  recs0 += 2;
  out0 += 2;
  assert_int_equal(ml__record_ingest(h, e2, l2), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(ml__record_ingest(h, e1, l1), 0);
  assert_int_equal(ml__record_ingest(h, e1, l1), MLPROTO_ERR_ALREADY_EXISTS);
  uint8_t *bad = malloc(l2);
  assert_non_null(bad);
  memcpy(bad, e2, l2);
  bad[l2 - 1] ^= 1; /* the disclosed part no longer matches its hash */
  assert_int_not_equal(ml__record_ingest(h, bad, l2), 0);
  free(bad);
  assert_int_equal(ml__record_ingest(h, e2, l2), 0);

  mentorlog_contact *ct;
  size_t n, found = 0;
  assert_int_equal(mentorlog_contacts(h, c, &ct, &n), 0);
  assert_int_equal(n, 3); /* the other device's item, corrected, and the two own */
  for (size_t i = 0; i < n; i++)
    if (!memcmp(ct[i].id, first, 16)) {
      found++;
      assert_memory_equal(ct[i].record, p.record_id, 16);
      assert_int_equal(ct[i].minutes, 60);
      assert_int_equal(ct[i].conflict, 0);
    }
  assert_int_equal(found, 1);
  mentorlog_contacts_free(ct, n);
  uint64_t recs, out;
  assert_int_equal(mentorlog_counts(h, &recs, &out), 0);
  assert_int_equal(recs, recs0 + 2);
  assert_int_equal(out, out0); /* only the device's own records are pushed */
  assert_int_equal(mentorlog_verify(h), 0); /* the device's own chain is untouched */

  /* the device's own record is never ingested */
  uint8_t own[16];
  assert_int_equal(mentorlog_contact_add(h, own, c, &cp), 0);
  uint8_t *oenv, ohash[32];
  size_t olen;
  cu_plain_get(h, own, &oenv, &olen, ohash);
  assert_int_equal(ml__record_ingest(h, oenv, olen), MLPROTO_ERR_INVALID_ARGUMENT);
  free(oenv);

  /* a record of a case erased here is kept erased: header and signature */
  uint8_t c2[16];
  assert_int_equal(mentorlog_case_open(h, c2, "Citizen Erased", NULL), 0);
  assert_int_equal(mentorlog_case_erase(h, c2), 0);
  cd.start_ms = (uint64_t)T("2026-03-06 14:45");
  mlproto_record_params p3 = {.seq = 3, .hlc = p.hlc + (1 << 16), .kind = MLPROTO_KIND_CONTACT};
  mlproto_random_id(p3.record_id);
  memcpy(p3.case_id, c2, 16);
  uint8_t h2[32];
  assert_int_equal(mlproto_record_hash(h2, e2, l2), 0);
  memcpy(p3.prev, h2, 32);
  uint8_t *e3 = NULL;
  size_t l3;
  assert_int_equal(mlproto_record_build(&e3, &l3, NULL, &p3, &d, NULL, NULL, other), 0);
  assert_int_equal(ml__record_ingest(h, e3, l3), 0);
  uint8_t *stored3, hash3[32];
  size_t slen3;
  cu_plain_get(h, p3.record_id, &stored3, &slen3, hash3);
  mlproto_record *r3 = NULL;
  assert_int_equal(mlproto_record_verify(&r3, stored3, slen3), 0); /* still verifies, erased */
  assert_true(r3->flags & MLPROTO_RECORD_DISCLOSED_ERASED);
  assert_null(r3->disclosed);
  mlproto_record_free(r3);
  free(stored3);
  cu_needles gone = {0};
  uint8_t varint[10];
  size_t vn = 0;
  for (uint64_t v = cd.start_ms;; v >>= 7) {
    varint[vn++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    if (v <= 0x7f)
      break;
  }
  cu_needle_add(&gone, varint, vn, "an erased case's contact start");
  mlproto_free(e3);

  /* at rest like the device's own */
  cu_needles ns = {0};
  cu_needles_of_profile(h, &ns);
  mentorlog_close(h);
  assert_int_equal(cu_hits(dir, &ns), 0);
  assert_int_equal(cu_hits(dir, &gone), 0);
  cu_needles_free(&ns);
  cu_needles_free(&gone);
  mlproto_free(e1);
  mlproto_free(e2);
  mlproto_key_free(other);
  rmtree(tmpl);
}

/* Two devices correct one contact offline: two heads. What a void then
 * repeats is the newest head by protocol's order of versions (HLC, author,
 * id), not the one that happened to arrive last: here the other device's
 * older correction is stored after the device's own newer one. */
static void concurrent_heads_order(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = create(dir);
  uint8_t c[16], x[16], y[16], v[16];
  assert_int_equal(mentorlog_case_open(h, c, "Citizen Concurrent", NULL), 0);
  mentorlog_contact_params cp = {.version = MENTORLOG_CONTACT_VERSION, .start_ms = T("2026-03-02 10:00"),
                                 .minutes = 30, .channel = MENTORLOG_CHANNEL_PHONE,
                                 .outcome = MENTORLOG_OUTCOME_HELD};
  assert_int_equal(mentorlog_contact_add(h, x, c, &cp), 0);
  cp.minutes = 40; /* the device's own correction, HLC = now */
  assert_int_equal(mentorlog_contact_correct(h, y, x, &cp), 0);

  mlproto_key *other = NULL;
  assert_int_equal(mlproto_key_generate(&other, MLPROTO_KEY_SIGN), 0);
  Mentorlog__V1__ContactDisclosed cd = MENTORLOG__V1__CONTACT_DISCLOSED__INIT;
  cd.start_ms = (uint64_t)T("2026-03-02 10:00");
  cd.duration_minutes = 70;
  cd.channel = MENTORLOG__V1__CHANNEL__CHANNEL_PHONE;
  cd.outcome = MENTORLOG__V1__OUTCOME__OUTCOME_HELD;
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_CONTACT;
  d.contact = &cd;
  /* the other device's correction of x, written (HLC) in March: older */
  mlproto_record_params p = {.seq = 1, .hlc = (uint64_t)T("2026-03-03 09:00") << 16,
                             .kind = MLPROTO_KIND_CONTACT, .n_supersedes = 1,
                             .supersedes = (const uint8_t(*)[16])x};
  mlproto_random_id(p.record_id);
  memcpy(p.case_id, c, 16);
  uint8_t *e = NULL;
  size_t l;
  assert_int_equal(mlproto_record_build(&e, &l, NULL, &p, &d, NULL, NULL, other), 0);
  assert_int_equal(ml__record_ingest(h, e, l), 0);
  mentorlog_contact *ct;
  size_t n;
  assert_int_equal(mentorlog_contacts(h, c, &ct, &n), 0);
  assert_int_equal(n, 2); /* both heads listed, marked as a conflict */
  assert_int_equal(ct[0].conflict, 1);
  assert_int_equal(ct[1].conflict, 1);
  mentorlog_contacts_free(ct, n);

  assert_int_equal(mentorlog_contact_void(h, v, x, "entered on two devices"), 0);
  uint8_t *venv, vhash[32];
  size_t vlen;
  cu_plain_get(h, v, &venv, &vlen, vhash);
  mlproto_record *r = NULL;
  assert_int_equal(mlproto_record_verify(&r, venv, vlen), 0);
  assert_non_null(r->disclosed);
  assert_true(r->disclosed->contact->voided);
  assert_int_equal(r->disclosed->contact->duration_minutes, 40); /* the newer head's values */
  assert_int_equal(r->n_supersedes, 2);                          /* and both heads superseded */
  mlproto_record_free(r);
  free(venv);
  assert_int_equal(mentorlog_contacts(h, c, &ct, &n), 0);
  assert_int_equal(n, 0);
  mentorlog_contacts_free(ct, n);
  mlproto_free(e);
  mlproto_key_free(other);
  mentorlog_close(h);
  (void)y;
  rmtree(tmpl);
}

static int64_t fixed_clock(void *ctx) { return *(const int64_t *)ctx; }

/* The wall clock is the open options' (version 2): records carry it as
 * their recording time; version-1 options are still accepted. */
static void clock_from_options(void **state) {
  (void)state;
  const char *dir = newdir();
  int64_t now = T("2026-03-04 08:15");
  mentorlog_open_options o = pass("correct horse");
  o.clock_ms = fixed_clock;
  o.clock_ctx = &now;
  mentorlog *h = NULL;
  assert_int_equal(mentorlog_create(&h, dir, &o), 0);
  uint8_t c[16], g[16];
  assert_int_equal(mentorlog_case_open(h, c, "Citizen Clock", NULL), 0);
  grant_of(h, g, c, 0);
  mentorlog_contact_params p = {.version = MENTORLOG_CONTACT_VERSION, .start_ms = T("2026-03-03 10:00"),
                                .minutes = 30, .channel = MENTORLOG_CHANNEL_PHONE,
                                .outcome = MENTORLOG_OUTCOME_HELD};
  assert_int_equal(mentorlog_contact_add(h, NULL, c, &p), 0); /* recorded the next day: in time */
  now = T("2026-03-20 08:15"); /* the clock moves on: a contact of 2 March recorded 18 days later */
  p.start_ms = T("2026-03-02 10:00");
  assert_int_equal(mentorlog_contact_add(h, NULL, c, &p), 0);
  mentorlog_contact *ct;
  size_t n;
  assert_int_equal(mentorlog_contacts(h, c, &ct, &n), 0);
  assert_int_equal(n, 2);
  int late = 0;
  for (size_t i = 0; i < n; i++) {
    if (ct[i].start_ms == T("2026-03-02 10:00")) {
      assert_int_equal(ct[i].recorded_ms, T("2026-03-20 08:15"));
      late += ct[i].late_entry; /* 18 days after: late */
    } else {
      assert_int_equal(ct[i].recorded_ms, T("2026-03-04 08:15"));
      assert_int_equal(ct[i].late_entry, 0);
    }
  }
  assert_int_equal(late, 1);
  mentorlog_contacts_free(ct, n);
  mentorlog_close(h);
  mentorlog_open_options v1 = pass("correct horse");
  v1.version = 1;
  assert_int_equal(mentorlog_open(&h, dir, &v1), 0);
  mentorlog_close(h);
  v1.version = 3;
  assert_int_equal(mentorlog_open(&h, dir, &v1), MLPROTO_ERR_INVALID_ARGUMENT);
  rmtree(tmpl);
}

int main(void) {
  if (getenv("ML_TEST_FILTER"))
    cmocka_set_test_filter(getenv("ML_TEST_FILTER"));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(at_rest_week),
      cmocka_unit_test(at_rest_sigkill),
      cmocka_unit_test(ingest_other_device),
      cmocka_unit_test(concurrent_heads_order),
      cmocka_unit_test(clock_from_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
