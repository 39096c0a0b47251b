/*
 * test_crash_durability.c — SIGKILL the real server at 100 random moments
 * while several simulated devices push, restart it each time, and check at
 * the end that
 *   - every record that was ever acknowledged is in the log exactly once,
 *     at the index it was acknowledged with;
 *   - the log verifies: the leaves served by pull hash to the final signed
 *     tree head's root, and that head's signature verifies;
 *   - every tree head handed out before a kill is consistency-provable to
 *     the final one.
 * Devices behave like the real sync engine: what was sent but not
 * acknowledged is sent again (idempotently) after the restart.
 */
#include "testutil.h"

#include "test_sync_util.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"

#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <unistd.h>

#define N_DEV 4
#define KILLS 100
#define MAX_PENDING 64
#define MAX_ACKED 20000
#define MAX_HEADS 4096

typedef struct pending {
  uint8_t *env;
  size_t len;
  uint8_t hash[32];
} pending;

typedef struct dev {
  sim_dev d;
  uint8_t case_id[16];
  pending q[MAX_PENDING];
  size_t nq;
} dev;

typedef struct acked {
  uint8_t hash[32];
  uint64_t index;
} acked;

static acked g_acked[MAX_ACKED];
static size_t g_nacked;
static mlproto_sth g_heads[MAX_HEADS];
static size_t g_nheads;

typedef struct killer {
  pid_t pid;
  unsigned delay_ms;
} killer;

static void *kill_later(void *arg) {
  killer *k = arg;
  ih_sleep_ms(k->delay_ms);
  kill(k->pid, SIGKILL);
  return NULL;
}

static void keep_head(const mlproto_sth *s) {
  if (g_nheads < MAX_HEADS) g_heads[g_nheads++] = *s;
  else g_heads[randombytes_uniform(MAX_HEADS)] = *s; /* a uniform-ish sample */
}

/* One push of dev's pending records plus up to 3 new ones; -1 when the
 * server went away (the pending records stay pending). */
static int push_once(sc *c, dev *v, const uint8_t server_pub[32]) {
  size_t fresh = 1 + randombytes_uniform(3);
  for (size_t i = 0; i < fresh && v->nq < MAX_PENDING; i++) {
    pending *p = &v->q[v->nq++];
    p->env = sim_record(&v->d, v->d.seq == 0 ? MLPROTO_KIND_CASE_OPEN : MLPROTO_KIND_NOTE,
                        v->case_id, &p->len);
    memcpy(p->hash, v->d.head, 32);
  }
  uint8_t *envs[MAX_PENDING];
  size_t lens[MAX_PENDING];
  for (size_t i = 0; i < v->nq; i++) {
    envs[i] = v->q[i].env;
    lens[i] = v->q[i].len;
  }
  size_t len, rl;
  uint8_t *body = sim_push_body(envs, lens, v->nq, &len), *rb;
  int st;
  int rc = sc_call(c, "POST", "/v1/push", v->d.token, body, len, &st, &rb, &rl);
  free(body);
  if (rc) return -1;
  assert_int_equal(st, 200);
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_PUSH_RESPONSE, rb, rl), 0);
  Mentorlog__V1__PushResponse *pr = (Mentorlog__V1__PushResponse *)m;
  assert_int_equal(pr->n_results, v->nq);
  mlproto_sth sth;
  assert_int_equal(sc_sth(rb, rl, MLPROTO_MSG_PUSH_RESPONSE, &sth), 0);
  assert_int_equal(mlproto_sth_verify(&sth, server_pub), MLPROTO_OK);
  keep_head(&sth);
  for (size_t i = 0; i < v->nq; i++) {
    assert_true(pr->results[i]->log_index < sth.size);
    assert_true(g_nacked < MAX_ACKED);
    /* a resend of an earlier-acknowledged record keeps its index */
    size_t k;
    for (k = 0; k < g_nacked; k++)
      if (memcmp(g_acked[k].hash, v->q[i].hash, 32) == 0) break;
    if (k < g_nacked) {
      assert_int_equal(g_acked[k].index, pr->results[i]->log_index);
    } else {
      memcpy(g_acked[g_nacked].hash, v->q[i].hash, 32);
      g_acked[g_nacked++].index = pr->results[i]->log_index;
    }
    mlproto_free(v->q[i].env);
  }
  v->nq = 0;
  mlproto_msg_free(m);
  free(rb);
  return 0;
}

static void test_crash_durability(void **state) {
  (void)state;
  ih_server s;
  /* one address replays every consistency proof at the end: not a flood */
  static const char *const opts[] = {"--unauth-rate", "100000", NULL};
  assert_int_equal(ih_server_init(&s, opts), 0);
  assert_int_equal(ih_server_start(&s), 0);
  sc c;
  sc_init(&c, &s);
  char mentor[40];
  const char *ma[] = {"mentor", "add", "M", NULL};
  assert_int_equal(ih_admin(&s, mentor, sizeof mentor, ma), 0);
  static dev devs[N_DEV];
  uint8_t server_pub[32] = {0};
  for (int i = 0; i < N_DEV; i++) {
    sim_dev_init(&devs[i].d);
    mlproto_random_id(devs[i].case_id);
    assert_int_equal(sc_device_up(&c, &devs[i].d, mentor), 0);
  }
  {
    /* the server key, from a pulled DEVICE_ENROLLED event's author */
    int st;
    uint8_t *rb;
    size_t rl;
    assert_int_equal(sc_call(&c, "GET", "/v1/pull?since=0&limit=1", devs[0].d.token, NULL, 0, &st, &rb, &rl), 0);
    ProtobufCMessage *m = NULL;
    assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_PULL_RESPONSE, rb, rl), 0);
    Mentorlog__V1__PullResponse *p = (Mentorlog__V1__PullResponse *)m;
    assert_int_equal(p->n_items, 1);
    mlproto_record_peek pk;
    assert_int_equal(mlproto_record_peek_fields(&pk, p->items[0]->envelope.data,
                                                p->items[0]->envelope.len), 0);
    memcpy(server_pub, pk.author, 32);
    mlproto_msg_free(m);
    free(rb);
  }

  for (int k = 0; k < KILLS; k++) {
    killer kl = {.pid = s.pid, .delay_ms = 5 + randombytes_uniform(60)};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, kill_later, &kl), 0);
    int guard = 0;
    while (push_once(&c, &devs[randombytes_uniform(N_DEV)], server_pub) == 0 && guard++ < 100000) {
    }
    pthread_join(t, NULL);
    ih_server_kill(&s);
    sc_disconnect(&c);
    assert_int_equal(ih_server_start(&s), 0);
  }
  /* everything still pending goes in now */
  for (int i = 0; i < N_DEV; i++)
    while (devs[i].nq) assert_int_equal(push_once(&c, &devs[i], server_pub), 0);

  /* the whole log, through one device's pull (one mentor sees every leaf) */
  mlproto_sth final;
  uint8_t (*leaves)[32] = NULL;
  uint8_t (*rec)[32] = NULL;
  size_t n = 0, cap = 0;
  uint64_t since = 0;
  for (;;) {
    char q[96];
    snprintf(q, sizeof q, "/v1/pull?since=%llu&limit=1000", (unsigned long long)since);
    int st;
    uint8_t *rb;
    size_t rl;
    assert_int_equal(sc_call(&c, "GET", q, devs[0].d.token, NULL, 0, &st, &rb, &rl), 0);
    assert_int_equal(st, 200);
    ProtobufCMessage *m = NULL;
    assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_PULL_RESPONSE, rb, rl), 0);
    Mentorlog__V1__PullResponse *p = (Mentorlog__V1__PullResponse *)m;
    assert_int_equal(sc_sth(rb, rl, MLPROTO_MSG_PULL_RESPONSE, &final), 0);
    for (size_t i = 0; i < p->n_items; i++) {
      if (n == cap) {
        cap = cap ? 2 * cap : 1024;
        leaves = realloc(leaves, cap * 32);
        rec = realloc(rec, cap * 32);
      }
      assert_int_equal(p->items[i]->log_index, n); /* dense: no leaf hidden */
      mlproto_log_entry e = {.type = (mlproto_log_entry_type)p->items[i]->entry_type,
                             .received_at_ms = p->items[i]->received_at_ms};
      assert_int_equal(mlproto_record_hash(e.record_hash, p->items[i]->envelope.data,
                                           p->items[i]->envelope.len), 0);
      memcpy(rec[n], e.record_hash, 32);
      assert_int_equal(mlproto_log_entry_leaf_hash(leaves[n], &e), 0);
      n++;
    }
    int more = p->more;
    since = p->next_since;
    mlproto_msg_free(m);
    free(rb);
    if (!more) break;
  }
  assert_int_equal(mlproto_sth_verify(&final, server_pub), MLPROTO_OK);
  assert_int_equal(n, final.size);
  uint8_t root[32];
  assert_int_equal(mlproto_merkle_root(root, (const uint8_t(*)[32])leaves, n), 0);
  assert_memory_equal(root, final.root, 32);
  /* every acknowledged record exactly once, at its acknowledged index */
  for (size_t a = 0; a < g_nacked; a++) {
    size_t seen = 0;
    for (size_t i = 0; i < n; i++)
      if (memcmp(rec[i], g_acked[a].hash, 32) == 0) {
        seen++;
        assert_int_equal(i, g_acked[a].index);
      }
    assert_int_equal(seen, 1);
  }
  /* every head handed out is consistent with the final one */
  for (size_t h = 0; h < g_nheads; h++) {
    char q[96];
    snprintf(q, sizeof q, "/v1/log/proof/consistency?first=%llu&second=%llu",
             (unsigned long long)g_heads[h].size, (unsigned long long)final.size);
    int st;
    uint8_t *rb;
    size_t rl;
    assert_int_equal(sc_call(&c, "GET", q, NULL, NULL, 0, &st, &rb, &rl), 0);
    assert_int_equal(st, 200);
    ProtobufCMessage *m = NULL;
    assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_CONSISTENCY_PROOF, rb, rl), 0);
    Mentorlog__V1__ConsistencyProof *cp = (Mentorlog__V1__ConsistencyProof *)m;
    uint8_t proof[64][32];
    for (size_t k = 0; k < cp->n_hashes; k++) memcpy(proof[k], cp->hashes[k].data, 32);
    assert_int_equal(mlproto_sth_check_consistency(&g_heads[h], &final,
                                                   (const uint8_t(*)[32])proof, cp->n_hashes),
                     MLPROTO_OK);
    mlproto_msg_free(m);
    free(rb);
  }
  printf("# crash durability: %d kills, %zu records acknowledged, log size %llu, %zu heads checked\n",
         KILLS, g_nacked, (unsigned long long)final.size, g_nheads);
  free(leaves);
  free(rec);
  sc_free(&c);
  assert_int_equal(ih_server_stop(&s), 0);
  for (int i = 0; i < N_DEV; i++) sim_dev_free(&devs[i].d);
  ih_server_cleanup(&s);
}

int main(void) {
  if (mlproto_crypto_init()) return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_crash_durability)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
