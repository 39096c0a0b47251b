/* The capped JSON and CSV writer (mlproto/json.h). Every byte goes through
 * put(), which appends to the caller's mlproto_buf and records the first
 * error; every public function returns at once while an error is set. */
#include "mlproto/json.h"

#include "mlproto/errors.h"
#include "util_int.h"

#include <stdbool.h>
#include <string.h>

/* ------------------------------------------------------------ shared --- */

static int append(int *err, mlproto_buf *b, const void *p, size_t n) {
  if (!*err)
    *err = mlproto_buf_append(b, p, n);
  return *err;
}

static bool utf8_valid(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k = mlproto__utf8_next(s + i, n - i, &cp);
    if (k == 0)
      return false;
    i += k;
  }
  return true;
}

/* Decimal digits of v into out (no NUL); returns their count (1..20). */
static size_t fmt_u64(char out[20], uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return n;
}

/* v in decimal, '-' first when negative (INT64_MIN included). */
static size_t fmt_i64(char out[21], int64_t v) {
  if (v >= 0)
    return fmt_u64(out, (uint64_t)v);
  out[0] = '-';
  return 1 + fmt_u64(out + 1, (uint64_t)0 - (uint64_t)v);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" of unix_ms into out[25] (NUL-terminated);
 * false when the instant is after 9999-12-31T23:59:59.999Z. */
static bool fmt_time_ms(char out[25], uint64_t unix_ms) {
  char s[MLPROTO_UTCTIME_STRLEN];
  if (unix_ms > INT64_MAX || mlproto_utc_format(s, (int64_t)unix_ms) != MLPROTO_OK)
    return false;
  unsigned ms = (unsigned)(unix_ms % 1000);
  memcpy(out, s, 19); /* "YYYY-MM-DDTHH:MM:SS" */
  out[19] = '.';
  out[20] = (char)('0' + ms / 100);
  out[21] = (char)('0' + ms / 10 % 10);
  out[22] = (char)('0' + ms % 10);
  out[23] = 'Z';
  out[24] = '\0';
  return true;
}

/* -------------------------------------------------------------- JSON --- */

static void put(mlproto_json *j, const void *p, size_t n) { append(&j->err, j->out, p, n); }

static void fail(mlproto_json *j, int code) {
  if (!j->err)
    j->err = code;
}

/* Newline and two spaces per open container (pretty mode only). */
static void indent(mlproto_json *j) {
  if (!j->pretty)
    return;
  put(j, "\n", 1);
  for (unsigned i = 0; i < j->depth; i++)
    put(j, "  ", 2);
}

/* Before an array element or an object member: the comma after the
 * previous one and the indent. */
static void next_item(mlproto_json *j) {
  unsigned d = j->depth - 1;
  if (j->has_item[d])
    put(j, ",", 1);
  j->has_item[d] = 1;
  indent(j);
}

/* Before any value: is one allowed here? Writes the separator. */
static bool begin_value(mlproto_json *j) {
  if (j->err)
    return false;
  if (j->depth == 0) {
    if (j->top_done)
      fail(j, MLPROTO_ERR_INVALID_ARGUMENT); /* one top-level value */
  } else if (j->is_obj[j->depth - 1]) {
    if (!j->want_value[j->depth - 1])
      fail(j, MLPROTO_ERR_INVALID_ARGUMENT); /* a member's value without its key */
    j->want_value[j->depth - 1] = 0;
  } else {
    next_item(j);
  }
  return !j->err;
}

/* After a complete value (a scalar, or a container closed). */
static void end_value(mlproto_json *j) {
  if (j->depth == 0 && !j->err)
    j->top_done = 1;
}

/* The escape of the character at s[0..n) (valid UTF-8) into e, or NULL
 * when it is written as itself; *len: the bytes of s it stands for. */
static const char *escape_of(const uint8_t *s, size_t n, char e[7], size_t *len) {
  static const char digits[] = "0123456789abcdef";
  *len = 1;
  switch (s[0]) {
  case '"': return "\\\"";
  case '\\': return "\\\\";
  case '\b': return "\\b";
  case '\f': return "\\f";
  case '\n': return "\\n";
  case '\r': return "\\r";
  case '\t': return "\\t";
  default: break;
  }
  if (s[0] < 0x20 || s[0] == '<' || s[0] == '>' || s[0] == '&') {
    memcpy(e, "\\u00", 4);
    e[4] = digits[s[0] >> 4];
    e[5] = digits[s[0] & 15];
    e[6] = '\0';
    return e;
  }
  if (s[0] == 0xe2 && n >= 3 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9)) {
    *len = 3;
    return s[2] == 0xa8 ? "\\u2028" : "\\u2029";
  }
  return NULL;
}

/* s[0..n) as a quoted JSON string: the runs between escapes are appended
 * whole, so a cap reached inside leaves the string's prefix. */
/* Printable ASCII that needs no escape: most keys, codes, ids and dates. */
static bool plain_ascii(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&')
      return false;
  }
  return true;
}

/* A plain string quoted (and followed by tail, e.g. ":" after a key) in one
 * append when it is short: a report writes hundreds of thousands of them. */
static bool put_plain(mlproto_json *j, const uint8_t *s, size_t n, const char *tail) {
  size_t tl = strlen(tail);
  char tmp[128];
  if (n + 2 + tl > sizeof tmp || !plain_ascii(s, n))
    return false;
  tmp[0] = '"';
  memcpy(tmp + 1, s, n);
  tmp[n + 1] = '"';
  memcpy(tmp + n + 2, tail, tl);
  put(j, tmp, n + 2 + tl);
  return true;
}

static void put_string(mlproto_json *j, const char *str, size_t n) {
  const uint8_t *s = (const uint8_t *)str;
  if (put_plain(j, s, n, ""))
    return;
  if (!utf8_valid(s, n)) {
    fail(j, MLPROTO_ERR_INVALID_ARGUMENT);
    return;
  }
  put(j, "\"", 1);
  size_t run = 0;
  for (size_t i = 0; i < n && !j->err;) {
    char buf[7];
    size_t len;
    const char *e = escape_of(s + i, n - i, buf, &len);
    if (!e) {
      i++;
      continue;
    }
    put(j, s + run, i - run);
    put(j, e, strlen(e));
    i += len;
    run = i;
  }
  put(j, s + run, n - run);
  put(j, "\"", 1);
}

/* A value written as these bytes (a number, a literal, a preformatted
 * string with its quotes). */
static void put_scalar(mlproto_json *j, const char *p, size_t n) {
  if (!begin_value(j))
    return;
  put(j, p, n);
  end_value(j);
}

void mlproto_json_init(mlproto_json *j, mlproto_buf *out) {
  memset(j, 0, sizeof *j);
  j->out = out;
}

static void open_container(mlproto_json *j, bool obj) {
  if (!begin_value(j))
    return;
  if (j->depth == MLPROTO_JSON_MAX_DEPTH) {
    fail(j, MLPROTO_ERR_TOO_LARGE);
    return;
  }
  put(j, obj ? "{" : "[", 1);
  j->is_obj[j->depth] = obj;
  j->has_item[j->depth] = 0;
  j->want_value[j->depth] = 0;
  j->depth++;
}

void mlproto_json_obj(mlproto_json *j) { open_container(j, true); }
void mlproto_json_arr(mlproto_json *j) { open_container(j, false); }

void mlproto_json_end(mlproto_json *j) {
  if (j->err)
    return;
  if (j->depth == 0 || j->want_value[j->depth - 1]) {
    fail(j, MLPROTO_ERR_INVALID_ARGUMENT); /* nothing open, or a key without its value */
    return;
  }
  bool obj = j->is_obj[j->depth - 1], items = j->has_item[j->depth - 1];
  j->depth--;
  if (items)
    indent(j);
  put(j, obj ? "}" : "]", 1);
  end_value(j);
}

void mlproto_json_key(mlproto_json *j, const char *name) {
  if (j->err)
    return;
  if (!name || j->depth == 0 || !j->is_obj[j->depth - 1] || j->want_value[j->depth - 1]) {
    fail(j, MLPROTO_ERR_INVALID_ARGUMENT);
    return;
  }
  next_item(j);
  size_t n = strlen(name);
  if (!put_plain(j, (const uint8_t *)name, n, j->pretty ? ": " : ":")) {
    put_string(j, name, n);
    put(j, ":", 1);
    if (j->pretty)
      put(j, " ", 1);
  }
  j->want_value[j->depth - 1] = 1;
}

void mlproto_json_strn(mlproto_json *j, const char *s, size_t n) {
  if (!s) {
    mlproto_json_null(j);
    return;
  }
  if (!begin_value(j))
    return;
  put_string(j, s, n);
  end_value(j);
}

void mlproto_json_str(mlproto_json *j, const char *s) { mlproto_json_strn(j, s, s ? strlen(s) : 0); }

void mlproto_json_u64(mlproto_json *j, uint64_t v) {
  char s[20];
  put_scalar(j, s, fmt_u64(s, v));
}

void mlproto_json_i64(mlproto_json *j, int64_t v) {
  char s[21];
  put_scalar(j, s, fmt_i64(s, v));
}

void mlproto_json_bool(mlproto_json *j, int v) {
  if (v)
    put_scalar(j, "true", 4);
  else
    put_scalar(j, "false", 5);
}

void mlproto_json_null(mlproto_json *j) { put_scalar(j, "null", 4); }

/* Lower-case hex of p[0..n), in pieces, through append. */
static void put_hex(int *err, mlproto_buf *b, const uint8_t *p, size_t n) {
  char s[2 * 32 + 1];
  for (size_t i = 0; i < n && !*err; i += 32) {
    size_t k = n - i < 32 ? n - i : 32;
    mlproto_hex_encode(s, p + i, k);
    append(err, b, s, 2 * k);
  }
}

void mlproto_json_hex(mlproto_json *j, const uint8_t *p, size_t n) {
  if (!p && n) {
    mlproto_json_null(j);
    return;
  }
  if (!begin_value(j))
    return;
  put(j, "\"", 1);
  put_hex(&j->err, j->out, p, n);
  put(j, "\"", 1);
  end_value(j);
}

void mlproto_json_date(mlproto_json *j, mlproto_date d) {
  char s[MLPROTO_DATE_STRLEN + 2];
  if (mlproto_date_format(s + 1, d) != MLPROTO_OK) {
    mlproto_json_null(j);
    return;
  }
  s[0] = '"';
  s[MLPROTO_DATE_STRLEN] = '"';
  put_scalar(j, s, MLPROTO_DATE_STRLEN + 1);
}

void mlproto_json_time_ms(mlproto_json *j, uint64_t unix_ms) {
  char s[25];
  if (!fmt_time_ms(s, unix_ms)) {
    mlproto_json_null(j);
    return;
  }
  if (!begin_value(j))
    return;
  put(j, "\"", 1);
  put(j, s, 24);
  put(j, "\"", 1);
  end_value(j);
}

void mlproto_json_kstr(mlproto_json *j, const char *name, const char *s) {
  mlproto_json_key(j, name);
  mlproto_json_str(j, s);
}
void mlproto_json_ku64(mlproto_json *j, const char *name, uint64_t v) {
  mlproto_json_key(j, name);
  mlproto_json_u64(j, v);
}
void mlproto_json_ki64(mlproto_json *j, const char *name, int64_t v) {
  mlproto_json_key(j, name);
  mlproto_json_i64(j, v);
}
void mlproto_json_kbool(mlproto_json *j, const char *name, int v) {
  mlproto_json_key(j, name);
  mlproto_json_bool(j, v);
}
void mlproto_json_khex(mlproto_json *j, const char *name, const uint8_t *p, size_t n) {
  mlproto_json_key(j, name);
  mlproto_json_hex(j, p, n);
}
void mlproto_json_kdate(mlproto_json *j, const char *name, mlproto_date d) {
  mlproto_json_key(j, name);
  mlproto_json_date(j, d);
}
void mlproto_json_ktime_ms(mlproto_json *j, const char *name, uint64_t unix_ms) {
  mlproto_json_key(j, name);
  mlproto_json_time_ms(j, unix_ms);
}

int mlproto_json_finish(mlproto_json *j) {
  if (j->top_done == 2)
    return j->err; /* finished already */
  if (j->depth || !j->top_done)
    fail(j, MLPROTO_ERR_INVALID_ARGUMENT);
  put(j, "\n", 1);
  if (!j->err)
    j->top_done = 2;
  return j->err;
}

/* --------------------------------------------------------------- CSV --- */

static void cput(mlproto_csv *c, const void *p, size_t n) { append(&c->err, c->out, p, n); }

/* The ',' before every field but a row's first. */
static bool csv_begin_field(mlproto_csv *c) {
  if (c->err)
    return false;
  if (c->field)
    cput(c, ",", 1);
  c->field++;
  return !c->err;
}

/* A character a spreadsheet takes as the start of a formula. */
static bool formula_lead(char ch) {
  return ch == '=' || ch == '+' || ch == '-' || ch == '@' || ch == '\t' || ch == '\r';
}

/* A formula character right after a ';' or a TAB at s[i]: where a
 * spreadsheet that splits on those (Excel with a Danish list separator
 * opens a .csv by ';') would start a cell. */
static bool inner_formula(const char *s, size_t n, size_t i) {
  return (s[i] == ';' || s[i] == '\t') && i + 1 < n && s[i + 1] != '\t' && s[i + 1] != '\r' &&
         formula_lead(s[i + 1]);
}

/* s[0..n) quoted: '"' doubled, a formula-leading field prefixed by '\'',
 * and so is a formula character after a ';' or TAB inside it. */
static void csv_quoted(mlproto_csv *c, const char *s, size_t n) {
  cput(c, n && formula_lead(s[0]) ? "\"'" : "\"", n && formula_lead(s[0]) ? 2 : 1);
  size_t run = 0;
  for (size_t i = 0; i < n && !c->err; i++) {
    if (s[i] == '"') {
      cput(c, s + run, i + 1 - run); /* through the quote, */
      run = i;                       /* which starts the next run again */
    } else if (inner_formula(s, n, i)) {
      cput(c, s + run, i + 1 - run); /* through the ';', then the mark */
      cput(c, "'", 1);
      run = i + 1;
    }
  }
  cput(c, s + run, n - run);
  cput(c, "\"", 1);
}

static bool has_inner_formula(const char *s, size_t n) {
  for (size_t i = 0; i + 1 < n; i++)
    if (inner_formula(s, n, i))
      return true;
  return false;
}

void mlproto_csv_init(mlproto_csv *c, mlproto_buf *out) {
  c->out = out;
  c->err = MLPROTO_OK;
  c->field = 0;
}

void mlproto_csv_str(mlproto_csv *c, const char *s) {
  if (c->err)
    return;
  size_t n = s ? strlen(s) : 0;
  if (n && !utf8_valid((const uint8_t *)s, n)) {
    c->err = MLPROTO_ERR_INVALID_ARGUMENT;
    return;
  }
  if (!csv_begin_field(c))
    return;
  bool quote = n && (formula_lead(s[0]) || strpbrk(s, ",\"\r\n") || has_inner_formula(s, n));
  if (quote)
    csv_quoted(c, s, n);
  else
    cput(c, s, n);
}

/* A field that never needs quoting (digits, hex, dates, times). */
static void csv_plain(mlproto_csv *c, const char *p, size_t n) {
  if (csv_begin_field(c))
    cput(c, p, n);
}

void mlproto_csv_u64(mlproto_csv *c, uint64_t v) {
  char s[20];
  csv_plain(c, s, fmt_u64(s, v));
}

void mlproto_csv_i64(mlproto_csv *c, int64_t v) {
  char s[21];
  csv_plain(c, s, fmt_i64(s, v));
}

void mlproto_csv_hex(mlproto_csv *c, const uint8_t *p, size_t n) {
  if (csv_begin_field(c) && p)
    put_hex(&c->err, c->out, p, n);
}

void mlproto_csv_date(mlproto_csv *c, mlproto_date d) {
  char s[MLPROTO_DATE_STRLEN];
  csv_plain(c, s, mlproto_date_format(s, d) == MLPROTO_OK ? MLPROTO_DATE_STRLEN - 1 : 0);
}

void mlproto_csv_time_ms(mlproto_csv *c, uint64_t unix_ms) {
  char s[25];
  csv_plain(c, s, unix_ms && fmt_time_ms(s, unix_ms) ? 24 : 0);
}

void mlproto_csv_row(mlproto_csv *c) {
  cput(c, "\r\n", 2);
  if (!c->err)
    c->field = 0;
}

int mlproto_csv_finish(mlproto_csv *c) {
  if (!c->err && c->field)
    c->err = MLPROTO_ERR_INVALID_ARGUMENT; /* a row without its end */
  return c->err;
}
