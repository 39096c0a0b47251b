/* util_int.h — internal helpers of mlproto_base shared by the other modules
 * (not installed, not part of the API). */
#ifndef MLPROTO_UTIL_INT_H
#define MLPROTO_UTIL_INT_H

#include <stddef.h>
#include <stdint.h>

/* Decode one UTF-8 sequence at s[0..n) (n >= 1) strictly: no overlong
 * forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no
 * truncated sequence. Returns its length (1..4) with the code point in
 * *cp, or 0 when invalid (*cp untouched). */
size_t mlproto__utf8_next(const uint8_t *s, size_t n, uint32_t *cp);

#endif
