/*
 * fuzz_http_request.c — arbitrary bytes into the HTTP/1.1 request parser,
 * cut into pieces whose sizes come from the input itself, with pipelined
 * requests taken one at a time, and every complete request's query run
 * through the query helpers. Small caps so that the limits are reached.
 * Every other input holds bodies (mlproto_http_parser_hold_body): at each
 * stop after a head the head is used and the body cap lowered to a size
 * taken from the input.
 *
 * ML_FUZZ_MAX_LEN: 8192
 */
#include "mlproto/http.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void use_request(const mlproto_http_request *r) {
  /* touch everything the parser hands out */
  size_t n = strlen(r->method) + strlen(r->target) + strlen(r->path) + strlen(r->query);
  for (size_t i = 0; i < r->n_headers; i++)
    n += strlen(r->headers[i].name) + strlen(r->headers[i].value);
  if (r->body_len)
    n += r->body[0] + r->body[r->body_len - 1];
  if (r->content_type)
    n += strlen(r->content_type);
  char v[64];
  uint64_t x;
  (void)!mlproto_http_query_get(r->query, "since", v, sizeof v, NULL);
  (void)!mlproto_http_query_u64(r->query, "limit", 1, 1000, &x);
  (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  /* first two bytes: the piece-size pattern */
  unsigned seed = (unsigned)data[0] << 8 | data[1];
  data += 2;
  size -= 2;
  mlproto_http_limits lim = {512, 8, 128, 1024};
  mlproto_http_parser *p = NULL;
  if (mlproto_http_parser_new(&p, &lim) != MLPROTO_OK)
    return 0;
  int hold = seed & 1;
  mlproto_http_parser_hold_body(p, hold);
  size_t off = 0;
  while (off < size) {
    seed = seed * 1103515245u + 12345u;
    size_t piece = 1 + (seed >> 16) % 97;
    if (piece > size - off)
      piece = size - off;
    size_t used;
    const mlproto_http_request *r;
    int rc = mlproto_http_parser_feed(p, data + off, piece, &used, &r);
    if (rc != MLPROTO_OK)
      break;
    off += used;
    (void)mlproto_http_parser_take_continue(p);
    if (r) {
      use_request(r);
      if (!r->keep_alive)
        break;
      mlproto_http_parser_next(p);
    } else if (used != piece) {
      /* "need more" consumes everything, but for a held body's head */
      const mlproto_http_request *h = mlproto_http_parser_head(p);
      if (!hold || !h || h->body_len || h->declared_length == 0)
        __builtin_trap();
      use_request(h);
      if (mlproto_http_parser_limit_body(p, (seed >> 8) % 1100) != MLPROTO_OK)
        break;
    }
  }
  mlproto_http_parser_free(p);
  return 0;
}
