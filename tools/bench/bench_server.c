/* mentorlog-bench server: the real mentorlog-server under load, over real
 * TLS on loopback, and the peer (PouchDB) measured in the same run.
 *
 *   mentorlog-bench server [options]        (--help lists them)
 *
 * The bench starts `mentorlog-server serve` on 127.0.0.1 with a temporary
 * data directory, creates one mentor and one enrolment code per simulated
 * device with the admin command, enrols the devices (tools/devsim) through
 * POST /v1/enroll and opens their sessions, then measures in this order:
 *   1. idle TLS connections held open, and the server's VmRSS growth (first,
 *      on a fresh heap, so freed memory of later phases cannot hide it);
 *   2. full and resumed TLS handshakes per second, sequential, with the
 *      client's and the server's CPU per handshake;
 *   3. push from 1 device, then from 8 devices at once (one thread and one
 *      keep-alive TLS connection each), batches built before the clock
 *      starts; meanwhile a separate thread polls /healthz on its own
 *      connection (latency under push load);
 *   4. after the server is stopped: the peer script, same N.
 * Every acknowledgement is checked (one OK result per record), so a figure
 * is never the speed of refusals. Around each push phase the servers'
 * /metrics are read: the share of their push time spent in the store
 * (begin to commit) and waiting for the log's lock. With --instances N
 * (a PostgreSQL store) or --haproxy, N instances share the store behind
 * HAProxy and every connection goes through it (bench_server_lb.c); the
 * server figures are then summed over the instances. The servers, HAProxy
 * and the temporary directory are removed on every exit path (SIGINT/
 * SIGTERM included: they stop the phase in progress); they also get
 * SIGKILL if the bench dies. */
#include "bench_server_int.h"

volatile sig_atomic_t g_stop; /* SIGINT/SIGTERM: stop the phase in progress */
const char *bs_who = "server";  /* the command, in messages of the shared functions */

void bs_on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}


/* ------------------------------------------------------ small helpers ---- */

void bs_sleep_ns(long ns) {
  struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !g_stop) {
  }
}

int bs_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
double bs_pct(const double *v, size_t n, double p) {
  if (n == 0) return 0;
  size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return v[k - 1];
}

double bs_thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads a small file of /proc into buf (NUL-terminated); -1 on failure. */
int bs_read_text(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = 0;
  ssize_t n;
  while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return -1;
    }
    len += (size_t)n;
  }
  close(fd);
  buf[len] = 0;
  return 0;
}

/* VmRSS of pid in KiB, or -1. */
long bs_rss_kib(pid_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  if (bs_read_text(path, buf, sizeof buf)) return -1;
  const char *p = strstr(buf, "\nVmRSS:");
  return p ? strtol(p + 7, NULL, 10) : -1;
}

/* utime + stime of pid (all threads) in seconds, or -1. */
double bs_proc_cpu_s(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (bs_read_text(path, buf, sizeof buf)) return -1;
  const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  if (!p) return -1;
  unsigned long long ut, st;
  /* after ") ": state(3) ... utime is field 14, stime 15 */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

void bs_print_loadavg(const char *when) {
  char buf[128];
  if (bs_read_text("/proc/loadavg", buf, sizeof buf) == 0) {
    buf[strcspn(buf, "\n")] = 0;
    fprintf(stderr, "%s: load average at %s: %s\n", bs_who, when, buf);
    double l1;
    if (sscanf(buf, "%lf", &l1) == 1) {
      char name[32];
      snprintf(name, sizeof name, "loadavg1_%s", when);
      bench_result(name, l1, "load");
    }
  }
}

/* Runs argv (argv[0] a path) with stdin from /dev/null and stdout captured
 * into out (cap-1 bytes kept, NUL-terminated); stderr is inherited. Returns
 * the exit status, or -1 when it could not run, was killed or overran
 * timeout_ms (then it and its process group are killed). */
int bs_run_capture(const char *const *argv, char *out, size_t cap, int timeout_ms) {
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(pfd[0]);
    close(pfd[1]);
    return -1;
  }
  if (pid == 0) {
    setpgid(0, 0); /* its own group: a timeout kills the peer's node children too */
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    dup2(pfd[1], 1);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  setpgid(pid, pid); /* also here: no race with a kill of the group */
  close(pfd[1]);
  size_t len = 0;
  double deadline = bench_now() + timeout_ms / 1000.0;
  int timed_out = 0;
  for (;;) {
    double left = deadline - bench_now();
    if (left <= 0 || g_stop) {
      timed_out = 1;
      break;
    }
    struct pollfd p = {pfd[0], POLLIN, 0};
    int r = poll(&p, 1, left > 0.2 ? 200 : (int)(left * 1000) + 1);
    if (r <= 0) continue;
    char tmp[4096];
    ssize_t n = read(pfd[0], tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size_t take = (size_t)n < cap - 1 - len ? (size_t)n : cap - 1 - len;
    memcpy(out + len, tmp, take);
    len += take;
  }
  close(pfd[0]);
  out[len] = 0;
  if (timed_out) kill(-pid, SIGKILL);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (timed_out || !WIFEXITED(st)) return -1;
  return WEXITSTATUS(st);
}

/* ------------------------------------------------------------- server ---- */


static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)type;
  (void)ftw;
  remove(path);
  return 0;
}

int bs_admin(server *s, char *out, const char *a1, const char *a2, const char *a3) {
  const char *argv[] = {s->bin, "admin", "--data", s->data, a1, a2, a3, NULL, NULL, NULL};
  if (s->store) { /* --store URI before the command */
    memmove(&argv[6], &argv[4], 3 * sizeof argv[0]);
    argv[4] = "--store";
    argv[5] = s->store;
  }
  int rc = bs_run_capture(argv, out, ADMIN_OUT_CAP, 60000);
  out[strcspn(out, "\r\n")] = 0;
  if (rc != 0) fprintf(stderr, "%s: `admin %s %s` failed (%d)\n", bs_who, a1, a2 ? a2 : "", rc);
  return rc == 0 ? 0 : -1;
}

pid_t bs_spawn_logged(const char *const *argv, const char *log) {
  int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (logfd < 0) return -1;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(logfd);
    return -1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* no orphan if the bench dies */
    if (getppid() != parent) _exit(127);
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(logfd);
  return pid;
}

int bs_serve_spawn(const server *s, const char *data, const char *log, unsigned max_conns,
                   unsigned workers, pid_t *pid_out, uint16_t *port_out) {
  *pid_out = 0;
  *port_out = 0;
  char maxc[16], nw[16], addr_path[200];
  snprintf(maxc, sizeof maxc, "%u", max_conns);
  snprintf(nw, sizeof nw, "%u", workers);
  snprintf(addr_path, sizeof addr_path, "%s/serve.addr", data);
  /* Idle connections must survive the time it takes to open them all. Every
   * simulated client comes from 127.0.0.1, so the per-address limits meant for
   * the internet (connections per address, unauthenticated requests per
   * second, buffered request bytes per address: the whole default pool) are
   * raised to the whole bench's load; the per-device limits of
   * authenticated requests stay as they are. */
  const char *argv[24] = {s->bin, "serve", "--data", data, "--listen", "127.0.0.1:0",
                          "--max-connections", maxc, "--max-conns-per-address", maxc,
                          "--unauth-rate", "1000000", "--idle-timeout", "15m",
                          "--max-inflight-bytes-per-address", "256M"};
  int argn = 16;
  if (s->store) {
    argv[argn++] = "--store";
    argv[argn++] = s->store;
  }
  if (workers) {
    argv[argn++] = "--workers";
    argv[argn++] = nw;
  }
  argv[argn] = NULL;
  pid_t pid = bs_spawn_logged(argv, log);
  if (pid < 0) return -1;
  *pid_out = pid;
  double deadline = bench_now() + 60;
  char buf[128];
  while (bs_read_text(addr_path, buf, sizeof buf) != 0 || !strchr(buf, '\n')) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      *pid_out = 0;
      fprintf(stderr, "%s: exited during start-up; its log (%s):\n", bs_who, log);
      char logbuf[4096];
      if (bs_read_text(log, logbuf, sizeof logbuf) == 0) fputs(logbuf, stderr);
      return -1;
    }
    if (bench_now() > deadline || g_stop) {
      fprintf(stderr, "%s: not ready within 60 s\n", bs_who);
      return -1;
    }
    bs_sleep_ns(10000000L);
  }
  const char *colon = strrchr(buf, ':');
  long port = colon ? strtol(colon + 1, NULL, 10) : 0;
  if (port <= 0 || port > 65535) return -1;
  *port_out = (uint16_t)port;
  return 0;
}

int bs_server_start(server *s, unsigned max_conns, unsigned workers) {
  const char *tmp = getenv("TMPDIR");
  snprintf(s->root, sizeof s->root, "%s/mlbench-XXXXXX", tmp && *tmp && strlen(tmp) < 64 ? tmp : "/tmp");
  if (!mkdtemp(s->root)) {
    s->root[0] = 0;
    fprintf(stderr, "%s: mkdtemp: %s\n", bs_who, strerror(errno));
    return -1;
  }
  snprintf(s->data, sizeof s->data, "%s/data", s->root);
  snprintf(s->log, sizeof s->log, "%s/server.log", s->root);
  if (mkdir(s->data, 0700) != 0) return -1;
  if (bs_serve_spawn(s, s->data, s->log, max_conns, workers, &s->pid, &s->port)) return -1;
  s->port0 = s->port;
  char out[ADMIN_OUT_CAP];
  if (bs_admin(s, out, "fingerprint", NULL, NULL) || strlen(out) != 64) return -1;
  memcpy(s->fingerprint, out, sizeof s->fingerprint);
  if (s->instances > 1 || s->haproxy) return bs_lb_start(s, max_conns, workers);
  return 0;
}

int bs_child_stop(pid_t *pid, int sig, double grace_s) {
  if (*pid <= 0) return 0;
  kill(*pid, sig);
  double deadline = bench_now() + grace_s;
  int st = 0, rc;
  pid_t r;
  while ((r = waitpid(*pid, &st, WNOHANG)) == 0 && bench_now() < deadline) bs_sleep_ns(5000000L);
  if (r != *pid) {
    kill(*pid, SIGKILL);
    waitpid(*pid, &st, 0);
    rc = -1;
  } else {
    rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  *pid = 0;
  return rc;
}

/* SIGTERM, then up to 30 s for the drain, then SIGKILL; removes the
 * temporary directory. Safe on a half-started server. Returns the server's
 * exit status (0 clean), or -1 when it (or HAProxy, or another instance)
 * had to be killed. */
int bs_server_stop(server *s) {
  int lb = bs_lb_stop(s);
  int rc = bs_child_stop(&s->pid, SIGTERM, 30);
  if (!rc && lb) rc = -1;
  if (s->root[0]) {
    if (getenv("ML_KEEP_BENCH_DIR")) fprintf(stderr, "%s: kept %s\n", bs_who, s->root);
    else nftw(s->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    s->root[0] = 0;
  }
  return rc;
}

size_t bs_instances(const server *s, pid_t *pids, const char **data) {
  size_t n = 0;
  if (pids) pids[n] = s->pid;
  if (data) data[n] = s->data;
  n++;
  for (unsigned i = 0; i < s->n_more; i++, n++) {
    if (pids) pids[n] = s->more[i].pid;
    if (data) data[n] = s->more[i].data;
  }
  return n;
}

/* The sum of what(pid) over the instances; -1 when one cannot be read. */
static double instances_sum(const server *s, double (*what)(pid_t)) {
  pid_t pids[BS_MAX_INSTANCES];
  size_t n = bs_instances(s, pids, NULL);
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    double v = pids[i] > 0 ? what(pids[i]) : -1;
    if (v < 0) return -1;
    sum += v;
  }
  return sum;
}

static double rss_of(pid_t pid) { return (double)bs_rss_kib(pid); }

double bs_server_cpu_s(const server *s) { return instances_sum(s, bs_proc_cpu_s); }

long bs_server_rss_kib(const server *s) { return (long)instances_sum(s, rss_of); }

/* ------------------------------------------------------- HTTP client ---- */

/* GET /metrics from the metrics listener of data/metrics.addr into text
 * (NUL-terminated): 0, or -1. */
static int scrape(const char *data, char *text, size_t cap) {
  char path[200], addr[128];
  snprintf(path, sizeof path, "%s/metrics.addr", data);
  if (bs_read_text(path, addr, sizeof addr) != 0) return -1;
  char *colon = strrchr(addr, ':');
  if (!colon) return -1;
  *colon = '\0';
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
  if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  size_t len = 0;
  static const char get[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  struct timeval tv = {IO_TIMEOUT_MS / 1000, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      send(fd, get, sizeof get - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof get - 1)) {
    ssize_t n;
    while (len + 1 < cap && (n = recv(fd, text + len, cap - 1 - len, 0)) > 0)
      len += (size_t)n; /* the listener closes after its answer */
  }
  close(fd);
  text[len] = '\0';
  return strncmp(text, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
}

/* The value of the unlabelled sample `name` in a scrape, or -1. */
static double sample(const char *text, const char *name) {
  size_t nl = strlen(name);
  for (const char *p = text; (p = strstr(p, name)) != NULL; p += nl)
    if (p > text && p[-1] == '\n' && p[nl] == ' ') return strtod(p + nl + 1, NULL);
  return -1;
}

int bs_metrics(const server *s, const char *const *names, double *vals, size_t n) {
  static char text[1 << 20]; /* callers are one thread at a time */
  const char *data[BS_MAX_INSTANCES];
  size_t ni = bs_instances(s, NULL, data);
  for (size_t k = 0; k < n; k++) vals[k] = 0;
  for (size_t i = 0; i < ni; i++) {
    if (scrape(data[i], text, sizeof text)) return -1;
    for (size_t k = 0; k < n; k++) {
      double v = sample(text, names[k]);
      if (v < 0) return -1;
      vals[k] += v;
    }
  }
  return 0;
}

double bs_metric(const server *s, const char *name) {
  double v;
  return bs_metrics(s, &name, &v, 1) ? -1 : v;
}

int bs_client_open(ml_netclient **nc, const server *s) {
  ml_netclient_options o = ML_NETCLIENT_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.port = s->port;
  o.tls_hostname = CERT_NAME;
  o.pin_sha256 = s->fingerprint;
  o.timeout_ms = IO_TIMEOUT_MS;
  return ml_netclient_open(nc, &o);
}

/* One request with optional bearer token and protobuf body; the response
 * is the caller's to free. 0 or -1 (printed). */
int bs_call(ml_netclient *nc, const char *method, const char *path, const char *token,
                const uint8_t *body, size_t len, ml_netclient_response *r) {
  char auth[200];
  mlproto_http_header h[2];
  size_t nh = 0;
  if (token) {
    snprintf(auth, sizeof auth, "Bearer %s", token);
    h[nh++] = (mlproto_http_header){"Authorization", auth};
  }
  if (body) h[nh++] = (mlproto_http_header){"Content-Type", CT_PROTO};
  int rc = ml_netclient_request(nc, method, path, h, nh, body, len, r);
  if (rc) fprintf(stderr, "%s: %s %s: %s\n", bs_who, method, path, mlproto_errname(rc));
  return rc ? -1 : 0;
}

/* ------------------------------------------------------------- peer ---- */

static int have_node(void) {
  const char *path = getenv("PATH");
  if (!path) return 0;
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *save = NULL, *dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
    char exe[4200];
    snprintf(exe, sizeof exe, "%s/node", *dir ? dir : ".");
    if (access(exe, X_OK) == 0) return 1;
  }
  return 0;
}

/* Runs the peer script, reprints its RESULT lines as peer_<name>, and
 * fills *f with the figures the benchmarks compare against (0 when absent).
 * 0 ran, 1 skipped, -1 failed (or a figure missing). */
int bs_peer_phase(const char *script, size_t records, bs_peer_figures *f) {
  memset(f, 0, sizeof *f);
  if (!have_node()) {
    fprintf(stderr, "%s: peer skipped: `node` is not on PATH (apt-get install nodejs npm)\n", bs_who);
    return 1;
  }
  if (access(script, R_OK) != 0) {
    fprintf(stderr, "%s: peer skipped: %s: %s\n", bs_who, script, strerror(errno));
    return 1;
  }
  char n[32];
  snprintf(n, sizeof n, "%zu", records);
  const char *argv[] = {"/bin/bash", script, n, NULL};
  char *out = malloc(PEER_OUT_CAP);
  if (!out) return -1;
  fprintf(stderr, "%s: peer: %s %s ...\n", bs_who, script, n);
  int st = bs_run_capture(argv, out, PEER_OUT_CAP, PEER_TIMEOUT_MS);
  if (st == 2) { /* run.sh: node or npm missing */
    fprintf(stderr, "%s: peer skipped: its script could not run (status 2)\n", bs_who);
    free(out);
    return 1;
  }
  int count = 0;
  for (char *save = NULL, *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char name[96], unit[32];
    double v;
    if (sscanf(line, "RESULT %95s %lf %31s", name, &v, unit) != 3) continue;
    char key[128];
    snprintf(key, sizeof key, "peer_%s", name);
    bench_result(key, v, unit);
    if (!strcmp(name, "pouch.push.docs_per_s")) f->push = v;
    else if (!strcmp(name, "pouch.pull.docs_per_s")) f->pull = v;
    else if (!strcmp(name, "pouch.incr100_push.latency")) f->incr_push_ms = v;
    else if (!strcmp(name, "pouch.incr100_pull.latency")) f->incr_pull_ms = v;
    else if (!strcmp(name, "pouch.noop_push.latency")) f->noop_ms = v;
    count++;
  }
  free(out);
  if (st != 0 || count == 0 || f->push <= 0 || f->pull <= 0 || f->incr_push_ms <= 0 || f->incr_pull_ms <= 0) {
    fprintf(stderr, "%s: peer failed (status %d, %d results)\n", bs_who, st, count);
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------ command ---- */

static void usage(FILE *f) {
  fprintf(f,
          "usage: mentorlog-bench server [options]\n"
          "Starts the real mentorlog-server on 127.0.0.1 with a temporary data directory and\n"
          "measures push throughput (1 and %d devices), TLS handshakes (full, resumed),\n"
          "idle TLS connections and the server's memory per connection, /healthz latency\n"
          "under push load, and the PouchDB peer with the same number of records.\n"
          "  --server-bin PATH   mentorlog-server to run (default: the build tree's,\n"
          "                      ../../sync-server/mentorlog-server from this binary)\n"
          "  --records N         records per push scenario, ~600-byte CONTACTs (default 20000)\n"
          "  --batch B           records per push request, 1..1024 (default 1000; the\n"
          "                      server allows a device 50 requests/s, bursts of 100)\n"
          "  --seconds S         duration of each handshake series (default 3)\n"
          "  --idle-conns N      idle TLS connections to hold open (default 10000; 0 skips)\n"
          "  --workers N         each server's --workers (default: the server's default of 4;\n"
          "                      with --instances N, 4 / N, at least 1: instances on this one\n"
          "                      machine share its cores, docs/benchmarks.md)\n"
          "  --store URI         the server's --store (default: SQLite in the data directory),\n"
          "                      e.g. postgresql:host=/run/postgresql dbname=bench (an empty schema)\n"
          "  --instances N       N servers (1..%d) on the same store, behind HAProxy; N > 1\n"
          "                      needs a PostgreSQL --store (default 1)\n"
          "  --haproxy           HAProxy in front also of a single instance (TCP mode: TLS\n"
          "                      passes through; round robin; health checks on /healthz)\n"
          "  --haproxy-bin PATH  HAProxy to run (default: haproxy on PATH, else /usr/sbin/haproxy)\n"
          "  --peer-script PATH  the peer benchmark (default %s/../shared/bench/peer-pouchdb/run.sh)\n"
          "  --no-peer           do not run the peer\n"
          "Figures: RESULT lines on stdout; a summary on stderr. Each push phase also gives\n"
          "PHASE_store_share and PHASE_lock_wait_share (%% of the servers' push time spent in\n"
          "the store, begin to commit, and waiting for the log's lock, from their /metrics).\n"
          "ML_KEEP_BENCH_DIR=1 keeps the temporary directory (data, server.log, haproxy.*).\n"
          "Exit: 0 ok, 1 a phase failed, 2 usage.\n",
          N_MULTI, BS_MAX_INSTANCES, ML_SOURCE_DIR);
}

/* Default server binary: the build tree's, relative to this executable. */
char *bs_default_server_bin(void) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return NULL;
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (!slash) return NULL;
  *slash = 0;
  size_t len = strlen(self) + 64;
  char *p = malloc(len);
  if (p) snprintf(p, len, "%s/../../sync-server/mentorlog-server", self);
  return p;
}

/* A store URI of the PostgreSQL backend (store.c's forms). */
static int is_pg_uri(const char *uri) {
  return uri && (strncmp(uri, "postgresql:", 11) == 0 || strncmp(uri, "postgres://", 11) == 0);
}

/* Raises RLIMIT_NOFILE to fit `need` descriptors (up to the hard limit);
 * returns how many idle connections fit. */
static size_t fit_nofile(size_t need, size_t reserve) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  rlim_t want = (rlim_t)(need + reserve);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur > reserve ? (size_t)(rl.rlim_cur - reserve) < need ? (size_t)(rl.rlim_cur - reserve) : need : 0;
}

int bench_server(int argc, char **argv) {
  opts o = {.records = 20000, .batch = 1000, .seconds = 3, .idle_conns = 10000, .instances = 1};
  char *default_bin = NULL, default_peer[4096];
  snprintf(default_peer, sizeof default_peer, "%s/../shared/bench/peer-pouchdb/run.sh", ML_SOURCE_DIR);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--no-peer")) {
      o.no_peer = 1;
      continue;
    } else if (!strcmp(a, "--haproxy")) {
      o.haproxy = 1;
      continue;
    } else if (!strcmp(a, "--haproxy-bin") && v) {
      o.haproxy_bin = v;
    } else if (!strcmp(a, "--instances")) {
      if (bench_parse_double(a, v, 1, BS_MAX_INSTANCES, &o.instances)) return 2;
      if (o.instances != (double)(unsigned)o.instances) {
        fprintf(stderr, "server: --instances: a whole number, 1..%d\n", BS_MAX_INSTANCES);
        return 2;
      }
    } else if (!strcmp(a, "--server-bin") && v) {
      o.server_bin = v;
    } else if (!strcmp(a, "--peer-script") && v) {
      o.peer_script = v;
    } else if (!strcmp(a, "--records")) {
      if (bench_parse_double(a, v, N_MULTI, 1e7, &o.records)) return 2;
    } else if (!strcmp(a, "--batch")) {
      if (bench_parse_double(a, v, 1, MLPROTO_PUSH_MAX_RECORDS, &o.batch)) return 2;
    } else if (!strcmp(a, "--seconds")) {
      if (bench_parse_double(a, v, 0.1, 600, &o.seconds)) return 2;
    } else if (!strcmp(a, "--idle-conns")) {
      if (bench_parse_double(a, v, 0, 1e6, &o.idle_conns)) return 2;
    } else if (!strcmp(a, "--workers")) {
      if (bench_parse_double(a, v, 1, 128, &o.workers)) return 2;
    } else if (!strcmp(a, "--store") && v) {
      o.store = v;
    } else {
      usage(stderr);
      return 2;
    }
    i++;
  }
  size_t records = (size_t)o.records, batch = (size_t)o.batch;
  unsigned instances = (unsigned)o.instances;
  if (instances > 1 && !is_pg_uri(o.store)) {
    fprintf(stderr, "server: --instances %u needs a PostgreSQL store that the instances share"
            " (--store postgresql:KEY=VALUE... or postgresql://...; docs/benchmarks.md):"
            " SQLite is one process's\n", instances);
    return 2;
  }
  if (o.haproxy_bin && !o.haproxy && instances == 1) {
    fprintf(stderr, "server: --haproxy-bin needs --haproxy or --instances N (N > 1)\n");
    return 2;
  }
  if (o.haproxy_bin && access(o.haproxy_bin, X_OK) != 0) {
    fprintf(stderr, "server: --haproxy-bin %s: not an executable\n", o.haproxy_bin);
    return 2;
  }
  if (!o.server_bin && !(o.server_bin = default_bin = bs_default_server_bin())) return 1;
  if (!o.peer_script) o.peer_script = default_peer;
  if (access(o.server_bin, X_OK) != 0) {
    fprintf(stderr, "server: %s: %s (see --server-bin)\n", o.server_bin, strerror(errno));
    free(default_bin);
    return 2;
  }
  size_t idle = fit_nofile((size_t)o.idle_conns, 256);
  /* Behind HAProxy every connection is two of its descriptors: it raises
   * its own limit to 2 x maxconn + ~600 and refuses to start when the hard
   * limit (inherited from here) is lower. Its maxconn is idle + 256. */
  int lb = o.haproxy || instances > 1;
  struct rlimit rl;
  if (lb && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY) {
    size_t half = rl.rlim_max > 1024 ? (size_t)(rl.rlim_max - 1024) / 2 : 0;
    size_t fit = half > 256 ? half - 256 : 0;
    if (fit < idle) idle = fit;
  }
  if (idle < (size_t)o.idle_conns)
    fprintf(stderr, "server: RLIMIT_NOFILE allows only %zu idle connections of %.0f%s\n", idle, o.idle_conns,
            lb ? " (HAProxy holds two descriptors for each)" : "");

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = bs_on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (mlproto_crypto_init() != MLPROTO_OK || mlproto_tls_global_init() != MLPROTO_OK) return 1;

  bs_print_loadavg("start");
  int rc = 1;
  server s;
  memset(&s, 0, sizeof s);
  s.bin = o.server_bin;
  s.store = o.store;
  s.instances = instances;
  s.haproxy = o.haproxy || instances > 1;
  s.haproxy_bin = o.haproxy_bin;
  /* N instances on this one machine share its cores: the server's default
   * of 4 workers (for 2 cores, operator.md §2) split among them. With 4
   * each, 8 devices on 3 instances were 8-23 % slower than on 1: twelve
   * pushes verified at once and reached the log's lock together. */
  if (o.workers == 0 && instances > 1) o.workers = instances >= 4 ? 1 : (double)(4 / instances);
  bench_result("instances", instances, "instances");
  bench_result("workers_per_instance", o.workers ? o.workers : 4, "workers");
  bench_result("haproxy", s.haproxy, "bool");
  device devs[2 + N_MULTI]; /* 1 device, 1 pipelined device, N_MULTI devices */
  memset(devs, 0, sizeof devs);
  healthz h;
  memset(&h, 0, sizeof h);
  mlproto_tls_config *cfg = NULL;
  double push1 = 0, push1p = 0, push8 = 0, peer_push = 0;

  fprintf(stderr, "server: starting %s (%u instance%s%s, %s store)\n", o.server_bin, instances,
          instances > 1 ? "s" : "", s.haproxy ? " behind HAProxy" : "",
          is_pg_uri(o.store) ? "PostgreSQL" : o.store ? "the given" : "SQLite");
  if (bs_server_start(&s, (unsigned)idle + 256, (unsigned)o.workers)) goto out;
  if (bs_tls_config(&cfg, &s) != MLPROTO_OK) goto out;
  fprintf(stderr, "server: enrolling %d devices\n", 2 + N_MULTI);
  for (int i = 0; i < 2 + N_MULTI; i++)
    if (bs_device_up(&devs[i], &s, i)) goto out;
  fprintf(stderr, "server: building %zu + %zu + %zu records\n", records, records, records);
  if (bs_device_build(&devs[0], records, batch) || bs_device_build(&devs[1], records, batch)) goto out;
  for (int i = 0; i < N_MULTI; i++)
    if (bs_device_build(&devs[2 + i], records / N_MULTI + ((size_t)i < records % N_MULTI), batch))
      goto out;

  if (idle) {
    fprintf(stderr, "server: opening %zu idle TLS connections\n", idle);
    if (bs_idle_phase(&s, cfg, idle)) goto out;
  }
  fprintf(stderr, "server: TLS handshakes, %.1f s per series\n", o.seconds);
  if (bs_handshake_phase(&s, cfg, o.seconds)) goto out;

  fprintf(stderr, "server: push from 1 device\n");
  if (bs_push_phase("push_1dev", &s, devs, 1, NULL, &push1)) goto out;
  fprintf(stderr, "server: pipelined push from 1 device (2 connections, 2 batches in flight)\n");
  if (bs_pipeline_phase("push_1dev_pipelined", &devs[1], &s, &push1p)) goto out;
  fprintf(stderr, "server: push from %d devices, /healthz polled meanwhile\n", N_MULTI);
  h.lat = malloc(HEALTHZ_SAMPLES_CAP * sizeof *h.lat);
  if (!h.lat || bs_client_open(&h.nc, &s)) goto out;
  if (bs_push_phase("push_8dev", &s, devs + 2, N_MULTI, &h, &push8)) goto out;
  if (h.failed || h.n == 0) {
    fprintf(stderr, "server: /healthz failed during the push\n");
    goto out;
  }
  qsort(h.lat, h.n, sizeof *h.lat, bs_cmp_double);
  bench_result("healthz_under_push_samples", (double)h.n, "requests");
  bench_result("healthz_under_push_p50_ms", bs_pct(h.lat, h.n, 50) * 1e3, "ms");
  bench_result("healthz_under_push_p99_ms", bs_pct(h.lat, h.n, 99) * 1e3, "ms");
  bench_result("healthz_under_push_max_ms", h.lat[h.n - 1] * 1e3, "ms");
  fprintf(stderr, "server: /healthz during push: %zu samples, p50 %.2f ms, p99 %.2f ms\n", h.n,
          bs_pct(h.lat, h.n, 50) * 1e3, bs_pct(h.lat, h.n, 99) * 1e3);
  rc = 0;
out:
  ml_netclient_close(h.nc);
  free(h.lat);
  for (int i = 0; i < 2 + N_MULTI; i++) bs_device_free(&devs[i]);
  mlproto_tls_config_free(cfg);
  int st = bs_server_stop(&s);
  if (st != 0 && s.port) {
    fprintf(stderr, "server: the server did not stop cleanly (%d)\n", st);
    rc = 1;
  }
  if (g_stop) {
    fprintf(stderr, "server: interrupted\n");
    rc = 1;
  }
  if (!rc && !o.no_peer) {
    bs_peer_figures pf;
    int p = bs_peer_phase(o.peer_script, records, &pf);
    peer_push = pf.push;
    if (p < 0) rc = 1;
    if (p == 0) {
      bench_result("push_vs_peer_ratio", push1 / peer_push, "ratio");
      bench_result("push_1dev_pipelined_vs_peer_ratio", push1p / peer_push, "ratio");
      bench_result("push_8dev_vs_peer_ratio", push8 / peer_push, "ratio");
      fprintf(stderr, "server: push vs PouchDB: %.1fx (1 device), %.1fx (1 device, pipelined),"
              " %.1fx (%d devices); target >= 10x\n",
              push1 / peer_push, push1p / peer_push, push8 / peer_push, N_MULTI);
    }
  }
  bs_print_loadavg("end");
  if (rc) fprintf(stderr, "server: benchmark failed\n");
  free(default_bin);
  return rc;
}
