/* proxy.c — the PROXY protocol header, v1 and v2 (mlproto/proxy.h). */
#include "mlproto/proxy.h"

#include <arpa/inet.h>
#include <string.h>

static const uint8_t V2_SIG[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
static const char V1_SIG[] = "PROXY ";

static int bad(mlproto_proxy_header *out) {
  memset(out, 0, sizeof *out);
  return MLPROTO_ERR_PROXY_HEADER;
}

/* "0".."65535", no leading zero. */
static int parse_port(const char *s, size_t n, uint16_t *out) {
  if (n == 0 || n > 5 || (n > 1 && s[0] == '0')) return -1;
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v > 65535) return -1;
  *out = (uint16_t)v;
  return 0;
}

static int parse_addr(int family, const char *s, size_t n, uint8_t *out) {
  char tmp[64];
  if (n == 0 || n >= sizeof tmp) return -1;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  return inet_pton(family == 4 ? AF_INET : AF_INET6, tmp, out) == 1 ? 0 : -1;
}

static int parse_v1(mlproto_proxy_header *out, size_t *used, const uint8_t *buf, size_t len) {
  size_t end = 0; /* index of the '\r' of the CRLF */
  size_t lim = len < MLPROTO_PROXY_V1_MAX ? len : MLPROTO_PROXY_V1_MAX;
  for (size_t i = 0; i + 1 < lim; i++) {
    if (buf[i] == '\r') {
      if (buf[i + 1] != '\n') return bad(out);
      end = i;
      break;
    }
    if (buf[i] == '\n' || buf[i] < 0x20 || buf[i] > 0x7e) return bad(out);
  }
  if (!end) {
    /* a lone '\r' last: wait for its '\n' */
    if (len < MLPROTO_PROXY_V1_MAX) {
      for (size_t i = 0; i < len; i++)
        if ((buf[i] < 0x20 || buf[i] > 0x7e) && !(buf[i] == '\r' && i + 1 == len)) return bad(out);
      return MLPROTO_OK;
    }
    return bad(out);
  }
  const char *line = (const char *)buf + 6, *stop = (const char *)buf + end;
  memset(out, 0, sizeof *out);
  out->version = 1;
  if ((size_t)(stop - line) >= 7 && memcmp(line, "UNKNOWN", 7) == 0 &&
      (stop - line == 7 || line[7] == ' ')) {
    /* the rest of the line is ignored (the spec's own words) */
    out->local = 1;
    *used = end + 2;
    return MLPROTO_OK;
  }
  /* the fields, split on single spaces */
  const char *f[5];
  size_t fl[5];
  int nf = 0;
  const char *p = line;
  while (p <= stop && nf < 6) {
    const char *q = p;
    while (q < stop && *q != ' ') q++;
    if (nf == 5) return bad(out); /* a sixth field */
    f[nf] = p;
    fl[nf] = (size_t)(q - p);
    nf++;
    if (q == stop) break;
    p = q + 1;
  }
  if (nf != 5 || fl[0] != 4 || memcmp(f[0], "TCP", 3) != 0 || (f[0][3] != '4' && f[0][3] != '6'))
    return bad(out);
  int fam = f[0][3] == '4' ? 4 : 6;
  for (int i = 1; i < 5; i++)
    if (fl[i] == 0) return bad(out); /* two spaces */
  if (parse_addr(fam, f[1], fl[1], out->src) || parse_addr(fam, f[2], fl[2], out->dst) ||
      parse_port(f[3], fl[3], &out->src_port) || parse_port(f[4], fl[4], &out->dst_port))
    return bad(out);
  out->family = fam;
  *used = end + 2;
  return MLPROTO_OK;
}

static int parse_v2(mlproto_proxy_header *out, size_t *used, const uint8_t *buf, size_t len) {
  if (len < 16) return MLPROTO_OK;
  uint8_t ver = buf[12] >> 4, cmd = buf[12] & 0x0f, fam = buf[13];
  size_t body = ((size_t)buf[14] << 8) | buf[15];
  if (ver != 2 || cmd > 1 || 16 + body > MLPROTO_PROXY_MAX_HEADER) return bad(out);
  size_t need = 0;
  int family = 0;
  /* LOCAL (the balancer's own connection, a health check): the family and
   * the address block are to be ignored, whatever they are (spec §2.2) */
  if (cmd == 1) {
    switch (fam) {
    case 0x00: need = 0; break;
    case 0x11: need = 12; family = 4; break;
    case 0x21: need = 36; family = 6; break;
    default: return bad(out); /* UDP, UNIX sockets, unknown */
    }
  }
  if (body < need) return bad(out);
  if (len < 16 + body) return MLPROTO_OK;
  memset(out, 0, sizeof *out);
  out->version = 2;
  if (cmd == 0 || fam == 0x00) {
    out->local = 1;
  } else {
    const uint8_t *a = buf + 16;
    size_t al = family == 4 ? 4 : 16;
    out->family = family;
    memcpy(out->src, a, al);
    memcpy(out->dst, a + al, al);
    out->src_port = (uint16_t)((a[2 * al] << 8) | a[2 * al + 1]);
    out->dst_port = (uint16_t)((a[2 * al + 2] << 8) | a[2 * al + 3]);
  }
  *used = 16 + body;
  return MLPROTO_OK;
}

int mlproto_proxy_parse(mlproto_proxy_header *out, size_t *used, const uint8_t *buf, size_t len) {
  if (!out || !used || (!buf && len)) return MLPROTO_ERR_INVALID_ARGUMENT;
  *used = 0;
  memset(out, 0, sizeof *out);
  if (len == 0) return MLPROTO_OK;
  if (buf[0] == 'P') {
    size_t n = len < 6 ? len : 6;
    if (memcmp(buf, V1_SIG, n) != 0) return bad(out);
    if (len < 6) return MLPROTO_OK;
    return parse_v1(out, used, buf, len);
  }
  if (buf[0] == V2_SIG[0]) {
    size_t n = len < 12 ? len : 12;
    if (memcmp(buf, V2_SIG, n) != 0) return bad(out);
    return parse_v2(out, used, buf, len);
  }
  return bad(out);
}

int mlproto_cidr_parse(mlproto_cidr *out, const char *text) {
  if (!out) return MLPROTO_ERR_INVALID_ARGUMENT;
  memset(out, 0, sizeof *out);
  if (!text) return MLPROTO_ERR_INVALID_ARGUMENT;
  char a[64];
  const char *slash = strchr(text, '/');
  size_t n = slash ? (size_t)(slash - text) : strlen(text);
  if (n == 0 || n >= sizeof a) return MLPROTO_ERR_INVALID_ARGUMENT;
  memcpy(a, text, n);
  a[n] = '\0';
  mlproto_cidr c = {0};
  if (inet_pton(AF_INET, a, c.addr) == 1) c.family = 4;
  else if (inet_pton(AF_INET6, a, c.addr) == 1) c.family = 6;
  else return MLPROTO_ERR_INVALID_ARGUMENT;
  unsigned max = c.family == 4 ? 32 : 128;
  c.bits = max;
  if (slash) {
    const char *b = slash + 1;
    size_t bl = strlen(b);
    if (bl == 0 || bl > 3 || (bl > 1 && b[0] == '0')) return MLPROTO_ERR_INVALID_ARGUMENT;
    unsigned v = 0;
    for (size_t i = 0; i < bl; i++) {
      if (b[i] < '0' || b[i] > '9') return MLPROTO_ERR_INVALID_ARGUMENT;
      v = v * 10 + (unsigned)(b[i] - '0');
    }
    if (v > max) return MLPROTO_ERR_INVALID_ARGUMENT;
    c.bits = v;
  }
  /* host bits must be zero */
  for (unsigned i = c.bits; i < max; i++)
    if (c.addr[i / 8] & (0x80u >> (i % 8))) return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = c;
  return MLPROTO_OK;
}

int mlproto_cidr_match(const mlproto_cidr *c, int family, const uint8_t *addr) {
  if (!c || !addr || (family != 4 && family != 6)) return 0;
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (family == 6 && c->family == 4 && memcmp(addr, mapped, 12) == 0) {
    family = 4;
    addr += 12;
  }
  if (family != c->family) return 0;
  unsigned full = c->bits / 8, rest = c->bits % 8;
  if (memcmp(addr, c->addr, full) != 0) return 0;
  if (rest) {
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    if ((addr[full] & mask) != (c->addr[full] & mask)) return 0;
  }
  return 1;
}
