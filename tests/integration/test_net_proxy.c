/* test_net_proxy.c — `serve --proxy-protocol CIDR` (mlproto/proxy.h): the
 * real server on loopback over real TLS, connections that come from a
 * "balancer" (127.0.0.9, trusted) with PROXY headers, and others:
 *   - the address each header names is the one the per-address limits
 *     count: two clients behind one balancer are two addresses
 *     (--max-conns-per-address 2: a third connection of one client is
 *     refused, another client's is served), v1 and v2 headers alike;
 *   - the balancer's own health checks (v2 LOCAL) are served, counted as
 *     the balancer's address (a third over the cap of 2 is refused);
 *   - a balancer's connection without a header, with a malformed one, or
 *     with none within --request-timeout, is closed before TLS, and
 *     logged (proxy_header_invalid with its reason);
 *   - a connection from anywhere else may not send one (its bytes go to
 *     TLS: the handshake fails), and is served without one.
 * The prefix goes out in 7-byte pieces (harness.h), so the server reads
 * each header in several parts. */
#include "testutil.h"

#include "harness.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LB "127.0.0.9"

static size_t v2_header(uint8_t *out, const char *src_ip, uint16_t sport, int local) {
  static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
  memcpy(out, sig, 12);
  if (local) {
    out[12] = 0x20;
    out[13] = 0x00;
    out[14] = 0;
    out[15] = 0;
    return 16;
  }
  out[12] = 0x21;
  out[13] = 0x11;
  out[14] = 0;
  out[15] = 12;
  assert_int_equal(inet_pton(AF_INET, src_ip, out + 16), 1);
  assert_int_equal(inet_pton(AF_INET, "127.0.0.1", out + 20), 1);
  out[24] = (uint8_t)(sport >> 8);
  out[25] = (uint8_t)sport;
  out[26] = 0x20;
  out[27] = 0xfb;
  return 28;
}

/* GET /healthz on r: its status (0: none). */
static int healthz(ih_raw *r) {
  static const char q[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  if (ih_raw_send(r, q, sizeof q - 1, 5000) != 0) return 0;
  uint8_t b[4096];
  size_t got = 0, used;
  if (ih_raw_recv(r, b, sizeof b, &got, 1, 5000) != 1) return 0;
  int st = 0;
  char code[64];
  if (ih_parse_response(b, got, &st, code, &used) != 0) return 0;
  return st;
}

static int via_lb(ih_server *s, ih_raw *r, const void *hdr, size_t len) {
  memset(r, 0, sizeof *r);
  r->fd = -1;
  return ih_raw_connect_prefix(s, r, LB, hdr, len, 0, 5000);
}

static int log_count(ih_server *s, const char *needle) {
  char *log = ih_server_log(s);
  assert_non_null(log);
  int n = 0;
  for (const char *p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  free(log);
  return n;
}

static void test_client_addresses(void **state) {
  (void)state;
  ih_server s;
  const char *opts[] = {"--proxy-protocol", LB, "--proxy-protocol", "10.0.0.0/8",
                        "--max-conns-per-address", "2", NULL};
  ih_start(&s, opts);
  uint8_t h[64];
  ih_raw a[3], b, c;
  /* client 192.0.2.1, v2: two connections, then the cap */
  for (int i = 0; i < 2; i++) {
    size_t n = v2_header(h, "192.0.2.1", (uint16_t)(40000 + i), 0);
    assert_int_equal(via_lb(&s, &a[i], h, n), 0);
    assert_int_equal(healthz(&a[i]), 200);
  }
  size_t n = v2_header(h, "192.0.2.1", 40002, 0);
  assert_int_not_equal(via_lb(&s, &a[2], h, n), 0);
  assert_int_equal(log_count(&s, "reason=max_conns_per_address"), 1);
  /* client 192.0.2.2, v1, through the same balancer: its own count */
  const char *v1 = "PROXY TCP4 192.0.2.2 127.0.0.1 40100 8443\r\n";
  assert_int_equal(via_lb(&s, &b, v1, strlen(v1)), 0);
  assert_int_equal(healthz(&b), 200);
  /* the balancer's own health check (LOCAL): the balancer's address */
  n = v2_header(h, NULL, 0, 1);
  assert_int_equal(via_lb(&s, &c, h, n), 0);
  assert_int_equal(healthz(&c), 200);
  /* without the header, the balancer would be one address of four
   * connections: over the cap of 2 from the third */
  assert_int_equal(log_count(&s, "reason=max_conns_per_address"), 1);
  /* LOCAL counts as the balancer's own address: a second is served, a
   * third is over the cap (while the clients' counts are untouched) */
  ih_raw c2, c3;
  n = v2_header(h, NULL, 0, 1);
  assert_int_equal(via_lb(&s, &c2, h, n), 0);
  assert_int_equal(healthz(&c2), 200);
  assert_int_not_equal(via_lb(&s, &c3, h, n), 0);
  ih_raw_free(&c3);
  assert_int_equal(log_count(&s, "reason=max_conns_per_address"), 2);
  ih_raw_free(&c2);
  for (int i = 0; i < 2; i++) ih_raw_free(&a[i]);
  ih_raw_free(&a[2]);
  ih_raw_free(&b);
  ih_raw_free(&c);
  /* the connections are gone: 192.0.2.1 may connect again */
  int ok = 0;
  for (int t = 0; t < 50 && !ok; t++) {
    n = v2_header(h, "192.0.2.1", 40003, 0);
    ok = via_lb(&s, &a[0], h, n) == 0;
    if (!ok) ih_sleep_ms(50);
  }
  assert_true(ok);
  assert_int_equal(healthz(&a[0]), 200);
  ih_raw_free(&a[0]);
  assert_int_equal(log_count(&s, "msg=proxy_header_invalid"), 0);
  ih_stop(&s);
}

static void test_balancer_must_send_header(void **state) {
  (void)state;
  ih_server s;
  const char *opts[] = {"--proxy-protocol", LB, "--request-timeout", "1s", NULL};
  ih_start(&s, opts);
  ih_raw r;
  /* no header: the ClientHello is not one */
  assert_int_not_equal(via_lb(&s, &r, NULL, 0), 0);
  ih_raw_free(&r);
  assert_int_equal(log_count(&s, "reason=malformed"), 1);
  /* malformed ones */
  static const char *const bad[] = {
      "PROXY TCP4 192.0.2.1 127.0.0.1 99999 8443\r\n",
      "PROXY TCP6 192.0.2.1 127.0.0.1 1 2\r\n",
      "PROXY TCP4 192.0.2.1 127.0.0.1 1 2\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_not_equal(via_lb(&s, &r, bad[i], strlen(bad[i])), 0);
    ih_raw_free(&r);
  }
  assert_int_equal(log_count(&s, "reason=malformed"), 4);
  /* half a header, then silence: closed at --request-timeout */
  int fd = ih_tcp_connect_from(&s, LB, 5000);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "PROXY TCP4 19", 13), 13);
  uint64_t t0 = ih_now_ms();
  assert_int_equal(ih_tcp_closed_by_peer(fd, 10000), 1);
  uint64_t took = ih_now_ms() - t0;
  close(fd);
  print_message("a half header was closed after %llu ms (--request-timeout 1s)\n",
                (unsigned long long)took);
  assert_true(took >= 800);
  assert_int_equal(log_count(&s, "reason=timeout bytes=13"), 1);
  /* the server is fine: a good header is served */
  const char *v1 = "PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\n";
  assert_int_equal(via_lb(&s, &r, v1, strlen(v1)), 0);
  assert_int_equal(healthz(&r), 200);
  ih_raw_free(&r);
  ih_stop(&s);
}

static void test_others_may_not_send_one(void **state) {
  (void)state;
  ih_server s;
  const char *opts[] = {"--proxy-protocol", LB, "--max-conns-per-address", "1", NULL};
  ih_start(&s, opts);
  /* 127.0.0.1 is not the balancer: a header of its own is TLS garbage */
  ih_raw r;
  memset(&r, 0, sizeof r);
  r.fd = -1;
  const char *v1 = "PROXY TCP4 192.0.2.77 127.0.0.1 1 2\r\n";
  assert_int_not_equal(ih_raw_connect_prefix(&s, &r, "127.0.0.1", v1, strlen(v1), 0, 5000), 0);
  ih_raw_free(&r);
  assert_int_equal(log_count(&s, "msg=proxy_header_invalid"), 0);
  /* ... and it is served without one, as itself (cap 1: a second waits
   * until the first has gone) */
  memset(&r, 0, sizeof r);
  r.fd = -1;
  assert_int_equal(ih_raw_connect_from(&s, &r, "127.0.0.1", 0, 5000), 0);
  assert_int_equal(healthz(&r), 200);
  ih_raw r2;
  memset(&r2, 0, sizeof r2);
  r2.fd = -1;
  assert_int_not_equal(ih_raw_connect_from(&s, &r2, "127.0.0.1", 0, 5000), 0);
  ih_raw_free(&r2);
  ih_raw_free(&r);
  ih_stop(&s);
}

static void test_usage(void **state) {
  (void)state;
  static char out[65536];
  static const char *const bad[] = {"10.0.0.1/8", "nonsense", "10.0.0.0/40"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s serve --data /nonexistent --proxy-protocol '%s' 2>&1",
             ih_server_binary(), bad[i]);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    assert_int_equal(ih_run(out, sizeof out, 10000, argv), 2);
    assert_non_null(strstr(out, "--proxy-protocol"));
  }
  char cmd[600];
  snprintf(cmd, sizeof cmd, "%s serve --help", ih_server_binary());
  const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  assert_int_equal(ih_run(out, sizeof out, 10000, argv), 0);
  assert_non_null(strstr(out, "--proxy-protocol CIDR"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_client_addresses, ih_teardown),
      cmocka_unit_test_teardown(test_balancer_must_send_header, ih_teardown),
      cmocka_unit_test_teardown(test_others_may_not_send_one, ih_teardown),
      cmocka_unit_test(test_usage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
