/* sync_state.c — derived-state hash and seeded randomness (sync_state.h). */
#include "sync_state.h"

#include "mlproto/crypto.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------ derived state --- */

typedef struct hbuf {
  crypto_hash_sha256_state st;
} hbuf;

static void h_bytes(hbuf *h, const void *b, size_t n) {
  uint8_t l[8];
  for (int i = 0; i < 8; i++) l[i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
  crypto_hash_sha256_update(&h->st, l, 8);
  if (n) crypto_hash_sha256_update(&h->st, b, n);
}
static void h_str(hbuf *h, const char *s) {
  if (!s) h_bytes(h, "\xff", 1); /* NULL differs from "" */
  else h_bytes(h, s, strlen(s) + 1);
}
static void h_u64(hbuf *h, uint64_t v) { h_bytes(h, &v, sizeof v); }

static int cmp_pair(const uint8_t *a_id, const uint8_t *a_rec, const uint8_t *b_id,
                    const uint8_t *b_rec) {
  int c = memcmp(a_id, b_id, MENTORLOG_ID_BYTES);
  if (c || !a_rec) return c;
  return memcmp(a_rec, b_rec, MENTORLOG_ID_BYTES);
}
static int cmp_case(const void *a, const void *b) {
  const mentorlog_case *x = a, *y = b;
  return cmp_pair(x->id, NULL, y->id, NULL);
}
static int cmp_grant(const void *a, const void *b) {
  const mentorlog_grant *x = a, *y = b;
  return cmp_pair(x->id, x->record, y->id, y->record);
}
static int cmp_contact(const void *a, const void *b) {
  const mentorlog_contact *x = a, *y = b;
  return cmp_pair(x->id, x->record, y->id, y->record);
}
static int cmp_note(const void *a, const void *b) {
  const mentorlog_note *x = a, *y = b;
  return cmp_pair(x->id, x->record, y->id, y->record);
}

void sd_state_hash_of(mentorlog *mh, const char *name, uint8_t out[32], unsigned *conflicts,
                      unsigned *locked) {
  hbuf h;
  crypto_hash_sha256_init(&h.st);
  unsigned nconf = 0, nlock = 0;
  mentorlog_case *cs = NULL;
  size_t nc = 0;
  int rc = mentorlog_cases(mh, &cs, &nc);
  if (rc) fail_msg("%s: mentorlog_cases: %s", name, mentorlog_errname(rc));
  if (nc > 1) qsort(cs, nc, sizeof *cs, cmp_case);
  h_u64(&h, nc);
  for (size_t i = 0; i < nc; i++) {
    const mentorlog_case *c = &cs[i];
    h_bytes(&h, c->id, MENTORLOG_ID_BYTES);
    h_str(&h, c->name);
    h_str(&h, c->phone);
    h_u64(&h, (uint64_t)c->erased);
    h_u64(&h, (uint64_t)c->conflict);
    h_u64(&h, (uint64_t)c->opened_ms);
    nconf += c->conflict != 0;
    nlock += !c->erased && !c->name;

    mentorlog_grant *gs = NULL;
    size_t ng = 0;
    rc = mentorlog_grants(mh, c->id, &gs, &ng);
    if (rc) fail_msg("%s: mentorlog_grants: %s", name, mentorlog_errname(rc));
    if (ng > 1) qsort(gs, ng, sizeof *gs, cmp_grant);
    h_u64(&h, ng);
    for (size_t k = 0; k < ng; k++) {
      const mentorlog_grant *g = &gs[k];
      h_bytes(&h, g->id, MENTORLOG_ID_BYTES);
      h_bytes(&h, g->record, MENTORLOG_ID_BYTES);
      h_str(&h, g->jobcentre);
      h_str(&h, g->reference);
      h_str(&h, g->legal_basis);
      h_str(&h, g->purpose);
      h_u64(&h, (uint64_t)(uint32_t)g->start);
      h_u64(&h, (uint64_t)(uint32_t)g->end);
      h_bytes(&h, &g->rule, sizeof g->rule);
      h_u64(&h, g->minutes_per_week);
      h_u64(&h, (uint64_t)g->closed);
      h_u64(&h, (uint64_t)g->conflict);
      h_str(&h, g->close_reason);
      nconf += g->conflict != 0;
    }
    mentorlog_grants_free(gs, ng);

    mentorlog_contact *ct = NULL;
    size_t nt = 0;
    rc = mentorlog_contacts(mh, c->id, &ct, &nt);
    if (rc) fail_msg("%s: mentorlog_contacts: %s", name, mentorlog_errname(rc));
    if (nt > 1) qsort(ct, nt, sizeof *ct, cmp_contact);
    h_u64(&h, nt);
    for (size_t k = 0; k < nt; k++) {
      const mentorlog_contact *t = &ct[k];
      h_bytes(&h, t->id, MENTORLOG_ID_BYTES);
      h_bytes(&h, t->record, MENTORLOG_ID_BYTES);
      h_u64(&h, (uint64_t)t->start_ms);
      h_u64(&h, (uint64_t)t->recorded_ms);
      h_u64(&h, t->minutes);
      h_u64(&h, t->transport_minutes);
      h_u64(&h, (uint64_t)t->channel);
      h_u64(&h, (uint64_t)t->outcome);
      h_str(&h, t->note);
      h_u64(&h, (uint64_t)t->late_entry);
      h_u64(&h, (uint64_t)t->conflict);
      nconf += t->conflict != 0;
    }
    mentorlog_contacts_free(ct, nt);

    mentorlog_note *ns = NULL;
    size_t nn = 0;
    rc = mentorlog_notes(mh, c->id, &ns, &nn);
    if (rc) fail_msg("%s: mentorlog_notes: %s", name, mentorlog_errname(rc));
    if (nn > 1) qsort(ns, nn, sizeof *ns, cmp_note);
    h_u64(&h, nn);
    for (size_t k = 0; k < nn; k++) {
      const mentorlog_note *t = &ns[k];
      h_bytes(&h, t->id, MENTORLOG_ID_BYTES);
      h_bytes(&h, t->record, MENTORLOG_ID_BYTES);
      h_u64(&h, (uint64_t)t->recorded_ms);
      h_str(&h, t->text);
      h_u64(&h, (uint64_t)t->conflict);
      nconf += t->conflict != 0;
    }
    mentorlog_notes_free(ns, nn);
  }
  mentorlog_cases_free(cs, nc);
  crypto_hash_sha256_final(&h.st, out);
  if (conflicts) *conflicts = nconf;
  if (locked) *locked = nlock;
}

/* --------------------------------------------------------------- rng --- */

uint64_t sd_rand(sd_rng *r) {
  uint64_t z = (r->s += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

uint32_t sd_below(sd_rng *r, uint32_t n) {
  return n ? (uint32_t)(sd_rand(r) % n) : 0;
}

uint64_t sd_env_u64(const char *name, uint64_t def) {
  const char *v = getenv(name);
  if (!v || !*v) return def;
  char *end = NULL;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 0);
  if (errno || !end || *end) fail_msg("%s=%s: not a number", name, v);
  return (uint64_t)x;
}

/* ------------------------------------------------- deterministic rng --- */

static struct {
  uint8_t key[32];
  uint64_t counter;
  uint8_t block[64];
  unsigned pos;
} g_det = {{0}, 0, {0}, 64};

void sd_det_random_seed(uint64_t seed) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(seed >> (8 * i));
  crypto_hash_sha256(g_det.key, b, sizeof b);
  g_det.counter = 0;
  g_det.pos = 64;
}

static void det_buf(void *const buf, const size_t size) {
  static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
  static const uint8_t zero[64] = {0};
  uint8_t *out = buf;
  for (size_t i = 0; i < size; i++) {
    if (g_det.pos == 64) {
      crypto_stream_chacha20_ietf_xor_ic(g_det.block, zero, 64, nonce, (uint32_t)g_det.counter++, g_det.key);
      g_det.pos = 0;
    }
    out[i] = g_det.block[g_det.pos++];
  }
}

static uint32_t det_random(void) {
  uint8_t b[4];
  det_buf(b, sizeof b);
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static const char *det_name(void) { return "mentorlog-sync-test-chacha20"; }

static randombytes_implementation det_impl = {det_name, det_random, NULL, NULL, det_buf, NULL};

int sd_det_random_install(void) {
  sd_det_random_seed(0);
  if (randombytes_set_implementation(&det_impl) != 0) return -1;
  return mlproto_crypto_init() == 0 ? 0 : -1;
}
