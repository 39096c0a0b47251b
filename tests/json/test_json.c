/* The capped JSON and CSV writer (mlproto/json.h): exact output, escaping,
 * UTF-8 validation, the cap, depth, misuse, and a round trip through the
 * tests' strict JSON reader. */
#include "testutil.h"

#include "mlproto/errors.h"
#include "mlproto/json.h"

#include <stdlib.h>
#include <string.h>

/* The buffer's bytes as a NUL-terminated string (static, per call). */
static const char *text(const mlproto_buf *b) {
  static char s[4096];
  assert_true(b->len < sizeof s);
  if (b->len)
    memcpy(s, b->data, b->len);
  s[b->len] = '\0';
  return s;
}

/* A writer on a fresh buffer with a cap of cap bytes. */
typedef struct fx {
  mlproto_buf b;
  mlproto_json j;
  mlproto_csv c;
} fx;

static void fx_init(fx *f, size_t cap) {
  mlproto_buf_init(&f->b, cap);
  mlproto_json_init(&f->j, &f->b);
  mlproto_csv_init(&f->c, &f->b);
}

/* Finish f's JSON document, expect rc and (when want is not NULL) the text. */
static void expect_json(fx *f, int rc, const char *want) {
  assert_int_equal(mlproto_json_finish(&f->j), rc);
  if (want)
    assert_string_equal(text(&f->b), want);
  mlproto_buf_free(&f->b);
}

/* One string value alone as a document. */
static void expect_str(const char *s, size_t n, const char *want) {
  fx f;
  fx_init(&f, 1024);
  mlproto_json_strn(&f.j, s, n);
  expect_json(&f, MLPROTO_OK, want);
}

/* --------------------------------------------------------- structure --- */

static void compact_nesting_and_commas(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 1024);
  mlproto_json *j = &f.j;
  mlproto_json_obj(j);
  mlproto_json_ku64(j, "size", 42);
  mlproto_json_key(j, "rows");
  mlproto_json_arr(j);
  mlproto_json_str(j, "a");
  mlproto_json_u64(j, 1);
  mlproto_json_obj(j);
  mlproto_json_kbool(j, "t", 1);
  mlproto_json_kbool(j, "f", 0);
  mlproto_json_end(j);
  mlproto_json_arr(j);
  mlproto_json_end(j);
  mlproto_json_obj(j);
  mlproto_json_end(j);
  mlproto_json_null(j);
  mlproto_json_end(j);
  mlproto_json_ki64(j, "neg", -7);
  mlproto_json_kstr(j, "none", NULL);
  mlproto_json_end(j);
  expect_json(&f, MLPROTO_OK,
              "{\"size\":42,\"rows\":[\"a\",1,{\"t\":true,\"f\":false},[],{},null],\"neg\":-7,\"none\":null}\n");
}

static void top_level_scalars_and_empty_containers(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 64);
  mlproto_json_u64(&f.j, 7);
  expect_json(&f, MLPROTO_OK, "7\n");
  fx_init(&f, 64);
  mlproto_json_arr(&f.j);
  mlproto_json_end(&f.j);
  expect_json(&f, MLPROTO_OK, "[]\n");
  fx_init(&f, 64);
  f.j.pretty = 1;
  mlproto_json_obj(&f.j);
  mlproto_json_end(&f.j);
  expect_json(&f, MLPROTO_OK, "{}\n");
}

static void pretty_mode(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 1024);
  mlproto_json *j = &f.j;
  j->pretty = 1;
  mlproto_json_obj(j);
  mlproto_json_ku64(j, "a", 1);
  mlproto_json_key(j, "b");
  mlproto_json_arr(j);
  mlproto_json_u64(j, 2);
  mlproto_json_obj(j);
  mlproto_json_kstr(j, "c", "d");
  mlproto_json_end(j);
  mlproto_json_arr(j);
  mlproto_json_end(j);
  mlproto_json_end(j);
  mlproto_json_key(j, "e");
  mlproto_json_obj(j);
  mlproto_json_end(j);
  mlproto_json_end(j);
  expect_json(&f, MLPROTO_OK,
              "{\n"
              "  \"a\": 1,\n"
              "  \"b\": [\n"
              "    2,\n"
              "    {\n"
              "      \"c\": \"d\"\n"
              "    },\n"
              "    []\n"
              "  ],\n"
              "  \"e\": {}\n"
              "}\n");
}

static void numbers(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 1024);
  mlproto_json_arr(&f.j);
  mlproto_json_u64(&f.j, 0);
  mlproto_json_u64(&f.j, UINT64_MAX);
  mlproto_json_i64(&f.j, 0);
  mlproto_json_i64(&f.j, -1);
  mlproto_json_i64(&f.j, INT64_MAX);
  mlproto_json_i64(&f.j, INT64_MIN);
  mlproto_json_end(&f.j);
  expect_json(&f, MLPROTO_OK,
              "[0,18446744073709551615,0,-1,9223372036854775807,-9223372036854775808]\n");
}

/* ----------------------------------------------------------- strings --- */

static void every_escape(void **state) {
  (void)state;
  /* quote, backslash, the five named controls, other controls, < > &, the
   * two JavaScript line terminators; '/', DEL, é, U+2027 and an emoji as
   * themselves */
  static const char in[] = "\"\\\b\f\n\r\t\x01\x1f<>&\xe2\x80\xa8\xe2\x80\xa9/\x7f\xc3\xa9\xe2\x80\xa7"
                           "\xf0\x9f\x98\x80";
  expect_str(in, sizeof in - 1,
             "\"\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\\u003c\\u003e\\u0026\\u2028\\u2029/\x7f\xc3\xa9"
             "\xe2\x80\xa7\xf0\x9f\x98\x80\"\n");
  expect_str("", 0, "\"\"\n");
  expect_str("a\0b", 3, "\"a\\u0000b\"\n"); /* strn: a NUL byte is a control character */
  expect_str("</script>", 9, "\"\\u003c/script\\u003e\"\n");
  /* keys are escaped the same way */
  fx f;
  fx_init(&f, 256);
  mlproto_json_obj(&f.j);
  mlproto_json_kstr(&f.j, "k\"<\n", "v");
  mlproto_json_end(&f.j);
  expect_json(&f, MLPROTO_OK, "{\"k\\\"\\u003c\\n\":\"v\"}\n");
}

static void null_strings(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 256);
  mlproto_json_arr(&f.j);
  mlproto_json_str(&f.j, NULL);
  mlproto_json_strn(&f.j, NULL, 5);
  mlproto_json_hex(&f.j, NULL, 3);
  mlproto_json_end(&f.j);
  expect_json(&f, MLPROTO_OK, "[null,null,null]\n");
}

static void invalid_utf8_is_refused(void **state) {
  (void)state;
  static const char *const bad[] = {
      "\xc0\xaf",         /* overlong '/' */
      "\xc1\xbf",         /* overlong, 2 bytes */
      "\xe0\x80\xaf",     /* overlong, 3 bytes */
      "\xf0\x80\x80\xaf", /* overlong, 4 bytes */
      "\xed\xa0\x80",     /* high surrogate U+D800 */
      "\xed\xbf\xbf",     /* low surrogate U+DFFF */
      "\xf4\x90\x80\x80", /* above U+10FFFF */
      "ab\xe2\x82",       /* truncated at the end */
      "\xe2\x82x",        /* truncated before an ASCII byte */
      "\x80",             /* lone continuation byte */
      "\xff",             /* never in UTF-8 */
      "\xf8\x88\x80\x80\x80",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    fx f;
    fx_init(&f, 256);
    mlproto_json_arr(&f.j);
    mlproto_json_str(&f.j, "ok");
    mlproto_json_str(&f.j, bad[i]);
    mlproto_json_str(&f.j, "later"); /* no-op: the error is sticky */
    mlproto_json_end(&f.j);
    assert_int_equal(f.j.err, MLPROTO_ERR_INVALID_ARGUMENT);
    expect_json(&f, MLPROTO_ERR_INVALID_ARGUMENT, "[\"ok\",");
  }
  /* strn: a sequence cut by n is truncated, whatever follows in memory */
  fx f;
  fx_init(&f, 256);
  mlproto_json_strn(&f.j, "a\xe2\x82\xac", 3);
  expect_json(&f, MLPROTO_ERR_INVALID_ARGUMENT, "");
  /* in a key, and in a CSV field */
  fx_init(&f, 256);
  mlproto_json_obj(&f.j);
  mlproto_json_key(&f.j, "\xed\xa0\x80");
  expect_json(&f, MLPROTO_ERR_INVALID_ARGUMENT, "{");
  fx_init(&f, 256);
  mlproto_csv_str(&f.c, "a");
  mlproto_csv_str(&f.c, "\xc0\xaf");
  mlproto_csv_str(&f.c, "b");
  assert_int_equal(mlproto_csv_finish(&f.c), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_string_equal(text(&f.b), "a");
  mlproto_buf_free(&f.b);
  /* the largest code point and the ones around the surrogates are fine */
  expect_str("\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80", 10, "\"\xf4\x8f\xbf\xbf\xed\x9f\xbf\xee\x80\x80\"\n");
}

/* --------------------------------------------------------------- cap --- */

static void cap_reached_mid_string(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 12);
  mlproto_json_arr(&f.j);
  mlproto_json_str(&f.j, "abcdefgh<ijklmnop"); /* [ " abcdefgh = 10, then \u003c does not fit */
  assert_int_equal(f.j.err, MLPROTO_ERR_TOO_LARGE);
  assert_string_equal(text(&f.b), "[\"abcdefgh");
  mlproto_json_u64(&f.j, 1); /* every later call does nothing */
  mlproto_json_end(&f.j);
  assert_string_equal(text(&f.b), "[\"abcdefgh");
  expect_json(&f, MLPROTO_ERR_TOO_LARGE, "[\"abcdefgh");
  /* exactly at the cap: fits, the newline of finish does not */
  fx_init(&f, 4);
  mlproto_json_str(&f.j, "ab");
  expect_json(&f, MLPROTO_ERR_TOO_LARGE, "\"ab\"");
  fx_init(&f, 5);
  mlproto_json_str(&f.j, "ab");
  expect_json(&f, MLPROTO_OK, "\"ab\"\n");
  /* CSV */
  fx_init(&f, 6);
  mlproto_csv_str(&f.c, "abc");
  mlproto_csv_str(&f.c, "defg");
  assert_int_equal(f.c.err, MLPROTO_ERR_TOO_LARGE);
  mlproto_csv_row(&f.c);
  mlproto_csv_u64(&f.c, 1);
  assert_int_equal(mlproto_csv_finish(&f.c), MLPROTO_ERR_TOO_LARGE);
  assert_string_equal(text(&f.b), "abc,");
  mlproto_buf_free(&f.b);
}

static void out_of_memory_is_sticky(void **state) {
  (void)state;
  mlproto_set_allocator(&tu_oom_allocator);
  tu_oom_budget = 0;
  fx f;
  fx_init(&f, 1024);
  mlproto_json_obj(&f.j);
  mlproto_json_ku64(&f.j, "a", 1);
  mlproto_json_end(&f.j);
  int rc = mlproto_json_finish(&f.j);
  tu_oom_budget = -1;
  mlproto_set_allocator(NULL);
  assert_int_equal(rc, MLPROTO_ERR_OUT_OF_MEMORY);
  assert_int_equal(f.b.len, 0);
  mlproto_buf_free(&f.b);
}

/* ------------------------------------------------------------- depth --- */

static void depth_limit(void **state) {
  (void)state;
  char want[2 * MLPROTO_JSON_MAX_DEPTH + 2];
  fx f;
  fx_init(&f, 1024);
  for (int i = 0; i < MLPROTO_JSON_MAX_DEPTH; i++)
    mlproto_json_arr(&f.j);
  for (int i = 0; i < MLPROTO_JSON_MAX_DEPTH; i++)
    mlproto_json_end(&f.j);
  memset(want, '[', MLPROTO_JSON_MAX_DEPTH);
  memset(want + MLPROTO_JSON_MAX_DEPTH, ']', MLPROTO_JSON_MAX_DEPTH);
  memcpy(want + 2 * MLPROTO_JSON_MAX_DEPTH, "\n", 2);
  expect_json(&f, MLPROTO_OK, want);

  fx_init(&f, 1024);
  for (int i = 0; i < MLPROTO_JSON_MAX_DEPTH; i++) {
    mlproto_json_obj(&f.j);
    mlproto_json_key(&f.j, "k");
  }
  mlproto_json_arr(&f.j); /* one too deep */
  assert_int_equal(f.j.err, MLPROTO_ERR_TOO_LARGE);
  for (int i = 0; i < MLPROTO_JSON_MAX_DEPTH; i++)
    mlproto_json_end(&f.j);
  assert_int_equal(f.b.len, 5 * MLPROTO_JSON_MAX_DEPTH); /* {"k": each */
  expect_json(&f, MLPROTO_ERR_TOO_LARGE, NULL);
}

/* ------------------------------------------------------------ misuse --- */

/* Run one misuse: setup writes a prefix, then the mistake; expect
 * INVALID_ARGUMENT from finish and want in the buffer. */
#define MISUSE(want, ...)                                 \
  do {                                                    \
    fx f;                                                 \
    fx_init(&f, 256);                                     \
    mlproto_json *j = &f.j;                               \
    __VA_ARGS__;                                          \
    mlproto_json_u64(j, 9); /* sticky: nothing more */    \
    expect_json(&f, MLPROTO_ERR_INVALID_ARGUMENT, want);  \
  } while (0)

static void misuse_errors(void **state) {
  (void)state;
  /* a key in an array */
  MISUSE("[", mlproto_json_arr(j); mlproto_json_key(j, "k"));
  /* a key at the top */
  MISUSE("", mlproto_json_key(j, "k"));
  /* a value in an object without its key */
  MISUSE("{", mlproto_json_obj(j); mlproto_json_str(j, "v"));
  MISUSE("{\"a\":1", mlproto_json_obj(j); mlproto_json_ku64(j, "a", 1); mlproto_json_arr(j));
  /* two keys in a row, a NULL key */
  MISUSE("{\"a\":", mlproto_json_obj(j); mlproto_json_key(j, "a"); mlproto_json_key(j, "b"));
  MISUSE("{", mlproto_json_obj(j); mlproto_json_key(j, NULL));
  /* end with nothing open, end right after a key */
  MISUSE("", mlproto_json_end(j));
  MISUSE("[]", mlproto_json_arr(j); mlproto_json_end(j); mlproto_json_end(j));
  MISUSE("{\"a\":", mlproto_json_obj(j); mlproto_json_key(j, "a"); mlproto_json_end(j));
  /* a second top-level value */
  MISUSE("1", mlproto_json_u64(j, 1); mlproto_json_u64(j, 2));
  /* finish with a container open, with nothing written */
  fx f;
  fx_init(&f, 256);
  mlproto_json_obj(&f.j);
  mlproto_json_key(&f.j, "a");
  mlproto_json_arr(&f.j);
  expect_json(&f, MLPROTO_ERR_INVALID_ARGUMENT, "{\"a\":[");
  fx_init(&f, 256);
  expect_json(&f, MLPROTO_ERR_INVALID_ARGUMENT, "");
  /* finish twice: one newline, the same answer */
  fx_init(&f, 256);
  mlproto_json_u64(&f.j, 5);
  assert_int_equal(mlproto_json_finish(&f.j), MLPROTO_OK);
  expect_json(&f, MLPROTO_OK, "5\n");
}

/* -------------------------------------------------- hex, dates, times --- */

static void hex_dates_times(void **state) {
  (void)state;
  static const uint8_t bytes[] = {0x00, 0xab, 0xff, 0x10};
  uint8_t many[100];
  for (size_t i = 0; i < sizeof many; i++)
    many[i] = (uint8_t)i;
  fx f;
  fx_init(&f, 1024);
  mlproto_json_obj(&f.j);
  mlproto_json_khex(&f.j, "h", bytes, sizeof bytes);
  mlproto_json_khex(&f.j, "empty", bytes, 0);
  mlproto_json_kdate(&f.j, "epoch", 0);
  mlproto_json_kdate(&f.j, "d", 20000);
  mlproto_json_kdate(&f.j, "min", MLPROTO_DATE_MIN);
  mlproto_json_kdate(&f.j, "max", MLPROTO_DATE_MAX);
  mlproto_json_kdate(&f.j, "none", MLPROTO_DATE_NONE);
  mlproto_json_kdate(&f.j, "past_max", MLPROTO_DATE_MAX + 1);
  mlproto_json_ktime_ms(&f.j, "t0", 0);
  mlproto_json_ktime_ms(&f.j, "t", UINT64_C(1700000000123));
  mlproto_json_ktime_ms(&f.j, "tmax", UINT64_C(253402300799999));
  mlproto_json_ktime_ms(&f.j, "tpast", UINT64_C(253402300800000));
  mlproto_json_ktime_ms(&f.j, "thuge", UINT64_MAX);
  mlproto_json_end(&f.j);
  expect_json(&f, MLPROTO_OK,
              "{\"h\":\"00abff10\",\"empty\":\"\",\"epoch\":\"1970-01-01\",\"d\":\"2024-10-04\","
              "\"min\":\"1900-01-01\",\"max\":\"9999-12-31\",\"none\":null,\"past_max\":null,"
              "\"t0\":\"1970-01-01T00:00:00.000Z\",\"t\":\"2023-11-14T22:13:20.123Z\","
              "\"tmax\":\"9999-12-31T23:59:59.999Z\",\"tpast\":null,\"thuge\":null}\n");
  /* hex longer than the writer's 32-byte pieces */
  fx_init(&f, 1024);
  mlproto_json_hex(&f.j, many, sizeof many);
  assert_int_equal(mlproto_json_finish(&f.j), MLPROTO_OK);
  char want[2 * sizeof many + 1];
  mlproto_hex_encode(want, many, sizeof many);
  assert_int_equal(f.b.len, 2 * sizeof many + 3);
  assert_memory_equal(f.b.data + 1, want, 2 * sizeof many);
  mlproto_buf_free(&f.b);
}

/* --------------------------------------------------------- round trip --- */

static void round_trip_through_a_strict_reader(void **state) {
  (void)state;
  static const char *const strs[] = {
      "plain", "", "\"quoted\" \\ back", "line\nbreak\r\ttab\b\f", "\x01\x02\x1f",
      "<script>&amp;</script>", "æøå ÆØÅ — ✓ \xf0\x9f\x98\x80", "\xe2\x80\xa8\xe2\x80\xa9",
  };
  size_t ns = sizeof strs / sizeof strs[0];
  for (int pretty = 0; pretty <= 1; pretty++) {
    fx f;
    fx_init(&f, 8192);
    f.j.pretty = pretty;
    mlproto_json_obj(&f.j);
    mlproto_json_key(&f.j, "strings");
    mlproto_json_arr(&f.j);
    for (size_t i = 0; i < ns; i++)
      mlproto_json_str(&f.j, strs[i]);
    mlproto_json_end(&f.j);
    mlproto_json_key(&f.j, "by_key");
    mlproto_json_obj(&f.j);
    for (size_t i = 0; i < ns; i++)
      mlproto_json_ku64(&f.j, strs[i], i);
    mlproto_json_end(&f.j);
    mlproto_json_ki64(&f.j, "n", -123456789);
    mlproto_json_kbool(&f.j, "b", 1);
    mlproto_json_kstr(&f.j, "z", NULL);
    mlproto_json_end(&f.j);
    assert_int_equal(mlproto_json_finish(&f.j), MLPROTO_OK);
    /* nothing a parser must reject, nothing an HTML parser would act on */
    for (size_t i = 0; i < f.b.len; i++) {
      uint8_t c = f.b.data[i];
      assert_true(c >= 0x20 || c == '\n');
      assert_true(c != '<' && c != '>' && c != '&');
      if (c == 0xe2 && i + 2 < f.b.len && f.b.data[i + 1] == 0x80)
        assert_true(f.b.data[i + 2] != 0xa8 && f.b.data[i + 2] != 0xa9); /* U+2028/9 raw */
    }
    tu_json *doc = tu_json_parse((const char *)f.b.data, f.b.len);
    assert_non_null(doc);
    const tu_json *arr = tu_json_get(doc, "strings"), *by = tu_json_get(doc, "by_key");
    assert_non_null(arr);
    assert_non_null(by);
    assert_int_equal(arr->n, ns);
    assert_int_equal(by->n, ns);
    for (size_t i = 0; i < ns; i++) {
      assert_string_equal(tu_json_at(arr, i)->str, strs[i]);
      assert_string_equal(by->keys[i], strs[i]);
      assert_int_equal(by->items[i].inum, (long long)i);
    }
    assert_int_equal(tu_json_get(doc, "n")->inum, -123456789);
    assert_int_equal(tu_json_get(doc, "z")->type, TU_JNULL);
    tu_json_free(doc);
    mlproto_buf_free(&f.b);
  }
}

/* --------------------------------------------------------------- CSV --- */

static void csv_quoting_and_formulas(void **state) {
  (void)state;
  static const uint8_t id[] = {0xde, 0xad};
  fx f;
  fx_init(&f, 2048);
  mlproto_csv *c = &f.c;
  mlproto_csv_str(c, "type");
  mlproto_csv_str(c, "name");
  mlproto_csv_row(c);
  mlproto_csv_str(c, "plain text");
  mlproto_csv_str(c, "a,b");
  mlproto_csv_str(c, "say \"hi\"");
  mlproto_csv_str(c, "two\r\nlines");
  mlproto_csv_str(c, "lf\nonly");
  mlproto_csv_str(c, NULL);
  mlproto_csv_str(c, "");
  mlproto_csv_str(c, "æøå");
  mlproto_csv_row(c);
  mlproto_csv_str(c, "=1+2");
  mlproto_csv_str(c, "+45 22 33 44 55");
  mlproto_csv_str(c, "-2");
  mlproto_csv_str(c, "@SUM(A1)");
  mlproto_csv_str(c, "\tx");
  mlproto_csv_str(c, "\rx");
  mlproto_csv_str(c, "=\"q\"");
  mlproto_csv_str(c, "a=b");
  mlproto_csv_row(c);
  /* where a ';'- or TAB-splitting spreadsheet would start a cell */
  mlproto_csv_str(c, "x;=cmd|'/c calc'!A0;y");
  mlproto_csv_str(c, "a\t@b");
  mlproto_csv_str(c, "=a;-b;c");
  mlproto_csv_str(c, "a;b;=");
  mlproto_csv_str(c, "a; =b");
  mlproto_csv_row(c);
  mlproto_csv_u64(c, 42);
  mlproto_csv_i64(c, -5);
  mlproto_csv_i64(c, INT64_MIN);
  mlproto_csv_hex(c, id, sizeof id);
  mlproto_csv_hex(c, NULL, 4);
  mlproto_csv_date(c, 20000);
  mlproto_csv_date(c, MLPROTO_DATE_NONE);
  mlproto_csv_time_ms(c, UINT64_C(1700000000123));
  mlproto_csv_time_ms(c, 0);
  mlproto_csv_row(c);
  mlproto_csv_row(c); /* an empty row */
  assert_int_equal(mlproto_csv_finish(c), MLPROTO_OK);
  assert_string_equal(text(&f.b), "type,name\r\n"
                                  "plain text,\"a,b\",\"say \"\"hi\"\"\",\"two\r\nlines\",\"lf\nonly\",,,æøå\r\n"
                                  "\"'=1+2\",\"'+45 22 33 44 55\",\"'-2\",\"'@SUM(A1)\",\"'\tx\",\"'\rx\","
                                  "\"'=\"\"q\"\"\",a=b\r\n"
                                  "\"x;'=cmd|'/c calc'!A0;y\",\"a\t'@b\",\"'=a;'-b;c\",\"a;b;'=\",a; =b\r\n"
                                  "42,-5,-9223372036854775808,dead,,2024-10-04,,2023-11-14T22:13:20.123Z,\r\n"
                                  "\r\n");
  mlproto_buf_free(&f.b);
}

static void csv_unfinished_row(void **state) {
  (void)state;
  fx f;
  fx_init(&f, 64);
  assert_int_equal(mlproto_csv_finish(&f.c), MLPROTO_OK); /* no rows at all */
  mlproto_csv_u64(&f.c, 1);
  assert_int_equal(mlproto_csv_finish(&f.c), MLPROTO_ERR_INVALID_ARGUMENT);
  mlproto_csv_row(&f.c); /* sticky */
  assert_int_equal(mlproto_csv_finish(&f.c), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_string_equal(text(&f.b), "1");
  mlproto_buf_free(&f.b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(compact_nesting_and_commas),
      cmocka_unit_test(top_level_scalars_and_empty_containers),
      cmocka_unit_test(pretty_mode),
      cmocka_unit_test(numbers),
      cmocka_unit_test(every_escape),
      cmocka_unit_test(null_strings),
      cmocka_unit_test(invalid_utf8_is_refused),
      cmocka_unit_test(cap_reached_mid_string),
      cmocka_unit_test(out_of_memory_is_sticky),
      cmocka_unit_test(depth_limit),
      cmocka_unit_test(misuse_errors),
      cmocka_unit_test(hex_dates_times),
      cmocka_unit_test(round_trip_through_a_strict_reader),
      cmocka_unit_test(csv_quoting_and_formulas),
      cmocka_unit_test(csv_unfinished_row),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
