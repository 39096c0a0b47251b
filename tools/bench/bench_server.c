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
 * is never the speed of refusals. The server and the temporary directory
 * are removed on every exit path (SIGINT/SIGTERM included: they stop the
 * phase in progress); the server also gets SIGKILL if the bench dies. */
#define _GNU_SOURCE
#include "bench.h"

#include "devsim.h"
#include "netclient.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#ifndef ML_SOURCE_DIR
#define ML_SOURCE_DIR "."
#endif

#define CERT_NAME "mentorlog-server"  /* CN of the server's self-signed certificate */
#define CT_PROTO "application/vnd.mentorlog.v1+protobuf"
#define N_MULTI 8                      /* devices of the concurrent push */
#define ADMIN_OUT_CAP 512
#define PEER_OUT_CAP (64u * 1024u)     /* the peer prints a dozen RESULT lines */
#define PEER_TIMEOUT_MS (30 * 60 * 1000)
#define HEALTHZ_SAMPLES_CAP 1000000u
#define HEALTHZ_GAP_NS 5000000L        /* 5 ms between polls: a monitor, not a load */
#define PUSH_MAX_RETRIES 100           /* 429s tolerated per batch */
#define IO_TIMEOUT_MS 30000

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

typedef struct opts {
  const char *server_bin, *peer_script;
  double records, batch, seconds, idle_conns, workers;
  int no_peer;
} opts;

/* ------------------------------------------------------ small helpers ---- */

static void sleep_ns(long ns) {
  struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !g_stop) {
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct(const double *v, size_t n, double p) {
  if (n == 0) return 0;
  size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return v[k - 1];
}

static double thread_cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads a small file of /proc into buf (NUL-terminated); -1 on failure. */
static int read_text(const char *path, char *buf, size_t cap) {
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
static long rss_kib(pid_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  if (read_text(path, buf, sizeof buf)) return -1;
  const char *p = strstr(buf, "\nVmRSS:");
  return p ? strtol(p + 7, NULL, 10) : -1;
}

/* utime + stime of pid (all threads) in seconds, or -1. */
static double proc_cpu_s(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  if (read_text(path, buf, sizeof buf)) return -1;
  const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  if (!p) return -1;
  unsigned long long ut, st;
  /* after ") ": state(3) ... utime is field 14, stime 15 */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void print_loadavg(const char *when) {
  char buf[128];
  if (read_text("/proc/loadavg", buf, sizeof buf) == 0) {
    buf[strcspn(buf, "\n")] = 0;
    fprintf(stderr, "server: load average at %s: %s\n", when, buf);
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
static int run_capture(const char *const *argv, char *out, size_t cap, int timeout_ms) {
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

typedef struct server {
  char root[128];   /* temporary directory: data/ and server.log */
  char data[160];
  char log[160];
  pid_t pid;
  uint16_t port;
  char fingerprint[MLPROTO_TLS_FINGERPRINT_HEX_LEN];
  const char *bin;
} server;

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)type;
  (void)ftw;
  remove(path);
  return 0;
}

static int admin(server *s, char *out, const char *a1, const char *a2, const char *a3) {
  const char *argv[] = {s->bin, "admin", "--data", s->data, a1, a2, a3, NULL};
  int rc = run_capture(argv, out, ADMIN_OUT_CAP, 60000);
  out[strcspn(out, "\r\n")] = 0;
  if (rc != 0) fprintf(stderr, "server: `admin %s %s` failed (%d)\n", a1, a2 ? a2 : "", rc);
  return rc == 0 ? 0 : -1;
}

static int server_start(server *s, unsigned max_conns, unsigned workers) {
  const char *tmp = getenv("TMPDIR");
  snprintf(s->root, sizeof s->root, "%s/mlbench-XXXXXX", tmp && *tmp && strlen(tmp) < 64 ? tmp : "/tmp");
  if (!mkdtemp(s->root)) {
    s->root[0] = 0;
    fprintf(stderr, "server: mkdtemp: %s\n", strerror(errno));
    return -1;
  }
  snprintf(s->data, sizeof s->data, "%s/data", s->root);
  snprintf(s->log, sizeof s->log, "%s/server.log", s->root);
  if (mkdir(s->data, 0700) != 0) return -1;
  char maxc[16], nw[16], addr_path[200];
  snprintf(maxc, sizeof maxc, "%u", max_conns);
  snprintf(nw, sizeof nw, "%u", workers);
  snprintf(addr_path, sizeof addr_path, "%s/serve.addr", s->data);
  /* Idle connections must survive the time it takes to open them all. Every
   * simulated client comes from 127.0.0.1, so the per-address limits meant for
   * the internet (connections per address, unauthenticated requests per
   * second) are raised to the whole bench's load; the per-device limits of
   * authenticated requests stay as they are. */
  const char *argv[] = {s->bin, "serve", "--data", s->data, "--listen", "127.0.0.1:0",
                        "--max-connections", maxc, "--max-conns-per-address", maxc,
                        "--unauth-rate", "1000000", "--idle-timeout", "15m",
                        workers ? "--workers" : NULL, nw, NULL};
  int logfd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (logfd < 0) return -1;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(logfd);
    return -1;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* no orphan server if the bench dies */
    if (getppid() != parent) _exit(127);
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(logfd);
  s->pid = pid;
  double deadline = bench_now() + 60;
  char buf[128];
  while (read_text(addr_path, buf, sizeof buf) != 0 || !strchr(buf, '\n')) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      s->pid = 0;
      fprintf(stderr, "server: exited during start-up; its log:\n");
      char logbuf[4096];
      if (read_text(s->log, logbuf, sizeof logbuf) == 0) fputs(logbuf, stderr);
      return -1;
    }
    if (bench_now() > deadline || g_stop) {
      fprintf(stderr, "server: not ready within 60 s\n");
      return -1;
    }
    sleep_ns(10000000L);
  }
  const char *colon = strrchr(buf, ':');
  long port = colon ? strtol(colon + 1, NULL, 10) : 0;
  if (port <= 0 || port > 65535) return -1;
  s->port = (uint16_t)port;
  char out[ADMIN_OUT_CAP];
  if (admin(s, out, "fingerprint", NULL, NULL) || strlen(out) != 64) return -1;
  memcpy(s->fingerprint, out, sizeof s->fingerprint);
  return 0;
}

/* SIGTERM, then up to 30 s for the drain, then SIGKILL; removes the
 * temporary directory. Safe on a half-started server. Returns the server's
 * exit status (0 clean), or -1 when it had to be killed. */
static int server_stop(server *s) {
  int rc = 0;
  if (s->pid > 0) {
    kill(s->pid, SIGTERM);
    double deadline = bench_now() + 30;
    int st = 0;
    pid_t r;
    while ((r = waitpid(s->pid, &st, WNOHANG)) == 0 && bench_now() < deadline) sleep_ns(5000000L);
    if (r != s->pid) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, &st, 0);
      rc = -1;
    } else {
      rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    s->pid = 0;
  }
  if (s->root[0]) {
    if (getenv("ML_KEEP_BENCH_DIR")) fprintf(stderr, "server: kept %s\n", s->root);
    else nftw(s->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    s->root[0] = 0;
  }
  return rc;
}

/* --------------------------------------------- raw TLS connections ---- */
/* The handshake and idle-connection figures use the TLS engine directly
 * (as netclient does inside), so that no HTTP request is in the figure. */

static int tcp_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int flush_tls(mlproto_tls *t, int fd) {
  uint8_t *data;
  size_t len;
  mlproto_tls_take_output(t, &data, &len);
  size_t off = 0;
  while (off < len) {
    ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += (size_t)n;
  }
  mlproto_tls_output_free(data);
  return off == len ? 0 : -1;
}

static int fill_tls(mlproto_tls *t, int fd) {
  uint8_t buf[16384];
  size_t room = mlproto_tls_inbound_space(t);
  if (room == 0) return -1;
  struct pollfd p = {fd, POLLIN, 0};
  int r;
  while ((r = poll(&p, 1, IO_TIMEOUT_MS)) < 0 && errno == EINTR) {
  }
  if (r <= 0) return -1;
  ssize_t n = recv(fd, buf, room < sizeof buf ? room : sizeof buf, 0);
  if (n <= 0) return -1;
  return mlproto_tls_feed(t, buf, (size_t)n) == MLPROTO_OK ? 0 : -1;
}

/* Connects and completes a handshake, offering *resume when set, sends one
 * GET /healthz and reads its answer, and stores the session ticket that
 * came with it in *resume (replacing the old one).
 * Returns the socket (the TLS state is freed: the server keeps its side),
 * or -1. *resumed: whether the handshake resumed. */
static int tls_open(const mlproto_tls_config *cfg, uint16_t port, uint8_t **resume,
                    size_t *resume_len, int *resumed) {
  mlproto_tls *t = NULL;
  int fd = tcp_connect(port);
  if (fd < 0) return -1;
  if (mlproto_tls_new(&t, cfg) != MLPROTO_OK) goto fail;
  if (*resume) (void)!mlproto_tls_set_resume(t, *resume, *resume_len);
  int rc;
  while ((rc = mlproto_tls_handshake(t)) == MLPROTO_TLS_AGAIN)
    if (flush_tls(t, fd) || fill_tls(t, fd)) goto fail;
  if (rc != MLPROTO_OK || flush_tls(t, fd)) goto fail;
  *resumed = mlproto_tls_resumed(t);
  /* One GET /healthz: the server has then finished its side of the
   * handshake, and its session ticket (TLS 1.3: sent after the handshake)
   * arrives with or before the answer. */
  static const char req[] = "GET /healthz HTTP/1.1\r\nHost: " CERT_NAME "\r\n\r\n";
  size_t wrote;
  if (mlproto_tls_write(t, req, sizeof req - 1, &wrote) != MLPROTO_OK || flush_tls(t, fd)) goto fail;
  char resp[1024];
  size_t have = 0;
  for (;;) {
    size_t got;
    rc = mlproto_tls_read(t, resp + have, sizeof resp - 1 - have, &got);
    if (rc == MLPROTO_TLS_AGAIN) {
      if (fill_tls(t, fd)) goto fail;
      continue;
    }
    if (rc != MLPROTO_OK) goto fail;
    have += got;
    resp[have] = 0;
    const char *end = strstr(resp, "\r\n\r\n"), *cl = strstr(resp, "Content-Length:");
    if (!cl) cl = strstr(resp, "content-length:");
    if (end && cl && cl < end && (size_t)(end + 4 - resp) + strtoul(cl + 15, NULL, 10) <= have) break;
    if (have == sizeof resp - 1) goto fail;
  }
  if (strncmp(resp, "HTTP/1.1 200", 12) != 0) goto fail;
  uint8_t *blob = NULL;
  size_t blen = 0;
  if (mlproto_tls_get_resume(t, &blob, &blen) != MLPROTO_OK) goto fail;
  mlproto_tls_resume_free(*resume, *resume_len);
  *resume = blob;
  *resume_len = blen;
  mlproto_tls_free(t);
  return fd;
fail:
  mlproto_tls_free(t);
  close(fd);
  return -1;
}

static int tls_config(mlproto_tls_config **cfg, const server *s) {
  mlproto_tls_client_options o = MLPROTO_TLS_CLIENT_OPTIONS_INIT;
  o.hostname = CERT_NAME;
  o.pin_sha256 = s->fingerprint;
  return mlproto_tls_config_client(cfg, &o);
}

/* ------------------------------------------------------- HTTP client ---- */

static int client_open(ml_netclient **nc, const server *s) {
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
static int call(ml_netclient *nc, const char *method, const char *path, const char *token,
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
  if (rc) fprintf(stderr, "server: %s %s: %s\n", method, path, mlproto_errname(rc));
  return rc ? -1 : 0;
}

/* ----------------------------------------------------------- devices ---- */

/* The start line of a push phase: threads wait until it opens, so that
 * connection warm-up is not in the figure and all devices start together. */
typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int open;
} gate;

static void gate_wait(gate *g) {
  pthread_mutex_lock(&g->mu);
  while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate *g) {
  pthread_mutex_lock(&g->mu);
  g->open = 1;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

typedef struct device {
  sim_dev sim;
  ml_netclient *nc;
  ml_netclient *nc2;    /* the second connection of a pipelined push */
  uint8_t case_id[16];
  uint8_t **bodies;     /* pre-built PushRequest bodies */
  size_t *body_len, *body_n;
  size_t nbatches, records, bytes;
  double *lat;          /* seconds per acknowledged batch */
  size_t nlat;
  unsigned throttled;   /* 429 answers seen */
  int failed;
  gate *start;
} device;

static void device_free(device *d) {
  for (size_t i = 0; i < d->nbatches; i++) free(d->bodies ? d->bodies[i] : NULL);
  free(d->bodies);
  free(d->body_len);
  free(d->body_n);
  free(d->lat);
  ml_netclient_close(d->nc);
  ml_netclient_close(d->nc2);
  sim_dev_free(&d->sim);
  memset(d, 0, sizeof *d);
}

/* Checks a PushResponse: one OK result per record. */
static int push_acknowledged(const ml_netclient_response *r, size_t n) {
  ProtobufCMessage *m = NULL;
  if (mlproto_msg_unpack(&m, MLPROTO_MSG_PUSH_RESPONSE, r->body, r->body_len)) return 0;
  Mentorlog__V1__PushResponse *p = (Mentorlog__V1__PushResponse *)m;
  int ok = p->n_results == n && p->sth;
  for (size_t i = 0; ok && i < n; i++) ok = p->results[i]->status && !strcmp(p->results[i]->status, "OK");
  mlproto_msg_free(m);
  return ok;
}

/* Pushes body (n records) until acknowledged; 429s wait for Retry-After. */
static int push_one(device *d, const uint8_t *body, size_t len, size_t n, double *latency) {
  for (int attempt = 0; attempt <= PUSH_MAX_RETRIES && !g_stop; attempt++) {
    ml_netclient_response r;
    double t0 = bench_now();
    if (call(d->nc, "POST", "/v1/push", d->sim.token, body, len, &r)) return -1;
    double t1 = bench_now();
    if (r.status == 429) {
      d->throttled++;
      ml_netclient_response_free(&r);
      sleep_ns(20000000L);
      continue;
    }
    int ok = r.status == 200 && push_acknowledged(&r, n);
    if (!ok) {
      char code[64];
      sim_error_code(r.body, r.body_len, code);
      fprintf(stderr, "server: push of %zu records refused: HTTP %d %s\n", n, r.status, code);
    }
    ml_netclient_response_free(&r);
    if (latency) *latency = t1 - t0;
    return ok ? 0 : -1;
  }
  return -1;
}

/* Mentor, enrolment code, enrolment, session, and the case's CASE_OPEN. */
static int device_up(device *d, server *s, int idx) {
  char mentor[ADMIN_OUT_CAP], code[ADMIN_OUT_CAP], name[32];
  sim_dev_init(&d->sim);
  snprintf(name, sizeof name, "bench mentor %d", idx);
  if (admin(s, mentor, "mentor", "add", name) || admin(s, code, "enroll-code", mentor, NULL))
    return -1;
  if (client_open(&d->nc, s)) return -1;
  ml_netclient_response r;
  size_t len;
  uint8_t *b = sim_enroll_body(&d->sim, code, &len);
  sodium_memzero(code, sizeof code);
  int rc = call(d->nc, "POST", "/v1/enroll", NULL, b, len, &r);
  free(b);
  if (rc) return -1;
  rc = r.status == 200 ? 0 : -1;
  ml_netclient_response_free(&r);
  if (rc || call(d->nc, "GET", "/v1/session/challenge", NULL, NULL, 0, &r)) {
    fprintf(stderr, "server: enrolment of device %d failed\n", idx);
    return -1;
  }
  b = r.status == 200 ? sim_session_body(&d->sim, r.body, r.body_len, &len) : NULL;
  ml_netclient_response_free(&r);
  if (!b) return -1;
  rc = call(d->nc, "POST", "/v1/session", NULL, b, len, &r);
  free(b);
  if (rc) return -1;
  rc = r.status == 200 ? sim_take_token(&d->sim, r.body, r.body_len) : -1;
  ml_netclient_response_free(&r);
  if (rc) {
    fprintf(stderr, "server: session of device %d failed\n", idx);
    return -1;
  }
  randombytes_buf(d->case_id, sizeof d->case_id);
  size_t env_len;
  uint8_t *env = sim_record(&d->sim, MLPROTO_KIND_CASE_OPEN, d->case_id, &env_len);
  b = sim_push_body(&env, &env_len, 1, &len);
  mlproto_free(env);
  rc = push_one(d, b, len, 1, NULL);
  free(b);
  return rc;
}

/* Builds `records` CONTACTs of d's chain into PushRequest bodies of at
 * most `batch` records. */
static int device_build(device *d, size_t records, size_t batch) {
  d->nbatches = (records + batch - 1) / batch;
  d->bodies = calloc(d->nbatches ? d->nbatches : 1, sizeof *d->bodies);
  d->body_len = calloc(d->nbatches ? d->nbatches : 1, sizeof *d->body_len);
  d->body_n = calloc(d->nbatches ? d->nbatches : 1, sizeof *d->body_n);
  d->lat = calloc(d->nbatches ? d->nbatches : 1, sizeof *d->lat);
  uint8_t **envs = calloc(batch, sizeof *envs);
  size_t *lens = calloc(batch, sizeof *lens);
  int rc = -1;
  if (!d->bodies || !d->body_len || !d->body_n || !d->lat || !envs || !lens) goto out;
  d->records = records;
  for (size_t b = 0, left = records; b < d->nbatches; b++) {
    size_t n = left < batch ? left : batch;
    for (size_t i = 0; i < n; i++) {
      envs[i] = sim_record(&d->sim, MLPROTO_KIND_CONTACT, d->case_id, &lens[i]);
      d->bytes += lens[i];
    }
    d->bodies[b] = sim_push_body(envs, lens, n, &d->body_len[b]);
    d->body_n[b] = n;
    for (size_t i = 0; i < n; i++) mlproto_free(envs[i]);
    left -= n;
  }
  rc = 0;
out:
  free(envs);
  free(lens);
  return rc;
}

static void *push_thread(void *arg) {
  device *d = arg;
  gate_wait(d->start);
  for (size_t b = 0; b < d->nbatches && !d->failed; b++) {
    if (g_stop || push_one(d, d->bodies[b], d->body_len[b], d->body_n[b], &d->lat[d->nlat]))
      d->failed = 1;
    else
      d->nlat++;
  }
  return NULL;
}

/* ------------------------------------------------------ push figures -- */

/* CPU time of this whole process (every thread), in seconds. */
static double self_cpu_s(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru)) return -1;
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Busy and total jiffies of the whole machine (/proc/stat). */
static int machine_jiffies(double *busy, double *total) {
  char buf[512];
  unsigned long long v[8] = {0};
  if (read_text("/proc/stat", buf, sizeof buf) ||
      sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
             &v[5], &v[6], &v[7]) != 8)
    return -1;
  *total = 0;
  for (int i = 0; i < 8; i++) *total += (double)v[i];
  *busy = *total - (double)v[3] - (double)v[4]; /* minus idle and iowait */
  return 0;
}

/* Wall time, server and bench CPU, and the machine's busy share of a phase. */
typedef struct meter {
  pid_t srv;
  double t0, srv0, cli0, busy0, total0;
  double wall, srv_cpu, cli_cpu, busy; /* busy < 0: unknown */
} meter;

static void meter_start(meter *m, pid_t srv) {
  m->srv = srv;
  if (machine_jiffies(&m->busy0, &m->total0)) m->total0 = -1;
  m->srv0 = proc_cpu_s(srv);
  m->cli0 = self_cpu_s();
  m->t0 = bench_now();
}

static void meter_stop(meter *m) {
  m->wall = bench_now() - m->t0;
  double s1 = proc_cpu_s(m->srv), c1 = self_cpu_s(), busy1, total1;
  m->srv_cpu = m->srv0 >= 0 && s1 >= 0 ? s1 - m->srv0 : -1;
  m->cli_cpu = m->cli0 >= 0 && c1 >= 0 ? c1 - m->cli0 : -1;
  m->busy = -1;
  if (m->total0 >= 0 && !machine_jiffies(&busy1, &total1) && total1 > m->total0)
    m->busy = (busy1 - m->busy0) / (total1 - m->total0);
}

typedef struct push_figures {
  size_t records, bytes;
  double *lat; /* seconds per acknowledged batch; sorted here */
  size_t nlat;
  unsigned throttled; /* 429 answers */
  long resent;        /* SEQ_GAP answers of a pipelined push; -1: not one */
} push_figures;

/* The RESULT lines and the summary of a push phase; *rate gets records/s. */
static void push_report(const char *name, const meter *m, push_figures *f, double *rate) {
  qsort(f->lat, f->nlat, sizeof *f->lat, cmp_double);
  double per = f->records ? 1e6 / (double)f->records : 0;
  char key[64];
  *rate = (double)f->records / m->wall;
#define R(suffix, v, unit) (snprintf(key, sizeof key, "%s_%s", name, suffix), bench_result(key, v, unit))
  R("records_per_s", *rate, "records/s");
  R("records", (double)f->records, "records");
  R("batch_p50_ms", pct(f->lat, f->nlat, 50) * 1e3, "ms");
  R("batch_p99_ms", pct(f->lat, f->nlat, 99) * 1e3, "ms");
  R("batch_max_ms", f->nlat ? f->lat[f->nlat - 1] * 1e3 : 0, "ms");
  R("envelope_bytes", f->records ? (double)f->bytes / (double)f->records : 0, "bytes");
  R("throttled_429", (double)f->throttled, "responses");
  if (f->resent >= 0) R("seq_gap_resends", (double)f->resent, "requests");
  if (f->records && m->srv_cpu >= 0) R("server_cpu_us_per_record", m->srv_cpu * per, "us");
  if (f->records && m->cli_cpu >= 0) R("client_cpu_us_per_record", m->cli_cpu * per, "us");
  if (m->busy >= 0) R("machine_busy", m->busy, "fraction");
#undef R
  fprintf(stderr, "server: %s: %zu records in %.2f s = %.0f records/s, batch p50 %.1f ms p99 %.1f ms;"
          " CPU per record: server %.1f us, bench client %.1f us; machine busy %.0f%%%s%s\n",
          name, f->records, m->wall, *rate, pct(f->lat, f->nlat, 50) * 1e3,
          pct(f->lat, f->nlat, 99) * 1e3, m->srv_cpu * per, m->cli_cpu * per, 100 * m->busy,
          f->throttled ? " (rate-limited: see throttled_429)" : "",
          f->resent > 0 ? " (some batches resent after SEQ_GAP)" : "");
}

/* A pipelined push from one device: two connections ("lanes") send
 * alternate batches, batch b only once b - 1 has been sent, so the server
 * verifies one batch while it writes the other (push_order.h). A batch the
 * server refuses with SEQ_GAP (it overtook its predecessor) is sent again
 * once the predecessor is acknowledged. */
typedef struct pipeline {
  device *d;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t sent, acked; /* batches [0, sent) sent; [0, acked) acknowledged */
  unsigned char *done; /* acknowledged, per batch */
  unsigned resent;     /* SEQ_GAP answers */
} pipeline;

typedef struct lane {
  pipeline *p;
  ml_netclient *nc;
  int first;
} lane;

static void *lane_thread(void *arg) {
  lane *l = arg;
  pipeline *p = l->p;
  device *d = p->d;
  gate_wait(d->start);
  for (size_t b = (size_t)l->first; b < d->nbatches && !g_stop; b += 2) {
    pthread_mutex_lock(&p->mu);
    while (p->sent < b && !d->failed) pthread_cond_wait(&p->cv, &p->mu);
    p->sent = b + 1;
    pthread_cond_broadcast(&p->cv);
    int failed = d->failed;
    pthread_mutex_unlock(&p->mu);
    if (failed) break;
    for (int attempt = 0;; attempt++) {
      ml_netclient_response r;
      double t0 = bench_now();
      if (call(l->nc, "POST", "/v1/push", d->sim.token, d->bodies[b], d->body_len[b], &r)) {
        pthread_mutex_lock(&p->mu);
        d->failed = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        break;
      }
      double t1 = bench_now();
      char code[64] = "";
      int status = r.status;
      if (status != 200) sim_error_code(r.body, r.body_len, code);
      int ok = status == 200 && push_acknowledged(&r, d->body_n[b]);
      ml_netclient_response_free(&r);
      pthread_mutex_lock(&p->mu);
      if (status == 429 && attempt < PUSH_MAX_RETRIES) {
        d->throttled++;
        pthread_mutex_unlock(&p->mu);
        sleep_ns(20000000L);
        continue;
      }
      if (ok) {
        d->lat[d->nlat++] = t1 - t0;
        p->done[b] = 1;
        while (p->acked < d->nbatches && p->done[p->acked]) p->acked++;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        break;
      }
      if (strcmp(code, "SEQ_GAP") == 0 && attempt < PUSH_MAX_RETRIES) {
        p->resent++;
        while (p->acked < b && !d->failed) pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        continue;
      }
      fprintf(stderr, "server: pipelined push of batch %zu refused: HTTP %d %s\n", b, status, code);
      d->failed = 1;
      pthread_cond_broadcast(&p->cv);
      pthread_mutex_unlock(&p->mu);
      break;
    }
  }
  return NULL;
}

/* The pipelined push of d's batches; prints the figures under `name`. */
static int pipeline_phase(const char *name, pid_t srv, device *d, const server *s, double *rate) {
  pipeline p = {.d = d};
  gate start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  p.done = calloc(d->nbatches ? d->nbatches : 1, 1);
  int rc = -1;
  if (!p.done || (!d->nc2 && client_open(&d->nc2, s))) goto out;
  d->start = &start;
  lane lanes[2] = {{&p, d->nc, 0}, {&p, d->nc2, 1}};
  pthread_t tid[2];
  int started = 0;
  for (; started < 2; started++)
    if (pthread_create(&tid[started], NULL, lane_thread, &lanes[started])) break;
  meter m;
  meter_start(&m, srv);
  gate_open(&start);
  for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
  meter_stop(&m);
  if (started < 2 || d->failed || p.acked != d->nbatches) {
    fprintf(stderr, "server: %s failed\n", name);
    goto out;
  }
  push_figures f = {.records = d->records, .bytes = d->bytes, .lat = d->lat, .nlat = d->nlat,
                    .throttled = d->throttled, .resent = (long)p.resent};
  push_report(name, &m, &f, rate);
  rc = 0;
out:
  free(p.done);
  pthread_cond_destroy(&p.cv);
  pthread_mutex_destroy(&p.mu);
  return rc;
}

typedef struct healthz {
  ml_netclient *nc;
  volatile int done;
  double *lat;
  size_t n;
  int failed;
} healthz;

static void *healthz_thread(void *arg) {
  healthz *h = arg;
  while (!h->done && !g_stop && h->n < HEALTHZ_SAMPLES_CAP) {
    ml_netclient_response r;
    double t0 = bench_now();
    if (call(h->nc, "GET", "/healthz", NULL, NULL, 0, &r)) {
      h->failed = 1;
      break;
    }
    h->lat[h->n++] = bench_now() - t0;
    if (r.status != 200) h->failed = 1;
    ml_netclient_response_free(&r);
    if (h->failed) break;
    sleep_ns(HEALTHZ_GAP_NS);
  }
  return NULL;
}

/* Pushes the pre-built batches of devs[0..n) concurrently (with a /healthz
 * poller when h is set); prints the figures under `name`. *rate gets
 * records/s. */
static int push_phase(const char *name, pid_t srv, device *devs, size_t n, healthz *h, double *rate) {
  gate start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  pthread_t tid[N_MULTI], htid;
  size_t started = 0;
  int hstarted = 0;
  for (; started < n; started++) {
    devs[started].start = &start;
    if (pthread_create(&tid[started], NULL, push_thread, &devs[started])) break;
  }
  if (started < n) {
    fprintf(stderr, "server: cannot start push threads\n");
    g_stop = 1; /* the started ones return at once */
  }
  if (h && started == n) hstarted = pthread_create(&htid, NULL, healthz_thread, h) == 0;
  meter m;
  meter_start(&m, srv);
  gate_open(&start);
  push_figures f = {.resent = -1};
  int failed = 0;
  for (size_t i = 0; i < started; i++) {
    pthread_join(tid[i], NULL);
    failed |= devs[i].failed;
    f.records += devs[i].records;
    f.bytes += devs[i].bytes;
    f.nlat += devs[i].nlat;
    f.throttled += devs[i].throttled;
  }
  meter_stop(&m);
  if (h) {
    h->done = 1;
    if (hstarted) pthread_join(htid, NULL);
    else h->failed = 1;
  }
  if (failed || started < n) {
    fprintf(stderr, "server: %s failed\n", name);
    return -1;
  }
  f.lat = malloc((f.nlat ? f.nlat : 1) * sizeof *f.lat);
  if (!f.lat) return -1;
  for (size_t i = 0, k = 0; i < n; i++)
    for (size_t j = 0; j < devs[i].nlat; j++) f.lat[k++] = devs[i].lat[j];
  push_report(name, &m, &f, rate);
  free(f.lat);
  return 0;
}

/* ------------------------------------------------------ TLS figures ---- */

static int handshake_phase(server *s, const mlproto_tls_config *cfg, double seconds) {
  uint8_t *resume = NULL;
  size_t resume_len = 0;
  int rc = -1;
  for (int want_resume = 0; want_resume <= 1; want_resume++) {
    const char *name = want_resume ? "tls_resumed_handshake" : "tls_full_handshake";
    unsigned long n = 0, resumed = 0;
    int r;
    /* prime the ticket for the resumed series */
    if (want_resume) {
      int fd = tls_open(cfg, s->port, &resume, &resume_len, &r);
      if (fd < 0) goto out;
      close(fd);
    }
    double srv0 = proc_cpu_s(s->pid), cli0 = thread_cpu_s(), t0 = bench_now(), t1;
    do {
      if (!want_resume) { /* no session to offer: a full handshake each time */
        mlproto_tls_resume_free(resume, resume_len);
        resume = NULL;
        resume_len = 0;
      }
      int fd = tls_open(cfg, s->port, &resume, &resume_len, &r);
      if (fd < 0 || g_stop) {
        if (fd >= 0) close(fd);
        fprintf(stderr, "server: handshake failed\n");
        goto out;
      }
      close(fd);
      n++;
      resumed += (unsigned long)r;
    } while ((t1 = bench_now()) - t0 < seconds);
    double cli = thread_cpu_s() - cli0, srv = proc_cpu_s(s->pid) - srv0;
    char key[64];
    snprintf(key, sizeof key, "%s_per_s", name);
    bench_result(key, (double)n / (t1 - t0), "handshakes/s");
    snprintf(key, sizeof key, "%s_client_cpu_us", name);
    bench_result(key, cli / (double)n * 1e6, "us");
    snprintf(key, sizeof key, "%s_server_cpu_us", name);
    bench_result(key, srv / (double)n * 1e6, "us");
    if (want_resume) bench_result("tls_resumed_fraction", (double)resumed / (double)n, "ratio");
    fprintf(stderr, "server: %s: %.0f/s (client %.0f us, server %.0f us CPU each)%s\n", name,
            (double)n / (t1 - t0), cli / (double)n * 1e6, srv / (double)n * 1e6,
            want_resume && resumed != n ? " -- not all resumed!" : "");
  }
  rc = 0;
out:
  mlproto_tls_resume_free(resume, resume_len);
  return rc;
}

/* Value of a Prometheus gauge in a /metrics body, or -1. */
static double metric(const ml_netclient_response *r, const char *name) {
  const char *p = (const char *)r->body;
  size_t nl = strlen(name);
  while ((p = strstr(p, name)) != NULL) {
    if ((p == (const char *)r->body || p[-1] == '\n') && p[nl] == ' ') return strtod(p + nl + 1, NULL);
    p += nl;
  }
  return -1;
}

static int idle_phase(server *s, const mlproto_tls_config *cfg, size_t want) {
  int *fds = malloc((want ? want : 1) * sizeof *fds);
  if (!fds) return -1;
  uint8_t *resume = NULL;
  size_t resume_len = 0, open_n = 0;
  int rc = -1, r;
  long before = rss_kib(s->pid);
  double t0 = bench_now();
  unsigned long resumed = 0;
  while (open_n < want && !g_stop) {
    int fd = tls_open(cfg, s->port, &resume, &resume_len, &r);
    if (fd < 0) {
      fprintf(stderr, "server: idle connection %zu failed: %s\n", open_n + 1, strerror(errno));
      break;
    }
    fds[open_n++] = fd;
    resumed += (unsigned long)r;
    if (open_n % 2000 == 0) fprintf(stderr, "server: %zu idle connections...\n", open_n);
  }
  double opened_s = bench_now() - t0;
  sleep_ns(500000000L); /* let the server's loop settle */
  long after = rss_kib(s->pid);
  /* Held = still open on our side (no EOF/HUP) and counted by the server. */
  size_t held = 0;
  for (size_t i = 0; i < open_n; i++) {
    struct pollfd p = {fds[i], POLLIN | POLLRDHUP, 0};
    int pr = poll(&p, 1, 0);
    if (pr == 0) held++;
    else if (pr == 1 && !(p.revents & (POLLRDHUP | POLLHUP | POLLERR))) held++; /* a late ticket */
  }
  ml_netclient *nc = NULL;
  ml_netclient_response m;
  double server_open = -1;
  if (client_open(&nc, s) == 0 && call(nc, "GET", "/metrics", NULL, NULL, 0, &m) == 0) {
    server_open = metric(&m, "mentorlog_connections_open");
    ml_netclient_response_free(&m);
  }
  ml_netclient_close(nc);
  if (before > 0 && after > 0 && held > 0) {
    double per = (double)(after - before) / (double)held;
    bench_result("idle_conns_wanted", (double)want, "connections");
    bench_result("idle_conns_held", (double)held, "connections");
    bench_result("idle_conns_server_reported", server_open, "connections");
    bench_result("idle_conns_open_per_s", (double)open_n / opened_s, "connections/s");
    bench_result("server_rss_before_kib", (double)before, "KiB");
    bench_result("server_rss_after_kib", (double)after, "KiB");
    bench_result("server_kib_per_idle_conn", per, "KiB");
    fprintf(stderr, "server: %zu idle TLS connections held (the server counts %.0f: these + the bench's device and metrics connections; "
            "%lu resumed): RSS %ld -> %ld KiB = %.1f KiB each\n",
            held, server_open, resumed, before, after, per);
    rc = held == want ? 0 : -1;
    if (rc) fprintf(stderr, "server: only %zu of %zu idle connections held\n", held, want);
  }
  for (size_t i = 0; i < open_n; i++) close(fds[i]);
  free(fds);
  sleep_ns(2000000000L); /* the server closes them: not in the next phase's CPU */
  mlproto_tls_resume_free(resume, resume_len);
  return rc;
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

/* Runs the peer script, reprints its RESULT lines as peer_<name>; *push
 * gets its push docs/s (0 when absent). 0 ran, 1 skipped, -1 failed. */
static int peer_phase(const char *script, size_t records, double *push) {
  *push = 0;
  if (!have_node()) {
    fprintf(stderr, "server: peer skipped: `node` is not on PATH (apt-get install nodejs npm)\n");
    return 1;
  }
  if (access(script, R_OK) != 0) {
    fprintf(stderr, "server: peer skipped: %s: %s\n", script, strerror(errno));
    return 1;
  }
  char n[32];
  snprintf(n, sizeof n, "%zu", records);
  const char *argv[] = {"/bin/bash", script, n, NULL};
  char *out = malloc(PEER_OUT_CAP);
  if (!out) return -1;
  fprintf(stderr, "server: peer: %s %s ...\n", script, n);
  int st = run_capture(argv, out, PEER_OUT_CAP, PEER_TIMEOUT_MS);
  if (st == 2) { /* run.sh: node or npm missing */
    fprintf(stderr, "server: peer skipped: its script could not run (status 2)\n");
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
    if (!strcmp(name, "pouch.push.docs_per_s")) *push = v;
    count++;
  }
  free(out);
  if (st != 0 || count == 0 || *push <= 0) {
    fprintf(stderr, "server: peer failed (status %d, %d results)\n", st, count);
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
          "  --workers N         the server's --workers (default: the server's default)\n"
          "  --peer-script PATH  the peer benchmark (default %s/../shared/bench/peer-pouchdb/run.sh)\n"
          "  --no-peer           do not run the peer\n"
          "Figures: RESULT lines on stdout; a summary on stderr. ML_KEEP_BENCH_DIR=1 keeps the\n"
          "server's directory (data and server.log). Exit: 0 ok, 1 a phase failed, 2 usage.\n",
          N_MULTI, ML_SOURCE_DIR);
}

/* Default server binary: the build tree's, relative to this executable. */
static char *default_server_bin(void) {
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
  opts o = {NULL, NULL, 20000, 1000, 3, 10000, 0, 0};
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
    } else {
      usage(stderr);
      return 2;
    }
    i++;
  }
  size_t records = (size_t)o.records, batch = (size_t)o.batch;
  if (!o.server_bin && !(o.server_bin = default_bin = default_server_bin())) return 1;
  if (!o.peer_script) o.peer_script = default_peer;
  if (access(o.server_bin, X_OK) != 0) {
    fprintf(stderr, "server: %s: %s (see --server-bin)\n", o.server_bin, strerror(errno));
    free(default_bin);
    return 2;
  }
  size_t idle = fit_nofile((size_t)o.idle_conns, 256);
  if (idle < (size_t)o.idle_conns)
    fprintf(stderr, "server: RLIMIT_NOFILE allows only %zu idle connections of %.0f\n", idle, o.idle_conns);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (mlproto_crypto_init() != MLPROTO_OK || mlproto_tls_global_init() != MLPROTO_OK) return 1;

  print_loadavg("start");
  int rc = 1;
  server s;
  memset(&s, 0, sizeof s);
  s.bin = o.server_bin;
  device devs[2 + N_MULTI]; /* 1 device, 1 pipelined device, N_MULTI devices */
  memset(devs, 0, sizeof devs);
  healthz h;
  memset(&h, 0, sizeof h);
  mlproto_tls_config *cfg = NULL;
  double push1 = 0, push1p = 0, push8 = 0, peer_push = 0;

  fprintf(stderr, "server: starting %s\n", o.server_bin);
  if (server_start(&s, (unsigned)idle + 256, (unsigned)o.workers)) goto out;
  if (tls_config(&cfg, &s) != MLPROTO_OK) goto out;
  fprintf(stderr, "server: enrolling %d devices\n", 2 + N_MULTI);
  for (int i = 0; i < 2 + N_MULTI; i++)
    if (device_up(&devs[i], &s, i)) goto out;
  fprintf(stderr, "server: building %zu + %zu + %zu records\n", records, records, records);
  if (device_build(&devs[0], records, batch) || device_build(&devs[1], records, batch)) goto out;
  for (int i = 0; i < N_MULTI; i++)
    if (device_build(&devs[2 + i], records / N_MULTI + ((size_t)i < records % N_MULTI), batch))
      goto out;

  if (idle) {
    fprintf(stderr, "server: opening %zu idle TLS connections\n", idle);
    if (idle_phase(&s, cfg, idle)) goto out;
  }
  fprintf(stderr, "server: TLS handshakes, %.1f s per series\n", o.seconds);
  if (handshake_phase(&s, cfg, o.seconds)) goto out;

  fprintf(stderr, "server: push from 1 device\n");
  if (push_phase("push_1dev", s.pid, devs, 1, NULL, &push1)) goto out;
  fprintf(stderr, "server: pipelined push from 1 device (2 connections, 2 batches in flight)\n");
  if (pipeline_phase("push_1dev_pipelined", s.pid, &devs[1], &s, &push1p)) goto out;
  fprintf(stderr, "server: push from %d devices, /healthz polled meanwhile\n", N_MULTI);
  h.lat = malloc(HEALTHZ_SAMPLES_CAP * sizeof *h.lat);
  if (!h.lat || client_open(&h.nc, &s)) goto out;
  if (push_phase("push_8dev", s.pid, devs + 2, N_MULTI, &h, &push8)) goto out;
  if (h.failed || h.n == 0) {
    fprintf(stderr, "server: /healthz failed during the push\n");
    goto out;
  }
  qsort(h.lat, h.n, sizeof *h.lat, cmp_double);
  bench_result("healthz_under_push_samples", (double)h.n, "requests");
  bench_result("healthz_under_push_p50_ms", pct(h.lat, h.n, 50) * 1e3, "ms");
  bench_result("healthz_under_push_p99_ms", pct(h.lat, h.n, 99) * 1e3, "ms");
  bench_result("healthz_under_push_max_ms", h.lat[h.n - 1] * 1e3, "ms");
  fprintf(stderr, "server: /healthz during push: %zu samples, p50 %.2f ms, p99 %.2f ms\n", h.n,
          pct(h.lat, h.n, 50) * 1e3, pct(h.lat, h.n, 99) * 1e3);
  rc = 0;
out:
  ml_netclient_close(h.nc);
  free(h.lat);
  for (int i = 0; i < 2 + N_MULTI; i++) device_free(&devs[i]);
  mlproto_tls_config_free(cfg);
  int st = server_stop(&s);
  if (st != 0 && s.port) {
    fprintf(stderr, "server: the server did not stop cleanly (%d)\n", st);
    rc = 1;
  }
  if (g_stop) {
    fprintf(stderr, "server: interrupted\n");
    rc = 1;
  }
  if (!rc && !o.no_peer) {
    int p = peer_phase(o.peer_script, records, &peer_push);
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
  print_loadavg("end");
  if (rc) fprintf(stderr, "server: benchmark failed\n");
  free(default_bin);
  return rc;
}
