/*
 * mlproto/compliance.h — the weekly contact rule (domain.md, "The contact
 * rule", definitions 1-9), the current-state ("heads") computation over
 * superseding record versions, and the building of a grant's compliance
 * inputs from its case's records (module mlproto_derive: it alone needs
 * mlproto/record.h; the rest is mlproto_time).
 *
 * The device (what does this mentor still owe this week?) and the server
 * (the jobcentre's report) run this same code on the same inputs and get the
 * same answer, byte for byte: the result depends only on the *set* of inputs,
 * never on their order, and never on a clock (now is an argument).
 *
 * Thread-safety: all functions are reentrant; results are immutable and may
 * be read from any thread. Memory: every result is ONE block from
 * mlproto_malloc (all arrays inside point into it); free it with its _free
 * function (NULL is a no-op). On error *out is NULL and nothing leaks.
 *
 * ------------------------------------------------------------------------
 * Decisions this header pins down (where domain.md leaves room):
 *
 *  - "At most 6 months": E <= S + 6 months - 1 day, where S + 6 months is
 *    the same day of the month six months later; when that day does not
 *    exist there (31 Aug -> 31 Feb), the limit is the last day of that
 *    month. So 2026-01-01 may run to 2026-06-30, 2025-08-31 to 2026-02-28,
 *    2026-03-15 to 2026-09-14. Longer: MLPROTO_ERR_BAD_PERIOD.
 *  - A grant's close date C is its last day of support (inclusive): the
 *    effective end is E' = min(E, C). Periods and everything else use
 *    [S, E']. C < S (cancelled before it began) gives no periods.
 *  - Periods: period k covers monday(S) + 7*P*k .. + 7*P*(k+1) - 1 for every
 *    k whose days meet [S, E']. A period is "cut" when it is not wholly
 *    inside [S, E'].
 *  - In-scope days: days of the period in [S, E'] outside approved absences.
 *    Working days: in-scope Monday..Friday that are not Danish public
 *    holidays. K is applied only to periods cut by S or E' (definition 7):
 *    a full period is assessable as long as it has one in-scope day,
 *    whatever holidays (domain example 8) and approved absences (example
 *    27) leave of its working days, even none (an in-scope weekend).
 *  - NOT_ASSESSABLE reasons, for a period without enough qualifying
 *    contacts: ABSENCE when there are no in-scope days at all (approved
 *    absences cover all of the period's days in [S, E'], full or cut);
 *    for a cut period with in-scope days but fewer than K working days,
 *    PARTIAL when the cut alone (holidays included, absences not) leaves
 *    fewer than K working days, whatever the absences do, and ABSENCE when
 *    the cut alone leaves >= K and only approved absences take it below K
 *    (example 28). A full period is never NOT_ASSESSABLE(PARTIAL).
 *  - Status, first match wins: MET (qualifying >= N, also for partial or open
 *    periods); NOT_ASSESSABLE; PENDING while now < final_at_ms; then
 *    MISSED_WITH_ATTEMPTS (attempts >= 1); MISSED.
 *    final_at_ms = the instant Copenhagen local midnight begins the civil day
 *    (last day of the period + 1 + G). "+ G days" is civil days, so it is
 *    local midnight even across a DST change. The period's last day is its
 *    nominal last day (a Sunday), also for a period cut by E'.
 *  - Qualifying (definition 5): current, outcome held, channel in Q,
 *    minutes >= M, by_grant_mentor, local date in [S, E'] and not in an
 *    approved absence; it counts in the period of its local start date.
 *  - Attempt (definition 6): current, local date in [S, E'] (so in a period)
 *    and either outcome attempt-failed / no-show / cancelled-by-citizen, or
 *    outcome held without qualifying for any reason (channel outside Q,
 *    shorter than M, dated in an approved absence, or not by the grant's
 *    mentor). cancelled-by-mentor is never an attempt.
 *  - Minutes of a contact: with end_ms set, whole minutes elapsed between the
 *    instants, floor((end_ms - start_ms) / 60000) (domain example 14);
 *    otherwise duration_minutes. "Held minutes" are the minutes of current
 *    held contacts (any channel, any author) dated in [S, E']: they make
 *    the periods' minutes_held, the weekly hours and the billable minutes.
 *  - Transport minutes are summed per month separately for every current
 *    contact dated in [S, E'] (a failed visit also costs a journey) and are
 *    never billable.
 *  - Granted minutes per ISO week: granted_minutes_per_week * (days of that
 *    week in [S, E']) / 7, rounded half up; the total is their sum.
 *  - late_entry: recorded_at_ms - start_ms > L days (L * 86,400,000 ms);
 *    late_sync: received_at_ms != 0 and received_at_ms - recorded_at_ms >
 *    L days (mlproto_late_entry, mlproto_late_sync). Flags only: they never
 *    change a status.
 *  - Totals: met = MET periods; assessable_final = MET + MISSED +
 *    MISSED_WITH_ATTEMPTS periods (a MET period counts even while its grace
 *    runs: it cannot become a miss); missed = the MISSED* periods.
 *  - last_contact_date: the latest local date of a current held contact in
 *    [S, E'], or MLPROTO_DATE_NONE.
 * ------------------------------------------------------------------------
 */
#ifndef MLPROTO_COMPLIANCE_H
#define MLPROTO_COMPLIANCE_H

#include "mlproto/civiltime.h"
#include "mlproto/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* -------------------------------------------------- channels, outcomes */

/* Values are stable (stored and sent). Names are exactly the hyphenated
 * strings used by the CLI and JSON. */
/* Channel and outcome values are the wire values of enum Channel and enum
 * Outcome in mentorlog.proto (0 is never valid), so a record's field can be
 * used as is; MLPROTO_CHANNEL__COUNT / MLPROTO_OUTCOME__COUNT are the highest
 * valid values. A channel's bit in a rule's Q mask is 1 << channel. */
typedef enum mlproto_channel {
  MLPROTO_CHANNEL_IN_PERSON = 1,     /* "in-person" */
  MLPROTO_CHANNEL_HOME_VISIT = 2,    /* "home-visit" */
  MLPROTO_CHANNEL_ACCOMPANIMENT = 3, /* "accompaniment" */
  MLPROTO_CHANNEL_VIDEO = 4,         /* "video" */
  MLPROTO_CHANNEL_PHONE = 5,         /* "phone" */
  MLPROTO_CHANNEL_MESSAGE = 6,       /* "message" (SMS, e-mail) */
  MLPROTO_CHANNEL_OTHER = 7,         /* "other" */
  MLPROTO_CHANNEL__COUNT = 7
} mlproto_channel;

typedef enum mlproto_outcome {
  MLPROTO_OUTCOME_HELD = 1,                 /* "held" */
  MLPROTO_OUTCOME_ATTEMPT_FAILED = 2,       /* "attempt-failed" */
  MLPROTO_OUTCOME_NO_SHOW = 3,              /* "no-show" */
  MLPROTO_OUTCOME_CANCELLED_BY_CITIZEN = 4, /* "cancelled-by-citizen" */
  MLPROTO_OUTCOME_CANCELLED_BY_MENTOR = 5,  /* "cancelled-by-mentor" */
  MLPROTO_OUTCOME__COUNT = 5
} mlproto_outcome;

#define MLPROTO_CHANNEL_BIT(c) (1u << (unsigned)(c))
/* Default Q: in-person | home-visit | accompaniment | video | phone. */
#define MLPROTO_CHANNELS_DEFAULT                                                              \
  (MLPROTO_CHANNEL_BIT(MLPROTO_CHANNEL_IN_PERSON) |                                           \
   MLPROTO_CHANNEL_BIT(MLPROTO_CHANNEL_HOME_VISIT) |                                          \
   MLPROTO_CHANNEL_BIT(MLPROTO_CHANNEL_ACCOMPANIMENT) |                                       \
   MLPROTO_CHANNEL_BIT(MLPROTO_CHANNEL_VIDEO) | MLPROTO_CHANNEL_BIT(MLPROTO_CHANNEL_PHONE))
#define MLPROTO_CHANNELS_ALL (((1u << (MLPROTO_CHANNEL__COUNT + 1)) - 1u) & ~1u)

/* Static name, or NULL for a value outside the enum. */
MLPROTO_EXTERN const char *mlproto_channel_name(int channel);
MLPROTO_EXTERN const char *mlproto_outcome_name(int outcome);
/* Exact, case-sensitive match of len bytes; MLPROTO_ERR_INVALID_ARGUMENT for
 * an unknown name. */
MLPROTO_EXTERN int mlproto_channel_from_name(mlproto_channel *out, const char *s, size_t len)
    MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN int mlproto_outcome_from_name(mlproto_outcome *out, const char *s, size_t len)
    MLPROTO_WARN_UNUSED;

/* ---------------------------------------------------------- the rule */

typedef struct mlproto_rule {
  uint32_t period_weeks;     /* P: 1 or 2 [1] */
  uint32_t contacts_needed;  /* N: 1..MLPROTO_RULE_MAX_N [1] */
  uint32_t channels;         /* Q: non-empty subset of MLPROTO_CHANNELS_ALL */
  uint32_t min_minutes;      /* M: 0..1440 [0] */
  uint32_t min_working_days; /* K: 0..5*P [3] */
  uint32_t grace_days;       /* G: 0..MLPROTO_RULE_MAX_DAYS [7] */
  uint32_t late_days;        /* L: 0..MLPROTO_RULE_MAX_DAYS [7] */
} mlproto_rule;

#define MLPROTO_RULE_MAX_N 100
#define MLPROTO_RULE_MAX_DAYS 366
#define MLPROTO_RULE_INIT {1, 1, MLPROTO_CHANNELS_DEFAULT, 0, 3, 7, 7}

MLPROTO_EXTERN void mlproto_rule_default(mlproto_rule *r);
/* MLPROTO_ERR_BAD_RULE when a field is outside the ranges above. */
MLPROTO_EXTERN int mlproto_rule_validate(const mlproto_rule *r) MLPROTO_WARN_UNUSED;

/* --------------------------------------------------------- the grant */

typedef struct mlproto_grant {
  mlproto_date start;  /* S */
  mlproto_date end;    /* E: S <= E <= mlproto_grant_max_end(S) */
  mlproto_date closed; /* last day of support when closed early, else MLPROTO_DATE_NONE */
  mlproto_rule rule;
  uint32_t granted_minutes_per_week; /* 0..10080 */
} mlproto_grant;

/* The last allowed end date for a grant starting on start (see the "6
 * months" rule above). MLPROTO_ERR_BAD_DATE for an invalid start. */
MLPROTO_EXTERN int mlproto_grant_max_end(mlproto_date *out, mlproto_date start)
    MLPROTO_WARN_UNUSED;
/* BAD_DATE (a date invalid or outside 1980-01-01 .. 9998-12-31, the range
 * in which every period's Copenhagen instants exist), BAD_PERIOD (E < S, longer than 6 months),
 * BAD_RULE, OUT_OF_RANGE (granted minutes). */
MLPROTO_EXTERN int mlproto_grant_validate(const mlproto_grant *g) MLPROTO_WARN_UNUSED;

/* ------------------------------------------- entry flags (definition 9) */

/*
 * late_entry: 1 when a contact starting at start_ms was recorded (the
 * device's clock, recorded_at_ms) more than late_days days after its start,
 * i.e. recorded_at_ms - start_ms > late_days * 86,400,000 ms; exactly L days
 * is not late, nor is a record made before the start. 0 otherwise. The one
 * definition: the engine's mlproto_contact_result.late_entry, client-core's
 * contact lists and any report use this function. Total (no overflow for any
 * int64 inputs), pure.
 */
MLPROTO_EXTERN int mlproto_late_entry(int64_t start_ms, int64_t recorded_at_ms,
                                      uint32_t late_days);
/*
 * late_sync: 1 when received_at_ms != 0 (received by the server) and
 * received_at_ms - recorded_at_ms > late_days days, else 0. A flag for the
 * reader (offline work is normal), never a fault. Total, pure.
 */
MLPROTO_EXTERN int mlproto_late_sync(int64_t recorded_at_ms, int64_t received_at_ms,
                                     uint32_t late_days);

/* ----------------------------------------------- current heads (generic) */

/* One version of a logical item (a contact, note, grant...). An item is the
 * set of versions connected by supersedes links (in either direction). */
typedef struct mlproto_item {
  uint8_t record_id[16];
  const uint8_t (*supersedes)[16]; /* record ids this version replaces */
  size_t n_supersedes;             /* <= MLPROTO_HEADS_MAX_LINKS */
  uint64_t hlc;                    /* the writing device's HLC */
  uint8_t author[32];              /* the author's public key */
} mlproto_item;

/* The one order of versions: by hlc, then author bytes, then record_id
 * bytes; larger is newer. < 0 when a is older than b, 0 for the same
 * version, > 0 when a is newer. Every replica that orders concurrent heads
 * (a device choosing what a void repeats, the server, an auditor) uses it. */
MLPROTO_EXTERN int mlproto_item_order(const mlproto_item *a, const mlproto_item *b);

#define MLPROTO_MAX_ITEMS 100000
#define MLPROTO_HEADS_MAX_LINKS 256

typedef struct mlproto_head_group {
  size_t representative; /* input index of the newest head */
  size_t n_heads;        /* 1 normally; > 1: a conflict; 0: only cyclic links */
  const size_t *heads;   /* input indexes of the heads, newest first */
  size_t n_versions;     /* all versions of the item (heads included) */
  const size_t *versions; /* input indexes, newest first */
} mlproto_head_group;

typedef struct mlproto_heads {
  size_t n_groups;
  const mlproto_head_group *groups; /* ordered by representative, newest last */
  const size_t *group_of;          /* per input index: its group */
  const uint8_t *is_head;          /* per input index: 1 when not superseded */
} mlproto_heads;

/*
 * Current state of a set of versions. A head is a version that no other
 * version in the input supersedes. "Newest" orders by (hlc, then author
 * bytes, then record_id bytes), larger is newer; the representative of an
 * item is its newest head. When supersedes links form a cycle so that an
 * item has no head at all (only a malicious writer can do that), n_heads is
 * 0 and the representative is the item's newest version; callers should
 * treat that like a conflict.
 * Links to record ids that are not in the input are ignored (the version
 * may have been purged); a version naming itself is ignored likewise.
 * Errors: MLPROTO_ERR_TOO_LARGE (n > MLPROTO_MAX_ITEMS or a version with
 * more than MLPROTO_HEADS_MAX_LINKS links), MLPROTO_ERR_ALREADY_EXISTS (the
 * same record_id twice), MLPROTO_ERR_INVALID_ARGUMENT, OUT_OF_MEMORY.
 * The result does not point into items.
 */
MLPROTO_EXTERN int mlproto_heads_compute(mlproto_heads **out, const mlproto_item *items,
                                         size_t n) MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN void mlproto_heads_free(mlproto_heads *h);

/* ------------------------------------------------------ compliance input */

/* One version of a contact record, mapped from its disclosed part. */
typedef struct mlproto_contact {
  mlproto_item item;          /* identity, supersedes, hlc, author */
  int voided;                 /* this version voids the item */
  int64_t start_ms;           /* claimed start instant (Unix ms) */
  int64_t end_ms;             /* end instant, or 0: use duration_minutes */
  uint32_t duration_minutes;  /* 0..1440, used when end_ms == 0 */
  uint32_t transport_minutes; /* 0..1440, never billable */
  mlproto_outcome outcome;
  mlproto_channel channel;
  int by_grant_mentor;  /* the author was the grant's mentor on the local start date */
  int64_t recorded_at_ms; /* the device's HLC ms part when it was recorded */
  int64_t received_at_ms; /* the server's receipt time; 0 = not yet received */
} mlproto_contact;

typedef struct mlproto_absence {
  mlproto_date from, to; /* inclusive, from <= to */
  int approved;          /* only approved absences exempt days */
} mlproto_absence;

#define MLPROTO_COMPLIANCE_MAX_CONTACTS 100000
#define MLPROTO_COMPLIANCE_MAX_ABSENCES 10000
#define MLPROTO_CONTACT_MAX_MINUTES 1440

/* ----------------------------------------------------- compliance output */

typedef enum mlproto_period_status {
  MLPROTO_PERIOD_MET = 0,
  MLPROTO_PERIOD_NOT_ASSESSABLE = 1,
  MLPROTO_PERIOD_PENDING = 2,
  MLPROTO_PERIOD_MISSED_WITH_ATTEMPTS = 3,
  MLPROTO_PERIOD_MISSED = 4
} mlproto_period_status;

typedef enum mlproto_na_reason {
  MLPROTO_NA_NONE = 0,    /* the period is assessable */
  MLPROTO_NA_PARTIAL = 1, /* cut by the grant's start/end, the cut alone leaves < K working days */
  MLPROTO_NA_ABSENCE = 2  /* approved absences left no in-scope day, or took a cut
                           * period (>= K working days after the cut) below K */
} mlproto_na_reason;

/* "MET", "NOT_ASSESSABLE", "PENDING", "MISSED_WITH_ATTEMPTS", "MISSED";
 * "none", "partial", "absence". NULL for unknown values. */
MLPROTO_EXTERN const char *mlproto_period_status_name(int status);
MLPROTO_EXTERN const char *mlproto_na_reason_name(int reason);

typedef struct mlproto_period {
  uint32_t k;                  /* 0, 1, 2, ... */
  mlproto_date start, end;     /* the nominal period: a Monday .. a Sunday */
  uint32_t n_weeks;            /* P */
  char weeks[2][MLPROTO_ISOWEEK_STRLEN]; /* ISO labels of the weeks covered */
  mlproto_period_status status;
  mlproto_na_reason reason;
  int cut;                     /* not wholly inside [S, E']: K applies */
  int absence_reduced;         /* an approved absence removed days in [S, E']
                                * (informative: K applies only when cut) */
  uint32_t qualifying;
  uint32_t attempts;
  uint64_t minutes_held;
  uint32_t in_scope_days;
  uint32_t working_days;       /* in scope */
  int64_t final_at_ms;         /* PENDING until this instant (see above) */
} mlproto_period;

typedef struct mlproto_week_hours {
  char week[MLPROTO_ISOWEEK_STRLEN];
  mlproto_date monday;
  uint32_t days_in_grant; /* days of the week in [S, E'] */
  uint64_t minutes_held;
  uint64_t minutes_granted;
} mlproto_week_hours;

typedef struct mlproto_month_billing {
  char month[MLPROTO_MONTH_STRLEN]; /* "YYYY-MM" of the local date */
  uint64_t billable_minutes;         /* held minutes */
  uint64_t transport_minutes;        /* separate, never billable */
  uint32_t held_contacts;
} mlproto_month_billing;

/* One current contact (the representative of a non-voided item). */
typedef struct mlproto_contact_result {
  size_t index;            /* input index of the representative version */
  mlproto_date local_date; /* Copenhagen date of start_ms */
  uint32_t minutes;
  int32_t period;          /* index into periods, or -1 outside [S, E'] */
  int in_absence;          /* dated in an approved absence */
  int qualifies;
  int attempt;
  int late_entry;
  int late_sync;
  int conflict;            /* the item has concurrent heads */
} mlproto_contact_result;

typedef struct mlproto_compliance_totals {
  uint32_t met;
  uint32_t assessable_final;
  uint32_t pending;
  uint32_t not_assessable;
  uint32_t n_missed;
  const uint32_t *missed; /* indexes into periods (MISSED or MISSED_WITH_ATTEMPTS) */
  uint64_t minutes_held;
  uint64_t minutes_granted;
  uint64_t transport_minutes;
} mlproto_compliance_totals;

typedef struct mlproto_compliance {
  mlproto_date effective_end; /* E' = min(E, closed) */
  size_t n_periods;
  const mlproto_period *periods;
  mlproto_compliance_totals totals;
  size_t n_weeks;
  const mlproto_week_hours *weeks;
  size_t n_months;
  const mlproto_month_billing *months;
  size_t n_contacts;
  const mlproto_contact_result *contacts; /* ordered by (start_ms, record_id) */
  size_t n_conflicts;
  const mlproto_head_group *conflicts; /* contact items with n_heads != 1 */
  mlproto_date last_contact_date;
  uint32_t late_entries;
  uint32_t late_syncs;
} mlproto_compliance;

/*
 * Compliance of one grant at time now_ms. contacts are ALL versions of the
 * grant's contact records (superseded and voided ones too): the engine
 * computes the current heads itself. The result does not point into the
 * inputs.
 * Errors: MLPROTO_ERR_INVALID_ARGUMENT (NULL with a non-zero count, an
 * unknown channel/outcome), the grant's validation errors, BAD_PERIOD (an
 * absence with to < from), BAD_DATE, FIELD_RANGE (a contact start outside
 * 1980..9999, end before start, minutes above MLPROTO_CONTACT_MAX_MINUTES,
 * negative times), TOO_LARGE (more than the MAX_ counts), the errors of
 * mlproto_heads_compute, OUT_OF_MEMORY.
 */
MLPROTO_EXTERN int mlproto_compliance_compute(mlproto_compliance **out, const mlproto_grant *grant,
                                              const mlproto_contact *contacts, size_t n_contacts,
                                              const mlproto_absence *absences, size_t n_absences,
                                              int64_t now_ms) MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN void mlproto_compliance_free(mlproto_compliance *c);

/* ------------------------------------- compliance inputs from records */

struct mlproto_record; /* mlproto/record.h: a parsed and verified record */

/* What mlproto_compliance_compute needs for one grant, built from records.
 * One block: every array points into it; free with
 * mlproto_compliance_inputs_free. The arrays are not const so that a caller
 * that knows the server's receipt times (the log) can fill in
 * contacts[i].received_at_ms before computing. */
typedef struct mlproto_compliance_inputs {
  uint8_t grant_id[16]; /* the grant item's oldest version (its GRANT_OPEN) */
  uint8_t case_id[16];
  mlproto_grant grant;  /* start, end, rule, minutes of params; closed */
  size_t params_record; /* input index of the version the parameters come from */
  size_t close_record;  /* input index of the close head that counts, or SIZE_MAX */
  int grant_conflict;   /* the grant item has other than exactly one head */
  size_t n_contacts;
  mlproto_contact *contacts;    /* every contact version of the case */
  const size_t *contact_record; /* per contact: its input index */
  size_t n_absences;
  mlproto_absence *absences;    /* the current version of each absence item */
  const size_t *absence_record; /* per absence: its input index */
} mlproto_compliance_inputs;

/*
 * The compliance inputs of one grant from the verified records of its case,
 * using the disclosed parts only (never a sealed byte). The same set of
 * records gives the same inputs byte for byte, in any order, so the device,
 * the server's report and an auditor computing from the same records agree.
 *   records   verified records (mlproto_record_verify or _verify_stored), in
 *             any order; records of other cases, and of kinds other than
 *             GRANT_OPEN/UPDATE/CLOSE, CONTACT and ABSENCE, are ignored.
 *             Not retained: the result does not point into them.
 *   grant_id  the record id of any version (GRANT_OPEN, UPDATE or CLOSE) of
 *             the grant; its case is the case used.
 *   mentor_keys, n_mentor_keys  the author keys of the grant's mentor's
 *             devices: a contact by any other author gets by_grant_mentor 0
 *             (definition 5). NULL and 0: every author is the grant's mentor
 *             (one mentor's own profile). The mentor on the contact's date is
 *             the caller's concern: pass the keys that were the mentor's.
 * The grant: an item is the grant-kind records connected by supersedes links
 * (mlproto_heads_compute). Its parameters (S, E, rule, granted minutes) are
 * those of its newest version (hlc, author, record_id) that is not a
 * GRANT_CLOSE; closed is the earliest close_day among the item's heads that
 * are GRANT_CLOSE (concurrent closes: the first ends support), else
 * MLPROTO_DATE_NONE, so that E' = min(E, closed); a close that a later
 * version superseded no longer counts. The grant is not validated here
 * (mlproto_compliance_compute does it).
 * Contacts: every CONTACT version of the case, superseded and voided ones
 * included, with its supersedes links, as the engine expects (it finds the
 * heads, drops voided items and reports conflicts); ordered by record_id.
 * recorded_at_ms is the record's HLC ms part; end_ms and received_at_ms are
 * 0 (a record carries neither; the log holds the receipt time).
 * Absences: for each ABSENCE item, its representative (newest head), with
 * its approved flag (the engine exempts only approved ones); ordered by
 * record_id.
 * Errors: MLPROTO_ERR_INVALID_ARGUMENT (out or grant_id NULL, records NULL
 * with n > 0, a NULL record, mentor_keys NULL with n_mentor_keys > 0),
 * NOT_FOUND (no grant-kind record with id grant_id, or the grant has no
 * GRANT_OPEN/UPDATE version in the set), SEALED_ERASED (the disclosed part
 * of a record it needs was erased: then no honest answer exists), FIELD_MISSING
 * (a disclosed part without its payload), TOO_LARGE (more than
 * MLPROTO_COMPLIANCE_MAX_CONTACTS contact versions, more than
 * MLPROTO_MAX_ITEMS grant or absence versions, more than
 * MLPROTO_COMPLIANCE_MAX_ABSENCES absences), ALREADY_EXISTS (one record id
 * twice among the grant's, the contact or the absence versions),
 * OUT_OF_MEMORY. On error *out is NULL.
 */
MLPROTO_EXTERN int mlproto_compliance_inputs_from_records(
    mlproto_compliance_inputs **out, const struct mlproto_record *const *records, size_t n,
    const uint8_t grant_id[16], const uint8_t (*mentor_keys)[32],
    size_t n_mentor_keys) MLPROTO_WARN_UNUSED;
MLPROTO_EXTERN void mlproto_compliance_inputs_free(mlproto_compliance_inputs *in);

#ifdef __cplusplus
}
#endif
#endif
