/*
 * merkle_checkpoint.c — C2SP tlog-checkpoint signed notes (see
 * mlproto/checkpoint.h): formatting, signing, strict parsing, verification,
 * and the signed-note verifier key; and C2SP tlog-cosignature/v1 witness
 * lines and keys (mlproto/cosignature.h).
 */
#include "mlproto/checkpoint.h"
#include "mlproto/cosignature.h"
#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/util.h"
#include "util_int.h"

#include <sodium.h>
#include <string.h>

#define HB MLPROTO_MERKLE_HASH_BYTES
#define ALG_ED25519 0x01u
#define ALG_COSIG_V1 0x04u /* tlog-cosignature: Ed25519 cosignature/v1 */
#define COSIG_B64_LEN 104u /* base64 of 76 bytes */
#define ROOT_B64_LEN 44u /* base64 of 32 bytes, padded */
#define SIG_B64_LEN 92u  /* base64 of 4 + 64 bytes */
#define VKEY_B64_LEN 44u /* base64 of 1 + 32 bytes */

/* "— ": U+2014 EM DASH, then a space. */
static const char SIG_PREFIX[] = "\xe2\x80\x94 ";
#define SIG_PREFIX_LEN 4u

size_t mlproto_checkpoint_signed_max(void) { return MLPROTO_CHECKPOINT_SIGNED_MAX; }
size_t mlproto_note_vkey_max(void) { return MLPROTO_NOTE_VKEY_MAX; }

/* Unicode White_Space (what Go's unicode.IsSpace reports). */
static int is_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

int mlproto_note_name_check(const char *name, size_t len) {
  if (!name || len == 0 || len > MLPROTO_CHECKPOINT_ORIGIN_MAX) return MLPROTO_ERR_INVALID_ARGUMENT;
  const uint8_t *s = (const uint8_t *)name;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = mlproto__utf8_next(s + i, len - i, &cp);
    if (n == 0 || cp < 0x20 || cp == 0x7f || cp == '+' || is_space(cp))
      return MLPROTO_ERR_INVALID_ARGUMENT;
    i += n;
  }
  return MLPROTO_OK;
}

/* ----------------------------------------------------------- base64 --- */

/* Canonical padded standard base64 of exactly len characters into out
 * (cap bytes); *n the decoded length. Non-zero on anything else (a
 * character outside the alphabet, missing or extra padding, non-zero
 * trailing bits). */
static int b64_decode(uint8_t *out, size_t cap, size_t *n, const char *in, size_t len) {
  if (len == 0 || len % 4 != 0 || len / 4 * 3 > cap + 2) return -1;
  const char *end = NULL;
  if (sodium_base642bin(out, cap, in, len, NULL, n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != in + len)
    return -1;
  /* libsodium already refuses non-zero padding bits; re-encoding makes the
   * canonical form this file's own rule rather than a library detail. */
  char again[256];
  if (sodium_base64_encoded_len(*n, sodium_base64_VARIANT_ORIGINAL) != len + 1 ||
      len + 1 > sizeof again)
    return -1;
  sodium_bin2base64(again, sizeof again, out, *n, sodium_base64_VARIANT_ORIGINAL);
  return memcmp(again, in, len) != 0 ? -1 : 0;
}

/* ------------------------------------------------------------- keys --- */

/* SHA-256(name || 0x0A || alg || pk)[0..4). */
static void key_id_alg(uint8_t key_id[4], const char *name, size_t name_len, uint8_t alg,
                       const uint8_t pk[32]) {
  crypto_hash_sha256_state st;
  const uint8_t sep[2] = {'\n', alg};
  uint8_t h[32];
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, (const uint8_t *)name, name_len);
  crypto_hash_sha256_update(&st, sep, sizeof sep);
  crypto_hash_sha256_update(&st, pk, 32);
  crypto_hash_sha256_final(&st, h);
  memcpy(key_id, h, 4);
}

static void key_id_of(uint8_t key_id[4], const char *name, size_t name_len,
                      const uint8_t pk[32]) {
  key_id_alg(key_id, name, name_len, ALG_ED25519, pk);
}

int mlproto_note_key_id(uint8_t key_id[4], const char *name, const uint8_t pk[32]) {
  memset(key_id, 0, 4);
  size_t n = name ? strnlen(name, MLPROTO_CHECKPOINT_ORIGIN_MAX + 1) : 0;
  int rc = mlproto_note_name_check(name, n);
  if (rc) return rc;
  key_id_of(key_id, name, n, pk);
  return MLPROTO_OK;
}

int mlproto_note_verifier_init(mlproto_note_verifier *v, const char *name, const uint8_t pk[32]) {
  memset(v, 0, sizeof *v);
  int rc = mlproto_note_key_id(v->key_id, name, pk);
  if (rc) return rc;
  memcpy(v->name, name, strlen(name) + 1);
  memcpy(v->pk, pk, 32);
  return MLPROTO_OK;
}

static int vkey_format(char *out, size_t cap, size_t *len, const char *name, uint8_t alg,
                       const uint8_t pk[32]) {
  if (cap) out[0] = 0;
  if (len) *len = 0;
  mlproto_note_verifier v;
  int rc = mlproto_note_verifier_init(&v, name, pk);
  if (rc) return rc;
  key_id_alg(v.key_id, v.name, strlen(v.name), alg, pk);
  size_t nl = strlen(v.name);
  size_t total = nl + 1 + 8 + 1 + VKEY_B64_LEN;
  if (cap < total + 1) return MLPROTO_ERR_BUFFER_TOO_SMALL;
  uint8_t raw[33];
  raw[0] = alg;
  memcpy(raw + 1, pk, 32);
  memcpy(out, v.name, nl);
  out[nl] = '+';
  mlproto_hex_encode(out + nl + 1, v.key_id, 4);
  out[nl + 9] = '+';
  sodium_bin2base64(out + nl + 10, VKEY_B64_LEN + 1, raw, sizeof raw,
                    sodium_base64_VARIANT_ORIGINAL);
  if (len) *len = total;
  return MLPROTO_OK;
}

int mlproto_note_vkey_format(char *out, size_t cap, size_t *len, const char *name,
                             const uint8_t pk[32]) {
  return vkey_format(out, cap, len, name, ALG_ED25519, pk);
}

static int vkey_parse(mlproto_note_verifier *v, const char *s, size_t len, uint8_t alg) {
  memset(v, 0, sizeof *v);
  if (!s) return MLPROTO_ERR_BAD_KEY;
  const char *p1 = memchr(s, '+', len);
  if (!p1) return MLPROTO_ERR_BAD_KEY;
  size_t nl = (size_t)(p1 - s);
  const char *hex = p1 + 1;
  size_t rest = len - nl - 1;
  if (rest < 9 || hex[8] != '+' || mlproto_note_name_check(s, nl) != MLPROTO_OK)
    return MLPROTO_ERR_BAD_KEY;
  uint8_t id[4], raw[33 + 3];
  size_t n = 0;
  if (mlproto_hex_decode(id, 4, hex, 8) != MLPROTO_OK ||
      b64_decode(raw, sizeof raw, &n, hex + 9, rest - 9) != 0 || n != 33 ||
      raw[0] != alg)
    return MLPROTO_ERR_BAD_KEY;
  uint8_t want[4];
  key_id_alg(want, s, nl, alg, raw + 1);
  if (memcmp(want, id, 4) != 0) return MLPROTO_ERR_BAD_KEY;
  memcpy(v->name, s, nl);
  v->name[nl] = 0;
  memcpy(v->key_id, id, 4);
  memcpy(v->pk, raw + 1, 32);
  return MLPROTO_OK;
}

int mlproto_note_vkey_parse(mlproto_note_verifier *v, const char *s, size_t len) {
  return vkey_parse(v, s, len, ALG_ED25519);
}

/* ------------------------------------------------------ checkpoints --- */

int mlproto_checkpoint_body(char *out, size_t cap, size_t *len, const mlproto_checkpoint *cp) {
  if (cap) out[0] = 0;
  if (len) *len = 0;
  size_t ol = strnlen(cp->origin, sizeof cp->origin);
  if (mlproto_note_name_check(cp->origin, ol) != MLPROTO_OK) return MLPROTO_ERR_INVALID_ARGUMENT;
  if (cp->size > MLPROTO_MERKLE_MAX_SIZE) return MLPROTO_ERR_TREE_RANGE;
  char digits[21];
  size_t dl = 0;
  uint64_t v = cp->size;
  do {
    digits[dl++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  size_t total = ol + 1 + dl + 1 + ROOT_B64_LEN + 1;
  if (cap < total + 1) return MLPROTO_ERR_BUFFER_TOO_SMALL;
  size_t o = 0;
  memcpy(out, cp->origin, ol);
  o = ol;
  out[o++] = '\n';
  while (dl) out[o++] = digits[--dl];
  out[o++] = '\n';
  sodium_bin2base64(out + o, ROOT_B64_LEN + 1, cp->root, HB, sodium_base64_VARIANT_ORIGINAL);
  o += ROOT_B64_LEN;
  out[o++] = '\n';
  out[o] = 0;
  if (len) *len = o;
  return MLPROTO_OK;
}

int mlproto_checkpoint_sign(char *out, size_t cap, size_t *len, const mlproto_checkpoint *cp,
                            const uint8_t sk[64]) {
  if (len) *len = 0;
  size_t bl = 0;
  int rc = mlproto_checkpoint_body(out, cap, &bl, cp);
  if (rc) return rc;
  size_t ol = strlen(cp->origin);
  size_t total = bl + 1 + SIG_PREFIX_LEN + ol + 1 + SIG_B64_LEN + 1;
  if (cap < total + 1) {
    out[0] = 0;
    return MLPROTO_ERR_BUFFER_TOO_SMALL;
  }
  uint8_t raw[4 + 64];
  key_id_of(raw, cp->origin, ol, sk + 32); /* libsodium sk = seed || pk */
  if (crypto_sign_detached(raw + 4, NULL, (const uint8_t *)out, bl, sk) != 0) {
    out[0] = 0;
    return MLPROTO_ERR_INTERNAL;
  }
  size_t o = bl;
  out[o++] = '\n';
  memcpy(out + o, SIG_PREFIX, SIG_PREFIX_LEN);
  o += SIG_PREFIX_LEN;
  memcpy(out + o, cp->origin, ol);
  o += ol;
  out[o++] = ' ';
  sodium_bin2base64(out + o, SIG_B64_LEN + 1, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
  o += SIG_B64_LEN;
  out[o++] = '\n';
  out[o] = 0;
  if (len) *len = o;
  return MLPROTO_OK;
}

/* Whole note: valid UTF-8, no control character but '\n'. */
static int note_chars_ok(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k = mlproto__utf8_next(s + i, n - i, &cp);
    if (k == 0 || (cp < 0x20 && cp != '\n') || cp == 0x7f) return 0;
    i += k;
  }
  return 1;
}

/* The tree size line: 1..20 digits, no leading zero but "0". */
static int parse_size(uint64_t *out, const uint8_t *s, size_t n) {
  if (n == 0 || n > 20 || (n > 1 && s[0] == '0')) return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return MLPROTO_ERR_CHECKPOINT_MALFORMED;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return MLPROTO_ERR_TREE_RANGE;
    v = v * 10 + d;
  }
  if (v > MLPROTO_MERKLE_MAX_SIZE) return MLPROTO_ERR_TREE_RANGE;
  *out = v;
  return MLPROTO_OK;
}

/* The text "origin\nsize\nroot\n" of tl bytes (ends in '\n'). */
static int parse_text(mlproto_checkpoint *cp, const uint8_t *t, size_t tl) {
  const uint8_t *line[3];
  size_t ll[3];
  size_t at = 0;
  for (int i = 0; i < 3; i++) {
    if (at >= tl) return MLPROTO_ERR_CHECKPOINT_MALFORMED;
    const uint8_t *nl = memchr(t + at, '\n', tl - at);
    if (!nl) return MLPROTO_ERR_CHECKPOINT_MALFORMED;
    line[i] = t + at;
    ll[i] = (size_t)(nl - (t + at));
    at += ll[i] + 1;
  }
  if (at != tl) return MLPROTO_ERR_CHECKPOINT_MALFORMED; /* extension or timestamp lines */
  if (mlproto_note_name_check((const char *)line[0], ll[0]) != MLPROTO_OK)
    return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  int rc = parse_size(&cp->size, line[1], ll[1]);
  if (rc) return rc;
  size_t n = 0;
  uint8_t root[HB + 2];
  if (ll[2] != ROOT_B64_LEN || b64_decode(root, sizeof root, &n, (const char *)line[2], ll[2]) ||
      n != HB)
    return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  memcpy(cp->origin, line[0], ll[0]);
  cp->origin[ll[0]] = 0;
  memcpy(cp->root, root, HB);
  return MLPROTO_OK;
}

/* One signature line (without its '\n'): name and decoded bytes. */
typedef struct sig_line {
  const uint8_t *name;
  size_t name_len;
  uint8_t raw[4 + 64 + 64]; /* the decoded bytes (only the first 6 when raw_len
                                is larger than this buffer) */
  size_t raw_len;
} sig_line;

static int parse_sig_line(sig_line *s, const uint8_t *l, size_t n) {
  if (n < SIG_PREFIX_LEN || memcmp(l, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
    return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  l += SIG_PREFIX_LEN;
  n -= SIG_PREFIX_LEN;
  const uint8_t *sp = memchr(l, ' ', n);
  if (!sp) return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  s->name = l;
  s->name_len = (size_t)(sp - l);
  const char *b64 = (const char *)sp + 1;
  size_t bl = n - s->name_len - 1;
  if (mlproto_note_name_check((const char *)l, s->name_len) != MLPROTO_OK || bl == 0)
    return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  if (bl / 4 * 3 > sizeof s->raw) {
    /* Another algorithm's signature may be longer than Ed25519's: check the
     * base64 in pieces of 4 characters (3 bytes), keeping the first 6 bytes
     * (the key ID); raw_len says how long it is. */
    if (bl % 4 != 0) return MLPROTO_ERR_CHECKPOINT_MALFORMED;
    uint8_t tmp[6];
    size_t k;
    for (size_t i = 0; i < bl; i += 4) {
      if (b64_decode(tmp, sizeof tmp, &k, b64 + i, 4) != 0 || (k != 3 && i + 4 != bl))
        return MLPROTO_ERR_CHECKPOINT_MALFORMED;
      if (i < 8) memcpy(s->raw + i / 4 * 3, tmp, 3);
    }
    s->raw_len = bl / 4 * 3; /* > sizeof raw: never 68 */
    return MLPROTO_OK;
  }
  if (b64_decode(s->raw, sizeof s->raw, &s->raw_len, b64, bl) != 0 || s->raw_len < 5)
    return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  return MLPROTO_OK;
}

/* Finds the last "\n\n" in s[0..n): its index, or n when none. */
static size_t last_blank(const uint8_t *s, size_t n) {
  for (size_t i = n; i >= 2; i--)
    if (s[i - 1] == '\n' && s[i - 2] == '\n') return i - 2;
  return n;
}

int mlproto_checkpoint_open(mlproto_checkpoint *cp, const uint8_t *note, size_t len,
                            const mlproto_note_verifier *v) {
  memset(cp, 0, sizeof *cp);
  if (len > MLPROTO_CHECKPOINT_NOTE_MAX) return MLPROTO_ERR_TOO_LARGE;
  if (!note || !note_chars_ok(note, len)) return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  size_t split = last_blank(note, len);
  if (split == len) return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  size_t tl = split + 1; /* the text keeps its final '\n' */
  const uint8_t *sigs = note + split + 2;
  size_t sl = len - split - 2;
  if (sl == 0 || sigs[sl - 1] != '\n') return MLPROTO_ERR_CHECKPOINT_MALFORMED;

  mlproto_checkpoint got;
  memset(&got, 0, sizeof got);
  int rc = parse_text(&got, note, tl);
  if (rc) return rc;

  /* Every signature line must be well-formed, whoever signed it. */
  size_t vl = strnlen(v->name, sizeof v->name);
  const sig_line *mine = NULL;
  sig_line cur, first_mine;
  unsigned count = 0;
  for (size_t at = 0; at < sl;) {
    const uint8_t *nl = memchr(sigs + at, '\n', sl - at); /* found: sigs ends in '\n' */
    size_t n = (size_t)(nl - (sigs + at));
    if (++count > MLPROTO_CHECKPOINT_MAX_SIGS) return MLPROTO_ERR_CHECKPOINT_MALFORMED;
    if ((rc = parse_sig_line(&cur, sigs + at, n))) return rc;
    at += n + 1;
    /* A line is the key's when name and key ID match. */
    if (!mine && cur.name_len == vl && memcmp(cur.name, v->name, vl) == 0 &&
        memcmp(cur.raw, v->key_id, 4) == 0) {
      first_mine = cur;
      mine = &first_mine;
    }
  }
  if (strcmp(got.origin, v->name) != 0) return MLPROTO_ERR_CHECKPOINT_ORIGIN;
  if (!mine) return MLPROTO_ERR_CHECKPOINT_UNSIGNED;
  if (mine->raw_len != 4 + 64 ||
      crypto_sign_verify_detached(mine->raw + 4, note, tl, v->pk) != 0)
    return MLPROTO_ERR_STH_INVALID;
  if (got.size == 0) {
    uint8_t empty[HB];
    mlproto_merkle_empty_root(empty);
    if (memcmp(empty, got.root, HB) != 0) return MLPROTO_ERR_STH_INVALID;
  }
  *cp = got;
  return MLPROTO_OK;
}

int mlproto_checkpoint_check_split_view(const mlproto_checkpoint *a,
                                        const mlproto_checkpoint *b) {
  if (strcmp(a->origin, b->origin) != 0) return MLPROTO_ERR_CHECKPOINT_ORIGIN;
  if (a->size == b->size && memcmp(a->root, b->root, HB) != 0) return MLPROTO_ERR_SPLIT_VIEW;
  return MLPROTO_OK;
}

int mlproto_checkpoint_check_consistency(const mlproto_checkpoint *older,
                                         const mlproto_checkpoint *newer,
                                         const uint8_t (*proof)[32], size_t len) {
  if (strcmp(older->origin, newer->origin) != 0) return MLPROTO_ERR_CHECKPOINT_ORIGIN;
  mlproto_sth a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.size = older->size;
  b.size = newer->size;
  memcpy(a.root, older->root, HB);
  memcpy(b.root, newer->root, HB);
  return mlproto_sth_check_consistency(&a, &b, proof, len);
}

/* ------------------------------------------- cosignatures (cosignature/v1) --- */

int mlproto_cosig_key_id(uint8_t key_id[4], const char *name, const uint8_t pk[32]) {
  memset(key_id, 0, 4);
  size_t n = name ? strnlen(name, MLPROTO_CHECKPOINT_ORIGIN_MAX + 1) : 0;
  int rc = mlproto_note_name_check(name, n);
  if (rc) return rc;
  key_id_alg(key_id, name, n, ALG_COSIG_V1, pk);
  return MLPROTO_OK;
}

int mlproto_cosig_verifier_init(mlproto_note_verifier *v, const char *name, const uint8_t pk[32]) {
  memset(v, 0, sizeof *v);
  int rc = mlproto_cosig_key_id(v->key_id, name, pk);
  if (rc) return rc;
  memcpy(v->name, name, strlen(name) + 1);
  memcpy(v->pk, pk, 32);
  return MLPROTO_OK;
}

int mlproto_cosig_vkey_format(char *out, size_t cap, size_t *len, const char *name,
                              const uint8_t pk[32]) {
  return vkey_format(out, cap, len, name, ALG_COSIG_V1, pk);
}

int mlproto_cosig_vkey_parse(mlproto_note_verifier *v, const char *s, size_t len) {
  return vkey_parse(v, s, len, ALG_COSIG_V1);
}

/* The signed message's prefix "cosignature/v1\ntime <ts>\n" into out (64
 * bytes suffice); its length. */
static size_t cosig_header(char out[64], uint64_t ts) {
  char digits[21];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + ts % 10);
    ts /= 10;
  } while (ts);
  static const char H[] = "cosignature/v1\ntime ";
  size_t o = sizeof H - 1;
  memcpy(out, H, o);
  while (n) out[o++] = digits[--n];
  out[o++] = '\n';
  return o;
}

/* header || body, malloc'd (the body is at most a note). */
static uint8_t *cosig_message(uint64_t ts, const uint8_t *body, size_t body_len, size_t *len) {
  char h[64];
  size_t hl = cosig_header(h, ts);
  if (body_len > MLPROTO_CHECKPOINT_NOTE_MAX) return NULL;
  uint8_t *m = mlproto_malloc(hl + body_len);
  if (!m) return NULL;
  memcpy(m, h, hl);
  memcpy(m + hl, body, body_len);
  *len = hl + body_len;
  return m;
}

int mlproto_cosig_sign(mlproto_cosig *out, const uint8_t *body, size_t body_len,
                       uint64_t timestamp, const char *name, const uint8_t sk[64]) {
  memset(out, 0, sizeof *out);
  if (!body || body_len == 0 || body[body_len - 1] != '\n' || timestamp > MLPROTO_COSIG_TIME_MAX)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  mlproto_cosig c;
  memset(&c, 0, sizeof c);
  int rc = mlproto_cosig_key_id(c.key_id, name, sk + 32); /* libsodium sk = seed || pk */
  if (rc) return rc;
  size_t ml = 0;
  uint8_t *m = cosig_message(timestamp, body, body_len, &ml);
  if (!m) return MLPROTO_ERR_OUT_OF_MEMORY;
  rc = crypto_sign_detached(c.sig, NULL, m, ml, sk) != 0 ? MLPROTO_ERR_INTERNAL : MLPROTO_OK;
  mlproto_free(m);
  if (rc) return rc;
  memcpy(c.name, name, strlen(name) + 1);
  c.timestamp = timestamp;
  *out = c;
  return MLPROTO_OK;
}

int mlproto_cosig_line_format(char *out, size_t cap, size_t *len, const mlproto_cosig *c) {
  if (cap) out[0] = 0;
  if (len) *len = 0;
  size_t nl = strnlen(c->name, sizeof c->name);
  if (mlproto_note_name_check(c->name, nl) != MLPROTO_OK) return MLPROTO_ERR_INVALID_ARGUMENT;
  size_t total = SIG_PREFIX_LEN + nl + 1 + COSIG_B64_LEN + 1;
  if (cap < total + 1) return MLPROTO_ERR_BUFFER_TOO_SMALL;
  uint8_t raw[MLPROTO_COSIG_PAYLOAD];
  memcpy(raw, c->key_id, 4);
  for (int i = 0; i < 8; i++) raw[4 + i] = (uint8_t)(c->timestamp >> (56 - 8 * i));
  memcpy(raw + 12, c->sig, 64);
  size_t o = 0;
  memcpy(out, SIG_PREFIX, SIG_PREFIX_LEN);
  o += SIG_PREFIX_LEN;
  memcpy(out + o, c->name, nl);
  o += nl;
  out[o++] = ' ';
  sodium_bin2base64(out + o, COSIG_B64_LEN + 1, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
  o += COSIG_B64_LEN;
  out[o++] = '\n';
  out[o] = 0;
  if (len) *len = o;
  return MLPROTO_OK;
}

/* A parsed signature line (sig_line, without its '\n') as a cosignature. */
static int cosig_from_sig_line(mlproto_cosig *out, const sig_line *s) {
  if (s->raw_len != MLPROTO_COSIG_PAYLOAD) return MLPROTO_ERR_COSIGNATURE_INVALID;
  memcpy(out->name, s->name, s->name_len);
  out->name[s->name_len] = 0;
  memcpy(out->key_id, s->raw, 4);
  uint64_t ts = 0;
  for (int i = 0; i < 8; i++) ts = ts << 8 | s->raw[4 + i];
  out->timestamp = ts;
  memcpy(out->sig, s->raw + 12, 64);
  return MLPROTO_OK;
}

int mlproto_cosig_line_parse(mlproto_cosig *out, const uint8_t *line, size_t len) {
  memset(out, 0, sizeof *out);
  if (!line || len < 2 || line[len - 1] != '\n' || memchr(line, '\n', len - 1) ||
      !note_chars_ok(line, len))
    return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  sig_line s;
  int rc = parse_sig_line(&s, line, len - 1);
  if (rc) return rc;
  mlproto_cosig c;
  memset(&c, 0, sizeof c);
  if ((rc = cosig_from_sig_line(&c, &s))) return rc;
  *out = c;
  return MLPROTO_OK;
}

int mlproto_cosig_verify(const mlproto_cosig *c, const uint8_t *body, size_t body_len,
                         const mlproto_note_verifier *v) {
  if (strncmp(c->name, v->name, sizeof c->name) != 0 || memcmp(c->key_id, v->key_id, 4) != 0 ||
      c->timestamp > MLPROTO_COSIG_TIME_MAX || !body || body_len == 0)
    return MLPROTO_ERR_COSIGNATURE_INVALID;
  size_t ml = 0;
  uint8_t *m = cosig_message(c->timestamp, body, body_len, &ml);
  if (!m) return body_len > MLPROTO_CHECKPOINT_NOTE_MAX ? MLPROTO_ERR_COSIGNATURE_INVALID
                                                       : MLPROTO_ERR_OUT_OF_MEMORY;
  int ok = crypto_sign_verify_detached(c->sig, m, ml, v->pk) == 0;
  mlproto_free(m);
  return ok ? MLPROTO_OK : MLPROTO_ERR_COSIGNATURE_INVALID;
}

int mlproto_note_body_len(const uint8_t *note, size_t len, size_t *body_len) {
  *body_len = 0;
  if (!note) return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  size_t split = last_blank(note, len);
  if (split == len) return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  *body_len = split + 1;
  return MLPROTO_OK;
}

int mlproto_cosig_find(mlproto_cosig *out, const uint8_t *note, size_t len,
                       const mlproto_note_verifier *v) {
  if (out) memset(out, 0, sizeof *out);
  if (len > MLPROTO_CHECKPOINT_NOTE_MAX || !note || !note_chars_ok(note, len))
    return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  size_t tl = 0;
  int rc = mlproto_note_body_len(note, len, &tl);
  if (rc) return rc;
  const uint8_t *sigs = note + tl + 1;
  size_t sl = len - tl - 1;
  if (sl == 0 || sigs[sl - 1] != '\n') return MLPROTO_ERR_CHECKPOINT_MALFORMED;
  size_t vl = strnlen(v->name, sizeof v->name);
  for (size_t at = 0; at < sl;) {
    const uint8_t *nl = memchr(sigs + at, '\n', sl - at);
    size_t n = (size_t)(nl - (sigs + at));
    sig_line cur;
    if ((rc = parse_sig_line(&cur, sigs + at, n))) return rc;
    at += n + 1;
    if (cur.name_len != vl || memcmp(cur.name, v->name, vl) != 0 ||
        memcmp(cur.raw, v->key_id, 4) != 0)
      continue;
    mlproto_cosig c;
    memset(&c, 0, sizeof c);
    if ((rc = cosig_from_sig_line(&c, &cur))) return rc;
    if ((rc = mlproto_cosig_verify(&c, note, tl, v))) return rc;
    if (out) *out = c;
    return MLPROTO_OK;
  }
  return MLPROTO_ERR_CHECKPOINT_UNSIGNED;
}
