/*
 * test_sync_lying.c — a server that lies: a hook in front of the real
 * application half (sync_driver.h) rewrites its real answers, one lie per
 * test:
 *
 *   drop_record        a record left out of a pull page (a later record of
 *                      the same author stays: its chain shows the gap)
 *   reorder            two items of a page swapped (indices out of order)
 *   reorder_entries    two entries exchange places, each under the other's
 *                      index (the page still ascending)
 *   inconsistent       the tree heads, checkpoints and proofs of a second
 *                      server under the SAME log key and name but with
 *                      another history (signatures verify, history does not)
 *   split_view         the same tree size with a second root, the pull's tree
 *                      head and the checkpoint note re-signed with the
 *                      server's own key (read from its data directory)
 *   swap_sealed        the sealed parts of two records exchanged
 *   old_checkpoint     the pull answer names an older (smaller) tree head
 *   old_checkpoint_alone  the same with nothing new to pull and the page
 *                      kept coherent (its next cursor is the old size): only
 *                      the kept checkpoint shows the log went back
 *   old_note           the checkpoint asked for is answered with an older,
 *                      genuine note of a smaller size
 *
 * The victim is a second, approved device of the mentor that synced once;
 * then the first device writes more (except for split_view) and the victim
 * syncs through the lie. Each time the engine must FAIL with the code, its
 * message must name what failed, and the profile must be as before
 * (mentorlog_counts, sync status: cursor, checkpoint size and root, and the
 * kept checkpoint note). After a lie that leaves no evidence of misconduct
 * behind (all but split_view), an honest sync then succeeds and brings the
 * victim to the writer's state: nothing of the lie stuck.
 */
#include "sync_driver.h"

#include "datadir.h"
#include "log.h"

#include "mlproto/checkpoint.h"
#include "mlproto/crypto.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct lfx {
  sd_clock clock;
  sd_server srv, srv2;
  char mentor[33];
  sd_dev a0, v, x;      /* writer, victim, a device on the second server */
  uint8_t *old_sth;     /* SignedTreeHead protobuf of an early, smaller tree */
  size_t old_sth_len;
  uint64_t old_size;
  char *old_note;       /* its checkpoint note */
  size_t old_note_len;
  uint8_t *sk;          /* the server's log key (sodium_malloc'd) */
  uint8_t pk[32];
  char origin[MLPROTO_CHECKPOINT_ORIGIN_MAX + 1];
  /* split_view: the size and the second root the lie signs */
  uint64_t forged_size;
  uint8_t forged_root[32];
  /* what the lie did */
  int fired;
  char did[200];
} lfx;

/* ------------------------------------------------------------ setup --- */

static void write_some(sd_dev *d, int notes) {
  mentorlog_case *cs = NULL;
  size_t n = 0;
  assert_int_equal(mentorlog_cases(d->h, &cs, &n), 0);
  assert_true(n > 0);
  uint8_t c[16];
  memcpy(c, cs[0].id, 16);
  mentorlog_cases_free(cs, n);
  for (int i = 0; i < notes; i++) {
    char t[64];
    snprintf(t, sizeof t, "Note %d of %s: met at the library.", i, d->name);
    assert_int_equal(mentorlog_note_add(d->h, NULL, c, t, strlen(t)), 0);
  }
  mentorlog_contact_params p = MENTORLOG_CONTACT_PARAMS_INIT;
  p.start_ms = d->clock->now_ms - 86400000;
  p.minutes = 45;
  p.channel = MENTORLOG_CHANNEL_IN_PERSON;
  p.outcome = MENTORLOG_OUTCOME_HELD;
  p.note = "CV updated";
  assert_int_equal(mentorlog_contact_add(d->h, NULL, c, &p), 0);
}

static int setup(void **state) {
  lfx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->clock.now_ms = (int64_t)time(NULL) * 1000; /* codes are dated by the admin's wall clock */
  sd_server_open(&f->srv, &f->clock, NULL, NULL);
  sd_mentor_add(&f->srv, "Anna Jensen", f->mentor);
  sd_dev_create(&f->a0, &f->srv, &f->clock, "A0", "10.1.0.1");
  sd_dev_create(&f->v, &f->srv, &f->clock, "V", "10.1.0.2");
  sd_enroll(&f->a0, f->mentor, "phone");
  assert_int_equal(mentorlog_case_open(f->a0.h, NULL, "Carla Madsen", "+45 11 22 33 44"), 0);
  write_some(&f->a0, 2);
  sd_sync_ok(&f->a0);
  /* an early tree head and its note, for the replays */
  sd_answer a;
  sd_call(&f->srv, "10.1.0.9", "GET", "/v1/log/sth", NULL, 0, &a);
  assert_int_equal(a.status, 200);
  f->old_sth = malloc(a.len);
  memcpy(f->old_sth, a.body, a.len);
  f->old_sth_len = a.len;
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_SIGNED_TREE_HEAD, a.body, a.len), 0);
  f->old_size = ((Mentorlog__V1__SignedTreeHead *)m)->size;
  mlproto_msg_free(m);
  sd_answer_free(&a);
  char q[80];
  snprintf(q, sizeof q, "/v1/log/checkpoint?size=%" PRIu64, f->old_size);
  sd_call(&f->srv, "10.1.0.9", "GET", q, NULL, 0, &a);
  assert_int_equal(a.status, 200);
  f->old_note = malloc(a.len + 1);
  memcpy(f->old_note, a.body, a.len);
  f->old_note[a.len] = 0;
  f->old_note_len = a.len;
  sd_answer_free(&a);
  /* the victim: enrolled, approved, synced once */
  sd_enroll(&f->v, f->mentor, "laptop");
  sd_sync_ok(&f->a0);
  sd_approve(&f->a0, &f->v);
  sd_sync_ok(&f->a0);
  sd_sync_ok(&f->v);
  mentorlog_sync_info vi = sd_status(&f->v);
  assert_true(vi.checkpoint_size > f->old_size);
  assert_int_equal(vi.cases_locked, 0);
  /* the server's key and name, for the forgeries */
  mls_datadir dd;
  assert_int_equal(mls_datadir_init(&dd, f->srv.dir), 0);
  assert_int_equal(mls_datadir_key_load(&dd, 0, &f->sk, f->pk), 0);
  assert_int_equal(mls_log_name_load(f->srv.dir, NULL, f->pk, f->origin), 0);
  assert_string_equal(vi.origin, f->origin);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  lfx *f = *state;
  sd_dev_close(&f->a0);
  sd_dev_close(&f->v);
  if (f->x.h) sd_dev_close(&f->x);
  if (f->srv2.app) sd_server_close(&f->srv2);
  sd_server_close(&f->srv);
  mls_datadir_key_free(f->sk);
  free(f->old_sth);
  free(f->old_note);
  free(f);
  return 0;
}

/* --------------------------------------------------------- snapshot --- */

typedef struct snap {
  uint64_t records, outbox, cursor, size;
  uint8_t root[32];
  char note[1024];
  uint8_t hash[32];
} snap;

static snap take(sd_dev *d) {
  snap s;
  memset(&s, 0, sizeof s);
  assert_int_equal(mentorlog_counts(d->h, &s.records, &s.outbox), 0);
  mentorlog_sync_info i = sd_status(d);
  s.cursor = i.cursor;
  s.size = i.checkpoint_size;
  memcpy(s.root, i.checkpoint_root, 32);
  size_t len = 0;
  assert_int_equal(mentorlog_sync_checkpoint(d->h, s.note, sizeof s.note, &len), 0);
  sd_state_hash(d, s.hash, NULL, NULL);
  return s;
}

static void same(const snap *a, const snap *b) {
  assert_int_equal(a->records, b->records);
  assert_int_equal(a->outbox, b->outbox);
  assert_int_equal(a->cursor, b->cursor);
  assert_int_equal(a->size, b->size);
  assert_memory_equal(a->root, b->root, 32);
  assert_string_equal(a->note, b->note);
  assert_memory_equal(a->hash, b->hash, 32);
}

/* ----------------------------------------------------- pull rewriting --- */

static int is_pull(const mentorlog_sync_action *act) {
  return strcmp(act->method, "GET") == 0 && strncmp(act->path, "/v1/pull", 8) == 0 &&
         (act->path[8] == 0 || act->path[8] == '?');
}
static int is_checkpoint(const mentorlog_sync_action *act) {
  return strncmp(act->path, "/v1/log/checkpoint", 18) == 0;
}
static int is_log(const mentorlog_sync_action *act) { return strncmp(act->path, "/v1/log/", 8) == 0; }

static Mentorlog__V1__PullResponse *pull_of(const sd_answer *a) {
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_PULL_RESPONSE, a->body, a->len), 0);
  return (Mentorlog__V1__PullResponse *)m;
}

static void repack(sd_answer *a, const ProtobufCMessage *m) {
  uint8_t *b = NULL;
  size_t len = 0;
  assert_int_equal(mlproto_msg_pack(&b, &len, m), 0);
  sd_answer_set_body(a, b, len);
  mlproto_free(b);
}

static int author_of(const Mentorlog__V1__LogItem *it, uint8_t out[32]) {
  mlproto_record_peek pk;
  if (it->entry_type != 1) return 0;
  assert_int_equal(mlproto_record_peek_fields(&pk, it->envelope.data, it->envelope.len), 0);
  memcpy(out, pk.author, 32);
  return 1;
}

/* drop_record: the first item that has a later item of the same author. */
static void lie_drop(void *ctx, sd_dev *d, const mentorlog_sync_action *act, sd_answer *out) {
  lfx *f = ctx;
  sd_exchange(d->srv, d->peer, act, out);
  if (f->fired || !is_pull(act) || out->status != 200) return;
  Mentorlog__V1__PullResponse *p = pull_of(out);
  for (size_t i = 0; i < p->n_items && !f->fired; i++) {
    uint8_t ai[32], aj[32];
    if (!author_of(p->items[i], ai)) continue;
    for (size_t j = i + 1; j < p->n_items; j++)
      if (author_of(p->items[j], aj) && memcmp(ai, aj, 32) == 0) {
        Mentorlog__V1__LogItem *gone = p->items[i];
        memmove(&p->items[i], &p->items[i + 1], (p->n_items - i - 1) * sizeof *p->items);
        p->items[p->n_items - 1] = gone;
        p->n_items--;
        repack(out, &p->base);
        p->n_items++; /* so that free finds it */
        f->fired = 1;
        snprintf(f->did, sizeof f->did, "dropped log index %" PRIu64, gone->log_index);
        break;
      }
  }
  mlproto_msg_free(&p->base);
}

static void lie_reorder(void *ctx, sd_dev *d, const mentorlog_sync_action *act, sd_answer *out) {
  lfx *f = ctx;
  sd_exchange(d->srv, d->peer, act, out);
  if (f->fired || !is_pull(act) || out->status != 200) return;
  Mentorlog__V1__PullResponse *p = pull_of(out);
  if (p->n_items >= 2) {
    size_t i = p->n_items / 2 - 1;
    Mentorlog__V1__LogItem *t = p->items[i];
    p->items[i] = p->items[i + 1];
    p->items[i + 1] = t;
    repack(out, &p->base);
    f->fired = 1;
    snprintf(f->did, sizeof f->did, "swapped log indices %" PRIu64 " and %" PRIu64,
             p->items[i + 1]->log_index, p->items[i]->log_index);
  }
  mlproto_msg_free(&p->base);
}

/* reorder_entries: two entries exchange places in the log, each keeping
 * the other's index (a page still in ascending order). */
static void lie_reorder_entries(void *ctx, sd_dev *d, const mentorlog_sync_action *act, sd_answer *out) {
  lfx *f = ctx;
  sd_exchange(d->srv, d->peer, act, out);
  if (f->fired || !is_pull(act) || out->status != 200) return;
  Mentorlog__V1__PullResponse *p = pull_of(out);
  if (p->n_items >= 2) {
    size_t i = p->n_items / 2 - 1;
    Mentorlog__V1__LogItem *a = p->items[i], *b = p->items[i + 1];
    uint64_t ia = a->log_index, ib = b->log_index;
    a->log_index = ib;
    b->log_index = ia;
    p->items[i] = b;
    p->items[i + 1] = a;
    repack(out, &p->base);
    f->fired = 1;
    snprintf(f->did, sizeof f->did, "log entries %" PRIu64 " and %" PRIu64 " exchanged places", ia, ib);
  }
  mlproto_msg_free(&p->base);
}

static void lie_swap_sealed(void *ctx, sd_dev *d, const mentorlog_sync_action *act, sd_answer *out) {
  lfx *f = ctx;
  sd_exchange(d->srv, d->peer, act, out);
  if (f->fired || !is_pull(act) || out->status != 200) return;
  Mentorlog__V1__PullResponse *p = pull_of(out);
  Mentorlog__V1__Envelope *e[2] = {NULL, NULL};
  size_t at[2], n = 0;
  for (size_t i = 0; i < p->n_items && n < 2; i++) {
    if (p->items[i]->entry_type != 1) continue;
    Mentorlog__V1__Envelope *x = mentorlog__v1__envelope__unpack(
        mlproto_protobuf_allocator(), p->items[i]->envelope.len, p->items[i]->envelope.data);
    assert_non_null(x);
    if (x->sealed.len == 0) {
      mentorlog__v1__envelope__free_unpacked(x, mlproto_protobuf_allocator());
      continue;
    }
    e[n] = x;
    at[n++] = i;
  }
  if (n == 2) {
    ProtobufCBinaryData t = e[0]->sealed;
    e[0]->sealed = e[1]->sealed;
    e[1]->sealed = t;
    uint8_t *nb[2];
    size_t nl[2];
    ProtobufCBinaryData orig[2];
    for (int k = 0; k < 2; k++) {
      assert_int_equal(mlproto_msg_pack(&nb[k], &nl[k], &e[k]->base), 0);
      orig[k] = p->items[at[k]]->envelope;
      p->items[at[k]]->envelope.data = nb[k];
      p->items[at[k]]->envelope.len = nl[k];
    }
    repack(out, &p->base);
    for (int k = 0; k < 2; k++) {
      p->items[at[k]]->envelope = orig[k];
      mlproto_free(nb[k]);
    }
    t = e[0]->sealed; /* back, so that each is freed once by its owner */
    e[0]->sealed = e[1]->sealed;
    e[1]->sealed = t;
    f->fired = 1;
    snprintf(f->did, sizeof f->did, "swapped the sealed parts of log indices %" PRIu64 " and %" PRIu64,
             p->items[at[0]]->log_index, p->items[at[1]]->log_index);
  }
  for (size_t k = 0; k < n; k++) mentorlog__v1__envelope__free_unpacked(e[k], mlproto_protobuf_allocator());
  mlproto_msg_free(&p->base);
}

/* Replace the tree head of a pull or push answer with sth (protobuf
 * SignedTreeHead bytes). */
static void replace_sth(sd_answer *out, const mentorlog_sync_action *act, const uint8_t *sth,
                        size_t len) {
  int pull = is_pull(act);
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, pull ? MLPROTO_MSG_PULL_RESPONSE : MLPROTO_MSG_PUSH_RESPONSE,
                                      out->body, out->len), 0);
  ProtobufCMessage *s = NULL;
  assert_int_equal(mlproto_msg_unpack(&s, MLPROTO_MSG_SIGNED_TREE_HEAD, sth, len), 0);
  Mentorlog__V1__SignedTreeHead **slot = pull ? &((Mentorlog__V1__PullResponse *)m)->sth
                                              : &((Mentorlog__V1__PushResponse *)m)->sth;
  Mentorlog__V1__SignedTreeHead *orig = *slot;
  *slot = (Mentorlog__V1__SignedTreeHead *)s;
  repack(out, m);
  *slot = orig;
  mlproto_msg_free(s);
  mlproto_msg_free(m);
}

static int is_push(const mentorlog_sync_action *act) { return strcmp(act->path, "/v1/push") == 0; }

static uint64_t sth_size(const uint8_t *b, size_t len) {
  ProtobufCMessage *m = NULL;
  assert_int_equal(mlproto_msg_unpack(&m, MLPROTO_MSG_SIGNED_TREE_HEAD, b, len), 0);
  uint64_t n = ((Mentorlog__V1__SignedTreeHead *)m)->size;
  mlproto_msg_free(m);
  return n;
}

/* A last page (more = false) names the tree size as its next cursor: keep
 * a rewritten page coherent with the tree head put into it. */
static void set_next_since(sd_answer *out, uint64_t size) {
  Mentorlog__V1__PullResponse *p = pull_of(out);
  if (!p->more) {
    p->next_since = size;
    repack(out, &p->base);
  }
  mlproto_msg_free(&p->base);
}

/* inconsistent: every tree head, checkpoint and proof from the second
 * server (same key, same name, another history). */
static void lie_inconsistent(void *ctx, sd_dev *d, const mentorlog_sync_action *act, sd_answer *out) {
  lfx *f = ctx;
  if (is_log(act)) {
    sd_exchange(&f->srv2, d->peer, act, out);
    f->fired |= is_checkpoint(act);
    snprintf(f->did, sizeof f->did, "tree heads and proofs of a second history");
    return;
  }
  sd_exchange(d->srv, d->peer, act, out);
  if ((is_pull(act) || is_push(act)) && out->status == 200) {
    sd_answer s2;
    sd_call(&f->srv2, "10.2.0.9", "GET", "/v1/log/sth", NULL, 0, &s2);
    assert_int_equal(s2.status, 200);
    replace_sth(out, act, s2.body, s2.len);
    if (is_pull(act)) set_next_since(out, sth_size(s2.body, s2.len));
    sd_answer_free(&s2);
  }
}

/* The signed tree head of (size, root), re-signed with the log key. */
static void forged_sth(lfx *f, uint64_t size, const uint8_t root[32], uint64_t ts, uint8_t **b,
                       size_t *len) {
  mlproto_sth s;
  memset(&s, 0, sizeof s);
  s.size = size;
  memcpy(s.root, root, 32);
  s.timestamp_ms = ts;
  assert_int_equal(mlproto_sth_sign(&s, f->sk), 0);
  Mentorlog__V1__SignedTreeHead pb = MENTORLOG__V1__SIGNED_TREE_HEAD__INIT;
  pb.size = s.size;
  pb.root.data = s.root;
  pb.root.len = 32;
  pb.timestamp_ms = s.timestamp_ms;
  pb.signature.data = s.signature;
  pb.signature.len = 64;
  assert_int_equal(mlproto_msg_pack(b, len, &pb.base), 0);
}

/* split_view: the kept size with another root, signed by the log's key. */
static void lie_split(void *ctx, sd_dev *d, const mentorlog_sync_action *act, sd_answer *out) {
  lfx *f = ctx;
  const uint8_t *root = f->forged_root;
  uint64_t size = f->forged_size;
  if (is_checkpoint(act)) {
    char want[64];
    snprintf(want, sizeof want, "/v1/log/checkpoint?size=%" PRIu64, size);
    if (strcmp(act->path, want) == 0 || strcmp(act->path, "/v1/log/checkpoint") == 0) {
      mlproto_checkpoint cp;
      memset(&cp, 0, sizeof cp);
      snprintf(cp.origin, sizeof cp.origin, "%s", f->origin);
      cp.size = size;
      memcpy(cp.root, root, 32);
      char note[MLPROTO_CHECKPOINT_SIGNED_MAX];
      size_t len = 0;
      assert_int_equal(mlproto_checkpoint_sign(note, sizeof note, &len, &cp, f->sk), 0);
      sd_exchange(d->srv, d->peer, act, out); /* for the status and headers */
      assert_int_equal(out->status, 200);
      sd_answer_set_body(out, (const uint8_t *)note, len);
      f->fired = 1;
      return;
    }
  }
  sd_exchange(d->srv, d->peer, act, out);
  if ((is_pull(act) || is_push(act)) && out->status == 200) {
    ProtobufCMessage *m = NULL;
    int pull = is_pull(act);
    assert_int_equal(mlproto_msg_unpack(&m, pull ? MLPROTO_MSG_PULL_RESPONSE : MLPROTO_MSG_PUSH_RESPONSE,
                                        out->body, out->len), 0);
    Mentorlog__V1__SignedTreeHead *s = pull ? ((Mentorlog__V1__PullResponse *)m)->sth
                                            : ((Mentorlog__V1__PushResponse *)m)->sth;
    assert_non_null(s);
    if (s->size == size) {
      uint8_t *b;
      size_t len;
      forged_sth(f, size, root, s->timestamp_ms, &b, &len);
      replace_sth(out, act, b, len);
      mlproto_free(b);
      f->fired = 1;
    }
    mlproto_msg_free(m);
  }
}

/* old_checkpoint: the pull answer names the early, smaller tree head. */
static void lie_old_sth(void *ctx, sd_dev *d, const mentorlog_sync_action *act, sd_answer *out) {
  lfx *f = ctx;
  sd_exchange(d->srv, d->peer, act, out);
  if (!f->fired && is_pull(act) && out->status == 200) {
    replace_sth(out, act, f->old_sth, f->old_sth_len);
    f->fired = 1;
    snprintf(f->did, sizeof f->did, "tree head of size %" PRIu64 " in the pull", f->old_size);
  }
}

/* old_checkpoint_alone: nothing new in the log; the pull answer names
 * the early tree head and, as a last page must, its size as next cursor. */
static void lie_old_sth_coherent(void *ctx, sd_dev *d, const mentorlog_sync_action *act, sd_answer *out) {
  lfx *f = ctx;
  int before = f->fired;
  lie_old_sth(ctx, d, act, out);
  if (!before && f->fired) set_next_since(out, f->old_size);
}

/* old_note: a checkpoint asked for answered with the early note. */
static void lie_old_note(void *ctx, sd_dev *d, const mentorlog_sync_action *act, sd_answer *out) {
  lfx *f = ctx;
  sd_exchange(d->srv, d->peer, act, out);
  if (!f->fired && is_checkpoint(act) && out->status == 200) {
    sd_answer_set_body(out, (const uint8_t *)f->old_note, f->old_note_len);
    f->fired = 1;
    snprintf(f->did, sizeof f->did, "note of size %" PRIu64 " for %s", f->old_size, act->path);
  }
}

/* ------------------------------------------------------------- runs --- */

static int contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0) return 1;
  return 0;
}

/* One of words (|-separated) appears in msg, case-insensitively. */
static int names(const char *msg, const char *words) {
  char w[256];
  snprintf(w, sizeof w, "%s", words);
  for (char *save = NULL, *t = strtok_r(w, "|", &save); t; t = strtok_r(NULL, "|", &save))
    if (contains_nocase(msg, t)) return 1;
  return 0;
}

/* The victim syncs through lie: FAIL with code, a message naming words,
 * nothing changed. Then (recover) an honest sync reaches the writer's state. */
static void expect_caught(lfx *f, sd_hook lie, int code, const char *words, int recover) {
  snap before = take(&f->v);
  int rc = sd_sync(&f->v, lie, f, 0);
  print_message("lie (%s): %s\n", f->did, sd_describe(&f->v));
  assert_true(f->fired);
  if (rc != code)
    fail_msg("expected FAIL %s, got %s", mentorlog_errname(code), sd_describe(&f->v));
  if (!names(f->v.errmsg, words))
    fail_msg("the message does not name the check (%s): \"%s\"", words, f->v.errmsg);
  snap after = take(&f->v);
  same(&before, &after);
  if (!recover) {
    /* a split view: the server is never synced with again, the two notes
     * are there for the auditor */
    mentorlog_sync *x = NULL;
    mentorlog_sync_options o = MENTORLOG_SYNC_OPTIONS_INIT;
    assert_int_equal(mentorlog_sync_new(f->v.h, &o, &x), MENTORLOG_ERR_SPLIT_VIEW);
    assert_null(x);
    char ev[2048];
    size_t n = 0;
    assert_int_equal(mentorlog_sync_evidence(f->v.h, ev, sizeof ev, &n), 0);
    assert_int_equal(strlen(ev), n);
    assert_non_null(strstr(ev, "\n\n\xe2\x80\x94 ")); /* signed notes */
    return;
  }
  sd_sync_ok(&f->v);
  uint8_t ha[32], hv[32];
  sd_state_hash(&f->a0, ha, NULL, NULL);
  sd_state_hash(&f->v, hv, NULL, NULL);
  assert_memory_equal(ha, hv, 32);
  uint64_t r, o;
  assert_int_equal(mentorlog_counts(f->v.h, &r, &o), 0);
  assert_int_equal(o, 0);
  assert_true(r >= before.records); /* equal when the lie came with nothing new */
}

static void more_records(lfx *f) {
  write_some(&f->a0, 3);
  sd_sync_ok(&f->a0);
}

static void test_drop_record(void **state) {
  lfx *f = *state;
  more_records(f);
  expect_caught(f, lie_drop, MENTORLOG_ERR_SERVER_LIED, "left out|chain|missing", 1);
}

/* Two entries of a page swapped: the protocol's decoder refuses the
 * unordered page itself; the engine's message must say it is about order. */
static void test_reorder(void **state) {
  lfx *f = *state;
  more_records(f);
  expect_caught(f, lie_reorder, MENTORLOG_ERR_SERVER_LIED, "order|ascending", 1);
}

static void test_reorder_entries(void **state) {
  lfx *f = *state;
  more_records(f);
  expect_caught(f, lie_reorder_entries, MENTORLOG_ERR_PROOF_INVALID, "inclusion", 1);
}

static void test_swap_sealed(void **state) {
  lfx *f = *state;
  more_records(f);
  expect_caught(f, lie_swap_sealed, MENTORLOG_ERR_SERVER_LIED, "sealed", 1);
}

static void test_inconsistent(void **state) {
  lfx *f = *state;
  more_records(f);
  /* a second server under the same key and name, with a longer history */
  sd_server_open(&f->srv2, &f->clock, NULL, f->srv.dir);
  char m2[33];
  sd_mentor_add(&f->srv2, "Other", m2);
  sd_dev_create(&f->x, &f->srv2, &f->clock, "X", "10.2.0.1");
  sd_enroll(&f->x, m2, "phone");
  assert_int_equal(mentorlog_case_open(f->x.h, NULL, "Someone Else", NULL), 0);
  for (int i = 0; i < 3; i++) write_some(&f->x, 4);
  sd_sync_ok(&f->x);
  assert_true(mls_app_log_size(f->srv2.app) > mls_app_log_size(f->srv.app));
  expect_caught(f, lie_inconsistent, MENTORLOG_ERR_PROOF_INVALID, "consisten", 1);
}

static void test_split_view(void **state) {
  lfx *f = *state;
  /* no new records: the victim's next pull names its kept size */
  mentorlog_sync_info vi = sd_status(&f->v);
  f->forged_size = vi.checkpoint_size;
  memcpy(f->forged_root, vi.checkpoint_root, 32);
  f->forged_root[31] ^= 1;
  snprintf(f->did, sizeof f->did, "a second root for size %" PRIu64, vi.checkpoint_size);
  /* A split view is evidence of misconduct: the engine refuses this
   * server from now on and keeps both notes. */
  expect_caught(f, lie_split, MENTORLOG_ERR_SPLIT_VIEW, "root|split", 0);
}

static void test_old_checkpoint(void **state) {
  lfx *f = *state;
  more_records(f);
  expect_caught(f, lie_old_sth, MENTORLOG_ERR_SERVER_LIED, "shr|older|smaller|size", 1);
}

/* The same replay with nothing new to pull, the answer kept coherent: only
 * the kept checkpoint can tell that the log went back in time (the engine
 * compares sizes before anything else of the page). */
static void test_old_checkpoint_alone(void **state) {
  lfx *f = *state;
  expect_caught(f, lie_old_sth_coherent, MENTORLOG_ERR_SERVER_LIED, "shr|older|smaller|replay|back", 1);
}

static void test_old_note(void **state) {
  lfx *f = *state;
  more_records(f);
  expect_caught(f, lie_old_note, MENTORLOG_ERR_SERVER_LIED, "size|checkpoint", 1);
}

int main(void) {
  if (mlproto_crypto_init()) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_drop_record, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reorder, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reorder_entries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_swap_sealed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_inconsistent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_split_view, setup, teardown),
      cmocka_unit_test_setup_teardown(test_old_checkpoint, setup, teardown),
      cmocka_unit_test_setup_teardown(test_old_checkpoint_alone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_old_note, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
