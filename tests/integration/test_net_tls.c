/* test_net_tls.c — the real server over real TLS: protocol versions and
 * suites (openssl s_client), standard clients (curl), keep-alive and
 * pipelining, session resumption, /healthz and /metrics (on its own
 * listener), clean SIGTERM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static ih_server srv;
static char portstr[16];

static int setup(void **state) {
  if (ih_server_init(&srv, NULL) != 0 || ih_server_start(&srv) != 0) return -1;
  snprintf(portstr, sizeof portstr, "%d", srv.port);
  return 0;
}

static int teardown(void **state) {
  int rc = ih_server_stop(&srv);
  ih_server_cleanup(&srv);
  return rc;
}

static int s_client(char *out, size_t outsz, const char *const *extra) {
  char connect[64];
  snprintf(connect, sizeof connect, "127.0.0.1:%d", srv.port);
  const char *argv[24] = {"/usr/bin/openssl", "s_client", "-connect", connect, "-servername",
                          "mentorlog-server"};
  size_t a = 6;
  for (size_t i = 0; extra[i]; i++) argv[a++] = extra[i];
  argv[a] = NULL;
  return ih_run(out, outsz, 30000, argv);
}

static void test_old_versions_refused(void **state) {
  static char out[65536];
  /* SECLEVEL=0 lets OpenSSL 3 offer them at all: the refusal is the server's. */
  const char *v10[] = {"-tls1", "-cipher", "DEFAULT@SECLEVEL=0", NULL};
  const char *v11[] = {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", NULL};
  assert_int_not_equal(s_client(out, sizeof out, v10), 0);
  assert_non_null(strstr(out, "Cipher is (NONE)")); /* no session was established */
  assert_int_not_equal(s_client(out, sizeof out, v11), 0);
  assert_non_null(strstr(out, "Cipher is (NONE)"));
}

static void test_non_aead_tls12_refused(void **state) {
  static char out[65536];
  const char *cbc[] = {"-tls1_2", "-cipher",
                       "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA:"
                       "ECDHE-RSA-AES128-SHA256:AES128-SHA:AES128-GCM-SHA256",
                       NULL};
  assert_int_not_equal(s_client(out, sizeof out, cbc), 0);
  assert_non_null(strstr(out, "Cipher is (NONE)"));
  /* No ECDHE: plain-RSA-kx AEAD suites are refused too. */
  const char *rsa_kx[] = {"-tls1_2", "-cipher", "AES128-GCM-SHA256:AES256-GCM-SHA384", NULL};
  assert_int_not_equal(s_client(out, sizeof out, rsa_kx), 0);
}

static void test_tls12_aead_and_tls13_accepted(void **state) {
  static char out[65536];
  const char *gcm[] = {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256", NULL};
  assert_int_equal(s_client(out, sizeof out, gcm), 0);
  assert_non_null(strstr(out, "ECDHE-ECDSA-AES128-GCM-SHA256"));
  const char *chacha[] = {"-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305", NULL};
  assert_int_equal(s_client(out, sizeof out, chacha), 0);
  const char *v13[] = {"-tls1_3", NULL};
  assert_int_equal(s_client(out, sizeof out, v13), 0);
  assert_non_null(strstr(out, "TLSv1.3"));
}

static void test_curl_health_and_metrics(void **state) {
  static char out[1 << 16];
  char url[128], resolve[96], cacert[400];
  snprintf(url, sizeof url, "https://mentorlog-server:%d/healthz", srv.port);
  snprintf(resolve, sizeof resolve, "mentorlog-server:%d:127.0.0.1", srv.port);
  snprintf(cacert, sizeof cacert, "%s/tls/cert.pem", srv.data);
  /* Full verification against the self-signed certificate as the CA. */
  const char *a1[] = {"/usr/bin/curl", "-sS", "--fail", "--resolve", resolve, "--cacert", cacert,
                      "-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}", url, NULL};
  assert_int_equal(ih_run(out, sizeof out, 30000, a1), 0);
  assert_string_equal(out, "200 0");
  /* A wrong CA must fail verification: the server is not trusted blindly. */
  const char *a2[] = {"/usr/bin/curl", "-sS", "--resolve", resolve, "-o", "/dev/null", url, NULL};
  assert_int_not_equal(ih_run(out, sizeof out, 30000, a2), 0);
  /* /metrics: not on the devices' port (404) ... */
  snprintf(url, sizeof url, "https://127.0.0.1:%d/metrics", srv.port);
  const char *a3[] = {"/usr/bin/curl", "-sS", "-k", "-o", "/dev/null", "-w", "%{http_code}", url, NULL};
  assert_int_equal(ih_run(out, sizeof out, 30000, a3), 0);
  assert_string_equal(out, "404");
  /* ... but in plain HTTP on the loopback listener named in metrics.addr */
  char maddr[400], line[64] = "";
  snprintf(maddr, sizeof maddr, "%s/metrics.addr", srv.data);
  FILE *mf = fopen(maddr, "r");
  assert_non_null(mf);
  assert_non_null(fgets(line, sizeof line, mf));
  fclose(mf);
  line[strcspn(line, "\n")] = '\0';
  assert_int_equal(strncmp(line, "127.0.0.1:", 10), 0);
  snprintf(url, sizeof url, "http://%s/metrics", line);
  const char *a4[] = {"/usr/bin/curl", "-sS", "--fail", url, NULL};
  assert_int_equal(ih_run(out, sizeof out, 30000, a4), 0);
  assert_non_null(strstr(out, "# TYPE mentorlog_connections_open gauge"));
  assert_non_null(strstr(out, "mentorlog_requests_total{route=\""));
  assert_non_null(strstr(out, "mentorlog_push_batch_ms_bucket{le=\"+Inf\"}"));
  assert_non_null(strstr(out, "mentorlog_log_size "));
  assert_non_null(strstr(out, "mentorlog_tls_handshakes_total{type=\"full\"}"));
}

static const char get_health[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

static void test_keep_alive_and_pipelining(void **state) {
  ih_raw r = {0};
  static uint8_t buf[65536];
  size_t got, used;
  int status;
  char code[64];
  assert_int_equal(ih_raw_connect(&srv, &r, 0, 10000), 0);
  for (int i = 0; i < 5; i++) { /* sequential requests on one connection */
    assert_int_equal(ih_raw_send(&r, get_health, strlen(get_health), 10000), 0);
    assert_int_equal(ih_raw_recv(&r, buf, sizeof buf, &got, 1, 10000), 1);
    assert_int_equal(ih_parse_response(buf, got, &status, code, &used), 0);
    assert_int_equal(status, 200);
    assert_int_equal(used, got);
  }
  /* Three pipelined in one write: three answers, in order, same connection. */
  char three[256];
  snprintf(three, sizeof three, "%s%s%s", get_health, "GET /v1/log/sth HTTP/1.1\r\nHost: x\r\n\r\n", get_health);
  assert_int_equal(ih_raw_send(&r, three, strlen(three), 10000), 0);
  size_t total = 0;
  int answers = 0;
  uint64_t deadline = ih_now_ms() + 10000;
  while (ih_now_ms() < deadline) {
    size_t off = 0;
    answers = 0;
    while (off < total && ih_parse_response(buf + off, total - off, &status, code, &used) == 0) {
      assert_int_equal(status, 200);
      off += used;
      answers++;
    }
    if (answers == 3) break;
    (void)ih_raw_recv(&r, buf + total, sizeof buf - total, &got, 1, 2000);
    total += got;
  }
  assert_int_equal(answers, 3);
  /* Connection: close is honoured. */
  const char *closing = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  assert_int_equal(ih_raw_send(&r, closing, strlen(closing), 10000), 0);
  assert_int_equal(ih_raw_recv(&r, buf, sizeof buf, &got, 0, 10000), 0); /* server closed */
  assert_int_equal(ih_parse_response(buf, got, &status, code, &used), 0);
  assert_int_equal(status, 200);
  ih_raw_free(&r);
}

static void test_resumption(void **state) {
  ih_raw r = {0};
  static uint8_t buf[65536];
  size_t got;
  assert_int_equal(ih_raw_connect(&srv, &r, 0, 10000), 0);
  assert_int_equal(mlproto_tls_resumed(r.tls), 0);
  /* TLS 1.3 tickets arrive after the handshake: read a response to absorb one. */
  assert_int_equal(ih_raw_send(&r, get_health, strlen(get_health), 10000), 0);
  assert_int_equal(ih_raw_recv(&r, buf, sizeof buf, &got, 1, 10000), 1);
  ih_raw_close(&r);
  assert_non_null(r.resume);
  assert_int_equal(ih_raw_connect(&srv, &r, 0, 10000), 0);
  assert_int_equal(mlproto_tls_resumed(r.tls), 1);
  assert_int_equal(ih_raw_send(&r, get_health, strlen(get_health), 10000), 0);
  assert_int_equal(ih_raw_recv(&r, buf, sizeof buf - 1, &got, 1, 10000), 1);
  assert_true(ih_metric(&srv, "mentorlog_tls_handshakes_total{type=\"resumed\"}") >= 1);
  ih_raw_free(&r);
}

static void test_half_closed_truncated_request(void **state) {
  int status;
  char code[64];
  assert_int_equal(ih_request_once(&srv, "GET /heal", 9, 1, &status, code, 10000), 0);
  assert_int_equal(status, 400);
  assert_string_equal(code, "BAD_HTTP");
  assert_true(ih_server_alive(&srv));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_old_versions_refused),
      cmocka_unit_test(test_non_aead_tls12_refused),
      cmocka_unit_test(test_tls12_aead_and_tls13_accepted),
      cmocka_unit_test(test_curl_health_and_metrics),
      cmocka_unit_test(test_keep_alive_and_pipelining),
      cmocka_unit_test(test_resumption),
      cmocka_unit_test(test_half_closed_truncated_request),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
