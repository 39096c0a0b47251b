/*
 * test_enroll_codes.c — `admin enroll-code list` and `enroll-code revoke`
 * against the real server process over real TLS: a revoked code never
 * enrols a device through POST /v1/enroll (while the server runs, and after
 * a restart) while a new code still does, the listing shows ids and times but never a code, the default
 * lifetime is 24 h, and every refusal has its stable error name.
 */
#include "testutil.h"

#include "test_sync_util.h"

#include "mlproto/errors.h"

#include <inttypes.h>

typedef struct env {
  ih_server s;
  sc c;
  char mentor[40];
} env;

/* `admin --data DATA args...` with stdout and stderr both captured in out
 * (stderr first: it is unbuffered). Returns the exit status. */
static int admin_all(env *v, char *out, size_t cap, const char *args) {
  /* --store 'URI' when the store is not the SQLite file in DATA, its
   * single quotes (libpq's options='...') quoted for the shell */
  char store[2 * TEST_STORE_URI_CAP + 16] = "";
  const char *u = test_store_cli(v->s.store);
  if (u) {
    size_t n = (size_t)snprintf(store, sizeof store, "--store '");
    for (; *u && n + 6 < sizeof store; u++) {
      if (*u == '\'') n += (size_t)snprintf(store + n, sizeof store - n, "'\\''");
      else store[n++] = *u;
    }
    snprintf(store + n, sizeof store - n, "'");
  }
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "exec '%s' admin --data '%s' %s %s 2>&1", MLS_SERVER_BIN, v->s.data,
           store, args);
  const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  return ih_run(out, cap, 60000, argv);
}

/* Issues a code for the mentor: the code (stdout) and its id (stderr). */
static void issue(env *v, const char *ttl, char code[32], char id[24]) {
  char out[512], args[128];
  snprintf(args, sizeof args, "enroll-code %s%s%s", v->mentor, ttl ? " --ttl " : "", ttl ? ttl : "");
  assert_int_equal(admin_all(v, out, sizeof out, args), 0);
  const char *p = strstr(out, "code id ");
  assert_non_null(p);
  assert_int_equal(sscanf(p, "code id %16[0-9a-f],", id), 1);
  assert_int_equal(strlen(id), 16);
  /* the other line is the code: 4 groups of 5 */
  code[0] = 0;
  for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n"))
    if (strlen(l) == 23 && l[5] == '-' && l[11] == '-' && l[17] == '-') snprintf(code, 32, "%s", l);
  assert_int_equal(strlen(code), 23);
}

/* POST /v1/enroll for d with code: the status, the error name into name. */
static int enroll(env *v, sim_dev *d, const char *code, char name[64]) {
  size_t len, rl;
  int st;
  uint8_t *rb;
  uint8_t *b = sim_enroll_body(d, code, &len);
  assert_int_equal(sc_call(&v->c, "POST", "/v1/enroll", NULL, b, len, &st, &rb, &rl), 0);
  free(b);
  name[0] = 0;
  if (st != 200) sim_error_code(rb, rl, name);
  free(rb);
  return st;
}

static uint64_t log_size(env *v) {
  int st;
  uint8_t *rb;
  size_t rl;
  mlproto_sth s;
  memset(&s, 0, sizeof s);
  assert_int_equal(sc_call(&v->c, "GET", "/v1/log/sth", NULL, NULL, 0, &st, &rb, &rl), 0);
  assert_int_equal(st, 200);
  assert_int_equal(sc_sth(rb, rl, MLPROTO_MSG_SIGNED_TREE_HEAD, &s), 0);
  free(rb);
  return s.size;
}

/* The JSON object of code id in a `list --json` output (up to its '}'). */
static int json_entry(const char *json, const char *id, char *out, size_t cap) {
  char key[40];
  snprintf(key, sizeof key, "{\"id\":\"%s\"", id);
  const char *p = strstr(json, key);
  if (!p) return -1;
  const char *e = strchr(p, '}');
  if (!e) return -1;
  snprintf(out, cap, "%.*s", (int)(e - p + 1), p);
  return 0;
}

static uint64_t json_u64(const char *obj, const char *field) {
  char key[40];
  snprintf(key, sizeof key, "\"%s\":", field);
  const char *p = strstr(obj, key);
  assert_non_null(p);
  return strtoull(p + strlen(key), NULL, 10);
}

/* The code with and without its dashes is nowhere in text. */
static void no_code_in(const char *text, const char *code) {
  char bare[32];
  size_t n = 0;
  for (const char *p = code; *p; p++)
    if (*p != '-') bare[n++] = *p;
  bare[n] = 0;
  assert_null(strstr(text, code));
  assert_null(strstr(text, bare));
}

static void test_revoked_code_never_enrols(void **state) {
  (void)state;
  env v;
  memset(&v, 0, sizeof v);
  ih_start(&v.s, NULL);
  sc_init(&v.c, &v.s);
  const char *ma[] = {"mentor", "add", "Anna Jensen", NULL};
  assert_int_equal(ih_admin(&v.s, v.mentor, sizeof v.mentor, ma), 0);

  char ca[32], cb[32], cc[32], ia[24], ib[24], ic[24];
  issue(&v, NULL, ca, ia);
  issue(&v, NULL, cb, ib);
  issue(&v, "90s", cc, ic);

  /* list: the three, active, by id; the default lifetime is 24 h */
  static char out[16384];
  const char *lj[] = {"enroll-code", "list", "--json", NULL};
  assert_int_equal(ih_admin(&v.s, out, sizeof out, lj), 0);
  char obj[512];
  assert_int_equal(json_entry(out, ia, obj, sizeof obj), 0);
  assert_non_null(strstr(obj, "\"status\":\"active\""));
  assert_non_null(strstr(obj, v.mentor));
  assert_int_equal(json_u64(obj, "expires_ms") - json_u64(obj, "created_ms"),
                   UINT64_C(24) * 3600 * 1000);
  assert_int_equal(json_entry(out, ic, obj, sizeof obj), 0);
  assert_int_equal(json_u64(obj, "expires_ms") - json_u64(obj, "created_ms"), UINT64_C(90000));
  assert_int_equal(json_entry(out, ib, obj, sizeof obj), 0);
  no_code_in(out, ca);
  no_code_in(out, cb);
  no_code_in(out, cc);
  const char *lt[] = {"enroll-code", "list", NULL};
  assert_int_equal(ih_admin(&v.s, out, sizeof out, lt), 0);
  assert_non_null(strstr(out, ia));
  assert_non_null(strstr(out, "CODE ID"));
  no_code_in(out, ca);

  /* revoke A (by a prefix of its id) while the server runs: refused at enrolment */
  uint64_t size = log_size(&v);
  char pre[8];
  snprintf(pre, sizeof pre, "%.6s", ia);
  const char *rv[] = {"enroll-code", "revoke", pre, NULL};
  assert_int_equal(ih_admin(&v.s, out, sizeof out, rv), 0);
  char want[64];
  snprintf(want, sizeof want, "revoked code %s", ia);
  assert_string_equal(out, want);
  sim_dev d, e;
  sim_dev_init(&d);
  sim_dev_init(&e);
  char name[64];
  assert_int_equal(enroll(&v, &d, ca, name), 403);
  assert_string_equal(name, "ENROLL_CODE_INVALID");
  /* typed another way: the same code, the same answer */
  char lower[32];
  snprintf(lower, sizeof lower, "%s", ca);
  for (char *p = lower; *p; p++)
    if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
  assert_int_equal(enroll(&v, &d, lower, name), 403);
  assert_string_equal(name, "ENROLL_CODE_INVALID");
  assert_int_equal(log_size(&v), size); /* no DEVICE_ENROLLED */

  /* the listing: A is gone, and with --all shown revoked */
  assert_int_equal(ih_admin(&v.s, out, sizeof out, lj), 0);
  assert_int_equal(json_entry(out, ia, obj, sizeof obj), -1);
  const char *la[] = {"enroll-code", "list", "--all", "--json", NULL};
  assert_int_equal(ih_admin(&v.s, out, sizeof out, la), 0);
  assert_int_equal(json_entry(out, ia, obj, sizeof obj), 0);
  assert_non_null(strstr(obj, "\"status\":\"revoked\""));
  assert_true(json_u64(obj, "revoked_ms") > 0);

  /* B still enrols; it is then listed as used, by the device's id */
  assert_int_equal(enroll(&v, &d, cb, name), 200);
  assert_int_equal(log_size(&v), size + 1);
  char dl[2048];
  const char *dj[] = {"device", "list", "--json", NULL};
  assert_int_equal(ih_admin(&v.s, dl, sizeof dl, dj), 0);
  char dev_id[33];
  const char *p = strstr(dl, "{\"id\":\"");
  assert_non_null(p);
  snprintf(dev_id, sizeof dev_id, "%.32s", p + 7);
  assert_int_equal(ih_admin(&v.s, out, sizeof out, la), 0);
  assert_int_equal(json_entry(out, ib, obj, sizeof obj), 0);
  assert_non_null(strstr(obj, "\"status\":\"used\""));
  snprintf(want, sizeof want, "\"used_by\":\"%s\"", dev_id);
  assert_non_null(strstr(obj, want));
  assert_int_equal(ih_admin(&v.s, out, sizeof out, lj), 0);
  assert_int_equal(json_entry(out, ib, obj, sizeof obj), -1);
  assert_int_equal(json_entry(out, ic, obj, sizeof obj), 0);

  /* refusals, each with its stable name */
  char args[128];
  snprintf(args, sizeof args, "enroll-code revoke %s", ib); /* used: revoke the device */
  assert_int_equal(admin_all(&v, out, sizeof out, args), 1);
  assert_non_null(strstr(out, "(NOT_FOUND)"));
  assert_non_null(strstr(out, "already used"));
  snprintf(args, sizeof args, "enroll-code revoke %s", ia); /* already revoked */
  assert_int_equal(admin_all(&v, out, sizeof out, args), 1);
  assert_non_null(strstr(out, "(NOT_FOUND)"));
  /* unknown: an id that differs from every one issued in its first digit */
  char unknown[17] = "0000000000000000";
  for (const char *c = "0123456789abcdef"; *c; c++)
    if (*c != ia[0] && *c != ib[0] && *c != ic[0]) { unknown[0] = *c; break; }
  snprintf(args, sizeof args, "enroll-code revoke %s", unknown);
  assert_int_equal(admin_all(&v, out, sizeof out, args), 1);
  assert_non_null(strstr(out, "no such enrolment code: not found (NOT_FOUND)"));
  assert_int_equal(admin_all(&v, out, sizeof out, "enroll-code revoke abc"), 2);
  assert_int_equal(admin_all(&v, out, sizeof out, "enroll-code revoke 0123456789abcdefX"), 2);
  assert_int_equal(admin_all(&v, out, sizeof out, "enroll-code list --yaml"), 2);
  assert_int_equal(admin_all(&v, out, sizeof out, "enroll-code revoke"), 2);
  /* --help documents both */
  assert_int_equal(admin_all(&v, out, sizeof out, "--help"), 0);
  assert_non_null(strstr(out, "enroll-code list [--all] [--json]"));
  assert_non_null(strstr(out, "enroll-code revoke ID"));

  /* revoke C, restart: still refused, and B's device unaffected */
  snprintf(args, sizeof args, "enroll-code revoke %s", ic);
  assert_int_equal(admin_all(&v, out, sizeof out, args), 0);
  sc_disconnect(&v.c);
  assert_int_equal(ih_server_stop(&v.s), 0);
  assert_int_equal(ih_server_start(&v.s), 0);
  assert_int_equal(enroll(&v, &e, cc, name), 403);
  assert_string_equal(name, "ENROLL_CODE_INVALID");
  assert_int_equal(enroll(&v, &e, ca, name), 403);
  assert_string_equal(name, "ENROLL_CODE_INVALID");
  assert_int_equal(ih_admin(&v.s, out, sizeof out, lj), 0);
  assert_string_equal(out, "[]");
  /* a new code works as ever: enrolment and a session */
  assert_int_equal(sc_device_up(&v.c, &e, v.mentor), 0);

  /* no code reaches the server's log */
  char *log = ih_server_log(&v.s);
  assert_non_null(log);
  no_code_in(log, ca);
  no_code_in(log, cb);
  no_code_in(log, cc);
  free(log);

  sim_dev_free(&d);
  sim_dev_free(&e);
  sc_free(&v.c);
  ih_stop(&v.s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_revoked_code_never_enrols, ih_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
