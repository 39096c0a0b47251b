/*
 * mlproto/json.h — one capped writer for JSON and CSV documents, used by the
 * server's reports and error bodies, the CLI's --json, the admin commands and
 * the audit tool. Pure, no I/O: it appends to an mlproto_buf (util.h), whose
 * cap bounds the document; the caller writes the buffer out.
 *
 * JSON (RFC 8259):
 *   mlproto_json j;
 *   mlproto_json_init(&j, &buf);
 *   mlproto_json_obj(&j);
 *     mlproto_json_key(&j, "size"); mlproto_json_u64(&j, 42);
 *     mlproto_json_key(&j, "rows"); mlproto_json_arr(&j);
 *       mlproto_json_str(&j, "a\"b");
 *     mlproto_json_end(&j);
 *   mlproto_json_end(&j);
 *   int rc = mlproto_json_finish(&j);   // first error, or MLPROTO_OK
 * The writer puts commas and (with .pretty) newlines and two-space indents
 * where they belong, so callers never write punctuation. Compact output has
 * no whitespace at all ({"size":42,"rows":["a\"b"]}); pretty output puts
 * each member and element on its own line and ": " after a key, and writes
 * an empty container as {} or []. Errors are sticky:
 * after the first one every call does nothing and mlproto_json_finish
 * returns it, so a renderer checks once at the end. On error the buffer
 * holds a prefix of the document and must not be sent. The writer only
 * appends: a caller may write the buffer out and empty it
 * (mlproto_buf_reset) between calls to send a long document in pieces (the
 * cap then bounds each piece); after an error it must then discard what it
 * sent (remove the file, fail the command).
 *   MLPROTO_ERR_TOO_LARGE        the buffer's cap was reached, or nesting
 *                                deeper than MLPROTO_JSON_MAX_DEPTH
 *   MLPROTO_ERR_OUT_OF_MEMORY
 *   MLPROTO_ERR_INVALID_ARGUMENT a key outside an object (or a NULL key, or
 *                                two keys in a row), a value in an object
 *                                without its key, a second top-level value,
 *                                end with nothing open (or right after a
 *                                key), finish with something still open,
 *                                or a string or key that is not valid UTF-8
 *                                (overlong forms, surrogates, truncated
 *                                sequences, above U+10FFFF: the writer never
 *                                emits a byte sequence a JSON parser would
 *                                reject)
 * Strings are escaped as RFC 8259 requires and no more: '"' and '\\', the
 * control characters (\b \f \n \r \t by name, others as \u00XX), and
 * U+2028/U+2029 and '<', '>', '&' as \uXXXX so that a document embedded in
 * HTML or JavaScript cannot end its element. A NULL string is JSON null.
 *
 * CSV (RFC 4180): fields separated by ',' and rows ended by CRLF; a field is
 * quoted when it holds ',', '"', CR or LF, or begins with a character a
 * spreadsheet would take as a formula ('=', '+', '-', '@', TAB, CR), and
 * such a formula-leading field is also prefixed by a single quote inside the
 * quotes (OWASP's CSV-injection rule), so LibreOffice and Excel show text.
 * Numbers written with mlproto_csv_u64/_i64 are never prefixed. Errors are
 * sticky as in JSON (a string that is not valid UTF-8: INVALID_ARGUMENT).
 */
#ifndef MLPROTO_JSON_H
#define MLPROTO_JSON_H

#include "mlproto/civiltime.h"
#include "mlproto/common.h"
#include "mlproto/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLPROTO_JSON_MAX_DEPTH 32

typedef struct mlproto_json {
  mlproto_buf *out; /* appended to; never reset by the writer */
  int err;          /* first error, sticky (MLPROTO_OK while none) */
  int pretty;       /* set after init: newline + 2-space indent per level */
  unsigned depth;   /* open containers */
  /* per depth: 1 object / 0 array; something already written in it; an
   * object's key written and waiting for its value */
  uint8_t is_obj[MLPROTO_JSON_MAX_DEPTH];
  uint8_t has_item[MLPROTO_JSON_MAX_DEPTH];
  uint8_t want_value[MLPROTO_JSON_MAX_DEPTH];
  int top_done; /* a complete top-level value was written (2: and finished) */
} mlproto_json;

MLPROTO_EXTERN void mlproto_json_init(mlproto_json *j, mlproto_buf *out);

/* Containers: open an object or an array (as a value: in an array, at the top,
 * or after a key), close the innermost one. */
MLPROTO_EXTERN void mlproto_json_obj(mlproto_json *j);
MLPROTO_EXTERN void mlproto_json_arr(mlproto_json *j);
MLPROTO_EXTERN void mlproto_json_end(mlproto_json *j);

/* A member's name (NUL-terminated), inside an object; the next call writes
 * its value. */
MLPROTO_EXTERN void mlproto_json_key(mlproto_json *j, const char *name);

/* Values. */
MLPROTO_EXTERN void mlproto_json_str(mlproto_json *j, const char *s); /* NULL: null */
/* n bytes (a NUL byte among them is \u0000); NULL: null. */
MLPROTO_EXTERN void mlproto_json_strn(mlproto_json *j, const char *s, size_t n);
MLPROTO_EXTERN void mlproto_json_u64(mlproto_json *j, uint64_t v);
MLPROTO_EXTERN void mlproto_json_i64(mlproto_json *j, int64_t v);
MLPROTO_EXTERN void mlproto_json_bool(mlproto_json *j, int v);
MLPROTO_EXTERN void mlproto_json_null(mlproto_json *j);
/* Lower-case hex of n bytes, as a string (null when p is NULL and n > 0). */
MLPROTO_EXTERN void mlproto_json_hex(mlproto_json *j, const uint8_t *p, size_t n);
/* "YYYY-MM-DD"; null for MLPROTO_DATE_NONE or an invalid date. */
MLPROTO_EXTERN void mlproto_json_date(mlproto_json *j, mlproto_date d);
/* RFC 3339 UTC with milliseconds, "2026-11-03T09:15:00.000Z", of Unix ms;
 * null after 9999-12-31T23:59:59.999Z. */
MLPROTO_EXTERN void mlproto_json_time_ms(mlproto_json *j, uint64_t unix_ms);

/* Shorthands for key + value. */
MLPROTO_EXTERN void mlproto_json_kstr(mlproto_json *j, const char *name, const char *s);
MLPROTO_EXTERN void mlproto_json_ku64(mlproto_json *j, const char *name, uint64_t v);
MLPROTO_EXTERN void mlproto_json_ki64(mlproto_json *j, const char *name, int64_t v);
MLPROTO_EXTERN void mlproto_json_kbool(mlproto_json *j, const char *name, int v);
MLPROTO_EXTERN void mlproto_json_khex(mlproto_json *j, const char *name, const uint8_t *p,
                                      size_t n);
MLPROTO_EXTERN void mlproto_json_kdate(mlproto_json *j, const char *name, mlproto_date d);
MLPROTO_EXTERN void mlproto_json_ktime_ms(mlproto_json *j, const char *name, uint64_t unix_ms);

/* Ends the document: a newline after it (pretty or not), and the first
 * error, or INVALID_ARGUMENT when a container is still open or nothing
 * was written. A second call writes nothing and returns the same. */
MLPROTO_EXTERN int mlproto_json_finish(mlproto_json *j) MLPROTO_WARN_UNUSED;

/* ------------------------------------------------------------------- CSV */

typedef struct mlproto_csv {
  mlproto_buf *out;
  int err;      /* first error, sticky: TOO_LARGE, OUT_OF_MEMORY, INVALID_ARGUMENT */
  size_t field; /* fields written in the current row */
} mlproto_csv;

MLPROTO_EXTERN void mlproto_csv_init(mlproto_csv *c, mlproto_buf *out);
MLPROTO_EXTERN void mlproto_csv_str(mlproto_csv *c, const char *s); /* NULL: empty */
MLPROTO_EXTERN void mlproto_csv_u64(mlproto_csv *c, uint64_t v);
MLPROTO_EXTERN void mlproto_csv_i64(mlproto_csv *c, int64_t v);
MLPROTO_EXTERN void mlproto_csv_hex(mlproto_csv *c, const uint8_t *p, size_t n); /* NULL: empty */
/* "YYYY-MM-DD"; empty for MLPROTO_DATE_NONE or an invalid date. */
MLPROTO_EXTERN void mlproto_csv_date(mlproto_csv *c, mlproto_date d);
/* As mlproto_json_time_ms, unquoted; empty for 0 and after year 9999. */
MLPROTO_EXTERN void mlproto_csv_time_ms(mlproto_csv *c, uint64_t unix_ms);
/* Ends the row (CRLF). */
MLPROTO_EXTERN void mlproto_csv_row(mlproto_csv *c);
/* The first error, or MLPROTO_OK; INVALID_ARGUMENT when a row is unfinished. */
MLPROTO_EXTERN int mlproto_csv_finish(mlproto_csv *c) MLPROTO_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
