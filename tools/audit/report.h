/*
 * report.h — the jobcentres' compliance recomputed from an audit log file
 * alone (`mentorlog-audit report`, tools/audit internal; docs/reports.md
 * "mentorlog-audit report", docs/audit-log-format.md §7).
 *
 * Trusts nothing: audit_report_build runs every check of verify.h on the
 * file first, in the same pass, and computes figures only when there is
 * no finding and the cases' ownership holds (below); otherwise the report
 * is refused (refused = 1, no grant). The figures are protocol/'s, the
 * same functions the server's GET /v1/jobcentre/compliance calls
 * (mlproto/report.h: mlproto_case_reports, mlproto_grant_reports_sort,
 * mlproto_grant_reports_keep_range, mlproto_report_compliance), over the
 * same records: for each case, its device records of the kinds a report
 * reads (mlproto_report_kind_used), with their log index and receipt time.
 *
 * What the server reads from its store, the file gives:
 *   - the mentor of each device: the mentor_id of the DEVICE_ENROLLED event
 *     of the log key that named it (revoked devices stay their mentor's,
 *     as the server's device list keeps them);
 *   - the owner of each case: the mentor of the device whose CASE_OPEN is
 *     the case's first record in the log (the server's push lets a mentor
 *     claim a case only with its CASE_OPEN, and then only that mentor's
 *     devices write to it). A case whose first record is not a CASE_OPEN,
 *     or a record by a device of another mentor, is a log no honest server
 *     writes: NOT_YOUR_CASE, and the report is refused (verify does not
 *     check ownership: docs/audit-log-format.md §4);
 *   - the mentor keys of a grant: every device of its case's owner.
 *
 * Memory: the records a report reads stay parsed from the verification
 * until the report is freed (about 1.2 KB each); nothing is parsed twice.
 * Time: the verification (on every core), then each case computed on every
 * core (batch_for). Threads: reentrant; the result belongs to its caller.
 */
#ifndef ML_AUDIT_REPORT_H
#define ML_AUDIT_REPORT_H

#include "verify.h"

#include "mlproto/report.h"
#include "mlproto/util.h"

#include <stddef.h>
#include <stdint.h>

/* now_ms of the options: the receipt time of the file's last entry (the
 * latest instant the log itself commits to). */
#define AUDIT_NOW_LOG INT64_MIN

typedef struct audit_report_options {
  const mlproto_note_verifier *key; /* the log key the auditor configured (required) */
  const mlproto_checkpoint *kept;   /* checkpoints verified before (verify.h) */
  size_t n_kept;
  unsigned threads;                 /* 0: every core, 1: this thread only */
  int vouch_kept;                   /* verify.h: kept checkpoints vouch for signatures */
  const char *jobcentre;            /* NULL: every jobcentre's grants */
  int64_t now_ms;                   /* the figures' `now`, or AUDIT_NOW_LOG */
} audit_report_options;

typedef struct audit_report {
  audit_result verify;   /* the verification of the file (findings_total 0: it holds) */
  int refused;           /* 1: no figures (a finding, or ownership): print no report */
  /* Why, when the verification held but ownership did not: */
  int code;              /* MLPROTO_ERR_NOT_YOUR_CASE; 0 */
  uint64_t code_index;   /* the log index of the first such record */
  char why[AUDIT_FINDING_TEXT];
  uint64_t ownership_total; /* records that break ownership */
  int64_t now_ms;        /* the `now` used */
  uint64_t cases;        /* cases seen */
  uint64_t records;      /* records the report read */
  char jobcentre[MLPROTO_REPORT_CODE_MAX + 1]; /* the one asked for; "" every one */
  int every_jobcentre;
  mlproto_grant_report **g; /* the grants, in document order (mlproto_grant_reports_sort) */
  size_t n;
} audit_report;

/* Verifies file (len bytes) and, when it holds, computes every grant's
 * report. MLPROTO_OK when it ran to its end, whatever it found (look at
 * refused); INVALID_ARGUMENT (no key, a jobcentre id over 64 bytes),
 * OUT_OF_MEMORY, or an error of the computation (mlproto_case_reports:
 * a record of a kind the checks let through but the engine cannot take, e.g.
 * TOO_LARGE past its caps) — out is then freed and zeroed. Free out with
 * audit_report_free. */
int audit_report_build(audit_report *out, const uint8_t *file, size_t len,
                       const audit_report_options *o);

/* The compliance document (mlproto_report_compliance, format
 * MLPROTO_REPORT_JSON or _CSV) of r's grants that meet [from, to]
 * (MLPROTO_DATE_NONE: open), for the file's checkpoint at r->now_ms,
 * appended to out. INVALID_ARGUMENT for a refused report; the writer's
 * errors (TOO_LARGE at out's cap, OUT_OF_MEMORY). */
int audit_report_render(mlproto_buf *out, int format, const audit_report *r, mlproto_date from,
                        mlproto_date to);

void audit_report_free(audit_report *r);

#endif
