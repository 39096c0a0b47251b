/*
 * mlproto/record.h — signed record envelopes and the sync messages.
 *
 * Everything a mentor does is an immutable, signed record (DESIGN §3):
 *
 *   Envelope  { header, signature, disclosed, sealed }       (mentorlog.proto)
 *   signature = Ed25519(author, "mentorlog/record/v1\0" || header)
 *   disclosed = 16 random salt bytes || protobuf(Disclosed)
 *   sealed    = 24-byte nonce || XChaCha20-Poly1305-IETF(plaintext)
 *               key = the case key, AAD = record_id || case_id || author || u32be(kind)
 *               plaintext = 0x00 || sodium_pad(protobuf(Sealed)), padded to a
 *               size bucket (mlproto_sealed_bucket) so that its length does
 *               not tell how long a name or a note is; records made before
 *               padding (plaintext = protobuf(Sealed)) still open
 *   header.disclosed_hash = SHA-256(disclosed), header.sealed_hash = SHA-256(sealed)
 *   record hash = SHA-256(header || signature)
 *
 * A part is "absent" when both its bytes and its hash are empty, and "erased"
 * when the hash is present but the bytes were removed later (retention, right
 * to erasure) with mlproto_envelope_erase(), which also sets the envelope's
 * unsigned `erased` bits: an erased record still verifies, with a flag. A
 * hash whose bytes are missing without that bit is a damaged envelope
 * (FIELD_MISSING), so truncation is never mistaken for erasure.
 *
 * The module is pure: no I/O and no clock. Randomness (record ids, salts,
 * nonces) comes from libsodium's randombytes. Call mlproto_crypto_init()
 * (mlproto/crypto.h) once before any function here.
 *
 * Memory: everything is allocated through the allocator hook (mlproto/alloc.h),
 * including protobuf-c unpacking. On failure, outputs are left NULL/untouched
 * and nothing leaks. Plaintext of sealed payloads is wiped when freed.
 *
 * Thread-safety: all functions are reentrant; distinct objects may be used
 * from distinct threads at the same time; one object must not be used by two
 * threads at once unless the function takes it as const.
 *
 * The payload messages are protobuf-c structures generated from
 * protocol/proto/mentorlog.proto (see there for every field's cap and range);
 * they are re-exported below under short names.
 */
#ifndef MLPROTO_RECORD_H
#define MLPROTO_RECORD_H

#include "mlproto/common.h"
#include "mlproto/crypto.h"
#include "mlproto/mentorlog.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ sizes/caps -- */

#define MLPROTO_RECORD_FORMAT 1u
#define MLPROTO_ID_BYTES 16          /* record_id, case_id, mentor/device ids */
#define MLPROTO_HASH_BYTES 32        /* SHA-256 */
#define MLPROTO_SALT_BYTES 16        /* prefix of the disclosed part */
#define MLPROTO_NONCE_BYTES 24       /* prefix of the sealed part */
#define MLPROTO_AEAD_TAG_BYTES 16
#define MLPROTO_MAX_SUPERSEDES 16

#define MLPROTO_ENVELOPE_MAX (96u * 1024u)       /* whole serialized envelope */
#define MLPROTO_HEADER_MAX 1024u                 /* serialized RecordHeader */
#define MLPROTO_DISCLOSED_MAX 4096u              /* salt + serialized Disclosed */
#define MLPROTO_SEALED_PLAIN_MAX (64u * 1024u)   /* sealed plaintext (marker + padded) */
/* Largest serialized Sealed that still pads into MLPROTO_SEALED_PLAIN_MAX
 * (one marker byte, at least one padding byte). The field caps keep every
 * valid Sealed below it: the largest is a NOTE of 60,000 bytes, 60,008. */
#define MLPROTO_SEALED_PACKED_MAX (MLPROTO_SEALED_PLAIN_MAX - 2u)
/* First plaintext byte of the padded layout. A serialized Sealed never starts
 * with it (it would be protobuf field number 0), so the layouts are told
 * apart by this byte alone. */
#define MLPROTO_SEALED_PAD_MARKER 0x00u
#define MLPROTO_SEALED_MAX \
  (MLPROTO_SEALED_PLAIN_MAX + MLPROTO_NONCE_BYTES + MLPROTO_AEAD_TAG_BYTES)

/* Signature domain tags (the trailing NUL is part of the signed bytes). */
#define MLPROTO_TAG_RECORD "mentorlog/record/v1"   /* 20 bytes incl. NUL */
#define MLPROTO_TAG_ENROLL "mentorlog/enroll/v1"
#define MLPROTO_TAG_SESSION "mentorlog/session/v1"

/* Valid civil dates (days since 1970-01-01) and instants (Unix ms) on the wire. */
#define MLPROTO_DAY_MIN 10957u        /* 2000-01-01 */
#define MLPROTO_DAY_MAX 47481u        /* 2099-12-31 */
#define MLPROTO_MS_MIN (10957ull * 86400000ull)
#define MLPROTO_MS_MAX (47482ull * 86400000ull - 1)

/* ----------------------------------------------------------------- kinds -- */

/* Same numbers as enum Kind in mentorlog.proto. */
typedef enum mlproto_kind {
  MLPROTO_KIND_CASE_OPEN = 1,
  MLPROTO_KIND_GRANT_OPEN = 2,
  MLPROTO_KIND_GRANT_UPDATE = 3,
  MLPROTO_KIND_GRANT_CLOSE = 4,
  MLPROTO_KIND_CONTACT = 5,
  MLPROTO_KIND_NOTE = 6,
  MLPROTO_KIND_ABSENCE = 7,
  MLPROTO_KIND_KEY_GRANT = 8,
  MLPROTO_KIND_CASE_ERASE = 9,
  MLPROTO_KIND_DEVICE_ENROLLED = 100, /* server events: author = server key */
  MLPROTO_KIND_DEVICE_REVOKED = 101,
  MLPROTO_KIND_ESCROW_KEY = 102,
  MLPROTO_KIND_RETENTION_PURGE = 103
} mlproto_kind;

/* 1 when kind is one of the above, else 0. */
MLPROTO_EXTERN int mlproto_kind_valid(uint32_t kind);
/* 1 for the server events (>= 100). */
MLPROTO_EXTERN int mlproto_kind_is_server_event(uint32_t kind);
/* 1 when the kind may carry a sealed part (CASE_OPEN, GRANT_OPEN,
 * GRANT_UPDATE, GRANT_CLOSE, CONTACT, NOTE, ABSENCE). */
MLPROTO_EXTERN int mlproto_kind_has_sealed(uint32_t kind);
/* 1 when the kind must carry a disclosed part (its hash at least): every kind
 * except CASE_OPEN, NOTE and CASE_ERASE, whose disclosed payloads are empty. */
MLPROTO_EXTERN int mlproto_kind_needs_disclosed(uint32_t kind);
/* Stable lower-case name ("contact", "device_enrolled"); "unknown" otherwise. */
MLPROTO_EXTERN const char *mlproto_kind_name(uint32_t kind);

/* Generated payload types under short names. Build them with the generated
 * initialisers, e.g.
 *   mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
 *   Mentorlog__V1__ContactDisclosed c = MENTORLOG__V1__CONTACT_DISCLOSED__INIT;
 *   d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_CONTACT; d.contact = &c;
 * The oneof case number always equals the kind number. */
typedef Mentorlog__V1__Disclosed mlproto_disclosed;
typedef Mentorlog__V1__Sealed mlproto_sealed;

/* ------------------------------------------------------------------ build -- */

/* Header fields chosen by the author. The author key is the signing key. */
typedef struct mlproto_record_params {
  uint8_t record_id[MLPROTO_ID_BYTES];   /* fresh random (mlproto_random_id) */
  uint8_t case_id[MLPROTO_ID_BYTES];     /* zeros for server events without case */
  uint64_t seq;                          /* >= 1 */
  uint8_t prev[MLPROTO_HASH_BYTES];      /* zeros iff seq == 1 */
  uint64_t hlc;                          /* device hybrid logical clock */
  mlproto_kind kind;
  size_t n_supersedes;                   /* 0..MLPROTO_MAX_SUPERSEDES */
  const uint8_t (*supersedes)[MLPROTO_ID_BYTES];
} mlproto_record_params;

/* Fill id with 16 random bytes. */
MLPROTO_EXTERN void mlproto_random_id(uint8_t id[MLPROTO_ID_BYTES]);

/*
 * Build, seal and sign one record.
 *   disclosed  the disclosed payload, or NULL for no disclosed part (allowed
 *              only when !mlproto_kind_needs_disclosed(kind)). Its oneof case
 *              must equal params->kind.
 *   sealed     the sealed payload, or NULL for none. Non-NULL only for kinds
 *              with mlproto_kind_has_sealed(); its oneof case must equal kind.
 *   case_key   a MLPROTO_KEY_CASE key; required when sealed != NULL, else
 *              ignored (may be NULL).
 *   author     a MLPROTO_KEY_SIGN key; its public key becomes header.author.
 * Everything is validated exactly as mlproto_record_verify() would (so a
 * built record always verifies). On success *out is a new buffer of *out_len
 * bytes (free with mlproto_free) and, when hash_out is non-NULL, the record
 * hash is written there. On failure *out is NULL.
 * Errors: INVALID_ARGUMENT, BAD_KEY, FIELD_SIZE, FIELD_RANGE, FIELD_MISSING,
 * UNKNOWN_KIND, PAYLOAD_KIND_MISMATCH, TOO_LARGE, OUT_OF_MEMORY.
 */
MLPROTO_EXTERN int mlproto_record_build(uint8_t **out, size_t *out_len,
                                        uint8_t hash_out[MLPROTO_HASH_BYTES],
                                        const mlproto_record_params *params,
                                        const mlproto_disclosed *disclosed,
                                        const mlproto_sealed *sealed,
                                        const mlproto_key *case_key,
                                        const mlproto_key *author) MLPROTO_WARN_UNUSED;

/*
 * The length of the sealed plaintext (marker + padded Sealed) for a
 * serialized Sealed of packed_len bytes: the smallest of 256, 512, 1024,
 * 2048, 4096, 8192, 16384, 32768, 49152 and 65536 that is at least
 * packed_len + 2 (marker, and sodium_pad's mandatory 0x80). 0 when
 * packed_len > MLPROTO_SEALED_PACKED_MAX (mlproto_record_build: TOO_LARGE).
 * The sealed part is then 40 bytes longer (nonce, tag).
 */
MLPROTO_EXTERN size_t mlproto_sealed_bucket(size_t packed_len);

/* ----------------------------------------------------------------- verify -- */

/* mlproto_record.flags */
#define MLPROTO_RECORD_DISCLOSED 0x1u        /* a disclosed part is present (bytes) */
#define MLPROTO_RECORD_DISCLOSED_ERASED 0x2u /* hash present, bytes erased */
#define MLPROTO_RECORD_SEALED 0x4u           /* a sealed part is present (bytes) */
#define MLPROTO_RECORD_SEALED_ERASED 0x8u    /* hash present, bytes erased */

/* A parsed and verified record. Read-only for the caller; free with
 * mlproto_record_free(). */
typedef struct mlproto_record {
  uint32_t format;
  uint8_t record_id[MLPROTO_ID_BYTES];
  uint8_t case_id[MLPROTO_ID_BYTES];
  uint8_t author[MLPROTO_SIGN_PUBLICKEYBYTES];
  uint64_t seq;
  uint8_t prev[MLPROTO_HASH_BYTES];
  uint64_t hlc;
  mlproto_kind kind;
  size_t n_supersedes;
  uint8_t supersedes[MLPROTO_MAX_SUPERSEDES][MLPROTO_ID_BYTES];
  unsigned flags;                              /* MLPROTO_RECORD_* */
  uint8_t disclosed_hash[MLPROTO_HASH_BYTES];  /* valid when a DISCLOSED* flag is set */
  uint8_t sealed_hash[MLPROTO_HASH_BYTES];     /* valid when a SEALED* flag is set */
  uint8_t hash[MLPROTO_HASH_BYTES];            /* record hash */
  uint8_t signature[MLPROTO_SIGN_BYTES];
  /* Decoded disclosed payload; NULL when absent or erased. */
  mlproto_disclosed *disclosed;
  /* The sealed part (nonce || ciphertext) as received; NULL/0 when absent or
   * erased. Open it with mlproto_record_open_sealed(). */
  uint8_t *sealed;
  size_t sealed_len;
} mlproto_record;

/*
 * Parse and verify one serialized Envelope. Checks, in this order:
 * size caps (TOO_LARGE), protobuf framing, canonical encoding and unknown
 * fields (MALFORMED), missing header/signature, or a part's bytes missing
 * without its erased bit (FIELD_MISSING), format
 * (UNSUPPORTED_FORMAT), field sizes (FIELD_SIZE: ids 16, author 32, prev 32,
 * signature 64, hashes 32 or empty, supersedes 16 each), ranges (FIELD_RANGE:
 * seq >= 1, prev zero iff seq == 1, supersedes <= 16 and != record_id, a part
 * present without its hash, a sealed part on a kind without one), kind
 * (UNKNOWN_KIND), a required disclosed part missing (FIELD_MISSING), the
 * signature (BAD_SIGNATURE), SHA-256 of the parts (DISCLOSED_HASH_MISMATCH,
 * SEALED_HASH_MISMATCH), then decodes Disclosed: MALFORMED, its oneof
 * against the kind (PAYLOAD_KIND_MISMATCH), its fields (FIELD_SIZE,
 * FIELD_RANGE, FIELD_MISSING).
 * It does not check who the author is, seq/prev chaining or supersede
 * targets: that needs state (server and client-core do it).
 * On success *out is a new record; on failure *out is NULL.
 */
MLPROTO_EXTERN int mlproto_record_verify(mlproto_record **out, const uint8_t *env,
                                         size_t len) MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN void mlproto_record_free(mlproto_record *r); /* NULL: no-op */
/*
 * Re-read a record that the caller verified before and stored together with
 * its record hash (a device's own store): every check of
 * mlproto_record_verify() except the Ed25519 signature, which is replaced by
 * "SHA-256(header || signature) equals record_hash". The parts are still
 * checked against the hashes in the header, so the bytes read are exactly the
 * bytes once verified. About 60 µs cheaper per record. Never use it for bytes
 * from the network or from anyone who could also have written record_hash.
 * Errors as mlproto_record_verify(); BAD_SIGNATURE when the hash differs.
 */
MLPROTO_EXTERN int mlproto_record_verify_stored(mlproto_record **out, const uint8_t *env,
                                                size_t len,
                                                const uint8_t record_hash[MLPROTO_HASH_BYTES])
    MLPROTO_WARN_UNUSED;

/*
 * Decrypt and decode the sealed part of a verified record with its case key
 * (MLPROTO_KEY_CASE). Both plaintext layouts open: padded (first byte
 * MLPROTO_SEALED_PAD_MARKER) and the unpadded one of records made before
 * padding. Errors: SEALED_ERASED (erased), FIELD_MISSING (the
 * record has no sealed part), BAD_KEY, SEAL_OPEN_FAILED (wrong key, or the
 * ciphertext was moved to another record or tampered with), MALFORMED (also:
 * a padded plaintext whose length is not the bucket of its content, or whose
 * padding is not ISO/IEC 7816-4), PAYLOAD_KIND_MISMATCH, FIELD_SIZE/FIELD_RANGE (a string over its cap or not
 * UTF-8), OUT_OF_MEMORY. On success *out must be freed with
 * mlproto_sealed_free(), which wipes the plaintext.
 */
MLPROTO_EXTERN int mlproto_record_open_sealed(mlproto_sealed **out, const mlproto_record *r,
                                              const mlproto_key *case_key) MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN void mlproto_sealed_free(mlproto_sealed *s); /* NULL: no-op */

/* ---------------------------------------------------------- cheap helpers -- */

/* Routing fields read from envelope bytes WITHOUT verifying anything (no
 * signature, no hash): use only to pick a queue or a shard, then verify. */
typedef struct mlproto_record_peek {
  uint8_t record_id[MLPROTO_ID_BYTES];
  uint8_t case_id[MLPROTO_ID_BYTES];
  uint8_t author[MLPROTO_SIGN_PUBLICKEYBYTES];
  uint64_t seq;
  uint32_t kind; /* raw value, may be unknown */
} mlproto_record_peek;

/* Parse only the framing and the header; no allocation. Errors: TOO_LARGE,
 * MALFORMED, FIELD_MISSING, FIELD_SIZE. *out untouched on error. */
MLPROTO_EXTERN int mlproto_record_peek_fields(mlproto_record_peek *out, const uint8_t *env,
                                              size_t len) MLPROTO_WARN_UNUSED;

/* Record hash SHA-256(header || signature) of envelope bytes, without
 * verifying the signature. Errors as mlproto_record_peek_fields(). */
MLPROTO_EXTERN int mlproto_record_hash(uint8_t out[MLPROTO_HASH_BYTES], const uint8_t *env,
                                       size_t len) MLPROTO_WARN_UNUSED;

/* Parts for mlproto_envelope_erase(). */
#define MLPROTO_PART_DISCLOSED 0x1u
#define MLPROTO_PART_SEALED 0x2u

/* Copy of an envelope with the given parts' bytes removed (crypto-shredding,
 * retention). Hashes, signature and record hash are unchanged, so the result
 * still verifies, flagged *_ERASED. The input must be a valid canonical
 * envelope (it is parsed, not verified). *out freed with mlproto_free. */
MLPROTO_EXTERN int mlproto_envelope_erase(uint8_t **out, size_t *out_len, const uint8_t *env,
                                          size_t len, unsigned parts) MLPROTO_WARN_UNUSED;

/* --------------------------------------------------------- sync messages -- */

/* Limits of the sync messages (DESIGN §5). A push is bounded by count AND by
 * bytes: a client fills a batch until either limit would be passed (a batch
 * of 1,024 records of the largest size would not fit in 4 MiB; 1,024 typical
 * ~600-byte records take ~0.6 MiB). The count is high so that a backlog
 * crosses a slow mobile link in few round trips: at 256 records and a
 * 100 ms round trip a device could never push more than 2,560 records/s.
 * The server's default --max-body equals MLPROTO_PUSH_MAX_BYTES. */
#define MLPROTO_PUSH_MAX_RECORDS 1024u
#define MLPROTO_PUSH_MAX_BYTES (4u * 1024u * 1024u)
#define MLPROTO_PULL_MAX_ITEMS 1024u
#define MLPROTO_PULL_MAX_BYTES (16u * 1024u * 1024u)
#define MLPROTO_PROOF_MAX_HASHES 64u
#define MLPROTO_SMALL_MSG_MAX 4096u  /* every other message */

typedef enum mlproto_msg_type {
  MLPROTO_MSG_ENROLL_REQUEST = 1,
  MLPROTO_MSG_ENROLL_RESPONSE,
  MLPROTO_MSG_CHALLENGE_RESPONSE,
  MLPROTO_MSG_SESSION_REQUEST,
  MLPROTO_MSG_SESSION_RESPONSE,
  MLPROTO_MSG_PUSH_REQUEST,
  MLPROTO_MSG_PUSH_RESPONSE,
  MLPROTO_MSG_PULL_RESPONSE,
  MLPROTO_MSG_SIGNED_TREE_HEAD,
  MLPROTO_MSG_INCLUSION_PROOF,
  MLPROTO_MSG_CONSISTENCY_PROOF,
  MLPROTO_MSG_ERROR,
  MLPROTO_MSG_AUDIT_LOG_RESPONSE,
  MLPROTO_MSG__COUNT
} mlproto_msg_type;

/*
 * Unpack and validate one sync message of the given type: size cap
 * (TOO_LARGE), protobuf framing and unknown fields (MALFORMED), every field's
 * length, count and charset as documented in mentorlog.proto (FIELD_SIZE,
 * FIELD_RANGE, FIELD_MISSING; a PushRequest of more than
 * MLPROTO_PUSH_MAX_RECORDS records is BATCH_TOO_LARGE), OUT_OF_MEMORY. Signatures are NOT checked here (use
 * mlproto_enroll_request_verify and friends); envelopes inside Push/Pull are
 * only size-checked: verify each with mlproto_record_verify().
 * On success *out is the message (cast to the type's generated struct, e.g.
 * (Mentorlog__V1__PushRequest *)); free with mlproto_msg_free().
 */
MLPROTO_EXTERN int mlproto_msg_unpack(ProtobufCMessage **out, mlproto_msg_type type,
                                      const uint8_t *buf, size_t len) MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN void mlproto_msg_free(ProtobufCMessage *m); /* NULL: no-op */

/* Serialize any message into a new buffer (free with mlproto_free). Does not
 * validate. Errors: INVALID_ARGUMENT, OUT_OF_MEMORY. */
MLPROTO_EXTERN int mlproto_msg_pack(uint8_t **out, size_t *out_len,
                                    const ProtobufCMessage *m) MLPROTO_WARN_UNUSED;

/* Enrolment signature of req (its code, device_pub, box_pub and label; the
 * signature field is ignored) by the device's MLPROTO_KEY_SIGN key, whose
 * public key must equal req->device_pub (else BAD_KEY). Domain tag
 * "mentorlog/enroll/v1\0", layout in mentorlog.proto. */
MLPROTO_EXTERN int mlproto_enroll_request_sign(uint8_t sig_out[MLPROTO_SIGN_BYTES],
                                               const Mentorlog__V1__EnrollRequest *req,
                                               const mlproto_key *device) MLPROTO_WARN_UNUSED;
/* BAD_SIGNATURE unless req->signature is valid for req->device_pub; FIELD_SIZE
 * for wrong lengths. */
MLPROTO_EXTERN int mlproto_enroll_request_verify(const Mentorlog__V1__EnrollRequest *req)
    MLPROTO_WARN_UNUSED;
/* Session: signature over "mentorlog/session/v1\0" || challenge || device_pub. */
MLPROTO_EXTERN int mlproto_session_sign(uint8_t sig_out[MLPROTO_SIGN_BYTES],
                                        const uint8_t challenge[32],
                                        const mlproto_key *device) MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN int mlproto_session_request_verify(const Mentorlog__V1__SessionRequest *req)
    MLPROTO_WARN_UNUSED;

/* The protobuf-c allocator that routes through mlproto_malloc/mlproto_free.
 * Static storage; use it for any protobuf_c_message_unpack/free you call. */
MLPROTO_EXTERN ProtobufCAllocator *mlproto_protobuf_allocator(void);

#ifdef __cplusplus
}
#endif
#endif
