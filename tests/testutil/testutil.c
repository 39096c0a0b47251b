#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tu_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (cap - n < 65536) {
      cap = cap ? cap * 2 : 65536;
      char *nb = realloc(buf, cap + 1);
      if (!nb) {
        free(buf);
        fclose(f);
        return NULL;
      }
      buf = nb;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

char *tu_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p)
    snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static int hv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

uint8_t *tu_unhex(const char *hex, size_t *len) {
  size_t n = strlen(hex);
  if (n % 2)
    return NULL;
  uint8_t *out = malloc(n / 2 + 1);
  if (!out)
    return NULL;
  for (size_t i = 0; i < n / 2; i++) {
    int a = hv(hex[2 * i]), b = hv(hex[2 * i + 1]);
    if (a < 0 || b < 0) {
      free(out);
      return NULL;
    }
    out[i] = (uint8_t)(a << 4 | b);
  }
  *len = n / 2;
  return out;
}

/* ------------------------------------------------------------------ JSON */

struct jp {
  const char *s, *end;
  int depth;
};

static void ws(struct jp *p) {
  while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
    p->s++;
}

static int parse_value(struct jp *p, tu_json *out);

static void put_utf8(char **o, unsigned cp) {
  char *d = *o;
  if (cp < 0x80) {
    *d++ = (char)cp;
  } else if (cp < 0x800) {
    *d++ = (char)(0xC0 | cp >> 6);
    *d++ = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *d++ = (char)(0xE0 | cp >> 12);
    *d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *d++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *d++ = (char)(0xF0 | cp >> 18);
    *d++ = (char)(0x80 | ((cp >> 12) & 0x3F));
    *d++ = (char)(0x80 | ((cp >> 6) & 0x3F));
    *d++ = (char)(0x80 | (cp & 0x3F));
  }
  *o = d;
}

static int hex4(const char *s, unsigned *v) {
  *v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hv(s[i]);
    if (h < 0)
      return -1;
    *v = *v << 4 | (unsigned)h;
  }
  return 0;
}

static int parse_string(struct jp *p, char **out) {
  if (p->s >= p->end || *p->s != '"')
    return -1;
  p->s++;
  /* Output is never longer than the input span. */
  const char *q = p->s;
  while (q < p->end && *q != '"') {
    if (*q == '\\')
      q++;
    q++;
  }
  if (q >= p->end)
    return -1;
  char *buf = malloc((size_t)(q - p->s) + 1), *o = buf;
  if (!buf)
    return -1;
  while (*p->s != '"') {
    unsigned char c = (unsigned char)*p->s++;
    if (c < 0x20)
      goto bad;
    if (c != '\\') {
      *o++ = (char)c;
      continue;
    }
    char e = *p->s++;
    switch (e) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '/': *o++ = '/'; break;
    case 'b': *o++ = '\b'; break;
    case 'f': *o++ = '\f'; break;
    case 'n': *o++ = '\n'; break;
    case 'r': *o++ = '\r'; break;
    case 't': *o++ = '\t'; break;
    case 'u': {
      unsigned cp;
      if (p->end - p->s < 4 || hex4(p->s, &cp))
        goto bad;
      p->s += 4;
      if (cp >= 0xD800 && cp < 0xDC00) {
        unsigned lo;
        if (p->end - p->s < 6 || p->s[0] != '\\' || p->s[1] != 'u' || hex4(p->s + 2, &lo) ||
            lo < 0xDC00 || lo > 0xDFFF)
          goto bad;
        p->s += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      } else if (cp >= 0xDC00 && cp < 0xE000) {
        goto bad;
      }
      put_utf8(&o, cp);
      break;
    }
    default:
      goto bad;
    }
  }
  p->s++;
  *o = '\0';
  *out = buf;
  return 0;
bad:
  free(buf);
  return -1;
}

static int parse_number(struct jp *p, tu_json *out) {
  const char *st = p->s;
  int integral = 1;
  if (p->s < p->end && *p->s == '-')
    p->s++;
  if (p->s >= p->end || *p->s < '0' || *p->s > '9')
    return -1;
  if (*p->s == '0')
    p->s++;
  else
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
      p->s++;
  if (p->s < p->end && *p->s == '.') {
    integral = 0;
    p->s++;
    if (p->s >= p->end || *p->s < '0' || *p->s > '9')
      return -1;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
      p->s++;
  }
  if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
    integral = 0;
    p->s++;
    if (p->s < p->end && (*p->s == '+' || *p->s == '-'))
      p->s++;
    if (p->s >= p->end || *p->s < '0' || *p->s > '9')
      return -1;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9')
      p->s++;
  }
  char tmp[64];
  size_t n = (size_t)(p->s - st);
  if (n >= sizeof tmp)
    return -1;
  memcpy(tmp, st, n);
  tmp[n] = '\0';
  out->type = TU_JNUM;
  out->num = strtod(tmp, NULL);
  out->inum = integral ? strtoll(tmp, NULL, 10) : (long long)out->num;
  return 0;
}

static int lit(struct jp *p, const char *w) {
  size_t n = strlen(w);
  if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n) != 0)
    return -1;
  p->s += n;
  return 0;
}

static int push_item(tu_json *c, size_t *cap, char *key, tu_json *v) {
  if (c->n == *cap) {
    *cap = *cap ? *cap * 2 : 8;
    tu_json *ni = realloc(c->items, *cap * sizeof *ni);
    if (!ni)
      return -1;
    c->items = ni;
    if (c->type == TU_JOBJ) {
      char **nk = realloc(c->keys, *cap * sizeof *nk);
      if (!nk)
        return -1;
      c->keys = nk;
    }
  }
  c->items[c->n] = *v;
  if (c->type == TU_JOBJ)
    c->keys[c->n] = key;
  c->n++;
  return 0;
}

static void free_inner(tu_json *j);

static int parse_container(struct jp *p, tu_json *out, char close) {
  size_t cap = 0;
  out->type = close == ']' ? TU_JARR : TU_JOBJ;
  p->s++;
  if (++p->depth > 200)
    return -1;
  ws(p);
  if (p->s < p->end && *p->s == close) {
    p->s++;
    p->depth--;
    return 0;
  }
  for (;;) {
    char *key = NULL;
    tu_json v;
    memset(&v, 0, sizeof v);
    ws(p);
    if (close == '}') {
      if (parse_string(p, &key))
        return -1;
      ws(p);
      if (p->s >= p->end || *p->s != ':') {
        free(key);
        return -1;
      }
      p->s++;
    }
    if (parse_value(p, &v) || push_item(out, &cap, key, &v)) {
      free(key);
      free_inner(&v);
      return -1;
    }
    ws(p);
    if (p->s >= p->end)
      return -1;
    if (*p->s == ',') {
      p->s++;
      continue;
    }
    if (*p->s == close) {
      p->s++;
      p->depth--;
      return 0;
    }
    return -1;
  }
}

static int parse_value(struct jp *p, tu_json *out) {
  ws(p);
  if (p->s >= p->end)
    return -1;
  switch (*p->s) {
  case '{': return parse_container(p, out, '}');
  case '[': return parse_container(p, out, ']');
  case '"': out->type = TU_JSTR; return parse_string(p, &out->str);
  case 't': out->type = TU_JBOOL; out->boolean = 1; return lit(p, "true");
  case 'f': out->type = TU_JBOOL; out->boolean = 0; return lit(p, "false");
  case 'n': out->type = TU_JNULL; return lit(p, "null");
  default: return parse_number(p, out);
  }
}

static void free_inner(tu_json *j) {
  if (!j)
    return;
  free(j->str);
  for (size_t i = 0; i < j->n; i++) {
    free_inner(&j->items[i]);
    if (j->keys)
      free(j->keys[i]);
  }
  free(j->items);
  free(j->keys);
}

tu_json *tu_json_parse(const char *text, size_t len) {
  struct jp p = {text, text + len, 0};
  tu_json *j = calloc(1, sizeof *j);
  if (!j)
    return NULL;
  if (parse_value(&p, j)) {
    tu_json_free(j);
    return NULL;
  }
  ws(&p);
  if (p.s != p.end) {
    tu_json_free(j);
    return NULL;
  }
  return j;
}

tu_json *tu_json_load(const char *path) {
  size_t len;
  char *text = tu_read_file(path, &len);
  if (!text)
    fail_msg("cannot read %s", path);
  tu_json *j = tu_json_parse(text, len);
  free(text);
  if (!j)
    fail_msg("%s is not valid JSON", path);
  return j;
}

void tu_json_free(tu_json *j) {
  if (!j)
    return;
  free_inner(j);
  free(j);
}

const tu_json *tu_json_get(const tu_json *obj, const char *key) {
  if (!obj || obj->type != TU_JOBJ)
    return NULL;
  for (size_t i = 0; i < obj->n; i++)
    if (strcmp(obj->keys[i], key) == 0)
      return &obj->items[i];
  return NULL;
}

const tu_json *tu_json_at(const tu_json *arr, size_t i) {
  if (!arr || arr->type != TU_JARR || i >= arr->n)
    return NULL;
  return &arr->items[i];
}

/* ------------------------------------------------------- OOM allocator -- */

long tu_oom_budget = -1, tu_oom_live = 0;

/* Whether this allocation may go ahead. */
static int oom_tick(void) {
  if (tu_oom_budget == 0)
    return 0;
  if (tu_oom_budget > 0)
    tu_oom_budget--;
  return 1;
}

static void *oom_malloc(size_t n, void *ud) {
  (void)ud;
  void *p = oom_tick() ? malloc(n) : NULL;
  if (p)
    tu_oom_live++;
  return p;
}

static void *oom_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  return oom_tick() ? realloc(p, n) : NULL;
}

static void oom_free(void *p, void *ud) {
  (void)ud;
  if (p)
    tu_oom_live--;
  free(p);
}

const mlproto_allocator tu_oom_allocator = {oom_malloc, oom_realloc, oom_free, NULL};
