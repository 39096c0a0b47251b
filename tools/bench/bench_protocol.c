/* mentorlog-bench protocol: the record path against raw Ed25519.
 *
 *   mentorlog-bench protocol [--seconds S] [--records N]
 *
 * Records are CONTACTs with a 400-byte sealed note (~700-byte envelopes:
 * header ~190, signature 64, disclosed ~40, sealed 40 + note + framing).
 * Each figure runs for S seconds (default 2) over N distinct records
 * (default 2000). Single-threaded unless the name says otherwise. */
#include "bench.h"

#include "mlproto/alloc.h"
#include "mlproto/crypto.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"
#include "mlproto/record.h"

#include "../../protocol/src/crypto_int.h" /* the Ed25519 engine, measured raw */

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct corpus {
  uint8_t **env;
  size_t *len;
  size_t n;
} corpus;

/* 400 bytes of note text. */
static const char NOTE[] =
    "Met at the library cafe. He had slept badly but came on time and we went through the "
    "letters from the municipality together; two were reminders about the dentist, one was the "
    "new housing benefit decision. We called the dentist and booked a time for next Thursday. "
    "He wants to apply for the warehouse job on Jobnet; he writes a first draft before we meet "
    "again and I bring a printed CV template.";
_Static_assert(sizeof NOTE - 1 >= 390 && sizeof NOTE - 1 <= 410, "a ~400-byte note");

static int build_one(uint8_t **out, size_t *len, uint8_t hash[32], uint64_t seq, const uint8_t prev[32],
                     const uint8_t case_id[16], const mlproto_key *case_key,
                     const mlproto_key *author) {
  Mentorlog__V1__ContactDisclosed c = MENTORLOG__V1__CONTACT_DISCLOSED__INIT;
  c.start_ms = 1772611200000ull + seq * 60000u;
  c.duration_minutes = 75;
  c.channel = MENTORLOG__V1__CHANNEL__CHANNEL_IN_PERSON;
  c.outcome = MENTORLOG__V1__OUTCOME__OUTCOME_HELD;
  c.transport_minutes = 15;
  mlproto_disclosed d = MENTORLOG__V1__DISCLOSED__INIT;
  d.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_CONTACT;
  d.contact = &c;
  Mentorlog__V1__ContactSealed cs = MENTORLOG__V1__CONTACT_SEALED__INIT;
  cs.note = (char *)NOTE;
  mlproto_sealed s = MENTORLOG__V1__SEALED__INIT;
  s.payload_case = MENTORLOG__V1__SEALED__PAYLOAD_CONTACT;
  s.contact = &cs;
  mlproto_record_params p;
  memset(&p, 0, sizeof p);
  mlproto_random_id(p.record_id);
  memcpy(p.case_id, case_id, 16);
  p.seq = seq;
  memcpy(p.prev, prev, 32);
  p.hlc = (c.start_ms + 3600000u) << 16;
  p.kind = MLPROTO_KIND_CONTACT;
  return mlproto_record_build(out, len, hash, &p, &d, &s, case_key, author);
}

/* ---- paired measurements ------------------------------------------------
 * The machine is shared, so a record operation and its raw Ed25519
 * counterpart run in alternating 20 ms slices: load changes hit both alike
 * and their ratio stays meaningful. */
typedef int (*op_fn)(void *ctx); /* one operation; 0 on success */

static int run_slice(op_fn op, void *ctx, double slice, unsigned long *count, double *spent) {
  double t0 = bench_now(), t;
  do {
    for (int k = 0; k < 16; k++)
      if (op(ctx))
        return -1;
    *count += 16;
  } while ((t = bench_now()) - t0 < slice);
  *spent += t - t0;
  return 0;
}

static int measure_pair(op_fn a, void *ca, op_fn b, void *cb, double seconds, double *ra,
                        double *rb) {
  unsigned long na = 0, nb = 0;
  double sa = 0, sb = 0;
  while (sa < seconds || sb < seconds)
    if (run_slice(a, ca, 0.02, &na, &sa) || run_slice(b, cb, 0.02, &nb, &sb))
      return -1;
  *ra = (double)na / sa;
  *rb = (double)nb / sb;
  return 0;
}

typedef struct build_ctx {
  corpus *c;
  unsigned long built;
  size_t bytes;
  uint8_t prev[32], case_id[16];
  const mlproto_key *case_key, *author;
} build_ctx;

static int build_op(void *p) {
  build_ctx *b = p;
  size_t i = b->built % b->c->n;
  mlproto_free(b->c->env[i]);
  b->c->env[i] = NULL;
  /* Chained like a device does: prev = the previous record's hash. */
  if (build_one(&b->c->env[i], &b->c->len[i], b->prev, b->built + 1, b->prev, b->case_id,
                b->case_key, b->author) != MLPROTO_OK)
    return -1;
  b->bytes += b->c->len[i];
  b->built++;
  return 0;
}

typedef struct raw_ctx {
  uint8_t sk[64], pk[32], msg[200], sig[64];
  unsigned long n;
} raw_ctx;

static int raw_sign_op(void *p) {
  raw_ctx *r = p;
  r->msg[0] = (uint8_t)++r->n;
  return crypto_sign_detached(r->sig, NULL, r->msg, sizeof r->msg, r->sk);
}

static int raw_verify_op(void *p) {
  raw_ctx *r = p;
  return crypto_sign_verify_detached(r->sig, r->msg, sizeof r->msg, r->pk);
}

/* The same signature through the engine of mlproto_verify (lib25519 behind
 * libsodium's acceptance checks, or libsodium itself). */
static int engine_verify_op(void *p) {
  raw_ctx *r = p;
  uint8_t sm[64 + sizeof r->msg], scratch[sizeof sm];
  memcpy(sm, r->sig, 64);
  memcpy(sm + 64, r->msg, sizeof r->msg);
  return mlproto__ed25519_open(sm, sizeof sm, r->pk, scratch);
}

typedef struct verify_ctx {
  const corpus *c;
  size_t i;
} verify_ctx;

static int verify_op(void *p) {
  verify_ctx *v = p;
  mlproto_record *r;
  if (mlproto_record_verify(&r, v->c->env[v->i], v->c->len[v->i]) != MLPROTO_OK)
    return -1;
  mlproto_record_free(r);
  if (++v->i == v->c->n)
    v->i = 0;
  return 0;
}

typedef struct verify_job {
  const corpus *c;
  size_t start;
  double seconds;
  unsigned long done;
  int failed;
} verify_job;

static void *verify_loop(void *arg) {
  verify_job *j = arg;
  double t0 = bench_now(), deadline = t0 + j->seconds;
  size_t i = j->start;
  for (;;) {
    for (int k = 0; k < 64; k++) {
      mlproto_record *r;
      if (mlproto_record_verify(&r, j->c->env[i], j->c->len[i]) != MLPROTO_OK) {
        j->failed = 1;
        return NULL;
      }
      mlproto_record_free(r);
      j->done++;
      if (++i == j->c->n)
        i = 0;
    }
    if (bench_now() >= deadline)
      break;
  }
  j->seconds = bench_now() - t0;
  return NULL;
}

static double verify_rate(const corpus *c, unsigned threads, double seconds, int *failed) {
  pthread_t tid[8];
  verify_job jobs[8];
  double t0 = bench_now();
  for (unsigned t = 0; t < threads; t++) {
    jobs[t] = (verify_job){c, (c->n / threads) * t, seconds, 0, 0};
    if (pthread_create(&tid[t], NULL, verify_loop, &jobs[t]) != 0) {
      *failed = 1;
      threads = t;
      break;
    }
  }
  unsigned long total = 0;
  for (unsigned t = 0; t < threads; t++) {
    pthread_join(tid[t], NULL);
    total += jobs[t].done;
    *failed |= jobs[t].failed;
  }
  return (double)total / (bench_now() - t0);
}

static void usage(FILE *f) {
  fprintf(f, "usage: mentorlog-bench protocol [--seconds S] [--records N]\n"
             "  --seconds S   duration of each measurement (default 2, 0.1..600)\n"
             "  --records N   distinct records cycled through (default 2000, 1..1000000)\n");
}

int bench_protocol(int argc, char **argv) {
  double seconds = 2, nrec = 2000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--seconds")) {
      if (bench_parse_double("--seconds", i + 1 < argc ? argv[++i] : NULL, 0.1, 600, &seconds))
        return 2;
    } else if (!strcmp(argv[i], "--records")) {
      if (bench_parse_double("--records", i + 1 < argc ? argv[++i] : NULL, 1, 1e6, &nrec))
        return 2;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (mlproto_crypto_init() != MLPROTO_OK)
    return 1;
  int rc = 1;
  mlproto_key *author = NULL, *case_key = NULL;
  corpus c = {NULL, NULL, (size_t)nrec};
  if (mlproto_key_generate(&author, MLPROTO_KEY_SIGN) ||
      mlproto_key_generate(&case_key, MLPROTO_KEY_CASE))
    goto out;
  c.env = calloc(c.n, sizeof *c.env);
  c.len = calloc(c.n, sizeof *c.len);
  if (!c.env || !c.len)
    goto out;
  build_ctx bc = {&c, 0, 0, {0}, {0}, case_key, author};
  mlproto_random_id(bc.case_id);
  while (bc.built < c.n) /* fill the corpus first: verify cycles through it */
    if (build_op(&bc))
      goto out;
  bc.bytes = 0;
  unsigned long built0 = bc.built;

  static raw_ctx raw;
  crypto_sign_keypair(raw.pk, raw.sk);
  randombytes_buf(raw.msg, sizeof raw.msg);
  fprintf(stderr, "protocol: build vs raw sign, %.1f s each...\n", seconds);
  double build_rate, raw_sign, v1, raw_verify;
  if (measure_pair(build_op, &bc, raw_sign_op, &raw, seconds, &build_rate, &raw_sign))
    goto out;
  bench_result("record_build_per_s", build_rate, "records/s");
  bench_result("record_envelope_bytes", (double)bc.bytes / (double)(bc.built - built0), "bytes");
  bench_result("ed25519_sign_per_s", raw_sign, "ops/s");
  bench_result("record_build_vs_raw_sign", build_rate / raw_sign, "ratio");

  fprintf(stderr, "protocol: verify vs raw verify, %.1f s each...\n", seconds);
  verify_ctx vc = {&c, 0};
  if (raw_sign_op(&raw) ||
      measure_pair(verify_op, &vc, raw_verify_op, &raw, seconds, &v1, &raw_verify))
    goto out;
  double engine_verify, raw_verify2;
  if (measure_pair(engine_verify_op, &raw, raw_verify_op, &raw, seconds, &engine_verify, &raw_verify2))
    goto out;
  sodium_memzero(raw.sk, sizeof raw.sk);
  raw_verify = (raw_verify + raw_verify2) / 2;
  bench_result("record_verify_per_s", v1, "records/s");
  bench_result("ed25519_verify_per_s", raw_verify, "ops/s"); /* libsodium */
  bench_result("ed25519_verify_engine_per_s", engine_verify, "ops/s");
  bench_result("ed25519_verify_engine_is_lib25519", mlproto__ed25519_engine_is_lib25519(), "bool");
  bench_result("record_verify_vs_raw_verify", v1 / raw_verify, "ratio");
  bench_result("record_verify_vs_engine_verify", v1 / engine_verify, "ratio");

  fprintf(stderr, "protocol: verifying with 2 threads...\n");
  int failed = 0;
  double v2 = verify_rate(&c, 2, seconds, &failed);
  if (failed)
    goto out;
  bench_result("record_verify_2threads_per_s", v2, "records/s");

  unsigned long n;
  double t0, t1;
  /* Merkle inclusion proofs in a log of 2^20 leaves. */
  fprintf(stderr, "protocol: Merkle inclusion proofs...\n");
  const uint64_t leaves = 1u << 20;
  mlproto_merkle_mem *mm = NULL;
  if (mlproto_merkle_mem_new(&mm, leaves) != MLPROTO_OK)
    goto out;
  uint8_t leaf[32], root[32];
  for (uint64_t i = 0; i < leaves; i++) {
    memcpy(leaf, &i, sizeof i);
    mlproto_merkle_leaf_hash(leaf, leaf, sizeof i);
    if (mlproto_merkle_mem_append(mm, leaf) != MLPROTO_OK) {
      mlproto_merkle_mem_free(mm);
      goto out;
    }
  }
  mlproto_merkle_mem_root(mm, root);
  enum { NPROOF = 256 };
  static uint8_t proofs[NPROOF][64][32], lh[NPROOF][32];
  static size_t plen[NPROOF];
  static uint64_t pidx[NPROOF];
  for (int k = 0; k < NPROOF; k++) {
    pidx[k] = randombytes_uniform((uint32_t)leaves);
    memcpy(leaf, &pidx[k], sizeof pidx[k]);
    mlproto_merkle_leaf_hash(lh[k], leaf, sizeof pidx[k]);
    if (mlproto_merkle_inclusion_proof(proofs[k], &plen[k], 64, pidx[k], leaves,
                                       mlproto_merkle_mem_node, mm) != MLPROTO_OK) {
      mlproto_merkle_mem_free(mm);
      goto out;
    }
  }
  mlproto_merkle_mem_free(mm);
  n = 0;
  t0 = bench_now();
  do {
    for (int k = 0; k < NPROOF; k++, n++)
      if (mlproto_merkle_verify_inclusion(lh[k], pidx[k], leaves,
                                          (const uint8_t(*)[32])proofs[k], plen[k],
                                          root) != MLPROTO_OK)
        goto out;
  } while ((t1 = bench_now()) - t0 < seconds);
  bench_result("merkle_inclusion_verify_per_s", (double)n / (t1 - t0), "proofs/s");
  rc = 0;
out:
  if (rc)
    fprintf(stderr, "protocol: benchmark failed\n");
  if (c.env)
    for (size_t i = 0; i < c.n; i++)
      mlproto_free(c.env[i]);
  free(c.env);
  free(c.len);
  mlproto_key_free(author);
  mlproto_key_free(case_key);
  return rc;
}
