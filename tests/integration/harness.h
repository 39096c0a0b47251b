/*
 * harness.h — run the REAL mentorlog-server binary for integration tests.
 *
 * A test starts the server on 127.0.0.1 with an ephemeral port
 * (`--listen 127.0.0.1:0`) and a fresh temporary data directory; the server
 * publishes its bound address in DATA/serve.addr (net.h, MLS_NET_ADDR_FILE)
 * once it accepts connections, which is what "ready" means here. Its stdout
 * and stderr go to ROOT/server.log. Stop it with ih_server_stop() (SIGTERM,
 * then the exit status is checked by the caller) or kill it with SIGKILL and
 * start it again on the same data directory (crash tests).
 *
 * Not thread-safe: one test thread drives one ih_server. Every function
 * returns 0 on success and -1 on failure, after printing why to stderr.
 */
#ifndef ML_IT_HARNESS_H
#define ML_IT_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mlproto/tls.h"
#include "test_store.h"

#define IH_MAX_ARGS 24

typedef struct ih_server {
  char root[256];        /* temporary directory owned by the harness */
  char data[300];        /* ROOT/data: the server's --data */
  char store[TEST_STORE_URI_CAP]; /* its store (test_store.h): `serve` and
                            `admin` get `--store` when it is not the SQLite
                            file in DATA */
  char log_path[300];    /* ROOT/server.log */
  char host[64];         /* "127.0.0.1" */
  int port;              /* bound port, known once started */
  char fingerprint[65];  /* SHA-256 of the server certificate, lower-case hex */
  pid_t pid;             /* 0 when not running */
  const char *extra[IH_MAX_ARGS]; /* extra `serve` arguments, NULL-terminated */
} ih_server;

/* Path of the mentorlog-server binary under test. */
const char *ih_server_binary(void);

/* Creates ROOT and ROOT/data (mkdtemp under $TMPDIR or /tmp), clears s and
 * gives it a fresh store (test_store_uri; dropped by ih_server_cleanup).
 * extra: NULL or a NULL-terminated list of extra `serve` options (copied by
 * pointer: they must outlive the ih_server). */
int ih_server_init(ih_server *s, const char *const *extra);
/* Starts `mentorlog-server serve --data DATA [--store URI] --listen
 * 127.0.0.1:0 EXTRA...`
 * and waits (up to 60 s) until it is ready; fills port and fingerprint. */
int ih_server_start(ih_server *s);
/* Sends sig and waits up to timeout_ms for the exit; *status gets the raw
 * waitpid status. On timeout the server is SIGKILLed and -1 returned. */
int ih_server_signal_wait(ih_server *s, int sig, int timeout_ms, int *status);
/* SIGTERM + wait; 0 only if the server exited normally with status 0. */
int ih_server_stop(ih_server *s);
/* SIGKILL + reap (crash tests). */
void ih_server_kill(ih_server *s);
/* 1 when the server process is still running. */
int ih_server_alive(ih_server *s);
/* Stops the server if running (SIGKILL) and removes ROOT recursively. */
void ih_server_cleanup(ih_server *s);

/* No test leaves a server behind, even when an assertion fails half-way:
 * the harness remembers every initialised server (pid and directory, by
 * value) until ih_server_cleanup(); ih_teardown() — use it as a cmocka
 * teardown — kills and removes all that are left, as does a later
 * ih_server_init() at the same address and the process's exit. A server
 * also dies with its test process (PR_SET_PDEATHSIG). */
int ih_teardown(void **state);
/* cmocka helpers: init + start / stop (exit status 0 required) + cleanup,
 * failing the running test on error. */
void ih_start(ih_server *s, const char *const *extra);
void ih_stop(ih_server *s);

/* Runs argv (argv[0] a path), stdin from /dev/null, and captures up to
 * outsz-1 bytes of stdout (NUL-terminated; out may be NULL). stderr goes to
 * this test's stderr. Returns the exit status (0..255) or -1 (not run,
 * killed, or not finished within timeout_ms). */
int ih_run(char *out, size_t outsz, int timeout_ms, const char *const *argv);
/* `mentorlog-server admin --data DATA [--store URI] ARGS...` (args
 * NULL-terminated);
 * stdout captured with the trailing newline removed. Returns its exit status. */
int ih_admin(ih_server *s, char *out, size_t outsz, const char *const *args);

/* --- a raw TLS client (mlproto/tls.h over a blocking socket), for tests
 * that need byte-level control: half-close, dribbling, pipelining, TLS
 * version pinning. Pinned to the server's fingerprint. --- */
typedef struct ih_raw {
  int fd;
  mlproto_tls_config *cfg;
  mlproto_tls *tls;
  uint8_t *resume;  /* the session to offer on the next connect (owned) */
  size_t resume_len;
} ih_raw;

/* TCP connect + TLS handshake within timeout_ms. max_version: 0 (1.3 and
 * 1.2) or MLPROTO_TLS_V12. On failure r is cleaned up. */
int ih_raw_connect(ih_server *s, ih_raw *r, unsigned max_version, int timeout_ms);
/* The same from another local source address (e.g. "127.0.0.2": every
 * 127.0.0.0/8 address is the loopback on Linux), which the server keys as
 * another client address. */
int ih_raw_connect_from(ih_server *s, ih_raw *r, const char *src, unsigned max_version,
                        int timeout_ms);
/* The same, sending prefix (plaintext: a PROXY protocol header, say)
 * before the TLS handshake, in pieces of 7 bytes 2 ms apart (so that the
 * server reads it in several parts). */
int ih_raw_connect_prefix(ih_server *s, ih_raw *r, const char *src, const void *prefix,
                          size_t prefix_len, unsigned max_version, int timeout_ms);
/* TCP connect only (no TLS): for slowloris and connection-cap tests. */
int ih_tcp_connect(ih_server *s, int timeout_ms);
/* ... from the source address src (NULL: any). */
int ih_tcp_connect_from(ih_server *s, const char *src, int timeout_ms);
/* Encrypts and sends all of data. */
int ih_raw_send(ih_raw *r, const void *data, size_t len, int timeout_ms);
/* shutdown(SHUT_WR) on the socket, without close_notify: the server sees EOF. */
int ih_raw_shutdown_write(ih_raw *r);
/* Reads plaintext into buf until the peer closes (returns 0), the buffer
 * is full or a whole HTTP response is in (returns 1 when want_one is set),
 * or the time runs out (returns -1). *len gets the bytes read. */
int ih_raw_recv(ih_raw *r, uint8_t *buf, size_t cap, size_t *len, int want_one, int timeout_ms);
/* Reads plaintext into buf (NUL-terminated, so cap-1 bytes at most) until
 * it holds needle (returns 1), the peer closes (0) or the time runs out
 * (-1); *len gets the bytes read. For interim answers (100 Continue) that
 * ih_raw_recv's response parser skips. */
int ih_raw_recv_until(ih_raw *r, uint8_t *buf, size_t cap, size_t *len, const char *needle,
                      int timeout_ms);
/* Closes the socket and frees the session (keeps the resumption blob). */
void ih_raw_close(ih_raw *r);
/* Also frees the config and the resumption blob. */
void ih_raw_free(ih_raw *r);

/* Parses the first HTTP response in data: status, and the error code of
 * an error body (JSON {"code":..} or protobuf Error{code=1}) into code
 * (64 bytes; "" when none). *used: bytes of that response. 0 or -1. */
int ih_parse_response(const uint8_t *data, size_t len, int *status, char code[64],
                      size_t *used);

/* One request on a fresh connection: sends raw, reads the answer until
 * the server closes or the response is complete; status/code as above. */
int ih_request_once(ih_server *s, const void *raw, size_t len, int half_close, int *status,
                    char code[64], int timeout_ms);

/* The metrics listener (--metrics-listen, plain HTTP; its address in
 * DATA/metrics.addr): GET path there on a fresh connection; the whole answer
 * (head and body, NUL-terminated, cut to outsz-1) into out. Returns the
 * HTTP status, or -1 (no metrics.addr, cannot connect, no answer). */
int ih_metrics_get(ih_server *s, const char *path, char *out, size_t outsz, int timeout_ms);
/* The value of the sample `sample` (e.g. "mentorlog_connections_open" or
 * "mentorlog_lingering_closes_total{end=\"timeout\"}") in a fresh scrape,
 * or -1 when absent or unreadable. */
long long ih_metric(ih_server *s, const char *sample);

/* Reads ROOT/server.log into a malloc'ed NUL-terminated string (free()). */
char *ih_server_log(ih_server *s);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t ih_now_ms(void);

/* 1 when the server closed the plain TCP socket fd (EOF or reset) within
 * timeout_ms; bytes it sends meanwhile are read and dropped. */
int ih_tcp_closed_by_peer(int fd, int timeout_ms);
void ih_sleep_ms(unsigned ms);

#endif
