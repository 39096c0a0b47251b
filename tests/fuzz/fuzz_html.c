/* fuzz_html.c — mlproto_html_escape, the one escaping function of the
 * caseworker's pages, on arbitrary bytes: the output is valid UTF-8 with
 * no '<', '>', '"' or '\'' and every '&' the start of one of the five
 * entities it writes, so no input can open a tag or leave an attribute;
 * undoing the entities gives back every input that is valid UTF-8 without
 * controls. And mlproto_lang_from_accept on the bytes as a header value.
 * ML_FUZZ_MAX_LEN: 2048 */
#include "mlproto/errors.h"
#include "mlproto/html.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ENTITIES[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
static const char UNESCAPED[] = "&<>\"'";

static int utf8_ok(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    uint8_t c = s[i];
    size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!len || i + len > n) return 0;
    for (size_t k = 1; k < len; k++)
      if ((s[i + k] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && s[i + 1] < 0xa0) return 0;
    if (c == 0xed && s[i + 1] > 0x9f) return 0;
    if (c == 0xf0 && s[i + 1] < 0x90) return 0;
    if (c == 0xf4 && s[i + 1] > 0x8f) return 0;
    i += len;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlproto_buf b;
  mlproto_buf_init(&b, 8 * size + 16);
  if (mlproto_html_escape(&b, (const char *)data, size) != MLPROTO_OK) abort();
  if (!utf8_ok(b.data, b.len)) abort();
  /* undo the entities: no markup character is left raw */
  uint8_t *back = malloc(b.len + 1);
  if (!back) abort();
  size_t n = 0;
  for (size_t i = 0; i < b.len;) {
    uint8_t c = b.data[i];
    if (c == '<' || c == '>' || c == '"' || c == '\'') abort();
    if (c == '&') {
      size_t e = 0;
      while (e < 5 && !(b.len - i >= strlen(ENTITIES[e]) &&
                        memcmp(b.data + i, ENTITIES[e], strlen(ENTITIES[e])) == 0))
        e++;
      if (e == 5) abort();
      back[n++] = (uint8_t)UNESCAPED[e];
      i += strlen(ENTITIES[e]);
      continue;
    }
    back[n++] = c;
    i++;
  }
  int clean = utf8_ok(data, size);
  for (size_t i = 0; clean && i < size; i++)
    if ((data[i] < 0x20 && data[i] != '\t' && data[i] != '\n' && data[i] != '\r') ||
        data[i] == 0x7f)
      clean = 0;
  if (clean && (n != size || memcmp(back, data, size) != 0)) abort();
  free(back);
  mlproto_buf_free(&b);
  /* a header value: any bytes up to a NUL */
  char *h = malloc(size + 1);
  if (!h) abort();
  memcpy(h, data, size);
  h[size] = 0;
  mlproto_lang l = mlproto_lang_from_accept(h);
  if (l != MLPROTO_LANG_DA && l != MLPROTO_LANG_EN) abort();
  free(h);
  return 0;
}
