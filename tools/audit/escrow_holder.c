/* escrow_holder.c — the escrow holder's side of the audit tool (escrow_holder.h). */
#include "escrow_holder.h"

#include "auditfile.h"

#include "mlproto/alloc.h"
#include "mlproto/auditlog.h"
#include "mlproto/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_B64 88u /* base64 of 64 bytes */
#define SECRET_LINE (sizeof AE_SECRET_PREFIX - 1 + SECRET_B64)

/* ------------------------------------------------------------- the key */

static int key_pubs(ae_key *k) {
  int rc = mlproto_key_public(k->box_pub, k->box);
  if (!rc) rc = mlproto_key_public(k->sign_pub, k->sign);
  return rc;
}

int ae_key_create(const char *path, char pub[MLPROTO_ESCROW_PUB_LEN + 1]) {
  pub[0] = 0;
  ae_key k = {0};
  int rc = mlproto_key_generate(&k.box, MLPROTO_KEY_BOX);
  if (!rc) rc = mlproto_key_generate(&k.sign, MLPROTO_KEY_SIGN);
  if (!rc) rc = key_pubs(&k);
  char *line = sodium_malloc(SECRET_LINE + 2);
  uint8_t *raw = sodium_malloc(64);
  if (!rc && (!line || !raw)) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  if (!rc) {
    mlproto_key_export(raw, k.box);
    mlproto_key_export(raw + 32, k.sign);
    memcpy(line, AE_SECRET_PREFIX, sizeof AE_SECRET_PREFIX - 1);
    sodium_bin2base64(line + sizeof AE_SECRET_PREFIX - 1, SECRET_B64 + 1, raw, 64,
                      sodium_base64_VARIANT_ORIGINAL);
    line[SECRET_LINE] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      rc = errno == EEXIST ? MLPROTO_ERR_ALREADY_EXISTS : MLPROTO_ERR_IO;
    } else {
      rc = af_write_all(fd, line, SECRET_LINE + 1);
      if (!rc && fsync(fd) != 0) rc = MLPROTO_ERR_IO;
      if (close(fd) != 0 && !rc) rc = MLPROTO_ERR_IO;
      if (!rc) rc = af_fsync_dir(path);
      if (rc) unlink(path);
    }
  }
  if (!rc) rc = mlproto_escrow_pub_format(pub, k.box_pub, k.sign_pub);
  sodium_free(line); /* wipes */
  sodium_free(raw);
  ae_key_free(&k);
  if (rc) pub[0] = 0;
  return rc;
}

int ae_key_load(const char *path, ae_key *k) {
  memset(k, 0, sizeof *k);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno == ENOENT ? MLPROTO_ERR_NOT_FOUND : MLPROTO_ERR_IO;
  struct stat st;
  int rc = MLPROTO_OK;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) rc = MLPROTO_ERR_IO;
  else if (st.st_mode & 077) rc = MLPROTO_ERR_FORBIDDEN;
  char *line = sodium_malloc(SECRET_LINE + 3);
  uint8_t *raw = sodium_malloc(64);
  if (!rc && (!line || !raw)) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  size_t n = 0;
  while (!rc && n < SECRET_LINE + 2) {
    ssize_t r = read(fd, line + n, SECRET_LINE + 2 - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) rc = MLPROTO_ERR_IO;
    else if (r == 0) break;
    else n += (size_t)r;
  }
  close(fd);
  if (!rc && n == SECRET_LINE + 1 && line[SECRET_LINE] == '\n') n--;
  size_t got = 0;
  const char *end = NULL;
  if (!rc && (n != SECRET_LINE || memcmp(line, AE_SECRET_PREFIX, sizeof AE_SECRET_PREFIX - 1) != 0 ||
              sodium_base642bin(raw, 64, line + sizeof AE_SECRET_PREFIX - 1, SECRET_B64, NULL, &got,
                                &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
              got != 64 || end != line + SECRET_LINE))
    rc = MLPROTO_ERR_BAD_KEY;
  if (!rc) rc = mlproto_key_import(&k->box, MLPROTO_KEY_BOX, raw, 32);
  if (!rc) rc = mlproto_key_import(&k->sign, MLPROTO_KEY_SIGN, raw + 32, 32);
  if (!rc) rc = key_pubs(k);
  sodium_free(line);
  sodium_free(raw);
  if (rc) ae_key_free(k);
  return rc;
}

void ae_key_free(ae_key *k) {
  mlproto_key_free(k->box);
  mlproto_key_free(k->sign);
  memset(k, 0, sizeof *k);
}

/* -------------------------------------------------------- the file --- */

/* Every entry of the (verified) file, with its header fields peeked; a
 * non-zero return of fn stops the walk and is returned. */
typedef int (*entry_fn)(void *ud, const mlproto_auditlog_item *it, const mlproto_record_peek *pk);

static int walk(const uint8_t *file, size_t len, entry_fn fn, void *ud) {
  mlproto_auditlog_header h;
  size_t off = 0, used = 0;
  int rc = mlproto_auditlog_header_decode(&h, file, len, &used);
  for (off = used; !rc && off < len; off += used) {
    mlproto_auditlog_item it;
    if ((rc = mlproto_auditlog_item_decode(&it, file + off, len - off, &used))) break;
    if (it.tag != MLPROTO_AUDITLOG_ENTRY) continue;
    mlproto_record_peek pk;
    if (mlproto_record_peek_fields(&pk, it.envelope, it.envelope_len) != MLPROTO_OK) continue;
    rc = fn(ud, &it, &pk);
  }
  return rc;
}

/* ------------------------------------------------------- case keys --- */

/* The keys of n cases in one walk of the file: out[i] those of ids[i]. */
typedef struct keys_ctx {
  const ae_key *k;
  const uint8_t (*ids)[16];
  size_t n;
  ae_case_keys *out;
} keys_ctx;

static int key_add(ae_case_keys *c, mlproto_key *key) {
  uint8_t a[32], b[32];
  mlproto_key_export(a, key);
  int dup = 0;
  for (size_t i = 0; i < c->n && !dup; i++) {
    mlproto_key_export(b, c->k[i]);
    dup = sodium_memcmp(a, b, 32) == 0;
  }
  sodium_memzero(a, sizeof a);
  sodium_memzero(b, sizeof b);
  if (dup) {
    mlproto_key_free(key);
    return MLPROTO_OK;
  }
  mlproto_key **n = realloc(c->k, (c->n + 1) * sizeof *n);
  if (!n) {
    mlproto_key_free(key);
    return MLPROTO_ERR_OUT_OF_MEMORY;
  }
  c->k = n;
  c->k[c->n++] = key;
  return MLPROTO_OK;
}

static int keys_one(void *ud, const mlproto_auditlog_item *it, const mlproto_record_peek *pk) {
  keys_ctx *x = ud;
  size_t c = 0;
  while (c < x->n && memcmp(pk->case_id, x->ids[c], 16) != 0) c++;
  if (c == x->n) return 0;
  ae_case_keys *out = &x->out[c];
  out->records++;
  if (pk->kind != MLPROTO_KIND_KEY_GRANT) return 0;
  out->grants++;
  mlproto_record *r = NULL;
  if (mlproto_record_verify(&r, it->envelope, it->envelope_len) != MLPROTO_OK) return 0;
  int rc = 0;
  const Mentorlog__V1__KeyGrantDisclosed *kg = r->disclosed ? r->disclosed->key_grant : NULL;
  if (!kg) out->grants_erased++;
  for (size_t i = 0; kg && !rc && i < kg->n_keys; i++) {
    const Mentorlog__V1__SealedKey *s = kg->keys[i];
    if (s->recipient.len != 32 || memcmp(s->recipient.data, x->k->box_pub, 32) != 0 ||
        s->sealed_key.len != MLPROTO_CASE_KEY_SEALEDBYTES)
      continue;
    mlproto_key *key = NULL;
    int o = mlproto_case_key_open(&key, s->sealed_key.data, x->k->box);
    if (o == MLPROTO_ERR_OUT_OF_MEMORY) rc = o;
    else if (!o) rc = key_add(out, key);
  }
  mlproto_record_free(r);
  return rc;
}

static int case_keys_many(const uint8_t *file, size_t len, const ae_key *k, const uint8_t (*ids)[16],
                          size_t n, ae_case_keys *out) {
  memset(out, 0, n * sizeof *out);
  keys_ctx x = {k, ids, n, out};
  int rc = walk(file, len, keys_one, &x);
  if (rc)
    for (size_t i = 0; i < n; i++) ae_case_keys_free(&out[i]);
  return rc;
}

int ae_case_keys_get(const uint8_t *file, size_t len, const ae_key *k, const uint8_t case_id[16],
                     ae_case_keys *out) {
  return case_keys_many(file, len, k, (const uint8_t(*)[16])case_id, 1, out);
}

void ae_case_keys_free(ae_case_keys *c) {
  for (size_t i = 0; i < c->n; i++) mlproto_key_free(c->k[i]);
  free(c->k);
  memset(c, 0, sizeof *c);
}

/* --------------------------------------------------------- decrypt --- */

typedef struct dec_ctx {
  const uint8_t *case_id;
  const ae_case_keys *keys;
  ae_opened_fn fn;
  void *ud;
} dec_ctx;

static int dec_one(void *ud, const mlproto_auditlog_item *it, const mlproto_record_peek *pk) {
  dec_ctx *x = ud;
  if (memcmp(pk->case_id, x->case_id, 16) != 0) return 0;
  mlproto_record *r = NULL;
  int rc = mlproto_record_verify(&r, it->envelope, it->envelope_len);
  if (rc) return rc == MLPROTO_ERR_OUT_OF_MEMORY ? rc : 0; /* verify reported it */
  ae_opened o = {it->index, it->received_at_ms, r, NULL, AE_NO_SEALED};
  mlproto_sealed *s = NULL;
  if (r->flags & MLPROTO_RECORD_SEALED_ERASED) {
    o.state = AE_ERASED;
  } else if (r->flags & MLPROTO_RECORD_SEALED) {
    o.state = AE_NO_KEY;
    /* the newest key first (record-format §7.1) */
    for (size_t i = x->keys->n; i-- > 0 && !s;) {
      int e = mlproto_record_open_sealed(&s, r, x->keys->k[i]);
      if (e == MLPROTO_ERR_OUT_OF_MEMORY) {
        mlproto_record_free(r);
        return e;
      }
    }
    if (s) o.state = AE_OPENED, o.sealed = s;
  }
  rc = x->fn(x->ud, &o);
  mlproto_sealed_free(s);
  mlproto_record_free(r);
  return rc;
}

int ae_decrypt(const uint8_t *file, size_t len, const ae_key *k, const uint8_t case_id[16],
               ae_opened_fn fn, void *ud, ae_case_keys *keys_out) {
  ae_case_keys keys;
  int rc = ae_case_keys_get(file, len, k, case_id, &keys);
  if (rc) return rc;
  if (keys_out) {
    *keys_out = keys;
    keys_out->k = NULL;
    keys_out->n = 0;
  }
  if (!keys.records) rc = MLPROTO_ERR_NOT_FOUND;
  else if (!keys.n) rc = MLPROTO_ERR_NO_CASE_KEY;
  if (!rc) {
    dec_ctx x = {case_id, &keys, fn, ud};
    rc = walk(file, len, dec_one, &x);
  }
  if (keys_out) keys_out->n = keys.n;
  ae_case_keys_free(&keys);
  return rc;
}

/* --------------------------------------------------------- regrant --- */

typedef struct rg_case {
  uint8_t id[16];
  int mine;   /* opened by a device of the device's mentor */
  int erased; /* a CASE_ERASE or RETENTION_PURGE names it */
} rg_case;

typedef struct rg_ctx {
  const ae_key *k;
  const uint8_t *device_id;
  int found, revoked, escrow_current, escrow_seen;
  uint8_t dev_pub[32], dev_box[32], mentor[16];
  uint64_t tip_seq;
  uint8_t tip_hash[32];
  /* devices of the file: which mentor each belongs to */
  struct { uint8_t pub[32], mentor[16]; } *devs;
  size_t n_devs;
  rg_case *cases; /* opened by a device of the mentor (second walk) */
  size_t n_cases;
  int oom;
} rg_ctx;

static int rg_events(void *ud, const mlproto_auditlog_item *it, const mlproto_record_peek *pk) {
  rg_ctx *x = ud;
  if (memcmp(pk->author, x->k->sign_pub, 32) == 0) { /* the escrow's own chain */
    mlproto_record *r = NULL;
    if (mlproto_record_verify(&r, it->envelope, it->envelope_len) == MLPROTO_OK && r->seq > x->tip_seq) {
      x->tip_seq = r->seq;
      memcpy(x->tip_hash, r->hash, 32);
    }
    mlproto_record_free(r);
    return 0;
  }
  if (pk->kind != MLPROTO_KIND_DEVICE_ENROLLED && pk->kind != MLPROTO_KIND_DEVICE_REVOKED &&
      pk->kind != MLPROTO_KIND_ESCROW_KEY)
    return 0;
  mlproto_record *r = NULL;
  if (mlproto_record_verify(&r, it->envelope, it->envelope_len) != MLPROTO_OK || !r->disclosed) {
    mlproto_record_free(r);
    return 0;
  }
  const mlproto_disclosed *d = r->disclosed;
  if (r->kind == MLPROTO_KIND_ESCROW_KEY && d->escrow_key) {
    x->escrow_seen = 1;
    x->escrow_current = d->escrow_key->box_pub.len == 32 && d->escrow_key->sign_pub.len == 32 &&
                        memcmp(d->escrow_key->box_pub.data, x->k->box_pub, 32) == 0 &&
                        memcmp(d->escrow_key->sign_pub.data, x->k->sign_pub, 32) == 0;
  } else if (r->kind == MLPROTO_KIND_DEVICE_ENROLLED && d->device_enrolled &&
             d->device_enrolled->device_pub.len == 32 && d->device_enrolled->mentor_id.len == 16) {
    const Mentorlog__V1__DeviceEnrolled *e = d->device_enrolled;
    void *n = realloc(x->devs, (x->n_devs + 1) * sizeof *x->devs);
    if (!n) {
      mlproto_record_free(r);
      return MLPROTO_ERR_OUT_OF_MEMORY;
    }
    x->devs = n;
    memcpy(x->devs[x->n_devs].pub, e->device_pub.data, 32);
    memcpy(x->devs[x->n_devs].mentor, e->mentor_id.data, 16);
    x->n_devs++;
    uint8_t id[16];
    mlproto_device_id(id, e->device_pub.data);
    if (memcmp(id, x->device_id, 16) == 0 && e->box_pub.len == 32) {
      x->found = 1;
      memcpy(x->dev_pub, e->device_pub.data, 32);
      memcpy(x->dev_box, e->box_pub.data, 32);
      memcpy(x->mentor, e->mentor_id.data, 16);
    }
  } else if (r->kind == MLPROTO_KIND_DEVICE_REVOKED && d->device_revoked && x->found &&
             d->device_revoked->device_pub.len == 32 &&
             memcmp(d->device_revoked->device_pub.data, x->dev_pub, 32) == 0) {
    x->revoked = 1;
  }
  mlproto_record_free(r);
  return 0;
}

static rg_case *rg_find(rg_ctx *x, const uint8_t id[16]) {
  for (size_t i = 0; i < x->n_cases; i++)
    if (memcmp(x->cases[i].id, id, 16) == 0) return &x->cases[i];
  return NULL;
}

static int rg_cases(void *ud, const mlproto_auditlog_item *it, const mlproto_record_peek *pk) {
  rg_ctx *x = ud;
  (void)it;
  if (pk->kind == MLPROTO_KIND_CASE_OPEN && !rg_find(x, pk->case_id)) {
    for (size_t i = 0; i < x->n_devs; i++) {
      if (memcmp(x->devs[i].pub, pk->author, 32) != 0) continue;
      rg_case *n = realloc(x->cases, (x->n_cases + 1) * sizeof *n);
      if (!n) return MLPROTO_ERR_OUT_OF_MEMORY;
      x->cases = n;
      memcpy(x->cases[x->n_cases].id, pk->case_id, 16);
      x->cases[x->n_cases].mine = memcmp(x->devs[i].mentor, x->mentor, 16) == 0;
      x->cases[x->n_cases].erased = 0;
      x->n_cases++;
      break;
    }
  } else if (pk->kind == MLPROTO_KIND_CASE_ERASE) {
    rg_case *c = rg_find(x, pk->case_id);
    if (c) c->erased = 1;
  } else if (pk->kind == MLPROTO_KIND_RETENTION_PURGE) {
    mlproto_record *r = NULL;
    if (mlproto_record_verify(&r, it->envelope, it->envelope_len) == MLPROTO_OK && r->disclosed &&
        r->disclosed->retention_purge && r->disclosed->retention_purge->case_id.len == 16) {
      rg_case *c = rg_find(x, r->disclosed->retention_purge->case_id.data);
      if (c) c->erased = 1;
    }
    mlproto_record_free(r);
  }
  return 0;
}

/* One KEY_GRANT of key to the device, next in the escrow's chain. */
static int rg_write(rg_ctx *x, const uint8_t case_id[16], const mlproto_key *key, uint64_t now_ms,
                    mlproto_buf *out) {
  uint8_t sealed[MLPROTO_CASE_KEY_SEALEDBYTES];
  int rc = mlproto_case_key_seal(sealed, key, x->dev_box);
  if (rc) return rc;
  Mentorlog__V1__SealedKey sk = MENTORLOG__V1__SEALED_KEY__INIT, *skp = &sk;
  sk.recipient = (ProtobufCBinaryData){32, x->dev_box};
  sk.sealed_key = (ProtobufCBinaryData){sizeof sealed, sealed};
  Mentorlog__V1__KeyGrantDisclosed kg = MENTORLOG__V1__KEY_GRANT_DISCLOSED__INIT;
  kg.n_keys = 1;
  kg.keys = &skp;
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_KEY_GRANT;
  d.key_grant = &kg;
  mlproto_record_params p;
  memset(&p, 0, sizeof p);
  mlproto_random_id(p.record_id);
  memcpy(p.case_id, case_id, 16);
  p.seq = x->tip_seq + 1;
  memcpy(p.prev, x->tip_hash, 32);
  p.hlc = now_ms << 16;
  p.kind = MLPROTO_KIND_KEY_GRANT;
  uint8_t *env = NULL, hash[32];
  size_t env_len = 0;
  rc = mlproto_record_build(&env, &env_len, hash, &p, &d, NULL, NULL, x->k->sign);
  if (!rc) rc = mlproto_escrow_grants_add(out, env, env_len);
  if (!rc) {
    x->tip_seq++;
    memcpy(x->tip_hash, hash, 32);
  }
  mlproto_free(env);
  return rc;
}

int ae_regrant(const uint8_t *file, size_t len, const ae_key *k, const uint8_t device_id[16],
               const uint8_t (*cases)[16], size_t n_cases, uint64_t now_ms, mlproto_buf *out,
               ae_regrant_info *info) {
  memset(info, 0, sizeof *info);
  rg_ctx x;
  memset(&x, 0, sizeof x);
  x.k = k;
  x.device_id = device_id;
  int rc = walk(file, len, rg_events, &x);
  if (!rc && !x.found) rc = MLPROTO_ERR_NOT_FOUND;
  if (!rc && x.revoked) rc = MLPROTO_ERR_DEVICE_REVOKED;
  if (!rc && !x.escrow_current) rc = MLPROTO_ERR_NO_ESCROW_KEY;
  if (!rc) {
    memcpy(info->mentor_id, x.mentor, 16);
    rc = walk(file, len, rg_cases, &x);
  }
  /* which cases: the named ones (each must be the mentor's), or all of the
   * mentor's that are not erased */
  for (size_t i = 0; !rc && i < n_cases; i++) {
    rg_case *c = rg_find(&x, cases[i]);
    if (!c) rc = MLPROTO_ERR_NOT_FOUND;
    else if (!c->mine) rc = MLPROTO_ERR_FORBIDDEN;
    else if (c->erased) rc = MLPROTO_ERR_CASE_ERASED;
  }
  size_t was = out->len;
  if (!rc) rc = mlproto_escrow_grants_begin(out);
  info->first_seq = x.tip_seq + 1;
  /* the cases to re-grant, then all their keys in one more walk */
  size_t todo = n_cases ? n_cases : x.n_cases, m = 0;
  uint8_t(*ids)[16] = rc ? NULL : malloc((todo ? todo : 1) * 16);
  ae_case_keys *keys = rc ? NULL : calloc(todo ? todo : 1, sizeof *keys);
  if (!rc && (!ids || !keys)) rc = MLPROTO_ERR_OUT_OF_MEMORY;
  for (size_t i = 0; !rc && i < todo; i++) {
    const rg_case *c = n_cases ? rg_find(&x, cases[i]) : &x.cases[i];
    if (!c->mine) continue; /* another mentor's */
    if (c->erased) info->cases_erased++;
    else memcpy(ids[m++], c->id, 16);
  }
  if (!rc) rc = case_keys_many(file, len, k, (const uint8_t(*)[16])ids, m, keys);
  for (size_t i = 0; !rc && i < m; i++) {
    if (!keys[i].n) info->cases_without_key++;
    else info->cases++;
    for (size_t g = 0; !rc && g < keys[i].n; g++)
      if (!(rc = rg_write(&x, ids[i], keys[i].k[g], now_ms, out))) info->grants++;
  }
  for (size_t i = 0; keys && i < m; i++) ae_case_keys_free(&keys[i]);
  free(keys);
  free(ids);
  if (!rc && !info->grants) rc = MLPROTO_ERR_NO_CASE_KEY;
  if (rc) out->len = was;
  free(x.devs);
  free(x.cases);
  return rc;
}
