/* cmd_witness.c — mentorlog-audit witness and witness-keygen: a C2SP
 * tlog-witness in pull mode for a Mentorlog log (docs/witness.md).
 *
 * One run: fetch the latest checkpoint over pinned TLS, open it under the
 * log's key (stored in the state directory on the first run, refused if it
 * changes), check it against the last checkpoint this witness cosigned
 * (same size: same root; larger: the RFC 9162 consistency proof from
 * /v1/log/proof/consistency verifies; smaller: refused), sign a
 * cosignature/v1, persist the new checkpoint atomically, and only then send
 * the cosignature (POST /v1/log/cosignature), as tlog-witness requires of a
 * witness that it "MUST persist the new checkpoint before responding". A
 * refusal keeps both notes as evidence (witness_state.h). */
#include "audit.h"
#include "auditfile.h"
#include "netaddr.h"
#include "witness_state.h"

#include "netclient.h"

#include "mlproto/alloc.h"
#include "mlproto/checkpoint.h"
#include "mlproto/cosignature.h"
#include "mlproto/crypto.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"
#include "mlproto/record.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#define EXIT_COSIGNED 0
#define EXIT_REFUSED 1
#define EXIT_USAGE 2
/* an API token (af_read_token) */
#define TOKEN_MAX 128

static const char USAGE_WITNESS[] =
    "usage: mentorlog-audit witness URL --key SECRET_FILE --state DIR\n"
    "                               (--pin SHA256 | --ca FILE) [--token-file F]\n"
    "                               [--log-key VKEY]\n"
    "  URL          the server, https://HOST[:PORT]\n"
    "  --key        the witness's secret key file (witness-keygen)\n"
    "  --state      the witness's state directory (the log key, the last\n"
    "               cosigned checkpoint, evidence of refusals)\n"
    "  --pin        the server certificate's SHA-256 (admin fingerprint), or\n"
    "  --ca         a CA certificate (PEM) to trust\n"
    "  --token-file a file holding a jobcentre, auditor or witness API token: the\n"
    "               cosignature is sent to the server (without it, it is only\n"
    "               printed)\n"
    "  --log-key    the log's verifier key (admin log-key); required on the\n"
    "               first run, must match the stored one later\n"
    "Prints the cosignature line. Exit status: 0 cosigned, 1 refused or failed,\n"
    "2 usage.\n";

static const char USAGE_KEYGEN[] =
    "usage: mentorlog-audit witness-keygen --out SECRET_FILE --name NAME\n"
    "  Creates a new witness key (never overwrites a file) and prints its\n"
    "  verifier key, what the log's operator adds with `admin witness add`.\n";

static int usage(const char *text, const char *why) {
  if (why) fprintf(stderr, "mentorlog-audit: %s\n", why);
  fputs(text, stderr);
  return EXIT_USAGE;
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "mentorlog-audit witness: %s: %s (%s)\n", what, mlproto_strerror(rc),
          mlproto_errname(rc));
  return EXIT_REFUSED;
}

int cmd_witness_keygen(int argc, char **argv) {
  const char *out = NULL, *name = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
    else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) name = argv[++i];
    else if (strcmp(argv[i], "--help") == 0) { fputs(USAGE_KEYGEN, stdout); return 0; }
    else return usage(USAGE_KEYGEN, "unknown argument");
  }
  if (!out || !name) return usage(USAGE_KEYGEN, "--out and --name are required");
  if (mlproto_note_name_check(name, strlen(name)) != MLPROTO_OK)
    return usage(USAGE_KEYGEN, "NAME: 1..255 bytes of UTF-8, no spaces, no '+'");
  if (mlproto_crypto_init() != MLPROTO_OK) return fail("init", MLPROTO_ERR_INTERNAL);
  char vkey[MLPROTO_NOTE_VKEY_MAX];
  int rc = ws_key_create(out, name, vkey, sizeof vkey);
  if (rc == MLPROTO_ERR_ALREADY_EXISTS) return fail("the key file exists (never overwritten)", rc);
  if (rc) return fail("witness-keygen", rc);
  printf("%s\n", vkey);
  return 0;
}

typedef struct witness_run {
  const char *url, *key_file, *dir, *pin, *ca_file, *token_file, *log_key;
  ml_netclient *nc;
  char *ca;
  size_t ca_len;
  mlproto_note_verifier log;
  int log_key_new; /* first run: store --log-key once a checkpoint verified under it */
} witness_run;

/* GET target: a 200 answer's body, else an error (the server's code is
 * printed). */
static int get(witness_run *w, const char *target, ml_netclient_response *r) {
  int rc = ml_netclient_request(w->nc, "GET", target, NULL, 0, NULL, 0, r);
  if (rc) return rc;
  if (r->status != 200) {
    fprintf(stderr, "mentorlog-audit witness: GET %s: HTTP %d: %.*s\n", target, r->status,
            (int)(r->body_len > 300 ? 300 : r->body_len), (const char *)r->body);
    ml_netclient_response_free(r);
    return MLPROTO_ERR_SERVER_LIED;
  }
  return MLPROTO_OK;
}

/* The consistency proof old -> new, checked. */
static int check_proof(witness_run *w, const mlproto_checkpoint *old, const mlproto_checkpoint *cp) {
  if (old->size == 0 || old->size == cp->size)
    return mlproto_checkpoint_check_consistency(old, cp, NULL, 0);
  char target[128];
  snprintf(target, sizeof target, "/v1/log/proof/consistency?first=%llu&second=%llu",
           (unsigned long long)old->size, (unsigned long long)cp->size);
  ml_netclient_response r;
  int rc = get(w, target, &r);
  if (rc) return rc;
  ProtobufCMessage *m = NULL;
  rc = mlproto_msg_unpack(&m, MLPROTO_MSG_CONSISTENCY_PROOF, r.body, r.body_len);
  ml_netclient_response_free(&r);
  if (rc) return MLPROTO_ERR_PROOF_INVALID;
  Mentorlog__V1__ConsistencyProof *p = (Mentorlog__V1__ConsistencyProof *)m;
  uint8_t proof[MLPROTO_MERKLE_MAX_PROOF][32];
  rc = MLPROTO_OK;
  if (p->first != old->size || p->second != cp->size || p->n_hashes > MLPROTO_MERKLE_MAX_PROOF)
    rc = MLPROTO_ERR_PROOF_INVALID;
  for (size_t i = 0; !rc && i < p->n_hashes; i++) {
    if (p->hashes[i].len != 32) rc = MLPROTO_ERR_PROOF_INVALID;
    else memcpy(proof[i], p->hashes[i].data, 32);
  }
  if (!rc) rc = mlproto_checkpoint_check_consistency(old, cp, (const uint8_t(*)[32])proof,
                                                     p->n_hashes);
  mlproto_msg_free(m);
  return rc;
}

/* The log key: --log-key and/or DIR/log.vkey. */
static int load_log_key(witness_run *w) {
  char *stored = NULL;
  size_t sl = 0;
  int rc = ws_read(w->dir, WS_LOG_VKEY, MLPROTO_NOTE_VKEY_MAX + 1, &stored, &sl);
  if (rc && rc != MLPROTO_ERR_NOT_FOUND) return fail("reading the stored log key", rc);
  if (stored && sl && stored[sl - 1] == '\n') stored[--sl] = 0;
  if (!stored && !w->log_key) {
    return usage(USAGE_WITNESS, "first run: --log-key VKEY is required (admin log-key)");
  }
  if (stored && w->log_key && strcmp(stored, w->log_key) != 0) {
    free(stored);
    return fail("--log-key is not the log key stored on the first run", MLPROTO_ERR_LOG_KEY_CHANGED);
  }
  const char *k = stored ? stored : w->log_key;
  rc = mlproto_note_vkey_parse(&w->log, k, strlen(k));
  if (rc) {
    free(stored);
    return stored ? fail("the stored log key", rc) : usage(USAGE_WITNESS, "--log-key: not a log vkey");
  }
  w->log_key_new = !stored;
  free(stored);
  return 0;
}

/* DIR/log.vkey, on the first run. */
static int store_log_key(witness_run *w) {
  char line[MLPROTO_NOTE_VKEY_MAX + 1];
  int n = snprintf(line, sizeof line, "%s\n", w->log_key);
  return ws_write_atomic(w->dir, WS_LOG_VKEY, line, (size_t)n);
}

static int refuse(witness_run *w, const char *kind, const mlproto_checkpoint *old,
                  const mlproto_checkpoint *cp, const char *old_note, size_t ol,
                  const char *note, size_t nl, int why) {
  char path[4400];
  int rc = ws_evidence(w->dir, kind, old->size, cp->size, old_note, ol, note, nl, path,
                       sizeof path);
  fprintf(stderr, "mentorlog-audit witness: REFUSED (%s): the checkpoint of size %llu is not "
                  "consistent with the one of size %llu this witness cosigned: %s (%s)\n",
          kind, (unsigned long long)cp->size, (unsigned long long)old->size,
          mlproto_strerror(why), mlproto_errname(why));
  if (rc) return fail("recording the evidence", rc);
  fprintf(stderr, "mentorlog-audit witness: evidence: %s and its .refused.note\n", path);
  return EXIT_REFUSED;
}

static int run(witness_run *w) {
  char host[256];
  uint16_t port;
  const char *why;
  if (ml_parse_url(w->url, host, sizeof host, &port, NULL, 0, &why) != 0)
    return usage(USAGE_WITNESS, why);
  char pin[7 + 64 + 1];
  if (w->pin && ml_parse_pin(w->pin, pin) != 0)
    return usage(USAGE_WITNESS, "--pin: the certificate's SHA-256, 64 hex digits");
  char name[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  uint8_t *sk = NULL;
  int rc = ws_key_load(w->key_file, name, &sk);
  if (rc) return fail("the witness key file", rc);
  int ex = EXIT_REFUSED, lock_fd = -1;
  char token[TOKEN_MAX + 1] = "";
  char *old_note = NULL, *note = NULL;
  size_t ol = 0, nl = 0;
  ml_netclient_response r;
  memset(&r, 0, sizeof r);
  if (w->token_file && (rc = af_read_token(w->token_file, token, sizeof token))) {
    ex = fail("--token-file", rc);
    goto out;
  }
  if ((rc = ws_prepare(w->dir))) { ex = fail("the state directory", rc); goto out; }
  if ((rc = ws_lock(w->dir, &lock_fd))) {
    if (rc == MLPROTO_ERR_ALREADY_EXISTS)
      fprintf(stderr, "mentorlog-audit witness: another witness run holds %s/witness.lock; nothing done\n", w->dir);
    else
      fail("the state directory's lock", rc);
    goto out;
  }
  if ((ex = load_log_key(w))) goto out;
  ex = EXIT_REFUSED;
  if (w->ca_file && (rc = ml_ca_read(w->ca_file, &w->ca, &w->ca_len))) {
    ex = fail("--ca", rc);
    goto out;
  }
  ml_netclient_options o = ML_NETCLIENT_OPTIONS_INIT;
  o.host = host;
  o.port = port;
  if (w->pin) {
    o.pin_sha256 = pin + 7;
    o.tls_hostname = ML_SERVER_TLS_NAME;
  }
  o.ca_pem = w->ca;
  o.ca_pem_len = w->ca ? w->ca_len : 0;
  o.max_response_body = 1u << 20;
  if ((rc = ml_netclient_open(&w->nc, &o))) { ex = fail("connection options", rc); goto out; }

  /* The latest checkpoint, under the log's key. */
  if ((rc = get(w, "/v1/log/checkpoint", &r))) { ex = fail("fetching the checkpoint", rc); goto out; }
  mlproto_checkpoint cp;
  rc = mlproto_checkpoint_open(&cp, r.body, r.body_len, &w->log);
  if (rc) { ex = fail("the checkpoint does not verify under the log key", rc); goto out; }
  if (w->log_key_new && (rc = store_log_key(w))) { ex = fail("storing the log key", rc); goto out; }
  /* Kept as served, but only the log's text and signature lines matter. */
  note = (char *)r.body;
  nl = r.body_len;
  r.body = NULL;
  ml_netclient_response_free(&r);

  /* Against the last one cosigned. */
  rc = ws_read(w->dir, WS_CHECKPOINT, MLPROTO_CHECKPOINT_NOTE_MAX, &old_note, &ol);
  if (rc && rc != MLPROTO_ERR_NOT_FOUND) { ex = fail("the stored checkpoint", rc); goto out; }
  if (old_note) {
    mlproto_checkpoint old;
    rc = mlproto_checkpoint_open(&old, (const uint8_t *)old_note, ol, &w->log);
    if (rc) { ex = fail("the stored checkpoint does not verify under the log key", rc); goto out; }
    if (cp.size < old.size) {
      ex = refuse(w, "rollback", &old, &cp, old_note, ol, note, nl, MLPROTO_ERR_TREE_RANGE);
      goto out;
    }
    rc = check_proof(w, &old, &cp);
    if (rc == MLPROTO_ERR_SPLIT_VIEW || rc == MLPROTO_ERR_PROOF_INVALID ||
        rc == MLPROTO_ERR_PROOF_LENGTH) {
      ex = refuse(w, cp.size == old.size ? "split-view" : "inconsistent", &old, &cp, old_note,
                  ol, note, nl, rc);
      goto out;
    }
    if (rc) { ex = fail("the consistency proof", rc); goto out; }
  }

  /* Cosign, persist, then send. */
  size_t body_len;
  if ((rc = mlproto_note_body_len((const uint8_t *)note, nl, &body_len))) { ex = fail("note", rc); goto out; }
  mlproto_cosig cs;
  rc = mlproto_cosig_sign(&cs, (const uint8_t *)note, body_len, (uint64_t)time(NULL), name, sk);
  char line[MLPROTO_COSIG_LINE_MAX];
  size_t ll = 0;
  if (!rc) rc = mlproto_cosig_line_format(line, sizeof line, &ll, &cs);
  if (rc) { ex = fail("signing", rc); goto out; }
  if ((rc = ws_write_atomic(w->dir, WS_CHECKPOINT, note, nl))) {
    ex = fail("persisting the state (nothing was sent)", rc);
    goto out;
  }
  fputs(line, stdout);
  fflush(stdout);
  if (!w->token_file) {
    fprintf(stderr, "mentorlog-audit witness: cosigned size %llu (not sent: no --token-file)\n",
            (unsigned long long)cp.size);
    ex = EXIT_COSIGNED;
    goto out;
  }
  char target[64], auth[TOKEN_MAX + 16];
  snprintf(target, sizeof target, "/v1/log/cosignature?size=%llu", (unsigned long long)cp.size);
  snprintf(auth, sizeof auth, "Bearer %s", token);
  mlproto_http_header hs[2] = {{"Content-Type", "text/plain; charset=utf-8"},
                               {"Authorization", auth}};
  rc = ml_netclient_request(w->nc, "POST", target, hs, 2, line, ll, &r);
  sodium_memzero(auth, sizeof auth);
  if (rc) { ex = fail("sending the cosignature (the state is kept; run again)", rc); goto out; }
  if (r.status != 200) {
    fprintf(stderr, "mentorlog-audit witness: the server refused the cosignature: HTTP %d: %.*s\n",
            r.status, (int)(r.body_len > 300 ? 300 : r.body_len), (const char *)r.body);
    ex = EXIT_REFUSED;
    goto out;
  }
  fprintf(stderr, "mentorlog-audit witness: cosigned size %llu, sent\n", (unsigned long long)cp.size);
  ex = EXIT_COSIGNED;
out:
  if (lock_fd >= 0) close(lock_fd);
  ml_netclient_response_free(&r);
  ml_netclient_close(w->nc);
  w->nc = NULL;
  free(w->ca);
  mlproto_free(note); /* netclient's allocation */
  free(old_note);
  sodium_memzero(token, sizeof token);
  if (sk) sodium_free(sk);
  return ex;
}

int cmd_witness(int argc, char **argv) {
  witness_run w;
  memset(&w, 0, sizeof w);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = NULL;
    if (strcmp(a, "--help") == 0) { fputs(USAGE_WITNESS, stdout); return 0; }
    if (strcmp(a, "--key") == 0) slot = &w.key_file;
    else if (strcmp(a, "--state") == 0) slot = &w.dir;
    else if (strcmp(a, "--pin") == 0) slot = &w.pin;
    else if (strcmp(a, "--ca") == 0) slot = &w.ca_file;
    else if (strcmp(a, "--token-file") == 0) slot = &w.token_file;
    else if (strcmp(a, "--log-key") == 0) slot = &w.log_key;
    if (slot) {
      if (i + 1 == argc) return usage(USAGE_WITNESS, "an option needs a value");
      if (*slot) return usage(USAGE_WITNESS, "an option given twice");
      *slot = argv[++i];
      continue;
    }
    if (a[0] == '-' || w.url) return usage(USAGE_WITNESS, "unknown argument");
    w.url = a;
  }
  if (!w.url || !w.key_file || !w.dir) return usage(USAGE_WITNESS, "URL, --key and --state are required");
  if (!w.pin == !w.ca_file) return usage(USAGE_WITNESS, "exactly one of --pin and --ca");
  if (mlproto_crypto_init() != MLPROTO_OK) return fail("init", MLPROTO_ERR_INTERNAL);
  return run(&w);
}
