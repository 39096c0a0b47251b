/* The sync engine's actions carried over tools/netclient (sync_drive.h). */
#include "sync_drive.h"

#include "cli.h"
#include "mlproto/errors.h"
#include "transport.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

/* ----------------------------------------------------------- connect */

/* The CA file (ml_ca_read), or an exit status (printed). */
static int read_ca(const char *what, const char *path, char **out, size_t *len) {
  int err = ml_ca_read(path, out, len);
  if (!err)
    return 0;
  if (err == MLPROTO_ERR_IO)
    fprintf(stderr, "%s: %s: cannot read the CA file '%s': %s\n", prog, what, path, strerror(errno));
  else
    fprintf(stderr, "%s: %s: the CA file '%s' %s\n", prog, what, path,
            err == MLPROTO_ERR_OUT_OF_MEMORY ? "does not fit in memory"
            : err == MLPROTO_ERR_FIELD_MISSING ? "is empty or unreadable"
                                               : "is too large for a PEM file");
  return err == MLPROTO_ERR_OUT_OF_MEMORY ? EXIT_INTERNAL : EXIT_USER;
}

int sync_connect(const char *what, const char *url, const char *pin, ml_netclient **out) {
  *out = NULL;
  char host[256];
  uint16_t port;
  const char *why;
  if (ml_parse_url(url, host, sizeof host, &port, NULL, 0, &why) != 0) {
    fprintf(stderr, "%s: %s: the server URL '%s' is not usable: %s\n", prog, what, url, why);
    return EXIT_USER;
  }
  ml_netclient_options o = ML_NETCLIENT_OPTIONS_INIT;
  o.host = host;
  o.port = port;
  char *ca = NULL;
  int rc;
  if (strncmp(pin, "sha256:", 7) == 0) {
    o.pin_sha256 = pin + 7;
    o.tls_hostname = ML_SERVER_TLS_NAME;
  } else if (strncmp(pin, "ca:", 3) == 0) {
    if ((rc = read_ca(what, pin + 3, &ca, &o.ca_pem_len)))
      return rc;
    o.ca_pem = ca;
  } else {
    fprintf(stderr, "%s: %s: the profile keeps no usable server pin ('%s'): enrol again\n", prog, what, pin);
    return EXIT_USER;
  }
  int err = ml_netclient_open(out, &o);
  free(ca);
  if (err) {
    fprintf(stderr, "%s: %s: %s: %s (%s)\n", prog, what,
            err == MLPROTO_ERR_TLS_CERT ? "the CA file holds no certificate that parses" : "cannot set up TLS",
            mentorlog_strerror(err), mentorlog_errname(err));
    return err == MLPROTO_ERR_OUT_OF_MEMORY ? EXIT_INTERNAL : EXIT_USER;
  }
  return 0;
}

/* -------------------------------------------------------------- drive */

const char *sync_net_reason(int err) {
  switch (err) {
  case MLPROTO_ERR_IO:
    return "connection refused, reset or closed";
  case MLPROTO_ERR_REQUEST_TIMEOUT:
    return "no answer in time";
  case MLPROTO_ERR_TLS_CLOSED:
    return "the connection was closed";
  case MLPROTO_ERR_TLS_PIN:
    return "the server's certificate does not match the pinned fingerprint";
  case MLPROTO_ERR_TLS_CERT:
    return "the server's certificate is not trusted (not signed by the CA kept at enrolment, or not issued"
           " for the name checked)";
  default:
    return mentorlog_strerror(err);
  }
}

struct drive {
  bool progress;
  bool shown;                 /* a progress line is on the screen */
  mentorlog_sync_progress p;  /* the engine's counts, as of the last refresh */
};

/* The engine's counts into d->p: only between requests, since the action's
 * pointers (in use by the transport) last until the next call on s. */
static void refresh(struct drive *d, mentorlog_sync *s) {
  d->p = (mentorlog_sync_progress)MENTORLOG_SYNC_PROGRESS_INIT;
  mentorlog_sync_get_progress(s, &d->p);
}

static void progress_line(struct drive *d, const char *extra) {
  if (!d->progress)
    return;
  const mentorlog_sync_progress p = d->p;
  fprintf(stderr, "\r\033[Ksync: %s  pushed %llu, %llu to push  pulled %llu (%llu new)  log %llu%s%s",
          p.phase ? p.phase : "", (unsigned long long)p.pushed, (unsigned long long)p.to_push,
          (unsigned long long)p.pulled, (unsigned long long)p.applied, (unsigned long long)p.log_size,
          extra ? "  " : "", extra ? extra : "");
  fflush(stderr);
  d->shown = true;
}

/* The transport's retries, on the progress line. */
static void on_retry(void *ctx, const ml_transport_retry *r) {
  struct drive *d = ctx;
  char why[160];
  if (r->status)
    snprintf(why, sizeof why, "server busy (%d), retry in %.1f s", r->status, (double)r->wait_ms / 1000);
  else
    snprintf(why, sizeof why, "%s, retry in %.1f s", sync_net_reason(r->error), (double)r->wait_ms / 1000);
  progress_line(d, why);
}

static void sleep_until(int64_t until_ms) {
  for (int64_t left; (left = until_ms - now_ms()) > 0;) {
    if (left > 1000)
      left = 1000; /* the wall clock may be set meanwhile: look again each second */
    struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* Errors of the transport that say the server is not the one pinned (or TLS
 * cannot be agreed on): asking again cannot help. */
static bool never_retry(int err) {
  return err == MLPROTO_ERR_TLS_PIN || err == MLPROTO_ERR_TLS_CERT || err == MLPROTO_ERR_TLS;
}

void sync_drive(mentorlog_sync *s, ml_netclient *c, bool progress, struct sync_outcome *out) {
  memset(out, 0, sizeof *out);
  struct drive d = {progress, false, MENTORLOG_SYNC_PROGRESS_INIT};
  ml_transport_options to = ML_TRANSPORT_OPTIONS_INIT;
  to.on_retry = on_retry;
  to.ctx = &d;
  mlproto_http_header *hdrs = NULL;
  size_t hdrs_cap = 0;
  for (;;) {
    refresh(&d, s); /* before step: the action's pointers stay valid until the next call on s */
    mentorlog_sync_action a;
    memset(&a, 0, sizeof a);
    mentorlog_sync_step(s, now_ms(), &a);
    if (a.kind == MENTORLOG_SYNC_DONE || a.kind == MENTORLOG_SYNC_FAIL) {
      out->error = a.kind == MENTORLOG_SYNC_FAIL ? (a.error ? a.error : MENTORLOG_ERR_INTERNAL) : 0;
      break;
    }
    if (a.kind == MENTORLOG_SYNC_WAIT) {
      progress_line(&d, "waiting");
      sleep_until(a.until_ms);
      continue;
    }
    if (a.kind != MENTORLOG_SYNC_SEND) {
      out->error = MENTORLOG_ERR_INTERNAL;
      break;
    }
    if (a.n_headers > hdrs_cap) {
      mlproto_http_header *n = realloc(hdrs, a.n_headers * sizeof *n);
      if (!n) {
        out->error = MENTORLOG_ERR_OUT_OF_MEMORY;
        break;
      }
      hdrs = n;
      hdrs_cap = a.n_headers;
    }
    for (size_t i = 0; i < a.n_headers; i++)
      hdrs[i] = (mlproto_http_header){a.headers[i].name, a.headers[i].value};
    ml_netclient_response resp;
    ml_transport_report rep;
    memset(&rep, 0, sizeof rep);
    int err = ml_transport_request(c, &to, a.method, a.path, hdrs, a.n_headers, a.body, a.body_len, &resp, &rep);
    if (err == MLPROTO_OK) {
      mentorlog_sync_header rh[2];
      size_t nrh = 0;
      if (resp.content_type)
        rh[nrh++] = (mentorlog_sync_header){"Content-Type", resp.content_type};
      if (resp.retry_after)
        rh[nrh++] = (mentorlog_sync_header){"Retry-After", resp.retry_after};
      out->last_status = resp.status;
      out->last_net_error = 0;
      (void)mentorlog_sync_deliver(s, a.request_id, resp.status, rh, nrh, resp.body, resp.body_len, now_ms());
      ml_netclient_response_free(&resp);
    } else if (never_retry(err)) {
      out->net_error = err;
      out->error = -1;
      break;
    } else {
      out->last_status = 0;
      out->last_net_error = err;
      (void)mentorlog_sync_deliver(s, a.request_id, 0, NULL, 0, NULL, 0, now_ms());
    }
    if (d.progress) {
      refresh(&d, s);
      progress_line(&d, NULL);
    }
  }
  free(hdrs);
  refresh(&d, s);
  out->progress = d.p;
  if (d.shown) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
}
