/*
 * tls_link.h — test helper: two TLS sessions wired together through two
 * in-memory byte queues (no sockets), moving bytes in odd-sized pieces.
 */
#ifndef ML_TEST_TLS_LINK_H
#define ML_TEST_TLS_LINK_H

#include "mlproto/tls.h"
#include "mlproto/util.h"

typedef struct tls_link {
  mlproto_tls *c, *s;
  mlproto_buf c2s, s2c; /* taken output not yet fed */
  size_t piece;         /* bytes fed per step; 0: as much as fits */
  unsigned step;
} tls_link;

/* Fresh cert/key/fingerprint for "localhost", generated once per process. */
const char *tl_cert(void);
const char *tl_key(void);
const char *tl_fingerprint(void);
void tl_free_globals(void);

mlproto_tls_config *tl_server_config(unsigned min_version, int tickets);
mlproto_tls_config *tl_client_config(const char *hostname, const char *ca, const char *pin,
                                     unsigned max_version);

void tl_init(tls_link *l, mlproto_tls *c, mlproto_tls *s);
void tl_free(tls_link *l); /* frees the queues and both sessions */
/* Moves output of each side into the other's input; returns bytes moved. */
size_t tl_move(tls_link *l);
/* Runs both handshakes to completion. Returns MLPROTO_OK, or the first
 * negative code (client's first), or MLPROTO_ERR_INTERNAL on a stall. */
int tl_handshake(tls_link *l, int *client_rc, int *server_rc);

#endif
