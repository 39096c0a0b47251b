/* libmentorlog as a release build makes it (mentorlog_client_release: built
 * without ML_INSECURE_FAST_KDF): the test-only fast KDF is refused by create
 * and rekey, a refused create leaves no profile behind, and the default KDF
 * is stored with Argon2id INTERACTIVE parameters (never reported weak). */
#include "testutil.h"

#include "mentorlog/mentorlog.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256], prof[300];

static const char *newdir(void) {
  const char *t = getenv("TMPDIR");
  snprintf(root, sizeof root, "%s/mlkdf-XXXXXX", t && *t ? t : "/tmp");
  assert_non_null(mkdtemp(root));
  snprintf(prof, sizeof prof, "%s/p", root);
  return prof;
}

static void rmroot(void) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  assert_int_equal(system(cmd), 0);
}

static mentorlog_open_options pass(const char *p, mentorlog_kdf kdf) {
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.passphrase = p;
  o.passphrase_len = strlen(p);
  o.kdf = kdf;
  return o;
}

static void fast_kdf_not_available(void **state) {
  (void)state;
  assert_int_equal(mentorlog_kdf_available(MENTORLOG_KDF_FAST_INSECURE), 0);
  assert_int_equal(mentorlog_kdf_available(MENTORLOG_KDF_INTERACTIVE), 1);
  assert_int_equal(mentorlog_kdf_available(MENTORLOG_KDF_MODERATE), 1);
  assert_int_equal(mentorlog_kdf_available(7), 0);
  assert_int_equal(mentorlog_kdf_available(-1), 0);
}

static void create_and_rekey_refuse_fast_kdf(void **state) {
  (void)state;
  const char *dir = newdir();
  mentorlog *h = (mentorlog *)&h; /* must come back NULL */
  mentorlog_open_options o = pass("correct horse battery", MENTORLOG_KDF_FAST_INSECURE);
  assert_int_equal(mentorlog_create(&h, dir, &o), MENTORLOG_ERR_INVALID_ARGUMENT);
  assert_null(h);
  assert_non_null(strstr(mentorlog_open_errmsg(), "ML_INSECURE_FAST_KDF"));
  /* nothing was created: the same directory takes a real profile */
  char db[400];
  snprintf(db, sizeof db, "%s/mentorlog.db", dir);
  struct stat sb;
  assert_int_not_equal(stat(db, &sb), 0);
  o.kdf = (mentorlog_kdf)7;
  assert_int_equal(mentorlog_create(&h, dir, &o), MENTORLOG_ERR_INVALID_ARGUMENT);
  assert_int_not_equal(stat(db, &sb), 0);

  o.kdf = MENTORLOG_KDF_INTERACTIVE;
  assert_int_equal(mentorlog_create(&h, dir, &o), 0);
  mentorlog_profile_info info = MENTORLOG_PROFILE_INFO_INIT;
  assert_int_equal(mentorlog_profile_info_get(h, &info), 0);
  assert_int_equal(info.kdf_weak, 0);
  assert_int_equal(info.keystore, 0);
  assert_int_equal(info.kdf_opslimit, crypto_pwhash_OPSLIMIT_INTERACTIVE);
  assert_int_equal(info.kdf_memlimit, crypto_pwhash_MEMLIMIT_INTERACTIVE);

  /* rekey to the fast KDF: refused, the old passphrase still opens */
  mentorlog_open_options n = pass("another passphrase", MENTORLOG_KDF_FAST_INSECURE);
  assert_int_equal(mentorlog_rekey(h, &n), MENTORLOG_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(mentorlog_errmsg(h), "ML_INSECURE_FAST_KDF"));
  assert_int_equal(mentorlog_profile_info_get(h, &info), 0);
  assert_int_equal(info.kdf_opslimit, crypto_pwhash_OPSLIMIT_INTERACTIVE);
  mentorlog_close(h);
  h = NULL;
  assert_int_equal(mentorlog_open(&h, dir, &n), MENTORLOG_ERR_WRONG_PASSPHRASE);
  assert_null(h);
  assert_int_equal(mentorlog_open(&h, dir, &o), 0);
  mentorlog_close(h);
  rmroot();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fast_kdf_not_available),
      cmocka_unit_test(create_and_rekey_refuse_fast_kdf),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
