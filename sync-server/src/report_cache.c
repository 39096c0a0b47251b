/* report_cache.c — the reports' per-case cache (see report_cache.h). */
#include "report_cache.h"

#include "mlproto/errors.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct mls_rcache {
  pthread_mutex_t mu;
  size_t cap, bytes, entries;
  uint64_t hits, misses, evictions;
  /* Chained hash table by case id, keyed SipHash: case ids come from
   * devices, so no one can choose ids that share a chain. */
  uint8_t hkey[crypto_shorthash_KEYBYTES];
  mls_rcase **bucket;
  size_t n_buckets; /* a power of two */
  mls_rcase *head, *tail; /* most recently used first */
};

#define BUCKETS_MIN 256u

int mls_rcache_new(mls_rcache **out, size_t cap) {
  *out = NULL;
  if (cap == 0) return MLPROTO_ERR_INVALID_ARGUMENT;
  mls_rcache *c = calloc(1, sizeof *c);
  if (!c) return MLPROTO_ERR_OUT_OF_MEMORY;
  if (!(c->bucket = calloc(BUCKETS_MIN, sizeof *c->bucket))) {
    free(c);
    return MLPROTO_ERR_OUT_OF_MEMORY;
  }
  if (pthread_mutex_init(&c->mu, NULL)) {
    free(c->bucket);
    free(c);
    return MLPROTO_ERR_INTERNAL;
  }
  c->n_buckets = BUCKETS_MIN;
  c->cap = cap;
  crypto_shorthash_keygen(c->hkey);
  *out = c;
  return MLPROTO_OK;
}

static void rcase_free(mls_rcase *e) {
  for (size_t i = 0; i < e->n; i++) mlproto_grant_basis_free(e->g[i]);
  free(e->g);
  free(e->keys);
  free(e);
}

static void drop_ref(mls_rcase *e) {
  if (--e->refs == 0) rcase_free(e);
}

static size_t slot_in(const mls_rcache *c, const uint8_t case_id[16], size_t n_buckets) {
  uint8_t h[crypto_shorthash_BYTES];
  crypto_shorthash(h, case_id, 16, c->hkey);
  uint64_t v;
  memcpy(&v, h, sizeof v);
  return (size_t)(v & (n_buckets - 1));
}

static size_t slot(const mls_rcache *c, const uint8_t case_id[16]) {
  return slot_in(c, case_id, c->n_buckets);
}

/* Caller holds mu. */
static void unlink_entry(mls_rcache *c, mls_rcase *e) {
  for (mls_rcase **p = &c->bucket[slot(c, e->case_id)]; *p; p = &(*p)->hnext)
    if (*p == e) {
      *p = e->hnext;
      break;
    }
  if (e->prev) e->prev->next = e->next;
  else c->head = e->next;
  if (e->next) e->next->prev = e->prev;
  else c->tail = e->prev;
  e->prev = e->next = e->hnext = NULL;
  e->linked = 0;
  c->bytes -= e->bytes;
  c->entries--;
  drop_ref(e);
}

void mls_rcache_free(mls_rcache *c) {
  if (!c) return;
  while (c->head) unlink_entry(c, c->head);
  pthread_mutex_destroy(&c->mu);
  free(c->bucket);
  free(c);
}

static mls_rcase *find(const mls_rcache *c, const uint8_t case_id[16]) {
  for (mls_rcase *e = c->bucket[slot(c, case_id)]; e; e = e->hnext)
    if (memcmp(e->case_id, case_id, 16) == 0) return e;
  return NULL;
}

static void to_front(mls_rcache *c, mls_rcase *e) {
  if (c->head == e) return;
  if (e->prev) e->prev->next = e->next;
  if (e->next) e->next->prev = e->prev;
  else c->tail = e->prev;
  e->prev = NULL;
  e->next = c->head;
  if (c->head) c->head->prev = e;
  c->head = e;
  if (!c->tail) c->tail = e;
}

mls_rcase *mls_rcache_get(mls_rcache *c, const uint8_t case_id[16], uint64_t last_index,
                          uint64_t erased_ms, const uint8_t (*keys)[32], size_t n_keys) {
  if (!c) return NULL;
  pthread_mutex_lock(&c->mu);
  mls_rcase *e = find(c, case_id);
  if (e && (e->last_index != last_index || e->erased_ms != erased_ms || e->n_keys != n_keys ||
            (n_keys && memcmp(e->keys, keys, n_keys * sizeof *keys) != 0)))
    e = NULL; /* another version of the case: the put of the new one replaces it */
  if (e) {
    e->refs++;
    to_front(c, e);
    c->hits++;
  } else {
    c->misses++;
  }
  pthread_mutex_unlock(&c->mu);
  return e;
}

int mls_rcase_new(mls_rcase **out, const uint8_t case_id[16], uint64_t last_index,
                  uint64_t erased_ms, const uint8_t (*keys)[32], size_t n_keys, size_t n_grants) {
  *out = NULL;
  mls_rcase *e = calloc(1, sizeof *e);
  if (!e) return MLPROTO_ERR_OUT_OF_MEMORY;
  if ((n_keys && !(e->keys = malloc(n_keys * sizeof *e->keys))) ||
      (n_grants && !(e->g = calloc(n_grants, sizeof *e->g)))) {
    free(e->keys);
    free(e);
    return MLPROTO_ERR_OUT_OF_MEMORY;
  }
  memcpy(e->case_id, case_id, 16);
  e->last_index = last_index;
  e->erased_ms = erased_ms;
  if (n_keys) memcpy(e->keys, keys, n_keys * sizeof *keys);
  e->n_keys = n_keys;
  e->cap = n_grants;
  e->refs = 1;
  e->bytes = sizeof *e + n_keys * sizeof *e->keys + n_grants * sizeof *e->g;
  *out = e;
  return MLPROTO_OK;
}

void mls_rcase_add(mls_rcase *e, mlproto_grant_basis *b) {
  if (e->n == e->cap) { /* the maker counted wrong: not kept, not leaked */
    mlproto_grant_basis_free(b);
    return;
  }
  e->g[e->n++] = b;
  e->bytes += mlproto_grant_basis_bytes(b);
}

static void grow_table(mls_rcache *c) {
  size_t n = c->n_buckets * 2;
  mls_rcase **b = calloc(n, sizeof *b);
  if (!b) return; /* longer chains, still correct */
  for (size_t i = 0; i < c->n_buckets; i++)
    for (mls_rcase *e = c->bucket[i], *next; e; e = next) {
      next = e->hnext;
      size_t k = slot_in(c, e->case_id, n);
      e->hnext = b[k];
      b[k] = e;
    }
  free(c->bucket);
  c->bucket = b;
  c->n_buckets = n;
}

void mls_rcache_put(mls_rcache *c, mls_rcase *e) {
  if (!c || e->linked || e->bytes > c->cap) return;
  pthread_mutex_lock(&c->mu);
  mls_rcase *old = find(c, e->case_id);
  if (old) unlink_entry(c, old);
  e->refs++;
  e->linked = 1;
  size_t k = slot(c, e->case_id);
  e->hnext = c->bucket[k];
  c->bucket[k] = e;
  e->prev = NULL;
  e->next = c->head;
  if (c->head) c->head->prev = e;
  c->head = e;
  if (!c->tail) c->tail = e;
  c->bytes += e->bytes;
  c->entries++;
  while (c->bytes > c->cap && c->tail) {
    unlink_entry(c, c->tail);
    c->evictions++;
  }
  if (c->entries > c->n_buckets) grow_table(c);
  pthread_mutex_unlock(&c->mu);
}

void mls_rcache_release(mls_rcache *c, mls_rcase *e) {
  if (!e) return;
  if (!c) {
    drop_ref(e);
    return;
  }
  pthread_mutex_lock(&c->mu);
  drop_ref(e);
  pthread_mutex_unlock(&c->mu);
}

void mls_rcache_drop(mls_rcache *c, const uint8_t case_id[16]) {
  if (!c) return;
  pthread_mutex_lock(&c->mu);
  mls_rcase *e = find(c, case_id);
  if (e) unlink_entry(c, e);
  pthread_mutex_unlock(&c->mu);
}

void mls_rcache_stats_get(mls_rcache *c, mls_rcache_stats *out) {
  memset(out, 0, sizeof *out);
  if (!c) return;
  pthread_mutex_lock(&c->mu);
  out->hits = c->hits;
  out->misses = c->misses;
  out->evictions = c->evictions;
  out->entries = c->entries;
  out->bytes = c->bytes;
  out->cap = c->cap;
  pthread_mutex_unlock(&c->mu);
}
