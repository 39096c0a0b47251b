/* netaddr.c — the server's URL, a certificate pin and a CA file as a user
 * gives them (netaddr.h). */
#include "netaddr.h"

#include "mlproto/errors.h"
#include "mlproto/tls.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int ml_parse_url(const char *url, char *host, size_t cap, uint16_t *port, char *norm, size_t cap_norm,
                 const char **why) {
  static const char scheme[] = "https://";
  *why = NULL;
  if (strncasecmp(url, scheme, sizeof scheme - 1) != 0) {
    *why = "expected https://HOST:PORT (the server speaks HTTPS only)";
    return -1;
  }
  const char *p = url + sizeof scheme - 1, *h, *end;
  bool v6 = *p == '[';
  if (v6) {
    h = p + 1;
    if (!(end = strchr(h, ']'))) {
      *why = "an IPv6 address needs its closing ']'";
      return -1;
    }
    p = end + 1;
  } else {
    h = p;
    end = p + strcspn(p, ":/?#@");
    p = end;
  }
  size_t hl = (size_t)(end - h);
  if (hl == 0 || hl >= cap || hl > 253) {
    *why = hl == 0 ? "the host is missing" : "the host is too long";
    return -1;
  }
  for (const char *q = h; q < end; q++)
    if (!(isalnum((unsigned char)*q) || *q == '.' || *q == '-' || (v6 && *q == ':'))) {
      *why = "the host may hold only letters, digits, '.' and '-' (an IPv6 address in [brackets])";
      return -1;
    }
  unsigned long pn = 443;
  if (*p == ':') {
    char *e;
    errno = 0;
    if (!isdigit((unsigned char)p[1]) || (pn = strtoul(p + 1, &e, 10), errno) || pn == 0 || pn > 65535) {
      *why = "the port must be 1..65535";
      return -1;
    }
    p = e;
  }
  if (*p == '/')
    p++;
  if (*p) {
    *why = "expected https://HOST:PORT, without a path, query or user";
    return -1;
  }
  memcpy(host, h, hl);
  host[hl] = 0;
  *port = (uint16_t)pn;
  if (norm && (size_t)snprintf(norm, cap_norm, v6 ? "https://[%s]:%lu" : "https://%s:%lu", host, pn) >= cap_norm) {
    *why = "the URL is too long";
    return -1;
  }
  return 0;
}

int ml_parse_pin(const char *in, char out[7 + 64 + 1]) {
  if (strncasecmp(in, "sha256:", 7) == 0)
    in += 7;
  memcpy(out, "sha256:", 7);
  size_t n = 0;
  for (const char *p = in; *p; p++) {
    if (*p == ':')
      continue;
    if (!isxdigit((unsigned char)*p) || n == 64)
      return -1;
    out[7 + n++] = (char)tolower((unsigned char)*p);
  }
  out[7 + n] = 0;
  return n == 64 ? 0 : -1;
}

int ml_ca_read(const char *path, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return MLPROTO_ERR_IO;
  size_t cap = MLPROTO_TLS_MAX_PEM + 1, n = 0;
  char *buf = malloc(cap);
  if (buf)
    n = fread(buf, 1, cap, f);
  int err = !buf ? MLPROTO_ERR_OUT_OF_MEMORY : ferror(f) ? MLPROTO_ERR_IO : 0;
  int saved = errno;
  fclose(f);
  errno = saved;
  if (!err && n == 0)
    err = MLPROTO_ERR_FIELD_MISSING;
  if (!err && n >= cap)
    err = MLPROTO_ERR_TOO_LARGE;
  if (err) {
    free(buf);
    return err;
  }
  *out = buf;
  *len = n;
  return 0;
}
