/*
 * mlproto/escrow.h — the organisation's escrow key (DESIGN §4): how its
 * public half is written down, and the file of re-grants its holder signs.
 *
 * The escrow is two key pairs kept offline by the auditors
 * (`mentorlog-audit escrow-keygen`): an X25519 key to which every device
 * seals every case key (KEY_GRANT recipients, record-format §7.1), and an
 * Ed25519 key that signs the escrow's own KEY_GRANTs, which re-grant a
 * case key to a new device of a mentor who lost every device
 * (`mentorlog-audit regrant`). The server announces both in an ESCROW_KEY
 * event (`mentorlog-server admin escrow-key set`), one per mentor; it never
 * holds a secret half.
 *
 * Public key string (what the auditor hands the operator, one line):
 *
 *   "mentorlog-escrow-v1:" || base64(box_pub || sign_pub)
 *
 * standard base64 with padding (RFC 4648 §4), 88 characters; 108 in all.
 *
 * Re-grant file (what `regrant` writes and `admin escrow-key import`
 * reads; docs/escrow.md):
 *
 *   "mentorlog-escrow-grants 1\n"          magic and version
 *   1..MLPROTO_ESCROW_GRANTS_MAX items:    u32be len || envelope (1..96 KiB)
 *   end of file
 *
 * The codec only frames; what the envelopes must be (KEY_GRANTs signed by
 * the announced escrow key, chained, to a device of the case's mentor) is
 * the importer's check.
 *
 * Pure: no I/O, no clock. Reentrant.
 */
#ifndef MLPROTO_ESCROW_H
#define MLPROTO_ESCROW_H

#include "mlproto/common.h"
#include "mlproto/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLPROTO_ESCROW_PUB_PREFIX "mentorlog-escrow-v1:"
#define MLPROTO_ESCROW_PUB_LEN 108u /* 20 + 88 */

/* The public key string of (box_pub, sign_pub) into out (NUL-terminated).
 * INVALID_ARGUMENT for NULL. */
MLPROTO_EXTERN int mlproto_escrow_pub_format(char out[MLPROTO_ESCROW_PUB_LEN + 1],
                                             const uint8_t box_pub[32],
                                             const uint8_t sign_pub[32]) MLPROTO_WARN_UNUSED;
/* Parses a public key string (exactly the form above; surrounding white
 * space is the caller's to strip). BAD_KEY for anything else: wrong prefix or
 * length, non-canonical base64, an all-zero X25519 key, an Ed25519 key that
 * is not a valid point of prime order. Outputs are zeroed on failure. */
MLPROTO_EXTERN int mlproto_escrow_pub_parse(const char *s, uint8_t box_pub[32],
                                            uint8_t sign_pub[32]) MLPROTO_WARN_UNUSED;

#define MLPROTO_ESCROW_GRANTS_MAGIC "mentorlog-escrow-grants 1\n"
#define MLPROTO_ESCROW_GRANTS_MAX 4096u            /* envelopes in one file */
#define MLPROTO_ESCROW_GRANT_ENVELOPE_MAX (96u * 1024u)

/* Appends the magic to an empty buffer / one envelope to it (FIELD_SIZE for
 * an empty or oversized one; TOO_LARGE / OUT_OF_MEMORY from the buffer). */
MLPROTO_EXTERN int mlproto_escrow_grants_begin(mlproto_buf *b) MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN int mlproto_escrow_grants_add(mlproto_buf *b, const uint8_t *env,
                                             size_t len) MLPROTO_WARN_UNUSED;
/* Reads the file in[0..len): *off 0 at the start (the magic is checked
 * then). Returns 1 with the next envelope (pointing into in) and *off past
 * it, 0 at the end of the file, or AUDIT_FILE_MALFORMED (bad magic, a
 * length out of bounds, no item at all, more than the maximum) or
 * AUDIT_FILE_TRUNCATED (the file ends inside an item). *count (may be
 * NULL) counts the items returned. */
MLPROTO_EXTERN int mlproto_escrow_grants_next(const uint8_t *in, size_t len, size_t *off,
                                              size_t *count, const uint8_t **env,
                                              size_t *env_len) MLPROTO_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
