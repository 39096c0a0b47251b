/*
 * mlproto/cosignature.h — C2SP tlog-cosignature, the Ed25519 type
 * (cosignature/v1): a witness's signature line on a checkpoint note
 * (mlproto/checkpoint.h).
 *
 * A cosignature is one more signature line of the checkpoint note:
 *
 *   — <witness name> <base64(key ID || timestamp || signature)>\n
 *
 * key ID: 4 bytes, SHA-256(name || 0x0A || 0x04 || pk)[0..4) (0x04: the
 * cosignature/v1 type); timestamp: 8 bytes big-endian, POSIX seconds, at
 * most 2^63 - 1; signature: 64 bytes of Ed25519 by the witness key over
 *
 *   "cosignature/v1\n" "time <timestamp in decimal, no leading zero>\n" <body>
 *
 * where <body> is the checkpoint's note text, every line with its '\n',
 * without the blank line and the signature lines (the spec: "the whole note
 * body of the cosigned checkpoint (including the final newline, but not
 * including any signature lines)"). The signed message does not hold the
 * witness's name: one key must never serve two witnesses.
 *
 * A witness's verifier key, the signed-note vkey form with type 0x04:
 *
 *   <name>+<8 lower-case hex digits of the key ID>+<base64(0x04 || pk)>
 *
 * Names follow mlproto_note_name_check. The verifier of a witness is an
 * mlproto_note_verifier whose key_id was computed with type 0x04 (by the
 * functions here, never by mlproto_note_verifier_init).
 *
 * Errors (negative codes of mlproto/errors.h): MLPROTO_ERR_BAD_KEY (a vkey
 * that does not parse, or of another type), MLPROTO_ERR_CHECKPOINT_MALFORMED
 * (a line that is no signature line of the form above, or a note that is no
 * checkpoint), MLPROTO_ERR_COSIGNATURE_INVALID (the line's name or key ID is
 * not the verifier's, its payload is not 76 bytes, its timestamp is above
 * 2^63 - 1, or the signature does not verify), MLPROTO_ERR_CHECKPOINT_UNSIGNED
 * (a note without a line by the witness), MLPROTO_ERR_INVALID_ARGUMENT,
 * MLPROTO_ERR_BUFFER_TOO_SMALL.
 *
 * Purity and threads as mlproto/checkpoint.h: no I/O, no clock, reentrant;
 * libsodium must be initialised. Outputs are zeroed / emptied on failure.
 */
#ifndef MLPROTO_COSIGNATURE_H
#define MLPROTO_COSIGNATURE_H

#include "mlproto/checkpoint.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes of a cosignature/v1 payload: key ID, timestamp, signature. */
#define MLPROTO_COSIG_PAYLOAD 76u
/* Longest cosignature line this library writes, its '\n' and a NUL:
 * "— " (4 bytes), a name, a space, 104 base64 characters. */
#define MLPROTO_COSIG_LINE_MAX (4u + MLPROTO_CHECKPOINT_ORIGIN_MAX + 1u + 104u + 2u)
/* Largest timestamp a cosignature may carry: 2^63 - 1. */
#define MLPROTO_COSIG_TIME_MAX 0x7fffffffffffffffull

/* One cosignature, parsed. name is NUL-terminated. */
typedef struct mlproto_cosig {
  char name[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  uint8_t key_id[4];
  uint64_t timestamp; /* POSIX seconds */
  uint8_t sig[64];
} mlproto_cosig;

/* key_id = SHA-256(name || 0x0A || 0x04 || pk)[0..4). name NUL-terminated
 * and checked (MLPROTO_ERR_INVALID_ARGUMENT; key_id is then zeroed). */
MLPROTO_EXTERN int mlproto_cosig_key_id(uint8_t key_id[4], const char *name,
                                        const uint8_t pk[32]) MLPROTO_WARN_UNUSED;

/* The witness verifier for (name, pk), key ID of type 0x04. Errors as
 * mlproto_cosig_key_id; v zeroed on error. */
MLPROTO_EXTERN int mlproto_cosig_verifier_init(mlproto_note_verifier *v, const char *name,
                                               const uint8_t pk[32]) MLPROTO_WARN_UNUSED;

/* "name+keyid+base64(0x04||pk)" and a NUL into out (cap bytes;
 * MLPROTO_NOTE_VKEY_MAX suffices); *len (may be NULL) its length.
 * MLPROTO_ERR_INVALID_ARGUMENT, MLPROTO_ERR_BUFFER_TOO_SMALL (out ""). */
MLPROTO_EXTERN int mlproto_cosig_vkey_format(char *out, size_t cap, size_t *len,
                                             const char *name, const uint8_t pk[32])
    MLPROTO_WARN_UNUSED;

/* Parses a witness vkey of exactly len bytes, as mlproto_note_vkey_parse
 * but of type 0x04. MLPROTO_ERR_BAD_KEY otherwise (v zeroed). */
MLPROTO_EXTERN int mlproto_cosig_vkey_parse(mlproto_note_verifier *v, const char *s, size_t len)
    MLPROTO_WARN_UNUSED;

/* Signs body[0..body_len) (a checkpoint's note text, see the top) at
 * timestamp (<= MLPROTO_COSIG_TIME_MAX) as the witness `name` with the
 * libsodium Ed25519 secret key sk (seed || pk). On MLPROTO_OK *out holds the
 * cosignature. MLPROTO_ERR_INVALID_ARGUMENT (name, timestamp, empty body or
 * a body not ending in '\n'), MLPROTO_ERR_INTERNAL; *out zeroed on error. */
MLPROTO_EXTERN int mlproto_cosig_sign(mlproto_cosig *out, const uint8_t *body, size_t body_len,
                                      uint64_t timestamp, const char *name, const uint8_t sk[64])
    MLPROTO_WARN_UNUSED;

/* The signature line of c, with its '\n' and a NUL, into out (cap bytes;
 * MLPROTO_COSIG_LINE_MAX suffices); *len (may be NULL) without the NUL.
 * MLPROTO_ERR_INVALID_ARGUMENT (bad name), MLPROTO_ERR_BUFFER_TOO_SMALL. */
MLPROTO_EXTERN int mlproto_cosig_line_format(char *out, size_t cap, size_t *len,
                                             const mlproto_cosig *c) MLPROTO_WARN_UNUSED;

/* Parses one signature line of len bytes, '\n' included (the last byte,
 * and the only '\n'): "— " + a valid name + ' ' + canonical padded base64 of
 * exactly MLPROTO_COSIG_PAYLOAD bytes. Checks the form only (the timestamp
 * range and the signature are mlproto_cosig_verify's). On error *out is
 * zeroed: MLPROTO_ERR_CHECKPOINT_MALFORMED (no such line), or
 * MLPROTO_ERR_COSIGNATURE_INVALID (a signature line whose payload is not 76
 * bytes: some other signature type). */
MLPROTO_EXTERN int mlproto_cosig_line_parse(mlproto_cosig *out, const uint8_t *line, size_t len)
    MLPROTO_WARN_UNUSED;

/* MLPROTO_OK when c is v's cosignature/v1 on body (see the top): same name,
 * same key ID, timestamp <= 2^63 - 1, and the signature verifies; else
 * MLPROTO_ERR_COSIGNATURE_INVALID. */
MLPROTO_EXTERN int mlproto_cosig_verify(const mlproto_cosig *c, const uint8_t *body,
                                        size_t body_len, const mlproto_note_verifier *v)
    MLPROTO_WARN_UNUSED;

/* The note text of a note (its bytes up to and including the '\n' before
 * the last blank line "\n\n"): *body_len gets that length.
 * MLPROTO_ERR_CHECKPOINT_MALFORMED when there is no blank line. */
MLPROTO_EXTERN int mlproto_note_body_len(const uint8_t *note, size_t len, size_t *body_len)
    MLPROTO_WARN_UNUSED;

/* Finds the first signature line of note whose name and key ID are the
 * witness v's, and verifies it over the note's text. On MLPROTO_OK *out (may
 * be NULL) holds it. The rest of the note is not checked here (open it with
 * mlproto_checkpoint_open under the log's key first). Errors:
 * MLPROTO_ERR_CHECKPOINT_MALFORMED (no blank line, a malformed signature
 * line), MLPROTO_ERR_CHECKPOINT_UNSIGNED (no line by v),
 * MLPROTO_ERR_COSIGNATURE_INVALID. */
MLPROTO_EXTERN int mlproto_cosig_find(mlproto_cosig *out, const uint8_t *note, size_t len,
                                      const mlproto_note_verifier *v) MLPROTO_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
