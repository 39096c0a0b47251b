/*
 * golden.h — shared by gen_golden (writes tests/vectors/record-v1.json) and
 * test_golden_records (checks it): the deterministic random generator, the
 * fixed keys, the mapping from a vector's JSON "inputs" to the protobuf-c
 * payloads, and a hand-written envelope splitter that follows
 * docs/record-format.md rather than the library.
 *
 * Deterministic randomness: golden_rng_install() replaces libsodium's
 * randombytes with the ChaCha20-IETF (RFC 8439) keystream of a 32-byte seed,
 * 12 zero nonce bytes, block counter from 0, consumed in order across calls.
 * It must run before sodium_init()/mlproto_crypto_init(). golden_rng_seed()
 * restarts the stream; every vector carries its own "rng_seed", so each
 * record's salt, nonce and crypto_box_seal ephemeral key are independent of
 * the others. Test code only: never link this into a product.
 */
#ifndef ML_GOLDEN_H
#define ML_GOLDEN_H

#include "testutil.h"

#include "mlproto/record.h"

#include <stdbool.h>

#define GOLDEN_MAX_KEYS 16

int golden_rng_install(void); /* 0 on success */
void golden_rng_seed(const uint8_t seed[32]);

/* One named key of the "keys" section. */
typedef struct golden_key {
  char name[32];
  mlproto_key_type type;
  uint8_t secret[32]; /* sign: Ed25519 seed; box: X25519 scalar; case: the key */
  uint8_t pub[32];    /* sign/box only */
  uint8_t case_id[16]; /* case only */
  mlproto_key *key;
} golden_key;

typedef struct golden_keys {
  size_t n;
  golden_key k[GOLDEN_MAX_KEYS];
} golden_keys;

/* Load keys from the "keys" object (each {"type": "sign"|"box"|"case",
 * "secret": hex, ["case_id": hex]}); fills pub. 0 on success; errors in err. */
int golden_keys_load(golden_keys *ks, const tu_json *keys, char *err, size_t errlen);
void golden_keys_free(golden_keys *ks);
const golden_key *golden_key_by_name(const golden_keys *ks, const char *name);
const golden_key *golden_case_key(const golden_keys *ks, const uint8_t case_id[16]);

/* Kind name ("CONTACT") <-> number; 0 when unknown. */
uint32_t golden_kind_number(const char *name);

/* Build one record from a vector's resolved "inputs": reseeds the generator
 * with inputs.rng_seed, seals the KEY_GRANT keys, then mlproto_record_build.
 * *env is freed with mlproto_free. When sealed_pt/sealed_pt_len are not NULL
 * they receive the packed Sealed plaintext (malloc'd) or NULL when none;
 * disclosed_pb likewise receives the packed Disclosed (without salt).
 * Returns 0 or an mlproto error code (<0), or 1 for a schema error in the
 * JSON (message in err). */
int golden_build(uint8_t **env, size_t *len, uint8_t **disclosed_pb, size_t *disclosed_pb_len,
                 uint8_t **sealed_pt, size_t *sealed_pt_len, const tu_json *inputs,
                 const golden_keys *ks, char *err, size_t errlen);

/* The envelope split by hand (docs/record-format.md §2): canonical framing
 * only; returns false on anything else. Pointers point into env. */
typedef struct golden_parts {
  const uint8_t *header, *signature, *disclosed, *sealed;
  size_t header_len, signature_len, disclosed_len, sealed_len;
  uint32_t erased;
} golden_parts;
bool golden_split(golden_parts *p, const uint8_t *env, size_t len);
/* Serialize parts in canonical form (malloc'd). */
uint8_t *golden_join(const golden_parts *p, size_t *len);

/* Hex of len bytes into a malloc'd NUL-terminated string. */
char *golden_hex(const uint8_t *p, size_t len);
/* Exactly want bytes from a hex string member; false otherwise. */
bool golden_hex_field(uint8_t *out, size_t want, const tu_json *obj, const char *key);

/* The sealed plaintext of a serialized Sealed, computed by hand from
 * docs/record-format.md §7 (not with the library): 0x00 || payload || 0x80
 * || zeros, as long as the smallest bucket (256, 512, ..., 32768, 49152,
 * 65536) holding payload_len + 2 bytes. malloc'd; NULL when too large. */
uint8_t *golden_sealed_pad(const uint8_t *payload, size_t payload_len, size_t *out_len);

/* AAD of a sealed part: record_id || case_id || author || u32be(kind). */
void golden_aad(uint8_t aad[68], const uint8_t *record_id, const uint8_t *case_id,
                const uint8_t *author, uint32_t kind);

#endif
