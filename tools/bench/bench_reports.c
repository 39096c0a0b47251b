/* bench_reports.c — `mentorlog-bench reports`: the jobcentre's compliance
 * report of the real mentorlog-server over TLS, for a jobcentre with many
 * grants. Simulated devices (tools/devsim) of several mentors push, for each
 * grant, its CASE_OPEN, GRANT_OPEN and a contact a week (one week in seven
 * without one); a jobcentre token then asks for the compliance report (JSON
 * and CSV) R times on one kept-alive connection, and the caseworker signs
 * in to the web page (/jobcentre/) and asks for its overview (first and
 * last page, a status filter, the CSV download) R times. Figures: latency
 * p50/p99 from request to the last byte, page weight. Then the log is exported
 * (`admin export-log`) and `mentorlog-audit report` recomputes the same
 * document from the file (checked byte for byte against the server's last
 * answer), and `mentorlog-audit verify` checks the file: wall and CPU time;
 * then `report --state` after a `verify --state` (the kept checkpoint
 * vouching for the signatures).
 *
 * `mentorlog-bench audit`: `mentorlog-audit verify` (and `report`) of a large
 * audit log file (200,000 records by default), made once by the same server
 * and devices when the file does not exist yet: records/s. */
#include "bench_server_int.h"

#include "mlproto/record.h"

#define REPORTS_MAX_BODY (256u << 20)

static void usage(FILE *f) {
  fprintf(f,
          "usage: mentorlog-bench reports [options]\n"
          "Starts the real mentorlog-server on 127.0.0.1 with a temporary data directory; simulated\n"
          "devices of M mentors push G grants of one jobcentre with a contact a week; then\n"
          "GET /v1/jobcentre/compliance (JSON, then CSV) R times with the jobcentre's token; then\n"
          "signs in to the web page with it and GETs its overview pages R times each.\n"
          "  --server-bin PATH   mentorlog-server to run (default: the build tree's)\n"
          "  --grants G          grants of the jobcentre (default 2000)\n"
          "  --mentors M         mentors, one device each, grants spread over them (default 20)\n"
          "  --weeks W           weeks of each grant with contacts (default 26)\n"
          "  --reps R            requests per format (default 30)\n"
          "  --audit-bin PATH    mentorlog-audit to time (default: the build tree's)\n"
          "  --audit-reps A      runs of `mentorlog-audit report` (JSON, CSV) and `verify` over\n"
          "                      the exported log (default 5; 0: no audit phase)\n"
          "Figures: RESULT lines on stdout. Exit: 0 ok, 1 a phase failed, 2 usage.\n");
}

/* ------------------------------------------------------ audit runs --- */

/* The build tree's tool beside this bench (tools/bench -> tools/audit). */
static char *default_audit_bin(void) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return NULL;
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (!slash) return NULL;
  *slash = 0;
  size_t len = strlen(self) + 64;
  char *p = malloc(len);
  if (p) snprintf(p, len, "%s/../audit/mentorlog-audit", self);
  return p;
}

typedef struct timed {
  double wall, cpu; /* seconds; cpu: user + system of the child */
  int status;
} timed;

/* Runs argv with stdout into out_path (NULL: /dev/null), stderr kept. */
static timed run_timed(const char *const *argv, const char *out_path) {
  timed t = {0, 0, -1};
  double t0 = bench_now();
  pid_t pid = fork();
  if (pid < 0) return t;
  if (pid == 0) {
    int fd = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) _exit(126);
    dup2(fd, 1);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  int st = 0;
  struct rusage ru;
  while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
  }
  t.wall = bench_now() - t0;
  t.cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
          ru.ru_stime.tv_usec / 1e6;
  t.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return t;
}

/* reps runs of argv; figures <name>_p50_s, _min_s, _cpu_s (of the median run). */
static int time_runs(const char *name, const char *const *argv, const char *out_path, size_t reps,
                     double *p50_out) {
  double *w = calloc(reps, sizeof *w), *c = calloc(reps, sizeof *c);
  if (!w || !c) {
    free(w);
    free(c);
    return -1;
  }
  int rc = 0;
  for (size_t i = 0; i < reps && !g_stop; i++) {
    timed t = run_timed(argv, out_path);
    if (t.status != 0) {
      fprintf(stderr, "reports: %s %s exited %d\n", argv[0], argv[1], t.status);
      rc = -1;
      break;
    }
    w[i] = t.wall;
    c[i] = t.cpu;
  }
  if (!rc) {
    double ws[64];
    size_t k = reps < 64 ? reps : 64;
    memcpy(ws, w, k * sizeof *ws);
    qsort(ws, k, sizeof *ws, bs_cmp_double);
    double med = bs_pct(ws, k, 50), cpu = 0;
    for (size_t i = 0; i < k; i++)
      if (w[i] == med) cpu = c[i];
    char n1[96];
    snprintf(n1, sizeof n1, "%s_p50_s", name);
    bench_result(n1, med, "s");
    snprintf(n1, sizeof n1, "%s_min_s", name);
    bench_result(n1, ws[0], "s");
    snprintf(n1, sizeof n1, "%s_cpu_s", name);
    bench_result(n1, cpu, "s");
    fprintf(stderr, "reports: %s: p50 %.3f s (min %.3f s), CPU %.3f s of the median run\n", name,
            med, ws[0], cpu);
    if (p50_out) *p50_out = med;
  }
  free(w);
  free(c);
  return rc;
}

/* The log of s exported to path, its verifier key into vkey (ADMIN_OUT_CAP). */
static int export_log(server *s, const char *path, char *vkey) {
  char out[ADMIN_OUT_CAP];
  double t0 = bench_now();
  if (bs_admin(s, out, "export-log", "--out", path) || bs_admin(s, vkey, "log-key", NULL, NULL))
    return -1;
  struct stat st;
  if (stat(path, &st) != 0) return -1;
  fprintf(stderr, "reports: log exported to %s (%.1f MB) in %.1f s\n", path, st.st_size / 1e6,
          bench_now() - t0);
  bench_result("audit_file_bytes", (double)st.st_size, "bytes");
  return 0;
}

/* The whole file at path (malloc'd), or NULL. */
static char *read_whole(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *b = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? 2 * cap : 1u << 20;
      char *t = realloc(b, cap);
      if (!t) {
        free(b);
        fclose(f);
        return NULL;
      }
      b = t;
    }
    size_t r = fread(b + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  fclose(f);
  *len = n;
  return b;
}

/* The number of entries of an audit log file: its header's "size N". */
static double file_entries(const char *path) {
  char head[1024];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, head, sizeof head - 1);
  close(fd);
  if (n <= 0) return 0;
  head[n] = 0;
  const char *sz = strstr(head, "\nsize ");
  return sz ? strtod(sz + 6, NULL) : 0;
}

/* verify and report of path, reps times each; `now` for the report, and
 * when want is not NULL the JSON must equal want (the server's answer). */
static int audit_phase(const char *bin, const char *path, const char *vkey, size_t reps,
                       const char *now, const char *jc, const uint8_t *want, size_t want_len,
                       const char *prefix) {
  double entries = file_entries(path), p50 = 0;
  char name[64];
  bench_result("audit_file_entries", entries, "entries");
  const char *v[] = {bin, "verify", path, "--log-key", vkey, NULL};
  snprintf(name, sizeof name, "%s_verify", prefix);
  if (time_runs(name, v, NULL, reps, &p50)) return -1;
  snprintf(name, sizeof name, "%s_verify_records_per_s", prefix);
  bench_result(name, p50 > 0 ? entries / p50 : 0, "records/s");
  fprintf(stderr, "reports: verify: %.0f records/s\n", p50 > 0 ? entries / p50 : 0);
  char out[4200];
  snprintf(out, sizeof out, "%s.report", path);
  /* now NULL: the report's default, the file's last receipt time */
  const char *rj[] = {bin, "report", path, "--log-key", vkey, "--json", now ? "--now" : NULL, now,
                      NULL};
  snprintf(name, sizeof name, "%s_report_json", prefix);
  if (time_runs(name, rj, out, reps, NULL)) return -1;
  const char *rc_[] = {bin, "report", path, "--log-key", vkey, "--csv", now ? "--now" : NULL, now,
                       NULL};
  snprintf(name, sizeof name, "%s_report_csv", prefix);
  if (time_runs(name, rc_, out, reps, NULL)) return -1;
  /* after `verify --state`: the kept checkpoint vouches for the signatures */
  char sdir[4200];
  snprintf(sdir, sizeof sdir, "%s.state", path);
  const char *vs[] = {bin, "verify", path, "--log-key", vkey, "--state", sdir, NULL};
  timed tv = run_timed(vs, NULL);
  if (tv.status != 0) {
    fprintf(stderr, "reports: verify --state %s exited %d\n", sdir, tv.status);
    return -1;
  }
  const char *rs[] = {bin, "report", path, "--state", sdir, "--json", now ? "--now" : NULL, now,
                      NULL};
  snprintf(name, sizeof name, "%s_report_json_state", prefix);
  int rc = time_runs(name, rs, out, reps, NULL);
  char rm[4300];
  snprintf(rm, sizeof rm, "rm -rf '%s'", sdir);
  if (system(rm) != 0) rc = -1;
  if (rc) return -1;
  if (want) { /* the jobcentre's document, recomputed: the server's bytes */
    const char *rw[] = {bin, "report", path, "--log-key", vkey, "--now", now, "--jobcentre", jc,
                        NULL};
    timed t = run_timed(rw, out);
    size_t n = 0;
    char *got = t.status == 0 ? read_whole(out, &n) : NULL;
    int same = got && n == want_len && memcmp(got, want, n) == 0;
    free(got);
    bench_result("audit_report_equals_server", same, "bool");
    fprintf(stderr, "reports: mentorlog-audit report --jobcentre %s %s the server's document\n",
            jc, same ? "is byte for byte" : "DIFFERS from");
    if (!same) rc = -1;
  }
  unlink(out);
  return rc;
}

/* Pushes envs[0..n) in batches of <= 1,000; frees them. 0 or -1. */
static int push_all(device *d, uint8_t **envs, size_t *lens, size_t n) {
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i += 1000) {
    size_t k = n - i < 1000 ? n - i : 1000, len;
    uint8_t *b = sim_push_body(envs + i, lens + i, k, &len);
    for (int attempt = 0;; attempt++) {
      ml_netclient_response r;
      if (bs_call(d->nc, "POST", "/v1/push", d->sim.token, b, len, &r)) { rc = -1; break; }
      int st = r.status;
      ml_netclient_response_free(&r);
      if (st == 200) break;
      if (st != 429 || attempt > PUSH_MAX_RETRIES) {
        fprintf(stderr, "reports: push answered %d\n", st);
        rc = -1;
        break;
      }
      bs_sleep_ns(100000000L);
    }
    free(b);
  }
  for (size_t i = 0; i < n; i++) mlproto_free(envs[i]);
  return rc;
}

/* The grants of device d: grants CASE_OPEN + GRANT_OPEN + contacts each. */
static int write_grants(device *d, size_t grants, unsigned weeks, size_t *records) {
  size_t per = 2 + weeks, n = 0;
  uint8_t **envs = calloc(grants * per, sizeof *envs);
  size_t *lens = calloc(grants * per, sizeof *lens);
  if (!envs || !lens) {
    free(envs);
    free(lens);
    return -1;
  }
  const int32_t start = 20605; /* 2026-06-01, a Monday */
  for (size_t g = 0; g < grants; g++) {
    uint8_t case_id[16];
    randombytes_buf(case_id, sizeof case_id);
    envs[n] = sim_record(&d->sim, MLPROTO_KIND_CASE_OPEN, case_id, &lens[n]);
    n++;
    d->sim.grant_start = start;
    envs[n] = sim_record(&d->sim, MLPROTO_KIND_GRANT_OPEN, case_id, &lens[n]);
    n++;
    for (unsigned w = 0; w < weeks; w++) {
      if ((w + g) % 7 == 3) continue; /* a missed week */
      d->sim.contact_start_ms =
          ((uint64_t)(start + 7 * (int32_t)w + (int32_t)(g % 5)) * 86400 + 9 * 3600) * 1000;
      envs[n] = sim_record(&d->sim, MLPROTO_KIND_CONTACT, case_id, &lens[n]);
      n++;
    }
  }
  *records += n;
  int rc = push_all(d, envs, lens, n);
  free(envs);
  free(lens);
  return rc;
}

/* The last answer of a phase, kept for the audit phase's comparison. */
typedef struct last_answer {
  uint8_t *body;
  size_t len;
} last_answer;

static int report_phase(ml_netclient *nc, const char *token, const char *query, size_t reps,
                        const char *name, size_t grants, last_answer *keep) {
  double *lat = calloc(reps, sizeof *lat);
  if (!lat) return -1;
  size_t bytes = 0;
  char path[128];
  snprintf(path, sizeof path, "/v1/jobcentre/compliance%s", query);
  int rc = 0;
  for (size_t i = 0; i < reps && !rc && !g_stop; i++) {
    ml_netclient_response r;
    double t0 = bench_now();
    if (bs_call(nc, "GET", path, token, NULL, 0, &r)) { rc = -1; break; }
    lat[i] = bench_now() - t0;
    if (r.status != 200) {
      fprintf(stderr, "reports: %s answered %d: %.*s\n", path, r.status, (int)r.body_len,
              (const char *)r.body);
      rc = -1;
    }
    /* every grant is in the answer: its reference prefix once (JSON) or per period (CSV) */
    size_t refs = 0;
    for (const char *p = (const char *)r.body; (p = strstr(p, "REF-")); p += 4) refs++;
    if (!rc && refs < grants) {
      fprintf(stderr, "reports: %s holds %zu grant references of %zu\n", path, refs, grants);
      rc = -1;
    }
    bytes = r.body_len;
    if (keep && i + 1 == reps) {
      free(keep->body);
      keep->body = malloc(r.body_len ? r.body_len : 1);
      if (!keep->body) rc = -1;
      else memcpy(keep->body, r.body, keep->len = r.body_len);
    }
    ml_netclient_response_free(&r);
  }
  if (!rc) {
    qsort(lat, reps, sizeof *lat, bs_cmp_double);
    char n1[64];
    snprintf(n1, sizeof n1, "reports_%s_p50_ms", name);
    bench_result(n1, 1e3 * bs_pct(lat, reps, 50), "ms");
    snprintf(n1, sizeof n1, "reports_%s_p99_ms", name);
    bench_result(n1, 1e3 * bs_pct(lat, reps, 99), "ms");
    snprintf(n1, sizeof n1, "reports_%s_bytes", name);
    bench_result(n1, (double)bytes, "bytes");
    fprintf(stderr, "reports: %s: p50 %.1f ms, p99 %.1f ms, %zu bytes\n", path,
            1e3 * bs_pct(lat, reps, 50), 1e3 * bs_pct(lat, reps, 99), bytes);
  }
  free(lat);
  return rc;
}

/* The web page: signs in with the token (POST /jobcentre/signin), then
 * GET /jobcentre/?query reps times with the session cookie. Every page
 * must name the checkpoint and hold `want` grant rows. */
static int web_signin(ml_netclient *nc, const char *token, char *cookie, size_t cap) {
  char body[ADMIN_OUT_CAP + 8];
  snprintf(body, sizeof body, "token=%s", token);
  mlproto_http_header h[] = {{"Origin", "https://127.0.0.1"},
                             {"Content-Type", "application/x-www-form-urlencoded"}};
  ml_netclient_response r;
  int rc = ml_netclient_request(nc, "POST", "/jobcentre/signin", h, 2, body, strlen(body), &r);
  sodium_memzero(body, sizeof body);
  if (rc || r.status != 303 || !r.set_cookie) {
    fprintf(stderr, "reports: web sign-in: %s, status %d\n", mlproto_errname(rc), r.status);
    ml_netclient_response_free(&r);
    return -1;
  }
  snprintf(cookie, cap, "%.*s", (int)strcspn(r.set_cookie, ";"), r.set_cookie);
  ml_netclient_response_free(&r);
  return 0;
}

static int web_phase(ml_netclient *nc, const char *cookie, const char *query, size_t reps,
                     const char *name, size_t want) {
  double *lat = calloc(reps, sizeof *lat);
  if (!lat) return -1;
  char path[160];
  snprintf(path, sizeof path, "/jobcentre/%s", query);
  mlproto_http_header h[] = {{"Cookie", cookie}};
  size_t bytes = 0;
  int rc = 0;
  for (size_t i = 0; i < reps && !rc && !g_stop; i++) {
    ml_netclient_response r;
    double t0 = bench_now();
    if (ml_netclient_request(nc, "GET", path, h, 1, NULL, 0, &r)) { rc = -1; break; }
    lat[i] = bench_now() - t0;
    size_t rows = 0;
    for (const char *p = (const char *)r.body; (p = strstr(p, "<th scope=\"row\" class=\"ref\">"));
         p += 10)
      rows++;
    int csv = strstr(query, "format=csv") != NULL;
    if (r.status != 200 || (!csv && (rows != want || !strstr((const char *)r.body, "cp-root")))) {
      fprintf(stderr, "reports: %s answered %d with %zu rows (want %zu)\n", path, r.status, rows,
              want);
      rc = -1;
    }
    bytes = r.body_len;
    ml_netclient_response_free(&r);
  }
  if (!rc) {
    qsort(lat, reps, sizeof *lat, bs_cmp_double);
    char n1[64];
    snprintf(n1, sizeof n1, "reports_web_%s_p50_ms", name);
    bench_result(n1, 1e3 * bs_pct(lat, reps, 50), "ms");
    snprintf(n1, sizeof n1, "reports_web_%s_p99_ms", name);
    bench_result(n1, 1e3 * bs_pct(lat, reps, 99), "ms");
    snprintf(n1, sizeof n1, "reports_web_%s_bytes", name);
    bench_result(n1, (double)bytes, "bytes");
    fprintf(stderr, "reports: %s: p50 %.1f ms, p99 %.1f ms, %zu bytes\n", path,
            1e3 * bs_pct(lat, reps, 50), 1e3 * bs_pct(lat, reps, 99), bytes);
  }
  free(lat);
  return rc;
}

int bench_reports(int argc, char **argv) {
  const char *server_bin = NULL, *audit_bin = NULL;
  double grants = 2000, mentors = 20, weeks = 26, reps = 30, audit_reps = 5;
  for (int i = 1; i < argc; i += 2) { /* every option takes a value */
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (!v) {
      usage(stderr);
      return 2;
    }
    if (!strcmp(a, "--server-bin")) server_bin = v;
    else if (!strcmp(a, "--grants")) { if (bench_parse_double(a, v, 1, 100000, &grants)) return 2; }
    else if (!strcmp(a, "--mentors")) { if (bench_parse_double(a, v, 1, 1000, &mentors)) return 2; }
    else if (!strcmp(a, "--weeks")) { if (bench_parse_double(a, v, 1, 26, &weeks)) return 2; }
    else if (!strcmp(a, "--reps")) { if (bench_parse_double(a, v, 1, 10000, &reps)) return 2; }
    else if (!strcmp(a, "--audit-bin")) audit_bin = v;
    else if (!strcmp(a, "--audit-reps")) {
      if (strcmp(v, "0") == 0) audit_reps = 0;
      else if (bench_parse_double(a, v, 1, 64, &audit_reps)) return 2;
    } else {
      usage(stderr);
      return 2;
    }
  }
  bs_who = "reports";
  char *default_bin = NULL;
  if (!server_bin && !(server_bin = default_bin = bs_default_server_bin())) return 1;
  signal(SIGPIPE, SIG_IGN);
  if (mlproto_crypto_init() != MLPROTO_OK || mlproto_tls_global_init() != MLPROTO_OK) {
    free(default_bin);
    return 1;
  }
  size_t ng = (size_t)grants, nm = (size_t)mentors;
  if (nm > ng) nm = ng;
  server s;
  memset(&s, 0, sizeof s);
  s.bin = server_bin;
  device *devs = calloc(nm, sizeof *devs);
  ml_netclient *nc = NULL;
  last_answer last = {NULL, 0};
  int rc = 1;
  bs_print_loadavg("start");
  if (!devs || bs_server_start(&s, 256, 0)) goto out;
  size_t records = 0;
  double t0 = bench_now();
  for (size_t m = 0; m < nm; m++) {
    size_t share = ng / nm + (m < ng % nm);
    if (bs_device_up(&devs[m], &s, (int)m) || write_grants(&devs[m], share, (unsigned)weeks, &records))
      goto out;
  }
  fprintf(stderr, "reports: %zu grants of %zu mentors, %zu records pushed in %.1f s\n", ng, nm,
          records, bench_now() - t0);
  bench_result("reports_grants", (double)ng, "grants");
  bench_result("reports_records", (double)records, "records");
  char token[ADMIN_OUT_CAP];
  const char *targv[] = {s.bin, "admin", "--data", s.data, "token", "add", "--role", "jobcentre",
                         "--jobcentre", SIM_JOBCENTRE, NULL};
  if (bs_run_capture(targv, token, sizeof token, 60000) != 0) goto out;
  token[strcspn(token, "\r\n")] = 0;
  ml_netclient_options o = ML_NETCLIENT_OPTIONS_INIT;
  o.host = "127.0.0.1";
  o.port = s.port;
  o.tls_hostname = CERT_NAME;
  o.pin_sha256 = s.fingerprint;
  o.timeout_ms = 120000;
  o.max_response_body = REPORTS_MAX_BODY;
  if (ml_netclient_open(&nc, &o)) goto out;
  /* one request first: the connection and the server's caches warm */
  if (report_phase(nc, token, "", 1, "warmup", ng, NULL)) goto out;
  if (report_phase(nc, token, "", (size_t)reps, "compliance_json", ng, &last) ||
      report_phase(nc, token, "?format=csv", (size_t)reps, "compliance_csv", ng, NULL))
    goto out;
  /* the caseworker's page: 100 grants a page (MLPROTO_HTML_PER_PAGE) */
  char cookie[96], q[64];
  size_t per = 100, pages = (ng + per - 1) / per, last_rows = ng - (pages - 1) * per;
  snprintf(q, sizeof q, "?sort=missed&page=%zu", pages);
  if (web_signin(nc, token, cookie, sizeof cookie) ||
      web_phase(nc, cookie, "", (size_t)reps, "overview", ng < per ? ng : per) ||
      web_phase(nc, cookie, q, (size_t)reps, "overview_last_by_missed", last_rows) ||
      web_phase(nc, cookie, "?format=csv", (size_t)reps, "overview_csv", 0)) {
    sodium_memzero(cookie, sizeof cookie);
    goto out;
  }
  sodium_memzero(cookie, sizeof cookie);
  if (audit_reps > 0) {
    char *default_audit = NULL;
    if (!audit_bin) audit_bin = default_audit = default_audit_bin();
    /* the instant the server's last answer was computed at: its generated_at */
    const char *ga = last.body ? memmem(last.body, last.len, "\"generated_at\":\"", 16) : NULL;
    char now[32] = "";
    if (ga && (size_t)((const uint8_t *)ga - last.body) + 40 < last.len) {
      memcpy(now, ga + 16, 24);
      now[24] = 0;
    }
    char path[256], vkey[ADMIN_OUT_CAP];
    snprintf(path, sizeof path, "%s/log.audit", s.root);
    int arc = !audit_bin || !now[0] || export_log(&s, path, vkey) ||
              audit_phase(audit_bin, path, vkey, (size_t)audit_reps, now, SIM_JOBCENTRE, last.body,
                          last.len, "reports_audit");
    free(default_audit);
    if (arc) goto out;
  }
  rc = 0;
out:
  free(last.body);
  sodium_memzero(token, sizeof token);
  ml_netclient_close(nc);
  for (size_t m = 0; devs && m < nm; m++) bs_device_free(&devs[m]);
  free(devs);
  if (s.pid && bs_server_stop(&s)) rc = 1;
  bs_print_loadavg("end");
  free(default_bin);
  return rc;
}

/* ------------------------------------------------------- bench audit --- */

static void usage_audit(FILE *f) {
  fprintf(f,
          "usage: mentorlog-bench audit [options]\n"
          "`mentorlog-audit verify` and `report` of a large audit log file, R times each.\n"
          "When FILE does not exist it is made first (untimed): the real mentorlog-server on\n"
          "127.0.0.1, simulated devices of 20 mentors pushing grants of 26 weeks with a contact a\n"
          "week (as `reports`) until about N records, then `admin export-log`; the log's verifier\n"
          "key is kept in FILE.vkey.\n"
          "  --records N       records of a new file (default 200000)\n"
          "  --file PATH       the file (default $TMPDIR or /tmp, mentorlog-bench-audit-N.audit)\n"
          "  --reps R          runs of each command (default 3)\n"
          "  --server-bin PATH, --audit-bin PATH   the programs (default: the build tree's)\n"
          "Figures: RESULT lines on stdout (audit_verify_records_per_s, ...). Exit: 0 ok, 1 a\n"
          "phase failed, 2 usage.\n");
}

/* Makes the audit log file at path (and path.vkey) with a new server. */
static int make_audit_file(const char *server_bin, const char *path, size_t want) {
  size_t ng = want * 2000 / 48560 + 1, nm = 20, records = 0;
  if (nm > ng) nm = ng;
  server s;
  memset(&s, 0, sizeof s);
  s.bin = server_bin;
  device *devs = calloc(nm, sizeof *devs);
  int rc = -1;
  double t0 = bench_now();
  if (!devs || bs_server_start(&s, 256, 0)) goto out;
  for (size_t m = 0; m < nm; m++) {
    size_t share = ng / nm + (m < ng % nm);
    if (bs_device_up(&devs[m], &s, (int)m) || write_grants(&devs[m], share, 26, &records)) goto out;
  }
  fprintf(stderr, "audit: %zu grants, %zu records pushed in %.1f s\n", ng, records,
          bench_now() - t0);
  char vkey[ADMIN_OUT_CAP], vpath[300];
  if (export_log(&s, path, vkey)) goto out;
  snprintf(vpath, sizeof vpath, "%s.vkey", path);
  FILE *f = fopen(vpath, "w");
  if (!f || fprintf(f, "%s\n", vkey) < 0 || fclose(f) != 0) goto out;
  rc = 0;
out:
  for (size_t m = 0; devs && m < nm; m++) bs_device_free(&devs[m]);
  free(devs);
  if (s.pid && bs_server_stop(&s)) rc = -1;
  if (rc) unlink(path);
  return rc;
}

int bench_audit(int argc, char **argv) {
  const char *server_bin = NULL, *audit_bin = NULL, *file = NULL;
  double records = 200000, reps = 3;
  for (int i = 1; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage_audit(stdout);
      return 0;
    }
    if (!v) {
      usage_audit(stderr);
      return 2;
    }
    if (!strcmp(a, "--server-bin")) server_bin = v;
    else if (!strcmp(a, "--audit-bin")) audit_bin = v;
    else if (!strcmp(a, "--file")) file = v;
    else if (!strcmp(a, "--records")) { if (bench_parse_double(a, v, 100, 1e7, &records)) return 2; }
    else if (!strcmp(a, "--reps")) { if (bench_parse_double(a, v, 1, 64, &reps)) return 2; }
    else {
      usage_audit(stderr);
      return 2;
    }
  }
  bs_who = "audit";
  signal(SIGPIPE, SIG_IGN);
  if (mlproto_crypto_init() != MLPROTO_OK || mlproto_tls_global_init() != MLPROTO_OK) return 1;
  char *default_bin = NULL, *default_audit = NULL, path[256];
  if (!file) {
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/mentorlog-bench-audit-%.0f.audit",
             tmp && *tmp && strlen(tmp) < 128 ? tmp : "/tmp", records);
    file = path;
  }
  int rc = 1;
  bs_print_loadavg("start");
  struct stat st;
  if (stat(file, &st) != 0) {
    if (!server_bin && !(server_bin = default_bin = bs_default_server_bin())) goto out;
    if (make_audit_file(server_bin, file, (size_t)records)) goto out;
  } else {
    fprintf(stderr, "audit: using %s (%.1f MB)\n", file, st.st_size / 1e6);
  }
  char vpath[300], vkey[ADMIN_OUT_CAP] = "";
  snprintf(vpath, sizeof vpath, "%s.vkey", file);
  if (bs_read_text(vpath, vkey, sizeof vkey) != 0 || !vkey[0]) {
    fprintf(stderr, "audit: cannot read the log's key from %s\n", vpath);
    goto out;
  }
  vkey[strcspn(vkey, "\r\n")] = 0;
  if (!audit_bin && !(audit_bin = default_audit = default_audit_bin())) goto out;
  /* the figures at the file's own time (the report's default --now) */
  if (audit_phase(audit_bin, file, vkey, (size_t)reps, NULL, NULL, NULL, 0, "audit")) goto out;
  rc = 0;
out:
  bs_print_loadavg("end");
  free(default_bin);
  free(default_audit);
  return rc;
}
