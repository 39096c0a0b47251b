/* RFC 9162 vectors (merkle-rfc9162.json): every root, inclusion and
 * consistency row of the small and the "big" tree. Each proof is generated
 * from a node store and must equal the vector, must verify, and every
 * mutation of it must be refused with the specific error code. */
#include "testutil.h"

#include "mlproto/errors.h"
#include "mlproto/merkle.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t hash_t[32];

typedef struct fixture {
  tu_json *json;
  const tu_json *sect;    /* the section under test: the top level or "big" */
  mlproto_merkle_mem *mem; /* holds all the section's leaves */
  uint64_t n_leaves;
  hash_t *roots;          /* roots[size], from the "roots" rows + computed */
} fixture;

static void hex32(hash_t out, const tu_json *j) {
  assert_non_null(j);
  assert_int_equal(j->type, TU_JSTR);
  size_t len = 0;
  uint8_t *b = tu_unhex(j->str, &len);
  assert_non_null(b);
  assert_int_equal(len, 32);
  memcpy(out, b, 32);
  free(b);
}

static uint64_t num(const tu_json *obj, const char *key) {
  const tu_json *j = tu_json_get(obj, key);
  assert_non_null(j);
  assert_int_equal(j->type, TU_JNUM);
  assert_true(j->inum >= 0);
  return (uint64_t)j->inum;
}

static hash_t *proof_of(const tu_json *row, const char *key, size_t *len) {
  const tu_json *arr = tu_json_get(row, key);
  assert_non_null(arr);
  assert_int_equal(arr->type, TU_JARR);
  *len = arr->n;
  hash_t *p = calloc(arr->n + 2, sizeof *p); /* room for an added hash */
  assert_non_null(p);
  for (size_t i = 0; i < arr->n; i++)
    hex32(p[i], tu_json_at(arr, i));
  return p;
}

static int setup_common(void **state, int big) {
  assert_true(sodium_init() >= 0);
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  char *path = tu_path(TU_VECTORS_DIR, "merkle-rfc9162.json");
  f->json = tu_json_load(path);
  free(path);
  assert_non_null(f->json);
  f->sect = big ? tu_json_get(f->json, "big") : f->json;
  assert_non_null(f->sect);

  hash_t *leaves;
  if (big) {
    /* "leaf i is the 4-byte big-endian encoding of i, i = 0..999" */
    const tu_json *desc = tu_json_get(f->sect, "leaves");
    assert_non_null(desc);
    assert_non_null(strstr(desc->str, "4-byte big-endian"));
    f->n_leaves = 1000;
    leaves = calloc(f->n_leaves, sizeof *leaves);
    assert_non_null(leaves);
    for (uint32_t i = 0; i < 1000; i++) {
      uint8_t d[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
      mlproto_merkle_leaf_hash(leaves[i], d, 4);
    }
  } else {
    const tu_json *arr = tu_json_get(f->sect, "leaves_hex");
    assert_non_null(arr);
    f->n_leaves = arr->n;
    leaves = calloc(f->n_leaves, sizeof *leaves);
    assert_non_null(leaves);
    for (size_t i = 0; i < arr->n; i++) {
      size_t len = 0;
      uint8_t *d = tu_unhex(tu_json_at(arr, i)->str, &len);
      assert_non_null(d);
      mlproto_merkle_leaf_hash(leaves[i], d, len);
      free(d);
    }
  }
  assert_int_equal(mlproto_merkle_mem_new(&f->mem, f->n_leaves), MLPROTO_OK);
  for (uint64_t i = 0; i < f->n_leaves; i++)
    assert_int_equal(mlproto_merkle_mem_append(f->mem, leaves[i]), MLPROTO_OK);

  /* Roots of every prefix, from the leaves (checked against the vectors in
   * the roots test; the proof tests need roots of sizes the table omits). */
  f->roots = calloc(f->n_leaves + 1, sizeof *f->roots);
  assert_non_null(f->roots);
  for (uint64_t s = 0; s <= f->n_leaves; s++)
    assert_int_equal(mlproto_merkle_root(f->roots[s], (const uint8_t(*)[32])leaves, s),
                     MLPROTO_OK);
  free(leaves);
  *state = f;
  return 0;
}

static int setup_small(void **state) { return setup_common(state, 0); }
static int setup_big(void **state) { return setup_common(state, 1); }

static int teardown(void **state) {
  fixture *f = *state;
  mlproto_merkle_mem_free(f->mem);
  free(f->roots);
  tu_json_free(f->json);
  free(f);
  return 0;
}

static const tu_json *rows(const fixture *f, const char *key) {
  const tu_json *arr = tu_json_get(f->sect, key);
  assert_non_null(arr);
  assert_int_equal(arr->type, TU_JARR);
  assert_true(arr->n > 0);
  return arr;
}

static void roots_match(void **state) {
  fixture *f = *state;
  const tu_json *arr = rows(f, "roots");
  for (size_t i = 0; i < arr->n; i++) {
    const tu_json *row = tu_json_at(arr, i);
    uint64_t size = num(row, "size");
    hash_t want, got;
    hex32(want, tu_json_get(row, "root"));
    assert_true(size <= f->n_leaves);
    assert_memory_equal(f->roots[size], want, 32);
    assert_int_equal(mlproto_merkle_root_at(got, size, mlproto_merkle_mem_node, f->mem),
                     MLPROTO_OK);
    assert_memory_equal(got, want, 32);
  }
  hash_t top;
  mlproto_merkle_mem_root(f->mem, top);
  assert_memory_equal(top, f->roots[f->n_leaves], 32);
}

/* One row's question, inclusion or consistency: the proof for (a, b) (leaf
 * index and tree size, or the first and second sizes), checked with h1 and h2
 * (the leaf hash and the root, or the first and second roots). */
typedef struct question {
  int (*len)(size_t *len, uint64_t a, uint64_t b);
  int (*proof)(uint8_t (*proof)[32], size_t *len, size_t cap, uint64_t a, uint64_t b,
               mlproto_merkle_node_fn get, void *ud);
  int (*verify)(const struct question *q, const uint8_t (*proof)[32], size_t len);
  uint64_t a, b;
  const uint8_t *h1, *h2;
} question;

static int verify_incl(const question *q, const uint8_t (*proof)[32], size_t len) {
  return mlproto_merkle_verify_inclusion(q->h1, q->a, q->b, proof, len, q->h2);
}

static int verify_cons(const question *q, const uint8_t (*proof)[32], size_t len) {
  return mlproto_merkle_verify_consistency(q->a, q->b, q->h1, q->h2, proof, len);
}

/* The code a verifier must return for a proof of len hashes given for (a, b)
 * of q's kind: the length is fixed by (a, b). */
static int expected_code(const question *q, uint64_t a, uint64_t b, size_t len) {
  size_t need;
  if (q->len(&need, a, b) != MLPROTO_OK)
    return MLPROTO_ERR_TREE_RANGE;
  return need == len ? MLPROTO_ERR_PROOF_INVALID : MLPROTO_ERR_PROOF_LENGTH;
}

/* The proof generated from the store has the vector's length and hashes,
 * and the vector's proof verifies. */
static void proof_generated(const question *q, const fixture *f, const hash_t *want,
                            size_t len) {
  hash_t got[MLPROTO_MERKLE_MAX_PROOF];
  size_t n = 99, need = 99;
  assert_int_equal(q->len(&need, q->a, q->b), MLPROTO_OK);
  assert_int_equal(need, len);
  assert_int_equal(q->proof(got, &n, MLPROTO_MERKLE_MAX_PROOF, q->a, q->b,
                            mlproto_merkle_mem_node, f->mem),
                   MLPROTO_OK);
  assert_int_equal(n, len);
  if (len)
    assert_memory_equal(got, want, len * 32);
  assert_int_equal(q->verify(q, (const uint8_t(*)[32])want, len), MLPROTO_OK);
}

/* Every single bit of every hash matters; a hash dropped (each position: the
 * tail shifts down) or `extra` added is refused for its length. want has
 * room for len + 1 hashes; its first len come back unchanged. */
static void mutations_refused(const question *q, hash_t *want, size_t len,
                              const uint8_t extra[32]) {
  for (size_t i = 0; i < len; i++)
    for (unsigned bit = 0; bit < 256; bit++) {
      want[i][bit / 8] ^= (uint8_t)(1u << (bit % 8));
      assert_int_equal(q->verify(q, (const uint8_t(*)[32])want, len), MLPROTO_ERR_PROOF_INVALID);
      want[i][bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
  for (size_t i = 0; i < len; i++) {
    hash_t *cut = calloc(len, sizeof *cut);
    assert_non_null(cut);
    memcpy(cut, want, i * 32);
    memcpy(cut + i, want + i + 1, (len - i - 1) * 32);
    assert_int_equal(q->verify(q, (const uint8_t(*)[32])cut, len - 1), MLPROTO_ERR_PROOF_LENGTH);
    free(cut);
  }
  memcpy(want[len], extra, 32);
  assert_int_equal(q->verify(q, (const uint8_t(*)[32])want, len + 1), MLPROTO_ERR_PROOF_LENGTH);
}

static void inclusion_rows(void **state) {
  fixture *f = *state;
  const tu_json *arr = rows(f, "inclusion");
  for (size_t r = 0; r < arr->n; r++) {
    const tu_json *row = tu_json_at(arr, r);
    uint64_t index = num(row, "index"), size = num(row, "size");
    size_t len;
    hash_t *want = proof_of(row, "path", &len);
    hash_t leaf;
    assert_int_equal(mlproto_merkle_mem_node(f->mem, 0, index, leaf), MLPROTO_OK);
    const uint8_t *root = f->roots[size];
    const question q = {mlproto_merkle_inclusion_len, mlproto_merkle_inclusion_proof,
                        verify_incl, index, size, leaf, root};

    proof_generated(&q, f, want, len);
    mutations_refused(&q, want, len, leaf);
    /* Wrong leaf, wrong root. */
    hash_t bad;
    memcpy(bad, leaf, 32);
    bad[31] ^= 1;
    assert_int_equal(mlproto_merkle_verify_inclusion(bad, index, size,
                                                     (const uint8_t(*)[32])want, len, root),
                     MLPROTO_ERR_PROOF_INVALID);
    memcpy(bad, root, 32);
    bad[0] ^= 0x80;
    assert_int_equal(mlproto_merkle_verify_inclusion(leaf, index, size,
                                                     (const uint8_t(*)[32])want, len, bad),
                     MLPROTO_ERR_PROOF_INVALID);
    /* Wrong index: every other index of the tree. */
    for (uint64_t j = 0; j < size + 2; j++) {
      if (j == index)
        continue;
      assert_int_equal(mlproto_merkle_verify_inclusion(leaf, j, size,
                                                       (const uint8_t(*)[32])want, len, root),
                       expected_code(&q, j, size, len));
    }
    /* Wrong size: every other size of the tree, each with its own root.
     * (With the root of `size` claimed for another size, a proof of the same
     * shape does verify: a root means something only with its signed size.) */
    for (uint64_t s = 0; s <= f->n_leaves; s += (f->n_leaves > 64 ? 7 : 1)) {
      if (s == size)
        continue;
      assert_int_equal(mlproto_merkle_verify_inclusion(leaf, index, s,
                                                       (const uint8_t(*)[32])want, len,
                                                       f->roots[s]),
                       expected_code(&q, index, s, len));
    }
    assert_int_equal(mlproto_merkle_verify_inclusion(leaf, index, MLPROTO_MERKLE_MAX_SIZE + 1,
                                                     (const uint8_t(*)[32])want, len, root),
                     MLPROTO_ERR_TREE_RANGE);
    free(want);
  }
}

static void consistency_rows(void **state) {
  fixture *f = *state;
  const tu_json *arr = rows(f, "consistency");
  for (size_t r = 0; r < arr->n; r++) {
    const tu_json *row = tu_json_at(arr, r);
    uint64_t first = num(row, "first"), second = num(row, "second");
    size_t len;
    hash_t *want = proof_of(row, "proof", &len);
    const uint8_t *r1 = f->roots[first], *r2 = f->roots[second];
    hash_t got[MLPROTO_MERKLE_MAX_PROOF];
    const uint8_t(*p)[32] = (const uint8_t(*)[32])want;
    const question q = {mlproto_merkle_consistency_len, mlproto_merkle_consistency_proof,
                        verify_cons, first, second, r1, r2};

    proof_generated(&q, f, want, len);
    mutations_refused(&q, want, len, r1);
    /* Either root wrong. */
    hash_t bad;
    memcpy(bad, r1, 32);
    bad[5] ^= 4;
    assert_int_equal(mlproto_merkle_verify_consistency(first, second, bad, r2, p, len),
                     MLPROTO_ERR_PROOF_INVALID);
    memcpy(bad, r2, 32);
    bad[30] ^= 2;
    assert_int_equal(mlproto_merkle_verify_consistency(first, second, r1, bad, p, len),
                     MLPROTO_ERR_PROOF_INVALID);
    /* Sizes swapped, first 0, other sizes. */
    if (first != second)
      assert_int_equal(mlproto_merkle_verify_consistency(second, first, r2, r1, p, len),
                       MLPROTO_ERR_TREE_RANGE);
    assert_int_equal(mlproto_merkle_verify_consistency(0, second, f->roots[0], r2, p, len),
                     MLPROTO_ERR_TREE_RANGE);
    assert_int_equal(mlproto_merkle_verify_consistency(first, MLPROTO_MERKLE_MAX_SIZE + 1, r1,
                                                       r2, p, len),
                     MLPROTO_ERR_TREE_RANGE);
    uint64_t step = f->n_leaves > 64 ? 13 : 1;
    for (uint64_t a = 1; a <= f->n_leaves; a += step)
      for (uint64_t b = a; b <= f->n_leaves; b += step) {
        if (a == first && b == second)
          continue;
        int rc = mlproto_merkle_verify_consistency(a, b, f->roots[a], f->roots[b], p, len);
        /* Right length for another pair can only verify when the proof is
         * the same (e.g. both empty: a == b with equal roots). */
        if (rc == MLPROTO_OK) {
          size_t m;
          assert_int_equal(mlproto_merkle_consistency_proof(got, &m, MLPROTO_MERKLE_MAX_PROOF, a,
                                                            b, mlproto_merkle_mem_node, f->mem),
                           MLPROTO_OK);
          assert_int_equal(m, len);
          if (len)
            assert_memory_equal(got, want, len * 32);
        } else {
          assert_int_equal(rc, expected_code(&q, a, b, len));
        }
      }
    free(want);
  }
}

/* Generators refuse the questions the verifiers refuse, and short buffers. */
static void generator_ranges(void **state) {
  fixture *f = *state;
  hash_t out[MLPROTO_MERKLE_MAX_PROOF];
  size_t n = 7;
  uint64_t N = f->n_leaves;
  assert_int_equal(mlproto_merkle_inclusion_proof(out, &n, 64, N, N, mlproto_merkle_mem_node,
                                                  f->mem),
                   MLPROTO_ERR_TREE_RANGE);
  assert_int_equal(n, 0);
  assert_int_equal(mlproto_merkle_inclusion_proof(out, &n, 64, 0, 0, mlproto_merkle_mem_node,
                                                  f->mem),
                   MLPROTO_ERR_TREE_RANGE);
  assert_int_equal(mlproto_merkle_consistency_proof(out, &n, 64, 0, N, mlproto_merkle_mem_node,
                                                    f->mem),
                   MLPROTO_ERR_TREE_RANGE);
  assert_int_equal(mlproto_merkle_consistency_proof(out, &n, 64, N, N - 1,
                                                    mlproto_merkle_mem_node, f->mem),
                   MLPROTO_ERR_TREE_RANGE);
  size_t need;
  assert_int_equal(mlproto_merkle_inclusion_len(&need, 0, N), MLPROTO_OK);
  assert_true(need > 0);
  assert_int_equal(mlproto_merkle_inclusion_proof(out, &n, need - 1, 0, N,
                                                  mlproto_merkle_mem_node, f->mem),
                   MLPROTO_ERR_BUFFER_TOO_SMALL);
  assert_int_equal(mlproto_merkle_consistency_len(&need, 1, N), MLPROTO_OK);
  assert_int_equal(mlproto_merkle_consistency_proof(out, &n, need - 1, 1, N,
                                                    mlproto_merkle_mem_node, f->mem),
                   MLPROTO_ERR_BUFFER_TOO_SMALL);
  /* Nodes past the store's size are NOT_FOUND, and that error passes up. */
  assert_int_equal(mlproto_merkle_inclusion_proof(out, &n, 64, 0, N + 1,
                                                  mlproto_merkle_mem_node, f->mem),
                   MLPROTO_ERR_NOT_FOUND);
  hash_t root;
  assert_int_equal(mlproto_merkle_root_at(root, N + 1, mlproto_merkle_mem_node, f->mem),
                   MLPROTO_ERR_NOT_FOUND);
}

int main(void) {
  const struct CMUnitTest small[] = {
      cmocka_unit_test(roots_match),
      cmocka_unit_test(inclusion_rows),
      cmocka_unit_test(consistency_rows),
      cmocka_unit_test(generator_ranges),
  };
  int failed = cmocka_run_group_tests_name("merkle_vectors_small", small, setup_small, teardown);
  failed += cmocka_run_group_tests_name("merkle_vectors_big", small, setup_big, teardown);
  return failed;
}
