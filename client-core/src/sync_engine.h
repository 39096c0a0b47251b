/* The sync engine's insides, shared by its two files: sync.c (the state
 * machine: requests, answers, retries, sessions, push, the run's end) and
 * sync_check.c (what an answer must pass before anything of it is kept:
 * pull pages, checkpoints, consistency and inclusion proofs, receipts).
 * Names: se_ (file-spanning helpers of the engine). */
#ifndef MENTORLOG_SYNC_ENGINE_H
#define MENTORLOG_SYNC_ENGINE_H

#include "sync_int.h"

#define CT_PROTO "application/vnd.mentorlog.v1+protobuf"
#define PULL_LIMIT_MAX 1024u
#define PUSH_RECORDS_MAX 1024u
#define PUSH_BYTES_DEFAULT (4u * 1024 * 1024 - 64 * 1024)
#define ATTEMPTS_DEFAULT 6u
#define BACKOFF_BASE_MS 250
#define BACKOFF_MAX_MS 8000
#define RETRY_AFTER_MAX_MS 60000
#define RECEIPTS_MAX 8192u     /* unverified receipts looked at per run */
#define RUNS_PER_SYNC 32u      /* runs of consecutive receipts proven per run (2 proofs each) */
#define SAMPLES_PER_PAGE 4u    /* inclusion proofs per pull page (all when fewer items) */
#define ROUNDS_MAX 4u          /* push -> pull -> grants rounds in one run */
#define VERIFY_THREADS_MAX 8u  /* threads verifying a pull page */
#define VERIFY_THREAD_MIN 128u /* entries per thread below which one thread does it all */

enum phase {
  PH_ENROLL, PH_ENROLL_CP, PH_CHALLENGE, PH_SESSION, PH_PUSH, PH_PULL, PH_CP, PH_CONS, PH_INCL,
  PH_RECEIPTS, PH_DONE, PH_FAIL
};

struct receipt_check {
  uint8_t id[16];
  uint64_t index;
  int64_t ms;
  uint8_t hash[32];
};

struct mentorlog_sync {
  mentorlog *h;
  struct ml_sync_state st; /* as committed */
  struct ml_sync_state tmp; /* a page's changes before its commit */
  int enroll;
  char code[65], label[MENTORLOG_LABEL_MAX + 1], url[MENTORLOG_URL_MAX + 1], pin[MENTORLOG_PIN_MAX + 1];
  uint32_t pull_limit, push_records, push_bytes, max_attempts, verify_threads;
  enum phase phase, resume; /* resume: the phase a new session returns to */
  char token[130];
  int have_token;
  unsigned session_tries;
  unsigned rounds;
  /* the request in flight */
  int pending, waiting;
  uint64_t req_id;
  int64_t wait_until;
  unsigned attempts;
  char method[8], path[512], auth[160];
  mentorlog_sync_header hdr[3];
  size_t nhdr;
  uint8_t *body;
  size_t body_len;
  /* push batch */
  size_t batch_n;
  uint8_t (*batch_ids)[16];
  uint64_t batch_last_seq; /* seq of the batch's last record */
  uint64_t pushed_seq;     /* outbox rows up to this seq are acknowledged (in acks) */
  struct ml_ack *acks;     /* acknowledgements not written yet */
  size_t n_acks, cap_acks;
  /* pull page */
  ProtobufCMessage *page;
  struct ml_page_item *items;
  size_t n_items;
  uint64_t next_since;
  int more;
  uint64_t sth_size;
  uint8_t sth_root[32];
  mlproto_checkpoint new_cp;
  char new_note[MLPROTO_CHECKPOINT_SIGNED_MAX + 1];
  size_t new_note_len;
  int have_new;
  size_t samples[SAMPLES_PER_PAGE * 2];
  size_t n_samples, sample_next;
  /* receipts acknowledged in this run (to find them in pulls) */
  uint64_t *acked;
  size_t n_acked, cap_acked;
  /* receipts to prove */
  /* receipts being proven: sorted by index, cut into runs of consecutive
   * indices (a push batch is one), each proven by two inclusion proofs */
  struct receipt_check *rq;
  size_t n_rq;
  size_t run_lo, run_hi;  /* the run being proven: rq[run_lo .. run_hi) */
  size_t runs_done;
  int run_step;           /* 0: proof of its first leaf asked, 1: of its last */
  uint8_t proof_a[64][32];
  size_t len_a;
  /* receipts proven, marked verified in the run's last transaction */
  uint8_t (*proven)[16];
  size_t n_proven, cap_proven;
  /* enrolment answer, kept until its checkpoint is verified */
  uint8_t e_device[16], e_mentor[16], e_server[32];
  int64_t now; /* of the current step or deliver */
  int error;
  char errmsg[512];
  mentorlog_sync_progress prog;
};

/* ------------------------------------------------------------ helpers */

/* ---- sync.c ---- */
/* End the run: FAIL with code and a message (printf); returns code. */
int se_fail(mentorlog_sync *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The handle's error (h->errmsg) as the run's failure. */
int se_fail_h(mentorlog_sync *s, int code);
/* The next request: method, body (taken over), with the token when auth,
 * path from fmt. */
void se_request(mentorlog_sync *s, const char *method, uint8_t *body, size_t len, int auth, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void se_req_pull(mentorlog_sync *s);
/* Decode an answer; SERVER_LIED naming what when it does not. */
int se_unpack(mentorlog_sync *s, ProtobufCMessage **m, mlproto_msg_type t, const uint8_t *b, size_t n,
              const char *what);
/* The tree head of an answer into s->sth_size/sth_root. */
int se_sth_of(mentorlog_sync *s, const Mentorlog__V1__SignedTreeHead *sth, const char *what);
/* Open a checkpoint note with the log's verifier; it must name the
 * answer's tree head; kept as s->new_note / new_cp. */
int se_note_open(mentorlog_sync *s, const char *origin, const uint8_t server_pub[32], const uint8_t *b, size_t n,
                 mlproto_checkpoint *cp);
void se_page_free(mentorlog_sync *s);
/* Write st (the whole sync state) in its own transaction. */
int se_commit_state(mentorlog_sync *s, const struct ml_sync_state *st);
/* The run's last transaction, then DONE or another push. */
int se_grants_and_next(mentorlog_sync *s);

/* ---- sync_check.c: the answers of the pull phase ---- */
int se_on_pull(mentorlog_sync *s, const uint8_t *b, size_t n);
int se_on_cp(mentorlog_sync *s, const uint8_t *b, size_t n);
int se_on_cons(mentorlog_sync *s, const uint8_t *b, size_t n);
int se_on_incl(mentorlog_sync *s, const uint8_t *b, size_t n);
int se_on_receipt(mentorlog_sync *s, const uint8_t *b, size_t n);

#endif
