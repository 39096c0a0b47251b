/*
 * testutil.h — helpers shared by Mentorlog's cmocka tests.
 *
 * Include this after <stdarg.h>, <stddef.h>, <stdint.h>, <setjmp.h> and
 * <cmocka.h> (cmocka needs those first); it includes them itself in that order.
 */
#ifndef ML_TESTUTIL_H
#define ML_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mlproto/alloc.h"

/* Directory of the test vectors (../shared/testvectors or tests/vectors). */
#define TU_VECTORS_DIR ML_VECTORS_DIR
/* The tests/ directory of the source tree (corpora, fixtures). */
#define TU_TESTS_DIR ML_TESTS_DIR

/* Read a whole file; NULL on error (the test should fail). *len gets the size.
 * The buffer is NUL-terminated; free with free(). */
char *tu_read_file(const char *path, size_t *len);
/* "dir/name" into a static-per-call malloc'd string; free with free(). */
char *tu_path(const char *dir, const char *name);

/* Hex string -> bytes (malloc'd, *len set). NULL on bad hex. */
uint8_t *tu_unhex(const char *hex, size_t *len);

/* ---------------------------------------------------------------- JSON ---
 * A small, strict JSON reader for test vectors (RFC 8259: objects, arrays,
 * strings with escapes incl. \uXXXX -> UTF-8, numbers, true/false/null). */
typedef enum { TU_JNULL, TU_JBOOL, TU_JNUM, TU_JSTR, TU_JARR, TU_JOBJ } tu_jtype;

typedef struct tu_json {
  tu_jtype type;
  double num;        /* TU_JNUM (also exact for integers up to 2^53) */
  long long inum;    /* TU_JNUM: the integer value when the text was integral */
  int boolean;       /* TU_JBOOL */
  char *str;         /* TU_JSTR: NUL-terminated UTF-8 */
  size_t n;          /* TU_JARR / TU_JOBJ: number of items */
  struct tu_json *items; /* TU_JARR / TU_JOBJ */
  char **keys;       /* TU_JOBJ: key of each item */
} tu_json;

/* An allocator for out-of-memory tests (install it with
 * mlproto_set_allocator(&tu_oom_allocator)): while tu_oom_budget is positive
 * each malloc/realloc uses one unit; at 0 every one fails; -1 never fails.
 * tu_oom_live counts blocks from malloc not yet freed (leak checks). */
extern long tu_oom_budget, tu_oom_live;
extern const mlproto_allocator tu_oom_allocator;

/* Parse text; NULL on a syntax error. Free with tu_json_free. */
tu_json *tu_json_parse(const char *text, size_t len);
/* Parse a file; fails the current test on error. */
tu_json *tu_json_load(const char *path);
void tu_json_free(tu_json *j);
/* Member of an object, or NULL. */
const tu_json *tu_json_get(const tu_json *obj, const char *key);
/* Item i of an array, or NULL. */
const tu_json *tu_json_at(const tu_json *arr, size_t i);

#endif
