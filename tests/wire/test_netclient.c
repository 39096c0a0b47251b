/*
 * test_netclient.c — the blocking HTTPS client against a tiny server thread
 * on loopback that speaks through the server-side engines (mlproto_tls +
 * mlproto_http_parser) over a real socket.
 */
#include "mlproto/http.h"
#include "mlproto/tls.h"
#include "netclient.h"
#include "tls_link.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct server {
  int lfd;
  uint16_t port;
  int family;
  mlproto_tls_config *cfg;
  pthread_t thread;
  atomic_int stop;
  atomic_int accepted;
  atomic_int resumed;
  atomic_int requests;
  int drop_after_response; /* close silently after each response (idle timeout) */
  int silent;              /* accept and never answer */
} server;

static int send_out(int fd, mlproto_tls *t) {
  uint8_t *d;
  size_t n, off = 0;
  mlproto_tls_take_output(t, &d, &n);
  while (off < n) {
    ssize_t k = send(fd, d + off, n - off, MSG_NOSIGNAL);
    if (k <= 0) {
      mlproto_tls_output_free(d);
      return -1;
    }
    off += (size_t)k;
  }
  mlproto_tls_output_free(d);
  return 0;
}

static int respond(int fd, mlproto_tls *t, const mlproto_http_request *r) {
  mlproto_buf body, out;
  mlproto_buf_init(&body, 8u << 20);
  mlproto_buf_init(&out, 9u << 20);
  int status = strcmp(r->path, "/missing") == 0 ? 404 : 200;
  int keep = r->keep_alive && strcmp(r->path, "/close") != 0;
  const char *host = mlproto_http_header_get(r->headers, r->n_headers, "host");
  assert_int_equal(mlproto_buf_printf(&body, "%s %s?%s host=%s len=%zu\n", r->method, r->path,
                                      r->query, host ? host : "-", r->body_len),
                   MLPROTO_OK);
  assert_int_equal(mlproto_buf_append(&body, r->body, r->body_len), MLPROTO_OK);
  char date[MLPROTO_HTTP_DATE_LEN];
  assert_int_equal(mlproto_http_date(date, 1700000000), MLPROTO_OK);
  mlproto_http_response_head h = {status, "text/plain", date, NULL, keep,
                                  strcmp(r->method, "HEAD") == 0};
  assert_int_equal(mlproto_http_response_write(&out, &h, body.data, body.len), MLPROTO_OK);
  size_t off = 0;
  int rc = 0;
  while (off < out.len && rc == 0) {
    size_t n;
    int w = mlproto_tls_write(t, out.data + off, out.len - off, &n);
    off += n;
    if (w < 0 || send_out(fd, t) != 0)
      rc = -1;
  }
  mlproto_buf_free(&body);
  mlproto_buf_free(&out);
  return rc == 0 ? keep : -1;
}

/* One connection, start to end; blocking socket with poll timeouts. */
static void serve_conn(server *s, int fd) {
  mlproto_tls *t = NULL;
  mlproto_http_parser *p = NULL;
  assert_int_equal(mlproto_tls_new(&t, s->cfg), MLPROTO_OK);
  assert_int_equal(mlproto_http_parser_new(&p, NULL), MLPROTO_OK);
  static _Thread_local uint8_t plain[16384];
  uint8_t net[16384];
  mlproto_buf pending; /* plaintext not yet consumed by the parser */
  mlproto_buf_init(&pending, 8u << 20);
  int counted = 0;
  for (;;) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, 5000) <= 0)
      break;
    size_t room = mlproto_tls_inbound_space(t);
    ssize_t k = recv(fd, net, room < sizeof net ? room : sizeof net, 0);
    if (k <= 0 || mlproto_tls_feed(t, net, (size_t)k) != MLPROTO_OK)
      break;
    int hs = mlproto_tls_handshake(t);
    if (send_out(fd, t) != 0 || hs < 0)
      break;
    if (hs != MLPROTO_OK)
      continue;
    if (!counted) {
      counted = 1;
      s->resumed += mlproto_tls_resumed(t);
    }
    int done = 0;
    for (;;) {
      size_t n;
      int rc = mlproto_tls_read(t, plain, sizeof plain, &n);
      send_out(fd, t); /* TLS 1.3 tickets go out with the first read */
      if (rc == MLPROTO_TLS_AGAIN)
        break;
      if (rc != MLPROTO_OK) {
        done = 1;
        break;
      }
      assert_int_equal(mlproto_buf_append(&pending, plain, n), MLPROTO_OK);
      for (;;) {
        const mlproto_http_request *r;
        size_t used;
        rc = mlproto_http_parser_feed(p, pending.data, pending.len, &used, &r);
        mlproto_buf_consume(&pending, used);
        if (rc != MLPROTO_OK) {
          done = 1;
          break;
        }
        if (mlproto_http_parser_take_continue(p)) {
          size_t w;
          (void)!mlproto_tls_write(t, MLPROTO_HTTP_CONTINUE, strlen(MLPROTO_HTTP_CONTINUE), &w);
          send_out(fd, t);
        }
        if (!r)
          break;
        s->requests++;
        int keep = respond(fd, t, r);
        mlproto_http_parser_next(p);
        if (keep <= 0 || s->drop_after_response) {
          if (keep == 0 && mlproto_tls_close_notify(t) == MLPROTO_OK)
            send_out(fd, t);
          done = 1;
          break;
        }
      }
      if (done)
        break;
    }
    if (done)
      break;
  }
  mlproto_buf_free(&pending);
  mlproto_http_parser_free(p);
  mlproto_tls_free(t);
}

static void *server_main(void *arg) {
  server *s = arg;
  while (!s->stop) {
    struct pollfd pf = {.fd = s->lfd, .events = POLLIN};
    if (s->silent || poll(&pf, 1, 20) <= 0) {
      if (s->silent)
        usleep(20000);
      continue;
    }
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
      continue;
    s->accepted++;
    serve_conn(s, fd);
    close(fd);
  }
  return NULL;
}

static int server_start(server *s, int family, int silent) {
  memset(s, 0, sizeof *s);
  s->family = family;
  s->silent = silent;
  s->lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->lfd < 0)
    return -1;
  int one = 1;
  setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_storage ss;
  socklen_t len;
  memset(&ss, 0, sizeof ss);
  if (family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    len = sizeof *a;
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *a;
  }
  if (bind(s->lfd, (struct sockaddr *)&ss, len) != 0 || listen(s->lfd, 16) != 0) {
    close(s->lfd);
    return -1;
  }
  getsockname(s->lfd, (struct sockaddr *)&ss, &len);
  s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                     : ((struct sockaddr_in *)&ss)->sin_port);
  s->cfg = tl_server_config(0, 1);
  assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
  return 0;
}

static void server_stop(server *s) {
  s->stop = 1;
  pthread_join(s->thread, NULL);
  close(s->lfd);
  mlproto_tls_config_free(s->cfg);
}

static ml_netclient *client_for(const server *s, const char *host, const char *pin, int timeout) {
  ml_netclient_options o = ML_NETCLIENT_OPTIONS_INIT;
  o.host = host;
  o.port = s->port;
  o.tls_hostname = "localhost";
  o.pin_sha256 = pin;
  o.timeout_ms = timeout;
  ml_netclient *c = NULL;
  assert_int_equal(ml_netclient_open(&c, &o), MLPROTO_OK);
  return c;
}

static void test_keepalive_and_resumption(void **state) {
  (void)state;
  server s;
  assert_int_equal(server_start(&s, AF_INET, 0), 0);
  ml_netclient *c = client_for(&s, "127.0.0.1", tl_fingerprint(), 10000);
  ml_netclient_response r;
  mlproto_http_header hs[] = {{"Content-Type", "application/octet-stream"}};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(ml_netclient_request(c, "POST", "/v1/push?n=1", hs, 1, "abc", 3, &r),
                     MLPROTO_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain");
    assert_string_equal((char *)r.body, "POST /v1/push?n=1 host=127.0.0.1 len=3\nabc");
    ml_netclient_response_free(&r);
  }
  ml_netclient_stats st;
  ml_netclient_get_stats(c, &st);
  assert_int_equal(st.connects, 1); /* kept alive */
  assert_int_equal(st.requests, 3);
  assert_int_equal(st.resumed, 0);

  /* 1 MiB each way */
  size_t big = 1u << 20;
  uint8_t *body = malloc(big);
  for (size_t i = 0; i < big; i++)
    body[i] = (uint8_t)(i * 7);
  assert_int_equal(ml_netclient_request(c, "PUT", "/big", NULL, 0, body, big, &r), MLPROTO_OK);
  const char *prefix = "PUT /big? host=127.0.0.1 len=1048576\n";
  assert_int_equal(r.body_len, strlen(prefix) + big);
  assert_memory_equal(r.body + strlen(prefix), body, big);
  ml_netclient_response_free(&r);
  free(body);

  /* reconnect: the TLS session is resumed */
  ml_netclient_disconnect(c);
  assert_int_equal(ml_netclient_request(c, "GET", "/missing", NULL, 0, NULL, 0, &r), MLPROTO_OK);
  assert_int_equal(r.status, 404);
  assert_int_equal(ml_netclient_resumed(c), 1);
  ml_netclient_response_free(&r);
  /* Connection: close from the server: next request reconnects, resumed */
  assert_int_equal(ml_netclient_request(c, "GET", "/close", NULL, 0, NULL, 0, &r), MLPROTO_OK);
  ml_netclient_response_free(&r);
  assert_int_equal(ml_netclient_request(c, "HEAD", "/h", NULL, 0, NULL, 0, &r), MLPROTO_OK);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body_len, 0);
  ml_netclient_response_free(&r);
  ml_netclient_get_stats(c, &st);
  assert_int_equal(st.connects, 3);
  assert_int_equal(st.handshakes, 3);
  assert_int_equal(st.resumed, 2);
  ml_netclient_close(c);
  server_stop(&s);
  assert_int_equal(s.accepted, 3);
  assert_int_equal(s.resumed, 2);
}

static void test_idle_close_retried(void **state) {
  (void)state;
  server s;
  assert_int_equal(server_start(&s, AF_INET, 0), 0);
  s.drop_after_response = 1;
  ml_netclient *c = client_for(&s, "127.0.0.1", tl_fingerprint(), 10000);
  ml_netclient_response r;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(ml_netclient_request(c, "GET", "/x", NULL, 0, NULL, 0, &r), MLPROTO_OK);
    assert_int_equal(r.status, 200);
    ml_netclient_response_free(&r);
  }
  ml_netclient_stats st;
  ml_netclient_get_stats(c, &st);
  assert_int_equal(st.connects, 3);
  assert_int_equal(st.requests, 3);
  ml_netclient_close(c);
  server_stop(&s);
  assert_int_equal(s.requests, 3); /* each request reached the server once */
}

static void test_ipv6(void **state) {
  (void)state;
  server s;
  if (server_start(&s, AF_INET6, 0) != 0) {
    skip(); /* no IPv6 loopback in this sandbox */
  }
  ml_netclient *c = client_for(&s, "::1", tl_fingerprint(), 10000);
  ml_netclient_response r;
  assert_int_equal(ml_netclient_request(c, "GET", "/v6", NULL, 0, NULL, 0, &r), MLPROTO_OK);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr((char *)r.body, "host=::1"));
  ml_netclient_response_free(&r);
  ml_netclient_close(c);
  server_stop(&s);
}

static void test_pin_mismatch(void **state) {
  (void)state;
  server s;
  assert_int_equal(server_start(&s, AF_INET, 0), 0);
  char wrong[MLPROTO_TLS_FINGERPRINT_HEX_LEN];
  memcpy(wrong, tl_fingerprint(), sizeof wrong);
  wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
  ml_netclient *c = client_for(&s, "127.0.0.1", wrong, 10000);
  ml_netclient_response r;
  assert_int_equal(ml_netclient_request(c, "GET", "/", NULL, 0, NULL, 0, &r), MLPROTO_ERR_TLS_PIN);
  assert_null(r.body);
  ml_netclient_close(c);
  server_stop(&s);
  assert_int_equal(s.requests, 0);
}

static void test_timeout_and_refused(void **state) {
  (void)state;
  server s;
  assert_int_equal(server_start(&s, AF_INET, 1), 0); /* accepts nothing, answers nothing */
  ml_netclient *c = client_for(&s, "127.0.0.1", tl_fingerprint(), 200);
  ml_netclient_response r;
  assert_int_equal(ml_netclient_request(c, "GET", "/", NULL, 0, NULL, 0, &r),
                   MLPROTO_ERR_REQUEST_TIMEOUT);
  ml_netclient_close(c);
  uint16_t port = s.port;
  server_stop(&s);
  /* nobody listens there any more */
  ml_netclient_options o = ML_NETCLIENT_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.port = port;
  o.pin_sha256 = tl_fingerprint();
  assert_int_equal(ml_netclient_open(&c, &o), MLPROTO_OK);
  assert_int_equal(ml_netclient_request(c, "GET", "/", NULL, 0, NULL, 0, &r), MLPROTO_ERR_IO);
  assert_int_equal(ml_netclient_request(c, "GET", "no-slash", NULL, 0, NULL, 0, &r),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  ml_netclient_close(c);
  o.pin_sha256 = NULL; /* no trust anchor */
  assert_int_equal(ml_netclient_open(&c, &o), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_null(c);
  ml_netclient_close(NULL);
}

static int teardown(void **state) {
  (void)state;
  tl_free_globals();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keepalive_and_resumption),
      cmocka_unit_test(test_idle_close_retried),
      cmocka_unit_test(test_ipv6),
      cmocka_unit_test(test_pin_mismatch),
      cmocka_unit_test(test_timeout_and_refused),
  };
  return cmocka_run_group_tests(tests, NULL, teardown);
}
