/* Records: build (encode, seal, sign), verify, open. See mlproto/record.h. */
#include "crypto_int.h"
#include "record_int.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/util.h"

#include <sodium.h>
#include <string.h>

_Static_assert(MLPROTO_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce");
_Static_assert(MLPROTO_AEAD_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag");
_Static_assert(MLPROTO_HASH_BYTES == crypto_hash_sha256_BYTES, "sha256");
_Static_assert((int)MLPROTO_KIND_CONTACT == (int)MENTORLOG__V1__KIND__CONTACT, "kind numbers");
_Static_assert((int)MLPROTO_KIND_RETENTION_PURGE == (int)MENTORLOG__V1__KIND__RETENTION_PURGE,
               "kind numbers");

#define AAD_BYTES (MLPROTO_ID_BYTES * 2 + MLPROTO_SIGN_PUBLICKEYBYTES + 4)

/* ----------------------------------------------------------------- kinds -- */

int mlproto_kind_valid(uint32_t k) {
  return (k >= MLPROTO_KIND_CASE_OPEN && k <= MLPROTO_KIND_CASE_ERASE) ||
         (k >= MLPROTO_KIND_DEVICE_ENROLLED && k <= MLPROTO_KIND_RETENTION_PURGE);
}

int mlproto_kind_is_server_event(uint32_t k) {
  return k >= MLPROTO_KIND_DEVICE_ENROLLED && k <= MLPROTO_KIND_RETENTION_PURGE;
}

int mlproto_kind_has_sealed(uint32_t k) {
  switch (k) {
  case MLPROTO_KIND_CASE_OPEN:
  case MLPROTO_KIND_GRANT_OPEN:
  case MLPROTO_KIND_GRANT_UPDATE:
  case MLPROTO_KIND_GRANT_CLOSE:
  case MLPROTO_KIND_CONTACT:
  case MLPROTO_KIND_NOTE:
  case MLPROTO_KIND_ABSENCE:
    return 1;
  default:
    return 0;
  }
}

int mlproto_kind_needs_disclosed(uint32_t k) {
  return mlproto_kind_valid(k) && k != MLPROTO_KIND_CASE_OPEN && k != MLPROTO_KIND_NOTE &&
         k != MLPROTO_KIND_CASE_ERASE;
}

const char *mlproto_kind_name(uint32_t k) {
  static const char *const low[] = {NULL,      "case_open", "grant_open", "grant_update",
                                    "grant_close", "contact", "note",      "absence",
                                    "key_grant", "case_erase"};
  static const char *const high[] = {"device_enrolled", "device_revoked", "escrow_key",
                                     "retention_purge"};
  if (k >= 1 && k <= 9)
    return low[k];
  if (mlproto_kind_is_server_event(k))
    return high[k - MLPROTO_KIND_DEVICE_ENROLLED];
  return "unknown";
}

void mlproto_random_id(uint8_t id[MLPROTO_ID_BYTES]) { mlproto__random(id, MLPROTO_ID_BYTES); }

/* --------------------------------------------------------- header checks -- */

/* Rules on header fields that build and verify share (sizes checked before). */
static int check_header_fields(uint32_t kind, uint64_t seq, const uint8_t *prev,
                               const uint8_t *record_id, size_t n_sup,
                               const uint8_t *const *sup) {
  if (seq == 0)
    return MLPROTO_ERR_FIELD_RANGE;
  if ((seq == 1) != mlproto__all_zero(prev, MLPROTO_HASH_BYTES))
    return MLPROTO_ERR_FIELD_RANGE;
  if (n_sup > MLPROTO_MAX_SUPERSEDES)
    return MLPROTO_ERR_FIELD_RANGE;
  for (size_t i = 0; i < n_sup; i++)
    if (memcmp(sup[i], record_id, MLPROTO_ID_BYTES) == 0)
      return MLPROTO_ERR_FIELD_RANGE;
  if (!mlproto_kind_valid(kind))
    return MLPROTO_ERR_UNKNOWN_KIND;
  return MLPROTO_OK;
}

static void aad_make(uint8_t aad[AAD_BYTES], const uint8_t *record_id, const uint8_t *case_id,
                     const uint8_t *author, uint32_t kind) {
  memcpy(aad, record_id, MLPROTO_ID_BYTES);
  memcpy(aad + 16, case_id, MLPROTO_ID_BYTES);
  memcpy(aad + 32, author, MLPROTO_SIGN_PUBLICKEYBYTES);
  aad[64] = (uint8_t)(kind >> 24);
  aad[65] = (uint8_t)(kind >> 16);
  aad[66] = (uint8_t)(kind >> 8);
  aad[67] = (uint8_t)kind;
}

static void record_hash2(uint8_t out[32], const uint8_t *h, size_t hl, const uint8_t *s,
                         size_t sl) {
  mlproto__sha256_2(out, h, hl, s, sl);
}

/* ----------------------------------------------------- sealed padding -- */

/* Sealed plaintext sizes (docs/record-format.md §7): powers of two from 256,
 * then 48 KiB, so that the padding never costs more than half a record
 * above 32 KiB and the largest bucket is the plaintext cap. */
static const size_t sealed_buckets[] = {256,  512,   1024,  2048,  4096,
                                        8192, 16384, 32768, 49152, MLPROTO_SEALED_PLAIN_MAX};
_Static_assert(MLPROTO_SEALED_PLAIN_MAX == 65536u, "the last bucket is the plaintext cap");

size_t mlproto_sealed_bucket(size_t packed_len) {
  if (packed_len > MLPROTO_SEALED_PACKED_MAX)
    return 0;
  for (size_t i = 0; i < sizeof sealed_buckets / sizeof sealed_buckets[0]; i++)
    if (packed_len + 2 <= sealed_buckets[i])
      return sealed_buckets[i];
  return 0; /* unreachable: the last bucket holds MLPROTO_SEALED_PACKED_MAX + 2 */
}

/* The serialized Sealed inside a decrypted plaintext, either layout: padded
 * (marker || ISO/IEC 7816-4 padding to exactly its bucket) or, for records
 * made before padding, the whole plaintext. MALFORMED on a padded plaintext
 * that is not canonical. */
static int sealed_unpad(const uint8_t **msg, size_t *msg_len, const uint8_t *pt, size_t ptlen) {
  if (ptlen == 0 || pt[0] != MLPROTO_SEALED_PAD_MARKER) {
    *msg = pt;
    *msg_len = ptlen;
    return MLPROTO_OK;
  }
  size_t n;
  if (ptlen < 2 || sodium_unpad(&n, pt + 1, ptlen - 1, ptlen - 1) != 0 ||
      mlproto_sealed_bucket(n) != ptlen)
    return MLPROTO_ERR_MALFORMED;
  *msg = pt + 1;
  *msg_len = n;
  return MLPROTO_OK;
}

/* ------------------------------------------------------------------ build -- */

int mlproto_record_build(uint8_t **out, size_t *out_len, uint8_t hash_out[MLPROTO_HASH_BYTES],
                         const mlproto_record_params *p, const mlproto_disclosed *disclosed,
                         const mlproto_sealed *sealed, const mlproto_key *case_key,
                         const mlproto_key *author) {
  if (!out || !out_len)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (!p || (p->n_supersedes && !p->supersedes))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  uint8_t author_pk[MLPROTO_SIGN_PUBLICKEYBYTES];
  if (!author || mlproto_key_type_of(author) != MLPROTO_KEY_SIGN ||
      mlproto_key_public(author_pk, author) != MLPROTO_OK)
    return MLPROTO_ERR_BAD_KEY;
  if (sealed && (!case_key || mlproto_key_type_of(case_key) != MLPROTO_KEY_CASE))
    return MLPROTO_ERR_BAD_KEY;

  const uint8_t *sup[MLPROTO_MAX_SUPERSEDES];
  if (p->n_supersedes > MLPROTO_MAX_SUPERSEDES)
    return MLPROTO_ERR_FIELD_RANGE;
  for (size_t i = 0; i < p->n_supersedes; i++)
    sup[i] = p->supersedes[i];
  uint32_t kind = (uint32_t)p->kind;
  int rc = check_header_fields(kind, p->seq, p->prev, p->record_id, p->n_supersedes, sup);
  if (rc)
    return rc;
  if (!disclosed && mlproto_kind_needs_disclosed(kind))
    return MLPROTO_ERR_FIELD_MISSING;
  if (sealed && !mlproto_kind_has_sealed(kind))
    return MLPROTO_ERR_FIELD_RANGE;
  if (disclosed && (rc = mlproto__check_disclosed(disclosed, kind)))
    return rc;
  if (sealed && (rc = mlproto__check_sealed(sealed, kind)))
    return rc;

  size_t dn = 0, sn = 0;
  if (disclosed) {
    dn = protobuf_c_message_get_packed_size(&disclosed->base);
    if (dn > MLPROTO_DISCLOSED_MAX - MLPROTO_SALT_BYTES)
      return MLPROTO_ERR_TOO_LARGE;
  }
  size_t sp = 0; /* sealed plaintext: marker || padded Sealed */
  if (sealed) {
    sn = protobuf_c_message_get_packed_size(&sealed->base);
    if (!(sp = mlproto_sealed_bucket(sn)))
      return MLPROTO_ERR_TOO_LARGE;
  }

  /* The header's size does not depend on the hash values, only on their
   * presence: so the envelope is framed once, up front, and every part is
   * written in place (no part buffers, no copy into the envelope). */
  static const uint8_t no_hash[MLPROTO_HASH_BYTES];
  Mentorlog__V1__RecordHeader h = MENTORLOG__V1__RECORD_HEADER__INIT;
  ProtobufCBinaryData supbd[MLPROTO_MAX_SUPERSEDES];
  h.format = MLPROTO_RECORD_FORMAT;
  h.record_id = (ProtobufCBinaryData){MLPROTO_ID_BYTES, (uint8_t *)p->record_id};
  h.case_id = (ProtobufCBinaryData){MLPROTO_ID_BYTES, (uint8_t *)p->case_id};
  h.author = (ProtobufCBinaryData){MLPROTO_SIGN_PUBLICKEYBYTES, author_pk};
  h.seq = p->seq;
  h.prev = (ProtobufCBinaryData){MLPROTO_HASH_BYTES, (uint8_t *)p->prev};
  h.hlc = p->hlc;
  h.kind = (Mentorlog__V1__Kind)kind;
  for (size_t i = 0; i < p->n_supersedes; i++)
    supbd[i] = (ProtobufCBinaryData){MLPROTO_ID_BYTES, (uint8_t *)sup[i]};
  h.n_supersedes = p->n_supersedes;
  h.supersedes = supbd;
  if (disclosed)
    h.disclosed_hash = (ProtobufCBinaryData){MLPROTO_HASH_BYTES, (uint8_t *)no_hash};
  if (sealed)
    h.sealed_hash = (ProtobufCBinaryData){MLPROTO_HASH_BYTES, (uint8_t *)no_hash};
  size_t hlen = protobuf_c_message_get_packed_size(&h.base);
  if (hlen > MLPROTO_HEADER_MAX) /* cannot happen with <= 16 supersedes; kept as a guard */
    return MLPROTO_ERR_TOO_LARGE;

  enum { HDR, SIG, DIS, SEA };
  size_t lens[4] = {hlen, MLPROTO_SIGN_BYTES, disclosed ? MLPROTO_SALT_BYTES + dn : 0,
                    sealed ? MLPROTO_NONCE_BYTES + sp + MLPROTO_AEAD_TAG_BYTES : 0};
  size_t offs[4];
  uint8_t *env = NULL;
  size_t env_len = 0;
  if ((rc = mlproto__env_frame(&env, &env_len, lens, offs)))
    return rc;

  /* Salt and nonce from the pool: a system call per record costs as much
   * as all of its hashing. */
  uint8_t rnd[MLPROTO_SALT_BYTES + MLPROTO_NONCE_BYTES];
  mlproto__random(rnd, sizeof rnd);
  uint8_t dhash[MLPROTO_HASH_BYTES], shash[MLPROTO_HASH_BYTES];
  if (disclosed) {
    uint8_t *d = env + offs[DIS];
    memcpy(d, rnd, MLPROTO_SALT_BYTES);
    protobuf_c_message_pack(&disclosed->base, d + MLPROTO_SALT_BYTES);
    mlproto__sha256(dhash, d, lens[DIS]);
    h.disclosed_hash.data = dhash;
  }
  if (sealed) {
    /* Pack the plaintext where the ciphertext goes and encrypt in place: no
     * second copy of the plaintext ever exists. */
    uint8_t *sbuf = env + offs[SEA];
    memcpy(sbuf, rnd + MLPROTO_SALT_BYTES, MLPROTO_NONCE_BYTES);
    uint8_t *m = sbuf + MLPROTO_NONCE_BYTES;
    size_t padded = 0;
    m[0] = MLPROTO_SEALED_PAD_MARKER;
    protobuf_c_message_pack(&sealed->base, m + 1);
    /* One block of the bucket's size: 0x80 then zeros up to the bucket. */
    if (sodium_pad(&padded, m + 1, sn, sp - 1, sp - 1) != 0 || padded != sp - 1) {
      sodium_memzero(m, sp);
      rc = MLPROTO_ERR_INTERNAL; /* cannot happen: sn + 2 <= sp */
      goto free_env;
    }
    uint8_t aad[AAD_BYTES], key[MLPROTO_KEY_SECRETBYTES];
    aad_make(aad, p->record_id, p->case_id, author_pk, kind);
    mlproto_key_export(key, case_key);
    crypto_aead_xchacha20poly1305_ietf_encrypt(m, NULL, m, sp, aad, sizeof aad, NULL, sbuf, key);
    sodium_memzero(key, sizeof key);
    mlproto__sha256(shash, sbuf, lens[SEA]);
    h.sealed_hash.data = shash;
  }

  uint8_t *hdr = env + offs[HDR], *sig = env + offs[SIG];
  if (protobuf_c_message_pack(&h.base, hdr) != hlen) { /* a protobuf-c bug: never ship it */
    rc = MLPROTO_ERR_INTERNAL;
    goto free_env;
  }
  if ((rc = mlproto_sign(sig, author, MLPROTO_TAG_RECORD, hdr, hlen)))
    goto free_env;
  if (hash_out)
    record_hash2(hash_out, hdr, hlen, sig, MLPROTO_SIGN_BYTES);
  *out = env;
  *out_len = env_len;
  return MLPROTO_OK;
free_env:
  mlproto_free(env);
  return rc;
}

/* ----------------------------------------------------------------- verify -- */

void mlproto_record_free(mlproto_record *r) {
  if (!r)
    return;
  if (r->disclosed)
    protobuf_c_message_free_unpacked(&r->disclosed->base, mlproto_protobuf_allocator());
  mlproto_free(r->sealed);
  mlproto_free(r);
}

/* Classify one part: absent (no hash, no bytes), erased (hash, no bytes, the
 * envelope's erased bit) or present (hash and bytes). Bytes without a hash
 * are refused; a hash without bytes or erased bit is a damaged envelope. */
static int part_state(const ProtobufCBinaryData *hash, size_t len, bool erased_bit,
                      unsigned present_flag, unsigned erased_flag, unsigned *flags) {
  if (hash->len == 0) {
    if (erased_bit)
      return MLPROTO_ERR_MALFORMED;
    return len == 0 ? MLPROTO_OK : MLPROTO_ERR_FIELD_RANGE;
  }
  if (hash->len != MLPROTO_HASH_BYTES)
    return MLPROTO_ERR_FIELD_SIZE;
  if (len && erased_bit)
    return MLPROTO_ERR_MALFORMED;
  if (!len && !erased_bit)
    return MLPROTO_ERR_FIELD_MISSING;
  *flags |= len ? present_flag : erased_flag;
  return MLPROTO_OK;
}

/* Header: decode, canonical form, sizes and ranges. Fills r on success. */
static int verify_header(mlproto_record *r, const uint8_t *hb, size_t hl,
                         const mlproto__env_parts *parts) {
  ProtobufCMessage *m;
  int rc = mlproto__unpack(&m, &mentorlog__v1__record_header__descriptor, hb, hl, false);
  if (rc)
    return rc;
  Mentorlog__V1__RecordHeader *h = (Mentorlog__V1__RecordHeader *)m;
  /* Re-encoding must give the signed bytes back: one meaning, one encoding. */
  uint8_t canon[MLPROTO_HEADER_MAX];
  if (protobuf_c_message_get_packed_size(m) != hl || protobuf_c_message_pack(m, canon) != hl ||
      memcmp(canon, hb, hl) != 0) {
    rc = MLPROTO_ERR_MALFORMED;
    goto free_header;
  }
  if (h->format != MLPROTO_RECORD_FORMAT) {
    rc = MLPROTO_ERR_UNSUPPORTED_FORMAT;
    goto free_header;
  }
  if (h->record_id.len == 0 || h->case_id.len == 0 || h->author.len == 0 || h->prev.len == 0) {
    rc = MLPROTO_ERR_FIELD_MISSING;
    goto free_header;
  }
  if (h->record_id.len != MLPROTO_ID_BYTES || h->case_id.len != MLPROTO_ID_BYTES ||
      h->author.len != MLPROTO_SIGN_PUBLICKEYBYTES || h->prev.len != MLPROTO_HASH_BYTES ||
      parts->signature_len != MLPROTO_SIGN_BYTES) {
    rc = MLPROTO_ERR_FIELD_SIZE;
    goto free_header;
  }
  const uint8_t *sup[MLPROTO_MAX_SUPERSEDES];
  if (h->n_supersedes > MLPROTO_MAX_SUPERSEDES) {
    rc = MLPROTO_ERR_FIELD_RANGE;
    goto free_header;
  }
  for (size_t i = 0; i < h->n_supersedes; i++) {
    if (h->supersedes[i].len != MLPROTO_ID_BYTES) {
      rc = MLPROTO_ERR_FIELD_SIZE;
      goto free_header;
    }
    sup[i] = h->supersedes[i].data;
  }
  rc = check_header_fields((uint32_t)h->kind, h->seq, h->prev.data, h->record_id.data,
                           h->n_supersedes, sup);
  if (rc)
    goto free_header;
  unsigned flags = 0;
  if ((rc = part_state(&h->disclosed_hash, parts->disclosed_len,
                       parts->erased & MLPROTO_PART_DISCLOSED, MLPROTO_RECORD_DISCLOSED,
                       MLPROTO_RECORD_DISCLOSED_ERASED, &flags)) ||
      (rc = part_state(&h->sealed_hash, parts->sealed_len, parts->erased & MLPROTO_PART_SEALED,
                       MLPROTO_RECORD_SEALED, MLPROTO_RECORD_SEALED_ERASED, &flags)))
    goto free_header;
  uint32_t kind = (uint32_t)h->kind;
  if ((flags & (MLPROTO_RECORD_SEALED | MLPROTO_RECORD_SEALED_ERASED)) &&
      !mlproto_kind_has_sealed(kind)) {
    rc = MLPROTO_ERR_FIELD_RANGE;
    goto free_header;
  }
  if (!(flags & (MLPROTO_RECORD_DISCLOSED | MLPROTO_RECORD_DISCLOSED_ERASED)) &&
      mlproto_kind_needs_disclosed(kind)) {
    rc = MLPROTO_ERR_FIELD_MISSING;
    goto free_header;
  }
  r->format = h->format;
  memcpy(r->record_id, h->record_id.data, MLPROTO_ID_BYTES);
  memcpy(r->case_id, h->case_id.data, MLPROTO_ID_BYTES);
  memcpy(r->author, h->author.data, MLPROTO_SIGN_PUBLICKEYBYTES);
  r->seq = h->seq;
  memcpy(r->prev, h->prev.data, MLPROTO_HASH_BYTES);
  r->hlc = h->hlc;
  r->kind = (mlproto_kind)kind;
  r->n_supersedes = h->n_supersedes;
  for (size_t i = 0; i < h->n_supersedes; i++)
    memcpy(r->supersedes[i], sup[i], MLPROTO_ID_BYTES);
  r->flags = flags;
  if (h->disclosed_hash.len)
    memcpy(r->disclosed_hash, h->disclosed_hash.data, MLPROTO_HASH_BYTES);
  if (h->sealed_hash.len)
    memcpy(r->sealed_hash, h->sealed_hash.data, MLPROTO_HASH_BYTES);
free_header:
  protobuf_c_message_free_unpacked(m, mlproto_protobuf_allocator());
  return rc;
}

static int decode_disclosed(mlproto_disclosed **out, const uint8_t *b, size_t l, uint32_t kind) {
  if (l < MLPROTO_SALT_BYTES)
    return MLPROTO_ERR_FIELD_SIZE;
  b += MLPROTO_SALT_BYTES;
  l -= MLPROTO_SALT_BYTES;
  ProtobufCMessage *m;
  int rc = mlproto__unpack(&m, &mentorlog__v1__disclosed__descriptor, b, l, false);
  if (rc)
    return rc;
  /* Canonical form: also catches strings with embedded NULs, which C would
   * silently truncate. */
  uint8_t canon[MLPROTO_DISCLOSED_MAX];
  if (protobuf_c_message_get_packed_size(m) != l || protobuf_c_message_pack(m, canon) != l ||
      memcmp(canon, b, l) != 0) {
    rc = MLPROTO_ERR_MALFORMED;
  } else {
    rc = mlproto__check_disclosed((mlproto_disclosed *)m, kind);
  }
  if (rc) {
    protobuf_c_message_free_unpacked(m, mlproto_protobuf_allocator());
    return rc;
  }
  *out = (mlproto_disclosed *)m;
  return MLPROTO_OK;
}

/* trusted_hash NULL: full verification. Otherwise the Ed25519 check is
 * replaced by "SHA-256(header || signature) equals the record hash the caller
 * stored when it verified these bytes"; every other check is the same. */
static int verify_impl(mlproto_record **out, const uint8_t *env, size_t len,
                       const uint8_t *trusted_hash);

int mlproto_record_verify(mlproto_record **out, const uint8_t *env, size_t len) {
  return verify_impl(out, env, len, NULL);
}

int mlproto_record_verify_stored(mlproto_record **out, const uint8_t *env, size_t len,
                                 const uint8_t record_hash[MLPROTO_HASH_BYTES]) {
  if (!record_hash) {
    if (out)
      *out = NULL;
    return MLPROTO_ERR_INVALID_ARGUMENT;
  }
  return verify_impl(out, env, len, record_hash);
}

static int verify_impl(mlproto_record **out, const uint8_t *env, size_t len,
                       const uint8_t *trusted_hash) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  mlproto__env_parts parts;
  int rc = mlproto__env_split(&parts, env, len);
  if (rc)
    return rc;
  if (parts.header_len > MLPROTO_HEADER_MAX || parts.disclosed_len > MLPROTO_DISCLOSED_MAX ||
      parts.sealed_len > MLPROTO_SEALED_MAX)
    return MLPROTO_ERR_TOO_LARGE;
  if (parts.sealed_len && parts.sealed_len < MLPROTO_NONCE_BYTES + MLPROTO_AEAD_TAG_BYTES)
    return MLPROTO_ERR_FIELD_SIZE;

  mlproto_record *r = mlproto_calloc(1, sizeof *r);
  if (!r)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  if ((rc = verify_header(r, parts.header, parts.header_len, &parts)))
    goto fail;
  memcpy(r->signature, parts.signature, MLPROTO_SIGN_BYTES);
  /* the record hash, once: the stored check compares it, the record keeps it */
  record_hash2(r->hash, parts.header, parts.header_len, parts.signature, parts.signature_len);
  if (trusted_hash) {
    if (sodium_memcmp(r->hash, trusted_hash, sizeof r->hash) != 0) {
      rc = MLPROTO_ERR_BAD_SIGNATURE;
      goto fail;
    }
  } else if ((rc = mlproto_verify(r->signature, r->author, MLPROTO_TAG_RECORD, parts.header,
                                  parts.header_len))) {
    goto fail;
  }
  uint8_t h[MLPROTO_HASH_BYTES];
  if (r->flags & MLPROTO_RECORD_DISCLOSED) {
    mlproto__sha256(h, parts.disclosed, parts.disclosed_len);
    if (sodium_memcmp(h, r->disclosed_hash, sizeof h) != 0) {
      rc = MLPROTO_ERR_DISCLOSED_HASH_MISMATCH;
      goto fail;
    }
  }
  if (r->flags & MLPROTO_RECORD_SEALED) {
    mlproto__sha256(h, parts.sealed, parts.sealed_len);
    if (sodium_memcmp(h, r->sealed_hash, sizeof h) != 0) {
      rc = MLPROTO_ERR_SEALED_HASH_MISMATCH;
      goto fail;
    }
  }
  if ((r->flags & MLPROTO_RECORD_DISCLOSED) &&
      (rc = decode_disclosed(&r->disclosed, parts.disclosed, parts.disclosed_len, r->kind)))
    goto fail;
  if (r->flags & MLPROTO_RECORD_SEALED) {
    if (!(r->sealed = mlproto_memdup(parts.sealed, parts.sealed_len))) {
      rc = MLPROTO_ERR_OUT_OF_MEMORY;
      goto fail;
    }
    r->sealed_len = parts.sealed_len;
  }
  *out = r;
  return MLPROTO_OK;
fail:
  mlproto_record_free(r);
  return rc;
}

/* ------------------------------------------------------------ open sealed -- */

void mlproto_sealed_free(mlproto_sealed *s) {
  if (s)
    protobuf_c_message_free_unpacked(&s->base, mlproto__pbc_wiping_allocator());
}

int mlproto_record_open_sealed(mlproto_sealed **out, const mlproto_record *r,
                               const mlproto_key *case_key) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (!r)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (r->flags & MLPROTO_RECORD_SEALED_ERASED)
    return MLPROTO_ERR_SEALED_ERASED;
  if (!(r->flags & MLPROTO_RECORD_SEALED) || !r->sealed)
    return MLPROTO_ERR_FIELD_MISSING;
  if (!case_key || mlproto_key_type_of(case_key) != MLPROTO_KEY_CASE)
    return MLPROTO_ERR_BAD_KEY;
  if (r->sealed_len < MLPROTO_NONCE_BYTES + MLPROTO_AEAD_TAG_BYTES ||
      r->sealed_len > MLPROTO_SEALED_MAX)
    return MLPROTO_ERR_FIELD_SIZE;

  size_t ptlen = r->sealed_len - MLPROTO_NONCE_BYTES - MLPROTO_AEAD_TAG_BYTES;
  /* The plaintext lives in a wiping block: it is zeroed before it is freed. */
  mlproto__pbc_alloc st;
  mlproto__pbc_alloc_init(&st, true);
  uint8_t *pt = st.a.alloc(&st, ptlen);
  if (!pt)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  uint8_t aad[AAD_BYTES], key[MLPROTO_KEY_SECRETBYTES];
  aad_make(aad, r->record_id, r->case_id, r->author, (uint32_t)r->kind);
  mlproto_key_export(key, case_key);
  int ok = crypto_aead_xchacha20poly1305_ietf_decrypt(
      pt, NULL, NULL, r->sealed + MLPROTO_NONCE_BYTES, r->sealed_len - MLPROTO_NONCE_BYTES, aad,
      sizeof aad, r->sealed, key);
  sodium_memzero(key, sizeof key);
  int rc;
  if (ok != 0) {
    rc = MLPROTO_ERR_SEAL_OPEN_FAILED;
    goto free_pt;
  }
  const uint8_t *msg;
  size_t msg_len;
  if ((rc = sealed_unpad(&msg, &msg_len, pt, ptlen)))
    goto free_pt;
  ProtobufCMessage *m;
  if ((rc = mlproto__unpack(&m, &mentorlog__v1__sealed__descriptor, msg, msg_len, true)))
    goto free_pt;
  if (protobuf_c_message_get_packed_size(m) != msg_len)
    rc = MLPROTO_ERR_MALFORMED; /* non-canonical, e.g. an embedded NUL */
  else
    rc = mlproto__check_sealed((mlproto_sealed *)m, (uint32_t)r->kind);
  if (rc)
    mlproto_sealed_free((mlproto_sealed *)m);
  else
    *out = (mlproto_sealed *)m;
free_pt:
  st.a.free(&st, pt);
  return rc;
}

/* ----------------------------------------------------- enrol and session -- */

#define ENROLL_MSG_MAX (4 + 64 + 32 + 32 + 4 + 64)

static int enroll_message(uint8_t *buf, size_t *len, const Mentorlog__V1__EnrollRequest *req) {
  size_t cl = strnlen(req->code, 65), ll = strnlen(req->label, 65);
  if (cl > 64 || ll > 64 || req->device_pub.len != 32 || req->box_pub.len != 32)
    return MLPROTO_ERR_FIELD_SIZE;
  size_t o = 0;
  buf[o++] = 0, buf[o++] = 0, buf[o++] = 0, buf[o++] = (uint8_t)cl;
  memcpy(buf + o, req->code, cl), o += cl;
  memcpy(buf + o, req->device_pub.data, 32), o += 32;
  memcpy(buf + o, req->box_pub.data, 32), o += 32;
  buf[o++] = 0, buf[o++] = 0, buf[o++] = 0, buf[o++] = (uint8_t)ll;
  memcpy(buf + o, req->label, ll), o += ll;
  *len = o;
  return MLPROTO_OK;
}

int mlproto_enroll_request_sign(uint8_t sig_out[MLPROTO_SIGN_BYTES],
                                const Mentorlog__V1__EnrollRequest *req,
                                const mlproto_key *device) {
  if (!req || !sig_out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  uint8_t pk[32];
  if (!device || mlproto_key_public(pk, device) != MLPROTO_OK ||
      mlproto_key_type_of(device) != MLPROTO_KEY_SIGN)
    return MLPROTO_ERR_BAD_KEY;
  if (req->device_pub.len != 32 || memcmp(pk, req->device_pub.data, 32) != 0)
    return MLPROTO_ERR_BAD_KEY;
  uint8_t msg[ENROLL_MSG_MAX];
  size_t len;
  int rc = enroll_message(msg, &len, req);
  if (rc)
    return rc;
  return mlproto_sign(sig_out, device, MLPROTO_TAG_ENROLL, msg, len);
}

int mlproto_enroll_request_verify(const Mentorlog__V1__EnrollRequest *req) {
  if (!req)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (req->signature.len != MLPROTO_SIGN_BYTES)
    return MLPROTO_ERR_FIELD_SIZE;
  uint8_t msg[ENROLL_MSG_MAX];
  size_t len;
  int rc = enroll_message(msg, &len, req);
  if (rc)
    return rc;
  return mlproto_verify(req->signature.data, req->device_pub.data, MLPROTO_TAG_ENROLL, msg, len);
}

int mlproto_session_sign(uint8_t sig_out[MLPROTO_SIGN_BYTES], const uint8_t challenge[32],
                         const mlproto_key *device) {
  if (!sig_out || !challenge)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  uint8_t msg[64];
  if (!device || mlproto_key_type_of(device) != MLPROTO_KEY_SIGN ||
      mlproto_key_public(msg + 32, device) != MLPROTO_OK)
    return MLPROTO_ERR_BAD_KEY;
  memcpy(msg, challenge, 32);
  return mlproto_sign(sig_out, device, MLPROTO_TAG_SESSION, msg, sizeof msg);
}

int mlproto_session_request_verify(const Mentorlog__V1__SessionRequest *req) {
  if (!req)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (req->device_pub.len != 32 || req->challenge.len != 32 ||
      req->signature.len != MLPROTO_SIGN_BYTES)
    return MLPROTO_ERR_FIELD_SIZE;
  uint8_t msg[64];
  memcpy(msg, req->challenge.data, 32);
  memcpy(msg + 32, req->device_pub.data, 32);
  return mlproto_verify(req->signature.data, req->device_pub.data, MLPROTO_TAG_SESSION, msg,
                        sizeof msg);
}
