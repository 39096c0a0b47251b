/* witness_state.c — a witness's key file and state directory (see
 * witness_state.h). */
#include "witness_state.h"
#include "auditfile.h"

#include "mlproto/cosignature.h"
#include "mlproto/errors.h"
#include "mlproto/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_PREFIX "PRIVATE+KEY+"
#define ALG_COSIG_V1 0x04

int ws_write_atomic(const char *dir, const char *name, const void *data, size_t len) {
  char dst[4096];
  if ((size_t)snprintf(dst, sizeof dst, "%s/%s", dir, name) >= sizeof dst)
    return MLPROTO_ERR_TOO_LARGE;
  return af_replace(dst, data, len);
}

int ws_read(const char *dir, const char *name, size_t max, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  char path[4096];
  if (dir ? (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path
          : (size_t)snprintf(path, sizeof path, "%s", name) >= sizeof path)
    return MLPROTO_ERR_TOO_LARGE;
  FILE *f = fopen(path, "rb");
  if (!f) return errno == ENOENT ? MLPROTO_ERR_NOT_FOUND : MLPROTO_ERR_IO;
  char *b = malloc(max + 1);
  if (!b) {
    fclose(f);
    return MLPROTO_ERR_OUT_OF_MEMORY;
  }
  size_t n = fread(b, 1, max + 1, f);
  int err = ferror(f);
  fclose(f);
  if (err || n > max) {
    free(b);
    return err ? MLPROTO_ERR_IO : MLPROTO_ERR_TOO_LARGE;
  }
  b[n] = 0;
  *out = b;
  *len = n;
  return MLPROTO_OK;
}

static int mkdir_0700(const char *path) {
  if (mkdir(path, 0700) == 0 || errno == EEXIST) return MLPROTO_OK;
  return MLPROTO_ERR_IO;
}

int ws_prepare(const char *dir) {
  char ev[4096];
  if ((size_t)snprintf(ev, sizeof ev, "%s/%s", dir, WS_EVIDENCE) >= sizeof ev)
    return MLPROTO_ERR_TOO_LARGE;
  int rc = mkdir_0700(dir);
  return rc ? rc : mkdir_0700(ev);
}

int ws_lock(const char *dir, int *fd) {
  *fd = -1;
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/witness.lock", dir) >= sizeof path) return MLPROTO_ERR_TOO_LARGE;
  int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (f < 0) return MLPROTO_ERR_IO;
  if (flock(f, LOCK_EX | LOCK_NB) != 0) {
    int busy = errno == EWOULDBLOCK;
    close(f);
    return busy ? MLPROTO_ERR_ALREADY_EXISTS : MLPROTO_ERR_IO;
  }
  *fd = f;
  return MLPROTO_OK;
}

/* Writes a new file (O_EXCL) with data and fsyncs it. */
static int write_new(const char *path, const char *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno == EEXIST ? MLPROTO_ERR_ALREADY_EXISTS : MLPROTO_ERR_IO;
  int rc = af_write_all(fd, data, len);
  if (!rc && fsync(fd) != 0) rc = MLPROTO_ERR_IO;
  if (close(fd) != 0 && !rc) rc = MLPROTO_ERR_IO;
  return rc;
}

int ws_evidence(const char *dir, const char *kind, uint64_t old_size, uint64_t new_size,
                const char *cosigned, size_t cosigned_len, const char *refused,
                size_t refused_len, char *path, size_t cap) {
  if (cap) path[0] = 0;
  char ev[4096];
  if ((size_t)snprintf(ev, sizeof ev, "%s/%s", dir, WS_EVIDENCE) >= sizeof ev)
    return MLPROTO_ERR_TOO_LARGE;
  int rc = mkdir_0700(ev);
  if (rc) return rc;
  for (unsigned n = 1; n < 100000; n++) {
    char a[4200], b[4200];
    snprintf(a, sizeof a, "%s/%s-%llu-%llu-%u.cosigned.note", ev, kind,
             (unsigned long long)old_size, (unsigned long long)new_size, n);
    snprintf(b, sizeof b, "%s/%s-%llu-%llu-%u.refused.note", ev, kind,
             (unsigned long long)old_size, (unsigned long long)new_size, n);
    rc = write_new(a, cosigned, cosigned_len);
    if (rc == MLPROTO_ERR_ALREADY_EXISTS) continue;
    if (rc) return rc;
    if ((rc = write_new(b, refused, refused_len))) return rc;
    if ((rc = af_fsync_dir(a))) return rc;
    if (cap) snprintf(path, cap, "%s", a);
    return MLPROTO_OK;
  }
  return MLPROTO_ERR_ALREADY_EXISTS;
}

int ws_key_create(const char *path, const char *name, char *vkey, size_t cap) {
  if (cap) vkey[0] = 0;
  uint8_t seed[32], pk[32];
  uint8_t *sk = sodium_malloc(64);
  if (!sk) return MLPROTO_ERR_OUT_OF_MEMORY;
  randombytes_buf(seed, sizeof seed);
  int rc = crypto_sign_seed_keypair(pk, sk, seed) == 0 ? MLPROTO_OK : MLPROTO_ERR_INTERNAL;
  sodium_free(sk);
  uint8_t kid[4];
  if (!rc) rc = mlproto_cosig_key_id(kid, name, pk);
  if (!rc) rc = mlproto_cosig_vkey_format(vkey, cap, NULL, name, pk);
  char line[MLPROTO_CHECKPOINT_ORIGIN_MAX + 80];
  size_t ll = 0;
  if (!rc) {
    uint8_t raw[33];
    raw[0] = ALG_COSIG_V1;
    memcpy(raw + 1, seed, 32);
    char hex[9], b64[48];
    mlproto_hex_encode(hex, kid, 4);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(raw, sizeof raw);
    ll = (size_t)snprintf(line, sizeof line, KEY_PREFIX "%s+%s+%s\n", name, hex, b64);
    sodium_memzero(b64, sizeof b64);
    rc = write_new(path, line, ll);
  }
  sodium_memzero(seed, sizeof seed);
  sodium_memzero(line, sizeof line);
  if (rc && cap) vkey[0] = 0;
  return rc;
}

int ws_key_load(const char *path, char *name, uint8_t **sk) {
  *sk = NULL;
  name[0] = 0;
  /* a secret: a regular file no one else may read or write (chmod 600) */
  struct stat st;
  if (stat(path, &st) != 0) return errno == ENOENT ? MLPROTO_ERR_NOT_FOUND : MLPROTO_ERR_IO;
  if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) return MLPROTO_ERR_FORBIDDEN;
  char *text = NULL;
  size_t len = 0;
  int rc = ws_read(NULL, path, 1024, &text, &len);
  if (rc) return rc;
  rc = MLPROTO_ERR_BAD_KEY;
  size_t pl = sizeof KEY_PREFIX - 1;
  if (len && text[len - 1] == '\n') len--;
  char *nm = text + pl, *p2 = NULL, *p3 = NULL;
  if (len > pl && memcmp(text, KEY_PREFIX, pl) == 0) p2 = memchr(nm, '+', len - pl);
  if (p2 && (size_t)(text + len - p2) > 10 && p2[9] == '+') p3 = p2 + 9;
  uint8_t raw[36], kid[4], want[4], pk[32];
  size_t rl = 0;
  uint8_t *k = sodium_malloc(64);
  if (!k) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  else if (p3 && (size_t)(p2 - nm) <= MLPROTO_CHECKPOINT_ORIGIN_MAX &&
           mlproto_hex_decode(kid, 4, p2 + 1, 8) == MLPROTO_OK &&
           sodium_base642bin(raw, sizeof raw, p3 + 1, (size_t)(text + len - p3 - 1), NULL, &rl,
                             NULL, sodium_base64_VARIANT_ORIGINAL) == 0 &&
           rl == 33 && raw[0] == ALG_COSIG_V1 && crypto_sign_seed_keypair(pk, k, raw + 1) == 0) {
    *p2 = 0;
    if (mlproto_cosig_key_id(want, nm, pk) == MLPROTO_OK && memcmp(want, kid, 4) == 0) {
      memcpy(name, nm, strlen(nm) + 1);
      *sk = k;
      k = NULL;
      rc = MLPROTO_OK;
    }
  }
  if (k) sodium_free(k);
  sodium_memzero(raw, sizeof raw);
  sodium_memzero(text, len);
  free(text);
  return rc;
}
