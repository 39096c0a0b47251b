/* erase.c — crypto-shredding of a case's envelopes (see erase.h). */
#include "erase.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/record.h"

#include <stdlib.h>
#include <string.h>

int mls_erase_form(uint8_t **out, size_t *out_len, int *changed, const uint8_t *env, size_t len,
                   const uint8_t record_hash[32]) {
  *out = NULL;
  *out_len = 0;
  uint8_t before[32], after[32];
  int rc = mlproto_record_hash(before, env, len);
  if (rc) return rc;
  if (memcmp(before, record_hash, 32) != 0) return MLPROTO_ERR_STORAGE;
  uint8_t *e = NULL;
  size_t n = 0;
  if ((rc = mlproto_envelope_erase(&e, &n, env, len, MLPROTO_PART_DISCLOSED | MLPROTO_PART_SEALED)))
    return rc;
  /* header and signature must be byte-identical: same record hash */
  if ((rc = mlproto_record_hash(after, e, n)) || memcmp(after, record_hash, 32) != 0) {
    mlproto_free(e);
    return rc ? rc : MLPROTO_ERR_STORAGE;
  }
  if (changed) *changed = !(n == len && memcmp(e, env, len) == 0);
  *out = e;
  *out_len = n;
  return MLPROTO_OK;
}

/* The case's entries whose envelope changes: their index and erased form,
 * made from the bytes the listing hands over (each envelope read once) and
 * written after the listing (not while it runs). */
typedef struct entry_list {
  uint64_t *index;
  uint8_t **env;
  size_t *len;
  size_t n, cap;
  uint64_t seen;
} entry_list;

static int entry_add(void *ud, const mls_log_entry *e) {
  entry_list *l = ud;
  l->seen++;
  uint8_t *out = NULL;
  size_t out_len = 0;
  int changed = 0;
  int rc = mls_erase_form(&out, &out_len, &changed, e->envelope, e->envelope_len, e->record_hash);
  if (rc || !changed) {
    mlproto_free(out);
    return rc;
  }
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 32;
    uint64_t *ix = realloc(l->index, cap * sizeof *ix);
    if (ix) l->index = ix;
    uint8_t **ev = realloc(l->env, cap * sizeof *ev);
    if (ev) l->env = ev;
    size_t *ln = realloc(l->len, cap * sizeof *ln);
    if (ln) l->len = ln;
    if (!ix || !ev || !ln) {
      mlproto_free(out);
      return MLPROTO_ERR_OUT_OF_MEMORY;
    }
    l->cap = cap;
  }
  l->index[l->n] = e->index;
  l->env[l->n] = out;
  l->len[l->n] = out_len;
  l->n++;
  return 0;
}

/* Fork evidence of the case: the rows whose logged or pushed envelope is a
 * record of it, with both envelopes' new bytes (the case's erased, the
 * other as it was), replaced after the listing. */
typedef struct fork_fix {
  uint64_t id;
  uint8_t *env[2];
  size_t len[2];
} fork_fix;

typedef struct fork_scan {
  const uint8_t *case_id;
  fork_fix *fix;
  size_t n, cap;
} fork_scan;

static int of_case(const uint8_t *case_id, const uint8_t *env, size_t len) {
  mlproto_record_peek pk;
  return mlproto_record_peek_fields(&pk, env, len) == MLPROTO_OK &&
         memcmp(pk.case_id, case_id, 16) == 0;
}

/* The new bytes of one envelope of a fork row: erased when it is of the
 * case (its own record hash kept), else a copy. */
static int fork_part(const uint8_t *case_id, const uint8_t *env, size_t len, uint8_t **out,
                     size_t *out_len, int *hit) {
  uint8_t hash[32];
  if (of_case(case_id, env, len) && mlproto_record_hash(hash, env, len) == MLPROTO_OK) {
    int changed = 0;
    int rc = mls_erase_form(out, out_len, &changed, env, len, hash);
    *hit |= !rc && changed;
    return rc;
  }
  /* not of the case (or not an envelope at all: evidence is kept as sent) */
  if (!(*out = mlproto_malloc(len ? len : 1))) return MLPROTO_ERR_OUT_OF_MEMORY;
  if (len) memcpy(*out, env, len);
  *out_len = len;
  return MLPROTO_OK;
}

static int fork_one(void *ud, uint64_t id, const uint8_t *logged, size_t logged_len,
                    const uint8_t *pushed, size_t pushed_len) {
  fork_scan *f = ud;
  /* most rows are of other cases: nothing copied for them */
  if (!of_case(f->case_id, logged, logged_len) && !of_case(f->case_id, pushed, pushed_len))
    return 0;
  fork_fix x = {.id = id};
  int hit = 0;
  int rc = fork_part(f->case_id, logged, logged_len, &x.env[0], &x.len[0], &hit);
  if (!rc) rc = fork_part(f->case_id, pushed, pushed_len, &x.env[1], &x.len[1], &hit);
  if (!rc && hit && f->n == f->cap) {
    size_t cap = f->cap ? 2 * f->cap : 8;
    void *p = realloc(f->fix, cap * sizeof *f->fix);
    if (p) {
      f->fix = p;
      f->cap = cap;
    } else {
      rc = MLPROTO_ERR_OUT_OF_MEMORY;
    }
  }
  if (!rc && hit) {
    f->fix[f->n++] = x;
    return 0;
  }
  mlproto_free(x.env[0]);
  mlproto_free(x.env[1]);
  return rc;
}

/* Erases the case's envelopes in the fork evidence (both kept, erased). */
static int erase_forks(mls_txn *tx, const uint8_t case_id[16]) {
  fork_scan f = {.case_id = case_id};
  int rc = MLS_TX(tx, fork_list, fork_one, &f);
  for (size_t i = 0; !rc && i < f.n; i++)
    rc = MLS_TX(tx, fork_replace, f.fix[i].id, f.fix[i].env[0], f.fix[i].len[0], f.fix[i].env[1],
                f.fix[i].len[1]);
  for (size_t i = 0; i < f.n; i++) {
    mlproto_free(f.fix[i].env[0]);
    mlproto_free(f.fix[i].env[1]);
  }
  free(f.fix);
  return rc;
}

int mls_erase_case(mls_txn *tx, const uint8_t case_id[16], uint64_t now_ms, uint64_t *rewritten,
                   uint64_t *entries) {
  entry_list l = {0};
  int rc = MLS_TX(tx, case_entries, case_id, UINT64_MAX, entry_add, &l);
  for (size_t i = 0; !rc && i < l.n; i++)
    rc = MLS_TX(tx, envelope_replace, l.index[i], l.env[i], l.len[i]);
  if (!rc) rc = erase_forks(tx, case_id);
  if (!rc) rc = MLS_TX(tx, case_erased_set, case_id, now_ms);
  if (!rc && rewritten) *rewritten = l.n;
  if (!rc && entries) *entries = l.seen;
  for (size_t i = 0; i < l.n; i++) mlproto_free(l.env[i]);
  free(l.index);
  free(l.env);
  free(l.len);
  return rc;
}
