/* net_util.c — option parsing helpers; the network half logs through log_fmt.h. */
#include "net.h"
#include "log_fmt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static int parse_u64(const char *s, const char **end, uint64_t *out) {
  if (*s < '0' || *s > '9') return -1;
  uint64_t v = 0;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (UINT64_MAX - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *end = s;
  *out = v;
  return 0;
}

int mls__net_parse_addr(const char *s, struct sockaddr_storage *out) {
  char host[64];
  const char *colon;
  if (!s || strlen(s) >= sizeof host + 8) return -1;
  memset(out, 0, sizeof *out);
  if (s[0] == '[') {
    const char *rb = strchr(s, ']');
    if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof host) return -1;
    memcpy(host, s + 1, (size_t)(rb - s - 1));
    host[rb - s - 1] = '\0';
    colon = rb + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host || colon == s) return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
  }
  const char *end;
  uint64_t port;
  if (parse_u64(colon + 1, &end, &port) || *end || port > 65535) return -1;
  if (s[0] == '[') {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0 : -1;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)out;
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

int mls__net_parse_duration_ms(const char *s, uint64_t *out) {
  const char *end;
  uint64_t v, mul;
  if (!s || parse_u64(s, &end, &v)) return -1;
  if (*end == '\0' || strcmp(end, "s") == 0) mul = 1000;
  else if (strcmp(end, "ms") == 0) mul = 1;
  else if (strcmp(end, "m") == 0) mul = 60000;
  else if (strcmp(end, "h") == 0) mul = 3600000;
  else return -1;
  if (v > UINT64_MAX / mul / 1000) return -1;
  *out = v * mul;
  return 0;
}

int mls__net_parse_size(const char *s, size_t *out) {
  const char *end;
  uint64_t v, mul = 1;
  if (!s || parse_u64(s, &end, &v)) return -1;
  if (*end == 'K' || *end == 'k') mul = 1024, end++;
  else if (*end == 'M' || *end == 'm') mul = 1024 * 1024, end++;
  else if (*end == 'G' || *end == 'g') mul = 1024ull * 1024 * 1024, end++;
  if (*end || v > SIZE_MAX / mul) return -1;
  *out = (size_t)(v * mul);
  return 0;
}

void mls__net_log(const char *level, const char *msg, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mls_vlogf(level, msg, fmt, ap);
  va_end(ap);
}

int mls__net_is_loopback(const struct sockaddr_storage *ss) {
  static const uint8_t v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (ss->ss_family == AF_INET)
    return ((const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr)[0] == 127;
  if (ss->ss_family == AF_INET6)
    return memcmp(&((const struct sockaddr_in6 *)ss)->sin6_addr, v6_loop, 16) == 0;
  return 0;
}
