/* mentorlog enroll, sync, status: this device and the sync server
 * (mentorlog/sync.h; the requests go over sync_drive.c). */
#include "cli.h"
#include "subcommands.h"
#include "sync_drive.h"

#include "mentorlog/sync.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

/* ------------------------------------------------------------ shared */

/* The records in the outbox (0 when the status cannot be read). */
static uint64_t unsent(mentorlog *h) {
  mentorlog_sync_info info = {.version = MENTORLOG_SYNC_INFO_VERSION};
  return mentorlog_sync_status(h, &info) == 0 ? info.unsent : 0;
}

/* The one line saying why a run (enroll or sync) did not end in DONE.
 * detail: the engine's mentorlog_sync_errmsg (copied before the engine was
 * freed). Returns the exit status. */
static int report_failure(mentorlog *h, const char *what, const char *url, const struct sync_outcome *o,
                          const char *detail) {
  unsigned long long n = (unsigned long long)unsent(h);
  const char *rec = n == 1 ? "record waits" : "records wait";
  if (o->net_error == MENTORLOG_ERR_TLS_PIN) {
    fprintf(stderr,
            "%s: %s: the server at %s presented a certificate that does not match the pinned fingerprint"
            " (TLS_PIN): not retried, nothing was sent to it; nothing was lost, %llu %s in the outbox\n",
            prog, what, url, n, rec);
    return EXIT_USER;
  }
  if (o->net_error) {
    fprintf(stderr, "%s: %s: TLS with the server at %s failed: %s (%s): not retried; nothing was lost, %llu %s in"
                    " the outbox\n",
            prog, what, url, sync_net_reason(o->net_error), mentorlog_errname(o->net_error), n, rec);
    return EXIT_USER;
  }
  if (o->error == MENTORLOG_ERR_UNREACHABLE) {
    char why[200];
    if (o->last_net_error)
      snprintf(why, sizeof why, "%s (%s)", sync_net_reason(o->last_net_error), mentorlog_errname(o->last_net_error));
    else if (o->last_status)
      snprintf(why, sizeof why, "it answered %d (busy) to every try", o->last_status);
    else
      snprintf(why, sizeof why, "%s", detail && *detail ? detail : "no answer");
    fprintf(stderr, "%s: %s: server unreachable: %s: %s; nothing was lost, %llu %s in the outbox (UNREACHABLE)\n",
            prog, what, url, why, n, rec);
    return EXIT_USER;
  }
  const char *text = detail && *detail ? detail : mentorlog_strerror(o->error);
  bool lied = o->error == MENTORLOG_ERR_SERVER_LIED || o->error == MENTORLOG_ERR_SPLIT_VIEW ||
              o->error == MENTORLOG_ERR_PROOF_INVALID;
  fprintf(stderr, "%s: %s: %s (%s)%s\n", prog, what, text, mentorlog_errname(o->error),
          lied ? "; nothing of that answer was applied" : "");
  return exit_for(o->error);
}

/* One run of the engine on h with so over nc, to DONE or FAIL: the outcome
 * in *o, the engine's detail of a FAIL in detail (cap bytes). Returns 0, or
 * the error of mentorlog_sync_new (nothing ran). */
static int run_engine(mentorlog *h, ml_netclient *nc, const mentorlog_sync_options *so, struct sync_outcome *o,
                      char *detail, size_t cap) {
  mentorlog_sync *s;
  int err = mentorlog_sync_new(h, so, &s);
  if (err)
    return err;
  sync_drive(s, nc, isatty(STDERR_FILENO), o);
  snprintf(detail, cap, "%s", mentorlog_sync_errmsg(s));
  mentorlog_sync_free(s);
  return 0;
}

/* ------------------------------------------------------------ enroll */

static const char usage_enroll[] =
    "Usage: mentorlog enroll URL CODE (--pin SHA256 | --ca FILE) [--label TEXT]\n"
    "\n"
    "Register this device with the sync server at URL (https://HOST:PORT; 443 when\n"
    "no port is given) using the enrolment CODE from the administrator. A code works\n"
    "once and expires (after 24 h unless the administrator chose otherwise): if it\n"
    "was used or has expired, ask for a new one. CODE '-' reads it from standard\n"
    "input instead, which keeps it out of the process list and the shell history.\n"
    "  --pin SHA256   the server certificate's fingerprint, as the administrator\n"
    "                 gives it ('mentorlog-server admin fingerprint': 64 hex digits;\n"
    "                 openssl's colon form is accepted). The certificate must carry\n"
    "                 the name mentorlog-server, as the server's own one does.\n"
    "  --ca FILE      instead: trust the CA certificate(s) in the PEM file FILE (kept\n"
    "                 by its path, read at every sync); the certificate must name HOST.\n"
    "  --label TEXT   a name for this device in device lists (<= 64 bytes; the server\n"
    "                 and the mentor's other devices see it).\n"
    "Then it syncs once (as 'mentorlog sync'), which tells whether this device is\n"
    "approved, and prints this device's id, the mentor's id, its fingerprint and\n"
    "that answer. The mentor's first device is approved; a later one reads nothing\n"
    "until one of the mentor's approved devices has run\n"
    "    mentorlog device approve ID --fingerprint FINGERPRINT\n"
    "(after comparing the fingerprint on both screens) and synced. The URL and the\n"
    "pin are kept in the profile for 'mentorlog sync'. A profile enrols once.\n";

/* The code: argv, or a line of standard input for "-"; blanks dropped. Into
 * out (cap bytes). Returns 0 or an exit status (printed); never echoes it. */
static int read_code(const char *arg, char *out, size_t cap) {
  char line[256];
  const char *src = arg;
  if (strcmp(arg, "-") == 0) {
    if (isatty(STDIN_FILENO))
      fputs("Enrolment code: ", stderr);
    if (!fgets(line, sizeof line, stdin)) {
      fprintf(stderr, "%s: enroll: no code on standard input\n", prog);
      return EXIT_USER;
    }
    src = line;
  }
  size_t n = 0;
  bool bad = false;
  for (const char *p = src; *p; p++) {
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
      continue;
    if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '.' || *p == '_') || n + 1 >= cap)
      bad = true;
    else
      out[n++] = *p;
  }
  out[n] = 0;
  sodium_memzero(line, sizeof line);
  if (bad || n == 0 || n > 64) {
    sodium_memzero(out, cap);
    fprintf(stderr, "%s: enroll: CODE is not an enrolment code (1..64 letters, digits and dashes, as the"
                    " administrator gave it)\n", prog);
    return EXIT_USER;
  }
  return 0;
}

/* The trust given as --pin or --ca, in the profile's form, into out. */
static int enroll_trust(struct opt *opts, char out[MENTORLOG_PIN_MAX + 1]) {
  const char *pin = optv(opts, "pin"), *ca = optv(opts, "ca");
  if (pin) {
    char p[7 + 64 + 1];
    if (ml_parse_pin(pin, p) != 0)
      return bad_opt("pin", pin, "expected the certificate's SHA-256: 64 hex digits (colons allowed)");
    snprintf(out, MENTORLOG_PIN_MAX + 1, "%s", p);
    return 0;
  }
  char abs[PATH_MAX];
  if (!realpath(ca, abs))
    return bad_opt("ca", ca, "no such file");
  size_t len = strlen(abs);
  if (len + 3 > MENTORLOG_PIN_MAX)
    return bad_opt("ca", ca, "the absolute path is too long to keep (at most 252 bytes)");
  memcpy(out, "ca:", 3);
  memcpy(out + 3, abs, len + 1);
  return 0;
}

int cmd_enroll(int argc, char **argv) {
  struct opt opts[] = {{"pin", 0, 0, 0}, {"ca", 0, 0, 0}, {"label", 0, 0, 0}, {0}};
  const char *pos[2];
  int npos, rc;
  if (parse_opts(argc, argv, opts, pos, 2, &npos, usage_enroll, &rc))
    return rc;
  if (npos != 2)
    return usage_error(usage_enroll, "enroll needs URL and CODE");
  if (!optv(opts, "pin") == !optv(opts, "ca"))
    return usage_error(usage_enroll, "enroll needs exactly one of --pin and --ca");
  const char *label = optv(opts, "label");
  if (label && strlen(label) > MENTORLOG_LABEL_MAX)
    return bad_opt("label", label, "at most 64 bytes");
  for (const unsigned char *p = (const unsigned char *)label; p && *p; p++)
    if (*p < 0x20 || *p == 0x7f) { /* not echoed: it would reach the terminal */
      fprintf(stderr, "%s: --label: no control characters (tabs, newlines, escapes) in a label\n", prog);
      return EXIT_USER;
    }
  char host[256], url[MENTORLOG_URL_MAX + 1], pin[MENTORLOG_PIN_MAX + 1];
  uint16_t port;
  const char *why;
  if (ml_parse_url(pos[0], host, sizeof host, &port, url, sizeof url, &why) != 0) {
    fprintf(stderr, "%s: enroll: URL '%s': %s\n", prog, pos[0], why);
    return EXIT_USER;
  }
  if ((rc = enroll_trust(opts, pin)))
    return rc;
  char code[128];
  if ((rc = read_code(pos[1], code, sizeof code)))
    return rc;
  ml_netclient *nc = NULL;
  mentorlog *h = NULL;
  if ((rc = sync_connect("enroll", url, pin, &nc)) || (rc = open_profile(&h, false)))
    goto out;
  mentorlog_sync_options so = MENTORLOG_SYNC_OPTIONS_INIT;
  so.enroll_code = code;
  so.label = label;
  so.server_url = url;
  so.server_pin = pin;
  so.max_attempts = 1; /* the transport has retried already */
  struct sync_outcome o;
  char detail[512];
  int err = run_engine(h, nc, &so, &o, detail, sizeof detail);
  sodium_memzero(code, sizeof code);
  if (err == MENTORLOG_ERR_ALREADY_EXISTS) {
    mentorlog_sync_info info = {.version = MENTORLOG_SYNC_INFO_VERSION};
    char dev[MENTORLOG_ID_HEX + 1] = "?";
    if (mentorlog_sync_status(h, &info) == 0)
      hex(dev, info.device_id);
    fprintf(stderr, "%s: enroll: this profile is enrolled already (device %s with %s): a profile enrols once;"
                    " for another server, use another profile (--profile DIR) (ALREADY_EXISTS)\n",
            prog, dev, info.server_url[0] ? info.server_url : "its server");
    rc = EXIT_USER;
    goto out;
  }
  if (err) {
    rc = fail(h, err, "enroll");
    goto out;
  }
  mentorlog_sync_info info0 = {.version = MENTORLOG_SYNC_INFO_VERSION};
  bool enrolled = mentorlog_sync_status(h, &info0) == 0 && info0.enrolled;
  if (o.error && !enrolled) {
    rc = report_failure(h, "enroll", url, &o, detail);
    goto out;
  }
  /* The engine's enrolment job goes on into a whole sync (the device learns
   * from the log whether it is the mentor's first, approved, device, and
   * sends what it wrote before); when that part failed, once more. */
  bool synced = !o.error;
  if (!synced) {
    so = (mentorlog_sync_options)MENTORLOG_SYNC_OPTIONS_INIT;
    so.max_attempts = 1;
    err = run_engine(h, nc, &so, &o, detail, sizeof detail);
    synced = !err && !o.error;
  }
  if (!synced) {
    fprintf(stderr, "%s: enroll: enrolled, but the first sync failed:\n", prog);
    if (err)
      fail(h, err, "sync");
    else
      report_failure(h, "sync", url, &o, detail);
  }
  mentorlog_sync_info info = {.version = MENTORLOG_SYNC_INFO_VERSION};
  if ((err = mentorlog_sync_status(h, &info))) {
    rc = fail(h, err, "enroll: status");
    goto out;
  }
  char dev[MENTORLOG_ID_HEX + 1], men[MENTORLOG_ID_HEX + 1];
  hex(dev, info.device_id);
  hex(men, info.mentor_id);
  printf("enrolled with %s\ndevice       %s\nmentor       %s\nfingerprint  %s\n", info.server_url, dev, men,
         info.fingerprint);
  if (!synced)
    printf("approved     not known yet: run 'mentorlog sync', then 'mentorlog status'\n");
  else if (info.approved)
    printf("approved     yes: this is the mentor's first device\n");
  else
    printf("approved     no: this device reads no case until one of your approved devices\n"
           "             approves it. There: 'mentorlog sync', then 'mentorlog devices' (compare the\n"
           "             fingerprint of %.12s... with the one above), then\n"
           "                 mentorlog device approve %s --fingerprint %s\n"
           "             and 'mentorlog sync'; then 'mentorlog sync' here.\n",
           dev, dev, info.fingerprint);
  rc = 0;
out:
  sodium_memzero(code, sizeof code);
  mentorlog_close(h);
  ml_netclient_close(nc);
  return rc;
}

/* -------------------------------------------------------------- sync */

static const char usage_sync[] =
    "Usage: mentorlog sync [--json]\n"
    "\n"
    "Push this device's unsent records to the server it enrolled with, then pull\n"
    "what is new, until both are up to date; grants this device's case keys to\n"
    "newly approved devices of the mentor. Every answer of the server is checked\n"
    "(signatures, chains, the log's checkpoints and proofs) before anything of it is\n"
    "stored. Interrupted at any moment (no network, Ctrl-C, a crash), nothing is lost:\n"
    "the next sync goes on from where this one stopped. Busy answers and lost\n"
    "connections are retried for a while; then 'server unreachable' (exit 1). A\n"
    "server whose certificate does not match the pin kept at enrolment is refused\n"
    "at once, never retried (TLS_PIN, exit 1).\n"
    "On a terminal, progress is shown on standard error.\n"
    "  --json   print the counts as one JSON object at the end (also on failure,\n"
    "           with \"ok\": false and the error's name)\n";

static void sync_doc(mlproto_json *j, const struct sync_outcome *o, int err, const char *message) {
  const mentorlog_sync_progress *p = &o->progress;
  mlproto_json_obj(j);
  mlproto_json_kbool(j, "ok", !err);
  mlproto_json_kstr(j, "error", err ? mentorlog_errname(err) : NULL);
  mlproto_json_kstr(j, "message", err ? message : NULL);
  mlproto_json_kstr(j, "phase", p->phase);
  mlproto_json_ku64(j, "pushed", p->pushed);
  mlproto_json_ku64(j, "to_push", p->to_push);
  mlproto_json_ku64(j, "pulled", p->pulled);
  mlproto_json_ku64(j, "applied", p->applied);
  mlproto_json_ku64(j, "log_size", p->log_size);
  mlproto_json_ku64(j, "cursor", p->cursor);
  mlproto_json_ku64(j, "grants_written", p->grants_written);
  mlproto_json_ku64(j, "retries", p->retries);
  mlproto_json_ku64(j, "requests", p->requests);
  mlproto_json_end(j);
}

/* The counts as one JSON object on stdout; err: the failure (0 when none),
 * message its text. Returns 0 or an exit status (printed). */
static int sync_json(const struct sync_outcome *o, int err, const char *message) {
  mlproto_json j;
  mlproto_buf b;
  json_begin(&j, &b);
  sync_doc(&j, o, err, message);
  if (err && j.err == MLPROTO_ERR_INVALID_ARGUMENT) { /* a server's detail that is not UTF-8 */
    mlproto_buf_reset(&b);
    mlproto_json_init(&j, &b);
    sync_doc(&j, o, err, mentorlog_strerror(err));
  }
  return json_emit(&j, stdout, "sync");
}

int cmd_sync(int argc, char **argv) {
  struct opt opts[] = {{"json", 1, 0, 0}, {0}};
  const char *pos[1];
  int npos, rc;
  if (parse_opts(argc, argv, opts, pos, 0, &npos, usage_sync, &rc))
    return rc;
  bool js = opt_get(opts, "json")->seen;
  mentorlog *h = NULL;
  ml_netclient *nc = NULL;
  if ((rc = open_profile(&h, false)))
    return rc;
  mentorlog_sync_info info = {.version = MENTORLOG_SYNC_INFO_VERSION};
  int err = mentorlog_sync_status(h, &info);
  if (!err && !info.enrolled)
    err = MENTORLOG_ERR_NOT_ENROLLED;
  if (err == MENTORLOG_ERR_NOT_ENROLLED) {
    fprintf(stderr, "%s: sync: this device is not enrolled with a server: run 'mentorlog enroll URL CODE --pin"
                    " SHA256' first (NOT_ENROLLED); %llu records wait in the outbox\n",
            prog, (unsigned long long)info.unsent);
    rc = EXIT_USER;
    goto out;
  }
  if (err) {
    rc = fail(h, err, "sync");
    goto out;
  }
  if ((rc = sync_connect("sync", info.server_url, info.server_pin, &nc)))
    goto out;
  mentorlog_sync_options so = MENTORLOG_SYNC_OPTIONS_INIT;
  so.max_attempts = 1; /* the transport has retried already */
  struct sync_outcome o;
  char detail[512];
  if ((err = run_engine(h, nc, &so, &o, detail, sizeof detail))) {
    rc = fail(h, err, "sync");
    goto out;
  }
  if (o.error) {
    rc = report_failure(h, "sync", info.server_url, &o, detail);
    if (js) /* the failure's status stays the command's */
      (void)sync_json(&o, o.net_error ? o.net_error : o.error,
                      o.net_error ? sync_net_reason(o.net_error)
                      : *detail   ? detail
                                  : mentorlog_strerror(o.error));
    goto out;
  }
  rc = 0;
  if (js) {
    rc = sync_json(&o, 0, NULL);
  } else {
    const mentorlog_sync_progress *p = &o.progress;
    printf("up to date with %s: pushed %llu, pulled %llu (%llu from other devices)", info.server_url,
           (unsigned long long)p->pushed, (unsigned long long)p->pulled, (unsigned long long)p->applied);
    if (p->grants_written)
      printf(", %u case keys granted", p->grants_written);
    printf("; log size %llu\n", (unsigned long long)p->log_size);
  }
out:
  ml_netclient_close(nc);
  mentorlog_close(h);
  return rc;
}

/* ------------------------------------------------------------ status */

static const char usage_status[] =
    "Usage: mentorlog status [--json]\n"
    "\n"
    "This device and its sync state, from the profile alone (no network): device,\n"
    "mentor and server, whether this device is approved, the last sync, the records\n"
    "not yet sent, the last checkpoint of the server's log that was verified, and\n"
    "devices of the mentor waiting for approval ('mentorlog devices').\n"
    "The fingerprint is what another device compares before 'device approve'.\n";

static int status_json(const mentorlog_sync_info *i) {
  mlproto_json j;
  mlproto_buf b;
  json_begin(&j, &b);
  mlproto_json_obj(&j);
  mlproto_json_kbool(&j, "enrolled", i->enrolled);
  mlproto_json_kstr(&j, "fingerprint", i->fingerprint);
  mlproto_json_ku64(&j, "unsent", i->unsent);
  if (i->enrolled) {
    char when[32];
    mlproto_json_khex(&j, "device", i->device_id, MENTORLOG_ID_BYTES);
    mlproto_json_khex(&j, "mentor", i->mentor_id, MENTORLOG_ID_BYTES);
    mlproto_json_kstr(&j, "label", i->label);
    mlproto_json_kstr(&j, "server", i->server_url);
    mlproto_json_kstr(&j, "pin", i->server_pin);
    mlproto_json_kstr(&j, "origin", i->origin);
    mlproto_json_kbool(&j, "approved", i->approved);
    mlproto_json_kbool(&j, "revoked", i->revoked);
    mlproto_json_ki64(&j, "last_sync_ms", i->last_sync_ms);
    if (i->last_sync_ms)
      fmt_local(when, i->last_sync_ms);
    mlproto_json_kstr(&j, "last_sync", i->last_sync_ms ? when : NULL);
    mlproto_json_ku64(&j, "cursor", i->cursor);
    mlproto_json_key(&j, "checkpoint");
    mlproto_json_obj(&j);
    mlproto_json_ku64(&j, "size", i->checkpoint_size);
    mlproto_json_khex(&j, "root", i->checkpoint_root, sizeof i->checkpoint_root);
    mlproto_json_end(&j);
    mlproto_json_ku64(&j, "devices", i->devices);
    mlproto_json_ku64(&j, "pending_approvals", i->pending_approvals);
    mlproto_json_ku64(&j, "pending_grants", i->pending_grants);
    mlproto_json_ku64(&j, "receipts", i->receipts);
    mlproto_json_ku64(&j, "receipts_unverified", i->receipts_unverified);
    mlproto_json_ku64(&j, "cases_locked", i->cases_locked);
  }
  mlproto_json_end(&j);
  return json_emit(&j, stdout, "status");
}

static void status_text(const mentorlog_sync_info *i) {
  if (!i->enrolled) {
    printf("not enrolled     'mentorlog enroll URL CODE --pin SHA256' registers this device\n"
           "fingerprint      %s\nunsent           %llu records\n",
           i->fingerprint, (unsigned long long)i->unsent);
    return;
  }
  char dev[MENTORLOG_ID_HEX + 1], men[MENTORLOG_ID_HEX + 1], root[65], when[32];
  hex(dev, i->device_id);
  hex(men, i->mentor_id);
  sodium_bin2hex(root, sizeof root, i->checkpoint_root, sizeof i->checkpoint_root);
  printf("device           %s", dev);
  if (i->label[0]) {
    fputs("  \"", stdout);
    print_safe(stdout, i->label);
    fputc('"', stdout);
  }
  printf("\nfingerprint      %s\nmentor           %s\nserver           %s  (%s)\nlog              ", i->fingerprint,
         men, i->server_url, i->server_pin);
  print_safe(stdout, i->origin);
  printf("\nthis device      %s\n", i->revoked    ? "REVOKED: the server refuses its pushes"
                                    : i->approved ? "approved"
                                                  : "waiting for approval by another of your devices");
  if (i->last_sync_ms)
    fmt_local(when, i->last_sync_ms);
  printf("last sync        %s\n", i->last_sync_ms ? when : "never");
  printf("unsent           %llu records\n", (unsigned long long)i->unsent);
  printf("checkpoint       size %llu, root %s\n", (unsigned long long)i->checkpoint_size, root);
  printf("pull cursor      %llu\n", (unsigned long long)i->cursor);
  printf("receipts         %llu (%llu not yet proven in the log)\n", (unsigned long long)i->receipts,
         (unsigned long long)i->receipts_unverified);
  printf("devices          %u of the mentor, %u pending approval%s\n", i->devices, i->pending_approvals,
         i->pending_approvals ? " ('mentorlog devices')" : "");
  printf("pending grants   %u case keys to send at the next sync\n", i->pending_grants);
  if (i->cases_locked)
    printf("locked cases     %u (this device holds no key for them yet)\n", i->cases_locked);
}

int cmd_status(int argc, char **argv) {
  struct opt opts[] = {{"json", 1, 0, 0}, {0}};
  const char *pos[1];
  int npos, rc;
  if (parse_opts(argc, argv, opts, pos, 0, &npos, usage_status, &rc))
    return rc;
  mentorlog *h;
  if ((rc = open_profile(&h, false)))
    return rc;
  mentorlog_sync_info info = {.version = MENTORLOG_SYNC_INFO_VERSION};
  int err = mentorlog_sync_status(h, &info);
  if (err)
    rc = fail(h, err, "status");
  else if (opt_get(opts, "json")->seen)
    rc = status_json(&info);
  else
    status_text(&info);
  mentorlog_close(h);
  return rc;
}
