/*
 * crypto_int.h — internal crypto helpers of mlproto_record (not installed).
 *
 * SHA-256 for the record path: records hash their disclosed part, their
 * sealed part and header||signature, ~1.2 KB per record, which libsodium's
 * portable SHA-256 makes a visible share of building and verifying a
 * record. These use the CPU's SHA extensions (x86-64 SHA-NI) when present,
 * detected once at run time, and libsodium's crypto_hash_sha256 otherwise;
 * both give the same bytes (tests/record/test_crypto_int.c compares them on
 * random inputs of every length class). Thread-safe; no allocation.
 */
#ifndef MLPROTO_CRYPTO_INT_H
#define MLPROTO_CRYPTO_INT_H

#include <stddef.h>
#include <stdint.h>

/* out = SHA-256(a || b). a or b may be NULL when its length is 0. */
void mlproto__sha256_2(uint8_t out[32], const uint8_t *a, size_t alen, const uint8_t *b,
                       size_t blen);

/* out = SHA-256(in). */
void mlproto__sha256(uint8_t out[32], const uint8_t *in, size_t len);

/* 1 when the accelerated path is in use, else 0. */
int mlproto__sha256_accelerated(void);

/* Tests only: 0 forces the libsodium path, 1 restores detection. Not for
 * concurrent use with hashing on other threads. */
void mlproto__sha256_set_accel(int allow);

/*
 * Random bytes for record ids, salts and nonces (at most 64 per call).
 * randombytes_buf() is one getrandom() system call per call (~1.5 us on
 * these VMs, as much as SHA-256 of a whole record); this draws 512 bytes
 * at a time into a per-thread pool and hands them out once each, wiping
 * every byte as it leaves the pool.
 * Fork safety: a child must never reuse its parent's pool (same nonce under
 * the same case key): a pthread_atfork() child handler bumps a generation
 * counter and a pool of an older generation is discarded. Where the handler
 * cannot be registered, or n > 64, or an application installed its own
 * randombytes implementation, every call goes to randombytes_buf().
 * Thread-safe (the pool is thread-local).
 */
void mlproto__random(uint8_t *out, size_t n);

/*
 * Ed25519 verification of a signed message sm = signature (64) || message.
 * Acceptance is exactly libsodium 1.0.18's crypto_sign_verify_detached:
 * S < L, R and A not of small order (any encoding of the eight points of
 * order dividing 8), A's y canonical, and the cofactorless equation
 * encode([S]B - [h]A) == R, h = SHA-512(R || A || M) mod L.
 * Built with lib25519 (CMake ML_LIB25519, the default), the curve
 * arithmetic is lib25519's (1.6x faster on x86-64) behind those checks;
 * otherwise libsodium does all of it. tests/record/test_verify.c and the
 * fuzz target fuzz_verify compare the two on valid, mutated and crafted
 * signatures (small-order R and A that satisfy the equation, S + L, ...).
 * scratch: smlen bytes (lib25519 writes the message there). 0 = valid.
 * Thread-safe; no allocation.
 */
int mlproto__ed25519_open(const uint8_t *sm, size_t smlen, const uint8_t pk[32], uint8_t *scratch);

/* 1 when lib25519 does the arithmetic, else 0. */
int mlproto__ed25519_engine_is_lib25519(void);

#endif
