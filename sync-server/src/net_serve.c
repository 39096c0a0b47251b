/* net_serve.c — `mentorlog-server serve`: options, certificate, listener,
 * signals and the orderly shutdown (SIGTERM drains, then every handle is
 * closed and uv_loop_close() must return 0). */
#include "net.h"

#include "datadir.h"
#include "metrics.h"
#include "mlproto/alloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#define PEM_FILE_CAP (256u * 1024u)
#define CERT_CN "mentorlog-server"
#define CERT_DAYS 3650

static const char usage_text[] =
    "usage: mentorlog-server serve --data DIR [--store URI] [options]\n"
    "\n"
    "Runs the sync server: HTTPS (TLS 1.3, or TLS 1.2 with ECDHE+AEAD only) on one\n"
    "event-loop thread, requests handled on a pool of worker threads.\n"
    "\n"
    "options:\n"
    "  --data DIR             data directory (created on first start)       [required]\n"
    "                         (the log key, TLS files, log.name; and the SQLite store)\n"
    "  --store URI            where the records are kept: sqlite:DIR (the default, the\n"
    "                         same as --data DIR) or postgresql://[user@]host[:port]/db\n"
    "                         (a libpq URI; several instances may share it, each with a\n"
    "                         copy of the same --data DIR). No password in the URI:\n"
    "                         libpq reads it from PGPASSFILE (~/.pgpass)\n"
    "  --listen ADDR:PORT     address to listen on; [::1]:PORT for IPv6; port 0 picks\n"
    "                         a free port. The bound address is written to\n"
    "                         DIR/" MLS_NET_ADDR_FILE " once the server accepts connections.\n"
    "                         (default " MLS_NET_DEFAULT_LISTEN ": loopback only; use\n"
    "                         0.0.0.0:8443 to serve the network)\n"
    "  --tls-cert FILE        certificate chain (PEM, leaf first); with --tls-key\n"
    "  --tls-key FILE         its private key (PEM, unencrypted)\n"
    "                         Without both, DIR/tls/cert.pem and DIR/tls/key.pem are\n"
    "                         used, created on first start as a self-signed ECDSA\n"
    "                         P-256 certificate whose SHA-256 fingerprint is printed\n"
    "                         (devices pin it; `admin fingerprint` prints it again).\n"
    "  --workers N            worker threads for requests, 1..128 (default 4)\n"
    "  --max-connections N    open connections at most; more are closed at once\n"
    "                         (default 10000; RLIMIT_NOFILE is raised to fit)\n"
    "  --max-body SIZE        request body cap, e.g. 4M (default 4M)         -> 413\n"
    "  --max-header-bytes SIZE request line + headers cap (default 16K)     -> 431\n"
    "  --idle-timeout DUR     close a keep-alive connection idle this long (default 60s)\n"
    "  --request-timeout DUR  a TLS handshake, or a request from its first byte to its\n"
    "                         last, must complete within DUR (default 30s)   -> 408\n"
    "  --drain-timeout DUR    on SIGTERM/SIGINT, in-flight requests may finish for\n"
    "                         this long before connections are cut (default 10s)\n"
    "  --tls-name NAME        a DNS name for the self-signed certificate's\n"
    "                         subjectAltName; repeatable (default: localhost). The\n"
    "                         certificate always names " CERT_CN " too, and as IP\n"
    "                         addresses the listen address (127.0.0.1 and ::1 when it\n"
    "                         is a loopback or wildcard address). Used only when the\n"
    "                         certificate is created (first start).\n"
    "  --max-inflight-bytes SIZE  request bytes buffered across all connections before\n"
    "                         their answer at most (default 256M)            -> 503\n"
    "  --max-inflight-bytes-per-address SIZE  ... of which one IPv4 address or IPv6\n"
    "                         /64 at most (default: 1/8 of --max-inflight-bytes, at\n"
    "                         least 1K)                     -> 429 ADDRESS_INFLIGHT\n"
    "  --min-upload-rate SIZE a request body must arrive at this many bytes/s at\n"
    "                         least, in every window (default 4K; 0: off)\n"
    "                                                        -> 408 UPLOAD_TOO_SLOW\n"
    "  --min-upload-window DUR  ... measured over windows of DUR from the moment the\n"
    "                         body is awaited; the first is its grace (default 10s)\n"
    "                         A body is read only once its credentials are checked\n"
    "                         when its route takes them (push, cosignature, ...): a bad\n"
    "                         token is answered at once, the body unread; a body on\n"
    "                         any other route is at most 64K           -> 401, 413\n"
    "  --max-conns-per-address N  open connections per IPv4 address or IPv6 /64;\n"
    "                         more are closed at once, before TLS (default 256)\n"
    "  --unauth-rate N        requests/s per address (IPv6: /64) to the endpoints that\n"
    "                         need no credentials: enrol, session, log proofs,\n"
    "                         /healthz; burst 2N (default 100)               -> 429\n"
    "  --auth-fail-limit N    failed bearer tokens per address (IPv6: /64): N at once,\n"
    "                         N more per minute; beyond, every bearer-token request\n"
    "                         of the address (good ones too) is refused before any\n"
    "                         lookup until the budget refills (default 20)   -> 429\n"
    "  --metrics-listen ADDR:PORT  where GET /metrics is served, in plain HTTP, and\n"
    "                         nowhere else (404 on --listen); a loopback address only\n"
    "                         (127.0.0.0/8, [::1]). Port 0 picks a free port; the\n"
    "                         bound address is written to DIR/" MLS_NET_METRICS_ADDR_FILE ".\n"
    "                         off: no metrics (default " MLS_NET_DEFAULT_METRICS_LISTEN ")\n"
    "  --wal-truncate DUR     empty the database's write-ahead log (a TRUNCATE\n"
    "                         checkpoint, on a worker) this often, so that deleted\n"
    "                         rows do not linger in DIR/server.db-wal (default 60s;\n"
    "                         0: never)\n"
    "  --linger-time DUR      after answering a request it did not read to its end\n"
    "                         (431, 413, 408, 400, 429, 503, a 401 before a body),\n"
    "                         the server half-closes and reads and discards what\n"
    "                         the client still sends, so the client reads the\n"
    "                         answer instead of a connection reset; for this long\n"
    "                         at most (default 2s; 0: close at once)\n"
    "  --linger-bytes SIZE    ... and for this many bytes at most (default 1M)\n"
    "  --proxy-protocol CIDR  the load balancers: a connection from CIDR (an address,\n"
    "                         or ADDR/BITS, IPv4 or IPv6; repeatable, 16 at most)\n"
    "                         must begin with a PROXY protocol header (HAProxy's\n"
    "                         send-proxy or send-proxy-v2), and the client address\n"
    "                         it names is the one every per-address limit counts;\n"
    "                         a connection without one within --request-timeout is\n"
    "                         closed (log proxy_header_invalid). Connections from\n"
    "                         anywhere else may not send one. Default: none\n"
    "  --report-cache SIZE    memory cap of the jobcentre reports' per-case cache of\n"
    "                         parsed records (docs/operator.md); 0: no cache\n"
    "                         (default 256M)\n"
    "  --log-name NAME        the log's name: the origin of its C2SP checkpoints and\n"
    "                         its key name, e.g. mentorlog.example.org/log. Stored in\n"
    "                         DIR/log.name on first start and never changed (a\n"
    "                         different NAME later is refused). Default on first\n"
    "                         start: mentorlog.localhost/<16 hex of the log key>\n"
    "  -h, --help             this text\n"
    "\n"
    "SIZE: bytes, or with K/M suffix. DUR: 250ms, 30s, 5m, 1h (bare number: seconds).\n"
    "Logs: logfmt lines on stderr (ids, codes and counts only; never names or notes).\n"
    "Signals: SIGTERM/SIGINT stop accepting, drain, close everything, exit 0.\n"
    "Exit status: 0 clean shutdown, 1 runtime failure, 2 usage error.\n";


/* Prints "what 'arg'" (arg may be NULL) and returns the usage exit status. */
static int usage_error(const char *what, const char *arg) {
  if (arg) fprintf(stderr, "mentorlog-server serve: %s '%s'\n", what, arg);
  else fprintf(stderr, "mentorlog-server serve: %s\n", what);
  fprintf(stderr, "Try 'mentorlog-server serve --help'.\n");
  return 2;
}

static int parse_options(int argc, char **argv, mls_net_options *o) {
  *o = (mls_net_options){
      .listen = MLS_NET_DEFAULT_LISTEN,
      .workers = MLS_NET_DEFAULT_WORKERS,
      .max_connections = MLS_NET_DEFAULT_MAX_CONNECTIONS,
      .max_body = MLS_NET_DEFAULT_MAX_BODY,
      .max_header_bytes = MLS_NET_DEFAULT_MAX_HEADER_BYTES,
      .idle_timeout_ms = MLS_NET_DEFAULT_IDLE_TIMEOUT_MS,
      .request_timeout_ms = MLS_NET_DEFAULT_REQUEST_TIMEOUT_MS,
      .drain_timeout_ms = MLS_NET_DEFAULT_DRAIN_TIMEOUT_MS,
      .max_inflight_bytes = MLS_NET_DEFAULT_MAX_INFLIGHT_BYTES,
      .max_conns_per_address = MLS_NET_DEFAULT_MAX_CONNS_PER_ADDRESS,
      .min_upload_rate = MLS_NET_DEFAULT_MIN_UPLOAD_RATE,
      .min_upload_window_ms = MLS_NET_DEFAULT_MIN_UPLOAD_WINDOW_MS,
      .auth_fail_limit = MLS_NET_DEFAULT_AUTH_FAIL_LIMIT,
      .metrics_listen = MLS_NET_DEFAULT_METRICS_LISTEN,
      .wal_truncate_ms = MLS_NET_DEFAULT_WAL_TRUNCATE_MS,
      .linger_time_ms = MLS_NET_DEFAULT_LINGER_TIME_MS,
      .linger_bytes = MLS_NET_DEFAULT_LINGER_BYTES,
      .report_cache_bytes = MLS_NET_DEFAULT_REPORT_CACHE_BYTES,
  };
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      return 1;
    }
    if (i + 1 >= argc) return usage_error("option needs a value (or is unknown):", a);
    const char *v = argv[++i];
    size_t sz;
    uint64_t u;
    if (strcmp(a, "--data") == 0) o->data_dir = v;
    else if (strcmp(a, "--store") == 0) o->store = v;
    else if (strcmp(a, "--listen") == 0) o->listen = v;
    else if (strcmp(a, "--tls-cert") == 0) o->tls_cert = v;
    else if (strcmp(a, "--tls-key") == 0) o->tls_key = v;
    else if (strcmp(a, "--log-name") == 0) o->log_name = v;
    else if (strcmp(a, "--workers") == 0) {
      if (mls__net_parse_size(v, &sz) || sz < 1 || sz > 128) return usage_error("--workers: 1..128, not", v);
      o->workers = (unsigned)sz;
    } else if (strcmp(a, "--max-connections") == 0) {
      if (mls__net_parse_size(v, &sz) || sz < 1 || sz > 1000000)
        return usage_error("--max-connections: 1..1000000, not", v);
      o->max_connections = (unsigned)sz;
    } else if (strcmp(a, "--max-body") == 0) {
      if (mls__net_parse_size(v, &sz) || sz < 1024 || sz > (256u << 20))
        return usage_error("--max-body: 1K..256M, not", v);
      o->max_body = sz;
    } else if (strcmp(a, "--max-header-bytes") == 0) {
      if (mls__net_parse_size(v, &sz) || sz < 256 || sz > (1u << 20))
        return usage_error("--max-header-bytes: 256..1M, not", v);
      o->max_header_bytes = sz;
    } else if (strcmp(a, "--idle-timeout") == 0) {
      if (mls__net_parse_duration_ms(v, &u) || u < 10 || u > 86400000u)
        return usage_error("--idle-timeout: 10ms..24h, not", v);
      o->idle_timeout_ms = u;
    } else if (strcmp(a, "--request-timeout") == 0) {
      if (mls__net_parse_duration_ms(v, &u) || u < 10 || u > 3600000u)
        return usage_error("--request-timeout: 10ms..1h, not", v);
      o->request_timeout_ms = u;
    } else if (strcmp(a, "--proxy-protocol") == 0) {
      if (o->n_proxy_from == MLS_NET_MAX_PROXY_FROM)
        return usage_error("--proxy-protocol: at most 16 ranges", NULL);
      if (mlproto_cidr_parse(&o->proxy_from[o->n_proxy_from], v) != MLPROTO_OK)
        return usage_error("--proxy-protocol: an address or ADDR/BITS range (host bits zero), not", v);
      o->n_proxy_from++;
    } else if (strcmp(a, "--tls-name") == 0) {
      if (o->n_tls_names == MLS_NET_MAX_TLS_NAMES) return usage_error("--tls-name: at most 16", NULL);
      o->tls_names[o->n_tls_names++] = v;
    } else if (strcmp(a, "--max-inflight-bytes") == 0) {
      if (mls__net_parse_size(v, &sz) || sz < 1024 || sz > ((size_t)64 << 30))
        return usage_error("--max-inflight-bytes: 1K..64G, not", v);
      o->max_inflight_bytes = sz;
    } else if (strcmp(a, "--max-inflight-bytes-per-address") == 0) {
      if (mls__net_parse_size(v, &sz) || sz < 1024 || sz > ((size_t)64 << 30))
        return usage_error("--max-inflight-bytes-per-address: 1K..64G, not", v);
      o->max_inflight_per_address = sz;
    } else if (strcmp(a, "--min-upload-rate") == 0) {
      if (mls__net_parse_size(v, &sz) || sz > ((size_t)1 << 30))
        return usage_error("--min-upload-rate: 0..1G (bytes/s), not", v);
      o->min_upload_rate = sz;
    } else if (strcmp(a, "--min-upload-window") == 0) {
      if (mls__net_parse_duration_ms(v, &u) || u < 100 || u > 3600000u)
        return usage_error("--min-upload-window: 100ms..1h, not", v);
      o->min_upload_window_ms = u;
    } else if (strcmp(a, "--auth-fail-limit") == 0) {
      if (mls__net_parse_size(v, &sz) || sz < 1 || sz > 1000000)
        return usage_error("--auth-fail-limit: 1..1000000, not", v);
      o->auth_fail_limit = (unsigned)sz;
    } else if (strcmp(a, "--metrics-listen") == 0) {
      struct sockaddr_storage ss;
      if (strcmp(v, "off") == 0) {
        o->metrics_listen = NULL;
      } else if (mls__net_parse_addr(v, &ss) != 0) {
        return usage_error("--metrics-listen: ADDR:PORT or off, not", v);
      } else if (!mls__net_is_loopback(&ss)) {
        return usage_error("--metrics-listen: metrics are plain HTTP, served on a loopback "
                           "address only (127.0.0.0/8, [::1]); run the scraper or a forwarder "
                           "on this host, not", v);
      } else {
        o->metrics_listen = v;
      }
    } else if (strcmp(a, "--wal-truncate") == 0) {
      if (mls__net_parse_duration_ms(v, &u) || (u != 0 && u < 100) || u > 86400000u)
        return usage_error("--wal-truncate: 0 or 100ms..24h, not", v);
      o->wal_truncate_ms = u;
    } else if (strcmp(a, "--max-conns-per-address") == 0) {
      if (mls__net_parse_size(v, &sz) || sz < 1 || sz > 1000000)
        return usage_error("--max-conns-per-address: 1..1000000, not", v);
      o->max_conns_per_address = (unsigned)sz;
    } else if (strcmp(a, "--unauth-rate") == 0) {
      if (mls__net_parse_size(v, &sz) || sz < 1 || sz > 1000000)
        return usage_error("--unauth-rate: 1..1000000, not", v);
      o->unauth_rate = (double)sz;
    } else if (strcmp(a, "--linger-time") == 0) {
      if (mls__net_parse_duration_ms(v, &u) || u > 60000u)
        return usage_error("--linger-time: 0..60s, not", v);
      o->linger_time_ms = u;
    } else if (strcmp(a, "--linger-bytes") == 0) {
      if (mls__net_parse_size(v, &sz) || sz > (64u << 20))
        return usage_error("--linger-bytes: 0..64M, not", v);
      o->linger_bytes = sz;
    } else if (strcmp(a, "--report-cache") == 0) {
      if (mls__net_parse_size(v, &sz) || sz > ((size_t)64 << 30))
        return usage_error("--report-cache: 0..64G, not", v);
      o->report_cache_bytes = sz;
    } else if (strcmp(a, "--drain-timeout") == 0) {
      if (mls__net_parse_duration_ms(v, &u) || u > 3600000u)
        return usage_error("--drain-timeout: 0..1h, not", v);
      o->drain_timeout_ms = u;
    } else {
      return usage_error("unknown option", a);
    }
  }
  const char *why = NULL;
  if (mls_datadir_store_resolve(o->data_dir, o->store, &o->data_dir, o->store_uri, &why))
    return usage_error(why, NULL);
  if (o->max_inflight_per_address > o->max_inflight_bytes)
    return usage_error("--max-inflight-bytes-per-address: at most --max-inflight-bytes", NULL);
  if (o->max_inflight_per_address == 0) {
    o->max_inflight_per_address = o->max_inflight_bytes / MLS_NET_DEFAULT_INFLIGHT_SHARE;
    if (o->max_inflight_per_address < 1024) o->max_inflight_per_address = 1024;
    if (o->max_inflight_per_address > o->max_inflight_bytes)
      o->max_inflight_per_address = o->max_inflight_bytes;
  }
  if (!o->tls_cert != !o->tls_key) return usage_error("--tls-cert and --tls-key go together", NULL);
  return 0;
}

static int read_file(const char *path, char **out, size_t *len) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? MLPROTO_ERR_NOT_FOUND : MLPROTO_ERR_IO;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size <= 0 || (uint64_t)st.st_size > PEM_FILE_CAP) {
    close(fd);
    return MLPROTO_ERR_TOO_LARGE;
  }
  size_t n = (size_t)st.st_size;
  char *buf = sodium_malloc(n + 1);
  if (!buf) {
    close(fd);
    return MLPROTO_ERR_OUT_OF_MEMORY;
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  if (got != n) {
    sodium_free(buf);
    return MLPROTO_ERR_IO;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n + 1;
  return MLPROTO_OK;
}

static int write_new_file(const char *path, const char *data, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return MLPROTO_ERR_IO;
  size_t n = strlen(data), off = 0;
  while (off < n) {
    ssize_t w = write(fd, data + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  int ok = off == n && fsync(fd) == 0;
  close(fd);
  if (!ok) {
    unlink(path);
    return MLPROTO_ERR_IO;
  }
  return MLPROTO_OK;
}

/* The subjectAltName of a new certificate: CERT_CN (what our own clients
 * send as SNI), --tls-name or "localhost", and the listen address (loopback
 * and wildcard listens: 127.0.0.1 and ::1, which is how they are reached). */
static void add_ip(mlproto_tls_ip *ips, size_t *n, const uint8_t *a, size_t len) {
  for (size_t i = 0; i < *n; i++)
    if (ips[i].len == len && memcmp(ips[i].addr, a, len) == 0) return;
  memcpy(ips[*n].addr, a, len);
  ips[(*n)++].len = len;
}

static int certificate_names(const mls_net_options *o, const char **dns, size_t *n_dns,
                             mlproto_tls_ip *ips, size_t *n_ips) {
  *n_dns = *n_ips = 0;
  dns[(*n_dns)++] = CERT_CN;
  if (o->n_tls_names == 0) dns[(*n_dns)++] = "localhost";
  for (unsigned i = 0; i < o->n_tls_names; i++) dns[(*n_dns)++] = o->tls_names[i];
  struct sockaddr_storage ss;
  if (mls__net_parse_addr(o->listen, &ss) != 0) return MLPROTO_ERR_INVALID_ARGUMENT;
  static const uint8_t v4_loop[4] = {127, 0, 0, 1};
  static const uint8_t v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const uint8_t zero[16] = {0};
  const uint8_t *a;
  size_t len;
  int loopback;
  if (ss.ss_family == AF_INET) {
    a = (const uint8_t *)&((struct sockaddr_in *)&ss)->sin_addr;
    len = 4;
    loopback = a[0] == 127;
  } else {
    a = (const uint8_t *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
    len = 16;
    loopback = memcmp(a, v6_loop, 16) == 0;
  }
  int wildcard = memcmp(a, zero, len) == 0;
  if (!wildcard) add_ip(ips, n_ips, a, len);
  if (loopback || wildcard) {
    add_ip(ips, n_ips, v4_loop, 4);
    add_ip(ips, n_ips, v6_loop, 16);
  }
  return MLPROTO_OK;
}

/* First start: a self-signed certificate in DIR/tls. The key goes first, so
 * that a crash between the two leaves no certificate without its key. */
static int create_certificate(const mls_datadir *dd, const mls_net_options *o) {
  char *cert = NULL, *key = NULL;
  int64_t now = (int64_t)time(NULL);
  const char *dns[MLS_NET_MAX_TLS_NAMES + 2];
  mlproto_tls_ip ips[3];
  size_t n_dns, n_ips;
  int rc = certificate_names(o, dns, &n_dns, ips, &n_ips);
  if (rc) return rc;
  rc = mlproto_tls_selfsigned_san(&cert, &key, CERT_CN, dns, n_dns, ips, n_ips, now - 3600,
                                  now + (int64_t)CERT_DAYS * 86400);
  if (rc) return rc;
  char tmp[MLS_PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", dd->tls_key);
  unlink(tmp);
  rc = write_new_file(tmp, key, 0600);
  if (rc == MLPROTO_OK && rename(tmp, dd->tls_key) != 0) rc = MLPROTO_ERR_IO;
  if (rc == MLPROTO_OK) {
    snprintf(tmp, sizeof tmp, "%s.tmp", dd->tls_cert);
    unlink(tmp);
    rc = write_new_file(tmp, cert, 0644);
    if (rc == MLPROTO_OK && rename(tmp, dd->tls_cert) != 0) rc = MLPROTO_ERR_IO;
  }
  mlproto_tls_pem_free(cert);
  mlproto_tls_pem_free(key);
  return rc;
}

static int tls_setup(mls_server *s, const mls_datadir *dd) {
  const char *cert_path = s->opt.tls_cert ? s->opt.tls_cert : dd->tls_cert;
  const char *key_path = s->opt.tls_key ? s->opt.tls_key : dd->tls_key;
  int created = 0;
  if (!s->opt.tls_cert && access(dd->tls_cert, F_OK) != 0) {
    int rc = create_certificate(dd, &s->opt);
    if (rc) {
      mls__net_log("error", "certificate_create_failed", "code=%s", mlproto_errname(rc));
      return rc;
    }
    created = 1;
  }
  char *cert = NULL, *key = NULL;
  size_t cert_len = 0, key_len = 0;
  int rc = read_file(cert_path, &cert, &cert_len);
  if (rc == MLPROTO_OK) rc = read_file(key_path, &key, &key_len);
  if (rc) {
    mls__net_log("error", "tls_files_unreadable", "code=%s", mlproto_errname(rc));
    goto out;
  }
  char fp[MLPROTO_TLS_FINGERPRINT_HEX_LEN];
  rc = mlproto_tls_cert_fingerprint(fp, cert, cert_len);
  if (rc) {
    mls__net_log("error", "tls_cert_invalid", "code=%s", mlproto_errname(rc));
    goto out;
  }
  mlproto_tls_server_options so = MLPROTO_TLS_SERVER_OPTIONS_INIT;
  so.cert_pem = cert;
  so.cert_pem_len = cert_len;
  so.key_pem = key;
  so.key_pem_len = key_len;
  so.ticket_secret = mls_app_tls_ticket_secret(s->app); /* instances resume each other's */
  rc = mlproto_tls_config_server(&s->tls, &so);
  if (rc) {
    mls__net_log("error", "tls_config_failed", "code=%s", mlproto_errname(rc));
    goto out;
  }
  if (created) {
    printf("created a self-signed TLS certificate: %s\nfingerprint (SHA-256): %s\n", cert_path, fp);
    fflush(stdout);
  }
  mls__net_log("info", "tls_ready", "fingerprint=%s created=%d", fp, created);
out:
  if (cert) sodium_free(cert);
  if (key) sodium_free(key); /* sodium_free wipes */
  return rc;
}

static void on_server_handle_closed(uv_handle_t *h) { (void)h; }

/* Last step of the shutdown: the loop ends once these are closed. */
static void close_server_handles(mls_server *s) {
  if (s->closing_handles) return;
  s->closing_handles = 1;
  uv_close((uv_handle_t *)&s->sig_term, on_server_handle_closed);
  uv_close((uv_handle_t *)&s->sig_int, on_server_handle_closed);
  uv_close((uv_handle_t *)&s->drain_timer, on_server_handle_closed);
  mls__wal_timer_close(s, on_server_handle_closed);
}

void mls__server_conn_gone(mls_server *s) {
  if (s->draining && s->n_conns == 0 && s->n_mconns == 0) close_server_handles(s);
}

static void on_drain_timeout(uv_timer_t *t) {
  mls_server *s = t->data;
  mls__net_log("warn", "drain_timeout", "connections=%u", s->n_conns);
  mls__conn_drain_all(s, 1);
  mls__metrics_drain_all(s, 1);
}

static void on_signal(uv_signal_t *h, int signum) {
  mls_server *s = h->data;
  if (s->draining) {
    /* A second signal: stop waiting. */
    mls__conn_drain_all(s, 1);
    mls__metrics_drain_all(s, 1);
    return;
  }
  s->draining = 1;
  mls__net_log("info", "draining", "signal=%d connections=%u", signum, s->n_conns);
  uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
  if (s->metrics_on) uv_close((uv_handle_t *)&s->metrics_listener, on_server_handle_closed);
  uv_timer_start(&s->drain_timer, on_drain_timeout, s->opt.drain_timeout_ms, 0);
  mls__conn_drain_all(s, 0);
  mls__metrics_drain_all(s, 0);
  if (s->n_conns == 0 && s->n_mconns == 0) close_server_handles(s);
}

/* Writes the address listener is bound to into DIR/name (atomically) and
 * logs it as `msg`; path gets the file's path, for its removal at exit. */
static int publish_address(mls_server *s, uv_tcp_t *listener, const char *name, const char *msg,
                           char *path, size_t pathsz) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char host[64] = "", line[96];
  int port = 0;
  if (uv_tcp_getsockname(listener, (struct sockaddr *)&ss, &len) != 0) return -1;
  if (ss.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
    port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    snprintf(line, sizeof line, "[%s]:%d\n", host, port);
  } else {
    uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    snprintf(line, sizeof line, "%s:%d\n", host, port);
  }
  char tmp[MLS_PATH_MAX + 16];
  snprintf(path, pathsz, "%s/%s", s->opt.data_dir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  unlink(tmp);
  if (write_new_file(tmp, line, 0644) != MLPROTO_OK || rename(tmp, path) != 0) {
    path[0] = '\0';
    return -1;
  }
  line[strlen(line) - 1] = '\0';
  mls__net_log("info", msg, "addr=%s", line);
  return 0;
}

/* 10,000 connections need more descriptors than the usual soft limit. */
static void raise_nofile(unsigned want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t need = (rlim_t)want + 64;
  if (rl.rlim_cur >= need) return;
  rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
    mls__net_log("warn", "nofile_limit_low", "limit=%llu max_connections=%u",
                 (unsigned long long)rl.rlim_cur, want);
}

/* glibc returns the top of the heap to the kernel (brk down) whenever more
 * than M_TRIM_THRESHOLD is free there, and maps every block over
 * M_MMAP_THRESHOLD on its own. Each such unmap in a multi-threaded process
 * is a TLB shoot-down on every CPU, which on these VMs costs ~100 us: after
 * 10,000 connections closed, the handshakes that followed spent 2 s of
 * CPU each in brk(). Fixed thresholds keep up to 64 MiB of freed heap for
 * reuse (memory beyond that still goes back) and keep request bodies
 * (<= 4 MiB by default) out of mmap. */
static void tune_heap(void) {
#if defined(__GLIBC__)
  (void)mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  (void)mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
  (void)mallopt(M_TOP_PAD, 4 * 1024 * 1024);
#endif
}

static void close_walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

int mls_serve_main(int argc, char **argv) {
  mls_server s;
  memset(&s, 0, sizeof s);
  int rc = parse_options(argc, argv, &s.opt);
  if (rc) return rc == 1 ? 0 : rc;

  char threads[16];
  snprintf(threads, sizeof threads, "%u", s.opt.workers);
  setenv("UV_THREADPOOL_SIZE", threads, 1); /* read by libuv at its first uv_queue_work */
  tune_heap();
  signal(SIGPIPE, SIG_IGN);
  raise_nofile(s.opt.max_connections);
  if (sodium_init() < 0 || mlproto_tls_global_init() != MLPROTO_OK) {
    mls__net_log("error", "crypto_init_failed", "%s", "");
    return 1;
  }

  mls_datadir dd;
  if (mls_datadir_init(&dd, s.opt.data_dir) != MLPROTO_OK || mls_datadir_prepare(&dd, 1) != MLPROTO_OK) {
    mls__net_log("error", "data_dir_unusable", "%s", "");
    return 1;
  }
  mls_app_config ac = {.data_dir = s.opt.data_dir, .store_uri = s.opt.store_uri, .create = 1,
                       .unauth_rate = s.opt.unauth_rate,
                       .auth_fail_limit = s.opt.auth_fail_limit,
                       .log_name = s.opt.log_name,
                       .report_cache_bytes = s.opt.report_cache_bytes,
                       .no_report_cache = s.opt.report_cache_bytes == 0};
  rc = mls_app_open(&s.app, &ac);
  if (rc == MLPROTO_ERR_ALREADY_EXISTS || (rc == MLPROTO_ERR_INVALID_ARGUMENT && s.opt.log_name)) {
    fprintf(stderr, "mentorlog-server: --log-name %s: %s\n", s.opt.log_name,
            rc == MLPROTO_ERR_ALREADY_EXISTS
                ? "this log already has another name (DIR/log.name); a log's name never changes"
                : "not a valid log name (1..255 bytes, no spaces, no '+')");
  }
  if (rc == MLPROTO_ERR_STORE_ROLLED_BACK)
    fprintf(stderr, "mentorlog-server: the store's log is older than a checkpoint a witness "
            "cosigned (%s/witnessed): it was restored from an old backup, or a failover lost "
            "acknowledged entries. Serving it would sign a second root for a size the witnesses "
            "hold. See docs/operator.md, Restoring.\n", s.opt.data_dir);
  if (rc == MLPROTO_ERR_STORE_MIGRATED)
    fprintf(stderr, "mentorlog-server: this store was copied to another one by `admin migrate` "
            "and its log continues there: serve that one (--store). Serving this copy would sign "
            "a second history. See docs/operator.md, Migrating.\n");
  if (rc == MLPROTO_ERR_STORE_OTHER_LOG)
    fprintf(stderr, "mentorlog-server: the store holds another log than --data %s: its log key "
            "(server.key) or log.name differs. Every instance of one log needs a copy of the "
            "same data directory; a new log needs a new store.\n", s.opt.data_dir);
  if (rc) {
    mls__net_log("error", "app_open_failed", "code=%s", mlproto_errname(rc));
    return 1;
  }
  int exit_code = 1;
  char addr_path[MLS_PATH_MAX + 32] = "", maddr_path[MLS_PATH_MAX + 32] = "";
  if (tls_setup(&s, &dd) != MLPROTO_OK) goto close_app;

  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) goto free_tls;
  s.loop = &loop;
  uv_tcp_init(&loop, &s.listener);
  uv_signal_init(&loop, &s.sig_term);
  uv_signal_init(&loop, &s.sig_int);
  uv_timer_init(&loop, &s.drain_timer);
  uv_timer_init(&loop, &s.wal_timer);
  s.listener.data = s.sig_term.data = s.sig_int.data = s.drain_timer.data = &s;

  struct sockaddr_storage addr;
  if (mls__net_parse_addr(s.opt.listen, &addr) != 0) {
    fprintf(stderr, "mentorlog-server serve: bad --listen address '%s'\n", s.opt.listen);
    exit_code = 2;
    goto close_loop;
  }
  rc = uv_tcp_bind(&s.listener, (struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s.listener, 1024, mls__conn_on_connection);
  if (rc != 0) {
    mls__net_log("error", "listen_failed", "err=%s", uv_err_name(rc));
    goto close_loop;
  }
  if (s.opt.metrics_listen) {
    struct sockaddr_storage maddr;
    uv_tcp_init(&loop, &s.metrics_listener);
    s.metrics_listener.data = &s;
    s.metrics_on = 1;
    rc = mls__net_parse_addr(s.opt.metrics_listen, &maddr) ? UV_EINVAL : 0; /* checked by parse_options */
    if (rc == 0) rc = uv_tcp_bind(&s.metrics_listener, (struct sockaddr *)&maddr, 0);
    if (rc == 0)
      rc = uv_listen((uv_stream_t *)&s.metrics_listener, 64, mls__metrics_on_connection);
    if (rc != 0) {
      mls__net_log("error", "listen_failed", "listener=metrics err=%s", uv_err_name(rc));
      goto close_loop;
    }
  }
  uv_signal_start(&s.sig_term, on_signal, SIGTERM);
  uv_signal_start(&s.sig_int, on_signal, SIGINT);
  /* metrics.addr first: serve.addr says the server is ready, with both */
  if ((s.metrics_on && publish_address(&s, &s.metrics_listener, MLS_NET_METRICS_ADDR_FILE,
                                       "metrics_listening", maddr_path, sizeof maddr_path) != 0) ||
      publish_address(&s, &s.listener, MLS_NET_ADDR_FILE, "listening", addr_path,
                      sizeof addr_path) != 0) {
    mls__net_log("error", "address_file_failed", "%s", "");
    goto close_loop;
  }
  mls__wal_timer_start(&s);
  mls__net_log("info", "serving", "workers=%u max_connections=%u", s.opt.workers, s.opt.max_connections);
  uv_run(&loop, UV_RUN_DEFAULT);
  exit_code = 0;

close_loop:
  /* After a clean drain every handle is closed already: anything left is a
   * leak and fails the exit status. After a start-up failure the server's
   * own handles are still open and are closed here. */
  rc = uv_loop_close(&loop);
  if (rc != 0) {
    if (exit_code == 0) {
      mls__net_log("error", "loop_not_closed", "err=%s", uv_err_name(rc));
      exit_code = 1;
    }
    uv_walk(&loop, close_walk_cb, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
  }
  if (addr_path[0]) unlink(addr_path);
  if (maddr_path[0]) unlink(maddr_path);
free_tls:
  mlproto_tls_config_free(s.tls);
close_app:
  mls_app_close(s.app);
  if (exit_code == 0) mls__net_log("info", "stopped", "%s", "");
  return exit_code;
}
