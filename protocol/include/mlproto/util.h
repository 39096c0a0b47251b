/*
 * mlproto/util.h — small helpers used across Mentorlog: hex and a capped
 * byte buffer. Pure functions, no I/O; thread-safe (no shared state).
 */
#ifndef MLPROTO_UTIL_H
#define MLPROTO_UTIL_H

#include "mlproto/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Lower-case hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void mlproto_hex_encode(char *out, const uint8_t *in, size_t len);
/* Decode exactly 2*outlen hex digits (either case) of hex (hexlen chars).
 * MLPROTO_ERR_FIELD_SIZE when hexlen != 2*outlen, MLPROTO_ERR_INVALID_ARGUMENT
 * on a non-hex digit. out is untouched on error. */
int mlproto_hex_decode(uint8_t *out, size_t outlen, const char *hex, size_t hexlen)
    MLPROTO_WARN_UNUSED;

/* A growable byte buffer with a hard cap fixed at creation (curl's dynbuf).
 * Appending past the cap fails with MLPROTO_ERR_TOO_LARGE and leaves the
 * buffer as it was. */
typedef struct mlproto_buf {
  uint8_t *data;
  size_t len;
  size_t alloc;
  size_t cap;
} mlproto_buf;

void mlproto_buf_init(mlproto_buf *b, size_t cap);
int mlproto_buf_append(mlproto_buf *b, const void *p, size_t n) MLPROTO_WARN_UNUSED;
int mlproto_buf_printf(mlproto_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3))) MLPROTO_WARN_UNUSED;
/* Room for extra more bytes, allocated at once (a caller that knows the
 * size spares the doublings): TOO_LARGE past the cap, OUT_OF_MEMORY. */
int mlproto_buf_reserve(mlproto_buf *b, size_t extra) MLPROTO_WARN_UNUSED;
/* Drop the first n bytes (n <= len). */
void mlproto_buf_consume(mlproto_buf *b, size_t n);
void mlproto_buf_reset(mlproto_buf *b); /* len = 0, keeps memory */
/* Frees the memory, zeroing it first (buffers may hold secrets). */
void mlproto_buf_free(mlproto_buf *b);

/* Big-endian integer helpers. */
static inline void mlproto_put_u64be(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}
static inline uint64_t mlproto_get_u64be(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

#ifdef __cplusplus
}
#endif
#endif
