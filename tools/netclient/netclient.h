/*
 * netclient.h — a small blocking HTTPS/1.1 client over POSIX sockets.
 *
 * Built on protocol/wire's memory-only engines (mlproto/tls.h,
 * mlproto/http.h): it owns one TCP connection at a time (IPv4 or IPv6,
 * TCP_NODELAY), speaks TLS with the server pinned by CA and/or certificate
 * fingerprint, keeps the connection alive between requests, and resumes the
 * TLS session (ticket) when it has to reconnect. Every wait is bounded by
 * the timeout (poll); every response is bounded by max_response_body.
 *
 * Errors (negative MLPROTO_ERR_*): IO (resolve/connect/send/recv failed or
 * the peer closed early — also in the middle of a response, whose
 * Content-Length or chunks were cut short), REQUEST_TIMEOUT (the deadline passed), TLS,
 * TLS_CERT, TLS_PIN, TLS_CLOSED, BAD_HTTP (malformed response),
 * HEADERS_TOO_LARGE / BODY_TOO_LARGE (response over the caps),
 * INVALID_ARGUMENT, OUT_OF_MEMORY. After any error the connection is
 * dropped; the next request reconnects.
 *
 * A request on a kept-alive connection that fails before any byte of the
 * response arrived (the server closed the idle connection) is retried once
 * on a fresh connection: only use this client for idempotent requests,
 * which all of Mentorlog's are.
 *
 * Threads: one ml_netclient per thread. Writes never raise SIGPIPE.
 *
 * Retries with backoff (429/503, connection loss) are a layer above:
 * transport.h.
 */
#ifndef ML_NETCLIENT_H
#define ML_NETCLIENT_H

#include "mlproto/http.h"
#include "mlproto/tls.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ml_netclient ml_netclient;

#define ML_NETCLIENT_OPTIONS_VERSION 1
#define ML_NETCLIENT_DEFAULT_TIMEOUT_MS 10000
#define ML_NETCLIENT_DEFAULT_MAX_BODY (16u * 1024u * 1024u)

typedef struct ml_netclient_options {
  unsigned version;          /* ML_NETCLIENT_OPTIONS_VERSION */
  const char *host;          /* "127.0.0.1", "::1" or a host name */
  uint16_t port;
  const char *tls_hostname;  /* SNI and certificate name; NULL: host */
  const char *ca_pem;        /* trust: a CA (PEM) and/or ... */
  size_t ca_pem_len;
  const char *pin_sha256;    /* ... the server certificate's SHA-256 */
  unsigned tls_max_version;  /* 0 or MLPROTO_TLS_V13; MLPROTO_TLS_V12 */
  int timeout_ms;            /* bound of one request, connect included;
                                0: ML_NETCLIENT_DEFAULT_TIMEOUT_MS */
  size_t max_response_body;  /* 0: ML_NETCLIENT_DEFAULT_MAX_BODY */
} ml_netclient_options;
#define ML_NETCLIENT_OPTIONS_INIT {ML_NETCLIENT_OPTIONS_VERSION, NULL, 0, NULL, NULL, 0, NULL, 0, 0, 0}

typedef struct ml_netclient_response {
  int status;
  char *content_type;        /* NUL-terminated copy, or NULL */
  uint8_t *body;             /* body_len bytes (+ a NUL), never NULL on success */
  size_t body_len;
  char *retry_after;         /* NUL-terminated copy of Retry-After, or NULL */
  char *set_cookie;          /* NUL-terminated copy of the first Set-Cookie, or NULL */
} ml_netclient_response;

typedef struct ml_netclient_stats {
  unsigned connects;         /* TCP connections opened */
  unsigned handshakes;       /* TLS handshakes completed */
  unsigned resumed;          /* of which resumed a session */
  unsigned requests;         /* responses received */
} ml_netclient_stats;

/* Validates the options and builds the TLS configuration; does not connect
 * (the first request does). *out NULL on failure. The option strings are
 * copied. */
int ml_netclient_open(ml_netclient **out, const ml_netclient_options *opts);

/* Sends one request and waits for its response. path: origin-form target
 * ("/v1/pull?since=3"); headers: extra fields (no Host / Content-Length);
 * body may be NULL when body_len is 0. On success fills *resp (free it with
 * ml_netclient_response_free); on error *resp is zeroed. An HTTP error
 * status (4xx/5xx) is a success of this function. */
int ml_netclient_request(ml_netclient *c, const char *method, const char *path,
                         const mlproto_http_header *headers, size_t n_headers,
                         const void *body, size_t body_len, ml_netclient_response *resp);

void ml_netclient_response_free(ml_netclient_response *resp);

/* Ends the current connection cleanly (close_notify), keeping the TLS
 * session for resumption on the next request. No-op when not connected. */
void ml_netclient_disconnect(ml_netclient *c);

/* 1 when the current connection's handshake resumed a session. */
int ml_netclient_resumed(const ml_netclient *c);

void ml_netclient_get_stats(const ml_netclient *c, ml_netclient_stats *out);

/* Disconnects and frees everything, wiping the saved session. NULL: no-op. */
void ml_netclient_close(ml_netclient *c);

#ifdef __cplusplus
}
#endif
#endif
