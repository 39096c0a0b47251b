/*
 * test_sync_converge.c — convergence under faults, a seeded trace test.
 *
 * Each schedule: a new mentor A with 2 or 3 devices (the first opens the
 * first case, the others are approved by it, fingerprints compared) and a
 * new mentor B with one device, all on one in-process server
 * (sync_driver.h). Then a random trace: case opens, contacts added,
 * corrected and voided, notes added and revised, grants, and concurrent
 * corrections of one contact on two devices (conflicts), between syncs of
 * random sets of devices whose engines run interleaved, request by request,
 * through a fault layer that
 *
 *   drops a request (status 0, the server never sees it),
 *   drops an answer (the server handled it, status 0 delivered),
 *   duplicates a request (handled twice, one of the answers delivered),
 *   delays it (the clock jumps, sometimes past the session's hour),
 *   truncates the answer body (status 0 as a transport that counts bytes
 *     reports it, or the cut body with its status as a broken proxy would
 *     deliver it),
 *   answers 503 with Retry-After without reaching the server,
 *   delivers a late answer of an earlier request (must be ignored).
 *
 * While faults are on, a sync may FAIL (UNREACHABLE; after a cut body with
 * its status also a failed check). After the faults stop, at most 3 rounds
 * (every device syncs once per round, honestly) must bring every device of
 * A to: an empty outbox, no locked case, the same hash of derived state
 * (sd_state_hash: cases, grants, contacts, notes with conflict flags, names
 * and texts), every record of A's in the server's log on every device of A,
 * every record the trace wrote exactly once in the server's log; and B's
 * device holds none of A's records (nor A's devices one of B's).
 *
 * Then, when the trace opened grants, the three computations of their
 * compliance must agree at one instant: for EVERY grant, what the device
 * computes (mentorlog_grant_compliance: per period its dates, status,
 * reason, qualifying contacts, attempts, minutes; met, assessable, minutes
 * held and granted, late entries) equals the report `mentorlog-audit
 * report` recomputes from the exported log (admin export-log; tools/audit
 * report.h, the code behind the command), and the server's
 * GET /v1/jobcentre/compliance answer (JSON and CSV) is byte for byte that
 * report's document for the jobcentre; the report of every jobcentre
 * differs from it only by its jobcentre fields.
 *
 *   ML_SYNC_SEED       first seed (default 20261203); schedule i uses SEED+i
 *   ML_SYNC_SCHEDULES  number of schedules (default 1000)
 *
 * A failing schedule prints its seed and the command that replays it alone.
 */
#include "sync_driver.h"

#include "report.h" /* tools/audit: mentorlog-audit report */

#include "mlproto/crypto.h"
#include "mlproto/errors.h"
#include "mlproto/merkle.h"
#include "mlproto/record.h"
#include "mlproto/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SEED UINT64_C(20261203)
#define DEFAULT_SCHEDULES 1000
#define MAX_DEV 4
#define MAX_RECS 256

static const char *g_argv0 = "test_sync_converge";

typedef struct rec {
  uint8_t id[MENTORLOG_ID_BYTES]; /* a record id, or a case id (is_case) */
  unsigned dev;
  int is_case;                    /* a case is named by its own id, not its CASE_OPEN's */
} rec;

typedef struct stats {
  uint64_t schedules, requests, faults[8], fail_codes, conflicts, max_rounds[4];
  uint64_t report_schedules, report_grants, report_periods, report_met, report_late; /* check_reports */
  int codes[16];            /* FAIL codes seen under faults */
  uint64_t code_n[16];
  unsigned ncodes;
} stats;

typedef struct sched {
  uint64_t seed;
  sd_rng rng;
  sd_clock *clock;
  sd_server *srv;
  char mentor_a[33], mentor_b[33];
  uint8_t mentor_a_id[16], mentor_b_id[16];
  sd_dev dev[MAX_DEV]; /* 0..na-1: mentor A, na: mentor B */
  unsigned na, nd;
  rec recs[MAX_RECS];
  unsigned nrecs;
  int faults_on;
  unsigned fault_pct;  /* per request */
  int tainted[MAX_DEV]; /* a cut body was delivered with its status in this run */
  /* the last answered request of each device, for late deliveries */
  uint64_t last_id[MAX_DEV];
  int have_last[MAX_DEV];
  sd_answer last_ans[MAX_DEV];
  uint64_t cur_id[MAX_DEV];
  stats *st;
  char trace[4096];    /* what happened, printed when the schedule fails */
  size_t tlen;
} sched;

static void tr(sched *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tr(sched *s, const char *fmt, ...) {
  if (s->tlen + 2 >= sizeof s->trace) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(s->trace + s->tlen, sizeof s->trace - s->tlen, fmt, ap);
  va_end(ap);
  if (n > 0) s->tlen += (size_t)n;
  if (s->tlen >= sizeof s->trace) s->tlen = sizeof s->trace - 1;
}

/* Set while a schedule runs: the teardown prints the replay command when
 * the test failed inside it. */
static sched *g_running;
static sd_server *g_srv;

static void sched_fail(sched *s, const char *what) {
  fail_msg("seed %" PRIu64 ": %s", s->seed, what);
}

static unsigned dev_index(sched *s, const sd_dev *d) { return (unsigned)(d - s->dev); }

static void add_rec(sched *s, unsigned dev, const uint8_t id[16]) {
  if (s->nrecs == MAX_RECS) return;
  memcpy(s->recs[s->nrecs].id, id, 16);
  s->recs[s->nrecs].dev = dev;
  s->recs[s->nrecs].is_case = 0;
  s->nrecs++;
}

static void add_case(sched *s, unsigned dev, const uint8_t id[16]) {
  add_rec(s, dev, id);
  if (s->nrecs) s->recs[s->nrecs - 1].is_case = 1;
}

/* ------------------------------------------------------------ faults --- */

enum { F_DROP_REQ, F_DROP_ANS, F_DUP, F_DELAY, F_TRUNC, F_503, F_LATE, F_N };
static const char *const FNAME[F_N] = {"drop-request", "drop-answer", "duplicate", "delay",
                                       "truncate", "503", "late-answer"};

static void keep_last(sched *s, unsigned k, uint64_t id, const sd_answer *a) {
  sd_answer_free(&s->last_ans[k]);
  s->last_ans[k] = *a;
  s->last_ans[k].body = NULL;
  s->last_ans[k].len = 0;
  sd_answer_set_body(&s->last_ans[k], a->body, a->len);
  /* the header pointers point into the copied struct's own store */
  for (size_t i = 0; i < a->n_headers; i++) {
    s->last_ans[k].headers[i].name = s->last_ans[k].hdr_store + (a->headers[i].name - a->hdr_store);
    s->last_ans[k].headers[i].value = s->last_ans[k].hdr_store + (a->headers[i].value - a->hdr_store);
  }
  s->last_id[k] = id;
  s->have_last[k] = 1;
}

static void fault_hook(void *ctx, sd_dev *d, const mentorlog_sync_action *act, sd_answer *out) {
  sched *s = ctx;
  unsigned k = dev_index(s, d);
  s->st->requests++;
  uint64_t id = act->request_id;
  if (!s->faults_on || sd_below(&s->rng, 100) >= s->fault_pct) {
    sd_exchange(d->srv, d->peer, act, out);
    keep_last(s, k, id, out);
    return;
  }
  unsigned f = sd_below(&s->rng, F_N);
  s->st->faults[f]++;
  switch (f) {
  case F_DROP_REQ:
    memset(out, 0, sizeof *out);
    break;
  case F_DROP_ANS:
    sd_exchange(d->srv, d->peer, act, out);
    sd_answer_free(out);
    break;
  case F_DUP: {
    sd_answer first;
    sd_exchange(d->srv, d->peer, act, &first);
    sd_exchange(d->srv, d->peer, act, out);
    if (sd_below(&s->rng, 2)) {
      sd_answer_free(out);
      *out = first;
      for (size_t i = 0; i < out->n_headers; i++) { /* re-point into out's own store */
        out->headers[i].name = out->hdr_store + (first.headers[i].name - first.hdr_store);
        out->headers[i].value = out->hdr_store + (first.headers[i].value - first.hdr_store);
      }
    } else {
      sd_answer_free(&first);
    }
    break;
  }
  case F_DELAY: {
    uint32_t r = sd_below(&s->rng, 100);
    int64_t jump = r < 5 ? 2 * 3600 * 1000 + (int64_t)sd_below(&s->rng, 600000) /* past the token's hour */
                 : r < 30 ? 1000 + (int64_t)sd_below(&s->rng, 120000)
                          : 1 + (int64_t)sd_below(&s->rng, 2000);
    if (sd_below(&s->rng, 2)) {
      s->clock->now_ms += jump;
      sd_exchange(d->srv, d->peer, act, out);
    } else {
      sd_exchange(d->srv, d->peer, act, out);
      s->clock->now_ms += jump;
    }
    break;
  }
  case F_TRUNC:
    sd_exchange(d->srv, d->peer, act, out);
    if (out->len) {
      size_t cut = sd_below(&s->rng, (uint32_t)out->len);
      out->len = cut;
    }
    if (sd_below(&s->rng, 4)) {
      sd_answer_free(out); /* what a transport that counts bytes reports */
    } else {
      s->tainted[k] = 1;   /* the cut body with its status (a broken proxy) */
    }
    break;
  case F_503: {
    char ra[48];
    snprintf(ra, sizeof ra, "Retry-After: %u\r\n", 1 + sd_below(&s->rng, 5));
    sd_error_answer(out, MLPROTO_ERR_UNAVAILABLE, "fault layer", ra);
    break;
  }
  case F_LATE: {
    /* The current request is carried normally; then the answer of the
     * previous request arrives late (another connection, a retry that
     * overtook it): the engine must ignore it. */
    sd_exchange(d->srv, d->peer, act, out);
    if (s->have_last[k] && s->last_id[k] != id) {
      const sd_answer *l = &s->last_ans[k];
      int rc = mentorlog_sync_deliver(d->s, s->last_id[k], l->status, l->headers, l->n_headers,
                                      l->body, l->len, s->clock->now_ms);
      if (rc != MENTORLOG_ERR_INVALID_ARGUMENT) {
        char m[160];
        snprintf(m, sizeof m, "%s: a late answer to request %" PRIu64 " (current %" PRIu64
                 ") was not refused: %s", d->name, s->last_id[k], id, mentorlog_errname(rc));
        sched_fail(s, m);
      }
    }
    break;
  }
  }
  {
    const char *q = strchr(d->last_path, ' ');
    char where[48];
    snprintf(where, sizeof where, "%.*s", (int)strcspn(q ? q + 1 : "", "?"), q ? q + 1 : "");
    tr(s, " %s:%s(%s%s%d)", d->name, FNAME[f], where + (strncmp(where, "/v1/", 4) ? 0 : 4),
       f == F_TRUNC ? (out->status ? ",cut," : ",none,") : ",", out->status);
  }
  if (out->status) keep_last(s, k, id, out);
}

/* ------------------------------------------------------ operations --- */

static int64_t some_start(sched *s) {
  /* within the last two weeks, on the quarter hour */
  int64_t back = (int64_t)sd_below(&s->rng, 14 * 96) * 15 * 60000;
  return (s->clock->now_ms - back) / (15 * 60000) * (15 * 60000);
}

static mentorlog_contact_params some_contact(sched *s) {
  mentorlog_contact_params p = MENTORLOG_CONTACT_PARAMS_INIT;
  static const char *const notes[] = {NULL, "talked about the CV", "job fair next week",
                                      "bus card sorted", "waited at the jobcentre"};
  p.start_ms = some_start(s);
  p.minutes = 15 + 15 * sd_below(&s->rng, 8);
  p.channel = 1 + (int)sd_below(&s->rng, 7);
  p.outcome = 1 + (int)sd_below(&s->rng, 5);
  p.transport_minutes = sd_below(&s->rng, 3) * 10;
  p.note = notes[sd_below(&s->rng, 5)];
  return p;
}

/* A readable case of d, chosen at random: 0 when none. */
static int pick_case(sched *s, sd_dev *d, uint8_t out[16]) {
  mentorlog_case *cs = NULL;
  size_t n = 0;
  assert_int_equal(mentorlog_cases(d->h, &cs, &n), 0);
  size_t ok = 0;
  for (size_t i = 0; i < n; i++) ok += cs[i].name && !cs[i].erased;
  int found = 0;
  if (ok) {
    size_t want = sd_below(&s->rng, (uint32_t)ok);
    for (size_t i = 0; i < n; i++)
      if (cs[i].name && !cs[i].erased && want-- == 0) {
        memcpy(out, cs[i].id, 16);
        found = 1;
        break;
      }
  }
  mentorlog_cases_free(cs, n);
  return found;
}

/* A contact (its head record) of a readable case of d: 0 when none. */
static int pick_contact(sched *s, sd_dev *d, uint8_t item[16], uint8_t head[16]) {
  uint8_t c[16];
  if (!pick_case(s, d, c)) return 0;
  mentorlog_contact *v = NULL;
  size_t n = 0;
  assert_int_equal(mentorlog_contacts(d->h, c, &v, &n), 0);
  int found = 0;
  if (n) {
    size_t i = sd_below(&s->rng, (uint32_t)n);
    memcpy(item, v[i].id, 16);
    memcpy(head, v[i].record, 16);
    found = 1;
  }
  mentorlog_contacts_free(v, n);
  return found;
}

static int pick_note(sched *s, sd_dev *d, uint8_t head[16]) {
  uint8_t c[16];
  if (!pick_case(s, d, c)) return 0;
  mentorlog_note *v = NULL;
  size_t n = 0;
  assert_int_equal(mentorlog_notes(d->h, c, &v, &n), 0);
  int found = 0;
  if (n) {
    memcpy(head, v[sd_below(&s->rng, (uint32_t)n)].record, 16);
    found = 1;
  }
  mentorlog_notes_free(v, n);
  return found;
}

static void check_write(sched *s, sd_dev *d, int rc, const char *what) {
  if (rc == 0) return;
  char m[300];
  snprintf(m, sizeof m, "%s: %s: %s %s", d->name, what, mentorlog_errname(rc), mentorlog_errmsg(d->h));
  sched_fail(s, m);
}

static void op_case_open(sched *s, sd_dev *d) {
  static const char *const names[] = {"Anna Jensen", "Bo Nielsen", "Carla Madsen", "Dorte Holm",
                                      "Emil Sørensen", "Frida Kjær"};
  uint8_t c[16];
  check_write(s, d, mentorlog_case_open(d->h, c, names[sd_below(&s->rng, 6)], sd_below(&s->rng, 2) ? "+45 20 30 40 50" : NULL),
              "case open");
  add_case(s, dev_index(s, d), c);
  tr(s, " %s:case", d->name);
}

static void op_contact_add(sched *s, sd_dev *d) {
  uint8_t c[16], r[16];
  if (!pick_case(s, d, c)) { op_case_open(s, d); return; }
  mentorlog_contact_params p = some_contact(s);
  check_write(s, d, mentorlog_contact_add(d->h, r, c, &p), "contact add");
  add_rec(s, dev_index(s, d), r);
  tr(s, " %s:contact", d->name);
}

static void op_contact_correct(sched *s, sd_dev *d) {
  uint8_t item[16], head[16], r[16];
  if (!pick_contact(s, d, item, head)) { op_contact_add(s, d); return; }
  mentorlog_contact_params p = some_contact(s);
  check_write(s, d, mentorlog_contact_correct(d->h, r, head, &p), "contact correct");
  add_rec(s, dev_index(s, d), r);
  tr(s, " %s:correct", d->name);
}

static void op_contact_void(sched *s, sd_dev *d) {
  uint8_t item[16], head[16], r[16];
  if (!pick_contact(s, d, item, head)) { op_contact_add(s, d); return; }
  check_write(s, d, mentorlog_contact_void(d->h, r, head, "entered twice"), "contact void");
  add_rec(s, dev_index(s, d), r);
  tr(s, " %s:void", d->name);
}

static void op_note_add(sched *s, sd_dev *d) {
  static const char *const texts[] = {"Motivated; wants to try the warehouse job.",
                                      "Missed the bus, rescheduled.", "Æble, øl og så videre.",
                                      "Needs help with the application form."};
  uint8_t c[16], r[16];
  if (!pick_case(s, d, c)) { op_case_open(s, d); return; }
  const char *t = texts[sd_below(&s->rng, 4)];
  check_write(s, d, mentorlog_note_add(d->h, r, c, t, strlen(t)), "note add");
  add_rec(s, dev_index(s, d), r);
  tr(s, " %s:note", d->name);
}

static void op_note_revise(sched *s, sd_dev *d) {
  uint8_t head[16], r[16];
  if (!pick_note(s, d, head)) { op_note_add(s, d); return; }
  char t[64];
  snprintf(t, sizeof t, "Revised (%u).", sd_below(&s->rng, 1000));
  check_write(s, d, mentorlog_note_revise(d->h, r, head, t, strlen(t)), "note revise");
  add_rec(s, dev_index(s, d), r);
  tr(s, " %s:revise", d->name);
}

static void op_grant(sched *s, sd_dev *d) {
  uint8_t c[16], g[16];
  if (!pick_case(s, d, c)) { op_case_open(s, d); return; }
  mentorlog_grant_params p;
  mentorlog_grant_params_init(&p);
  p.jobcentre = "0101";
  p.reference = "JC-2026/17";
  p.purpose = "Mentor support towards ordinary employment";
  mentorlog_date today = mentorlog_local_date(s->clock->now_ms);
  p.start = today - (mentorlog_date)sd_below(&s->rng, 30);
  p.end = p.start + 90;
  p.minutes_per_week = 60 * (1 + sd_below(&s->rng, 4));
  check_write(s, d, mentorlog_grant_open(d->h, g, c, &p), "grant open");
  add_rec(s, dev_index(s, d), g);
  tr(s, " %s:grant", d->name);
}

/* Two devices of A correct the same contact before either syncs: after
 * the next syncs both versions are heads of it (a conflict). */
static void op_conflict(sched *s) {
  unsigned a = sd_below(&s->rng, s->na), b = (a + 1 + sd_below(&s->rng, s->na - 1)) % s->na;
  uint8_t item[16], head[16], r[16];
  if (!pick_contact(s, &s->dev[a], item, head)) { op_contact_add(s, &s->dev[a]); return; }
  /* the same item as b sees it (b may know another head, or none yet) */
  mentorlog_contact *v = NULL;
  size_t n = 0;
  uint8_t c[16];
  int found = 0;
  mentorlog_case *cs = NULL;
  size_t nc = 0;
  assert_int_equal(mentorlog_cases(s->dev[b].h, &cs, &nc), 0);
  uint8_t bhead[16];
  for (size_t i = 0; i < nc && !found; i++) {
    memcpy(c, cs[i].id, 16);
    assert_int_equal(mentorlog_contacts(s->dev[b].h, c, &v, &n), 0);
    for (size_t k = 0; k < n; k++)
      if (memcmp(v[k].id, item, 16) == 0) {
        memcpy(bhead, v[k].record, 16);
        found = 1;
        break;
      }
    mentorlog_contacts_free(v, n);
  }
  mentorlog_cases_free(cs, nc);
  mentorlog_contact_params p = some_contact(s);
  check_write(s, &s->dev[a], mentorlog_contact_correct(s->dev[a].h, r, head, &p), "conflicting correct");
  add_rec(s, a, r);
  if (found) {
    p = some_contact(s);
    check_write(s, &s->dev[b], mentorlog_contact_correct(s->dev[b].h, r, bhead, &p), "conflicting correct");
    add_rec(s, b, r);
  }
  tr(s, " conflict(%s,%s%s)", s->dev[a].name, s->dev[b].name, found ? "" : ":unseen");
}

/* --------------------------------------------------------------- syncs --- */

static void classify_fail(sched *s, sd_dev *d) {
  stats *st = s->st;
  st->fail_codes++;
  unsigned i = 0;
  while (i < st->ncodes && st->codes[i] != d->result) i++;
  if (i == st->ncodes && i < 16) st->codes[st->ncodes++] = d->result;
  if (i < 16) st->code_n[i]++;
}

/* The devices of mask sync at once, their engines stepped in random order,
 * through the fault layer when it is on. */
static void sync_set(sched *s, unsigned mask) {
  unsigned running = 0;
  for (unsigned k = 0; k < s->nd; k++)
    if (mask & (1u << k)) {
      sd_dev *d = &s->dev[k];
      d->hook = fault_hook;
      d->hook_ctx = s;
      s->tainted[k] = 0;
      s->have_last[k] = 0;
      sd_sync_begin(d, NULL);
      running |= 1u << k;
    }
  tr(s, " sync[");
  for (unsigned k = 0; k < s->nd; k++)
    if (mask & (1u << k)) tr(s, "%s%s", s->dev[k].name, " ");
  tr(s, "]");
  while (running) {
    unsigned live[MAX_DEV], n = 0;
    for (unsigned k = 0; k < s->nd; k++)
      if (running & (1u << k)) live[n++] = k;
    unsigned k = live[sd_below(&s->rng, n)];
    sd_dev *d = &s->dev[k];
    if (sd_sync_step(d)) {
      if (d->steps > 20000) {
        char m[600];
        snprintf(m, sizeof m, "%s: no DONE or FAIL within 20000 steps (last %s)", d->name, d->last_path);
        sched_fail(s, m);
      }
      continue;
    }
    running &= ~(1u << k);
    sd_sync_end(d);
    d->hook = NULL;
    if (d->result == 0) continue;
    tr(s, " %s:FAIL:%s", d->name, mentorlog_errname(d->result));
    classify_fail(s, d);
    /* Faults may exhaust the retries (UNREACHABLE); a cut body delivered
     * with its status may fail a check. Anything else is a finding.
     * (Seed 20261253 found one: a lost answer to POST /v1/session made
     * the engine resend the spent challenge and end in UNAUTHENTICATED, a
     * network fault reported as a revocation; it now fetches a new one.) */
    int ok = s->faults_on && (d->result == MENTORLOG_ERR_UNREACHABLE ||
                              (s->tainted[k] && (d->result == MENTORLOG_ERR_SERVER_LIED ||
                                                 d->result == MENTORLOG_ERR_PROOF_INVALID)));
    if (!ok) {
      char m[900];
      snprintf(m, sizeof m, "%s sync%s: %s", d->name, s->faults_on ? " (faults on)" : " (no faults)",
               sd_describe(d));
      sched_fail(s, m);
    }
  }
}

/* ------------------------------------------------------------ checks --- */

static void mentor_bytes(const char *hex, uint8_t out[16]) {
  assert_int_equal(mlproto_hex_decode(out, 16, hex, 32), 0);
}

/* Every device of A shows the same thing; returns 1 when converged. With
 * why (not NULL), the first difference is described there. */
static int converged(sched *s, char *why, size_t cap) {
  uint8_t h0[32];
  uint64_t rec0 = 0;
  for (unsigned k = 0; k < s->na; k++) {
    sd_dev *d = &s->dev[k];
    uint64_t records = 0, outbox = 0;
    assert_int_equal(mentorlog_counts(d->h, &records, &outbox), 0);
    uint8_t h[32];
    unsigned conf = 0, locked = 0;
    sd_state_hash(d, h, &conf, &locked);
    mentorlog_sync_info i = sd_status(d);
    if (outbox) { snprintf(why, cap, "%s: %" PRIu64 " records still in the outbox", d->name, outbox); return 0; }
    if (locked || i.cases_locked) {
      snprintf(why, cap, "%s: %u cases unreadable (status: %u locked, %u pending grants)", d->name, locked,
               i.cases_locked, i.pending_grants);
      return 0;
    }
    if (k == 0) {
      memcpy(h0, h, 32);
      rec0 = records;
    } else {
      if (records != rec0) {
        snprintf(why, cap, "%s holds %" PRIu64 " records, %s %" PRIu64, d->name, records, s->dev[0].name, rec0);
        return 0;
      }
      if (memcmp(h, h0, 32)) {
        snprintf(why, cap, "%s and %s show different derived state", d->name, s->dev[0].name);
        return 0;
      }
    }
  }
  return 1;
}

/* The server's log, read once through the store contract (test_store.h). */
typedef struct lrow {
  uint8_t record_id[16], case_id[16], mentor_id[16];
  int has_mentor, type;
  uint32_t kind;
} lrow;

typedef struct lrows {
  lrow *v;
  size_t n, cap;
} lrows;

static int lrows_fn(void *ud, const mls_log_entry *e) {
  lrows *l = ud;
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 256;
    l->v = realloc(l->v, l->cap * sizeof *l->v);
    assert_non_null(l->v);
  }
  lrow *r = &l->v[l->n++];
  memcpy(r->record_id, e->record_id, 16);
  memcpy(r->case_id, e->case_id, 16);
  memcpy(r->mentor_id, e->mentor_id, 16);
  r->has_mentor = e->has_mentor;
  r->type = e->type;
  r->kind = e->kind;
  return 0;
}

/* The server's log against the devices. */
static void check_server(sched *s) {
  lrows l = {0};
  t_log_each(s->srv->store, lrows_fn, &l);
  char m[400];
  /* every record the trace wrote (a case: its CASE_OPEN) exactly once in the log */
  for (unsigned i = 0; i < s->nrecs; i++) {
    int64_t n = 0;
    for (size_t k = 0; k < l.n; k++) {
      if (s->recs[i].is_case)
        n += memcmp(l.v[k].case_id, s->recs[i].id, 16) == 0 && l.v[k].kind == MLPROTO_KIND_CASE_OPEN;
      else
        n += memcmp(l.v[k].record_id, s->recs[i].id, 16) == 0;
    }
    if (n != 1) {
      char hex[33];
      mlproto_hex_encode(hex, s->recs[i].id, 16);
      snprintf(m, sizeof m, "%s %s written by %s is %" PRId64 " times in the server's log",
               s->recs[i].is_case ? "the CASE_OPEN of case" : "record", hex, s->dev[s->recs[i].dev].name, n);
      goto fail;
    }
  }
  /* no record id twice for either mentor; each of A's records on every
   * device of A and on none of B, each of B's on none of A */
  for (int who = 0; who < 2; who++) {
    const uint8_t *mentor = who ? s->mentor_b_id : s->mentor_a_id;
    uint64_t rows = 0;
    for (size_t k = 0; k < l.n; k++) {
      if (!l.v[k].has_mentor || memcmp(l.v[k].mentor_id, mentor, 16) != 0) continue;
      rows++;
      const uint8_t *rid = l.v[k].record_id;
      int64_t n = 0, first = 1;
      for (size_t j = 0; j < l.n; j++) {
        if (!l.v[j].has_mentor || memcmp(l.v[j].mentor_id, mentor, 16) != 0 ||
            memcmp(l.v[j].record_id, rid, 16) != 0)
          continue;
        n++;
        if (j < k) first = 0;
      }
      if (!first) continue; /* its group is checked at its first row */
      int type = l.v[k].type;
      char hex[33];
      mlproto_hex_encode(hex, rid, 16);
      if (n != 1) {
        snprintf(m, sizeof m, "record %s of mentor %c is %" PRId64 " times in the log", hex, who ? 'B' : 'A', n);
        goto fail;
      }
      for (unsigned d = 0; d < s->nd; d++) {
        int mine = (d < s->na) == (who == 0);
        int present = -1;
        assert_int_equal(mentorlog_has_record(s->dev[d].h, rid, &present), 0);
        if (mine && type == MLPROTO_LOG_DEVICE_RECORD && !present) {
          snprintf(m, sizeof m, "%s lacks record %s of its mentor's log", s->dev[d].name, hex);
          goto fail;
        }
        if (!mine && present) {
          snprintf(m, sizeof m, "%s holds record %s of the other mentor", s->dev[d].name, hex);
          goto fail;
        }
      }
    }
    if (!rows) {
      snprintf(m, sizeof m, "no record of mentor %c in the log", who ? 'B' : 'A');
      goto fail;
    }
  }
  free(l.v);
  return;
fail:
  free(l.v);
  sched_fail(s, m);
}

/* ----------------------------------------------------------- reports --- */

#define JC "0101" /* op_grant's jobcentre */

/* b with every occurrence of `what` removed (in place). */
static void remove_all(char *b, const char *what) {
  size_t wl = strlen(what);
  char *w = b;
  for (const char *r = b; *r;) {
    if (strncmp(r, what, wl) == 0) r += wl;
    else *w++ = *r++;
  }
  *w = 0;
}

static void replace_first(char *b, size_t cap, const char *what, const char *with) {
  char *at = strstr(b, what);
  assert_non_null(at);
  size_t wl = strlen(what), nl = strlen(with), rest = strlen(at + wl);
  assert_true((size_t)(at - b) + nl + rest < cap);
  memmove(at + nl, at + wl, rest + 1);
  memcpy(at, with, nl);
}

/* The audit report of the exported log at now, for jobcentre jc (NULL: all). */
static void audit_at(sched *s, const uint8_t *file, size_t len, const mlproto_note_verifier *key,
                     const char *jc, int64_t now, audit_report *r) {
  audit_report_options o = {.key = key, .threads = 1 + (unsigned)(s->seed & 1), .jobcentre = jc,
                            .now_ms = now};
  assert_int_equal(audit_report_build(r, file, len, &o), MLPROTO_OK);
  if (r->refused) {
    char m[800];
    snprintf(m, sizeof m, "the exported log is refused by mentorlog-audit report: %" PRIu64
             " findings (first: %s %s), ownership: %s", r->verify.findings_total,
             r->verify.n_findings ? mlproto_errname(r->verify.findings[0].code) : "-",
             r->verify.n_findings ? r->verify.findings[0].text : "", r->why);
    sched_fail(s, m);
  }
}

static char *render(const audit_report *r, int format) {
  mlproto_buf b;
  mlproto_buf_init(&b, 64u << 20);
  assert_int_equal(audit_report_render(&b, format, r, MLPROTO_DATE_NONE, MLPROTO_DATE_NONE), 0);
  char *t = malloc(b.len + 64);
  assert_non_null(t);
  memcpy(t, b.data, b.len);
  t[b.len] = 0;
  mlproto_buf_free(&b);
  return t;
}

static const mlproto_grant_report *find_grant(const audit_report *r, const uint8_t id[16]) {
  for (size_t i = 0; i < r->n; i++)
    if (memcmp(r->g[i]->grant_id, id, 16) == 0) return r->g[i];
  return NULL;
}

/* One grant: the device's figures against the audit's report of it. */
static void same_figures(sched *s, const mentorlog_compliance *dc, const mlproto_grant_report *g) {
  char m[300], hex[33];
  mlproto_hex_encode(hex, g->grant_id, 16);
#define SAME(what, a, b)                                                                    \
  do {                                                                                      \
    if ((uint64_t)(a) != (uint64_t)(b)) {                                                   \
      snprintf(m, sizeof m, "grant %s: %s: device %" PRIu64 ", audit report %" PRIu64, hex, \
               what, (uint64_t)(a), (uint64_t)(b));                                         \
      sched_fail(s, m);                                                                     \
    }                                                                                       \
  } while (0)
  SAME("erased or invalid", 0, g->erased || g->invalid);
  const mlproto_compliance *c = g->compliance;
  assert_non_null(c);
  SAME("periods", dc->nperiods, c->n_periods);
  SAME("start", dc->start, g->grant.start);
  SAME("effective end", dc->end, c->effective_end);
  for (size_t k = 0; k < dc->nperiods; k++) {
    const mentorlog_period *p = &dc->periods[k];
    const mlproto_period *q = &c->periods[k];
    SAME("period start", p->start, q->start);
    SAME("period end", p->end, q->end);
    SAME("status", p->status, (int)q->status + 1);
    SAME("qualifying", p->qualifying, q->qualifying);
    SAME("attempts", p->attempts, q->attempts);
    SAME("minutes held", p->minutes_held, q->minutes_held);
    const char *qr = q->status == MLPROTO_PERIOD_NOT_ASSESSABLE ? mlproto_na_reason_name(q->reason)
                                                                 : NULL;
    SAME("reason", p->reason ? strcmp(p->reason, qr ? qr : "") : 0, qr && !p->reason);
  }
  SAME("met", dc->met, c->totals.met);
  SAME("assessable, final", dc->assessable_final, c->totals.assessable_final);
  SAME("minutes held (grant)", dc->minutes_held, c->totals.minutes_held);
  SAME("minutes granted", dc->minutes_granted, c->totals.minutes_granted);
  SAME("late entries", dc->late_entries, c->late_entries);
  uint32_t late = 0; /* as the document counts them: its contacts' flags */
  for (size_t i = 0; i < g->n_contacts; i++) late += (uint32_t)g->contacts[i].late_entry;
  SAME("late entries (contacts)", dc->late_entries, late);
#undef SAME
  s->st->report_periods += dc->nperiods;
  s->st->report_met += dc->met;
  s->st->report_late += dc->late_entries;
}

static void check_reports(sched *s) {
  sd_dev *a0 = &s->dev[0];
  mentorlog_grant *gs = NULL;
  size_t ng = 0;
  assert_int_equal(mentorlog_grants(a0->h, NULL, &gs, &ng), 0);
  if (ng == 0) {
    mentorlog_grants_free(gs, ng);
    return;
  }
  char tok[200], vkey[MLPROTO_NOTE_VKEY_MAX + 8], file[700];
  assert_int_equal(sd_admin(s->srv, tok, sizeof tok, "token", "add", "--role", "jobcentre",
                            "--jobcentre", JC, (char *)NULL), 0);
  assert_int_equal(sd_admin(s->srv, vkey, sizeof vkey, "log-key", (char *)NULL), 0);
  snprintf(file, sizeof file, "%s/audit.log", s->srv->dir);
  assert_int_equal(sd_admin(s->srv, NULL, 0, "export-log", "--out", file, (char *)NULL), 0);
  mlproto_note_verifier key;
  assert_int_equal(mlproto_note_vkey_parse(&key, vkey, strlen(vkey)), 0);
  size_t flen = 0;
  uint8_t *fb = (uint8_t *)tu_read_file(file, &flen);
  assert_non_null(fb);

  /* The server's answers: JSON at t, CSV at t + 1 (a request takes 1 ms). */
  char auth[240];
  snprintf(auth, sizeof auth, "Bearer %s", tok);
  int64_t t = s->clock->now_ms;
  sd_answer js, cs;
  sd_call_auth(s->srv, "10.9.9.9", "GET", "/v1/jobcentre/compliance", auth, &js);
  sd_call_auth(s->srv, "10.9.9.9", "GET", "/v1/jobcentre/compliance?format=csv", auth, &cs);
  assert_int_equal(js.status, 200);
  assert_int_equal(cs.status, 200);

  audit_report jr, cr, all;
  audit_at(s, fb, flen, &key, JC, t, &jr);
  audit_at(s, fb, flen, &key, JC, t + 1, &cr);
  audit_at(s, fb, flen, &key, NULL, t, &all);
  char *jdoc = render(&jr, MLPROTO_REPORT_JSON), *cdoc = render(&cr, MLPROTO_REPORT_CSV);
  char *adoc = render(&all, MLPROTO_REPORT_JSON);
  char m[400];
  if (js.len != strlen(jdoc) || memcmp(js.body, jdoc, js.len) != 0) {
    snprintf(m, sizeof m, "the server's compliance JSON (%zu bytes) is not the audit report's "
             "(%zu bytes)", js.len, strlen(jdoc));
    sched_fail(s, m);
  }
  if (cs.len != strlen(cdoc) || memcmp(cs.body, cdoc, cs.len) != 0)
    sched_fail(s, "the server's compliance CSV is not the audit report's");
  /* every jobcentre: the same document but for its jobcentre fields */
  remove_all(adoc, ",\"jobcentre\":\"" JC "\"");
  replace_first(adoc, strlen(adoc) + 64, "\"jobcentre\":null", "\"jobcentre\":\"" JC "\"");
  if (strcmp(adoc, jdoc) != 0)
    sched_fail(s, "the audit report of every jobcentre differs from the jobcentre's beyond its "
               "jobcentre fields");

  /* every grant of the device: in the report, with the device's figures */
  if (jr.n != ng) {
    snprintf(m, sizeof m, "the device has %zu grants, the audit report %zu", ng, jr.n);
    sched_fail(s, m);
  }
  for (size_t i = 0; i < ng; i++) {
    const mlproto_grant_report *g = find_grant(&jr, gs[i].id);
    if (!g) sched_fail(s, "a grant of the device is missing from the audit report");
    mentorlog_compliance *dc = NULL;
    assert_int_equal(mentorlog_grant_compliance(a0->h, gs[i].id, t, &dc), 0);
    same_figures(s, dc, g);
    mentorlog_compliance_free(dc);
  }
  s->st->report_schedules++;
  s->st->report_grants += ng;
  free(jdoc);
  free(cdoc);
  free(adoc);
  audit_report_free(&jr);
  audit_report_free(&cr);
  audit_report_free(&all);
  sd_answer_free(&js);
  sd_answer_free(&cs);
  free(fb);
  mentorlog_grants_free(gs, ng);
}

/* ---------------------------------------------------------- schedule --- */

static void run_schedule(sd_server *srv, sd_clock *clock, uint64_t seed, stats *st) {
  sched *s = calloc(1, sizeof *s);
  assert_non_null(s);
  g_running = s;
  s->seed = seed;
  s->rng.s = seed;
  s->clock = clock;
  s->srv = srv;
  s->st = st;
  s->na = 2 + (sd_below(&s->rng, 4) == 0); /* 3 devices in a quarter of the schedules */
  s->nd = s->na + 1;
  s->fault_pct = 15 + sd_below(&s->rng, 30);
  char name[48];
  snprintf(name, sizeof name, "Mentor A %" PRIu64, seed);
  sd_mentor_add(srv, name, s->mentor_a);
  snprintf(name, sizeof name, "Mentor B %" PRIu64, seed);
  sd_mentor_add(srv, name, s->mentor_b);
  mentor_bytes(s->mentor_a, s->mentor_a_id);
  mentor_bytes(s->mentor_b, s->mentor_b_id);
  for (unsigned k = 0; k < s->nd; k++) {
    char dn[16], peer[48];
    if (k < s->na) snprintf(dn, sizeof dn, "A%u", k);
    else snprintf(dn, sizeof dn, "B0");
    snprintf(peer, sizeof peer, "10.%u.%u.%u", (unsigned)(seed >> 8) & 255, (unsigned)seed & 255, k + 1);
    sd_dev_create(&s->dev[k], srv, clock, dn, peer);
  }
  /* Setup, no faults: A0 opens a case and syncs; the others enrol, A0
   * learns and approves them (fingerprints compared), grants go out and in. */
  sd_dev *a0 = &s->dev[0];
  sd_enroll(a0, s->mentor_a, "phone");
  op_case_open(s, a0);
  op_contact_add(s, a0);
  sd_sync_ok(a0);
  for (unsigned k = 1; k < s->na; k++) sd_enroll(&s->dev[k], s->mentor_a, "laptop");
  sd_dev *b0 = &s->dev[s->na];
  sd_enroll(b0, s->mentor_b, "phone");
  op_case_open(s, b0);
  op_note_add(s, b0);
  sd_sync_ok(a0);
  for (unsigned k = 1; k < s->na; k++) sd_approve(a0, &s->dev[k]);
  sd_sync_ok(a0);
  for (unsigned k = 1; k < s->na; k++) sd_sync_ok(&s->dev[k]);
  tr(s, " | setup na=%u fault%%=%u |", s->na, s->fault_pct);

  /* The trace, faults on. */
  s->faults_on = 1;
  unsigned nops = 4 + sd_below(&s->rng, 7);
  for (unsigned i = 0; i < nops; i++) {
    unsigned r = sd_below(&s->rng, 100);
    sd_dev *d = &s->dev[sd_below(&s->rng, s->na)];
    if (r < 4) op_case_open(s, d);
    else if (r < 16) op_contact_add(s, d);
    else if (r < 26) op_contact_correct(s, d);
    else if (r < 31) op_contact_void(s, d);
    else if (r < 39) op_note_add(s, d);
    else if (r < 45) op_note_revise(s, d);
    else if (r < 48) op_grant(s, d);
    else if (r < 60) op_conflict(s);
    else if (r < 64) op_note_add(s, b0);
    else {
      unsigned mask = 0;
      while (!mask) mask = sd_below(&s->rng, 1u << s->nd);
      sync_set(s, mask);
    }
  }
  s->faults_on = 0;
  tr(s, " | faults off");

  /* At most 3 rounds: every device once per round, in a random order. */
  char why[400] = "";
  unsigned round = 0;
  int ok = 0;
  while (round < 3 && !ok) {
    round++;
    unsigned order[MAX_DEV];
    for (unsigned k = 0; k < s->nd; k++) order[k] = k;
    for (unsigned k = s->nd - 1; k > 0; k--) {
      unsigned j = sd_below(&s->rng, k + 1), t = order[k];
      order[k] = order[j];
      order[j] = t;
    }
    for (unsigned k = 0; k < s->nd; k++) sync_set(s, 1u << order[k]);
    ok = converged(s, why, sizeof why);
  }
  if (!ok) {
    char m[600];
    snprintf(m, sizeof m, "not converged after 3 rounds: %s", why);
    sched_fail(s, m);
  }
  st->max_rounds[round]++;
  check_server(s);
  check_reports(s);
  unsigned conf = 0;
  uint8_t h[32];
  sd_state_hash(a0, h, &conf, NULL);
  if (conf) st->conflicts++;
  st->schedules++;
  for (unsigned k = 0; k < s->nd; k++) {
    sd_dev_close(&s->dev[k]);
    sd_answer_free(&s->last_ans[k]);
  }
  g_running = NULL;
  free(s);
}

static void test_converge(void **state) {
  (void)state;
  uint64_t seed = sd_env_u64("ML_SYNC_SEED", DEFAULT_SEED);
  uint64_t n = sd_env_u64("ML_SYNC_SCHEDULES", DEFAULT_SCHEDULES);
  static sd_clock clock; /* static: outlives a failed test (teardown) */
  /* Each schedule starts at noon UTC of today (the same for a replay on the
   * same day); every server and profile is new, so the clock may restart. */
  const int64_t t0 = (int64_t)time(NULL) / 86400 * 86400000 + 12 * 3600000;
  int64_t advanced = 0;
  sd_keystore_profiles = 1; /* thousands of profiles: no Argon2id */
  sd_log_quiet();
  stats st;
  memset(&st, 0, sizeof st);
  uint64_t server_requests = 0;
  /* A new server per schedule: a schedule replays alone exactly as it ran
   * in the series (same log indices), and the store stays small. */
  static sd_server srv; /* static: the teardown closes it after a failure */
  for (uint64_t i = 0; i < n; i++) {
    clock.now_ms = t0;
    sd_det_random_seed(seed + i);
    sd_server_open(&srv, &clock, NULL, NULL);
    g_srv = &srv;
    run_schedule(&srv, &clock, seed + i, &st);
    server_requests += srv.requests;
    advanced += clock.now_ms - t0;
    g_srv = NULL;
    sd_server_close(&srv);
  }
  printf("schedules %" PRIu64 " (seeds %" PRIu64 "..%" PRIu64 "), requests %" PRIu64
         ", server requests %" PRIu64 "\n", st.schedules, seed, seed + n - 1, st.requests, server_requests);
  printf("faults:");
  for (int f = 0; f < F_N; f++) printf(" %s %" PRIu64, FNAME[f], st.faults[f]);
  printf("\nfailed runs under faults %" PRIu64 ":", st.fail_codes);
  for (unsigned i = 0; i < st.ncodes; i++) printf(" %s %" PRIu64, mentorlog_errname(st.codes[i]), st.code_n[i]);
  printf("\n");
  printf("converged after 1/2/3 rounds: %" PRIu64 "/%" PRIu64 "/%" PRIu64
         "; schedules ending with a conflict: %" PRIu64 "; test clock advanced %.1f min per schedule\n",
         st.max_rounds[1], st.max_rounds[2], st.max_rounds[3], st.conflicts,
         (double)advanced / 60000.0 / (double)(n ? n : 1));
  printf("compliance of device, server and audit report compared: %" PRIu64 " schedules, %"
         PRIu64 " grants, %" PRIu64 " periods (%" PRIu64 " MET), %" PRIu64 " late entries\n",
         st.report_schedules, st.report_grants, st.report_periods, st.report_met, st.report_late);
  /* The trace must exercise what it claims to: conflicts and every fault. */
  if (n >= 100) {
    assert_true(st.conflicts * 20 >= n);
    assert_true(st.report_grants * 10 >= n && st.report_met > 0 && st.report_late > 0);
    for (int f = 0; f < F_N; f++) assert_true(st.faults[f] > 0);
  }
  sd_log_restore();
}

static int teardown(void **state) {
  (void)state;
  if (g_running) {
    sched *s = g_running;
    fflush(stdout);
    printf("\nschedule with seed %" PRIu64 " failed. Trace:\n  %s\nReplay it alone with:\n"
           "  ML_SYNC_SEED=%" PRIu64 " ML_SYNC_SCHEDULES=1 %s\n", s->seed, s->trace, s->seed, g_argv0);
    fflush(stdout);
    sd_log_tail(40);
    for (unsigned k = 0; k < s->nd; k++) {
      sd_dev_close(&s->dev[k]);
      sd_answer_free(&s->last_ans[k]);
    }
    free(s);
    g_running = NULL;
  }
  if (g_srv) sd_server_close(g_srv);
  g_srv = NULL;
  sd_log_restore();
  return 0;
}

int main(int argc, char **argv) {
  (void)argc;
  static char self[1024];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    g_argv0 = self;
  } else {
    g_argv0 = argv[0];
  }
  /* Every random byte of the library and the server comes from the
   * schedule's seed: a schedule replayed alone does what it did in the series. */
  if (sd_det_random_install()) return 1;
  const struct CMUnitTest tests[] = {cmocka_unit_test_teardown(test_converge, teardown)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
