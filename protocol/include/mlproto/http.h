/*
 * mlproto/http.h — HTTP/1.1 framing as a memory-only engine (llhttp below).
 *
 * Four pieces, none of which does I/O or reads a clock:
 *   - a server-side request parser with hard caps fixed at creation, giving
 *     one complete request at a time (pipelined requests wait: the parser
 *     stops consuming at the end of each request);
 *   - a response serializer (status line, Date given by the caller,
 *     Content-Length, Connection) and a request serializer for clients;
 *   - a client-side response parser with caps;
 *   - query-string helpers (percent-decoding, strict integers).
 *
 * Errors (negative MLPROTO_ERR_*; mlproto_http_status(code) is the status to
 * answer with, after which the server closes the connection):
 *   HEADERS_TOO_LARGE (431)  request line + headers over max_header_bytes,
 *                            more than max_headers headers, URL over max_url
 *   BODY_TOO_LARGE (413)     declared or chunked body over max_body
 *   BAD_HTTP (400)           anything llhttp rejects, CONNECT, a NUL or
 *                            control byte in a header, duplicate
 *                            Content-Length, Transfer-Encoding with HTTP/1.0,
 *                            an absent or absolute-form target, ...
 *   EXPECTATION_FAILED (417) an Expect header other than 100-continue
 *   OUT_OF_MEMORY, INVALID_ARGUMENT.
 *
 * Threads: parsers are single-threaded objects; the free functions are pure
 * and thread-safe. Memory: all through mlproto/alloc.h.
 */
#ifndef MLPROTO_HTTP_H
#define MLPROTO_HTTP_H

#include "mlproto/common.h"
#include "mlproto/errors.h"
#include "mlproto/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------------- limits -- */

typedef struct mlproto_http_limits {
  size_t max_header_bytes; /* request/status line + all header lines, CRLFs
                              included, up to and including the empty line */
  size_t max_headers;      /* number of header fields */
  size_t max_url;          /* request target, bytes (requests only) */
  size_t max_body;         /* decoded body bytes (after de-chunking) */
} mlproto_http_limits;

#define MLPROTO_HTTP_DEFAULT_MAX_HEADER_BYTES (16u * 1024u)
#define MLPROTO_HTTP_DEFAULT_MAX_HEADERS 64u
#define MLPROTO_HTTP_DEFAULT_MAX_URL 4096u
#define MLPROTO_HTTP_DEFAULT_MAX_BODY (4u * 1024u * 1024u)
#define MLPROTO_HTTP_LIMITS_DEFAULT                                               \
  {MLPROTO_HTTP_DEFAULT_MAX_HEADER_BYTES, MLPROTO_HTTP_DEFAULT_MAX_HEADERS,       \
   MLPROTO_HTTP_DEFAULT_MAX_URL, MLPROTO_HTTP_DEFAULT_MAX_BODY}

/* ---------------------------------------------------------------- types -- */

/* One header field; both strings NUL-terminated, name as received (compare
 * case-insensitively), value with surrounding blanks removed. */
typedef struct mlproto_http_header {
  const char *name;
  const char *value;
} mlproto_http_header;

/* A complete request. Every pointer is owned by the parser and valid until
 * mlproto_http_parser_next() or _free(). */
typedef struct mlproto_http_request {
  const char *method;        /* "GET", "POST", ... */
  const char *target;        /* request target as received: "/v1/pull?since=3" */
  const char *path;          /* target before '?', not decoded: "/v1/pull" */
  const char *query;         /* after '?', "" when none, not decoded */
  const mlproto_http_header *headers;
  size_t n_headers;
  const char *content_type;  /* value of Content-Type, or NULL */
  const uint8_t *body;       /* decoded (de-chunked) body; never NULL */
  size_t body_len;
  int64_t declared_length;   /* the body announced by the head: its
                                Content-Length, -1 for a chunked body (length
                                unknown), 0 for none */
  int http_minor;            /* 0 (HTTP/1.0) or 1 (HTTP/1.1) */
  int keep_alive;            /* 1: the connection may carry another request
                                after the response (HTTP/1.1 without
                                "Connection: close", HTTP/1.0 with
                                "Connection: keep-alive"); 0: close after */
} mlproto_http_request;

/* Value of the first header named name (ASCII case-insensitive), or NULL.
 * Works on requests and responses. */
MLPROTO_EXTERN const char *mlproto_http_header_get(const mlproto_http_header *headers,
                                                   size_t n, const char *name);

/* -------------------------------------------------------- request parser -- */

typedef struct mlproto_http_parser mlproto_http_parser;

/* New server-side parser. limits NULL: MLPROTO_HTTP_LIMITS_DEFAULT; a zero
 * field also means its default. *out NULL on failure (OUT_OF_MEMORY). */
MLPROTO_EXTERN int mlproto_http_parser_new(mlproto_http_parser **out,
                                           const mlproto_http_limits *limits)
    MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN void mlproto_http_parser_free(mlproto_http_parser *p);

/* Feeds bytes received on the connection.
 *   MLPROTO_OK, *req NULL:     all len bytes consumed, the request is not
 *                              complete yet ("need more");
 *   MLPROTO_OK, *req non-NULL: a request is complete; *consumed bytes of data
 *                              were used, the rest (pipelined requests)
 *                              belongs to the next request: after answering,
 *                              call mlproto_http_parser_next() and feed the
 *                              rest again. Until next() is called, feed()
 *                              consumes nothing and returns the same request.
 *   negative: the request is bad (codes above); the error is sticky.
 * *consumed is always set. Bytes consumed need not be kept by the caller:
 * the parser copies what it keeps. */
MLPROTO_EXTERN int mlproto_http_parser_feed(mlproto_http_parser *p, const void *data,
                                            size_t len, size_t *consumed,
                                            const mlproto_http_request **req)
    MLPROTO_WARN_UNUSED;

/* 1 once per request, right after the headers of a request carrying
 * "Expect: 100-continue" (with an acceptable Content-Length) were parsed and
 * before its body is complete: the server should send
 * MLPROTO_HTTP_CONTINUE now, then keep feeding. 0 otherwise. */
MLPROTO_EXTERN int mlproto_http_parser_take_continue(mlproto_http_parser *p);
#define MLPROTO_HTTP_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* Holding the body (off by default). With on set, feed() stops right after
 * the head of every request that announces a body (Content-Length > 0, or
 * chunked): it returns MLPROTO_OK with *req NULL, having consumed exactly the
 * head, so that the caller can look at the head (mlproto_http_parser_head)
 * before it reads a byte of the body, e.g. to check credentials first, and
 * decide whether to read on (feed again: the body follows; a pending
 * 100-continue stays pending until taken) or to refuse. A request without a
 * body completes in one feed() as before. */
MLPROTO_EXTERN void mlproto_http_parser_hold_body(mlproto_http_parser *p, int on);

/* The current request once its head is parsed, else NULL: method, target,
 * path, query, headers, content_type and declared_length as in the complete
 * request; body and body_len are what arrived so far, keep_alive is 0 until
 * the request is complete. Valid until the next feed(), next() or free().
 * After a complete request, that request. */
MLPROTO_EXTERN const mlproto_http_request *mlproto_http_parser_head(mlproto_http_parser *p);

/* Lowers the body cap of the current request (its head parsed, the request
 * not complete) to max bytes: BODY_TOO_LARGE (sticky) at once when the
 * declared length or the body so far exceeds it, later from feed() when a
 * chunked body grows past it. A max at or above the current cap changes
 * nothing. INVALID_ARGUMENT before the head or after the request. */
MLPROTO_EXTERN int mlproto_http_parser_limit_body(mlproto_http_parser *p, size_t max)
    MLPROTO_WARN_UNUSED;

/* 1 when bytes of an unfinished request have been consumed (a server that
 * times out or sees EOF mid-request answers 408/400 rather than closing
 * silently). */
MLPROTO_EXTERN int mlproto_http_parser_in_request(const mlproto_http_parser *p);

/* Releases the current request and readies the parser for the next one on
 * the same connection. Only valid after a complete request with keep_alive
 * set; otherwise the next feed() returns BAD_HTTP (the connection is over). */
MLPROTO_EXTERN void mlproto_http_parser_next(mlproto_http_parser *p);

/* ---------------------------------------------------------- serializers -- */

typedef struct mlproto_http_response_head {
  int status;                 /* 100..599 */
  const char *content_type;   /* NULL: no Content-Type header */
  const char *date;           /* IMF-fixdate (mlproto_http_date); NULL: none */
  const char *extra_headers;  /* NULL or complete lines "Name: value\r\n"... */
  int keep_alive;             /* 1: "Connection: keep-alive"; 0: "close" */
  int head_only;              /* 1: answer to HEAD: Content-Length of the
                                 body, but no body bytes */
} mlproto_http_response_head;

/* Appends a whole response to out (whose cap bounds it): status line with
 * the standard reason phrase, Date, Content-Type, Content-Length (except
 * for 1xx, 204 and 304, which carry no body), Connection, extra headers,
 * the empty line and the body. INVALID_ARGUMENT when the status is out of
 * range, a body is given for 1xx/204/304, or a header string holds a control
 * character / extra_headers is not a sequence of well-formed lines (no
 * header injection); TOO_LARGE when out's cap is reached (out unchanged on
 * any error). */
MLPROTO_EXTERN int mlproto_http_response_write(mlproto_buf *out,
                                               const mlproto_http_response_head *head,
                                               const void *body, size_t body_len)
    MLPROTO_WARN_UNUSED;

/* Appends a request: "METHOD target HTTP/1.1", Host, Content-Length (for a
 * body, or for POST/PUT/PATCH), the given headers, and the body. Headers
 * must not include Host or Content-Length. INVALID_ARGUMENT on a bad token,
 * a control character or a target not starting with '/'; TOO_LARGE. */
MLPROTO_EXTERN int mlproto_http_request_write(mlproto_buf *out, const char *method,
                                              const char *target, const char *host,
                                              const mlproto_http_header *headers,
                                              size_t n_headers, const void *body,
                                              size_t body_len) MLPROTO_WARN_UNUSED;

/* Reason phrase for status ("Not Found"), "Unknown" for others. Static. */
MLPROTO_EXTERN const char *mlproto_http_reason(int status);

/* IMF-fixdate for an HTTP Date header: "Sun, 06 Nov 1994 08:49:37 GMT".
 * out must hold MLPROTO_HTTP_DATE_LEN bytes. OUT_OF_RANGE for years outside
 * 1970..9999. */
#define MLPROTO_HTTP_DATE_LEN 30
MLPROTO_EXTERN int mlproto_http_date(char out[MLPROTO_HTTP_DATE_LEN], int64_t unix_seconds)
    MLPROTO_WARN_UNUSED;

/* ------------------------------------------------------- response parser -- */

typedef struct mlproto_http_response {
  int status;
  const mlproto_http_header *headers;
  size_t n_headers;
  const char *content_type;  /* or NULL */
  const uint8_t *body;       /* never NULL */
  size_t body_len;
  int keep_alive;            /* 1: the connection may be reused */
} mlproto_http_response;

typedef struct mlproto_http_response_parser mlproto_http_response_parser;

/* New client-side parser (max_url is ignored). *out NULL on failure. */
MLPROTO_EXTERN int mlproto_http_response_parser_new(mlproto_http_response_parser **out,
                                                    const mlproto_http_limits *limits)
    MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN void mlproto_http_response_parser_free(mlproto_http_response_parser *p);

/* Prepare for the response to the next request; head_request = 1 when that
 * request was HEAD (its response has no body whatever it declares). Must be
 * called before the first feed and between responses. */
MLPROTO_EXTERN void mlproto_http_response_parser_begin(mlproto_http_response_parser *p,
                                                       int head_request);

/* Feeds received bytes. Same contract as mlproto_http_parser_feed(): *resp
 * non-NULL when a final response is complete (interim 1xx responses are
 * skipped), valid until the next begin() or free(). Errors: BAD_HTTP
 * (malformed), HEADERS_TOO_LARGE, BODY_TOO_LARGE, OUT_OF_MEMORY. */
MLPROTO_EXTERN int mlproto_http_response_parser_feed(mlproto_http_response_parser *p,
                                                     const void *data, size_t len,
                                                     size_t *consumed,
                                                     const mlproto_http_response **resp)
    MLPROTO_WARN_UNUSED;

/* The peer closed the connection: completes a response whose body runs to
 * EOF (no Content-Length, not chunked). MLPROTO_OK with *resp set, or
 * BAD_HTTP when the response was cut short (also when nothing arrived). */
MLPROTO_EXTERN int mlproto_http_response_parser_eof(mlproto_http_response_parser *p,
                                                    const mlproto_http_response **resp)
    MLPROTO_WARN_UNUSED;

/* -------------------------------------------------------- query strings -- */

/* Caps for query helpers: a query longer than this is BAD_QUERY. */
#define MLPROTO_HTTP_MAX_QUERY 4096u

/* Finds parameter name in a raw query string ("a=1&b=x%20y") and writes its
 * percent-decoded value ('+' means space) to out (out_cap bytes including
 * the NUL); *out_len (may be NULL) gets its length. A parameter without '='
 * has the value "". Errors: NOT_FOUND; BAD_QUERY when the parameter occurs
 * twice, an escape is malformed, the value decodes to a NUL byte, the query
 * exceeds MLPROTO_HTTP_MAX_QUERY or the value does not fit out. */
MLPROTO_EXTERN int mlproto_http_query_get(const char *query, const char *name, char *out,
                                          size_t out_cap, size_t *out_len)
    MLPROTO_WARN_UNUSED;

/* Strict unsigned integer parameter: decimal digits only (no sign, blank,
 * or leading zero except "0"), within [min, max]. NOT_FOUND when absent,
 * BAD_QUERY otherwise. *out untouched on error. */
MLPROTO_EXTERN int mlproto_http_query_u64(const char *query, const char *name, uint64_t min,
                                          uint64_t max, uint64_t *out) MLPROTO_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
