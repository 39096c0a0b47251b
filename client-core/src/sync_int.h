/* Shared by the sync engine's files: the state a profile keeps for sync
 * (sync_state.c), the engine (sync.c), page checks and application
 * (sync_pull.c), key grants and device approval (sync_grants.c). */
#ifndef MENTORLOG_SYNC_INT_H
#define MENTORLOG_SYNC_INT_H

#include "records_int.h"

#include "mentorlog/sync.h"
#include "mlproto/checkpoint.h"

#define ML_SYNC_MAX_DEVICES 64 /* devices of one mentor a profile keeps */

enum {
  ML_DEV_SELF = 1,      /* this device */
  ML_DEV_FIRST = 2,     /* the mentor's first DEVICE_ENROLLED: approved by enrolment */
  ML_DEV_APPROVED = 4,  /* approved here (mentorlog_device_approve) */
  ML_DEV_GRANTED = 8,   /* named in a KEY_GRANT written by an approved device */
  ML_DEV_REVOKED = 16,  /* a DEVICE_REVOKED event names it */
  ML_DEV_ROTATED = 32,  /* revoked, and this device rotated the case keys since */
};

struct ml_sync_device {
  uint8_t sign_pub[32], box_pub[32];
  char label[MENTORLOG_LABEL_MAX + 1];
  uint64_t log_index;     /* of its DEVICE_ENROLLED */
  int64_t received_ms;
  uint64_t revoked_index; /* of its DEVICE_REVOKED (valid with ML_DEV_REVOKED) */
  unsigned flags;
};

/* Everything the engine keeps between runs: one row, sealed at rest under
 * the record key (purpose "sync-state"), rewritten in the transaction of
 * whatever changed it. */
struct ml_sync_state {
  int enrolled;
  uint8_t device_id[16], mentor_id[16], server_pub[32];
  /* The escrow key of the latest ESCROW_KEY event pulled (never from an
   * enrolment answer: only what the log shows): case keys are granted to
   * escrow_pub, and KEY_GRANTs signed by escrow_sign are taken (re-grants). */
  int has_escrow;
  uint8_t escrow_pub[32], escrow_sign[32];
  char origin[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  char url[MENTORLOG_URL_MAX + 1], pin[MENTORLOG_PIN_MAX + 1], label[MENTORLOG_LABEL_MAX + 1];
  uint64_t cursor;
  int64_t last_sync_ms;
  /* The last session token (a bearer secret, sealed with the rest): a sync
   * reuses it until the server answers 401, saving two round trips. */
  char token[130];
  /* The last verified checkpoint: its note (the evidence) and content. */
  char note[MLPROTO_CHECKPOINT_SIGNED_MAX + 1];
  size_t note_len;
  mlproto_checkpoint cp;
  /* Two notes of one size with different roots, kept when a split view was
   * found (evidence for the auditor); empty otherwise. */
  char evidence[2 * MLPROTO_CHECKPOINT_SIGNED_MAX + 2];
  size_t n_devices;
  struct ml_sync_device devices[ML_SYNC_MAX_DEVICES];
};

/* ---- sync_state.c ---- */
/* Load the state (a profile never enrolled: zeroed, enrolled = 0). */
int ml__sync_load(mentorlog *h, struct ml_sync_state *s);
/* Write it inside the caller's transaction. */
int ml__sync_store(mentorlog *h, const struct ml_sync_state *s);
/* Receipts: the server's log index and receipt time of an own record,
 * sealed at rest (the index maps to a time through the public log). */
int ml__receipt_put(mentorlog *h, const uint8_t record_id[16], uint64_t index, int64_t received_ms,
                    int verified);
/* 0 and *found = 1 with the values, or *found = 0. */
int ml__receipt_get(mentorlog *h, const uint8_t record_id[16], int *found, uint64_t *index,
                    int64_t *received_ms, int *verified);
int ml__receipt_verified(mentorlog *h, const uint8_t record_id[16]);
struct ml_sync_device *ml__sync_device(struct ml_sync_state *s, const uint8_t sign_pub[32]);
struct ml_sync_device *ml__sync_device_box(struct ml_sync_state *s, const uint8_t box_pub[32]);
/* 1 when sign_pub is the signing key of the escrow the log announced last. */
int ml__sync_is_escrow(const struct ml_sync_state *s, const uint8_t sign_pub[32]);
/* Approved to receive case keys: first, approved here, or granted by an
 * approved device; never when revoked. */
int ml__sync_dev_approved(const struct ml_sync_device *d);

/* ---- sync_grants.c ---- */
/* A KEY_GRANT in the log (any author, own included), in log order, inside
 * the caller's transaction: remember which recipients the log names for
 * which key (grants table), mark recipients of an approved granter
 * approved, and take the key when it is sealed to this device, new here,
 * and its granter trusted for the case (approved, or the author of the
 * case's CASE_OPEN). *taken counts keys taken. */
int ml__grant_seen(mentorlog *h, struct ml_sync_state *s, const mlproto_record *r, uint32_t *taken);
/* Rotate: a fresh generation of every held case key for each revoked
 * device not rotated for yet. Then write the KEY_GRANTs still owed (every
 * held generation to every approved, non-revoked device and the escrow key
 * that the log does not name for it). Inside the caller's transaction;
 * *written counts the records. */
int ml__grants_write(mentorlog *h, struct ml_sync_state *s, uint32_t *written);
/* How many (key, recipient) grants ml__grants_write would write now. */
int ml__grants_pending(mentorlog *h, struct ml_sync_state *s, uint32_t *n);

/* ---- sync_pull.c ---- */
/* A push acknowledgement not written yet: the engine keeps them in memory
 * and writes them with the next transaction it commits (a lost one costs
 * only a resend, which the server acknowledges again with the same index),
 * so a run of push batches costs no commit of its own. */
struct ml_ack {
  uint8_t record_id[16];
  uint64_t index;
  int64_t received_ms;
};
/* Inside the caller's transaction: receipts for acks, outbox rows gone. */
int ml__acks_apply(mentorlog *h, const struct ml_ack *acks, size_t n);

struct ml_page_item {
  uint64_t index;
  int64_t received_ms;
  uint32_t entry_type;
  mlproto_record *r;          /* verified envelope */
  const uint8_t *env;         /* the envelope bytes (in the response) */
  size_t env_len;
};
/* Apply a checked page in one transaction: the pending acknowledgements
 * (first, so own records find their receipts), the records, the events, the
 * acknowledgements of own records, cursor and checkpoint (state s, which
 * the caller holds as a copy: on failure the caller reloads it). Every
 * check that needs the store (authors, chains, own records) happens here,
 * inside the transaction; a failed check rolls it back and returns
 * SERVER_LIED with errmsg naming it. *applied counts records of others
 * stored. */
int ml__page_apply(mentorlog *h, struct ml_sync_state *s, const struct ml_ack *acks, size_t n_acks,
                   const struct ml_page_item *items, size_t n, uint64_t next_since, const char *note,
                   size_t note_len, const mlproto_checkpoint *cp, uint64_t *applied);

#endif
