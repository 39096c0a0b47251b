/*
 * test_http.c — HTTP/1.1 engine: request parser (tables of good and bad
 * requests, every truncation, caps at the limit and one past, pipelining,
 * chunked bodies, 100-continue, keep-alive), serializers, response parser,
 * query helpers.
 */
#include "mlproto/alloc.h"
#include "mlproto/http.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether the first b->len bytes of b contain s (b is not NUL-terminated). */
static int buf_has(const mlproto_buf *b, const char *s) {
  size_t n = strlen(s);
  for (size_t i = 0; i + n <= b->len; i++)
    if (memcmp(b->data + i, s, n) == 0)
      return 1;
  return 0;
}

static mlproto_http_parser *new_parser(const mlproto_http_limits *lim) {
  mlproto_http_parser *p = NULL;
  assert_int_equal(mlproto_http_parser_new(&p, lim), MLPROTO_OK);
  return p;
}

/* Feeds all of s at once; returns the code, *req and consumed. */
static int feed_all(mlproto_http_parser *p, const char *s, size_t len,
                    const mlproto_http_request **req, size_t *used) {
  size_t u;
  int rc = mlproto_http_parser_feed(p, s, len, &u, req);
  if (used)
    *used = u;
  return rc;
}

/* ------------------------------------------------------------ good ones -- */

typedef struct good_case {
  const char *raw;
  const char *method, *path, *query, *body;
  int keep_alive;
  const char *content_type;
} good_case;

static const good_case goods[] = {
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", "", "", 1, NULL},
    {"GET /v1/pull?since=3&limit=10 HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/v1/pull",
     "since=3&limit=10", "", 1, NULL},
    {"POST /v1/push HTTP/1.1\r\nHost: a\r\nContent-Type: application/vnd.mentorlog.v1+protobuf\r\n"
     "Content-Length: 5\r\n\r\nhello",
     "POST", "/v1/push", "", "hello", 1, "application/vnd.mentorlog.v1+protobuf"},
    {"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n",
     "POST", "/x", "", "abcdefg", 1, NULL},
    {"GET /close HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "GET", "/close", "", "", 0,
     NULL},
    {"GET /old HTTP/1.0\r\n\r\n", "GET", "/old", "", "", 0, NULL},
    {"GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET", "/old", "", "", 1, NULL},
    {"GET /q? HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/q", "", "", 1, NULL},
    {"HEAD /healthz HTTP/1.1\r\nhost:   a   \r\n\r\n", "HEAD", "/healthz", "", "", 1, NULL},
    {"GET /up HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", "GET", "/up",
     "", "", 0, NULL},
    {"DELETE /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "DELETE", "/v1/x", "", "",
     1, NULL},
};

static void check_good(const good_case *g, const mlproto_http_request *r) {
  assert_non_null(r);
  assert_string_equal(r->method, g->method);
  assert_string_equal(r->path, g->path);
  assert_string_equal(r->query, g->query);
  assert_int_equal(r->body_len, strlen(g->body));
  assert_memory_equal(r->body, g->body, r->body_len);
  assert_int_equal(r->keep_alive, g->keep_alive);
  if (g->content_type)
    assert_string_equal(r->content_type, g->content_type);
  else
    assert_null(r->content_type);
}

static void test_good_requests(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++) {
    const good_case *g = &goods[i];
    size_t len = strlen(g->raw);
    /* whole */
    mlproto_http_parser *p = new_parser(NULL);
    const mlproto_http_request *r;
    size_t used;
    assert_int_equal(feed_all(p, g->raw, len, &r, &used), MLPROTO_OK);
    assert_int_equal(used, len);
    check_good(g, r);
    /* until next(), the same request again, nothing consumed */
    const mlproto_http_request *r2;
    assert_int_equal(feed_all(p, "GET", 3, &r2, &used), MLPROTO_OK);
    assert_ptr_equal(r2, r);
    assert_int_equal(used, 0);
    mlproto_http_parser_free(p);

    /* every truncation is "need more", then the rest completes it */
    for (size_t cut = 0; cut < len; cut++) {
      p = new_parser(NULL);
      assert_int_equal(feed_all(p, g->raw, cut, &r, &used), MLPROTO_OK);
      assert_null(r);
      assert_int_equal(used, cut);
      assert_int_equal(mlproto_http_parser_in_request(p), cut > 0);
      assert_int_equal(feed_all(p, g->raw + cut, len - cut, &r, &used), MLPROTO_OK);
      assert_int_equal(used, len - cut);
      check_good(g, r);
      mlproto_http_parser_free(p);
    }
    /* byte by byte */
    p = new_parser(NULL);
    r = NULL;
    for (size_t k = 0; k < len; k++) {
      assert_null(r);
      assert_int_equal(feed_all(p, g->raw + k, 1, &r, &used), MLPROTO_OK);
      assert_int_equal(used, 1);
    }
    check_good(g, r);
    mlproto_http_parser_free(p);
  }
}

static void test_headers_lookup(void **state) {
  (void)state;
  const char *raw = "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-b:two words \r\nX-Empty:\r\n\r\n";
  mlproto_http_parser *p = new_parser(NULL);
  const mlproto_http_request *r;
  assert_int_equal(feed_all(p, raw, strlen(raw), &r, NULL), MLPROTO_OK);
  assert_int_equal(r->n_headers, 4);
  assert_string_equal(r->headers[0].name, "Host");
  assert_string_equal(mlproto_http_header_get(r->headers, r->n_headers, "HOST"), "h");
  assert_string_equal(mlproto_http_header_get(r->headers, r->n_headers, "x-a"), "1");
  assert_string_equal(mlproto_http_header_get(r->headers, r->n_headers, "X-B"), "two words");
  assert_string_equal(mlproto_http_header_get(r->headers, r->n_headers, "x-empty"), "");
  assert_null(mlproto_http_header_get(r->headers, r->n_headers, "x-c"));
  assert_null(mlproto_http_header_get(r->headers, r->n_headers, "x-"));
  assert_string_equal(r->target, "/");
  assert_int_equal(r->http_minor, 1);
  mlproto_http_parser_free(p);
}

/* Path and query are split from the target after the head was stored:
 * every head size, so that the split meets every buffer growth point
 * (regression: the fuzzer found a use-after-free here). */
static void test_target_split_all_sizes(void **state) {
  (void)state;
  char raw[2048], padding[1200];
  memset(padding, 'v', sizeof padding);
  for (int pad = 0; pad < 1200; pad++) {
    int n = snprintf(raw, sizeof raw, "GET /p/%.*s?q=%.*s HTTP/1.1\r\nHost: a\r\nX: %.*s\r\n\r\n",
                     pad % 37, "0123456789012345678901234567890123456789", pad % 13,
                     "abcdefghijklmnop", pad, padding);
    assert_true(n > 0 && (size_t)n < sizeof raw);
    mlproto_http_parser *p = new_parser(NULL);
    const mlproto_http_request *r;
    assert_int_equal(feed_all(p, raw, (size_t)n, &r, NULL), MLPROTO_OK);
    assert_non_null(r);
    assert_int_equal(strlen(r->path), 3 + (size_t)(pad % 37));
    assert_int_equal(strlen(r->query), 2 + (size_t)(pad % 13));
    assert_int_equal(strlen(r->target), strlen(r->path) + 1 + strlen(r->query));
    mlproto_http_parser_free(p);
  }
}

/* ------------------------------------------------------------- bad ones -- */

typedef struct bad_case {
  const char *raw;
  int code;
} bad_case;

static const bad_case bads[] = {
    {"GARBAGE\r\n\r\n", MLPROTO_ERR_BAD_HTTP},
    {"GET / HTTP/1.1\r\n\r\n", MLPROTO_ERR_BAD_HTTP},                      /* no Host */
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", MLPROTO_ERR_BAD_HTTP}, /* two Hosts */
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", MLPROTO_ERR_BAD_HTTP},
    {"GET / HTTP/1.1\nHost: a\n\n", MLPROTO_ERR_BAD_HTTP}, /* bare LF */
    {"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", MLPROTO_ERR_BAD_HTTP},
    {"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", MLPROTO_ERR_BAD_HTTP},
    {"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", MLPROTO_ERR_BAD_HTTP},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", MLPROTO_ERR_BAD_HTTP},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
     MLPROTO_ERR_BAD_HTTP},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", MLPROTO_ERR_BAD_HTTP},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
     "3\r\nabc\r\n0\r\n\r\n",
     MLPROTO_ERR_BAD_HTTP}, /* smuggling shape */
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", MLPROTO_ERR_BAD_HTTP},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", MLPROTO_ERR_BAD_HTTP},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", MLPROTO_ERR_BAD_HTTP},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n",
     MLPROTO_ERR_BAD_HTTP},
    {"POST / HTTP/1.1\r\nHost: a\r\nExpect: something\r\nContent-Length: 1\r\n\r\n",
     MLPROTO_ERR_EXPECTATION_FAILED},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4194305\r\n\r\n", MLPROTO_ERR_BODY_TOO_LARGE},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n400001\r\n",
     MLPROTO_ERR_BODY_TOO_LARGE},
};

static void test_bad_requests(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
    mlproto_http_parser *p = new_parser(NULL);
    const mlproto_http_request *r;
    int rc = feed_all(p, bads[i].raw, strlen(bads[i].raw), &r, NULL);
    if (rc != bads[i].code)
      fail_msg("case %zu: got %s, want %s", i, mlproto_errname(rc), mlproto_errname(bads[i].code));
    assert_null(r);
    /* sticky */
    assert_int_equal(feed_all(p, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27, &r, NULL),
                     bads[i].code);
    mlproto_http_parser_free(p);
  }
  assert_int_equal(mlproto_http_status(MLPROTO_ERR_HEADERS_TOO_LARGE), 431);
  assert_int_equal(mlproto_http_status(MLPROTO_ERR_BODY_TOO_LARGE), 413);
  assert_int_equal(mlproto_http_status(MLPROTO_ERR_BAD_HTTP), 400);
  assert_int_equal(mlproto_http_status(MLPROTO_ERR_EXPECTATION_FAILED), 417);
}

/* ----------------------------------------------------------------- caps -- */

/* A request whose head is exactly n bytes ("GET / HTTP/1.1\r\nHost: a\r\n"
 * + padding header + "\r\n"). */
static char *head_of(size_t n) {
  const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
  size_t fixed = strlen(pre) + 2 + 2;
  assert_true(n > fixed);
  char *s = malloc(n + 1);
  memcpy(s, pre, strlen(pre));
  memset(s + strlen(pre), 'p', n - fixed);
  memcpy(s + n - 4, "\r\n\r\n", 4);
  s[n] = 0;
  return s;
}

static void test_cap_header_bytes(void **state) {
  (void)state;
  mlproto_http_limits lim = {1000, 10, 100, 100};
  for (int split = 0; split < 2; split++) {
    for (size_t n = 999; n <= 1001; n++) {
      char *s = head_of(n);
      mlproto_http_parser *p = new_parser(&lim);
      const mlproto_http_request *r = NULL;
      int rc = MLPROTO_OK;
      if (split) { /* byte by byte: the cap holds while streaming */
        for (size_t k = 0; k < n && rc == MLPROTO_OK; k++)
          rc = feed_all(p, s + k, 1, &r, NULL);
      } else {
        rc = feed_all(p, s, n, &r, NULL);
      }
      if (n <= 1000) {
        assert_int_equal(rc, MLPROTO_OK);
        assert_non_null(r);
      } else {
        assert_int_equal(rc, MLPROTO_ERR_HEADERS_TOO_LARGE);
      }
      mlproto_http_parser_free(p);
      free(s);
    }
  }
  /* a flood of one endless header line stops at the cap, not at the end */
  mlproto_http_parser *p = new_parser(&lim);
  char big[4096];
  memset(big, 'x', sizeof big);
  const mlproto_http_request *r;
  size_t used;
  assert_int_equal(feed_all(p, "GET / HTTP/1.1\r\nX: ", 19, &r, &used), MLPROTO_OK);
  assert_int_equal(feed_all(p, big, sizeof big, &r, &used), MLPROTO_ERR_HEADERS_TOO_LARGE);
  mlproto_http_parser_free(p);
}

static void test_cap_header_count(void **state) {
  (void)state;
  mlproto_http_limits lim = {0, 3, 0, 0};
  const char *ok = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
  const char *over = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  mlproto_http_parser *p = new_parser(&lim);
  const mlproto_http_request *r;
  assert_int_equal(feed_all(p, ok, strlen(ok), &r, NULL), MLPROTO_OK);
  assert_int_equal(r->n_headers, 3);
  mlproto_http_parser_free(p);
  p = new_parser(&lim);
  assert_int_equal(feed_all(p, over, strlen(over), &r, NULL), MLPROTO_ERR_HEADERS_TOO_LARGE);
  mlproto_http_parser_free(p);
}

static void test_cap_url(void **state) {
  (void)state;
  mlproto_http_limits lim = {0, 0, 10, 0};
  const char *ok = "GET /123456789 HTTP/1.1\r\nHost: a\r\n\r\n";   /* 10 */
  const char *over = "GET /1234567890 HTTP/1.1\r\nHost: a\r\n\r\n"; /* 11 */
  mlproto_http_parser *p = new_parser(&lim);
  const mlproto_http_request *r;
  assert_int_equal(feed_all(p, ok, strlen(ok), &r, NULL), MLPROTO_OK);
  assert_string_equal(r->path, "/123456789");
  mlproto_http_parser_free(p);
  p = new_parser(&lim);
  assert_int_equal(feed_all(p, over, strlen(over), &r, NULL), MLPROTO_ERR_HEADERS_TOO_LARGE);
  mlproto_http_parser_free(p);
}

static void test_cap_body(void **state) {
  (void)state;
  mlproto_http_limits lim = {0, 0, 0, 10};
  char buf[256];
  for (int chunked = 0; chunked < 2; chunked++) {
    for (size_t n = 9; n <= 11; n++) {
      char body[16];
      memset(body, 'b', n);
      if (chunked) /* two chunks, the second crossing the cap */
        snprintf(buf, sizeof buf,
                 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\n%.5s\r\n%zx\r\n%.*s\r\n0\r\n\r\n",
                 body, n - 5, (int)(n - 5), body);
      else
        snprintf(buf, sizeof buf, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n%.*s",
                 n, (int)n, body);
      mlproto_http_parser *p = new_parser(&lim);
      const mlproto_http_request *r;
      int rc = feed_all(p, buf, strlen(buf), &r, NULL);
      if (n <= 10) {
        assert_int_equal(rc, MLPROTO_OK);
        assert_int_equal(r->body_len, n);
      } else {
        assert_int_equal(rc, MLPROTO_ERR_BODY_TOO_LARGE);
      }
      mlproto_http_parser_free(p);
    }
  }
}

/* ------------------------------------------------------ connection flow -- */

static void test_pipelining(void **state) {
  (void)state;
  const char *three = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                      "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
                      "GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  mlproto_http_parser *p = new_parser(NULL);
  const char *at = three;
  size_t left = strlen(three);
  const char *paths[] = {"/1", "/2", "/3"};
  for (int i = 0; i < 3; i++) {
    const mlproto_http_request *r;
    size_t used;
    assert_int_equal(feed_all(p, at, left, &r, &used), MLPROTO_OK);
    assert_non_null(r);
    assert_string_equal(r->path, paths[i]);
    assert_int_equal(r->keep_alive, i < 2);
    if (i == 1)
      assert_memory_equal(r->body, "xyz", 3);
    at += used;
    left -= used;
    mlproto_http_parser_next(p);
  }
  assert_int_equal(left, 0);
  /* after a request without keep-alive the connection is over */
  const mlproto_http_request *r;
  assert_int_equal(feed_all(p, "GET", 3, &r, NULL), MLPROTO_ERR_BAD_HTTP);
  mlproto_http_parser_free(p);
}

static void test_expect_continue(void **state) {
  (void)state;
  const char *head = "POST /v1/push HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
                     "Content-Length: 4\r\n\r\n";
  mlproto_http_parser *p = new_parser(NULL);
  const mlproto_http_request *r;
  assert_int_equal(mlproto_http_parser_take_continue(p), 0);
  assert_int_equal(feed_all(p, head, strlen(head), &r, NULL), MLPROTO_OK);
  assert_null(r);
  assert_int_equal(mlproto_http_parser_take_continue(p), 1);
  assert_int_equal(mlproto_http_parser_take_continue(p), 0); /* once */
  assert_int_equal(feed_all(p, "data", 4, &r, NULL), MLPROTO_OK);
  assert_non_null(r);
  assert_memory_equal(r->body, "data", 4);
  mlproto_http_parser_free(p);
  /* too large: refused before the client sends the body */
  p = new_parser(&(mlproto_http_limits){0, 0, 0, 3});
  assert_int_equal(feed_all(p, head, strlen(head), &r, NULL), MLPROTO_ERR_BODY_TOO_LARGE);
  assert_int_equal(mlproto_http_parser_take_continue(p), 0);
  mlproto_http_parser_free(p);
  assert_string_equal(MLPROTO_HTTP_CONTINUE, "HTTP/1.1 100 Continue\r\n\r\n");
}

/* Holding the body: the head is shown before any body byte is consumed;
 * the caller then reads on (or lowers the body cap, or refuses). */
static void test_hold_body(void **state) {
  (void)state;
  const char *head = "POST /v1/push?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer tok\r\n"
                     "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n";
  const char *two_s = "hello" "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
  char all[512];
  snprintf(all, sizeof all, "%s%s", head, two_s);
  mlproto_http_parser *p = new_parser(NULL);
  mlproto_http_parser_hold_body(p, 1);
  assert_null(mlproto_http_parser_head(p));
  const mlproto_http_request *r;
  size_t used;
  assert_int_equal(feed_all(p, all, strlen(all), &r, &used), MLPROTO_OK);
  assert_null(r);
  assert_int_equal(used, strlen(head)); /* the head, not a byte of the body */
  assert_true(mlproto_http_parser_in_request(p));
  const mlproto_http_request *h = mlproto_http_parser_head(p);
  assert_non_null(h);
  assert_string_equal(h->method, "POST");
  assert_string_equal(h->path, "/v1/push");
  assert_string_equal(h->query, "x=1");
  assert_string_equal(mlproto_http_header_get(h->headers, h->n_headers, "authorization"), "Bearer tok");
  assert_int_equal(h->declared_length, 5);
  assert_int_equal(h->body_len, 0);
  /* the 100-continue stayed pending while the body was held */
  assert_int_equal(mlproto_http_parser_take_continue(p), 1);
  const char *at = all + used;
  assert_int_equal(feed_all(p, at, strlen(at), &r, &used), MLPROTO_OK);
  assert_non_null(r);
  assert_int_equal(used, 5);
  assert_memory_equal(r->body, "hello", 5);
  assert_string_equal(r->path, "/v1/push");
  assert_int_equal(r->declared_length, 5);
  assert_int_equal(r->keep_alive, 1);
  mlproto_http_parser_next(p);
  /* a request without a body is not held */
  at += used;
  assert_int_equal(feed_all(p, at, strlen(at), &r, &used), MLPROTO_OK);
  assert_non_null(r);
  assert_string_equal(r->path, "/next");
  assert_int_equal(r->declared_length, 0);
  assert_int_equal(used, strlen(at));
  mlproto_http_parser_free(p);

  /* chunked: held too, declared -1; the lowered cap cuts it as it grows */
  const char *chunked = "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
  size_t hlen = (size_t)(strstr(chunked, "\r\n\r\n") + 4 - chunked);
  for (size_t cap = 5; cap <= 7; cap += 2) {
    p = new_parser(NULL);
    mlproto_http_parser_hold_body(p, 1);
    assert_int_equal(mlproto_http_parser_limit_body(p, 1), MLPROTO_ERR_INVALID_ARGUMENT); /* no head yet */
    assert_int_equal(feed_all(p, chunked, strlen(chunked), &r, &used), MLPROTO_OK);
    assert_null(r);
    assert_int_equal(used, hlen);
    assert_int_equal(mlproto_http_parser_head(p)->declared_length, -1);
    assert_int_equal(mlproto_http_parser_limit_body(p, cap), MLPROTO_OK);
    int rc = feed_all(p, chunked + hlen, strlen(chunked) - hlen, &r, &used);
    if (cap == 5) {
      assert_int_equal(rc, MLPROTO_ERR_BODY_TOO_LARGE);
    } else {
      assert_int_equal(rc, MLPROTO_OK);
      assert_non_null(r);
      assert_int_equal(r->body_len, 7);
      assert_int_equal(mlproto_http_parser_limit_body(p, 1), MLPROTO_ERR_INVALID_ARGUMENT); /* complete */
    }
    mlproto_http_parser_free(p);
  }
  /* a declared length over the lowered cap: refused at once, sticky */
  p = new_parser(NULL);
  mlproto_http_parser_hold_body(p, 1);
  assert_int_equal(feed_all(p, head, strlen(head), &r, &used), MLPROTO_OK);
  assert_int_equal(mlproto_http_parser_limit_body(p, 10), MLPROTO_OK);
  assert_int_equal(mlproto_http_parser_limit_body(p, 4), MLPROTO_ERR_BODY_TOO_LARGE);
  assert_int_equal(feed_all(p, "hello", 5, &r, &used), MLPROTO_ERR_BODY_TOO_LARGE);
  assert_null(mlproto_http_parser_head(p));
  mlproto_http_parser_free(p);
  /* without hold_body the head is still shown, the body read on */
  p = new_parser(NULL);
  assert_int_equal(feed_all(p, head, strlen(head), &r, &used), MLPROTO_OK);
  assert_null(r);
  assert_string_equal(mlproto_http_parser_head(p)->path, "/v1/push");
  assert_int_equal(feed_all(p, "hel", 3, &r, &used), MLPROTO_OK);
  assert_int_equal(mlproto_http_parser_head(p)->body_len, 3);
  mlproto_http_parser_free(p);
}

/* ---------------------------------------------------------- serializers -- */

static void test_response_write(void **state) {
  (void)state;
  char date[MLPROTO_HTTP_DATE_LEN];
  assert_int_equal(mlproto_http_date(date, 784111777), MLPROTO_OK);
  assert_string_equal(date, "Sun, 06 Nov 1994 08:49:37 GMT");
  assert_int_equal(mlproto_http_date(date, 0), MLPROTO_OK);
  assert_string_equal(date, "Thu, 01 Jan 1970 00:00:00 GMT");
  assert_int_equal(mlproto_http_date(date, 951782400), MLPROTO_OK); /* leap day */
  assert_string_equal(date, "Tue, 29 Feb 2000 00:00:00 GMT");
  assert_int_equal(mlproto_http_date(date, -1), MLPROTO_ERR_OUT_OF_RANGE);

  mlproto_buf b;
  mlproto_buf_init(&b, 4096);
  mlproto_http_response_head h = {200, "text/plain", date, "Retry-After: 1\r\n", 1, 0};
  assert_int_equal(mlproto_http_response_write(&b, &h, "hi", 2), MLPROTO_OK);
  const char *want = "HTTP/1.1 200 OK\r\nDate: Tue, 29 Feb 2000 00:00:00 GMT\r\n"
                     "Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n"
                     "Retry-After: 1\r\n\r\nhi";
  assert_int_equal(b.len, strlen(want));
  assert_memory_equal(b.data, want, b.len);
  mlproto_buf_reset(&b);

  mlproto_http_response_head h2 = {431, NULL, NULL, NULL, 0, 0};
  assert_int_equal(mlproto_http_response_write(&b, &h2, NULL, 0), MLPROTO_OK);
  const char *want2 = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
                      "Connection: close\r\n\r\n";
  assert_int_equal(b.len, strlen(want2));
  assert_memory_equal(b.data, want2, b.len);
  mlproto_buf_reset(&b);

  mlproto_http_response_head head = {200, NULL, NULL, NULL, 1, 1};
  assert_int_equal(mlproto_http_response_write(&b, &head, "abc", 3), MLPROTO_OK);
  assert_true(buf_has(&b, "Content-Length: 3\r\n"));
  assert_int_equal(memcmp(b.data + b.len - 4, "\r\n\r\n", 4), 0); /* no body bytes */
  mlproto_buf_reset(&b);

  mlproto_http_response_head nc = {204, NULL, NULL, NULL, 1, 0};
  assert_int_equal(mlproto_http_response_write(&b, &nc, NULL, 0), MLPROTO_OK);
  assert_false(buf_has(&b, "Content-Length"));
  assert_int_equal(mlproto_http_response_write(&b, &nc, "x", 1), MLPROTO_ERR_INVALID_ARGUMENT);
  size_t len = b.len;
  /* header injection and bad input leave out unchanged */
  mlproto_http_response_head inj = {200, "text/plain\r\nSet-Cookie: x", NULL, NULL, 1, 0};
  assert_int_equal(mlproto_http_response_write(&b, &inj, NULL, 0), MLPROTO_ERR_INVALID_ARGUMENT);
  inj.content_type = NULL;
  inj.extra_headers = "X-A: 1\r\n\r\nHTTP/1.1 200 OK\r\n";
  assert_int_equal(mlproto_http_response_write(&b, &inj, NULL, 0), MLPROTO_ERR_INVALID_ARGUMENT);
  inj.extra_headers = "X-A: 1";
  assert_int_equal(mlproto_http_response_write(&b, &inj, NULL, 0), MLPROTO_ERR_INVALID_ARGUMENT);
  inj.extra_headers = NULL;
  inj.status = 99;
  assert_int_equal(mlproto_http_response_write(&b, &inj, NULL, 0), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(b.len, len);
  mlproto_buf_free(&b);
  /* the cap of out */
  mlproto_buf_init(&b, 40);
  assert_int_equal(mlproto_http_response_write(&b, &h, "hi", 2), MLPROTO_ERR_TOO_LARGE);
  assert_int_equal(b.len, 0);
  mlproto_buf_free(&b);
  assert_string_equal(mlproto_http_reason(404), "Not Found");
  assert_string_equal(mlproto_http_reason(299), "Unknown");
}

static void test_request_write_roundtrip(void **state) {
  (void)state;
  mlproto_buf b;
  mlproto_buf_init(&b, 4096);
  mlproto_http_header hs[] = {{"Content-Type", "application/vnd.mentorlog.v1+protobuf"},
                              {"Authorization", "Bearer abc"}};
  assert_int_equal(
      mlproto_http_request_write(&b, "POST", "/v1/push?x=1", "localhost:8443", hs, 2, "body", 4),
      MLPROTO_OK);
  mlproto_http_parser *p = new_parser(NULL);
  const mlproto_http_request *r;
  size_t used;
  assert_int_equal(feed_all(p, (const char *)b.data, b.len, &r, &used), MLPROTO_OK);
  assert_int_equal(used, b.len);
  assert_string_equal(r->method, "POST");
  assert_string_equal(r->path, "/v1/push");
  assert_string_equal(r->query, "x=1");
  assert_string_equal(mlproto_http_header_get(r->headers, r->n_headers, "host"), "localhost:8443");
  assert_string_equal(mlproto_http_header_get(r->headers, r->n_headers, "authorization"),
                      "Bearer abc");
  assert_memory_equal(r->body, "body", 4);
  mlproto_http_parser_free(p);
  mlproto_buf_reset(&b);
  assert_int_equal(mlproto_http_request_write(&b, "GET", "/x", "h", NULL, 0, NULL, 0), MLPROTO_OK);
  assert_false(buf_has(&b, "Content-Length"));
  mlproto_buf_reset(&b);
  mlproto_http_header bad[] = {{"X", "a\r\nInjected: 1"}};
  assert_int_equal(mlproto_http_request_write(&b, "GET", "/x", "h", bad, 1, NULL, 0),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  mlproto_http_header host[] = {{"HOST", "x"}};
  assert_int_equal(mlproto_http_request_write(&b, "GET", "/x", "h", host, 1, NULL, 0),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_http_request_write(&b, "GET", "x", "h", NULL, 0, NULL, 0),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_http_request_write(&b, "GET", "/a b", "h", NULL, 0, NULL, 0),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_http_request_write(&b, "G T", "/", "h", NULL, 0, NULL, 0),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(b.len, 0);
  mlproto_buf_free(&b);
}

/* ------------------------------------------------------ response parser -- */

static void test_response_parser(void **state) {
  (void)state;
  mlproto_http_response_parser *p = NULL;
  assert_int_equal(mlproto_http_response_parser_new(&p, NULL), MLPROTO_OK);
  const char *two = "HTTP/1.1 100 Continue\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
                    "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
                    "\r\n2\r\nno\r\n0\r\n\r\n";
  size_t len = strlen(two), used;
  const mlproto_http_response *r;
  /* every truncation of the first response is "need more" */
  size_t first = strlen("HTTP/1.1 100 Continue\r\n\r\n") +
                 strlen("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
  for (size_t cut = 0; cut < first; cut++) {
    mlproto_http_response_parser_begin(p, 0);
    assert_int_equal(mlproto_http_response_parser_feed(p, two, cut, &used, &r), MLPROTO_OK);
    assert_null(r);
    assert_int_equal(used, cut);
  }
  mlproto_http_response_parser_begin(p, 0);
  assert_int_equal(mlproto_http_response_parser_feed(p, two, len, &used, &r), MLPROTO_OK);
  assert_non_null(r);
  assert_int_equal(used, first);
  assert_int_equal(r->status, 200);
  assert_string_equal(r->content_type, "text/plain");
  assert_int_equal(r->body_len, 5);
  assert_memory_equal(r->body, "hello", 5);
  assert_int_equal(r->keep_alive, 1);
  mlproto_http_response_parser_begin(p, 0);
  assert_int_equal(mlproto_http_response_parser_feed(p, two + used, len - used, &used, &r),
                   MLPROTO_OK);
  assert_non_null(r);
  assert_int_equal(r->status, 404);
  assert_memory_equal(r->body, "no", 2);
  assert_int_equal(r->keep_alive, 0);

  /* HEAD: Content-Length without a body */
  const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
  mlproto_http_response_parser_begin(p, 1);
  assert_int_equal(mlproto_http_response_parser_feed(p, head, strlen(head), &used, &r), MLPROTO_OK);
  assert_non_null(r);
  assert_int_equal(r->body_len, 0);

  /* body until EOF */
  const char *eof = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstream";
  mlproto_http_response_parser_begin(p, 0);
  assert_int_equal(mlproto_http_response_parser_feed(p, eof, strlen(eof), &used, &r), MLPROTO_OK);
  assert_null(r);
  assert_int_equal(mlproto_http_response_parser_eof(p, &r), MLPROTO_OK);
  assert_int_equal(r->body_len, 6);
  assert_memory_equal(r->body, "stream", 6);
  /* cut short */
  mlproto_http_response_parser_begin(p, 0);
  assert_int_equal(mlproto_http_response_parser_feed(p, head, strlen(head), &used, &r), MLPROTO_OK);
  assert_int_equal(mlproto_http_response_parser_eof(p, &r), MLPROTO_ERR_BAD_HTTP);
  mlproto_http_response_parser_begin(p, 0);
  assert_int_equal(mlproto_http_response_parser_eof(p, &r), MLPROTO_ERR_BAD_HTTP);
  /* malformed */
  mlproto_http_response_parser_begin(p, 0);
  assert_int_equal(mlproto_http_response_parser_feed(p, "HTTP/1.1 abc\r\n", 14, &used, &r),
                   MLPROTO_ERR_BAD_HTTP);
  mlproto_http_response_parser_free(p);

  /* caps */
  assert_int_equal(mlproto_http_response_parser_new(&p, &(mlproto_http_limits){0, 0, 0, 4}),
                   MLPROTO_OK);
  mlproto_http_response_parser_begin(p, 0);
  assert_int_equal(mlproto_http_response_parser_feed(p, two + 25, len - 25, &used, &r),
                   MLPROTO_ERR_BODY_TOO_LARGE);
  mlproto_http_response_parser_begin(p, 0);
  assert_int_equal(mlproto_http_response_parser_feed(p, eof, strlen(eof), &used, &r),
                   MLPROTO_ERR_BODY_TOO_LARGE);
  mlproto_http_response_parser_free(p);
}

/* --------------------------------------------------------------- query -- */

static void test_query(void **state) {
  (void)state;
  char v[32];
  size_t n;
  const char *q = "since=12&limit=100&name=J%C3%B8rn+Hansen&flag&empty=&pct=%41%42";
  assert_int_equal(mlproto_http_query_get(q, "name", v, sizeof v, &n), MLPROTO_OK);
  assert_string_equal(v, "J\xc3\xb8rn Hansen");
  assert_int_equal(n, strlen("J\xc3\xb8rn Hansen"));
  assert_int_equal(mlproto_http_query_get(q, "flag", v, sizeof v, NULL), MLPROTO_OK);
  assert_string_equal(v, "");
  assert_int_equal(mlproto_http_query_get(q, "empty", v, sizeof v, NULL), MLPROTO_OK);
  assert_string_equal(v, "");
  assert_int_equal(mlproto_http_query_get(q, "pct", v, sizeof v, NULL), MLPROTO_OK);
  assert_string_equal(v, "AB");
  assert_int_equal(mlproto_http_query_get(q, "nope", v, sizeof v, NULL), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(mlproto_http_query_get(q, "name", v, 5, NULL), MLPROTO_ERR_BAD_QUERY);
  assert_int_equal(mlproto_http_query_get("a=%4", "a", v, sizeof v, NULL), MLPROTO_ERR_BAD_QUERY);
  assert_int_equal(mlproto_http_query_get("a=%zz", "a", v, sizeof v, NULL), MLPROTO_ERR_BAD_QUERY);
  assert_int_equal(mlproto_http_query_get("a=%00", "a", v, sizeof v, NULL), MLPROTO_ERR_BAD_QUERY);
  assert_int_equal(mlproto_http_query_get("a=1&a=2", "a", v, sizeof v, NULL),
                   MLPROTO_ERR_BAD_QUERY);
  assert_int_equal(mlproto_http_query_get("%61=1", "a", v, sizeof v, NULL), MLPROTO_OK);
  assert_int_equal(mlproto_http_query_get("", "a", v, sizeof v, NULL), MLPROTO_ERR_NOT_FOUND);

  uint64_t x = 77;
  assert_int_equal(mlproto_http_query_u64(q, "since", 0, UINT64_MAX, &x), MLPROTO_OK);
  assert_int_equal(x, 12);
  assert_int_equal(mlproto_http_query_u64(q, "limit", 1, 100, &x), MLPROTO_OK);
  assert_int_equal(x, 100);
  assert_int_equal(mlproto_http_query_u64(q, "limit", 1, 99, &x), MLPROTO_ERR_BAD_QUERY);
  assert_int_equal(mlproto_http_query_u64(q, "missing", 0, 9, &x), MLPROTO_ERR_NOT_FOUND);
  static const char *bad[] = {"n=", "n=-1", "n=+1", "n=01", "n=1x", "n= 1", "n=1.0",
                              "n=18446744073709551616", "n=0x10", "n=%31%00"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    x = 77;
    assert_int_equal(mlproto_http_query_u64(bad[i], "n", 0, UINT64_MAX, &x), MLPROTO_ERR_BAD_QUERY);
    assert_int_equal(x, 77);
  }
  assert_int_equal(mlproto_http_query_u64("n=18446744073709551615", "n", 0, UINT64_MAX, &x),
                   MLPROTO_OK);
  assert_true(x == UINT64_MAX);
  assert_int_equal(mlproto_http_query_u64("n=0", "n", 0, 5, &x), MLPROTO_OK);
  assert_int_equal(x, 0);
  char *huge = malloc(MLPROTO_HTTP_MAX_QUERY + 2);
  memset(huge, 'a', MLPROTO_HTTP_MAX_QUERY + 1);
  huge[MLPROTO_HTTP_MAX_QUERY + 1] = 0;
  assert_int_equal(mlproto_http_query_get(huge, "a", v, sizeof v, NULL), MLPROTO_ERR_BAD_QUERY);
  free(huge);
}

/* Every allocation fails in turn: an error, never a leak or a crash. */
static void test_out_of_memory(void **state) {
  (void)state;
  const char *raw = goods[3].raw; /* chunked POST with trailer */
  int ok = 0;
  for (int k = 0; k < 100 && !ok; k++) {
    mlproto_set_allocator(&tu_oom_allocator);
    tu_oom_budget = k;
    mlproto_http_parser *p = NULL;
    int rc = mlproto_http_parser_new(&p, NULL);
    const mlproto_http_request *r = NULL;
    if (!rc)
      rc = feed_all(p, raw, strlen(raw), &r, NULL);
    if (rc == MLPROTO_OK) {
      check_good(&goods[3], r);
      ok = 1;
    } else {
      assert_int_equal(rc, MLPROTO_ERR_OUT_OF_MEMORY);
    }
    mlproto_http_parser_free(p);
    mlproto_set_allocator(NULL);
  }
  assert_true(ok);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_requests),    cmocka_unit_test(test_headers_lookup),
      cmocka_unit_test(test_target_split_all_sizes),
      cmocka_unit_test(test_bad_requests),     cmocka_unit_test(test_cap_header_bytes),
      cmocka_unit_test(test_cap_header_count), cmocka_unit_test(test_cap_url),
      cmocka_unit_test(test_cap_body),         cmocka_unit_test(test_pipelining),
      cmocka_unit_test(test_expect_continue),  cmocka_unit_test(test_hold_body),
      cmocka_unit_test(test_response_write),
      cmocka_unit_test(test_request_write_roundtrip), cmocka_unit_test(test_response_parser),
      cmocka_unit_test(test_query),            cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
