/* A contiguous run of leaves proven by two inclusion proofs (its first and
 * its last leaf): every subtree the recursion over the tree meets is either
 * inside the run (computed from its leaves), or outside it and then a
 * sibling on the path of the run's first leaf (when it lies to the left)
 * or of its last (to the right), so the two paths and the leaves give the
 * root. */
#include "mlproto/errors.h"
#include "mlproto/merkle.h"

#include <string.h>

struct span {
  uint64_t lo, hi;
};

struct range_ctx {
  const uint8_t (*leaves)[32];
  uint64_t first, end; /* the run is [first, end) */
  struct span sa[64], sb[64];
  const uint8_t (*pa)[32], (*pb)[32];
  size_t la, lb;
};

/* Largest power of two below n (n >= 2): RFC 9162's split. */
static uint64_t split(uint64_t n) {
  uint64_t k = UINT64_C(1) << (63 - __builtin_clzll(n - 1));
  return k;
}

/* PATH(m, D[lo, hi)) as spans, leaf side first. */
static size_t path_spans(uint64_t m, uint64_t lo, uint64_t hi, struct span *out) {
  struct span stack[64];
  size_t k = 0;
  while (hi - lo > 1 && k < 64) {
    uint64_t s = split(hi - lo);
    if (m < lo + s) {
      stack[k++] = (struct span){lo + s, hi};
      hi = lo + s;
    } else {
      stack[k++] = (struct span){lo, lo + s};
      lo = lo + s;
    }
  }
  for (size_t i = 0; i < k; i++)
    out[i] = stack[k - 1 - i];
  return k;
}

static int sibling(const struct range_ctx *c, uint64_t lo, uint64_t hi, uint8_t out[32]) {
  for (size_t i = 0; i < c->la; i++)
    if (c->sa[i].lo == lo && c->sa[i].hi == hi) {
      memcpy(out, c->pa[i], 32);
      return MLPROTO_OK;
    }
  for (size_t i = 0; i < c->lb; i++)
    if (c->sb[i].lo == lo && c->sb[i].hi == hi) {
      memcpy(out, c->pb[i], 32);
      return MLPROTO_OK;
    }
  return MLPROTO_ERR_PROOF_INVALID; /* cannot happen for a run (see the top) */
}

static int node(const struct range_ctx *c, uint64_t lo, uint64_t hi, uint8_t out[32]) {
  if (hi <= c->first || lo >= c->end)
    return sibling(c, lo, hi, out);
  if (hi - lo == 1) {
    memcpy(out, c->leaves[lo - c->first], 32);
    return MLPROTO_OK;
  }
  uint64_t s = split(hi - lo);
  uint8_t l[32], r[32];
  int rc = node(c, lo, lo + s, l);
  if (rc == MLPROTO_OK)
    rc = node(c, lo + s, hi, r);
  if (rc == MLPROTO_OK)
    mlproto_merkle_node_hash(out, l, r);
  return rc;
}

int mlproto_merkle_verify_range(const uint8_t (*leaves)[32], uint64_t first, uint64_t n, uint64_t size,
                                const uint8_t (*proof_first)[32], size_t len_first,
                                const uint8_t (*proof_last)[32], size_t len_last, const uint8_t root[32]) {
  if (!leaves || !root || n == 0)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (size > MLPROTO_MERKLE_MAX_SIZE || first >= size || n > size - first)
    return MLPROTO_ERR_TREE_RANGE;
  struct range_ctx c = {.leaves = leaves, .first = first, .end = first + n, .pa = proof_first,
                        .pb = proof_last};
  size_t ka = path_spans(first, 0, size, c.sa);
  size_t kb = n > 1 ? path_spans(first + n - 1, 0, size, c.sb) : 0;
  if (len_first != ka || (n > 1 && len_last != kb))
    return MLPROTO_ERR_PROOF_LENGTH;
  if ((ka && !proof_first) || (kb && !proof_last))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  c.la = ka;
  c.lb = kb;
  uint8_t r[32];
  int rc = node(&c, 0, size, r);
  if (rc != MLPROTO_OK)
    return rc;
  return memcmp(r, root, 32) == 0 ? MLPROTO_OK : MLPROTO_ERR_PROOF_INVALID;
}
