/* admin_retention.c — `admin retention purge --before DATE [--dry-run]` (erase.h). */
#include "admin_int.h"

#include "mlproto/errors.h"
#include "mlproto/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "erase.h"

#include "mlproto/civiltime.h"
#include "mlproto/compliance.h"
#include "mlproto/record.h"

/* --- retention purge --before DATE [--dry-run] --- */

/* The claimed cases that are not erased yet. */
typedef struct live_cases {
  uint8_t (*id)[16];
  size_t n, cap;
} live_cases;

static int live_add(void *ud, const uint8_t case_id[16], uint64_t erased_ms) {
  live_cases *l = ud;
  if (erased_ms) return 0;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    void *p = realloc(l->id, cap * sizeof *l->id);
    if (!p) return MLPROTO_ERR_OUT_OF_MEMORY;
    l->id = p;
    l->cap = cap;
  }
  memcpy(l->id[l->n++], case_id, 16);
  return 0;
}

/* One case's device records, verified against their log entries. */
typedef struct case_recs {
  mlproto_record **r;
  size_t n, cap;
} case_recs;

static int recs_add(void *ud, const mls_log_entry *e) {
  case_recs *c = ud;
  if (e->type != MLPROTO_LOG_DEVICE_RECORD) return 0;
  if (c->n == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 32;
    void *p = realloc(c->r, cap * sizeof *c->r);
    if (!p) return MLPROTO_ERR_OUT_OF_MEMORY;
    c->r = p;
    c->cap = cap;
  }
  mlproto_record *r = NULL;
  int rc = mlproto_record_verify_stored(&r, e->envelope, e->envelope_len, e->record_hash);
  if (rc) {
    fprintf(stderr, "mentorlog-server admin: log entry %" PRIu64 " does not verify (%s)\n",
            e->index, mlproto_errname(rc));
    return MLPROTO_ERR_STORAGE;
  }
  c->r[c->n++] = r;
  return 0;
}

static void recs_free(case_recs *c) {
  for (size_t i = 0; i < c->n; i++) mlproto_record_free(c->r[i]);
  free(c->r);
  memset(c, 0, sizeof *c);
}

/* Whether every grant of the case ended (E' = min(end, close day)) before
 * `before`: *due 1, *grants their number, *last the latest E'. A case
 * without a grant is never due. */
static int case_due(const case_recs *c, mlproto_date before, int *due, size_t *grants,
                    mlproto_date *last) {
  *due = 0;
  *grants = 0;
  *last = MLPROTO_DATE_NONE;
  for (size_t i = 0; i < c->n; i++) {
    if (c->r[i]->kind != MLPROTO_KIND_GRANT_OPEN) continue;
    mlproto_compliance_inputs *in = NULL;
    int rc = mlproto_compliance_inputs_from_records(&in, (const mlproto_record *const *)c->r, c->n,
                                                    c->r[i]->record_id, NULL, 0);
    if (rc) return rc;
    mlproto_date end = in->grant.end;
    if (in->grant.closed != MLPROTO_DATE_NONE && in->grant.closed < end) end = in->grant.closed;
    mlproto_compliance_inputs_free(in);
    if (*last == MLPROTO_DATE_NONE || end > *last) *last = end;
    (*grants)++;
  }
  *due = *grants > 0 && *last < before;
  return MLPROTO_OK;
}

int adm_cmd_retention(admin *a, int argc, char **argv) {
  static const char use[] = "retention purge --before YYYY-MM-DD [--dry-run]";
  if (argc < 2 || strcmp(argv[1], "purge") != 0) return adm_usage(use);
  const char *date = NULL;
  int dry = 0;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--before") == 0 && i + 1 < argc) date = argv[++i];
    else if (strcmp(argv[i], "--dry-run") == 0) dry = 1;
    else return adm_usage(use);
  }
  mlproto_date before;
  if (!date || strlen(date) != 10 || mlproto_date_parse(&before, date, 10) != MLPROTO_OK)
    return adm_usage("--before YYYY-MM-DD (a valid date) is required");
  uint64_t now = adm_now_ms();
  mls_txn *tx;
  int rc = dry ? mls_store_begin(a->st, MLS_TXN_READ, &tx) : mls_log_begin(a->log, &tx);
  if (rc) return adm_failure("retention purge", rc);
  live_cases live = {0};
  rc = MLS_TX(tx, case_list, live_add, &live);
  size_t purged = 0, kept = 0, no_grant = 0;
  uint64_t records = 0;
  for (size_t i = 0; !rc && i < live.n; i++) {
    case_recs c = {0};
    int due = 0;
    size_t grants = 0;
    mlproto_date last = MLPROTO_DATE_NONE;
    rc = MLS_TX(tx, case_entries, live.id[i], UINT64_MAX, recs_add, &c);
    if (!rc) rc = case_due(&c, before, &due, &grants, &last);
    size_t n_entries = c.n;
    recs_free(&c);
    if (rc) {
      char hex[33];
      mlproto_hex_encode(hex, live.id[i], 16);
      fprintf(stderr, "mentorlog-server admin: case %s: its grants cannot be read (%s)\n", hex,
              mlproto_errname(rc));
      break;
    }
    if (!due) {
      if (grants) kept++;
      else no_grant++;
      continue;
    }
    /* the same count in a dry run and a real one: the case's records; a
     * real run also says how many stored envelopes it rewrote (records
     * erased before, e.g. late ones, are not rewritten; fork evidence is) */
    uint64_t rewritten = 0;
    if (!dry) {
      uint8_t owner[16];
      rc = MLS_TX(tx, case_owner, live.id[i], owner);
      if (!rc) rc = mls_erase_case(tx, live.id[i], now, NULL, &rewritten);
      if (!rc) {
        Mentorlog__V1__RetentionPurge rp = MENTORLOG__V1__RETENTION_PURGE__INIT;
        rp.case_id.data = live.id[i];
        rp.case_id.len = 16;
        mlproto_disclosed disc = MENTORLOG__V1__DISCLOSED__INIT;
        disc.payload_case = MENTORLOG__V1__DISCLOSED__PAYLOAD_RETENTION_PURGE;
        disc.retention_purge = &rp;
        rc = mls_log_append_event(a->log, tx, &disc, owner, now, NULL);
      }
      if (rc) break;
    }
    char hex[33], end[11];
    mlproto_hex_encode(hex, live.id[i], 16);
    mlproto_date_format(end, last);
    printf("%s case %s: %zu grant%s, last ended %s, %" PRIu64 " record%s",
           dry ? "would purge" : "purged", hex, grants, grants == 1 ? "" : "s", end, (uint64_t)n_entries,
           n_entries == 1 ? "" : "s");
    if (dry) putchar('\n');
    else printf(" (%" PRIu64 " stored envelope%s rewritten)\n", rewritten, rewritten == 1 ? "" : "s");
    purged++;
    records += n_entries;
  }
  free(live.id);
  if (rc) {
    if (dry) mls_store_rollback(tx);
    else mls_log_abort(a->log, tx);
    return adm_failure("retention purge (nothing was changed)", rc);
  }
  if (dry) {
    mls_store_rollback(tx);
    printf("dry run: %zu case%s would be purged (%" PRIu64 " records); %zu kept (a grant ends on"
           " or after %s), %zu without a grant (never purged); nothing was changed\n",
           purged, purged == 1 ? "" : "s", records, kept, date, no_grant);
    return 0;
  }
  uint64_t size = 0;
  if (purged) {
    mlproto_sth sth;
    rc = mls_log_commit(a->log, tx, now, &sth);
    if (rc) return adm_failure("retention purge (nothing was changed)", rc);
    size = sth.size;
    /* best effort: the old page images leave the WAL (else at a later one) */
    int x = mls_store_scrub(a->st);
    if (x)
      fprintf(stderr, "mentorlog-server admin: the store's WAL could not be truncated yet (%s); "
                      "the next erasure or checkpoint overwrites it\n", mlproto_errname(x));
  } else {
    mls_log_abort(a->log, tx);
  }
  printf("purged %zu case%s (%" PRIu64 " records erased); %zu kept (a grant ends on or after %s),"
         " %zu without a grant (never purged)", purged, purged == 1 ? "" : "s", records, kept,
         date, no_grant);
  if (purged) printf("; log size %" PRIu64, size);
  printf("\n");
  return 0;
}

