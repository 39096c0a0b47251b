#include "mlproto/crypto.h"

#include "crypto_int.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"

#include <sodium.h>
#include <stdbool.h>
#include <string.h>

#define WRAP_TAG "mentorlog/wrap/v1"
#define WRAP_TAG_LEN sizeof(WRAP_TAG) /* with its NUL */

_Static_assert(MLPROTO_SIGN_PUBLICKEYBYTES == crypto_sign_PUBLICKEYBYTES, "ed25519 pk");
_Static_assert(MLPROTO_SIGN_BYTES == crypto_sign_BYTES, "ed25519 sig");
_Static_assert(MLPROTO_BOX_PUBLICKEYBYTES == crypto_box_PUBLICKEYBYTES, "x25519 pk");
_Static_assert(MLPROTO_CASE_KEY_SEALEDBYTES == 32 + crypto_box_SEALBYTES, "sealed key");
_Static_assert(MLPROTO_WRAP_OVERHEAD == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                                            crypto_aead_xchacha20poly1305_ietf_ABYTES,
               "wrap overhead");
_Static_assert(MLPROTO_KDF_SALTBYTES == crypto_pwhash_SALTBYTES, "salt");

/* One sodium_malloc block per key: guard pages around it, wiped on free. */
struct mlproto_key {
  mlproto_key_type type;
  uint8_t pk[32];
  uint8_t sk[64]; /* SIGN: seed || pk (libsodium layout); others: 32 bytes */
};

size_t mlproto_sign_publickeybytes(void) { return MLPROTO_SIGN_PUBLICKEYBYTES; }
size_t mlproto_sign_bytes(void) { return MLPROTO_SIGN_BYTES; }
size_t mlproto_key_secretbytes(void) { return MLPROTO_KEY_SECRETBYTES; }
size_t mlproto_case_key_sealedbytes(void) { return MLPROTO_CASE_KEY_SEALEDBYTES; }
size_t mlproto_wrapped_key_bytes(void) { return MLPROTO_WRAPPED_KEY_BYTES; }

int mlproto_crypto_init(void) {
  /* sodium_init is itself idempotent and thread-safe (returns 1 when done). */
  return sodium_init() < 0 ? MLPROTO_ERR_INTERNAL : MLPROTO_OK;
}

static int type_valid(mlproto_key_type t) {
  return t == MLPROTO_KEY_SIGN || t == MLPROTO_KEY_BOX || t == MLPROTO_KEY_CASE ||
         t == MLPROTO_KEY_WRAP;
}

static mlproto_key *key_alloc(mlproto_key_type type) {
  mlproto_key *k = sodium_malloc(sizeof *k);
  if (k) {
    sodium_memzero(k, sizeof *k);
    k->type = type;
  }
  return k;
}

void mlproto_key_free(mlproto_key *k) {
  if (k)
    sodium_free(k); /* wipes */
}

static int key_fill(mlproto_key *k, const uint8_t secret[32]) {
  switch (k->type) {
  case MLPROTO_KEY_SIGN:
    if (crypto_sign_seed_keypair(k->pk, k->sk, secret) != 0)
      return MLPROTO_ERR_INTERNAL;
    return MLPROTO_OK;
  case MLPROTO_KEY_BOX:
    memcpy(k->sk, secret, 32);
    if (crypto_scalarmult_base(k->pk, k->sk) != 0)
      return MLPROTO_ERR_BAD_KEY;
    return MLPROTO_OK;
  case MLPROTO_KEY_CASE:
  case MLPROTO_KEY_WRAP:
    memcpy(k->sk, secret, 32);
    return MLPROTO_OK;
  }
  return MLPROTO_ERR_INVALID_ARGUMENT;
}

int mlproto_key_import(mlproto_key **out, mlproto_key_type type, const uint8_t *secret,
                       size_t len) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (!type_valid(type) || !secret)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (len != MLPROTO_KEY_SECRETBYTES)
    return MLPROTO_ERR_FIELD_SIZE;
  mlproto_key *k = key_alloc(type);
  if (!k)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  int rc = key_fill(k, secret);
  if (rc) {
    mlproto_key_free(k);
    return rc;
  }
  *out = k;
  return MLPROTO_OK;
}

int mlproto_key_generate(mlproto_key **out, mlproto_key_type type) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (!type_valid(type))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  uint8_t secret[32];
  randombytes_buf(secret, sizeof secret);
  int rc = mlproto_key_import(out, type, secret, sizeof secret);
  sodium_memzero(secret, sizeof secret);
  return rc;
}

void mlproto_key_export(uint8_t out[MLPROTO_KEY_SECRETBYTES], const mlproto_key *k) {
  memcpy(out, k->sk, MLPROTO_KEY_SECRETBYTES); /* SIGN: the seed half */
}

mlproto_key_type mlproto_key_type_of(const mlproto_key *k) { return k->type; }

int mlproto_key_public(uint8_t out[32], const mlproto_key *k) {
  if (!k || (k->type != MLPROTO_KEY_SIGN && k->type != MLPROTO_KEY_BOX))
    return MLPROTO_ERR_BAD_KEY;
  memcpy(out, k->pk, 32);
  return MLPROTO_OK;
}

/* ------------------------------------------------------------------------ */

static int tag_len(const char *tag, size_t *n) {
  if (!tag)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  size_t l = strnlen(tag, MLPROTO_TAG_MAX);
  if (l == 0 || l >= MLPROTO_TAG_MAX)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *n = l + 1;
  return MLPROTO_OK;
}

/* tag || msg in one buffer: Ed25519 (pure) needs the whole message at once.
 * Small messages stay on the stack so the record path does not allocate. */
#define SIGN_STACK 2048

static int with_tagged(const char *tag, const uint8_t *msg, size_t len, uint8_t *stack,
                       uint8_t **buf, size_t *buflen) {
  size_t tl;
  int rc = tag_len(tag, &tl);
  if (rc)
    return rc;
  if (len > SIZE_MAX - tl)
    return MLPROTO_ERR_TOO_LARGE;
  *buflen = tl + len;
  *buf = *buflen <= SIGN_STACK ? stack : mlproto_malloc(*buflen);
  if (!*buf)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  memcpy(*buf, tag, tl);
  if (len)
    memcpy(*buf + tl, msg, len);
  return MLPROTO_OK;
}

static void tagged_free(uint8_t *buf, size_t buflen, uint8_t *stack) {
  if (buf != stack)
    mlproto_free(buf);
  (void)buflen;
}

int mlproto_sign(uint8_t sig[MLPROTO_SIGN_BYTES], const mlproto_key *k, const char *tag,
                 const uint8_t *msg, size_t len) {
  if (!k || k->type != MLPROTO_KEY_SIGN)
    return MLPROTO_ERR_BAD_KEY;
  uint8_t stack[SIGN_STACK], *buf;
  size_t buflen;
  int rc = with_tagged(tag, msg, len, stack, &buf, &buflen);
  if (rc)
    return rc;
  crypto_sign_detached(sig, NULL, buf, buflen, k->sk);
  tagged_free(buf, buflen, stack);
  return MLPROTO_OK;
}

int mlproto_verify(const uint8_t sig[MLPROTO_SIGN_BYTES],
                   const uint8_t pk[MLPROTO_SIGN_PUBLICKEYBYTES], const char *tag,
                   const uint8_t *msg, size_t len) {
  /* sig || tag || msg, and as much scratch for lib25519 (crypto_int.h) */
  size_t tl;
  int rc = tag_len(tag, &tl);
  if (rc)
    return rc;
  if (len > (SIZE_MAX - MLPROTO_SIGN_BYTES - tl) / 2)
    return MLPROTO_ERR_TOO_LARGE;
  size_t n = MLPROTO_SIGN_BYTES + tl + len;
  uint8_t stack[2 * SIGN_STACK], *buf = 2 * n <= sizeof stack ? stack : mlproto_malloc(2 * n);
  if (!buf)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  memcpy(buf, sig, MLPROTO_SIGN_BYTES);
  memcpy(buf + MLPROTO_SIGN_BYTES, tag, tl);
  if (len)
    memcpy(buf + MLPROTO_SIGN_BYTES + tl, msg, len);
  rc = mlproto__ed25519_open(buf, n, pk, buf + n) == 0 ? MLPROTO_OK : MLPROTO_ERR_BAD_SIGNATURE;
  if (buf != stack)
    mlproto_free(buf);
  return rc;
}

/* ------------------------------------------------------------------------ */

int mlproto_case_key_seal(uint8_t out[MLPROTO_CASE_KEY_SEALEDBYTES], const mlproto_key *case_key,
                          const uint8_t recipient[MLPROTO_BOX_PUBLICKEYBYTES]) {
  if (!case_key || case_key->type != MLPROTO_KEY_CASE || !recipient)
    return MLPROTO_ERR_BAD_KEY;
  if (crypto_box_seal(out, case_key->sk, 32, recipient) != 0)
    return MLPROTO_ERR_BAD_KEY; /* small-order recipient key */
  return MLPROTO_OK;
}

int mlproto_case_key_open(mlproto_key **out, const uint8_t sealed[MLPROTO_CASE_KEY_SEALEDBYTES],
                          const mlproto_key *box) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (!box || box->type != MLPROTO_KEY_BOX)
    return MLPROTO_ERR_BAD_KEY;
  mlproto_key *k = key_alloc(MLPROTO_KEY_CASE);
  if (!k)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  if (crypto_box_seal_open(k->sk, sealed, MLPROTO_CASE_KEY_SEALEDBYTES, box->pk, box->sk) != 0) {
    mlproto_key_free(k);
    return MLPROTO_ERR_SEAL_OPEN_FAILED;
  }
  *out = k;
  return MLPROTO_OK;
}

/* ------------------------------------------------------------------------ */

/* AAD = tag || purpose || extra (one byte: key type for key wraps, or none). */
static int wrap_aad(uint8_t *aad, size_t *aadlen, const char *purpose, int extra) {
  if (!purpose)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  size_t pl = strnlen(purpose, MLPROTO_WRAP_PURPOSE_MAX + 1);
  if (pl == 0 || pl > MLPROTO_WRAP_PURPOSE_MAX)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  memcpy(aad, WRAP_TAG, WRAP_TAG_LEN);
  memcpy(aad + WRAP_TAG_LEN, purpose, pl);
  *aadlen = WRAP_TAG_LEN + pl;
  if (extra >= 0)
    aad[(*aadlen)++] = (uint8_t)extra;
  return MLPROTO_OK;
}

#define AAD_MAX (WRAP_TAG_LEN + MLPROTO_WRAP_PURPOSE_MAX + 1)

/* nonce(24) || XChaCha20-Poly1305(pt) under kek with the given AAD. */
static int seal_with_aad(uint8_t *out, size_t out_cap, size_t *out_len, const mlproto_key *kek,
                         const uint8_t *aad, size_t aadlen, const uint8_t *pt, size_t len) {
  if (len > SIZE_MAX - MLPROTO_WRAP_OVERHEAD || out_cap < len + MLPROTO_WRAP_OVERHEAD)
    return MLPROTO_ERR_BUFFER_TOO_SMALL;
  const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  randombytes_buf(out, nb);
  unsigned long long clen;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + nb, &clen, pt, len, aad, aadlen, NULL, out, kek->sk);
  if (out_len)
    *out_len = (size_t)clen + nb;
  return MLPROTO_OK;
}

/* Inverse of seal_with_aad; fail (the output wiped) on any mismatch. */
static int open_with_aad(uint8_t *out, size_t *out_len, const mlproto_key *kek, const uint8_t *aad,
                         size_t aadlen, const uint8_t *ct, size_t len, int fail) {
  unsigned long long plen;
  const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, ct + nb, len - nb, aad, aadlen,
                                                 ct, kek->sk) != 0) {
    sodium_memzero(out, len - MLPROTO_WRAP_OVERHEAD);
    return fail;
  }
  if (out_len)
    *out_len = (size_t)plen;
  return MLPROTO_OK;
}

/* Argument checks shared by every sealing and opening function. */
static int seal_args(const mlproto_key *kek, const void *out, const void *in, size_t len, bool opening,
                     size_t out_cap) {
  if (!kek || kek->type != MLPROTO_KEY_WRAP)
    return MLPROTO_ERR_BAD_KEY;
  if (!out || (opening ? !in : (!in && len)))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (opening && len < MLPROTO_WRAP_OVERHEAD)
    return MLPROTO_ERR_FIELD_SIZE;
  if (opening && out_cap < len - MLPROTO_WRAP_OVERHEAD)
    return MLPROTO_ERR_BUFFER_TOO_SMALL;
  return MLPROTO_OK;
}

static int wrap_impl(uint8_t *out, size_t out_cap, size_t *out_len, const mlproto_key *kek,
                     const char *purpose, int extra, const uint8_t *pt, size_t len) {
  int rc = seal_args(kek, out, pt, len, false, out_cap);
  uint8_t aad[AAD_MAX];
  size_t aadlen;
  if (rc || (rc = wrap_aad(aad, &aadlen, purpose, extra)))
    return rc;
  return seal_with_aad(out, out_cap, out_len, kek, aad, aadlen, pt, len);
}

static int unwrap_impl(uint8_t *out, size_t out_cap, size_t *out_len, const mlproto_key *kek,
                       const char *purpose, int extra, const uint8_t *ct, size_t len) {
  int rc = seal_args(kek, out, ct, len, true, out_cap);
  uint8_t aad[AAD_MAX];
  size_t aadlen;
  if (rc || (rc = wrap_aad(aad, &aadlen, purpose, extra)))
    return rc;
  return open_with_aad(out, out_len, kek, aad, aadlen, ct, len, MLPROTO_ERR_WRONG_PASSPHRASE);
}

int mlproto_wrap(uint8_t *out, size_t out_cap, size_t *out_len, const mlproto_key *kek,
                 const char *purpose, const uint8_t *pt, size_t len) {
  return wrap_impl(out, out_cap, out_len, kek, purpose, -1, pt, len);
}

int mlproto_unwrap(uint8_t *out, size_t out_cap, size_t *out_len, const mlproto_key *kek,
                   const char *purpose, const uint8_t *ct, size_t len) {
  return unwrap_impl(out, out_cap, out_len, kek, purpose, -1, ct, len);
}

/* AAD of the row-bound form: tag || purpose || 0x00 || bind. */
static int bound_aad(uint8_t *aad, size_t *aadlen, const char *purpose, const uint8_t *bind,
                     size_t bind_len) {
  if (!bind || bind_len == 0 || bind_len > MLPROTO_WRAP_BIND_MAX)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  int rc = wrap_aad(aad, aadlen, purpose, 0);
  if (rc)
    return rc;
  memcpy(aad + *aadlen, bind, bind_len);
  *aadlen += bind_len;
  return MLPROTO_OK;
}

#define BOUND_AAD_MAX (AAD_MAX + MLPROTO_WRAP_BIND_MAX)

int mlproto_wrap_bound(uint8_t *out, size_t out_cap, size_t *out_len, const mlproto_key *kek,
                       const char *purpose, const uint8_t *bind, size_t bind_len, const uint8_t *pt,
                       size_t len) {
  int rc = seal_args(kek, out, pt, len, false, out_cap);
  uint8_t aad[BOUND_AAD_MAX];
  size_t aadlen;
  if (rc || (rc = bound_aad(aad, &aadlen, purpose, bind, bind_len)))
    return rc;
  return seal_with_aad(out, out_cap, out_len, kek, aad, aadlen, pt, len);
}

int mlproto_unwrap_bound(uint8_t *out, size_t out_cap, size_t *out_len, const mlproto_key *kek,
                         const char *purpose, const uint8_t *bind, size_t bind_len,
                         const uint8_t *ct, size_t len) {
  int rc = seal_args(kek, out, ct, len, true, out_cap);
  uint8_t aad[BOUND_AAD_MAX];
  size_t aadlen;
  if (rc || (rc = bound_aad(aad, &aadlen, purpose, bind, bind_len)))
    return rc;
  return open_with_aad(out, out_len, kek, aad, aadlen, ct, len, MLPROTO_ERR_SEAL_OPEN_FAILED);
}

int mlproto_key_derive(mlproto_key **out, const mlproto_key *parent, const char context[8]) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (!parent || parent->type != MLPROTO_KEY_WRAP)
    return MLPROTO_ERR_BAD_KEY;
  if (!context || strnlen(context, 9) != crypto_kdf_CONTEXTBYTES)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  mlproto_key *k = key_alloc(MLPROTO_KEY_WRAP);
  if (!k)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  if (crypto_kdf_derive_from_key(k->sk, MLPROTO_KEY_SECRETBYTES, 1, context, parent->sk) != 0) {
    mlproto_key_free(k);
    return MLPROTO_ERR_INTERNAL;
  }
  *out = k;
  return MLPROTO_OK;
}

int mlproto_key_wrap(uint8_t out[MLPROTO_WRAPPED_KEY_BYTES], const mlproto_key *kek,
                     const char *purpose, const mlproto_key *k) {
  if (!k || !type_valid(k->type))
    return MLPROTO_ERR_BAD_KEY;
  return wrap_impl(out, MLPROTO_WRAPPED_KEY_BYTES, NULL, kek, purpose, (int)k->type, k->sk,
                   MLPROTO_KEY_SECRETBYTES);
}

int mlproto_key_unwrap(mlproto_key **out, mlproto_key_type type, const mlproto_key *kek,
                       const char *purpose, const uint8_t wrapped[MLPROTO_WRAPPED_KEY_BYTES]) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (!type_valid(type))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  /* Unwrap straight into guarded memory: the secret never sits on the stack. */
  mlproto_key *tmp = key_alloc(type);
  if (!tmp)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  int rc = unwrap_impl(tmp->pk, sizeof tmp->pk, NULL, kek, purpose, (int)type, wrapped,
                       MLPROTO_WRAPPED_KEY_BYTES);
  if (rc == MLPROTO_OK)
    rc = mlproto_key_import(out, type, tmp->pk, MLPROTO_KEY_SECRETBYTES);
  mlproto_key_free(tmp);
  return rc;
}

/* ------------------------------------------------------------------------ */

static void kdf_params(mlproto_kdf_params *p, unsigned long long ops, size_t mem) {
  p->opslimit = ops;
  p->memlimit = mem;
  randombytes_buf(p->salt, sizeof p->salt);
}

void mlproto_kdf_params_interactive(mlproto_kdf_params *p) {
  kdf_params(p, crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
             crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);
}

void mlproto_kdf_params_moderate(mlproto_kdf_params *p) {
  kdf_params(p, crypto_pwhash_argon2id_OPSLIMIT_MODERATE, crypto_pwhash_argon2id_MEMLIMIT_MODERATE);
}

int mlproto_kdf_argon2id(mlproto_key **out, const char *pass, size_t passlen,
                         const mlproto_kdf_params *p) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (!pass || !p || passlen == 0 || passlen > MLPROTO_PASSPHRASE_MAX)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (p->opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN || p->opslimit > MLPROTO_KDF_OPSLIMIT_MAX ||
      p->memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN || p->memlimit > MLPROTO_KDF_MEMLIMIT_MAX)
    return MLPROTO_ERR_FIELD_RANGE;
  mlproto_key *k = key_alloc(MLPROTO_KEY_WRAP);
  if (!k)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  if (crypto_pwhash(k->sk, 32, pass, passlen, p->salt, p->opslimit, (size_t)p->memlimit,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    mlproto_key_free(k);
    return MLPROTO_ERR_OUT_OF_MEMORY; /* the only failure left: the memlimit allocation */
  }
  *out = k;
  return MLPROTO_OK;
}
