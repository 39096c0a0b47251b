/*
 * witness_state.h — the files of a witness (mentorlog-audit witness): its
 * secret key, and its state directory.
 *
 * Secret key file (witness-keygen writes it, mode 0600, never overwritten):
 * one line in the form of Go's golang.org/x/mod/sumdb/note signer keys, with
 * the cosignature/v1 type:
 *
 *   PRIVATE+KEY+<name>+<8 hex digits of the key ID>+<base64(0x04 || seed)>\n
 *
 * seed: the 32-byte Ed25519 seed. The key ID is the cosignature/v1 one
 * (mlproto/cosignature.h), so the file names the vkey it belongs to.
 *
 * State directory DIR (created 0700 when missing):
 *   DIR/log.vkey      the log's verifier key, stored on the first run and
 *                     compared on every later one;
 *   DIR/checkpoint    the last checkpoint note this witness cosigned, as the
 *                     log served it (it verifies under log.vkey);
 *   DIR/evidence/     what the witness refused: two notes per refusal,
 *                     <kind>-<old size>-<new size>-<n>.cosigned.note (the one
 *                     it had cosigned) and ...<n>.refused.note (the one it
 *                     refused); kind is "split-view" (two roots for one
 *                     size), "inconsistent" (the proof does not verify) or
 *                     "rollback" (a smaller tree). Files are created with
 *                     O_EXCL and never overwritten (n counts up).
 * Every state file is written atomically: a temporary file in DIR, fsync,
 * rename over the name, fsync of DIR. A crash leaves the old or the new
 * file, never a mix (a stray DIR/.*.tmp may stay and is ignored).
 *
 * Functions return MLPROTO_OK or a negative MLPROTO_ERR_* (IO for a system
 * call failure, with errno left as it was; NOT_FOUND for a missing file;
 * TOO_LARGE; BAD_KEY for a key file that does not parse). Outputs are NULL /
 * zeroed on failure.
 */
#ifndef ML_AUDIT_WITNESS_STATE_H
#define ML_AUDIT_WITNESS_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "mlproto/checkpoint.h"

#define WS_LOG_VKEY "log.vkey"
#define WS_CHECKPOINT "checkpoint"
#define WS_EVIDENCE "evidence"

/* Writes data to DIR/name atomically (see the top), mode 0600. */
int ws_write_atomic(const char *dir, const char *name, const void *data, size_t len);

/* Reads DIR/name (dir NULL: name is a path) whole into a malloc'd buffer
 * with a NUL after it; at most max bytes (TOO_LARGE). *out NULL on failure. */
int ws_read(const char *dir, const char *name, size_t max, char **out, size_t *len);

/* Creates DIR (0700) and DIR/evidence when missing. */
int ws_prepare(const char *dir);

/* Takes DIR/witness.lock (created 0600) with flock(LOCK_EX | LOCK_NB), so that two
 * runs on one state (a slow cron run and the next one) never interleave
 * their read of the last cosigned checkpoint and their write of the next:
 * *fd the held lock (close it to release; the kernel releases it when the
 * process ends). ALREADY_EXISTS when another process holds it; IO. */
int ws_lock(const char *dir, int *fd);

/* Records a refusal: the two notes under DIR/evidence (see the top); the
 * first file's path into path (cap bytes). */
int ws_evidence(const char *dir, const char *kind, uint64_t old_size, uint64_t new_size,
                const char *cosigned, size_t cosigned_len, const char *refused,
                size_t refused_len, char *path, size_t cap);

/* Creates the key file at path (O_EXCL, 0600) for a new random key named
 * name; the vkey (mlproto_cosig_vkey_format) into vkey
 * (MLPROTO_NOTE_VKEY_MAX). ALREADY_EXISTS when the file exists. */
int ws_key_create(const char *path, const char *name, char *vkey, size_t cap);

/* Loads the key file: its name (MLPROTO_CHECKPOINT_ORIGIN_MAX + 1 bytes) and
 * the libsodium secret key (seed || pk) into *sk, 64 bytes of
 * sodium_malloc'd memory (free with sodium_free). */
int ws_key_load(const char *path, char *name, uint8_t **sk);

#endif
