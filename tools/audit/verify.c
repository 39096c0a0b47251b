/* verify.c — the checks of an audit log file (verify.h). */
#include "verify.h"

#include "batch.h"

#include "mlproto/chain.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT64_MAX

/* ----------------------------------------------------------- authors --- */

/* A record of an author's chain, as this pass took it (ascending seq). */
typedef struct held {
  uint64_t seq;
  uint64_t index;
  uint8_t hash[32];
  int known; /* 0: the record did not verify, its hash is unknown */
} held;

typedef struct author {
  uint8_t pub[32];
  int used;
  mlproto_chain_tip tip;
  int tip_unknown;      /* the record at tip.seq did not verify: its hash is unknown */
  held *chain;          /* the records taken, ascending seq (gaps are absent) */
  size_t n, cap;
  uint64_t enrolled_at; /* DEVICE_ENROLLED naming it, NONE */
  uint64_t revoked_at;  /* DEVICE_REVOKED naming it, NONE */
  int has_records;
} author;

typedef struct authors {
  author *slots;
  size_t cap, used;
} authors;

static uint64_t key_hash(const uint8_t pub[32]) {
  uint64_t h;
  memcpy(&h, pub, sizeof h); /* public keys are uniformly distributed */
  return h;
}

static int authors_grow(authors *t) {
  size_t cap = t->cap ? 2 * t->cap : 64;
  author *s = calloc(cap, sizeof *s);
  if (!s) return MLPROTO_ERR_OUT_OF_MEMORY;
  for (size_t i = 0; i < t->cap; i++) {
    if (!t->slots[i].used) continue;
    size_t j = key_hash(t->slots[i].pub) & (cap - 1);
    while (s[j].used) j = (j + 1) & (cap - 1);
    s[j] = t->slots[i];
  }
  free(t->slots);
  t->slots = s;
  t->cap = cap;
  return MLPROTO_OK;
}

/* The entry of pub, created when missing (*out NULL: out of memory). */
static int author_get(authors *t, const uint8_t pub[32], author **out) {
  *out = NULL;
  if (2 * (t->used + 1) > t->cap && authors_grow(t)) return MLPROTO_ERR_OUT_OF_MEMORY;
  size_t j = key_hash(pub) & (t->cap - 1);
  while (t->slots[j].used && memcmp(t->slots[j].pub, pub, 32) != 0) j = (j + 1) & (t->cap - 1);
  author *a = &t->slots[j];
  if (!a->used) {
    a->used = 1;
    memcpy(a->pub, pub, 32);
    mlproto_chain_tip_init(&a->tip, pub);
    a->enrolled_at = a->revoked_at = NONE;
    t->used++;
  }
  *out = a;
  return MLPROTO_OK;
}

static void authors_free(authors *t) {
  for (size_t i = 0; i < t->cap; i++) free(t->slots[i].chain);
  free(t->slots);
}

/* Takes (seq, hash at index) as the author's new tip record; hash NULL:
 * it did not verify. seq is above every seq taken before. */
static int chain_push(author *a, uint64_t seq, const uint8_t *hash, uint64_t index) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? 2 * a->cap : 8;
    held *c = realloc(a->chain, cap * sizeof *c);
    if (!c) return MLPROTO_ERR_OUT_OF_MEMORY;
    a->chain = c;
    a->cap = cap;
  }
  held *h = &a->chain[a->n++];
  h->seq = seq;
  h->index = index;
  h->known = hash != NULL;
  if (hash) memcpy(h->hash, hash, 32);
  else memset(h->hash, 0, 32);
  return MLPROTO_OK;
}

/* The record taken at seq, or NULL (never seen: a gap). */
static const held *chain_find(const author *a, uint64_t seq) {
  size_t lo = 0, hi = a->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (a->chain[mid].seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo < a->n && a->chain[lo].seq == seq ? &a->chain[lo] : NULL;
}

/* ------------------------------------------------------------- state --- */

typedef struct pass {
  audit_result *r;
  const audit_options *o;
  size_t max;
  int oom;
  int hook_rc;              /* what on_record returned: stops the pass */
  authors au;
  mlproto_merkle_compact tree;
  mlproto_checkpoint *kept; /* sorted by size */
  size_t n_kept, next_kept;
  uint64_t expect;          /* the next index */
  uint64_t last_received;
  int have_received;
  size_t cap_erased;
  unsigned threads;
  int has_escrow;           /* an ESCROW_KEY event of the log key was read: */
  uint8_t escrow_sign[32];  /* the latest one's signing key (its re-grants' author) */
  struct reason { uint8_t case_id[16]; uint64_t index; } *reasons; /* of erasures */
  size_t n_reasons, cap_reasons;
} pass;

static void finding(pass *p, int has_index, uint64_t index, uint64_t offset, int code,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void finding(pass *p, int has_index, uint64_t index, uint64_t offset, int code,
                    const char *fmt, ...) {
  audit_result *r = p->r;
  r->findings_total++;
  if (r->n_findings >= p->max) return;
  audit_finding *f = &r->findings[r->n_findings++];
  memset(f, 0, sizeof *f);
  f->has_index = has_index;
  f->index = index;
  f->has_offset = offset != NONE;
  f->offset = offset;
  f->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->text, sizeof f->text, fmt, ap);
  va_end(ap);
}

#define AT(p, idx, off, code, ...) finding((p), 1, (idx), (off), (code), __VA_ARGS__)
#define FILE_FINDING(p, off, code, ...) finding((p), 0, 0, (off), (code), __VA_ARGS__)

/* "1a2b3c4d5e6f7081" (the first 8 bytes of a key) into out. */
static const char *short_key(char out[17], const uint8_t *k) {
  mlproto_hex_encode(out, k, 8);
  return out;
}

/* A CASE_ERASE or RETENTION_PURGE of case_id at index: what accounts for
 * erased parts of that case. */
static void reason(pass *p, const uint8_t case_id[16], uint64_t index) {
  if (p->n_reasons == p->cap_reasons) {
    size_t cap = p->cap_reasons ? 2 * p->cap_reasons : 16;
    struct reason *r = realloc(p->reasons, cap * sizeof *r);
    if (!r) {
      p->oom = 1;
      return;
    }
    p->reasons = r;
    p->cap_reasons = cap;
  }
  memcpy(p->reasons[p->n_reasons].case_id, case_id, 16);
  p->reasons[p->n_reasons++].index = index;
}

static int by_case_then_index(const void *a, const void *b) {
  const struct reason *x = a, *y = b;
  int c = memcmp(x->case_id, y->case_id, 16);
  return c ? c : x->index < y->index ? -1 : x->index > y->index;
}

/* Each erasure's first reason, once every entry was read. */
static void account_erasures(pass *p) {
  if (p->n_reasons) qsort(p->reasons, p->n_reasons, sizeof *p->reasons, by_case_then_index);
  for (size_t i = 0; i < p->r->n_erased; i++) {
    audit_erasure *e = &p->r->erased[i];
    size_t lo = 0, hi = p->n_reasons;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (memcmp(p->reasons[mid].case_id, e->case_id, 16) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo < p->n_reasons && memcmp(p->reasons[lo].case_id, e->case_id, 16) == 0) {
      e->accounted = 1;
      e->accounted_at = p->reasons[lo].index;
    }
  }
}

static void erased(pass *p, uint64_t index, const uint8_t case_id[16], unsigned flags) {
  unsigned parts = (flags & MLPROTO_RECORD_DISCLOSED_ERASED ? MLPROTO_PART_DISCLOSED : 0) |
                   (flags & MLPROTO_RECORD_SEALED_ERASED ? MLPROTO_PART_SEALED : 0);
  if (!parts) return;
  audit_result *r = p->r;
  if (r->n_erased == p->cap_erased) {
    size_t cap = p->cap_erased ? 2 * p->cap_erased : 16;
    audit_erasure *e = realloc(r->erased, cap * sizeof *e);
    if (!e) {
      p->oom = 1;
      return;
    }
    r->erased = e;
    p->cap_erased = cap;
  }
  audit_erasure *e = &r->erased[r->n_erased++];
  memset(e, 0, sizeof *e);
  e->index = index;
  e->parts = parts;
  memcpy(e->case_id, case_id, 16);
}

/* ------------------------------------------------------ kept heads --- */

static int by_size(const void *a, const void *b) {
  const mlproto_checkpoint *x = a, *y = b;
  return x->size < y->size ? -1 : x->size > y->size;
}

/* The kept checkpoints of the size the tree has just reached (the tree
 * grows by one leaf between two calls, so each is met exactly once). */
static void check_kept(pass *p) {
  /* the root only when a kept checkpoint is due: it costs ~log2(size) hashes */
  if (p->next_kept >= p->n_kept || p->kept[p->next_kept].size > p->tree.size) return;
  uint8_t root[32];
  mlproto_merkle_compact_root(&p->tree, root);
  for (; p->next_kept < p->n_kept && p->kept[p->next_kept].size <= p->tree.size; p->next_kept++) {
    const mlproto_checkpoint *k = &p->kept[p->next_kept];
    if (memcmp(root, k->root, 32) != 0)
      FILE_FINDING(p, NONE, MLPROTO_ERR_PROOF_INVALID,
                   "the first %llu entries do not have the root of the checkpoint of that size "
                   "verified before: this log does not extend it",
                   (unsigned long long)k->size);
  }
}

/* --------------------------------------------------------- entries --- */

static const char *kind_of(uint32_t kind) { return mlproto_kind_name(kind); }

/* A server event's effect on the devices it names. */
static void server_event(pass *p, const mlproto_record *rec, uint64_t index, uint64_t off) {
  const mlproto_disclosed *d = rec->disclosed;
  if (!d) return; /* erased: the device it named cannot be known (its records will say so) */
  const ProtobufCBinaryData *pub = NULL;
  if (rec->kind == MLPROTO_KIND_ESCROW_KEY && d->escrow_key && d->escrow_key->sign_pub.len == 32) {
    p->has_escrow = 1;
    memcpy(p->escrow_sign, d->escrow_key->sign_pub.data, 32);
    p->r->escrow_keys++;
    return;
  }
  if (rec->kind == MLPROTO_KIND_DEVICE_ENROLLED && d->device_enrolled)
    pub = &d->device_enrolled->device_pub;
  else if (rec->kind == MLPROTO_KIND_DEVICE_REVOKED && d->device_revoked)
    pub = &d->device_revoked->device_pub;
  if (!pub || pub->len != 32) return;
  author *a;
  if (author_get(&p->au, pub->data, &a)) {
    p->oom = 1;
    return;
  }
  char k[17];
  if (rec->kind == MLPROTO_KIND_DEVICE_ENROLLED) {
    if (a->enrolled_at != NONE)
      AT(p, index, off, MLPROTO_ERR_ALREADY_EXISTS, "device %s enrolled again (first at index %llu)",
         short_key(k, a->pub), (unsigned long long)a->enrolled_at);
    else
      a->enrolled_at = index, p->r->devices_enrolled++;
    return;
  }
  if (a->enrolled_at == NONE)
    AT(p, index, off, MLPROTO_ERR_NOT_FOUND, "revokes device %s, which no earlier event enrolled",
       short_key(k, a->pub));
  if (a->revoked_at != NONE)
    AT(p, index, off, MLPROTO_ERR_ALREADY_EXISTS, "revokes device %s again (first at index %llu)",
       short_key(k, a->pub), (unsigned long long)a->revoked_at);
  else
    a->revoked_at = index, p->r->devices_revoked++;
}

/* Where rec stands in its author's chain. */
static void chain(pass *p, author *a, const mlproto_record *rec, uint64_t index, uint64_t off) {
  char k[17];
  short_key(k, a->pub);
  unsigned long long s = (unsigned long long)rec->seq, t = (unsigned long long)a->tip.seq;
  const held *h = rec->seq <= a->tip.seq ? chain_find(a, rec->seq) : NULL;
  mlproto_chain_verdict v;
  if (rec->seq <= a->tip.seq && !h) {
    AT(p, index, off, MLPROTO_ERR_SEQ_GAP,
       "author %s: seq %llu comes after seq %llu: the author's records are out of order", k, s, t);
    return;
  }
  if (h && !h->known) {
    AT(p, index, off, MLPROTO_ERR_FORK,
       "author %s: a second record at seq %llu (the one at index %llu did not verify)", k, s,
       (unsigned long long)h->index);
    return;
  }
  if (a->tip_unknown && rec->seq == a->tip.seq + 1)
    v = MLPROTO_CHAIN_ACCEPT; /* links to a record that did not verify: reported there */
  else
    v = mlproto_chain_check(&a->tip, h ? h->hash : NULL, rec);
  switch (v) {
  case MLPROTO_CHAIN_ACCEPT:
    break;
  case MLPROTO_CHAIN_DUPLICATE:
    AT(p, index, off, MLPROTO_ERR_ALREADY_EXISTS,
       "author %s: the record at seq %llu is logged again (first at index %llu)", k, s,
       (unsigned long long)h->index);
    return;
  case MLPROTO_CHAIN_FORK:
    AT(p, index, off, MLPROTO_ERR_FORK,
       "author %s: a different record at seq %llu than the one at index %llu (a fork)", k, s,
       (unsigned long long)h->index);
    return;
  case MLPROTO_CHAIN_GAP:
    AT(p, index, off, MLPROTO_ERR_SEQ_GAP, "author %s: seq %llu follows seq %llu (records missing)",
       k, s, t);
    break; /* taken as the new tip, so that the gap is reported once */
  case MLPROTO_CHAIN_BAD_PREV:
    AT(p, index, off, MLPROTO_ERR_PREV_MISMATCH,
       "author %s: seq %llu does not link to the author's record at seq %llu", k, s, t);
    break;
  default:
    AT(p, index, off, mlproto_chain_error(v), "author %s: seq %llu: %s", k, s,
       mlproto_chain_verdict_name(v));
    return;
  }
  if (chain_push(a, rec->seq, rec->hash, index)) {
    p->oom = 1;
    return;
  }
  mlproto_chain_advance(&a->tip, rec);
  a->tip_unknown = 0;
}

/* A verified record at index: type, author, enrolment, chain. */
static void record(pass *p, const mlproto_record *rec, unsigned type, uint64_t index, uint64_t off) {
  int event = mlproto_kind_is_server_event(rec->kind);
  unsigned want = event ? MLPROTO_LOG_SERVER_EVENT : MLPROTO_LOG_DEVICE_RECORD;
  char k[17];
  if (type != want && (type == MLPROTO_LOG_DEVICE_RECORD || type == MLPROTO_LOG_SERVER_EVENT))
    AT(p, index, off, MLPROTO_ERR_FIELD_RANGE, "entry type %u for a %s (type %u expected)", type,
       kind_of(rec->kind), want);
  author *a;
  if (author_get(&p->au, rec->author, &a)) {
    p->oom = 1;
    return;
  }
  if (!a->has_records) {
    a->has_records = 1;
    p->r->authors++;
  }
  if (event) {
    p->r->server_events++;
    if (memcmp(rec->author, p->o->key->pk, 32) != 0)
      AT(p, index, off, MLPROTO_ERR_AUTHOR_MISMATCH,
         "%s signed by %s, not by the log key", kind_of(rec->kind), short_key(k, rec->author));
  } else if (a->enrolled_at == NONE && p->has_escrow && memcmp(rec->author, p->escrow_sign, 32) == 0) {
    /* the escrow's re-grant (docs/escrow.md): a KEY_GRANT, nothing else */
    p->r->escrow_regrants++;
    if (rec->kind != MLPROTO_KIND_KEY_GRANT)
      AT(p, index, off, MLPROTO_ERR_FORBIDDEN, "%s signed by the escrow key, which signs only KEY_GRANTs",
         kind_of(rec->kind));
  } else {
    p->r->device_records++;
    if (a->enrolled_at == NONE)
      AT(p, index, off, MLPROTO_ERR_FORBIDDEN,
         "%s by %s, a device no earlier DEVICE_ENROLLED event enrolled", kind_of(rec->kind),
         short_key(k, rec->author));
    else if (a->revoked_at != NONE)
      AT(p, index, off, MLPROTO_ERR_FORBIDDEN, "%s by device %s, revoked at index %llu",
         kind_of(rec->kind), short_key(k, rec->author), (unsigned long long)a->revoked_at);
  }
  chain(p, a, rec, index, off);
  /* a forged event (not the log's key) enrols, revokes and purges nothing */
  int by_log = event && memcmp(rec->author, p->o->key->pk, 32) == 0;
  if (by_log) server_event(p, rec, index, off);
  if (by_log && rec->kind == MLPROTO_KIND_RETENTION_PURGE && rec->disclosed &&
      rec->disclosed->retention_purge && rec->disclosed->retention_purge->case_id.len == 16)
    reason(p, rec->disclosed->retention_purge->case_id.data, index);
  if (rec->kind == MLPROTO_KIND_CASE_ERASE) reason(p, rec->case_id, index);
  erased(p, index, rec->case_id, rec->flags);
}

/* An envelope that does not verify: reported; what can be read of it keeps
 * its author's chain from reporting the same fault again. */
static void unverifiable(pass *p, const mlproto_auditlog_item *it, int rc, uint64_t off) {
  mlproto_record_peek pk;
  char k[17];
  if (mlproto_record_peek_fields(&pk, it->envelope, it->envelope_len) != MLPROTO_OK) {
    AT(p, it->index, off, rc, "the envelope does not verify: %s", mlproto_strerror(rc));
    return;
  }
  AT(p, it->index, off, rc, "%s by %s, seq %llu, does not verify: %s", kind_of(pk.kind),
     short_key(k, pk.author), (unsigned long long)pk.seq, mlproto_strerror(rc));
  author *a;
  if (author_get(&p->au, pk.author, &a)) {
    p->oom = 1;
    return;
  }
  /* taken as its author's tip (hash unknown), unless it claims a seq
   * already taken: the records after it are checked against it */
  if (pk.seq > a->tip.seq) {
    if (chain_push(a, pk.seq, NULL, it->index)) {
      p->oom = 1;
      return;
    }
    a->tip.seq = pk.seq;
    a->tip_unknown = 1;
  }
}

/* One entry item at file offset off, its envelope verified already (rec,
 * or NULL and rc). */
static void entry(pass *p, const mlproto_auditlog_item *it, uint64_t off, const mlproto_record *rec,
                  int rc) {
  audit_result *r = p->r;
  uint64_t i = it->index;
  r->entries++;
  if (i != p->expect) {
    if (i == p->expect + 1)
      AT(p, p->expect, off, MLPROTO_ERR_TREE_RANGE, "entry %llu is missing (index %llu follows)",
         (unsigned long long)p->expect, (unsigned long long)i);
    else if (i > p->expect)
      AT(p, p->expect, off, MLPROTO_ERR_TREE_RANGE, "entries %llu..%llu are missing (index %llu follows)",
         (unsigned long long)p->expect, (unsigned long long)(i - 1), (unsigned long long)i);
    else
      AT(p, i, off, MLPROTO_ERR_TREE_RANGE,
         "index %llu where %llu was due: an entry repeated or out of order", (unsigned long long)i,
         (unsigned long long)p->expect);
  }
  if (i >= p->expect) p->expect = i == NONE ? i : i + 1;
  if (p->have_received && it->received_at_ms < p->last_received)
    AT(p, i, off, MLPROTO_ERR_RECEIPT_TIME_REVERSED,
       "received at %llu ms, before the entry before it (%llu ms)",
       (unsigned long long)it->received_at_ms, (unsigned long long)p->last_received);
  p->last_received = it->received_at_ms;
  p->have_received = 1;

  /* The leaf: u8 type || u64be received_at_ms || record hash, whatever the
   * type byte says (an unknown one is reported, and hashed as written). */
  uint8_t ent[MLPROTO_LOG_ENTRY_BYTES] = {0}, leaf[32];
  ent[0] = (uint8_t)it->type;
  mlproto_put_u64be(ent + 1, it->received_at_ms);
  if (it->type != MLPROTO_LOG_DEVICE_RECORD && it->type != MLPROTO_LOG_SERVER_EVENT)
    AT(p, i, off, MLPROTO_ERR_FIELD_RANGE, "entry type %u (1 or 2 expected)", it->type);

  if (rec) {
    memcpy(ent + 9, rec->hash, 32);
    record(p, rec, it->type, i, off);
  } else {
    /* the leaf as the server would have built it, if the header and
     * signature can be read at all (else zeros: the root will differ) */
    (void)!mlproto_record_hash(ent + 9, it->envelope, it->envelope_len);
    unverifiable(p, it, rc, off);
  }
  mlproto_merkle_leaf_hash(leaf, ent, sizeof ent);
  if (mlproto_merkle_compact_append(&p->tree, leaf, NULL, NULL) != MLPROTO_OK) {
    AT(p, i, off, MLPROTO_ERR_TREE_RANGE, "more than 2^63 entries");
    return;
  }
  check_kept(p);
}

/* ------------------------------------------------------- checkpoint --- */

/* "— <origin> <92 base64 characters>\n": the length of the one signature
 * line of the log key. */
static size_t log_line_len(const char *origin) { return 4 + strlen(origin) + 1 + 92 + 1; }

static void checkpoint(pass *p, const mlproto_auditlog_item *it, uint64_t off) {
  audit_result *r = p->r;
  r->note = it->note;
  r->note_len = it->note_len;
  int rc = mlproto_checkpoint_open(&r->checkpoint, it->note, it->note_len, p->o->key);
  if (rc) {
    FILE_FINDING(p, off, rc, "the checkpoint does not open under the log key: %s",
                 mlproto_strerror(rc));
    return;
  }
  r->checkpoint_ok = 1;
  const mlproto_checkpoint *cp = &r->checkpoint;
  char body[MLPROTO_CHECKPOINT_SIGNED_MAX];
  size_t bl = 0;
  if (mlproto_checkpoint_body(body, sizeof body, &bl, cp) != MLPROTO_OK ||
      it->note_len != bl + 1 + log_line_len(cp->origin))
    FILE_FINDING(p, off, MLPROTO_ERR_CHECKPOINT_MALFORMED,
                 "the checkpoint carries signature lines other than the log's");
  if (r->header_ok && cp->size != r->header.size)
    FILE_FINDING(p, off, MLPROTO_ERR_TREE_RANGE,
                 "the checkpoint is of size %llu, the header says %llu",
                 (unsigned long long)cp->size, (unsigned long long)r->header.size);
  if (r->entries != cp->size) {
    FILE_FINDING(p, off, MLPROTO_ERR_TREE_RANGE,
                 "the file holds %llu entries, the checkpoint covers %llu",
                 (unsigned long long)r->entries, (unsigned long long)cp->size);
  } else if (memcmp(r->root, cp->root, 32) != 0) {
    FILE_FINDING(p, off, MLPROTO_ERR_PROOF_INVALID,
                 "the Merkle root over the %llu entries is not the checkpoint's: an entry was "
                 "changed, removed, added or moved",
                 (unsigned long long)cp->size);
  }
  for (size_t k = 0; k < p->n_kept; k++) {
    const mlproto_checkpoint *kc = &p->kept[k];
    if (kc->size == cp->size && memcmp(kc->root, cp->root, 32) != 0)
      FILE_FINDING(p, off, MLPROTO_ERR_SPLIT_VIEW,
                   "the log signed two different roots for size %llu (the one verified before "
                   "and this one)",
                   (unsigned long long)cp->size);
    else if (kc->size > cp->size)
      FILE_FINDING(p, off, MLPROTO_ERR_TREE_RANGE,
                   "a checkpoint of size %llu was verified before: the log shrank to %llu, or "
                   "this file is older than one verified already",
                   (unsigned long long)kc->size, (unsigned long long)cp->size);
  }
}

/* -------------------------------------------------------------- file --- */

static void header(pass *p, const uint8_t *file, size_t len, size_t *off) {
  audit_result *r = p->r;
  int rc = mlproto_auditlog_header_decode(&r->header, file, len, off);
  if (rc) {
    FILE_FINDING(p, 0, rc,
                 rc == MLPROTO_ERR_AUDIT_FILE_TRUNCATED
                     ? "the file ends inside its header"
                     : "not an audit log file of version 1 (the header is not "
                       "docs/audit-log-format.md's)");
    return;
  }
  r->header_ok = 1;
  const mlproto_note_verifier *k = p->o->key;
  if (strcmp(r->header.origin, k->name) != 0)
    FILE_FINDING(p, 0, MLPROTO_ERR_CHECKPOINT_ORIGIN, "the file is of the log \"%s\", not \"%s\"",
                 r->header.origin, k->name);
  else if (memcmp(r->header.verifier.pk, k->pk, 32) != 0)
    FILE_FINDING(p, 0, MLPROTO_ERR_BAD_KEY, "the file names another key of the log \"%s\"",
                 k->name);
}

/* Entries are read BATCH at a time and their envelopes verified on every
 * core (batch.h's pool) while this thread takes the batch before, in file
 * order: framing, chains, the tree, the caller's on_record. Two slots: one
 * being verified, one being taken. */
#define BATCH 1024

typedef struct pending {
  mlproto_auditlog_item it;
  uint64_t off;
} pending;

/* One batch of items and how the file went on after them. */
typedef struct slot {
  pending pd[BATCH];
  batch_job jobs[BATCH];
  size_t n;
  int cp_new;                 /* the checkpoint item came in this batch, after its entries */
  mlproto_auditlog_item cp;
  uint64_t cp_off;
  int bad, after_cp;          /* the file ended badly here (rc at end_off) */
  int rc;
  uint64_t end_off;
} slot;

typedef struct reader {
  const uint8_t *file;
  size_t len, off;
  int have_cp, ended;
  uint64_t entries;       /* entry items framed */
  uint64_t vouched_below; /* entries at positions below it: hash_vouched */
} reader;

/* Frames the next batch into sl. */
static void fill(reader *rd, slot *sl) {
  sl->n = 0;
  sl->cp_new = sl->bad = sl->after_cp = 0;
  while (sl->n < BATCH && rd->off < rd->len) {
    mlproto_auditlog_item it;
    size_t used = 0;
    int rc = mlproto_auditlog_item_decode(&it, rd->file + rd->off, rd->len - rd->off, &used);
    if (rc || rd->have_cp) {
      sl->bad = rc != MLPROTO_OK;
      sl->after_cp = !rc && rd->have_cp;
      sl->rc = rc;
      sl->end_off = rd->off;
      rd->ended = 1;
      return;
    }
    if (it.tag == MLPROTO_AUDITLOG_CHECKPOINT) {
      sl->cp = it;
      sl->cp_off = rd->off;
      sl->cp_new = rd->have_cp = 1;
    } else {
      sl->pd[sl->n].it = it;
      sl->pd[sl->n].off = rd->off;
      sl->jobs[sl->n] = (batch_job){it.envelope, it.envelope_len,
                                    rd->entries < rd->vouched_below, NULL, 0};
      sl->n++;
      rd->entries++;
    }
    rd->off += used;
  }
  if (rd->off >= rd->len) rd->ended = 1;
}

/* Takes a verified batch, in file order. */
static void take(pass *p, slot *sl) {
  for (size_t i = 0; i < sl->n; i++) {
    batch_job *j = &sl->jobs[i];
    if (!p->oom) entry(p, &sl->pd[i].it, sl->pd[i].off, j->rec, j->rc);
    if (!p->oom && j->rec && p->o->on_record) {
      p->hook_rc = p->o->on_record(p->o->ud, &sl->pd[i].it, &j->rec);
      if (p->hook_rc) p->oom = 1;
    }
    mlproto_record_free(j->rec);
    j->rec = NULL;
  }
  if (p->oom) return;
  if (sl->cp_new) { /* after the entries before it */
    mlproto_merkle_compact_root(&p->tree, p->r->root);
    checkpoint(p, &sl->cp, sl->cp_off);
  }
  if (sl->bad)
    FILE_FINDING(p, sl->end_off, sl->rc,
                 sl->rc == MLPROTO_ERR_AUDIT_FILE_TRUNCATED
                     ? "the file is cut short inside an item (after %llu entries)"
                     : "no valid item here (after %llu entries): the file is damaged",
                 (unsigned long long)p->r->entries);
  if (sl->after_cp)
    FILE_FINDING(p, sl->end_off, MLPROTO_ERR_AUDIT_FILE_MALFORMED, "bytes after the checkpoint");
}

static void discard(slot *sl) {
  for (size_t i = 0; i < sl->n; i++) {
    mlproto_record_free(sl->jobs[i].rec);
    sl->jobs[i].rec = NULL;
  }
}

static void items(pass *p, const uint8_t *file, size_t len, size_t off) {
  slot *sl = malloc(2 * sizeof *sl);
  /* helpers beside this thread (it verifies too while it waits) */
  batch_pool *pool = sl ? batch_pool_start(p->threads > 1 ? p->threads - 1 : 0) : NULL;
  if (!sl || !pool) {
    p->oom = 1;
    free(sl);
    batch_pool_stop(pool);
    return;
  }
  reader rd = {file, len, off, 0, 0, 0, 0};
  if (p->o->vouch_kept && p->n_kept) rd.vouched_below = p->kept[p->n_kept - 1].size;
  slot *cur = &sl[0], *next = &sl[1];
  fill(&rd, cur);
  batch_pool_submit(pool, cur->jobs, cur->n);
  int any = off < len;
  while (any) {
    batch_pool_wait(pool); /* cur is verified */
    int more = !rd.ended && !p->oom;
    if (more) {
      fill(&rd, next);
      batch_pool_submit(pool, next->jobs, next->n);
    }
    take(p, cur);
    if (!more) break;
    slot *t = cur;
    cur = next;
    next = t;
    if (p->oom) { /* the batch in flight is not taken */
      batch_pool_wait(pool);
      discard(cur);
      break;
    }
  }
  if (!any) batch_pool_wait(pool);
  if (!rd.have_cp && !p->oom && !cur->bad)
    FILE_FINDING(p, len, MLPROTO_ERR_AUDIT_FILE_TRUNCATED,
                 "the file ends after %llu entries without its checkpoint: it is incomplete",
                 (unsigned long long)p->r->entries);
  batch_pool_stop(pool);
  free(sl);
}

int audit_verify(audit_result *out, const uint8_t *file, size_t len, const audit_options *o) {
  if (!out) return MLPROTO_ERR_INVALID_ARGUMENT;
  memset(out, 0, sizeof *out);
  if (!o || !o->key || (!file && len)) return MLPROTO_ERR_INVALID_ARGUMENT;
  pass p;
  memset(&p, 0, sizeof p);
  p.r = out;
  p.o = o;
  p.max = o->max_findings ? o->max_findings : AUDIT_MAX_FINDINGS_DEFAULT;
  p.threads = o->threads ? o->threads : batch_threads();
  mlproto_merkle_compact_init(&p.tree);
  out->findings = calloc(p.max, sizeof *out->findings);
  if (o->n_kept) {
    p.kept = malloc(o->n_kept * sizeof *p.kept);
    if (p.kept) {
      memcpy(p.kept, o->kept, o->n_kept * sizeof *p.kept);
      qsort(p.kept, o->n_kept, sizeof *p.kept, by_size);
      p.n_kept = o->n_kept;
    }
  }
  if (!out->findings || (o->n_kept && !p.kept)) {
    p.oom = 1;
  } else {
    check_kept(&p); /* a kept checkpoint of size 0 */
    size_t off = 0;
    header(&p, file, len, &off);
    if (out->header_ok) items(&p, file, len, off);
    if (!p.oom) account_erasures(&p);
  }
  authors_free(&p.au);
  free(p.kept);
  free(p.reasons);
  if (p.oom) {
    audit_result_free(out);
    return p.hook_rc ? p.hook_rc : MLPROTO_ERR_OUT_OF_MEMORY;
  }
  return MLPROTO_OK;
}

void audit_result_free(audit_result *r) {
  if (!r) return;
  free(r->findings);
  free(r->erased);
  memset(r, 0, sizeof *r);
}
