/*
 * test_sync_util.h — a minimal device-side HTTP client for the sync
 * integration tests, over the harness's raw TLS connection (harness.h):
 * one keep-alive connection, reconnected when the server went away.
 * Bodies are built by tools/devsim/devsim.h.
 */
#ifndef ML_TEST_SYNC_UTIL_H
#define ML_TEST_SYNC_UTIL_H

#include "harness.h"
#include "devsim.h"

#include "mlproto/merkle.h"
#include "mlproto/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SC_RECV_CAP (8u << 20)

typedef struct sc {
  ih_server *s;
  ih_raw r;
  int connected;
  uint8_t *buf;
} sc;

static void sc_init(sc *c, ih_server *s) {
  memset(c, 0, sizeof *c);
  c->s = s;
  c->buf = malloc(SC_RECV_CAP);
}

static void sc_disconnect(sc *c) {
  if (c->connected) ih_raw_close(&c->r);
  c->connected = 0;
}

static void sc_free(sc *c) {
  sc_disconnect(c);
  ih_raw_free(&c->r);
  free(c->buf);
}

/* One request; 0 with *status and the body (malloc'd) on an answer, -1 when
 * the connection failed (the request may or may not have been processed). */
static int sc_call(sc *c, const char *method, const char *target, const char *token,
                   const uint8_t *body, size_t len, int *status, uint8_t **rbody, size_t *rlen) {
  *rbody = NULL;
  *rlen = 0;
  if (!c->connected) {
    if (ih_raw_connect(c->s, &c->r, 0, 5000)) return -1;
    c->connected = 1;
  }
  char head[512];
  int n = snprintf(head, sizeof head,
                   "%s %s HTTP/1.1\r\nHost: mentorlog\r\nContent-Length: %zu\r\n%s%s%s%s\r\n",
                   method, target, len,
                   body ? "Content-Type: application/vnd.mentorlog.v1+protobuf\r\n" : "",
                   token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "");
  if (ih_raw_send(&c->r, head, (size_t)n, 5000) || (len && ih_raw_send(&c->r, body, len, 10000))) {
    sc_disconnect(c);
    return -1;
  }
  size_t got = 0, used;
  int rr = ih_raw_recv(&c->r, c->buf, SC_RECV_CAP - 1, &got, 1, 30000);
  char code[64];
  /* 0: the server closed, possibly right after a whole answer (a refusal
   * before the body was read closes the connection, net_conn.c) */
  if (rr == 0 && got && ih_parse_response(c->buf, got, status, code, &used) == 0) {
    c->connected = 2;
    rr = 1;
  }
  if (rr != 1) {
    sc_disconnect(c);
    return -1;
  }
  c->buf[got] = 0;
  if (sscanf((char *)c->buf, "HTTP/1.1 %d", status) != 1) { sc_disconnect(c); return -1; }
  char *end = strstr((char *)c->buf, "\r\n\r\n");
  if (!end) { sc_disconnect(c); return -1; }
  size_t clen = 0;
  for (char *p = (char *)c->buf; p < end; p++) {
    if (strncasecmp(p, "\r\nContent-Length:", 17) == 0) clen = strtoull(p + 17, NULL, 10);
    if (strncasecmp(p, "\r\nConnection: close", 19) == 0) c->connected = 2;
  }
  uint8_t *b = (uint8_t *)end + 4;
  if ((size_t)(b - c->buf) + clen > got) { sc_disconnect(c); return -1; }
  *rbody = malloc(clen ? clen : 1);
  memcpy(*rbody, b, clen);
  *rlen = clen;
  if (c->connected == 2) sc_disconnect(c);
  return 0;
}

/* Enrol d with a fresh code for mentor and open a session; 0 or -1. */
static int sc_device_up(sc *c, sim_dev *d, const char *mentor) {
  char code[64];
  const char *args[] = {"enroll-code", mentor, NULL};
  if (ih_admin(c->s, code, sizeof code, args) != 0) return -1;
  size_t len, rlen;
  int st;
  uint8_t *rb;
  uint8_t *b = sim_enroll_body(d, code, &len);
  int rc = sc_call(c, "POST", "/v1/enroll", NULL, b, len, &st, &rb, &rlen);
  free(b);
  free(rb);
  if (rc || st != 200) return -1;
  if (sc_call(c, "GET", "/v1/session/challenge", NULL, NULL, 0, &st, &rb, &rlen) || st != 200) {
    free(rb);
    return -1;
  }
  b = sim_session_body(d, rb, rlen, &len);
  free(rb);
  rc = sc_call(c, "POST", "/v1/session", NULL, b, len, &st, &rb, &rlen);
  free(b);
  if (!rc && st == 200) rc = sim_take_token(d, rb, rlen);
  else rc = -1;
  free(rb);
  return rc;
}

/* Decodes the STH of a PushResponse / PullResponse / SignedTreeHead body. */
static int sc_sth(const uint8_t *b, size_t len, mlproto_msg_type type, mlproto_sth *out) {
  ProtobufCMessage *m = NULL;
  if (mlproto_msg_unpack(&m, type, b, len)) return -1;
  Mentorlog__V1__SignedTreeHead *pb;
  if (type == MLPROTO_MSG_PUSH_RESPONSE) pb = ((Mentorlog__V1__PushResponse *)m)->sth;
  else if (type == MLPROTO_MSG_PULL_RESPONSE) pb = ((Mentorlog__V1__PullResponse *)m)->sth;
  else pb = (Mentorlog__V1__SignedTreeHead *)m;
  int rc = -1;
  if (pb && pb->root.len == 32 && pb->signature.len == 64) {
    memset(out, 0, sizeof *out);
    out->size = pb->size;
    out->timestamp_ms = pb->timestamp_ms;
    memcpy(out->root, pb->root.data, 32);
    memcpy(out->signature, pb->signature.data, 64);
    rc = 0;
  }
  mlproto_msg_free(m);
  return rc;
}

#endif
