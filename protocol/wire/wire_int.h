/*
 * wire_int.h — internals shared by the wire library's sources. Not installed.
 */
#ifndef MLPROTO_WIRE_INT_H
#define MLPROTO_WIRE_INT_H

#include <stdint.h>

/* Broken-down UTC time of a Unix time (proleptic Gregorian calendar).
 * wday: 0 = Sunday. Pure arithmetic (no libc time zone state, no clock). */
typedef struct mlproto__utc {
  int64_t year;
  int month, day, hour, min, sec, wday;
} mlproto__utc;

void mlproto__utc_from_unix(mlproto__utc *out, int64_t t);

/* 1 when c is an RFC 9110 token character (method, header field name). */
int mlproto__http_tchar(unsigned char c);

#endif
