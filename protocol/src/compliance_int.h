/* Internal interface between compliance_heads.c and compliance.c. */
#ifndef MLPROTO_COMPLIANCE_INT_H
#define MLPROTO_COMPLIANCE_INT_H

#include "mlproto/compliance.h"

/* mlproto_heads_compute over n records of `stride` bytes each, every one
 * beginning with an mlproto_item (mlproto_contact embeds one first). */
int mlproto__heads_compute_strided(mlproto_heads **out, const void *base, size_t stride,
                                   size_t n);

/* 1 when a is newer than b: (hlc, author, record_id), larger is newer. */
int mlproto__item_newer(const mlproto_item *a, const mlproto_item *b);

#endif
