/*
 * mlproto/errors.h — the error codes shared by every part of Mentorlog.
 *
 * Every function of protocol/, client-core and the server that can fail
 * returns an int: MLPROTO_OK (0) on success, or one of the negative codes
 * below. Each code has
 *   - a stable name   (mlproto_errname: "BAD_SIGNATURE"), the machine code on
 *                      the wire and in scripts; never changes,
 *   - a human message (mlproto_strerror), static text in English,
 *   - an HTTP status  (mlproto_http_status): 4xx caller's fault, 5xx ours.
 * The list is in errors.def. Thread-safe: all three return static data.
 */
#ifndef MLPROTO_ERRORS_H
#define MLPROTO_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

#define MLPROTO_OK 0

enum mlproto_error {
#define MLPROTO_ERROR(name, value, http, msg) MLPROTO_ERR_##name = (value),
#include "mlproto/errors.def"
#undef MLPROTO_ERROR
  MLPROTO_ERR__SENTINEL = -10000
};

/* Stable name, e.g. "BAD_SIGNATURE"; "OK" for 0; "UNKNOWN_ERROR" otherwise. */
const char *mlproto_errname(int code);
/* Human message; never NULL. */
const char *mlproto_strerror(int code);
/* HTTP status for the code (200 for OK, 500 for an unknown code). */
int mlproto_http_status(int code);
/* Code for a stable name, or MLPROTO_ERR_INTERNAL when the name is unknown. */
int mlproto_errcode(const char *name);

#ifdef __cplusplus
}
#endif
#endif
