/* Protobuf plumbing: allocators, a zero-copy wire walker for the envelope,
 * and the string checks used by every payload. */
#include "record_int.h"
#include "util_int.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"

#include <sodium.h>
#include <string.h>

/* ------------------------------------------------------------ allocators -- */

static void *pbc_alloc(void *ud, size_t size) {
  void *p = mlproto_malloc(size);
  if (!p && ud)
    ((mlproto__pbc_alloc *)ud)->failed = true;
  return p;
}

static void pbc_free(void *ud, void *p) {
  (void)ud;
  mlproto_free(p);
}

/* The size prefix keeps the 16-byte alignment malloc gives us. */
#define WIPE_HDR 16

static void *pbc_wipe_alloc(void *ud, size_t size) {
  if (size > SIZE_MAX - WIPE_HDR) {
    if (ud)
      ((mlproto__pbc_alloc *)ud)->failed = true;
    return NULL;
  }
  uint8_t *p = mlproto_malloc(size + WIPE_HDR);
  if (!p) {
    if (ud)
      ((mlproto__pbc_alloc *)ud)->failed = true;
    return NULL;
  }
  memcpy(p, &size, sizeof size);
  return p + WIPE_HDR;
}

static void pbc_wipe_free(void *ud, void *q) {
  (void)ud;
  if (!q)
    return;
  uint8_t *p = (uint8_t *)q - WIPE_HDR;
  size_t size;
  memcpy(&size, p, sizeof size);
  sodium_memzero(p, size + WIPE_HDR);
  mlproto_free(p);
}

static ProtobufCAllocator plain_allocator = {pbc_alloc, pbc_free, NULL};
static ProtobufCAllocator wiping_allocator = {pbc_wipe_alloc, pbc_wipe_free, NULL};

ProtobufCAllocator *mlproto_protobuf_allocator(void) { return &plain_allocator; }
ProtobufCAllocator *mlproto__pbc_wiping_allocator(void) { return &wiping_allocator; }

void mlproto__pbc_alloc_init(mlproto__pbc_alloc *st, bool wiping) {
  st->a.alloc = wiping ? pbc_wipe_alloc : pbc_alloc;
  st->a.free = wiping ? pbc_wipe_free : pbc_free;
  st->a.allocator_data = st;
  st->failed = false;
}

bool mlproto__has_unknown(const ProtobufCMessage *m) {
  if (m->n_unknown_fields)
    return true;
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (f->type != PROTOBUF_C_TYPE_MESSAGE)
      continue;
    const char *base = (const char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n;
      memcpy(&n, base + f->quantifier_offset, sizeof n);
      ProtobufCMessage *const *arr;
      memcpy(&arr, base + f->offset, sizeof arr);
      for (size_t j = 0; j < n; j++)
        if (arr[j] && mlproto__has_unknown(arr[j]))
          return true;
      continue;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      uint32_t which;
      memcpy(&which, base + f->quantifier_offset, sizeof which);
      if (which != f->id)
        continue;
    }
    const ProtobufCMessage *sub;
    memcpy(&sub, base + f->offset, sizeof sub);
    if (sub && mlproto__has_unknown(sub))
      return true;
  }
  return false;
}

int mlproto__unpack(ProtobufCMessage **out, const ProtobufCMessageDescriptor *d,
                    const uint8_t *buf, size_t len, bool wiping) {
  mlproto__pbc_alloc st;
  mlproto__pbc_alloc_init(&st, wiping);
  ProtobufCMessage *m = protobuf_c_message_unpack(d, &st.a, len, buf);
  if (!m)
    return st.failed ? MLPROTO_ERR_OUT_OF_MEMORY : MLPROTO_ERR_MALFORMED;
  if (mlproto__has_unknown(m)) {
    protobuf_c_message_free_unpacked(m, &st.a);
    return MLPROTO_ERR_MALFORMED;
  }
  *out = m;
  return MLPROTO_OK;
}

/* ----------------------------------------------------------- wire walker -- */

/* Minimal (canonical) varints only: a trailing 0x80-continued zero byte is
 * an alternative encoding of the same number and would let two byte strings
 * mean one envelope. */
static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t r = 0;
  for (unsigned shift = 0, i = 0; i < 10; i++, shift += 7) {
    if (*p >= end)
      return MLPROTO_ERR_MALFORMED;
    uint8_t b = *(*p)++;
    if (i == 9 && b > 1)
      return MLPROTO_ERR_MALFORMED;
    r |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      if (b == 0 && i > 0)
        return MLPROTO_ERR_MALFORMED;
      *v = r;
      return MLPROTO_OK;
    }
  }
  return MLPROTO_ERR_MALFORMED;
}

int mlproto__next_field(const uint8_t **p, const uint8_t *end, mlproto__field *f) {
  if (*p >= end)
    return 0;
  uint64_t key;
  if (get_varint(p, end, &key))
    return MLPROTO_ERR_MALFORMED;
  f->number = (uint32_t)(key >> 3);
  f->wire_type = (uint32_t)(key & 7);
  if (key >> 3 == 0 || key >> 3 > 536870911u)
    return MLPROTO_ERR_MALFORMED;
  f->data = NULL;
  f->len = 0;
  f->varint = 0;
  switch (f->wire_type) {
  case 0:
    return get_varint(p, end, &f->varint) ? MLPROTO_ERR_MALFORMED : 1;
  case 1:
  case 5: {
    size_t n = f->wire_type == 1 ? 8 : 4;
    if ((size_t)(end - *p) < n)
      return MLPROTO_ERR_MALFORMED;
    for (size_t i = 0; i < n; i++)
      f->varint |= (uint64_t)(*p)[i] << (8 * i);
    *p += n;
    return 1;
  }
  case 2: {
    uint64_t n;
    if (get_varint(p, end, &n) || n > (uint64_t)(end - *p))
      return MLPROTO_ERR_MALFORMED;
    f->data = *p;
    f->len = (size_t)n;
    *p += n;
    return 1;
  }
  default:
    return MLPROTO_ERR_MALFORMED; /* groups are not part of proto3 */
  }
}

int mlproto__env_split(mlproto__env_parts *parts, const uint8_t *env, size_t len) {
  if (!env && len)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (len > MLPROTO_ENVELOPE_MAX)
    return MLPROTO_ERR_TOO_LARGE;
  memset(parts, 0, sizeof *parts);
  const uint8_t *p = env, *end = env + len;
  uint32_t last = 0;
  mlproto__field f;
  int rc;
  while ((rc = mlproto__next_field(&p, end, &f)) == 1) {
    if (f.number <= last || f.number > 5)
      return MLPROTO_ERR_MALFORMED;
    last = f.number;
    if (f.number == 5) {
      if (f.wire_type != 0 || f.varint == 0 ||
          (f.varint & ~(uint64_t)(MLPROTO_PART_DISCLOSED | MLPROTO_PART_SEALED)))
        return MLPROTO_ERR_MALFORMED;
      parts->erased = (uint32_t)f.varint;
      continue;
    }
    if (f.wire_type != 2 || f.len == 0)
      return MLPROTO_ERR_MALFORMED;
    switch (f.number) {
    case 1: parts->header = f.data; parts->header_len = f.len; break;
    case 2: parts->signature = f.data; parts->signature_len = f.len; break;
    case 3: parts->disclosed = f.data; parts->disclosed_len = f.len; break;
    case 4: parts->sealed = f.data; parts->sealed_len = f.len; break;
    }
  }
  if (rc < 0)
    return rc;
  if (!parts->header || !parts->signature)
    return MLPROTO_ERR_FIELD_MISSING;
  return MLPROTO_OK;
}

static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* The envelope buffer for parts of lens[] (0 = absent) and the erased bits:
 * each present part framed with its tag and length, its bytes left for the
 * caller at buf + offs[i]; offs[i] of an absent part is where it would go. */
static int env_layout(uint8_t **out, size_t *out_len, const size_t lens[4], size_t offs[4],
                      uint32_t erased) {
  size_t total = 0;
  for (int i = 0; i < 4; i++)
    if (lens[i])
      total += 1 + varint_len(lens[i]) + lens[i];
  if (erased)
    total += 2;
  if (total > MLPROTO_ENVELOPE_MAX)
    return MLPROTO_ERR_TOO_LARGE;
  uint8_t *buf = mlproto_malloc(total);
  if (!buf)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  size_t o = 0;
  for (int i = 0; i < 4; i++) {
    offs[i] = o;
    if (!lens[i])
      continue;
    buf[o++] = (uint8_t)(((i + 1) << 3) | 2);
    o += put_varint(buf + o, lens[i]);
    offs[i] = o;
    o += lens[i];
  }
  if (erased) {
    buf[o++] = (5 << 3) | 0;
    buf[o++] = (uint8_t)erased;
  }
  *out = buf;
  *out_len = o;
  return MLPROTO_OK;
}

int mlproto__env_join(uint8_t **out, size_t *out_len, const mlproto__env_parts *parts) {
  const uint8_t *data[4] = {parts->header, parts->signature, parts->disclosed, parts->sealed};
  size_t lens[4] = {parts->header_len, parts->signature_len, parts->disclosed_len,
                    parts->sealed_len};
  size_t offs[4];
  int rc = env_layout(out, out_len, lens, offs, parts->erased);
  if (rc)
    return rc;
  for (int i = 0; i < 4; i++)
    if (lens[i])
      memcpy(*out + offs[i], data[i], lens[i]);
  return MLPROTO_OK;
}

int mlproto__env_frame(uint8_t **out, size_t *out_len, const size_t lens[4], size_t offs[4]) {
  return env_layout(out, out_len, lens, offs, 0);
}

/* ---------------------------------------------------------- peek and hash -- */

int mlproto_record_peek_fields(mlproto_record_peek *out, const uint8_t *env, size_t len) {
  mlproto__env_parts parts;
  int rc = mlproto__env_split(&parts, env, len);
  if (rc)
    return rc;
  if (parts.header_len > MLPROTO_HEADER_MAX)
    return MLPROTO_ERR_TOO_LARGE;
  mlproto_record_peek pk;
  memset(&pk, 0, sizeof pk);
  unsigned seen = 0;
  const uint8_t *p = parts.header, *end = parts.header + parts.header_len;
  mlproto__field f;
  while ((rc = mlproto__next_field(&p, end, &f)) == 1) {
    uint8_t *dst = NULL;
    size_t want = 0;
    switch (f.number) {
    case 2: dst = pk.record_id; want = sizeof pk.record_id; break;
    case 3: dst = pk.case_id; want = sizeof pk.case_id; break;
    case 4: dst = pk.author; want = sizeof pk.author; break;
    case 5:
      if (f.wire_type != 0)
        return MLPROTO_ERR_MALFORMED;
      pk.seq = f.varint;
      continue;
    case 8:
      if (f.wire_type != 0)
        return MLPROTO_ERR_MALFORMED;
      pk.kind = (uint32_t)f.varint;
      continue;
    default:
      continue;
    }
    if (f.wire_type != 2)
      return MLPROTO_ERR_MALFORMED;
    if (f.len != want)
      return MLPROTO_ERR_FIELD_SIZE;
    memcpy(dst, f.data, want);
    seen |= 1u << f.number;
  }
  if (rc < 0)
    return rc;
  if ((seen & ((1u << 2) | (1u << 4))) != ((1u << 2) | (1u << 4)))
    return MLPROTO_ERR_FIELD_MISSING;
  *out = pk;
  return MLPROTO_OK;
}

int mlproto_record_hash(uint8_t out[MLPROTO_HASH_BYTES], const uint8_t *env, size_t len) {
  mlproto__env_parts parts;
  int rc = mlproto__env_split(&parts, env, len);
  if (rc)
    return rc;
  if (parts.header_len > MLPROTO_HEADER_MAX)
    return MLPROTO_ERR_TOO_LARGE;
  if (parts.signature_len != MLPROTO_SIGN_BYTES)
    return MLPROTO_ERR_FIELD_SIZE;
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, parts.header, parts.header_len);
  crypto_hash_sha256_update(&st, parts.signature, parts.signature_len);
  crypto_hash_sha256_final(&st, out);
  return MLPROTO_OK;
}

int mlproto_envelope_erase(uint8_t **out, size_t *out_len, const uint8_t *env, size_t len,
                           unsigned parts_mask) {
  if (!out || !out_len)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (parts_mask & ~(MLPROTO_PART_DISCLOSED | MLPROTO_PART_SEALED))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  mlproto__env_parts parts;
  int rc = mlproto__env_split(&parts, env, len);
  if (rc)
    return rc;
  /* Only parts that exist can be erased: the flag claims a hash in the header. */
  if ((parts_mask & MLPROTO_PART_DISCLOSED) && parts.disclosed_len) {
    parts.disclosed_len = 0;
    parts.erased |= MLPROTO_PART_DISCLOSED;
  }
  if ((parts_mask & MLPROTO_PART_SEALED) && parts.sealed_len) {
    parts.sealed_len = 0;
    parts.erased |= MLPROTO_PART_SEALED;
  }
  return mlproto__env_join(out, out_len, &parts);
}

/* --------------------------------------------------------------- strings -- */

bool mlproto__utf8_valid(const uint8_t *s, size_t n, bool allow_controls) {
  for (size_t i = 0; i < n;) {
    uint32_t c;
    size_t k = mlproto__utf8_next(s + i, n - i, &c);
    if (k == 0)
      return false;
    if (!allow_controls && (c < 0x20 || (c >= 0x7f && c <= 0x9f)))
      return false;
    if (allow_controls && c < 0x20 && c != '\n' && c != '\t' && c != '\r')
      return false;
    i += k;
  }
  return true;
}

int mlproto__check_code(const char *s, size_t min, size_t max, bool ref) {
  size_t n = strnlen(s, max + 1);
  if (n == 0 && min > 0)
    return MLPROTO_ERR_FIELD_MISSING;
  if (n > max || n < min)
    return MLPROTO_ERR_FIELD_SIZE;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || (ref && (c == '/' || c == ':'));
    if (!ok)
      return MLPROTO_ERR_FIELD_RANGE;
  }
  return MLPROTO_OK;
}

int mlproto__check_label(const char *s, size_t min, size_t max) {
  size_t n = strnlen(s, max + 1);
  if (n == 0 && min > 0)
    return MLPROTO_ERR_FIELD_MISSING;
  if (n > max || n < min)
    return MLPROTO_ERR_FIELD_SIZE;
  return mlproto__utf8_valid((const uint8_t *)s, n, false) ? MLPROTO_OK : MLPROTO_ERR_FIELD_RANGE;
}

int mlproto__check_text(const char *s, size_t max) {
  size_t n = strnlen(s, max + 1);
  if (n > max)
    return MLPROTO_ERR_FIELD_SIZE;
  return mlproto__utf8_valid((const uint8_t *)s, n, true) ? MLPROTO_OK : MLPROTO_ERR_FIELD_RANGE;
}

/* ------------------------------------------------------ generic messages -- */

void mlproto_msg_free(ProtobufCMessage *m) {
  if (m)
    protobuf_c_message_free_unpacked(m, &plain_allocator);
}

int mlproto_msg_pack(uint8_t **out, size_t *out_len, const ProtobufCMessage *m) {
  if (!out || !out_len || !m)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = mlproto_malloc(n);
  if (!buf)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  *out_len = protobuf_c_message_pack(m, buf);
  *out = buf;
  return MLPROTO_OK;
}
