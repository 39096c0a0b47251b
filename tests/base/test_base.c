/* Error table, allocator hook, hex, capped buffer, and the test JSON reader. */
#include "testutil.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void errors_table_is_consistent(void **state) {
  (void)state;
  static const int codes[] = {
#define MLPROTO_ERROR(name, value, http, msg) value,
#include "mlproto/errors.def"
#undef MLPROTO_ERROR
  };
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) {
    assert_true(codes[i] < 0);
    for (size_t j = i + 1; j < n; j++)
      assert_int_not_equal(codes[i], codes[j]); /* values unique */
    const char *name = mlproto_errname(codes[i]);
    assert_string_not_equal(name, "UNKNOWN_ERROR");
    assert_int_equal(mlproto_errcode(name), codes[i]); /* name round-trips */
    int http = mlproto_http_status(codes[i]);
    assert_true(http >= 400 && http <= 599);
    assert_true(strlen(mlproto_strerror(codes[i])) > 5);
  }
  assert_string_equal(mlproto_errname(0), "OK");
  assert_int_equal(mlproto_http_status(0), 200);
  assert_string_equal(mlproto_errname(-9999), "UNKNOWN_ERROR");
  assert_int_equal(mlproto_http_status(-9999), 500);
  assert_string_equal(mlproto_errname(MLPROTO_ERR_BAD_SIGNATURE), "BAD_SIGNATURE");
  assert_int_equal(mlproto_http_status(MLPROTO_ERR_RATE_LIMITED), 429);
  assert_int_equal(mlproto_http_status(MLPROTO_ERR_STORAGE), 500);
}

static void hex_round_trip_and_errors(void **state) {
  (void)state;
  uint8_t in[4] = {0x00, 0xab, 0x10, 0xff}, out[4] = {9, 9, 9, 9};
  char hex[9];
  mlproto_hex_encode(hex, in, 4);
  assert_string_equal(hex, "00ab10ff");
  assert_int_equal(mlproto_hex_decode(out, 4, "00AB10ff", 8), MLPROTO_OK);
  assert_memory_equal(in, out, 4);
  uint8_t keep[2] = {7, 7};
  assert_int_equal(mlproto_hex_decode(keep, 2, "abc", 3), MLPROTO_ERR_FIELD_SIZE);
  assert_int_equal(mlproto_hex_decode(keep, 2, "zz00", 4), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_int_equal(keep[0], 7); /* untouched on error */
}

static void buf_respects_cap(void **state) {
  (void)state;
  mlproto_buf b;
  mlproto_buf_init(&b, 10);
  assert_int_equal(mlproto_buf_append(&b, "hello", 5), MLPROTO_OK);
  assert_int_equal(mlproto_buf_printf(&b, "%d", 1234), MLPROTO_OK);
  assert_int_equal(b.len, 9);
  assert_int_equal(mlproto_buf_append(&b, "xy", 2), MLPROTO_ERR_TOO_LARGE);
  assert_int_equal(b.len, 9); /* unchanged */
  assert_memory_equal(b.data, "hello1234", 9);
  mlproto_buf_consume(&b, 5);
  assert_int_equal(b.len, 4);
  assert_memory_equal(b.data, "1234", 4);
  mlproto_buf_free(&b);
  assert_null(b.data);
}

static int fail_after;
static void *counting_malloc(size_t n, void *ud) {
  (void)ud;
  return fail_after-- > 0 ? malloc(n) : NULL;
}
static void *counting_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  return fail_after-- > 0 ? realloc(p, n) : NULL;
}
static void plain_free(void *p, void *ud) {
  (void)ud;
  free(p);
}

static void allocator_hook_failures_are_errors(void **state) {
  (void)state;
  mlproto_allocator a = {counting_malloc, counting_realloc, plain_free, NULL};
  mlproto_set_allocator(&a);
  fail_after = 0;
  assert_null(mlproto_malloc(10));
  assert_null(mlproto_strdup("x"));
  mlproto_buf b;
  mlproto_buf_init(&b, 1000);
  assert_int_equal(mlproto_buf_append(&b, "abc", 3), MLPROTO_ERR_OUT_OF_MEMORY);
  assert_int_equal(b.len, 0);
  fail_after = 1;
  assert_int_equal(mlproto_buf_append(&b, "abc", 3), MLPROTO_OK);
  mlproto_buf_free(&b);
  assert_null(mlproto_calloc(SIZE_MAX / 2, 4)); /* overflow refused */
  mlproto_set_allocator(NULL);
  void *p = mlproto_malloc(1);
  assert_non_null(p);
  mlproto_free(p);
}

static void json_reader(void **state) {
  (void)state;
  const char *t = "{\"a\": [1, -2.5e1, \"x\\u00e6\\n\"], \"b\": {\"c\": true, \"d\": null}}";
  tu_json *j = tu_json_parse(t, strlen(t));
  assert_non_null(j);
  const tu_json *a = tu_json_get(j, "a");
  assert_int_equal(a->n, 3);
  assert_int_equal(tu_json_at(a, 0)->inum, 1);
  assert_true(tu_json_at(a, 1)->num == -25.0);
  assert_string_equal(tu_json_at(a, 2)->str, "x\xc3\xa6\n");
  assert_true(tu_json_get(tu_json_get(j, "b"), "c")->boolean);
  assert_int_equal(tu_json_get(tu_json_get(j, "b"), "d")->type, TU_JNULL);
  tu_json_free(j);
  static const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "\"\\x\"", "01", "[1] 2", "tru"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_null(tu_json_parse(bad[i], strlen(bad[i])));
}

/* docs/errors.md is generated from errors.def: every code must have its row. */
static void errors_doc_is_current(void **state) {
  (void)state;
  size_t len;
  char *path = tu_path(TU_TESTS_DIR, "../docs/errors.md");
  char *doc = tu_read_file(path, &len);
  assert_non_null(doc);
  size_t rows = 0;
  for (const char *p = doc; (p = strstr(p, "\n| `")) != NULL; p++)
    rows++;
#define MLPROTO_ERROR(name, value, http, msg)                                                      \
  do {                                                                                             \
    char row[512];                                                                                 \
    snprintf(row, sizeof row, "| `%s` | %d | %d | %s |", #name, value, http, msg);                 \
    if (!strstr(doc, row))                                                                         \
      fail_msg("docs/errors.md lacks \"%s\": run scripts/gen-errors-doc", row);                   \
    rows--;                                                                                        \
  } while (0);
#include "mlproto/errors.def"
#undef MLPROTO_ERROR
  assert_int_equal(rows, 0); /* no stale rows either */
  free(doc);
  free(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(errors_table_is_consistent),
      cmocka_unit_test(hex_round_trip_and_errors),
      cmocka_unit_test(buf_respects_cap),
      cmocka_unit_test(allocator_hook_failures_are_errors),
      cmocka_unit_test(json_reader),
      cmocka_unit_test(errors_doc_is_current),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
