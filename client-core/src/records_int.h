/* Shared by records.c and query.c: the record writer and item lookups. */
#ifndef MENTORLOG_RECORDS_INT_H
#define MENTORLOG_RECORDS_INT_H

#include "internal.h"

#include "mlproto/compliance.h"
#include "mlproto/record.h"

struct ml_write {
  mlproto_kind kind;
  const uint8_t *case_id;
  const uint8_t *item_id; /* NULL: the record starts a new item */
  const uint8_t (*supersedes)[16];
  size_t n_supersedes;
  const mlproto_disclosed *disclosed;
  const mlproto_sealed *sealed;
  const mlproto_key *case_key;
};

/* An item and its current heads (to supersede them all). */
struct ml_target {
  uint8_t item_id[16];
  uint8_t case_id[16];
  size_t n;
  uint8_t heads[16][16];
};

/* Build, sign and store one record inside the caller's ml__begin. */
int ml__append(mentorlog *h, const struct ml_write *w, uint8_t out_id[16]);
int ml__case_check(mentorlog *h, const uint8_t case_id[16]);
int ml__item_heads(mentorlog *h, const uint8_t record_id[16], int kind_lo, int kind_hi,
                   struct ml_target *t);
/* Disclosed contact values of one stored record (for voiding). */
int ml__contact_disclosed(mentorlog *h, const uint8_t record_id[16],
                          Mentorlog__V1__ContactDisclosed *out);
void ml__rule_to_proto(mlproto_rule *out, const mentorlog_rule *in);

#endif
