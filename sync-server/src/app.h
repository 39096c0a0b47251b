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
 * thread.
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
  char extra_headers[256];    /* e.g. "Retry-After: 1\r\n"; "" when none */
  const char *route;          /* static route label for metrics, e.g. "push" */
  int error_code;             /* MLPROTO_OK or the MLPROTO_ERR_* answered */
} mls_response;

/* Opens the store, the server's signing key, the log. *out NULL on failure. */
int mls_app_open(mls_app **out, const mls_app_config *cfg);
/* Waits for no one: the caller guarantees no mls_app_handle() is running. */
void mls_app_close(mls_app *app);

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

/* Fill resp with an error body for code (content negotiated as protobuf
 * unless the request asked for JSON). Used by both halves for refusals. */
void mls_app_error(mls_response *resp, int code, const char *detail, int want_json);

/* Current log size, for /metrics. */
uint64_t mls_app_log_size(mls_app *app);

/* Pushes now between authentication and their answer, and how many pushes
 * so far waited for an earlier push of the same device (push_order.h). */
void mls_app_push_stats(mls_app *app, unsigned *in_flight, uint64_t *waited);

#endif
