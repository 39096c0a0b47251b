#include "mlproto/util.h"
#include "util_int.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void mlproto_hex_encode(char *out, const uint8_t *in, size_t len) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * len] = '\0';
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int mlproto_hex_decode(uint8_t *out, size_t outlen, const char *hex, size_t hexlen) {
  if (outlen > SIZE_MAX / 2 || hexlen != 2 * outlen)
    return MLPROTO_ERR_FIELD_SIZE;
  for (size_t i = 0; i < hexlen; i++)
    if (hexval(hex[i]) < 0)
      return MLPROTO_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < outlen; i++)
    out[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
  return MLPROTO_OK;
}

void mlproto_buf_init(mlproto_buf *b, size_t cap) {
  b->data = NULL;
  b->len = b->alloc = 0;
  b->cap = cap;
}

/* exact: allocate what is needed, not the next doubling */
static int buf_grow(mlproto_buf *b, size_t extra, int exact) {
  if (extra > b->cap || b->len > b->cap - extra)
    return MLPROTO_ERR_TOO_LARGE;
  size_t need = b->len + extra;
  if (need <= b->alloc)
    return MLPROTO_OK;
  size_t na = exact ? need : b->alloc ? b->alloc : 256;
  while (na < need)
    na = na > SIZE_MAX / 2 ? need : na * 2;
  if (na > b->cap)
    na = b->cap;
  uint8_t *nd = mlproto_malloc(na);
  if (!nd)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  if (b->len)
    memcpy(nd, b->data, b->len);
  if (b->data) {
    sodium_memzero(b->data, b->alloc);
    mlproto_free(b->data);
  }
  b->data = nd;
  b->alloc = na;
  return MLPROTO_OK;
}

static int buf_reserve(mlproto_buf *b, size_t extra) { return buf_grow(b, extra, 0); }

int mlproto_buf_reserve(mlproto_buf *b, size_t extra) { return buf_grow(b, extra, 1); }

int mlproto_buf_append(mlproto_buf *b, const void *p, size_t n) {
  if (n == 0)
    return MLPROTO_OK;
  int rc = buf_reserve(b, n);
  if (rc)
    return rc;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return MLPROTO_OK;
}

int mlproto_buf_printf(mlproto_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  int rc = buf_reserve(b, (size_t)n + 1);
  if (rc)
    return rc;
  va_start(ap, fmt);
  vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return MLPROTO_OK;
}

void mlproto_buf_consume(mlproto_buf *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void mlproto_buf_reset(mlproto_buf *b) { b->len = 0; }

void mlproto_buf_free(mlproto_buf *b) {
  if (b->data) {
    sodium_memzero(b->data, b->alloc);
    mlproto_free(b->data);
  }
  b->data = NULL;
  b->len = b->alloc = 0;
}

/* ------------------------------------------------------------ UTF-8 --- */

size_t mlproto__utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
  uint8_t c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if ((c & 0xe0) == 0xc0) {
    len = 2, v = c & 0x1fu, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, v = c & 0x0fu, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, v = c & 0x07u, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    v = v << 6 | (s[i] & 0x3fu);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return len;
}
