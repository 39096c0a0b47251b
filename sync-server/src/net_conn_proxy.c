/* net_conn_proxy.c — a new connection's address: its own peer, or the
 * client named by the PROXY header (mlproto/proxy.h) of a --proxy-protocol
 * balancer, read before TLS; then the per-address admission. */
#include "net_conn_int.h"

#include "mlproto/proxy.h"

/* The connection's own peer address: as text in c->peer, and as family (4,
 * 6; 0 unknown) and bytes for --proxy-protocol's ranges. */
int mls__conn_peer_name(struct mls_conn *c, uint8_t addr[16]) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  c->peer[0] = '\0';
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) return 0;
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    uv_ip4_name(a, c->peer, sizeof c->peer);
    memcpy(addr, &a->sin_addr, 4);
    return 4;
  }
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    uv_ip6_name(a, c->peer, sizeof c->peer);
    memcpy(addr, &a->sin6_addr, 16);
    return 6;
  }
  return 0;
}

int mls__conn_proxy_trusted(const mls_server *s, int family, const uint8_t *addr) {
  for (unsigned i = 0; i < s->opt.n_proxy_from; i++)
    if (mlproto_cidr_match(&s->opt.proxy_from[i], family, addr)) return 1;
  return 0;
}

/* Counts c under the address key of c->peer (--max-conns-per-address):
 * 0, or -1 with c closed (over the cap, or no memory). */
int mls__conn_admit_address(struct mls_conn *c) {
  mls_server *s = c->srv;
  uint8_t key[MLS_LIMIT_KEY_MAX];
  size_t key_len = mls_addr_key(key, c->peer);
  c->addr = mls__addr_join(s, key, key_len);
  unsigned same = c->addr ? c->addr->count : 0;
  if (same == 0 || same > s->opt.max_conns_per_address) {
    /* Closed before TLS, like the global cap: an HTTP 503 would first need
     * the handshake this cap exists to save. */
    mls_metrics_conn_refused();
    mls__net_log("warn", "connection_refused", "conn=%llu reason=%s", (unsigned long long)c->id,
                 same ? "max_conns_per_address" : "out_of_memory");
    mls__conn_close(c);
    return -1;
  }
  return 0;
}

/* Bytes of a balancer's connection before its PROXY header is complete.
 * The header names the client: from then on c->peer is that address, for
 * the logs and every per-address limit. A LOCAL header (the balancer's own
 * health check) keeps the balancer's address. */
void mls__conn_proxy_read(struct mls_conn *c, ssize_t nread) {
  if (nread < 0) {
    if (nread != UV_EOF || c->proxy_have)
      mls__net_log("warn", "proxy_header_invalid", "conn=%llu peer=%s reason=%s bytes=%zu",
                   (unsigned long long)c->id, c->peer, nread == UV_EOF ? "eof" : uv_err_name((int)nread),
                   c->proxy_have);
    mls__conn_close(c);
    return;
  }
  c->proxy_have += (size_t)nread;
  mlproto_proxy_header h;
  size_t used;
  int rc = mlproto_proxy_parse(&h, &used, c->proxy_buf, c->proxy_have);
  if (rc == MLPROTO_OK && used == 0) return; /* more to come (the parser caps it) */
  if (rc != MLPROTO_OK) {
    mls__net_log("warn", "proxy_header_invalid", "conn=%llu peer=%s reason=malformed bytes=%zu",
                 (unsigned long long)c->id, c->peer, c->proxy_have);
    mls__conn_close(c);
    return;
  }
  if (!h.local) {
    char text[INET6_ADDRSTRLEN];
    if (uv_inet_ntop(h.family == 4 ? AF_INET : AF_INET6, h.src, text, sizeof text) != 0) {
      mls__conn_close(c);
      return;
    }
    memcpy(c->peer, text, sizeof text);
  }
  c->proxy_wait = 0;
  if (mls__conn_admit_address(c) != 0) return;
  /* what came after the header in the same reads is the client's TLS */
  size_t rest = c->proxy_have - used;
  if (rest && mlproto_tls_feed(c->tls, c->proxy_buf + used, rest) != MLPROTO_OK) {
    mls__conn_close(c);
    return;
  }
  mlproto_free(c->proxy_buf);
  c->proxy_buf = NULL;
  c->proxy_have = 0;
  mls__conn_pump(c);
}
