/*
 * mlproto/checkpoint.h — the log's signed tree head as a C2SP checkpoint:
 * a `tlog-checkpoint` body in a `signed-note`, signed with Ed25519 by the
 * server's log key (DESIGN §3; docs/record-format.md §9).
 *
 * A checkpoint note, byte for byte (every line ends in one '\n'):
 *
 *   <origin>\n                       the log's name, e.g. mentorlog.example/log
 *   <size>\n                         tree size, ASCII decimal, no leading zero
 *   <base64(root)>\n                 the 32-byte RFC 9162 root, standard base64
 *   \n                               the blank line that ends the text
 *   — <origin> <base64(keyid || sig)>\n    one line per signature ("— " is
 *                                    U+2014 EM DASH and a space, E2 80 94 20)
 *
 * The signature covers the three text lines including the last '\n' (not
 * the blank line). The key name of the log's signature is the origin. The
 * key ID is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || pk), pk the
 * 32-byte Ed25519 public key (0x01: the Ed25519 signature type). Mentorlog
 * writes no timestamp line and no extension lines (receipt times are in
 * every leaf) and refuses a checkpoint that has any. Other signature lines
 * (witness cosignatures, other keys) are tolerated and ignored, as the
 * signed-note spec requires; the log's own line must verify.
 *
 * Ed25519 signatures are deterministic and the body holds no time, so the
 * checkpoint of one (origin, size, root) under one key is the same bytes
 * every time it is signed: a server can re-create the checkpoint of any past
 * size from its tree instead of storing each one.
 *
 * The verifier key, what witnesses and auditors configure (the signed-note
 * vkey form, as Go's golang.org/x/mod/sumdb/note reads it):
 *
 *   <name>+<8 lower-case hex digits of the key ID>+<base64(0x01 || pk)>
 *
 * Names (origin, key names) are 1..MLPROTO_CHECKPOINT_ORIGIN_MAX bytes of
 * UTF-8 without Unicode white space and without '+'.
 *
 * Strictness. A note is refused unless: it is at most
 * MLPROTO_CHECKPOINT_NOTE_MAX bytes of valid UTF-8 without control
 * characters other than '\n'; its text is exactly the three lines above; the
 * size is 1..20 digits without a leading zero (except "0") and at most 2^63;
 * the root is 44 characters of canonical padded standard base64 for 32
 * bytes; it has 1..MLPROTO_CHECKPOINT_MAX_SIGS signature lines, each
 * "— " + a valid name + one space + non-empty canonical base64 of at least 5
 * bytes, ending in '\n'. The first signature line whose name and key ID are
 * the expected key's decides: it must be 68 bytes (key ID + 64-byte
 * signature) and verify; later lines for the same key are ignored (as Go's
 * note.Open does).
 *
 * Errors (negative codes of mlproto/errors.h):
 *   MLPROTO_ERR_CHECKPOINT_MALFORMED  the note breaks the structure above;
 *   MLPROTO_ERR_TOO_LARGE             the note exceeds ..._NOTE_MAX bytes;
 *   MLPROTO_ERR_TREE_RANGE            a well-formed size above 2^63;
 *   MLPROTO_ERR_CHECKPOINT_UNSIGNED   no signature line by the expected key
 *                                     (name and key ID);
 *   MLPROTO_ERR_STH_INVALID           the expected key's line does not verify,
 *                                     or a size-0 checkpoint whose root is not
 *                                     SHA-256("");
 *   MLPROTO_ERR_CHECKPOINT_ORIGIN     the origin is not the key's name (a
 *                                     checkpoint of another log), or two
 *                                     checkpoints compared are of two logs;
 *   MLPROTO_ERR_BAD_KEY               a verifier key string that does not parse;
 *   MLPROTO_ERR_SPLIT_VIEW, _PROOF_*  as for tree heads (mlproto/merkle.h).
 * mlproto_checkpoint_open checks in this order: size cap (TOO_LARGE), text
 * and signature-line structure (CHECKPOINT_MALFORMED / TREE_RANGE), origin
 * against the key (CHECKPOINT_ORIGIN), the key's line (CHECKPOINT_UNSIGNED,
 * STH_INVALID), the empty-tree root (STH_INVALID).
 *
 * Purity and threads: no I/O, no clock, no global state; all functions are
 * reentrant. libsodium must be initialised (sodium_init()) first. Outputs
 * are written only on success (or zeroed / emptied on failure, as stated).
 */
#ifndef MLPROTO_CHECKPOINT_H
#define MLPROTO_CHECKPOINT_H

#include "mlproto/common.h"
#include "mlproto/merkle.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest origin / key name, in bytes. */
#define MLPROTO_CHECKPOINT_ORIGIN_MAX 255u
/* Longest note accepted by mlproto_checkpoint_open. */
#define MLPROTO_CHECKPOINT_NOTE_MAX 32768u
/* Most signature lines accepted in one note (Go's note.Open has the same cap). */
#define MLPROTO_CHECKPOINT_MAX_SIGS 100u
/* Longest checkpoint this library writes, including a NUL: origin twice,
 * 20 digits, 44 + 92 base64, the dash and the separators. */
#define MLPROTO_CHECKPOINT_SIGNED_MAX (2u * MLPROTO_CHECKPOINT_ORIGIN_MAX + 20u + 44u + 92u + 16u)
/* Longest verifier key string, including a NUL: name + '+' + 8 + '+' + 44. */
#define MLPROTO_NOTE_VKEY_MAX (MLPROTO_CHECKPOINT_ORIGIN_MAX + 1u + 8u + 1u + 44u + 1u)

MLPROTO_EXTERN size_t mlproto_checkpoint_signed_max(void); /* MLPROTO_CHECKPOINT_SIGNED_MAX */
MLPROTO_EXTERN size_t mlproto_note_vkey_max(void);         /* MLPROTO_NOTE_VKEY_MAX */

/* The content of a checkpoint: plain data. origin is NUL-terminated. */
typedef struct mlproto_checkpoint {
  char origin[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  uint64_t size;    /* number of leaves, <= 2^63 */
  uint8_t root[32]; /* MTH of those leaves */
} mlproto_checkpoint;

/* An Ed25519 note verifier: the key's name, key ID and public key. */
typedef struct mlproto_note_verifier {
  char name[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1]; /* NUL-terminated */
  uint8_t key_id[4];
  uint8_t pk[32];
} mlproto_note_verifier;

/* ---------------------------------------------------------------- keys --- */

/* MLPROTO_OK when name[0..len) is a valid key name / origin (1..255 bytes of
 * valid UTF-8, no Unicode white space, no '+', no control character), else
 * MLPROTO_ERR_INVALID_ARGUMENT. name may hold no NUL within len. */
MLPROTO_EXTERN int mlproto_note_name_check(const char *name, size_t len) MLPROTO_WARN_UNUSED;

/* key_id = SHA-256(name || 0x0A || 0x01 || pk)[0..4). name is NUL-terminated
 * and checked (MLPROTO_ERR_INVALID_ARGUMENT; key_id is then zeroed). */
MLPROTO_EXTERN int mlproto_note_key_id(uint8_t key_id[4], const char *name,
                                       const uint8_t pk[32]) MLPROTO_WARN_UNUSED;

/* Build the verifier for (name, pk): computes the key ID. Errors as
 * mlproto_note_key_id; v is zeroed on error. */
MLPROTO_EXTERN int mlproto_note_verifier_init(mlproto_note_verifier *v, const char *name,
                                              const uint8_t pk[32]) MLPROTO_WARN_UNUSED;

/* Write the verifier key string "name+keyid+base64(0x01||pk)" and a NUL into
 * out (cap bytes; MLPROTO_NOTE_VKEY_MAX always suffices); *len (may be NULL)
 * gets its length without the NUL. MLPROTO_ERR_INVALID_ARGUMENT for an invalid
 * name, MLPROTO_ERR_BUFFER_TOO_SMALL when cap is short (out is then ""). */
MLPROTO_EXTERN int mlproto_note_vkey_format(char *out, size_t cap, size_t *len,
                                            const char *name, const uint8_t pk[32])
    MLPROTO_WARN_UNUSED;

/* Parse a verifier key string of exactly len bytes (no trailing newline):
 * a valid name, '+', 8 hex digits (either case), '+', canonical padded base64
 * of 33 bytes whose first is 0x01, and a key ID that matches the name and
 * key. MLPROTO_ERR_BAD_KEY otherwise (v is then zeroed). */
MLPROTO_EXTERN int mlproto_note_vkey_parse(mlproto_note_verifier *v, const char *s, size_t len)
    MLPROTO_WARN_UNUSED;

/* --------------------------------------------------------- checkpoints --- */

/* The signed text "origin\nsize\nbase64(root)\n" and a NUL into out (cap
 * bytes); *len (may be NULL) its length without the NUL.
 * MLPROTO_ERR_INVALID_ARGUMENT for an invalid origin, MLPROTO_ERR_TREE_RANGE
 * for a size above 2^63, MLPROTO_ERR_BUFFER_TOO_SMALL (out is then ""). */
MLPROTO_EXTERN int mlproto_checkpoint_body(char *out, size_t cap, size_t *len,
                                           const mlproto_checkpoint *cp) MLPROTO_WARN_UNUSED;

/* The whole signed note: the body, a blank line and one signature line by
 * the log key, whose name is cp->origin. sk is a libsodium Ed25519 secret key
 * (64 bytes = seed || public key; keep it in sodium_malloc'd memory). Writes
 * a NUL after the note; *len (may be NULL) gets its length without it.
 * MLPROTO_CHECKPOINT_SIGNED_MAX always suffices for cap. Errors as
 * mlproto_checkpoint_body, and MLPROTO_ERR_INTERNAL if libsodium fails. The
 * same inputs always give the same bytes. */
MLPROTO_EXTERN int mlproto_checkpoint_sign(char *out, size_t cap, size_t *len,
                                           const mlproto_checkpoint *cp, const uint8_t sk[64])
    MLPROTO_WARN_UNUSED;

/* Parse a note of len bytes (need not be NUL-terminated), check it is a
 * checkpoint of the log v names (origin == v->name) and that v's signature
 * line verifies; on MLPROTO_OK *cp holds its content. On error *cp is zeroed
 * and the code says what failed (see the top of this file). */
MLPROTO_EXTERN int mlproto_checkpoint_open(mlproto_checkpoint *cp, const uint8_t *note,
                                           size_t len, const mlproto_note_verifier *v)
    MLPROTO_WARN_UNUSED;

/* Split view between two checkpoints (both opened, i.e. verified, by the
 * caller): MLPROTO_ERR_CHECKPOINT_ORIGIN for two logs, MLPROTO_ERR_SPLIT_VIEW
 * for one size with two roots, else MLPROTO_OK. */
MLPROTO_EXTERN int mlproto_checkpoint_check_split_view(const mlproto_checkpoint *a,
                                                       const mlproto_checkpoint *b)
    MLPROTO_WARN_UNUSED;

/* Is `newer` an extension of `older` (both opened)? Same origin (else
 * MLPROTO_ERR_CHECKPOINT_ORIGIN), then as mlproto_sth_check_consistency:
 * equal sizes: split-view check with an empty proof; older size 0: empty
 * proof; else the RFC 9162 consistency proof; MLPROTO_ERR_TREE_RANGE when
 * newer is smaller. */
MLPROTO_EXTERN int mlproto_checkpoint_check_consistency(const mlproto_checkpoint *older,
                                                        const mlproto_checkpoint *newer,
                                                        const uint8_t (*proof)[32], size_t len)
    MLPROTO_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
