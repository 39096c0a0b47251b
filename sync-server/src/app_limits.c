/* app_limits.c — bounded token buckets and failure backoff (app_limits.h). */
#include "app_limits.h"

#include "mlproto/errors.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PROBE 8

typedef struct slot {
  uint8_t key[MLS_LIMIT_KEY_MAX];
  uint8_t key_len;
  uint8_t used;
  double tokens;
  unsigned failures;
  uint64_t last_ms;      /* last refill / last failure */
  uint64_t blocked_until;
} slot;

struct mls_limiter {
  mls_limiter_config cfg;
  pthread_mutex_t mu;
  slot *slots;
};

int mls_limiter_new(mls_limiter **out, const mls_limiter_config *cfg) {
  *out = NULL;
  if (!cfg->slots) return MLPROTO_ERR_INVALID_ARGUMENT;
  mls_limiter *l = calloc(1, sizeof *l);
  if (!l) return MLPROTO_ERR_OUT_OF_MEMORY;
  l->slots = calloc(cfg->slots, sizeof *l->slots);
  if (!l->slots) { free(l); return MLPROTO_ERR_OUT_OF_MEMORY; }
  l->cfg = *cfg;
  pthread_mutex_init(&l->mu, NULL);
  *out = l;
  return MLPROTO_OK;
}

void mls_limiter_free(mls_limiter *l) {
  if (!l) return;
  pthread_mutex_destroy(&l->mu);
  free(l->slots);
  free(l);
}

static uint64_t fnv(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

/* Finds key's slot or claims one (evicting the stalest in the probe window). */
static slot *lookup(mls_limiter *l, const void *key, size_t len, int create, int *fresh) {
  if (len > MLS_LIMIT_KEY_MAX) len = MLS_LIMIT_KEY_MAX;
  size_t h = (size_t)(fnv(key, len) % l->cfg.slots);
  slot *victim = NULL;
  for (size_t i = 0; i < PROBE && i < l->cfg.slots; i++) {
    slot *s = &l->slots[(h + i) % l->cfg.slots];
    if (s->used && s->key_len == len && memcmp(s->key, key, len) == 0) {
      *fresh = 0;
      return s;
    }
    if (!s->used) {
      if (!victim || victim->used) victim = s;
    } else if (!victim || (victim->used && s->last_ms < victim->last_ms)) {
      victim = s;
    }
  }
  if (!create) return NULL;
  memset(victim, 0, sizeof *victim);
  memcpy(victim->key, key, len);
  victim->key_len = (uint8_t)len;
  victim->used = 1;
  *fresh = 1;
  return victim;
}

/* Caller holds the mutex: the bucket refilled to now. */
static void refill(mls_limiter *l, slot *s, uint64_t now) {
  if (now > s->last_ms) {
    s->tokens += (double)(now - s->last_ms) * l->cfg.rate_per_s / 1000.0;
    if (s->tokens > l->cfg.burst) s->tokens = l->cfg.burst;
    s->last_ms = now;
  }
}

int mls_bucket_take(mls_limiter *l, const void *key, size_t len, uint64_t now, uint64_t *retry) {
  pthread_mutex_lock(&l->mu);
  int fresh;
  slot *s = lookup(l, key, len, 1, &fresh);
  if (fresh) {
    s->tokens = l->cfg.burst;
    s->last_ms = now;
  } else {
    refill(l, s, now);
  }
  int refused = 0;
  if (s->tokens >= 1.0) {
    s->tokens -= 1.0;
  } else {
    refused = 1;
    *retry = (uint64_t)((1.0 - s->tokens) * 1000.0 / l->cfg.rate_per_s) + 1;
  }
  pthread_mutex_unlock(&l->mu);
  return refused;
}

int mls_bucket_empty(mls_limiter *l, const void *key, size_t len, uint64_t now, uint64_t *retry) {
  pthread_mutex_lock(&l->mu);
  int fresh, empty = 0;
  slot *s = lookup(l, key, len, 0, &fresh);
  if (s) {
    refill(l, s, now);
    if (s->tokens < 1.0) {
      empty = 1;
      *retry = (uint64_t)((1.0 - s->tokens) * 1000.0 / l->cfg.rate_per_s) + 1;
    }
  }
  pthread_mutex_unlock(&l->mu);
  return empty;
}

int mls_backoff_check(mls_limiter *l, const void *key, size_t len, uint64_t now, uint64_t *retry) {
  pthread_mutex_lock(&l->mu);
  int fresh, wait = 0;
  slot *s = lookup(l, key, len, 0, &fresh);
  if (s && now - s->last_ms > l->cfg.forget_ms && now >= s->last_ms) {
    s->used = 0; /* forgiven */
  } else if (s && s->blocked_until > now) {
    wait = 1;
    *retry = s->blocked_until - now;
  }
  pthread_mutex_unlock(&l->mu);
  return wait;
}

void mls_backoff_fail(mls_limiter *l, const void *key, size_t len, uint64_t now) {
  pthread_mutex_lock(&l->mu);
  int fresh;
  slot *s = lookup(l, key, len, 1, &fresh);
  s->failures++;
  s->last_ms = now;
  if (s->failures > l->cfg.free_failures) {
    unsigned over = s->failures - l->cfg.free_failures - 1;
    uint64_t d = over >= 40 ? l->cfg.max_ms : l->cfg.base_ms << over;
    if (d > l->cfg.max_ms) d = l->cfg.max_ms;
    s->blocked_until = now + d;
  }
  pthread_mutex_unlock(&l->mu);
}

void mls_backoff_reset(mls_limiter *l, const void *key, size_t len) {
  pthread_mutex_lock(&l->mu);
  int fresh;
  slot *s = lookup(l, key, len, 0, &fresh);
  if (s) s->used = 0;
  pthread_mutex_unlock(&l->mu);
}

size_t mls_addr_key(uint8_t out[MLS_LIMIT_KEY_MAX], const char *peer) {
  uint8_t a[16];
  if (!peer || !*peer) peer = "-";
  if (inet_pton(AF_INET, peer, a) == 1) {
    out[0] = '4';
    memcpy(out + 1, a, 4);
    return 5;
  }
  if (inet_pton(AF_INET6, peer, a) == 1) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a, mapped, sizeof mapped) == 0) {
      out[0] = '4';
      memcpy(out + 1, a + 12, 4);
      return 5;
    }
    out[0] = '6';
    memcpy(out + 1, a, 8);
    return 9;
  }
  size_t n = strlen(peer);
  if (n > MLS_LIMIT_KEY_MAX) n = MLS_LIMIT_KEY_MAX;
  memcpy(out, peer, n);
  return n;
}
