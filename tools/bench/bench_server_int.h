/* bench_server_int.h — what the files of `mentorlog-bench server` share:
 * bench_server.c (the server, helpers, the peer, the command),
 * bench_server_lb.c (more instances on one PostgreSQL store, HAProxy in front),
 * bench_server_push.c (simulated devices and the push phases),
 * bench_server_tls.c (raw TLS connections, handshake and idle phases);
 * and bench_sync.c, which runs the same server and peer. */
#ifndef ML_BENCH_SERVER_INT_H
#define ML_BENCH_SERVER_INT_H

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
#define BS_MAX_INSTANCES 8             /* --instances */

extern volatile sig_atomic_t g_stop;

/* An instance after the first (bench_server_lb.c): its own copy of the
 * first one's key, log name and certificate, the same store. */
typedef struct instance {
  char data[160];
  char log[160];
  pid_t pid;
  uint16_t port;
} instance;

typedef struct server {
  char root[128];   /* temporary directory: data/ and server.log (the first
                     * instance), data-N/ and server-N.log (the others),
                     * haproxy.cfg, .pid, .log, .sock */
  char data[160];   /* the first instance's (admin runs with it) */
  char log[160];
  pid_t pid;        /* the first instance */
  uint16_t port;    /* where the devices connect: HAProxy's when it is in
                     * front, else the first instance's */
  char fingerprint[MLPROTO_TLS_FINGERPRINT_HEX_LEN];
  const char *bin;
  const char *store; /* --store URI of serve and admin; NULL: the data directory's SQLite */
  /* set before bs_server_start (zero: one instance, no HAProxy) */
  unsigned instances;      /* 1..BS_MAX_INSTANCES; more than 1 needs a PostgreSQL store */
  int haproxy;             /* HAProxy in front (implied by instances > 1) */
  const char *haproxy_bin; /* NULL: haproxy on PATH, else /usr/sbin/haproxy */
  /* filled in by bs_server_start */
  uint16_t port0;          /* the first instance's own port */
  unsigned n_more;         /* instances started after the first */
  instance more[BS_MAX_INSTANCES - 1];
  pid_t lb_pid;            /* HAProxy, 0: none */
  uint16_t lb_port;
} server;

/* The start line of a push phase: threads wait until it opens, so that
 * connection warm-up is not in the figure and all devices start together. */
typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int open;
} gate;

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

/* The servers' push time counters (summed over the instances' /metrics;
 * ok 0: a scrape failed). */
typedef struct push_meters {
  double pushes, push_s, store_s, lock_s;
  int ok;
} push_meters;

/* Wall time, server (every instance), HAProxy and bench CPU, the
 * machine's busy share, and the servers' push counters of a phase. */
typedef struct meter {
  const server *s;
  double t0, srv0, lb0, cli0, busy0, total0;
  double wall, srv_cpu, lb_cpu, cli_cpu, busy; /* busy < 0: unknown; lb_cpu < 0: no HAProxy */
  push_meters pm0, pm1;
} meter;

typedef struct push_figures {
  size_t records, bytes;
  double *lat; /* seconds per acknowledged batch; sorted here */
  size_t nlat;
  unsigned throttled; /* 429 answers */
  long resent;        /* SEQ_GAP answers of a pipelined push; -1: not one */
} push_figures;

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

typedef struct healthz {
  ml_netclient *nc;
  volatile int done;
  double *lat;
  size_t n;
  int failed;
} healthz;

typedef struct opts {
  const char *server_bin, *peer_script;
  double records, batch, seconds, idle_conns, workers, instances;
  int no_peer, haproxy;
  const char *store, *haproxy_bin;
} opts;

/* What the peer (../shared/bench/peer-pouchdb/run.sh) measured; 0: absent. */
typedef struct bs_peer_figures {
  double push, pull;           /* docs/s */
  double incr_push_ms, incr_pull_ms, noop_ms; /* latencies of 100 new docs, of nothing new */
} bs_peer_figures;

/* bench_server.c (also used by bench_sync.c: the server process, the admin
 * command, the HTTPS client, the peer) */
extern const char *bs_who;     /* "server" or "sync": the prefix of messages */
void bs_on_signal(int sig);    /* SIGINT/SIGTERM handler: sets g_stop */
void bs_print_loadavg(const char *when);
int bs_run_capture(const char *const *argv, char *out, size_t cap, int timeout_ms);
/* Starts `serve` on 127.0.0.1:0 in a new temporary directory and waits for
 * it (port and certificate fingerprint filled in); with s->instances > 1 or
 * s->haproxy also the other instances and HAProxy (bench_server_lb.c), and
 * port is then HAProxy's. bs_server_stop stops HAProxy, then every instance
 * (SIGTERM, then SIGKILL after 30 s), and removes the directory: 0 clean.
 * Safe on a half-started server, and on every exit path. */
int bs_server_start(server *s, unsigned max_conns, unsigned workers);
int bs_server_stop(server *s);
/* Starts one `serve` with data directory `data`, stdout and stderr to
 * `log`, and waits for its DATA/serve.addr: *pid and *port. -1 printed. */
int bs_serve_spawn(const server *s, const char *data, const char *log, unsigned max_conns,
                   unsigned workers, pid_t *pid, uint16_t *port);
/* Signal sig, then up to grace_s for it to exit, then SIGKILL; *pid 0
 * after. The exit status (0 clean), or -1 when it had to be killed or died
 * of a signal. */
int bs_child_stop(pid_t *pid, int sig, double grace_s);
/* The instances' pids and data directories, the first one first: how many. */
size_t bs_instances(const server *s, pid_t *pids, const char **data);
/* CPU seconds (utime + stime) and VmRSS KiB summed over every instance, or -1. */
double bs_server_cpu_s(const server *s);
long bs_server_rss_kib(const server *s);
/* The build tree's mentorlog-server beside this executable (malloc'd), or NULL. */
char *bs_default_server_bin(void);
int bs_peer_phase(const char *script, size_t records, bs_peer_figures *f);
void bs_sleep_ns(long ns);
int bs_cmp_double(const void *a, const void *b);
double bs_pct(const double *v, size_t n, double p);
double bs_thread_cpu_s(void);
int bs_read_text(const char *path, char *buf, size_t cap);
long bs_rss_kib(pid_t pid);
double bs_proc_cpu_s(pid_t pid);
int bs_admin(server *s, char *out, const char *a1, const char *a2, const char *a3);
int bs_client_open(ml_netclient **nc, const server *s);
/* The value of an unlabelled sample of the server's /metrics, read in plain
 * HTTP from its metrics listener (DATA/metrics.addr) and summed over every
 * instance, or -1 (a scrape failed, or an instance lacks it). */
double bs_metric(const server *s, const char *name);
/* The same for n samples at once, one scrape per instance: 0, or -1. */
int bs_metrics(const server *s, const char *const *names, double *vals, size_t n);
int bs_call(ml_netclient *nc, const char *method, const char *path, const char *token, const uint8_t *body, size_t len, ml_netclient_response *r);

/* bench_server_push.c */
void bs_device_free(device *d);
int bs_device_up(device *d, server *s, int idx);
int bs_device_build(device *d, size_t records, size_t batch);
int bs_pipeline_phase(const char *name, device *d, const server *s, double *rate);
int bs_push_phase(const char *name, const server *s, device *devs, size_t n, healthz *h, double *rate);

/* bench_server_lb.c (called by bs_server_start / bs_server_stop) */
/* The other instances on the first one's store, then HAProxy in front of
 * all (TCP mode, round robin, health checks: HTTPS GET /healthz), waited
 * for until every instance is UP in it and a request through it is
 * answered; s->port becomes HAProxy's. 0, or -1 printed. */
/* Starts argv (argv[0] a path) with stdin from /dev/null and stdout and
 * stderr into the file log (made 0600), killed when the bench dies; its
 * pid, or -1. */
pid_t bs_spawn_logged(const char *const *argv, const char *log);
int bs_lb_start(server *s, unsigned max_conns, unsigned workers);
/* Stops HAProxy, then the other instances: 0 clean, -1 one had to be killed. */
int bs_lb_stop(server *s);

/* bench_server_tls.c */
int bs_tls_config(mlproto_tls_config **cfg, const server *s);
int bs_handshake_phase(server *s, const mlproto_tls_config *cfg, double seconds);
int bs_idle_phase(server *s, const mlproto_tls_config *cfg, size_t want);

#endif
