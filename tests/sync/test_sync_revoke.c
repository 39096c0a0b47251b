/*
 * test_sync_revoke.c — revocation through the engine, in process
 * (sync_driver.h): three approved devices of a mentor; the administrator
 * revokes one (`admin device revoke`, mls_admin_main, while the server
 * runs). Its next sync's push is refused — the engine FAILs with
 * DEVICE_REVOKED or UNAUTHENTICATED (the test prints which), nothing of
 * its new record reaches the log and the record stays in its outbox. The
 * other two keep syncing and agree; they list the device as revoked and
 * refuse to approve it again; and the case keys are rotated: after the
 * DEVICE_REVOKED event the log holds KEY_GRANTs for every case, none of
 * them sealed to the revoked device's X25519 key, while before it the
 * revoked device had been granted every case key.
 */
#include "sync_driver.h"

#include "mlproto/crypto.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void note(sd_dev *d, const uint8_t c[16], const char *text, uint8_t out[16]) {
  assert_int_equal(mentorlog_note_add(d->h, out, c, text, strlen(text)), 0);
}

/* KEY_GRANTs of the mentor in the log with index in [from, to): how many,
 * and how many seal a key to box (X25519). Also the cases they cover. */
static void grants_in(sd_server *srv, const uint8_t mentor[16], uint64_t from, uint64_t to,
                      const uint8_t box[32], unsigned *n, unsigned *to_box, uint8_t cases[][16],
                      unsigned *ncases) {
  sqlite3 *db = sd_server_db(srv);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db,
                   "SELECT envelope FROM log WHERE mentor_id = ?1 AND kind = ?2 AND idx >= ?3 AND idx < ?4"
                   " ORDER BY idx", -1, &st, NULL), SQLITE_OK);
  sqlite3_bind_blob(st, 1, mentor, 16, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, MLPROTO_KIND_KEY_GRANT);
  sqlite3_bind_int64(st, 3, (int64_t)from);
  sqlite3_bind_int64(st, 4, (int64_t)to);
  *n = *to_box = 0;
  if (ncases) *ncases = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    mlproto_record *r = NULL;
    assert_int_equal(mlproto_record_verify(&r, sqlite3_column_blob(st, 0),
                                           (size_t)sqlite3_column_bytes(st, 0)), 0);
    assert_non_null(r->disclosed);
    assert_int_equal(r->disclosed->payload_case, MENTORLOG__V1__DISCLOSED__PAYLOAD_KEY_GRANT);
    const Mentorlog__V1__KeyGrantDisclosed *g = r->disclosed->key_grant;
    (*n)++;
    for (size_t i = 0; i < g->n_keys; i++)
      if (g->keys[i]->recipient.len == 32 && memcmp(g->keys[i]->recipient.data, box, 32) == 0) (*to_box)++;
    if (ncases) {
      unsigned k = 0;
      while (k < *ncases && memcmp(cases[k], r->case_id, 16)) k++;
      if (k == *ncases && k < 8) memcpy(cases[(*ncases)++], r->case_id, 16);
    }
    mlproto_record_free(r);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

static uint64_t revoked_index(sd_server *srv, const uint8_t mentor[16]) {
  sqlite3 *db = sd_server_db(srv);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT idx FROM log WHERE mentor_id = ?1 AND kind = ?2", -1, &st,
                                      NULL), SQLITE_OK);
  sqlite3_bind_blob(st, 1, mentor, 16, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, MLPROTO_KIND_DEVICE_REVOKED);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  uint64_t idx = (uint64_t)sqlite3_column_int64(st, 0);
  assert_int_equal(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return idx;
}

static int64_t in_log(sd_server *srv, const uint8_t rid[16]) {
  sqlite3 *db = sd_server_db(srv);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM log WHERE record_id = ?1", -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_blob(st, 1, rid, 16, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

static void agree(sd_dev *a, sd_dev *b) {
  uint8_t ha[32], hb[32];
  unsigned la = 0, lb = 0;
  sd_state_hash(a, ha, NULL, &la);
  sd_state_hash(b, hb, NULL, &lb);
  assert_int_equal(la, 0);
  assert_int_equal(lb, 0);
  assert_memory_equal(ha, hb, 32);
}

static void test_revoke(void **state) {
  (void)state;
  sd_clock clock = {(int64_t)time(NULL) * 1000};
  sd_server srv;
  sd_server_open(&srv, &clock, NULL, NULL);
  char mentor[33];
  uint8_t mid[16];
  sd_mentor_add(&srv, "Anna Jensen", mentor);
  assert_int_equal(mlproto_hex_decode(mid, 16, mentor, 32), 0);
  sd_dev a0, a1, a2;
  sd_dev_create(&a0, &srv, &clock, "A0", "10.3.0.1");
  sd_dev_create(&a1, &srv, &clock, "A1", "10.3.0.2");
  sd_dev_create(&a2, &srv, &clock, "A2", "10.3.0.3");
  sd_enroll(&a0, mentor, "phone");
  uint8_t c1[16], c2[16], r[16];
  assert_int_equal(mentorlog_case_open(a0.h, c1, "Bo Nielsen", NULL), 0);
  assert_int_equal(mentorlog_case_open(a0.h, c2, "Dorte Holm", "+45 99 88 77 66"), 0);
  note(&a0, c1, "First meeting at the jobcentre.", r);
  sd_sync_ok(&a0);
  sd_enroll(&a1, mentor, "laptop");
  sd_enroll(&a2, mentor, "tablet");
  sd_sync_ok(&a0);
  sd_approve(&a0, &a1);
  sd_approve(&a0, &a2);
  sd_sync_ok(&a0);
  sd_sync_ok(&a1);
  sd_sync_ok(&a2);
  agree(&a0, &a1);
  agree(&a0, &a2);
  mentorlog_sync_info i1 = sd_status(&a1);
  mentorlog_device *dv = NULL;
  size_t ndv = 0;
  uint8_t box1[32];
  assert_int_equal(mentorlog_devices(a0.h, &dv, &ndv), 0);
  size_t k1 = ndv;
  for (size_t i = 0; i < ndv; i++)
    if (memcmp(dv[i].id, i1.device_id, 16) == 0) k1 = i;
  assert_true(k1 < ndv);
  memcpy(box1, dv[k1].box_pub, 32);
  mentorlog_devices_free(dv, ndv);
  /* before the revocation A1 was granted both case keys */
  unsigned n = 0, to1 = 0, nc = 0;
  uint8_t cases[8][16];
  grants_in(&srv, mid, 0, UINT64_MAX >> 1, box1, &n, &to1, cases, &nc);
  assert_true(to1 >= 2);

  sd_device_revoke(&srv, i1.device_id);
  uint64_t ridx = revoked_index(&srv, mid);

  /* A1 goes on writing offline, then syncs: refused */
  uint8_t late[16];
  note(&a1, c1, "Written by the revoked laptop.", late);
  uint64_t rec_before, out_before;
  assert_int_equal(mentorlog_counts(a1.h, &rec_before, &out_before), 0);
  assert_true(out_before >= 1);
  int rc = sd_sync(&a1, NULL, NULL, 0);
  print_message("revoked device's sync: %s\n", sd_describe(&a1));
  if (rc != MENTORLOG_ERR_DEVICE_REVOKED && rc != MENTORLOG_ERR_UNAUTHENTICATED)
    fail_msg("expected DEVICE_REVOKED or UNAUTHENTICATED, got %s", sd_describe(&a1));
  assert_int_equal(in_log(&srv, late), 0);
  uint64_t rec_after, out_after;
  assert_int_equal(mentorlog_counts(a1.h, &rec_after, &out_after), 0);
  assert_int_equal(rec_after, rec_before);
  assert_int_equal(out_after, out_before); /* nothing lost either */
  /* and again: still refused, the same way */
  int rc2 = sd_sync(&a1, NULL, NULL, 0);
  assert_int_equal(rc2, rc);

  /* the others keep syncing; they learn of the revocation */
  sd_sync_ok(&a0);
  sd_sync_ok(&a2);
  sd_sync_ok(&a0);
  assert_int_equal(mentorlog_devices(a2.h, &dv, &ndv), 0);
  int seen = 0;
  for (size_t i = 0; i < ndv; i++)
    if (memcmp(dv[i].id, i1.device_id, 16) == 0) {
      assert_true(dv[i].revoked);
      seen = 1;
    }
  mentorlog_devices_free(dv, ndv);
  assert_true(seen);
  char fp[MENTORLOG_FINGERPRINT_LEN + 1];
  assert_int_equal(mentorlog_fingerprint(a1.h, fp), 0);
  assert_int_equal(mentorlog_device_approve(a0.h, i1.device_id, fp), MENTORLOG_ERR_DEVICE_REVOKED);

  /* records written after the revocation reach the others */
  uint8_t after0[16], after2[16];
  note(&a0, c1, "After the laptop was lost.", after0);
  note(&a2, c2, "Tablet note after the revocation.", after2);
  sd_sync_ok(&a0);
  sd_sync_ok(&a2);
  sd_sync_ok(&a0);
  sd_sync_ok(&a2);
  assert_int_equal(in_log(&srv, after0), 1);
  assert_int_equal(in_log(&srv, after2), 1);
  agree(&a0, &a2);
  int present = 0;
  assert_int_equal(mentorlog_has_record(a2.h, after0, &present), 0);
  assert_true(present);

  /* rotation: new grants for every case after the revocation, none to A1 */
  uint8_t rc_cases[8][16];
  unsigned rn = 0;
  grants_in(&srv, mid, ridx + 1, UINT64_MAX >> 1, box1, &n, &to1, rc_cases, &rn);
  print_message("after the revocation: %u KEY_GRANT records for %u cases, %u sealed to the revoked device\n",
                n, rn, to1);
  assert_int_equal(to1, 0);
  assert_int_equal(rn, nc); /* every case's key was rotated */
  mentorlog_sync_info i0 = sd_status(&a0), i2 = sd_status(&a2);
  assert_int_equal(i0.pending_grants, 0);
  assert_int_equal(i2.pending_grants, 0);
  assert_int_equal(i0.cases_locked, 0);
  assert_int_equal(i2.cases_locked, 0);

  sd_dev_close(&a0);
  sd_dev_close(&a1);
  sd_dev_close(&a2);
  sd_server_close(&srv);
}

int main(void) {
  if (mlproto_crypto_init()) return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_revoke)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
