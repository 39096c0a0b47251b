#include "admin_run.h"

#include "admin.h"
#include "test_store.h"
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sa_admin(const char *dir, char *out, size_t cap, const char *const *args) {
  const char *argv[12] = {"admin", "--data", dir};
  int argc = 3;
  const char *store = test_store_of(dir);
  if (!store && test_store_is_pg())
    fail_msg("sa_admin: no test store made for %s (test_store_uri): it would run on SQLite", dir);
  if (test_store_cli(store)) {
    argv[argc++] = "--store";
    argv[argc++] = store;
  }
  for (size_t i = 0; args && args[i] && argc < 11; i++)
    argv[argc++] = args[i];
  argv[argc] = NULL;
  char path[512];
  snprintf(path, sizeof path, "%s/admin.out", dir);
  fflush(stdout);
  int saved = dup(1);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(fd, 1);
  close(fd);
  int rc = mls_admin_main(argc, (char **)argv);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  size_t n = 0;
  char *s = tu_read_file(path, &n);
  if (out && cap) {
    snprintf(out, cap, "%s", s ? s : "");
    char *nl = strchr(out, '\n');
    if (nl && nl[1] == 0) *nl = 0;
  }
  free(s);
  unlink(path);
  return rc;
}
