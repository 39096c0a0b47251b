/* mentorlog-audit verify: every check of verify.h on an audit log file,
 * against the log key the auditor configured, and with --state the
 * checkpoints verified before (state.h). */
#include "auditfile.h"
#include "audit.h"
#include "state.h"
#include "verified.h"
#include "verify.h"

#include "mlproto/errors.h"
#include "mlproto/json.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_verify[] =
    "Usage: mentorlog-audit verify FILE [--log-key VKEY] [--state DIR] [--json]\n"
    "\n"
    "Checks the audit log file FILE (from `mentorlog-audit fetch` or `mentorlog-server\n"
    "admin export-log`) offline, trusting nothing in it but what the log key signs:\n"
    "  - every record's signature, and every disclosed and sealed part against its\n"
    "    hash (erased parts are allowed, and listed);\n"
    "  - every author's chain: seq 1, 2, 3 ... without gap, fork or reordering;\n"
    "  - every device record by a device a DEVICE_ENROLLED event enrolled before it\n"
    "    and no DEVICE_REVOKED event revoked before it; server events signed by the\n"
    "    log key; each entry's type that of its record;\n"
    "  - entries contiguous from index 0, receipt times never decreasing;\n"
    "  - the Merkle root over all entries equal to the checkpoint's, and the\n"
    "    checkpoint signed by the log key;\n"
    "  - with --state DIR: consistent with every checkpoint verified there before;\n"
    "    after a success the new checkpoint is kept there.\n"
    "\n"
    "  --log-key VKEY  the log's verifier key NAME+KEYID+BASE64, as the server's\n"
    "                  administrator reads it out of band (`mentorlog-server admin\n"
    "                  log-key`); may be left out when --state DIR holds it\n"
    "  --state DIR     the auditor's state: DIR/log-key (written at the first success\n"
    "                  with --log-key) and DIR/checkpoints/ (created when missing)\n"
    "  --json          the result as one JSON document on standard output\n"
    "\n"
    "Each finding is printed with the log index of the entry it concerns and the\n"
    "stable code of its check (docs/audit-log-format.md §4).\n"
    "Exit status: 0 every check holds; 1 a finding, or FILE or DIR cannot be read;\n"
    "2 usage error.\n";

#define JSON_PIECE (1u << 20)

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs(AUDIT_PROG ": verify: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return AUDIT_EXIT_FAIL;
}

static const char *parts_name(unsigned parts) {
  return parts == (MLPROTO_PART_DISCLOSED | MLPROTO_PART_SEALED) ? "disclosed and sealed"
         : parts == MLPROTO_PART_DISCLOSED                      ? "disclosed"
                                                                : "sealed";
}

/* ---------------------------------------------------------------- text */

static void print_text(const char *path, const audit_result *r, int ok, const char *state_note) {
  printf("mentorlog-audit verify %s\n", path);
  if (r->header_ok) printf("log %s\n", r->header.origin);
  for (size_t i = 0; i < r->n_findings; i++) {
    const audit_finding *f = &r->findings[i];
    if (f->has_index) printf("index %" PRIu64 ": ", f->index);
    else printf("file: ");
    printf("%s: %s", mlproto_errname(f->code), f->text);
    if (f->has_offset) printf(" (byte %" PRIu64 ")", f->offset);
    putchar('\n');
  }
  if (r->findings_total > r->n_findings)
    printf("... and %" PRIu64 " more findings\n", r->findings_total - r->n_findings);
  for (size_t i = 0; i < r->n_erased; i++) {
    const audit_erasure *e = &r->erased[i];
    printf("index %" PRIu64 ": erased: the %s part (allowed; ", e->index, parts_name(e->parts));
    if (e->accounted) printf("its case is erased or purged at index %" PRIu64 ")\n", e->accounted_at);
    else printf("no CASE_ERASE or RETENTION_PURGE in the log names its case)\n");
  }
  printf("%" PRIu64 " entries: %" PRIu64 " device records, %" PRIu64 " server events; %" PRIu64
         " authors; %" PRIu64 " devices enrolled, %" PRIu64 " revoked; %zu with erased parts\n",
         r->entries, r->device_records, r->server_events, r->authors, r->devices_enrolled,
         r->devices_revoked, r->n_erased);
  if (r->escrow_keys)
    printf("escrow: %" PRIu64 " ESCROW_KEY events, %" PRIu64 " re-grants signed by the escrow key\n",
           r->escrow_keys, r->escrow_regrants);
  if (r->checkpoint_ok) {
    char root[65];
    mlproto_hex_encode(root, r->checkpoint.root, 32);
    printf("checkpoint: size %" PRIu64 ", root %s\n", r->checkpoint.size, root);
  }
  if (state_note) printf("%s\n", state_note);
  if (ok) printf("OK: every check holds\n");
  else printf("FAILED: %" PRIu64 " finding%s\n", r->findings_total, r->findings_total == 1 ? "" : "s");
}

/* ---------------------------------------------------------------- JSON */

/* Writes what j's buffer holds when it is past a piece (or at the end). */
static int json_flush(mlproto_json *j, int force) {
  if (j->err || (!force && j->out->len < JSON_PIECE)) return j->err;
  if (fwrite(j->out->data, 1, j->out->len, stdout) != j->out->len) return MLPROTO_ERR_IO;
  mlproto_buf_reset(j->out);
  return MLPROTO_OK;
}

static int print_json(const char *path, const audit_result *r, int ok, int stored,
                      const char *state_dir) {
  mlproto_buf b;
  mlproto_buf_init(&b, 4 * JSON_PIECE);
  mlproto_json j;
  mlproto_json_init(&j, &b);
  mlproto_json_obj(&j);
  mlproto_json_kstr(&j, "file", path);
  mlproto_json_kbool(&j, "ok", ok);
  mlproto_json_kstr(&j, "origin", r->header_ok ? r->header.origin : NULL);
  mlproto_json_key(&j, "checkpoint");
  if (r->checkpoint_ok) {
    mlproto_json_obj(&j);
    mlproto_json_ku64(&j, "size", r->checkpoint.size);
    mlproto_json_khex(&j, "root", r->checkpoint.root, 32);
    mlproto_json_end(&j);
  } else {
    mlproto_json_null(&j);
  }
  mlproto_json_ku64(&j, "entries", r->entries);
  mlproto_json_ku64(&j, "device_records", r->device_records);
  mlproto_json_ku64(&j, "server_events", r->server_events);
  mlproto_json_ku64(&j, "authors", r->authors);
  mlproto_json_ku64(&j, "devices_enrolled", r->devices_enrolled);
  mlproto_json_ku64(&j, "devices_revoked", r->devices_revoked);
  mlproto_json_ku64(&j, "escrow_keys", r->escrow_keys);
  mlproto_json_ku64(&j, "escrow_regrants", r->escrow_regrants);
  mlproto_json_ku64(&j, "findings_total", r->findings_total);
  mlproto_json_key(&j, "findings");
  mlproto_json_arr(&j);
  for (size_t i = 0; i < r->n_findings; i++) {
    const audit_finding *f = &r->findings[i];
    mlproto_json_obj(&j);
    mlproto_json_key(&j, "index");
    if (f->has_index) mlproto_json_u64(&j, f->index);
    else mlproto_json_null(&j);
    mlproto_json_key(&j, "offset");
    if (f->has_offset) mlproto_json_u64(&j, f->offset);
    else mlproto_json_null(&j);
    mlproto_json_kstr(&j, "code", mlproto_errname(f->code));
    mlproto_json_kstr(&j, "message", f->text);
    mlproto_json_end(&j);
  }
  mlproto_json_end(&j);
  mlproto_json_key(&j, "erased");
  mlproto_json_arr(&j);
  for (size_t i = 0; i < r->n_erased; i++) {
    mlproto_json_obj(&j);
    mlproto_json_ku64(&j, "index", r->erased[i].index);
    mlproto_json_kbool(&j, "disclosed", (r->erased[i].parts & MLPROTO_PART_DISCLOSED) != 0);
    mlproto_json_kbool(&j, "sealed", (r->erased[i].parts & MLPROTO_PART_SEALED) != 0);
    mlproto_json_khex(&j, "case", r->erased[i].case_id, 16);
    mlproto_json_key(&j, "accounted_at");
    if (r->erased[i].accounted) mlproto_json_u64(&j, r->erased[i].accounted_at);
    else mlproto_json_null(&j);
    mlproto_json_end(&j);
    if (json_flush(&j, 0)) break;
  }
  mlproto_json_end(&j);
  mlproto_json_key(&j, "state");
  if (state_dir) {
    mlproto_json_obj(&j);
    mlproto_json_kstr(&j, "dir", state_dir);
    mlproto_json_kbool(&j, "stored", stored);
    mlproto_json_end(&j);
  } else {
    mlproto_json_null(&j);
  }
  mlproto_json_end(&j);
  int rc = mlproto_json_finish(&j);
  if (!rc) rc = json_flush(&j, 1);
  mlproto_buf_free(&b);
  if (rc) return fail("cannot write the JSON document: %s", mlproto_strerror(rc));
  return 0;
}

/* ------------------------------------------------------------- command */

int cmd_verify(int argc, char **argv) {
  if (audit_wants_help(argc, argv)) {
    fputs(usage_verify, stdout);
    return AUDIT_EXIT_OK;
  }
  const char *path = NULL, *vkey = NULL, *state_dir = NULL;
  int json = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--log-key") == 0 && i + 1 < argc && !vkey) vkey = argv[++i];
    else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc && !state_dir) state_dir = argv[++i];
    else if (strcmp(argv[i], "--json") == 0) json = 1;
    else if (argv[i][0] != '-' && !path) path = argv[i];
    else return audit_usage(usage_verify, "unknown option, missing value or extra argument");
  }
  if (!path) return audit_usage(usage_verify, "verify needs FILE");
  audit_verified v;
  int ex = audit_verified_open(&v, "verify", usage_verify, path, vkey, state_dir);
  audit_state *st = &v.st;
  const audit_result *r = &v.r;
  if (!ex) {
    int ok = r->findings_total == 0, stored = 0;
    char note[AUDIT_STATE_PATH_MAX + 128];
    const char *state_note = NULL;
    if (ok && state_dir) {
      int rc = audit_state_save(st, &v.key, r->note, r->note_len, r->checkpoint.size, &stored);
      if (rc) {
        ex = fail("--state: cannot keep the checkpoint in %s: %s", state_dir,
                  rc == MLPROTO_ERR_IO ? strerror(errno) : mlproto_strerror(rc));
      } else {
        snprintf(note, sizeof note, "state %s: %zu checkpoints verified before; %s", state_dir,
                 st->n_kept, stored ? "this one kept" : "this one was kept already");
        state_note = note;
      }
    } else if (state_dir) {
      snprintf(note, sizeof note, "state %s: %zu checkpoints verified before; nothing kept", state_dir,
               st->n_kept);
      state_note = note;
    }
    if (!ex) {
      if (json) ex = print_json(path, r, ok, stored, state_dir);
      else print_text(path, r, ok, state_note);
      if (!ex && !ok) ex = AUDIT_EXIT_FAIL;
    }
  }
  audit_verified_close(&v);
  return ex;
}
