/*
 * test_tls.c — the memory-only TLS engine: client and server sessions wired
 * together in memory (tls_link), plus raw mbedTLS clients for the policies
 * our own client cannot even express (CBC suites, renegotiation).
 */
#include "mlproto/alloc.h"
#include "mlproto/tls.h"
#include "tls_link.h"
#include "testutil.h"

#include <mbedtls/ssl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static mlproto_tls *session(const mlproto_tls_config *cfg) {
  mlproto_tls *t = NULL;
  assert_int_equal(mlproto_tls_new(&t, cfg), MLPROTO_OK);
  return t;
}

static void pair(tls_link *l, mlproto_tls_config *cc, mlproto_tls_config *sc) {
  mlproto_tls *c = session(cc);
  tl_init(l, c, session(sc));
}

/* Frees the link with its sessions, then both configs. */
static void unpair(tls_link *l, mlproto_tls_config *cc, mlproto_tls_config *sc) {
  tl_free(l);
  mlproto_tls_config_free(cc);
  mlproto_tls_config_free(sc);
}

static void test_handshake_tls13(void **state) {
  (void)state;
  mlproto_tls_config *sc = tl_server_config(0, 1);
  mlproto_tls_config *cc = tl_client_config("localhost", tl_cert(), tl_fingerprint(), 0);
  tls_link l;
  pair(&l, cc, sc);
  assert_int_equal(mlproto_tls_handshake_done(l.c), 0);
  assert_int_equal(mlproto_tls_version(l.c), 0);
  assert_string_equal(mlproto_tls_ciphersuite(l.c), "");
  assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
  assert_int_equal(mlproto_tls_handshake_done(l.c), 1);
  assert_int_equal(mlproto_tls_handshake_done(l.s), 1);
  assert_int_equal(mlproto_tls_version(l.c), MLPROTO_TLS_V13);
  assert_int_equal(mlproto_tls_version(l.s), MLPROTO_TLS_V13);
  assert_non_null(strstr(mlproto_tls_ciphersuite(l.c), "TLS1-3-"));
  assert_int_equal(mlproto_tls_resumed(l.c), 0);
  assert_int_equal(mlproto_tls_resumed(l.s), 0);
  char fp[MLPROTO_TLS_FINGERPRINT_HEX_LEN];
  assert_int_equal(mlproto_tls_peer_fingerprint(l.c, fp), MLPROTO_OK);
  assert_string_equal(fp, tl_fingerprint());
  assert_int_equal(mlproto_tls_peer_fingerprint(l.s, fp), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(mlproto_tls_error(l.c), MLPROTO_OK);
  assert_int_equal(mlproto_tls_is_closed(l.c), 0);
  /* a second call after completion is a no-op */
  assert_int_equal(mlproto_tls_handshake(l.c), MLPROTO_OK);
  unpair(&l, cc, sc);
}

/* Pushes len bytes from a to b through the link, reading on the other side;
 * small pieces, partial writes. */
static void stream(tls_link *l, mlproto_tls *w, mlproto_tls *r, size_t len, size_t wchunk) {
  uint8_t *src = malloc(len), *dst = malloc(len);
  assert_non_null(src);
  assert_non_null(dst);
  randombytes_buf(src, len);
  size_t sent = 0, got = 0;
  unsigned agains = 0;
  for (int guard = 0; got < len; guard++) {
    assert_true(guard < 10000000);
    if (sent < len) {
      size_t n = len - sent < wchunk ? len - sent : wchunk, nw;
      int rc = mlproto_tls_write(w, src + sent, n, &nw);
      assert_true(rc == MLPROTO_OK || rc == MLPROTO_TLS_AGAIN);
      if (rc == MLPROTO_OK)
        assert_int_equal(nw, n);
      agains += rc == MLPROTO_TLS_AGAIN;
      sent += nw;
    }
    tl_move(l);
    for (;;) {
      size_t nr;
      int rc = mlproto_tls_read(r, dst + got, len - got < 4093 ? len - got : 4093, &nr);
      if (rc == MLPROTO_TLS_AGAIN) {
        assert_int_equal(nr, 0);
        break;
      }
      assert_int_equal(rc, MLPROTO_OK);
      got += nr;
      if (got == len)
        break;
    }
  }
  assert_int_equal(sent, len);
  assert_memory_equal(src, dst, len);
  free(src);
  free(dst);
  (void)agains;
}

/* A pinned client with a small outbound cap: its writes block and resume
 * mid-stream. */
static mlproto_tls_config *small_outbound_client(void) {
  mlproto_tls_client_options o = MLPROTO_TLS_CLIENT_OPTIONS_INIT;
  o.hostname = "localhost";
  o.pin_sha256 = tl_fingerprint();
  o.max_outbound = 1; /* raised to the minimum */
  mlproto_tls_config *cc = NULL;
  assert_int_equal(mlproto_tls_config_client(&cc, &o), MLPROTO_OK);
  return cc;
}

static void test_data_both_ways(void **state) {
  (void)state;
  mlproto_tls_config *sc = tl_server_config(0, 1);
  mlproto_tls_config *cc = small_outbound_client();
  tls_link l;
  pair(&l, cc, sc);
  l.piece = 1499; /* odd piece sizes through the link */
  assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
  stream(&l, l.c, l.s, 1u << 20, 100003);
  stream(&l, l.s, l.c, 300001, 7777);
  stream(&l, l.c, l.s, 1, 1);
  unpair(&l, cc, sc);
}

static void test_write_blocks_and_resumes(void **state) {
  (void)state;
  mlproto_tls_config *sc = tl_server_config(0, 1);
  mlproto_tls_config *cc = small_outbound_client();
  tls_link l;
  pair(&l, cc, sc);
  assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
  static uint8_t big[200000];
  memset(big, 'x', sizeof big);
  size_t n;
  assert_int_equal(mlproto_tls_write(l.c, big, sizeof big, &n), MLPROTO_TLS_AGAIN);
  assert_true(n < sizeof big);
  assert_int_equal(mlproto_tls_want_read(l.c), 0);
  assert_true(mlproto_tls_output_pending(l.c) > 0);
  /* without draining, nothing more fits */
  size_t n2;
  assert_int_equal(mlproto_tls_write(l.c, big + n, sizeof big - n, &n2), MLPROTO_TLS_AGAIN);
  assert_int_equal(n2, 0);
  /* a retry that is not the rest of the blocked write is refused */
  assert_int_equal(mlproto_tls_write(l.c, big, 1, &n2), MLPROTO_ERR_INVALID_ARGUMENT);
  unpair(&l, cc, sc);
}

static void expect_refused(mlproto_tls_config *cc, int client_code) {
  mlproto_tls_config *sc = tl_server_config(0, 1);
  tls_link l;
  pair(&l, cc, sc);
  int rc_c, rc_s;
  assert_int_equal(tl_handshake(&l, &rc_c, &rc_s), client_code);
  assert_int_equal(rc_c, client_code);
  assert_int_equal(mlproto_tls_error(l.c), client_code);
  assert_int_equal(mlproto_tls_is_closed(l.c), 1);
  assert_int_equal(mlproto_tls_handshake_done(l.c), 0);
  /* the client told the server why: its handshake fails too */
  assert_int_equal(rc_s, MLPROTO_ERR_TLS);
  /* sticky */
  size_t n;
  uint8_t b[8];
  assert_int_equal(mlproto_tls_read(l.c, b, sizeof b, &n), client_code);
  assert_int_equal(mlproto_tls_write(l.c, b, sizeof b, &n), client_code);
  unpair(&l, cc, sc);
}

static void test_pin_mismatch(void **state) {
  (void)state;
  char wrong[MLPROTO_TLS_FINGERPRINT_HEX_LEN];
  memcpy(wrong, tl_fingerprint(), sizeof wrong);
  wrong[10] = wrong[10] == '0' ? '1' : '0';
  expect_refused(tl_client_config("localhost", NULL, wrong, 0), MLPROTO_ERR_TLS_PIN);
  /* a trusted CA does not excuse a pin mismatch */
  expect_refused(tl_client_config("localhost", tl_cert(), wrong, 0), MLPROTO_ERR_TLS_PIN);
}

static void test_untrusted_ca(void **state) {
  (void)state;
  char *other_cert, *other_key;
  int64_t now = (int64_t)time(NULL);
  assert_int_equal(
      mlproto_tls_selfsigned(&other_cert, &other_key, "localhost", now - 60, now + 86400),
      MLPROTO_OK);
  expect_refused(tl_client_config("localhost", other_cert, NULL, 0), MLPROTO_ERR_TLS_CERT);
  mlproto_tls_pem_free(other_cert);
  mlproto_tls_pem_free(other_key);
}

static void test_wrong_hostname(void **state) {
  (void)state;
  expect_refused(tl_client_config("mentorlog.example", tl_cert(), NULL, 0), MLPROTO_ERR_TLS_CERT);
  /* the pin makes the certificate trusted, not the name right */
  expect_refused(tl_client_config("mentorlog.example", NULL, tl_fingerprint(), 0),
                 MLPROTO_ERR_TLS_CERT);
}

static void test_trust_modes(void **state) {
  (void)state;
  /* openssl's colon form of the pin, upper case */
  char colons[3 * 32];
  const char *fp = tl_fingerprint();
  for (int i = 0; i < 32; i++) {
    colons[3 * i] = (char)(fp[2 * i] >= 'a' ? fp[2 * i] - 32 : fp[2 * i]);
    colons[3 * i + 1] = (char)(fp[2 * i + 1] >= 'a' ? fp[2 * i + 1] - 32 : fp[2 * i + 1]);
    colons[3 * i + 2] = i == 31 ? '\0' : ':';
  }
  const struct {
    const char *hostname, *ca, *pin;
  } modes[] = {
      {"LOCALHOST", tl_cert(), NULL},
      {"LOCALHOST", NULL, fp},
      {"LOCALHOST", tl_cert(), fp},
      {"localhost", NULL, colons},
  };
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    mlproto_tls_config *sc = tl_server_config(0, 1);
    mlproto_tls_config *cc = tl_client_config(modes[i].hostname, modes[i].ca, modes[i].pin, 0);
    tls_link l;
    pair(&l, cc, sc);
    assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
    unpair(&l, cc, sc);
  }
}

static void test_tls12_forced(void **state) {
  (void)state;
  mlproto_tls_config *sc = tl_server_config(0, 1);
  mlproto_tls_config *cc = tl_client_config("localhost", NULL, tl_fingerprint(), MLPROTO_TLS_V12);
  tls_link l;
  pair(&l, cc, sc);
  assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
  assert_int_equal(mlproto_tls_version(l.c), MLPROTO_TLS_V12);
  assert_int_equal(mlproto_tls_version(l.s), MLPROTO_TLS_V12);
  const char *suite = mlproto_tls_ciphersuite(l.s);
  assert_non_null(strstr(suite, "ECDHE-ECDSA"));
  assert_true(strstr(suite, "GCM") || strstr(suite, "CHACHA20-POLY1305"));
  stream(&l, l.c, l.s, 50000, 3001);
  tl_free(&l);
  mlproto_tls_config_free(cc);
  /* a server that insists on 1.3 refuses a 1.2-only client */
  mlproto_tls_config *sc13 = tl_server_config(MLPROTO_TLS_V13, 1);
  cc = tl_client_config("localhost", NULL, tl_fingerprint(), MLPROTO_TLS_V12);
  pair(&l, cc, sc13);
  int rc_c, rc_s;
  assert_int_equal(tl_handshake(&l, &rc_c, &rc_s), MLPROTO_ERR_TLS);
  assert_int_equal(rc_s, MLPROTO_ERR_TLS);
  tl_free(&l);
  mlproto_tls_config_free(cc);
  mlproto_tls_config_free(sc13);
  mlproto_tls_config_free(sc);
}

/* ---- raw mbedTLS client: speaks what our client never would ---- */

typedef struct raw_client {
  mbedtls_ssl_config conf;
  mbedtls_ssl_context ssl;
  mlproto_buf in;      /* ciphertext from the server */
  mlproto_tls *server; /* our session it talks to; the raw client's own */
} raw_client;

static int raw_rng(void *ctx, unsigned char *out, size_t len) {
  (void)ctx;
  randombytes_buf(out, len);
  return 0;
}

static int raw_send(void *ctx, const unsigned char *buf, size_t len) {
  raw_client *rc = ctx;
  size_t room = mlproto_tls_inbound_space(rc->server);
  if (room == 0)
    return MBEDTLS_ERR_SSL_WANT_WRITE;
  if (len > room)
    len = room;
  assert_int_equal(mlproto_tls_feed(rc->server, buf, len), MLPROTO_OK);
  return (int)len;
}

static int raw_recv(void *ctx, unsigned char *buf, size_t len) {
  raw_client *rc = ctx;
  if (rc->in.len == 0)
    return MBEDTLS_ERR_SSL_WANT_READ;
  if (len > rc->in.len)
    len = rc->in.len;
  memcpy(buf, rc->in.data, len);
  mlproto_buf_consume(&rc->in, len);
  return (int)len;
}

static void raw_pull(raw_client *rc) {
  uint8_t *d;
  size_t n;
  mlproto_tls_take_output(rc->server, &d, &n);
  if (n)
    assert_int_equal(mlproto_buf_append(&rc->in, d, n), MLPROTO_OK);
  mlproto_tls_output_free(d);
}

static void raw_init(raw_client *rc, const mlproto_tls_config *sc, const int *suites,
                     int renego) {
  memset(rc, 0, sizeof *rc);
  rc->server = session(sc);
  mlproto_buf_init(&rc->in, SIZE_MAX);
  mbedtls_ssl_config_init(&rc->conf);
  mbedtls_ssl_init(&rc->ssl);
  assert_int_equal(mbedtls_ssl_config_defaults(&rc->conf, MBEDTLS_SSL_IS_CLIENT,
                                               MBEDTLS_SSL_TRANSPORT_STREAM,
                                               MBEDTLS_SSL_PRESET_DEFAULT),
                   0);
  mbedtls_ssl_conf_rng(&rc->conf, raw_rng, NULL);
  mbedtls_ssl_conf_authmode(&rc->conf, MBEDTLS_SSL_VERIFY_NONE);
  mbedtls_ssl_conf_max_tls_version(&rc->conf, MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_min_tls_version(&rc->conf, MBEDTLS_SSL_VERSION_TLS1_2);
  if (suites)
    mbedtls_ssl_conf_ciphersuites(&rc->conf, suites);
  if (renego)
    mbedtls_ssl_conf_renegotiation(&rc->conf, MBEDTLS_SSL_RENEGOTIATION_ENABLED);
  assert_int_equal(mbedtls_ssl_setup(&rc->ssl, &rc->conf), 0);
  assert_int_equal(mbedtls_ssl_set_hostname(&rc->ssl, "localhost"), 0);
  mbedtls_ssl_set_bio(&rc->ssl, rc, raw_send, raw_recv, NULL);
}

static void raw_free(raw_client *rc) {
  mbedtls_ssl_free(&rc->ssl);
  mbedtls_ssl_config_free(&rc->conf);
  mlproto_buf_free(&rc->in);
  mlproto_tls_free(rc->server);
}

/* Drives the raw client's operation op until it is not WANT_*; the server
 * session runs its handshake/read in between. */
static int raw_drive(raw_client *rc, int (*op)(mbedtls_ssl_context *), int *server_rc) {
  int r = 0;
  for (int i = 0; i < 1000; i++) {
    r = op(&rc->ssl);
    uint8_t buf[256];
    size_t n;
    *server_rc = mlproto_tls_read(rc->server, buf, sizeof buf, &n);
    raw_pull(rc);
    if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
      return r;
    if (*server_rc < 0) {
      raw_pull(rc);
      return op(&rc->ssl);
    }
  }
  return r;
}

static void test_tls12_cbc_only_refused(void **state) {
  (void)state;
  static const int cbc[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
                            MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
                            MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, 0};
  mlproto_tls_config *sc = tl_server_config(0, 1);
  raw_client rc;
  raw_init(&rc, sc, cbc, 0);
  int srv;
  int r = raw_drive(&rc, mbedtls_ssl_handshake, &srv);
  assert_true(r < 0);
  assert_int_equal(srv, MLPROTO_ERR_TLS);
  assert_int_equal(mlproto_tls_handshake_done(rc.server), 0);
  raw_free(&rc);

  /* the same raw client with an AEAD suite gets through: the refusal above
   * is about the suites, not the harness */
  static const int gcm[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0};
  raw_init(&rc, sc, gcm, 0);
  assert_int_equal(raw_drive(&rc, mbedtls_ssl_handshake, &srv), 0);
  assert_int_equal(srv, MLPROTO_TLS_AGAIN);
  assert_int_equal(mlproto_tls_handshake_done(rc.server), 1);
  raw_free(&rc);
  mlproto_tls_config_free(sc);
}

static void test_renegotiation_refused(void **state) {
  (void)state;
  mlproto_tls_config *sc = tl_server_config(0, 1);
  raw_client rc;
  raw_init(&rc, sc, NULL, 1);
  int srv;
  assert_int_equal(raw_drive(&rc, mbedtls_ssl_handshake, &srv), 0);
  assert_int_equal(mlproto_tls_handshake_done(rc.server), 1);
  int r = raw_drive(&rc, mbedtls_ssl_renegotiate, &srv);
  /* the server answers the new ClientHello with a no_renegotiation alert;
   * the client's renegotiation never completes */
  assert_int_not_equal(r, 0);
  assert_true(r < 0);
  raw_free(&rc);
  mlproto_tls_config_free(sc);
}

/* ---- resumption ---- */

static void resumption(unsigned max_version) {
  mlproto_tls_config *sc = tl_server_config(0, 1);
  mlproto_tls_config *cc = tl_client_config("localhost", NULL, tl_fingerprint(), max_version);
  tls_link l;
  pair(&l, cc, sc);
  assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
  uint8_t *blob;
  size_t len;
  if (max_version != MLPROTO_TLS_V12) {
    /* the TLS 1.3 ticket comes after the handshake: absorbed by a read */
    assert_int_equal(mlproto_tls_get_resume(l.c, &blob, &len), MLPROTO_ERR_NOT_FOUND);
    uint8_t b[16];
    size_t n;
    assert_int_equal(mlproto_tls_read(l.s, b, sizeof b, &n), MLPROTO_TLS_AGAIN);
    tl_move(&l);
    assert_int_equal(mlproto_tls_read(l.c, b, sizeof b, &n), MLPROTO_TLS_AGAIN);
    assert_int_equal(mlproto_tls_want_read(l.c), 1);
  }
  assert_int_equal(mlproto_tls_get_resume(l.s, &blob, &len), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_tls_get_resume(l.c, &blob, &len), MLPROTO_OK);
  assert_true(len > 0);
  /* handed out once */
  uint8_t *again;
  size_t again_len;
  assert_int_equal(mlproto_tls_get_resume(l.c, &again, &again_len), MLPROTO_ERR_NOT_FOUND);
  assert_int_equal(mlproto_tls_resumed(l.c), 0);
  assert_int_equal(mlproto_tls_resumed(l.s), 0);
  tl_free(&l);

  pair(&l, cc, sc);
  assert_int_equal(mlproto_tls_set_resume(l.c, blob, len), MLPROTO_OK);
  assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
  assert_int_equal(mlproto_tls_resumed(l.c), 1);
  assert_int_equal(mlproto_tls_resumed(l.s), 1);
  assert_int_equal(mlproto_tls_version(l.c), max_version ? max_version : MLPROTO_TLS_V13);
  stream(&l, l.c, l.s, 10000, 999);
  /* too late to offer a session now */
  assert_int_equal(mlproto_tls_set_resume(l.c, blob, len), MLPROTO_ERR_INVALID_ARGUMENT);
  tl_free(&l);

  /* a server with other ticket keys falls back to a full handshake */
  mlproto_tls_config *sc2 = tl_server_config(0, 1);
  pair(&l, cc, sc2);
  assert_int_equal(mlproto_tls_set_resume(l.c, blob, len), MLPROTO_OK);
  assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
  assert_int_equal(mlproto_tls_resumed(l.c), 0);
  assert_int_equal(mlproto_tls_resumed(l.s), 0);
  tl_free(&l);

  /* a corrupt blob is refused and the session still works */
  blob[len / 2] ^= 0x55;
  blob[0] ^= 0x55;
  pair(&l, cc, sc);
  assert_int_equal(mlproto_tls_set_resume(l.c, blob, len), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
  assert_int_equal(mlproto_tls_resumed(l.c), 0);
  tl_free(&l);

  mlproto_tls_resume_free(blob, len);
  mlproto_tls_config_free(cc);
  mlproto_tls_config_free(sc2);
  mlproto_tls_config_free(sc);
}

/* Servers with one ticket secret (tls.h ticket_secret) resume each other's
 * sessions; one with another secret, or with random keys, does not; and a
 * version-1 options struct (no ticket_secret field) is still accepted. */
static mlproto_tls_config *shared_server_life(const uint8_t *secret, unsigned version, uint32_t life_s) {
  mlproto_tls_server_options o = MLPROTO_TLS_SERVER_OPTIONS_INIT;
  o.version = version;
  o.ticket_lifetime_s = life_s;
  o.cert_pem = tl_cert();
  o.cert_pem_len = strlen(o.cert_pem);
  o.key_pem = tl_key();
  o.key_pem_len = strlen(o.key_pem);
  o.ticket_secret = secret;
  mlproto_tls_config *cfg = NULL;
  assert_int_equal(mlproto_tls_config_server(&cfg, &o), MLPROTO_OK);
  return cfg;
}

static mlproto_tls_config *shared_server(const uint8_t *secret, unsigned version) {
  return shared_server_life(secret, version, 0);
}

/* A full handshake with sc, its TLS 1.3 ticket absorbed: the client's
 * resumption blob. */
static uint8_t *ticket_from(mlproto_tls_config *cc, mlproto_tls_config *sc, size_t *len) {
  tls_link l;
  pair(&l, cc, sc);
  assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
  uint8_t buf[16], *blob;
  size_t n;
  assert_int_equal(mlproto_tls_read(l.s, buf, sizeof buf, &n), MLPROTO_TLS_AGAIN);
  tl_move(&l);
  assert_int_equal(mlproto_tls_read(l.c, buf, sizeof buf, &n), MLPROTO_TLS_AGAIN);
  assert_int_equal(mlproto_tls_get_resume(l.c, &blob, len), MLPROTO_OK);
  tl_free(&l);
  return blob;
}

/* A handshake with sc offering blob: whether it resumed (data then flows). */
static int resumes_with(mlproto_tls_config *cc, mlproto_tls_config *sc, const uint8_t *blob, size_t len) {
  tls_link l;
  pair(&l, cc, sc);
  assert_int_equal(mlproto_tls_set_resume(l.c, blob, len), MLPROTO_OK);
  assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
  int resumed = mlproto_tls_resumed(l.s);
  assert_int_equal(mlproto_tls_resumed(l.c), resumed);
  if (resumed) stream(&l, l.c, l.s, 3000, 77);
  tl_free(&l);
  return resumed;
}

/* A ticket of a, offered to b: whether b resumed. */
static int resumes_across(mlproto_tls_config *cc, mlproto_tls_config *a, mlproto_tls_config *b) {
  size_t len;
  uint8_t *blob = ticket_from(cc, a, &len);
  int resumed = resumes_with(cc, b, blob, len);
  mlproto_tls_resume_free(blob, len);
  return resumed;
}

static void test_shared_ticket_secret(void **state) {
  (void)state;
  uint8_t s1[MLPROTO_TLS_TICKET_SECRET_LEN], s2[MLPROTO_TLS_TICKET_SECRET_LEN];
  memset(s1, 0x11, sizeof s1);
  memset(s2, 0x11, sizeof s2);
  s2[31] ^= 1; /* one bit */
  mlproto_tls_config *cc = tl_client_config("localhost", NULL, tl_fingerprint(), 0);
  mlproto_tls_config *a = shared_server(s1, MLPROTO_TLS_OPTIONS_VERSION);
  mlproto_tls_config *b = shared_server(s1, MLPROTO_TLS_OPTIONS_VERSION);
  mlproto_tls_config *other = shared_server(s2, MLPROTO_TLS_OPTIONS_VERSION);
  mlproto_tls_config *random_keys = shared_server(NULL, MLPROTO_TLS_OPTIONS_VERSION);
  mlproto_tls_config *v1 = shared_server(s1, 1); /* the field is not read */
  assert_int_equal(resumes_across(cc, a, b), 1);
  assert_int_equal(resumes_across(cc, b, a), 1);
  assert_int_equal(resumes_across(cc, a, a), 1);
  assert_int_equal(resumes_across(cc, a, other), 0);
  assert_int_equal(resumes_across(cc, a, random_keys), 0);
  assert_int_equal(resumes_across(cc, random_keys, a), 0);
  assert_int_equal(resumes_across(cc, a, v1), 0);
  assert_int_equal(resumes_across(cc, v1, v1), 1);
  mlproto_tls_config_free(v1);
  mlproto_tls_config_free(random_keys);
  mlproto_tls_config_free(other);
  mlproto_tls_config_free(b);
  mlproto_tls_config_free(a);
  mlproto_tls_config_free(cc);
}

/* A ticket sealed in the last second of an epoch resumes in the next one,
 * at its own server (which rotated) and at a server configured only in the
 * new epoch (an instance started after the boundary: it derives the
 * previous epoch's key from the secret). Epochs of 6 s here; the test waits
 * for a boundary (~2-8 s), it times nothing. */
static void test_ticket_previous_epoch(void **state) {
  (void)state;
  uint8_t secret[MLPROTO_TLS_TICKET_SECRET_LEN];
  memset(secret, 0x5a, sizeof secret);
  mlproto_tls_config *cc = tl_client_config("localhost", NULL, tl_fingerprint(), 0);
  mlproto_tls_config *a = shared_server_life(secret, MLPROTO_TLS_OPTIONS_VERSION, 6);
  int64_t e = 0;
  size_t len1 = 0, len2 = 0;
  uint8_t *t1 = NULL, *t2 = NULL;
  /* both sealed within the last 2 s of an epoch e (again if the handshakes
   * took longer, as under valgrind) */
  for (int tries = 0; tries < 5; tries++) {
    while (time(NULL) % 6 != 4) usleep(20000);
    e = (int64_t)time(NULL) / 6;
    t1 = ticket_from(cc, a, &len1);
    t2 = ticket_from(cc, a, &len2);
    if ((int64_t)time(NULL) / 6 == e) break;
    mlproto_tls_resume_free(t1, len1);
    mlproto_tls_resume_free(t2, len2);
    t1 = t2 = NULL;
  }
  assert_non_null(t1);
  while ((int64_t)time(NULL) / 6 == e) usleep(20000);
  mlproto_tls_config *b = shared_server_life(secret, MLPROTO_TLS_OPTIONS_VERSION, 6); /* first used in e + 1 */
  assert_int_equal(resumes_with(cc, b, t1, len1), 1);
  assert_int_equal(resumes_with(cc, a, t2, len2), 1);
  mlproto_tls_resume_free(t1, len1);
  mlproto_tls_resume_free(t2, len2);
  mlproto_tls_config_free(b);
  mlproto_tls_config_free(a);
  mlproto_tls_config_free(cc);
}

/* A shared-secret ticket (sealed by tls.c, its age on the wall clock, which
 * every instance shares): within its lifetime it resumes, past it it does
 * not; one whose bytes were changed in transit does not either. */
static void test_shared_ticket_age_and_tamper(void **state) {
  (void)state;
  uint8_t secret[MLPROTO_TLS_TICKET_SECRET_LEN];
  memset(secret, 0x44, sizeof secret);
  mlproto_tls_config *cc = tl_client_config("localhost", NULL, tl_fingerprint(), 0);
  mlproto_tls_config *a = shared_server_life(secret, MLPROTO_TLS_OPTIONS_VERSION, 2);
  mlproto_tls_config *b = shared_server_life(secret, MLPROTO_TLS_OPTIONS_VERSION, 2);
  size_t len = 0, len2 = 0;
  uint8_t *t = ticket_from(cc, a, &len), *t2 = ticket_from(cc, a, &len2);
  assert_int_equal(resumes_with(cc, b, t, len), 1); /* another instance, at once */
  sleep(3);                                          /* past the 2 s lifetime */
  assert_int_equal(resumes_with(cc, b, t2, len2), 0);
  mlproto_tls_resume_free(t, len);
  mlproto_tls_resume_free(t2, len2);
  /* a changed byte: the blob may still parse on the client, the server's
   * seal does not open, and the handshake is a full one */
  t = ticket_from(cc, a, &len);
  int refused = 0, tried = 0;
  for (size_t i = len / 3; i < len && tried < 8; i += len / 9 + 1, tried++) {
    t[i] ^= 0x01;
    tls_link l;
    pair(&l, cc, b);
    if (mlproto_tls_set_resume(l.c, t, len) == MLPROTO_OK) {
      assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
      refused += mlproto_tls_resumed(l.s) == 0;
    } else {
      refused++;
    }
    tl_free(&l);
    t[i] ^= 0x01;
  }
  assert_int_equal(refused, tried);
  assert_int_equal(resumes_with(cc, b, t, len), 1); /* restored: it opens again */
  mlproto_tls_resume_free(t, len);
  mlproto_tls_config_free(b);
  mlproto_tls_config_free(a);
  mlproto_tls_config_free(cc);
}

/* Under a shared secret no TLS 1.2 session gets a ticket (it would carry the
 * master secret under keys derivable from the stored secret forever): a
 * TLS 1.2 client does a full handshake every time, at any instance. */
static void test_shared_secret_no_tls12_tickets(void **state) {
  (void)state;
  uint8_t secret[MLPROTO_TLS_TICKET_SECRET_LEN];
  memset(secret, 0x33, sizeof secret);
  mlproto_tls_config *cc = tl_client_config("localhost", NULL, tl_fingerprint(), MLPROTO_TLS_V12);
  mlproto_tls_config *a = shared_server(secret, MLPROTO_TLS_OPTIONS_VERSION);
  tls_link l;
  pair(&l, cc, a);
  assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
  assert_int_equal(mlproto_tls_version(l.c), MLPROTO_TLS_V12);
  stream(&l, l.c, l.s, 1000, 5);
  uint8_t *blob = NULL;
  size_t len = 0;
  int rc = mlproto_tls_get_resume(l.c, &blob, &len);
  tl_free(&l);
  if (rc == MLPROTO_OK) { /* a session id, not a ticket: still no resumption */
    assert_int_equal(resumes_with(cc, a, blob, len), 0);
    mlproto_tls_resume_free(blob, len);
  } else {
    assert_int_equal(rc, MLPROTO_ERR_NOT_FOUND);
  }
  mlproto_tls_config_free(a);
  mlproto_tls_config_free(cc);
}

static void test_resumption_tls13(void **state) {
  (void)state;
  resumption(0);
}

static void test_resumption_tls12(void **state) {
  (void)state;
  resumption(MLPROTO_TLS_V12);
}

static void test_no_tickets(void **state) {
  (void)state;
  mlproto_tls_config *sc = tl_server_config(0, 0);
  mlproto_tls_config *cc = tl_client_config("localhost", NULL, tl_fingerprint(), 0);
  tls_link l;
  pair(&l, cc, sc);
  assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
  tl_move(&l);
  uint8_t b[16];
  size_t n;
  assert_int_equal(mlproto_tls_read(l.c, b, sizeof b, &n), MLPROTO_TLS_AGAIN);
  uint8_t *blob;
  size_t len;
  assert_int_equal(mlproto_tls_get_resume(l.c, &blob, &len), MLPROTO_ERR_NOT_FOUND);
  unpair(&l, cc, sc);
}

static void test_close_notify(void **state) {
  (void)state;
  mlproto_tls_config *sc = tl_server_config(0, 1);
  mlproto_tls_config *cc = tl_client_config("localhost", NULL, tl_fingerprint(), 0);
  tls_link l;
  pair(&l, cc, sc);
  assert_int_equal(tl_handshake(&l, NULL, NULL), MLPROTO_OK);
  size_t n;
  assert_int_equal(mlproto_tls_write(l.c, "bye", 3, &n), MLPROTO_OK);
  assert_int_equal(mlproto_tls_close_notify(l.c), MLPROTO_OK);
  assert_int_equal(mlproto_tls_close_notify(l.c), MLPROTO_OK);
  assert_int_equal(mlproto_tls_is_closed(l.c), 1);
  assert_int_equal(mlproto_tls_write(l.c, "x", 1, &n), MLPROTO_ERR_TLS_CLOSED);
  tl_move(&l);
  char b[16];
  assert_int_equal(mlproto_tls_read(l.s, b, sizeof b, &n), MLPROTO_OK);
  assert_int_equal(n, 3);
  assert_memory_equal(b, "bye", 3);
  assert_int_equal(mlproto_tls_read(l.s, b, sizeof b, &n), MLPROTO_ERR_TLS_CLOSED);
  assert_int_equal(mlproto_tls_error(l.s), MLPROTO_ERR_TLS_CLOSED);
  assert_int_equal(mlproto_tls_is_closed(l.s), 1);
  unpair(&l, cc, sc);
}

static void test_inbound_cap_and_garbage(void **state) {
  (void)state;
  mlproto_tls_config *sc = tl_server_config(0, 1);
  mlproto_tls *s = session(sc);
  size_t cap = mlproto_tls_inbound_space(s);
  assert_int_equal(cap, MLPROTO_TLS_DEFAULT_MAX_INBOUND);
  uint8_t *junk = calloc(1, cap + 1);
  assert_int_equal(mlproto_tls_feed(s, junk, cap + 1), MLPROTO_ERR_TOO_LARGE);
  assert_int_equal(mlproto_tls_inbound_space(s), cap); /* all or nothing */
  assert_int_equal(mlproto_tls_feed(s, junk, cap), MLPROTO_OK);
  assert_int_equal(mlproto_tls_inbound_space(s), 0);
  assert_int_equal(mlproto_tls_feed(s, junk, 1), MLPROTO_ERR_TOO_LARGE);
  /* zero bytes are not a ClientHello */
  assert_int_equal(mlproto_tls_handshake(s), MLPROTO_ERR_TLS);
  free(junk);
  mlproto_tls_free(s);
  /* an HTTP request sent to the TLS port */
  s = session(sc);
  const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  assert_int_equal(mlproto_tls_feed(s, http, strlen(http)), MLPROTO_OK);
  assert_int_equal(mlproto_tls_handshake(s), MLPROTO_ERR_TLS);
  mlproto_tls_free(s);
  mlproto_tls_config_free(sc);
}

static void test_config_errors(void **state) {
  (void)state;
  mlproto_tls_config *cfg = (mlproto_tls_config *)&cfg;
  mlproto_tls_client_options co = MLPROTO_TLS_CLIENT_OPTIONS_INIT;
  assert_int_equal(mlproto_tls_config_client(&cfg, &co), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_null(cfg);
  co.hostname = "localhost";
  assert_int_equal(mlproto_tls_config_client(&cfg, &co), MLPROTO_ERR_INVALID_ARGUMENT);
  co.pin_sha256 = "abcd";
  assert_int_equal(mlproto_tls_config_client(&cfg, &co), MLPROTO_ERR_INVALID_ARGUMENT);
  char bad[MLPROTO_TLS_FINGERPRINT_HEX_LEN];
  memcpy(bad, tl_fingerprint(), sizeof bad);
  bad[5] = 'g';
  co.pin_sha256 = bad;
  assert_int_equal(mlproto_tls_config_client(&cfg, &co), MLPROTO_ERR_INVALID_ARGUMENT);
  co.pin_sha256 = NULL;
  co.ca_pem = "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n";
  co.ca_pem_len = strlen(co.ca_pem);
  assert_int_equal(mlproto_tls_config_client(&cfg, &co), MLPROTO_ERR_TLS_CERT);
  co.version = 99;
  assert_int_equal(mlproto_tls_config_client(&cfg, &co), MLPROTO_ERR_INVALID_ARGUMENT);

  mlproto_tls_server_options so = MLPROTO_TLS_SERVER_OPTIONS_INIT;
  assert_int_equal(mlproto_tls_config_server(&cfg, &so), MLPROTO_ERR_INVALID_ARGUMENT);
  so.cert_pem = tl_cert();
  so.cert_pem_len = strlen(so.cert_pem) + 1; /* with the NUL is fine too */
  char *other_cert, *other_key;
  int64_t now = (int64_t)time(NULL);
  assert_int_equal(mlproto_tls_selfsigned(&other_cert, &other_key, "other", now, now + 60),
                   MLPROTO_OK);
  so.key_pem = other_key; /* not the certificate's key */
  so.key_pem_len = strlen(other_key);
  assert_int_equal(mlproto_tls_config_server(&cfg, &so), MLPROTO_ERR_TLS_CERT);
  so.key_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  so.key_pem_len = strlen(so.key_pem);
  assert_int_equal(mlproto_tls_config_server(&cfg, &so), MLPROTO_ERR_TLS_CERT);
  so.key_pem = tl_key();
  so.key_pem_len = strlen(so.key_pem);
  so.min_version = 0x0301;
  assert_int_equal(mlproto_tls_config_server(&cfg, &so), MLPROTO_ERR_INVALID_ARGUMENT);
  so.min_version = 0;
  assert_int_equal(mlproto_tls_config_server(&cfg, &so), MLPROTO_OK);
  mlproto_tls_config_free(cfg);
  mlproto_tls_config_free(NULL);
  mlproto_tls_free(NULL);
  mlproto_tls_pem_free(other_cert);
  mlproto_tls_pem_free(other_key);
}

static void test_selfsigned_and_fingerprint(void **state) {
  (void)state;
  char *c, *k;
  assert_int_equal(mlproto_tls_selfsigned(&c, &k, "", 0, 10), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_null(c);
  assert_int_equal(mlproto_tls_selfsigned(&c, &k, "a,b", 0, 10), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_tls_selfsigned(&c, &k, "a b", 0, 10), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(mlproto_tls_selfsigned(&c, &k, "ok", 10, 10), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(tl_cert(), "-----BEGIN CERTIFICATE-----"));
  assert_non_null(strstr(tl_key(), "PRIVATE KEY-----"));
  const char *fp = tl_fingerprint();
  assert_int_equal(strlen(fp), 64);
  for (size_t i = 0; i < 64; i++)
    assert_true((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'a' && fp[i] <= 'f'));
  char out[MLPROTO_TLS_FINGERPRINT_HEX_LEN];
  assert_int_equal(mlproto_tls_cert_fingerprint(out, "garbage", 7), MLPROTO_ERR_TLS_CERT);
  assert_int_equal(mlproto_tls_cert_fingerprint(out, "", 0), MLPROTO_ERR_INVALID_ARGUMENT);

  /* cross-check with openssl when it is installed: same digits, no colons */
  if (access("/usr/bin/openssl", X_OK) != 0)
    return;
  char path[] = "/tmp/ml_test_tls_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char *cert = tl_cert(); /* a certificate is public; the key never goes to disk */
  assert_int_equal(write(fd, cert, strlen(cert)), (ssize_t)strlen(cert));
  close(fd);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "/usr/bin/openssl x509 -noout -fingerprint -sha256 -in %s", path);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  char line[256] = "";
  assert_non_null(fgets(line, sizeof line, p));
  pclose(p);
  unlink(path);
  char *eq = strchr(line, '=');
  assert_non_null(eq);
  char digits[65];
  size_t n = 0;
  for (char *q = eq + 1; *q && *q != '\n' && n < 64; q++)
    if (*q != ':')
      digits[n++] = (char)(*q >= 'A' && *q <= 'F' ? *q + 32 : *q);
  digits[n] = '\0';
  assert_string_equal(digits, fp);
}

/* Every allocation of ours fails in turn: errors, never leaks or crashes. */
static void test_out_of_memory(void **state) {
  (void)state;
  const char *cert = tl_cert(), *key = tl_key(), *fp = tl_fingerprint();
  (void)cert;
  (void)key;
  int succeeded = 0;
  for (int k = 0; k < 200 && !succeeded; k++) {
    mlproto_set_allocator(&tu_oom_allocator);
    tu_oom_budget = k;
    mlproto_tls_server_options so = MLPROTO_TLS_SERVER_OPTIONS_INIT;
    so.cert_pem = tl_cert();
    so.cert_pem_len = strlen(so.cert_pem);
    so.key_pem = tl_key();
    so.key_pem_len = strlen(so.key_pem);
    mlproto_tls_client_options co = MLPROTO_TLS_CLIENT_OPTIONS_INIT;
    co.hostname = "localhost";
    co.pin_sha256 = fp;
    mlproto_tls_config *sc = NULL, *cc = NULL;
    mlproto_tls *c = NULL, *s = NULL;
    int rc = mlproto_tls_config_server(&sc, &so);
    if (!rc)
      rc = mlproto_tls_config_client(&cc, &co);
    if (!rc)
      rc = mlproto_tls_new(&c, cc);
    if (!rc)
      rc = mlproto_tls_new(&s, sc);
    if (!rc) {
      tls_link l;
      tl_init(&l, c, s);
      mlproto_set_allocator(NULL); /* the link's own queues are not under test */
      long saved = tu_oom_budget;
      mlproto_set_allocator(&tu_oom_allocator);
      tu_oom_budget = saved;
      int rc_c = MLPROTO_TLS_AGAIN, rc_s = MLPROTO_TLS_AGAIN;
      for (int i = 0; i < 50 && (rc_c > 0 || rc_s > 0); i++) {
        if (rc_c > 0)
          rc_c = mlproto_tls_handshake(c);
        if (rc_s > 0)
          rc_s = mlproto_tls_handshake(s);
        long cd = tu_oom_budget;
        tu_oom_budget = -1;
        uint8_t *d;
        size_t n;
        mlproto_tls_take_output(c, &d, &n);
        if (n && mlproto_tls_feed(s, d, n) != MLPROTO_OK)
          rc_s = MLPROTO_ERR_OUT_OF_MEMORY;
        mlproto_tls_output_free(d);
        mlproto_tls_take_output(s, &d, &n);
        if (n && mlproto_tls_feed(c, d, n) != MLPROTO_OK)
          rc_c = MLPROTO_ERR_OUT_OF_MEMORY;
        mlproto_tls_output_free(d);
        tu_oom_budget = cd;
      }
      rc = rc_c < 0 ? rc_c : rc_s;
      if (rc == MLPROTO_OK)
        succeeded = 1;
      else
        assert_true(rc == MLPROTO_ERR_OUT_OF_MEMORY || rc == MLPROTO_ERR_TLS);
      mlproto_set_allocator(NULL);
      tl_free(&l);
      c = s = NULL;
    } else {
      assert_int_equal(rc, MLPROTO_ERR_OUT_OF_MEMORY);
    }
    mlproto_set_allocator(NULL);
    mlproto_tls_free(c);
    mlproto_tls_free(s);
    mlproto_tls_config_free(cc);
    mlproto_tls_config_free(sc);
  }
  mlproto_set_allocator(NULL);
  assert_true(succeeded);
}

static int teardown(void **state) {
  (void)state;
  tl_free_globals();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_tls13),
      cmocka_unit_test(test_data_both_ways),
      cmocka_unit_test(test_write_blocks_and_resumes),
      cmocka_unit_test(test_pin_mismatch),
      cmocka_unit_test(test_untrusted_ca),
      cmocka_unit_test(test_wrong_hostname),
      cmocka_unit_test(test_trust_modes),
      cmocka_unit_test(test_tls12_forced),
      cmocka_unit_test(test_tls12_cbc_only_refused),
      cmocka_unit_test(test_renegotiation_refused),
      cmocka_unit_test(test_resumption_tls13),
      cmocka_unit_test(test_shared_ticket_secret),
      cmocka_unit_test(test_ticket_previous_epoch),
      cmocka_unit_test(test_shared_secret_no_tls12_tickets),
      cmocka_unit_test(test_shared_ticket_age_and_tamper),
      cmocka_unit_test(test_resumption_tls12),
      cmocka_unit_test(test_no_tickets),
      cmocka_unit_test(test_close_notify),
      cmocka_unit_test(test_inbound_cap_and_garbage),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_selfsigned_and_fingerprint),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, teardown);
}
