/*
 * record_int.h — internals shared by record.c, record_check.c and codec.c.
 * Not installed; names are mlproto__ (internal, non-static).
 */
#ifndef MLPROTO_RECORD_INT_H
#define MLPROTO_RECORD_INT_H

#include "mlproto/errors.h"
#include "mlproto/record.h"

#include <stdbool.h>

/* ---- protobuf-c allocators ------------------------------------------------
 * A per-call allocator remembers whether an allocation failed, so that a NULL
 * from protobuf_c_message_unpack() maps to OUT_OF_MEMORY rather than
 * MALFORMED. The wiping variant prefixes each block with its size and zeroes
 * it on free (sealed plaintext). */
typedef struct mlproto__pbc_alloc {
  ProtobufCAllocator a;
  bool failed;
} mlproto__pbc_alloc;

void mlproto__pbc_alloc_init(mlproto__pbc_alloc *st, bool wiping);
/* Static allocators for freeing (they need no state). */
ProtobufCAllocator *mlproto__pbc_wiping_allocator(void);

/* Unpack with unknown-field refusal (recursively). MALFORMED, OUT_OF_MEMORY. */
int mlproto__unpack(ProtobufCMessage **out, const ProtobufCMessageDescriptor *d,
                    const uint8_t *buf, size_t len, bool wiping);
/* 1 when m or any sub-message holds unknown fields. */
bool mlproto__has_unknown(const ProtobufCMessage *m);

/* ---- minimal protobuf wire walker (no allocation) ----------------------- */
typedef struct mlproto__field {
  uint32_t number;
  uint32_t wire_type;
  uint64_t varint;          /* wire type 0, 1 (fixed64), 5 (fixed32) */
  const uint8_t *data;      /* wire type 2 */
  size_t len;               /* wire type 2 */
} mlproto__field;

/* Next field from *p..end. 1 with a field, 0 at end, MALFORMED on bad framing. */
int mlproto__next_field(const uint8_t **p, const uint8_t *end, mlproto__field *f);

/* The envelope's four parts, without copying. */
typedef struct mlproto__env_parts {
  const uint8_t *header, *signature, *disclosed, *sealed;
  size_t header_len, signature_len, disclosed_len, sealed_len;
  uint32_t erased; /* MLPROTO_PART_* bits of Envelope.erased */
} mlproto__env_parts;

/* Split envelope bytes; canonical framing required (fields 1..5 in order, at
 * most once, never empty or zero, minimal varints, erased only with known
 * bits, nothing else): else MALFORMED.
 * TOO_LARGE over MLPROTO_ENVELOPE_MAX. Missing header or signature is
 * FIELD_MISSING. */
int mlproto__env_split(mlproto__env_parts *parts, const uint8_t *env, size_t len);
/* Serialize parts (empty ones omitted) into a new buffer. */
int mlproto__env_join(uint8_t **out, size_t *out_len, const mlproto__env_parts *parts);
/* A new envelope buffer framed for parts of lens[] (header, signature,
 * disclosed, sealed; 0 = absent, no erased bits) with the parts' bytes left
 * for the caller to write at buf + offs[i]. TOO_LARGE, OUT_OF_MEMORY. */
int mlproto__env_frame(uint8_t **out, size_t *out_len, const size_t lens[4], size_t offs[4]);

/* ---- field checks (shared by build and verify) --------------------------- */
int mlproto__check_disclosed(const mlproto_disclosed *d, uint32_t kind);
int mlproto__check_sealed(const mlproto_sealed *s, uint32_t kind);

/* Strings: code = ASCII [A-Za-z0-9._-] (ref: also '/' and ':'), label = UTF-8 without control
 * characters, text = UTF-8 (newlines and tabs allowed). FIELD_MISSING when
 * shorter than min and empty, FIELD_SIZE over max, FIELD_RANGE on a bad char. */
int mlproto__check_code(const char *s, size_t min, size_t max, bool ref);
int mlproto__check_label(const char *s, size_t min, size_t max);
int mlproto__check_text(const char *s, size_t max);
bool mlproto__utf8_valid(const uint8_t *s, size_t n, bool allow_controls);

static inline int mlproto__check_bytes(const ProtobufCBinaryData *b, size_t want) {
  return b->len == want ? MLPROTO_OK : MLPROTO_ERR_FIELD_SIZE;
}
static inline bool mlproto__all_zero(const uint8_t *p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++)
    acc |= p[i];
  return acc == 0;
}

#endif
