/*
 * gen_golden — writes the golden record vectors tests/vectors/record-v1.json
 * from the hand-written inputs tests/golden/golden-inputs.json.
 *
 *   gen_golden [inputs.json [output.json]]
 *
 * Deterministic: fixed keys from the inputs, a ChaCha20 keystream in place of
 * libsodium's randombytes (golden.h), one seed per record. Running it twice
 * gives the same bytes; a change of the record format changes the output and
 * breaks test_golden_records until the vectors are regenerated on purpose.
 * Not a test (see tests/vectors/README.md).
 *
 * Inputs may use references, resolved here and written out resolved:
 *   "$id:<16 ASCII chars>"   the 16 bytes of that text, as hex
 *   "$key:<name>.public"     public key of a key of keys{}
 *   "$rec:<name>"            record_id of an earlier record
 *   "$prev"                  record hash of the author's previous record
 *                            (32 zero bytes at the author's first record)
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

#define MAX_RECORDS 64

static void die(const char *what, const char *detail) {
  fprintf(stderr, "gen_golden: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  exit(1);
}

static void check(int rc, const char *what) {
  if (rc)
    die(what, mlproto_errname(rc));
}

/* ---------------------------------------------------------- JSON writer -- */

typedef struct jw {
  FILE *f;
  int depth;
  int first[64];
} jw;

static void jw_raw_str(jw *w, const char *s) {
  fputc('"', w->f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(w->f, "\\%c", *p);
    else if (*p == '\n')
      fputs("\\n", w->f);
    else if (*p < 0x20)
      fprintf(w->f, "\\u%04x", *p);
    else
      fputc(*p, w->f);
  }
  fputc('"', w->f);
}

static void jw_prefix(jw *w, const char *key) {
  if (w->depth > 0) {
    if (!w->first[w->depth])
      fputc(',', w->f);
    w->first[w->depth] = 0;
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++)
      fputs(" ", w->f);
  }
  if (key) {
    jw_raw_str(w, key);
    fputs(": ", w->f);
  }
}

static void jw_open(jw *w, const char *key, char c) {
  jw_prefix(w, key);
  fputc(c, w->f);
  w->first[++w->depth] = 1;
}

static void jw_close(jw *w, char c) {
  int empty = w->first[w->depth];
  w->depth--;
  if (!empty) {
    fputc('\n', w->f);
    for (int i = 0; i < w->depth; i++)
      fputs(" ", w->f);
  }
  fputc(c, w->f);
}

static void jw_str(jw *w, const char *key, const char *v) {
  jw_prefix(w, key);
  jw_raw_str(w, v);
}

static void jw_u64(jw *w, const char *key, uint64_t v) {
  if (v > ((uint64_t)1 << 53))
    die("number above 2^53 in JSON", key);
  jw_prefix(w, key);
  fprintf(w->f, "%llu", (unsigned long long)v);
}

static void jw_bool(jw *w, const char *key, int v) {
  jw_prefix(w, key);
  fputs(v ? "true" : "false", w->f);
}

static void jw_null(jw *w, const char *key) {
  jw_prefix(w, key);
  fputs("null", w->f);
}

static void jw_hex(jw *w, const char *key, const uint8_t *p, size_t n) {
  char *h = golden_hex(p, n);
  jw_str(w, key, h);
  free(h);
}

static void jw_value(jw *w, const char *key, const tu_json *v) {
  switch (v->type) {
  case TU_JNULL:
    jw_null(w, key);
    break;
  case TU_JBOOL:
    jw_bool(w, key, v->boolean);
    break;
  case TU_JNUM:
    jw_prefix(w, key);
    fprintf(w->f, "%lld", v->inum);
    break;
  case TU_JSTR:
    jw_str(w, key, v->str);
    break;
  case TU_JARR:
    jw_open(w, key, '[');
    for (size_t i = 0; i < v->n; i++)
      jw_value(w, NULL, &v->items[i]);
    jw_close(w, ']');
    break;
  case TU_JOBJ:
    jw_open(w, key, '{');
    for (size_t i = 0; i < v->n; i++)
      jw_value(w, v->keys[i], &v->items[i]);
    jw_close(w, '}');
    break;
  }
}

/* ------------------------------------------------------------ resolution -- */

typedef struct rec {
  const char *name;
  const tu_json *entry; /* the record's object in the inputs */
  tu_json *inputs;
  const golden_key *author;
  uint8_t *env;
  size_t env_len;
  uint8_t hash[32];
  mlproto_record *r;
  uint8_t *dpb, *spt; /* packed Disclosed / Sealed plaintext */
  size_t dpb_len, spt_len;
} rec;

static rec recs[MAX_RECORDS];
static size_t n_recs;
static golden_keys keys;

static const rec *rec_by_name(const char *name) {
  for (size_t i = 0; i < n_recs; i++)
    if (strcmp(recs[i].name, name) == 0)
      return &recs[i];
  die("unknown record", name);
  return NULL;
}

static void set_str(tu_json *v, char *s) {
  free(v->str);
  v->str = s;
}

/* Resolve every "$..." string below v except "$prev" (done per record). */
static void resolve(tu_json *v) {
  if (v->type == TU_JARR || v->type == TU_JOBJ) {
    for (size_t i = 0; i < v->n; i++)
      resolve(&v->items[i]);
    return;
  }
  if (v->type != TU_JSTR || v->str[0] != '$' || strcmp(v->str, "$prev") == 0)
    return;
  if (strncmp(v->str, "$id:", 4) == 0) {
    if (strlen(v->str + 4) != 16)
      die("$id: needs 16 characters", v->str);
    set_str(v, golden_hex((const uint8_t *)v->str + 4, 16));
  } else if (strncmp(v->str, "$key:", 5) == 0) {
    char name[64];
    snprintf(name, sizeof name, "%s", v->str + 5);
    char *dot = strchr(name, '.');
    if (!dot || strcmp(dot, ".public") != 0)
      die("bad key reference", v->str);
    *dot = 0;
    const golden_key *k = golden_key_by_name(&keys, name);
    if (!k || k->type == MLPROTO_KEY_CASE)
      die("no such public key", v->str);
    set_str(v, golden_hex(k->pub, 32));
  } else if (strncmp(v->str, "$rec:", 5) == 0) {
    const rec *r = rec_by_name(v->str + 5);
    if (!r->r)
      die("reference to a later record", v->str);
    set_str(v, golden_hex(r->r->record_id, 16));
  } else {
    die("unknown reference", v->str);
  }
}

static tu_json *member(tu_json *obj, const char *key) { return (tu_json *)tu_json_get(obj, key); }

/* Insert (or replace) a string member of an object. */
static void put_str(tu_json *obj, const char *key, char *val) {
  tu_json *v = member(obj, key);
  if (v) {
    v->type = TU_JSTR;
    set_str(v, val);
    return;
  }
  obj->items = realloc(obj->items, (obj->n + 1) * sizeof *obj->items);
  obj->keys = realloc(obj->keys, (obj->n + 1) * sizeof *obj->keys);
  if (!obj->items || !obj->keys)
    die("out of memory", NULL);
  memset(&obj->items[obj->n], 0, sizeof obj->items[obj->n]);
  obj->items[obj->n].type = TU_JSTR;
  obj->items[obj->n].str = val;
  obj->keys[obj->n] = strdup(key);
  obj->n++;
}

/* ------------------------------------------------------------- records -- */

static void write_keys(jw *w) {
  jw_open(w, "keys", '{');
  for (size_t i = 0; i < keys.n; i++) {
    const golden_key *k = &keys.k[i];
    jw_open(w, k->name, '{');
    jw_str(w, "type", k->type == MLPROTO_KEY_SIGN ? "sign" : k->type == MLPROTO_KEY_BOX ? "box" : "case");
    jw_hex(w, "secret", k->secret, 32);
    if (k->type == MLPROTO_KEY_CASE)
      jw_hex(w, "case_id", k->case_id, 16);
    else
      jw_hex(w, "public", k->pub, 32);
    jw_close(w, '}');
  }
  jw_close(w, '}');
}

static void build_records(const tu_json *arr) {
  if (!arr || arr->type != TU_JARR || arr->n > MAX_RECORDS)
    die("records[] missing or too long", NULL);
  for (size_t i = 0; i < arr->n; i++) {
    rec *r = &recs[n_recs++];
    r->entry = &arr->items[i];
    const tu_json *nm = tu_json_get(r->entry, "name");
    if (!nm || nm->type != TU_JSTR)
      die("record without name", NULL);
    r->name = nm->str;
    r->inputs = member((tu_json *)r->entry, "inputs");
    if (!r->inputs)
      die("record without inputs", r->name);
    resolve(r->inputs);
    const tu_json *an = tu_json_get(r->inputs, "author_key");
    r->author = an ? golden_key_by_name(&keys, an->str) : NULL;
    if (!r->author)
      die("unknown author_key", r->name);
    /* prev: the hash of this author's latest record so far. */
    const rec *last = NULL;
    for (size_t j = 0; j + 1 < n_recs; j++)
      if (recs[j].author == r->author)
        last = &recs[j];
    uint8_t zero[32] = {0};
    put_str(r->inputs, "prev", golden_hex(last ? last->hash : zero, 32));
    put_str(r->inputs, "author", golden_hex(r->author->pub, 32));
    char tag[128];
    snprintf(tag, sizeof tag, "mentorlog/golden/v1/%s", r->name);
    uint8_t seed[32];
    crypto_hash_sha256(seed, (const uint8_t *)tag, strlen(tag));
    put_str(r->inputs, "rng_seed", golden_hex(seed, 32));

    char err[256] = "";
    int rc = golden_build(&r->env, &r->env_len, &r->dpb, &r->dpb_len, &r->spt, &r->spt_len,
                          r->inputs, &keys, err, sizeof err);
    if (rc == 1)
      die(r->name, err);
    check(rc, r->name);
    check(mlproto_record_verify(&r->r, r->env, r->env_len), r->name);
    memcpy(r->hash, r->r->hash, 32);
  }
}

static void write_record(jw *w, const rec *r) {
  golden_parts p;
  if (!golden_split(&p, r->env, r->env_len))
    die("own split failed", r->name);
  jw_open(w, NULL, '{');
  jw_str(w, "name", r->name);
  jw_value(w, "description", tu_json_get(r->entry, "description"));
  /* inputs, with the kind number beside the name */
  jw_value(w, "inputs", r->inputs);
  jw_open(w, "outputs", '{');
  jw_u64(w, "kind_number", r->r->kind);
  uint8_t hlc[8];
  for (int i = 0; i < 8; i++)
    hlc[i] = (uint8_t)(r->r->hlc >> (56 - 8 * i));
  jw_hex(w, "hlc_u64be", hlc, 8);
  jw_hex(w, "header_hex", p.header, p.header_len);
  uint8_t *msg = malloc(20 + p.header_len);
  memcpy(msg, MLPROTO_TAG_RECORD, 20);
  memcpy(msg + 20, p.header, p.header_len);
  jw_hex(w, "signed_message_hex", msg, 20 + p.header_len);
  free(msg);
  jw_hex(w, "signature_hex", p.signature, p.signature_len);
  jw_hex(w, "record_hash", r->hash, 32);
  if (p.disclosed_len) {
    jw_hex(w, "disclosed_hex", p.disclosed, p.disclosed_len);
    jw_hex(w, "disclosed_salt_hex", p.disclosed, 16);
    jw_hex(w, "disclosed_payload_hex", p.disclosed + 16, p.disclosed_len - 16);
    jw_hex(w, "disclosed_hash", r->r->disclosed_hash, 32);
  } else {
    jw_null(w, "disclosed_hex");
    jw_null(w, "disclosed_hash");
  }
  if (p.sealed_len) {
    const golden_key *ck = golden_case_key(&keys, r->r->case_id);
    uint8_t aad[68];
    golden_aad(aad, r->r->record_id, r->r->case_id, r->r->author, r->r->kind);
    size_t ptl = p.sealed_len - 40;
    uint8_t *pt = malloc(ptl + 1);
    if (!ck || crypto_aead_xchacha20poly1305_ietf_decrypt(pt, NULL, NULL, p.sealed + 24,
                                                          p.sealed_len - 24, aad, sizeof aad,
                                                          p.sealed, ck->secret) != 0)
      die("sealed part does not open by hand", r->name);
    size_t hl = 0;
    uint8_t *hand = golden_sealed_pad(r->spt, r->spt_len, &hl);
    if (!hand || ptl != hl || memcmp(pt, hand, ptl) != 0)
      die("sealed plaintext differs from the padded packed inputs", r->name);
    free(hand);
    jw_hex(w, "sealed_hex", p.sealed, p.sealed_len);
    jw_hex(w, "sealed_nonce_hex", p.sealed, 24);
    jw_hex(w, "sealed_aad_hex", aad, sizeof aad);
    jw_str(w, "sealed_key", ck->name);
    jw_hex(w, "sealed_payload_hex", r->spt, r->spt_len);
    jw_hex(w, "sealed_plaintext_hex", pt, ptl);
    jw_hex(w, "sealed_hash", r->r->sealed_hash, 32);
    free(pt);
  } else {
    jw_null(w, "sealed_hex");
    jw_null(w, "sealed_hash");
  }
  if (r->r->kind == MLPROTO_KIND_KEY_GRANT) {
    const Mentorlog__V1__KeyGrantDisclosed *kg = r->r->disclosed->key_grant;
    jw_open(w, "key_grant", '[');
    for (size_t i = 0; i < kg->n_keys; i++) {
      const golden_key *box = NULL;
      for (size_t k = 0; k < keys.n; k++)
        if (keys.k[k].type == MLPROTO_KEY_BOX &&
            memcmp(keys.k[k].pub, kg->keys[i]->recipient.data, 32) == 0)
          box = &keys.k[k];
      if (!box)
        die("KEY_GRANT recipient is not a known box key", r->name);
      jw_open(w, NULL, '{');
      jw_hex(w, "recipient", kg->keys[i]->recipient.data, 32);
      jw_hex(w, "sealed_key", kg->keys[i]->sealed_key.data, kg->keys[i]->sealed_key.len);
      jw_str(w, "opens_with", box->name);
      jw_close(w, '}');
    }
    jw_close(w, ']');
  }
  jw_u64(w, "flags", r->r->flags);
  jw_hex(w, "envelope_hex", r->env, r->env_len);
  jw_close(w, '}');
  jw_close(w, '}');
}

/* -------------------------------------------------------------- erasure -- */

static void write_erased(jw *w, const tu_json *arr) {
  jw_open(w, "erased", '[');
  for (size_t i = 0; arr && i < arr->n; i++) {
    const tu_json *e = &arr->items[i];
    const rec *src = rec_by_name(tu_json_get(e, "of")->str);
    const tu_json *parts = tu_json_get(e, "parts");
    unsigned mask = 0;
    for (size_t k = 0; k < parts->n; k++)
      mask |= strcmp(parts->items[k].str, "disclosed") == 0 ? MLPROTO_PART_DISCLOSED
                                                            : MLPROTO_PART_SEALED;
    uint8_t *out;
    size_t len;
    check(mlproto_envelope_erase(&out, &len, src->env, src->env_len, mask), "erase");
    mlproto_record *r;
    check(mlproto_record_verify(&r, out, len), "verify erased");
    if (memcmp(r->hash, src->hash, 32) != 0)
      die("erasure changed the record hash", src->name);
    jw_open(w, NULL, '{');
    jw_value(w, "name", tu_json_get(e, "name"));
    jw_str(w, "of", src->name);
    jw_value(w, "parts", parts);
    jw_u64(w, "erased_bits", mask);
    jw_u64(w, "flags", r->flags);
    jw_hex(w, "record_hash", r->hash, 32);
    jw_hex(w, "envelope_hex", out, len);
    jw_close(w, '}');
    mlproto_record_free(r);
    free(out);
  }
  jw_close(w, ']');
}

/* --------------------------------------------------------- chains/heads -- */

static void write_chains(jw *w) {
  jw_open(w, "chains", '[');
  for (size_t i = 0; i < keys.n; i++) {
    if (keys.k[i].type != MLPROTO_KEY_SIGN)
      continue;
    jw_open(w, NULL, '{');
    jw_str(w, "author_key", keys.k[i].name);
    jw_hex(w, "author", keys.k[i].pub, 32);
    jw_open(w, "records", '[');
    for (size_t j = 0; j < n_recs; j++)
      if (recs[j].author == &keys.k[i])
        jw_str(w, NULL, recs[j].name);
    jw_close(w, ']');
    jw_close(w, '}');
  }
  jw_close(w, ']');
}

static void write_heads(jw *w, const char *case_text) {
  uint8_t case_id[16];
  memcpy(case_id, case_text, 16);
  static golden_item items[GOLDEN_HEADS_MAX];
  const rec *src[GOLDEN_HEADS_MAX];
  size_t n = 0;
  for (size_t j = 0; j < n_recs; j++) {
    const mlproto_record *r = recs[j].r;
    if (memcmp(r->case_id, case_id, 16) != 0)
      continue;
    golden_item *it = &items[n];
    memset(it, 0, sizeof *it);
    memcpy(it->record_id, r->record_id, 16);
    memcpy(it->author, r->author, 32);
    it->hlc = r->hlc;
    it->n_supersedes = r->n_supersedes;
    memcpy(it->supersedes, r->supersedes, 16 * r->n_supersedes);
    src[n++] = &recs[j];
  }
  golden_group g[GOLDEN_HEADS_MAX];
  size_t ng;
  check(golden_heads(g, &ng, items, n), "heads");
  jw_open(w, "heads", '{');
  jw_hex(w, "case_id", case_id, 16);
  jw_open(w, "records", '[');
  for (size_t i = 0; i < n; i++)
    jw_str(w, NULL, src[i]->name);
  jw_close(w, ']');
  jw_open(w, "groups", '[');
  for (size_t i = 0; i < ng; i++) {
    jw_open(w, NULL, '{');
    jw_str(w, "representative", src[g[i].representative]->name);
    jw_open(w, "heads", '[');
    for (size_t k = 0; k < g[i].n_heads; k++)
      jw_str(w, NULL, src[g[i].heads[k]]->name);
    jw_close(w, ']');
    jw_open(w, "versions", '[');
    for (size_t k = 0; k < g[i].n_versions; k++)
      jw_str(w, NULL, src[g[i].versions[k]]->name);
    jw_close(w, ']');
    jw_bool(w, "conflict", g[i].n_heads != 1);
    jw_close(w, '}');
  }
  jw_close(w, ']');
  jw_close(w, '}');
}

/* ------------------------------------------------------------ compliance -- */

static void jw_date(jw *w, const char *key, mlproto_date d) {
  char buf[MLPROTO_DATE_STRLEN];
  if (d == MLPROTO_DATE_NONE) {
    jw_null(w, key);
    return;
  }
  check(mlproto_date_format(buf, d), "date");
  jw_str(w, key, buf);
}

/* One grant's compliance from all the records above: the inputs built by
 * mlproto_compliance_inputs_from_records and the engine's whole result, so
 * a second implementation (the server's report, an auditor's tool) can be
 * checked against the same records. */
static void write_compliance(jw *w, const tu_json *spec) {
  const rec *g = rec_by_name(tu_json_get(spec, "grant")->str);
  const char *now_text = tu_json_get(spec, "now")->str;
  int64_t now_ms;
  check(mlproto_datetime_parse(&now_ms, now_text, strlen(now_text)), "compliance now");
  const mlproto_record *all[64];
  if (n_recs > 64)
    die("too many records", "compliance");
  for (size_t i = 0; i < n_recs; i++)
    all[i] = recs[i].r;
  mlproto_compliance_inputs *in = NULL;
  check(mlproto_compliance_inputs_from_records(&in, (const struct mlproto_record *const *)all,
                                               n_recs, g->r->record_id, NULL, 0),
        "compliance inputs");
  mlproto_compliance *c = NULL;
  check(mlproto_compliance_compute(&c, &in->grant, in->contacts, in->n_contacts, in->absences,
                                   in->n_absences, now_ms),
        "compliance");
  jw_open(w, "compliance", '{');
  jw_value(w, "description", tu_json_get(spec, "description"));
  jw_str(w, "grant", g->name);
  jw_str(w, "now", now_text);
  jw_u64(w, "now_ms", (uint64_t)now_ms);
  jw_open(w, "inputs", '{');
  jw_hex(w, "grant_id", in->grant_id, 16);
  jw_hex(w, "case_id", in->case_id, 16);
  jw_date(w, "start", in->grant.start);
  jw_date(w, "end", in->grant.end);
  jw_date(w, "closed", in->grant.closed);
  const mlproto_rule *ru = &in->grant.rule;
  jw_open(w, "rule", '{');
  jw_u64(w, "period_weeks", ru->period_weeks);
  jw_u64(w, "contacts_needed", ru->contacts_needed);
  jw_open(w, "channels", '[');
  for (int ch = 1; ch <= MLPROTO_CHANNEL__COUNT; ch++)
    if (ru->channels & MLPROTO_CHANNEL_BIT(ch))
      jw_str(w, NULL, mlproto_channel_name(ch));
  jw_close(w, ']');
  jw_u64(w, "min_minutes", ru->min_minutes);
  jw_u64(w, "min_working_days", ru->min_working_days);
  jw_u64(w, "grace_days", ru->grace_days);
  jw_u64(w, "late_days", ru->late_days);
  jw_close(w, '}');
  jw_u64(w, "granted_minutes_per_week", in->grant.granted_minutes_per_week);
  jw_str(w, "params", recs[in->params_record].name);
  if (in->close_record == SIZE_MAX)
    jw_null(w, "close");
  else
    jw_str(w, "close", recs[in->close_record].name);
  jw_bool(w, "grant_conflict", in->grant_conflict);
  jw_open(w, "contacts", '[');
  for (size_t i = 0; i < in->n_contacts; i++)
    jw_str(w, NULL, recs[in->contact_record[i]].name);
  jw_close(w, ']');
  jw_open(w, "absences", '[');
  for (size_t i = 0; i < in->n_absences; i++) {
    jw_open(w, NULL, '{');
    jw_str(w, "record", recs[in->absence_record[i]].name);
    jw_date(w, "from", in->absences[i].from);
    jw_date(w, "to", in->absences[i].to);
    jw_bool(w, "approved", in->absences[i].approved);
    jw_close(w, '}');
  }
  jw_close(w, ']');
  jw_close(w, '}');

  jw_open(w, "result", '{');
  jw_date(w, "effective_end", c->effective_end);
  jw_open(w, "periods", '[');
  for (size_t i = 0; i < c->n_periods; i++) {
    const mlproto_period *p = &c->periods[i];
    jw_open(w, NULL, '{');
    jw_u64(w, "k", p->k);
    jw_date(w, "start", p->start);
    jw_date(w, "end", p->end);
    jw_open(w, "weeks", '[');
    for (uint32_t k = 0; k < p->n_weeks; k++)
      jw_str(w, NULL, p->weeks[k]);
    jw_close(w, ']');
    jw_str(w, "status", mlproto_period_status_name((int)p->status));
    jw_str(w, "reason", mlproto_na_reason_name((int)p->reason));
    jw_bool(w, "cut", p->cut);
    jw_bool(w, "absence_reduced", p->absence_reduced);
    jw_u64(w, "qualifying", p->qualifying);
    jw_u64(w, "attempts", p->attempts);
    jw_u64(w, "minutes_held", p->minutes_held);
    jw_u64(w, "in_scope_days", p->in_scope_days);
    jw_u64(w, "working_days", p->working_days);
    jw_u64(w, "final_at_ms", (uint64_t)p->final_at_ms);
    jw_close(w, '}');
  }
  jw_close(w, ']');
  const mlproto_compliance_totals *t = &c->totals;
  jw_open(w, "totals", '{');
  jw_u64(w, "met", t->met);
  jw_u64(w, "assessable_final", t->assessable_final);
  jw_u64(w, "pending", t->pending);
  jw_u64(w, "not_assessable", t->not_assessable);
  jw_open(w, "missed", '[');
  for (size_t i = 0; i < t->n_missed; i++)
    jw_u64(w, NULL, t->missed[i]);
  jw_close(w, ']');
  jw_u64(w, "minutes_held", t->minutes_held);
  jw_u64(w, "minutes_granted", t->minutes_granted);
  jw_u64(w, "transport_minutes", t->transport_minutes);
  jw_close(w, '}');
  jw_open(w, "weeks", '[');
  for (size_t i = 0; i < c->n_weeks; i++) {
    jw_open(w, NULL, '{');
    jw_str(w, "week", c->weeks[i].week);
    jw_u64(w, "days_in_grant", c->weeks[i].days_in_grant);
    jw_u64(w, "minutes_held", c->weeks[i].minutes_held);
    jw_u64(w, "minutes_granted", c->weeks[i].minutes_granted);
    jw_close(w, '}');
  }
  jw_close(w, ']');
  jw_open(w, "months", '[');
  for (size_t i = 0; i < c->n_months; i++) {
    jw_open(w, NULL, '{');
    jw_str(w, "month", c->months[i].month);
    jw_u64(w, "billable_minutes", c->months[i].billable_minutes);
    jw_u64(w, "transport_minutes", c->months[i].transport_minutes);
    jw_u64(w, "held_contacts", c->months[i].held_contacts);
    jw_close(w, '}');
  }
  jw_close(w, ']');
  jw_open(w, "contacts", '[');
  for (size_t i = 0; i < c->n_contacts; i++) {
    const mlproto_contact_result *r = &c->contacts[i];
    jw_open(w, NULL, '{');
    jw_str(w, "record", recs[in->contact_record[r->index]].name);
    jw_date(w, "local_date", r->local_date);
    jw_u64(w, "minutes", r->minutes);
    if (r->period < 0)
      jw_null(w, "period");
    else
      jw_u64(w, "period", (uint64_t)r->period);
    jw_bool(w, "in_absence", r->in_absence);
    jw_bool(w, "qualifies", r->qualifies);
    jw_bool(w, "attempt", r->attempt);
    jw_bool(w, "late_entry", r->late_entry);
    jw_bool(w, "late_sync", r->late_sync);
    jw_bool(w, "conflict", r->conflict);
    jw_close(w, '}');
  }
  jw_close(w, ']');
  jw_open(w, "conflicts", '[');
  for (size_t i = 0; i < c->n_conflicts; i++) {
    jw_open(w, NULL, '[');
    for (size_t k = 0; k < c->conflicts[i].n_heads; k++)
      jw_str(w, NULL, recs[in->contact_record[c->conflicts[i].heads[k]]].name);
    jw_close(w, ']');
  }
  jw_close(w, ']');
  jw_date(w, "last_contact_date", c->last_contact_date);
  jw_u64(w, "late_entries", c->late_entries);
  jw_u64(w, "late_syncs", c->late_syncs);
  jw_close(w, '}');
  jw_close(w, '}');
  mlproto_compliance_free(c);
  mlproto_compliance_inputs_free(in);
}

/* ------------------------------------------------------------------ log -- */

static void write_proof(jw *w, const char *key, const uint8_t (*p)[32], size_t n) {
  jw_open(w, key, '[');
  for (size_t i = 0; i < n; i++)
    jw_hex(w, NULL, p[i], 32);
  jw_close(w, ']');
}

static void write_log(jw *w, const tu_json *log) {
  const tu_json *entries = tu_json_get(log, "entries");
  mlproto_merkle_mem *mem;
  check(mlproto_merkle_mem_new(&mem, 1024), "mem");
  jw_open(w, "log", '{');
  const golden_key *server = golden_key_by_name(&keys, "server");
  jw_hex(w, "server_public", server->pub, 32);
  jw_open(w, "entries", '[');
  for (size_t i = 0; i < entries->n; i++) {
    const tu_json *e = &entries->items[i];
    const rec *r = rec_by_name(tu_json_get(e, "record")->str);
    mlproto_log_entry le;
    le.type = mlproto_kind_is_server_event(r->r->kind) ? MLPROTO_LOG_SERVER_EVENT
                                                       : MLPROTO_LOG_DEVICE_RECORD;
    le.received_at_ms = (uint64_t)tu_json_get(e, "received_at_ms")->inum;
    memcpy(le.record_hash, r->hash, 32);
    uint8_t enc[MLPROTO_LOG_ENTRY_BYTES], leaf[32];
    check(mlproto_log_entry_encode(enc, &le), "entry");
    check(mlproto_log_entry_leaf_hash(leaf, &le), "leaf");
    check(mlproto_merkle_mem_append(mem, leaf), "append");
    jw_open(w, NULL, '{');
    jw_u64(w, "index", i);
    jw_str(w, "record", r->name);
    jw_u64(w, "type", le.type);
    jw_u64(w, "received_at_ms", le.received_at_ms);
    jw_hex(w, "record_hash", r->hash, 32);
    jw_hex(w, "entry_hex", enc, sizeof enc);
    jw_hex(w, "leaf_hash", leaf, 32);
    jw_close(w, '}');
  }
  jw_close(w, ']');

  /* STHs signed with the server key (libsodium secret key = seed || pk). */
  uint8_t sk[64];
  memcpy(sk, server->secret, 32);
  memcpy(sk + 32, server->pub, 32);
  const tu_json *sths = tu_json_get(log, "sths");
  jw_open(w, "sths", '[');
  for (size_t i = 0; i < sths->n; i++) {
    mlproto_sth s;
    memset(&s, 0, sizeof s);
    s.size = (uint64_t)tu_json_get(&sths->items[i], "size")->inum;
    s.timestamp_ms = (uint64_t)tu_json_get(&sths->items[i], "timestamp_ms")->inum;
    check(mlproto_merkle_root_at(s.root, s.size, mlproto_merkle_mem_node, mem), "root");
    check(mlproto_sth_sign(&s, sk), "sth sign");
    check(mlproto_sth_verify(&s, server->pub), "sth verify");
    uint8_t sb[MLPROTO_STH_SIGNED_BYTES], enc[MLPROTO_STH_ENCODED_BYTES];
    mlproto_sth_signed_bytes(sb, &s);
    mlproto_sth_encode(enc, &s);
    jw_open(w, NULL, '{');
    jw_u64(w, "size", s.size);
    jw_hex(w, "root", s.root, 32);
    jw_u64(w, "timestamp_ms", s.timestamp_ms);
    jw_hex(w, "signed_bytes_hex", sb, sizeof sb);
    jw_hex(w, "signature", s.signature, 64);
    jw_hex(w, "encoded_hex", enc, sizeof enc);
    jw_close(w, '}');
  }
  jw_close(w, ']');
  sodium_memzero(sk, sizeof sk);

  uint8_t proof[MLPROTO_MERKLE_MAX_PROOF][32];
  size_t n;
  const tu_json *inc = tu_json_get(log, "inclusion");
  jw_open(w, "inclusion", '[');
  for (size_t i = 0; i < inc->n; i++) {
    uint64_t index = (uint64_t)inc->items[i].items[0].inum;
    uint64_t size = (uint64_t)inc->items[i].items[1].inum;
    uint8_t leaf[32], root[32];
    check(mlproto_merkle_mem_node(mem, 0, index, leaf), "leaf");
    check(mlproto_merkle_root_at(root, size, mlproto_merkle_mem_node, mem), "root");
    check(mlproto_merkle_inclusion_proof(proof, &n, MLPROTO_MERKLE_MAX_PROOF, index, size,
                                         mlproto_merkle_mem_node, mem), "inclusion");
    check(mlproto_merkle_verify_inclusion(leaf, index, size, (const uint8_t(*)[32])proof, n, root),
          "verify inclusion");
    jw_open(w, NULL, '{');
    jw_u64(w, "leaf_index", index);
    jw_u64(w, "tree_size", size);
    jw_hex(w, "leaf_hash", leaf, 32);
    jw_hex(w, "root", root, 32);
    write_proof(w, "path", (const uint8_t(*)[32])proof, n);
    jw_close(w, '}');
  }
  jw_close(w, ']');
  const tu_json *con = tu_json_get(log, "consistency");
  jw_open(w, "consistency", '[');
  for (size_t i = 0; i < con->n; i++) {
    uint64_t a = (uint64_t)con->items[i].items[0].inum;
    uint64_t b = (uint64_t)con->items[i].items[1].inum;
    uint8_t ra[32], rb[32];
    check(mlproto_merkle_root_at(ra, a, mlproto_merkle_mem_node, mem), "root");
    check(mlproto_merkle_root_at(rb, b, mlproto_merkle_mem_node, mem), "root");
    check(mlproto_merkle_consistency_proof(proof, &n, MLPROTO_MERKLE_MAX_PROOF, a, b,
                                           mlproto_merkle_mem_node, mem), "consistency");
    check(mlproto_merkle_verify_consistency(a, b, ra, rb, (const uint8_t(*)[32])proof, n),
          "verify consistency");
    jw_open(w, NULL, '{');
    jw_u64(w, "first", a);
    jw_u64(w, "second", b);
    jw_hex(w, "first_root", ra, 32);
    jw_hex(w, "second_root", rb, 32);
    write_proof(w, "proof", (const uint8_t(*)[32])proof, n);
    jw_close(w, '}');
  }
  jw_close(w, ']');
  jw_close(w, '}');
  mlproto_merkle_mem_free(mem);
}

/* --------------------------------------------------- enrol and session -- */

static void write_signatures(jw *w, const tu_json *enroll, const tu_json *session) {
  jw_open(w, "signatures", '{');
  {
    const golden_key *dev = golden_key_by_name(&keys, tu_json_get(enroll, "device")->str);
    const golden_key *box = golden_key_by_name(&keys, tu_json_get(enroll, "box")->str);
    const char *code = tu_json_get(enroll, "code")->str;
    const char *label = tu_json_get(enroll, "label")->str;
    Mentorlog__V1__EnrollRequest req = MENTORLOG__V1__ENROLL_REQUEST__INIT;
    req.code = (char *)code;
    req.label = (char *)label;
    req.device_pub = (ProtobufCBinaryData){32, (uint8_t *)dev->pub};
    req.box_pub = (ProtobufCBinaryData){32, (uint8_t *)box->pub};
    uint8_t sig[64];
    check(mlproto_enroll_request_sign(sig, &req, dev->key), "enroll sign");
    req.signature = (ProtobufCBinaryData){64, sig};
    check(mlproto_enroll_request_verify(&req), "enroll verify");
    /* The signed message as docs/record-format.md spells it. */
    size_t cl = strlen(code), ll = strlen(label), o = 0;
    uint8_t msg[20 + 4 + 64 + 64 + 4 + 64];
    memcpy(msg, MLPROTO_TAG_ENROLL, 20), o = 20;
    msg[o++] = 0, msg[o++] = 0, msg[o++] = 0, msg[o++] = (uint8_t)cl;
    memcpy(msg + o, code, cl), o += cl;
    memcpy(msg + o, dev->pub, 32), o += 32;
    memcpy(msg + o, box->pub, 32), o += 32;
    msg[o++] = 0, msg[o++] = 0, msg[o++] = 0, msg[o++] = (uint8_t)ll;
    memcpy(msg + o, label, ll), o += ll;
    if (crypto_sign_verify_detached(sig, msg, o, dev->pub) != 0)
      die("enrolment signature is not over the documented bytes", NULL);
    uint8_t *packed;
    size_t plen;
    check(mlproto_msg_pack(&packed, &plen, &req.base), "pack");
    jw_open(w, "enroll", '{');
    jw_str(w, "device_key", dev->name);
    jw_str(w, "code", code);
    jw_hex(w, "device_pub", dev->pub, 32);
    jw_hex(w, "box_pub", box->pub, 32);
    jw_str(w, "label", label);
    jw_hex(w, "signed_message_hex", msg, o);
    jw_hex(w, "signature", sig, 64);
    jw_hex(w, "request_hex", packed, plen);
    jw_close(w, '}');
    mlproto_free(packed);
  }
  {
    const golden_key *dev = golden_key_by_name(&keys, tu_json_get(session, "device")->str);
    uint8_t challenge[32], sig[64], msg[21 + 64];
    if (!golden_hex_field(challenge, 32, session, "challenge"))
      die("session challenge", NULL);
    check(mlproto_session_sign(sig, challenge, dev->key), "session sign");
    memcpy(msg, MLPROTO_TAG_SESSION, 21);
    memcpy(msg + 21, challenge, 32);
    memcpy(msg + 53, dev->pub, 32);
    if (crypto_sign_verify_detached(sig, msg, sizeof msg, dev->pub) != 0)
      die("session signature is not over the documented bytes", NULL);
    Mentorlog__V1__SessionRequest req = MENTORLOG__V1__SESSION_REQUEST__INIT;
    req.device_pub = (ProtobufCBinaryData){32, (uint8_t *)dev->pub};
    req.challenge = (ProtobufCBinaryData){32, challenge};
    req.signature = (ProtobufCBinaryData){64, sig};
    check(mlproto_session_request_verify(&req), "session verify");
    uint8_t *packed;
    size_t plen;
    check(mlproto_msg_pack(&packed, &plen, &req.base), "pack");
    jw_open(w, "session", '{');
    jw_str(w, "device_key", dev->name);
    jw_hex(w, "device_pub", dev->pub, 32);
    jw_hex(w, "challenge", challenge, 32);
    jw_hex(w, "signed_message_hex", msg, sizeof msg);
    jw_hex(w, "signature", sig, 64);
    jw_hex(w, "request_hex", packed, plen);
    jw_close(w, '}');
    mlproto_free(packed);
  }
  jw_close(w, '}');
}

/* ------------------------------------------------------------ negatives -- */

typedef void (*hdr_mut)(Mentorlog__V1__RecordHeader *h);

/* Re-encode r's header through mut (NULL: unchanged), re-sign it with
 * signer, and join with the given parts. */
static uint8_t *resign(size_t *len, const rec *r, hdr_mut mut, const golden_key *signer,
                       const uint8_t *disclosed, size_t dl, const uint8_t *sealed, size_t sl,
                       uint32_t erased) {
  golden_parts p;
  if (!golden_split(&p, r->env, r->env_len))
    die("split", r->name);
  Mentorlog__V1__RecordHeader *h = mentorlog__v1__record_header__unpack(NULL, p.header_len, p.header);
  if (!h)
    die("header unpack", r->name);
  uint8_t dh[32], sh[32];
  ProtobufCBinaryData dh0 = h->disclosed_hash, sh0 = h->sealed_hash;
  if (disclosed) {
    crypto_hash_sha256(dh, disclosed, dl);
    h->disclosed_hash = (ProtobufCBinaryData){dl ? 32 : 0, dh};
  }
  if (sealed) {
    crypto_hash_sha256(sh, sealed, sl);
    h->sealed_hash = (ProtobufCBinaryData){sl ? 32 : 0, sh};
  }
  if (mut)
    mut(h);
  static uint8_t hb[4096];
  size_t hl = mentorlog__v1__record_header__pack(h, hb);
  uint8_t sig[64];
  check(mlproto_sign(sig, signer->key, MLPROTO_TAG_RECORD, hb, hl), "sign");
  golden_parts q = p;
  q.header = hb;
  q.header_len = hl;
  q.signature = sig;
  if (disclosed)
    q.disclosed = disclosed, q.disclosed_len = dl;
  if (sealed)
    q.sealed = sealed, q.sealed_len = sl;
  q.erased = erased;
  uint8_t *out = golden_join(&q, len);
  /* h's hash fields may point into dh/sh: restore them before the free. */
  h->disclosed_hash = dh0;
  h->sealed_hash = sh0;
  mentorlog__v1__record_header__free_unpacked(h, NULL);
  return out;
}

/* r's sealed part re-encrypted by hand (§7) with another plaintext: same
 * nonce, AAD and case key. malloc'd nonce || ciphertext || tag. */
static uint8_t *reseal(const rec *r, const uint8_t *pt, size_t ptl, size_t *sl) {
  golden_parts p;
  if (!golden_split(&p, r->env, r->env_len) || !p.sealed_len)
    die("reseal: no sealed part", r->name);
  const golden_key *ck = golden_case_key(&keys, r->r->case_id);
  uint8_t aad[68];
  golden_aad(aad, r->r->record_id, r->r->case_id, r->r->author, r->r->kind);
  uint8_t *out = malloc(24 + ptl + 16);
  if (!out || !ck)
    die("reseal", r->name);
  memcpy(out, p.sealed, 24);
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, pt, ptl, aad, sizeof aad, NULL, out,
                                             ck->secret);
  *sl = 24 + ptl + 16;
  return out;
}

static void mut_format2(Mentorlog__V1__RecordHeader *h) { h->format = 2; }
static void mut_seq0(Mentorlog__V1__RecordHeader *h) { h->seq = 0; }
static void mut_kind10(Mentorlog__V1__RecordHeader *h) { h->kind = (Mentorlog__V1__Kind)10; }
static void mut_id15(Mentorlog__V1__RecordHeader *h) { h->record_id.len = 15; }
static void mut_prev1(Mentorlog__V1__RecordHeader *h) { h->prev.data[31] = 1; }
static void mut_self(Mentorlog__V1__RecordHeader *h) {
  /* Allocated like the unpacker would: free_unpacked releases them. */
  ProtobufCBinaryData *s = malloc(sizeof *s);
  uint8_t *id = malloc(16);
  if (!s || !id || h->n_supersedes)
    die("mut_self", NULL);
  memcpy(id, h->record_id.data, 16);
  *s = (ProtobufCBinaryData){16, id};
  h->n_supersedes = 1;
  h->supersedes = s;
}
static void mut_kind_note(Mentorlog__V1__RecordHeader *h) { h->kind = MENTORLOG__V1__KIND__NOTE; }

typedef struct neg {
  const char *name, *description, *error, *open_key, *open_error;
  uint8_t *env;
  size_t len;
} neg;

static neg negs[40];
static size_t n_negs;

static void add_neg(const char *name, const char *desc, const char *error, uint8_t *env,
                    size_t len) {
  negs[n_negs++] = (neg){name, desc, error, NULL, NULL, env, len};
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n) {
  uint8_t *q = malloc(n ? n : 1);
  if (!q)
    die("out of memory", NULL);
  memcpy(q, p, n);
  return q;
}

static void build_negatives(void) {
  const rec *c5 = rec_by_name("a05_contact"), *c6 = rec_by_name("a06_contact_corrected");
  const rec *k1 = rec_by_name("a01_key_grant"), *note = rec_by_name("a09_note");
  const golden_key *dev_a = golden_key_by_name(&keys, "device_a");
  const golden_key *dev_b = golden_key_by_name(&keys, "device_b");
  golden_parts p;
  golden_split(&p, c5->env, c5->env_len);
  size_t len;
  uint8_t *e;

  add_neg("n01_truncated", "a05 without its last byte: a length runs past the end", "MALFORMED",
          dup_bytes(c5->env, c5->env_len - 1), c5->env_len - 1);

  golden_parts q = p;
  q.signature = p.header, q.signature_len = p.header_len; /* swapped below by hand */
  {
    /* signature (field 2) before header (field 1) */
    size_t hl = 0, sl = 0;
    golden_parts a = {0}, b = {0};
    a.header = p.signature, a.header_len = p.signature_len;
    b.header = p.header, b.header_len = p.header_len;
    uint8_t *ea = golden_join(&a, &sl), *eb = golden_join(&b, &hl);
    ea[0] = 2 << 3 | 2; /* relabel as field 2 */
    e = malloc(sl + hl);
    memcpy(e, ea, sl);
    memcpy(e + sl, eb, hl);
    add_neg("n02_fields_out_of_order", "signature (field 2) before header (field 1)", "MALFORMED",
            e, sl + hl);
    free(ea);
    free(eb);
  }
  e = malloc(c5->env_len + 2);
  memcpy(e, c5->env, c5->env_len);
  e[c5->env_len] = 6 << 3;
  e[c5->env_len + 1] = 1;
  add_neg("n03_unknown_field", "a05 with an extra field 6 (varint 1) at the end", "MALFORMED", e,
          c5->env_len + 2);
  {
    golden_parts a = {0};
    a.header = p.header, a.header_len = p.header_len;
    size_t hl;
    uint8_t *eh = golden_join(&a, &hl);
    e = malloc(hl + c5->env_len);
    memcpy(e, eh, hl);
    memcpy(e + hl, c5->env, c5->env_len);
    add_neg("n04_duplicate_header", "the header field twice", "MALFORMED", e, hl + c5->env_len);
    free(eh);
  }
  {
    /* header length as a 3-byte varint with a trailing zero group */
    if (p.header_len < 128 || p.header_len >= 16384)
      die("n05 needs a two-byte header length", NULL);
    e = malloc(c5->env_len + 1);
    e[0] = 0x0a;
    e[1] = (uint8_t)(p.header_len | 0x80);
    e[2] = (uint8_t)((p.header_len >> 7) | 0x80);
    e[3] = 0x00;
    memcpy(e + 4, c5->env + 3, c5->env_len - 3);
    add_neg("n05_nonminimal_varint", "header length encoded in 3 bytes instead of 2",
            "MALFORMED", e, c5->env_len + 1);
  }
  e = dup_bytes(c5->env, c5->env_len);
  e[(size_t)(p.signature - c5->env) + 10] ^= 0x01;
  add_neg("n06_signature_bit_flip", "one bit of a05's signature flipped", "BAD_SIGNATURE", e,
          c5->env_len);
  e = resign(&len, c5, NULL, dev_b, NULL, 0, NULL, 0, 0);
  add_neg("n07_signed_by_other_key", "a05's header (author = device A) signed by device B",
          "BAD_SIGNATURE", e, len);
  e = dup_bytes(c5->env, c5->env_len);
  e[(size_t)(p.disclosed - c5->env) + 20] ^= 0x01;
  add_neg("n08_disclosed_tampered", "one bit of a05's disclosed payload flipped",
          "DISCLOSED_HASH_MISMATCH", e, c5->env_len);
  e = dup_bytes(c5->env, c5->env_len);
  e[(size_t)(p.sealed - c5->env) + 30] ^= 0x01;
  add_neg("n09_sealed_tampered", "one bit of a05's sealed ciphertext flipped",
          "SEALED_HASH_MISMATCH", e, c5->env_len);
  q = p;
  q.sealed_len = 0;
  e = golden_join(&q, &len);
  add_neg("n10_sealed_missing", "a05 with its sealed bytes removed but no erased bit",
          "FIELD_MISSING", e, len);
  q = p;
  q.erased = MLPROTO_PART_SEALED;
  e = golden_join(&q, &len);
  add_neg("n11_erased_bit_with_bytes", "erased bit 1 set while the sealed bytes are present",
          "MALFORMED", e, len);
  q = p;
  q.sealed_len = 0;
  q.erased = 4 | MLPROTO_PART_SEALED;
  e = golden_join(&q, &len);
  add_neg("n12_erased_unknown_bit", "erased = 6: bit 2 is not defined", "MALFORMED", e, len);
  e = resign(&len, c5, mut_format2, dev_a, NULL, 0, NULL, 0, 0);
  add_neg("n13_format_2", "header.format = 2, correctly signed", "UNSUPPORTED_FORMAT", e, len);
  e = resign(&len, c5, mut_seq0, dev_a, NULL, 0, NULL, 0, 0);
  add_neg("n14_seq_zero", "header.seq = 0 (omitted), correctly signed", "FIELD_RANGE", e, len);
  e = resign(&len, k1, mut_prev1, dev_a, NULL, 0, NULL, 0, 0);
  add_neg("n15_prev_nonzero_at_seq1", "a01 (seq 1) with a non-zero prev", "FIELD_RANGE", e, len);
  e = resign(&len, c5, mut_id15, dev_a, NULL, 0, NULL, 0, 0);
  add_neg("n16_record_id_15_bytes", "a 15-byte record_id", "FIELD_SIZE", e, len);
  e = resign(&len, c5, mut_kind10, dev_a, NULL, 0, NULL, 0, 0);
  add_neg("n17_unknown_kind", "header.kind = 10", "UNKNOWN_KIND", e, len);
  e = resign(&len, c5, mut_self, dev_a, NULL, 0, NULL, 0, 0);
  add_neg("n18_supersedes_itself", "supersedes lists the record's own id", "FIELD_RANGE", e, len);
  e = resign(&len, k1, NULL, dev_a, NULL, 0, p.sealed, p.sealed_len, 0);
  add_neg("n19_sealed_on_key_grant", "a KEY_GRANT carrying a sealed part (with its hash)",
          "FIELD_RANGE", e, len);
  {
    static const uint8_t none[1];
    e = resign(&len, c5, NULL, dev_a, none, 0, NULL, 0, 0);
    add_neg("n20_disclosed_missing", "a CONTACT with neither disclosed bytes nor hash",
            "FIELD_MISSING", e, len);
  }
  e = resign(&len, c5, mut_kind_note, dev_a, NULL, 0, NULL, 0, 0);
  add_neg("n21_payload_kind_mismatch",
          "a05 relabelled kind NOTE: the disclosed oneof is contact (5), not note (6)",
          "PAYLOAD_KIND_MISMATCH", e, len);
  {
    /* Disclosed{contact{duration_minutes = 0}}: out of range 1..1440 */
    Mentorlog__V1__ContactDisclosed cd = MENTORLOG__V1__CONTACT_DISCLOSED__INIT;
    cd.start_ms = 1772614800000ull;
    cd.channel = MENTORLOG__V1__CHANNEL__CHANNEL_HOME_VISIT;
    cd.outcome = MENTORLOG__V1__OUTCOME__OUTCOME_HELD;
    Mentorlog__V1__Disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
    d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_CONTACT;
    d.contact = &cd;
    uint8_t buf[256];
    memcpy(buf, p.disclosed, 16);
    size_t n = 16 + mentorlog__v1__disclosed__pack(&d, buf + 16);
    e = resign(&len, c5, NULL, dev_a, buf, n, NULL, 0, 0);
    add_neg("n22_contact_duration_zero", "a CONTACT whose duration_minutes is 0 (range 1..1440)",
            "FIELD_RANGE", e, len);
  }
  {
    golden_parts a = {0};
    static uint8_t big[1100], sig[64];
    a.header = big, a.header_len = sizeof big;
    a.signature = sig, a.signature_len = sizeof sig;
    e = golden_join(&a, &len);
    add_neg("n23_header_too_large", "a 1100-byte header (cap 1024)", "TOO_LARGE", e, len);
  }
  {
    /* header fields rotated: format (08 01) moved to the end, then signed */
    uint8_t hb[1024];
    size_t hl = p.header_len;
    if (p.header[0] != 0x08 || p.header[1] != 0x01)
      die("header does not start with format = 1", NULL);
    memcpy(hb, p.header + 2, hl - 2);
    memcpy(hb + hl - 2, p.header, 2);
    uint8_t sig[64];
    check(mlproto_sign(sig, dev_a->key, MLPROTO_TAG_RECORD, hb, hl), "sign");
    q = p;
    q.header = hb;
    q.signature = sig;
    e = golden_join(&q, &len);
    add_neg("n24_header_noncanonical", "header fields not in field-number order (signed as sent)",
            "MALFORMED", e, len);
  }
  {
    uint8_t hb[1024], sig[64];
    size_t hl = p.header_len;
    memcpy(hb, p.header, hl);
    hb[hl++] = 12 << 3;
    hb[hl++] = 1;
    check(mlproto_sign(sig, dev_a->key, MLPROTO_TAG_RECORD, hb, hl), "sign");
    q = p;
    q.header = hb;
    q.header_len = hl;
    q.signature = sig;
    e = golden_join(&q, &len);
    add_neg("n25_unknown_header_field", "header with an extra field 12, signed",
            "MALFORMED", e, len);
  }
  {
    uint8_t empty[2] = {0x0a, 0x00};
    e = malloc(2 + c5->env_len);
    memcpy(e, empty, 2);
    memcpy(e + 2, c5->env, c5->env_len);
    add_neg("n26_empty_field", "an empty (zero-length) field 1 before the real one", "MALFORMED",
            e, 2 + c5->env_len);
  }
  {
    golden_parts c5p;
    golden_split(&c5p, c5->env, c5->env_len);
    e = resign(&len, c6, NULL, dev_a, NULL, 0, c5p.sealed, c5p.sealed_len, 0);
    add_neg("n27_sealed_moved", "a05's sealed part moved into a06 (hash updated, re-signed): "
            "verifies, but the AAD differs", "OK", e, len);
    negs[n_negs - 1].open_key = "case_1";
    negs[n_negs - 1].open_error = "SEAL_OPEN_FAILED";
  }
  add_neg("n28_wrong_case_key", "a05 opened with case 2's key", "OK",
          dup_bytes(c5->env, c5->env_len), c5->env_len);
  negs[n_negs - 1].open_key = "case_2";
  negs[n_negs - 1].open_error = "SEAL_OPEN_FAILED";
  (void)note;

  /* Sealed plaintexts that a key holder could encrypt but that are not a
   * valid layout (§7): the AEAD opens, the decoding refuses. */
  {
    size_t pl = 0, sl = 0;
    uint8_t *pt = golden_sealed_pad(c5->spt, c5->spt_len, &pl), *sealed;
    if (!pt)
      die("pad", c5->name);
    pt[0] = 0x01;
    sealed = reseal(c5, pt, pl, &sl);
    e = resign(&len, c5, NULL, dev_a, NULL, 0, sealed, sl, 0);
    add_neg("n29_sealed_marker_tampered", "a05 resealed with its padded plaintext's marker "
            "00 -> 01 (hash updated, re-signed): read as the unpadded layout, not protobuf",
            "OK", e, len);
    negs[n_negs - 1].open_key = "case_1";
    negs[n_negs - 1].open_error = "MALFORMED";
    free(sealed);
    pt[0] = 0x00;
    pt[1 + c5->spt_len] = 0x00; /* no 0x80: zeros only after the payload */
    sealed = reseal(c5, pt, pl, &sl);
    e = resign(&len, c5, NULL, dev_a, NULL, 0, sealed, sl, 0);
    add_neg("n30_sealed_padding_without_80", "a05 resealed with 00 || payload || zeros (no 80 "
            "byte): not ISO/IEC 7816-4 padding", "OK", e, len);
    negs[n_negs - 1].open_key = "case_1";
    negs[n_negs - 1].open_error = "MALFORMED";
    free(sealed);
    free(pt);
    /* One bucket too many: 00 || payload || 80 || zeros to 512 bytes. */
    uint8_t *big = calloc(1, 512);
    if (!big || c5->spt_len + 2 > 256)
      die("pad", c5->name);
    memcpy(big + 1, c5->spt, c5->spt_len);
    big[1 + c5->spt_len] = 0x80;
    sealed = reseal(c5, big, 512, &sl);
    e = resign(&len, c5, NULL, dev_a, NULL, 0, sealed, sl, 0);
    add_neg("n31_sealed_padding_not_minimal", "a05 resealed padded to 512 bytes although 256 "
            "holds it: not the smallest bucket", "OK", e, len);
    negs[n_negs - 1].open_key = "case_1";
    negs[n_negs - 1].open_error = "MALFORMED";
    free(sealed);
    sealed = reseal(c5, big, 300, &sl);
    e = resign(&len, c5, NULL, dev_a, NULL, 0, sealed, sl, 0);
    add_neg("n32_sealed_padding_not_a_bucket", "a05 resealed padded to 300 bytes: not a bucket "
            "size", "OK", e, len);
    negs[n_negs - 1].open_key = "case_1";
    negs[n_negs - 1].open_error = "MALFORMED";
    free(sealed);
    free(big);
  }

  /* Every expectation must be what the library says. */
  for (size_t i = 0; i < n_negs; i++) {
    mlproto_record *r = NULL;
    int rc = mlproto_record_verify(&r, negs[i].env, negs[i].len);
    if (strcmp(mlproto_errname(rc), negs[i].error) != 0) {
      fprintf(stderr, "%s: expected %s, got %s\n", negs[i].name, negs[i].error, mlproto_errname(rc));
      exit(1);
    }
    if (negs[i].open_key) {
      mlproto_sealed *s = NULL;
      rc = mlproto_record_open_sealed(&s, r, golden_key_by_name(&keys, negs[i].open_key)->key);
      if (strcmp(mlproto_errname(rc), negs[i].open_error) != 0) {
        fprintf(stderr, "%s: open expected %s, got %s\n", negs[i].name, negs[i].open_error,
                mlproto_errname(rc));
        exit(1);
      }
      mlproto_sealed_free(s);
    }
    mlproto_record_free(r);
  }
}

/* Records made before sealed padding: the sealed plaintext is the bare
 * protobuf(Sealed). They must keep verifying and opening. */
static const char *const legacy_names[] = {"a02_case_open", "a05_contact"};

static void write_legacy(jw *w) {
  const golden_key *dev_a = golden_key_by_name(&keys, "device_a");
  jw_open(w, "legacy_sealed", '[');
  for (size_t i = 0; i < sizeof legacy_names / sizeof legacy_names[0]; i++) {
    const rec *r = rec_by_name(legacy_names[i]);
    if (!r || !r->spt)
      die("legacy: no such record with a sealed part", legacy_names[i]);
    size_t sl = 0, len = 0;
    uint8_t *sealed = reseal(r, r->spt, r->spt_len, &sl);
    uint8_t *e = resign(&len, r, NULL, r->author ? r->author : dev_a, NULL, 0, sealed, sl, 0);
    mlproto_record *lr = NULL;
    mlproto_sealed *s = NULL;
    check(mlproto_record_verify(&lr, e, len), "legacy verify");
    check(mlproto_record_open_sealed(&s, lr, golden_case_key(&keys, lr->case_id)->key),
          "legacy open");
    size_t n = protobuf_c_message_get_packed_size(&s->base);
    uint8_t *re = malloc(n ? n : 1);
    if (!re || n != r->spt_len || protobuf_c_message_pack(&s->base, re) != n ||
        memcmp(re, r->spt, n) != 0)
      die("legacy: opened payload differs", r->name);
    free(re);
    mlproto_sealed_free(s);
    jw_open(w, NULL, '{');
    jw_str(w, "name", r->name);
    jw_str(w, "description", "the record as built before sealed padding: same inputs, salt and "
                             "nonce, sealed plaintext = protobuf(Sealed) without marker or padding");
    jw_hex(w, "envelope_hex", e, len);
    jw_hex(w, "record_hash", lr->hash, 32);
    jw_str(w, "sealed_key", golden_case_key(&keys, lr->case_id)->name);
    jw_hex(w, "sealed_plaintext_hex", r->spt, r->spt_len);
    jw_close(w, '}');
    mlproto_record_free(lr);
    free(sealed);
    free(e);
  }
  jw_close(w, ']');
}

static void write_negatives(jw *w) {
  jw_open(w, "negative", '[');
  for (size_t i = 0; i < n_negs; i++) {
    jw_open(w, NULL, '{');
    jw_str(w, "name", negs[i].name);
    jw_str(w, "description", negs[i].description);
    jw_hex(w, "envelope_hex", negs[i].env, negs[i].len);
    jw_str(w, "error", negs[i].error);
    if (negs[i].open_key) {
      jw_str(w, "open_with", negs[i].open_key);
      jw_str(w, "open_error", negs[i].open_error);
    }
    jw_close(w, '}');
    free(negs[i].env);
  }
  jw_close(w, ']');
}

/* ----------------------------------------------------------------- main -- */

int main(int argc, char **argv) {
  const char *in_path = argc > 1 ? argv[1] : TU_TESTS_DIR "/golden/golden-inputs.json";
  const char *out_path = argc > 2 ? argv[2] : TU_TESTS_DIR "/vectors/record-v1.json";
  if (golden_rng_install() != 0)
    die("cannot install the deterministic generator", NULL);
  size_t tlen;
  char *text = tu_read_file(in_path, &tlen);
  if (!text)
    die("cannot read", in_path);
  tu_json *doc = tu_json_parse(text, tlen);
  free(text);
  if (!doc)
    die("inputs are not valid JSON", in_path);

  tu_json *kj = member(doc, "keys");
  if (!kj)
    die("no keys", NULL);
  resolve(kj);
  char err[256] = "";
  int rc = golden_keys_load(&keys, kj, err, sizeof err);
  if (rc == 1)
    die("keys", err);
  check(rc, "keys");
  build_records(tu_json_get(doc, "records"));
  build_negatives();

  FILE *f = fopen(out_path, "w");
  if (!f)
    die("cannot write", out_path);
  jw w = {f, 0, {0}};
  jw_open(&w, NULL, '{');
  jw_str(&w, "description",
         "Golden vectors of the Mentorlog record format v1 (docs/record-format.md). "
         "Generated by tests/golden/gen_golden from tests/golden/golden-inputs.json; "
         "checked by test_golden_records. Do not edit by hand.");
  jw_u64(&w, "format", MLPROTO_RECORD_FORMAT);
  jw_str(&w, "rng",
         "Per record: seed = SHA-256(\"mentorlog/golden/v1/\" || name) (inputs.rng_seed); "
         "random bytes = ChaCha20-IETF (RFC 8439) keystream, key = seed, nonce = 12 zero bytes, "
         "counter from 0, consumed in order: KEY_GRANT crypto_box_seal ephemeral secret keys "
         "(32 bytes each, in keys[] order), then 16 salt bytes || 24 nonce bytes");
  write_keys(&w);
  jw_open(&w, "records", '[');
  for (size_t i = 0; i < n_recs; i++)
    write_record(&w, &recs[i]);
  jw_close(&w, ']');
  write_erased(&w, tu_json_get(doc, "erase"));
  write_chains(&w);
  write_heads(&w, tu_json_get(doc, "heads_case")->str);
  write_compliance(&w, tu_json_get(doc, "compliance"));
  write_log(&w, tu_json_get(doc, "log"));
  write_signatures(&w, tu_json_get(doc, "enroll"), tu_json_get(doc, "session"));
  write_legacy(&w);
  write_negatives(&w);
  jw_close(&w, '}');
  fputc('\n', f);
  if (fclose(f) != 0)
    die("write failed", out_path);

  for (size_t i = 0; i < n_recs; i++) {
    mlproto_free(recs[i].env);
    mlproto_record_free(recs[i].r);
    free(recs[i].dpb);
    free(recs[i].spt);
  }
  golden_keys_free(&keys);
  tu_json_free(doc);
  printf("gen_golden: wrote %zu records, %zu negative vectors to %s\n", n_recs, n_negs, out_path);
  return 0;
}
