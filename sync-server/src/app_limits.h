/*
 * app_limits.h — in-memory abuse limits of the application half.
 *
 * Two mechanisms, each a fixed-size table (memory is bounded whatever the
 * traffic: when a table is full the least recently touched entry in the
 * probe window is evicted), guarded by its own mutex:
 *
 * Token buckets (requests per second): mls_bucket_take() refuses when the
 * key's bucket is empty and says how long until a token is back. Used per
 * device (authenticated requests), per address (every route without
 * credentials, and session answers on their own) and per address for
 * failed bearer tokens (a token taken per failure, mls_bucket_empty()
 * checked before each lookup).
 *
 * Failure backoff (authentication attempts): after `free_failures` failures
 * a key must wait base_ms * 2^(failures - free_failures), capped at max_ms,
 * before its next attempt is even looked at. Entries are forgotten after
 * forget_ms without failures. The server uses two tables:
 *   per address: 10 free failures, 1 s doubling to at most 15 min, forgotten
 *     after 15 min, NOT reset by a success — this is what stops an attacker
 *     guessing codes or replaying signatures from one place;
 *   per device:  5 free failures, 1 s doubling to at most 30 s, reset by a
 *     success. Only failures that carry a VALID signature of that device
 *     count here (a replayed, spent or expired challenge, a revoked device):
 *     a bad signature or an unknown key proves nothing about the claimed
 *     device, so it is counted against the address only. A device's public
 *     key is public (it is in the log); anyone may claim it, nobody but the
 *     device can make its counter move.
 *
 * Addresses are keyed by mls_addr_key(): an IPv4 address as itself, an IPv6
 * address by its /64 (one subscriber usually holds a whole /64, so keying on
 * the full address would give an attacker 2^64 fresh identities).
 * The state is per process and lost on restart (it is a brake, not a record).
 */
#ifndef MLS_APP_LIMITS_H
#define MLS_APP_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#define MLS_LIMIT_KEY_MAX 48

/* The limiter key of a peer address string ("192.0.2.1", "2001:db8::1",
 * "::ffff:192.0.2.1"): '4' + 4 bytes for IPv4 (also IPv4-mapped IPv6),
 * '6' + the first 8 bytes for IPv6 (its /64); anything unparseable is
 * used as given (cut to MLS_LIMIT_KEY_MAX). Returns the key length (>= 1). */
size_t mls_addr_key(uint8_t out[MLS_LIMIT_KEY_MAX], const char *peer);

typedef struct mls_limiter mls_limiter;

typedef struct mls_limiter_config {
  size_t slots;            /* table size (power of two is not required) */
  /* token bucket */
  double rate_per_s;
  double burst;
  /* failure backoff */
  unsigned free_failures;
  uint64_t base_ms, max_ms, forget_ms;
} mls_limiter_config;

int mls_limiter_new(mls_limiter **out, const mls_limiter_config *cfg);
void mls_limiter_free(mls_limiter *l);

/* Token bucket: 0 when a token was taken, else 1 and *retry_ms set. */
int mls_bucket_take(mls_limiter *l, const void *key, size_t key_len, uint64_t now_ms,
                    uint64_t *retry_ms);
/* The same question without taking a token: 1 (and *retry_ms) when the
 * key's bucket holds less than one token, else 0. A key never seen has a
 * full bucket and claims no slot. Used where only failures cost a token
 * (failed bearer tokens per address: the check comes before the lookup,
 * the take after it failed). */
int mls_bucket_empty(mls_limiter *l, const void *key, size_t key_len, uint64_t now_ms,
                     uint64_t *retry_ms);

/* Backoff: 1 (and *retry_ms) when key must still wait, else 0. */
int mls_backoff_check(mls_limiter *l, const void *key, size_t key_len, uint64_t now_ms,
                      uint64_t *retry_ms);
void mls_backoff_fail(mls_limiter *l, const void *key, size_t key_len, uint64_t now_ms);
void mls_backoff_reset(mls_limiter *l, const void *key, size_t key_len);

#endif
