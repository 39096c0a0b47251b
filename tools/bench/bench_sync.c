/* mentorlog-bench sync: the real sync engine (libmentorlog's
 * mentorlog/sync.h) against the real mentorlog-server over TLS on
 * loopback, driven as the CLI drives it: every request the engine asks for
 * goes through tools/netclient's ml_transport_request (pinned TLS, retries
 * of 429/503/connection loss) on ONE kept-alive connection per device.
 *
 *   mentorlog-bench sync [options]        (--help lists them)
 *
 * The bench starts `mentorlog-server serve` (as `mentorlog-bench server`,
 * bench_server.c) and one mentor, then:
 *   1. device A (a new profile) enrols through the engine; 10 cases and N
 *      contacts with a ~400-byte sealed note are written into it offline
 *      (mentorlog_batch_begin/commit, untimed);
 *   2. push: A syncs. The figure is the records A's engine had pushed when it
 *      sent its first pull, over the time since the sync started (session,
 *      push batches and the checkpoint checks that follow them); the whole
 *      sync (which then pulls A's own records back and checks its receipts)
 *      is reported beside it;
 *   3. device B enrols, A learns of it at a sync, A approves it with B's
 *      fingerprint (compared as a person would) and syncs its key grants;
 *   4. pull: B's first sync into its fresh profile, timed whole (session,
 *      pull pages, every envelope's signature, chain and hashes, every
 *      checkpoint and its consistency and the spot inclusion proofs checked
 *      by the engine, records stored sealed at rest). B must then read every
 *      contact's note, and no profile file of B may hold a note's plaintext;
 *   5. incremental, R times: A writes K new contacts (untimed), A syncs
 *      (timed: the push figure), then B syncs (timed: the pull figure), then
 *      A syncs with nothing new (timed); medians over the R repetitions, all
 *      on the connections opened in 1 and 3 (the number of TCP connections
 *      each device opened is reported);
 *   6. after the server is stopped, with --peer: the PouchDB peer
 *      (../shared/bench/peer-pouchdb/run.sh N), and the ratios.
 * Figures are RESULT lines on stdout (bench.h); progress and a summary with
 * the command line on stderr. Profiles use the test-only fast KDF when the
 * build has it, else the interactive one (the output says which; each
 * profile is created and opened once, untimed). The server and every temporary directory are removed on
 * every exit path (SIGINT/SIGTERM stop the phase in progress). */
#include "bench_server_int.h"

#include "transport.h"

#include "mentorlog/mentorlog.h"
#include "mentorlog/sync.h"

#define SYNC_NCASES 10
#define SYNC_MAX_HEADERS 8
#define SYNC_IO_TIMEOUT_MS 60000
#define SYNC_PASS "bench passphrase"
#define SYNC_NOTE_PROBE "warehouse job on Jobnet" /* a piece of NOTE searched for at rest */

static const char NOTE[] =
    "Met at the library cafe. He had slept badly but came on time and we went through the "
    "letters from the municipality together; two were reminders about the dentist, one was the "
    "new housing benefit decision. We called the dentist and booked a time for next Thursday. "
    "He wants to apply for the warehouse job on Jobnet; he writes a first draft before we meet "
    "again and I bring a printed CV template.";

/* A device: its profile, its one connection, its cases. */
typedef struct sdev {
  const char *name;
  char dir[4200];
  mentorlog *h;
  ml_netclient *nc;
  uint8_t cases[SYNC_NCASES][MENTORLOG_ID_BYTES];
  uint64_t written; /* contacts written so far */
} sdev;

/* What one engine run did, seen from the transport. */
typedef struct run {
  double t0, t_first_pull, t_end;     /* bench_now() */
  uint64_t pushed_at_first_pull;
  mentorlog_sync_progress p;          /* at the end */
  unsigned req_session, req_push, req_pull, req_checkpoint, req_proof, req_other;
  double s_session, s_push, s_pull, s_checkpoint, s_proof, s_other; /* seconds in those requests */
  unsigned lost;                      /* requests delivered as status 0 */
  unsigned retries;                   /* extra attempts made by the transport */
  unsigned waits;                     /* WAIT actions */
  double waited_s;                    /* time slept for them */
} run;

static int64_t unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int lib_check(mentorlog *h, int err, const char *what) {
  if (err)
    fprintf(stderr, "sync: %s: %s (%s) %s\n", what, mentorlog_errname(err), mentorlog_strerror(err),
            h ? mentorlog_errmsg(h) : mentorlog_open_errmsg());
  return err;
}

static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* One request of path that took secs (from the call to the answer). */
static void count_request(run *r, const char *path, double secs) {
  if (starts(path, "/v1/session")) r->req_session++, r->s_session += secs;
  else if (starts(path, "/v1/push")) r->req_push++, r->s_push += secs;
  else if (starts(path, "/v1/pull")) r->req_pull++, r->s_pull += secs;
  else if (starts(path, "/v1/log/checkpoint")) r->req_checkpoint++, r->s_checkpoint += secs;
  else if (starts(path, "/v1/log/proof")) r->req_proof++, r->s_proof += secs;
  else r->req_other++, r->s_other += secs;
}

/* One engine run on d until DONE: 0, or -1 with what failed printed (the
 * engine's error and message, the request it had sent and the answer). */
static int drive(sdev *d, const mentorlog_sync_options *o, run *r) {
  memset(r, 0, sizeof *r);
  mentorlog_sync *s = NULL;
  if (lib_check(d->h, mentorlog_sync_new(d->h, o, &s), "sync new")) return -1;
  ml_transport_options to = ML_TRANSPORT_OPTIONS_INIT;
  char last_req[320] = "", last_code[64] = "";
  int last_status = -1, rc = -1;
  r->t0 = bench_now();
  while (!g_stop) {
    mentorlog_sync_action a;
    mentorlog_sync_step(s, unix_ms(), &a);
    if (a.kind == MENTORLOG_SYNC_DONE) {
      rc = 0;
      break;
    }
    if (a.kind == MENTORLOG_SYNC_FAIL) {
      fprintf(stderr, "sync: %s: the engine failed: %s: %s (last request %s, answer %d %s)\n", d->name,
              mentorlog_errname(a.error), mentorlog_sync_errmsg(s), last_req, last_status, last_code);
      break;
    }
    if (a.kind == MENTORLOG_SYNC_WAIT) {
      int64_t ms = a.until_ms - unix_ms();
      r->waits++;
      if (ms > 0) {
        double t = bench_now();
        bs_sleep_ns((long)(ms > 60000 ? 60000 : ms) * 1000000L);
        r->waited_s += bench_now() - t;
      }
      continue;
    }
    if (a.kind != MENTORLOG_SYNC_SEND || a.n_headers > SYNC_MAX_HEADERS) {
      fprintf(stderr, "sync: %s: unexpected action %d (%zu headers)\n", d->name, a.kind, a.n_headers);
      break;
    }
    if (starts(a.path, "/v1/pull") && r->t_first_pull == 0) {
      mentorlog_sync_progress p = MENTORLOG_SYNC_PROGRESS_INIT;
      mentorlog_sync_get_progress(s, &p);
      r->t_first_pull = bench_now();
      r->pushed_at_first_pull = p.pushed;
    }
    snprintf(last_req, sizeof last_req, "%s %s", a.method, a.path);
    mlproto_http_header hs[SYNC_MAX_HEADERS];
    for (size_t i = 0; i < a.n_headers; i++) hs[i] = (mlproto_http_header){a.headers[i].name, a.headers[i].value};
    ml_netclient_response resp;
    ml_transport_report rep = {0, 0, 0};
    double t_req = bench_now();
    int err = ml_transport_request(d->nc, &to, a.method, a.path, hs, a.n_headers, a.body, a.body_len, &resp, &rep);
    count_request(r, a.path, bench_now() - t_req);
    r->retries += rep.attempts > 1 ? rep.attempts - 1 : 0;
    if (err != MLPROTO_OK) {
      r->lost++;
      last_status = 0;
      snprintf(last_code, sizeof last_code, "%s", mlproto_errname(err));
      mentorlog_sync_deliver(s, a.request_id, 0, NULL, 0, NULL, 0, unix_ms());
      continue;
    }
    mentorlog_sync_header rh[2];
    size_t nrh = 0;
    if (resp.content_type) rh[nrh++] = (mentorlog_sync_header){"Content-Type", resp.content_type};
    if (resp.retry_after) rh[nrh++] = (mentorlog_sync_header){"Retry-After", resp.retry_after};
    last_status = resp.status;
    last_code[0] = 0;
    if (resp.status >= 400) sim_error_code(resp.body, resp.body_len, last_code);
    mentorlog_sync_deliver(s, a.request_id, resp.status, rh, nrh, resp.body, resp.body_len, unix_ms());
    ml_netclient_response_free(&resp);
  }
  r->t_end = bench_now();
  r->p = (mentorlog_sync_progress)MENTORLOG_SYNC_PROGRESS_INIT;
  mentorlog_sync_get_progress(s, &r->p);
  mentorlog_sync_free(s);
  if (g_stop) fprintf(stderr, "sync: %s: interrupted\n", d->name);
  return rc;
}

/* One line on what a run did: counts, and requests (number, time from the
 * call to the answer) by route; the rest of the run's time is the engine's
 * own work between them (checks, the profile's transactions). */
static void print_run(const char *what, const sdev *d, const run *r) {
  double req = r->s_session + r->s_push + r->s_pull + r->s_checkpoint + r->s_proof + r->s_other;
  fprintf(stderr,
          "sync: %s (%s): %.3f s; pushed %llu, pulled %llu, applied %llu, grants %u; requests (count, ms): "
          "session %u %.1f, push %u %.1f, pull %u %.1f, checkpoint %u %.1f, proof %u %.1f, other %u %.1f; "
          "engine between them %.1f ms; %u lost, %u retried, %u waits (%.3f s)\n",
          what, d->name, r->t_end - r->t0, (unsigned long long)r->p.pushed, (unsigned long long)r->p.pulled,
          (unsigned long long)r->p.applied, r->p.grants_written, r->req_session, r->s_session * 1e3, r->req_push,
          r->s_push * 1e3, r->req_pull, r->s_pull * 1e3, r->req_checkpoint, r->s_checkpoint * 1e3, r->req_proof,
          r->s_proof * 1e3, r->req_other, r->s_other * 1e3, (r->t_end - r->t0 - req - r->waited_s) * 1e3, r->lost,
          r->retries, r->waits, r->waited_s);
}

static void sdev_free(sdev *d) {
  mentorlog_close(d->h);
  ml_netclient_close(d->nc);
  d->h = NULL;
  d->nc = NULL;
}

/* A new profile in root/name and its connection to s (not yet made). */
static int sdev_create(sdev *d, const char *root, const char *name, const server *s) {
  memset(d, 0, sizeof *d);
  d->name = name;
  snprintf(d->dir, sizeof d->dir, "%s/%s", root, name);
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.passphrase = SYNC_PASS;
  o.passphrase_len = strlen(SYNC_PASS);
  o.kdf = mentorlog_kdf_available(MENTORLOG_KDF_FAST_INSECURE) ? MENTORLOG_KDF_FAST_INSECURE : MENTORLOG_KDF_INTERACTIVE;
  if (lib_check(NULL, mentorlog_create(&d->h, d->dir, &o), "create profile")) return -1;
  ml_netclient_options no = ML_NETCLIENT_OPTIONS_INIT;
  no.host = "127.0.0.1";
  no.port = s->port;
  no.tls_hostname = CERT_NAME;
  no.pin_sha256 = s->fingerprint;
  no.timeout_ms = SYNC_IO_TIMEOUT_MS;
  int err = ml_netclient_open(&d->nc, &no);
  if (err) fprintf(stderr, "sync: netclient: %s\n", mlproto_errname(err));
  return err ? -1 : 0;
}

/* A one-time code for mentor, then the engine's enrolment of d. */
static int sdev_enroll(sdev *d, server *s, const char *mentor) {
  char code[ADMIN_OUT_CAP], url[64], pin[80];
  if (bs_admin(s, code, "enroll-code", mentor, NULL)) return -1;
  snprintf(url, sizeof url, "https://127.0.0.1:%u", (unsigned)s->port);
  snprintf(pin, sizeof pin, "sha256:%.64s", s->fingerprint);
  mentorlog_sync_options o = MENTORLOG_SYNC_OPTIONS_INIT;
  o.enroll_code = code;
  o.label = d->name;
  o.server_url = url;
  o.server_pin = pin;
  run r;
  int rc = drive(d, &o, &r);
  sodium_memzero(code, sizeof code);
  return rc;
}

static int sdev_sync(sdev *d, run *r) {
  mentorlog_sync_options o = MENTORLOG_SYNC_OPTIONS_INIT;
  return drive(d, &o, r);
}

/* n contacts with NOTE, spread over d's cases, batch per transaction. */
static int sdev_write(sdev *d, uint64_t n, uint64_t batch) {
  for (uint64_t done = 0; done < n;) {
    if (lib_check(d->h, mentorlog_batch_begin(d->h), "batch begin")) return -1;
    for (uint64_t i = 0; i < batch && done < n; i++, done++, d->written++) {
      uint64_t k = d->written;
      mentorlog_contact_params p = {.version = MENTORLOG_CONTACT_VERSION,
                                    .start_ms = 1767261600000LL + (int64_t)(k % 100000) * 60000,
                                    .minutes = 45, .channel = MENTORLOG_CHANNEL_HOME_VISIT,
                                    .outcome = MENTORLOG_OUTCOME_HELD, .transport_minutes = 10, .note = NOTE};
      if (lib_check(d->h, mentorlog_contact_add(d->h, NULL, d->cases[k % SYNC_NCASES], &p), "contact add")) {
        mentorlog_batch_rollback(d->h);
        return -1;
      }
    }
    if (lib_check(d->h, mentorlog_batch_commit(d->h), "batch commit")) return -1;
  }
  return 0;
}

/* Every case of want is in b, with want's contact count, each contact's note
 * readable: b's copy is complete and decrypts. */
static int same_contacts(sdev *b, const sdev *a) {
  for (int i = 0; i < SYNC_NCASES; i++) {
    mentorlog_contact *v = NULL;
    size_t n = 0;
    if (lib_check(b->h, mentorlog_contacts(b->h, a->cases[i], &v, &n), "contact list")) return -1;
    uint64_t want = a->written / SYNC_NCASES + ((uint64_t)i < a->written % SYNC_NCASES);
    size_t bad = 0;
    for (size_t j = 0; j < n; j++) bad += !v[j].note || strcmp(v[j].note, NOTE) != 0;
    mentorlog_contacts_free(v, n);
    if (n != want || bad) {
      fprintf(stderr, "sync: %s has %zu contacts of case %d (%s has %llu), %zu without their note\n", b->name, n,
              i, a->name, (unsigned long long)want, bad);
      return -1;
    }
  }
  return 0;
}

/* 1 when the file at path holds needle as bytes, 0 when not, -1 when it
 * could not be read. */
static int found_in(const char *path, const char *needle);

static int scan_entry_found;
static const char *scan_needle;
static int scan_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  if (type != FTW_F) return 0;
  int r = found_in(path, scan_needle);
  if (r != 0) {
    scan_entry_found = r;
    if (r > 0) fprintf(stderr, "sync: a note's plaintext is readable in %s\n", path);
    return 1;
  }
  return 0;
}

static int found_in(const char *path, const char *needle) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t nl = strlen(needle), have = 0;
  char buf[1 << 16];
  int found = 0;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      found = -1;
      break;
    }
    if (n == 0) break;
    have += (size_t)n;
    if (memmem(buf, have, needle, nl)) {
      found = 1;
      break;
    }
    if (have >= nl) { /* keep the last nl-1 bytes: a match across two reads */
      memmove(buf, buf + have - (nl - 1), nl - 1);
      have = nl - 1;
    }
  }
  close(fd);
  return found;
}

/* 1 when some regular file under dir holds SYNC_NOTE_PROBE (printed), 0
 * when none, -1 when a file could not be read. */
static int readable_at_rest(const char *dir) {
  scan_entry_found = 0;
  scan_needle = SYNC_NOTE_PROBE;
  if (nftw(dir, scan_entry, 16, FTW_PHYS) < 0) return -1;
  return scan_entry_found;
}

/* A approves B: A's list of devices must hold B, unapproved, with the
 * fingerprint B shows of itself. */
static int approve(sdev *a, sdev *b) {
  char fp[MENTORLOG_FINGERPRINT_LEN + 1];
  if (lib_check(b->h, mentorlog_fingerprint(b->h, fp), "fingerprint")) return -1;
  mentorlog_device *v = NULL;
  size_t n = 0;
  if (lib_check(a->h, mentorlog_devices(a->h, &v, &n), "devices")) return -1;
  int rc = -1;
  for (size_t i = 0; i < n; i++) {
    if (v[i].self || v[i].approved || strcmp(v[i].fingerprint, fp) != 0) continue;
    rc = lib_check(a->h, mentorlog_device_approve(a->h, v[i].id, fp), "device approve") ? -1 : 0;
    break;
  }
  if (rc && n) fprintf(stderr, "sync: %s does not list %s (fingerprint %s) among its %zu devices\n", a->name, b->name, fp, n);
  mentorlog_devices_free(v, n);
  return rc;
}

static double median(double *v, size_t n) {
  qsort(v, n, sizeof *v, bs_cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: mentorlog-bench sync [options]\n"
          "Starts the real mentorlog-server on 127.0.0.1 with a temporary data directory and\n"
          "measures libmentorlog's sync engine over tools/netclient (one TLS connection per\n"
          "device): push of N records by one device, pull of them into a fresh approved second\n"
          "device, and an incremental sync of K new records (median of R repetitions).\n"
          "  --server-bin PATH   mentorlog-server to run (default: the build tree's)\n"
          "  --records N         contacts with a ~400-byte note pushed and pulled (default 20000)\n"
          "  --batch B           contacts per profile transaction when writing them (default 1000)\n"
          "  --incr K            contacts of an incremental sync (default 100)\n"
          "  --reps R            incremental repetitions, 1..1000 (default 9)\n"
          "  --dir DIR           parent of the temporary profiles (default $TMPDIR or /tmp)\n"
          "  --peer              also run the PouchDB peer after the server stopped, and the ratios\n"
          "  --peer-script PATH  the peer benchmark (default %s/../shared/bench/peer-pouchdb/run.sh)\n"
          "  --keep              leave the profiles (and, with ML_KEEP_BENCH_DIR=1, the server's directory)\n"
          "Profiles use the test-only fast KDF when the build has it (ML_INSECURE_FAST_KDF), else\n"
          "the interactive one; they are created once, before anything is timed.\n"
          "Figures: RESULT lines on stdout; a summary on stderr. Exit: 0 ok, 1 a phase failed, 2 usage.\n",
          ML_SOURCE_DIR);
}

int bench_sync(int argc, char **argv) {
  double records = 20000, batch = 1000, incr = 100, reps = 9;
  const char *server_bin = NULL, *peer_script = NULL, *parent = getenv("TMPDIR");
  int peer = 0, keep = 0;
  char default_peer[4096], cmdline[2048];
  if (!parent || !*parent) parent = "/tmp";
  snprintf(default_peer, sizeof default_peer, "%s/../shared/bench/peer-pouchdb/run.sh", ML_SOURCE_DIR);
  size_t cl = (size_t)snprintf(cmdline, sizeof cmdline, "mentorlog-bench");
  for (int i = 0; i < argc && cl < sizeof cmdline; i++)
    cl += (size_t)snprintf(cmdline + cl, sizeof cmdline - cl, " %s", argv[i]);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--peer")) {
      peer = 1;
      continue;
    } else if (!strcmp(a, "--keep")) {
      keep = 1;
      continue;
    } else if (!strcmp(a, "--server-bin") && v) {
      server_bin = v;
    } else if (!strcmp(a, "--peer-script") && v) {
      peer_script = v;
    } else if (!strcmp(a, "--dir") && v) {
      parent = v;
    } else if (!strcmp(a, "--records")) {
      if (bench_parse_double(a, v, SYNC_NCASES, 1e7, &records)) return 2;
    } else if (!strcmp(a, "--batch")) {
      if (bench_parse_double(a, v, 1, 1e6, &batch)) return 2;
    } else if (!strcmp(a, "--incr")) {
      if (bench_parse_double(a, v, 1, 1e6, &incr)) return 2;
    } else if (!strcmp(a, "--reps")) {
      if (bench_parse_double(a, v, 1, 1000, &reps)) return 2;
    } else {
      usage(stderr);
      return 2;
    }
    i++;
  }
  bs_who = "sync";
  char *default_bin = NULL;
  if (!server_bin && !(server_bin = default_bin = bs_default_server_bin())) return 1;
  if (!peer_script) peer_script = default_peer;
  if (access(server_bin, X_OK) != 0) {
    fprintf(stderr, "sync: %s: %s (see --server-bin)\n", server_bin, strerror(errno));
    free(default_bin);
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = bs_on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (mlproto_crypto_init() != MLPROTO_OK || mlproto_tls_global_init() != MLPROTO_OK) {
    free(default_bin);
    return 1;
  }
  fprintf(stderr, "sync: %s\n", cmdline);

  size_t nrep = (size_t)reps;
  uint64_t n = (uint64_t)records, k = (uint64_t)incr;
  double *t_incr_push = calloc(nrep, sizeof(double)), *t_incr_pull = calloc(nrep, sizeof(double)),
         *t_noop = calloc(nrep, sizeof(double));
  int rc = 1;
  server s;
  memset(&s, 0, sizeof s);
  s.bin = server_bin;
  sdev A, B;
  memset(&A, 0, sizeof A);
  memset(&B, 0, sizeof B);
  char root[4096] = "";
  double push_rate = 0, pull_rate = 0, incr_push_ms = 0, incr_pull_ms = 0, noop_ms = 0;
  run r;
  bs_print_loadavg("start");
  if (!t_incr_push || !t_incr_pull || !t_noop) goto out;
  if (snprintf(root, sizeof root, "%s/mlbench-sync-XXXXXX", parent) >= (int)sizeof root || !mkdtemp(root)) {
    fprintf(stderr, "sync: cannot create a directory in %s\n", parent);
    root[0] = 0;
    goto out;
  }
  fprintf(stderr, "sync: profiles in %s; KDF: %s (each profile is opened once, before any timing)\n", root,
          mentorlog_kdf_available(MENTORLOG_KDF_FAST_INSECURE)
              ? "fast test setting (Argon2id opslimit 1, 8 MiB), not the interactive default"
              : "Argon2id interactive (this build has no fast test KDF)");
  fprintf(stderr, "sync: starting %s\n", server_bin);
  if (bs_server_start(&s, 256, 0)) goto out;
  char mentor[ADMIN_OUT_CAP];
  if (bs_admin(&s, mentor, "mentor", "add", "bench mentor")) goto out;

  /* 1. device A: enrolment, then N records written offline */
  if (sdev_create(&A, root, "device-A", &s) || sdev_enroll(&A, &s, mentor)) goto out;
  for (int i = 0; i < SYNC_NCASES; i++) {
    char name[32];
    snprintf(name, sizeof name, "Citizen %d", i);
    if (lib_check(A.h, mentorlog_case_open(A.h, A.cases[i], name, "+4512345678"), "case open")) goto out;
  }
  fprintf(stderr, "sync: writing %llu contacts with notes into %s, %.0f per transaction\n",
          (unsigned long long)n, A.name, batch);
  double t0 = bench_now();
  if (sdev_write(&A, n, (uint64_t)batch)) goto out;
  bench_result("sync_write_records_per_s", (double)n / (bench_now() - t0), "records/s");
  uint64_t outbox = 0, total = 0;
  if (lib_check(A.h, mentorlog_counts(A.h, &total, &outbox), "counts")) goto out;
  fprintf(stderr, "sync: %s holds %llu records, %llu of them unsent\n", A.name, (unsigned long long)total,
          (unsigned long long)outbox);

  /* 2. push */
  fprintf(stderr, "sync: push: %s syncs %llu unsent records\n", A.name, (unsigned long long)outbox);
  if (sdev_sync(&A, &r)) goto out;
  print_run("push", &A, &r);
  if (r.pushed_at_first_pull < n || r.t_first_pull <= r.t0) {
    fprintf(stderr, "sync: %s had pushed %llu records when it first pulled, not all %llu\n", A.name,
            (unsigned long long)r.pushed_at_first_pull, (unsigned long long)n);
    goto out;
  }
  push_rate = (double)r.pushed_at_first_pull / (r.t_first_pull - r.t0);
  bench_result("sync_push_records", (double)r.pushed_at_first_pull, "records");
  bench_result("sync_push_records_per_s", push_rate, "records/s");
  bench_result("sync_push_requests", r.req_push, "requests");
  bench_result("sync_push_whole_sync_s", r.t_end - r.t0, "s");
  mentorlog_sync_info info = {.version = MENTORLOG_SYNC_INFO_VERSION};
  if (lib_check(A.h, mentorlog_sync_status(A.h, &info), "status")) goto out;
  if (info.unsent != 0) {
    fprintf(stderr, "sync: %s still has %llu unsent records after a DONE sync\n", A.name,
            (unsigned long long)info.unsent);
    goto out;
  }

  /* 3. device B: enrolment, approval by A, A's grants */
  if (sdev_create(&B, root, "device-B", &s) || sdev_enroll(&B, &s, mentor)) goto out;
  if (sdev_sync(&A, &r) || approve(&A, &B) || sdev_sync(&A, &r)) goto out;
  print_run("grants", &A, &r);

  /* 4. pull into B */
  fprintf(stderr, "sync: pull: %s's first sync\n", B.name);
  if (sdev_sync(&B, &r)) goto out;
  print_run("pull", &B, &r);
  if (same_contacts(&B, &A)) goto out;
  int at_rest = readable_at_rest(B.dir);
  if (at_rest != 0) {
    if (at_rest < 0) fprintf(stderr, "sync: could not read %s's files\n", B.name);
    goto out;
  }
  pull_rate = (double)r.p.applied / (r.t_end - r.t0);
  bench_result("sync_pull_records", (double)r.p.applied, "records");
  bench_result("sync_pull_log_entries", (double)r.p.pulled, "entries");
  bench_result("sync_pull_records_per_s", pull_rate, "records/s");
  bench_result("sync_pull_requests", r.req_pull, "requests");
  bench_result("sync_pull_checkpoint_requests", r.req_checkpoint + r.req_proof, "requests");
  fprintf(stderr, "sync: %s reads all %llu contacts and their notes; no profile file holds a note's plaintext\n",
          B.name, (unsigned long long)A.written);

  /* 5. incremental */
  ml_netclient_stats sa0, sb0, sa1, sb1;
  ml_netclient_get_stats(A.nc, &sa0);
  ml_netclient_get_stats(B.nc, &sb0);
  fprintf(stderr, "sync: incremental: %zu x (%llu new contacts on %s, sync %s, sync %s, sync %s again)\n", nrep,
          (unsigned long long)k, A.name, A.name, B.name, A.name);
  for (size_t i = 0; i < nrep; i++) {
    if (sdev_write(&A, k, k)) goto out;
    if (sdev_sync(&A, &r)) goto out;
    if (r.p.pushed != k) {
      fprintf(stderr, "sync: %s pushed %llu records of %llu\n", A.name, (unsigned long long)r.p.pushed,
              (unsigned long long)k);
      goto out;
    }
    t_incr_push[i] = r.t_end - r.t0;
    if (i == 0) print_run("incremental push", &A, &r);
    if (sdev_sync(&B, &r)) goto out;
    if (r.p.applied < k) {
      fprintf(stderr, "sync: %s applied %llu records of %llu\n", B.name, (unsigned long long)r.p.applied,
              (unsigned long long)k);
      goto out;
    }
    t_incr_pull[i] = r.t_end - r.t0;
    if (i == 0) print_run("incremental pull", &B, &r);
    if (sdev_sync(&A, &r)) goto out;
    t_noop[i] = r.t_end - r.t0;
    if (i == 0) print_run("no-op sync", &A, &r);
  }
  if (same_contacts(&B, &A)) goto out;
  ml_netclient_get_stats(A.nc, &sa1);
  ml_netclient_get_stats(B.nc, &sb1);
  incr_push_ms = median(t_incr_push, nrep) * 1e3;
  incr_pull_ms = median(t_incr_pull, nrep) * 1e3;
  noop_ms = median(t_noop, nrep) * 1e3;
  bench_result("sync_incr_push_median_ms", incr_push_ms, "ms");
  bench_result("sync_incr_push_min_ms", t_incr_push[0] * 1e3, "ms");
  bench_result("sync_incr_push_max_ms", t_incr_push[nrep - 1] * 1e3, "ms");
  bench_result("sync_incr_pull_median_ms", incr_pull_ms, "ms");
  bench_result("sync_incr_pull_max_ms", t_incr_pull[nrep - 1] * 1e3, "ms");
  bench_result("sync_noop_median_ms", noop_ms, "ms");
  bench_result("sync_incr_new_connections", (double)(sa1.connects - sa0.connects + sb1.connects - sb0.connects),
               "connections");
  bench_result("sync_connections_total", (double)(sa1.connects + sb1.connects), "connections");
  rc = 0;
out:
  sdev_free(&A);
  sdev_free(&B);
  if (bs_server_stop(&s) != 0 && s.port) {
    fprintf(stderr, "sync: the server did not stop cleanly\n");
    rc = 1;
  }
  if (root[0]) {
    if (keep) {
      fprintf(stderr, "sync: kept %s\n", root);
    } else {
      const char *argv_rm[] = {"/bin/rm", "-rf", "--", root, NULL};
      char dummy[16];
      if (bs_run_capture(argv_rm, dummy, sizeof dummy, 60000) != 0)
        fprintf(stderr, "sync: could not remove %s\n", root);
    }
  }
  if (g_stop) {
    fprintf(stderr, "sync: interrupted\n");
    rc = 1;
  }
  bs_peer_figures pf;
  memset(&pf, 0, sizeof pf);
  int have_peer = 0;
  if (!rc && peer) {
    int p = bs_peer_phase(peer_script, (size_t)n, &pf);
    if (p < 0) rc = 1;
    have_peer = p == 0;
    if (have_peer) {
      bench_result("sync_push_vs_peer_ratio", push_rate / pf.push, "ratio");
      bench_result("sync_pull_vs_peer_ratio", pull_rate / pf.pull, "ratio");
      bench_result("sync_incr_push_vs_peer_speedup", pf.incr_push_ms / incr_push_ms, "ratio");
      bench_result("sync_incr_pull_vs_peer_speedup", pf.incr_pull_ms / incr_pull_ms, "ratio");
    }
  }
  bs_print_loadavg("end");
  if (!rc) {
    fprintf(stderr, "sync: summary of `%s`\n", cmdline);
    fprintf(stderr, "sync:   push of %llu records by one device      %9.0f records/s", (unsigned long long)n, push_rate);
    if (have_peer) fprintf(stderr, "   PouchDB %7.0f docs/s   %5.1fx (target >= 10x)", pf.push, push_rate / pf.push);
    fprintf(stderr, "\nsync:   pull of them into a fresh device         %9.0f records/s", pull_rate);
    if (have_peer) fprintf(stderr, "   PouchDB %7.0f docs/s   %5.1fx (target >= 10x)", pf.pull, pull_rate / pf.pull);
    fprintf(stderr, "\nsync:   incremental sync of %llu records, median %9.1f ms", (unsigned long long)k, incr_push_ms);
    if (have_peer)
      fprintf(stderr, "          PouchDB %7.1f ms       %5.1fx faster (target >= 4x)", pf.incr_push_ms,
              pf.incr_push_ms / incr_push_ms);
    fprintf(stderr, "\nsync:   ... pulled by the other device, median %8.1f ms", incr_pull_ms);
    if (have_peer)
      fprintf(stderr, "          PouchDB %7.1f ms       %5.1fx faster", pf.incr_pull_ms, pf.incr_pull_ms / incr_pull_ms);
    fprintf(stderr, "\nsync:   sync with nothing new, median           %8.1f ms", noop_ms);
    if (have_peer) fprintf(stderr, "          PouchDB %7.1f ms", pf.noop_ms);
    fprintf(stderr, "\n");
  } else {
    fprintf(stderr, "sync: benchmark failed\n");
  }
  free(t_incr_push);
  free(t_incr_pull);
  free(t_noop);
  free(default_bin);
  return rc;
}
