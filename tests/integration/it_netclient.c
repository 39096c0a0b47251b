/* it_netclient.c — see it_netclient.h. */
#include "it_netclient.h"

#include "testutil.h"

#include <stdlib.h>
#include <string.h>

ml_netclient *it_client(ih_server *s) {
  ml_netclient_options o = ML_NETCLIENT_OPTIONS_INIT;
  o.host = s->host;
  o.port = (uint16_t)s->port;
  o.pin_sha256 = s->fingerprint;
  ml_netclient *c = NULL;
  assert_int_equal(ml_netclient_open(&c, &o), MLPROTO_OK);
  return c;
}

char *it_get_checkpoint(ih_server *s, size_t *len) {
  ml_netclient *c = it_client(s);
  ml_netclient_response r;
  assert_int_equal(ml_netclient_request(c, "GET", "/v1/log/checkpoint", NULL, 0, NULL, 0, &r), 0);
  assert_int_equal(r.status, 200);
  char *n = malloc(r.body_len + 1);
  assert_non_null(n);
  memcpy(n, r.body, r.body_len);
  n[r.body_len] = 0;
  *len = r.body_len;
  ml_netclient_response_free(&r);
  ml_netclient_close(c);
  return n;
}
