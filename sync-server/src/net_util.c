/* net_util.c — option parsing helpers; the network half logs through log_fmt.h. */
#include "net.h"
#include "app_limits.h"
#include "log_fmt.h"
#include "mlproto/alloc.h"

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

/* --- connections per address key (--max-conns-per-address) --- */

struct mls__addr_count {
  struct mls__addr_count *next;
  unsigned count;
  uint8_t len;
  uint8_t key[MLS_LIMIT_KEY_MAX];
};

static size_t addr_bucket(const uint8_t *key, size_t len) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) h = (h ^ key[i]) * 1099511628211ull;
  return (size_t)(h % MLS_NET_ADDR_BUCKETS);
}

unsigned mls__addr_count_inc(mls_server *s, const uint8_t *key, size_t len) {
  if (len > MLS_LIMIT_KEY_MAX) len = MLS_LIMIT_KEY_MAX;
  struct mls__addr_count **head = &s->addr_counts[addr_bucket(key, len)];
  for (struct mls__addr_count *e = *head; e; e = e->next)
    if (e->len == len && memcmp(e->key, key, len) == 0) return ++e->count;
  struct mls__addr_count *e = mlproto_calloc(1, sizeof *e);
  if (!e) return 0;
  e->len = (uint8_t)len;
  memcpy(e->key, key, len);
  e->count = 1;
  e->next = *head;
  *head = e;
  return 1;
}

void mls__addr_count_dec(mls_server *s, const uint8_t *key, size_t len) {
  if (len > MLS_LIMIT_KEY_MAX) len = MLS_LIMIT_KEY_MAX;
  for (struct mls__addr_count **p = &s->addr_counts[addr_bucket(key, len)]; *p; p = &(*p)->next) {
    struct mls__addr_count *e = *p;
    if (e->len != len || memcmp(e->key, key, len) != 0) continue;
    if (--e->count == 0) {
      *p = e->next;
      mlproto_free(e);
    }
    return;
  }
}
