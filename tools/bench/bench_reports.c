/* bench_reports.c — `mentorlog-bench reports`: the jobcentre's compliance
 * report of the real mentorlog-server over TLS, for a jobcentre with many
 * grants. Simulated devices (tools/devsim) of several mentors push, for each
 * grant, its CASE_OPEN, GRANT_OPEN and a contact a week (one week in seven
 * without one); a jobcentre token then asks for the compliance report (JSON
 * and CSV) R times on one kept-alive connection. Figures: latency p50/p99
 * from request to the last byte, page weight. */
#include "bench_server_int.h"

#include "mlproto/record.h"

#define REPORTS_MAX_BODY (256u << 20)

static void usage(FILE *f) {
  fprintf(f,
          "usage: mentorlog-bench reports [options]\n"
          "Starts the real mentorlog-server on 127.0.0.1 with a temporary data directory; simulated\n"
          "devices of M mentors push G grants of one jobcentre with a contact a week; then\n"
          "GET /v1/jobcentre/compliance (JSON, then CSV) R times with the jobcentre's token.\n"
          "  --server-bin PATH   mentorlog-server to run (default: the build tree's)\n"
          "  --grants G          grants of the jobcentre (default 2000)\n"
          "  --mentors M         mentors, one device each, grants spread over them (default 20)\n"
          "  --weeks W           weeks of each grant with contacts (default 26)\n"
          "  --reps R            requests per format (default 30)\n"
          "Figures: RESULT lines on stdout. Exit: 0 ok, 1 a phase failed, 2 usage.\n");
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

static int report_phase(ml_netclient *nc, const char *token, const char *query, size_t reps,
                        const char *name, size_t grants) {
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

int bench_reports(int argc, char **argv) {
  const char *server_bin = NULL;
  double grants = 2000, mentors = 20, weeks = 26, reps = 30;
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
    else {
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
  if (report_phase(nc, token, "", 1, "warmup", ng)) goto out;
  if (report_phase(nc, token, "", (size_t)reps, "compliance_json", ng) ||
      report_phase(nc, token, "?format=csv", (size_t)reps, "compliance_csv", ng))
    goto out;
  rc = 0;
out:
  sodium_memzero(token, sizeof token);
  ml_netclient_close(nc);
  for (size_t m = 0; devs && m < nm; m++) bs_device_free(&devs[m]);
  free(devs);
  if (s.pid && bs_server_stop(&s)) rc = 1;
  bs_print_loadavg("end");
  free(default_bin);
  return rc;
}
