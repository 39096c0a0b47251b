/*
 * mlproto/report.h — the jobcentre's reports (module mlproto_derive): one
 * grant's figures built from the disclosed parts of its case's records and
 * their log entries, and the JSON and CSV documents of the three reports
 * (compliance, contacts of one grant, monthly timesheet).
 *
 * The server's jobcentre endpoints (/v1/jobcentre/...) and `mentorlog-audit report` both
 * call these functions on the same records, so an auditor's recomputation
 * from an exported log equals, byte for byte, what the jobcentre was served
 * for the same checkpoint and the same `now` (docs/reports.md). Nothing here
 * reads a sealed byte: a report only ever holds disclosed fields, log
 * positions and the results of mlproto_compliance_compute.
 *
 * Pure and reentrant; a report is one block plus its compliance result,
 * both freed by mlproto_grant_report_free (NULL is a no-op); on error *out
 * is NULL.
 */
#ifndef MLPROTO_REPORT_H
#define MLPROTO_REPORT_H

#include "mlproto/common.h"
#include "mlproto/compliance.h"
#include "mlproto/util.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mlproto_record;

/* Codes of GrantDisclosed (jobcentre_id, case_ref, legal_basis): <= 64 bytes. */
#define MLPROTO_REPORT_CODE_MAX 64

/* Where a record sits in the log: its leaf index and the receipt time the
 * leaf commits. An unlogged record (a device's own, not yet pushed):
 * MLPROTO_REPORT_NOT_LOGGED and 0. */
#define MLPROTO_REPORT_NOT_LOGGED UINT64_MAX
typedef struct mlproto_log_pos {
  uint64_t index;
  uint64_t received_at_ms;
} mlproto_log_pos;

/* One current contact of a grant, as the jobcentre sees it. */
typedef struct mlproto_report_contact {
  uint8_t record_id[16];       /* the representative version */
  int64_t start_ms;            /* claimed start */
  mlproto_date local_date;     /* its Copenhagen date */
  uint32_t minutes;            /* held minutes as the engine counts them */
  uint32_t duration_minutes;   /* as recorded */
  uint32_t transport_minutes;  /* never billable */
  mlproto_channel channel;
  mlproto_outcome outcome;
  int64_t recorded_at_ms;      /* the device's clock (HLC ms) */
  uint64_t log_index;          /* MLPROTO_REPORT_NOT_LOGGED when not in the log */
  uint64_t received_at_ms;     /* the server's receipt time, 0 when not logged */
  int32_t period;              /* index into the compliance's periods, or -1 */
  int qualifies, attempt, in_absence, late_entry, late_sync, conflict;
} mlproto_report_contact;

typedef struct mlproto_grant_report {
  uint8_t grant_id[16]; /* the grant item's GRANT_OPEN record id */
  uint8_t case_id[16];
  char jobcentre_id[MLPROTO_REPORT_CODE_MAX + 1];
  char case_ref[MLPROTO_REPORT_CODE_MAX + 1];
  char legal_basis[MLPROTO_REPORT_CODE_MAX + 1];
  /* 1: a disclosed part the figures need was erased (CASE_ERASE, retention):
   * only the ids (and the codes, when the grant's own part survived) are
   * known; compliance is NULL and there are no contacts. */
  int erased;
  /* An error code when the grant's parameters do not validate (BAD_RULE,
   * BAD_PERIOD, BAD_DATE, OUT_OF_RANGE: a record no conforming device
   * writes): no figures either. 0 otherwise. */
  int invalid;
  int grant_conflict; /* the grant item has concurrent heads */
  mlproto_grant grant;
  mlproto_compliance *compliance; /* owned by the report; NULL when erased */
  size_t n_contacts;
  mlproto_report_contact *contacts; /* ordered as compliance->contacts */
} mlproto_grant_report;

/*
 * The report of one grant at time now_ms.
 *   records, n  verified records of the grant's case (any order; others are
 *               ignored), as for mlproto_compliance_inputs_from_records
 *   pos         per record its log position, or NULL: nothing logged
 *   grant_id    the record id of any version of the grant
 *   mentor_keys author keys of the grant's mentor's devices (NULL, 0: every
 *               author is the mentor), as for the inputs
 * A grant whose parameters or contacts were erased is a report with
 * erased = 1, one whose parameters do not validate a report with invalid
 * set (neither is an error: a report names them). Errors: those of
 * mlproto_compliance_inputs_from_records (but SEALED_ERASED) and of
 * mlproto_compliance_compute (but the grant's validation errors),
 * INVALID_ARGUMENT, OUT_OF_MEMORY.
 */
MLPROTO_EXTERN int mlproto_grant_report_build(mlproto_grant_report **out,
                                              const struct mlproto_record *const *records,
                                              const mlproto_log_pos *pos, size_t n,
                                              const uint8_t grant_id[16],
                                              const uint8_t (*mentor_keys)[32],
                                              size_t n_mentor_keys, int64_t now_ms)
    MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN void mlproto_grant_report_free(mlproto_grant_report *r);

/*
 * The same report in two steps, for a caller that computes a grant's report
 * again and again over the same records at other times (the server's report
 * cache): what does not depend on now_ms, built once from the records —
 * the compliance inputs with the contacts' receipt times, the grant's codes,
 * its contacts' record ids and log positions (for an erased grant its ids
 * and surviving codes) — then the report at any now_ms from it.
 * mlproto_grant_report_build() is exactly these two calls, so
 * mlproto_grant_report_compute(basis, now) gives, byte for byte, the
 * report mlproto_grant_report_build(records, ..., now) gives.
 * A basis holds no sealed byte and no pointer into the records; it is never
 * changed once built, so any number of threads may compute from one basis
 * at once. mlproto_grant_basis_bytes: about the memory it holds (for a
 * cache's cap). Errors of _build: those of mlproto_grant_report_build
 * that do not come from the computation; of _compute: OUT_OF_MEMORY,
 * INVALID_ARGUMENT.
 */
typedef struct mlproto_grant_basis mlproto_grant_basis;
MLPROTO_EXTERN int mlproto_grant_basis_build(mlproto_grant_basis **out,
                                             const struct mlproto_record *const *records,
                                             const mlproto_log_pos *pos, size_t n,
                                             const uint8_t grant_id[16],
                                             const uint8_t (*mentor_keys)[32],
                                             size_t n_mentor_keys) MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN int mlproto_grant_report_compute(mlproto_grant_report **out,
                                                const mlproto_grant_basis *b,
                                                int64_t now_ms) MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN size_t mlproto_grant_basis_bytes(const mlproto_grant_basis *b);
MLPROTO_EXTERN void mlproto_grant_basis_free(mlproto_grant_basis *b); /* NULL: no-op */

/* ------------------------------------------------------------ gathering */

/* What the server's reports and `mentorlog-audit report` do alike between
 * the records of a log and a document, so that neither has its own copy:
 * which records a report reads, every grant of one case, which grants a
 * jobcentre sees, their order, the range and the document's meta. Where
 * they get a case's records and its mentor's keys differs (the server: its
 * store, in one read snapshot; the auditor: the file, from its
 * DEVICE_ENROLLED events and each case's first CASE_OPEN), and is said
 * where each does it (app_jobcentre.c, tools/audit/report.h). */

/* 1 for the kinds whose records a report reads: GRANT_OPEN, GRANT_UPDATE,
 * GRANT_CLOSE, CONTACT, ABSENCE (mlproto_compliance_inputs_from_records
 * ignores every other kind). The other records of a case (CASE_OPEN, NOTE,
 * KEY_GRANT, CASE_ERASE) change no figure and are left out of what is
 * handed to mlproto_case_reports, so that a report never parses a note. */
MLPROTO_EXTERN int mlproto_report_kind_used(uint32_t kind);

/* 1 when grant report g belongs in the documents of jobcentre jc: its
 * current version names jc, or it was erased and its codes are gone (the
 * records cannot tell whose it was: the server shows it to the jobcentres
 * its case was indexed under, an auditor's file cannot narrow it down).
 * jc NULL: every grant (an auditor's report of every jobcentre). */
MLPROTO_EXTERN int mlproto_grant_report_for(const mlproto_grant_report *g, const char *jc);

/*
 * The reports of every grant of one case at now_ms: one
 * mlproto_grant_report_build per GRANT_OPEN among records (their order),
 * kept when mlproto_grant_report_for(report, jc). records, pos, n,
 * mentor_keys and n_mentor_keys as for mlproto_grant_report_build (all of
 * one case; records of kinds mlproto_report_kind_used rejects may be
 * present or left out, with the same result). *out: an array of *n_out
 * reports, NULL when none; free with mlproto_grant_reports_free. Errors
 * those of mlproto_grant_report_build; on error *out is NULL, *n_out 0.
 */
MLPROTO_EXTERN int mlproto_case_reports(mlproto_grant_report ***out, size_t *n_out,
                                        const struct mlproto_record *const *records,
                                        const mlproto_log_pos *pos, size_t n,
                                        const uint8_t (*mentor_keys)[32], size_t n_mentor_keys,
                                        int64_t now_ms, const char *jc) MLPROTO_WARN_UNUSED;
/* Frees each of g[0..n) and the array (mlproto_free); NULL: no-op. */
MLPROTO_EXTERN void mlproto_grant_reports_free(mlproto_grant_report **g, size_t n);

/* Sorts g[0..n) into the order of every document: jobcentre id, municipal
 * reference, start date, grant id (byte order). Within one jobcentre's
 * grants that is the reference, start, id order of docs/reports.md (the
 * erased grants whose codes are gone have empty codes: they come first). */
MLPROTO_EXTERN void mlproto_grant_reports_sort(mlproto_grant_report **g, size_t n);

/* Keeps, in their order, the reports of g[0..n) whose grant meets
 * [from, to] (mlproto_grant_report_in_range), frees the others; returns how
 * many are kept (at the front of g). */
MLPROTO_EXTERN size_t mlproto_grant_reports_keep_range(mlproto_grant_report **g, size_t n,
                                                       mlproto_date from, mlproto_date to);

/* ------------------------------------------------------------ documents */

/* What every document names: the checkpoint it was computed over, when, for
 * whom, and the range asked for. from/to: MLPROTO_DATE_NONE for no bound. */
typedef struct mlproto_report_meta {
  uint64_t checkpoint_size;
  uint8_t checkpoint_root[32];
  const char *origin;       /* the log's origin (checkpoint line 1) */
  int64_t generated_at_ms;  /* the now_ms the figures were computed at */
  /* The jobcentre whose document it is; NULL: a document of every
   * jobcentre (`mentorlog-audit report`), "jobcentre": null, and then each
   * grant names its own (JSON: a "jobcentre" member after "case_id", null
   * when an erasure took it; compliance CSV: a jobcentre column after
   * grant_id). */
  const char *jobcentre_id;
  mlproto_date from, to;    /* compliance: the range; contacts: the range */
  mlproto_date month;       /* timesheet: the month's first day */
} mlproto_report_meta;

/* m for the checkpoint (size, root, origin) at now_ms, for jobcentre jc
 * (NULL: every jobcentre); from, to and month MLPROTO_DATE_NONE. origin and
 * jc are referenced, not copied. */
MLPROTO_EXTERN void mlproto_report_meta_init(mlproto_report_meta *m, uint64_t checkpoint_size,
                                             const uint8_t checkpoint_root[32],
                                             const char *origin, int64_t now_ms,
                                             const char *jc);

/* 1 when the grant's support [S, E'] meets [from, to] (open bounds with
 * MLPROTO_DATE_NONE); an erased grant always meets. */
MLPROTO_EXTERN int mlproto_grant_report_in_range(const mlproto_grant_report *r,
                                                 mlproto_date from, mlproto_date to);

/* Format (docs/reports.md): */
enum { MLPROTO_REPORT_JSON = 0, MLPROTO_REPORT_CSV = 1 };

/* GET /v1/jobcentre/compliance: per grant its rule, the periods meeting
 * [from, to] with status and reason, the missed ones, minutes held and
 * granted over the ISO weeks meeting [from, to], the last held contact on or
 * before `to`, late entries, late syncs and conflicts among the contacts
 * dated in the range. CSV: one row per period (grant columns repeated; an
 * erased grant one row with status ERASED). Grants in the given order.
 * Appends to out; errors of the writer (TOO_LARGE at out's cap, OOM). */
MLPROTO_EXTERN int mlproto_report_compliance(mlproto_buf *out, int format,
                                             const mlproto_report_meta *m,
                                             const mlproto_grant_report *const *g, size_t n)
    MLPROTO_WARN_UNUSED;

/* The part of that document that grants [lo, hi) of g[0..n) make, for
 * writing one document on several threads: with lo == 0 it begins with the
 * document's head (the meta, the CSV header), with hi == n it ends with its
 * tail. The slices [k0, k1), [k1, k2), ... [km-1, km) of a split
 * 0 = k0 < k1 < ... < km = n (none empty; for n = 0 the one slice [0, 0)),
 * appended in order, are byte for byte mlproto_report_compliance(out,
 * format, m, g, n), which is the slice [0, n). INVALID_ARGUMENT unless
 * lo <= hi <= n. */
MLPROTO_EXTERN int mlproto_report_compliance_slice(mlproto_buf *out, int format,
                                                   const mlproto_report_meta *m,
                                                   const mlproto_grant_report *const *g, size_t n,
                                                   size_t lo, size_t hi) MLPROTO_WARN_UNUSED;

/* GET /v1/jobcentre/grants/REF/contacts: the grant's current contacts dated
 * in [from, to] with their three times (claimed start, device, server
 * receipt + log index), channel, outcome, minutes and flags. */
MLPROTO_EXTERN int mlproto_report_contacts(mlproto_buf *out, int format,
                                           const mlproto_report_meta *m,
                                           const mlproto_grant_report *g) MLPROTO_WARN_UNUSED;

/* GET /v1/jobcentre/timesheet: for the month of m->month, per grant its held
 * contacts dated in the month with billable minutes, transport separate, and
 * the grant's totals. CSV: one row per contact. */
MLPROTO_EXTERN int mlproto_report_timesheet(mlproto_buf *out, int format,
                                            const mlproto_report_meta *m,
                                            const mlproto_grant_report *const *g, size_t n)
    MLPROTO_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
