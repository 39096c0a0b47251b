/* mentorlog-bench server: more instances on one PostgreSQL store, and
 * HAProxy in front of them (--instances N, --haproxy), as docs/operator.md
 * §18 runs them and tests/integration/test_cluster.c tests them.
 *
 * Instance i > 0 gets data-i/ with copies of the first instance's
 * server.key, log.name and tls/ (one log, one certificate: the devices pin
 * it through the balancer) and the same --store. HAProxy runs in TCP mode
 * (TLS passes through to the instances), round robin, with health checks
 * (HTTPS GET /healthz); its configuration, pid file, log (its stderr) and
 * stats socket are in the bench's temporary directory, and it dies with
 * the bench (PR_SET_PDEATHSIG) if bs_server_stop never runs. */
#include "bench_server_int.h"

#include <sys/un.h>

#define LB_READY_S 30  /* for every instance to be UP in HAProxy */
#define LB_STOP_S 10

static int copy_file(const char *from_dir, const char *to_dir, const char *name) {
  char from[400], to[400];
  snprintf(from, sizeof from, "%s/%s", from_dir, name);
  snprintf(to, sizeof to, "%s/%s", to_dir, name);
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    fprintf(stderr, "%s: %s: %s\n", bs_who, from, strerror(errno));
    return -1;
  }
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  int rc = out < 0 ? -1 : 0;
  char buf[8192];
  ssize_t n;
  while (!rc && (n = read(in, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || write(out, buf, (size_t)n) != n) rc = -1;
  }
  if (out >= 0 && close(out) != 0) rc = -1;
  close(in);
  if (rc) fprintf(stderr, "%s: copying %s: %s\n", bs_who, to, strerror(errno));
  return rc;
}

/* Instance i (1..) of the first one's log and certificate. */
static int instance_start(server *s, unsigned i, unsigned max_conns, unsigned workers) {
  instance *in = &s->more[i - 1];
  snprintf(in->data, sizeof in->data, "%s/data-%u", s->root, i);
  snprintf(in->log, sizeof in->log, "%s/server-%u.log", s->root, i);
  char tls[200];
  snprintf(tls, sizeof tls, "%s/tls", in->data);
  if (mkdir(in->data, 0700) != 0 || mkdir(tls, 0700) != 0) {
    fprintf(stderr, "%s: mkdir %s: %s\n", bs_who, tls, strerror(errno));
    return -1;
  }
  static const char *const files[] = {"server.key", "log.name", "tls/cert.pem", "tls/key.pem"};
  for (size_t k = 0; k < sizeof files / sizeof files[0]; k++)
    if (copy_file(s->data, in->data, files[k])) return -1;
  s->n_more = i; /* stopped by bs_lb_stop from now on, even half-started */
  return bs_serve_spawn(s, in->data, in->log, max_conns, workers, &in->pid, &in->port);
}

static int free_port(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
           getsockname(fd, (struct sockaddr *)&a, &l) == 0;
  if (fd >= 0) close(fd);
  *port = ok ? ntohs(a.sin_port) : 0;
  return ok ? 0 : -1;
}

static void lb_path(const server *s, char *out, size_t cap, const char *ext) {
  snprintf(out, cap, "%s/haproxy.%s", s->root, ext);
}

static int lb_config(const server *s, unsigned max_conns) {
  char cfg[200], sock[200];
  lb_path(s, cfg, sizeof cfg, "cfg");
  lb_path(s, sock, sizeof sock, "sock");
  FILE *f = fopen(cfg, "w");
  if (!f) return -1;
  /* Timeouts as long as the instances' --idle-timeout: the idle phase and
   * the devices' keep-alive connections wait between phases. Health checks
   * every second (each is a full TLS handshake at an instance). */
  fprintf(f,
          "global\n  maxconn %u\n  log stderr format raw daemon notice\n"
          "  stats socket %s mode 600 level user\n  ssl-server-verify none\n"
          "defaults\n  mode tcp\n  log global\n  maxconn %u\n  timeout connect 1s\n"
          "  timeout client 15m\n  timeout server 15m\n  timeout check 2s\n"
          "  retries 3\n  option redispatch\n"
          "frontend devices\n  bind 127.0.0.1:%u\n  default_backend instances\n"
          "backend instances\n  balance roundrobin\n  option httpchk\n"
          "  http-check send meth GET uri /healthz\n",
          max_conns, sock, max_conns, (unsigned)s->lb_port);
  pid_t pids[BS_MAX_INSTANCES];
  size_t n = bs_instances(s, pids, NULL);
  for (size_t i = 0; i < n; i++)
    fprintf(f, "  server s%zu 127.0.0.1:%u check check-ssl verify none inter 1s fall 2 rise 1\n", i,
            (unsigned)(i == 0 ? s->port0 : s->more[i - 1].port));
  return fclose(f) == 0 ? 0 : -1;
}

/* `show stat` on HAProxy's stats socket: how many servers of the backend
 * are UP, or -1 when the socket does not answer. */
static int lb_servers_up(const server *s) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  char sock[200];
  lb_path(s, sock, sizeof sock, "sock");
  if (strlen(sock) >= sizeof a.sun_path) return -1;
  memcpy(a.sun_path, sock, strlen(sock) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  static char text[65536];
  size_t len = 0;
  static const char cmd[] = "show stat\n";
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
           send(fd, cmd, sizeof cmd - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof cmd - 1);
  ssize_t n;
  while (ok && len + 1 < sizeof text && (n = recv(fd, text + len, sizeof text - 1 - len, 0)) > 0)
    len += (size_t)n; /* HAProxy closes after the answer */
  close(fd);
  text[len] = 0;
  if (!ok || len == 0) return -1;
  /* CSV: pxname,svname,...; status is the 18th field */
  int up = 0;
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (strncmp(line, "instances,s", 11) != 0) continue;
    const char *p = line;
    for (int field = 0; field < 17 && p; field++) {
      p = strchr(p, ',');
      if (p) p++;
    }
    if (p && strncmp(p, "UP", 2) == 0 && (p[2] == ',' || p[2] == ' ')) up++;
  }
  return up;
}

static const char *haproxy_bin(const server *s) {
  if (s->haproxy_bin) return s->haproxy_bin;
  const char *path = getenv("PATH");
  static char exe[4200];
  if (path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
      snprintf(exe, sizeof exe, "%s/haproxy", *dir ? dir : ".");
      if (access(exe, X_OK) == 0) return exe;
    }
  }
  return "/usr/sbin/haproxy";
}

static void print_lb_log(const server *s) {
  char logp[200], buf[4096];
  lb_path(s, logp, sizeof logp, "log");
  fprintf(stderr, "%s: HAProxy's log (%s):\n", bs_who, logp);
  if (bs_read_text(logp, buf, sizeof buf) == 0) fputs(buf, stderr);
}

static int lb_spawn(server *s) {
  const char *bin = haproxy_bin(s);
  if (access(bin, X_OK) != 0) {
    fprintf(stderr, "%s: %s: %s (install Debian's haproxy, or see --haproxy-bin)\n", bs_who, bin,
            strerror(errno));
    return -1;
  }
  char cfg[200], pidp[200], logp[200];
  lb_path(s, cfg, sizeof cfg, "cfg");
  lb_path(s, pidp, sizeof pidp, "pid");
  lb_path(s, logp, sizeof logp, "log");
  /* -db: in the foreground, not a daemon (its pid is this child's) */
  const char *argv[] = {bin, "-db", "-f", cfg, "-p", pidp, NULL};
  pid_t pid = bs_spawn_logged(argv, logp);
  if (pid < 0) return -1;
  s->lb_pid = pid;
  return 0;
}

/* Ready: every instance UP in HAProxy, and GET /healthz through it answered. */
static int lb_wait_ready(server *s) {
  size_t want = 1 + s->n_more;
  double deadline = bench_now() + LB_READY_S;
  int up = -1;
  while (bench_now() < deadline && !g_stop) {
    int st;
    if (waitpid(s->lb_pid, &st, WNOHANG) == s->lb_pid) {
      s->lb_pid = 0;
      fprintf(stderr, "%s: HAProxy exited during start-up (status %d)\n", bs_who,
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
      print_lb_log(s);
      return -1;
    }
    up = lb_servers_up(s);
    if (up == (int)want) {
      ml_netclient *nc = NULL;
      ml_netclient_response r;
      int ok = bs_client_open(&nc, s) == MLPROTO_OK &&
               bs_call(nc, "GET", "/healthz", NULL, NULL, 0, &r) == 0;
      if (ok) {
        ok = r.status == 200;
        ml_netclient_response_free(&r);
      }
      ml_netclient_close(nc);
      if (ok) return 0;
    }
    bs_sleep_ns(50000000L);
  }
  fprintf(stderr, "%s: HAProxy not ready within %d s (%d of %zu instances UP)\n", bs_who,
          LB_READY_S, up, want);
  print_lb_log(s);
  return -1;
}

int bs_lb_start(server *s, unsigned max_conns, unsigned workers) {
  unsigned n = s->instances ? s->instances : 1;
  if (n > BS_MAX_INSTANCES) return -1;
  for (unsigned i = 1; i < n; i++) {
    fprintf(stderr, "%s: starting instance %u of %u on the same store\n", bs_who, i + 1, n);
    if (instance_start(s, i, max_conns, workers)) return -1;
  }
  if (free_port(&s->lb_port) || lb_config(s, max_conns) || lb_spawn(s)) {
    fprintf(stderr, "%s: cannot start HAProxy\n", bs_who);
    return -1;
  }
  s->port = s->lb_port; /* the devices connect through it from now on */
  fprintf(stderr, "%s: HAProxy on 127.0.0.1:%u in front of %u instance%s\n", bs_who,
          (unsigned)s->lb_port, n, n > 1 ? "s" : "");
  return lb_wait_ready(s);
}

int bs_lb_stop(server *s) {
  int rc = 0;
  /* SIGUSR1: HAProxy's soft stop (it stops listening and exits, status 0,
   * once the open connections are closed: the bench has closed its own);
   * SIGTERM would make it die of the signal */
  if (s->lb_pid > 0 && bs_child_stop(&s->lb_pid, SIGUSR1, LB_STOP_S) != 0) {
    fprintf(stderr, "%s: HAProxy did not stop cleanly\n", bs_who);
    rc = -1;
  }
  for (unsigned i = s->n_more; i > 0; i--) {
    instance *in = &s->more[i - 1];
    int st = bs_child_stop(&in->pid, SIGTERM, 30);
    if (st != 0) {
      fprintf(stderr, "%s: instance %u did not stop cleanly (%d); its log: %s\n", bs_who, i + 1,
              st, in->log);
      rc = -1;
    }
  }
  s->n_more = 0;
  s->port = s->port0;
  return rc;
}
