/*
 * mlproto/proxy.h — the PROXY protocol header (versions 1 and 2) that a
 * load balancer in TCP mode sends before the client's first byte, and the
 * address ranges a server trusts to send it.
 *
 * Why: behind HAProxy every connection comes from the balancer's address,
 * so every per-address limit of the server (connections, in-flight bytes,
 * unauthenticated request rate, failed tokens) would count all clients as
 * one. With `serve --proxy-protocol CIDR`, a connection from CIDR must start
 * with this header and the server counts the client's address it names.
 * A connection from anywhere else must not: its first bytes go to TLS, so a
 * client cannot choose the address it is counted under.
 *
 * The specification is HAProxy's "The PROXY protocol, versions 1 & 2"
 * (haproxy.org/download/2.8/doc/proxy-protocol.txt). What is accepted:
 *
 *   v1  "PROXY TCP4 SRC DST SPORT DPORT\r\n", "PROXY TCP6 ...\r\n" (single
 *       spaces, addresses in their textual form for the family, ports
 *       0..65535 in decimal without leading zeros), or "PROXY UNKNOWN" up to
 *       "\r\n" (then the connection's own address counts); at most 107 bytes
 *       with the CRLF.
 *   v2  the 12-byte signature, version 2, command LOCAL (a balancer's own
 *       health check: the connection's own address counts, any address
 *       block ignored) or PROXY; family TCP over IPv4 (0x11, 12 address
 *       bytes) or IPv6 (0x21, 36), or UNSPEC (0x00: as LOCAL); UDP and UNIX
 *       sockets are refused. TLVs after the addresses are skipped unread.
 *       A header's length (16 + the length field) above
 *       MLPROTO_PROXY_MAX_HEADER is refused.
 *
 * Everything else — a missing header, another first byte, a v1 line
 * without CRLF within 107 bytes, version 1 with a v2 command, a bad address
 * — is MLPROTO_ERR_PROXY_HEADER. Pure: no I/O, no allocation, thread-safe.
 */
#ifndef MLPROTO_PROXY_H
#define MLPROTO_PROXY_H

#include "mlproto/common.h"
#include "mlproto/errors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The longest header accepted: v2's 16 bytes and up to 1 KiB of addresses
 * and TLVs (HAProxy sends 28 or 52 without TLVs); v1's is 107. A server
 * can hold the bytes of an incomplete header in a buffer of this size. */
#define MLPROTO_PROXY_MAX_HEADER (16u + 1024u)
#define MLPROTO_PROXY_V1_MAX 107u

typedef struct mlproto_proxy_header {
  int version;      /* 1 or 2 */
  int local;        /* 1: no client address (v2 LOCAL or UNSPEC, v1
                       UNKNOWN): count the connection's own address */
  int family;       /* when !local: 4 or 6 */
  uint8_t src[16];  /* the client's address: 4 or 16 bytes, network order */
  uint8_t dst[16];  /* the address the client connected to */
  uint16_t src_port, dst_port;
} mlproto_proxy_header;

/* Parses the header at the start of buf[0..len). Returns:
 *   MLPROTO_OK, *used > 0    a whole header of *used bytes; *out filled.
 *                            The bytes after it are the client's (TLS).
 *   MLPROTO_OK, *used == 0   buf is a proper prefix of a header that may
 *                            still be valid: call again with more bytes.
 *   MLPROTO_ERR_PROXY_HEADER not a header (see above); *out zeroed.
 *   MLPROTO_ERR_INVALID_ARGUMENT  NULL out or used (or buf with len > 0).
 * Deterministic in its input; never reads past buf[len). */
int mlproto_proxy_parse(mlproto_proxy_header *out, size_t *used,
                        const uint8_t *buf, size_t len);

/* An address range: family 4 or 6, the network's bytes, a prefix length
 * (0..32 or 0..128). */
typedef struct mlproto_cidr {
  int family;
  uint8_t addr[16];
  unsigned bits;
} mlproto_cidr;

/* Parses "192.0.2.0/24", "2001:db8::/32", or a bare address (a /32 or
 * /128). Bits below the prefix must be zero ("10.0.0.1/8" is refused: it
 * is probably a typo for the host). MLPROTO_ERR_INVALID_ARGUMENT on
 * anything else; *out zeroed then. */
int mlproto_cidr_parse(mlproto_cidr *out, const char *text);

/* 1 when the address (family 4 or 6, 4 or 16 bytes) is inside c. An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches IPv4 ranges as its
 * IPv4 address. */
int mlproto_cidr_match(const mlproto_cidr *c, int family, const uint8_t *addr);

#ifdef __cplusplus
}
#endif
#endif
