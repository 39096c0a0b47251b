/*
 * test_cluster.c — three REAL mentorlog-server instances on one PostgreSQL
 * store, behind a REAL load balancer (HAProxy, TCP mode: TLS passes through
 * to the instances, which share one data directory's key, log name and
 * certificate), and devices that sync through it with the real sync engine
 * and the CLI's transport (sync_net.h).
 *
 * concurrent_pushes: 8 devices (forked processes, one mentor each) write
 *   and sync at once, round-robined over the instances. Then:
 *   every record exactly once (per device: rows = highest seq = the
 *   receipts the device keeps; no record id twice), the leaves contiguous
 *   (count = highest index + 1), receipt times never decreasing along the
 *   log, one checkpoint per size (the table's key) and every stored
 *   checkpoint the root of a prefix of the one tree the leaves make (so
 *   each is consistent with every other), and `mentorlog-audit verify` of
 *   the exported log passes.
 *
 * kill_instances: the same while instances are SIGKILLed 50 times at random
 *   moments (each restarted at once), and PostgreSQL is stopped with
 *   `pg_ctl stop -m immediate` and restarted once: the devices carry on
 *   through the others and retry; at the end nothing acknowledged is lost
 *   (the devices check the inclusion of every receipt they keep) and
 *   nothing is twice.
 *
 * Needs ML_TEST_PG_FILE (the `postgresql` ctest fixture: a libpq conninfo;
 * test_store.h) and haproxy on PATH (scripts/setup installs it). Each test
 * runs in its own PostgreSQL schema, which the three instances share.
 *   ML_SYNC_SEED   seed of the kill schedule (default fixed)
 */
#include "sync_net.h"
#include "sync_state.h"

#include "mlproto/checkpoint.h"
#include "mlproto/crypto.h"
#include "mlproto/merkle.h"
#include "mlproto/util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define INSTANCES 3
#define DEVICES 8
#define ROUNDS 6
#define PER_ROUND 25
#define KILLS 50
#define DEFAULT_SEED 11
#define LOG_NAME "mentorlog.test/cluster"
#define LB_ADDR "127.0.0.9" /* HAProxy's source address towards the instances */

typedef struct cluster {
  char conninfo[TEST_STORE_URI_CAP]; /* the store's libpq conninfo (its own schema) */
  char listen[INSTANCES][32];
  const char *extra[INSTANCES][10];
  ih_server s[INSTANCES];
  ih_server lb;            /* HAProxy's address, the instances' certificate */
  pid_t haproxy;
  char vkey[MLPROTO_NOTE_VKEY_MAX + 8];
} cluster;

static uint8_t g_keys[DEVICES][MENTORLOG_KEY_BYTES];

/* ------------------------------------------------------------ postgres --- */

static PGconn *pg(const cluster *k) {
  PGconn *c = PQconnectdb(k->conninfo);
  if (PQstatus(c) != CONNECTION_OK) fail_msg("PostgreSQL: %s", PQerrorMessage(c));
  return c;
}

static int64_t pg_int(const cluster *k, const char *sql, const uint8_t *blob, int blob_len) {
  PGconn *c = pg(k);
  const char *vals[1] = {(const char *)blob};
  int lens[1] = {blob_len}, fmts[1] = {1};
  PGresult *r = PQexecParams(c, sql, blob ? 1 : 0, NULL, vals, lens, fmts, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
    fail_msg("%s: %s", sql, PQerrorMessage(c));
  int64_t v = PQgetisnull(r, 0, 0) ? -1 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  PQfinish(c);
  return v;
}

/* ----------------------------------------------------------- instances --- */

/* `mentorlog-server admin --data DIR --store URI ARGS...` on instance 0. */
static int cl_admin(cluster *k, char *out, size_t cap, const char *const *args) {
  return ih_admin(&k->s[0], out, cap, args);
}

static void copy_into(const char *from_dir, const char *to_dir, const char *name) {
  char from[700], to[700];
  snprintf(from, sizeof from, "%s/%s", from_dir, name);
  snprintf(to, sizeof to, "%s/%s", to_dir, name);
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  assert_non_null(in);
  assert_non_null(out);
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  assert_int_equal(fclose(out), 0);
  assert_int_equal(chmod(to, 0600), 0);
}

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
  close(fd);
  return ntohs(a.sin_port);
}

static void haproxy_start(cluster *k) {
  char cfg[400];
  snprintf(cfg, sizeof cfg, "%s/haproxy.cfg", k->s[0].root);
  FILE *f = fopen(cfg, "w");
  assert_non_null(f);
  int port = free_port();
  /* TCP mode: TLS ends at the instances (devices pin their certificate).
   * Health checks: HTTPS GET /healthz every 100 ms; a refused connection
   * is retried on another instance (redispatch). Every connection to an
   * instance (health checks too) starts with a PROXY v2 header naming the
   * client, from the balancer's own address LB_ADDR, which the instances
   * trust (--proxy-protocol): so they count each device's address, not
   * HAProxy's, and the test's direct connections (from 127.0.0.1) need no
   * header. */
  fprintf(f,
          "global\n  maxconn 2000\n  ssl-server-verify none\n"
          "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 60s\n"
          "  timeout server 60s\n  retries 3\n  option redispatch\n"
          "frontend devices\n  bind 127.0.0.1:%d\n  default_backend instances\n"
          "backend instances\n  balance roundrobin\n  option httpchk\n  source " LB_ADDR "\n"
          "  http-check send meth GET uri /healthz\n",
          port);
  for (int i = 0; i < INSTANCES; i++)
    fprintf(f, "  server s%d 127.0.0.1:%d send-proxy-v2 check check-ssl check-send-proxy verify none "
               "inter 100ms fall 1 rise 1\n",
            i, k->s[i].port);
  assert_int_equal(fclose(f), 0);
  char logp[400];
  snprintf(logp, sizeof logp, "%s/haproxy.log", k->s[0].root);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execlp("haproxy", "haproxy", "-db", "-f", cfg, (char *)NULL);
    _exit(127);
  }
  k->haproxy = pid;
  k->lb = k->s[0];
  k->lb.port = port;
  k->lb.pid = 0;
  /* ready: it accepts TCP and has marked an instance up (a TLS connection
   * through it completes) */
  for (int t = 0; t < 200; t++) {
    ml_netclient_options o = ML_NETCLIENT_OPTIONS_INIT;
    o.host = "127.0.0.1";
    o.port = (uint16_t)port;
    o.tls_hostname = "mentorlog-server";
    o.pin_sha256 = k->s[0].fingerprint;
    o.timeout_ms = 1000;
    ml_netclient *c = NULL;
    if (ml_netclient_open(&c, &o) == MLPROTO_OK) {
      ml_netclient_response r;
      int ok = ml_netclient_request(c, "GET", "/healthz", NULL, 0, NULL, 0, &r) == MLPROTO_OK &&
               r.status == 200;
      if (ok) ml_netclient_response_free(&r);
      ml_netclient_close(c);
      if (ok) return;
    }
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) fail_msg("haproxy exited; see %s", logp);
    ih_sleep_ms(50);
  }
  fail_msg("haproxy did not become ready; see %s", logp);
}

static void cluster_up(cluster *k) {
  memset(k, 0, sizeof *k);
  if (!test_store_is_pg()) fail_msg("ML_TEST_PG_FILE is not set: this test runs with the postgresql fixture");
  /* fixed ports: an instance restarted after a kill comes back where
   * HAProxy looks for it */
  for (int i = 0; i < INSTANCES; i++) {
    snprintf(k->listen[i], sizeof k->listen[i], "127.0.0.1:%d", free_port());
    const char *e[] = {"--log-name", LOG_NAME, "--workers", "2", "--listen", k->listen[i],
                       "--proxy-protocol", LB_ADDR, NULL};
    memcpy(k->extra[i], e, sizeof e);
  }
  ih_start(&k->s[0], k->extra[0]); /* makes the schema and the log */
  assert_int_equal(strncmp(k->s[0].store, "postgresql:", 11), 0);
  snprintf(k->conninfo, sizeof k->conninfo, "%s", k->s[0].store + 11);
  for (int i = 1; i < INSTANCES; i++) {
    assert_int_equal(ih_server_init(&k->s[i], k->extra[i]), 0);
    /* one store: instance 0's (the harness gave this one a schema of its own) */
    assert_int_equal(test_store_drop(k->s[i].store), 0);
    snprintf(k->s[i].store, sizeof k->s[i].store, "%s", k->s[0].store);
    char tls[400];
    snprintf(tls, sizeof tls, "%s/tls", k->s[i].data);
    assert_int_equal(mkdir(tls, 0700), 0);
    copy_into(k->s[0].data, k->s[i].data, "server.key");
    copy_into(k->s[0].data, k->s[i].data, "log.name");
    copy_into(k->s[0].data, k->s[i].data, "tls/cert.pem");
    copy_into(k->s[0].data, k->s[i].data, "tls/key.pem");
    assert_int_equal(ih_server_start(&k->s[i]), 0);
    assert_string_equal(k->s[i].fingerprint, k->s[0].fingerprint);
  }
  haproxy_start(k);
  const char *lk[] = {"log-key", NULL};
  assert_int_equal(cl_admin(k, k->vkey, sizeof k->vkey, lk), 0);
}

static void cluster_down(cluster *k) {
  if (k->haproxy > 0) {
    kill(k->haproxy, SIGTERM);
    waitpid(k->haproxy, NULL, 0);
    k->haproxy = 0;
  }
  /* all stopped before the shared store is dropped */
  for (int i = INSTANCES - 1; i >= 0; i--) assert_int_equal(ih_server_stop(&k->s[i]), 0);
  for (int i = INSTANCES - 1; i >= 0; i--) ih_server_cleanup(&k->s[i]);
}

/* ------------------------------------------------------------- devices --- */

/* Enrols a fresh device of a new mentor through the load balancer. */
static void device_up(cluster *k, sn_dev *d, int i, uint8_t pub[32]) {
  char name[16], mentor[40], code[64], url[128], pin[80];
  snprintf(name, sizeof name, "dev%d", i);
  const char *ma[] = {"mentor", "add", name, NULL};
  assert_int_equal(cl_admin(k, mentor, sizeof mentor, ma), 0);
  randombytes_buf(g_keys[i], sizeof g_keys[i]);
  sn_dev_create(d, k->s[0].root, name, g_keys[i]);
  const char *ca[] = {"enroll-code", mentor, NULL};
  assert_int_equal(cl_admin(k, code, sizeof code, ca), 0);
  snprintf(url, sizeof url, "https://127.0.0.1:%d", k->lb.port);
  snprintf(pin, sizeof pin, "sha256:%s", k->lb.fingerprint);
  d->c = sn_client_for(url, pin);
  assert_non_null(d->c);
  mentorlog_sync_options o = MENTORLOG_SYNC_OPTIONS_INIT;
  o.enroll_code = code;
  o.label = "phone";
  o.server_url = url;
  o.server_pin = pin;
  if (sn_run(d, &o, 0)) fail_msg("enrolment through the load balancer: %s", sn_describe(d));
  mentorlog_device_id(d->h, pub);
  sn_dev_close(d);
}

/* A child: ROUNDS times (and on until g_stop exists), write PER_ROUND notes and sync until DONE (a sync
 * that fails because an instance or the database died is run again, for
 * up to 120 s). Exit 0, or 2 with the reason on stderr. */
static char g_stop[400]; /* the children stop after ROUNDS rounds once it exists */

static int stop_asked(void) { return access(g_stop, F_OK) == 0; }

static void device_child(const char *dir, int i) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  sn_dev d;
  memset(&d, 0, sizeof d);
  snprintf(d.name, sizeof d.name, "dev%d", i);
  mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
  o.key = g_keys[i];
  if (mentorlog_open(&d.h, dir, &o)) _exit(2);
  uint8_t c[16];
  if (mentorlog_case_open(d.h, c, "Emil Sørensen", NULL)) _exit(2);
  for (int r = 0; r < ROUNDS || !stop_asked(); r++) {
    if (mentorlog_batch_begin(d.h)) _exit(2);
    for (int n = 0; n < PER_ROUND; n++) {
      char t[64];
      snprintf(t, sizeof t, "Round %d, note %d.", r, n);
      if (mentorlog_note_add(d.h, NULL, c, t, strlen(t))) _exit(2);
    }
    if (mentorlog_batch_commit(d.h)) _exit(2);
    int64_t until = sn_wall_ms() + 120000;
    for (;;) {
      if (!d.c) {
        mentorlog_sync_info s;
        memset(&s, 0, sizeof s);
        s.version = MENTORLOG_SYNC_INFO_VERSION;
        if (mentorlog_sync_status(d.h, &s)) _exit(2);
        d.c = sn_client_for(s.server_url, s.server_pin);
      }
      if (d.c && sn_run(&d, NULL, 60000) == 0) break;
      /* SERVER_LIED would be a lost acknowledged record: never retried */
      if (d.result == MENTORLOG_ERR_SERVER_LIED || sn_wall_ms() > until) {
        fprintf(stderr, "%s\n", sn_describe(&d));
        _exit(2);
      }
      ml_netclient_close(d.c);
      d.c = NULL;
      ih_sleep_ms(100);
    }
  }
  ml_netclient_close(d.c);
  mentorlog_close(d.h);
  _exit(0);
}

typedef struct fleet {
  sn_dev d[DEVICES];
  uint8_t pub[DEVICES][32];
  pid_t pid[DEVICES];
} fleet;

static void fleet_up(cluster *k, fleet *f) {
  for (int i = 0; i < DEVICES; i++) device_up(k, &f->d[i], i, f->pub[i]);
}

/* stop_now: the children write ROUNDS rounds only; else until fleet_stop. */
static void fleet_start(cluster *k, fleet *f, int stop_now) {
  snprintf(g_stop, sizeof g_stop, "%s/stop", k->s[0].root);
  if (stop_now) {
    FILE *s = fopen(g_stop, "w");
    assert_non_null(s);
    fclose(s);
  } else {
    (void)unlink(g_stop);
  }
  fflush(stdout);
  fflush(stderr);
  for (int i = 0; i < DEVICES; i++) {
    f->pid[i] = fork();
    assert_true(f->pid[i] >= 0);
    if (f->pid[i] == 0) device_child(f->d[i].dir, i);
  }
}

/* 1 while any device child still runs. */
static int fleet_running(fleet *f) {
  int any = 0;
  for (int i = 0; i < DEVICES; i++) {
    if (!f->pid[i]) continue;
    int st;
    pid_t p = waitpid(f->pid[i], &st, WNOHANG);
    if (p == 0) {
      any = 1;
      continue;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("device %d failed (status %d)", i, st);
    f->pid[i] = 0;
  }
  return any;
}

static void fleet_wait(fleet *f) {
  FILE *s = fopen(g_stop, "w");
  assert_non_null(s);
  fclose(s);
  while (fleet_running(f)) ih_sleep_ms(20);
}

/* ------------------------------------------------------------- checks --- */

/* Every stored checkpoint is signed by the log and is the root of the first
 * `size` leaves of the log's rows: one tree, so all are consistent. */
static void check_checkpoints(cluster *k, int64_t n_leaves) {
  mlproto_note_verifier v;
  assert_int_equal(mlproto_note_vkey_parse(&v, k->vkey, strlen(k->vkey)), MLPROTO_OK);
  PGconn *c = pg(k);
  PGresult *leaves = PQexecParams(c, "SELECT type::bigint, received_ms::bigint, record_hash FROM log ORDER BY idx",
                                  0, NULL, NULL, NULL, NULL, 1);
  PGresult *cps = PQexecParams(c, "SELECT size::bigint, note FROM checkpoints ORDER BY size", 0, NULL,
                               NULL, NULL, NULL, 1);
  if (PQresultStatus(leaves) != PGRES_TUPLES_OK || PQresultStatus(cps) != PGRES_TUPLES_OK)
    fail_msg("reading the log: %s", PQerrorMessage(c));
  assert_int_equal(PQntuples(leaves), n_leaves);
  int n_cp = PQntuples(cps);
  assert_true(n_cp > DEVICES * ROUNDS / 2);
  mlproto_merkle_compact tree;
  mlproto_merkle_compact_init(&tree);
  int row = 0;
  uint64_t prev = 0;
  for (int j = 0; j < n_cp; j++) {
    uint64_t size = mlproto_get_u64be((const uint8_t *)PQgetvalue(cps, j, 0));
    assert_true(j == 0 || size > prev); /* one per size */
    prev = size;
    for (; (uint64_t)row < size; row++) {
      mlproto_log_entry e = {
          .type = (mlproto_log_entry_type)mlproto_get_u64be((const uint8_t *)PQgetvalue(leaves, row, 0)),
          .received_at_ms = mlproto_get_u64be((const uint8_t *)PQgetvalue(leaves, row, 1))};
      assert_int_equal(PQgetlength(leaves, row, 2), 32);
      memcpy(e.record_hash, PQgetvalue(leaves, row, 2), 32);
      uint8_t entry[MLPROTO_LOG_ENTRY_BYTES], leaf[32];
      assert_int_equal(mlproto_log_entry_encode(entry, &e), MLPROTO_OK);
      mlproto_merkle_leaf_hash(leaf, entry, sizeof entry);
      assert_int_equal(mlproto_merkle_compact_append(&tree, leaf, NULL, NULL), MLPROTO_OK);
    }
    /* the stored head is what sth_put got: mlproto_sth_encode's form */
    mlproto_sth cp;
    if (mlproto_sth_decode(&cp, (const uint8_t *)PQgetvalue(cps, j, 1),
                           (size_t)PQgetlength(cps, j, 1)) != MLPROTO_OK ||
        mlproto_sth_verify(&cp, v.pk) != MLPROTO_OK)
      fail_msg("checkpoint of size %llu does not verify", (unsigned long long)size);
    assert_int_equal(cp.size, size);
    uint8_t root[32];
    mlproto_merkle_compact_root(&tree, root);
    if (memcmp(root, cp.root, 32) != 0)
      fail_msg("checkpoint of size %llu: not the root of the log's first %llu leaves",
               (unsigned long long)size, (unsigned long long)size);
  }
  print_message("%d checkpoints, sizes 1..%llu, each the root of a prefix of the one tree\n", n_cp,
                (unsigned long long)prev);
  PQclear(leaves);
  PQclear(cps);
  PQfinish(c);
}

static void check_log(cluster *k, fleet *f) {
  int64_t rows = pg_int(k, "SELECT count(*) FROM log", NULL, 0);
  int64_t top = pg_int(k, "SELECT max(idx) + 1 FROM log", NULL, 0);
  assert_int_equal(rows, top); /* idx is the key: 0..rows-1, no gap */
  assert_int_equal(pg_int(k, "SELECT size FROM log_head", NULL, 0), rows);
  assert_int_equal(pg_int(k, "SELECT count(*) FROM (SELECT received_ms < lag(received_ms) OVER "
                             "(ORDER BY idx) AS back FROM log) t WHERE back", NULL, 0), 0);
  assert_int_equal(pg_int(k, "SELECT count(*) - count(DISTINCT record_id) FROM log WHERE type = 1",
                          NULL, 0), 0);
  for (int i = 0; i < DEVICES; i++) {
    mentorlog_open_options o = MENTORLOG_OPEN_OPTIONS_INIT;
    o.key = g_keys[i];
    assert_int_equal(mentorlog_open(&f->d[i].h, f->d[i].dir, &o), 0);
    sn_sync_ok(&f->d[i]); /* one more: verifies every receipt's inclusion */
    assert_int_equal(mentorlog_verify(f->d[i].h), 0);
    mentorlog_sync_info s = sn_status(&f->d[i]);
    assert_int_equal(s.unsent, 0);
    int64_t n = pg_int(k, "SELECT count(*) FROM log WHERE author = $1", f->pub[i], 32);
    int64_t seq = pg_int(k, "SELECT max(seq) FROM log WHERE author = $1", f->pub[i], 32);
    assert_int_equal(n, seq);
    assert_int_equal((int64_t)s.receipts, n);
    assert_true(n >= ROUNDS * PER_ROUND + 1);
    sn_dev_close(&f->d[i]);
  }
  check_checkpoints(k, rows);
  /* the auditor's view: the exported log verifies */
  char file[400], out[4096];
  snprintf(file, sizeof file, "%s/log.mlaudit", k->s[0].root);
  const char *ex[] = {"export-log", "--out", file, NULL};
  assert_int_equal(cl_admin(k, out, sizeof out, ex), 0);
  const char *ve[] = {ML_AUDIT_BIN, "verify", file, "--log-key", k->vkey, NULL};
  if (ih_run(out, sizeof out, 120000, ve) != 0) fail_msg("mentorlog-audit verify: %s", out);
  print_message("log: %lld leaves, contiguous, receipt times non-decreasing; audit verify: ok\n",
                (long long)rows);
}

/* -------------------------------------------------------------- tests --- */

/* A TLS session begun at instance `from` (a direct connection: no PROXY
 * header from 127.0.0.1), its ticket absorbed; then one to instance `to`
 * offering it: whether `to` resumed it. The instances share the store's
 * ticket secret (app.h MLS_TLS_TICKET_META), so any of them resumes a
 * session another began, whichever one the balancer picks. */
static int resumed_at(cluster *k, int from, int to) {
  static const char q[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  static uint8_t buf[8192];
  size_t got;
  ih_raw r = {0};
  assert_int_equal(ih_raw_connect(&k->s[from], &r, 0, 10000), 0);
  assert_int_equal(ih_raw_send(&r, q, sizeof q - 1, 10000), 0);
  assert_int_equal(ih_raw_recv(&r, buf, sizeof buf, &got, 1, 10000), 1);
  ih_raw_close(&r);
  assert_non_null(r.resume);
  assert_int_equal(ih_raw_connect(&k->s[to], &r, 0, 10000), 0);
  int resumed = mlproto_tls_resumed(r.tls);
  assert_int_equal(ih_raw_send(&r, q, sizeof q - 1, 10000), 0);
  assert_int_equal(ih_raw_recv(&r, buf, sizeof buf, &got, 1, 10000), 1);
  ih_raw_free(&r);
  return resumed;
}

static void concurrent_pushes(void **state) {
  (void)state;
  cluster k;
  cluster_up(&k);
  fleet f;
  fleet_up(&k, &f);
  fleet_start(&k, &f, 1);
  fleet_wait(&f);
  check_log(&k, &f);
  /* every instance took part */
  for (int i = 0; i < INSTANCES; i++) {
    char *log = ih_server_log(&k.s[i]);
    assert_non_null(log);
    if (!strstr(log, "msg=push ")) fail_msg("instance %d served no push", i);
    free(log);
  }
  /* TLS sessions resume across instances */
  for (int i = 0; i < INSTANCES; i++)
    if (!resumed_at(&k, i, (i + 1) % INSTANCES))
      fail_msg("a session of instance %d did not resume at instance %d", i, (i + 1) % INSTANCES);
  cluster_down(&k);
}

static void kill_instances(void **state) {
  (void)state;
  uint64_t seed = sd_env_u64("ML_SYNC_SEED", DEFAULT_SEED);
  sd_rng rng = {seed};
  cluster k;
  cluster_up(&k);
  fleet f;
  fleet_up(&k, &f);
  fleet_start(&k, &f, 0);
  unsigned kills = 0;
  int pg_restarted = 0;
  const char *pg_ctl = getenv("ML_TEST_PG_CTL"); /* the fixture's: "CMD stop|start" */
  while (kills < KILLS) {
    ih_sleep_ms(20 + sd_below(&rng, 120));
    int i = (int)sd_below(&rng, INSTANCES);
    ih_server_kill(&k.s[i]);
    kills++;
    if (kills == KILLS / 2 && pg_ctl && *pg_ctl) {
      char cmd[600];
      snprintf(cmd, sizeof cmd, "%s stop-immediate && %s start", pg_ctl, pg_ctl);
      if (system(cmd) != 0) fail_msg("restarting PostgreSQL failed: %s", cmd);
      pg_restarted = 1;
    }
    if (ih_server_start(&k.s[i]) != 0) fail_msg("instance %d did not restart after kill %u", i, kills);
    if (!fleet_running(&f)) fail_msg("the devices stopped before the kills ended");
  }
  fleet_wait(&f);
  print_message("%u kills of instances (seed %" PRIu64 "), PostgreSQL restarted: %s\n", kills, seed,
                pg_restarted ? "yes" : "no (ML_TEST_PG_CTL unset)");
  if (!pg_restarted) fail_msg("ML_TEST_PG_CTL is not set: PostgreSQL was not restarted");
  check_log(&k, &f);
  cluster_down(&k);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  (void)sn_enroll; /* sync_net.h: this test enrols through the load balancer */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(concurrent_pushes, ih_teardown),
      cmocka_unit_test_teardown(kill_instances, ih_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
