/*
 * In-memory node store: one growable array of perfect-subtree hashes per
 * level, fed by the compact range. Level l holds size >> l nodes, so the
 * whole store is just under two hashes per leaf.
 */
#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"

#include <string.h>

#define HB MLPROTO_MERKLE_HASH_BYTES

struct level {
  uint8_t (*h)[HB];
  uint64_t len, cap;
};

struct mlproto_merkle_mem {
  uint64_t max_leaves;
  mlproto_merkle_compact range;
  struct level lv[64];
};

int mlproto_merkle_mem_new(mlproto_merkle_mem **out, uint64_t max_leaves) {
  *out = NULL;
  if (max_leaves == 0 || max_leaves > MLPROTO_MERKLE_MAX_SIZE)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  mlproto_merkle_mem *m = mlproto_calloc(1, sizeof *m);
  if (m == NULL)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  m->max_leaves = max_leaves;
  mlproto_merkle_compact_init(&m->range);
  *out = m;
  return MLPROTO_OK;
}

void mlproto_merkle_mem_free(mlproto_merkle_mem *m) {
  if (m == NULL)
    return;
  for (unsigned l = 0; l < 64; l++)
    mlproto_free(m->lv[l].h);
  mlproto_free(m);
}

static int reserve(struct level *lv, uint64_t need) {
  if (need <= lv->cap)
    return MLPROTO_OK;
  uint64_t cap = lv->cap ? lv->cap : 16;
  while (cap < need)
    cap = cap > UINT64_MAX / 2 ? need : cap * 2;
  if (cap > SIZE_MAX / HB)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  void *p = mlproto_realloc(lv->h, (size_t)cap * HB);
  if (p == NULL)
    return MLPROTO_ERR_OUT_OF_MEMORY;
  lv->h = p;
  lv->cap = cap;
  return MLPROTO_OK;
}

int mlproto_merkle_mem_append(mlproto_merkle_mem *m, const uint8_t leaf_hash[32]) {
  uint64_t size = m->range.size;
  if (size >= m->max_leaves)
    return MLPROTO_ERR_TOO_LARGE;
  /* Reserve every level this append writes before touching anything, so a
   * failed allocation leaves the store as it was. */
  unsigned top = (unsigned)__builtin_ctzll(~size);
  for (unsigned l = 0; l <= top && l < 64; l++) {
    int rc = reserve(&m->lv[l], m->lv[l].len + 1);
    if (rc != MLPROTO_OK)
      return rc;
  }
  mlproto_merkle_node nodes[MLPROTO_MERKLE_MAX_NEW_NODES];
  size_t n;
  int rc = mlproto_merkle_compact_append(&m->range, leaf_hash, nodes, &n);
  if (rc != MLPROTO_OK)
    return rc;
  for (size_t i = 0; i < n; i++) {
    struct level *lv = &m->lv[nodes[i].level];
    if (nodes[i].index != lv->len) /* appends complete nodes strictly in order */
      return MLPROTO_ERR_INTERNAL;
    memcpy(lv->h[lv->len++], nodes[i].hash, HB);
  }
  return MLPROTO_OK;
}

uint64_t mlproto_merkle_mem_size(const mlproto_merkle_mem *m) { return m->range.size; }

void mlproto_merkle_mem_root(const mlproto_merkle_mem *m, uint8_t out[32]) {
  mlproto_merkle_compact_root(&m->range, out);
}

int mlproto_merkle_mem_node(void *ud, unsigned level, uint64_t index, uint8_t out[32]) {
  const mlproto_merkle_mem *m = ud;
  if (m == NULL || level >= 64 || index >= m->lv[level].len)
    return MLPROTO_ERR_NOT_FOUND;
  memcpy(out, m->lv[level].h[index], HB);
  return MLPROTO_OK;
}
