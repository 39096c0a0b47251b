/* mentorlog-bench server: simulated devices (tools/devsim) and the push
 * phases (one device, pipelined, several at once), with their meters. */
#include "bench_server_int.h"

/* ----------------------------------------------------------- devices ---- */


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


void bs_device_free(device *d) {
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
    if (bs_call(d->nc, "POST", "/v1/push", d->sim.token, body, len, &r)) return -1;
    double t1 = bench_now();
    if (r.status == 429) {
      d->throttled++;
      ml_netclient_response_free(&r);
      bs_sleep_ns(20000000L);
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
int bs_device_up(device *d, server *s, int idx) {
  char mentor[ADMIN_OUT_CAP], code[ADMIN_OUT_CAP], name[32];
  sim_dev_init(&d->sim);
  snprintf(name, sizeof name, "bench mentor %d", idx);
  if (bs_admin(s, mentor, "mentor", "add", name) || bs_admin(s, code, "enroll-code", mentor, NULL))
    return -1;
  if (bs_client_open(&d->nc, s)) return -1;
  ml_netclient_response r;
  size_t len;
  uint8_t *b = sim_enroll_body(&d->sim, code, &len);
  sodium_memzero(code, sizeof code);
  int rc = bs_call(d->nc, "POST", "/v1/enroll", NULL, b, len, &r);
  free(b);
  if (rc) return -1;
  rc = r.status == 200 ? 0 : -1;
  ml_netclient_response_free(&r);
  if (rc || bs_call(d->nc, "GET", "/v1/session/challenge", NULL, NULL, 0, &r)) {
    fprintf(stderr, "server: enrolment of device %d failed\n", idx);
    return -1;
  }
  b = r.status == 200 ? sim_session_body(&d->sim, r.body, r.body_len, &len) : NULL;
  ml_netclient_response_free(&r);
  if (!b) return -1;
  rc = bs_call(d->nc, "POST", "/v1/session", NULL, b, len, &r);
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
int bs_device_build(device *d, size_t records, size_t batch) {
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
  if (bs_read_text("/proc/stat", buf, sizeof buf) ||
      sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
             &v[5], &v[6], &v[7]) != 8)
    return -1;
  *total = 0;
  for (int i = 0; i < 8; i++) *total += (double)v[i];
  *busy = *total - (double)v[3] - (double)v[4]; /* minus idle and iowait */
  return 0;
}


static void push_meters_read(const server *s, push_meters *pm) {
  static const char *const names[] = {"mentorlog_pushes_total", "mentorlog_push_seconds_total",
                                      "mentorlog_push_store_seconds_total",
                                      "mentorlog_push_lock_wait_seconds_total"};
  double v[4];
  pm->ok = bs_metrics(s, names, v, 4) == 0;
  pm->pushes = v[0];
  pm->push_s = v[1];
  pm->store_s = v[2];
  pm->lock_s = v[3];
}

/* The servers' counters are read before the clock starts and after it
 * stops: the scrapes are not in the phase's time. */
static void meter_start(meter *m, const server *s) {
  m->s = s;
  push_meters_read(s, &m->pm0);
  if (machine_jiffies(&m->busy0, &m->total0)) m->total0 = -1;
  m->srv0 = bs_server_cpu_s(s);
  m->lb0 = s->lb_pid > 0 ? bs_proc_cpu_s(s->lb_pid) : -1;
  m->cli0 = self_cpu_s();
  m->t0 = bench_now();
}

static void meter_stop(meter *m) {
  m->wall = bench_now() - m->t0;
  double s1 = bs_server_cpu_s(m->s), c1 = self_cpu_s(), busy1, total1;
  double l1 = m->s->lb_pid > 0 ? bs_proc_cpu_s(m->s->lb_pid) : -1;
  m->srv_cpu = m->srv0 >= 0 && s1 >= 0 ? s1 - m->srv0 : -1;
  m->lb_cpu = m->lb0 >= 0 && l1 >= 0 ? l1 - m->lb0 : -1;
  m->cli_cpu = m->cli0 >= 0 && c1 >= 0 ? c1 - m->cli0 : -1;
  m->busy = -1;
  if (m->total0 >= 0 && !machine_jiffies(&busy1, &total1) && total1 > m->total0)
    m->busy = (busy1 - m->busy0) / (total1 - m->total0);
  push_meters_read(m->s, &m->pm1);
}

/* Where the servers' push time went in the phase (mentorlog_push_*
 * counters, metrics.h): per accepted batch, and the store's and the lock
 * wait's shares of it. nlat: the batches the bench saw acknowledged. */
static void push_time_report(const char *name, const meter *m, size_t nlat) {
  const push_meters *a = &m->pm0, *b = &m->pm1;
  if (!a->ok || !b->ok) {
    fprintf(stderr, "server: %s: the servers' /metrics could not be read: no store share\n", name);
    return;
  }
  double batches = b->pushes - a->pushes, push = b->push_s - a->push_s;
  double store = b->store_s - a->store_s, lock = b->lock_s - a->lock_s;
  char key[64];
#define R(suffix, v, unit) (snprintf(key, sizeof key, "%s_%s", name, suffix), bench_result(key, v, unit))
  R("server_batches", batches, "batches");
  if (batches <= 0 || push <= 0) return;
  R("server_push_ms_per_batch", push / batches * 1e3, "ms");
  R("store_ms_per_batch", store / batches * 1e3, "ms");
  R("lock_wait_ms_per_batch", lock / batches * 1e3, "ms");
  R("store_share", 100 * store / push, "%");
  R("lock_wait_share", 100 * lock / push, "%");
#undef R
  fprintf(stderr, "server: %s: per batch at the servers %.2f ms, of which in the store %.2f ms"
          " (%.1f %%), waiting for the log's lock %.2f ms (%.1f %%)%s\n",
          name, push / batches * 1e3, store / batches * 1e3, 100 * store / push,
          lock / batches * 1e3, 100 * lock / push,
          (size_t)batches != nlat ? " -- the servers counted another number of batches!" : "");
}


/* The RESULT lines and the summary of a push phase; *rate gets records/s. */
static void push_report(const char *name, const meter *m, push_figures *f, double *rate) {
  qsort(f->lat, f->nlat, sizeof *f->lat, bs_cmp_double);
  double per = f->records ? 1e6 / (double)f->records : 0;
  char key[64];
  *rate = (double)f->records / m->wall;
#define R(suffix, v, unit) (snprintf(key, sizeof key, "%s_%s", name, suffix), bench_result(key, v, unit))
  R("records_per_s", *rate, "records/s");
  R("records", (double)f->records, "records");
  R("batch_p50_ms", bs_pct(f->lat, f->nlat, 50) * 1e3, "ms");
  R("batch_p99_ms", bs_pct(f->lat, f->nlat, 99) * 1e3, "ms");
  R("batch_max_ms", f->nlat ? f->lat[f->nlat - 1] * 1e3 : 0, "ms");
  R("envelope_bytes", f->records ? (double)f->bytes / (double)f->records : 0, "bytes");
  R("throttled_429", (double)f->throttled, "responses");
  if (f->resent >= 0) R("seq_gap_resends", (double)f->resent, "requests");
  if (f->records && m->srv_cpu >= 0) R("server_cpu_us_per_record", m->srv_cpu * per, "us");
  if (f->records && m->cli_cpu >= 0) R("client_cpu_us_per_record", m->cli_cpu * per, "us");
  if (f->records && m->lb_cpu >= 0) R("haproxy_cpu_us_per_record", m->lb_cpu * per, "us");
  if (m->busy >= 0) R("machine_busy", m->busy, "fraction");
#undef R
  fprintf(stderr, "server: %s: %zu records in %.2f s = %.0f records/s, batch p50 %.1f ms p99 %.1f ms;"
          " CPU per record: server %.1f us, bench client %.1f us; machine busy %.0f%%%s%s\n",
          name, f->records, m->wall, *rate, bs_pct(f->lat, f->nlat, 50) * 1e3,
          bs_pct(f->lat, f->nlat, 99) * 1e3, m->srv_cpu * per, m->cli_cpu * per, 100 * m->busy,
          f->throttled ? " (rate-limited: see throttled_429)" : "",
          f->resent > 0 ? " (some batches resent after SEQ_GAP)" : "");
  push_time_report(name, m, f->nlat);
}



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
      if (bs_call(l->nc, "POST", "/v1/push", d->sim.token, d->bodies[b], d->body_len[b], &r)) {
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
        bs_sleep_ns(20000000L);
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
int bs_pipeline_phase(const char *name, device *d, const server *s, double *rate) {
  pipeline p = {.d = d};
  gate start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  p.done = calloc(d->nbatches ? d->nbatches : 1, 1);
  int rc = -1;
  if (!p.done || (!d->nc2 && bs_client_open(&d->nc2, s))) goto out;
  d->start = &start;
  lane lanes[2] = {{&p, d->nc, 0}, {&p, d->nc2, 1}};
  pthread_t tid[2];
  int started = 0;
  for (; started < 2; started++)
    if (pthread_create(&tid[started], NULL, lane_thread, &lanes[started])) break;
  meter m;
  meter_start(&m, s);
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


static void *healthz_thread(void *arg) {
  healthz *h = arg;
  while (!h->done && !g_stop && h->n < HEALTHZ_SAMPLES_CAP) {
    ml_netclient_response r;
    double t0 = bench_now();
    if (bs_call(h->nc, "GET", "/healthz", NULL, NULL, 0, &r)) {
      h->failed = 1;
      break;
    }
    h->lat[h->n++] = bench_now() - t0;
    if (r.status != 200) h->failed = 1;
    ml_netclient_response_free(&r);
    if (h->failed) break;
    bs_sleep_ns(HEALTHZ_GAP_NS);
  }
  return NULL;
}

/* Pushes the pre-built batches of devs[0..n) concurrently (with a /healthz
 * poller when h is set); prints the figures under `name`. *rate gets
 * records/s. */
int bs_push_phase(const char *name, const server *s, device *devs, size_t n, healthz *h, double *rate) {
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
  meter_start(&m, s);
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
