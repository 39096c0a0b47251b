/*
 * bench.h — shared pieces of mentorlog-bench.
 *
 * Subcommands: one line each in BENCH_COMMANDS below, implemented as
 * `int bench_<name>(int argc, char **argv)` in bench_<name>.c (argv[0] is the
 * subcommand name). To add one: add the X(...) line and the file; the CMake
 * glob picks the file up.
 *
 * Output: human progress on stderr; machine-readable lines on stdout, one per
 * figure: "RESULT <name> <value> <unit>" (bench_result).
 * Exit codes: 0 success, 1 a benchmark failed, 2 usage error.
 */
#ifndef ML_BENCH_H
#define ML_BENCH_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_COMMANDS(X)                                                                          \
  X(protocol, "records built/verified per second (1 and 2 threads), Merkle inclusion "            \
              "proofs, raw Ed25519 for comparison")                                          \
  X(server, "the real mentorlog-server over TLS: push from 1 and 8 devices (and the store's "    \
            "share of it; SQLite or PostgreSQL, 1-8 instances behind HAProxy), TLS "             \
            "handshakes, idle connections and memory, /healthz under load, the PouchDB peer")   \
  X(client, "libmentorlog: bulk contacts/s in batches, durable save p50/p99 beside a raw "        \
            "SQLite FULL commit, open of a 100k-record profile, compliance of a grant")            \
  X(sync, "the sync engine against the real server over TLS: push of 20,000 records, pull into " \
          "a fresh approved device, incremental sync latency; --peer: PouchDB beside it")           \
  X(reports, "the jobcentre's compliance report of the real server over TLS for 2,000 grants: "   \
             "latency p50/p99 and page weight, JSON and CSV; then mentorlog-audit report and "   \
             "verify of the exported log")                                                       \
  X(audit, "mentorlog-audit verify and report of a 200,000-record audit log file (made once by "  \
           "the real server): records/s")

#define BENCH_DECLARE(name, help) int bench_##name(int argc, char **argv);
BENCH_COMMANDS(BENCH_DECLARE)
#undef BENCH_DECLARE

/* Monotonic clock in seconds. */
double bench_now(void);
/* Print "RESULT <name> <value> <unit>" to stdout (flushed). */
void bench_result(const char *name, double value, const char *unit);
/* Parse a positive number option value; 0 on success, -1 (message printed)
 * otherwise. */
int bench_parse_double(const char *opt, const char *s, double min, double max, double *out);

#endif
