/*
 * transport.h — the CLI's retry policy over one ml_netclient.
 *
 * ml_transport_request() sends one request through an ml_netclient (which
 * pins the server, keeps the connection alive and resumes TLS sessions) and
 * repeats it while the failure is one that waiting can cure:
 *
 *   retried   429 and 503 (waiting what Retry-After says, see below);
 *             MLPROTO_ERR_IO (refused, reset, closed before or during the
 *             response), MLPROTO_ERR_TLS_CLOSED and MLPROTO_ERR_REQUEST_TIMEOUT
 *             — the connection is dropped and the next attempt reconnects.
 *   returned  every other status at once (2xx, 3xx, every other 4xx and 5xx:
 *             the same request would get the same answer), and every other
 *             error (TLS_PIN, TLS_CERT, TLS: a server that fails the pin is
 *             never asked again; BAD_HTTP, *_TOO_LARGE, OUT_OF_MEMORY,
 *             INVALID_ARGUMENT).
 *
 * Idempotence. A request may reach the server and be applied even though no
 * answer came back, and is then sent again. That is safe only because every
 * request Mentorlog makes is idempotent: a push names its records by their
 * content (a record already in the log is acknowledged again, not stored
 * twice: docs/wire-protocol.md §5), pulls and log reads are GETs, an
 * enrolment repeated with the same device key gets the same answer again
 * (§3.1), and a session's challenge is one-time: a repeated POST /v1/session
 * fails cleanly with 401 (returned, not retried; the caller fetches a new
 * challenge). Do not use this function for a request whose repetition would
 * change its effect.
 *
 * Schedule. Retry n (n = 1 for the first retry) waits
 *
 *   without Retry-After:  uniform random in [0, min(max_backoff_ms,
 *                         base_ms * 2^(n-1))]   ("full jitter", after the AWS
 *                         Architecture Blog's "Exponential Backoff And Jitter")
 *   with Retry-After R:   R + uniform random in [0, base_ms): at least what the
 *                         server asked (docs/wire-protocol.md §7: retrying
 *                         earlier still counts against the client), spread so
 *                         that clients told the same second do not return in
 *                         the same millisecond. R is delta-seconds ("120") or
 *                         an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT",
 *                         relative to unix_time(); a past date is 0). An
 *                         unparsable Retry-After is ignored (full jitter).
 *                         R over max_retry_after_ms is not waited for: the
 *                         429/503 is returned to the caller.
 *
 * Bounds. At most max_attempts requests are sent. A retry whose wait would
 * end after the deadline (deadline_ms from the call, on clock_ms()) is not
 * made: the last answer or error is returned at once, without sleeping.
 * The deadline bounds when an attempt may start; a started attempt is
 * bounded by the ml_netclient's own timeout_ms.
 *
 * Results. MLPROTO_OK with *resp filled (free with ml_netclient_response_free)
 * whenever a response was received on the last attempt — including a final
 * 429/503 after the retries ran out; otherwise the last attempt's negative
 * MLPROTO_ERR_* (*resp zeroed). INVALID_ARGUMENT for a NULL client, options
 * of another version or out-of-range values.
 *
 * Threads: as ml_netclient (one per thread). The hooks are called on the
 * calling thread, never concurrently.
 */
#ifndef ML_TRANSPORT_H
#define ML_TRANSPORT_H

#include "netclient.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ML_TRANSPORT_OPTIONS_VERSION 1
#define ML_TRANSPORT_DEFAULT_MAX_ATTEMPTS 6
#define ML_TRANSPORT_DEFAULT_BASE_MS 250
#define ML_TRANSPORT_DEFAULT_MAX_BACKOFF_MS 8000
#define ML_TRANSPORT_DEFAULT_MAX_RETRY_AFTER_MS 60000
#define ML_TRANSPORT_DEFAULT_DEADLINE_MS 120000

/* What a retry is about to wait for; given to on_retry. */
typedef struct ml_transport_retry {
  unsigned attempt;        /* the attempt that failed, 1-based */
  int status;              /* its HTTP status (429/503), or 0 */
  int error;               /* its MLPROTO_ERR_* when no response, or 0 */
  int64_t retry_after_ms;  /* the server's Retry-After in ms, or -1 if none */
  int64_t wait_ms;         /* how long the transport now sleeps */
} ml_transport_retry;

typedef struct ml_transport_options {
  unsigned version;          /* ML_TRANSPORT_OPTIONS_VERSION */
  unsigned max_attempts;     /* requests sent at most, >= 1; 0: default (6) */
  int base_ms;               /* first backoff ceiling; 0: default (250) */
  int max_backoff_ms;        /* cap of a backoff ceiling; 0: default (8000) */
  int max_retry_after_ms;    /* longest Retry-After honoured; 0: default (60000) */
  int deadline_ms;           /* overall budget of one call; 0: default (120000) */
  /* Hooks, each NULL for the real thing; ctx is passed to all of them.
   * Tests inject a fake clock whose sleep advances it, and a fixed rng. */
  int64_t (*clock_ms)(void *ctx);             /* monotonic ms (CLOCK_MONOTONIC) */
  void (*sleep_ms)(void *ctx, int64_t ms);    /* sleep (nanosleep, EINTR resumed) */
  uint64_t (*random64)(void *ctx);            /* uniform 64 bits (getrandom) */
  int64_t (*unix_time)(void *ctx);            /* wall clock, s (for HTTP-dates) */
  void (*on_retry)(void *ctx, const ml_transport_retry *r); /* progress; may be NULL */
  void *ctx;
} ml_transport_options;
#define ML_TRANSPORT_OPTIONS_INIT \
  {ML_TRANSPORT_OPTIONS_VERSION, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL}

/* What one call did (optional output). */
typedef struct ml_transport_report {
  unsigned attempts;      /* requests sent */
  int64_t waited_ms;      /* total of the waits between them */
  int last_error;         /* MLPROTO_ERR_* of the last attempt without a
                             response, 0 if every attempt got one */
} ml_transport_report;

/* Sends method/path/headers/body (as ml_netclient_request) through c with
 * the retry policy above. opts NULL: all defaults. report may be NULL; it is
 * filled on every return except when this function's own argument checks
 * fail (INVALID_ARGUMENT before any attempt). */
int ml_transport_request(ml_netclient *c, const ml_transport_options *opts, const char *method,
                         const char *path, const mlproto_http_header *headers, size_t n_headers,
                         const void *body, size_t body_len, ml_netclient_response *resp,
                         ml_transport_report *report);

/* ---- the pieces of the policy, pure functions (exported for tests) ---- */

/* 1 when a response with this status is retried (429, 503), else 0. */
int ml_transport_status_retryable(int status);

/* 1 when a request that failed with this MLPROTO_ERR_* is retried. */
int ml_transport_error_retryable(int err);

/* Parses a Retry-After value (delta-seconds or IMF-fixdate; surrounding
 * blanks allowed) into *ms, now_unix being the wall clock in seconds. A date
 * in the past gives 0; delta-seconds beyond 10^9 are clamped to 10^9 s.
 * MLPROTO_OK, or INVALID_ARGUMENT (then *ms is -1) for NULL or anything else. */
int ml_transport_parse_retry_after(const char *value, int64_t now_unix, int64_t *ms);

/* The wait before retry n (n >= 1) given the random value rnd: with
 * retry_after_ms >= 0, retry_after_ms + rnd % base; otherwise
 * rnd % (ceiling + 1), ceiling = min(max_backoff, base * 2^(n-1)). opts as
 * for ml_transport_request (NULL: defaults; zero fields: defaults). */
int64_t ml_transport_backoff_ms(const ml_transport_options *opts, unsigned n,
                                int64_t retry_after_ms, uint64_t rnd);

#ifdef __cplusplus
}
#endif
#endif
