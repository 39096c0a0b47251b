/* The compact range and the node store against the RFC 9162 definitions
 * (MTH, PATH, PROOF written out recursively below, independent of the
 * library), read counts of proof generation, sizes up to 2^63 through a
 * virtual tree, serialisation, and allocation failure. */
#include "testutil.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t hash_t[32];

#define N_MAX 1100

static hash_t leaves[N_MAX];

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void) { /* xorshift64*: reproducible "random" data */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Du;
}

static int setup(void **state) {
  (void)state;
  assert_true(sodium_init() >= 0);
  for (size_t i = 0; i < N_MAX; i++) {
    uint8_t data[16];
    uint64_t a = rng(), b = rng();
    memcpy(data, &a, 8);
    memcpy(data + 8, &b, 8);
    mlproto_merkle_leaf_hash(leaves[i], data, 1 + (size_t)(a % 16));
  }
  return 0;
}

/* ---- RFC 9162 §2.1, literally ---- */
static uint64_t split(uint64_t n) { /* largest power of two < n (n >= 2) */
  uint64_t k = 1;
  while (k << 1 < n)
    k <<= 1;
  return k;
}

static void mth(hash_t out, const hash_t *d, uint64_t n) {
  if (n == 0) {
    crypto_hash_sha256(out, NULL, 0);
  } else if (n == 1) {
    memcpy(out, d[0], 32);
  } else {
    uint64_t k = split(n);
    uint8_t buf[65];
    buf[0] = 1;
    mth(buf + 1, d, k);
    mth(buf + 33, d + k, n - k);
    crypto_hash_sha256(out, buf, sizeof buf);
  }
}

static void rfc_path(hash_t *out, size_t *len, uint64_t m, const hash_t *d, uint64_t n) {
  if (n == 1)
    return;
  uint64_t k = split(n);
  if (m < k) {
    rfc_path(out, len, m, d, k);
    mth(out[(*len)++], d + k, n - k);
  } else {
    rfc_path(out, len, m - k, d + k, n - k);
    mth(out[(*len)++], d, k);
  }
}

static void rfc_subproof(hash_t *out, size_t *len, uint64_t m, const hash_t *d, uint64_t n,
                         int b) {
  if (m == n) {
    if (!b)
      mth(out[(*len)++], d, n);
    return;
  }
  uint64_t k = split(n);
  if (m <= k) {
    rfc_subproof(out, len, m, d, k, b);
    mth(out[(*len)++], d + k, n - k);
  } else {
    rfc_subproof(out, len, m - k, d + k, n - k, 0);
    mth(out[(*len)++], d, k);
  }
}

/* ---- a reader that counts, and checks it is only asked for complete
 * subtrees of the tree size under test ---- */
typedef struct counting {
  mlproto_merkle_mem *mem;
  uint64_t size;
  unsigned reads;
} counting;

static int counting_node(void *ud, unsigned level, uint64_t index, uint8_t out[32]) {
  counting *c = ud;
  assert_true(level < 64);
  assert_true(index < (c->size >> level)); /* the whole subtree lies in the tree */
  c->reads++;
  return mlproto_merkle_mem_node(c->mem, level, index, out);
}

static unsigned ceil_log2(uint64_t n) {
  unsigned l = 0;
  while (l < 64 && (UINT64_C(1) << l) < n)
    l++;
  return l;
}

/* Compact range vs MTH for every size 0..1100; every node an append
 * reports is the MTH of the leaves it covers; the store agrees. */
static void compact_matches_mth(void **state) {
  (void)state;
  mlproto_merkle_compact c = MLPROTO_MERKLE_COMPACT_INIT;
  mlproto_merkle_mem *mem;
  assert_int_equal(mlproto_merkle_mem_new(&mem, N_MAX), MLPROTO_OK);
  hash_t got, want;
  for (uint64_t n = 0; n <= N_MAX; n++) {
    mth(want, leaves, n);
    mlproto_merkle_compact_root(&c, got);
    assert_memory_equal(got, want, 32);
    mlproto_merkle_mem_root(mem, got);
    assert_memory_equal(got, want, 32);
    assert_int_equal(mlproto_merkle_root(got, (const uint8_t(*)[32])leaves, n), MLPROTO_OK);
    assert_memory_equal(got, want, 32);
    assert_int_equal(c.size, n);
    assert_int_equal(c.count, __builtin_popcountll(n));
    if (n == N_MAX)
      break;

    mlproto_merkle_node nodes[MLPROTO_MERKLE_MAX_NEW_NODES];
    size_t k = 0;
    assert_int_equal(mlproto_merkle_compact_append(&c, leaves[n], nodes, &k), MLPROTO_OK);
    assert_int_equal(k, 1 + __builtin_ctzll(~n)); /* the leaf + one per trailing 1 bit */
    for (size_t i = 0; i < k; i++) {
      assert_int_equal(nodes[i].level, i);
      assert_int_equal(nodes[i].index, n >> i);
      mth(want, leaves + (nodes[i].index << i), UINT64_C(1) << i);
      assert_memory_equal(nodes[i].hash, want, 32);
    }
    assert_int_equal(mlproto_merkle_mem_append(mem, leaves[n]), MLPROTO_OK);
    assert_int_equal(mlproto_merkle_mem_size(mem), n + 1);
  }
  /* Roots of every earlier size from the store, in popcount(n) reads. */
  counting cr = {mem, 0, 0};
  for (uint64_t n = 0; n <= N_MAX; n++) {
    cr.size = n;
    cr.reads = 0;
    mth(want, leaves, n);
    assert_int_equal(mlproto_merkle_root_at(got, n, counting_node, &cr), MLPROTO_OK);
    assert_memory_equal(got, want, 32);
    assert_int_equal(cr.reads, __builtin_popcountll(n));
  }
  assert_int_equal(mlproto_merkle_mem_append(mem, leaves[0]), MLPROTO_ERR_TOO_LARGE);
  mlproto_merkle_mem_free(mem);
}

static void check_pair(mlproto_merkle_mem *mem, uint64_t m, uint64_t n) {
  hash_t want[MLPROTO_MERKLE_MAX_PROOF], got[MLPROTO_MERKLE_MAX_PROOF], root, old_root;
  size_t wl = 0, gl = 0;
  counting cr = {mem, n, 0};
  mth(root, leaves, n);

  if (m < n) { /* inclusion of leaf m */
    rfc_path(want, &wl, m, leaves, n);
    assert_int_equal(mlproto_merkle_inclusion_proof(got, &gl, MLPROTO_MERKLE_MAX_PROOF, m, n,
                                                    counting_node, &cr),
                     MLPROTO_OK);
    assert_int_equal(gl, wl);
    if (wl)
      assert_memory_equal(got, want, wl * 32);
    /* Reads: the inner siblings (< ceil(log2 n)) plus one tiling of the
     * right-edge sibling (< ceil(log2 n) tiles) plus the border; inner +
     * border <= ceil(log2 n), and the tiling replaces one of them. */
    assert_true(cr.reads <= 2 * ceil_log2(n));
    assert_int_equal(mlproto_merkle_verify_inclusion(leaves[m], m, n,
                                                     (const uint8_t(*)[32])got, gl, root),
                     MLPROTO_OK);
  }
  if (m >= 1 && m <= n) { /* consistency from m to n */
    wl = 0;
    rfc_subproof(want, &wl, m, leaves, n, 1);
    cr.reads = 0;
    assert_int_equal(mlproto_merkle_consistency_proof(got, &gl, MLPROTO_MERKLE_MAX_PROOF, m, n,
                                                      counting_node, &cr),
                     MLPROTO_OK);
    assert_int_equal(gl, wl);
    if (wl)
      assert_memory_equal(got, want, wl * 32);
    /* One more than inclusion: the old tree's last subtree itself. */
    assert_true(cr.reads <= 2 * ceil_log2(n) + 1);
    mth(old_root, leaves, m);
    assert_int_equal(mlproto_merkle_verify_consistency(m, n, old_root, root,
                                                       (const uint8_t(*)[32])got, gl),
                     MLPROTO_OK);
  }
}

/* Store-backed proofs equal the RFC's recursive PATH / PROOF over the leaf
 * list: every pair up to 70 leaves, then random pairs up to 1100. */
static void store_proofs_match_rfc(void **state) {
  (void)state;
  mlproto_merkle_mem *mem;
  assert_int_equal(mlproto_merkle_mem_new(&mem, N_MAX), MLPROTO_OK);
  for (size_t i = 0; i < N_MAX; i++)
    assert_int_equal(mlproto_merkle_mem_append(mem, leaves[i]), MLPROTO_OK);
  for (uint64_t n = 1; n <= 70; n++)
    for (uint64_t m = 0; m <= n; m++)
      check_pair(mem, m, n);
  for (int t = 0; t < 400; t++) {
    uint64_t n = 1 + rng() % N_MAX;
    check_pair(mem, rng() % (n + 1), n);
  }
  static const uint64_t edges[][2] = {{1023, 1024}, {1024, 1025}, {511, 1100}, {1, 1100},
                                      {1099, 1100}, {1100, 1100}, {512, 1024}, {0, 1100}};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
    check_pair(mem, edges[i][0], edges[i][1]);
  mlproto_merkle_mem_free(mem);
}

/* Runs of consecutive leaves proven by two inclusion proofs: every run of
 * every tree up to 40 leaves, random runs up to 1100; a changed leaf
 * anywhere in the run, a changed proof hash, a shifted run, the wrong
 * lengths: refused. */
static void check_range(mlproto_merkle_mem *mem, uint64_t a, uint64_t n, uint64_t size) {
  hash_t root, pa[MLPROTO_MERKLE_MAX_PROOF], pb[MLPROTO_MERKLE_MAX_PROOF];
  size_t la, lb = 0;
  mth(root, leaves, size);
  assert_int_equal(mlproto_merkle_inclusion_proof(pa, &la, MLPROTO_MERKLE_MAX_PROOF, a, size,
                                                  mlproto_merkle_mem_node, mem), MLPROTO_OK);
  assert_int_equal(mlproto_merkle_inclusion_proof(pb, &lb, MLPROTO_MERKLE_MAX_PROOF, a + n - 1, size,
                                                  mlproto_merkle_mem_node, mem), MLPROTO_OK);
  const uint8_t(*A)[32] = (const uint8_t(*)[32])pa, (*B)[32] = (const uint8_t(*)[32])pb;
  const uint8_t(*L)[32] = (const uint8_t(*)[32])leaves[a];
  assert_int_equal(mlproto_merkle_verify_range(L, a, n, size, A, la, B, lb, root), MLPROTO_OK);
  /* a leaf inside the run changed: the root no longer matches */
  hash_t *mid = &leaves[a + (n - 1) / 2];
  (*mid)[5] ^= 0x40;
  assert_int_equal(mlproto_merkle_verify_range(L, a, n, size, A, la, B, lb, root), MLPROTO_ERR_PROOF_INVALID);
  (*mid)[5] ^= 0x40;
  /* every proof hash changed: refused unless the run is the whole tree
   * (then no sibling is needed; siblings that overlap the run are
   * recomputed from its leaves and never read) */
  for (size_t i = 0; i < la; i++) pa[i][0] ^= 1;
  for (size_t i = 0; i < lb; i++) pb[i][0] ^= 1;
  int whole = a == 0 && n == size;
  assert_int_equal(mlproto_merkle_verify_range(L, a, n, size, A, la, B, lb, root),
                   whole ? MLPROTO_OK : MLPROTO_ERR_PROOF_INVALID);
  for (size_t i = 0; i < la; i++) pa[i][0] ^= 1;
  for (size_t i = 0; i < lb; i++) pb[i][0] ^= 1;
  /* only the first's path changed: refused when the run has a left neighbour */
  if (a > 0 && la) {
    for (size_t i = 0; i < la; i++) pa[i][1] ^= 1;
    assert_int_equal(mlproto_merkle_verify_range(L, a, n, size, A, la, B, lb, root), MLPROTO_ERR_PROOF_INVALID);
    for (size_t i = 0; i < la; i++) pa[i][1] ^= 1;
  }
  if (a + n < size) /* the same leaves claimed one place further */
    assert_int_not_equal(mlproto_merkle_verify_range(L, a + 1, n, size, A, la, B, lb, root), MLPROTO_OK);
  assert_int_equal(mlproto_merkle_verify_range(L, a, n, size, A, la + 1, B, lb, root),
                   MLPROTO_ERR_PROOF_LENGTH);
}

static void range_proofs(void **state) {
  (void)state;
  mlproto_merkle_mem *mem;
  assert_int_equal(mlproto_merkle_mem_new(&mem, N_MAX), MLPROTO_OK);
  for (size_t i = 0; i < N_MAX; i++)
    assert_int_equal(mlproto_merkle_mem_append(mem, leaves[i]), MLPROTO_OK);
  for (uint64_t size = 1; size <= 40; size++)
    for (uint64_t a = 0; a < size; a++)
      for (uint64_t n = 1; a + n <= size; n++)
        check_range(mem, a, n, size);
  for (int t = 0; t < 300; t++) {
    uint64_t size = 1 + rng() % N_MAX, a = rng() % size, n = 1 + rng() % (size - a);
    check_range(mem, a, n, size);
  }
  hash_t root;
  mth(root, leaves, 10);
  assert_int_equal(mlproto_merkle_verify_range((const uint8_t(*)[32])leaves, 8, 3, 10, NULL, 0, NULL, 0, root),
                   MLPROTO_ERR_TREE_RANGE);
  assert_int_equal(mlproto_merkle_verify_range((const uint8_t(*)[32])leaves, 0, 0, 10, NULL, 0, NULL, 0, root),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  mlproto_merkle_mem_free(mem);
}

/* ---- a virtual tree of 2^63 identical leaves: the perfect subtree at level
 * l is z[l] = H(z[l-1], z[l-1]) wherever it is. Proofs of any size can be
 * generated and checked without storage. ---- */
static hash_t z[64];

static int virtual_node(void *ud, unsigned level, uint64_t index, uint8_t out[32]) {
  counting *c = ud;
  assert_true(level < 64);
  assert_true(index < (c->size >> level));
  c->reads++;
  memcpy(out, z[level], 32);
  return MLPROTO_OK;
}

static void huge_trees(void **state) {
  (void)state;
  mlproto_merkle_leaf_hash(z[0], (const uint8_t *)"x", 1);
  for (int l = 1; l < 64; l++)
    mlproto_merkle_node_hash(z[l], z[l - 1], z[l - 1]);
  const uint64_t MAX = MLPROTO_MERKLE_MAX_SIZE;
  static const uint64_t sizes[] = {MLPROTO_MERKLE_MAX_SIZE, MLPROTO_MERKLE_MAX_SIZE - 1,
                                   (UINT64_C(1) << 62) + 12345, UINT64_C(0x5555555555555555),
                                   UINT64_C(1000000007), 3};
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    uint64_t n = sizes[si];
    counting cr = {NULL, n, 0};
    hash_t root, old_root, proof[MLPROTO_MERKLE_MAX_PROOF];
    assert_int_equal(mlproto_merkle_root_at(root, n, virtual_node, &cr), MLPROTO_OK);
    assert_int_equal(cr.reads, __builtin_popcountll(n));
    uint64_t idx[] = {0, n / 3, n / 2, n - 2, n - 1};
    for (size_t i = 0; i < 5; i++) {
      size_t len;
      cr.reads = 0;
      assert_int_equal(mlproto_merkle_inclusion_proof(proof, &len, MLPROTO_MERKLE_MAX_PROOF,
                                                      idx[i], n, virtual_node, &cr),
                       MLPROTO_OK);
      assert_true(len <= 63);
      assert_true(cr.reads <= 2 * ceil_log2(n));
      assert_int_equal(mlproto_merkle_verify_inclusion(z[0], idx[i], n,
                                                       (const uint8_t(*)[32])proof, len, root),
                       MLPROTO_OK);
      proof[len / 2][0] ^= 1;
      assert_int_equal(mlproto_merkle_verify_inclusion(z[0], idx[i], n,
                                                       (const uint8_t(*)[32])proof, len, root),
                       len ? MLPROTO_ERR_PROOF_INVALID : MLPROTO_OK);

      uint64_t first = idx[i] ? idx[i] : 1;
      cr.reads = 0;
      cr.size = first;
      assert_int_equal(mlproto_merkle_root_at(old_root, first, virtual_node, &cr), MLPROTO_OK);
      cr.size = n;
      cr.reads = 0;
      assert_int_equal(mlproto_merkle_consistency_proof(proof, &len, MLPROTO_MERKLE_MAX_PROOF,
                                                        first, n, virtual_node, &cr),
                       MLPROTO_OK);
      assert_true(len <= MLPROTO_MERKLE_MAX_PROOF);
      assert_true(cr.reads <= 2 * ceil_log2(n) + 1);
      assert_int_equal(mlproto_merkle_verify_consistency(first, n, old_root, root,
                                                         (const uint8_t(*)[32])proof, len),
                       MLPROTO_OK);
    }
  }
  /* The longest consistency proof there is: 2^63-1 -> 2^63, 64 hashes. */
  size_t len;
  assert_int_equal(mlproto_merkle_consistency_len(&len, MAX - 1, MAX), MLPROTO_OK);
  assert_int_equal(len, 64);
  assert_int_equal(mlproto_merkle_inclusion_len(&len, 0, MAX), MLPROTO_OK);
  assert_int_equal(len, 63);
  /* Beyond the caps. */
  hash_t big[MLPROTO_MERKLE_MAX_PROOF + 1];
  memset(big, 0, sizeof big);
  assert_int_equal(mlproto_merkle_inclusion_len(&len, 0, MAX + 1), MLPROTO_ERR_TREE_RANGE);
  assert_int_equal(mlproto_merkle_consistency_len(&len, 1, MAX + 1), MLPROTO_ERR_TREE_RANGE);
  assert_int_equal(mlproto_merkle_consistency_len(&len, 0, 5), MLPROTO_ERR_TREE_RANGE);
  assert_int_equal(mlproto_merkle_verify_inclusion(z[0], 0, MAX, (const uint8_t(*)[32])big, 65,
                                                   z[0]),
                   MLPROTO_ERR_PROOF_LENGTH);
  assert_int_equal(mlproto_merkle_verify_consistency(MAX - 1, MAX, z[0], z[0],
                                                     (const uint8_t(*)[32])big, 65),
                   MLPROTO_ERR_PROOF_LENGTH);
  assert_int_equal(mlproto_merkle_verify_inclusion(z[0], UINT64_MAX - 1, UINT64_MAX,
                                                   (const uint8_t(*)[32])big, 3, z[0]),
                   MLPROTO_ERR_TREE_RANGE);
  mlproto_merkle_compact c = MLPROTO_MERKLE_COMPACT_INIT;
  c.size = MAX;
  c.count = 1;
  assert_int_equal(mlproto_merkle_compact_append(&c, z[0], NULL, NULL), MLPROTO_ERR_TREE_RANGE);
  assert_int_equal(c.size, MAX);
  /* The compact range of 2^63 - 1 leaves, appended once more, completes 64
   * nodes and becomes the single root z[63]. */
  c.size = MAX - 1;
  c.count = 63;
  for (int l = 0; l < 63; l++)
    memcpy(c.hashes[l], z[62 - l], 32);
  mlproto_merkle_node nodes[MLPROTO_MERKLE_MAX_NEW_NODES];
  size_t k;
  assert_int_equal(mlproto_merkle_compact_append(&c, z[0], nodes, &k), MLPROTO_OK);
  assert_int_equal(k, 64);
  assert_int_equal(nodes[63].level, 63);
  assert_int_equal(nodes[63].index, 0);
  assert_memory_equal(nodes[63].hash, z[63], 32);
  hash_t r;
  mlproto_merkle_compact_root(&c, r);
  assert_memory_equal(r, z[63], 32);
}

/* Serialise, restore, keep appending: the same roots as never stopping.
 * Rebuilding from the store gives the same state. */
static void compact_resume(void **state) {
  (void)state;
  mlproto_merkle_mem *mem;
  assert_int_equal(mlproto_merkle_mem_new(&mem, N_MAX), MLPROTO_OK);
  mlproto_merkle_compact c = MLPROTO_MERKLE_COMPACT_INIT;
  uint8_t buf[MLPROTO_MERKLE_COMPACT_MAX_BYTES], buf2[MLPROTO_MERKLE_COMPACT_MAX_BYTES];
  for (uint64_t n = 0; n < 300; n++) {
    size_t len;
    assert_int_equal(mlproto_merkle_compact_encode(&c, buf, sizeof buf, &len), MLPROTO_OK);
    assert_int_equal(len, 8 + 32 * __builtin_popcountll(n));
    assert_int_equal(len, mlproto_merkle_compact_encoded_len(&c));
    if (len > 8) {
      size_t l2;
      assert_int_equal(mlproto_merkle_compact_encode(&c, buf2, len - 1, &l2),
                       MLPROTO_ERR_BUFFER_TOO_SMALL);
    }
    mlproto_merkle_compact d;
    memset(&d, 0xAA, sizeof d);
    assert_int_equal(mlproto_merkle_compact_decode(&d, buf, len), MLPROTO_OK);
    assert_int_equal(d.size, n);
    /* Bad lengths leave d alone. */
    mlproto_merkle_compact keep = d;
    assert_int_equal(mlproto_merkle_compact_decode(&d, buf, len + 32), MLPROTO_ERR_FIELD_SIZE);
    assert_int_equal(mlproto_merkle_compact_decode(&d, buf, len - 1), MLPROTO_ERR_FIELD_SIZE);
    assert_memory_equal(&d, &keep, sizeof d);
    /* From the store. */
    mlproto_merkle_compact e;
    assert_int_equal(mlproto_merkle_compact_load(&e, n, mlproto_merkle_mem_node, mem),
                     MLPROTO_OK);
    size_t l3;
    assert_int_equal(mlproto_merkle_compact_encode(&e, buf2, sizeof buf2, &l3), MLPROTO_OK);
    assert_int_equal(l3, len);
    assert_memory_equal(buf2, buf, len);
    /* Continue from the decoded copy: same root at every later size. */
    hash_t r1, r2;
    for (uint64_t j = n; j < n + 5 && j < N_MAX; j++)
      assert_int_equal(mlproto_merkle_compact_append(&d, leaves[j], NULL, NULL), MLPROTO_OK);
    mlproto_merkle_compact_root(&d, r1);
    mth(r2, leaves, n + 5);
    assert_memory_equal(r1, r2, 32);

    assert_int_equal(mlproto_merkle_compact_append(&c, leaves[n], NULL, NULL), MLPROTO_OK);
    assert_int_equal(mlproto_merkle_mem_append(mem, leaves[n]), MLPROTO_OK);
  }
  /* A size above 2^63 and a truncated header. */
  uint8_t bad[8] = {0x80, 0, 0, 0, 0, 0, 0, 1};
  mlproto_merkle_compact d;
  assert_int_equal(mlproto_merkle_compact_decode(&d, bad, 8), MLPROTO_ERR_TREE_RANGE);
  assert_int_equal(mlproto_merkle_compact_decode(&d, bad, 7), MLPROTO_ERR_FIELD_SIZE);
  assert_int_equal(mlproto_merkle_compact_load(&d, 301, mlproto_merkle_mem_node, mem),
                   MLPROTO_ERR_NOT_FOUND);
  mlproto_merkle_mem_free(mem);
}

/* Reader failures pass through unchanged (positive returns become INTERNAL). */
static int failing_node(void *ud, unsigned level, uint64_t index, uint8_t out[32]) {
  (void)level;
  (void)index;
  memset(out, 0, 32);
  return *(int *)ud;
}

static void reader_errors(void **state) {
  (void)state;
  hash_t p[MLPROTO_MERKLE_MAX_PROOF], r;
  size_t len = 9;
  int code = MLPROTO_ERR_STORAGE;
  assert_int_equal(mlproto_merkle_inclusion_proof(p, &len, 64, 3, 10, failing_node, &code),
                   MLPROTO_ERR_STORAGE);
  assert_int_equal(len, 0);
  assert_int_equal(mlproto_merkle_consistency_proof(p, &len, 64, 3, 10, failing_node, &code),
                   MLPROTO_ERR_STORAGE);
  assert_int_equal(mlproto_merkle_root_at(r, 10, failing_node, &code), MLPROTO_ERR_STORAGE);
  code = 7;
  assert_int_equal(mlproto_merkle_root_at(r, 10, failing_node, &code), MLPROTO_ERR_INTERNAL);
  /* Nothing to read: no call. */
  code = MLPROTO_ERR_STORAGE;
  assert_int_equal(mlproto_merkle_root_at(r, 0, failing_node, &code), MLPROTO_OK);
  assert_int_equal(mlproto_merkle_consistency_proof(p, &len, 64, 10, 10, failing_node, &code),
                   MLPROTO_OK);
  assert_int_equal(len, 0);
  assert_int_equal(mlproto_merkle_inclusion_proof(p, &len, 64, 0, 1, failing_node, &code),
                   MLPROTO_OK);
  assert_int_equal(len, 0);
}

/* ---- allocation failure: fail the k-th allocation, for every k ---- */
static void mem_store_out_of_memory(void **state) {
  (void)state;
  mlproto_set_allocator(&tu_oom_allocator);
  int completed = 0;
  for (long k = 0; !completed; k++) {
    tu_oom_budget = k;
    mlproto_merkle_mem *mem = NULL;
    int rc = mlproto_merkle_mem_new(&mem, 600);
    if (rc != MLPROTO_OK) {
      assert_int_equal(rc, MLPROTO_ERR_OUT_OF_MEMORY);
      assert_null(mem);
      continue;
    }
    uint64_t n = 0;
    for (; n < 600; n++) {
      hash_t before, after;
      mlproto_merkle_mem_root(mem, before);
      rc = mlproto_merkle_mem_append(mem, leaves[n]);
      if (rc != MLPROTO_OK) {
        assert_int_equal(rc, MLPROTO_ERR_OUT_OF_MEMORY);
        mlproto_merkle_mem_root(mem, after);
        assert_memory_equal(before, after, 32);   /* unchanged */
        assert_int_equal(mlproto_merkle_mem_size(mem), n);
        break;
      }
    }
    /* Whatever was stored still proves correctly. */
    tu_oom_budget = -1;
    for (uint64_t i = 0; i < n; i += 37)
      check_pair(mem, i, n);
    completed = n == 600;
    mlproto_merkle_mem_free(mem);
  }
  mlproto_set_allocator(NULL);
  mlproto_merkle_mem *none = (mlproto_merkle_mem *)&none;
  assert_int_equal(mlproto_merkle_mem_new(&none, 0), MLPROTO_ERR_INVALID_ARGUMENT);
  assert_null(none);
  assert_int_equal(mlproto_merkle_mem_new(&none, MLPROTO_MERKLE_MAX_SIZE + 1),
                   MLPROTO_ERR_INVALID_ARGUMENT);
  mlproto_merkle_mem_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(compact_matches_mth),
      cmocka_unit_test(store_proofs_match_rfc),
      cmocka_unit_test(range_proofs),
      cmocka_unit_test(huge_trees),
      cmocka_unit_test(compact_resume),
      cmocka_unit_test(reader_errors),
      cmocka_unit_test(mem_store_out_of_memory),
  };
  return cmocka_run_group_tests_name("merkle_tree", tests, setup, NULL);
}
