/*
 * test_sync_push.c — push/pull semantics against the real server process
 * over real TLS: every refusal with its specific code and no change to the
 * log, idempotent resend, fork, replay in a new session, revocation and
 * enrolment by the admin command while the server runs, pull, proofs, and
 * no mentor name in the server's log.
 */
#include "testutil.h"

#include "test_sync_util.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"

typedef struct env {
  ih_server s;
  sc c;
  char mentor_a[40], mentor_b[40];
} env;

static uint8_t *push_body(uint8_t *e, size_t l, size_t *len) { return sim_push_body(&e, &l, 1, len); }

/* Pushes body as d; returns status and the error name (or "" on 200). */
static int push(env *v, sim_dev *d, const uint8_t *body, size_t len, char name[64], mlproto_sth *sth) {
  int st;
  uint8_t *rb;
  size_t rl;
  assert_int_equal(sc_call(&v->c, "POST", "/v1/push", d->token, body, len, &st, &rb, &rl), 0);
  name[0] = 0;
  if (st != 200) sim_error_code(rb, rl, name);
  else if (sth) assert_int_equal(sc_sth(rb, rl, MLPROTO_MSG_PUSH_RESPONSE, sth), 0);
  free(rb);
  return st;
}

static mlproto_sth get_sth(env *v) {
  int st;
  uint8_t *rb;
  size_t rl;
  mlproto_sth s;
  assert_int_equal(sc_call(&v->c, "GET", "/v1/log/sth", NULL, NULL, 0, &st, &rb, &rl), 0);
  assert_int_equal(st, 200);
  assert_int_equal(sc_sth(rb, rl, MLPROTO_MSG_SIGNED_TREE_HEAD, &s), 0);
  free(rb);
  return s;
}

static void refused(env *v, sim_dev *d, uint8_t *e, size_t l, const char *code) {
  mlproto_sth before = get_sth(v);
  size_t len;
  uint8_t *b = push_body(e, l, &len);
  char name[64];
  int st = push(v, d, b, len, name, NULL);
  free(b);
  assert_string_equal(name, code);
  assert_int_equal(st, mlproto_http_status(mlproto_errcode(code)));
  mlproto_sth after = get_sth(v);
  assert_int_equal(after.size, before.size);
  assert_memory_equal(after.root, before.root, 32);
}

static void test_sync_over_tls(void **state) {
  (void)state;
  env v;
  memset(&v, 0, sizeof v);
  assert_int_equal(ih_server_init(&v.s, NULL), 0);
  assert_int_equal(ih_server_start(&v.s), 0);
  sc_init(&v.c, &v.s);
  const char *ma[] = {"mentor", "add", "Anna Jensen", NULL};
  const char *mb[] = {"mentor", "add", "Bo Hansen", NULL};
  assert_int_equal(ih_admin(&v.s, v.mentor_a, sizeof v.mentor_a, ma), 0);
  assert_int_equal(ih_admin(&v.s, v.mentor_b, sizeof v.mentor_b, mb), 0);
  char fp[80];
  const char *fpa[] = {"fingerprint", NULL};
  assert_int_equal(ih_admin(&v.s, fp, sizeof fp, fpa), 0);
  assert_string_equal(fp, v.s.fingerprint);

  sim_dev d, d2, b;
  sim_dev_init(&d);
  sim_dev_init(&d2);
  sim_dev_init(&b);
  assert_int_equal(sc_device_up(&v.c, &d, v.mentor_a), 0);
  assert_int_equal(sc_device_up(&v.c, &d2, v.mentor_a), 0);
  assert_int_equal(sc_device_up(&v.c, &b, v.mentor_b), 0);

  uint8_t case_a[16], case_b[16], h[32];
  mlproto_random_id(case_a);
  mlproto_random_id(case_b);
  uint8_t *e[2];
  size_t l[2], len;
  e[0] = sim_record(&d, MLPROTO_KIND_CASE_OPEN, case_a, &l[0]);
  e[1] = sim_record(&d, MLPROTO_KIND_NOTE, case_a, &l[1]);
  uint8_t *body = sim_push_body(e, l, 2, &len);
  char name[64];
  mlproto_sth s1, s2;
  assert_int_equal(push(&v, &d, body, len, name, &s1), 200);
  assert_int_equal(s1.size, 5);
  /* idempotent resend, and replay of the captured body in a new session */
  assert_int_equal(push(&v, &d, body, len, name, &s2), 200);
  assert_int_equal(s2.size, s1.size);
  assert_int_equal(sc_device_up(&v.c, &d, v.mentor_a), -1); /* already enrolled: new code refused */
  {
    int st;
    uint8_t *rb;
    size_t rl, bl;
    assert_int_equal(sc_call(&v.c, "GET", "/v1/session/challenge", NULL, NULL, 0, &st, &rb, &rl), 0);
    uint8_t *sb = sim_session_body(&d, rb, rl, &bl);
    free(rb);
    assert_int_equal(sc_call(&v.c, "POST", "/v1/session", NULL, sb, bl, &st, &rb, &rl), 0);
    assert_int_equal(st, 200);
    assert_int_equal(sim_take_token(&d, rb, rl), 0);
    free(rb);
    free(sb);
  }
  assert_int_equal(push(&v, &d, body, len, name, &s2), 200);
  assert_int_equal(s2.size, s1.size);
  free(body);
  /* a sibling device replaying the captured push */
  {
    mlproto_sth before = get_sth(&v);
    body = sim_push_body(e, l, 2, &len);
    assert_int_equal(push(&v, &d2, body, len, name, NULL), 403);
    assert_string_equal(name, "AUTHOR_MISMATCH");
    free(body);
    assert_int_equal(get_sth(&v).size, before.size);
  }
  uint8_t bogus[32];
  memset(bogus, 7, 32);
  uint8_t *x;
  x = sim_record_at(&d, MLPROTO_KIND_NOTE, case_a, 4, d.head, &l[1], h);
  refused(&v, &d, x, l[1], "SEQ_GAP");
  mlproto_free(x);
  x = sim_record_at(&d, MLPROTO_KIND_NOTE, case_a, 3, bogus, &l[1], h);
  refused(&v, &d, x, l[1], "PREV_MISMATCH");
  mlproto_free(x);
  uint8_t prev1[32];
  assert_int_equal(mlproto_record_hash(prev1, e[0], l[0]), 0);
  x = sim_record_at(&d, MLPROTO_KIND_NOTE, case_a, 2, prev1, &l[1], h);
  refused(&v, &d, x, l[1], "FORK");
  mlproto_free(x);
  x = sim_record_at(&d, MLPROTO_KIND_NOTE, case_b, 3, d.head, &l[1], h);
  refused(&v, &d, x, l[1], "NOT_YOUR_CASE");
  mlproto_free(x);
  x = sim_record_at(&d, MLPROTO_KIND_NOTE, case_a, 3, d.head, &l[1], h);
  for (size_t i = 0; i + 2 < l[1]; i++)
    if (x[i] == 0x12 && x[i + 1] == 64) { x[i + 20] ^= 0x80; break; }
  refused(&v, &d, x, l[1], "BAD_SIGNATURE");
  mlproto_free(x);

  /* the admin revokes d2 while the server runs: effective at once */
  char list[4096], id[40];
  const char *la[] = {"device", "list", "--json", NULL};
  assert_int_equal(ih_admin(&v.s, list, sizeof list, la), 0);
  char pubhex[65];
  mlproto_hex_encode(pubhex, d2.pub, 32);
  char *at = strstr(list, pubhex);
  assert_non_null(at);
  /* {"id":"<32>","mentor":"<32>","public_key":"<64>" — the id starts 92 chars before */
  memcpy(id, at - 92, 32);
  id[32] = 0;
  const char *ra[] = {"device", "revoke", id, NULL};
  char out[256];
  assert_int_equal(ih_admin(&v.s, out, sizeof out, ra), 0);
  x = sim_record(&d2, MLPROTO_KIND_CASE_OPEN, case_b, &l[1]);
  {
    mlproto_sth before = get_sth(&v);
    body = push_body(x, l[1], &len);
    assert_int_equal(push(&v, &d2, body, len, name, NULL), 401);
    assert_string_equal(name, "UNAUTHENTICATED");
    free(body);
    assert_int_equal(get_sth(&v).size, before.size);
  }
  mlproto_free(x);

  /* d continues; its pull shows its mentor's leaves, each provably included */
  x = sim_record(&d, MLPROTO_KIND_NOTE, case_a, &l[1]);
  body = push_body(x, l[1], &len);
  assert_int_equal(push(&v, &d, body, len, name, &s2), 200);
  free(body);
  mlproto_free(x);
  {
    int st;
    uint8_t *rb;
    size_t rl;
    assert_int_equal(sc_call(&v.c, "GET", "/v1/pull?since=0&limit=1000", d.token, NULL, 0, &st, &rb, &rl), 0);
    assert_int_equal(st, 200);
    ProtobufCMessage *m = NULL;
    assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_PULL_RESPONSE, rb, rl), 0);
    Mentorlog__V1__PullResponse *p = (Mentorlog__V1__PullResponse *)m;
    /* enrolled d, enrolled d2, 2 records, revoked d2, 1 record */
    assert_int_equal(p->n_items, 6);
    assert_false(p->more);
    mlproto_msg_free(m);
    free(rb);
    char q[96];
    snprintf(q, sizeof q, "/v1/log/proof/consistency?first=%llu&second=%llu",
             (unsigned long long)s1.size, (unsigned long long)s2.size);
    assert_int_equal(sc_call(&v.c, "GET", q, NULL, NULL, 0, &st, &rb, &rl), 0);
    assert_int_equal(st, 200);
    assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_CONSISTENCY_PROOF, rb, rl), 0);
    Mentorlog__V1__ConsistencyProof *cp = (Mentorlog__V1__ConsistencyProof *)m;
    uint8_t proof[64][32];
    for (size_t k = 0; k < cp->n_hashes; k++) memcpy(proof[k], cp->hashes[k].data, 32);
    assert_int_equal(mlproto_sth_check_consistency(&s1, &s2, (const uint8_t(*)[32])proof,
                                                   cp->n_hashes), MLPROTO_OK);
    mlproto_msg_free(m);
    free(rb);
  }
  mlproto_free(e[0]);
  mlproto_free(e[1]);
  sc_free(&v.c);
  assert_int_equal(ih_server_stop(&v.s), 0);
  /* ids only in the server's log: never a mentor's name */
  char *log = ih_server_log(&v.s);
  assert_non_null(log);
  assert_null(strstr(log, "Anna"));
  assert_null(strstr(log, "Hansen"));
  free(log);
  sim_dev_free(&d);
  sim_dev_free(&d2);
  sim_dev_free(&b);
  ih_server_cleanup(&v.s);
}

int main(void) {
  if (mlproto_crypto_init()) return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_sync_over_tls)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
