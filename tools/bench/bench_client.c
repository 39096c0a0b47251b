/* mentorlog-bench client: libmentorlog on a temporary profile.
 *
 *   mentorlog-bench client [--dir DIR] [--bulk N] [--batch B] [--saves S]
 *                          [--big R] [--keep]
 *
 * One run, one file system (DIR, default $TMPDIR or /tmp):
 *   bulk      N contacts with a 400-byte sealed note, B per batch
 *             (mentorlog_batch_begin/commit): records per second;
 *   save      S durable single saves of one contact with a note (own
 *             transaction, synchronous=FULL), p50 and p99, alternating with
 *             S raw SQLite commits of a blob of the same envelope size
 *             (plain table, WAL, synchronous=FULL, same directory), so load
 *             changes on the shared machine hit both alike;
 *   big       a profile of R records (100 cases): time to open it and to the
 *             first query (the case list), and to list one case's contacts;
 *   compliance of a 6-month grant with 100 contacts (library call: load,
 *             verify, derive heads, compute), mean over repeated calls.
 * Profiles are created with MENTORLOG_KDF_FAST_INSECURE (Argon2id at
 * libsodium's minimum cost) so that creation and open do not measure the
 * KDF; the output says so. Temporary files are removed unless --keep. */
#include "bench.h"

#include "mentorlog/mentorlog.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

static const char NOTE[] =
    "Met at the library cafe. He had slept badly but came on time and we went through the "
    "letters from the municipality together; two were reminders about the dentist, one was the "
    "new housing benefit decision. We called the dentist and booked a time for next Thursday. "
    "He wants to apply for the warehouse job on Jobnet; he writes a first draft before we meet "
    "again and I bring a printed CV template.";

#define PASS "bench passphrase"

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static mentorlog_open_options opts(void) {
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.passphrase = PASS;
  o.passphrase_len = strlen(PASS);
  o.kdf = MENTORLOG_KDF_FAST_INSECURE;
  return o;
}

static int check(mentorlog *h, int err, const char *what) {
  if (err)
    fprintf(stderr, "client: %s: %s (%s) %s\n", what, mentorlog_strerror(err), mentorlog_errname(err),
            mentorlog_errmsg(h));
  return err;
}

/* Contact k of a run: 2026 dates, spread over the day, a held phone call. */
static mentorlog_contact_params contact(uint64_t k) {
  mentorlog_contact_params p = {.version = MENTORLOG_CONTACT_VERSION,
                                .start_ms = 1767261600000LL + (int64_t)(k % 100000) * 60000,
                                .minutes = 45, .channel = MENTORLOG_CHANNEL_HOME_VISIT,
                                .outcome = MENTORLOG_OUTCOME_HELD, .transport_minutes = 10, .note = NOTE};
  return p;
}

/* n contacts spread over ncases cases, batch per transaction. */
static int fill(mentorlog *h, uint8_t (*cases)[MENTORLOG_ID_BYTES], size_t ncases, uint64_t n, uint64_t batch,
                double *seconds) {
  double t0 = bench_now();
  for (uint64_t done = 0; done < n;) {
    int err = mentorlog_batch_begin(h);
    if (check(h, err, "batch begin"))
      return err;
    for (uint64_t i = 0; i < batch && done < n; i++, done++) {
      mentorlog_contact_params p = contact(done);
      if ((err = mentorlog_contact_add(h, NULL, cases[done % ncases], &p))) {
        check(h, err, "contact add");
        mentorlog_batch_rollback(h);
        return err;
      }
    }
    if (check(h, mentorlog_batch_commit(h), "batch commit"))
      return -1;
  }
  *seconds = bench_now() - t0;
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double pct(double *v, size_t n, double p) {
  qsort(v, n, sizeof *v, cmp_double);
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i];
}

/* A plain SQLite table in dir: WAL, synchronous=FULL. */
static int raw_open(sqlite3 **db, sqlite3_stmt **ins, const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/raw.db", dir);
  if (sqlite3_open(path, db) != SQLITE_OK ||
      sqlite3_exec(*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                        "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB NOT NULL);",
                   NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(*db, "INSERT INTO t(b) VALUES (?)", -1, ins, NULL) != SQLITE_OK) {
    fprintf(stderr, "client: raw sqlite: %s\n", sqlite3_errmsg(*db));
    return -1;
  }
  return 0;
}

static int raw_commit(sqlite3 *db, sqlite3_stmt *ins, const void *blob, int len) {
  if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    return -1;
  sqlite3_bind_blob(ins, 1, blob, len, SQLITE_STATIC);
  int rc = sqlite3_step(ins);
  sqlite3_reset(ins);
  if (rc != SQLITE_DONE)
    return -1;
  return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Mean envelope size of the stored contacts (a read-only side connection). */
static int envelope_size(const char *profile) {
  char path[4400];
  snprintf(path, sizeof path, "%s/mentorlog.db", profile);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int size = -1;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db, "SELECT avg(length(envelope)) FROM records WHERE kind = 5", -1, &st, NULL) ==
          SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    size = (int)(sqlite3_column_double(st, 0) + 0.5);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return size;
}

static const char *fs_name(const char *dir) {
  struct statfs s;
  if (statfs(dir, &s) != 0)
    return "unknown";
  switch ((unsigned long)s.f_type) {
  case 0xEF53: return "ext4";
  case 0x01021994: return "tmpfs";
  case 0x58465342: return "xfs";
  case 0x9123683E: return "btrfs";
  case 0x794C7630: return "overlayfs";
  default: return "other";
  }
}

static void usage(FILE *f) {
  fprintf(f, "usage: mentorlog-bench client [--dir DIR] [--bulk N] [--batch B] [--saves S] [--big R] [--keep]\n"
             "  --dir DIR   parent of the temporary profiles (default $TMPDIR or /tmp)\n"
             "  --bulk N    contacts created in batches (default 20000)\n"
             "  --batch B   contacts per batch (default 1000)\n"
             "  --saves S   durable single saves and raw commits (default 1000)\n"
             "  --big R     records in the profile that is opened (default 100000)\n"
             "  --keep      leave the temporary profiles\n"
             "Profiles use the test-only fast KDF (MENTORLOG_KDF_FAST_INSECURE).\n");
}

int bench_client(int argc, char **argv) {
  double bulk = 20000, batch = 1000, saves = 1000, big = 100000;
  const char *parent = getenv("TMPDIR");
  int keep = 0;
  if (!parent || !*parent)
    parent = "/tmp";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
      parent = argv[++i];
    } else if (!strcmp(argv[i], "--bulk")) {
      if (bench_parse_double("--bulk", i + 1 < argc ? argv[++i] : NULL, 1, 1e7, &bulk))
        return 2;
    } else if (!strcmp(argv[i], "--batch")) {
      if (bench_parse_double("--batch", i + 1 < argc ? argv[++i] : NULL, 1, 1e6, &batch))
        return 2;
    } else if (!strcmp(argv[i], "--saves")) {
      if (bench_parse_double("--saves", i + 1 < argc ? argv[++i] : NULL, 10, 1e6, &saves))
        return 2;
    } else if (!strcmp(argv[i], "--big")) {
      if (bench_parse_double("--big", i + 1 < argc ? argv[++i] : NULL, 100, 1e7, &big))
        return 2;
    } else if (!strcmp(argv[i], "--keep")) {
      keep = 1;
    } else {
      usage(stderr);
      return 2;
    }
  }
  char root[4096], prof[4200], bigprof[4200];
  if (snprintf(root, sizeof root, "%s/mlbench-client-XXXXXX", parent) >= (int)sizeof root || !mkdtemp(root)) {
    fprintf(stderr, "client: cannot create a directory in %s\n", parent);
    return 1;
  }
  snprintf(prof, sizeof prof, "%s/p", root);
  snprintf(bigprof, sizeof bigprof, "%s/big", root);
  fprintf(stderr, "client: profiles in %s (%s); KDF: fast test setting (Argon2id opslimit 1, 8 MiB), "
                  "not the interactive default\n", root, fs_name(parent));

  int rc = 1;
  mentorlog *h = NULL;
  sqlite3 *raw = NULL;
  sqlite3_stmt *ins = NULL;
  double *t_save = calloc((size_t)saves, sizeof *t_save), *t_raw = calloc((size_t)saves, sizeof *t_raw);
  uint8_t *blob = NULL;
  enum { NCASES = 10, BIGCASES = 100 };
  uint8_t cases[BIGCASES][MENTORLOG_ID_BYTES];
  mentorlog_open_options o = opts();
  if (!t_save || !t_raw || check(h, mentorlog_create(&h, prof, &o), "create profile"))
    goto out;
  for (int i = 0; i < NCASES; i++) {
    char name[32];
    snprintf(name, sizeof name, "Citizen %d", i);
    if (check(h, mentorlog_case_open(h, cases[i], name, "+4512345678"), "case open"))
      goto out;
  }

  /* ---- bulk ---- */
  fprintf(stderr, "client: bulk: %.0f contacts with notes, %.0f per batch...\n", bulk, batch);
  double secs;
  if (fill(h, cases, NCASES, (uint64_t)bulk, (uint64_t)batch, &secs))
    goto out;
  bench_result("client_bulk_records_per_s", bulk / secs, "records/s");

  /* ---- durable single saves beside raw commits ---- */
  int esize = envelope_size(prof);
  if (esize <= 0 || raw_open(&raw, &ins, root) || !(blob = malloc((size_t)esize)))
    goto out;
  for (int i = 0; i < esize; i++)
    blob[i] = (uint8_t)(i * 131 + 7);
  fprintf(stderr, "client: %.0f single saves and %.0f raw %d-byte commits, alternating...\n", saves, saves,
          esize);
  for (size_t i = 0; i < (size_t)saves; i++) {
    mentorlog_contact_params p = contact(i);
    double t0 = bench_now();
    if (check(h, mentorlog_contact_add(h, NULL, cases[i % NCASES], &p), "single save"))
      goto out;
    double t1 = bench_now();
    if (raw_commit(raw, ins, blob, esize)) {
      fprintf(stderr, "client: raw commit: %s\n", sqlite3_errmsg(raw));
      goto out;
    }
    double t2 = bench_now();
    t_save[i] = (t1 - t0) * 1e3;
    t_raw[i] = (t2 - t1) * 1e3;
  }
  double s50 = pct(t_save, (size_t)saves, 0.5), s99 = pct(t_save, (size_t)saves, 0.99);
  double r50 = pct(t_raw, (size_t)saves, 0.5), r99 = pct(t_raw, (size_t)saves, 0.99);
  bench_result("client_save_p50_ms", s50, "ms");
  bench_result("client_save_p99_ms", s99, "ms");
  bench_result("sqlite_raw_commit_p50_ms", r50, "ms");
  bench_result("sqlite_raw_commit_p99_ms", r99, "ms");
  bench_result("client_save_vs_raw_commit_p50", s50 / r50, "ratio");
  bench_result("client_envelope_bytes", esize, "bytes");

  /* ---- compliance: a 6-month grant with 100 contacts ---- */
  uint8_t ccase[MENTORLOG_ID_BYTES], grant[MENTORLOG_ID_BYTES];
  mentorlog_grant_params gp = {.version = MENTORLOG_GRANT_VERSION, .jobcentre = "0101", .reference = "B-1",
                               .minutes_per_week = 120};
  mentorlog_rule_default(&gp.rule);
  if (mentorlog_parse_date(&gp.start, "2026-01-05") || mentorlog_parse_date(&gp.end, "2026-07-04") ||
      check(h, mentorlog_case_open(h, ccase, "Compliance Case", NULL), "case open") ||
      check(h, mentorlog_grant_open(h, grant, ccase, &gp), "grant open") ||
      check(h, mentorlog_batch_begin(h), "batch"))
    goto out;
  for (int i = 0; i < 100; i++) {
    mentorlog_contact_params p = contact(0);
    p.start_ms = 1767607200000LL + (int64_t)i * 43 * 3600000; /* from 2026-01-05 09:00Z, every 43 h */
    p.channel = i % 7 == 6 ? MENTORLOG_CHANNEL_MESSAGE : MENTORLOG_CHANNEL_PHONE;
    if (check(h, mentorlog_contact_add(h, NULL, ccase, &p), "contact add")) {
      mentorlog_batch_rollback(h);
      goto out;
    }
  }
  if (check(h, mentorlog_batch_commit(h), "batch commit"))
    goto out;
  int64_t now = wall_ms();
  int reps = 0;
  double t0 = bench_now(), t1;
  do {
    mentorlog_compliance *c = NULL;
    if (check(h, mentorlog_grant_compliance(h, grant, now, &c), "compliance"))
      goto out;
    mentorlog_compliance_free(c);
    reps++;
  } while ((t1 = bench_now()) - t0 < 1.0 || reps < 20);
  bench_result("client_compliance_6mo_100_contacts_us", (t1 - t0) / reps * 1e6, "us");
  mentorlog_close(h);
  h = NULL;

  /* ---- a profile of R records: open and first query ---- */
  fprintf(stderr, "client: filling a profile of %.0f records...\n", big);
  if (check(h, mentorlog_create(&h, bigprof, &o), "create big profile"))
    goto out;
  for (int i = 0; i < BIGCASES; i++) {
    char name[32];
    snprintf(name, sizeof name, "Big Citizen %d", i);
    if (check(h, mentorlog_case_open(h, cases[i], name, NULL), "case open"))
      goto out;
  }
  uint64_t have = 0;
  if (check(h, mentorlog_counts(h, &have, NULL), "count") ||
      fill(h, cases, BIGCASES, (uint64_t)big > have ? (uint64_t)big - have : 0, 5000, &secs))
    goto out;
  mentorlog_close(h);
  h = NULL;
  t0 = bench_now();
  if (check(h, mentorlog_open(&h, bigprof, &o), "open big profile"))
    goto out;
  t1 = bench_now();
  mentorlog_case *cs = NULL;
  size_t ncs = 0;
  if (check(h, mentorlog_cases(h, &cs, &ncs), "case list"))
    goto out;
  double t2 = bench_now();
  mentorlog_cases_free(cs, ncs);
  mentorlog_contact *ct = NULL;
  size_t nct = 0;
  if (check(h, mentorlog_contacts(h, cases[0], &ct, &nct), "contact list"))
    goto out;
  double t3 = bench_now();
  mentorlog_contacts_free(ct, nct);
  if (check(h, mentorlog_counts(h, &have, NULL), "count"))
    goto out;
  bench_result("client_big_profile_records", (double)have, "records");
  bench_result("client_big_open_ms", (t1 - t0) * 1e3, "ms");
  bench_result("client_big_first_query_ms", (t2 - t1) * 1e3, "ms");
  bench_result("client_big_case_contacts_ms", (t3 - t2) * 1e3, "ms");
  bench_result("client_big_case_contacts", (double)nct, "contacts");
  rc = 0;
out:
  if (rc)
    fprintf(stderr, "client: benchmark failed\n");
  mentorlog_close(h);
  sqlite3_finalize(ins);
  sqlite3_close(raw);
  free(blob);
  free(t_save);
  free(t_raw);
  if (!keep) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
      fprintf(stderr, "client: could not remove %s\n", root);
  } else {
    fprintf(stderr, "client: kept %s\n", root);
  }
  return rc;
}
