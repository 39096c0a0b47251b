/*
 * test_sync_kill.c — a device killed (SIGKILL) in the middle of a sync,
 * 100 times, against the REAL server over TLS (sync_net.h).
 *
 * The device is enrolled with 300 records in its outbox. Then, 100 times, a
 * child process (fork) opens the profile and loops: write a record, run the
 * engine to the end (pushes of 2 records, so the backlog takes many
 * batches), again; the parent kills it after a random 0..50 ms and checks
 * that the profile opens and verifies (mentorlog_verify: integrity, own
 * chain, outbox). The child tells the parent through a pipe when a sync
 * starts and ends, so the test knows where the kills landed: it requires
 * that most of them hit a running sync, and at least 10 of them the
 * pushing of the backlog (records still in the outbox after the kill). At the end one more engine runs to
 * DONE and:
 *
 *   the outbox is empty;
 *   the server's log holds each of the device's records exactly once: as
 *   many rows as the device's chain is long (seq 1..N without a gap, N =
 *   the receipts the device keeps), no record id twice;
 *   the device holds as many records as its mentor's log has device
 *   records (its own: it is the mentor's only device).
 *
 *   ML_SYNC_SEED   seed of the kill delays (default fixed); the failing
 *                  iteration and its delay are printed.
 */
#include "sync_net.h"
#include "sync_state.h"

#include "mlproto/crypto.h"
#include "mlproto/merkle.h"
#include "mlproto/util.h"

#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define KILLS 100
#define BACKLOG 300
#define DEFAULT_SEED 7

static uint8_t g_key[MENTORLOG_KEY_BYTES];

/* The child: never returns. Writes 'S' before a sync and 'D' after it on
 * fd; exits 2 (with a message on stderr) on any error, 3 when not killed
 * within 20 s. */
static void child(const char *dir, int fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  sn_dev d;
  memset(&d, 0, sizeof d);
  snprintf(d.name, sizeof d.name, "child");
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.key = g_key;
  int rc = mentorlog_open(&d.h, dir, &o);
  if (rc) {
    fprintf(stderr, "child: open: %s %s\n", mentorlog_errname(rc), mentorlog_open_errmsg());
    _exit(2);
  }
  mentorlog_sync_info i;
  memset(&i, 0, sizeof i);
  i.version = MENTORLOG_SYNC_INFO_VERSION;
  if (mentorlog_sync_status(d.h, &i) || !(d.c = sn_client_for(i.server_url, i.server_pin))) {
    fprintf(stderr, "child: no server in the profile\n");
    _exit(2);
  }
  mentorlog_case *cs = NULL;
  size_t nc = 0;
  if (mentorlog_cases(d.h, &cs, &nc) || nc == 0) _exit(2);
  uint8_t c[16];
  memcpy(c, cs[0].id, 16);
  mentorlog_cases_free(cs, nc);
  mentorlog_sync_options so = MENTORLOG_SYNC_OPTIONS_INIT;
  so.push_records = 2;
  int64_t end = sn_wall_ms() + 20000;
  for (unsigned n = 0; sn_wall_ms() < end; n++) {
    char t[64];
    snprintf(t, sizeof t, "Written by child %d, round %u.", (int)getpid(), n);
    if ((rc = mentorlog_note_add(d.h, NULL, c, t, strlen(t)))) {
      fprintf(stderr, "child: note: %s %s\n", mentorlog_errname(rc), mentorlog_errmsg(d.h));
      _exit(2);
    }
    if (write(fd, "S", 1) != 1) _exit(2);
    if (sn_run(&d, &so, 20000)) {
      fprintf(stderr, "child: %s\n", sn_describe(&d));
      _exit(2);
    }
    if (write(fd, "D", 1) != 1) _exit(2);
  }
  _exit(3);
}

/* What the server's log holds of one author: rows, distinct record ids,
 * the highest seq (SELECT count(*), count(DISTINCT record_id), max(seq)). */
typedef struct author_ud {
  const uint8_t *author;
  uint64_t rows, ids, maxseq;
  uint8_t (*seen)[16];
} author_ud;

static int author_fn(void *ud, const mls_log_entry *e) {
  author_ud *a = ud;
  if (memcmp(e->author, a->author, 32) != 0) return 0;
  int dup = 0;
  for (uint64_t i = 0; i < a->ids && !dup; i++) dup = memcmp(a->seen[i], e->record_id, 16) == 0;
  if (!dup) {
    a->seen = realloc(a->seen, (size_t)(a->ids + 1) * 16);
    assert_non_null(a->seen);
    memcpy(a->seen[a->ids++], e->record_id, 16);
  }
  a->rows++;
  if (e->seq > a->maxseq) a->maxseq = e->seq;
  return 0;
}

static void test_kill_during_sync(void **state) {
  (void)state;
  uint64_t seed = sd_env_u64("ML_SYNC_SEED", DEFAULT_SEED);
  sd_rng rng = {seed};
  ih_server s;
  ih_start(&s, NULL);
  char mentor[40];
  const char *ma[] = {"mentor", "add", "Anna Jensen", NULL};
  assert_int_equal(ih_admin(&s, mentor, sizeof mentor, ma), 0);
  uint8_t mid[16];
  assert_int_equal(mlproto_hex_decode(mid, 16, mentor, 32), 0);
  randombytes_buf(g_key, sizeof g_key);
  sn_dev d;
  sn_dev_create(&d, s.root, "device", g_key);
  sn_enroll(&d, &s, mentor, "phone");
  uint8_t c[16];
  assert_int_equal(mentorlog_case_open(d.h, c, "Emil Sørensen", NULL), 0);
  assert_int_equal(mentorlog_batch_begin(d.h), 0);
  for (int i = 0; i < BACKLOG; i++) {
    char t[64];
    snprintf(t, sizeof t, "Backlog note %d.", i);
    assert_int_equal(mentorlog_note_add(d.h, NULL, c, t, strlen(t)), 0);
  }
  assert_int_equal(mentorlog_batch_commit(d.h), 0);
  uint64_t records, outbox;
  assert_int_equal(mentorlog_counts(d.h, &records, &outbox), 0);
  assert_true(outbox >= BACKLOG);
  mentorlog_sync_info info = sn_status(&d);
  uint8_t pub[32];
  mentorlog_device_id(d.h, pub);
  sn_dev_close(&d);

  unsigned in_sync = 0, after_done = 0, before_sync = 0, mid_backlog = 0;
  for (unsigned k = 0; k < KILLS; k++) {
    unsigned delay = sd_below(&rng, 51);
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(p[0]);
      child(d.dir, p[1]);
    }
    close(p[1]);
    ih_sleep_ms(delay);
    kill(pid, SIGKILL);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFSIGNALED(st))
      fail_msg("kill %u (delay %u ms, ML_SYNC_SEED=%" PRIu64 "): the child exited %d before the kill",
               k, delay, seed, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    char buf[256];
    ssize_t n;
    char last = 0;
    unsigned marks = 0;
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    while ((n = read(p[0], buf, sizeof buf)) > 0) {
      last = buf[n - 1];
      marks += (unsigned)n;
    }
    close(p[0]);
    if (last == 'S') in_sync++;
    else if (last == 'D') after_done++;
    else before_sync++;
    (void)marks;
    /* the profile survived: it opens and verifies */
    mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
    o.key = g_key;
    int rc = mentorlog_open(&d.h, d.dir, &o);
    if (rc) fail_msg("kill %u (delay %u ms): open: %s %s", k, delay, mentorlog_errname(rc), mentorlog_open_errmsg());
    rc = mentorlog_verify(d.h);
    if (rc) fail_msg("kill %u (delay %u ms): verify: %s %s", k, delay, mentorlog_errname(rc), mentorlog_errmsg(d.h));
    uint64_t ob = 0;
    assert_int_equal(mentorlog_counts(d.h, &records, &ob), 0);
    if (ob > 1) mid_backlog++; /* killed while the backlog was still being pushed */
    mentorlog_close(d.h);
    d.h = NULL;
  }
  print_message("%u kills: %u in a sync, %u between syncs, %u before the first sync; %u while the backlog"
                " was being pushed (seed %" PRIu64 ")\n", KILLS, in_sync, after_done, before_sync, mid_backlog, seed);
  /* the test is about kills in the middle of a sync, also of its pushes */
  assert_true(in_sync >= KILLS / 2);
  assert_true(mid_backlog >= 10);

  /* a last engine resumes and finishes */
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.key = g_key;
  assert_int_equal(mentorlog_open(&d.h, d.dir, &o), 0);
  sn_sync_ok(&d);
  assert_int_equal(mentorlog_counts(d.h, &records, &outbox), 0);
  assert_int_equal(outbox, 0);
  assert_int_equal(mentorlog_verify(d.h), 0);
  info = sn_status(&d);
  assert_int_equal(info.unsent, 0);
  author_ud au = {.author = pub};
  t_log_each(s.store, author_fn, &au);
  int64_t rows = (int64_t)au.rows, ids = (int64_t)au.ids, maxseq = (int64_t)au.maxseq;
  free(au.seen);
  /* the device records of the mentor's log (server events are not held as records) */
  t_log_filter mf = T_LOG_ALL;
  mf.mentor_id = mid;
  mf.type = MLPROTO_LOG_DEVICE_RECORD;
  int64_t mentor_rows = (int64_t)sn_log_count(&s, mf);
  print_message("server: %lld records of the device (seq 1..%lld), device: %llu receipts, %llu records held\n",
                (long long)rows, (long long)maxseq, (unsigned long long)info.receipts,
                (unsigned long long)records);
  assert_true(rows >= BACKLOG + 2);
  assert_int_equal(ids, rows);
  assert_int_equal(maxseq, rows);
  assert_int_equal((int64_t)info.receipts, rows);
  assert_int_equal((int64_t)records, mentor_rows);
  sn_dev_close(&d);
  ih_stop(&s);
}

int main(void) {
  if (mlproto_crypto_init()) return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test_teardown(test_kill_during_sync, ih_teardown)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
