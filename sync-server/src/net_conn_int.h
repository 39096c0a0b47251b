/* net_conn_int.h — what the files of one connection share: net_conn.c
 * (its life, reads, requests, responses, the body gate), net_conn_linger.c
 * (the lingering close), net_conn_proxy.c (the peer's address, the PROXY
 * header of a trusted balancer, the per-address admission). All of it runs
 * on the loop thread. */
#ifndef MLS_NET_CONN_INT_H
#define MLS_NET_CONN_INT_H

#include "net.h"

#include "metrics.h"
#include "mlproto/alloc.h"
#include "mlproto/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define READ_CHUNK (64u * 1024u)
#define PLAIN_CHUNK (16u * 1024u)
/* Stop reading while this much ciphertext waits to be sent (backpressure). */
#define WRITE_HIGH_WATER (512u * 1024u)
/* Room for the status line and headers on top of the body. */
#define RESPONSE_HEAD_CAP 2048u

struct job;

struct mls_conn {
  mls_server *srv;
  struct mls_conn *prev, *next;
  uv_tcp_t tcp;
  uv_timer_t timer;
  mlproto_tls *tls;
  mlproto_http_parser *http;
  struct job *job;         /* the request a worker holds, or NULL */
  uint8_t *pend;           /* plaintext after a complete request (pipelining) */
  size_t pend_off, pend_len;
  size_t write_queued;     /* ciphertext handed to uv_write, not completed */
  uint64_t id;
  uint64_t req_start_ms;
  int refs;                /* open handles + work in flight */
  unsigned closing : 1;    /* uv_close() called */
  unsigned finishing : 1;  /* close once the output is flushed */
  unsigned reading : 1;
  unsigned handshake_done : 1;
  unsigned counted : 1;    /* in mentorlog_connections_open */
  unsigned peer_eof : 1;
  unsigned gating : 1;       /* the head's credentials are being checked (the gate) */
  unsigned body_started : 1; /* the current request's body is being read */
  unsigned want_json : 1;    /* the current request's Accept names application/json */
  unsigned head_done : 1;    /* the current request's head has been scanned */
  unsigned linger : 1;       /* finish with a lingering close (an early refusal) */
  unsigned lingering : 1;    /* the lingering close has begun: reads are discarded */
  unsigned shut_done : 1;    /* the FIN went out: the linger timer runs */
  unsigned linger_full : 1;  /* --linger-bytes read before the FIN went out */
  size_t linger_read;        /* bytes discarded while lingering */
  uv_shutdown_t shut;        /* the half-close of a lingering close */
  size_t req_bytes;          /* bytes of the current request held by the parser */
  size_t head_bytes;         /* ... of them its head (when body_started or gating) */
  uint64_t body_start_ms;    /* loop time the body's reading began (--min-upload-rate) */
  uint64_t win_start_ms;     /* ... its current rate window began */
  size_t win_bytes;          /* body bytes when that window began */
  struct mls__addr *addr;    /* its address key's entry (net_budget.c), or NULL */
  uint8_t line_len;          /* head scanner: bytes of the current line kept */
  char line[96];             /* head scanner: the current header line (cut) */
  char peer[INET6_ADDRSTRLEN];
  /* --proxy-protocol: a connection from a balancer waits for its PROXY
   * header (mlproto/proxy.h) before TLS; its bytes so far, then freed */
  unsigned proxy_wait : 1;
  uint8_t *proxy_buf;        /* MLPROTO_PROXY_MAX_HEADER bytes while waiting */
  size_t proxy_have;
};

struct job {
  uv_work_t work;
  struct mls_conn *conn;
  mls_app *app;
  mls_request req;
  mls_header *headers;
  mls_response resp;
  int keep_alive;
  int want_json;
};

/* The credentials check of a request whose body waits (mls_app_body_rule). */
struct gate {
  uv_work_t work;
  struct mls_conn *conn;
  mls_app *app;
  mls_request req;   /* the head: pointers into the parser, which is not fed meanwhile */
  mls_header *headers;
  mls_response resp;
  int rc;
};

struct wreq {
  uv_write_t req;
  struct mls_conn *conn;
  uint8_t *data;
  size_t len;
};

void mls__conn_release_request(struct mls_conn *c);
void mls__conn_maybe_free(struct mls_conn *c);
void mls__conn_close(struct mls_conn *c);
void mls__conn_read_stop(struct mls_conn *c);
void mls__conn_timer_arm(struct mls_conn *c, uint64_t ms);
void mls__conn_pump(struct mls_conn *c);
void mls__conn_linger_end(struct mls_conn *c, mls_linger_end end);
void mls__conn_linger(struct mls_conn *c);
void mls__conn_read_start(struct mls_conn *c);
int mls__conn_peer_name(struct mls_conn *c, uint8_t addr[16]);
int mls__conn_proxy_trusted(const mls_server *s, int family, const uint8_t *addr);
int mls__conn_admit_address(struct mls_conn *c);
void mls__conn_proxy_read(struct mls_conn *c, ssize_t nread);

/* The loop thread's read buffer (net_conn.c): alloc_cb's, and the
 * lingering close's, whose bytes are dropped unread. Consumed by the read
 * callback that immediately follows the allocation. */
extern uint8_t mls__conn_read_buf[READ_CHUNK];

#endif
