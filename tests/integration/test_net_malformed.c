/* test_net_malformed.c — the malformed-input corpus (malformed/cases, made
 * by malformed/gen_corpus.py): every case is sent over TLS on a fresh
 * connection, then the client half-closes; each must be answered with its
 * own status and error code, the server must stay up, and a valid client on
 * a long-lived keep-alive connection must keep being served between cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define CASE_MAX (1u << 20)

struct tcase {
  char name[128];
  int status;
  char code[64];
  uint8_t *data;
  size_t len;
};

static int cmp_names(const void *a, const void *b) {
  return strcmp(((const struct tcase *)a)->name, ((const struct tcase *)b)->name);
}

static size_t load_cases(struct tcase **out) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/cases", ML_MALFORMED_DIR);
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t n = 0, cap = 512;
  struct tcase *v = calloc(cap, sizeof *v);
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t nl = strlen(e->d_name);
    if (nl < 6 || strcmp(e->d_name + nl - 5, ".http") != 0) continue;
    assert_true(nl < sizeof v[0].name);
    if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *buf = malloc(CASE_MAX);
    size_t len = fread(buf, 1, CASE_MAX, f);
    fclose(f);
    uint8_t *nlp = memchr(buf, '\n', len);
    assert_non_null(nlp);
    *nlp = '\0';
    struct tcase *t = &v[n++];
    memset(t, 0, sizeof *t);
    memcpy(t->name, e->d_name, nl + 1);
    assert_int_equal(sscanf((char *)buf, "# expect %d %63s", &t->status, t->code), 2);
    t->len = len - (size_t)(nlp + 1 - buf);
    t->data = malloc(t->len ? t->len : 1);
    memcpy(t->data, nlp + 1, t->len);
    free(buf);
  }
  closedir(d);
  qsort(v, n, sizeof *v, cmp_names);
  *out = v;
  return n;
}

static const char health[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

static void valid_client_served(ih_server *s, ih_raw *keep) {
  static uint8_t buf[65536];
  size_t got, used;
  int status;
  char code[64];
  assert_int_equal(ih_raw_send(keep, health, strlen(health), 10000), 0);
  assert_int_equal(ih_raw_recv(keep, buf, sizeof buf, &got, 1, 10000), 1);
  assert_int_equal(ih_parse_response(buf, got, &status, code, &used), 0);
  assert_int_equal(status, 200);
}

static void test_corpus(void **state) {
  struct tcase *cases;
  size_t n = load_cases(&cases);
  assert_true(n >= 300);
  ih_server s;
  /* The valid client idles between its requests for longer than a case. */
  const char *opts[] = {"--idle-timeout", "120s", "--request-timeout", "10s", NULL};
  assert_int_equal(ih_server_init(&s, opts), 0);
  assert_int_equal(ih_server_start(&s), 0);
  ih_raw keep = {0};
  assert_int_equal(ih_raw_connect(&s, &keep, 0, 10000), 0);
  size_t failures = 0;
  for (size_t i = 0; i < n; i++) {
    int status = 0;
    char code[64] = "";
    int rc = ih_request_once(&s, cases[i].data, cases[i].len, 1, &status, code, 15000);
    if (rc != 0 || status != cases[i].status || strcmp(code, cases[i].code) != 0) {
      fprintf(stderr, "case %s: expected %d %s, got %s %d %s\n", cases[i].name, cases[i].status,
              cases[i].code, rc ? "no answer" : "", status, code);
      failures++;
    }
    assert_true(ih_server_alive(&s));
    if (i % 10 == 0) valid_client_served(&s, &keep);
  }
  valid_client_served(&s, &keep);
  ih_raw_free(&keep);
  for (size_t i = 0; i < n; i++) free(cases[i].data);
  free(cases);
  assert_int_equal(ih_server_stop(&s), 0);
  ih_server_cleanup(&s);
  assert_int_equal(failures, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
