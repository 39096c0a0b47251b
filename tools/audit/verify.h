/*
 * verify.h — the auditor's check of an audit log file (tools/audit,
 * internal; docs/audit-log-format.md §4 lists every check and its code).
 *
 * It trusts nothing in the file but what the configured log key signs: the
 * file's vkey line is compared with the key, never used. In one pass over
 * the file, in order:
 *   framing     the header and every item (mlproto/auditlog.h): a file that
 *               does not parse is reported where it stops (byte offset);
 *   per entry   contiguous indices from 0 (TREE_RANGE); receipt times never
 *               decreasing (RECEIPT_TIME_REVERSED); the envelope
 *               (mlproto_record_verify: signature, every present disclosed
 *               and sealed part against its hash; erased parts are allowed
 *               and listed); the entry type of its kind (FIELD_RANGE);
 *               server events signed by the log key (AUTHOR_MISMATCH);
 *               device records by a device a DEVICE_ENROLLED event named
 *               earlier and no DEVICE_REVOKED revoked earlier, or KEY_GRANTs
 *               (only) by the signing key of the latest ESCROW_KEY event
 *               read before them, the escrow's re-grants (FORBIDDEN);
 *               every author's chain (mlproto_chain_check: SEQ_GAP,
 *               PREV_MISMATCH, FORK; a record logged twice: ALREADY_EXISTS);
 *   the tree    the RFC 9162 root over the leaves in file order, checked
 *               against every kept checkpoint on the way (SPLIT_VIEW for one
 *               size with two roots, PROOF_INVALID for an earlier one the
 *               leaves do not extend, TREE_RANGE for one larger than the
 *               file's log) and against the file's checkpoint, which must
 *               open under the key (mlproto_checkpoint_open's codes), carry
 *               the log's signature only (CHECKPOINT_MALFORMED), be of the
 *               header's size and of the number of entries (TREE_RANGE) and
 *               come last (AUDIT_FILE_MALFORMED; missing: AUDIT_FILE_TRUNCATED).
 * Each failed check is one finding with the log index of the entry it
 * concerns; the pass goes on after a finding (one damaged record does not
 * hide another), and marks what it could not check so that one fault is
 * not reported again by every later entry of the same author.
 *
 * Memory: about 60 bytes per record (each author's record hashes, for forks
 * and duplicates), 1,024 records being verified, and the file, which the
 * caller maps or reads. Time: one Ed25519 verification per entry, on every
 * core (batch.h's pool); the rest in file order on the calling thread while
 * the next batch is being verified.
 *
 * Threads: reentrant; a result belongs to its caller. audit_verify starts
 * threads of its own for the signatures and joins them before it returns.
 */
#ifndef ML_AUDIT_VERIFY_H
#define ML_AUDIT_VERIFY_H

#include "mlproto/auditlog.h"
#include "mlproto/checkpoint.h"
#include "mlproto/record.h"

#include <stddef.h>
#include <stdint.h>

#define AUDIT_FINDING_TEXT 240
#define AUDIT_MAX_FINDINGS_DEFAULT 1000

typedef struct audit_finding {
  int has_index;        /* 0: the file or its checkpoint as a whole */
  uint64_t index;       /* the log index concerned */
  int has_offset;
  uint64_t offset;      /* byte offset in the file of the item concerned */
  int code;             /* MLPROTO_ERR_*: mlproto_errname() is its stable name */
  char text[AUDIT_FINDING_TEXT]; /* what is wrong, in words (no newline) */
} audit_finding;

/* An erased part: allowed (retention, erasure), reported with what in the
 * log accounts for it — erasing is not signed (record-format §8), so what
 * says why a case's bytes are gone is a CASE_ERASE record of the case or a
 * RETENTION_PURGE event of the log key naming it, anywhere in the file. */
typedef struct audit_erasure {
  uint64_t index;
  unsigned parts;       /* MLPROTO_PART_DISCLOSED | MLPROTO_PART_SEALED */
  uint8_t case_id[16];
  int accounted;        /* a CASE_ERASE or RETENTION_PURGE names the case: */
  uint64_t accounted_at; /* the first one's index */
} audit_erasure;

typedef struct audit_options {
  const mlproto_note_verifier *key;  /* the log key the auditor configured (required) */
  const mlproto_checkpoint *kept;    /* checkpoints verified before, any order */
  size_t n_kept;
  size_t max_findings;               /* kept in the result; 0: AUDIT_MAX_FINDINGS_DEFAULT */
  unsigned threads;                  /* for the signatures (batch.h); 0: every core, 1: this
                                        thread only */
  /* 1: the signatures of the first S entries, S the largest kept
   * checkpoint's size, are not verified again (every other check is made):
   * a kept checkpoint was verified whole, signatures included, and the root
   * over those S leaves must be its root (else PROOF_INVALID, or TREE_RANGE
   * for a file shorter than S), and a leaf commits to the record hash
   * SHA-256(header || signature) — an envelope whose header or signature
   * differs from the one verified then cannot give that root. A changed
   * entry is then found as PROOF_INVALID at size S rather than by the code
   * of its own failed check. (`report --state` uses it; `verify` does not.) */
  int vouch_kept;
  /* Optional: called on the calling thread, in file order, for each entry
   * whose envelope verified, right after that entry's checks (a finding
   * about it may have been made: the caller judges by findings_total at
   * the end). It may keep the record: it then sets *rec to NULL and frees
   * it later with mlproto_record_free. A non-zero return (a MLPROTO_ERR_*)
   * stops the pass, and audit_verify returns it. (report.c keeps the
   * records a report reads, so that no envelope is parsed twice.) */
  int (*on_record)(void *ud, const mlproto_auditlog_item *it, mlproto_record **rec);
  void *ud;
} audit_options;

typedef struct audit_result {
  int header_ok;                     /* the header parsed */
  mlproto_auditlog_header header;
  int checkpoint_ok;                 /* the file's checkpoint opened under the key */
  mlproto_checkpoint checkpoint;
  const uint8_t *note;               /* that note, in the caller's file buffer */
  size_t note_len;
  uint8_t root[32];                  /* over the entries read */
  uint64_t entries;                  /* entry items read */
  uint64_t device_records, server_events;
  uint64_t authors;                  /* distinct authors of verified records */
  uint64_t devices_enrolled, devices_revoked;
  uint64_t escrow_keys;              /* ESCROW_KEY events of the log key */
  uint64_t escrow_regrants;          /* KEY_GRANTs by the escrow key announced last */
  audit_finding *findings;           /* the first max_findings */
  size_t n_findings;
  uint64_t findings_total;           /* all of them: 0 means everything holds */
  audit_erasure *erased;
  size_t n_erased;
} audit_result;

/* Checks the file (len bytes at file; NULL when len is 0) as above. Returns
 * MLPROTO_OK when the check ran to its end, whatever it found
 * (out->findings_total == 0: everything holds); INVALID_ARGUMENT (no key),
 * OUT_OF_MEMORY, or what o->on_record returned (out is then freed and
 * zeroed). Free out with audit_result_free. */
int audit_verify(audit_result *out, const uint8_t *file, size_t len, const audit_options *o);
void audit_result_free(audit_result *r);

#endif
