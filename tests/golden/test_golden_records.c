/*
 * Golden vectors of the record format (tests/vectors/record-v1.json,
 * docs/record-format.md). Every positive record is rebuilt from its inputs
 * with the deterministic generator and must equal the stored bytes exactly,
 * so any change of the format fails here. Every vector is also checked twice:
 * through the library (mlproto_record_verify, open_sealed, merkle, sth) and
 * by hand with raw libsodium, following the document's algorithms, so the
 * document and the code cannot drift apart either.
 */
#include "golden.h"
#include "golden_heads.h"

#include "mlproto/alloc.h"
#include "mlproto/compliance.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fix {
  tu_json *doc;
  golden_keys keys;
} fix;

static fix F;

static int group_setup(void **state) {
  (void)state;
  if (golden_rng_install() != 0)
    return -1;
  char *path = tu_path(TU_TESTS_DIR, "vectors/record-v1.json");
  size_t len;
  char *text = tu_read_file(path, &len);
  free(path);
  if (!text)
    return -1;
  F.doc = tu_json_parse(text, len);
  free(text);
  if (!F.doc)
    return -1;
  char err[256];
  if (golden_keys_load(&F.keys, tu_json_get(F.doc, "keys"), err, sizeof err) != 0) {
    fprintf(stderr, "keys: %s\n", err);
    return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  golden_keys_free(&F.keys);
  tu_json_free(F.doc);
  return 0;
}

/* ---------------------------------------------------------------- helpers -- */

static const tu_json *sect(const char *key) {
  const tu_json *s = tu_json_get(F.doc, key);
  assert_non_null(s);
  return s;
}

static const char *str(const tu_json *o, const char *key) {
  const tu_json *v = tu_json_get(o, key);
  assert_non_null(v);
  assert_int_equal(v->type, TU_JSTR);
  return v->str;
}

static uint64_t num(const tu_json *o, const char *key) {
  const tu_json *v = tu_json_get(o, key);
  assert_non_null(v);
  assert_int_equal(v->type, TU_JNUM);
  assert_true(v->inum >= 0);
  return (uint64_t)v->inum;
}

/* Bytes of a hex member (malloc'd). */
static uint8_t *hexv(const tu_json *o, const char *key, size_t *len) {
  size_t n;
  uint8_t *b = tu_unhex(str(o, key), &n);
  assert_non_null(b);
  if (len)
    *len = n;
  return b;
}

static void hexn(uint8_t *out, size_t want, const tu_json *o, const char *key) {
  size_t n;
  uint8_t *b = hexv(o, key, &n);
  assert_int_equal(n, want);
  memcpy(out, b, want);
  free(b);
}

static void assert_hex_equal(const uint8_t *p, size_t n, const tu_json *o, const char *key) {
  char *h = golden_hex(p, n);
  assert_string_equal(h, str(o, key));
  free(h);
}

static const tu_json *record_named(const char *name) {
  const tu_json *recs = sect("records");
  for (size_t i = 0; i < recs->n; i++)
    if (strcmp(str(&recs->items[i], "name"), name) == 0)
      return &recs->items[i];
  fail_msg("no record %s", name);
  return NULL;
}

static void record_hash_of(uint8_t out[32], const tu_json *rec) {
  hexn(out, 32, tu_json_get(rec, "outputs"), "record_hash");
}

/* ------------------------------------------------------------------ keys -- */

static void test_keys(void **state) {
  (void)state;
  const tu_json *kj = sect("keys");
  assert_true(F.keys.n >= 8);
  for (size_t i = 0; i < F.keys.n; i++) {
    const golden_key *k = &F.keys.k[i];
    const tu_json *o = tu_json_get(kj, k->name);
    if (k->type == MLPROTO_KEY_CASE)
      continue;
    assert_hex_equal(k->pub, 32, o, "public");
    uint8_t pk[32], sk[64], seed[32];
    memcpy(seed, k->secret, 32);
    if (k->type == MLPROTO_KEY_SIGN)
      assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
    else
      assert_int_equal(crypto_scalarmult_base(pk, seed), 0);
    assert_memory_equal(pk, k->pub, 32);
    sodium_memzero(sk, sizeof sk);
  }
}

/* ------------------------------------------------ records: rebuild bytes -- */

static void test_rebuild_byte_exact(void **state) {
  (void)state;
  const tu_json *recs = sect("records");
  assert_true(recs->n >= 20);
  for (size_t i = 0; i < recs->n; i++) {
    const tu_json *rec = &recs->items[i], *out = tu_json_get(rec, "outputs");
    uint8_t *env, *dpb, *spt;
    size_t len, dl = 0, sl = 0;
    char err[256] = "";
    int rc = golden_build(&env, &len, &dpb, &dl, &spt, &sl, tu_json_get(rec, "inputs"), &F.keys,
                          err, sizeof err);
    if (rc)
      fail_msg("%s: build: %s %s", str(rec, "name"), mlproto_errname(rc), err);
    assert_hex_equal(env, len, out, "envelope_hex");
    if (dpb)
      assert_hex_equal(dpb, dl, out, "disclosed_payload_hex");
    if (spt)
      assert_hex_equal(spt, sl, out, "sealed_payload_hex");
    mlproto_free(env);
    free(dpb);
    free(spt);
  }
}

/* --------------------------------------- records: verify (library + hand) -- */

static void check_header_fields(const mlproto_record *r, const tu_json *in, const tu_json *out) {
  uint8_t b[32];
  hexn(b, 16, in, "record_id");
  assert_memory_equal(r->record_id, b, 16);
  hexn(b, 16, in, "case_id");
  assert_memory_equal(r->case_id, b, 16);
  hexn(b, 32, in, "author");
  assert_memory_equal(r->author, b, 32);
  hexn(b, 32, in, "prev");
  assert_memory_equal(r->prev, b, 32);
  assert_int_equal(r->seq, num(in, "seq"));
  assert_int_equal(r->hlc, num(in, "hlc_ms") << 16 | num(in, "hlc_counter"));
  assert_int_equal(r->kind, golden_kind_number(str(in, "kind")));
  assert_int_equal(r->kind, num(out, "kind_number"));
  assert_int_equal(r->format, 1);
  const tu_json *sup = tu_json_get(in, "supersedes");
  assert_int_equal(r->n_supersedes, sup ? sup->n : 0);
  for (size_t k = 0; sup && k < sup->n; k++) {
    size_t n;
    uint8_t *id = tu_unhex(sup->items[k].str, &n);
    assert_non_null(id);
    assert_int_equal(n, 16);
    assert_memory_equal(r->supersedes[k], id, 16);
    free(id);
  }
}

/* The document's "verify a record" steps 4-7, with raw libsodium. */
static void check_by_hand(const golden_parts *p, const mlproto_record *r, const tu_json *out) {
  assert_hex_equal(p->header, p->header_len, out, "header_hex");
  assert_hex_equal(p->signature, p->signature_len, out, "signature_hex");
  uint8_t *msg = malloc(20 + p->header_len);
  assert_non_null(msg);
  memcpy(msg, "mentorlog/record/v1", 20); /* with its NUL */
  memcpy(msg + 20, p->header, p->header_len);
  assert_hex_equal(msg, 20 + p->header_len, out, "signed_message_hex");
  assert_int_equal(crypto_sign_verify_detached(p->signature, msg, 20 + p->header_len, r->author), 0);
  free(msg);
  crypto_hash_sha256_state st;
  uint8_t h[32];
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, p->header, p->header_len);
  crypto_hash_sha256_update(&st, p->signature, p->signature_len);
  crypto_hash_sha256_final(&st, h);
  assert_hex_equal(h, 32, out, "record_hash");
  assert_memory_equal(h, r->hash, 32);
  if (p->disclosed_len) {
    crypto_hash_sha256(h, p->disclosed, p->disclosed_len);
    assert_hex_equal(h, 32, out, "disclosed_hash");
    assert_memory_equal(h, r->disclosed_hash, 32);
    assert_hex_equal(p->disclosed, 16, out, "disclosed_salt_hex");
    assert_hex_equal(p->disclosed + 16, p->disclosed_len - 16, out, "disclosed_payload_hex");
    /* The payload is one length-delimited field whose number is the kind. */
    uint64_t key = 0;
    size_t i = 16;
    for (unsigned shift = 0; i < p->disclosed_len; shift += 7) {
      uint8_t b = p->disclosed[i++];
      key |= (uint64_t)(b & 0x7f) << shift;
      if (!(b & 0x80))
        break;
    }
    assert_int_equal(key & 7, 2);
    assert_int_equal(key >> 3, r->kind);
  } else {
    assert_int_equal(tu_json_get(out, "disclosed_hex")->type, TU_JNULL);
  }
  if (p->sealed_len) {
    crypto_hash_sha256(h, p->sealed, p->sealed_len);
    assert_hex_equal(h, 32, out, "sealed_hash");
    assert_hex_equal(p->sealed, 24, out, "sealed_nonce_hex");
    uint8_t aad[68];
    golden_aad(aad, r->record_id, r->case_id, r->author, r->kind);
    assert_hex_equal(aad, sizeof aad, out, "sealed_aad_hex");
    const golden_key *ck = golden_key_by_name(&F.keys, str(out, "sealed_key"));
    assert_non_null(ck);
    size_t ptl = p->sealed_len - 40;
    uint8_t *pt = malloc(ptl + 1);
    assert_non_null(pt);
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, p->sealed + 24,
                                                                 p->sealed_len - 24, aad,
                                                                 sizeof aad, p->sealed,
                                                                 ck->secret),
                     0);
    assert_hex_equal(pt, ptl, out, "sealed_plaintext_hex");
    /* the padded layout (§7), by hand: marker, payload, 80, zeros, bucket */
    size_t pl, hl = 0;
    uint8_t *payload = hexv(out, "sealed_payload_hex", &pl);
    uint8_t *hand = golden_sealed_pad(payload, pl, &hl);
    assert_non_null(hand);
    assert_int_equal(pt[0], 0x00);
    assert_int_equal(hl, ptl);
    assert_memory_equal(hand, pt, ptl);
    /* the same through the library */
    mlproto_sealed *s = NULL;
    assert_int_equal(mlproto_record_open_sealed(&s, r, ck->key), MLPROTO_OK);
    size_t n = protobuf_c_message_get_packed_size(&s->base);
    uint8_t *re = malloc(n + 1);
    assert_non_null(re);
    protobuf_c_message_pack(&s->base, re);
    assert_int_equal(n, pl);
    assert_memory_equal(re, payload, pl);
    assert_int_equal((uint32_t)s->payload_case, r->kind);
    sodium_memzero(pt, ptl);
    free(pt);
    free(re);
    free(hand);
    free(payload);
    mlproto_sealed_free(s);
  } else {
    assert_int_equal(tu_json_get(out, "sealed_hex")->type, TU_JNULL);
  }
}

static void check_key_grant(const mlproto_record *r, const tu_json *out) {
  const tu_json *kg = tu_json_get(out, "key_grant");
  assert_non_null(kg);
  const golden_key *ck = golden_case_key(&F.keys, r->case_id);
  assert_non_null(ck);
  assert_int_equal(r->disclosed->key_grant->n_keys, kg->n);
  for (size_t i = 0; i < kg->n; i++) {
    const tu_json *e = &kg->items[i];
    const golden_key *box = golden_key_by_name(&F.keys, str(e, "opens_with"));
    assert_non_null(box);
    assert_hex_equal(box->pub, 32, e, "recipient");
    uint8_t sealed[MLPROTO_CASE_KEY_SEALEDBYTES], key[32];
    hexn(sealed, sizeof sealed, e, "sealed_key");
    assert_memory_equal(r->disclosed->key_grant->keys[i]->sealed_key.data, sealed, sizeof sealed);
    /* by hand: crypto_box_seal_open with the recipient's key pair */
    assert_int_equal(crypto_box_seal_open(key, sealed, sizeof sealed, box->pub, box->secret), 0);
    assert_memory_equal(key, ck->secret, 32);
    mlproto_key *opened = NULL;
    assert_int_equal(mlproto_case_key_open(&opened, sealed, box->key), MLPROTO_OK);
    mlproto_key_export(key, opened);
    assert_memory_equal(key, ck->secret, 32);
    sodium_memzero(key, sizeof key);
    mlproto_key_free(opened);
  }
}

static void test_records_verify(void **state) {
  (void)state;
  const tu_json *recs = sect("records");
  for (size_t i = 0; i < recs->n; i++) {
    const tu_json *rec = &recs->items[i], *out = tu_json_get(rec, "outputs");
    size_t len;
    uint8_t *env = hexv(out, "envelope_hex", &len);
    mlproto_record *r = NULL;
    int rc = mlproto_record_verify(&r, env, len);
    if (rc)
      fail_msg("%s: %s", str(rec, "name"), mlproto_errname(rc));
    check_header_fields(r, tu_json_get(rec, "inputs"), out);
    assert_int_equal(r->flags, num(out, "flags"));
    uint8_t h[32];
    assert_int_equal(mlproto_record_hash(h, env, len), MLPROTO_OK);
    assert_hex_equal(h, 32, out, "record_hash");
    golden_parts p;
    assert_true(golden_split(&p, env, len));
    assert_int_equal(p.erased, 0);
    check_by_hand(&p, r, out);
    /* the disclosed oneof case is the kind; absent iff inputs has none */
    assert_int_equal(r->disclosed != NULL, tu_json_get(tu_json_get(rec, "inputs"), "disclosed") != NULL);
    if (r->disclosed)
      assert_int_equal((uint32_t)r->disclosed->payload_case, r->kind);
    if (r->kind == MLPROTO_KIND_KEY_GRANT)
      check_key_grant(r, out);
    mlproto_record_free(r);
    free(env);
  }
}

/* ----------------------------------------------------------------- erased -- */

static void test_erased(void **state) {
  (void)state;
  const tu_json *er = sect("erased");
  assert_true(er->n >= 1);
  for (size_t i = 0; i < er->n; i++) {
    const tu_json *e = &er->items[i];
    const tu_json *src = record_named(str(e, "of"));
    size_t olen, len;
    uint8_t *orig = hexv(tu_json_get(src, "outputs"), "envelope_hex", &olen);
    uint8_t *env = hexv(e, "envelope_hex", &len);
    unsigned bits = (unsigned)num(e, "erased_bits");
    /* by hand: the original minus the erased parts, plus field 5 */
    golden_parts p, q;
    assert_true(golden_split(&p, orig, olen));
    if (bits & MLPROTO_PART_DISCLOSED)
      p.disclosed_len = 0;
    if (bits & MLPROTO_PART_SEALED)
      p.sealed_len = 0;
    p.erased = bits;
    size_t jl;
    uint8_t *joined = golden_join(&p, &jl);
    assert_int_equal(jl, len);
    assert_memory_equal(joined, env, len);
    assert_true(golden_split(&q, env, len));
    assert_int_equal(q.erased, bits);
    /* and by the library */
    uint8_t *lib;
    size_t ll;
    assert_int_equal(mlproto_envelope_erase(&lib, &ll, orig, olen, bits), MLPROTO_OK);
    assert_int_equal(ll, len);
    assert_memory_equal(lib, env, len);
    mlproto_record *r = NULL;
    assert_int_equal(mlproto_record_verify(&r, env, len), MLPROTO_OK);
    assert_int_equal(r->flags, num(e, "flags"));
    assert_hex_equal(r->hash, 32, e, "record_hash");
    uint8_t h[32];
    record_hash_of(h, src);
    assert_memory_equal(r->hash, h, 32);
    if (bits & MLPROTO_PART_DISCLOSED) {
      assert_null(r->disclosed);
      assert_true(r->flags & MLPROTO_RECORD_DISCLOSED_ERASED);
    }
    if (bits & MLPROTO_PART_SEALED) {
      mlproto_sealed *s = NULL;
      const golden_key *ck = golden_case_key(&F.keys, r->case_id);
      assert_non_null(ck);
      assert_int_equal(mlproto_record_open_sealed(&s, r, ck->key), MLPROTO_ERR_SEALED_ERASED);
      assert_null(s);
    }
    mlproto_record_free(r);
    mlproto_free(lib);
    free(joined);
    free(env);
    free(orig);
  }
}

/* ----------------------------------------------------------------- chains -- */

static void test_chains(void **state) {
  (void)state;
  const tu_json *ch = sect("chains");
  size_t total = 0;
  for (size_t i = 0; i < ch->n; i++) {
    const tu_json *c = &ch->items[i], *names = tu_json_get(c, "records");
    uint8_t prev_hash[32] = {0};
    for (size_t k = 0; k < names->n; k++) {
      const tu_json *rec = record_named(names->items[k].str);
      const tu_json *in = tu_json_get(rec, "inputs");
      assert_string_equal(str(in, "author"), str(c, "author"));
      assert_string_equal(str(in, "author_key"), str(c, "author_key"));
      assert_int_equal(num(in, "seq"), k + 1);
      uint8_t prev[32];
      hexn(prev, 32, in, "prev");
      assert_memory_equal(prev, prev_hash, 32);
      record_hash_of(prev_hash, rec);
      total++;
    }
  }
  assert_int_equal(total, sect("records")->n);
}

/* ------------------------------------------------------------------ heads -- */

static void test_heads(void **state) {
  (void)state;
  const tu_json *hs = sect("heads"), *names = tu_json_get(hs, "records");
  static golden_item items[GOLDEN_HEADS_MAX];
  assert_true(names->n <= GOLDEN_HEADS_MAX);
  for (size_t i = 0; i < names->n; i++) {
    const tu_json *rec = record_named(names->items[i].str);
    size_t len;
    uint8_t *env = hexv(tu_json_get(rec, "outputs"), "envelope_hex", &len);
    mlproto_record *r = NULL;
    assert_int_equal(mlproto_record_verify(&r, env, len), MLPROTO_OK);
    assert_hex_equal(r->case_id, 16, hs, "case_id");
    memcpy(items[i].record_id, r->record_id, 16);
    memcpy(items[i].author, r->author, 32);
    items[i].hlc = r->hlc;
    items[i].n_supersedes = r->n_supersedes;
    memcpy(items[i].supersedes, r->supersedes, 16 * r->n_supersedes);
    mlproto_record_free(r);
    free(env);
  }
  static golden_group g[GOLDEN_HEADS_MAX];
  size_t ng;
  assert_int_equal(golden_heads(g, &ng, items, names->n), 0);
  const tu_json *groups = tu_json_get(hs, "groups");
  assert_int_equal(ng, groups->n);
  size_t conflicts = 0;
  for (size_t i = 0; i < ng; i++) {
    const tu_json *eg = &groups->items[i];
    assert_string_equal(names->items[g[i].representative].str, str(eg, "representative"));
    const tu_json *eh = tu_json_get(eg, "heads"), *ev = tu_json_get(eg, "versions");
    assert_int_equal(g[i].n_heads, eh->n);
    assert_int_equal(g[i].n_versions, ev->n);
    for (size_t k = 0; k < eh->n; k++)
      assert_string_equal(names->items[g[i].heads[k]].str, eh->items[k].str);
    for (size_t k = 0; k < ev->n; k++)
      assert_string_equal(names->items[g[i].versions[k]].str, ev->items[k].str);
    assert_int_equal(tu_json_get(eg, "conflict")->boolean, g[i].n_heads != 1);
    conflicts += g[i].n_heads != 1;
  }
  assert_int_equal(conflicts, 1); /* a06 and b01 both supersede a05 */
}

/* ------------------------------------------------------------- compliance -- */

static void expect_date(mlproto_date d, const tu_json *o, const char *key) {
  const tu_json *v = tu_json_get(o, key);
  assert_non_null(v);
  if (d == MLPROTO_DATE_NONE) {
    assert_int_equal(v->type, TU_JNULL);
    return;
  }
  char buf[MLPROTO_DATE_STRLEN];
  assert_int_equal(mlproto_date_format(buf, d), MLPROTO_OK);
  assert_string_equal(buf, str(o, key));
}

static void expect_bool(int b, const tu_json *o, const char *key) {
  const tu_json *v = tu_json_get(o, key);
  assert_non_null(v);
  assert_int_equal(v->type, TU_JBOOL);
  assert_int_equal(v->boolean, b != 0);
}

/* The compliance of case 1's grant, recomputed from the envelopes of the
 * vectors (all of them, in the order of the file) and compared field by
 * field with the expected inputs and result. */
static void test_compliance(void **state) {
  (void)state;
  const tu_json *cs = sect("compliance"), *recs = sect("records");
  const tu_json *ei = tu_json_get(cs, "inputs"), *er = tu_json_get(cs, "result");
  assert_non_null(ei);
  assert_non_null(er);
  mlproto_record *r[64];
  assert_true(recs->n <= 64);
  size_t gi = SIZE_MAX;
  for (size_t i = 0; i < recs->n; i++) {
    size_t len;
    uint8_t *env = hexv(tu_json_get(&recs->items[i], "outputs"), "envelope_hex", &len);
    assert_int_equal(mlproto_record_verify(&r[i], env, len), MLPROTO_OK);
    free(env);
    if (strcmp(str(&recs->items[i], "name"), str(cs, "grant")) == 0)
      gi = i;
  }
  assert_true(gi != SIZE_MAX);
#define NAME(i) str(&recs->items[i], "name")
  mlproto_compliance_inputs *in = NULL;
  assert_int_equal(mlproto_compliance_inputs_from_records(
                       &in, (const struct mlproto_record *const *)r, recs->n, r[gi]->record_id,
                       NULL, 0),
                   MLPROTO_OK);
  assert_hex_equal(in->grant_id, 16, ei, "grant_id");
  assert_hex_equal(in->case_id, 16, ei, "case_id");
  expect_date(in->grant.start, ei, "start");
  expect_date(in->grant.end, ei, "end");
  expect_date(in->grant.closed, ei, "closed");
  const tu_json *ru = tu_json_get(ei, "rule"), *chs = tu_json_get(ru, "channels");
  assert_int_equal(in->grant.rule.period_weeks, num(ru, "period_weeks"));
  assert_int_equal(in->grant.rule.contacts_needed, num(ru, "contacts_needed"));
  uint32_t q = 0;
  for (size_t i = 0; i < chs->n; i++) {
    mlproto_channel ch;
    assert_int_equal(mlproto_channel_from_name(&ch, chs->items[i].str, strlen(chs->items[i].str)),
                     MLPROTO_OK);
    q |= MLPROTO_CHANNEL_BIT(ch);
  }
  assert_int_equal(in->grant.rule.channels, q);
  assert_int_equal(in->grant.rule.min_minutes, num(ru, "min_minutes"));
  assert_int_equal(in->grant.rule.min_working_days, num(ru, "min_working_days"));
  assert_int_equal(in->grant.rule.grace_days, num(ru, "grace_days"));
  assert_int_equal(in->grant.rule.late_days, num(ru, "late_days"));
  assert_int_equal(in->grant.granted_minutes_per_week, num(ei, "granted_minutes_per_week"));
  assert_string_equal(NAME(in->params_record), str(ei, "params"));
  if (in->close_record == SIZE_MAX)
    assert_int_equal(tu_json_get(ei, "close")->type, TU_JNULL);
  else
    assert_string_equal(NAME(in->close_record), str(ei, "close"));
  expect_bool(in->grant_conflict, ei, "grant_conflict");
  const tu_json *ec = tu_json_get(ei, "contacts"), *ea = tu_json_get(ei, "absences");
  assert_int_equal(in->n_contacts, ec->n);
  for (size_t i = 0; i < ec->n; i++)
    assert_string_equal(NAME(in->contact_record[i]), ec->items[i].str);
  assert_int_equal(in->n_absences, ea->n);
  for (size_t i = 0; i < ea->n; i++) {
    assert_string_equal(NAME(in->absence_record[i]), str(&ea->items[i], "record"));
    expect_date(in->absences[i].from, &ea->items[i], "from");
    expect_date(in->absences[i].to, &ea->items[i], "to");
    expect_bool(in->absences[i].approved, &ea->items[i], "approved");
  }

  const char *now_text = str(cs, "now");
  int64_t now_ms;
  assert_int_equal(mlproto_datetime_parse(&now_ms, now_text, strlen(now_text)), MLPROTO_OK);
  assert_int_equal((uint64_t)now_ms, num(cs, "now_ms"));
  mlproto_compliance *c = NULL;
  assert_int_equal(mlproto_compliance_compute(&c, &in->grant, in->contacts, in->n_contacts,
                                              in->absences, in->n_absences, now_ms),
                   MLPROTO_OK);
  expect_date(c->effective_end, er, "effective_end");
  const tu_json *ep = tu_json_get(er, "periods");
  assert_int_equal(c->n_periods, ep->n);
  for (size_t i = 0; i < ep->n; i++) {
    const mlproto_period *p = &c->periods[i];
    const tu_json *e = &ep->items[i], *wk = tu_json_get(e, "weeks");
    assert_int_equal(p->k, num(e, "k"));
    expect_date(p->start, e, "start");
    expect_date(p->end, e, "end");
    assert_int_equal(p->n_weeks, wk->n);
    for (size_t k = 0; k < wk->n; k++)
      assert_string_equal(p->weeks[k], wk->items[k].str);
    assert_string_equal(mlproto_period_status_name((int)p->status), str(e, "status"));
    assert_string_equal(mlproto_na_reason_name((int)p->reason), str(e, "reason"));
    expect_bool(p->cut, e, "cut");
    expect_bool(p->absence_reduced, e, "absence_reduced");
    assert_int_equal(p->qualifying, num(e, "qualifying"));
    assert_int_equal(p->attempts, num(e, "attempts"));
    assert_int_equal(p->minutes_held, num(e, "minutes_held"));
    assert_int_equal(p->in_scope_days, num(e, "in_scope_days"));
    assert_int_equal(p->working_days, num(e, "working_days"));
    assert_int_equal((uint64_t)p->final_at_ms, num(e, "final_at_ms"));
  }
  const tu_json *et = tu_json_get(er, "totals"), *em = tu_json_get(et, "missed");
  assert_int_equal(c->totals.met, num(et, "met"));
  assert_int_equal(c->totals.assessable_final, num(et, "assessable_final"));
  assert_int_equal(c->totals.pending, num(et, "pending"));
  assert_int_equal(c->totals.not_assessable, num(et, "not_assessable"));
  assert_int_equal(c->totals.n_missed, em->n);
  for (size_t i = 0; i < em->n; i++)
    assert_int_equal(c->totals.missed[i], em->items[i].inum);
  assert_int_equal(c->totals.minutes_held, num(et, "minutes_held"));
  assert_int_equal(c->totals.minutes_granted, num(et, "minutes_granted"));
  assert_int_equal(c->totals.transport_minutes, num(et, "transport_minutes"));
  const tu_json *ew = tu_json_get(er, "weeks");
  assert_int_equal(c->n_weeks, ew->n);
  for (size_t i = 0; i < ew->n; i++) {
    assert_string_equal(c->weeks[i].week, str(&ew->items[i], "week"));
    assert_int_equal(c->weeks[i].days_in_grant, num(&ew->items[i], "days_in_grant"));
    assert_int_equal(c->weeks[i].minutes_held, num(&ew->items[i], "minutes_held"));
    assert_int_equal(c->weeks[i].minutes_granted, num(&ew->items[i], "minutes_granted"));
  }
  const tu_json *emo = tu_json_get(er, "months");
  assert_int_equal(c->n_months, emo->n);
  for (size_t i = 0; i < emo->n; i++) {
    assert_string_equal(c->months[i].month, str(&emo->items[i], "month"));
    assert_int_equal(c->months[i].billable_minutes, num(&emo->items[i], "billable_minutes"));
    assert_int_equal(c->months[i].transport_minutes, num(&emo->items[i], "transport_minutes"));
    assert_int_equal(c->months[i].held_contacts, num(&emo->items[i], "held_contacts"));
  }
  const tu_json *ecr = tu_json_get(er, "contacts");
  assert_int_equal(c->n_contacts, ecr->n);
  for (size_t i = 0; i < ecr->n; i++) {
    const mlproto_contact_result *x = &c->contacts[i];
    const tu_json *e = &ecr->items[i];
    assert_string_equal(NAME(in->contact_record[x->index]), str(e, "record"));
    expect_date(x->local_date, e, "local_date");
    assert_int_equal(x->minutes, num(e, "minutes"));
    if (x->period < 0)
      assert_int_equal(tu_json_get(e, "period")->type, TU_JNULL);
    else
      assert_int_equal((uint64_t)x->period, num(e, "period"));
    expect_bool(x->in_absence, e, "in_absence");
    expect_bool(x->qualifies, e, "qualifies");
    expect_bool(x->attempt, e, "attempt");
    expect_bool(x->late_entry, e, "late_entry");
    expect_bool(x->late_sync, e, "late_sync");
    expect_bool(x->conflict, e, "conflict");
  }
  const tu_json *ecf = tu_json_get(er, "conflicts");
  assert_int_equal(c->n_conflicts, ecf->n);
  for (size_t i = 0; i < ecf->n; i++) {
    assert_int_equal(c->conflicts[i].n_heads, ecf->items[i].n);
    for (size_t k = 0; k < ecf->items[i].n; k++)
      assert_string_equal(NAME(in->contact_record[c->conflicts[i].heads[k]]),
                          ecf->items[i].items[k].str);
  }
  expect_date(c->last_contact_date, er, "last_contact_date");
  assert_int_equal(c->late_entries, num(er, "late_entries"));
  assert_int_equal(c->late_syncs, num(er, "late_syncs"));
#undef NAME
  mlproto_compliance_free(c);
  mlproto_compliance_inputs_free(in);
  for (size_t i = 0; i < recs->n; i++)
    mlproto_record_free(r[i]);
}

/* -------------------------------------------------------------------- log -- */

static void leaf_by_hand(uint8_t out[32], const uint8_t *entry, size_t n) {
  crypto_hash_sha256_state st;
  const uint8_t zero = 0x00;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, &zero, 1);
  crypto_hash_sha256_update(&st, entry, n);
  crypto_hash_sha256_final(&st, out);
}

static void node_by_hand(uint8_t out[32], const uint8_t l[32], const uint8_t r[32]) {
  crypto_hash_sha256_state st;
  const uint8_t one = 0x01;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, &one, 1);
  crypto_hash_sha256_update(&st, l, 32);
  crypto_hash_sha256_update(&st, r, 32);
  crypto_hash_sha256_final(&st, out);
}

/* RFC 9162 §2.1.3.2, as docs/record-format.md §9 spells it. */
static int inclusion_by_hand(const uint8_t leaf[32], uint64_t index, uint64_t size,
                             const uint8_t (*path)[32], size_t n, const uint8_t root[32]) {
  if (index >= size)
    return 0;
  uint64_t fn = index, sn = size - 1;
  uint8_t r[32];
  memcpy(r, leaf, 32);
  for (size_t i = 0; i < n; i++) {
    if (sn == 0)
      return 0;
    if ((fn & 1) || fn == sn) {
      node_by_hand(r, path[i], r);
      if (!(fn & 1))
        while (fn != 0 && !(fn & 1))
          fn >>= 1, sn >>= 1;
    } else {
      node_by_hand(r, r, path[i]);
    }
    fn >>= 1, sn >>= 1;
  }
  return sn == 0 && memcmp(r, root, 32) == 0;
}

/* RFC 9162 §2.1.4.2. */
static int consistency_by_hand(uint64_t first, uint64_t second, const uint8_t fr[32],
                               const uint8_t sr[32], const uint8_t (*p)[32], size_t n) {
  if (first == 0 || first > second)
    return 0;
  if (first == second)
    return n == 0 && memcmp(fr, sr, 32) == 0;
  uint8_t path[65][32];
  size_t pn = 0;
  if (n > 64)
    return 0;
  if ((first & (first - 1)) == 0)
    memcpy(path[pn++], fr, 32);
  for (size_t i = 0; i < n; i++)
    memcpy(path[pn++], p[i], 32);
  if (pn == 0)
    return 0;
  uint64_t fn = first - 1, sn = second - 1;
  while (fn & 1)
    fn >>= 1, sn >>= 1;
  uint8_t a[32], b[32];
  memcpy(a, path[0], 32);
  memcpy(b, path[0], 32);
  for (size_t i = 1; i < pn; i++) {
    if (sn == 0)
      return 0;
    if ((fn & 1) || fn == sn) {
      node_by_hand(a, path[i], a);
      node_by_hand(b, path[i], b);
      if (!(fn & 1))
        while (fn != 0 && !(fn & 1))
          fn >>= 1, sn >>= 1;
    } else {
      node_by_hand(b, b, path[i]);
    }
    fn >>= 1, sn >>= 1;
  }
  return sn == 0 && memcmp(a, fr, 32) == 0 && memcmp(b, sr, 32) == 0;
}

static uint8_t (*proof_of(const tu_json *o, const char *key, size_t *n))[32] {
  const tu_json *a = tu_json_get(o, key);
  assert_non_null(a);
  *n = a->n;
  uint8_t(*p)[32] = calloc(a->n + 1, 32);
  assert_non_null(p);
  for (size_t i = 0; i < a->n; i++) {
    size_t l;
    uint8_t *b = tu_unhex(a->items[i].str, &l);
    assert_non_null(b);
    assert_int_equal(l, 32);
    memcpy(p[i], b, 32);
    free(b);
  }
  return p;
}

static void test_log(void **state) {
  (void)state;
  const tu_json *log = sect("log"), *entries = tu_json_get(log, "entries");
  mlproto_merkle_mem *mem = NULL;
  assert_int_equal(mlproto_merkle_mem_new(&mem, 1024), MLPROTO_OK);
  uint8_t leaves[64][32];
  assert_true(entries->n <= 64);
  for (size_t i = 0; i < entries->n; i++) {
    const tu_json *e = &entries->items[i];
    assert_int_equal(num(e, "index"), i);
    const tu_json *rec = record_named(str(e, "record"));
    uint8_t rh[32], entry[41];
    record_hash_of(rh, rec);
    assert_hex_equal(rh, 32, e, "record_hash");
    uint32_t kind = golden_kind_number(str(tu_json_get(rec, "inputs"), "kind"));
    uint64_t type = num(e, "type"), t = num(e, "received_at_ms");
    assert_int_equal(type, kind >= 100 ? 2 : 1);
    entry[0] = (uint8_t)type;
    for (int k = 0; k < 8; k++)
      entry[1 + k] = (uint8_t)(t >> (56 - 8 * k));
    memcpy(entry + 9, rh, 32);
    assert_hex_equal(entry, sizeof entry, e, "entry_hex");
    leaf_by_hand(leaves[i], entry, sizeof entry);
    assert_hex_equal(leaves[i], 32, e, "leaf_hash");
    mlproto_log_entry le;
    assert_int_equal(mlproto_log_entry_decode(&le, entry, sizeof entry), MLPROTO_OK);
    uint8_t lib[32];
    assert_int_equal(mlproto_log_entry_leaf_hash(lib, &le), MLPROTO_OK);
    assert_memory_equal(lib, leaves[i], 32);
    assert_int_equal(mlproto_merkle_mem_append(mem, leaves[i]), MLPROTO_OK);
  }
  uint8_t server_pub[32];
  hexn(server_pub, 32, log, "server_public");
  assert_memory_equal(server_pub, golden_key_by_name(&F.keys, "server")->pub, 32);

  const tu_json *sths = tu_json_get(log, "sths");
  for (size_t i = 0; i < sths->n; i++) {
    const tu_json *s = &sths->items[i];
    mlproto_sth sth;
    sth.size = num(s, "size");
    sth.timestamp_ms = num(s, "timestamp_ms");
    hexn(sth.root, 32, s, "root");
    hexn(sth.signature, 64, s, "signature");
    uint8_t root[32];
    assert_int_equal(mlproto_merkle_root(root, (const uint8_t(*)[32])leaves, sth.size), MLPROTO_OK);
    assert_memory_equal(root, sth.root, 32);
    uint8_t sb[65];
    memcpy(sb, "mentorlog/sth/v1", 17);
    for (int k = 0; k < 8; k++) {
      sb[17 + k] = (uint8_t)(sth.size >> (56 - 8 * k));
      sb[57 + k] = (uint8_t)(sth.timestamp_ms >> (56 - 8 * k));
    }
    memcpy(sb + 25, sth.root, 32);
    assert_hex_equal(sb, sizeof sb, s, "signed_bytes_hex");
    assert_int_equal(crypto_sign_verify_detached(sth.signature, sb, sizeof sb, server_pub), 0);
    assert_int_equal(mlproto_sth_verify(&sth, server_pub), MLPROTO_OK);
    uint8_t enc[MLPROTO_STH_ENCODED_BYTES];
    mlproto_sth_encode(enc, &sth);
    assert_hex_equal(enc, sizeof enc, s, "encoded_hex");
    sth.timestamp_ms++;
    assert_int_equal(mlproto_sth_verify(&sth, server_pub), MLPROTO_ERR_STH_INVALID);
  }

  const tu_json *inc = tu_json_get(log, "inclusion");
  assert_true(inc->n >= 1);
  for (size_t i = 0; i < inc->n; i++) {
    const tu_json *o = &inc->items[i];
    uint64_t index = num(o, "leaf_index"), size = num(o, "tree_size");
    uint8_t leaf[32], root[32], mine[MLPROTO_MERKLE_MAX_PROOF][32];
    hexn(leaf, 32, o, "leaf_hash");
    hexn(root, 32, o, "root");
    assert_memory_equal(leaf, leaves[index], 32);
    size_t n, mn;
    uint8_t(*path)[32] = proof_of(o, "path", &n);
    assert_true(inclusion_by_hand(leaf, index, size, (const uint8_t(*)[32])path, n, root));
    assert_int_equal(mlproto_merkle_verify_inclusion(leaf, index, size, (const uint8_t(*)[32])path,
                                                     n, root),
                     MLPROTO_OK);
    assert_int_equal(mlproto_merkle_inclusion_proof(mine, &mn, MLPROTO_MERKLE_MAX_PROOF, index,
                                                    size, mlproto_merkle_mem_node, mem),
                     MLPROTO_OK);
    assert_int_equal(mn, n);
    assert_memory_equal(mine, path, 32 * n);
    if (n) { /* a wrong sibling must fail both verifiers */
      path[0][0] ^= 1;
      assert_false(inclusion_by_hand(leaf, index, size, (const uint8_t(*)[32])path, n, root));
      assert_int_equal(mlproto_merkle_verify_inclusion(leaf, index, size,
                                                       (const uint8_t(*)[32])path, n, root),
                       MLPROTO_ERR_PROOF_INVALID);
    }
    free(path);
  }
  const tu_json *con = tu_json_get(log, "consistency");
  assert_true(con->n >= 1);
  for (size_t i = 0; i < con->n; i++) {
    const tu_json *o = &con->items[i];
    uint64_t a = num(o, "first"), b = num(o, "second");
    uint8_t ra[32], rb[32];
    hexn(ra, 32, o, "first_root");
    hexn(rb, 32, o, "second_root");
    size_t n;
    uint8_t(*p)[32] = proof_of(o, "proof", &n);
    assert_true(consistency_by_hand(a, b, ra, rb, (const uint8_t(*)[32])p, n));
    assert_int_equal(mlproto_merkle_verify_consistency(a, b, ra, rb, (const uint8_t(*)[32])p, n),
                     MLPROTO_OK);
    if (n) {
      p[n - 1][5] ^= 1;
      assert_false(consistency_by_hand(a, b, ra, rb, (const uint8_t(*)[32])p, n));
      assert_int_equal(mlproto_merkle_verify_consistency(a, b, ra, rb, (const uint8_t(*)[32])p, n),
                       MLPROTO_ERR_PROOF_INVALID);
    }
    free(p);
  }
  mlproto_merkle_mem_free(mem);
}

/* ------------------------------------------------------ enrol and session -- */

static void test_signatures(void **state) {
  (void)state;
  const tu_json *sg = sect("signatures");
  const tu_json *en = tu_json_get(sg, "enroll"), *se = tu_json_get(sg, "session");
  assert_non_null(en);
  assert_non_null(se);
  {
    const char *code = str(en, "code"), *label = str(en, "label");
    uint8_t pub[32], box[32], sig[64], msg[256];
    hexn(pub, 32, en, "device_pub");
    hexn(box, 32, en, "box_pub");
    hexn(sig, 64, en, "signature");
    size_t o = 0, cl = strlen(code), ll = strlen(label);
    memcpy(msg, "mentorlog/enroll/v1", 20), o = 20;
    msg[o++] = 0, msg[o++] = 0, msg[o++] = 0, msg[o++] = (uint8_t)cl;
    memcpy(msg + o, code, cl), o += cl;
    memcpy(msg + o, pub, 32), o += 32;
    memcpy(msg + o, box, 32), o += 32;
    msg[o++] = 0, msg[o++] = 0, msg[o++] = 0, msg[o++] = (uint8_t)ll;
    memcpy(msg + o, label, ll), o += ll;
    assert_hex_equal(msg, o, en, "signed_message_hex");
    assert_int_equal(crypto_sign_verify_detached(sig, msg, o, pub), 0);
    size_t rl;
    uint8_t *req = hexv(en, "request_hex", &rl);
    ProtobufCMessage *m = NULL;
    assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_ENROLL_REQUEST, req, rl), MLPROTO_OK);
    Mentorlog__V1__EnrollRequest *er = (Mentorlog__V1__EnrollRequest *)m;
    assert_int_equal(mlproto_enroll_request_verify(er), MLPROTO_OK);
    uint8_t again[64];
    const golden_key *dev = golden_key_by_name(&F.keys, str(en, "device_key"));
    assert_int_equal(mlproto_enroll_request_sign(again, er, dev->key), MLPROTO_OK);
    assert_memory_equal(again, sig, 64); /* Ed25519 is deterministic */
    er->label[0] ^= 1;
    assert_int_equal(mlproto_enroll_request_verify(er), MLPROTO_ERR_BAD_SIGNATURE);
    mlproto_msg_free(m);
    free(req);
  }
  {
    uint8_t pub[32], ch[32], sig[64], msg[85], again[64];
    hexn(pub, 32, se, "device_pub");
    hexn(ch, 32, se, "challenge");
    hexn(sig, 64, se, "signature");
    memcpy(msg, "mentorlog/session/v1", 21);
    memcpy(msg + 21, ch, 32);
    memcpy(msg + 53, pub, 32);
    assert_hex_equal(msg, sizeof msg, se, "signed_message_hex");
    assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pub), 0);
    const golden_key *dev = golden_key_by_name(&F.keys, str(se, "device_key"));
    assert_int_equal(mlproto_session_sign(again, ch, dev->key), MLPROTO_OK);
    assert_memory_equal(again, sig, 64);
    size_t rl;
    uint8_t *req = hexv(se, "request_hex", &rl);
    ProtobufCMessage *m = NULL;
    assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_SESSION_REQUEST, req, rl), MLPROTO_OK);
    assert_int_equal(mlproto_session_request_verify((Mentorlog__V1__SessionRequest *)m), MLPROTO_OK);
    mlproto_msg_free(m);
    free(req);
  }
}

/* ------------------------------------------------------ legacy sealed -- */

/* Records sealed before padding (plaintext = protobuf(Sealed)) still verify
 * and open, through the library and by hand. */
static void test_legacy_sealed(void **state) {
  (void)state;
  const tu_json *leg = sect("legacy_sealed");
  assert_true(leg->n >= 2);
  for (size_t i = 0; i < leg->n; i++) {
    const tu_json *v = &leg->items[i];
    size_t len, pl;
    uint8_t *env = hexv(v, "envelope_hex", &len);
    uint8_t *payload = hexv(v, "sealed_plaintext_hex", &pl);
    assert_true(pl > 0 && payload[0] != 0x00);
    mlproto_record *r = NULL;
    assert_int_equal(mlproto_record_verify(&r, env, len), MLPROTO_OK);
    assert_hex_equal(r->hash, 32, v, "record_hash");
    const golden_key *ck = golden_key_by_name(&F.keys, str(v, "sealed_key"));
    assert_non_null(ck);
    uint8_t aad[68];
    golden_aad(aad, r->record_id, r->case_id, r->author, r->kind);
    assert_int_equal(r->sealed_len, 24 + pl + 16);
    uint8_t *pt = malloc(pl);
    assert_non_null(pt);
    assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, r->sealed + 24,
                                                                 r->sealed_len - 24, aad,
                                                                 sizeof aad, r->sealed, ck->secret),
                     0);
    assert_memory_equal(pt, payload, pl);
    mlproto_sealed *s = NULL;
    assert_int_equal(mlproto_record_open_sealed(&s, r, ck->key), MLPROTO_OK);
    assert_int_equal((uint32_t)s->payload_case, r->kind);
    size_t n = protobuf_c_message_get_packed_size(&s->base);
    uint8_t *re = malloc(n + 1);
    assert_non_null(re);
    protobuf_c_message_pack(&s->base, re);
    assert_int_equal(n, pl);
    assert_memory_equal(re, payload, pl);
    /* its plaintext is the same payload the padded record of that name carries */
    const tu_json *out = tu_json_get(record_named(str(v, "name")), "outputs");
    assert_hex_equal(payload, pl, out, "sealed_payload_hex");
    mlproto_sealed_free(s);
    mlproto_record_free(r);
    free(re);
    free(pt);
    free(payload);
    free(env);
  }
}

/* --------------------------------------------------------------- negative -- */

static void test_negative(void **state) {
  (void)state;
  const tu_json *neg = sect("negative");
  assert_true(neg->n >= 10);
  for (size_t i = 0; i < neg->n; i++) {
    const tu_json *v = &neg->items[i];
    size_t len;
    uint8_t *env = hexv(v, "envelope_hex", &len);
    mlproto_record *r = NULL;
    int rc = mlproto_record_verify(&r, env, len);
    if (strcmp(mlproto_errname(rc), str(v, "error")) != 0)
      fail_msg("%s: expected %s, got %s", str(v, "name"), str(v, "error"), mlproto_errname(rc));
    if (rc)
      assert_null(r);
    const tu_json *ow = tu_json_get(v, "open_with");
    if (ow) {
      const golden_key *k = golden_key_by_name(&F.keys, ow->str);
      assert_non_null(k);
      assert_non_null(r);
      mlproto_sealed *s = NULL;
      rc = mlproto_record_open_sealed(&s, r, k->key);
      assert_string_equal(mlproto_errname(rc), str(v, "open_error"));
      assert_null(s);
    }
    mlproto_record_free(r);
    free(env);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys),
      cmocka_unit_test(test_rebuild_byte_exact),
      cmocka_unit_test(test_records_verify),
      cmocka_unit_test(test_erased),
      cmocka_unit_test(test_chains),
      cmocka_unit_test(test_heads),
      cmocka_unit_test(test_compliance),
      cmocka_unit_test(test_log),
      cmocka_unit_test(test_signatures),
      cmocka_unit_test(test_legacy_sealed),
      cmocka_unit_test(test_negative),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
