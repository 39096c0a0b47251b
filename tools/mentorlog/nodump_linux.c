/* No core dumps, Linux: the process is not dumpable (no core, no ptrace
 * attach or /proc/PID/mem read by another process of the same user), and
 * its core size limit is 0 for it and its children (cli.h). */
#include "cli.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

int cli_no_core_dumps(void) {
  struct rlimit none = {0, 0};
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || setrlimit(RLIMIT_CORE, &none) != 0) {
    fprintf(stderr, "%s: cannot forbid core dumps: %s\n", prog, strerror(errno));
    return EXIT_INTERNAL;
  }
  return 0;
}
