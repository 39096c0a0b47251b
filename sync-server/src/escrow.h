/*
 * escrow.h — the organisation's escrow key on the server (DESIGN §4,
 * mlproto/escrow.h, docs/escrow.md).
 *
 * The server holds only the public halves: the X25519 key devices seal
 * every case key to, and the Ed25519 key the escrow's re-grants are signed
 * with. They are kept in the store's meta table ('escrow_key': box_pub ||
 * sign_pub) and announced in the log as ESCROW_KEY server events, one per
 * mentor (a device pulls only its mentor's entries): for every mentor when
 * the key is set, and for a mentor added later when it is added. Devices
 * take the key only from the log, never from an enrolment answer, so an
 * escrow key is always on the record for the auditor.
 *
 * A re-grant (the escrow's KEY_GRANT of a case key to a new device of a
 * mentor who lost every device) is signed offline by the escrow holder
 * (`mentorlog-audit regrant`) and imported here: each envelope must verify,
 * be a KEY_GRANT authored by the current escrow signing key, continue the
 * escrow's chain (seq, prev), concern a case of the server's that is not
 * erased, and be sealed only to active devices of that case's mentor.
 * Accepted grants are appended as records of the case's mentor (entry type
 * 1, like a device's) in one transaction: all of the file or none of it.
 */
#ifndef MLS_ESCROW_H
#define MLS_ESCROW_H

#include "log.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define MLS_ESCROW_META "escrow_key"

/* The configured escrow key; NOT_FOUND when none. */
int mls_escrow_get(mls_txn *tx, uint8_t box_pub[32], uint8_t sign_pub[32]);

/* One ESCROW_KEY event for mentor_id when an escrow key is configured
 * (nothing otherwise; *appended 1 / 0, may be NULL). Inside the caller's
 * log transaction. */
int mls_escrow_announce(mls_log *log, mls_txn *tx, const uint8_t mentor_id[16], uint64_t now_ms,
                        int *appended);

/* Makes (box_pub, sign_pub) the escrow key and announces it to every
 * mentor; *mentors counts the events. ALREADY_EXISTS when it is the key
 * already configured (nothing logged). Inside the caller's log transaction. */
int mls_escrow_set(mls_log *log, mls_txn *tx, const uint8_t box_pub[32], const uint8_t sign_pub[32],
                   uint64_t now_ms, uint64_t *mentors);

/* What an import did, or where it stopped. */
typedef struct mls_escrow_import_info {
  size_t grants;         /* envelopes appended */
  size_t failed_item;    /* 1-based item of the file that was refused (0: the file) */
  char why[200];         /* the refusal, in words */
} mls_escrow_import_info;

/* Checks and appends every re-grant of the file (file[0..len)) at now_ms,
 * inside the caller's log transaction (the caller aborts it on error).
 * Errors: NO_ESCROW_KEY; AUDIT_FILE_MALFORMED / _TRUNCATED (framing);
 * the record's own verification codes; KIND_NOT_ALLOWED (not a KEY_GRANT);
 * AUTHOR_MISMATCH (not the escrow's signing key); SEQ_GAP / PREV_MISMATCH /
 * ALREADY_EXISTS (the escrow's chain: a grant imported before, or a file
 * made from an older copy of the log); NOT_FOUND (no such case);
 * CASE_ERASED; FORBIDDEN (a recipient that is not an active device of the
 * case's mentor). info->failed_item and why say which and what. */
int mls_escrow_import(mls_log *log, mls_txn *tx, const uint8_t *file, size_t len, uint64_t now_ms,
                      mls_escrow_import_info *info);

#endif
