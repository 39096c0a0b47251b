/*
 * mlproto/auditlog.h — the audit log file: the whole transparency log in one
 * file, as `mentorlog-audit fetch` downloads it and `mentorlog-server admin
 * export-log` writes it, for an auditor to verify offline
 * (docs/audit-log-format.md is the normative description; this is its
 * codec). Both writers produce it through these functions, so the same
 * checkpoint gives the same bytes.
 *
 *   header      "mentorlog-audit-log 1\n"            magic and version
 *               "origin <origin>\n"                  the log's name
 *               "vkey <name+keyid+base64>\n"         its verifier key (canonical:
 *                                                    lower-case key ID, name = origin)
 *               "size <N>\n"                         tree size of the checkpoint:
 *                                                    decimal, no leading zero, <= 2^63
 *               "\n"
 *   N entries   'E' || u32be len || u64be log_index || u8 entry_type
 *                   || u64be received_at_ms || envelope      (len = 17 + envelope bytes)
 *   checkpoint  'C' || u32be len || the C2SP checkpoint note of size N
 *   end of file
 *
 * Nothing in the file is trusted by the codec: it only frames. Which
 * indices, types, times and envelopes are right is the verifier's question
 * (tools/audit); the checkpoint is opened with the log key the auditor
 * configured, never with the vkey line (that line says which key the
 * writer meant; a verifier compares it with its own).
 *
 * Pure: no I/O, no clock. Encoders append to an mlproto_buf (util.h) and
 * leave it as it was when they fail. Decoders read from memory (a file
 * mapped or read whole, or a streaming reader's window) and never allocate;
 * what they return points into the input.
 *
 * Errors (negative codes of mlproto/errors.h):
 *   AUDIT_FILE_TRUNCATED  the input ends inside the header or an item: a
 *                         streaming reader reads more; at the end of a file
 *                         it was cut short (also: a partial download);
 *   AUDIT_FILE_MALFORMED  anything else that is not the layout above (bad
 *                         magic or version, a header line out of place or
 *                         not canonical, an unknown item tag, a length out
 *                         of its bounds);
 *   encoders: INVALID_ARGUMENT (NULL), BAD_KEY (a vkey that does not
 *   parse), TREE_RANGE (size > 2^63), FIELD_SIZE (an empty or oversized
 *   envelope or note), TOO_LARGE / OUT_OF_MEMORY (the buffer).
 *
 * Threads: reentrant, no shared state.
 */
#ifndef MLPROTO_AUDITLOG_H
#define MLPROTO_AUDITLOG_H

#include "mlproto/checkpoint.h"
#include "mlproto/common.h"
#include "mlproto/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLPROTO_AUDITLOG_MAGIC "mentorlog-audit-log 1\n"
/* Longest header (magic, the three lines at their longest, the blank line). */
#define MLPROTO_AUDITLOG_HEADER_MAX 1024u
/* Item tags. */
#define MLPROTO_AUDITLOG_ENTRY 0x45u      /* 'E' */
#define MLPROTO_AUDITLOG_CHECKPOINT 0x43u /* 'C' */
/* Tag and length in front of every item. */
#define MLPROTO_AUDITLOG_ITEM_PREFIX 5u
/* An entry's fields before its envelope: index, type, receipt time. */
#define MLPROTO_AUDITLOG_ENTRY_FIXED 17u
/* Largest envelope (mlproto/record.h MLPROTO_ENVELOPE_MAX) and note
 * (MLPROTO_CHECKPOINT_NOTE_MAX) an item may hold. */
#define MLPROTO_AUDITLOG_ENVELOPE_MAX (96u * 1024u)
#define MLPROTO_AUDITLOG_ITEM_MAX \
  (MLPROTO_AUDITLOG_ITEM_PREFIX + MLPROTO_AUDITLOG_ENTRY_FIXED + MLPROTO_AUDITLOG_ENVELOPE_MAX)

/* The header's content. origin and vkey are NUL-terminated. */
typedef struct mlproto_auditlog_header {
  char origin[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  char vkey[MLPROTO_NOTE_VKEY_MAX];
  mlproto_note_verifier verifier; /* vkey, parsed */
  uint64_t size;                  /* entries in the file = the checkpoint's size */
} mlproto_auditlog_header;

/* One item as read: an entry or the checkpoint. The pointers borrow from
 * the decoder's input. */
typedef struct mlproto_auditlog_item {
  unsigned tag;              /* MLPROTO_AUDITLOG_ENTRY or _CHECKPOINT */
  uint64_t index;            /* entry: log index as written */
  unsigned type;             /* entry: the log entry type byte, 0..255 */
  uint64_t received_at_ms;   /* entry: receipt time as written */
  const uint8_t *envelope;   /* entry: envelope bytes */
  size_t envelope_len;       /* 1..MLPROTO_AUDITLOG_ENVELOPE_MAX */
  const uint8_t *note;       /* checkpoint: the note */
  size_t note_len;           /* 1..MLPROTO_CHECKPOINT_NOTE_MAX */
} mlproto_auditlog_item;

/* Appends the header for the log of verifier key vkey (NUL-terminated, as
 * `admin log-key` prints it; written in canonical form, origin = its name)
 * and tree size `size`. */
MLPROTO_EXTERN int mlproto_auditlog_header_encode(mlproto_buf *out, const char *vkey,
                                                  uint64_t size) MLPROTO_WARN_UNUSED;

/* Appends one entry item. type must be 0..255, env_len
 * 1..MLPROTO_AUDITLOG_ENVELOPE_MAX (else FIELD_RANGE / FIELD_SIZE). */
MLPROTO_EXTERN int mlproto_auditlog_entry_encode(mlproto_buf *out, uint64_t index, unsigned type,
                                                 uint64_t received_at_ms, const uint8_t *env,
                                                 size_t env_len) MLPROTO_WARN_UNUSED;

/* Appends the checkpoint item (note: 1..MLPROTO_CHECKPOINT_NOTE_MAX bytes). */
MLPROTO_EXTERN int mlproto_auditlog_checkpoint_encode(mlproto_buf *out, const uint8_t *note,
                                                      size_t len) MLPROTO_WARN_UNUSED;

/* Decodes the header at the start of in (len bytes): *used gets its length.
 * Strict: the magic exactly, the three lines in order, each value
 * canonical (a valid origin; a vkey that parses, is written as
 * mlproto_note_vkey_format writes it, and is named origin; a size as
 * above), then the blank line. On error *h is zeroed and *used 0. */
MLPROTO_EXTERN int mlproto_auditlog_header_decode(mlproto_auditlog_header *h, const uint8_t *in,
                                                  size_t len, size_t *used) MLPROTO_WARN_UNUSED;

/* Decodes the item at the start of in (len bytes): *used gets its length
 * (prefix included). On error *it is zeroed and *used 0. */
MLPROTO_EXTERN int mlproto_auditlog_item_decode(mlproto_auditlog_item *it, const uint8_t *in,
                                                size_t len, size_t *used) MLPROTO_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
