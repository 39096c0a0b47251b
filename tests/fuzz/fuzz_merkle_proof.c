/* libFuzzer target: RFC 9162 proof verification on hostile input.
 * ML_FUZZ_MAX_LEN: 4096
 *
 * Input: byte 0 selects the mode.
 *   even: "raw"  — u64be a || u64be b || 32-byte h1 || 32-byte h2 || hashes...
 *         Inclusion of leaf h1 at index a in a tree of size b with root h2, and
 *         consistency a -> b with roots h1, h2, each with all remaining
 *         hashes as the proof (so lengths up to ~127, beyond the 64 cap).
 *         Must not crash; a result must be one of the documented codes.
 *   odd:  "tree" — u16be n || u64be a || u64be b || hashes...
 *         A real tree of 1 + n % 512 leaves is built; a and b choose an
 *         (index, size) and a (first, second) inside it. The given hashes are
 *         checked as proofs against the true roots. Any proof the verifier
 *         accepts must be byte-identical to the generated one, and the
 *         generated ones must verify.
 */
#include "mlproto/errors.h"
#include "mlproto/merkle.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

static int known_code(int rc) {
  return rc == MLPROTO_OK || rc == MLPROTO_ERR_PROOF_INVALID ||
         rc == MLPROTO_ERR_PROOF_LENGTH || rc == MLPROTO_ERR_TREE_RANGE;
}

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c))                                                                                      \
      abort();                                                                                     \
  } while (0)

static void raw_mode(const uint8_t *d, size_t n) {
  if (n < 80)
    return;
  uint64_t a = get_u64(d), b = get_u64(d + 8);
  const uint8_t *h1 = d + 16, *h2 = d + 48;
  size_t len = (n - 80) / 32;
  /* Copy the proof so that a read past its end is an ASan error. */
  uint8_t(*proof)[32] = malloc(len ? len * 32 : 1);
  CHECK(proof != NULL);
  memcpy(proof, d + 80, len * 32);
  const uint8_t(*p)[32] = (const uint8_t(*)[32])proof;

  int rc = mlproto_merkle_verify_inclusion(h1, a, b, p, len, h2);
  CHECK(known_code(rc));
  size_t need;
  if (mlproto_merkle_inclusion_len(&need, a, b) != MLPROTO_OK)
    CHECK(rc == MLPROTO_ERR_TREE_RANGE || rc == MLPROTO_ERR_PROOF_LENGTH);
  else if (need != len)
    CHECK(rc == MLPROTO_ERR_PROOF_LENGTH);

  rc = mlproto_merkle_verify_consistency(a, b, h1, h2, p, len);
  CHECK(known_code(rc));
  if (mlproto_merkle_consistency_len(&need, a, b) != MLPROTO_OK)
    CHECK(rc == MLPROTO_ERR_TREE_RANGE || rc == MLPROTO_ERR_PROOF_LENGTH);
  else if (need != len)
    CHECK(rc == MLPROTO_ERR_PROOF_LENGTH);
  free(proof);
}

static void tree_mode(const uint8_t *d, size_t n) {
  if (n < 18)
    return;
  uint64_t leaves = 1 + ((uint64_t)d[0] << 8 | d[1]) % 512;
  uint64_t a = get_u64(d + 2), b = get_u64(d + 10);
  size_t len = (n - 18) / 32;
  const uint8_t(*given)[32] = (const uint8_t(*)[32])(d + 18);

  mlproto_merkle_mem *mem;
  CHECK(mlproto_merkle_mem_new(&mem, leaves) == MLPROTO_OK);
  for (uint64_t i = 0; i < leaves; i++) {
    uint8_t leaf[32], buf[9];
    for (int k = 0; k < 8; k++)
      buf[k] = (uint8_t)(i >> (56 - 8 * k));
    buf[8] = d[2]; /* a little input-dependence in the leaves */
    mlproto_merkle_leaf_hash(leaf, buf, sizeof buf);
    CHECK(mlproto_merkle_mem_append(mem, leaf) == MLPROTO_OK);
  }

  uint64_t size = 1 + b % leaves, index = a % size;
  uint8_t root[32], leaf[32], gen[MLPROTO_MERKLE_MAX_PROOF][32];
  size_t glen;
  CHECK(mlproto_merkle_root_at(root, size, mlproto_merkle_mem_node, mem) == MLPROTO_OK);
  CHECK(mlproto_merkle_mem_node(mem, 0, index, leaf) == MLPROTO_OK);
  CHECK(mlproto_merkle_inclusion_proof(gen, &glen, MLPROTO_MERKLE_MAX_PROOF, index, size,
                                       mlproto_merkle_mem_node, mem) == MLPROTO_OK);
  CHECK(mlproto_merkle_verify_inclusion(leaf, index, size, (const uint8_t(*)[32])gen, glen,
                                        root) == MLPROTO_OK);
  int rc = mlproto_merkle_verify_inclusion(leaf, index, size, given, len, root);
  CHECK(known_code(rc) && rc != MLPROTO_ERR_TREE_RANGE);
  if (rc == MLPROTO_OK)
    CHECK(len == glen && memcmp(given, gen, len * 32) == 0);

  uint64_t first = a % (size + 1); /* 0 included: must be TREE_RANGE */
  uint8_t old_root[32];
  CHECK(mlproto_merkle_root_at(old_root, first, mlproto_merkle_mem_node, mem) == MLPROTO_OK);
  rc = mlproto_merkle_verify_consistency(first, size, old_root, root, given, len);
  CHECK(known_code(rc));
  if (first == 0) { /* an over-long proof is refused before the sizes are looked at */
    CHECK(rc == MLPROTO_ERR_TREE_RANGE ||
          (len > MLPROTO_MERKLE_MAX_PROOF && rc == MLPROTO_ERR_PROOF_LENGTH));
  } else {
    CHECK(rc != MLPROTO_ERR_TREE_RANGE);
    CHECK(mlproto_merkle_consistency_proof(gen, &glen, MLPROTO_MERKLE_MAX_PROOF, first, size,
                                           mlproto_merkle_mem_node, mem) == MLPROTO_OK);
    CHECK(mlproto_merkle_verify_consistency(first, size, old_root, root,
                                            (const uint8_t(*)[32])gen, glen) == MLPROTO_OK);
    if (rc == MLPROTO_OK)
      CHECK(len == glen && memcmp(given, gen, len * 32) == 0);
  }
  mlproto_merkle_mem_free(mem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) {
    CHECK(sodium_init() >= 0);
    init = 1;
  }
  if (size < 1)
    return 0;
  if (data[0] & 1)
    tree_mode(data + 1, size - 1);
  else
    raw_mode(data + 1, size - 1);
  return 0;
}
