/* C2SP checkpoints (mlproto/checkpoint.h): the signed-note vectors of Go's
 * golang.org/x/mod/sumdb/note (its documentation's PeterNeumann key and
 * signature), checkpoint notes signed by that Go package (tests/merkle/
 * interop/note_go.go, seeds 0x07.. and 0x08..), strict parsing against
 * malformed notes, verifier keys, consistency and split view. */
#include "testutil.h"

#include "mlproto/checkpoint.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORIGIN "mentorlog.example/log"
#define ROOT0_31 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define LOG_LINE                                                                                   \
  "\xe2\x80\x94 mentorlog.example/log KHjfdyhsibFa4oBt645enCs/xnusAVhfaf2Z+AAp8R+o0anOuIwCzDuZ0cy" \
  "cr/vFaUi01YZtN6B2PSstOj1oag7/xwc=\n"
#define WITNESS_LINE                                                                               \
  "\xe2\x80\x94 witness.example/w1 Xut3GqC2YI5L2a5iXLSHRH8rQnjXcmc4umZ/zyTo729C0X7gd0IFpXAoAWHf7EZ" \
  "q1PDljjB/KWpgQtFwOqQ/n16f8Ag=\n"
/* Signed by Go's note.Sign with the key of seed 07 07 .. 07. */
static const char GO_NOTE[] = ORIGIN "\n5\n" ROOT0_31 "\n\n" LOG_LINE;
static const char GO_NOTE_WITNESSED[] = ORIGIN "\n5\n" ROOT0_31 "\n\n" LOG_LINE WITNESS_LINE;
static const char GO_NOTE_EMPTY[] =
    ORIGIN "\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n"
           "\xe2\x80\x94 mentorlog.example/log KHjfd3LtKHjVWk9EPV4MLfV0aV/8gLjRRu5Fcb5rzrsyQvZFlKlI"
           "Y81xbsK2Llmvx2DST1s0SoUSICI0Zio63FlrswU=\n";
static const char GO_VKEY[] = ORIGIN "+2878df77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
static const char GO_WITNESS_VKEY[] = "witness.example/w1+5eeb771a+AROY9ixtGkV8UbpqS189vS9p/KkyFiGNyJl+QWvRfZPK";

typedef struct keys {
  uint8_t pk[32];
  uint8_t *sk; /* sodium_malloc'd */
  mlproto_note_verifier v;
} keys;

static int setup(void **state) {
  assert_true(sodium_init() >= 0);
  keys *k = calloc(1, sizeof *k);
  assert_non_null(k);
  k->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
  assert_non_null(k->sk);
  uint8_t seed[32];
  memset(seed, 7, sizeof seed);
  assert_int_equal(crypto_sign_seed_keypair(k->pk, k->sk, seed), 0);
  assert_int_equal(mlproto_note_verifier_init(&k->v, ORIGIN, k->pk), MLPROTO_OK);
  *state = k;
  return 0;
}

static int teardown(void **state) {
  keys *k = *state;
  sodium_free(k->sk);
  free(k);
  return 0;
}

static mlproto_checkpoint cp_of(const char *origin, uint64_t size) {
  mlproto_checkpoint cp;
  memset(&cp, 0, sizeof cp);
  snprintf(cp.origin, sizeof cp.origin, "%s", origin);
  cp.size = size;
  for (int i = 0; i < 32; i++)
    cp.root[i] = (uint8_t)i;
  return cp;
}

static int open_str(mlproto_checkpoint *cp, const char *note, const mlproto_note_verifier *v) {
  return mlproto_checkpoint_open(cp, (const uint8_t *)note, strlen(note), v);
}

/* --- the sumdb/note documentation's own example ------------------------- */

static void go_doc_vector(void **state) {
  (void)state;
  const char *vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
  /* skey "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz" */
  const char *seed_b64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
  const char *text = "If you think cryptography is the answer to your problem,\n"
                     "then you don't know what your problem is.\n";
  const char *sig = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";
  mlproto_note_verifier v;
  assert_int_equal(mlproto_note_vkey_parse(&v, vkey, strlen(vkey)), MLPROTO_OK);
  assert_string_equal(v.name, "PeterNeumann");
  const uint8_t id[4] = {0xc7, 0x4f, 0x20, 0xa3};
  assert_memory_equal(v.key_id, id, 4);
  char out[MLPROTO_NOTE_VKEY_MAX];
  size_t len;
  assert_int_equal(mlproto_note_vkey_format(out, sizeof out, &len, "PeterNeumann", v.pk), MLPROTO_OK);
  assert_string_equal(out, vkey);
  assert_int_equal(len, strlen(vkey));
  /* The key ID and signature convention: base64(keyid || Ed25519(text)). */
  uint8_t raw[33], pk[32], sk[64], line[68];
  size_t n;
  assert_int_equal(sodium_base642bin(raw, sizeof raw, seed_b64, strlen(seed_b64), NULL, &n, NULL,
                                     sodium_base64_VARIANT_ORIGINAL), 0);
  assert_int_equal(n, 33);
  assert_int_equal(raw[0], 1);
  assert_int_equal(crypto_sign_seed_keypair(pk, sk, raw + 1), 0);
  assert_memory_equal(pk, v.pk, 32);
  assert_int_equal(mlproto_note_key_id(line, "PeterNeumann", pk), MLPROTO_OK);
  assert_int_equal(crypto_sign_detached(line + 4, NULL, (const uint8_t *)text, strlen(text), sk), 0);
  char b64[100];
  sodium_bin2base64(b64, sizeof b64, line, sizeof line, sodium_base64_VARIANT_ORIGINAL);
  assert_string_equal(b64, sig);
  sodium_memzero(sk, sizeof sk);
}

/* --- notes signed by Go ------------------------------------------------- */

static void sign_matches_go(void **state) {
  keys *k = *state;
  mlproto_checkpoint cp = cp_of(ORIGIN, 5);
  char note[MLPROTO_CHECKPOINT_SIGNED_MAX];
  size_t len = 0;
  assert_int_equal(mlproto_checkpoint_sign(note, sizeof note, &len, &cp, k->sk), MLPROTO_OK);
  assert_string_equal(note, GO_NOTE);
  assert_int_equal(len, strlen(GO_NOTE));
  char vkey[MLPROTO_NOTE_VKEY_MAX];
  assert_int_equal(mlproto_note_vkey_format(vkey, sizeof vkey, NULL, ORIGIN, k->pk), MLPROTO_OK);
  assert_string_equal(vkey, GO_VKEY);
  /* Empty tree. */
  mlproto_checkpoint e = cp_of(ORIGIN, 0);
  mlproto_merkle_empty_root(e.root);
  assert_int_equal(mlproto_checkpoint_sign(note, sizeof note, NULL, &e, k->sk), MLPROTO_OK);
  assert_string_equal(note, GO_NOTE_EMPTY);
}

static void open_go_notes(void **state) {
  keys *k = *state;
  mlproto_note_verifier v, w;
  assert_int_equal(mlproto_note_vkey_parse(&v, GO_VKEY, strlen(GO_VKEY)), MLPROTO_OK);
  assert_memory_equal(&v, &k->v, sizeof v);
  mlproto_checkpoint cp, want = cp_of(ORIGIN, 5);
  assert_int_equal(open_str(&cp, GO_NOTE, &v), MLPROTO_OK);
  assert_memory_equal(&cp, &want, sizeof cp);
  /* A witness cosignature is tolerated... */
  assert_int_equal(open_str(&cp, GO_NOTE_WITNESSED, &v), MLPROTO_OK);
  assert_memory_equal(&cp, &want, sizeof cp);
  /* ...and a witness key is not the log's: another origin. */
  assert_int_equal(mlproto_note_vkey_parse(&w, GO_WITNESS_VKEY, strlen(GO_WITNESS_VKEY)), MLPROTO_OK);
  assert_int_equal(open_str(&cp, GO_NOTE_WITNESSED, &w), MLPROTO_ERR_CHECKPOINT_ORIGIN);
  /* Only the witness signed: nothing by the log's key. */
  assert_int_equal(open_str(&cp, ORIGIN "\n5\n" ROOT0_31 "\n\n" WITNESS_LINE, &v),
                   MLPROTO_ERR_CHECKPOINT_UNSIGNED);
  /* The witness line first, then the log's. */
  assert_int_equal(open_str(&cp, ORIGIN "\n5\n" ROOT0_31 "\n\n" WITNESS_LINE LOG_LINE, &v), MLPROTO_OK);
  assert_int_equal(open_str(&cp, GO_NOTE_EMPTY, &v), MLPROTO_OK);
  assert_int_equal(cp.size, 0);
}

/* --- malformed and forged notes ----------------------------------------- */

typedef struct bad {
  const char *what;
  const char *note;
  int want;
} bad;

#define BODY ORIGIN "\n5\n" ROOT0_31 "\n"
#define DASH "\xe2\x80\x94 "
#define OTHER_SIG "AAAAAAECAwQ="

static const bad BAD[] = {
    {"empty", "", MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"no blank line", BODY LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"no signature lines", BODY "\n", MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"last line unterminated", ORIGIN "\n5\n" ROOT0_31 "\n\n" DASH ORIGIN " " OTHER_SIG,
     MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"two lines only", ORIGIN "\n5\n\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"extension line", BODY "ext\n\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"timestamp line", BODY "1767225600000\n\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"empty origin", "\n5\n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"origin with space", "mentorlog example\n5\n" ROOT0_31 "\n\n" LOG_LINE,
     MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"origin with plus", "mentorlog+example\n5\n" ROOT0_31 "\n\n" LOG_LINE,
     MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"origin with no-break space", "mentorlog\xc2\xa0x\n5\n" ROOT0_31 "\n\n" LOG_LINE,
     MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"leading zero", ORIGIN "\n05\n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"empty size", ORIGIN "\n\n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"signed size", ORIGIN "\n+5\n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"negative size", ORIGIN "\n-5\n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"size with space", ORIGIN "\n5 \n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"hex size", ORIGIN "\n0x5\n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"size 2^63+1", ORIGIN "\n9223372036854775809\n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_TREE_RANGE},
    {"size over u64", ORIGIN "\n99999999999999999999\n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_TREE_RANGE},
    {"21 digits", ORIGIN "\n100000000000000000000\n" ROOT0_31 "\n\n" LOG_LINE,
     MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"root unpadded", ORIGIN "\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n\n" LOG_LINE,
     MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"root non-canonical bits", ORIGIN "\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\n\n" LOG_LINE,
     MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"root base64url", ORIGIN "\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd-h8=\n\n" LOG_LINE,
     MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"root of 33 bytes", ORIGIN "\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\n\n" LOG_LINE,
     MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"root of 30 bytes", ORIGIN "\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\n\n" LOG_LINE,
     MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"root hex", ORIGIN "\n5\n000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n" LOG_LINE,
     MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"CRLF", ORIGIN "\r\n5\r\n" ROOT0_31 "\r\n\r\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"tab", ORIGIN "\n5\t\n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"invalid UTF-8", ORIGIN "\xff\n5\n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"overlong UTF-8", ORIGIN "\xc0\xaf\n5\n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"ASCII dashes", BODY "\n-- " ORIGIN " " OTHER_SIG "\n", MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"en dash", BODY "\n\xe2\x80\x93 " ORIGIN " " OTHER_SIG "\n", MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"no space after dash", BODY "\n\xe2\x80\x94" ORIGIN " " OTHER_SIG "\n",
     MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"signature without name", BODY "\n" DASH " " OTHER_SIG "\n", MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"signature without base64", BODY "\n" DASH ORIGIN " \n", MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"signature without separator", BODY "\n" DASH ORIGIN "\n", MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"signature two spaces", BODY "\n" DASH ORIGIN "  " OTHER_SIG "\n", MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"signature of 4 bytes", BODY "\n" DASH ORIGIN " AAAAAA==\n", MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"signature not base64", BODY "\n" DASH ORIGIN " !!!!!!!!\n", MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"another key's malformed line", BODY "\n" LOG_LINE DASH "w AAAA=\n", MLPROTO_ERR_CHECKPOINT_MALFORMED},
    {"blank line between signatures", BODY "\n" LOG_LINE "\n" WITNESS_LINE, MLPROTO_ERR_CHECKPOINT_MALFORMED},
    /* Well-formed, but forged. */
    {"size changed", ORIGIN "\n6\n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_STH_INVALID},
    {"root changed", ORIGIN "\n5\nAQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n" LOG_LINE,
     MLPROTO_ERR_STH_INVALID},
    {"our key ID, short signature", BODY "\n" DASH ORIGIN " KHjfdwECAwQ=\n", MLPROTO_ERR_STH_INVALID},
    {"our bad line first decides", BODY "\n" DASH ORIGIN " KHjfdwECAwQ=\n" LOG_LINE, MLPROTO_ERR_STH_INVALID},
    {"other key ID under our name", BODY "\n" DASH ORIGIN " " OTHER_SIG "\n", MLPROTO_ERR_CHECKPOINT_UNSIGNED},
    {"empty tree, wrong root", ORIGIN "\n0\n" ROOT0_31 "\n\n" LOG_LINE, MLPROTO_ERR_STH_INVALID},
};

static void malformed_notes(void **state) {
  keys *k = *state;
  for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
    mlproto_checkpoint cp;
    memset(&cp, 0xaa, sizeof cp);
    int rc = open_str(&cp, BAD[i].note, &k->v);
    if (rc != BAD[i].want)
      fail_msg("%s: got %s, want %s", BAD[i].what, mlproto_errname(rc), mlproto_errname(BAD[i].want));
    mlproto_checkpoint zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&cp, &zero, sizeof cp); /* zeroed on error */
  }
}

/* The empty tree signed with a wrong root by the real key (not only a
 * changed root under an old signature). */
static void empty_tree_root(void **state) {
  keys *k = *state;
  mlproto_checkpoint cp = cp_of(ORIGIN, 0), got;
  char note[MLPROTO_CHECKPOINT_SIGNED_MAX];
  assert_int_equal(mlproto_checkpoint_sign(note, sizeof note, NULL, &cp, k->sk), MLPROTO_OK);
  assert_int_equal(open_str(&got, note, &k->v), MLPROTO_ERR_STH_INVALID);
}

/* Other keys' lines: tolerated up to 100 lines, including long signatures
 * of other algorithms and repeated lines; the 101st line is refused. */
static void signature_lines(void **state) {
  keys *k = *state;
  size_t cap = MLPROTO_CHECKPOINT_NOTE_MAX + 4096;
  char *buf = malloc(cap);
  assert_non_null(buf);
  mlproto_checkpoint cp;
  /* A long (300-byte) signature of another key, then ours. */
  char longsig[512];
  uint8_t raw[300];
  memset(raw, 0x5a, sizeof raw);
  sodium_bin2base64(longsig, sizeof longsig, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
  snprintf(buf, cap, "%s\n" DASH "pq.example/w %s\n" LOG_LINE, BODY, longsig);
  assert_int_equal(open_str(&cp, buf, &k->v), MLPROTO_OK);
  /* The long line under our name with our key ID: ours, and wrong. */
  raw[0] = 0x28, raw[1] = 0x78, raw[2] = 0xdf, raw[3] = 0x77;
  sodium_bin2base64(longsig, sizeof longsig, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
  snprintf(buf, cap, "%s\n" DASH ORIGIN " %s\n" LOG_LINE, BODY, longsig);
  assert_int_equal(open_str(&cp, buf, &k->v), MLPROTO_ERR_STH_INVALID);
  /* A long line with a bad character in the middle. */
  longsig[100] = '*';
  snprintf(buf, cap, "%s\n" LOG_LINE DASH "pq.example/w %s\n", BODY, longsig);
  assert_int_equal(open_str(&cp, buf, &k->v), MLPROTO_ERR_CHECKPOINT_MALFORMED);
  /* Ours, then 99 lines of others (repeats included): 100 lines, accepted. */
  size_t o = (size_t)snprintf(buf, cap, "%s", GO_NOTE);
  for (int i = 0; i < 99; i++)
    o += (size_t)snprintf(buf + o, cap - o, "%s", i % 2 ? WITNESS_LINE : DASH "w " OTHER_SIG "\n");
  assert_int_equal(open_str(&cp, buf, &k->v), MLPROTO_OK);
  /* Our line twice: the first decides, the second is ignored. */
  snprintf(buf + o, cap - o, "%s", LOG_LINE);
  assert_int_equal(open_str(&cp, buf, &k->v), MLPROTO_ERR_CHECKPOINT_MALFORMED); /* 101 lines */
  snprintf(buf, cap, "%s" DASH ORIGIN " KHjfdwECAwQ=\n", GO_NOTE);
  assert_int_equal(open_str(&cp, buf, &k->v), MLPROTO_OK);
  /* Too large. */
  memset(buf, 'a', MLPROTO_CHECKPOINT_NOTE_MAX + 1);
  assert_int_equal(mlproto_checkpoint_open(&cp, (const uint8_t *)buf, MLPROTO_CHECKPOINT_NOTE_MAX + 1, &k->v),
                   MLPROTO_ERR_TOO_LARGE);
  /* A NUL byte inside. */
  char nul[sizeof GO_NOTE];
  memcpy(nul, GO_NOTE, sizeof GO_NOTE);
  nul[3] = 0;
  assert_int_equal(mlproto_checkpoint_open(&cp, (const uint8_t *)nul, sizeof GO_NOTE - 1, &k->v),
                   MLPROTO_ERR_CHECKPOINT_MALFORMED);
  free(buf);
}

/* Every single-byte change of a valid note is refused. */
static void every_byte_flip(void **state) {
  keys *k = *state;
  size_t n = strlen(GO_NOTE_WITNESSED);
  char *b = malloc(n);
  assert_non_null(b);
  size_t log_line_end = strlen(BODY) + 1 + strlen(LOG_LINE);
  for (size_t i = 0; i < n; i++) {
    for (int bit = 0; bit < 8; bit++) {
      memcpy(b, GO_NOTE_WITNESSED, n);
      b[i] ^= (char)(1 << bit);
      mlproto_checkpoint cp;
      int rc = mlproto_checkpoint_open(&cp, (const uint8_t *)b, n, &k->v);
      if (i >= log_line_end && rc == MLPROTO_OK) continue; /* the witness's signature bytes */
      if (rc == MLPROTO_OK) fail_msg("flip of byte %zu bit %d accepted", i, bit);
    }
  }
  free(b);
}

static void sign_open_round_trip(void **state) {
  keys *k = *state;
  const uint64_t sizes[] = {1, 9, 10, 255, 1000000, UINT64_C(18446744073709551), MLPROTO_MERKLE_MAX_SIZE};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    mlproto_checkpoint cp = cp_of("a/b-\xc3\xa6\xc3\xb8\xc3\xa5.example", sizes[i]), got;
    randombytes_buf(cp.root, 32);
    char note[MLPROTO_CHECKPOINT_SIGNED_MAX], again[MLPROTO_CHECKPOINT_SIGNED_MAX];
    size_t len;
    assert_int_equal(mlproto_checkpoint_sign(note, sizeof note, &len, &cp, k->sk), MLPROTO_OK);
    assert_int_equal(mlproto_checkpoint_sign(again, sizeof again, NULL, &cp, k->sk), MLPROTO_OK);
    assert_string_equal(note, again); /* deterministic */
    mlproto_note_verifier v;
    assert_int_equal(mlproto_note_verifier_init(&v, cp.origin, k->pk), MLPROTO_OK);
    assert_int_equal(mlproto_checkpoint_open(&got, (const uint8_t *)note, len, &v), MLPROTO_OK);
    assert_memory_equal(&got, &cp, sizeof cp);
    /* Under the log's own verifier (another name): another log. */
    assert_int_equal(mlproto_checkpoint_open(&got, (const uint8_t *)note, len, &k->v),
                     MLPROTO_ERR_CHECKPOINT_ORIGIN);
  }
  /* The longest origin fits the documented maximum. */
  char origin[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  memset(origin, 'o', MLPROTO_CHECKPOINT_ORIGIN_MAX);
  origin[MLPROTO_CHECKPOINT_ORIGIN_MAX] = 0;
  mlproto_checkpoint cp = cp_of(origin, MLPROTO_MERKLE_MAX_SIZE);
  char note[MLPROTO_CHECKPOINT_SIGNED_MAX];
  size_t len;
  assert_int_equal(mlproto_checkpoint_sign(note, sizeof note, &len, &cp, k->sk), MLPROTO_OK);
  assert_true(len < MLPROTO_CHECKPOINT_SIGNED_MAX);
  assert_int_equal(mlproto_checkpoint_sign(note, len, NULL, &cp, k->sk), MLPROTO_ERR_BUFFER_TOO_SMALL);
  assert_string_equal(note, "");
  char vkey[MLPROTO_NOTE_VKEY_MAX];
  assert_int_equal(mlproto_note_vkey_format(vkey, sizeof vkey, &len, origin, k->pk), MLPROTO_OK);
  assert_int_equal(len, MLPROTO_NOTE_VKEY_MAX - 1);
}

static void format_errors(void **state) {
  keys *k = *state;
  char out[MLPROTO_CHECKPOINT_SIGNED_MAX];
  mlproto_checkpoint cp = cp_of(ORIGIN, MLPROTO_MERKLE_MAX_SIZE + 1);
  assert_int_equal(mlproto_checkpoint_sign(out, sizeof out, NULL, &cp, k->sk), MLPROTO_ERR_TREE_RANGE);
  const char *bad_names[] = {"", "a b", "a+b", "a\nb", "a\tb", ("a\xe3\x80\x80" "b"), "\xff"};
  for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
    cp = cp_of(bad_names[i], 1);
    assert_int_equal(mlproto_checkpoint_body(out, sizeof out, NULL, &cp), MLPROTO_ERR_INVALID_ARGUMENT);
    assert_int_equal(mlproto_note_vkey_format(out, sizeof out, NULL, bad_names[i], k->pk),
                     MLPROTO_ERR_INVALID_ARGUMENT);
    uint8_t id[4] = {1, 2, 3, 4}, zero[4] = {0};
    assert_int_equal(mlproto_note_key_id(id, bad_names[i], k->pk), MLPROTO_ERR_INVALID_ARGUMENT);
    assert_memory_equal(id, zero, 4);
  }
  cp = cp_of(ORIGIN, 5);
  size_t len = 99;
  assert_int_equal(mlproto_checkpoint_body(out, strlen(ORIGIN "\n5\n" ROOT0_31 "\n"), &len, &cp),
                   MLPROTO_ERR_BUFFER_TOO_SMALL);
  assert_int_equal(len, 0);
  assert_int_equal(mlproto_checkpoint_body(out, sizeof out, &len, &cp), MLPROTO_OK);
  assert_string_equal(out, BODY);
  assert_int_equal(mlproto_note_vkey_format(out, strlen(GO_VKEY), NULL, ORIGIN, k->pk),
                   MLPROTO_ERR_BUFFER_TOO_SMALL);
  assert_int_equal(mlproto_checkpoint_signed_max(), MLPROTO_CHECKPOINT_SIGNED_MAX);
  assert_int_equal(mlproto_note_vkey_max(), MLPROTO_NOTE_VKEY_MAX);
}

static void vkey_parse_errors(void **state) {
  (void)state;
  const char *bad_keys[] = {
      "",
      "mentorlog.example/log",
      "mentorlog.example/log+2878df77",
      "mentorlog.example/log+2878df77+",
      "+2878df77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs",
      "mentorlog.example/log+2878df78+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs",  /* key ID */
      "mentorlog.example/lox+2878df77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs",  /* name */
      "mentorlog.example/log+2878df7+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs",   /* 7 hex */
      "mentorlog.example/log+2878df77x+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs",
      "mentorlog.example/log+2878dfzz+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs",
      "mentorlog.example/log+2878df77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtI",   /* unpadded */
      "mentorlog.example/log+2878df77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs\n", /* newline */
      "mentorlog.example/log+2878df77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIt",  /* bits */
      "mentorlog.example/log+2878df77+AupKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs",  /* key */
      "mentorlog.example/log+2878df77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIsAA==",
      "mentorlog example+2878df77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs",
  };
  for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
    mlproto_note_verifier v;
    memset(&v, 0xaa, sizeof v);
    if (mlproto_note_vkey_parse(&v, bad_keys[i], strlen(bad_keys[i])) != MLPROTO_ERR_BAD_KEY)
      fail_msg("accepted vkey %zu: %s", i, bad_keys[i]);
    mlproto_note_verifier zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&v, &zero, sizeof v);
  }
  /* Algorithm byte 0x02 with a key ID computed for it (Go's "unknown
   * algorithm" case): still refused. */
  mlproto_note_verifier v;
  const char *alg2 = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
  assert_int_equal(mlproto_note_vkey_parse(&v, alg2, strlen(alg2)), MLPROTO_ERR_BAD_KEY);
  /* Upper-case hex is what Go's parser also accepts. */
  const char *upper = "mentorlog.example/log+2878DF77+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
  assert_int_equal(mlproto_note_vkey_parse(&v, upper, strlen(upper)), MLPROTO_OK);
}

/* Consistency and split view between checkpoints of a real tree. */
static void consistency(void **state) {
  keys *k = *state;
  mlproto_merkle_mem *m;
  assert_int_equal(mlproto_merkle_mem_new(&m, 64), MLPROTO_OK);
  mlproto_checkpoint heads[11];
  for (int i = 0; i <= 10; i++) {
    heads[i] = cp_of(ORIGIN, (uint64_t)i);
    mlproto_merkle_mem_root(m, heads[i].root);
    /* Through the note, as a client sees them. */
    char note[MLPROTO_CHECKPOINT_SIGNED_MAX];
    size_t len;
    assert_int_equal(mlproto_checkpoint_sign(note, sizeof note, &len, &heads[i], k->sk), MLPROTO_OK);
    assert_int_equal(mlproto_checkpoint_open(&heads[i], (const uint8_t *)note, len, &k->v), MLPROTO_OK);
    uint8_t leaf[32];
    mlproto_merkle_leaf_hash(leaf, (const uint8_t *)&i, sizeof i);
    assert_int_equal(mlproto_merkle_mem_append(m, leaf), MLPROTO_OK);
  }
  uint8_t proof[MLPROTO_MERKLE_MAX_PROOF][32];
  size_t len;
  for (int a = 0; a <= 10; a++)
    for (int b = a; b <= 10; b++) {
      len = 0;
      if (a > 0)
        assert_int_equal(mlproto_merkle_consistency_proof(proof, &len, MLPROTO_MERKLE_MAX_PROOF,
                                                          (uint64_t)a, (uint64_t)b,
                                                          mlproto_merkle_mem_node, m), MLPROTO_OK);
      assert_int_equal(mlproto_checkpoint_check_consistency(&heads[a], &heads[b],
                                                            (const uint8_t(*)[32])proof, len), MLPROTO_OK);
      assert_int_equal(mlproto_checkpoint_check_split_view(&heads[a], &heads[b]), MLPROTO_OK);
    }
  assert_int_equal(mlproto_merkle_consistency_proof(proof, &len, MLPROTO_MERKLE_MAX_PROOF, 4, 10,
                                                    mlproto_merkle_mem_node, m), MLPROTO_OK);
  mlproto_checkpoint forged = heads[10];
  forged.root[0] ^= 1;
  assert_int_equal(mlproto_checkpoint_check_consistency(&heads[4], &forged, (const uint8_t(*)[32])proof, len),
                   MLPROTO_ERR_PROOF_INVALID);
  assert_int_equal(mlproto_checkpoint_check_split_view(&heads[10], &forged), MLPROTO_ERR_SPLIT_VIEW);
  assert_int_equal(mlproto_checkpoint_check_consistency(&heads[10], &forged, NULL, 0), MLPROTO_ERR_SPLIT_VIEW);
  assert_int_equal(mlproto_checkpoint_check_consistency(&heads[10], &heads[4], NULL, 0), MLPROTO_ERR_TREE_RANGE);
  mlproto_checkpoint other = heads[10];
  snprintf(other.origin, sizeof other.origin, "other.example/log");
  assert_int_equal(mlproto_checkpoint_check_consistency(&heads[4], &other, (const uint8_t(*)[32])proof, len),
                   MLPROTO_ERR_CHECKPOINT_ORIGIN);
  assert_int_equal(mlproto_checkpoint_check_split_view(&heads[10], &other), MLPROTO_ERR_CHECKPOINT_ORIGIN);
  mlproto_merkle_mem_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(go_doc_vector),
      cmocka_unit_test(sign_matches_go),
      cmocka_unit_test(open_go_notes),
      cmocka_unit_test(malformed_notes),
      cmocka_unit_test(empty_tree_root),
      cmocka_unit_test(signature_lines),
      cmocka_unit_test(every_byte_flip),
      cmocka_unit_test(sign_open_round_trip),
      cmocka_unit_test(format_errors),
      cmocka_unit_test(vkey_parse_errors),
      cmocka_unit_test(consistency),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
