/*
 * sync_state.h — what the sync tests compare between devices, and their
 * seeded randomness. Needs only libmentorlog (the in-process driver,
 * sync_driver.h, and the tests over the real server use it alike).
 */
#ifndef ML_SYNC_STATE_H
#define ML_SYNC_STATE_H

#include "testutil.h"

#include "mentorlog/mentorlog.h"

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------ derived state --- */
/* SHA-256 over a canonical export of what d shows: every case (id, name,
 * phone, erased, conflict), grant, contact (id, head, values, note,
 * conflict) and note (id, head, text, conflict), items sorted by id and
 * head. Two devices that read the same records the same way get the same
 * hash (name: for messages). *conflicts (may be NULL) gets the number of items shown in
 * conflict, *locked the number of cases whose name d cannot read. */
void sd_state_hash_of(mentorlog *h, const char *name, uint8_t out[32], unsigned *conflicts,
                      unsigned *locked);

/* --------------------------------------------------------------- rng --- */
/* splitmix64: the tests' only randomness, seeded from ML_SYNC_SEED. */
typedef struct sd_rng {
  uint64_t s;
} sd_rng;
uint64_t sd_rand(sd_rng *r);
uint32_t sd_below(sd_rng *r, uint32_t n); /* uniform in [0, n) */
/* A deterministic libsodium randombytes (ChaCha20 keyed by SHA-256 of the
 * seed, as tests/golden does), so that every random choice of the library
 * and the server (record ids, keys, nonces, challenges, the engine's
 * backoff jitter and proof samples) repeats when a schedule is replayed.
 * Install before mlproto_crypto_init(); reseed at each schedule. Tests
 * only: every key it makes is known to anyone with the seed. */
int sd_det_random_install(void);
void sd_det_random_seed(uint64_t seed);

/* getenv(name) as a u64, or def. */
uint64_t sd_env_u64(const char *name, uint64_t def);

#endif
