/* datadir.c — data directory layout, server key file, certificate fingerprint. */
#include "datadir.h"

#include "mlproto/errors.h"
#include "mlproto/util.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_BYTES crypto_sign_SECRETKEYBYTES
#define CERT_FILE_CAP (64 * 1024)

static int join(char *out, const char *root, const char *name) {
  int n = snprintf(out, MLS_PATH_MAX, "%s/%s", root, name);
  return (n < 0 || n >= MLS_PATH_MAX) ? MLPROTO_ERR_TOO_LARGE : MLPROTO_OK;
}

int mls_datadir_store_resolve(const char *data, const char *store, const char **dir,
                              char uri[MLS_STORE_URI_MAX + 1], const char **why) {
  *dir = NULL;
  uri[0] = '\0';
  *why = NULL;
  int rc;
  if (store && (rc = mls_store_uri_check(store, why))) return rc;
  const char *backend = store ? mls_store_uri_backend(store) : "sqlite";
  if (strcmp(backend, "sqlite") == 0) {
    const char *sq = store ? store + strlen("sqlite:") : NULL;
    if (data && sq && strcmp(data, sq) != 0) {
      *why = "--data DIR and --store sqlite:DIR name two directories: give one of them";
      return MLPROTO_ERR_INVALID_ARGUMENT;
    }
    const char *d = data ? data : sq;
    if (!d || !*d) {
      *why = "--data DIR (or --store URI) is required";
      return MLPROTO_ERR_INVALID_ARGUMENT;
    }
    int n = snprintf(uri, MLS_STORE_URI_MAX + 1, "sqlite:%s/%s", d, MLS_DATADIR_DB);
    if (n < 0 || n > MLS_STORE_URI_MAX) {
      *why = "the data directory's name is too long";
      return MLPROTO_ERR_TOO_LARGE;
    }
    *dir = d;
    return MLPROTO_OK;
  }
  if (!data || !*data) {
    *why = "--store postgresql://... needs --data DIR too: the directory with the log key, the "
           "TLS certificate and log.name (the same copy on every instance)";
    return MLPROTO_ERR_INVALID_ARGUMENT;
  }
  memcpy(uri, store, strlen(store) + 1);
  *dir = data;
  return MLPROTO_OK;
}

int mls_datadir_init(mls_datadir *d, const char *root) {
  if (!d || !root || !*root) return MLPROTO_ERR_INVALID_ARGUMENT;
  memset(d, 0, sizeof *d);
  size_t len = strlen(root);
  while (len > 1 && root[len - 1] == '/') len--;
  if (len >= MLS_PATH_MAX - 32) return MLPROTO_ERR_TOO_LARGE;
  memcpy(d->root, root, len);
  int rc;
  if ((rc = join(d->db, d->root, MLS_DATADIR_DB)) ||
      (rc = join(d->key, d->root, "server.key")) ||
      (rc = join(d->tls_dir, d->root, "tls")) ||
      (rc = join(d->tls_cert, d->root, "tls/cert.pem")) ||
      (rc = join(d->tls_key, d->root, "tls/key.pem")))
    return rc;
  return MLPROTO_OK;
}

static int ensure_dir(const char *path, int create) {
  struct stat st;
  if (stat(path, &st) == 0) return S_ISDIR(st.st_mode) ? MLPROTO_OK : MLPROTO_ERR_IO;
  if (errno != ENOENT) return MLPROTO_ERR_IO;
  if (!create) return MLPROTO_ERR_NOT_FOUND;
  if (mkdir(path, 0700) != 0 && errno != EEXIST) return MLPROTO_ERR_IO;
  return MLPROTO_OK;
}

int mls_datadir_prepare(const mls_datadir *d, int create) {
  int rc = ensure_dir(d->root, create);
  if (rc) return rc;
  return ensure_dir(d->tls_dir, 1);
}

static int read_exact(int fd, uint8_t *p, size_t n) {
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

int mls_write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return errno == ENOSPC ? MLPROTO_ERR_DISK_FULL : MLPROTO_ERR_IO;
    p += w;
    n -= (size_t)w;
  }
  return MLPROTO_OK;
}

int mls_read_file(const char *path, size_t max, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? MLPROTO_ERR_NOT_FOUND : MLPROTO_ERR_IO;
  struct stat st;
  int rc = MLPROTO_OK;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) rc = MLPROTO_ERR_IO;
  else if ((uint64_t)st.st_size > max) rc = MLPROTO_ERR_TOO_LARGE;
  uint8_t *b = NULL;
  size_t n = 0;
  if (!rc && !(b = malloc((size_t)st.st_size + 1))) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  while (!rc) {
    ssize_t r = read(fd, b + n, (size_t)st.st_size + 1 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) rc = MLPROTO_ERR_IO;
    else if (r == 0) break;
    else if ((n += (size_t)r) > max) rc = MLPROTO_ERR_TOO_LARGE; /* it grew */
    else if (n == (size_t)st.st_size + 1) rc = MLPROTO_ERR_IO; /* it changed while read */
  }
  close(fd);
  if (rc) {
    free(b);
    return rc;
  }
  *out = b;
  *len = n;
  return MLPROTO_OK;
}

/* The key is written to a temporary name and renamed, so that a crash
 * never leaves a truncated key behind; the directory is fsync'd as well. */
static int create_key(const mls_datadir *d, uint8_t *sk) {
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_keypair(pk, sk);
  char tmp[MLS_PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", d->key);
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return MLPROTO_ERR_IO;
  int bad = mls_write_all(fd, sk, KEY_FILE_BYTES) != 0 || fsync(fd) != 0;
  bad |= close(fd) != 0;
  if (bad || link(tmp, d->key) != 0) {
    int exists = errno == EEXIST;
    unlink(tmp);
    /* Someone else (admin or server) created it first: use theirs. */
    return exists ? MLPROTO_ERR_ALREADY_EXISTS : MLPROTO_ERR_IO;
  }
  unlink(tmp);
  int dfd = open(d->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
  return MLPROTO_OK;
}

int mls_datadir_key_load(const mls_datadir *d, int create, uint8_t **skp, uint8_t pk[32]) {
  *skp = NULL;
  if (sodium_init() < 0) return MLPROTO_ERR_INTERNAL;
  uint8_t *sk = sodium_malloc(KEY_FILE_BYTES);
  if (!sk) return MLPROTO_ERR_OUT_OF_MEMORY;
  int rc;
  for (int attempt = 0; attempt < 2; attempt++) {
    int fd = open(d->key, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      if (errno != ENOENT) { rc = MLPROTO_ERR_IO; goto fail; }
      if (!create) { rc = MLPROTO_ERR_NOT_FOUND; goto fail; }
      rc = create_key(d, sk);
      if (rc == MLPROTO_ERR_ALREADY_EXISTS) continue;
      if (rc) goto fail;
      continue; /* read it back: one code path for what is on disk */
    }
    struct stat st;
    if (fstat(fd, &st) != 0) { close(fd); rc = MLPROTO_ERR_IO; goto fail; }
    if (!S_ISREG(st.st_mode) || st.st_size != KEY_FILE_BYTES || (st.st_mode & 077)) {
      close(fd);
      rc = MLPROTO_ERR_BAD_KEY;
      goto fail;
    }
    int r = read_exact(fd, sk, KEY_FILE_BYTES);
    close(fd);
    if (r) { rc = MLPROTO_ERR_IO; goto fail; }
    uint8_t derived[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_ed25519_sk_to_pk(derived, sk);
    uint8_t seedpk[crypto_sign_PUBLICKEYBYTES];
    uint8_t *tmp_sk = sodium_malloc(KEY_FILE_BYTES);
    if (!tmp_sk) { rc = MLPROTO_ERR_OUT_OF_MEMORY; goto fail; }
    crypto_sign_seed_keypair(seedpk, tmp_sk, sk); /* the seed must give the stored pk */
    sodium_free(tmp_sk);
    if (sodium_memcmp(derived, seedpk, sizeof derived) != 0) { rc = MLPROTO_ERR_BAD_KEY; goto fail; }
    memcpy(pk, derived, 32);
    sodium_mprotect_readonly(sk);
    *skp = sk;
    return MLPROTO_OK;
  }
  rc = MLPROTO_ERR_IO;
fail:
  sodium_free(sk);
  return rc;
}

void mls_datadir_key_free(uint8_t *sk) {
  if (sk) sodium_free(sk); /* sodium_free wipes, even a read-only region */
}

int mls_datadir_cert_fingerprint(const char *path, char hex[65]) {
  FILE *f = fopen(path, "rb");
  if (!f) return errno == ENOENT ? MLPROTO_ERR_NOT_FOUND : MLPROTO_ERR_IO;
  char *pem = malloc(CERT_FILE_CAP + 1);
  if (!pem) { fclose(f); return MLPROTO_ERR_OUT_OF_MEMORY; }
  size_t n = fread(pem, 1, CERT_FILE_CAP + 1, f);
  int ioerr = ferror(f);
  fclose(f);
  int rc = MLPROTO_ERR_MALFORMED;
  if (ioerr) { rc = MLPROTO_ERR_IO; goto out; }
  if (n > CERT_FILE_CAP) { rc = MLPROTO_ERR_TOO_LARGE; goto out; }
  pem[n] = 0;
  static const char begin[] = "-----BEGIN CERTIFICATE-----";
  static const char end[] = "-----END CERTIFICATE-----";
  char *b = strstr(pem, begin);
  if (!b) goto out;
  b += sizeof begin - 1;
  char *e = strstr(b, end);
  if (!e) goto out;
  size_t b64len = (size_t)(e - b);
  uint8_t *der = malloc(b64len);
  if (!der) { rc = MLPROTO_ERR_OUT_OF_MEMORY; goto out; }
  size_t derlen = 0;
  if (sodium_base642bin(der, b64len, b, b64len, " \t\r\n", &derlen, NULL,
                        sodium_base64_VARIANT_ORIGINAL) == 0 && derlen > 0) {
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, der, derlen);
    mlproto_hex_encode(hex, h, sizeof h);
    rc = MLPROTO_OK;
  }
  free(der);
out:
  free(pem);
  return rc;
}
