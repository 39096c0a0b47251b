/* libFuzzer target: C2SP checkpoint notes and verifier keys on hostile input
 * (mlproto/checkpoint.h).
 * ML_FUZZ_MAX_LEN: 8192
 *
 * Input: byte 0 selects the mode, the rest is text.
 *   0 mod 3: the text is a note, opened under the verifier of a fixed key
 *            (seed 07.., origin mentorlog.example/log). Must not crash; the
 *            code is a documented one; when it opens (the seeds are signed
 *            with that key) the note starts with the canonical body.
 *   1 mod 3: the text up to its last "\n\n" is signed with that key and the
 *            log's signature line put first, before the text's own lines:
 *            the parser is explored with valid signatures. When it opens,
 *            the checkpoint's canonical body must be exactly the text (the
 *            parser accepts one form only) and re-signing gives the same
 *            log line.
 *   2 mod 3: the text is a verifier key: when it parses, formatting the
 *            name and key again must give the same bytes (ignoring hex case).
 */
#include "mlproto/checkpoint.h"
#include "mlproto/errors.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c))                                                                                      \
      abort();                                                                                     \
  } while (0)

#define ORIGIN "mentorlog.example/log"

static uint8_t pk[32], sk[64];
static mlproto_note_verifier ver;

static int known_code(int rc) {
  return rc == MLPROTO_OK || rc == MLPROTO_ERR_CHECKPOINT_MALFORMED || rc == MLPROTO_ERR_TOO_LARGE ||
         rc == MLPROTO_ERR_TREE_RANGE || rc == MLPROTO_ERR_CHECKPOINT_UNSIGNED ||
         rc == MLPROTO_ERR_STH_INVALID || rc == MLPROTO_ERR_CHECKPOINT_ORIGIN;
}

static void open_mode(const uint8_t *d, size_t n) {
  mlproto_checkpoint cp;
  int rc = mlproto_checkpoint_open(&cp, d, n, &ver);
  CHECK(known_code(rc));
  if (rc == MLPROTO_OK) { /* e.g. the seed signed with this key: one form only */
    char body[MLPROTO_CHECKPOINT_SIGNED_MAX];
    size_t bl;
    CHECK(mlproto_checkpoint_body(body, sizeof body, &bl, &cp) == MLPROTO_OK);
    CHECK(bl < n && memcmp(body, d, bl) == 0 && d[bl] == '\n');
  }
}

static void signed_mode(const uint8_t *d, size_t n) {
  size_t split = n;
  for (size_t i = n; i >= 2; i--)
    if (d[i - 1] == '\n' && d[i - 2] == '\n') {
      split = i - 2;
      break;
    }
  size_t tl = split == n ? n : split + 1; /* the text with its last '\n' */
  const uint8_t *rest = split == n ? d + n : d + split + 2;
  size_t rl = (size_t)(d + n - rest);
  uint8_t raw[68];
  CHECK(mlproto_note_key_id(raw, ORIGIN, pk) == MLPROTO_OK);
  CHECK(crypto_sign_detached(raw + 4, NULL, d, tl, sk) == 0);
  char line[200] = "\xe2\x80\x94 " ORIGIN " ";
  size_t ll = strlen(line);
  sodium_bin2base64(line + ll, sizeof line - ll, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL);
  ll = strlen(line);
  line[ll++] = '\n';
  size_t total = tl + 1 + ll + rl;
  uint8_t *note = malloc(total);
  CHECK(note != NULL);
  memcpy(note, d, tl);
  note[tl] = '\n';
  memcpy(note + tl + 1, line, ll);
  memcpy(note + tl + 1 + ll, rest, rl);
  mlproto_checkpoint cp;
  int rc = mlproto_checkpoint_open(&cp, note, total, &ver);
  CHECK(known_code(rc));
  if (rc == MLPROTO_OK) {
    char body[MLPROTO_CHECKPOINT_SIGNED_MAX], again[MLPROTO_CHECKPOINT_SIGNED_MAX];
    size_t bl, al;
    CHECK(mlproto_checkpoint_body(body, sizeof body, &bl, &cp) == MLPROTO_OK);
    CHECK(bl == tl && memcmp(body, d, tl) == 0);
    CHECK(mlproto_checkpoint_sign(again, sizeof again, &al, &cp, sk) == MLPROTO_OK);
    CHECK(al == tl + 1 + ll && memcmp(again, note, al) == 0);
  }
  free(note);
}

static void vkey_mode(const uint8_t *d, size_t n) {
  mlproto_note_verifier v;
  if (mlproto_note_vkey_parse(&v, (const char *)d, n) != MLPROTO_OK) return;
  char out[MLPROTO_NOTE_VKEY_MAX];
  size_t len;
  CHECK(mlproto_note_vkey_format(out, sizeof out, &len, v.name, v.pk) == MLPROTO_OK);
  CHECK(len == n && strncasecmp(out, (const char *)d, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) {
    CHECK(sodium_init() >= 0);
    uint8_t seed[32];
    memset(seed, 7, sizeof seed);
    CHECK(crypto_sign_seed_keypair(pk, sk, seed) == 0);
    CHECK(mlproto_note_verifier_init(&ver, ORIGIN, pk) == MLPROTO_OK);
    init = 1;
  }
  if (size < 1) return 0;
  switch (data[0] % 3) {
  case 0: open_mode(data + 1, size - 1); break;
  case 1: signed_mode(data + 1, size - 1); break;
  default: vkey_mode(data + 1, size - 1); break;
  }
  return 0;
}
