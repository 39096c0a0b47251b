/* challenge.c — stateless session challenges and the set of spent ones
 * (challenge.h). */
#include "challenge.h"

#include "mlproto/errors.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define TAG_LEN 16
#define BODY_LEN (MLS_CHALLENGE_LEN - TAG_LEN) /* version || nonce || expiry */

/* ---------------------------------------------------------------- key --- */

int mls_challenge_key_load(mls_store *st, uint8_t **keyp, int *created) {
  return mls_store_secret_load(st, MLS_CHALLENGE_META, MLS_CHALLENGE_KEY_LEN, keyp, created);
}

void mls_challenge_key_free(uint8_t *key) {
  if (key) sodium_free(key); /* wipes, even a read-only region */
}

/* ----------------------------------------------------------- challenge --- */

static void tag_of(uint8_t tag[TAG_LEN], const uint8_t *key, const uint8_t body[BODY_LEN]) {
  static const char domain[] = "mentorlog/challenge/v1"; /* and its NUL */
  crypto_generichash_state st;
  crypto_generichash_init(&st, key, MLS_CHALLENGE_KEY_LEN, TAG_LEN);
  crypto_generichash_update(&st, (const uint8_t *)domain, sizeof domain);
  crypto_generichash_update(&st, body, BODY_LEN);
  crypto_generichash_final(&st, tag, TAG_LEN);
  sodium_memzero(&st, sizeof st); /* it holds the keyed state */
}

static void put_u64be(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static uint64_t get_u64be(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

void mls_challenge_make(uint8_t out[MLS_CHALLENGE_LEN], const uint8_t *key,
                        const uint8_t nonce[MLS_CHALLENGE_NONCE_LEN], uint64_t expires_ms) {
  out[0] = MLS_CHALLENGE_V1;
  memcpy(out + 1, nonce, MLS_CHALLENGE_NONCE_LEN);
  put_u64be(out + 1 + MLS_CHALLENGE_NONCE_LEN, expires_ms);
  tag_of(out + BODY_LEN, key, out);
}

int mls_challenge_check(const uint8_t ch[MLS_CHALLENGE_LEN], const uint8_t *key, uint64_t now_ms,
                        uint64_t max_life_ms, uint64_t *expires_ms) {
  uint8_t tag[TAG_LEN];
  tag_of(tag, key, ch);
  /* the tag first, whatever the version byte says: the same work for
   * every 32 bytes presented */
  int ok = crypto_verify_16(tag, ch + BODY_LEN) == 0;
  sodium_memzero(tag, sizeof tag);
  uint64_t exp = get_u64be(ch + 1 + MLS_CHALLENGE_NONCE_LEN);
  if (!ok || ch[0] != MLS_CHALLENGE_V1 || exp <= now_ms ||
      exp - now_ms > max_life_ms)
    return MLPROTO_ERR_CHALLENGE_INVALID;
  *expires_ms = exp;
  return MLPROTO_OK;
}

/* ---------------------------------------------------------- spent set --- */

/* Chained hash table over a fixed pool of nodes, and a min-heap of the
 * nodes by expiry: an add drops every expired entry (the heap's top, one
 * at a time, O(log n) each), looks the challenge up in its bucket, and
 * inserts it. No allocation after mls_spent_new. */

#define NIL UINT32_MAX

typedef struct spent_node {
  uint8_t ch[MLS_CHALLENGE_LEN];
  uint64_t exp;
  uint32_t next; /* in its bucket, or in the free list */
} spent_node;

struct mls_spent {
  pthread_mutex_t mu;
  size_t cap, n;
  size_t mask;        /* buckets - 1 (a power of two >= cap) */
  uint32_t *bucket;   /* first node of each bucket, NIL */
  spent_node *node;   /* cap nodes */
  uint32_t *heap;     /* n node indices, the earliest expiry at [0] */
  uint32_t free_head;
};

int mls_spent_new(mls_spent **out, size_t cap) {
  *out = NULL;
  if (cap == 0 || cap > MLS_SPENT_MAX) return MLPROTO_ERR_INVALID_ARGUMENT;
  mls_spent *s = calloc(1, sizeof *s);
  if (!s) return MLPROTO_ERR_OUT_OF_MEMORY;
  pthread_mutex_init(&s->mu, NULL);
  size_t nb = 1;
  while (nb < cap) nb <<= 1;
  s->cap = cap;
  s->mask = nb - 1;
  s->bucket = malloc(nb * sizeof *s->bucket);
  s->node = malloc(cap * sizeof *s->node);
  s->heap = malloc(cap * sizeof *s->heap);
  if (!s->bucket || !s->node || !s->heap) {
    mls_spent_free(s);
    return MLPROTO_ERR_OUT_OF_MEMORY;
  }
  for (size_t i = 0; i < nb; i++) s->bucket[i] = NIL;
  for (size_t i = 0; i < cap; i++) s->node[i].next = i + 1 < cap ? (uint32_t)(i + 1) : NIL;
  s->free_head = 0;
  *out = s;
  return MLPROTO_OK;
}

void mls_spent_free(mls_spent *s) {
  if (!s) return;
  pthread_mutex_destroy(&s->mu);
  free(s->bucket);
  free(s->node);
  free(s->heap);
  free(s);
}

/* The tag bytes: uniform, and chosen by no one without the key. */
static size_t bucket_of(const mls_spent *s, const uint8_t ch[MLS_CHALLENGE_LEN]) {
  uint64_t h = 0;
  for (int i = 0; i < 8; i++) h |= (uint64_t)ch[BODY_LEN + i] << (8 * i);
  return (size_t)(h & s->mask);
}

static uint64_t heap_exp(const mls_spent *s, size_t i) { return s->node[s->heap[i]].exp; }

static void heap_swap(mls_spent *s, size_t a, size_t b) {
  uint32_t t = s->heap[a];
  s->heap[a] = s->heap[b];
  s->heap[b] = t;
}

static void heap_push(mls_spent *s, uint32_t idx) {
  size_t i = s->n++;
  s->heap[i] = idx;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap_exp(s, parent) <= heap_exp(s, i)) break;
    heap_swap(s, parent, i);
    i = parent;
  }
}

static uint32_t heap_pop(mls_spent *s) {
  uint32_t top = s->heap[0];
  s->heap[0] = s->heap[--s->n];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < s->n && heap_exp(s, l) < heap_exp(s, m)) m = l;
    if (r < s->n && heap_exp(s, r) < heap_exp(s, m)) m = r;
    if (m == i) break;
    heap_swap(s, i, m);
    i = m;
  }
  return top;
}

static void unlink_node(mls_spent *s, uint32_t idx) {
  uint32_t *p = &s->bucket[bucket_of(s, s->node[idx].ch)];
  while (*p != idx) p = &s->node[*p].next; /* idx is in its bucket */
  *p = s->node[idx].next;
  s->node[idx].next = s->free_head;
  s->free_head = idx;
}

static void drop_expired(mls_spent *s, uint64_t now_ms) {
  while (s->n > 0 && heap_exp(s, 0) <= now_ms) unlink_node(s, heap_pop(s));
}

int mls_spent_add(mls_spent *s, const uint8_t ch[MLS_CHALLENGE_LEN], uint64_t expires_ms,
                  uint64_t now_ms, uint64_t *retry_ms) {
  if (expires_ms <= now_ms) return MLPROTO_ERR_CHALLENGE_INVALID;
  pthread_mutex_lock(&s->mu);
  drop_expired(s, now_ms);
  size_t b = bucket_of(s, ch);
  for (uint32_t i = s->bucket[b]; i != NIL; i = s->node[i].next)
    if (memcmp(s->node[i].ch, ch, MLS_CHALLENGE_LEN) == 0) {
      pthread_mutex_unlock(&s->mu);
      return MLPROTO_ERR_CHALLENGE_INVALID;
    }
  if (s->n == s->cap) {
    *retry_ms = heap_exp(s, 0) - now_ms; /* > 0: the expired ones were dropped */
    pthread_mutex_unlock(&s->mu);
    return MLPROTO_ERR_UNAVAILABLE;
  }
  uint32_t idx = s->free_head;
  s->free_head = s->node[idx].next;
  memcpy(s->node[idx].ch, ch, MLS_CHALLENGE_LEN);
  s->node[idx].exp = expires_ms;
  s->node[idx].next = s->bucket[b];
  s->bucket[b] = idx;
  heap_push(s, idx);
  pthread_mutex_unlock(&s->mu);
  return MLPROTO_OK;
}

size_t mls_spent_count(mls_spent *s) {
  pthread_mutex_lock(&s->mu);
  size_t n = s->n;
  pthread_mutex_unlock(&s->mu);
  return n;
}
