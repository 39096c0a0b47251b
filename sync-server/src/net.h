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
#include "mlproto/record.h"

/* `mentorlog-server serve ...`: parses argv (argv[0] is "serve"), runs the
 * server until SIGTERM/SIGINT, and returns the process exit status:
 *   0  clean shutdown (all requests drained, every handle closed)
 *   1  runtime failure (cannot bind, cannot open the data directory, ...)
 *   2  usage error (bad option; the message says which)
 * `serve --help` prints every option and returns 0. */
int mls_serve_main(int argc, char **argv);

#define MLS_NET_MAX_TLS_NAMES 16

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
  unsigned max_conns_per_address; /* per IPv4 address / IPv6 /64 (mls_addr_key) */
  double unauth_rate;          /* requests/s per address without credentials (app.h) */
  uint64_t linger_time_ms;     /* lingering close after an early refusal: at most this
                                  long from the flushed answer to the close (0: off) */
  size_t linger_bytes;         /* ... and at most this many bytes read and discarded */
  const char *log_name;        /* --log-name: the log's checkpoint origin (app.h) */
  const char *tls_names[MLS_NET_MAX_TLS_NAMES]; /* --tls-name; n_tls_names of them */
  unsigned n_tls_names;
  size_t report_cache_bytes;   /* --report-cache: the reports' cache cap; 0: none */
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

/* --- internal: between net_*.c --- */

#include <uv.h>

#include "app.h"
#include "app_limits.h"
#include "mlproto/tls.h"

struct mls_conn;

/* Open connections per address key (app_limits.h mls_addr_key), for
 * --max-conns-per-address: a chained hash table owned by the loop thread. */
#define MLS_NET_ADDR_BUCKETS 4096u
struct mls__addr_count;
struct mls_server;
/* Adds one connection of key; returns the new count (0 when out of memory). */
unsigned mls__addr_count_inc(struct mls_server *s, const uint8_t *key, size_t len);
/* Removes one connection of key (the entry goes at zero). */
void mls__addr_count_dec(struct mls_server *s, const uint8_t *key, size_t len);

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
  struct mls__addr_count *addr_counts[MLS_NET_ADDR_BUCKETS]; /* connections per address key */
  uint64_t next_conn_id;
  int draining;              /* SIGTERM received: no new connections/requests */
  int closing_handles;       /* the server's own handles are being closed */
} mls_server;

/* Listener callback (net_conn.c): accepts one connection or refuses it at the cap. */
void mls__conn_on_connection(uv_stream_t *listener, int status);
/* Drain (net_conn.c): close idle connections, mark the others to close after
 * their current response; force = 1 closes every connection now. */
void mls__conn_drain_all(mls_server *s, int force);
/* Called by net_conn.c whenever a connection is freed, so the server can
 * finish its shutdown once the last one is gone. */
void mls__server_conn_gone(mls_server *s);

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
