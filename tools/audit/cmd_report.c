/* mentorlog-audit report: every grant's compliance recomputed from an audit
 * log file alone, after every check of `verify` on it (report.h). */
#include "audit.h"
#include "auditfile.h"
#include "report.h"
#include "state.h"

#include "mlproto/civiltime.h"
#include "mlproto/errors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage_report[] =
    "Usage: mentorlog-audit report FILE [--log-key VKEY] [--state DIR] [--json | --csv]\n"
    "                              [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--now TIME]\n"
    "                              [--jobcentre ID]\n"
    "\n"
    "Recomputes the weekly-contact compliance of every grant in the audit log file\n"
    "FILE (from `mentorlog-audit fetch` or `mentorlog-server admin export-log`), of\n"
    "every jobcentre, from the file alone, with the code the server's\n"
    "GET /v1/jobcentre/compliance uses, and prints that document on standard output.\n"
    "\n"
    "It trusts nothing: it runs every check of `mentorlog-audit verify` on FILE first\n"
    "and prints NO report unless every check holds (the findings go to standard\n"
    "error, exit 1). It also checks who owns each case (the mentor whose device's\n"
    "CASE_OPEN is the case's first record; every later record by one of that\n"
    "mentor's devices: else NOT_YOUR_CASE, no report). Mentors' device keys come\n"
    "from the file's DEVICE_ENROLLED events.\n"
    "\n"
    "  --log-key VKEY   the log's verifier key NAME+KEYID+BASE64, obtained out of band\n"
    "                   (`mentorlog-server admin log-key`); may be left out with --state\n"
    "  --state DIR      an existing state directory of `verify --state`: its log-key and\n"
    "                   the checkpoints verified there before (read, never written). The\n"
    "                   entries a kept checkpoint covers are checked without verifying\n"
    "                   their signatures again (their root must be that checkpoint's,\n"
    "                   which was verified whole): `verify --state DIR` once, then\n"
    "                   reports of that file cost no Ed25519\n"
    "  --json, --csv    the document's format (default JSON); docs/reports.md\n"
    "  --from, --to     only the grants, periods and figures that meet the range (either\n"
    "                   bound may be left out; at most 1,100 days), as the server's\n"
    "  --now TIME       the instant the figures are evaluated at (a period is PENDING\n"
    "                   until its last day + grace days): Unix milliseconds, or\n"
    "                   YYYY-MM-DDTHH:MM:SS[.mmm]Z (as a document's generated_at), or\n"
    "                   Copenhagen wall time 'YYYY-MM-DD HH:MM[:SS][+01:00|+02:00]'.\n"
    "                   Default: the receipt time of the file's last entry (the latest\n"
    "                   instant the log commits to), so one file gives one report.\n"
    "                   The server evaluates at its clock when it answered: to\n"
    "                   recompute a document it served, give its generated_at;\n"
    "                   for today, --now $(date +%s%3N)\n"
    "  --jobcentre ID   only that jobcentre's grants: the document is then byte for\n"
    "                   byte the server's for that jobcentre's token, for the same\n"
    "                   checkpoint, --now and range (but for erased grants whose codes\n"
    "                   are gone, which the file cannot place: they are listed for\n"
    "                   every jobcentre). Without it: every grant, \"jobcentre\": null,\n"
    "                   and each grant names its jobcentre (JSON \"jobcentre\" member,\n"
    "                   CSV column after grant_id)\n"
    "\n"
    "Erased grants (CASE_ERASE, retention purge) are listed with state ERASED, as\n"
    "the server lists them. The document names the file's checkpoint (size, root).\n"
    "Errors: one line on standard error, 'mentorlog-audit: report: CODE: message',\n"
    "CODE a stable name of docs/errors.md.\n"
    "Exit status: 0 the report was printed; 1 FILE does not verify, breaks case\n"
    "ownership, or cannot be read or written; 2 usage error.\n";

/* Findings printed before the refusal (verify prints them all). */
#define SHOWN_FINDINGS 20
/* A document may be large (2,000 grants of half a year: ~13 MB); the cap
 * only stops a runaway. */
#define DOC_CAP (1024u << 20)

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, AUDIT_PROG ": report: %s: ", mlproto_errname(code));
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return AUDIT_EXIT_FAIL;
}

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

/* --now: Unix ms, RFC 3339 UTC (with or without .mmm), or Copenhagen wall
 * time (mlproto_datetime_parse). */
static int parse_now(const char *s, int64_t *out) {
  size_t n = strlen(s);
  if (all_digits(s)) {
    if (n > 15) return MLPROTO_ERR_OUT_OF_RANGE; /* past year 33658 */
    *out = (int64_t)strtoll(s, NULL, 10);
    return MLPROTO_OK;
  }
  if (n == 24 && s[10] == 'T' && s[19] == '.' && s[23] == 'Z') {
    char z[21];
    memcpy(z, s, 19);
    z[19] = 'Z';
    z[20] = 0;
    char ms[4] = {s[20], s[21], s[22], 0};
    if (!all_digits(ms)) return MLPROTO_ERR_BAD_TIME;
    int rc = mlproto_datetime_parse(out, z, 20);
    if (!rc) *out += strtol(ms, NULL, 10);
    return rc;
  }
  return mlproto_datetime_parse(out, s, n);
}

static int parse_date(const char *s, mlproto_date *out) {
  return strlen(s) == 10 && mlproto_date_parse(out, s, 10) == MLPROTO_OK ? 0 : -1;
}

static void print_findings(const char *path, const audit_result *r) {
  fprintf(stderr, AUDIT_PROG ": report: %s does not verify:\n", path);
  for (size_t i = 0; i < r->n_findings && i < SHOWN_FINDINGS; i++) {
    const audit_finding *f = &r->findings[i];
    if (f->has_index) fprintf(stderr, "  index %" PRIu64 ": ", f->index);
    else fprintf(stderr, "  file: ");
    fprintf(stderr, "%s: %s", mlproto_errname(f->code), f->text);
    if (f->has_offset) fprintf(stderr, " (byte %" PRIu64 ")", f->offset);
    fputc('\n', stderr);
  }
  if (r->findings_total > SHOWN_FINDINGS)
    fprintf(stderr, "  ... and %" PRIu64 " more (`mentorlog-audit verify` lists them all)\n",
            r->findings_total - SHOWN_FINDINGS);
}

static int write_out(const mlproto_buf *b) {
  if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len) return MLPROTO_ERR_IO;
  return fflush(stdout) == 0 ? MLPROTO_OK : MLPROTO_ERR_IO;
}

int cmd_report(int argc, char **argv) {
  if (audit_wants_help(argc, argv)) {
    fputs(usage_report, stdout);
    return AUDIT_EXIT_OK;
  }
  const char *path = NULL, *vkey = NULL, *state_dir = NULL, *from_s = NULL, *to_s = NULL,
             *now_s = NULL, *jc = NULL;
  int format = -1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name, var) else if (strcmp(a, name) == 0 && v && !var) var = argv[++i]
    if (0) {}
    OPT("--log-key", vkey);
    OPT("--state", state_dir);
    OPT("--from", from_s);
    OPT("--to", to_s);
    OPT("--now", now_s);
    OPT("--jobcentre", jc);
#undef OPT
    else if (strcmp(a, "--json") == 0 && format < 0) format = MLPROTO_REPORT_JSON;
    else if (strcmp(a, "--csv") == 0 && format < 0) format = MLPROTO_REPORT_CSV;
    else if (a[0] != '-' && !path) path = a;
    else
      return audit_usage(usage_report, "unknown or repeated option, missing value, or extra "
                                       "argument (one of --json, --csv)");
  }
  if (format < 0) format = MLPROTO_REPORT_JSON;
  if (!path) return audit_usage(usage_report, "report needs FILE");
  mlproto_note_verifier key;
  if (vkey && mlproto_note_vkey_parse(&key, vkey, strlen(vkey)) != MLPROTO_OK)
    return audit_usage(usage_report, "--log-key: not a verifier key NAME+KEYID+BASE64 (as "
                                     "`mentorlog-server admin log-key` prints it)");
  if (!vkey && !state_dir)
    return audit_usage(usage_report, "report needs --log-key VKEY (or a --state DIR that holds it)");
  mlproto_date from = MLPROTO_DATE_NONE, to = MLPROTO_DATE_NONE;
  if ((from_s && parse_date(from_s, &from)) || (to_s && parse_date(to_s, &to)))
    return audit_usage(usage_report, "--from, --to: a date YYYY-MM-DD");
  if (from != MLPROTO_DATE_NONE && to != MLPROTO_DATE_NONE && (to < from || to - from > 1100))
    return audit_usage(usage_report, "--from <= --to, at most 1100 days apart");
  int64_t now = AUDIT_NOW_LOG;
  if (now_s && parse_now(now_s, &now) != MLPROTO_OK)
    return audit_usage(usage_report, "--now: Unix ms, YYYY-MM-DDTHH:MM:SS[.mmm]Z, or "
                                     "'YYYY-MM-DD HH:MM[:SS][+01:00|+02:00]' (Copenhagen)");
  if (jc && (!*jc || strlen(jc) > MLPROTO_REPORT_CODE_MAX))
    return audit_usage(usage_report, "--jobcentre: 1..64 bytes");

  audit_state st;
  memset(&st, 0, sizeof st);
  int ex = 0;
  if (state_dir) {
    char why[AUDIT_STATE_PATH_MAX + 64];
    struct stat sb;
    int rc = 0;
    if (stat(state_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
      ex = fail(MLPROTO_ERR_NOT_FOUND, "--state %s: not a state directory (`verify --state` "
                "makes one)", state_dir);
    else if ((rc = audit_state_open(&st, state_dir, why, sizeof why)))
      ex = fail(rc, "--state: %s: %s", why, rc == MLPROTO_ERR_IO ? strerror(errno) : mlproto_strerror(rc));
    else if (st.have_key && vkey &&
             (strcmp(st.key.name, key.name) != 0 || memcmp(st.key.pk, key.pk, 32) != 0))
      ex = fail(MLPROTO_ERR_BAD_KEY, "--log-key is not the key kept in %s/log-key (%s): this "
                "state is of another log", state_dir, st.vkey);
    else if (!vkey && !st.have_key)
      ex = audit_usage(usage_report, "--state DIR holds no log-key yet: give --log-key VKEY");
    else {
      if (!vkey) key = st.key;
      if ((rc = audit_state_load_kept(&st, &key, why, sizeof why)))
        ex = fail(rc, "--state: %s: %s: the state is damaged or of another log", why,
                  rc == MLPROTO_ERR_IO ? strerror(errno) : mlproto_strerror(rc));
    }
  }
  af_map m = {NULL, 0};
  if (!ex) {
    int rc = af_map_open(&m, path);
    if (rc)
      ex = fail(rc, "cannot read %s: %s", path,
                rc == MLPROTO_ERR_NOT_FOUND ? "no such file" : strerror(errno));
  }
  audit_report r;
  memset(&r, 0, sizeof r);
  if (!ex) {
    audit_report_options o = {.key = &key, .kept = st.kept, .n_kept = st.n_kept,
                              .vouch_kept = 1, .jobcentre = jc, .now_ms = now};
    int rc = audit_report_build(&r, m.data, m.len, &o);
    if (rc) ex = fail(rc, "%s: %s", path, mlproto_strerror(rc));
  }
  if (!ex && r.verify.findings_total) {
    print_findings(path, &r.verify);
    ex = fail(r.verify.findings[0].code,
              "%s does not verify (%" PRIu64 " finding%s): no report is printed", path,
              r.verify.findings_total, r.verify.findings_total == 1 ? "" : "s");
  } else if (!ex && r.refused) {
    ex = fail(r.code ? r.code : MLPROTO_ERR_INTERNAL,
              "index %" PRIu64 ": %s (%" PRIu64 " such record%s): the log breaks case ownership, "
              "no report is printed", r.code_index, r.why, r.ownership_total,
              r.ownership_total == 1 ? "" : "s");
  }
  if (!ex) {
    mlproto_buf b;
    mlproto_buf_init(&b, DOC_CAP);
    int rc = audit_report_render(&b, format, &r, from, to);
    if (!rc) rc = write_out(&b);
    if (rc) ex = fail(rc, "cannot write the report: %s", mlproto_strerror(rc));
    mlproto_buf_free(&b);
  }
  audit_report_free(&r);
  af_map_close(&m);
  audit_state_close(&st);
  return ex;
}
