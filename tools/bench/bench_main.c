/* mentorlog-bench: dispatch to the subcommand table (wireguard-tools style). */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bench_cmd {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *help;
} bench_cmd;

#define BENCH_ENTRY(n, h) {#n, bench_##n, h},
static const bench_cmd commands[] = {BENCH_COMMANDS(BENCH_ENTRY)};
#undef BENCH_ENTRY

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_result(const char *name, double value, const char *unit) {
  printf("RESULT %s %.6g %s\n", name, value, unit);
  fflush(stdout);
}

int bench_parse_double(const char *opt, const char *s, double min, double max, double *out) {
  char *end;
  errno = 0;
  double v = s ? strtod(s, &end) : 0;
  if (!s || errno || end == s || *end || !(v >= min && v <= max)) {
    fprintf(stderr, "mentorlog-bench: %s needs a number in [%g, %g]\n", opt, min, max);
    return -1;
  }
  *out = v;
  return 0;
}

static void usage(FILE *f) {
  fprintf(f, "usage: mentorlog-bench <command> [options]   (--help after a command for its options)\n\n"
             "commands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "\nOutput: lines \"RESULT <name> <value> <unit>\" on stdout.\n"
             "Exit: 0 ok, 1 a benchmark failed, 2 usage error.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(argv[1], commands[i].name))
      return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "mentorlog-bench: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
