/*
 * test_sync_tls.c — the sync engine against the REAL mentorlog-server over
 * TLS (sync_net.h: tools/netclient with the server pinned, the CLI's retry
 * policy). Two devices of one mentor and one of another:
 *
 *  - the second device of the mentor, enrolled but not approved, syncs and
 *    reads no name, no note and no contact note (the test prints whether
 *    the library answers with NULL texts or NO_CASE_KEY);
 *  - the first device lists it with the fingerprint the second shows,
 *    approves it; after a sync on both the second reads everything, and
 *    after both wrote more and synced, the two show the same derived state
 *    (sync_state.h) and hold the same records;
 *  - the other mentor's device holds none of their records, nor they one
 *    of its (checked against the server's log);
 *  - revoked by the administrator, the second device's next sync is
 *    refused and nothing of it reaches the log; the first syncs on, rotates
 *    the case key, and a note it writes then (as the server stores it)
 *    opens under none of the revoked device's keys.
 */
#include "sync_net.h"
#include "records_int.h" /* client-core: which key a device holds */
#include "sync_state.h"

#include "mlproto/crypto.h"
#include "mlproto/merkle.h"
#include "mlproto/util.h"

typedef struct env {
  ih_server s;
  char ma[40], mb[40];
  uint8_t ma_id[16], mb_id[16];
  sn_dev a1, a2, b1;
  uint8_t case1[16];
} env;

static void contact(sn_dev *d, const uint8_t c[16], int64_t start, const char *note) {
  mentorlog_contact_params p = MENTORLOG_CONTACT_PARAMS_INIT;
  p.start_ms = start;
  p.minutes = 60;
  p.channel = MENTORLOG_CHANNEL_HOME_VISIT;
  p.outcome = MENTORLOG_OUTCOME_HELD;
  p.transport_minutes = 20;
  p.note = note;
  assert_int_equal(mentorlog_contact_add(d->h, NULL, c, &p), 0);
}

static void note(sn_dev *d, const uint8_t c[16], const char *t) {
  assert_int_equal(mentorlog_note_add(d->h, NULL, c, t, strlen(t)), 0);
}

/* Every record of mentor (server's log) is on d (want 1) or none is (0). */
typedef struct holds_ud {
  const uint8_t *mentor;
  sn_dev *d;
  int want;
  unsigned n;
} holds_ud;

static int holds_fn(void *ud, const mls_log_entry *e) {
  holds_ud *h = ud;
  if (e->type != MLPROTO_LOG_DEVICE_RECORD || !e->has_mentor || memcmp(e->mentor_id, h->mentor, 16) != 0)
    return 0;
  int present = -1;
  assert_int_equal(mentorlog_has_record(h->d->h, e->record_id, &present), 0);
  if (present != h->want)
    fail_msg("%s %s record at log index %llu", h->d->name, h->want ? "lacks" : "holds",
             (unsigned long long)e->index);
  h->n++;
  return 0;
}

static unsigned holds_mentor_records(ih_server *s, const uint8_t mentor[16], sn_dev *d, int want) {
  holds_ud h = {.mentor = mentor, .d = d, .want = want};
  t_log_each(s->store, holds_fn, &h);
  return h.n;
}

/* The record of record_id as the server stores it, verified. */
typedef struct envelope_of_ud {
  const uint8_t *record_id;
  int found;
  mlproto_record *rec;
} envelope_of_ud;

static int envelope_of_fn(void *ud, const mls_log_entry *e) {
  envelope_of_ud *o = ud;
  if (memcmp(e->record_id, o->record_id, 16) != 0) return 0;
  o->found++;
  mlproto_record_free(o->rec);
  o->rec = NULL;
  assert_int_equal(mlproto_record_verify(&o->rec, e->envelope, e->envelope_len), 0);
  return 0;
}

static void test_two_devices_and_a_stranger(void **state) {
  (void)state;
  env *v = calloc(1, sizeof *v);
  assert_non_null(v);
  ih_start(&v->s, NULL);
  const char *ma[] = {"mentor", "add", "Anna Jensen", NULL};
  const char *mb[] = {"mentor", "add", "Bo Hansen", NULL};
  assert_int_equal(ih_admin(&v->s, v->ma, sizeof v->ma, ma), 0);
  assert_int_equal(ih_admin(&v->s, v->mb, sizeof v->mb, mb), 0);
  assert_int_equal(mlproto_hex_decode(v->ma_id, 16, v->ma, 32), 0);
  assert_int_equal(mlproto_hex_decode(v->mb_id, 16, v->mb, 32), 0);
  sn_dev_create(&v->a1, v->s.root, "a1", NULL);
  sn_dev_create(&v->a2, v->s.root, "a2", NULL);
  sn_dev_create(&v->b1, v->s.root, "b1", NULL);
  int64_t now = sn_wall_ms();

  /* the first device: needs no approval */
  sn_enroll(&v->a1, &v->s, v->ma, "Anna's phone");
  assert_int_equal(mentorlog_case_open(v->a1.h, v->case1, "Carla Madsen", "+45 11 22 33 44"), 0);
  contact(&v->a1, v->case1, now - 3 * 86400000LL, "Talked about the CV");
  note(&v->a1, v->case1, "Wants to try the warehouse job.");
  sn_sync_ok(&v->a1);
  assert_true(sn_status(&v->a1).approved);

  /* the second: enrolled, not approved, reads nothing */
  sn_enroll(&v->a2, &v->s, v->ma, "Anna's laptop");
  sn_sync_ok(&v->a2);
  mentorlog_sync_info i2 = sn_status(&v->a2);
  assert_false(i2.approved);
  assert_true(i2.cases_locked >= 1);
  mentorlog_case *cs = NULL;
  size_t nc = 0;
  assert_int_equal(mentorlog_cases(v->a2.h, &cs, &nc), 0);
  assert_int_equal(nc, 1);
  assert_memory_equal(cs[0].id, v->case1, 16);
  assert_null(cs[0].name);
  assert_null(cs[0].phone);
  mentorlog_cases_free(cs, nc);
  mentorlog_note *ns = NULL;
  size_t nn = 0;
  int rc = mentorlog_notes(v->a2.h, v->case1, &ns, &nn);
  if (rc == 0) {
    for (size_t i = 0; i < nn; i++) assert_null(ns[i].text);
    print_message("unapproved device: mentorlog_notes OK, %zu notes, every text NULL\n", nn);
    mentorlog_notes_free(ns, nn);
  } else {
    assert_int_equal(rc, MENTORLOG_ERR_NO_CASE_KEY);
    assert_null(ns);
    print_message("unapproved device: mentorlog_notes fails with NO_CASE_KEY (%s)\n", mentorlog_errmsg(v->a2.h));
  }
  mentorlog_contact *ct = NULL;
  size_t nt = 0;
  rc = mentorlog_contacts(v->a2.h, v->case1, &ct, &nt);
  if (rc == 0) {
    for (size_t i = 0; i < nt; i++) assert_null(ct[i].note);
    print_message("unapproved device: mentorlog_contacts OK, %zu contacts, every note NULL\n", nt);
    mentorlog_contacts_free(ct, nt);
  } else {
    assert_int_equal(rc, MENTORLOG_ERR_NO_CASE_KEY);
    print_message("unapproved device: mentorlog_contacts fails with NO_CASE_KEY\n");
  }
  /* it cannot approve anyone */
  char fp1[MENTORLOG_FINGERPRINT_LEN + 1];
  assert_int_equal(mentorlog_fingerprint(v->a1.h, fp1), 0);
  mentorlog_sync_info i1 = sn_status(&v->a1);
  assert_int_equal(mentorlog_device_approve(v->a2.h, i1.device_id, fp1), MENTORLOG_ERR_NO_CASE_KEY);

  /* the other mentor */
  sn_enroll(&v->b1, &v->s, v->mb, "Bo's phone");
  uint8_t cb[16];
  assert_int_equal(mentorlog_case_open(v->b1.h, cb, "Dorte Holm", NULL), 0);
  note(&v->b1, cb, "Another mentor's note.");
  sn_sync_ok(&v->b1);

  /* approval: the first device learns the second, fingerprints compared */
  sn_sync_ok(&v->a1);
  i1 = sn_status(&v->a1);
  assert_int_equal(i1.pending_approvals, 1);
  char fp2[MENTORLOG_FINGERPRINT_LEN + 1];
  assert_int_equal(mentorlog_fingerprint(v->a2.h, fp2), 0);
  assert_string_equal(sn_status(&v->a2).fingerprint, fp2);
  mentorlog_device *dv = NULL;
  size_t ndv = 0;
  assert_int_equal(mentorlog_devices(v->a1.h, &dv, &ndv), 0);
  assert_int_equal(ndv, 2);
  size_t k = dv[0].self ? 1 : 0;
  assert_true(dv[1 - k].self);
  assert_memory_equal(dv[k].id, i2.device_id, 16);
  assert_string_equal(dv[k].fingerprint, fp2);
  assert_false(dv[k].approved);
  /* a wrong fingerprint is refused */
  char bad[MENTORLOG_FINGERPRINT_LEN + 1];
  memcpy(bad, fp2, sizeof bad);
  bad[0] = bad[0] == 'A' ? 'B' : 'A';
  assert_int_equal(mentorlog_device_approve(v->a1.h, dv[k].id, bad), MENTORLOG_ERR_FINGERPRINT_MISMATCH);
  assert_int_equal(mentorlog_device_approve(v->a1.h, dv[k].id, fp2), 0);
  mentorlog_devices_free(dv, ndv);
  sn_sync_ok(&v->a1);
  assert_true(v->a1.progress.grants_written >= 1 || sn_status(&v->a1).pending_grants == 0);
  sn_sync_ok(&v->a2);
  i2 = sn_status(&v->a2);
  assert_true(i2.approved);
  assert_int_equal(i2.cases_locked, 0);
  assert_int_equal(mentorlog_notes(v->a2.h, v->case1, &ns, &nn), 0);
  assert_int_equal(nn, 1);
  assert_string_equal(ns[0].text, "Wants to try the warehouse job.");
  mentorlog_notes_free(ns, nn);

  /* both write, both sync: agreement */
  note(&v->a2, v->case1, "Laptop: application sent.");
  contact(&v->a1, v->case1, now - 86400000LL, NULL);
  sn_sync_ok(&v->a2);
  sn_sync_ok(&v->a1);
  sn_sync_ok(&v->a2);
  uint8_t h1[32], h2[32];
  unsigned l1 = 9, l2 = 9;
  sd_state_hash_of(v->a1.h, "a1", h1, NULL, &l1);
  sd_state_hash_of(v->a2.h, "a2", h2, NULL, &l2);
  assert_int_equal(l1, 0);
  assert_int_equal(l2, 0);
  assert_memory_equal(h1, h2, 32);
  uint64_t r1, o1, r2, o2;
  assert_int_equal(mentorlog_counts(v->a1.h, &r1, &o1), 0);
  assert_int_equal(mentorlog_counts(v->a2.h, &r2, &o2), 0);
  assert_int_equal(r1, r2);
  assert_int_equal(o1, 0);
  assert_int_equal(o2, 0);
  unsigned na = holds_mentor_records(&v->s, v->ma_id, &v->a1, 1);
  assert_int_equal(holds_mentor_records(&v->s, v->ma_id, &v->a2, 1), na);
  assert_true(na >= 6);

  /* isolation, both ways */
  sn_sync_ok(&v->b1);
  holds_mentor_records(&v->s, v->ma_id, &v->b1, 0);
  holds_mentor_records(&v->s, v->mb_id, &v->a1, 0);
  holds_mentor_records(&v->s, v->mb_id, &v->a2, 0);
  assert_int_equal(mentorlog_cases(v->b1.h, &cs, &nc), 0);
  assert_int_equal(nc, 1);
  assert_memory_equal(cs[0].id, cb, 16);
  mentorlog_cases_free(cs, nc);
  assert_int_equal(sn_status(&v->b1).devices, 1);

  /* revocation: the second device's sync is refused, the first goes on */
  char hex[33], out[256];
  mlproto_hex_encode(hex, i2.device_id, 16);
  const char *rv[] = {"device", "revoke", hex, NULL};
  assert_int_equal(ih_admin(&v->s, out, sizeof out, rv), 0);
  note(&v->a2, v->case1, "After the revocation.");
  uint64_t size_before = t_log_size(v->s.store);
  rc = sn_run(&v->a2, NULL, 0);
  print_message("revoked device over TLS: %s\n", sn_describe(&v->a2));
  if (rc != MENTORLOG_ERR_DEVICE_REVOKED && rc != MENTORLOG_ERR_UNAUTHENTICATED)
    fail_msg("expected DEVICE_REVOKED or UNAUTHENTICATED: %s", sn_describe(&v->a2));
  assert_int_equal(t_log_size(v->s.store), size_before);
  assert_int_equal(mentorlog_counts(v->a2.h, &r2, &o2), 0);
  assert_int_equal(o2, 1);
  sn_sync_ok(&v->a1);
  /* the first device rotated the case key when it learnt the revocation:
   * a note it writes now, as the server stores it, does not open under any
   * key the revoked device holds, and opens under the first device's newest */
  uint8_t rn[16];
  assert_int_equal(mentorlog_note_add(v->a1.h, rn, v->case1, "Sealed under the new key.", 25), 0);
  sn_sync_ok(&v->a1);
  envelope_of_ud eo = {.record_id = rn};
  t_log_each(v->s.store, envelope_of_fn, &eo);
  assert_int_equal(eo.found, 1);
  mlproto_record *rec = eo.rec;
  int64_t gens[8];
  size_t ng = 0;
  assert_int_equal(ml__casekey_gens(v->a2.h, v->case1, gens, 8, &ng), 0);
  assert_true(ng >= 1);
  for (size_t g = 0; g < ng; g++) {
    const mlproto_key *kg = NULL;
    mlproto_sealed *sl = NULL;
    assert_int_equal(ml__casekey_gen(v->a2.h, v->case1, gens[g], &kg), 0);
    assert_int_equal(mlproto_record_open_sealed(&sl, rec, kg), MLPROTO_ERR_SEAL_OPEN_FAILED);
  }
  size_t ng1 = 0;
  assert_int_equal(ml__casekey_gens(v->a1.h, v->case1, gens, 8, &ng1), 0);
  assert_int_equal(ng1, ng + 1);
  const mlproto_key *k1 = NULL;
  mlproto_sealed *sl1 = NULL;
  assert_int_equal(ml__casekey(v->a1.h, v->case1, &k1), 0);
  assert_int_equal(mlproto_record_open_sealed(&sl1, rec, k1), 0);
  mlproto_sealed_free(sl1);
  mlproto_record_free(rec);
  print_message("after the revocation: %zu key generation(s) on the revoked device, %zu on the first; "
                "its new note opens under none of the revoked device's\n", ng, ng1);

  sn_dev_close(&v->a1);
  sn_dev_close(&v->a2);
  sn_dev_close(&v->b1);
  ih_stop(&v->s); /* also removes the profiles under its root */
  free(v);
}

int main(void) {
  if (mlproto_crypto_init()) return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test_teardown(test_two_devices_and_a_stranger, ih_teardown)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
