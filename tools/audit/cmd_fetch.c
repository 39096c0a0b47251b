/* mentorlog-audit fetch: the server's whole log, page by page, into an audit
 * log file (docs/audit-log-format.md) — FILE.part until it is complete. */
#include "auditfile.h"
#include "audit.h"

#include "netaddr.h"
#include "netclient.h"
#include "transport.h"

#include "mlproto/auditlog.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

static const char usage_fetch[] =
    "Usage: mentorlog-audit fetch URL --token-file F (--pin SHA256 | --ca FILE) --out FILE\n"
    "                             [--resume]\n"
    "\n"
    "Downloads the server's whole transparency log (GET /v1/audit/log: every mentor's\n"
    "records and the server's events) into FILE, in the audit log format\n"
    "(docs/audit-log-format.md) that `mentorlog-server admin export-log` writes too.\n"
    "`mentorlog-audit verify FILE` then checks it offline. Nothing is checked here:\n"
    "the file holds what the server answered.\n"
    "\n"
    "  URL             https://HOST[:PORT]\n"
    "  --token-file F  the auditor's token (`mentorlog-server admin token add --role\n"
    "                  auditor`): the first line of F, a file only you may read\n"
    "                  (chmod 600), or of standard input when F is \"-\". A token is\n"
    "                  never given on the command line.\n"
    "  --pin SHA256    trust the server certificate of this SHA-256 fingerprint\n"
    "                  (`mentorlog-server admin fingerprint`; colons allowed)\n"
    "  --ca FILE       or trust the CA certificate(s) of the PEM file FILE (the\n"
    "                  certificate must then name URL's host)\n"
    "  --out FILE      the file to write, mode 0600; it must not exist. The download\n"
    "                  goes to FILE.part, which becomes FILE only once complete.\n"
    "  --resume        continue the FILE.part an interrupted fetch left, after its\n"
    "                  last complete entry, with the same checkpoint\n"
    "\n"
    "The file is of the log's latest checkpoint when the fetch starts; entries\n"
    "appended meanwhile are for the next fetch. Progress goes to standard error.\n"
    "Exit status: 0 FILE written; 1 failure (no FILE; a FILE.part with entries is\n"
    "kept for --resume); 2 usage error.\n";

#define PAGE_LIMIT 1024u
/* An answer holds at most 1,024 envelopes of 96 KiB, and the server stops
 * at about 8 MiB: the body cap of the wire (16 MiB) and some room. */
#define MAX_BODY (MLPROTO_PULL_MAX_BYTES + 65536u)
#define PATH_CAP 4096

typedef struct fetch {
  const char *out;
  char part[PATH_CAP];
  int fd;
  int tty;
  mlproto_buf buf;
  int have_header;        /* the header is encoded: size and key are fixed */
  int on_disk;            /* the header (and what followed) is in FILE.part */
  uint64_t size;          /* the checkpoint's tree size */
  mlproto_note_verifier key; /* the log the header names */
  uint64_t next;          /* since= of the next page */
  uint64_t entries;       /* entries in the file */
  uint8_t *note;          /* the checkpoint of the first answer (of this run) */
  size_t note_len;
} fetch;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs(AUDIT_PROG ": fetch: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return AUDIT_EXIT_FAIL;
}

/* ------------------------------------------------------------- resume */

/* Scans FILE.part: its header fixes the size and the log; it is cut after
 * its last complete entry (an item cut short by the interruption is
 * dropped). *complete: it ends in its checkpoint already (only the final
 * link was missing). */
static int resume_scan(fetch *f, int *complete) {
  *complete = 0;
  af_map m;
  int rc = af_map_open(&m, f->part);
  if (rc == MLPROTO_ERR_NOT_FOUND)
    return fail("--resume: there is no %s to continue (start without --resume)", f->part);
  if (rc) return fail("--resume: cannot read %s: %s", f->part, strerror(errno));
  mlproto_auditlog_header h;
  size_t off = 0, used;
  rc = mlproto_auditlog_header_decode(&h, m.data, m.len, &off);
  if (rc) {
    af_map_close(&m);
    return fail("--resume: %s has no complete header (%s): remove it and fetch again", f->part,
                mlproto_errname(rc));
  }
  f->have_header = f->on_disk = 1;
  f->size = h.size;
  f->key = h.verifier;
  size_t end = off;
  for (;;) {
    mlproto_auditlog_item it;
    rc = mlproto_auditlog_item_decode(&it, m.data + off, m.len - off, &used);
    if (rc == MLPROTO_ERR_AUDIT_FILE_TRUNCATED) break;
    if (rc) {
      af_map_close(&m);
      return fail("--resume: %s is damaged at byte %zu (%s): remove it and fetch again", f->part, off,
                  mlproto_errname(rc));
    }
    off += used;
    if (it.tag == MLPROTO_AUDITLOG_CHECKPOINT) {
      if (off != m.len) {
        af_map_close(&m);
        return fail("--resume: %s has bytes after its checkpoint: remove it and fetch again", f->part);
      }
      *complete = 1; /* only the final rename was missing */
      end = off;
      break;
    }
    f->entries++;
    f->next = it.index + 1;
    end = off;
  }
  size_t had = m.len;
  af_map_close(&m);
  if (end < had && !*complete)
    fprintf(stderr, AUDIT_PROG ": fetch: %s: %zu bytes of an incomplete entry dropped, %" PRIu64
            " entries kept\n", f->part, had - end, f->entries);
  f->fd = open(f->part, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (f->fd < 0 || ftruncate(f->fd, (off_t)end) != 0 || lseek(f->fd, 0, SEEK_END) < 0)
    return fail("--resume: cannot write %s: %s", f->part, strerror(errno));
  return 0;
}

/* ------------------------------------------------------------- pages */

/* An Error body's code and message (server text, made safe for a terminal). */
static void say_error(int status, const uint8_t *body, size_t len) {
  ProtobufCMessage *m = NULL;
  char msg[600] = "";
  const char *code = "";
  if (mlproto_msg_unpack(&m, MLPROTO_MSG_ERROR, body, len) == MLPROTO_OK) {
    const Mentorlog__V1__Error *e = (const void *)m;
    code = e->code;
    snprintf(msg, sizeof msg, "%s", e->message);
    for (char *p = msg; *p; p++)
      if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  }
  fail("the server answered %d%s%s%s%s%s", status, *code ? " " : "", code, *msg ? " (" : "", msg,
       *msg ? ")" : "");
  if (status == 401) fprintf(stderr, AUDIT_PROG ": fetch: the token is not an auditor token of this server\n");
  if (status == 403) fprintf(stderr, AUDIT_PROG ": fetch: the token is not an auditor's (another role)\n");
  mlproto_msg_free(m);
}

/* Appends the buffer. fsync only for the first write (the header: from then
 * on the .part is kept for --resume, which cuts a torn tail itself) and the
 * last (durable: fsync then publish), not once per page. */
static int write_buf(fetch *f, int sync) {
  int rc = af_write_all(f->fd, f->buf.data, f->buf.len);
  mlproto_buf_reset(&f->buf);
  if (!rc && (sync || !f->on_disk) && fsync(f->fd) != 0) rc = MLPROTO_ERR_IO;
  if (rc) return fail("cannot write %s: %s", f->part, strerror(errno));
  f->on_disk = f->have_header;
  return 0;
}

static void progress(fetch *f, int done) {
  if (f->tty) {
    fprintf(stderr, "\r\033[Kfetch: %" PRIu64 " of %" PRIu64 " entries%s", f->entries, f->size,
            done ? "\n" : "");
  } else if (!done) {
    fprintf(stderr, "fetch: %" PRIu64 " of %" PRIu64 " entries\n", f->entries, f->size);
  }
  fflush(stderr);
}

/* One answer: its coherence with the ones before, then its entries into the
 * file. *more: ask again from f->next. */
static int take_page(fetch *f, const Mentorlog__V1__AuditLogResponse *r, uint64_t since, int *more) {
  mlproto_note_verifier k;
  if (mlproto_note_vkey_parse(&k, r->log_key, strlen(r->log_key)) != MLPROTO_OK)
    return fail("the server named no valid log key"); /* validated already */
  if (!f->have_header) {
    f->size = r->tree_size;
    f->key = k;
    if (mlproto_auditlog_header_encode(&f->buf, r->log_key, f->size))
      return fail("cannot encode the header");
    f->have_header = 1;
  } else if (r->tree_size != f->size) {
    return fail("the server answered for a tree of size %" PRIu64 ", not %" PRIu64
                " as asked: its answers are not those of one checkpoint", r->tree_size, f->size);
  } else if (strcmp(k.name, f->key.name) != 0 || memcmp(k.pk, f->key.pk, 32) != 0) {
    return fail("the server now names another log key (%s) than the file's", r->log_key);
  }
  if (!f->note) {
    f->note = malloc(r->checkpoint.len);
    if (!f->note) return fail("out of memory");
    memcpy(f->note, r->checkpoint.data, r->checkpoint.len);
    f->note_len = r->checkpoint.len;
  } else if (r->checkpoint.len != f->note_len ||
             memcmp(r->checkpoint.data, f->note, f->note_len) != 0) {
    return fail("the server gave two different checkpoint notes for size %" PRIu64
                " in one fetch: keep this output as evidence and report it", f->size);
  }
  for (size_t i = 0; i < r->n_items; i++) {
    const Mentorlog__V1__LogItem *it = r->items[i];
    /* A gap or a repeat is written as served: the file is the evidence,
     * and verify names the entry (docs/audit-log-format.md). */
    if (it->log_index < since)
      return fail("the server listed entry %" PRIu64 " for since=%" PRIu64, it->log_index, since);
    int rc = mlproto_auditlog_entry_encode(&f->buf, it->log_index, it->entry_type,
                                           it->received_at_ms, it->envelope.data, it->envelope.len);
    if (rc) return fail("entry %" PRIu64 ": %s", it->log_index, mlproto_strerror(rc));
    f->entries++;
  }
  *more = r->more;
  if (r->more && r->next_since <= since)
    return fail("the server's paging does not advance (next_since %" PRIu64 " after since %" PRIu64
                ")", r->next_since, since);
  f->next = r->next_since;
  return 0;
}

static int run(fetch *f, ml_netclient *nc, const char *token) {
  char auth[200], path[160];
  snprintf(auth, sizeof auth, "Bearer %s", token);
  mlproto_http_header hs[2] = {{"Authorization", auth},
                               {"Accept", "application/vnd.mentorlog.v1+protobuf"}};
  ml_transport_options to = ML_TRANSPORT_OPTIONS_INIT;
  int ex = 0, more = 1;
  while (!ex && more) {
    if (f->have_header)
      snprintf(path, sizeof path, "/v1/audit/log?since=%" PRIu64 "&limit=%u&size=%" PRIu64, f->next,
               PAGE_LIMIT, f->size);
    else
      snprintf(path, sizeof path, "/v1/audit/log?since=%" PRIu64 "&limit=%u", f->next, PAGE_LIMIT);
    ml_netclient_response resp;
    int err = ml_transport_request(nc, &to, "GET", path, hs, 2, NULL, 0, &resp, NULL);
    if (err) {
      ex = fail("no answer from the server: %s (%s)", mlproto_strerror(err), mlproto_errname(err));
      break;
    }
    if (resp.status != 200) {
      say_error(resp.status, resp.body, resp.body_len);
      ml_netclient_response_free(&resp);
      ex = AUDIT_EXIT_FAIL;
      break;
    }
    ProtobufCMessage *m = NULL;
    int rc = mlproto_msg_unpack(&m, MLPROTO_MSG_AUDIT_LOG_RESPONSE, resp.body, resp.body_len);
    ml_netclient_response_free(&resp);
    if (rc) {
      ex = fail("the server's answer is no valid AuditLogResponse (%s)", mlproto_errname(rc));
      break;
    }
    ex = take_page(f, (const Mentorlog__V1__AuditLogResponse *)m, f->next, &more);
    mlproto_msg_free(m);
    if (!ex) ex = write_buf(f, 0);
    if (!ex) progress(f, !more);
  }
  sodium_memzero(auth, sizeof auth);
  return ex;
}

/* The checkpoint item, fsync, and FILE.part becomes FILE. */
static int finish(fetch *f) {
  if (f->note && mlproto_auditlog_checkpoint_encode(&f->buf, f->note, f->note_len))
    return fail("cannot encode the checkpoint");
  int ex = write_buf(f, 1);
  if (ex) return ex;
  if (close(f->fd) != 0) {
    f->fd = -1;
    return fail("cannot write %s: %s", f->part, strerror(errno));
  }
  f->fd = -1;
  int rc = af_publish(f->part, f->out);
  if (rc == MLPROTO_ERR_ALREADY_EXISTS)
    return fail("%s appeared meanwhile: not replaced (the download stays in %s)", f->out, f->part);
  if (rc) return fail("cannot rename %s to %s: %s", f->part, f->out, strerror(errno));
  fprintf(stderr, "fetch: %" PRIu64 " entries of the checkpoint of size %" PRIu64 " in %s\n",
          f->entries, f->size, f->out);
  return 0;
}

/* ------------------------------------------------------------- command */

static int connect_server(const char *url, const char *pin, const char *ca, ml_netclient **nc) {
  char host[256];
  uint16_t port;
  const char *why;
  if (ml_parse_url(url, host, sizeof host, &port, NULL, 0, &why) != 0)
    return audit_usage(usage_fetch, why);
  ml_netclient_options o = ML_NETCLIENT_OPTIONS_INIT;
  o.host = host;
  o.port = port;
  o.timeout_ms = 60000;
  o.max_response_body = MAX_BODY;
  char p[7 + 64 + 1];
  char *pem = NULL;
  if (pin) {
    if (ml_parse_pin(pin, p) != 0)
      return audit_usage(usage_fetch, "--pin: the certificate's SHA-256, 64 hex digits");
    o.pin_sha256 = p + 7;
    o.tls_hostname = ML_SERVER_TLS_NAME;
  } else {
    int rc = ml_ca_read(ca, &pem, &o.ca_pem_len);
    if (rc)
      return fail("--ca %s: %s", ca, rc == MLPROTO_ERR_IO ? strerror(errno) : mlproto_strerror(rc));
    o.ca_pem = pem;
  }
  int rc = ml_netclient_open(nc, &o);
  free(pem);
  if (rc)
    return fail("cannot set up TLS: %s (%s)", mlproto_strerror(rc), mlproto_errname(rc));
  return 0;
}

int cmd_fetch(int argc, char **argv) {
  if (audit_wants_help(argc, argv)) {
    fputs(usage_fetch, stdout);
    return AUDIT_EXIT_OK;
  }
  const char *url = NULL, *token_file = NULL, *pin = NULL, *ca = NULL, *out = NULL;
  int resume = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = strcmp(a, "--token-file") == 0 ? &token_file
                        : strcmp(a, "--pin") == 0      ? &pin
                        : strcmp(a, "--ca") == 0       ? &ca
                        : strcmp(a, "--out") == 0      ? &out
                                                       : NULL;
    if (slot) {
      if (i + 1 >= argc) return audit_usage(usage_fetch, "an option lacks its value");
      if (*slot) return audit_usage(usage_fetch, "an option is given twice");
      *slot = argv[++i];
    } else if (strcmp(a, "--resume") == 0) {
      resume = 1;
    } else if (strcmp(a, "--token") == 0 || strncmp(a, "--token=", 8) == 0) {
      return audit_usage(usage_fetch, "the token is never given on the command line: --token-file F");
    } else if (a[0] == '-' || url) {
      return audit_usage(usage_fetch, "unknown option or extra argument");
    } else {
      url = a;
    }
  }
  if (!url) return audit_usage(usage_fetch, "fetch needs the server's URL");
  if (!token_file) return audit_usage(usage_fetch, "fetch needs --token-file F (or - for standard input)");
  if (!pin == !ca) return audit_usage(usage_fetch, "fetch needs exactly one of --pin and --ca");
  if (!out || !*out) return audit_usage(usage_fetch, "fetch needs --out FILE");

  fetch f;
  memset(&f, 0, sizeof f);
  f.fd = -1;
  f.out = out;
  f.tty = isatty(STDERR_FILENO);
  if ((size_t)snprintf(f.part, sizeof f.part, "%s.part", out) >= sizeof f.part)
    return audit_usage(usage_fetch, "--out: the path is too long");
  if (access(out, F_OK) == 0) return fail("%s exists already: it is never replaced", out);

  char token[160];
  int rc = af_read_token(token_file, token, sizeof token);
  if (rc) {
    const char *why = rc == MLPROTO_ERR_FORBIDDEN
                          ? "must be a regular file of yours that no one else may read (chmod 600)"
                      : rc == MLPROTO_ERR_FIELD_RANGE || rc == MLPROTO_ERR_FIELD_MISSING
                          ? "holds no token on its first line"
                          : strerror(errno);
    return fail("--token-file %s: %s", token_file, why);
  }
  ml_netclient *nc = NULL;
  int ex = connect_server(url, pin, ca, &nc);
  if (ex) {
    sodium_memzero(token, sizeof token);
    return ex;
  }
  mlproto_buf_init(&f.buf, 2 * MAX_BODY);
  int complete = 0, created = 0;
  if (resume) {
    ex = resume_scan(&f, &complete);
  } else {
    f.fd = open(f.part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f.fd < 0)
      ex = errno == EEXIST ? fail("%s exists: an earlier fetch was interrupted; --resume continues it"
                                  " (or remove it)", f.part)
                           : fail("cannot create %s: %s", f.part, strerror(errno));
    created = f.fd >= 0;
  }
  if (!ex && !complete) ex = run(&f, nc, token);
  sodium_memzero(token, sizeof token);
  if (!ex) ex = finish(&f);
  if (f.fd >= 0) close(f.fd);
  /* nothing worth resuming: not even a header came */
  if (ex && created && !f.on_disk) (void)unlink(f.part);
  else if (ex && f.on_disk)
    fprintf(stderr, AUDIT_PROG ": fetch: %" PRIu64 " entries are kept in %s: --resume continues\n",
            f.entries, f.part);
  free(f.note);
  mlproto_buf_free(&f.buf);
  ml_netclient_close(nc);
  return ex;
}
