/*
 * challenge.h — stateless session challenges (issue 12): what
 * GET /v1/session/challenge hands out and POST /v1/session checks, with no
 * row in the store, so that any instance sharing the store can check a
 * challenge any other one issued.
 *
 * The format (32 bytes; clients treat them as opaque, and the protocol's
 * length of a challenge stays 32):
 *
 *   [0]       version, MLS_CHALLENGE_V1 (0x01)
 *   [1..8)    nonce, 7 random bytes
 *   [8..16)   expires_ms, u64be, the issuing instance's clock
 *   [16..32)  tag = BLAKE2b-128 keyed with the challenge key over
 *             "mentorlog/challenge/v1" 0x00 || bytes [0..16)
 *
 * The tag is a MAC under a 32-byte key that every instance reads from the
 * store (meta "challenge_key", created once): no one without it can make a
 * challenge the server accepts, nor change a byte of one (the expiry
 * included). A 128-bit tag leaves a forger one chance in 2^128 per attempt,
 * and every attempt is an online request under the per-address limits.
 * The 7-byte nonce makes two challenges of one expiry differ (two equal
 * ones become likely only past about 2^28 issued within one millisecond);
 * the tag being a keyed function of it, a challenge is unpredictable to
 * anyone without the key.
 *
 * The challenge is NOT bound to the address that asked for it: a phone that
 * moves from Wi-Fi to mobile data between the two requests (a new address,
 * even a new IPv6 /64) must still get its session, and an address says
 * nothing about who holds the device key anyway. What makes an answer
 * worth anything is the device's signature over the challenge.
 *
 * Single use. The in-memory set below (mls_spent) holds, per instance, the
 * challenges answered there until they expire, whatever the outcome of the
 * answer. A challenge that opened a session is also single-use across every
 * instance: the store keeps it with the session it opened, unique
 * (store.h session_add), so a second session from it, at any instance, is
 * refused. See docs/wire-protocol.md §3.2.
 *
 * Secrets: the key is sodium_malloc'd, read-only, and never logged.
 */
#ifndef MLS_CHALLENGE_H
#define MLS_CHALLENGE_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define MLS_CHALLENGE_LEN 32
#define MLS_CHALLENGE_V1 0x01
#define MLS_CHALLENGE_NONCE_LEN 7
#define MLS_CHALLENGE_KEY_LEN 32
/* The store's meta key under which the challenge key is kept. */
#define MLS_CHALLENGE_META "challenge_key"

/* The challenge key of the store: read, or (when the store has none yet)
 * drawn at random and written, in one write transaction; a second instance
 * starting at the same time waits for the writer lock and then reads the
 * key the first one wrote (store.h: a write transaction is exclusive).
 * *key: MLS_CHALLENGE_KEY_LEN bytes from sodium_malloc, read-only; free
 * with mls_challenge_key_free. *created (when not NULL): 1 when this call
 * wrote the key. BAD_KEY when the stored value is not 32 bytes; the
 * store's errors otherwise. *key is NULL on failure. */
int mls_challenge_key_load(mls_store *st, uint8_t **key, int *created);
void mls_challenge_key_free(uint8_t *key); /* wipes; NULL is a no-op */

/* The challenge of this nonce and expiry under key (no I/O, no clock). */
void mls_challenge_make(uint8_t out[MLS_CHALLENGE_LEN], const uint8_t *key,
                        const uint8_t nonce[MLS_CHALLENGE_NONCE_LEN], uint64_t expires_ms);

/* MLPROTO_OK (and *expires_ms) when ch is a version-1 challenge whose tag
 * verifies under key (compared in constant time) and which is unexpired at
 * now_ms (now_ms < expires_ms) without expiring later than
 * now_ms + max_life_ms (an instance whose clock is far ahead of this one's
 * made it: the bound keeps the life of every entry of the spent set under
 * max_life_ms). MLPROTO_ERR_CHALLENGE_INVALID otherwise, one answer for
 * every reason. */
int mls_challenge_check(const uint8_t ch[MLS_CHALLENGE_LEN], const uint8_t *key, uint64_t now_ms,
                        uint64_t max_life_ms, uint64_t *expires_ms)
    __attribute__((warn_unused_result));

/* The spent challenges of one instance: a set of at most `cap` unexpired
 * challenges, each kept until its expiry and dropped then (the earliest
 * first, at each mls_spent_add). When it holds `cap` unexpired challenges
 * it refuses the next one rather than forget one that is still valid.
 * Memory: about 56 bytes per entry, allocated at creation. Thread-safe. */
typedef struct mls_spent mls_spent;

#define MLS_SPENT_DEFAULT 65536u
#define MLS_SPENT_MAX (1u << 24)

/* cap 1..MLS_SPENT_MAX (INVALID_ARGUMENT), OUT_OF_MEMORY. */
int mls_spent_new(mls_spent **out, size_t cap);
void mls_spent_free(mls_spent *s);
/* Spends ch, a challenge mls_challenge_check accepted with this expiry (the
 * set hashes its tag bytes, which only the key holder can choose):
 * MLPROTO_OK when it was not spent yet (it is now);
 * MLPROTO_ERR_CHALLENGE_INVALID when it was (or expires_ms <= now_ms);
 * MLPROTO_ERR_UNAVAILABLE when the set holds cap unexpired challenges, and
 * *retry_ms (> 0) is how long until the earliest of them expires. */
int mls_spent_add(mls_spent *s, const uint8_t ch[MLS_CHALLENGE_LEN], uint64_t expires_ms,
                  uint64_t now_ms, uint64_t *retry_ms);
/* Challenges held (expired ones not dropped yet included). */
size_t mls_spent_count(mls_spent *s);

#endif
