/*
 * net.h — the network half of mentorlog-server: one libuv loop thread that
 * owns every socket, TLS (mlproto/tls.h) and HTTP/1.1 (mlproto/http.h) fed
 * from memory, and the uv threadpool for the application (app.h).
 *
 * Why one loop thread: on the 2-core machines we target, the CPU that matters
 * is signature verification and the SQLite commit, which run on the worker
 * pool; the loop thread does TLS record crypto, HTTP framing and handshakes
 * (~2.4 ms of CPU each for a full one, ~0.1 ms resumed), which keeps /healthz
 * well under its 50 ms p99 budget. A second loop would only add locking.
 *
 * Threading contract: everything in struct mls_server and struct mls_conn is
 * touched only on the loop thread, except the read-only request/response
 * pair a worker uses between uv_queue_work and its after-work callback.
 */
#ifndef MLS_NET_H
#define MLS_NET_H

#include <stddef.h>
#include <stdint.h>
#include "mlproto/proxy.h"
#include "mlproto/record.h"

/* `mentorlog-server serve ...`: parses argv (argv[0] is "serve"), runs the
 * server until SIGTERM/SIGINT, and returns the process exit status:
 *   0  clean shutdown (all requests drained, every handle closed)
 *   1  runtime failure (cannot bind, cannot open the data directory, ...)
 *   2  usage error (bad option; the message says which)
 * `serve --help` prints every option and returns 0. */
int mls_serve_main(int argc, char **argv);

#define MLS_NET_MAX_TLS_NAMES 16
#define MLS_NET_MAX_PROXY_FROM 16

/* Limits and options of `serve`, with their defaults (see --help). */
typedef struct mls_net_options {
  const char *data_dir;
  const char *store;        /* --store URI (store.h); NULL: sqlite in data_dir */
  char store_uri[1025];     /* resolved (datadir.h mls_datadir_store_resolve) */
  const char *listen;          /* "ADDR:PORT", "[v6]:PORT"; port 0 = ephemeral */
  const char *tls_cert, *tls_key;
  unsigned workers;            /* uv threadpool size */
  unsigned max_connections;
  size_t max_body;             /* bytes */
  size_t max_header_bytes;     /* bytes, request line + headers */
  uint64_t idle_timeout_ms;    /* between requests on a keep-alive connection */
  uint64_t request_timeout_ms; /* first byte of a request (or TLS handshake) to its last */
  uint64_t drain_timeout_ms;   /* SIGTERM: how long in-flight requests may finish */
  size_t max_inflight_bytes;   /* request bytes buffered across all connections -> 503 */
  size_t max_inflight_per_address; /* ... of one address key -> 429 ADDRESS_INFLIGHT;
                                  0 while parsing: the default (net_serve.c) */
  size_t min_upload_rate;      /* bytes/s a body must bring in each window; 0: off */
  uint64_t min_upload_window_ms; /* ... measured over windows of this length */
  unsigned max_conns_per_address; /* per IPv4 address / IPv6 /64 (mls_addr_key) */
  double unauth_rate;          /* requests/s per address without credentials (app.h) */
  unsigned auth_fail_limit;    /* failed bearer tokens per address (app.h) */
  const char *metrics_listen;  /* "ADDR:PORT" (loopback only) of /metrics; NULL: off */
  uint64_t wal_truncate_ms;    /* period of the WAL's TRUNCATE checkpoint; 0: never */
  uint64_t linger_time_ms;     /* lingering close after an early refusal: at most this
                                  long from the flushed answer to the close (0: off) */
  size_t linger_bytes;         /* ... and at most this many bytes read and discarded */
  const char *log_name;        /* --log-name: the log's checkpoint origin (app.h) */
  const char *tls_names[MLS_NET_MAX_TLS_NAMES]; /* --tls-name; n_tls_names of them */
  unsigned n_tls_names;
  size_t report_cache_bytes;   /* --report-cache: the reports' cache cap; 0: none */
  /* --proxy-protocol CIDR (mlproto/proxy.h): connections from these must
   * start with a PROXY header, whose client address is then the one every
   * per-address limit counts; from elsewhere, none is accepted */
  mlproto_cidr proxy_from[MLS_NET_MAX_PROXY_FROM];
  unsigned n_proxy_from;
} mls_net_options;

#define MLS_NET_DEFAULT_LISTEN "127.0.0.1:8443"
#define MLS_NET_DEFAULT_WORKERS 4u
#define MLS_NET_DEFAULT_MAX_CONNECTIONS 10000u
#define MLS_NET_DEFAULT_MAX_BODY MLPROTO_PUSH_MAX_BYTES /* mlproto/record.h */
#define MLS_NET_DEFAULT_MAX_HEADER_BYTES (16u << 10)
#define MLS_NET_DEFAULT_IDLE_TIMEOUT_MS 60000u
#define MLS_NET_DEFAULT_REQUEST_TIMEOUT_MS 30000u
#define MLS_NET_DEFAULT_DRAIN_TIMEOUT_MS 10000u
#define MLS_NET_DEFAULT_MAX_INFLIGHT_BYTES ((size_t)256u << 20)
/* --max-inflight-bytes-per-address: by default this share of the pool (at
 * least 1 KiB), so that one address cannot hold all of it. */
#define MLS_NET_DEFAULT_INFLIGHT_SHARE 8u
/* --min-upload-rate and --min-upload-window (net_budget.c): each window of
 * a body's reading must bring rate x window bytes, or the body is cut. */
#define MLS_NET_DEFAULT_MIN_UPLOAD_RATE ((size_t)4u << 10)
#define MLS_NET_DEFAULT_MIN_UPLOAD_WINDOW_MS 10000u
#define MLS_NET_DEFAULT_AUTH_FAIL_LIMIT 20u
/* /metrics on its own plain-HTTP listener, loopback only (net_metrics.c). */
#define MLS_NET_DEFAULT_METRICS_LISTEN "127.0.0.1:0"
#define MLS_NET_METRICS_MAX_CONNS 16u      /* open at once; more are closed */
#define MLS_NET_METRICS_TIMEOUT_MS 10000u  /* accept to answer */
#define MLS_NET_METRICS_MAX_HEADER_BYTES (8u << 10)
#define MLS_NET_DEFAULT_WAL_TRUNCATE_MS 60000u
#define MLS_NET_DEFAULT_MAX_CONNS_PER_ADDRESS 256u
/* Lingering close (net_conn.c conn_linger): when the server answers a request
 * it has not read to its end (431, 413, 408, 400, 503 ...), it sends the
 * answer and close_notify, half-closes (FIN), then reads and discards what
 * the client still sends until EOF, this time or this byte count, and only
 * then closes: a close with unread bytes in the kernel's receive buffer
 * sends a TCP RST, and the RST makes the client lose the answer. */
#define MLS_NET_DEFAULT_LINGER_TIME_MS 2000u
#define MLS_NET_DEFAULT_LINGER_BYTES ((size_t)1u << 20)
#define MLS_NET_DEFAULT_REPORT_CACHE_BYTES ((size_t)256u << 20) /* report_cache.h */

/* The file, inside the data directory, in which a running server publishes
 * the address it is bound to ("127.0.0.1:40123\n"), written atomically once
 * it accepts connections and removed on a clean exit. Tests and scripts use
 * it with `--listen 127.0.0.1:0`. */
#define MLS_NET_ADDR_FILE "serve.addr"
/* The same for the metrics listener (--metrics-listen), written before
 * serve.addr, so that a server that is ready has both. */
#define MLS_NET_METRICS_ADDR_FILE "metrics.addr"

/* --- internal: between net_*.c --- */

#include <uv.h>

#include "app.h"
#include "app_limits.h"
#include "mlproto/tls.h"

struct mls_conn;

/* What one address key (app_limits.h mls_addr_key) holds (net_budget.c):
 * its open connections (--max-conns-per-address) and the request bytes its
 * parsers hold (--max-inflight-bytes-per-address). A chained hash table
 * owned by the loop thread; an entry lives while the key has connections,
 * so a connection may keep a pointer to its own. */
#define MLS_NET_ADDR_BUCKETS 4096u
struct mls__addr {
  struct mls__addr *next;
  unsigned count;
  size_t inflight;
  uint8_t len;
  uint8_t key[MLS_LIMIT_KEY_MAX];
};
struct mls_server;
/* Adds one connection of key; returns its entry (NULL when out of memory). */
struct mls__addr *mls__addr_join(struct mls_server *s, const uint8_t *key, size_t len);
/* Removes one connection of the entry (freed at zero). */
void mls__addr_leave(struct mls_server *s, struct mls__addr *a);
/* n more request bytes held for address a (NULL: none known): MLPROTO_OK,
 * or MLPROTO_ERR_UNAVAILABLE when the pool (--max-inflight-bytes) is over,
 * MLPROTO_ERR_ADDRESS_INFLIGHT when a's share is; the bytes count anyway
 * (released by mls__budget_release as always). */
int mls__budget_add(struct mls_server *s, struct mls__addr *a, size_t n);
void mls__budget_release(struct mls_server *s, struct mls__addr *a, size_t n);
/* --min-upload-rate: the end of a window of a body's reading that began at
 * start_ms (UINT64_MAX when the rate is off), and whether `got` bytes in a
 * whole window are too few (1) or enough (0). */
uint64_t mls__upload_window_end(const struct mls_server *s, uint64_t start_ms);
int mls__upload_too_slow(const struct mls_server *s, size_t got);

struct mls_mconn;

typedef struct mls_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  uv_signal_t sig_term, sig_int;
  uv_timer_t drain_timer;
  mls_net_options opt;
  mls_app *app;
  mlproto_tls_config *tls;
  struct mls_conn *conns;    /* every open connection (intrusive list) */
  unsigned n_conns;
  size_t inflight_bytes;     /* request bytes held by all parsers (--max-inflight-bytes) */
  struct mls__addr *addrs[MLS_NET_ADDR_BUCKETS]; /* per address key (net_budget.c) */
  uv_tcp_t metrics_listener; /* --metrics-listen (net_metrics.c) */
  int metrics_on;            /* the metrics listener is open */
  struct mls_mconn *mconns;  /* its connections (intrusive list) */
  unsigned n_mconns;
  uv_timer_t wal_timer;      /* --wal-truncate (net_wal.c) */
  uv_work_t wal_work;
  int wal_busy;              /* wal_work queued, its after-work callback not run */
  uint64_t next_conn_id;
  int draining;              /* SIGTERM received: no new connections/requests */
  int closing_handles;       /* the server's own handles are being closed */
} mls_server;

/* Listener callback (net_conn.c): accepts one connection or refuses it at the cap. */
void mls__conn_on_connection(uv_stream_t *listener, int status);
/* Drain (net_conn.c): close idle connections, mark the others to close after
 * their current response; force = 1 closes every connection now. */
void mls__conn_drain_all(mls_server *s, int force);
/* Called by net_conn.c and net_metrics.c whenever a connection is freed, so
 * the server can finish its shutdown once the last one is gone. */
void mls__server_conn_gone(mls_server *s);

/* The metrics listener (net_metrics.c): plain HTTP/1.1, GET /metrics only,
 * one request per connection, none of the devices' limits (its own: at
 * most MLS_NET_METRICS_MAX_CONNS open, MLS_NET_METRICS_TIMEOUT_MS each,
 * MLS_NET_METRICS_MAX_HEADER_BYTES of head, no body). */
void mls__metrics_on_connection(uv_stream_t *listener, int status);
/* As mls__conn_drain_all, for the metrics connections. */
void mls__metrics_drain_all(mls_server *s, int force);
/* 1 when a is a loopback address (127.0.0.0/8, ::1). */
struct sockaddr_storage;
int mls__net_is_loopback(const struct sockaddr_storage *a);

/* --wal-truncate (net_wal.c): every period, mls_app_scrub() on a worker
 * (never two at once); stopped with the server's other handles. */
void mls__wal_timer_start(mls_server *s);
void mls__wal_timer_close(mls_server *s, uv_close_cb cb);

/* Parses "ADDR:PORT" into a sockaddr_storage (IPv4 or bracketed IPv6). */
struct sockaddr_storage;
int mls__net_parse_addr(const char *s, struct sockaddr_storage *out);
/* "250ms", "2s", "5m", "1h", bare number = seconds. 0 on success, -1 otherwise. */
int mls__net_parse_duration_ms(const char *s, uint64_t *out);
/* "4096", "64K", "4M" (binary units). 0 on success, -1 otherwise. */
int mls__net_parse_size(const char *s, size_t *out);

/* logfmt line to stderr through mls_vlogf() (log_fmt.h): one format for every part. */
void mls__net_log(const char *level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
