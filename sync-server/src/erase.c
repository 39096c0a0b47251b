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

/* The case's entries: index and record hash (envelopes are read one by one
 * afterwards, not replaced while the listing runs). */
typedef struct entry_list {
  uint64_t *index;
  uint8_t (*hash)[32];
  size_t n, cap;
} entry_list;

static int entry_add(void *ud, const mls_log_entry *e) {
  entry_list *l = ud;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 32;
    uint64_t *ix = realloc(l->index, cap * sizeof *ix);
    if (ix) l->index = ix;
    uint8_t(*h)[32] = realloc(l->hash, cap * sizeof *h);
    if (h) l->hash = h;
    if (!ix || !h) return MLPROTO_ERR_OUT_OF_MEMORY;
    l->cap = cap;
  }
  l->index[l->n] = e->index;
  memcpy(l->hash[l->n], e->record_hash, 32);
  l->n++;
  return 0;
}

int mls_erase_case(mls_txn *tx, const uint8_t case_id[16], uint64_t now_ms, uint64_t *rewritten,
                   uint64_t *entries) {
  entry_list l = {0};
  uint64_t done = 0;
  uint8_t *buf = malloc(MLS_ENVELOPE_MAX);
  int rc = buf ? MLS_TX(tx, case_entries, case_id, UINT64_MAX, entry_add, &l)
               : MLPROTO_ERR_OUT_OF_MEMORY;
  for (size_t i = 0; !rc && i < l.n; i++) {
    size_t len = 0, elen = 0;
    uint8_t *e = NULL;
    int changed = 0;
    rc = MLS_TX(tx, envelope_at, l.index[i], buf, MLS_ENVELOPE_MAX, &len);
    if (!rc) rc = mls_erase_form(&e, &elen, &changed, buf, len, l.hash[i]);
    if (!rc && changed) {
      rc = MLS_TX(tx, envelope_replace, l.index[i], e, elen);
      done++;
    }
    mlproto_free(e);
  }
  if (!rc) rc = MLS_TX(tx, case_erased_set, case_id, now_ms);
  if (!rc && rewritten) *rewritten = done;
  if (!rc && entries) *entries = l.n;
  free(buf);
  free(l.index);
  free(l.hash);
  return rc;
}
