/* Device fingerprints: what two screens show so that a mentor can compare
 * a new device's keys with what the server announced for it by eye. */
#include "crypto_int.h"
#include "mlproto/crypto.h"
#include "mlproto/errors.h"

#include <sodium.h>
#include <string.h>

#define FPR_TAG "mentorlog/device-fingerprint/v1"

void mlproto_device_id(uint8_t out[16], const uint8_t sign_pub[32]) {
  static const char tag[] = "mentorlog/device-id/v1"; /* hashed with its NUL */
  uint8_t msg[sizeof tag + 32], d[32];
  memcpy(msg, tag, sizeof tag);
  memcpy(msg + sizeof tag, sign_pub, 32);
  mlproto__sha256(d, msg, sizeof msg);
  memcpy(out, d, 16);
}

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int mlproto_device_fingerprint(char out[MLPROTO_FINGERPRINT_LEN + 1], const uint8_t sign_pub[32],
                               const uint8_t box_pub[32]) {
  if (!out)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  out[0] = 0;
  if (!sign_pub || !box_pub)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  uint8_t msg[sizeof FPR_TAG + 64], d[32];
  memcpy(msg, FPR_TAG, sizeof FPR_TAG); /* with its NUL */
  memcpy(msg + sizeof FPR_TAG, sign_pub, 32);
  memcpy(msg + sizeof FPR_TAG + 32, box_pub, 32);
  mlproto__sha256(d, msg, sizeof msg);
  /* 80 bits = 16 symbols of 5 bits, most significant first. */
  size_t o = 0;
  for (unsigned i = 0; i < 16; i++) {
    unsigned bit = i * 5, v = 0;
    for (unsigned b = 0; b < 5; b++, bit++)
      v = (v << 1) | ((d[bit / 8] >> (7 - bit % 8)) & 1u);
    if (i && i % 4 == 0)
      out[o++] = '-';
    out[o++] = crockford[v];
  }
  out[o] = 0;
  return MLPROTO_OK;
}

/* Crockford's reading: case-insensitive, O as 0, I and L as 1; dashes and
 * blanks are separators. -1 for any other character. */
static int fpr_symbol(int c) {
  if (c >= 'a' && c <= 'z')
    c -= 'a' - 'A';
  if (c == 'O')
    c = '0';
  if (c == 'I' || c == 'L')
    c = '1';
  const char *p = c ? strchr(crockford, c) : NULL;
  return p ? (int)(p - crockford) : -1;
}

int mlproto_fingerprint_equal(const char *a, const char *b) {
  if (!a || !b)
    return 0;
  size_t na = 0, nb = 0;
  int ok = 1;
  for (;;) {
    while (*a == '-' || *a == ' ')
      a++;
    while (*b == '-' || *b == ' ')
      b++;
    if (!*a || !*b)
      break;
    int x = fpr_symbol((unsigned char)*a++), y = fpr_symbol((unsigned char)*b++);
    if (x < 0 || y < 0 || x != y)
      ok = 0;
    na++, nb++;
  }
  while (*a == '-' || *a == ' ')
    a++;
  while (*b == '-' || *b == ' ')
    b++;
  return ok && !*a && !*b && na == 16 && nb == 16;
}
