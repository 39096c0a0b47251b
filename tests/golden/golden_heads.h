/*
 * golden_heads.h — current heads of a set of record versions, through
 * mlproto_heads_compute(), in fixed-size arrays for the generator and the
 * test. (It was once a separate translation unit because compliance.h and
 * record.h could not be included together; they can now.)
 */
#ifndef ML_GOLDEN_HEADS_H
#define ML_GOLDEN_HEADS_H

#include <stddef.h>
#include <stdint.h>

#define GOLDEN_HEADS_MAX 64

typedef struct golden_item {
  uint8_t record_id[16];
  uint8_t supersedes[16][16];
  size_t n_supersedes;
  uint64_t hlc;
  uint8_t author[32];
} golden_item;

typedef struct golden_group {
  size_t representative;
  size_t n_heads, heads[GOLDEN_HEADS_MAX];       /* input indexes, newest first */
  size_t n_versions, versions[GOLDEN_HEADS_MAX]; /* input indexes, newest first */
} golden_group;

/* Groups in the library's order (by representative, newest last). Returns 0
 * or an mlproto error code; *n_groups <= n. */
int golden_heads(golden_group *groups, size_t *n_groups, const golden_item *items, size_t n);

#endif
