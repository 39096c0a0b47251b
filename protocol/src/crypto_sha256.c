/* crypto_sha256.c — SHA-256 with x86-64 SHA extensions, else libsodium
 * (see crypto_int.h). The block function follows Intel's "SHA extensions"
 * paper (2013): state kept as ABEF/CDGH, message schedule with
 * SHA256MSG1/MSG2, four rounds per group. */
#include "crypto_int.h"

#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define MLPROTO_HAVE_SHANI 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define MLPROTO_HAVE_SHANI 0
#endif

/* 0 unknown, 1 accelerated, 2 portable (libsodium). */
static _Atomic int sha_mode;
static _Atomic int sha_allow = 1;

#if MLPROTO_HAVE_SHANI

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

static int cpu_has_shani(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  int ssse3 = (c >> 9) & 1, sse41 = (c >> 19) & 1;
  if (__get_cpuid_max(0, NULL) < 7) return 0;
  __cpuid_count(7, 0, a, b, c, d);
  int sha = (b >> 29) & 1;
  return ssse3 && sse41 && sha;
}

__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_shani(uint32_t state[8],
                                                                     const uint8_t *p,
                                                                     size_t n) {
  const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  __m128i t = _mm_loadu_si128((const __m128i *)&state[0]);    /* DCBA */
  __m128i s1 = _mm_loadu_si128((const __m128i *)&state[4]);   /* HGFE */
  t = _mm_shuffle_epi32(t, 0xB1);                             /* CDAB */
  s1 = _mm_shuffle_epi32(s1, 0x1B);                           /* EFGH */
  __m128i s0 = _mm_alignr_epi8(t, s1, 8);                     /* ABEF */
  s1 = _mm_blend_epi16(s1, t, 0xF0);                          /* CDGH */
  for (; n; n--, p += 64) {
    __m128i abef = s0, cdgh = s1, w[4];
    for (int g = 0; g < 16; g++) {
      __m128i m;
      if (g < 4) {
        m = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), bswap);
      } else {
        /* W[t] = W[t-16] + s0(W[t-15]) + W[t-7] + s1(W[t-2]) */
        m = _mm_sha256msg1_epu32(w[g & 3], w[(g + 1) & 3]);
        m = _mm_add_epi32(m, _mm_alignr_epi8(w[(g + 3) & 3], w[(g + 2) & 3], 4));
        m = _mm_sha256msg2_epu32(m, w[(g + 3) & 3]);
      }
      w[g & 3] = m;
      __m128i k = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)&K[4 * g]));
      s1 = _mm_sha256rnds2_epu32(s1, s0, k);
      s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(k, 0x0E));
    }
    s0 = _mm_add_epi32(s0, abef);
    s1 = _mm_add_epi32(s1, cdgh);
  }
  t = _mm_shuffle_epi32(s0, 0x1B);                            /* FEBA */
  s1 = _mm_shuffle_epi32(s1, 0xB1);                           /* DCHG */
  s0 = _mm_blend_epi16(t, s1, 0xF0);                          /* DCBA */
  s1 = _mm_alignr_epi8(s1, t, 8);                             /* HGFE */
  _mm_storeu_si128((__m128i *)&state[0], s0);
  _mm_storeu_si128((__m128i *)&state[4], s1);
}

typedef struct sha_ctx {
  uint32_t h[8];
  uint64_t total;
  uint8_t buf[64];
  size_t fill;
} sha_ctx;

static void ctx_update(sha_ctx *c, const uint8_t *p, size_t n) {
  c->total += n;
  if (c->fill) {
    size_t take = 64 - c->fill < n ? 64 - c->fill : n;
    memcpy(c->buf + c->fill, p, take);
    c->fill += take;
    p += take;
    n -= take;
    if (c->fill < 64) return;
    blocks_shani(c->h, c->buf, 1);
    c->fill = 0;
  }
  if (n >= 64) {
    blocks_shani(c->h, p, n / 64);
    p += n & ~(size_t)63;
    n &= 63;
  }
  if (n) {
    memcpy(c->buf, p, n);
    c->fill = n;
  }
}

static void hash_shani(uint8_t out[32], const uint8_t *a, size_t alen, const uint8_t *b,
                       size_t blen) {
  sha_ctx c;
  memcpy(c.h, H0, sizeof c.h);
  c.total = 0;
  c.fill = 0;
  if (alen) ctx_update(&c, a, alen);
  if (blen) ctx_update(&c, b, blen);
  uint64_t bits = c.total * 8;
  c.buf[c.fill++] = 0x80;
  if (c.fill > 56) {
    memset(c.buf + c.fill, 0, 64 - c.fill);
    blocks_shani(c.h, c.buf, 1);
    c.fill = 0;
  }
  memset(c.buf + c.fill, 0, 56 - c.fill);
  for (int i = 0; i < 8; i++) c.buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
  blocks_shani(c.h, c.buf, 1);
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (uint8_t)(c.h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(c.h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(c.h[i] >> 8);
    out[4 * i + 3] = (uint8_t)c.h[i];
  }
  /* Like libsodium: no trace of the input is left on the stack. */
  sodium_memzero(&c, sizeof c);
}

#endif /* MLPROTO_HAVE_SHANI */

static int mode(void) {
  int m = atomic_load_explicit(&sha_mode, memory_order_relaxed);
  if (m) return m;
#if MLPROTO_HAVE_SHANI
  m = atomic_load(&sha_allow) && cpu_has_shani() ? 1 : 2;
#else
  m = 2;
#endif
  atomic_store_explicit(&sha_mode, m, memory_order_relaxed);
  return m;
}

void mlproto__sha256_2(uint8_t out[32], const uint8_t *a, size_t alen, const uint8_t *b,
                       size_t blen) {
#if MLPROTO_HAVE_SHANI
  if (mode() == 1) {
    hash_shani(out, a, alen, b, blen);
    return;
  }
#endif
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  if (alen) crypto_hash_sha256_update(&st, a, alen);
  if (blen) crypto_hash_sha256_update(&st, b, blen);
  crypto_hash_sha256_final(&st, out);
}

void mlproto__sha256(uint8_t out[32], const uint8_t *in, size_t len) {
  mlproto__sha256_2(out, in, len, NULL, 0);
}

int mlproto__sha256_accelerated(void) { return mode() == 1; }

void mlproto__sha256_set_accel(int allow) {
  atomic_store(&sha_allow, allow ? 1 : 0);
  atomic_store(&sha_mode, 0);
}
