/* net_budget.c — what one client address may hold (net.h "What one address
 * key holds"): its connections (--max-conns-per-address), its share of the
 * request bytes buffered before their answer (--max-inflight-bytes, and of
 * that --max-inflight-bytes-per-address), and how slowly its bodies may
 * arrive (--min-upload-rate, measured over each --min-upload-window).
 *
 * Why a share per address: the pool alone bounds memory, but one address
 * that opens connections and sends bodies it never finishes could hold all
 * of it, and every other client would then get 503. With a share, such an
 * address is refused (429 ADDRESS_INFLIGHT) once it holds its share, and
 * the rest of the pool stays for the others.
 *
 * Why a minimum rate: the request timeout bounds how long a request may
 * take, not how slowly its bytes come; a body dribbled at a few bytes a
 * second, or sent in a burst and then stalled, holds its buffered bytes
 * (and a connection) for the whole timeout. So a body's reading is cut in
 * windows of --min-upload-window from the moment the server waits for it
 * (after its head, or after its credentials were checked): a window at
 * whose end the body is still incomplete and that brought fewer than
 * rate x window bytes ends it (408 UPLOAD_TOO_SLOW), and its bytes are
 * released. The first window is the body's grace: a client has that long
 * to get going. Unlike an average since the start (mod_reqtimeout's
 * MinRate), a window also cuts a stall after a burst. */
#include "net.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"

#include <string.h>

static size_t addr_bucket(const uint8_t *key, size_t len) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) h = (h ^ key[i]) * 1099511628211ull;
  return (size_t)(h % MLS_NET_ADDR_BUCKETS);
}

struct mls__addr *mls__addr_join(mls_server *s, const uint8_t *key, size_t len) {
  if (len > MLS_LIMIT_KEY_MAX) len = MLS_LIMIT_KEY_MAX;
  struct mls__addr **head = &s->addrs[addr_bucket(key, len)];
  for (struct mls__addr *e = *head; e; e = e->next)
    if (e->len == len && memcmp(e->key, key, len) == 0) {
      e->count++;
      return e;
    }
  struct mls__addr *e = mlproto_calloc(1, sizeof *e);
  if (!e) return NULL;
  e->len = (uint8_t)len;
  memcpy(e->key, key, len);
  e->count = 1;
  e->next = *head;
  *head = e;
  return e;
}

void mls__addr_leave(mls_server *s, struct mls__addr *a) {
  if (--a->count > 0) return;
  for (struct mls__addr **p = &s->addrs[addr_bucket(a->key, a->len)]; *p; p = &(*p)->next) {
    if (*p != a) continue;
    *p = a->next;
    mlproto_free(a);
    return;
  }
}

int mls__budget_add(mls_server *s, struct mls__addr *a, size_t n) {
  s->inflight_bytes += n;
  if (a) a->inflight += n;
  if (s->inflight_bytes > s->opt.max_inflight_bytes) return MLPROTO_ERR_UNAVAILABLE;
  if (a && a->inflight > s->opt.max_inflight_per_address) return MLPROTO_ERR_ADDRESS_INFLIGHT;
  return MLPROTO_OK;
}

void mls__budget_release(mls_server *s, struct mls__addr *a, size_t n) {
  s->inflight_bytes -= n;
  if (a) a->inflight -= n;
}

uint64_t mls__upload_window_end(const mls_server *s, uint64_t start_ms) {
  if (s->opt.min_upload_rate == 0) return UINT64_MAX;
  return start_ms + s->opt.min_upload_window_ms;
}

int mls__upload_too_slow(const mls_server *s, size_t got) {
  /* rate <= 1 GiB/s, window <= 1 h: the product fits in 64 bits */
  uint64_t need = (uint64_t)s->opt.min_upload_rate * s->opt.min_upload_window_ms / 1000u;
  return (uint64_t)got < need;
}
