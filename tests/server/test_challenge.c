/*
 * test_challenge.c — stateless session challenges (sync-server/src/
 * challenge.h): the format recomputed from its description, every
 * refusal, the spent set against a plain model, and the challenge key
 * created once in a shared store.
 */
#include "testutil.h"

#include "challenge.h"
#include "store.h"

#include "mlproto/errors.h"

#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 UINT64_C(1767225600000) /* 2026-01-01 */
#define LIFE UINT64_C(90000)

static const uint8_t KEY[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t NONCE[7] = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7};

/* The tag as the header describes it, computed here on its own. */
static void expected_tag(uint8_t tag[16], const uint8_t *key, const uint8_t first16[16]) {
  uint8_t msg[23 + 16];
  memcpy(msg, "mentorlog/challenge/v1", 23); /* with its NUL */
  memcpy(msg + 23, first16, 16);
  assert_int_equal(crypto_generichash(tag, 16, msg, sizeof msg, key, 32), 0);
}

static void test_format(void **state) {
  (void)state;
  uint8_t ch[MLS_CHALLENGE_LEN];
  uint64_t exp = T0 + 60000;
  mls_challenge_make(ch, KEY, NONCE, exp);
  assert_int_equal(ch[0], 0x01);
  assert_memory_equal(ch + 1, NONCE, 7);
  const uint8_t be[8] = {(uint8_t)(exp >> 56), (uint8_t)(exp >> 48), (uint8_t)(exp >> 40),
                         (uint8_t)(exp >> 32), (uint8_t)(exp >> 24), (uint8_t)(exp >> 16),
                         (uint8_t)(exp >> 8), (uint8_t)exp};
  assert_memory_equal(ch + 8, be, 8);
  uint8_t tag[16];
  expected_tag(tag, KEY, ch);
  assert_memory_equal(ch + 16, tag, 16);
  /* another nonce, another key: another tag */
  uint8_t other[MLS_CHALLENGE_LEN], key2[32];
  uint8_t nonce2[7];
  memcpy(nonce2, NONCE, 7);
  nonce2[6] ^= 1;
  mls_challenge_make(other, KEY, nonce2, exp);
  assert_memory_not_equal(other + 16, ch + 16, 16);
  memcpy(key2, KEY, 32);
  key2[0] ^= 0x80;
  mls_challenge_make(other, key2, NONCE, exp);
  assert_memory_equal(other, ch, 16);
  assert_memory_not_equal(other + 16, ch + 16, 16);
}

static void test_check(void **state) {
  (void)state;
  uint8_t ch[MLS_CHALLENGE_LEN];
  uint64_t exp = T0 + 60000, got = 0;
  mls_challenge_make(ch, KEY, NONCE, exp);
  assert_int_equal(mls_challenge_check(ch, KEY, T0, LIFE, &got), MLPROTO_OK);
  assert_int_equal(got, exp);
  /* expiry: valid up to the millisecond before expires_ms */
  assert_int_equal(mls_challenge_check(ch, KEY, exp - 1, LIFE, &got), MLPROTO_OK);
  assert_int_equal(mls_challenge_check(ch, KEY, exp, LIFE, &got), MLPROTO_ERR_CHALLENGE_INVALID);
  assert_int_equal(mls_challenge_check(ch, KEY, exp + 3600000, LIFE, &got),
                   MLPROTO_ERR_CHALLENGE_INVALID);
  /* made by a clock far ahead: at most max_life_ms ahead of now */
  assert_int_equal(mls_challenge_check(ch, KEY, exp - LIFE, LIFE, &got), MLPROTO_OK);
  assert_int_equal(mls_challenge_check(ch, KEY, exp - LIFE - 1, LIFE, &got),
                   MLPROTO_ERR_CHALLENGE_INVALID);
  /* every bit of every byte matters (version, nonce, expiry and tag) */
  for (int i = 0; i < MLS_CHALLENGE_LEN; i++)
    for (int bit = 0; bit < 8; bit++) {
      uint8_t t[MLS_CHALLENGE_LEN];
      memcpy(t, ch, sizeof t);
      t[i] ^= (uint8_t)(1u << bit);
      if (mls_challenge_check(t, KEY, T0, LIFE, &got) != MLPROTO_ERR_CHALLENGE_INVALID)
        fail_msg("byte %d bit %d flipped: accepted", i, bit);
    }
  /* another key */
  uint8_t key2[32];
  memcpy(key2, KEY, 32);
  key2[31] ^= 1;
  assert_int_equal(mls_challenge_check(ch, key2, T0, LIFE, &got), MLPROTO_ERR_CHALLENGE_INVALID);
  /* another version with a correct tag over it: refused for its version */
  uint8_t v2[MLS_CHALLENGE_LEN];
  memcpy(v2, ch, sizeof v2);
  v2[0] = 0x02;
  expected_tag(v2 + 16, KEY, v2);
  assert_int_equal(mls_challenge_check(v2, KEY, T0, LIFE, &got), MLPROTO_ERR_CHALLENGE_INVALID);
  /* all zeros, all ones */
  memset(v2, 0, sizeof v2);
  assert_int_equal(mls_challenge_check(v2, KEY, T0, LIFE, &got), MLPROTO_ERR_CHALLENGE_INVALID);
  memset(v2, 0xff, sizeof v2);
  assert_int_equal(mls_challenge_check(v2, KEY, T0, LIFE, &got), MLPROTO_ERR_CHALLENGE_INVALID);
}

/* A random challenge with expiry exp, made under KEY. */
static void fresh(uint8_t ch[MLS_CHALLENGE_LEN], uint64_t exp) {
  uint8_t nonce[7];
  randombytes_buf(nonce, sizeof nonce);
  mls_challenge_make(ch, KEY, nonce, exp);
}

static void test_spent_bound(void **state) {
  (void)state;
  mls_spent *s;
  assert_int_equal(mls_spent_new(&s, 0), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_null(s);
  assert_int_equal(mls_spent_new(&s, MLS_SPENT_MAX + 1), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mls_spent_new(&s, 4), MLPROTO_OK);
  uint8_t ch[6][MLS_CHALLENGE_LEN];
  /* expiries out of order: the earliest is the third */
  const uint64_t exp[6] = {T0 + 5000, T0 + 7000, T0 + 3000, T0 + 9000, T0 + 8000, T0 + 4000};
  for (int i = 0; i < 6; i++) fresh(ch[i], exp[i]);
  uint64_t retry = 0;
  for (int i = 0; i < 4; i++) assert_int_equal(mls_spent_add(s, ch[i], exp[i], T0, &retry), MLPROTO_OK);
  assert_int_equal(mls_spent_count(s), 4);
  /* spent: refused, full or not */
  assert_int_equal(mls_spent_add(s, ch[1], exp[1], T0, &retry), MLPROTO_ERR_CHALLENGE_INVALID);
  /* full of unexpired ones: refused, with the time until the earliest expires */
  retry = 0;
  assert_int_equal(mls_spent_add(s, ch[4], exp[4], T0 + 1000, &retry), MLPROTO_ERR_UNAVAILABLE);
  assert_int_equal(retry, 2000);
  /* nothing was forgotten to make room */
  for (int i = 0; i < 4; i++)
    assert_int_equal(mls_spent_add(s, ch[i], exp[i], T0 + 1000, &retry), MLPROTO_ERR_CHALLENGE_INVALID);
  assert_int_equal(mls_spent_count(s), 4);
  /* the earliest expired: room for one */
  assert_int_equal(mls_spent_add(s, ch[4], exp[4], T0 + 3000, &retry), MLPROTO_OK);
  assert_int_equal(mls_spent_add(s, ch[5], exp[5], T0 + 3000, &retry), MLPROTO_ERR_UNAVAILABLE);
  assert_int_equal(retry, 2000); /* ch[0] at T0 + 5000 */
  /* an expired challenge is never added (the caller checks first) */
  assert_int_equal(mls_spent_add(s, ch[5], exp[5], exp[5], &retry), MLPROTO_ERR_CHALLENGE_INVALID);
  /* later on, everything expired: all dropped at the next add */
  assert_int_equal(mls_spent_add(s, ch[5], T0 + 20000, T0 + 10000, &retry), MLPROTO_OK);
  assert_int_equal(mls_spent_count(s), 1);
  mls_spent_free(s);
  mls_spent_free(NULL);
}

/* The set against a plain array, over random adds with few buckets'
 * worth of distinct tag prefixes (long chains) and replays. */
static void test_spent_model(void **state) {
  (void)state;
  enum { CAP = 50, POOL = 400, STEPS = 20000 };
  mls_spent *s;
  assert_int_equal(mls_spent_new(&s, CAP), MLPROTO_OK);
  static uint8_t pool[POOL][MLS_CHALLENGE_LEN];
  static uint64_t pexp[POOL];
  typedef struct entry { int idx; uint64_t exp; } entry;
  entry model[CAP];
  size_t mn = 0;
  uint64_t now = T0;
  uint32_t seed = 12345;
  for (int i = 0; i < POOL; i++) {
    randombytes_buf(pool[i], MLS_CHALLENGE_LEN);
    pool[i][16] &= 3; /* four distinct low bytes of the bucket hash ... */
    memset(pool[i] + 17, 0, 7); /* ... and nothing else: chains of ~100 */
    pexp[i] = 0;
  }
  for (int step = 0; step < STEPS; step++) {
    seed = seed * 1103515245u + 12345u;
    int i = (int)((seed >> 8) % POOL);
    now += (seed >> 4) % 3;
    if (pexp[i] <= now) pexp[i] = now + 1 + (seed >> 12) % 200; /* a new challenge */
    /* the model */
    size_t w = 0;
    for (size_t k = 0; k < mn; k++)
      if (model[k].exp > now) model[w++] = model[k];
    mn = w;
    int want = MLPROTO_OK;
    uint64_t want_retry = 0;
    for (size_t k = 0; k < mn; k++)
      if (model[k].idx == i) want = MLPROTO_ERR_CHALLENGE_INVALID;
    if (want == MLPROTO_OK && mn == CAP) {
      want = MLPROTO_ERR_UNAVAILABLE;
      uint64_t min = UINT64_MAX;
      for (size_t k = 0; k < mn; k++)
        if (model[k].exp < min) min = model[k].exp;
      want_retry = min - now;
    }
    if (want == MLPROTO_OK) model[mn++] = (entry){i, pexp[i]};
    uint64_t retry = 0;
    int got = mls_spent_add(s, pool[i], pexp[i], now, &retry);
    if (got != want) fail_msg("step %d: %d, want %d", step, got, want);
    if (want == MLPROTO_ERR_UNAVAILABLE) assert_int_equal(retry, want_retry);
    assert_int_equal(mls_spent_count(s), mn);
  }
  mls_spent_free(s);
}

typedef struct racer {
  mls_spent *s;
  uint8_t (*ch)[MLS_CHALLENGE_LEN];
  int n;
  int ok;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  uint64_t retry;
  for (int i = 0; i < r->n; i++)
    if (mls_spent_add(r->s, r->ch[i], T0 + 60000, T0, &retry) == MLPROTO_OK) r->ok++;
  return NULL;
}

/* Four threads answer the same 2,000 challenges: each is spent once. */
static void test_spent_threads(void **state) {
  (void)state;
  enum { N = 2000, T = 4 };
  static uint8_t ch[N][MLS_CHALLENGE_LEN];
  for (int i = 0; i < N; i++) fresh(ch[i], T0 + 60000);
  mls_spent *s;
  assert_int_equal(mls_spent_new(&s, N), MLPROTO_OK);
  racer r[T];
  pthread_t th[T];
  for (int t = 0; t < T; t++) {
    r[t] = (racer){.s = s, .ch = ch, .n = N, .ok = 0};
    assert_int_equal(pthread_create(&th[t], NULL, race, &r[t]), 0);
  }
  int total = 0;
  for (int t = 0; t < T; t++) {
    pthread_join(th[t], NULL);
    total += r[t].ok;
  }
  assert_int_equal(total, N);
  assert_int_equal(mls_spent_count(s), N);
  mls_spent_free(s);
}

/* ---------------------------------------------------------- the key --- */

typedef struct keyfx {
  char dir[64];
  char db[96];
} keyfx;

static int key_setup(void **state) {
  keyfx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/mls-chal-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->db, sizeof f->db, "%s/server.db", f->dir);
  *state = f;
  return 0;
}

static int key_teardown(void **state) {
  keyfx *f = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  assert_int_equal(system(cmd), 0);
  free(f);
  return 0;
}

static int64_t meta_keys(const char *db_path) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM meta WHERE key = 'challenge_key'"
                                          " AND length(value) = 32", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

/* The test's SQLite store file, through the factory. */
static int sq_open(mls_store **st, const char *db) {
  char uri[600];
  snprintf(uri, sizeof uri, "sqlite:%s", db);
  mls_store_options o = {.version = MLS_STORE_OPTIONS_VERSION, .create = 1, .busy_timeout_ms = 5000};
  return mls_store_open(st, uri, &o);
}

static void test_key_once(void **state) {
  keyfx *f = *state;
  mls_store *st;
  assert_int_equal(sq_open(&st, f->db), MLPROTO_OK);
  uint8_t *k1 = NULL, *k2 = NULL;
  int created = -1;
  assert_int_equal(mls_challenge_key_load(st, &k1, &created), MLPROTO_OK);
  assert_int_equal(created, 1);
  assert_int_equal(meta_keys(f->db), 1);
  assert_int_equal(mls_challenge_key_load(st, &k2, &created), MLPROTO_OK);
  assert_int_equal(created, 0);
  assert_memory_equal(k1, k2, 32);
  /* what is stored is the key (not all zeros) */
  static const uint8_t zero[32];
  assert_memory_not_equal(k1, zero, 32);
  mls_challenge_key_free(k1);
  mls_challenge_key_free(k2);
  mls_challenge_key_free(NULL);
  /* a value of another length: refused, not used nor replaced */
  mls_txn *tx;
  assert_int_equal(mls_store_begin(st, MLS_TXN_WRITE, &tx), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, meta_put, MLS_CHALLENGE_META, zero, 31), MLPROTO_OK);
  assert_int_equal(mls_store_commit(tx), MLPROTO_OK);
  assert_int_equal(mls_challenge_key_load(st, &k1, &created), MLPROTO_ERR_BAD_KEY);
  assert_null(k1);
  assert_int_equal(mls_store_begin(st, MLS_TXN_WRITE, &tx), MLPROTO_OK);
  static const uint8_t long_v[33];
  assert_int_equal(MLS_TX(tx, meta_put, MLS_CHALLENGE_META, long_v, 33), MLPROTO_OK);
  assert_int_equal(mls_store_commit(tx), MLPROTO_OK);
  assert_int_equal(mls_challenge_key_load(st, &k1, &created), MLPROTO_ERR_BAD_KEY);
  mls_store_close(st);
}

typedef struct loader {
  const char *db;
  pthread_barrier_t *go;
  uint8_t key[32];
  int created, rc;
} loader;

static void *load(void *arg) {
  loader *l = arg;
  mls_store *st;
  l->rc = sq_open(&st, l->db);
  pthread_barrier_wait(l->go);
  if (l->rc) return NULL;
  uint8_t *k = NULL;
  l->rc = mls_challenge_key_load(st, &k, &l->created);
  if (!l->rc) memcpy(l->key, k, 32);
  mls_challenge_key_free(k);
  mls_store_close(st);
  return NULL;
}

/* Instances starting at once on a new store, each with its own store
 * handle (as separate processes would be): one creates the key, every one
 * gets that key. */
static void test_key_race(void **state) {
  keyfx *f = *state;
  mls_store *st;
  assert_int_equal(sq_open(&st, f->db), MLPROTO_OK); /* the schema */
  mls_store_close(st);
  enum { N = 6 };
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, N);
  loader l[N];
  pthread_t th[N];
  for (int i = 0; i < N; i++) {
    l[i] = (loader){.db = f->db, .go = &go};
    assert_int_equal(pthread_create(&th[i], NULL, load, &l[i]), 0);
  }
  int created = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(l[i].rc, MLPROTO_OK);
    created += l[i].created;
    assert_memory_equal(l[i].key, l[0].key, 32);
  }
  pthread_barrier_destroy(&go);
  assert_int_equal(created, 1);
  assert_int_equal(meta_keys(f->db), 1);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_format),
    cmocka_unit_test(test_check),
    cmocka_unit_test(test_spent_bound),
    cmocka_unit_test(test_spent_model),
    cmocka_unit_test(test_spent_threads),
    cmocka_unit_test_setup_teardown(test_key_once, key_setup, key_teardown),
    cmocka_unit_test_setup_teardown(test_key_race, key_setup, key_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
