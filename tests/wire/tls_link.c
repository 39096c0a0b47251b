#include "tls_link.h"

#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *g_cert, *g_key;
static char g_fp[MLPROTO_TLS_FINGERPRINT_HEX_LEN];

static void make_globals(void) {
  if (g_cert)
    return;
  int64_t now = (int64_t)time(NULL);
  assert_int_equal(mlproto_tls_selfsigned(&g_cert, &g_key, "localhost", now - 3600,
                                          now + 30 * 86400),
                   MLPROTO_OK);
  assert_int_equal(mlproto_tls_cert_fingerprint(g_fp, g_cert, strlen(g_cert)), MLPROTO_OK);
}

const char *tl_cert(void) {
  make_globals();
  return g_cert;
}
const char *tl_key(void) {
  make_globals();
  return g_key;
}
const char *tl_fingerprint(void) {
  make_globals();
  return g_fp;
}

void tl_free_globals(void) {
  mlproto_tls_pem_free(g_cert);
  mlproto_tls_pem_free(g_key);
  g_cert = g_key = NULL;
}

mlproto_tls_config *tl_server_config(unsigned min_version, int tickets) {
  mlproto_tls_server_options o = MLPROTO_TLS_SERVER_OPTIONS_INIT;
  o.cert_pem = tl_cert();
  o.cert_pem_len = strlen(o.cert_pem);
  o.key_pem = tl_key();
  o.key_pem_len = strlen(o.key_pem);
  o.min_version = min_version;
  o.no_tickets = !tickets;
  mlproto_tls_config *cfg = NULL;
  assert_int_equal(mlproto_tls_config_server(&cfg, &o), MLPROTO_OK);
  return cfg;
}

mlproto_tls_config *tl_client_config(const char *hostname, const char *ca, const char *pin,
                                     unsigned max_version) {
  mlproto_tls_client_options o = MLPROTO_TLS_CLIENT_OPTIONS_INIT;
  o.hostname = hostname;
  o.ca_pem = ca;
  o.ca_pem_len = ca ? strlen(ca) : 0;
  o.pin_sha256 = pin;
  o.max_version = max_version;
  mlproto_tls_config *cfg = NULL;
  assert_int_equal(mlproto_tls_config_client(&cfg, &o), MLPROTO_OK);
  return cfg;
}

void tl_init(tls_link *l, mlproto_tls *c, mlproto_tls *s) {
  memset(l, 0, sizeof *l);
  l->c = c;
  l->s = s;
  mlproto_buf_init(&l->c2s, SIZE_MAX);
  mlproto_buf_init(&l->s2c, SIZE_MAX);
}

void tl_free(tls_link *l) {
  mlproto_buf_free(&l->c2s);
  mlproto_buf_free(&l->s2c);
  mlproto_tls_free(l->c);
  mlproto_tls_free(l->s);
}

static size_t move_one(tls_link *l, mlproto_tls *from, mlproto_buf *q, mlproto_tls *to) {
  uint8_t *d;
  size_t n;
  mlproto_tls_take_output(from, &d, &n);
  if (n)
    assert_int_equal(mlproto_buf_append(q, d, n), MLPROTO_OK);
  mlproto_tls_output_free(d);
  size_t moved = 0;
  while (q->len) {
    size_t room = mlproto_tls_inbound_space(to);
    size_t k = q->len < room ? q->len : room;
    if (l->piece) {
      /* odd piece sizes: 1, piece, 3, piece+7, ... exercise every split */
      size_t want = (l->step++ % 4 == 0) ? 1 + l->step % 5 : l->piece + l->step % 11;
      if (want < k)
        k = want;
    }
    if (k == 0)
      break;
    assert_int_equal(mlproto_tls_feed(to, q->data, k), MLPROTO_OK);
    mlproto_buf_consume(q, k);
    moved += k;
    if (l->piece)
      break; /* one piece per step: the receiver runs in between */
  }
  return moved + n;
}

size_t tl_move(tls_link *l) {
  return move_one(l, l->c, &l->c2s, l->s) + move_one(l, l->s, &l->s2c, l->c);
}

int tl_handshake(tls_link *l, int *client_rc, int *server_rc) {
  int rc_c = MLPROTO_TLS_AGAIN, rc_s = MLPROTO_TLS_AGAIN;
  for (int i = 0; i < 100000; i++) {
    if (rc_c > 0)
      rc_c = mlproto_tls_handshake(l->c);
    if (rc_s > 0)
      rc_s = mlproto_tls_handshake(l->s);
    size_t moved = tl_move(l);
    if (rc_c < 0 || rc_s < 0) {
      /* let the alert reach the other side */
      if (rc_c > 0)
        rc_c = mlproto_tls_handshake(l->c);
      if (rc_s > 0)
        rc_s = mlproto_tls_handshake(l->s);
      break;
    }
    if (rc_c == MLPROTO_OK && rc_s == MLPROTO_OK)
      break;
    if (moved == 0 && l->c2s.len == 0 && l->s2c.len == 0)
      break;
  }
  if (client_rc)
    *client_rc = rc_c;
  if (server_rc)
    *server_rc = rc_s;
  if (rc_c < 0)
    return rc_c;
  if (rc_s < 0)
    return rc_s;
  return rc_c == MLPROTO_OK && rc_s == MLPROTO_OK ? MLPROTO_OK : MLPROTO_ERR_INTERNAL;
}
