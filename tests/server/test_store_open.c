/*
 * test_store_open.c — the store's plumbing (issue 12): which store a
 * command line names (datadir.h mls_datadir_store_resolve), which URIs are
 * refused (store.h mls_store_uri_check: unknown schemes, empty targets,
 * passwords), a store that remembers the log that first opened it and
 * refuses another (log.c: MLPROTO_ERR_STORE_OTHER_LOG, nothing written), and
 * what `serve` and `admin` (the real binary) answer to a bad --store.
 *
 * The STORE_OTHER_LOG cases run on the test's store (test_store.h): SQLite
 * or, as test_store_open_pg, PostgreSQL.
 */
#include "testutil.h"

#include "app.h"
#include "datadir.h"
#include "store.h"
#include "test_store.h"

#include "mlproto/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MLS_SERVER_BIN
#error "MLS_SERVER_BIN must name the mentorlog-server binary"
#endif

/* ------------------------------------------------ command-line resolve --- */

static void test_resolve(void **state) {
  (void)state;
  const char *dir = NULL, *why = NULL;
  char uri[MLS_STORE_URI_MAX + 1];
  /* --data DIR: the SQLite store in it */
  assert_int_equal(mls_datadir_store_resolve("/srv/ml", NULL, &dir, uri, &why), MLPROTO_OK);
  assert_string_equal(dir, "/srv/ml");
  assert_string_equal(uri, "sqlite:/srv/ml/server.db");
  assert_null(why);
  /* --store sqlite:DIR is the same (a directory on a command line) */
  assert_int_equal(mls_datadir_store_resolve(NULL, "sqlite:/srv/ml", &dir, uri, &why), MLPROTO_OK);
  assert_string_equal(dir, "/srv/ml");
  assert_string_equal(uri, "sqlite:/srv/ml/server.db");
  /* both, naming one directory */
  assert_int_equal(mls_datadir_store_resolve("/srv/ml", "sqlite:/srv/ml", &dir, uri, &why), MLPROTO_OK);
  assert_string_equal(dir, "/srv/ml");
  assert_string_equal(uri, "sqlite:/srv/ml/server.db");
  /* both, naming two: refused, with a message */
  assert_int_equal(mls_datadir_store_resolve("/srv/ml", "sqlite:/srv/other", &dir, uri, &why),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_non_null(why);
  assert_non_null(strstr(why, "two directories"));
  assert_null(dir);
  assert_string_equal(uri, "");
  /* neither */
  why = NULL;
  assert_int_equal(mls_datadir_store_resolve(NULL, NULL, &dir, uri, &why), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_non_null(why);
  assert_non_null(strstr(why, "--data"));
  /* PostgreSQL needs --data too (the log key, TLS, log.name) */
  why = NULL;
  assert_int_equal(mls_datadir_store_resolve(NULL, "postgresql://ml@db.example/mentorlog", &dir, uri, &why),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_non_null(why);
  assert_non_null(strstr(why, "--data"));
  assert_null(dir);
  /* with it, the URI is the store as given */
  assert_int_equal(mls_datadir_store_resolve("/srv/ml", "postgresql://ml@db.example/mentorlog", &dir,
                                             uri, &why),
                   MLPROTO_OK);
  assert_string_equal(dir, "/srv/ml");
  assert_string_equal(uri, "postgresql://ml@db.example/mentorlog");
  assert_int_equal(mls_datadir_store_resolve("/srv/ml", "postgresql:host=/run/pg dbname=ml", &dir, uri,
                                             &why),
                   MLPROTO_OK);
  assert_string_equal(uri, "postgresql:host=/run/pg dbname=ml");
  /* a bad URI: mls_store_uri_check's refusal and message */
  why = NULL;
  assert_int_equal(mls_datadir_store_resolve("/srv/ml", "mysql://db/ml", &dir, uri, &why),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  assert_non_null(why);
  assert_non_null(strstr(why, "unknown store"));
  assert_null(dir);
}

/* --------------------------------------------------------- URI checks --- */

static void refused(const char *uri, int want, const char *in_why) {
  const char *why = NULL;
  int rc = mls_store_uri_check(uri, &why);
  if (rc != want) fail_msg("%s: %s, want %s", uri, mlproto_errname(rc), mlproto_errname(want));
  assert_non_null(why);
  if (!strstr(why, in_why)) fail_msg("%s: \"%s\" lacks \"%s\"", uri, why, in_why);
  /* the message is static: no part of the URI (its password) in it */
  assert_null(strstr(why, "s3cret"));
  /* and mls_store_open refuses it before reaching any database */
  mls_store *st = (mls_store *)1;
  assert_int_equal(mls_store_open(&st, uri, NULL), want);
  assert_null(st);
}

static void accepted(const char *uri, const char *backend) {
  const char *why = "x";
  int rc = mls_store_uri_check(uri, &why);
  if (rc) fail_msg("%s refused: %s (%s)", uri, mlproto_errname(rc), why ? why : "");
  assert_null(why);
  assert_string_equal(mls_store_uri_backend(uri), backend);
}

static void test_uri_check(void **state) {
  (void)state;
  refused("", MLPROTO_ERR_INVALID_ARGUMENT, "empty");
  refused("mysql://db/ml", MLPROTO_ERR_INVALID_ARGUMENT, "unknown store");
  refused("/var/lib/ml/server.db", MLPROTO_ERR_INVALID_ARGUMENT, "unknown store");
  refused("SQLITE:/x", MLPROTO_ERR_INVALID_ARGUMENT, "unknown store");
  refused("sqlite:", MLPROTO_ERR_INVALID_ARGUMENT, "sqlite:");
  /* passwords: in the user-info, the query, a key/value string */
  refused("postgresql://ml:s3cret@db.example/mentorlog", MLPROTO_ERR_INVALID_ARGUMENT, "password");
  refused("postgres://ml:s3cret@db.example:5432/mentorlog", MLPROTO_ERR_INVALID_ARGUMENT, "password");
  refused("postgresql://ml@db.example/mentorlog?password=s3cret", MLPROTO_ERR_INVALID_ARGUMENT, "password");
  refused("postgresql://ml@db.example/mentorlog?sslmode=require&password=s3cret",
          MLPROTO_ERR_INVALID_ARGUMENT, "password");
  refused("postgresql:host=db.example password=s3cret", MLPROTO_ERR_INVALID_ARGUMENT, "password");
  refused("postgresql:host=db.example password = s3cret", MLPROTO_ERR_INVALID_ARGUMENT, "password");
  refused("postgresql:password=s3cret host=db.example", MLPROTO_ERR_INVALID_ARGUMENT, "password");
  /* (libpq's names are lower case: this one is no name it knows) */
  refused("postgresql:host=db.example PASSWORD\t=s3cret", MLPROTO_ERR_INVALID_ARGUMENT, "libpq");
  /* ... read as libpq reads them: a URI after the prefix, a percent-encoded
   * name, a newline as the separator */
  refused("postgresql:postgresql://u:s3cret@h/db", MLPROTO_ERR_INVALID_ARGUMENT, "password");
  refused("postgresql://h/db?pass%77ord=s3cret", MLPROTO_ERR_INVALID_ARGUMENT, "password");
  refused("postgresql:host=h\npassword=s3cret", MLPROTO_ERR_INVALID_ARGUMENT, "password");
  /* what libpq cannot read at all */
  refused("postgresql:host='unterminated", MLPROTO_ERR_INVALID_ARGUMENT, "libpq");
  refused("postgresql:nosuchkey=1", MLPROTO_ERR_INVALID_ARGUMENT, "libpq");
  /* too long */
  char big[MLS_STORE_URI_MAX + 32];
  memset(big, 'a', sizeof big);
  memcpy(big, "sqlite:", 7);
  big[sizeof big - 1] = '\0';
  refused(big, MLPROTO_ERR_TOO_LARGE, "1024");
  /* accepted: a user without a password, key/value strings, the SQLite file */
  accepted("postgresql://ml@db.example/mentorlog", "postgresql");
  accepted("postgres://db.example:5433/mentorlog?sslmode=verify-full", "postgresql");
  accepted("postgresql:host=/run/postgresql dbname=ml user=ml", "postgresql");
  accepted("postgresql:host=/run/pg dbname=ml passfile=/etc/ml/pgpass", "postgresql");
  accepted("postgresql:host=/run/pg options='-c search_path=t_00'", "postgresql");
  accepted("sqlite:/var/lib/ml/server.db", "sqlite");
  assert_null(mls_store_uri_backend("mysql://x"));
  assert_null(mls_store_uri_backend(NULL));
  /* the libpq string of each form (admin migrate connects with it) */
  assert_string_equal(mls_store_uri_conninfo("postgresql://ml@db.example/mentorlog"),
                      "postgresql://ml@db.example/mentorlog");
  assert_string_equal(mls_store_uri_conninfo("postgres://db.example/ml"), "postgres://db.example/ml");
  assert_string_equal(mls_store_uri_conninfo("postgresql:host=/run/pg dbname=ml"),
                      "host=/run/pg dbname=ml");
  assert_null(mls_store_uri_conninfo("sqlite:/var/lib/ml/server.db"));
  assert_null(mls_store_uri_conninfo("mysql://x"));
  assert_null(mls_store_uri_conninfo(NULL));
}

/* ----------------------------------------------------- STORE_OTHER_LOG --- */

typedef struct fx {
  char root[64];
  char a[96], b[96], c[96]; /* data directories */
  char store[TEST_STORE_URI_CAP];
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  strcpy(f->root, "/tmp/mls-store-XXXXXX");
  assert_non_null(mkdtemp(f->root));
  snprintf(f->a, sizeof f->a, "%s/a", f->root);
  snprintf(f->b, sizeof f->b, "%s/b", f->root);
  snprintf(f->c, sizeof f->c, "%s/c", f->root);
  assert_int_equal(test_store_uri(f->store, sizeof f->store, f->a), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(test_store_drop(f->store), 0);
  free(f);
  return 0;
}

static int app_open(const char *dir, const char *store, const char *log_name, mls_app **out) {
  mls_app_config cfg = {.data_dir = dir, .store_uri = store, .create = 1, .log_name = log_name};
  return mls_app_open(out, &cfg);
}

static void copy_file(const char *from_dir, const char *to_dir, const char *name) {
  char a[160], b[160];
  snprintf(a, sizeof a, "%s/%s", from_dir, name);
  snprintf(b, sizeof b, "%s/%s", to_dir, name);
  size_t n = 0;
  char *s = tu_read_file(a, &n);
  assert_non_null(s);
  mkdir(to_dir, 0700);
  int fd = open(b, O_WRONLY | O_CREAT | O_EXCL, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, s, n), (ssize_t)n);
  close(fd);
  free(s);
}

/* What the store holds that an open may write: the log's size, its head,
 * the identity the first open recorded. */
typedef struct snap {
  uint64_t size;
  uint8_t sth[256], ident[MLS_META_MAX];
  size_t sth_len, ident_len;
} snap;

static snap snapshot(const char *uri) {
  snap s;
  memset(&s, 0, sizeof s);
  mls_store *st = t_store_open(uri);
  mls_txn *tx = NULL;
  assert_int_equal(mls_store_begin(st, MLS_TXN_READ, &tx), MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, log_size, &s.size), MLPROTO_OK);
  int rc = MLS_TX(tx, sth_get, s.sth, sizeof s.sth, &s.sth_len); /* none while the log is empty */
  if (rc == MLPROTO_ERR_NOT_FOUND) s.sth_len = 0;
  else assert_int_equal(rc, MLPROTO_OK);
  assert_int_equal(MLS_TX(tx, meta_get, "log_identity", s.ident, sizeof s.ident, &s.ident_len),
                   MLPROTO_OK);
  mls_store_rollback(tx);
  mls_store_close(st);
  return s;
}

static void assert_same(const snap *x, const snap *y) {
  assert_int_equal(x->size, y->size);
  assert_int_equal(x->sth_len, y->sth_len);
  assert_memory_equal(x->sth, y->sth, x->sth_len);
  assert_int_equal(x->ident_len, y->ident_len);
  assert_memory_equal(x->ident, y->ident, x->ident_len);
}

static void test_store_other_log(void **state) {
  fx *f = *state;
  mls_app *app = NULL;
  /* the first open records the log's key and name in the store */
  assert_int_equal(app_open(f->a, f->store, "a.example/log", &app), MLPROTO_OK);
  mls_app_close(app);
  snap before = snapshot(f->store);
  assert_int_equal(before.ident_len, 64); /* key || SHA-256(name) */

  /* another data directory: its own new key, another log */
  app = (mls_app *)1;
  assert_int_equal(app_open(f->b, f->store, "a.example/log", &app), MLPROTO_ERR_STORE_OTHER_LOG);
  assert_null(app);
  snap after = snapshot(f->store);
  assert_same(&before, &after);

  /* the same key, another log.name */
  copy_file(f->a, f->c, "server.key");
  app = (mls_app *)1;
  assert_int_equal(app_open(f->c, f->store, "c.example/log", &app), MLPROTO_ERR_STORE_OTHER_LOG);
  assert_null(app);
  after = snapshot(f->store);
  assert_same(&before, &after);

  /* a copy of the same data directory (key and name): another instance of
   * the one log, accepted */
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", f->b, f->c);
  assert_int_equal(system(cmd), 0);
  copy_file(f->a, f->b, "server.key");
  copy_file(f->a, f->b, "log.name");
  assert_int_equal(app_open(f->b, f->store, NULL, &app), MLPROTO_OK);
  mls_app_close(app);
  /* and the first one reopens as before */
  assert_int_equal(app_open(f->a, f->store, NULL, &app), MLPROTO_OK);
  mls_app_close(app);
  after = snapshot(f->store);
  assert_same(&before, &after);
}

/* --------------------------------------------------- the real binary --- */

/* Runs argv with stdout and stderr into one buffer (NUL-terminated);
 * returns the exit status, -1 when it did not exit. */
static int run(char *out, size_t cap, const char *const *argv) {
  char path[] = "/tmp/mls-store-out-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(fd);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  size_t n = 0;
  char *s = tu_read_file(path, &n);
  unlink(path);
  snprintf(out, cap, "%s", s ? s : "");
  free(s);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_refusal(const char *const *argv, const char *msg) {
  char out[8192];
  int rc = run(out, sizeof out, argv);
  if (rc != 2) fail_msg("%s: exit %d, want 2:\n%s", argv[1], rc, out);
  if (!strstr(out, msg)) fail_msg("no \"%s\" in:\n%s", msg, out);
  assert_null(strstr(out, "s3cret")); /* a refused password is never echoed */
}

static void test_command_lines(void **state) {
  fx *f = *state;
  const char *bin = MLS_SERVER_BIN;
  const struct {
    const char *store, *msg;
  } bad[] = {
      {"mysql://db/ml", "unknown store"},
      {"sqlite:", "sqlite: needs a file or directory"},
      {"postgresql://ml:s3cret@db.example/ml", "password"},
      {"postgresql:host=db.example password=s3cret", "password"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *serve[] = {bin, "serve", "--data", f->a, "--listen", "127.0.0.1:0", "--store",
                           bad[i].store, NULL};
    expect_refusal(serve, bad[i].msg);
    const char *admin[] = {bin, "admin", "--data", f->a, "--store", bad[i].store, "mentor", "list",
                           NULL};
    expect_refusal(admin, bad[i].msg);
  }
  /* two directories */
  char other[120];
  snprintf(other, sizeof other, "sqlite:%s", f->b);
  const char *serve2[] = {bin, "serve", "--data", f->a, "--store", other, NULL};
  expect_refusal(serve2, "two directories");
  const char *admin2[] = {bin, "admin", "--data", f->a, "--store", other, "init", NULL};
  expect_refusal(admin2, "two directories");
  /* PostgreSQL without --data */
  const char *serve3[] = {bin, "serve", "--store", "postgresql://ml@db.example/ml", NULL};
  expect_refusal(serve3, "needs --data");
  const char *admin3[] = {bin, "admin", "--store", "postgresql://ml@db.example/ml", "init", NULL};
  expect_refusal(admin3, "needs --data");
  /* nothing was created by any of them */
  struct stat st;
  assert_int_not_equal(stat(f->a, &st), 0);
  assert_int_not_equal(stat(f->b, &st), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resolve),
      cmocka_unit_test(test_uri_check),
      cmocka_unit_test_setup_teardown(test_store_other_log, setup, teardown),
      cmocka_unit_test_setup_teardown(test_command_lines, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
