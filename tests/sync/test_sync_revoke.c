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
 * revoked device had been granted every case key. A second case revokes
 * the device the moment its engine sends a push, so that the push itself
 * (with a valid session token) is what the server refuses.
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
 * and how many seal a key to box (X25519). Also the cases they cover.
 * The log is read through the store contract (test_store.h). */
typedef struct grants_ud {
  t_log_filter f;
  const uint8_t *box;
  unsigned *n, *to_box, *ncases;
  uint8_t (*cases)[16];
} grants_ud;

static int grants_fn(void *ud, const mls_log_entry *e) {
  grants_ud *u = ud;
  if (!t_log_match(&u->f, e)) return 0;
  mlproto_record *r = NULL;
  assert_int_equal(mlproto_record_verify(&r, e->envelope, e->envelope_len), 0);
  assert_non_null(r->disclosed);
  assert_int_equal(r->disclosed->payload_case, MENTORLOG__V1__DISCLOSED__PAYLOAD_KEY_GRANT);
  const Mentorlog__V1__KeyGrantDisclosed *g = r->disclosed->key_grant;
  (*u->n)++;
  for (size_t i = 0; i < g->n_keys; i++)
    if (g->keys[i]->recipient.len == 32 && memcmp(g->keys[i]->recipient.data, u->box, 32) == 0)
      (*u->to_box)++;
  if (u->ncases) {
    unsigned k = 0;
    while (k < *u->ncases && memcmp(u->cases[k], r->case_id, 16)) k++;
    if (k == *u->ncases && k < 8) memcpy(u->cases[(*u->ncases)++], r->case_id, 16);
  }
  mlproto_record_free(r);
  return 0;
}

static void grants_in(sd_server *srv, const uint8_t mentor[16], uint64_t from, uint64_t to,
                      const uint8_t box[32], unsigned *n, unsigned *to_box, uint8_t cases[][16],
                      unsigned *ncases) {
  grants_ud u = {.f = T_LOG_ALL, .box = box, .n = n, .to_box = to_box, .ncases = ncases,
                 .cases = cases};
  u.f.mentor_id = mentor;
  u.f.kind = MLPROTO_KIND_KEY_GRANT;
  u.f.from = (int64_t)from;
  u.f.to = (int64_t)to;
  *n = *to_box = 0;
  if (ncases) *ncases = 0;
  t_log_each(srv->store, grants_fn, &u);
}

/* The index of the mentor's one DEVICE_REVOKED event. */
typedef struct revoked_ud {
  t_log_filter f;
  unsigned n;
  uint64_t idx;
} revoked_ud;

static int revoked_fn(void *ud, const mls_log_entry *e) {
  revoked_ud *u = ud;
  if (t_log_match(&u->f, e)) {
    u->n++;
    u->idx = e->index;
  }
  return 0;
}

static uint64_t revoked_index(sd_server *srv, const uint8_t mentor[16]) {
  revoked_ud u = {.f = T_LOG_ALL};
  u.f.mentor_id = mentor;
  u.f.kind = MLPROTO_KIND_DEVICE_REVOKED;
  t_log_each(srv->store, revoked_fn, &u);
  assert_int_equal(u.n, 1);
  return u.idx;
}

static int64_t in_log(sd_server *srv, const uint8_t rid[16]) {
  t_log_filter f = T_LOG_ALL;
  f.record_id = rid;
  return (int64_t)t_log_count(srv->store, &f);
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

typedef struct rfx {
  sd_clock clock;
  sd_server srv;
  char mentor[33];
  uint8_t mid[16];
  sd_dev a0, a1, a2;
  uint8_t c1[16], c2[16];
  uint8_t a1_id[16];   /* A1's device id */
  uint8_t box1[32];    /* A1's X25519 key */
  unsigned ncases;     /* cases whose keys A1 was granted */
  uint64_t ridx;       /* log index of the DEVICE_REVOKED event */
} rfx;

/* Three approved devices of a mentor, two cases, all in agreement; then
 * the administrator revokes A1. */
static int setup(void **state) {
  rfx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  *state = f;
  f->clock.now_ms = (int64_t)time(NULL) * 1000; /* codes are dated by the admin's wall clock */
  sd_server_open(&f->srv, &f->clock, NULL, NULL);
  sd_mentor_add(&f->srv, "Anna Jensen", f->mentor);
  assert_int_equal(mlproto_hex_decode(f->mid, 16, f->mentor, 32), 0);
  sd_dev_create(&f->a0, &f->srv, &f->clock, "A0", "10.3.0.1");
  sd_dev_create(&f->a1, &f->srv, &f->clock, "A1", "10.3.0.2");
  sd_dev_create(&f->a2, &f->srv, &f->clock, "A2", "10.3.0.3");
  sd_enroll(&f->a0, f->mentor, "phone");
  uint8_t r[16];
  assert_int_equal(mentorlog_case_open(f->a0.h, f->c1, "Bo Nielsen", NULL), 0);
  assert_int_equal(mentorlog_case_open(f->a0.h, f->c2, "Dorte Holm", "+45 99 88 77 66"), 0);
  note(&f->a0, f->c1, "First meeting at the jobcentre.", r);
  sd_sync_ok(&f->a0);
  sd_enroll(&f->a1, f->mentor, "laptop");
  sd_enroll(&f->a2, f->mentor, "tablet");
  sd_sync_ok(&f->a0);
  sd_approve(&f->a0, &f->a1);
  sd_approve(&f->a0, &f->a2);
  sd_sync_ok(&f->a0);
  sd_sync_ok(&f->a1);
  sd_sync_ok(&f->a2);
  agree(&f->a0, &f->a1);
  agree(&f->a0, &f->a2);
  mentorlog_sync_info i1 = sd_status(&f->a1);
  memcpy(f->a1_id, i1.device_id, 16);
  mentorlog_device *dv = NULL;
  size_t ndv = 0;
  assert_int_equal(mentorlog_devices(f->a0.h, &dv, &ndv), 0);
  size_t k1 = ndv;
  for (size_t i = 0; i < ndv; i++)
    if (memcmp(dv[i].id, f->a1_id, 16) == 0) k1 = i;
  assert_true(k1 < ndv);
  memcpy(f->box1, dv[k1].box_pub, 32);
  mentorlog_devices_free(dv, ndv);
  /* before the revocation A1 was granted both case keys */
  unsigned n = 0, to1 = 0;
  uint8_t cases[8][16];
  grants_in(&f->srv, f->mid, 0, UINT64_MAX >> 1, f->box1, &n, &to1, cases, &f->ncases);
  assert_int_equal(f->ncases, 2);
  assert_true(to1 >= 2);
  return 0;
}

static void revoke(rfx *f) {
  sd_device_revoke(&f->srv, f->a1_id);
  f->ridx = revoked_index(&f->srv, f->mid);
}

/* Revokes A1 the moment its engine sends its first push (it holds a valid
 * session token by then), then carries the push. */
static void revoke_before_push(void *ctx, sd_dev *d, const mentorlog_sync_action *act, sd_answer *out) {
  rfx *f = ctx;
  if (!f->ridx && strcmp(act->path, "/v1/push") == 0) revoke(f);
  sd_exchange(d->srv, d->peer, act, out);
}

static int teardown(void **state) {
  rfx *f = *state;
  sd_dev_close(&f->a0);
  sd_dev_close(&f->a1);
  sd_dev_close(&f->a2);
  sd_server_close(&f->srv);
  free(f);
  return 0;
}

/* The revoked device's push is refused; nothing of it reaches the log; the
 * others keep syncing, learn of the revocation and agree. */
static void test_revoked_push_refused(void **state) {
  rfx *f = *state;
  revoke(f);
  uint8_t late[16];
  note(&f->a1, f->c1, "Written by the revoked laptop.", late);
  uint64_t rec_before, out_before;
  assert_int_equal(mentorlog_counts(f->a1.h, &rec_before, &out_before), 0);
  assert_true(out_before >= 1);
  int rc = sd_sync(&f->a1, NULL, NULL, 0);
  print_message("the revoked device's sync: %s\n", sd_describe(&f->a1));
  if (rc != MENTORLOG_ERR_DEVICE_REVOKED && rc != MENTORLOG_ERR_UNAUTHENTICATED)
    fail_msg("expected DEVICE_REVOKED or UNAUTHENTICATED, got %s", sd_describe(&f->a1));
  assert_int_equal(in_log(&f->srv, late), 0);
  uint64_t rec_after, out_after;
  assert_int_equal(mentorlog_counts(f->a1.h, &rec_after, &out_after), 0);
  assert_int_equal(rec_after, rec_before);
  assert_int_equal(out_after, out_before); /* nothing lost either */
  /* and again: refused the same way */
  assert_int_equal(sd_sync(&f->a1, NULL, NULL, 0), rc);

  sd_sync_ok(&f->a0);
  sd_sync_ok(&f->a2);
  sd_sync_ok(&f->a0);
  mentorlog_device *dv = NULL;
  size_t ndv = 0;
  assert_int_equal(mentorlog_devices(f->a2.h, &dv, &ndv), 0);
  int seen = 0;
  for (size_t i = 0; i < ndv; i++)
    if (memcmp(dv[i].id, f->a1_id, 16) == 0) {
      assert_true(dv[i].revoked);
      seen = 1;
    }
  mentorlog_devices_free(dv, ndv);
  assert_true(seen);
  char fp[MENTORLOG_FINGERPRINT_LEN + 1];
  assert_int_equal(mentorlog_fingerprint(f->a1.h, fp), 0);
  assert_int_equal(mentorlog_device_approve(f->a0.h, f->a1_id, fp), MENTORLOG_ERR_DEVICE_REVOKED);

  uint8_t after0[16], after2[16];
  note(&f->a0, f->c1, "After the laptop was lost.", after0);
  note(&f->a2, f->c2, "Tablet note after the revocation.", after2);
  sd_sync_ok(&f->a0);
  sd_sync_ok(&f->a2);
  sd_sync_ok(&f->a0);
  sd_sync_ok(&f->a2);
  assert_int_equal(in_log(&f->srv, after0), 1);
  assert_int_equal(in_log(&f->srv, after2), 1);
  agree(&f->a0, &f->a2);
  int present = 0;
  assert_int_equal(mentorlog_has_record(f->a2.h, after0, &present), 0);
  assert_true(present);
  /* no grant to the revoked device after its revocation */
  unsigned n = 0, to1 = 0;
  grants_in(&f->srv, f->mid, f->ridx + 1, UINT64_MAX >> 1, f->box1, &n, &to1, NULL, NULL);
  assert_int_equal(to1, 0);
}

/* Revoked while it syncs: the session is open, the push goes out and is
 * refused (401), the engine asks for a new session and is refused too. */
static void test_revoked_mid_sync(void **state) {
  rfx *f = *state;
  uint8_t late[16];
  note(&f->a1, f->c2, "Written just before the revocation.", late);
  int rc = sd_sync(&f->a1, revoke_before_push, f, 0);
  print_message("revoked at its push: %s\n", sd_describe(&f->a1));
  assert_true(f->ridx > 0);
  if (rc != MENTORLOG_ERR_DEVICE_REVOKED && rc != MENTORLOG_ERR_UNAUTHENTICATED)
    fail_msg("expected DEVICE_REVOKED or UNAUTHENTICATED, got %s", sd_describe(&f->a1));
  assert_int_equal(in_log(&f->srv, late), 0);
  uint64_t records, outbox;
  assert_int_equal(mentorlog_counts(f->a1.h, &records, &outbox), 0);
  assert_true(outbox >= 1);
  sd_sync_ok(&f->a0);
  sd_sync_ok(&f->a2);
  agree(&f->a0, &f->a2);
}

/* DESIGN §4 / issue 10: the remaining devices rotate the case keys the
 * revoked device held, so records written after the revocation are sealed
 * under keys it never had: after the DEVICE_REVOKED event the log holds a
 * KEY_GRANT for every case, none of them sealed to the revoked device. */
static void test_revoked_keys_rotated(void **state) {
  rfx *f = *state;
  revoke(f);
  uint8_t after0[16], after2[16];
  sd_sync_ok(&f->a0);
  sd_sync_ok(&f->a2);
  note(&f->a0, f->c1, "After the laptop was lost.", after0);
  note(&f->a2, f->c2, "Tablet note after the revocation.", after2);
  sd_sync_ok(&f->a0);
  sd_sync_ok(&f->a2);
  sd_sync_ok(&f->a0);
  sd_sync_ok(&f->a2);
  agree(&f->a0, &f->a2);
  unsigned n = 0, to1 = 0, rn = 0;
  uint8_t cases[8][16];
  grants_in(&f->srv, f->mid, f->ridx + 1, UINT64_MAX >> 1, f->box1, &n, &to1, cases, &rn);
  print_message("after the revocation: %u KEY_GRANT records for %u of %u cases, %u sealed to the revoked device\n",
                n, rn, f->ncases, to1);
  assert_int_equal(to1, 0);
  assert_int_equal(rn, f->ncases); /* every case's key was rotated */
  mentorlog_sync_info i0 = sd_status(&f->a0), i2 = sd_status(&f->a2);
  assert_int_equal(i0.pending_grants, 0);
  assert_int_equal(i2.pending_grants, 0);
}

int main(void) {
  if (mlproto_crypto_init()) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_revoked_push_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_revoked_mid_sync, setup, teardown),
      cmocka_unit_test_setup_teardown(test_revoked_keys_rotated, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
