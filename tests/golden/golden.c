/* Shared by the golden-vector generator and test: see golden.h. */
#include "golden.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ deterministic RNG -- */

static struct {
  uint8_t key[32];
  uint32_t counter;
  uint8_t block[64];
  size_t pos; /* bytes of block already used; 64 = empty */
} rng = {{0}, 0, {0}, 64};

void golden_rng_seed(const uint8_t seed[32]) {
  memcpy(rng.key, seed, 32);
  rng.counter = 0;
  rng.pos = 64;
}

static void rng_buf(void *const buf, const size_t size) {
  static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
  static const uint8_t zero[64] = {0};
  uint8_t *out = buf;
  for (size_t i = 0; i < size; i++) {
    if (rng.pos == 64) {
      crypto_stream_chacha20_ietf_xor_ic(rng.block, zero, 64, nonce, rng.counter++, rng.key);
      rng.pos = 0;
    }
    out[i] = rng.block[rng.pos++];
  }
}

static uint32_t rng_random(void) {
  uint8_t b[4];
  rng_buf(b, sizeof b);
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static const char *rng_name(void) { return "mentorlog-golden-chacha20"; }

static randombytes_implementation rng_impl = {rng_name, rng_random, NULL, NULL, rng_buf, NULL};

int golden_rng_install(void) {
  static const uint8_t seed0[32] = {0};
  golden_rng_seed(seed0);
  if (randombytes_set_implementation(&rng_impl) != 0)
    return -1;
  return mlproto_crypto_init() == MLPROTO_OK ? 0 : -1;
}

/* ------------------------------------------------------------------ util -- */

static int schema_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int schema_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return 1;
}

char *golden_hex(const uint8_t *p, size_t len) {
  char *s = malloc(2 * len + 1);
  if (!s)
    abort();
  for (size_t i = 0; i < len; i++)
    snprintf(s + 2 * i, 3, "%02x", p[i]);
  s[2 * len] = 0;
  return s;
}

bool golden_hex_field(uint8_t *out, size_t want, const tu_json *obj, const char *key) {
  const tu_json *v = tu_json_get(obj, key);
  if (!v || v->type != TU_JSTR || strlen(v->str) != 2 * want)
    return false;
  size_t n;
  uint8_t *b = tu_unhex(v->str, &n);
  if (!b || n != want) {
    free(b);
    return false;
  }
  memcpy(out, b, want);
  free(b);
  return true;
}

void golden_aad(uint8_t aad[68], const uint8_t *record_id, const uint8_t *case_id,
                const uint8_t *author, uint32_t kind) {
  memcpy(aad, record_id, 16);
  memcpy(aad + 16, case_id, 16);
  memcpy(aad + 32, author, 32);
  aad[64] = (uint8_t)(kind >> 24);
  aad[65] = (uint8_t)(kind >> 16);
  aad[66] = (uint8_t)(kind >> 8);
  aad[67] = (uint8_t)kind;
}

/* ------------------------------------------------------------------ keys -- */

int golden_keys_load(golden_keys *ks, const tu_json *keys, char *err, size_t errlen) {
  memset(ks, 0, sizeof *ks);
  if (!keys || keys->type != TU_JOBJ || keys->n > GOLDEN_MAX_KEYS)
    return schema_err(err, errlen, "keys: expected an object of at most %d keys", GOLDEN_MAX_KEYS);
  for (size_t i = 0; i < keys->n; i++) {
    const tu_json *o = &keys->items[i];
    golden_key *k = &ks->k[ks->n++];
    snprintf(k->name, sizeof k->name, "%s", keys->keys[i]);
    const tu_json *t = tu_json_get(o, "type");
    if (!t || t->type != TU_JSTR)
      return schema_err(err, errlen, "key %s: no type", k->name);
    if (strcmp(t->str, "sign") == 0)
      k->type = MLPROTO_KEY_SIGN;
    else if (strcmp(t->str, "box") == 0)
      k->type = MLPROTO_KEY_BOX;
    else if (strcmp(t->str, "case") == 0)
      k->type = MLPROTO_KEY_CASE;
    else
      return schema_err(err, errlen, "key %s: unknown type %s", k->name, t->str);
    if (!golden_hex_field(k->secret, 32, o, "secret"))
      return schema_err(err, errlen, "key %s: secret must be 32 bytes of hex", k->name);
    if (k->type == MLPROTO_KEY_CASE && !golden_hex_field(k->case_id, 16, o, "case_id"))
      return schema_err(err, errlen, "key %s: case_id must be 16 bytes of hex", k->name);
    int rc = mlproto_key_import(&k->key, k->type, k->secret, 32);
    if (rc)
      return rc;
    if (k->type != MLPROTO_KEY_CASE && (rc = mlproto_key_public(k->pub, k->key)))
      return rc;
  }
  return 0;
}

void golden_keys_free(golden_keys *ks) {
  for (size_t i = 0; i < ks->n; i++)
    mlproto_key_free(ks->k[i].key);
  sodium_memzero(ks, sizeof *ks);
}

const golden_key *golden_key_by_name(const golden_keys *ks, const char *name) {
  for (size_t i = 0; i < ks->n; i++)
    if (strcmp(ks->k[i].name, name) == 0)
      return &ks->k[i];
  return NULL;
}

const golden_key *golden_case_key(const golden_keys *ks, const uint8_t case_id[16]) {
  for (size_t i = 0; i < ks->n; i++)
    if (ks->k[i].type == MLPROTO_KEY_CASE && memcmp(ks->k[i].case_id, case_id, 16) == 0)
      return &ks->k[i];
  return NULL;
}

static const struct {
  const char *name;
  uint32_t kind;
} kinds[] = {
    {"CASE_OPEN", 1},      {"GRANT_OPEN", 2},       {"GRANT_UPDATE", 3},   {"GRANT_CLOSE", 4},
    {"CONTACT", 5},        {"NOTE", 6},             {"ABSENCE", 7},        {"KEY_GRANT", 8},
    {"CASE_ERASE", 9},     {"DEVICE_ENROLLED", 100}, {"DEVICE_REVOKED", 101},
    {"ESCROW_KEY", 102},   {"RETENTION_PURGE", 103},
};

uint32_t golden_kind_number(const char *name) {
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(kinds[i].name, name) == 0)
      return kinds[i].kind;
  return 0;
}

/* ----------------------------------------------------------------- arena -- */

/* Everything a build allocates for the payload structs, freed at once. */
typedef struct arena {
  void *blocks[256];
  size_t n;
  bool failed;
} arena;

static void *arena_alloc(arena *a, size_t size) {
  if (a->n == sizeof a->blocks / sizeof a->blocks[0]) {
    a->failed = true;
    return NULL;
  }
  void *p = calloc(1, size ? size : 1);
  if (!p) {
    a->failed = true;
    return NULL;
  }
  return a->blocks[a->n++] = p;
}

static void arena_free(arena *a) {
  for (size_t i = 0; i < a->n; i++)
    free(a->blocks[i]);
  a->n = 0;
}

/* ------------------------------------------------------ JSON -> payloads -- */

typedef struct ctx {
  arena a;
  char *err;
  size_t errlen;
  int bad; /* a schema error was recorded */
} ctx;

static void cerr(ctx *c, const char *what, const char *key) {
  if (!c->bad)
    snprintf(c->err, c->errlen, "%s: %s", key, what);
  c->bad = 1;
}

static uint64_t get_u64(ctx *c, const tu_json *o, const char *key, uint64_t max) {
  const tu_json *v = tu_json_get(o, key);
  if (!v)
    return 0; /* absent: the protobuf default */
  if (v->type != TU_JNUM || v->inum < 0 || (double)v->inum != v->num || (uint64_t)v->inum > max) {
    cerr(c, "expected an integer in range", key);
    return 0;
  }
  return (uint64_t)v->inum;
}

static uint32_t get_u32(ctx *c, const tu_json *o, const char *key) {
  return (uint32_t)get_u64(c, o, key, UINT32_MAX);
}

static int get_bool(ctx *c, const tu_json *o, const char *key) {
  const tu_json *v = tu_json_get(o, key);
  if (!v)
    return 0;
  if (v->type != TU_JBOOL) {
    cerr(c, "expected a boolean", key);
    return 0;
  }
  return v->boolean;
}

static char *get_str(ctx *c, const tu_json *o, const char *key) {
  const tu_json *v = tu_json_get(o, key);
  if (!v)
    return (char *)"";
  if (v->type != TU_JSTR) {
    cerr(c, "expected a string", key);
    return (char *)"";
  }
  return v->str;
}

static ProtobufCBinaryData get_bytes(ctx *c, const tu_json *o, const char *key) {
  ProtobufCBinaryData b = {0, NULL};
  const tu_json *v = tu_json_get(o, key);
  if (!v)
    return b;
  size_t n;
  uint8_t *raw = v->type == TU_JSTR ? tu_unhex(v->str, &n) : NULL;
  if (!raw) {
    cerr(c, "expected hex", key);
    return b;
  }
  uint8_t *p = arena_alloc(&c->a, n);
  if (p)
    memcpy(p, raw, n);
  free(raw);
  b.len = p ? n : 0;
  b.data = p;
  return b;
}

static const tu_json *get_obj(ctx *c, const tu_json *o, const char *key) {
  const tu_json *v = tu_json_get(o, key);
  if (!v || v->type != TU_JOBJ) {
    cerr(c, "expected an object", key);
    return NULL;
  }
  return v;
}

#define NEW(c, T) ((T *)arena_alloc(&(c)->a, sizeof(T)))

static Mentorlog__V1__GrantDisclosed *grant_from(ctx *c, const tu_json *o) {
  Mentorlog__V1__GrantDisclosed *g = NEW(c, Mentorlog__V1__GrantDisclosed);
  Mentorlog__V1__ContactRule *r = NEW(c, Mentorlog__V1__ContactRule);
  if (!g || !r)
    return NULL;
  *g = (Mentorlog__V1__GrantDisclosed)MENTORLOG__V1__GRANT_DISCLOSED__INIT;
  *r = (Mentorlog__V1__ContactRule)MENTORLOG__V1__CONTACT_RULE__INIT;
  g->jobcentre_id = get_str(c, o, "jobcentre_id");
  g->case_ref = get_str(c, o, "case_ref");
  g->legal_basis = get_str(c, o, "legal_basis");
  g->start_day = get_u32(c, o, "start_day");
  g->end_day = get_u32(c, o, "end_day");
  g->granted_minutes_per_week = get_u32(c, o, "granted_minutes_per_week");
  const tu_json *ro = get_obj(c, o, "rule");
  if (!ro)
    return g;
  r->period_weeks = get_u32(c, ro, "period_weeks");
  r->contacts_needed = get_u32(c, ro, "contacts_needed");
  r->min_minutes = get_u32(c, ro, "min_minutes");
  r->partial_days = get_u32(c, ro, "partial_days");
  r->grace_days = get_u32(c, ro, "grace_days");
  r->late_days = get_u32(c, ro, "late_days");
  const tu_json *q = tu_json_get(ro, "qualifying_channels");
  if (q && q->type == TU_JARR && q->n > 0) {
    Mentorlog__V1__Channel *ch = arena_alloc(&c->a, q->n * sizeof *ch);
    if (ch) {
      for (size_t i = 0; i < q->n; i++)
        ch[i] = (Mentorlog__V1__Channel)(q->items[i].type == TU_JNUM ? q->items[i].inum : 0);
      r->n_qualifying_channels = q->n;
      r->qualifying_channels = ch;
    }
  }
  g->rule = r;
  return g;
}

static mlproto_disclosed *disclosed_from(ctx *c, const tu_json *o, uint32_t kind,
                                         const golden_key *case_key) {
  mlproto_disclosed *d = NEW(c, mlproto_disclosed);
  if (!d)
    return NULL;
  *d = (mlproto_disclosed)MENTORLOG__V1__DISCLOSED__INIT;
  d->payload_case = (Mentorlog__V1__Disclosed__PayloadCase)kind;
  switch (kind) {
  case MLPROTO_KIND_CASE_OPEN:
    if ((d->case_open = NEW(c, Mentorlog__V1__CaseOpenDisclosed)))
      *d->case_open = (Mentorlog__V1__CaseOpenDisclosed)MENTORLOG__V1__CASE_OPEN_DISCLOSED__INIT;
    break;
  case MLPROTO_KIND_NOTE:
    if ((d->note = NEW(c, Mentorlog__V1__NoteDisclosed)))
      *d->note = (Mentorlog__V1__NoteDisclosed)MENTORLOG__V1__NOTE_DISCLOSED__INIT;
    break;
  case MLPROTO_KIND_CASE_ERASE:
    if ((d->case_erase = NEW(c, Mentorlog__V1__CaseEraseDisclosed)))
      *d->case_erase = (Mentorlog__V1__CaseEraseDisclosed)MENTORLOG__V1__CASE_ERASE_DISCLOSED__INIT;
    break;
  case MLPROTO_KIND_GRANT_OPEN:
    d->grant_open = grant_from(c, o);
    break;
  case MLPROTO_KIND_GRANT_UPDATE:
    d->grant_update = grant_from(c, o);
    break;
  case MLPROTO_KIND_GRANT_CLOSE:
    if ((d->grant_close = NEW(c, Mentorlog__V1__GrantCloseDisclosed))) {
      *d->grant_close = (Mentorlog__V1__GrantCloseDisclosed)MENTORLOG__V1__GRANT_CLOSE_DISCLOSED__INIT;
      d->grant_close->close_day = get_u32(c, o, "close_day");
    }
    break;
  case MLPROTO_KIND_CONTACT: {
    Mentorlog__V1__ContactDisclosed *x = NEW(c, Mentorlog__V1__ContactDisclosed);
    if (!x)
      break;
    *x = (Mentorlog__V1__ContactDisclosed)MENTORLOG__V1__CONTACT_DISCLOSED__INIT;
    x->start_ms = get_u64(c, o, "start_ms", (uint64_t)1 << 53);
    x->duration_minutes = get_u32(c, o, "duration_minutes");
    x->channel = (Mentorlog__V1__Channel)get_u32(c, o, "channel");
    x->outcome = (Mentorlog__V1__Outcome)get_u32(c, o, "outcome");
    x->transport_minutes = get_u32(c, o, "transport_minutes");
    x->voided = get_bool(c, o, "voided");
    d->contact = x;
    break;
  }
  case MLPROTO_KIND_ABSENCE: {
    Mentorlog__V1__AbsenceDisclosed *x = NEW(c, Mentorlog__V1__AbsenceDisclosed);
    if (!x)
      break;
    *x = (Mentorlog__V1__AbsenceDisclosed)MENTORLOG__V1__ABSENCE_DISCLOSED__INIT;
    x->from_day = get_u32(c, o, "from_day");
    x->to_day = get_u32(c, o, "to_day");
    x->kind = (Mentorlog__V1__AbsenceKind)get_u32(c, o, "kind");
    x->approved = get_bool(c, o, "approved");
    x->approval_ref = get_str(c, o, "approval_ref");
    d->absence = x;
    break;
  }
  case MLPROTO_KIND_KEY_GRANT: {
    Mentorlog__V1__KeyGrantDisclosed *x = NEW(c, Mentorlog__V1__KeyGrantDisclosed);
    const tu_json *keys = tu_json_get(o, "keys");
    if (!x)
      break;
    *x = (Mentorlog__V1__KeyGrantDisclosed)MENTORLOG__V1__KEY_GRANT_DISCLOSED__INIT;
    if (!keys || keys->type != TU_JARR || !case_key) {
      cerr(c, "KEY_GRANT needs keys[] and a case key for the case", "keys");
      break;
    }
    x->keys = arena_alloc(&c->a, (keys->n ? keys->n : 1) * sizeof *x->keys);
    if (!x->keys)
      break;
    /* Sealed in input order: each crypto_box_seal draws its ephemeral key
     * from the generator in turn. */
    for (size_t i = 0; i < keys->n; i++) {
      Mentorlog__V1__SealedKey *sk = NEW(c, Mentorlog__V1__SealedKey);
      uint8_t *sealed = arena_alloc(&c->a, MLPROTO_CASE_KEY_SEALEDBYTES);
      if (!sk || !sealed)
        break;
      *sk = (Mentorlog__V1__SealedKey)MENTORLOG__V1__SEALED_KEY__INIT;
      sk->recipient = get_bytes(c, &keys->items[i], "recipient");
      if (sk->recipient.len != 32 ||
          mlproto_case_key_seal(sealed, case_key->key, sk->recipient.data) != MLPROTO_OK) {
        cerr(c, "bad recipient", "keys");
        break;
      }
      sk->sealed_key = (ProtobufCBinaryData){MLPROTO_CASE_KEY_SEALEDBYTES, sealed};
      x->keys[x->n_keys++] = sk;
    }
    d->key_grant = x;
    break;
  }
  case MLPROTO_KIND_DEVICE_ENROLLED: {
    Mentorlog__V1__DeviceEnrolled *x = NEW(c, Mentorlog__V1__DeviceEnrolled);
    if (!x)
      break;
    *x = (Mentorlog__V1__DeviceEnrolled)MENTORLOG__V1__DEVICE_ENROLLED__INIT;
    x->device_pub = get_bytes(c, o, "device_pub");
    x->box_pub = get_bytes(c, o, "box_pub");
    x->mentor_id = get_bytes(c, o, "mentor_id");
    x->label = get_str(c, o, "label");
    d->device_enrolled = x;
    break;
  }
  case MLPROTO_KIND_DEVICE_REVOKED: {
    Mentorlog__V1__DeviceRevoked *x = NEW(c, Mentorlog__V1__DeviceRevoked);
    if (!x)
      break;
    *x = (Mentorlog__V1__DeviceRevoked)MENTORLOG__V1__DEVICE_REVOKED__INIT;
    x->device_pub = get_bytes(c, o, "device_pub");
    d->device_revoked = x;
    break;
  }
  case MLPROTO_KIND_ESCROW_KEY: {
    Mentorlog__V1__EscrowKey *x = NEW(c, Mentorlog__V1__EscrowKey);
    if (!x)
      break;
    *x = (Mentorlog__V1__EscrowKey)MENTORLOG__V1__ESCROW_KEY__INIT;
    x->box_pub = get_bytes(c, o, "box_pub");
    x->sign_pub = get_bytes(c, o, "sign_pub");
    d->escrow_key = x;
    break;
  }
  case MLPROTO_KIND_RETENTION_PURGE: {
    Mentorlog__V1__RetentionPurge *x = NEW(c, Mentorlog__V1__RetentionPurge);
    if (!x)
      break;
    *x = (Mentorlog__V1__RetentionPurge)MENTORLOG__V1__RETENTION_PURGE__INIT;
    x->case_id = get_bytes(c, o, "case_id");
    d->retention_purge = x;
    break;
  }
  default:
    cerr(c, "unknown kind", "kind");
  }
  return d;
}

static mlproto_sealed *sealed_from(ctx *c, const tu_json *o, uint32_t kind) {
  mlproto_sealed *s = NEW(c, mlproto_sealed);
  if (!s)
    return NULL;
  *s = (mlproto_sealed)MENTORLOG__V1__SEALED__INIT;
  s->payload_case = (Mentorlog__V1__Sealed__PayloadCase)kind;
  switch (kind) {
  case MLPROTO_KIND_CASE_OPEN: {
    Mentorlog__V1__CaseSealed *x = NEW(c, Mentorlog__V1__CaseSealed);
    if (!x)
      break;
    *x = (Mentorlog__V1__CaseSealed)MENTORLOG__V1__CASE_SEALED__INIT;
    x->citizen_name = get_str(c, o, "citizen_name");
    x->phone = get_str(c, o, "phone");
    x->address = get_str(c, o, "address");
    s->case_open = x;
    break;
  }
  case MLPROTO_KIND_GRANT_OPEN:
  case MLPROTO_KIND_GRANT_UPDATE: {
    Mentorlog__V1__GrantSealed *x = NEW(c, Mentorlog__V1__GrantSealed);
    if (!x)
      break;
    *x = (Mentorlog__V1__GrantSealed)MENTORLOG__V1__GRANT_SEALED__INIT;
    x->purpose = get_str(c, o, "purpose");
    if (kind == MLPROTO_KIND_GRANT_OPEN)
      s->grant_open = x;
    else
      s->grant_update = x;
    break;
  }
  case MLPROTO_KIND_CONTACT: {
    Mentorlog__V1__ContactSealed *x = NEW(c, Mentorlog__V1__ContactSealed);
    if (!x)
      break;
    *x = (Mentorlog__V1__ContactSealed)MENTORLOG__V1__CONTACT_SEALED__INIT;
    x->note = get_str(c, o, "note");
    x->next_steps = get_str(c, o, "next_steps");
    x->void_reason = get_str(c, o, "void_reason");
    const tu_json *t = tu_json_get(o, "topics");
    if (t && t->type == TU_JARR && t->n) {
      x->topics = arena_alloc(&c->a, t->n * sizeof *x->topics);
      for (size_t i = 0; x->topics && i < t->n; i++)
        x->topics[i] = t->items[i].type == TU_JSTR ? t->items[i].str : (char *)"";
      x->n_topics = x->topics ? t->n : 0;
    }
    s->contact = x;
    break;
  }
  case MLPROTO_KIND_NOTE: {
    Mentorlog__V1__NoteSealed *x = NEW(c, Mentorlog__V1__NoteSealed);
    if (!x)
      break;
    *x = (Mentorlog__V1__NoteSealed)MENTORLOG__V1__NOTE_SEALED__INIT;
    x->text = get_str(c, o, "text");
    s->note = x;
    break;
  }
  case MLPROTO_KIND_ABSENCE: {
    Mentorlog__V1__AbsenceSealed *x = NEW(c, Mentorlog__V1__AbsenceSealed);
    if (!x)
      break;
    *x = (Mentorlog__V1__AbsenceSealed)MENTORLOG__V1__ABSENCE_SEALED__INIT;
    x->reason = get_str(c, o, "reason");
    s->absence = x;
    break;
  }
  default:
    cerr(c, "this kind has no sealed payload", "sealed");
  }
  return s;
}

static uint8_t *pack_copy(const ProtobufCMessage *m, size_t *len) {
  *len = protobuf_c_message_get_packed_size(m);
  uint8_t *p = malloc(*len ? *len : 1);
  if (p)
    protobuf_c_message_pack(m, p);
  return p;
}

int golden_build(uint8_t **env, size_t *len, uint8_t **disclosed_pb, size_t *disclosed_pb_len,
                 uint8_t **sealed_pt, size_t *sealed_pt_len, const tu_json *in,
                 const golden_keys *ks, char *err, size_t errlen) {
  *env = NULL;
  if (disclosed_pb)
    *disclosed_pb = NULL;
  if (sealed_pt)
    *sealed_pt = NULL;
  ctx c;
  memset(&c, 0, sizeof c);
  c.err = err;
  c.errlen = errlen;

  uint8_t seed[32];
  if (!golden_hex_field(seed, 32, in, "rng_seed"))
    return schema_err(err, errlen, "inputs.rng_seed: 32 bytes of hex expected");
  const tu_json *kn = tu_json_get(in, "kind");
  uint32_t kind = kn && kn->type == TU_JSTR ? golden_kind_number(kn->str) : 0;
  if (!kind)
    return schema_err(err, errlen, "inputs.kind: unknown");
  const tu_json *an = tu_json_get(in, "author_key");
  const golden_key *author = an && an->type == TU_JSTR ? golden_key_by_name(ks, an->str) : NULL;
  if (!author || author->type != MLPROTO_KEY_SIGN)
    return schema_err(err, errlen, "inputs.author_key: not a signing key of keys{}");

  mlproto_record_params p;
  memset(&p, 0, sizeof p);
  p.kind = (mlproto_kind)kind;
  if (!golden_hex_field(p.record_id, 16, in, "record_id") ||
      !golden_hex_field(p.case_id, 16, in, "case_id") || !golden_hex_field(p.prev, 32, in, "prev"))
    return schema_err(err, errlen, "inputs: record_id/case_id (16) and prev (32) in hex");
  p.seq = get_u64(&c, in, "seq", UINT32_MAX);
  uint64_t ms = get_u64(&c, in, "hlc_ms", ((uint64_t)1 << 48) - 1);
  uint64_t ctr = get_u64(&c, in, "hlc_counter", 0xFFFF);
  p.hlc = ms << 16 | ctr;
  const tu_json *sup = tu_json_get(in, "supersedes");
  uint8_t supv[MLPROTO_MAX_SUPERSEDES][16];
  if (sup && sup->type == TU_JARR) {
    if (sup->n > MLPROTO_MAX_SUPERSEDES)
      return schema_err(err, errlen, "inputs.supersedes: too many");
    for (size_t i = 0; i < sup->n; i++) {
      size_t n;
      uint8_t *b = sup->items[i].type == TU_JSTR ? tu_unhex(sup->items[i].str, &n) : NULL;
      if (!b || n != 16) {
        free(b);
        return schema_err(err, errlen, "inputs.supersedes: 16-byte hex ids");
      }
      memcpy(supv[i], b, 16);
      free(b);
    }
    p.n_supersedes = sup->n;
    p.supersedes = (const uint8_t(*)[16])supv;
  }
  if (c.bad)
    return 1;

  golden_rng_seed(seed);
  const golden_key *ck = golden_case_key(ks, p.case_id);
  const tu_json *dj = tu_json_get(in, "disclosed");
  const tu_json *sj = tu_json_get(in, "sealed");
  mlproto_disclosed *d = dj && dj->type == TU_JOBJ ? disclosed_from(&c, dj, kind, ck) : NULL;
  mlproto_sealed *s = sj && sj->type == TU_JOBJ ? sealed_from(&c, sj, kind) : NULL;
  int rc;
  if (c.a.failed) {
    rc = MLPROTO_ERR_OUT_OF_MEMORY;
  } else if (c.bad) {
    rc = 1;
  } else if (s && !ck) {
    rc = schema_err(err, errlen, "no case key for the record's case_id");
  } else {
    rc = mlproto_record_build(env, len, NULL, &p, d, s, s ? ck->key : NULL, author->key);
    if (rc == 0 && disclosed_pb && d)
      *disclosed_pb = pack_copy(&d->base, disclosed_pb_len);
    if (rc == 0 && sealed_pt && s)
      *sealed_pt = pack_copy(&s->base, sealed_pt_len);
  }
  arena_free(&c.a);
  return rc;
}

/* ---------------------------------------------------------- envelope -- */

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  uint64_t r = 0;
  for (unsigned i = 0; i < 10; i++) {
    if (*p >= end)
      return false;
    uint8_t b = *(*p)++;
    r |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      if (b == 0 && i > 0)
        return false; /* not minimal */
      *v = r;
      return true;
    }
  }
  return false;
}

bool golden_split(golden_parts *o, const uint8_t *env, size_t len) {
  memset(o, 0, sizeof *o);
  const uint8_t *p = env, *end = env + len;
  uint64_t last = 0;
  while (p < end) {
    uint64_t key, v;
    if (!varint(&p, end, &key))
      return false;
    uint64_t field = key >> 3, wt = key & 7;
    if (field <= last || field > 5)
      return false;
    last = field;
    if (field == 5) {
      if (wt != 0 || !varint(&p, end, &v) || v == 0 || v > 3)
        return false;
      o->erased = (uint32_t)v;
      continue;
    }
    if (wt != 2 || !varint(&p, end, &v) || v == 0 || v > (uint64_t)(end - p))
      return false;
    const uint8_t **dst[] = {&o->header, &o->signature, &o->disclosed, &o->sealed};
    size_t *dl[] = {&o->header_len, &o->signature_len, &o->disclosed_len, &o->sealed_len};
    *dst[field - 1] = p;
    *dl[field - 1] = (size_t)v;
    p += v;
  }
  return o->header && o->signature;
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

uint8_t *golden_join(const golden_parts *g, size_t *len) {
  const uint8_t *data[4] = {g->header, g->signature, g->disclosed, g->sealed};
  size_t lens[4] = {g->header_len, g->signature_len, g->disclosed_len, g->sealed_len};
  size_t cap = 16;
  for (int i = 0; i < 4; i++)
    cap += 12 + lens[i];
  uint8_t *b = malloc(cap);
  if (!b)
    abort();
  size_t o = 0;
  for (int i = 0; i < 4; i++) {
    if (!lens[i])
      continue;
    b[o++] = (uint8_t)((i + 1) << 3 | 2);
    o += put_varint(b + o, lens[i]);
    memcpy(b + o, data[i], lens[i]);
    o += lens[i];
  }
  if (g->erased) {
    b[o++] = 5 << 3;
    o += put_varint(b + o, g->erased);
  }
  *len = o;
  return b;
}

/* ------------------------------------------------------ sealed padding -- */

uint8_t *golden_sealed_pad(const uint8_t *payload, size_t payload_len, size_t *out_len) {
  static const size_t buckets[] = {256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 49152, 65536};
  size_t b = 0;
  for (size_t i = 0; i < sizeof buckets / sizeof buckets[0] && !b; i++)
    if (payload_len + 2 <= buckets[i])
      b = buckets[i];
  uint8_t *pt = b ? calloc(1, b) : NULL;
  if (!pt)
    return NULL;
  pt[0] = 0x00;
  memcpy(pt + 1, payload, payload_len);
  pt[1 + payload_len] = 0x80;
  *out_len = b;
  return pt;
}
