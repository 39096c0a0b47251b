/* admin_run.h — `mentorlog-server admin` run in the test's own process
 * (mls_admin_main), for the tests that drive the server's app directly. */
#ifndef ML_TEST_ADMIN_RUN_H
#define ML_TEST_ADMIN_RUN_H

#include <stddef.h>

/* Runs `admin --data dir [--store URI] args...` (args NULL-terminated, at
 * most 6; URI: the store test_store_uri() made for dir, test_store.h) with its
 * standard output captured into out (cap bytes, may be NULL), without its
 * final newline. Returns the command's exit status. */
int sa_admin(const char *dir, char *out, size_t cap, const char *const *args);

#endif
