/* No core dumps, other POSIX systems: the core size limit is 0 for the
 * process and its children (there is no portable "not dumpable"; cli.h). */
#include "cli.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

int cli_no_core_dumps(void) {
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) {
    fprintf(stderr, "%s: cannot forbid core dumps: %s\n", prog, strerror(errno));
    return EXIT_INTERNAL;
  }
  return 0;
}
