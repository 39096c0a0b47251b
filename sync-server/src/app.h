/*
 * app.h — the boundary between the server's network half (libuv loop, TLS,
 * HTTP framing, connection limits; net_*.c) and its application half
 * (authentication, push/pull, the transparency log, storage; app_*.c,
 * store_*.c, log_*.c).
 *
 * The network half parses a complete HTTP request (caps already enforced),
 * then calls mls_app_handle() on a WORKER thread (uv_queue_work) — never on
 * the loop thread — except for routes for which mls_app_route_is_fast()
 * says yes (/healthz: it touches no storage), which it may answer on the loop
 * thread. Before it reads the body of a request whose route needs
 * credentials it has them checked by mls_app_authorize(), on a worker too
 * (mls_app_body_rule).
 * mls_app_handle() is thread-safe: any number of workers may call it at once
 * on one mls_app; it serialises what must be serialised (the log append) itself.
 * It never blocks on the network and never calls back into the loop.
 */
#ifndef MLS_APP_H
#define MLS_APP_H

#include "mlproto/util.h"

#include <stdint.h>

typedef struct mls_app mls_app;

typedef struct mls_app_config {
  const char *data_dir;   /* the server's data directory (created if absent):
                             the log key, TLS files, log.name */
  const char *store_uri;  /* the store (store.h mls_store_open); NULL:
                             sqlite:DATA_DIR/server.db */
  int create;             /* create the store and keys when missing */
  const char *log_name;   /* the log's name (checkpoint origin): written to
                             DIR/log.name when that is absent; must equal it
                             when present (MLPROTO_ERR_ALREADY_EXISTS). NULL:
                             the stored name, or the default (log.h) */
  double unauth_rate;     /* requests/s per address (IPv6: /64) to the endpoints
                             that need no credentials (enrol, session, log,
                             /healthz), burst twice that; 0: 100/s */
  int verify_first;       /* verify every push batch before writing it, as
                             under concurrent pushes, also when it is the only
                             one (no overlap of verifying and writing); tests */
  size_t report_cache_bytes; /* memory cap of the jobcentre reports' per-case
                             cache (report_cache.h); 0: 256 MiB */
  int no_report_cache;    /* 1: no report cache (every report parses every
                             record of the jobcentre's cases) */
  unsigned report_slice_grants; /* grants per slice, at least, of a compliance
                             document written on several cores; 0: 64
                             (tests set 1 to write a small one in slices) */
  size_t challenge_spent_max; /* session challenges answered at this instance
                             and not expired yet that it remembers (so that
                             each is answered once); past that many, answers
                             are refused 503 UNAVAILABLE until the earliest
                             expires (challenge.h); 0: MLS_SPENT_DEFAULT */
  unsigned auth_fail_limit; /* failed bearer tokens per address (IPv6: /64):
                             a bucket of this many, refilled at as many per
                             minute; while it is empty every bearer-token
                             request of the address is refused 429 before
                             any lookup. 0: 20 */
} mls_app_config;

typedef struct mls_header {
  const char *name;  /* as received; compare case-insensitively */
  const char *value;
} mls_header;

typedef struct mls_request {
  const char *method;        /* "GET", "POST", ... */
  const char *path;          /* "/v1/push" (no query) */
  const char *query;         /* after '?', "" when none; not decoded */
  const mls_header *headers;
  size_t n_headers;
  const uint8_t *body;
  size_t body_len;
  const char *peer;          /* "127.0.0.1" — for per-address throttling */
  uint64_t conn_id;          /* for log lines */
} mls_request;

typedef struct mls_response {
  int status;                 /* HTTP status */
  const char *content_type;   /* static string */
  mlproto_buf body;           /* owned; the network half frees it */
  char extra_headers[1024];   /* e.g. "Retry-After: 1\r\n"; "" when none (the web
                                 pages' security headers and cookie need ~600) */
  const char *route;          /* static route label for metrics, e.g. "push" */
  int error_code;             /* MLPROTO_OK or the MLPROTO_ERR_* answered */
} mls_response;

/* Opens the store, the server's signing key, the log. *out NULL on failure. */
int mls_app_open(mls_app **out, const mls_app_config *cfg);
/* Waits for no one: the caller guarantees no mls_app_handle() is running. */
void mls_app_close(mls_app *app);

/* The store's TLS ticket secret (meta MLS_TLS_TICKET_META, made at the first
 * opening of the store like the challenge key): every instance sharing the
 * store hands it to its TLS configuration (mlproto/tls.h ticket_secret), so
 * a device resumes its TLS session at whichever instance the balancer picks.
 * MLPROTO_TLS_TICKET_SECRET_LEN bytes, valid until mls_app_close. */
#define MLS_TLS_TICKET_META "tls_ticket_key"
const uint8_t *mls_app_tls_ticket_secret(const mls_app *app);

/* Fills resp (which the caller zero-initialises); never fails as a function:
 * every failure is an error response with a stable code (mlproto errors). */
void mls_app_handle(mls_app *app, const mls_request *req, mls_response *resp, uint64_t now_ms);

/* The report cache's counters (report_cache.h; all zero without a cache). */
typedef struct mls_app_cache_stats {
  uint64_t hits, misses, evictions; /* case lookups since open */
  size_t entries, bytes, cap;
} mls_app_cache_stats;
void mls_app_report_cache_stats(mls_app *app, mls_app_cache_stats *out);

/* 1 when the route is cheap and may be answered on the loop thread. */
int mls_app_route_is_fast(const char *method, const char *path);

/* What a request must show before the network half reads its body. Asked
 * on the loop thread (pure, no storage) right after the head, for a request
 * that announces a body:
 *   MLS_BODY_AFTER_AUTH  the route needs a bearer token (push, cosignature,
 *                        and every other route with credentials): stop
 *                        reading, run mls_app_authorize() on a worker, and
 *                        read the body (sending 100 Continue if the client
 *                        asked for it) only when it says MLPROTO_OK; else
 *                        answer its response and close without reading on;
 *   MLS_BODY_OPEN        any other request (no credentials needed, or no
 *                        such route): the body is read at once, but at most
 *                        MLS_APP_OPEN_BODY_MAX bytes of it (413 beyond: no
 *                        such route takes more). */
enum { MLS_BODY_OPEN = 0, MLS_BODY_AFTER_AUTH = 1 };
#define MLS_APP_OPEN_BODY_MAX ((size_t)64u << 10)
int mls_app_body_rule(const char *method, const char *path);

/* On a WORKER thread, thread-safe: checks the credentials of req (its head:
 * method, path, headers, peer; body empty) for its route with the handler's
 * own authentication code, without taking from the device's request budget
 * (the handler does that once the request is complete). MLPROTO_OK, or the
 * code of the refusal that resp then holds: 401 UNAUTHENTICATED, 403
 * FORBIDDEN (a token of another role), 429 RATE_LIMITED (this address is
 * over its failed-token budget, mls_app_config.auth_fail_limit). */
int mls_app_authorize(mls_app *app, const mls_request *req, mls_response *resp, uint64_t now_ms);

/* On a WORKER thread: the Prometheus text of /metrics (metrics.h) in resp
 * (200, or an error response). The network half serves it on its own
 * listener only (net_metrics.c), never on the devices' port. */
void mls_app_metrics(mls_app *app, mls_response *resp);

/* On a WORKER thread: removes from the store's files the bytes of rows that
 * committed transactions deleted or replaced (store.h scrub: SQLite's
 * TRUNCATE checkpoint of the WAL). MLPROTO_OK, or BUSY when readers kept it
 * from finishing (the next call retries). The server calls it every
 * --wal-truncate (net_wal.c). */
int mls_app_scrub(mls_app *app);

/* Fill resp with an error body for code (content negotiated as protobuf
 * unless the request asked for JSON). Used by both halves for refusals. */
void mls_app_error(mls_response *resp, int code, const char *detail, int want_json);

/* Current log size, for /metrics. */
uint64_t mls_app_log_size(mls_app *app);

/* Pushes now between authentication and their answer, and how many pushes
 * so far waited for an earlier push of the same device (push_order.h). */
void mls_app_push_stats(mls_app *app, unsigned *in_flight, uint64_t *waited);

#endif
