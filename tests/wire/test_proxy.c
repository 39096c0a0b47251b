/*
 * test_proxy.c — the PROXY protocol header (mlproto/proxy.h): v1 and v2
 * headers as HAProxy sends them, every proper prefix of each (need more),
 * tables of refused ones, the size cap at the limit and one past, and the
 * trusted address ranges.
 */
#include "mlproto/proxy.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const uint8_t SIG[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* Every proper prefix of buf[0..n) needs more; all of it (and a TLS byte
 * after it) is one header of n bytes. */
static mlproto_proxy_header whole(const uint8_t *buf, size_t n) {
  mlproto_proxy_header h;
  size_t used;
  for (size_t i = 0; i < n; i++) {
    used = 99;
    assert_int_equal(mlproto_proxy_parse(&h, &used, buf, i), MLPROTO_OK);
    assert_int_equal(used, 0);
  }
  uint8_t more[MLPROTO_PROXY_MAX_HEADER + 8];
  assert_true(n + 3 <= sizeof more);
  memcpy(more, buf, n);
  memcpy(more + n, "\x16\x03\x01", 3); /* a ClientHello's first bytes */
  assert_int_equal(mlproto_proxy_parse(&h, &used, more, n + 3), MLPROTO_OK);
  assert_int_equal(used, n);
  mlproto_proxy_header h2;
  assert_int_equal(mlproto_proxy_parse(&h2, &used, buf, n), MLPROTO_OK);
  assert_int_equal(used, n);
  assert_memory_equal(&h, &h2, sizeof h);
  return h;
}

static void refused(const uint8_t *buf, size_t n) {
  mlproto_proxy_header h;
  memset(&h, 0xaa, sizeof h);
  size_t used = 99;
  int rc = mlproto_proxy_parse(&h, &used, buf, n);
  if (rc != MLPROTO_ERR_PROXY_HEADER)
    fail_msg("accepted (rc %d, used %zu): %.*s", rc, used, (int)n, (const char *)buf);
  assert_int_equal(used, 0);
  mlproto_proxy_header zero;
  memset(&zero, 0, sizeof zero);
  assert_memory_equal(&h, &zero, sizeof h);
}

static void v1_good(void **state) {
  (void)state;
  const char *t4 = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n";
  mlproto_proxy_header h = whole((const uint8_t *)t4, strlen(t4));
  assert_int_equal(h.version, 1);
  assert_int_equal(h.local, 0);
  assert_int_equal(h.family, 4);
  assert_memory_equal(h.src, "\xc0\x00\x02\x07", 4);
  assert_memory_equal(h.dst, "\xc6\x33\x64\x01", 4);
  assert_int_equal(h.src_port, 56324);
  assert_int_equal(h.dst_port, 443);

  const char *t6 = "PROXY TCP6 2001:db8::7 ::1 0 65535\r\n";
  h = whole((const uint8_t *)t6, strlen(t6));
  assert_int_equal(h.family, 6);
  uint8_t a[16];
  assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", a), 1);
  assert_memory_equal(h.src, a, 16);
  assert_int_equal(h.src_port, 0);
  assert_int_equal(h.dst_port, 65535);

  const char *u = "PROXY UNKNOWN\r\n";
  h = whole((const uint8_t *)u, strlen(u));
  assert_int_equal(h.local, 1);
  /* the longest line the spec allows: 107 bytes */
  const char *longest = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  assert_int_equal(strlen(longest), MLPROTO_PROXY_V1_MAX);
  h = whole((const uint8_t *)longest, strlen(longest));
  assert_int_equal(h.local, 1);
}

static void v1_refused(void **state) {
  (void)state;
  static const char *const bad[] = {
      "PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n", /* family mismatch */
      "PROXY TCP6 192.0.2.1 ::1 1 2\r\n",
      "PROXY TCP4 192.0.2.1 192.0.2.2 65536 2\r\n", /* port range */
      "PROXY TCP4 192.0.2.1 192.0.2.2 0443 2\r\n",  /* leading zero */
      "PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n",
      "PROXY TCP4 192.0.2.1  192.0.2.2 1 2\r\n", /* two spaces */
      "PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n",    /* a field missing */
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n",
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n",
      "PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n",
      "PROXY UDP4 192.0.2.1 192.0.2.2 1 2\r\n",
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n", /* LF alone */
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\r",
      "PROXY TCP4 192.0.2.01 192.0.2.2 1 2\r\n",
      "PROXY TCP4 192.0.2.1 192.0.2.256 1 2\r\n",
      "PROXY \r\n",
      "PROXY UNKNOWNX\r\n",
      "proxy TCP4 192.0.2.1 192.0.2.2 1 2\r\n",
      "PROXYTCP4 192.0.2.1 192.0.2.2 1 2\r\n",
      "GET / HTTP/1.1\r\n",
      "\x16\x03\x01\x02\x00",
      "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\t\r\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    refused((const uint8_t *)bad[i], strlen(bad[i]));
  /* 107 bytes without a CRLF, and 108 with one at the end */
  char line[200];
  memset(line, 'A', sizeof line);
  memcpy(line, "PROXY UNKNOWN ", 14);
  refused((const uint8_t *)line, MLPROTO_PROXY_V1_MAX);
  line[106] = '\r';
  line[107] = '\n';
  refused((const uint8_t *)line, 108);
  /* ... but 106 bytes and no CRLF yet: more may come */
  mlproto_proxy_header h;
  size_t used = 5;
  assert_int_equal(mlproto_proxy_parse(&h, &used, (const uint8_t *)line, 106), MLPROTO_OK);
  assert_int_equal(used, 0);
  /* a NUL in the line */
  refused((const uint8_t *)"PROXY TCP4 1\0", 13);
}

static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *addr, size_t alen,
                 size_t tlv) {
  memcpy(out, SIG, 12);
  out[12] = ver_cmd;
  out[13] = fam;
  size_t body = alen + tlv;
  out[14] = (uint8_t)(body >> 8);
  out[15] = (uint8_t)body;
  if (alen) memcpy(out + 16, addr, alen);
  for (size_t i = 0; i < tlv; i++) out[16 + alen + i] = (uint8_t)(i * 7 + 1);
  return 16 + body;
}

static void v2_good(void **state) {
  (void)state;
  uint8_t b[MLPROTO_PROXY_MAX_HEADER + 16];
  const uint8_t a4[12] = {10, 1, 2, 3, 127, 0, 0, 1, 0xdc, 0x04, 0x01, 0xbb};
  mlproto_proxy_header h = whole(b, v2(b, 0x21, 0x11, a4, 12, 0));
  assert_int_equal(h.version, 2);
  assert_int_equal(h.local, 0);
  assert_int_equal(h.family, 4);
  assert_memory_equal(h.src, a4, 4);
  assert_memory_equal(h.dst, a4 + 4, 4);
  assert_int_equal(h.src_port, 0xdc04);
  assert_int_equal(h.dst_port, 443);
  /* with TLVs after the addresses: skipped */
  h = whole(b, v2(b, 0x21, 0x11, a4, 12, 40));
  assert_int_equal(h.src_port, 0xdc04);
  uint8_t a6[36];
  for (int i = 0; i < 36; i++) a6[i] = (uint8_t)(0x20 + i);
  h = whole(b, v2(b, 0x21, 0x21, a6, 36, 0));
  assert_int_equal(h.family, 6);
  assert_memory_equal(h.src, a6, 16);
  assert_memory_equal(h.dst, a6 + 16, 16);
  assert_int_equal(h.src_port, (0x40 << 8) | 0x41);
  /* LOCAL (a health check), with or without addresses: the socket's own */
  h = whole(b, v2(b, 0x20, 0x00, NULL, 0, 0));
  assert_int_equal(h.local, 1);
  h = whole(b, v2(b, 0x20, 0x11, a4, 12, 0));
  assert_int_equal(h.local, 1);
  assert_int_equal(h.family, 0);
  /* ... whatever its family and address block say (ignored, spec 2.2):
   * AF_UNIX, UDP, an unknown family, AF_INET without the addresses */
  static const uint8_t LOCAL_FAMS[] = {0x31, 0x12, 0x41, 0x11, 0x21};
  for (size_t i = 0; i < sizeof LOCAL_FAMS; i++) {
    h = whole(b, v2(b, 0x20, LOCAL_FAMS[i], NULL, 0, 0));
    assert_int_equal(h.local, 1);
    assert_int_equal(h.family, 0);
  }
  h = whole(b, v2(b, 0x20, 0x31, a6, 36, 5));
  assert_int_equal(h.local, 1);
  /* PROXY with UNSPEC: as LOCAL */
  h = whole(b, v2(b, 0x21, 0x00, NULL, 0, 3));
  assert_int_equal(h.local, 1);
  /* the cap itself */
  size_t n = v2(b, 0x21, 0x11, a4, 12, MLPROTO_PROXY_MAX_HEADER - 16 - 12);
  assert_int_equal(n, MLPROTO_PROXY_MAX_HEADER);
  h = whole(b, n);
  assert_int_equal(h.family, 4);
}

static void v2_refused(void **state) {
  (void)state;
  uint8_t b[MLPROTO_PROXY_MAX_HEADER + 16];
  const uint8_t a4[12] = {10, 1, 2, 3, 127, 0, 0, 1, 0xdc, 0x04, 0x01, 0xbb};
  uint8_t a6[36] = {0};
  refused(b, v2(b, 0x11, 0x11, a4, 12, 0));             /* version 1 */
  refused(b, v2(b, 0x31, 0x11, a4, 12, 0));             /* version 3 */
  refused(b, v2(b, 0x22, 0x11, a4, 12, 0));             /* command 2 */
  refused(b, v2(b, 0x21, 0x12, a4, 12, 0));             /* UDP over IPv4 */
  refused(b, v2(b, 0x21, 0x22, a6, 36, 0));             /* UDP over IPv6 */
  refused(b, v2(b, 0x21, 0x31, a6, 36, 0));             /* a UNIX socket */
  refused(b, v2(b, 0x21, 0x41, a6, 36, 0));             /* no such family */
  refused(b, v2(b, 0x21, 0x11, a4, 8, 0));              /* too short for IPv4 */
  refused(b, v2(b, 0x21, 0x21, a6, 20, 0));             /* ... for IPv6 */
  /* one past the cap: refused from its first 16 bytes on */
  v2(b, 0x21, 0x11, a4, 12, MLPROTO_PROXY_MAX_HEADER - 16 - 12 + 1);
  refused(b, 16);
  /* a signature off by one byte, at each byte */
  for (int i = 0; i < 12; i++) {
    size_t n = v2(b, 0x21, 0x11, a4, 12, 0);
    b[i] ^= 0x01;
    if (i == 0) b[i] = 0x0c; /* neither '\r' nor 'P' */
    refused(b, n);
    refused(b, (size_t)i + 1); /* as soon as the byte is seen */
  }
}

static void arguments(void **state) {
  (void)state;
  mlproto_proxy_header h;
  size_t used;
  assert_int_equal(mlproto_proxy_parse(NULL, &used, (const uint8_t *)"P", 1), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_proxy_parse(&h, NULL, (const uint8_t *)"P", 1), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_proxy_parse(&h, &used, NULL, 1), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_proxy_parse(&h, &used, NULL, 0), MLPROTO_OK);
  assert_int_equal(used, 0);
}

static void cidrs(void **state) {
  (void)state;
  mlproto_cidr c;
  uint8_t a[16];
  assert_int_equal(mlproto_cidr_parse(&c, "10.0.0.0/8"), MLPROTO_OK);
  assert_int_equal(c.family, 4);
  assert_int_equal(c.bits, 8);
  inet_pton(AF_INET, "10.200.3.4", a);
  assert_true(mlproto_cidr_match(&c, 4, a));
  inet_pton(AF_INET, "11.0.0.0", a);
  assert_false(mlproto_cidr_match(&c, 4, a));
  inet_pton(AF_INET6, "::ffff:10.9.9.9", a);
  assert_true(mlproto_cidr_match(&c, 6, a)); /* IPv4-mapped */
  inet_pton(AF_INET6, "::10.9.9.9", a);
  assert_false(mlproto_cidr_match(&c, 6, a));

  assert_int_equal(mlproto_cidr_parse(&c, "127.0.0.1"), MLPROTO_OK);
  assert_int_equal(c.bits, 32);
  inet_pton(AF_INET, "127.0.0.1", a);
  assert_true(mlproto_cidr_match(&c, 4, a));
  inet_pton(AF_INET, "127.0.0.2", a);
  assert_false(mlproto_cidr_match(&c, 4, a));

  assert_int_equal(mlproto_cidr_parse(&c, "192.0.2.128/25"), MLPROTO_OK);
  inet_pton(AF_INET, "192.0.2.200", a);
  assert_true(mlproto_cidr_match(&c, 4, a));
  inet_pton(AF_INET, "192.0.2.127", a);
  assert_false(mlproto_cidr_match(&c, 4, a));

  assert_int_equal(mlproto_cidr_parse(&c, "2001:db8::/33"), MLPROTO_OK);
  inet_pton(AF_INET6, "2001:db8:7fff::1", a);
  assert_true(mlproto_cidr_match(&c, 6, a));
  inet_pton(AF_INET6, "2001:db8:8000::1", a);
  assert_false(mlproto_cidr_match(&c, 6, a));
  inet_pton(AF_INET, "32.1.13.184", a); /* 2001:0db8 as IPv4 bytes */
  assert_false(mlproto_cidr_match(&c, 4, a));

  assert_int_equal(mlproto_cidr_parse(&c, "0.0.0.0/0"), MLPROTO_OK);
  inet_pton(AF_INET, "203.0.113.9", a);
  assert_true(mlproto_cidr_match(&c, 4, a));
  assert_int_equal(mlproto_cidr_parse(&c, "::/0"), MLPROTO_OK);
  assert_false(mlproto_cidr_match(&c, 4, a));

  static const char *const bad[] = {"10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/08",
                                    "/8",         "10.0.0",      "::1/129",   "2001:db8::1/32",
                                    "10.0.0.0/8x", "",           "localhost", "10.0.0.0/-1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    memset(&c, 0x55, sizeof c);
    if (mlproto_cidr_parse(&c, bad[i]) != MLPROTO_ERR_INVALID_ARGUMENT) fail_msg("accepted %s", bad[i]);
    assert_int_equal(c.family, 0);
  }
  assert_int_equal(mlproto_cidr_parse(&c, NULL), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_false(mlproto_cidr_match(NULL, 4, a));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(v1_good),  cmocka_unit_test(v1_refused), cmocka_unit_test(v2_good),
      cmocka_unit_test(v2_refused), cmocka_unit_test(arguments), cmocka_unit_test(cidrs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
