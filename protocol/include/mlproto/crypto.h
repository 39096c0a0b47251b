/*
 * mlproto/crypto.h — the crypto suite of Mentorlog (DESIGN §4), over libsodium.
 *
 * Keys are opaque, typed objects (mlproto_key) held in sodium_malloc memory
 * (guard pages, no swap where the OS allows) and wiped when freed. Each key
 * carries its type, and every function refuses a key of the wrong type with
 * MLPROTO_ERR_BAD_KEY, so a case key can never sign and a device key never
 * wraps:
 *
 *   MLPROTO_KEY_SIGN  Ed25519 device (or server) signing key pair: identity
 *   MLPROTO_KEY_BOX   X25519 device (or escrow) key pair: receives case keys
 *   MLPROTO_KEY_CASE  32 random bytes: XChaCha20-Poly1305 key of one case
 *   MLPROTO_KEY_WRAP  32 bytes: wraps other keys for storage (from Argon2id
 *                     or from a platform keystore)
 *
 * Every signature and every AEAD carries a domain tag (a NUL-terminated
 * string whose NUL is part of the signed/authenticated bytes), so bytes
 * signed for one purpose never verify for another.
 *
 * Call mlproto_crypto_init() once (it is idempotent and thread-safe) before
 * anything else in mlproto_record. All functions are reentrant; a const key
 * may be used by several threads at once.
 */
#ifndef MLPROTO_CRYPTO_H
#define MLPROTO_CRYPTO_H

#include "mlproto/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLPROTO_SIGN_PUBLICKEYBYTES 32
#define MLPROTO_SIGN_BYTES 64
#define MLPROTO_BOX_PUBLICKEYBYTES 32
#define MLPROTO_KEY_SECRETBYTES 32        /* exported secret of every key type */
#define MLPROTO_CASE_KEY_SEALEDBYTES 80   /* crypto_box_seal of a case key */
#define MLPROTO_WRAP_OVERHEAD 40          /* 24-byte nonce + 16-byte tag */
#define MLPROTO_WRAPPED_KEY_BYTES (MLPROTO_KEY_SECRETBYTES + MLPROTO_WRAP_OVERHEAD)
#define MLPROTO_WRAP_PURPOSE_MAX 64       /* bytes of a wrap purpose string */
#define MLPROTO_TAG_MAX 64                /* bytes of a signature domain tag */
#define MLPROTO_KDF_SALTBYTES 16
#define MLPROTO_PASSPHRASE_MAX 1024

/* Function forms of the sizes, for bindings that cannot read macros. */
MLPROTO_EXTERN size_t mlproto_sign_publickeybytes(void);
MLPROTO_EXTERN size_t mlproto_sign_bytes(void);
MLPROTO_EXTERN size_t mlproto_key_secretbytes(void);
MLPROTO_EXTERN size_t mlproto_case_key_sealedbytes(void);
MLPROTO_EXTERN size_t mlproto_wrapped_key_bytes(void);

/* Initialise libsodium. MLPROTO_OK, or MLPROTO_ERR_INTERNAL when the library
 * cannot initialise (no entropy source). Idempotent, thread-safe. */
MLPROTO_EXTERN int mlproto_crypto_init(void) MLPROTO_WARN_UNUSED;

typedef enum mlproto_key_type {
  MLPROTO_KEY_SIGN = 1,
  MLPROTO_KEY_BOX = 2,
  MLPROTO_KEY_CASE = 3,
  MLPROTO_KEY_WRAP = 4
} mlproto_key_type;

typedef struct mlproto_key mlproto_key;

/* A fresh random key of the type. *out NULL on failure (INVALID_ARGUMENT,
 * OUT_OF_MEMORY). Free with mlproto_key_free. */
MLPROTO_EXTERN int mlproto_key_generate(mlproto_key **out, mlproto_key_type type)
    MLPROTO_WARN_UNUSED;
/* A key from its 32 secret bytes (SIGN: the Ed25519 seed; BOX: the X25519
 * secret scalar; CASE, WRAP: the key). FIELD_SIZE unless len == 32. */
MLPROTO_EXTERN int mlproto_key_import(mlproto_key **out, mlproto_key_type type,
                                      const uint8_t *secret, size_t len) MLPROTO_WARN_UNUSED;
/* The 32 secret bytes, as accepted by mlproto_key_import. The caller must
 * wipe them (sodium_memzero); prefer mlproto_key_wrap for storage. */
MLPROTO_EXTERN void mlproto_key_export(uint8_t out[MLPROTO_KEY_SECRETBYTES], const mlproto_key *k);
MLPROTO_EXTERN mlproto_key_type mlproto_key_type_of(const mlproto_key *k);
/* Public key of a SIGN (Ed25519) or BOX (X25519) key; BAD_KEY otherwise. */
MLPROTO_EXTERN int mlproto_key_public(uint8_t out[32], const mlproto_key *k) MLPROTO_WARN_UNUSED;
/* Wipe and free; NULL is a no-op. */
MLPROTO_EXTERN void mlproto_key_free(mlproto_key *k);

/* ------------------------------------------------------------ signatures -- */

/* Ed25519 over tag (incl. its NUL; at most MLPROTO_TAG_MAX bytes) || msg.
 * BAD_KEY unless k is a SIGN key; INVALID_ARGUMENT for a bad tag. */
MLPROTO_EXTERN int mlproto_sign(uint8_t sig[MLPROTO_SIGN_BYTES], const mlproto_key *k,
                                const char *tag, const uint8_t *msg, size_t len)
    MLPROTO_WARN_UNUSED;
/* MLPROTO_OK or MLPROTO_ERR_BAD_SIGNATURE (also for a non-canonical or
 * small-order public key). */
MLPROTO_EXTERN int mlproto_verify(const uint8_t sig[MLPROTO_SIGN_BYTES],
                                  const uint8_t pk[MLPROTO_SIGN_PUBLICKEYBYTES], const char *tag,
                                  const uint8_t *msg, size_t len) MLPROTO_WARN_UNUSED;

/* ------------------------------------------------------------- KEY_GRANT -- */

/* crypto_box_seal(case key) to a recipient's X25519 public key (a device or
 * the escrow key): the sealed_key of a KEY_GRANT. BAD_KEY unless case_key is
 * a CASE key or when recipient is not a valid X25519 public key. */
MLPROTO_EXTERN int mlproto_case_key_seal(uint8_t out[MLPROTO_CASE_KEY_SEALEDBYTES],
                                         const mlproto_key *case_key,
                                         const uint8_t recipient[MLPROTO_BOX_PUBLICKEYBYTES])
    MLPROTO_WARN_UNUSED;
/* Open a sealed case key with the recipient's BOX key: *out a new CASE key.
 * SEAL_OPEN_FAILED when it was not sealed to this key or was altered. */
MLPROTO_EXTERN int mlproto_case_key_open(mlproto_key **out,
                                         const uint8_t sealed[MLPROTO_CASE_KEY_SEALEDBYTES],
                                         const mlproto_key *box) MLPROTO_WARN_UNUSED;

/* ----------------------------------------------------------- fingerprints -- */

/* A device's fingerprint, shown on two screens and compared by eye before a
 * device is approved (DESIGN §4): SHA-256("mentorlog/device-fingerprint/v1"
 * 0x00 || sign_pub || box_pub), its first 80 bits as 16 symbols of
 * Crockford base32 (0-9, A-Z without I, L, O, U; most significant bit first)
 * in four groups of four joined by '-': "7GC5-4YTX-QJ8N-876H" (19 chars and
 * a NUL). INVALID_ARGUMENT for NULL (out is then ""). */
#define MLPROTO_FINGERPRINT_LEN 19u
MLPROTO_EXTERN int mlproto_device_fingerprint(char out[MLPROTO_FINGERPRINT_LEN + 1],
                                              const uint8_t sign_pub[32],
                                              const uint8_t box_pub[32]) MLPROTO_WARN_UNUSED;
/* A device's 16-byte id, what the server's administrator and the device
 * show and what `mentorlog-audit regrant --device` takes: the first 16
 * bytes of SHA-256("mentorlog/device-id/v1" 0x00 || sign_pub). */
MLPROTO_EXTERN void mlproto_device_id(uint8_t out[16], const uint8_t sign_pub[32]);

/* 1 when a and b name the same fingerprint as a person would read them:
 * 16 symbols each, case ignored, dashes and spaces ignored, O read as 0 and
 * I, L as 1; else 0 (also for NULL or any other character). */
MLPROTO_EXTERN int mlproto_fingerprint_equal(const char *a, const char *b);

/* --------------------------------------------------------------- wrapping -- */

/*
 * Authenticated encryption for storage (client-core: keys and secrets at
 * rest). out = 24-byte random nonce || XChaCha20-Poly1305-IETF(pt) with
 * AAD = "mentorlog/wrap/v1\0" || purpose (a short ASCII string naming what
 * is wrapped, e.g. "device-sign"; 1..MLPROTO_WRAP_PURPOSE_MAX bytes), so a
 * blob wrapped for one purpose never unwraps as another.
 * out_cap must be >= len + MLPROTO_WRAP_OVERHEAD (else BUFFER_TOO_SMALL).
 * kek must be a WRAP key (else BAD_KEY).
 */
MLPROTO_EXTERN int mlproto_wrap(uint8_t *out, size_t out_cap, size_t *out_len,
                                const mlproto_key *kek, const char *purpose, const uint8_t *pt,
                                size_t len) MLPROTO_WARN_UNUSED;
/* Inverse of mlproto_wrap. WRONG_PASSPHRASE when the key, purpose or bytes
 * do not match (the output is wiped then); FIELD_SIZE for len < overhead. */
MLPROTO_EXTERN int mlproto_unwrap(uint8_t *out, size_t out_cap, size_t *out_len,
                                  const mlproto_key *kek, const char *purpose, const uint8_t *ct,
                                  size_t len) MLPROTO_WARN_UNUSED;
/* Wrap a key's secret (its type is authenticated too): out is
 * MLPROTO_WRAPPED_KEY_BYTES long. */
MLPROTO_EXTERN int mlproto_key_wrap(uint8_t out[MLPROTO_WRAPPED_KEY_BYTES], const mlproto_key *kek,
                                    const char *purpose, const mlproto_key *k) MLPROTO_WARN_UNUSED;
/* Unwrap into a new key of the given type; WRONG_PASSPHRASE on mismatch
 * (including a different type than the one wrapped). */
MLPROTO_EXTERN int mlproto_key_unwrap(mlproto_key **out, mlproto_key_type type,
                                      const mlproto_key *kek, const char *purpose,
                                      const uint8_t wrapped[MLPROTO_WRAPPED_KEY_BYTES])
    MLPROTO_WARN_UNUSED;

/*
 * Storage AEAD bound to a row (client-core: every stored record envelope is
 * sealed this way, DESIGN.md of client-core). out = 24-byte random nonce ||
 * XChaCha20-Poly1305-IETF(pt) with
 *   AAD = "mentorlog/wrap/v1\0" || purpose || 0x00 || bind
 * where bind names the row (e.g. a record id; 1..MLPROTO_WRAP_BIND_MAX
 * bytes), so a blob sealed for one row never opens as another row's, and a
 * blob of one purpose never opens as another purpose's. Use purposes here
 * that are never used with mlproto_wrap/mlproto_key_wrap. out_cap must be
 * >= len + MLPROTO_WRAP_OVERHEAD (BUFFER_TOO_SMALL); kek a WRAP key
 * (BAD_KEY); INVALID_ARGUMENT for a bad purpose or bind.
 */
#define MLPROTO_WRAP_BIND_MAX 64
MLPROTO_EXTERN int mlproto_wrap_bound(uint8_t *out, size_t out_cap, size_t *out_len,
                                      const mlproto_key *kek, const char *purpose,
                                      const uint8_t *bind, size_t bind_len, const uint8_t *pt,
                                      size_t len) MLPROTO_WARN_UNUSED;
/* Inverse of mlproto_wrap_bound. SEAL_OPEN_FAILED when key, purpose, bind
 * or bytes do not match (out is wiped then); FIELD_SIZE for len < overhead;
 * BUFFER_TOO_SMALL when out_cap < len - MLPROTO_WRAP_OVERHEAD. */
MLPROTO_EXTERN int mlproto_unwrap_bound(uint8_t *out, size_t out_cap, size_t *out_len,
                                        const mlproto_key *kek, const char *purpose,
                                        const uint8_t *bind, size_t bind_len, const uint8_t *ct,
                                        size_t len) MLPROTO_WARN_UNUSED;

/*
 * Derive an independent WRAP subkey from a WRAP key and a context of exactly
 * 8 ASCII bytes (libsodium crypto_kdf_derive_from_key, BLAKE2b, subkey id 1):
 * one storage key, separate keys per use, none of which reveals another.
 * *out a new WRAP key (NULL on failure). Errors: BAD_KEY (parent not WRAP),
 * INVALID_ARGUMENT (context not 8 bytes), OUT_OF_MEMORY.
 */
MLPROTO_EXTERN int mlproto_key_derive(mlproto_key **out, const mlproto_key *parent,
                                      const char context[8]) MLPROTO_WARN_UNUSED;

/* ---------------------------------------------------------------- Argon2id -- */

/* Parameters stored beside the wrapped keys, so that the same key can be
 * derived again. Bounds (FIELD_RANGE outside, since they are read from disk):
 * opslimit 1..MLPROTO_KDF_OPSLIMIT_MAX, memlimit 8 KiB..MLPROTO_KDF_MEMLIMIT_MAX. */
typedef struct mlproto_kdf_params {
  uint64_t opslimit;
  uint64_t memlimit; /* bytes */
  uint8_t salt[MLPROTO_KDF_SALTBYTES];
} mlproto_kdf_params;

#define MLPROTO_KDF_OPSLIMIT_MAX 16u
#define MLPROTO_KDF_MEMLIMIT_MAX (1024ull * 1024ull * 1024ull)

/* libsodium's INTERACTIVE (~85 ms here) or MODERATE (~730 ms) limits and a
 * fresh random salt. */
MLPROTO_EXTERN void mlproto_kdf_params_interactive(mlproto_kdf_params *p);
MLPROTO_EXTERN void mlproto_kdf_params_moderate(mlproto_kdf_params *p);
/* Derive a WRAP key from a passphrase (1..MLPROTO_PASSPHRASE_MAX bytes) with
 * Argon2id v1.3. Errors: INVALID_ARGUMENT, FIELD_RANGE, OUT_OF_MEMORY (the
 * memlimit could not be allocated). */
MLPROTO_EXTERN int mlproto_kdf_argon2id(mlproto_key **out, const char *pass, size_t passlen,
                                        const mlproto_kdf_params *p) MLPROTO_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
