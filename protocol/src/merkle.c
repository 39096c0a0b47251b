/*
 * RFC 9162 Merkle tree maths: hashing, proofs over a store of perfect
 * subtrees, and the compact range.
 *
 * Proof generation follows the shape of the tree rather than RFC 9162's
 * recursion over leaf ranges: a proof for a node at (level, index) in a tree
 * of n leaves is its "inner" siblings (the levels below the point where its
 * path meets the right edge of the tree) followed by the left siblings on
 * the shared path above. Every one of those is a perfect subtree except at
 * most one, the inner sibling that touches the right edge, whose hash is
 * folded from the perfect subtrees that tile it. This is what keeps a proof
 * at O(log n) reads; the vectors in tests/merkle check the output is
 * byte-identical to the RFC's PATH and PROOF definitions.
 */
#include "mlproto/merkle.h"

#include "mlproto/errors.h"
#include "mlproto/util.h"

#include <sodium.h>
#include <string.h>

#define HB MLPROTO_MERKLE_HASH_BYTES

size_t mlproto_merkle_hash_bytes(void) { return HB; }
size_t mlproto_merkle_max_proof(void) { return MLPROTO_MERKLE_MAX_PROOF; }

static unsigned bitlen64(uint64_t x) { return x ? 64u - (unsigned)__builtin_clzll(x) : 0u; }
static unsigned popcount64(uint64_t x) { return (unsigned)__builtin_popcountll(x); }
static unsigned ctz64(uint64_t x) { return (unsigned)__builtin_ctzll(x); }

/* ------------------------------------------------------------- hashing --- */

void mlproto_merkle_leaf_hash(uint8_t out[32], const uint8_t *data, size_t len) {
  static const uint8_t prefix = 0x00;
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, &prefix, 1);
  if (len)
    crypto_hash_sha256_update(&st, data, len);
  crypto_hash_sha256_final(&st, out);
}

void mlproto_merkle_node_hash(uint8_t out[32], const uint8_t left[32],
                              const uint8_t right[32]) {
  uint8_t buf[1 + 2 * HB];
  buf[0] = 0x01;
  memcpy(buf + 1, left, HB);
  memcpy(buf + 1 + HB, right, HB);
  crypto_hash_sha256(out, buf, sizeof buf);
}

void mlproto_merkle_empty_root(uint8_t out[32]) { crypto_hash_sha256(out, NULL, 0); }

int mlproto_merkle_root(uint8_t out[32], const uint8_t (*leaves)[32], uint64_t n) {
  if (n > MLPROTO_MERKLE_MAX_SIZE || (n && leaves == NULL))
    return n > MLPROTO_MERKLE_MAX_SIZE ? MLPROTO_ERR_TREE_RANGE : MLPROTO_ERR_INVALID_ARGUMENT;
  mlproto_merkle_compact c;
  mlproto_merkle_compact_init(&c);
  for (uint64_t i = 0; i < n; i++) {
    int rc = mlproto_merkle_compact_append(&c, leaves[i], NULL, NULL);
    if (rc != MLPROTO_OK)
      return rc;
  }
  mlproto_merkle_compact_root(&c, out);
  return MLPROTO_OK;
}

/* -------------------------------------------------------- node storage --- */

static int read_node(mlproto_merkle_node_fn get, void *ud, unsigned level, uint64_t index,
                     uint8_t out[32]) {
  int rc = get(ud, level, index, out);
  return rc > 0 ? MLPROTO_ERR_INTERNAL : rc;
}

/* MTH of leaves [lo, hi), lo a multiple of a power of two > hi - lo, so the
 * range is tiled by aligned perfect subtrees, one per set bit of hi - lo.
 * Folded from the right (smallest tile first): popcount(hi - lo) reads. */
static int range_hash(mlproto_merkle_node_fn get, void *ud, uint64_t lo, uint64_t hi,
                      uint8_t out[32]) {
  uint64_t d = hi - lo, pos = hi;
  int first = 1;
  for (unsigned b = 0; b < 64 && (d >> b); b++) {
    if (!((d >> b) & 1))
      continue;
    pos -= UINT64_C(1) << b;
    uint8_t h[HB];
    int rc = read_node(get, ud, b, pos >> b, h);
    if (rc != MLPROTO_OK)
      return rc;
    if (first)
      memcpy(out, h, HB);
    else
      mlproto_merkle_node_hash(out, h, out);
    first = 0;
  }
  return MLPROTO_OK;
}

int mlproto_merkle_root_at(uint8_t out[32], uint64_t size, mlproto_merkle_node_fn get,
                           void *ud) {
  if (size > MLPROTO_MERKLE_MAX_SIZE)
    return MLPROTO_ERR_TREE_RANGE;
  if (size == 0) {
    mlproto_merkle_empty_root(out);
    return MLPROTO_OK;
  }
  if (get == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  return range_hash(get, ud, 0, size, out);
}

/* ------------------------------------------------------------- proofs --- */

/* Shape of the path of node (level, index) in a tree of n leaves: `inner`
 * siblings below the level where the path joins the tree's right edge, then
 * one left sibling for each set bit of index >> inner. */
static void path_shape(unsigned level, uint64_t index, uint64_t n, unsigned *inner,
                       unsigned *border) {
  uint64_t last = (n - 1) >> level;
  *inner = bitlen64(index ^ last);
  *border = *inner < 64 ? popcount64(index >> *inner) : 0;
}

/* Appends the path of node (level, index) in a tree of n leaves, leaf side
 * first, to proof[*len..]. Caller has checked capacity. */
static int node_path(uint8_t (*proof)[32], size_t *len, unsigned level, uint64_t index,
                     uint64_t n, mlproto_merkle_node_fn get, void *ud) {
  unsigned inner, border;
  path_shape(level, index, n, &inner, &border);
  int rc;
  for (unsigned i = 0; i < inner; i++) {
    unsigned l = level + i;
    uint64_t sib = (index >> i) ^ 1;
    uint64_t start = sib << l;
    if (n - start >= (UINT64_C(1) << l))
      rc = read_node(get, ud, l, sib, proof[*len]);
    else /* the sibling on the right edge: not complete yet */
      rc = range_hash(get, ud, start, n, proof[*len]);
    if (rc != MLPROTO_OK)
      return rc;
    (*len)++;
  }
  for (unsigned j = inner; j + level < 64; j++) {
    if (!((index >> j) & 1))
      continue;
    rc = read_node(get, ud, level + j, (index >> j) - 1, proof[*len]);
    if (rc != MLPROTO_OK)
      return rc;
    (*len)++;
  }
  return MLPROTO_OK;
}

int mlproto_merkle_inclusion_len(size_t *len, uint64_t index, uint64_t size) {
  *len = 0;
  if (size > MLPROTO_MERKLE_MAX_SIZE || index >= size)
    return MLPROTO_ERR_TREE_RANGE;
  unsigned inner, border;
  path_shape(0, index, size, &inner, &border);
  *len = (size_t)inner + border;
  return MLPROTO_OK;
}

int mlproto_merkle_inclusion_proof(uint8_t (*proof)[32], size_t *len, size_t cap,
                                   uint64_t index, uint64_t size,
                                   mlproto_merkle_node_fn get, void *ud) {
  size_t need;
  int rc = mlproto_merkle_inclusion_len(&need, index, size);
  *len = 0;
  if (rc != MLPROTO_OK)
    return rc;
  if (need > cap)
    return MLPROTO_ERR_BUFFER_TOO_SMALL;
  if (get == NULL || (need && proof == NULL))
    return MLPROTO_ERR_INVALID_ARGUMENT;
  size_t n = 0;
  rc = node_path(proof, &n, 0, index, size, get, ud);
  if (rc != MLPROTO_OK)
    return rc;
  *len = n;
  return MLPROTO_OK;
}

int mlproto_merkle_root_from_inclusion(uint8_t root[32], const uint8_t leaf_hash[32],
                                       uint64_t index, uint64_t size,
                                       const uint8_t (*proof)[32], size_t len) {
  if (len > MLPROTO_MERKLE_MAX_PROOF)
    return MLPROTO_ERR_PROOF_LENGTH;
  size_t need;
  int rc = mlproto_merkle_inclusion_len(&need, index, size);
  if (rc != MLPROTO_OK)
    return rc;
  if (need != len)
    return MLPROTO_ERR_PROOF_LENGTH;

  /* RFC 9162 §2.1.3.2, step by step. */
  uint64_t fn = index, sn = size - 1;
  uint8_t r[HB];
  memcpy(r, leaf_hash, HB);
  for (size_t i = 0; i < len; i++) {
    if (sn == 0)
      return MLPROTO_ERR_PROOF_LENGTH;
    if ((fn & 1) || fn == sn) {
      mlproto_merkle_node_hash(r, proof[i], r);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      mlproto_merkle_node_hash(r, r, proof[i]);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0)
    return MLPROTO_ERR_PROOF_LENGTH;
  memcpy(root, r, HB);
  return MLPROTO_OK;
}

int mlproto_merkle_verify_inclusion(const uint8_t leaf_hash[32], uint64_t index,
                                    uint64_t size, const uint8_t (*proof)[32], size_t len,
                                    const uint8_t root[32]) {
  uint8_t r[HB];
  int rc = mlproto_merkle_root_from_inclusion(r, leaf_hash, index, size, proof, len);
  if (rc != MLPROTO_OK)
    return rc;
  return memcmp(r, root, HB) == 0 ? MLPROTO_OK : MLPROTO_ERR_PROOF_INVALID;
}

int mlproto_merkle_consistency_len(size_t *len, uint64_t first, uint64_t second) {
  *len = 0;
  if (second > MLPROTO_MERKLE_MAX_SIZE || first == 0 || first > second)
    return MLPROTO_ERR_TREE_RANGE;
  if (first == second)
    return MLPROTO_OK;
  /* The proof is the last perfect subtree of the old tree (omitted when that
   * is the whole old tree: the verifier has its root), then its path. */
  unsigned level = ctz64(first);
  uint64_t index = (first - 1) >> level;
  unsigned inner, border;
  path_shape(level, index, second, &inner, &border);
  *len = (index != 0) + (size_t)inner + border;
  return MLPROTO_OK;
}

int mlproto_merkle_consistency_proof(uint8_t (*proof)[32], size_t *len, size_t cap,
                                     uint64_t first, uint64_t second,
                                     mlproto_merkle_node_fn get, void *ud) {
  size_t need;
  int rc = mlproto_merkle_consistency_len(&need, first, second);
  *len = 0;
  if (rc != MLPROTO_OK)
    return rc;
  if (need > cap)
    return MLPROTO_ERR_BUFFER_TOO_SMALL;
  if (need == 0)
    return MLPROTO_OK;
  if (get == NULL || proof == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  unsigned level = ctz64(first);
  uint64_t index = (first - 1) >> level;
  size_t n = 0;
  if (index != 0) {
    rc = read_node(get, ud, level, index, proof[n]);
    if (rc != MLPROTO_OK)
      return rc;
    n++;
  }
  rc = node_path(proof, &n, level, index, second, get, ud);
  if (rc != MLPROTO_OK)
    return rc;
  *len = n;
  return MLPROTO_OK;
}

int mlproto_merkle_verify_consistency(uint64_t first, uint64_t second,
                                      const uint8_t first_root[32],
                                      const uint8_t second_root[32],
                                      const uint8_t (*proof)[32], size_t len) {
  if (len > MLPROTO_MERKLE_MAX_PROOF)
    return MLPROTO_ERR_PROOF_LENGTH;
  size_t need;
  int rc = mlproto_merkle_consistency_len(&need, first, second);
  if (rc != MLPROTO_OK)
    return rc;
  if (need != len)
    return MLPROTO_ERR_PROOF_LENGTH;
  if (first == second)
    return memcmp(first_root, second_root, HB) == 0 ? MLPROTO_OK : MLPROTO_ERR_PROOF_INVALID;

  /* RFC 9162 §2.1.4.2. When first is a power of two the old root is the
   * path's first element: it is "prepended" by starting from it. */
  size_t i = 0;
  const uint8_t *start;
  if ((first & (first - 1)) == 0) {
    start = first_root;
  } else {
    start = proof[0];
    i = 1;
  }
  uint64_t fn = first - 1, sn = second - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  uint8_t fr[HB], sr[HB];
  memcpy(fr, start, HB);
  memcpy(sr, start, HB);
  for (; i < len; i++) {
    if (sn == 0)
      return MLPROTO_ERR_PROOF_LENGTH;
    if ((fn & 1) || fn == sn) {
      mlproto_merkle_node_hash(fr, proof[i], fr);
      mlproto_merkle_node_hash(sr, proof[i], sr);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      mlproto_merkle_node_hash(sr, sr, proof[i]);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0)
    return MLPROTO_ERR_PROOF_LENGTH;
  if (memcmp(fr, first_root, HB) != 0 || memcmp(sr, second_root, HB) != 0)
    return MLPROTO_ERR_PROOF_INVALID;
  return MLPROTO_OK;
}

/* ------------------------------------------------------- compact range --- */

void mlproto_merkle_compact_init(mlproto_merkle_compact *c) {
  memset(c, 0, sizeof *c);
}

int mlproto_merkle_compact_append(mlproto_merkle_compact *c, const uint8_t leaf_hash[32],
                                  mlproto_merkle_node *new_nodes, size_t *n_new) {
  if (n_new)
    *n_new = 0;
  if (c->size >= MLPROTO_MERKLE_MAX_SIZE || c->count != popcount64(c->size))
    return c->size >= MLPROTO_MERKLE_MAX_SIZE ? MLPROTO_ERR_TREE_RANGE
                                              : MLPROTO_ERR_INVALID_ARGUMENT;
  uint8_t h[HB];
  memcpy(h, leaf_hash, HB);
  uint64_t s = c->size, index = c->size;
  unsigned level = 0, count = c->count;
  size_t k = 0;
  for (;;) {
    if (new_nodes) {
      new_nodes[k].level = level;
      new_nodes[k].index = index;
      memcpy(new_nodes[k].hash, h, HB);
    }
    k++;
    if (!(s & 1))
      break;
    /* Each trailing one bit of the old size is a left sibling completed now. */
    mlproto_merkle_node_hash(h, c->hashes[--count], h);
    s >>= 1;
    index >>= 1;
    level++;
  }
  memcpy(c->hashes[count++], h, HB);
  c->count = count;
  c->size++;
  if (n_new)
    *n_new = k;
  return MLPROTO_OK;
}

void mlproto_merkle_compact_root(const mlproto_merkle_compact *c, uint8_t out[32]) {
  if (c->count == 0) {
    mlproto_merkle_empty_root(out);
    return;
  }
  uint8_t acc[HB];
  memcpy(acc, c->hashes[c->count - 1], HB);
  for (unsigned i = c->count - 1; i-- > 0;)
    mlproto_merkle_node_hash(acc, c->hashes[i], acc);
  memcpy(out, acc, HB);
}

size_t mlproto_merkle_compact_encoded_len(const mlproto_merkle_compact *c) {
  return 8 + (size_t)c->count * HB;
}

int mlproto_merkle_compact_encode(const mlproto_merkle_compact *c, uint8_t *out, size_t cap,
                                  size_t *len) {
  size_t need = mlproto_merkle_compact_encoded_len(c);
  *len = 0;
  if (c->count != popcount64(c->size) || c->size > MLPROTO_MERKLE_MAX_SIZE)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (cap < need)
    return MLPROTO_ERR_BUFFER_TOO_SMALL;
  mlproto_put_u64be(out, c->size);
  if (c->count)
    memcpy(out + 8, c->hashes, (size_t)c->count * HB);
  *len = need;
  return MLPROTO_OK;
}

int mlproto_merkle_compact_decode(mlproto_merkle_compact *c, const uint8_t *in, size_t len) {
  if (len < 8 || len > MLPROTO_MERKLE_COMPACT_MAX_BYTES)
    return MLPROTO_ERR_FIELD_SIZE;
  uint64_t size = mlproto_get_u64be(in);
  if (size > MLPROTO_MERKLE_MAX_SIZE)
    return MLPROTO_ERR_TREE_RANGE;
  unsigned count = popcount64(size);
  if (len != 8 + (size_t)count * HB)
    return MLPROTO_ERR_FIELD_SIZE;
  mlproto_merkle_compact_init(c);
  c->size = size;
  c->count = count;
  if (count)
    memcpy(c->hashes, in + 8, (size_t)count * HB);
  return MLPROTO_OK;
}

int mlproto_merkle_compact_load(mlproto_merkle_compact *c, uint64_t size,
                                mlproto_merkle_node_fn get, void *ud) {
  if (size > MLPROTO_MERKLE_MAX_SIZE)
    return MLPROTO_ERR_TREE_RANGE;
  if (size && get == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  mlproto_merkle_compact t;
  mlproto_merkle_compact_init(&t);
  uint64_t pos = 0;
  for (unsigned b = 64; b-- > 0;) {
    if (!((size >> b) & 1))
      continue;
    int rc = read_node(get, ud, b, pos >> b, t.hashes[t.count]);
    if (rc != MLPROTO_OK)
      return rc;
    t.count++;
    pos += UINT64_C(1) << b;
  }
  t.size = size;
  *c = t;
  return MLPROTO_OK;
}
