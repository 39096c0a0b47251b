/* test_net_nocore.c — the running mentorlog-server cannot dump core
 * (issue 9): RLIMIT_CORE is 0, soft and hard (/proc/PID/limits), and the
 * process is not dumpable (prctl PR_SET_DUMPABLE 0).
 *
 * /proc/PID/status has no "dumpable" field; proc(5) gives the observable
 * effect instead: the files in /proc/PID of a process whose dumpable
 * attribute is not 1 are owned by root, whatever the process's uid (the
 * Uid: line): so /proc/PID/status of the server must be owned by root. That shows only for a non-root server, so
 * a test run as root first drops to nobody (65534), and the server it
 * starts runs as nobody too. The control is a freshly exec'd /bin/sleep of
 * the same user: dumpable, so its /proc/PID is owned by that user (the
 * check can fail). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* "Max core file size  SOFT  HARD  bytes" of /proc/pid/limits. */
static void core_limit(pid_t pid, char soft[32], char hard[32]) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  int found = 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "Max core file size", 18) == 0) {
      assert_int_equal(sscanf(line + 18, "%31s %31s", soft, hard), 2);
      found = 1;
    }
  fclose(f);
  assert_true(found);
}

/* First value of the Uid: line of /proc/pid/status. */
static long status_uid(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  long uid = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "Uid:", 4) == 0)
      uid = strtol(line + 4, NULL, 10);
  fclose(f);
  assert_true(uid >= 0);
  return uid;
}

/* Owner of /proc/pid/status (root for a process that is not dumpable; the
 * directory /proc/pid itself keeps the process's uid on current kernels). */
static long proc_owner(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  return (long)sb.st_uid;
}

static void test_server_cannot_dump_core(void **state) {
  (void)state;
  ih_server s;
  ih_start(&s, NULL);
  assert_true(ih_server_alive(&s));

  char soft[32], hard[32];
  core_limit(s.pid, soft, hard);
  print_message("server %d: core file size soft=%s hard=%s\n", (int)s.pid, soft, hard);
  assert_string_equal(soft, "0");
  assert_string_equal(hard, "0");

  /* the server runs as this test's (non-root) user, yet its
   * /proc/PID/status belongs to root: it is not dumpable */
  long uid = (long)getuid();
  assert_int_not_equal(uid, 0);
  assert_int_equal(status_uid(s.pid), uid);
  assert_int_equal(proc_owner(s.pid), 0);

  /* control: a dumpable process of the same user */
  pid_t ctl = fork();
  assert_true(ctl >= 0);
  if (ctl == 0) {
    execl("/bin/sleep", "sleep", "30", (char *)NULL);
    _exit(127);
  }
  long owner = -1;
  for (int i = 0; i < 200; i++) { /* until the exec is done */
    owner = proc_owner(ctl);
    if (owner == uid)
      break;
    ih_sleep_ms(10);
  }
  kill(ctl, SIGKILL);
  waitpid(ctl, NULL, 0);
  assert_int_equal(owner, uid);

  /* still a working server */
  char code[64];
  int status = 0;
  const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  assert_int_equal(ih_request_once(&s, req, sizeof req - 1, 0, &status, code, 10000), 0);
  assert_int_equal(status, 200);
  ih_stop(&s);
}

int main(void) {
  /* As root, /proc/PID of every process is owned by root: drop to nobody
   * (the server started below inherits it). */
  if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) {
    perror("test_net_nocore: cannot drop root to nobody");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_server_cannot_dump_core, ih_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
