/* mentorlog-bench server: raw TLS connections to the server, the handshake
 * phase (full and resumed) and the idle-connections phase. */
#include "bench_server_int.h"

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

int bs_tls_config(mlproto_tls_config **cfg, const server *s) {
  mlproto_tls_client_options o = MLPROTO_TLS_CLIENT_OPTIONS_INIT;
  o.hostname = CERT_NAME;
  o.pin_sha256 = s->fingerprint;
  return mlproto_tls_config_client(cfg, &o);
}

/* ------------------------------------------------------ TLS figures ---- */

int bs_handshake_phase(server *s, const mlproto_tls_config *cfg, double seconds) {
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
    double srv0 = bs_server_cpu_s(s), cli0 = bs_thread_cpu_s(), t0 = bench_now(), t1;
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
    double cli = bs_thread_cpu_s() - cli0, srv = bs_server_cpu_s(s) - srv0;
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

int bs_idle_phase(server *s, const mlproto_tls_config *cfg, size_t want) {
  int *fds = malloc((want ? want : 1) * sizeof *fds);
  if (!fds) return -1;
  uint8_t *resume = NULL;
  size_t resume_len = 0, open_n = 0;
  int rc = -1, r;
  long before = bs_server_rss_kib(s), lb_before = s->lb_pid > 0 ? bs_rss_kib(s->lb_pid) : -1;
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
  bs_sleep_ns(500000000L); /* let the server's loop settle */
  long after = bs_server_rss_kib(s), lb_after = s->lb_pid > 0 ? bs_rss_kib(s->lb_pid) : -1;
  /* Held = still open on our side (no EOF/HUP) and counted by the server. */
  size_t held = 0;
  for (size_t i = 0; i < open_n; i++) {
    struct pollfd p = {fds[i], POLLIN | POLLRDHUP, 0};
    int pr = poll(&p, 1, 0);
    if (pr == 0) held++;
    else if (pr == 1 && !(p.revents & (POLLRDHUP | POLLHUP | POLLERR))) held++; /* a late ticket */
  }
  double server_open = bs_metric(s, "mentorlog_connections_open");
  if (before > 0 && after > 0 && held > 0) {
    double per = (double)(after - before) / (double)held;
    bench_result("idle_conns_wanted", (double)want, "connections");
    bench_result("idle_conns_held", (double)held, "connections");
    bench_result("idle_conns_server_reported", server_open, "connections");
    bench_result("idle_conns_open_per_s", (double)open_n / opened_s, "connections/s");
    bench_result("server_rss_before_kib", (double)before, "KiB");
    bench_result("server_rss_after_kib", (double)after, "KiB");
    bench_result("server_kib_per_idle_conn", per, "KiB");
    if (lb_before > 0 && lb_after > 0)
      bench_result("haproxy_kib_per_idle_conn", (double)(lb_after - lb_before) / (double)held, "KiB");
    fprintf(stderr, "server: %zu idle TLS connections held (the server counts %.0f: these + the bench's device connections; "
            "%lu resumed): RSS %ld -> %ld KiB = %.1f KiB each\n",
            held, server_open, resumed, before, after, per);
    rc = held == want ? 0 : -1;
    if (rc) fprintf(stderr, "server: only %zu of %zu idle connections held\n", held, want);
  }
  for (size_t i = 0; i < open_n; i++) close(fds[i]);
  free(fds);
  bs_sleep_ns(2000000000L); /* the server closes them: not in the next phase's CPU */
  mlproto_tls_resume_free(resume, resume_len);
  return rc;
}
