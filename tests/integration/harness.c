/* harness.c — see harness.h. Plain POSIX: fork/exec, waitpid, poll. */
#define _GNU_SOURCE /* memmem, pipe2 */
#include "harness.h"
#include "testutil.h" /* cmocka asserts in ih_start/ih_stop */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MLS_SERVER_BIN
#error "MLS_SERVER_BIN must name the mentorlog-server binary"
#endif
#define ADDR_FILE "serve.addr"
#define METRICS_ADDR_FILE "metrics.addr"

static int hfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int hfail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("harness: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return -1;
}

const char *ih_server_binary(void) { return MLS_SERVER_BIN; }

uint64_t ih_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ih_sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

static int rm_rf(const char *path);

/* Every server this process initialised, by value (pid and directory): a
 * cmocka assertion longjmps out of a test, leaving its ih_server on a dead
 * stack frame, so nothing here points into one except as a key. Entries are
 * dropped by ih_server_cleanup(); whatever is left is killed and removed by
 * ih_teardown(), by a later ih_server_init() at the same address, or at exit.
 * The kernel kills a server whose test process died (PR_SET_PDEATHSIG). */
#define IH_MAX_LIVE 32
static struct live {
  const ih_server *key;
  pid_t pid;
  char root[256];
  char store[TEST_STORE_URI_CAP];
} live[IH_MAX_LIVE];

static struct live *live_find(const ih_server *s) {
  for (size_t i = 0; i < IH_MAX_LIVE; i++)
    if (live[i].key == s) return &live[i];
  return NULL;
}

static void live_reap(struct live *l) {
  if (l->pid > 0) {
    kill(l->pid, SIGKILL);
    waitpid(l->pid, NULL, 0);
  }
  if (l->root[0] && !getenv("ML_KEEP_TEST_DIRS")) {
    rm_rf(l->root);
    test_store_drop(l->store);
  }
  memset(l, 0, sizeof *l);
}

static void live_set_pid(const ih_server *s, pid_t pid) {
  struct live *l = live_find(s);
  if (l) l->pid = pid;
}

static void live_reap_all(void) {
  for (size_t i = 0; i < IH_MAX_LIVE; i++)
    if (live[i].key) live_reap(&live[i]);
}

int ih_teardown(void **state) {
  (void)state;
  live_reap_all();
  return 0;
}

int ih_server_init(ih_server *s, const char *const *extra) {
  static int at_exit_registered;
  struct live *l = live_find(s);
  if (l) live_reap(l); /* left by a test that failed with its server up */
  if (!(l = live_find(NULL))) return hfail("more than %d servers at once", IH_MAX_LIVE);
  memset(s, 0, sizeof *s);
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !tmp[0]) tmp = "/tmp";
  snprintf(s->root, sizeof s->root, "%s/mlit-XXXXXX", tmp);
  if (!mkdtemp(s->root)) return hfail("mkdtemp %s: %s", s->root, strerror(errno));
  snprintf(s->data, sizeof s->data, "%s/data", s->root);
  snprintf(s->log_path, sizeof s->log_path, "%s/server.log", s->root);
  if (mkdir(s->data, 0700) != 0) return hfail("mkdir %s: %s", s->data, strerror(errno));
  if (test_store_uri(s->store, sizeof s->store, s->data) != 0) {
    rm_rf(s->root);
    return hfail("no store for %s (see above)", s->data);
  }
  /* after test_store's own: at exit the servers die before their stores go */
  if (!at_exit_registered && atexit(live_reap_all) == 0) at_exit_registered = 1;
  snprintf(s->host, sizeof s->host, "127.0.0.1");
  l->key = s;
  snprintf(l->root, sizeof l->root, "%s", s->root);
  snprintf(l->store, sizeof l->store, "%s", s->store);
  size_t n = 0;
  for (; extra && extra[n] && n + 1 < IH_MAX_ARGS; n++) s->extra[n] = extra[n];
  s->extra[n] = NULL;
  return 0;
}

static int read_small_file(const char *path, char *buf, size_t bufsz) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, bufsz - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  return (int)n;
}

int ih_server_alive(ih_server *s) {
  if (s->pid <= 0) return 0;
  int st;
  pid_t r = waitpid(s->pid, &st, WNOHANG);
  if (r == s->pid) {
    s->pid = 0;
    live_set_pid(s, 0);
    return 0;
  }
  return 1;
}

int ih_server_start(ih_server *s) {
  char path[340];
  const char *argv[IH_MAX_ARGS + 12];
  size_t a = 0;
  if (s->pid > 0) return hfail("server already running");
  snprintf(path, sizeof path, "%s/" ADDR_FILE, s->data);
  unlink(path); /* a SIGKILLed predecessor leaves its files behind */
  char mpath[340];
  snprintf(mpath, sizeof mpath, "%s/" METRICS_ADDR_FILE, s->data);
  unlink(mpath);
  argv[a++] = MLS_SERVER_BIN;
  argv[a++] = "serve";
  argv[a++] = "--data";
  argv[a++] = s->data;
  if (test_store_cli(s->store)) {
    argv[a++] = "--store";
    argv[a++] = s->store;
  }
  argv[a++] = "--listen";
  argv[a++] = "127.0.0.1:0";
  for (size_t i = 0; s->extra[i]; i++) argv[a++] = s->extra[i];
  argv[a] = NULL;

  int logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (logfd < 0) return hfail("open %s: %s", s->log_path, strerror(errno));
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(logfd);
    return hfail("fork: %s", strerror(errno));
  }
  if (pid == 0) {
    /* No orphaned server if the test process dies without cleaning up. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(126);
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(logfd);
  s->pid = pid;
  live_set_pid(s, pid);

  uint64_t deadline = ih_now_ms() + 60000;
  char buf[128];
  for (;;) {
    if (read_small_file(path, buf, sizeof buf) > 0 && strchr(buf, '\n')) break;
    if (!ih_server_alive(s)) {
      /* the log goes with the directory at cleanup: its end, here */
      char *log = ih_server_log(s);
      size_t n = log ? strlen(log) : 0;
      fprintf(stderr, "harness: the end of %s:\n%s\n", s->log_path, log ? log + (n > 2048 ? n - 2048 : 0) : "");
      free(log);
      return hfail("server exited during start-up; see %s", s->log_path);
    }
    if (ih_now_ms() > deadline) {
      ih_server_kill(s);
      return hfail("server not ready within 60 s; see %s", s->log_path);
    }
    ih_sleep_ms(10);
  }
  char *colon = strrchr(buf, ':');
  if (!colon) return hfail("bad %s: %s", ADDR_FILE, buf);
  s->port = atoi(colon + 1);
  if (s->port <= 0 || s->port > 65535) return hfail("bad port in %s", ADDR_FILE);

  if (!s->fingerprint[0]) {
    const char *args[] = {"fingerprint", NULL};
    char out[200];
    int rc = ih_admin(s, out, sizeof out, args);
    if (rc != 0 || strlen(out) != 64) return hfail("admin fingerprint failed (%d): %s", rc, out);
    memcpy(s->fingerprint, out, 65);
  }
  return 0;
}

int ih_server_signal_wait(ih_server *s, int sig, int timeout_ms, int *status) {
  if (s->pid <= 0) return hfail("server not running");
  kill(s->pid, sig);
  uint64_t deadline = ih_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    int st;
    pid_t r = waitpid(s->pid, &st, WNOHANG);
    if (r == s->pid) {
      s->pid = 0;
      live_set_pid(s, 0);
      if (status) *status = st;
      return 0;
    }
    if (ih_now_ms() > deadline) {
      ih_server_kill(s);
      return hfail("server did not exit within %d ms of signal %d", timeout_ms, sig);
    }
    ih_sleep_ms(5);
  }
}

int ih_server_stop(ih_server *s) {
  int st = 0;
  if (ih_server_signal_wait(s, SIGTERM, 60000, &st) != 0) return -1;
  if (!WIFEXITED(st)) return hfail("server died of signal %d; see %s", WTERMSIG(st), s->log_path);
  if (WEXITSTATUS(st) != 0) return hfail("server exit status %d; see %s", WEXITSTATUS(st), s->log_path);
  return 0;
}

void ih_server_kill(ih_server *s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGKILL);
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
  live_set_pid(s, 0);
}

static int rm_rf(const char *path) {
  const char *argv[] = {"/bin/rm", "-rf", path, NULL};
  return ih_run(NULL, 0, 30000, argv);
}

void ih_server_cleanup(ih_server *s) {
  ih_server_kill(s);
  if (s->root[0]) {
    if (getenv("ML_KEEP_TEST_DIRS")) {
      fprintf(stderr, "harness: kept %s\n", s->root);
    } else {
      rm_rf(s->root);
      test_store_drop(s->store);
    }
  }
  s->root[0] = '\0';
  s->store[0] = '\0';
  struct live *l = live_find(s);
  if (l) memset(l, 0, sizeof *l);
}

void ih_start(ih_server *s, const char *const *extra) {
  assert_int_equal(ih_server_init(s, extra), 0);
  assert_int_equal(ih_server_start(s), 0);
}

void ih_stop(ih_server *s) {
  assert_int_equal(ih_server_stop(s), 0);
  ih_server_cleanup(s);
}

int ih_run(char *out, size_t outsz, int timeout_ms, const char *const *argv) {
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(pfd[0]);
    close(pfd[1]);
    return -1;
  }
  if (pid == 0) {
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    dup2(pfd[1], 1);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(pfd[1]);
  size_t len = 0;
  uint64_t deadline = ih_now_ms() + (uint64_t)timeout_ms;
  int timed_out = 0;
  for (;;) {
    uint64_t now = ih_now_ms();
    if (now >= deadline) {
      timed_out = 1;
      break;
    }
    struct pollfd p = {pfd[0], POLLIN, 0};
    int r = poll(&p, 1, (int)(deadline - now));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char tmp[4096];
    ssize_t n = read(pfd[0], tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out && outsz) {
      size_t take = (size_t)n;
      if (take > outsz - 1 - len) take = outsz - 1 - len;
      memcpy(out + len, tmp, take);
      len += take;
    }
  }
  close(pfd[0]);
  if (out && outsz) out[len] = '\0';
  int st;
  if (timed_out) kill(pid, SIGKILL);
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (timed_out || !WIFEXITED(st)) return -1;
  return WEXITSTATUS(st);
}

int ih_admin(ih_server *s, char *out, size_t outsz, const char *const *args) {
  const char *argv[IH_MAX_ARGS + 6];
  size_t a = 0;
  argv[a++] = MLS_SERVER_BIN;
  argv[a++] = "admin";
  argv[a++] = "--data";
  argv[a++] = s->data;
  if (test_store_cli(s->store)) {
    argv[a++] = "--store";
    argv[a++] = s->store;
  }
  for (size_t i = 0; args && args[i] && a + 1 < sizeof argv / sizeof argv[0]; i++) argv[a++] = args[i];
  argv[a] = NULL;
  int rc = ih_run(out, outsz, 60000, argv);
  if (out && outsz) {
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r')) out[--n] = '\0';
  }
  return rc;
}

char *ih_server_log(ih_server *s) {
  FILE *f = fopen(s->log_path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (n < 0) n = 0;
  char *buf = malloc((size_t)n + 1);
  if (buf) {
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
  }
  fclose(f);
  return buf;
}

/* ------------------------------------------------------ raw TLS client ---- */

#include "mlproto/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* TCP to host:port (IPv4), from src when given. */
static int tcp_to(const char *host, int port, const char *src, int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (src) {
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = 0};
    if (inet_pton(AF_INET, src, &b.sin_addr) != 1 || bind(fd, (struct sockaddr *)&b, sizeof b) != 0) {
      close(fd);
      return -1;
    }
  }
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int ih_tcp_connect_from(ih_server *s, const char *src, int timeout_ms) {
  return tcp_to(s->host, s->port, src, timeout_ms);
}

int ih_tcp_connect(ih_server *s, int timeout_ms) { return tcp_to(s->host, s->port, NULL, timeout_ms); }

static int raw_flush(ih_raw *r, int timeout_ms) {
  uint8_t *data;
  size_t len;
  mlproto_tls_take_output(r->tls, &data, &len);
  size_t off = 0;
  int rc = 0;
  uint64_t deadline = ih_now_ms() + (uint64_t)timeout_ms;
  while (off < len) {
    struct pollfd p = {r->fd, POLLOUT, 0};
    if (poll(&p, 1, 100) <= 0) {
      if (ih_now_ms() > deadline) {
        rc = -1;
        break;
      }
      continue;
    }
    ssize_t n = send(r->fd, data + off, len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      rc = -1;
      break;
    }
    off += (size_t)n;
  }
  mlproto_tls_output_free(data);
  return rc;
}

/* Reads ciphertext into the session: 1 got some, 0 EOF, -1 timeout/error. */
static int raw_fill(ih_raw *r, uint64_t deadline) {
  uint8_t buf[16384];
  for (;;) {
    uint64_t now = ih_now_ms();
    if (now >= deadline) return -1;
    struct pollfd p = {r->fd, POLLIN, 0};
    int pr = poll(&p, 1, (int)(deadline - now));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;
    size_t space = mlproto_tls_inbound_space(r->tls);
    if (space > sizeof buf) space = sizeof buf;
    ssize_t n = recv(r->fd, buf, space, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == ECONNRESET ? 0 : -1;
    if (n == 0) return 0;
    if (mlproto_tls_feed(r->tls, buf, (size_t)n) != MLPROTO_OK) return -1;
    return 1;
  }
}

int ih_raw_connect(ih_server *s, ih_raw *r, unsigned max_version, int timeout_ms) {
  return ih_raw_connect_from(s, r, NULL, max_version, timeout_ms);
}

int ih_raw_connect_from(ih_server *s, ih_raw *r, const char *src, unsigned max_version,
                        int timeout_ms) {
  return ih_raw_connect_prefix(s, r, src, NULL, 0, max_version, timeout_ms);
}

int ih_raw_connect_prefix(ih_server *s, ih_raw *r, const char *src, const void *prefix,
                          size_t prefix_len, unsigned max_version, int timeout_ms) {
  uint8_t *resume = r->resume;
  size_t resume_len = r->resume_len;
  mlproto_tls_config *cfg = r->cfg;
  memset(r, 0, sizeof *r);
  r->fd = -1;
  r->resume = resume;
  r->resume_len = resume_len;
  r->cfg = cfg;
  if (!r->cfg) {
    mlproto_tls_client_options o = MLPROTO_TLS_CLIENT_OPTIONS_INIT;
    o.hostname = "mentorlog-server";
    o.pin_sha256 = s->fingerprint;
    o.max_version = max_version;
    int rc = mlproto_tls_config_client(&r->cfg, &o);
    if (rc) return hfail("tls config: %s", mlproto_errname(rc));
  }
  r->fd = ih_tcp_connect_from(s, src, timeout_ms);
  if (r->fd < 0) return hfail("connect to %s:%d: %s", s->host, s->port, strerror(errno));
  /* in pieces of 7 bytes, 2 ms apart: the server gets it in several reads */
  for (size_t off = 0; off < prefix_len;) {
    if (off) ih_sleep_ms(2);
    size_t piece = prefix_len - off < 7 ? prefix_len - off : 7;
    ssize_t n = send(r->fd, (const uint8_t *)prefix + off, piece, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ih_raw_close(r);
      return hfail("sending the prefix: %s", strerror(errno));
    }
    off += (size_t)n;
  }
  if (mlproto_tls_new(&r->tls, r->cfg) != MLPROTO_OK) {
    ih_raw_close(r);
    return hfail("tls_new");
  }
  if (r->resume && mlproto_tls_set_resume(r->tls, r->resume, r->resume_len) != MLPROTO_OK) {
    /* a stale blob: fall back to a full handshake, as a real client would */
  }
  uint64_t deadline = ih_now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    int rc = mlproto_tls_handshake(r->tls);
    if (raw_flush(r, timeout_ms) != 0) rc = MLPROTO_ERR_IO;
    if (rc == MLPROTO_OK) return 0;
    if (rc < 0 || raw_fill(r, deadline) <= 0) {
      ih_raw_close(r);
      return rc < 0 ? rc : MLPROTO_ERR_TLS_CLOSED;
    }
  }
}

int ih_raw_send(ih_raw *r, const void *data, size_t len, int timeout_ms) {
  const uint8_t *p = data;
  size_t off = 0;
  while (off < len) {
    size_t n = 0;
    int rc = mlproto_tls_write(r->tls, p + off, len - off, &n);
    off += n;
    if (raw_flush(r, timeout_ms) != 0) return -1;
    if (rc < 0) return -1;
  }
  return 0;
}

int ih_raw_shutdown_write(ih_raw *r) { return shutdown(r->fd, SHUT_WR); }

int ih_raw_recv(ih_raw *r, uint8_t *buf, size_t cap, size_t *len, int want_one, int timeout_ms) {
  uint64_t deadline = ih_now_ms() + (uint64_t)timeout_ms;
  *len = 0;
  for (;;) {
    while (*len < cap) {
      size_t n = 0;
      int rc = mlproto_tls_read(r->tls, buf + *len, cap - *len, &n);
      (void)raw_flush(r, 1000);
      if (rc == MLPROTO_TLS_AGAIN) break;
      if (rc < 0) return 0; /* close_notify or alert: the peer is done */
      *len += n;
    }
    if (want_one && *len) {
      int st;
      char code[64];
      size_t used;
      if (ih_parse_response(buf, *len, &st, code, &used) == 0) return 1;
    }
    if (*len >= cap) return 1;
    int f = raw_fill(r, deadline);
    if (f == 0) return 0;
    if (f < 0) return -1;
  }
}

int ih_raw_recv_until(ih_raw *r, uint8_t *buf, size_t cap, size_t *len, const char *needle,
                      int timeout_ms) {
  uint64_t deadline = ih_now_ms() + (uint64_t)timeout_ms;
  *len = 0;
  buf[0] = 0;
  for (;;) {
    int closed = 0;
    while (*len + 1 < cap) {
      size_t n = 0;
      int rc = mlproto_tls_read(r->tls, buf + *len, cap - 1 - *len, &n);
      (void)raw_flush(r, 1000);
      if (rc == MLPROTO_TLS_AGAIN) break;
      if (rc < 0) {
        closed = 1;
        break;
      }
      *len += n;
    }
    buf[*len] = 0;
    if (memmem(buf, *len, needle, strlen(needle))) return 1;
    if (closed) return 0;
    if (*len + 1 >= cap) return -1;
    int f = raw_fill(r, deadline);
    if (f == 0) return 0;
    if (f < 0) return -1;
  }
}

void ih_raw_close(ih_raw *r) {
  if (r->tls && !r->resume) {
    uint8_t *blob;
    size_t blen;
    if (mlproto_tls_get_resume(r->tls, &blob, &blen) == MLPROTO_OK) {
      r->resume = blob;
      r->resume_len = blen;
    }
  }
  mlproto_tls_free(r->tls);
  r->tls = NULL;
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
}

void ih_raw_free(ih_raw *r) {
  ih_raw_close(r);
  if (r->resume) mlproto_tls_resume_free(r->resume, r->resume_len);
  r->resume = NULL;
  mlproto_tls_config_free(r->cfg);
  r->cfg = NULL;
}

static void error_code_of(const mlproto_http_response *resp, char code[64]) {
  code[0] = '\0';
  const uint8_t *b = resp->body;
  size_t n = resp->body_len;
  if (resp->content_type && strstr(resp->content_type, "json")) {
    const char *k = memmem(b, n, "\"code\"", 6);
    if (!k) return;
    const char *q = memchr(k + 6, '"', n - (size_t)(k + 6 - (const char *)b));
    if (!q) return;
    q++;
    size_t i = 0;
    while (q + i < (const char *)b + n && q[i] != '"' && i < 63) i++;
    memcpy(code, q, i);
    code[i] = '\0';
    return;
  }
  /* protobuf Error { string code = 1; ... }: walk the top-level fields. */
  size_t i = 0;
  while (i < n) {
    uint64_t key = 0, len = 0;
    int sh = 0;
    while (i < n && sh < 64) {
      key |= (uint64_t)(b[i] & 0x7f) << sh;
      sh += 7;
      if (!(b[i++] & 0x80)) break;
    }
    if ((key & 7) != 2) return;
    sh = 0;
    while (i < n && sh < 64) {
      len |= (uint64_t)(b[i] & 0x7f) << sh;
      sh += 7;
      if (!(b[i++] & 0x80)) break;
    }
    if (len > n - i) return;
    if (key >> 3 == 1 && len < 64) {
      memcpy(code, b + i, (size_t)len);
      code[len] = '\0';
      return;
    }
    i += (size_t)len;
  }
}

int ih_parse_response(const uint8_t *data, size_t len, int *status, char code[64], size_t *used) {
  mlproto_http_response_parser *p;
  mlproto_http_limits lim = MLPROTO_HTTP_LIMITS_DEFAULT;
  lim.max_body = 64u << 20;
  if (mlproto_http_response_parser_new(&p, &lim) != MLPROTO_OK) return -1;
  mlproto_http_response_parser_begin(p, 0);
  const mlproto_http_response *resp = NULL;
  int rc = mlproto_http_response_parser_feed(p, data, len, used, &resp);
  if (rc == MLPROTO_OK && resp) {
    *status = resp->status;
    error_code_of(resp, code);
  }
  mlproto_http_response_parser_free(p);
  return (rc == MLPROTO_OK && resp) ? 0 : -1;
}

int ih_request_once(ih_server *s, const void *raw, size_t len, int half_close, int *status,
                    char code[64], int timeout_ms) {
  ih_raw r = {0};
  r.fd = -1;
  static uint8_t buf[1u << 20];
  int rc = ih_raw_connect(s, &r, 0, timeout_ms);
  if (rc != 0) {
    ih_raw_free(&r);
    return -1;
  }
  size_t got = 0, used = 0;
  rc = ih_raw_send(&r, raw, len, timeout_ms);
  if (half_close) ih_raw_shutdown_write(&r);
  (void)ih_raw_recv(&r, buf, sizeof buf, &got, 1, timeout_ms);
  ih_raw_free(&r);
  return ih_parse_response(buf, got, status, code, &used);
}

int ih_tcp_closed_by_peer(int fd, int timeout_ms) {
  uint64_t deadline = ih_now_ms() + (uint64_t)timeout_ms;
  while (ih_now_ms() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char tmp[4096];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return 1;
  }
  return 0;
}

int ih_metrics_get(ih_server *s, const char *path, char *out, size_t outsz, int timeout_ms) {
  char file[340], line[128];
  snprintf(file, sizeof file, "%s/" METRICS_ADDR_FILE, s->data);
  if (read_small_file(file, line, sizeof line) <= 0) return hfail("no %s", file);
  char *colon = strrchr(line, ':');
  if (!colon) return hfail("bad %s: %s", file, line);
  *colon = '\0';
  int fd = tcp_to(line, atoi(colon + 1), NULL, timeout_ms);
  if (fd < 0) return hfail("connect to the metrics listener %s:%s: %s", line, colon + 1, strerror(errno));
  char req[256];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
  size_t len = 0;
  int status = -1;
  if (send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
    uint64_t deadline = ih_now_ms() + (uint64_t)timeout_ms;
    while (len + 1 < outsz && ih_now_ms() < deadline) {
      struct pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      ssize_t got = recv(fd, out + len, outsz - 1 - len, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break; /* the listener closes after each answer */
      len += (size_t)got;
    }
    out[len] = '\0';
    if (strncmp(out, "HTTP/1.1 ", 9) == 0) status = atoi(out + 9);
  }
  close(fd);
  return status;
}

long long ih_metric(ih_server *s, const char *sample) {
  static char text[1 << 20];
  if (ih_metrics_get(s, "/metrics", text, sizeof text, 10000) != 200) return -1;
  char key[200];
  snprintf(key, sizeof key, "\n%s ", sample);
  const char *p = strstr(text, key);
  return p ? atoll(p + strlen(key)) : -1;
}
