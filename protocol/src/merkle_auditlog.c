/*
 * merkle_auditlog.c — the audit log file's framing (mlproto/auditlog.h,
 * docs/audit-log-format.md): header and items, encoded into a buffer and
 * decoded from memory.
 */
#include "mlproto/auditlog.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"

#include <string.h>

#define MAGIC_LEN (sizeof MLPROTO_AUDITLOG_MAGIC - 1)

/* ----------------------------------------------------------- encode --- */

/* Appends n pieces as one: all of them or (on failure) none. */
static int append_all(mlproto_buf *b, const void *const *p, const size_t *n, size_t k) {
  size_t old = b->len;
  for (size_t i = 0; i < k; i++) {
    int rc = mlproto_buf_append(b, p[i], n[i]);
    if (rc) {
      b->len = old;
      return rc;
    }
  }
  return MLPROTO_OK;
}

int mlproto_auditlog_header_encode(mlproto_buf *out, const char *vkey, uint64_t size) {
  if (!out || !vkey) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (size > MLPROTO_MERKLE_MAX_SIZE) return MLPROTO_ERR_TREE_RANGE;
  mlproto_note_verifier v;
  int rc = mlproto_note_vkey_parse(&v, vkey, strlen(vkey));
  if (rc) return rc;
  char canon[MLPROTO_NOTE_VKEY_MAX];
  if ((rc = mlproto_note_vkey_format(canon, sizeof canon, NULL, v.name, v.pk))) return rc;
  size_t old = out->len;
  rc = mlproto_buf_printf(out, "%sorigin %s\nvkey %s\nsize %llu\n\n", MLPROTO_AUDITLOG_MAGIC,
                          v.name, canon, (unsigned long long)size);
  if (rc) out->len = old;
  return rc;
}

static void put_u32be(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

int mlproto_auditlog_entry_encode(mlproto_buf *out, uint64_t index, unsigned type,
                                  uint64_t received_at_ms, const uint8_t *env, size_t env_len) {
  if (!out || (!env && env_len)) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (type > 255) return MLPROTO_ERR_FIELD_RANGE;
  if (env_len == 0 || env_len > MLPROTO_AUDITLOG_ENVELOPE_MAX) return MLPROTO_ERR_FIELD_SIZE;
  uint8_t fixed[MLPROTO_AUDITLOG_ITEM_PREFIX + MLPROTO_AUDITLOG_ENTRY_FIXED];
  fixed[0] = MLPROTO_AUDITLOG_ENTRY;
  put_u32be(fixed + 1, (uint32_t)(MLPROTO_AUDITLOG_ENTRY_FIXED + env_len));
  mlproto_put_u64be(fixed + 5, index);
  fixed[13] = (uint8_t)type;
  mlproto_put_u64be(fixed + 14, received_at_ms);
  const void *p[2] = {fixed, env};
  size_t n[2] = {sizeof fixed, env_len};
  return append_all(out, p, n, 2);
}

int mlproto_auditlog_checkpoint_encode(mlproto_buf *out, const uint8_t *note, size_t len) {
  if (!out || (!note && len)) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (len == 0 || len > MLPROTO_CHECKPOINT_NOTE_MAX) return MLPROTO_ERR_FIELD_SIZE;
  uint8_t prefix[MLPROTO_AUDITLOG_ITEM_PREFIX];
  prefix[0] = MLPROTO_AUDITLOG_CHECKPOINT;
  put_u32be(prefix + 1, (uint32_t)len);
  const void *p[2] = {prefix, note};
  size_t n[2] = {sizeof prefix, len};
  return append_all(out, p, n, 2);
}

/* ----------------------------------------------------------- decode --- */

/* The header line that starts at in[*off] with keyword kw ("origin "):
 * its value in [*val, *val + *vlen), *off moved past its '\n'. TRUNCATED
 * when the input ends inside a line that could still be this one,
 * MALFORMED otherwise. */
static int header_line(const uint8_t *in, size_t len, size_t *off, const char *kw,
                       const char **val, size_t *vlen) {
  size_t kl = strlen(kw), avail = len - *off;
  const uint8_t *p = in + *off;
  if (memcmp(p, kw, avail < kl ? avail : kl) != 0) return MLPROTO_ERR_AUDIT_FILE_MALFORMED;
  size_t room = MLPROTO_AUDITLOG_HEADER_MAX - *off;
  const uint8_t *nl = memchr(p, '\n', avail < room ? avail : room);
  if (!nl) return avail < room ? MLPROTO_ERR_AUDIT_FILE_TRUNCATED : MLPROTO_ERR_AUDIT_FILE_MALFORMED;
  if ((size_t)(nl - p) < kl) return MLPROTO_ERR_AUDIT_FILE_MALFORMED;
  *val = (const char *)p + kl;
  *vlen = (size_t)(nl - p) - kl;
  *off += (size_t)(nl - p) + 1;
  return MLPROTO_OK;
}

/* "0" or [1-9][0-9]*, at most 2^63. */
static int parse_size(const char *s, size_t n, uint64_t *out) {
  if (n == 0 || n > 19 || (n > 1 && s[0] == '0')) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v > MLPROTO_MERKLE_MAX_SIZE) return -1;
  *out = v;
  return 0;
}

static int header_fields(mlproto_auditlog_header *h, const uint8_t *in, size_t len, size_t *used) {
  if (memcmp(in, MLPROTO_AUDITLOG_MAGIC, len < MAGIC_LEN ? len : MAGIC_LEN) != 0)
    return MLPROTO_ERR_AUDIT_FILE_MALFORMED;
  if (len < MAGIC_LEN) return MLPROTO_ERR_AUDIT_FILE_TRUNCATED;
  size_t off = MAGIC_LEN, n;
  const char *v;
  int rc = header_line(in, len, &off, "origin ", &v, &n);
  if (rc) return rc;
  if (mlproto_note_name_check(v, n) != MLPROTO_OK) return MLPROTO_ERR_AUDIT_FILE_MALFORMED;
  memcpy(h->origin, v, n);
  h->origin[n] = 0;
  if ((rc = header_line(in, len, &off, "vkey ", &v, &n))) return rc;
  char canon[MLPROTO_NOTE_VKEY_MAX];
  size_t cl = 0;
  if (n >= sizeof h->vkey || mlproto_note_vkey_parse(&h->verifier, v, n) != MLPROTO_OK ||
      mlproto_note_vkey_format(canon, sizeof canon, &cl, h->verifier.name, h->verifier.pk) ||
      cl != n || memcmp(canon, v, n) != 0 || strcmp(h->verifier.name, h->origin) != 0)
    return MLPROTO_ERR_AUDIT_FILE_MALFORMED;
  memcpy(h->vkey, v, n);
  h->vkey[n] = 0;
  if ((rc = header_line(in, len, &off, "size ", &v, &n))) return rc;
  if (parse_size(v, n, &h->size)) return MLPROTO_ERR_AUDIT_FILE_MALFORMED;
  if (off == len) return MLPROTO_ERR_AUDIT_FILE_TRUNCATED;
  if (in[off] != '\n') return MLPROTO_ERR_AUDIT_FILE_MALFORMED;
  *used = off + 1;
  return MLPROTO_OK;
}

int mlproto_auditlog_header_decode(mlproto_auditlog_header *h, const uint8_t *in, size_t len,
                                   size_t *used) {
  if (!h || !used) return MLPROTO_ERR_INVALID_ARGUMENT;
  memset(h, 0, sizeof *h);
  *used = 0;
  if (!in && len) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (len == 0) return MLPROTO_ERR_AUDIT_FILE_TRUNCATED;
  int rc = header_fields(h, in, len, used);
  if (rc) {
    memset(h, 0, sizeof *h);
    *used = 0;
  }
  return rc;
}

static uint32_t get_u32be(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int mlproto_auditlog_item_decode(mlproto_auditlog_item *it, const uint8_t *in, size_t len,
                                 size_t *used) {
  if (!it || !used) return MLPROTO_ERR_INVALID_ARGUMENT;
  memset(it, 0, sizeof *it);
  *used = 0;
  if (!in && len) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (len == 0) return MLPROTO_ERR_AUDIT_FILE_TRUNCATED;
  unsigned tag = in[0];
  if (tag != MLPROTO_AUDITLOG_ENTRY && tag != MLPROTO_AUDITLOG_CHECKPOINT)
    return MLPROTO_ERR_AUDIT_FILE_MALFORMED;
  if (len < MLPROTO_AUDITLOG_ITEM_PREFIX) return MLPROTO_ERR_AUDIT_FILE_TRUNCATED;
  size_t n = get_u32be(in + 1);
  if (tag == MLPROTO_AUDITLOG_ENTRY
          ? n <= MLPROTO_AUDITLOG_ENTRY_FIXED ||
                n > MLPROTO_AUDITLOG_ENTRY_FIXED + MLPROTO_AUDITLOG_ENVELOPE_MAX
          : n == 0 || n > MLPROTO_CHECKPOINT_NOTE_MAX)
    return MLPROTO_ERR_AUDIT_FILE_MALFORMED;
  if (len - MLPROTO_AUDITLOG_ITEM_PREFIX < n) return MLPROTO_ERR_AUDIT_FILE_TRUNCATED;
  const uint8_t *p = in + MLPROTO_AUDITLOG_ITEM_PREFIX;
  it->tag = tag;
  if (tag == MLPROTO_AUDITLOG_ENTRY) {
    it->index = mlproto_get_u64be(p);
    it->type = p[8];
    it->received_at_ms = mlproto_get_u64be(p + 9);
    it->envelope = p + MLPROTO_AUDITLOG_ENTRY_FIXED;
    it->envelope_len = n - MLPROTO_AUDITLOG_ENTRY_FIXED;
  } else {
    it->note = p;
    it->note_len = n;
  }
  *used = MLPROTO_AUDITLOG_ITEM_PREFIX + n;
  return MLPROTO_OK;
}
