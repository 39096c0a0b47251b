/*
 * mlproto/merkle.h — the Merkle log of Mentorlog: RFC 9162 hashing, proofs,
 * the compact ("incremental") tree, log entries and signed tree heads.
 *
 * Hashing (RFC 9162 §2.1.1), SHA-256 throughout:
 *   leaf hash  = SHA-256(0x00 || entry)
 *   node hash  = SHA-256(0x01 || left || right)
 *   MTH({})    = SHA-256("")          (the empty tree)
 *   MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of 2 < n.
 *
 * Storage model. The server keeps only *perfect* subtree hashes: the node at
 * (level L, index i) is the root of the complete subtree over leaves
 * [i*2^L, (i+1)*2^L); level 0 holds the leaf hashes. They are produced, in
 * order, by mlproto_merkle_compact_append() as leaves arrive and never change.
 * Everything else (the root of any tree size, inclusion and consistency
 * proofs) is computed from O(log n) of them through a reader callback
 * (mlproto_merkle_node_fn), so a proof costs O(log n) storage reads:
 *   root at size n            popcount(n) reads (<= 63)
 *   inclusion proof (m, n)    <= 2*ceil(log2 n) reads
 *   consistency proof (m, n)  <= 2*ceil(log2 n) + 1 reads
 *
 * Limits: tree sizes are at most MLPROTO_MERKLE_MAX_SIZE (2^63); a proof holds
 * at most MLPROTO_MERKLE_MAX_PROOF (64) hashes. Anything beyond is refused
 * before any work is done (MLPROTO_ERR_TREE_RANGE / MLPROTO_ERR_PROOF_LENGTH).
 *
 * Errors: every fallible function returns MLPROTO_OK (0) or a negative code of
 * mlproto/errors.h. Verifiers distinguish
 *   MLPROTO_ERR_TREE_RANGE     index >= size, first > second, first == 0, or a
 *                              size above 2^63 (the question is malformed);
 *   MLPROTO_ERR_PROOF_LENGTH   the proof has the wrong number of hashes for
 *                              the sizes given (or more than 64);
 *   MLPROTO_ERR_PROOF_INVALID  the right length, but the hashes do not lead to
 *                              the root(s) given;
 *   MLPROTO_ERR_STH_INVALID    a tree head signature does not verify;
 *   MLPROTO_ERR_SPLIT_VIEW     two tree heads of one size with different roots.
 * Verifiers check in this order: proof longer than 64 hashes (PROOF_LENGTH,
 * before anything else is looked at), sizes (TREE_RANGE), number of hashes
 * (PROOF_LENGTH), hashes (PROOF_INVALID).
 *
 * Purity and threads: no I/O, no clock, no global state. All functions are
 * reentrant; objects (compact range, memory store) are not locked: one writer
 * at a time, and readers of a memory store must not run during an append.
 * libsodium must be initialised (sodium_init()) before the STH functions run.
 */
#ifndef MLPROTO_MERKLE_H
#define MLPROTO_MERKLE_H

#include "mlproto/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MLPROTO_MERKLE_HASH_BYTES 32u
/* Hard cap on the number of hashes in any proof we generate or accept. */
#define MLPROTO_MERKLE_MAX_PROOF 64u
/* Largest tree size accepted anywhere (2^63 leaves). */
#define MLPROTO_MERKLE_MAX_SIZE (UINT64_C(1) << 63)

MLPROTO_EXTERN size_t mlproto_merkle_hash_bytes(void);   /* 32 */
MLPROTO_EXTERN size_t mlproto_merkle_max_proof(void);    /* 64 */

/* ------------------------------------------------------------- hashing --- */

/* out = SHA-256(0x00 || data[0..len)). data may be NULL when len == 0.
 * The caller caps len (this function allocates nothing). */
MLPROTO_EXTERN void mlproto_merkle_leaf_hash(uint8_t out[32], const uint8_t *data,
                                             size_t len);
/* out = SHA-256(0x01 || left || right). out may alias left or right. */
MLPROTO_EXTERN void mlproto_merkle_node_hash(uint8_t out[32], const uint8_t left[32],
                                             const uint8_t right[32]);
/* out = SHA-256(""), the root of the empty tree. */
MLPROTO_EXTERN void mlproto_merkle_empty_root(uint8_t out[32]);

/* MTH of n leaf hashes (leaves[0..n)), in O(n) time and O(log n) memory.
 * leaves may be NULL when n == 0. MLPROTO_ERR_TREE_RANGE when n > 2^63. */
MLPROTO_EXTERN int mlproto_merkle_root(uint8_t out[32], const uint8_t (*leaves)[32],
                                       uint64_t n);

/* -------------------------------------------------------- node storage --- */

/* Reader of perfect-subtree hashes: write into out the hash of the complete
 * subtree at (level, index), i.e. over leaves [index<<level, (index+1)<<level).
 * Level 0 is the leaf hashes. Return MLPROTO_OK, or a negative error code
 * that is passed through unchanged to the caller of the generating function
 * (e.g. MLPROTO_ERR_NOT_FOUND, MLPROTO_ERR_STORAGE); a positive return is
 * reported as MLPROTO_ERR_INTERNAL. The generators below only ever ask for
 * nodes that exist in a tree of the size they were given. */
typedef int (*mlproto_merkle_node_fn)(void *ud, unsigned level, uint64_t index,
                                      uint8_t out[32]);

/* Root of the tree of the first `size` leaves, folded from popcount(size)
 * perfect subtrees. size 0 gives SHA-256("") without a read.
 * MLPROTO_ERR_TREE_RANGE when size > 2^63; reader errors pass through. */
MLPROTO_EXTERN int mlproto_merkle_root_at(uint8_t out[32], uint64_t size,
                                          mlproto_merkle_node_fn get, void *ud)
    MLPROTO_WARN_UNUSED;

/* ---------------------------------------------------- inclusion proofs --- */

/* Number of hashes in the inclusion proof of leaf `index` in a tree of
 * `size` leaves (RFC 9162 §2.1.3.1). MLPROTO_ERR_TREE_RANGE unless
 * index < size <= 2^63. */
MLPROTO_EXTERN int mlproto_merkle_inclusion_len(size_t *len, uint64_t index,
                                                uint64_t size) MLPROTO_WARN_UNUSED;

/* PATH(index, D[size]) of RFC 9162 §2.1.3.1, leaf-side first, into
 * proof[0..*len). cap is the number of 32-byte slots in proof
 * (MLPROTO_MERKLE_MAX_PROOF always suffices; MLPROTO_ERR_BUFFER_TOO_SMALL
 * otherwise). Reads at most 2*ceil(log2 size) perfect subtrees.
 * MLPROTO_ERR_TREE_RANGE unless index < size <= 2^63; reader errors pass
 * through. On error *len is 0 and proof holds no meaningful data. */
MLPROTO_EXTERN int mlproto_merkle_inclusion_proof(uint8_t (*proof)[32], size_t *len,
                                                  size_t cap, uint64_t index,
                                                  uint64_t size,
                                                  mlproto_merkle_node_fn get, void *ud)
    MLPROTO_WARN_UNUSED;

/* RFC 9162 §2.1.3.2: does leaf_hash sit at `index` of the tree of `size`
 * leaves whose root is `root`? proof holds len hashes (leaf-side first).
 * MLPROTO_OK, or MLPROTO_ERR_TREE_RANGE / _PROOF_LENGTH / _PROOF_INVALID
 * (see the top of this file). Constant work for a given (index, size). */
MLPROTO_EXTERN int mlproto_merkle_verify_inclusion(const uint8_t leaf_hash[32],
                                                   uint64_t index, uint64_t size,
                                                   const uint8_t (*proof)[32],
                                                   size_t len, const uint8_t root[32])
    MLPROTO_WARN_UNUSED;

/* The root that proof implies for leaf_hash at index of size (the RFC 9162
 * §2.1.3.2 walk without the final comparison). Same range and length errors
 * as mlproto_merkle_verify_inclusion. */
MLPROTO_EXTERN int mlproto_merkle_root_from_inclusion(uint8_t root[32],
                                                      const uint8_t leaf_hash[32],
                                                      uint64_t index, uint64_t size,
                                                      const uint8_t (*proof)[32],
                                                      size_t len) MLPROTO_WARN_UNUSED;

/* A run of n consecutive leaves: do leaves[0..n) sit at indices first ..
 * first+n-1 of the tree of `size` leaves whose root is `root`? Proven by
 * the inclusion proofs of the first and of the last leaf of the run
 * (proof_last is ignored when n == 1) and the leaves themselves: every
 * leaf of the run is covered, not only the two ends. Work O(n + log size).
 * MLPROTO_OK, or INVALID_ARGUMENT (NULL, n == 0), TREE_RANGE (first + n >
 * size, size above 2^63), PROOF_LENGTH (a proof of the wrong length for
 * its leaf), PROOF_INVALID. A device proves a whole push batch (its records
 * take consecutive log indices) with two proofs this way. */
MLPROTO_EXTERN int mlproto_merkle_verify_range(const uint8_t (*leaves)[32], uint64_t first,
                                               uint64_t n, uint64_t size,
                                               const uint8_t (*proof_first)[32], size_t len_first,
                                               const uint8_t (*proof_last)[32], size_t len_last,
                                               const uint8_t root[32]) MLPROTO_WARN_UNUSED;

/* -------------------------------------------------- consistency proofs --- */

/* Number of hashes in the consistency proof from `first` to `second` leaves.
 * first == second gives 0. MLPROTO_ERR_TREE_RANGE unless
 * 0 < first <= second <= 2^63 (RFC 9162 §2.1.4 defines no proof from the
 * empty tree: every tree extends it, so there is nothing to prove). */
MLPROTO_EXTERN int mlproto_merkle_consistency_len(size_t *len, uint64_t first,
                                                  uint64_t second) MLPROTO_WARN_UNUSED;

/* PROOF(first, D[second]) of RFC 9162 §2.1.4.1 into proof[0..*len); empty
 * when first == second. cap, errors and reader use as for
 * mlproto_merkle_inclusion_proof; at most 2*ceil(log2 second)+1 reads. */
MLPROTO_EXTERN int mlproto_merkle_consistency_proof(uint8_t (*proof)[32], size_t *len,
                                                    size_t cap, uint64_t first,
                                                    uint64_t second,
                                                    mlproto_merkle_node_fn get, void *ud)
    MLPROTO_WARN_UNUSED;

/* RFC 9162 §2.1.4.2: is the tree of `second` leaves with root second_root an
 * extension of the tree of `first` leaves with root first_root?
 * first == second: the proof must be empty and the roots equal (else
 * PROOF_LENGTH / PROOF_INVALID). first == 0 or first > second or a size above
 * 2^63: MLPROTO_ERR_TREE_RANGE. Wrong number of hashes: _PROOF_LENGTH; hashes
 * that do not reproduce both roots: _PROOF_INVALID. */
MLPROTO_EXTERN int mlproto_merkle_verify_consistency(uint64_t first, uint64_t second,
                                                     const uint8_t first_root[32],
                                                     const uint8_t second_root[32],
                                                     const uint8_t (*proof)[32],
                                                     size_t len) MLPROTO_WARN_UNUSED;

/* ------------------------------------------------------- compact range --- */

/* The right edge of a tree: the perfect subtrees that make up its first
 * `size` leaves, largest (leftmost) first; there are popcount(size) of them.
 * O(log n) memory (2 KiB), plain data: copy it, keep it on the stack.
 * Initialise with mlproto_merkle_compact_init or MLPROTO_MERKLE_COMPACT_INIT,
 * or restore it with _decode / _load. */
typedef struct mlproto_merkle_compact {
  uint64_t size;
  unsigned count; /* == popcount(size) */
  uint8_t hashes[64][32];
} mlproto_merkle_compact;

#define MLPROTO_MERKLE_COMPACT_INIT {0, 0, {{0}}}

/* A perfect subtree that an append has completed: persist (level, index) ->
 * hash so that later proofs can read it. */
typedef struct mlproto_merkle_node {
  unsigned level;
  uint64_t index;
  uint8_t hash[32];
} mlproto_merkle_node;

/* Most nodes one append can complete (the leaf plus one per level). */
#define MLPROTO_MERKLE_MAX_NEW_NODES 64u

MLPROTO_EXTERN void mlproto_merkle_compact_init(mlproto_merkle_compact *c);

/* Append one leaf hash. When new_nodes is not NULL it receives, in order from
 * level 0 upward, every perfect subtree this append completed (the leaf
 * itself at level 0, index size-1, then each parent finished by it) and
 * *n_new their number (1 + the number of trailing one bits of the old size);
 * it must have room for MLPROTO_MERKLE_MAX_NEW_NODES entries. n_new may be
 * NULL only if new_nodes is. MLPROTO_ERR_TREE_RANGE when the tree already has
 * 2^63 leaves (c is then unchanged). O(log n) time. */
MLPROTO_EXTERN int mlproto_merkle_compact_append(mlproto_merkle_compact *c,
                                                 const uint8_t leaf_hash[32],
                                                 mlproto_merkle_node *new_nodes,
                                                 size_t *n_new) MLPROTO_WARN_UNUSED;

/* MTH of the leaves appended so far (SHA-256("") when none). */
MLPROTO_EXTERN void mlproto_merkle_compact_root(const mlproto_merkle_compact *c,
                                                uint8_t out[32]);

/* Serialised form: u64be size || popcount(size) hashes, largest subtree
 * first; exactly 8 + 32*popcount(size) bytes, at most
 * MLPROTO_MERKLE_COMPACT_MAX_BYTES (2056). */
#define MLPROTO_MERKLE_COMPACT_MAX_BYTES (8u + 64u * 32u)
MLPROTO_EXTERN size_t mlproto_merkle_compact_encoded_len(const mlproto_merkle_compact *c);
/* Write the encoding into out (cap bytes), its length into *len.
 * MLPROTO_ERR_BUFFER_TOO_SMALL when cap is short. */
MLPROTO_EXTERN int mlproto_merkle_compact_encode(const mlproto_merkle_compact *c,
                                                 uint8_t *out, size_t cap, size_t *len)
    MLPROTO_WARN_UNUSED;
/* Restore from an encoding of exactly len bytes. MLPROTO_ERR_TREE_RANGE when
 * the size exceeds 2^63, MLPROTO_ERR_FIELD_SIZE when len does not match the
 * size (or exceeds the maximum). c is untouched on error. The hashes are
 * taken on trust: decode only what this process (or the storage it owns)
 * encoded, or check the root against a signed tree head. */
MLPROTO_EXTERN int mlproto_merkle_compact_decode(mlproto_merkle_compact *c,
                                                 const uint8_t *in, size_t len)
    MLPROTO_WARN_UNUSED;
/* Rebuild the compact range of the first `size` leaves from a node store
 * (popcount(size) reads): what a server does after a restart when it keeps
 * nodes but not the serialised range. c is untouched on error. */
MLPROTO_EXTERN int mlproto_merkle_compact_load(mlproto_merkle_compact *c, uint64_t size,
                                               mlproto_merkle_node_fn get, void *ud)
    MLPROTO_WARN_UNUSED;

/* -------------------------------------------------- memory node store --- */

/* An in-memory log of leaf hashes holding every perfect subtree (about two
 * hashes per leaf), for the client, tools and tests. Opaque; not locked. */
typedef struct mlproto_merkle_mem mlproto_merkle_mem;

/* New empty store that accepts at most max_leaves leaves (1..2^63). On
 * failure *out is NULL: MLPROTO_ERR_INVALID_ARGUMENT, _OUT_OF_MEMORY. */
MLPROTO_EXTERN int mlproto_merkle_mem_new(mlproto_merkle_mem **out, uint64_t max_leaves)
    MLPROTO_WARN_UNUSED;
/* Frees the store; NULL does nothing. */
MLPROTO_EXTERN void mlproto_merkle_mem_free(mlproto_merkle_mem *m);
/* Append a leaf hash. MLPROTO_ERR_TOO_LARGE at max_leaves,
 * MLPROTO_ERR_OUT_OF_MEMORY (the store is then unchanged). */
MLPROTO_EXTERN int mlproto_merkle_mem_append(mlproto_merkle_mem *m,
                                             const uint8_t leaf_hash[32])
    MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN uint64_t mlproto_merkle_mem_size(const mlproto_merkle_mem *m);
/* Current root (no reads: from the store's compact range). */
MLPROTO_EXTERN void mlproto_merkle_mem_root(const mlproto_merkle_mem *m, uint8_t out[32]);
/* The reader for the generators above; pass the store as ud. Returns
 * MLPROTO_ERR_NOT_FOUND for a node not (yet) complete. */
MLPROTO_EXTERN int mlproto_merkle_mem_node(void *ud, unsigned level, uint64_t index,
                                           uint8_t out[32]);

/* ---------------------------------------------------------- log entries --- */

/* What a leaf of the transparency log stands for (DESIGN §3). */
typedef enum mlproto_log_entry_type {
  MLPROTO_LOG_DEVICE_RECORD = 1, /* an envelope pushed by a device */
  MLPROTO_LOG_SERVER_EVENT = 2   /* an envelope signed by the server */
} mlproto_log_entry_type;

typedef struct mlproto_log_entry {
  mlproto_log_entry_type type;
  uint64_t received_at_ms;   /* server receipt time, Unix ms */
  uint8_t record_hash[32];   /* SHA-256(header || signature) */
} mlproto_log_entry;

/* entry bytes = u8 type || u64be received_at_ms || record_hash */
#define MLPROTO_LOG_ENTRY_BYTES 41u

/* Encode e. MLPROTO_ERR_FIELD_RANGE for an unknown type. */
MLPROTO_EXTERN int mlproto_log_entry_encode(uint8_t out[MLPROTO_LOG_ENTRY_BYTES],
                                            const mlproto_log_entry *e)
    MLPROTO_WARN_UNUSED;
/* Decode exactly len bytes. MLPROTO_ERR_FIELD_SIZE unless len == 41,
 * MLPROTO_ERR_FIELD_RANGE for an unknown type. e is untouched on error. */
MLPROTO_EXTERN int mlproto_log_entry_decode(mlproto_log_entry *e, const uint8_t *in,
                                            size_t len) MLPROTO_WARN_UNUSED;
/* out = SHA-256(0x00 || encoding of e). MLPROTO_ERR_FIELD_RANGE as encode. */
MLPROTO_EXTERN int mlproto_log_entry_leaf_hash(uint8_t out[32], const mlproto_log_entry *e)
    MLPROTO_WARN_UNUSED;

/* ----------------------------------------------------- signed tree heads --- */

/* The log publishes its tree heads as C2SP checkpoints (mlproto/checkpoint.h);
 * this binary form is what the protobuf SignedTreeHead of enrolment, push and
 * pull answers still carries (same size and root as the checkpoint). */

/* A signed tree head. Plain data; the protobuf form lives in the schema. */
typedef struct mlproto_sth {
  uint64_t size;          /* number of leaves, <= 2^63 */
  uint8_t root[32];       /* MTH of those leaves */
  uint64_t timestamp_ms;  /* server time of signing, Unix ms */
  uint8_t signature[64];  /* Ed25519 over mlproto_sth_signed_bytes() */
} mlproto_sth;

/* The signed message: "mentorlog/sth/v1\0" (17 bytes, domain tag incl. NUL)
 * || u64be size || root || u64be timestamp_ms: 65 bytes. */
#define MLPROTO_STH_DOMAIN "mentorlog/sth/v1"
#define MLPROTO_STH_SIGNED_BYTES 65u
MLPROTO_EXTERN void mlproto_sth_signed_bytes(uint8_t out[MLPROTO_STH_SIGNED_BYTES],
                                             const mlproto_sth *sth);

/* Fill sth->signature with the server's Ed25519 signature. sk is a libsodium
 * secret key (crypto_sign_SECRETKEYBYTES = 64; keep it in sodium_malloc'd
 * memory). MLPROTO_ERR_TREE_RANGE when size > 2^63; MLPROTO_ERR_INTERNAL if
 * libsodium fails. */
MLPROTO_EXTERN int mlproto_sth_sign(mlproto_sth *sth, const uint8_t sk[64])
    MLPROTO_WARN_UNUSED;
/* MLPROTO_OK when the signature verifies under pk (32 bytes), the size is at
 * most 2^63 and, for size 0, the root is SHA-256(""); else
 * MLPROTO_ERR_STH_INVALID. */
MLPROTO_EXTERN int mlproto_sth_verify(const mlproto_sth *sth, const uint8_t pk[32])
    MLPROTO_WARN_UNUSED;

/* Fixed binary form: u64be size || root || u64be timestamp_ms || signature
 * = 112 bytes (for storage and file formats; the wire uses protobuf). */
#define MLPROTO_STH_ENCODED_BYTES 112u
MLPROTO_EXTERN void mlproto_sth_encode(uint8_t out[MLPROTO_STH_ENCODED_BYTES],
                                       const mlproto_sth *sth);
/* MLPROTO_ERR_FIELD_SIZE unless len == 112; MLPROTO_ERR_TREE_RANGE when the
 * size exceeds 2^63. Does not verify the signature. */
MLPROTO_EXTERN int mlproto_sth_decode(mlproto_sth *sth, const uint8_t *in, size_t len)
    MLPROTO_WARN_UNUSED;

/* Split-view check between two tree heads (already verified by the caller:
 * only two *signed* heads prove misconduct): MLPROTO_ERR_SPLIT_VIEW when the
 * sizes are equal and the roots differ, else MLPROTO_OK. */
MLPROTO_EXTERN int mlproto_sth_check_split_view(const mlproto_sth *a, const mlproto_sth *b)
    MLPROTO_WARN_UNUSED;

/* What a client does with the next tree head: is `newer` an extension of
 * `older` (both already verified)? Equal sizes: the split-view check (proof
 * must be empty). older->size == 0: OK with an empty proof. Otherwise
 * mlproto_merkle_verify_consistency(older->size, newer->size, ...): so
 * MLPROTO_ERR_TREE_RANGE when newer is smaller (a log never shrinks). */
MLPROTO_EXTERN int mlproto_sth_check_consistency(const mlproto_sth *older,
                                                 const mlproto_sth *newer,
                                                 const uint8_t (*proof)[32], size_t len)
    MLPROTO_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
