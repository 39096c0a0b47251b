/* Current heads of superseding versions: union-find over the supersedes
 * links (looked up by binary search on sorted record ids), then one sort
 * that puts every item's versions together, newest first. O(n log n + links
 * log n); the output never depends on the input order. */
#include "compliance_int.h"

#include "mlproto/alloc.h"
#include "mlproto/errors.h"

#include <stdlib.h>
#include <string.h>

#define ITEM(base, stride, i) ((const mlproto_item *)((const char *)(base) + (stride) * (i)))

static int item_cmp(const mlproto_item *a, const mlproto_item *b) {
  if (a->hlc != b->hlc)
    return a->hlc < b->hlc ? -1 : 1;
  int c = memcmp(a->author, b->author, sizeof a->author);
  if (c != 0)
    return c;
  return memcmp(a->record_id, b->record_id, sizeof a->record_id);
}

int mlproto__item_newer(const mlproto_item *a, const mlproto_item *b) { return item_cmp(a, b) > 0; }
int mlproto_item_order(const mlproto_item *a, const mlproto_item *b) { return item_cmp(a, b); }

struct id_ent {
  const uint8_t *id;
  size_t idx;
};

static int id_ent_cmp(const void *a, const void *b) {
  return memcmp(((const struct id_ent *)a)->id, ((const struct id_ent *)b)->id, 16);
}

/* Version sort key: by temporary group, then newest first. */
struct ver_ent {
  size_t group;
  size_t idx;
  const mlproto_item *it;
};

static int ver_ent_cmp(const void *pa, const void *pb) {
  const struct ver_ent *a = pa, *b = pb;
  if (a->group != b->group)
    return a->group < b->group ? -1 : 1;
  return -item_cmp(a->it, b->it);
}

struct grp_ent {
  size_t tmp;   /* temporary group id */
  size_t first; /* offset of its versions in the sorted ver_ent array */
  size_t count;
  const mlproto_item *rep;
  size_t rep_idx;
  size_t n_heads;
};

static int grp_ent_cmp(const void *pa, const void *pb) {
  return item_cmp(((const struct grp_ent *)pa)->rep, ((const struct grp_ent *)pb)->rep);
}

static size_t uf_find(size_t *parent, size_t i) {
  while (parent[i] != i) {
    parent[i] = parent[parent[i]];
    i = parent[i];
  }
  return i;
}

static void uf_union(size_t *parent, size_t a, size_t b) {
  a = uf_find(parent, a);
  b = uf_find(parent, b);
  /* Smaller index as root keeps the forest shallow enough with halving. */
  if (a < b)
    parent[b] = a;
  else if (b < a)
    parent[a] = b;
}

static size_t align8(size_t n) { return (n + 7u) & ~(size_t)7u; }

int mlproto__heads_compute_strided(mlproto_heads **out, const void *base, size_t stride, size_t n) {
  if (out == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (n > 0 && base == NULL)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  if (n > MLPROTO_MAX_ITEMS)
    return MLPROTO_ERR_TOO_LARGE;
  for (size_t i = 0; i < n; i++) {
    const mlproto_item *it = ITEM(base, stride, i);
    if (it->n_supersedes > MLPROTO_HEADS_MAX_LINKS)
      return MLPROTO_ERR_TOO_LARGE;
    if (it->n_supersedes > 0 && it->supersedes == NULL)
      return MLPROTO_ERR_INVALID_ARGUMENT;
  }

  int rc = MLPROTO_ERR_OUT_OF_MEMORY;
  struct id_ent *ids = mlproto_calloc(n ? n : 1, sizeof *ids);
  size_t *parent = mlproto_calloc(n ? n : 1, sizeof *parent);
  size_t *tmp_gid = mlproto_calloc(n ? n : 1, sizeof *tmp_gid);
  uint8_t *superseded = mlproto_calloc(n ? n : 1, 1);
  struct ver_ent *vers = mlproto_calloc(n ? n : 1, sizeof *vers);
  struct grp_ent *grps = mlproto_calloc(n ? n : 1, sizeof *grps);
  mlproto_heads *h = NULL;
  if (!ids || !parent || !tmp_gid || !superseded || !vers || !grps)
    goto free_tmp;

  for (size_t i = 0; i < n; i++) {
    ids[i] = (struct id_ent){ITEM(base, stride, i)->record_id, i};
    parent[i] = i;
  }
  qsort(ids, n, sizeof *ids, id_ent_cmp);
  for (size_t i = 1; i < n; i++) {
    if (memcmp(ids[i - 1].id, ids[i].id, 16) == 0) {
      rc = MLPROTO_ERR_ALREADY_EXISTS;
      goto free_tmp;
    }
  }
  for (size_t i = 0; i < n; i++) {
    const mlproto_item *it = ITEM(base, stride, i);
    for (size_t s = 0; s < it->n_supersedes; s++) {
      struct id_ent key = {it->supersedes[s], 0};
      const struct id_ent *hit = bsearch(&key, ids, n, sizeof *ids, id_ent_cmp);
      if (hit == NULL || hit->idx == i)
        continue;
      superseded[hit->idx] = 1;
      uf_union(parent, i, hit->idx);
    }
  }

  size_t ng = 0;
  for (size_t i = 0; i < n; i++)
    tmp_gid[i] = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    size_t r = uf_find(parent, i);
    if (tmp_gid[r] == SIZE_MAX)
      tmp_gid[r] = ng++;
    vers[i] = (struct ver_ent){tmp_gid[r], i, ITEM(base, stride, i)};
  }
  qsort(vers, n, sizeof *vers, ver_ent_cmp);

  size_t total_heads = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i, heads = 0;
    const mlproto_item *rep = NULL;
    size_t rep_idx = vers[i].idx;
    while (j < n && vers[j].group == vers[i].group) {
      if (!superseded[vers[j].idx]) {
        if (heads++ == 0) {
          rep = vers[j].it;
          rep_idx = vers[j].idx;
        }
      }
      j++;
    }
    if (rep == NULL)
      rep = vers[i].it; /* a cycle: fall back to the newest version */
    grps[vers[i].group] = (struct grp_ent){vers[i].group, i, j - i, rep, rep_idx, heads};
    total_heads += heads;
    i = j;
  }
  qsort(grps, ng, sizeof *grps, grp_ent_cmp);

  size_t off_groups = align8(sizeof *h);
  size_t off_heads = off_groups + align8(ng * sizeof(mlproto_head_group));
  size_t off_versions = off_heads + align8(total_heads * sizeof(size_t));
  size_t off_group_of = off_versions + align8(n * sizeof(size_t));
  size_t off_is_head = off_group_of + align8(n * sizeof(size_t));
  size_t total = off_is_head + align8(n);
  char *blk = mlproto_malloc(total);
  if (blk == NULL)
    goto free_tmp;
  memset(blk, 0, total);
  h = (mlproto_heads *)blk;
  mlproto_head_group *groups = (mlproto_head_group *)(blk + off_groups);
  size_t *heads_arr = (size_t *)(blk + off_heads);
  size_t *vers_arr = (size_t *)(blk + off_versions);
  size_t *group_of = (size_t *)(blk + off_group_of);
  uint8_t *is_head = (uint8_t *)(blk + off_is_head);

  size_t hpos = 0, vpos = 0;
  for (size_t g = 0; g < ng; g++) {
    const struct grp_ent *ge = &grps[g];
    mlproto_head_group *og = &groups[g];
    og->representative = ge->rep_idx;
    og->n_heads = ge->n_heads;
    og->heads = heads_arr + hpos;
    og->n_versions = ge->count;
    og->versions = vers_arr + vpos;
    for (size_t k = ge->first; k < ge->first + ge->count; k++) {
      size_t idx = vers[k].idx;
      vers_arr[vpos++] = idx;
      group_of[idx] = g;
      if (!superseded[idx]) {
        heads_arr[hpos++] = idx;
        is_head[idx] = 1;
      }
    }
  }
  h->n_groups = ng;
  h->groups = groups;
  h->group_of = group_of;
  h->is_head = is_head;
  *out = h;
  rc = MLPROTO_OK;

free_tmp:
  mlproto_free(grps);
  mlproto_free(vers);
  mlproto_free(superseded);
  mlproto_free(tmp_gid);
  mlproto_free(parent);
  mlproto_free(ids);
  return rc;
}

int mlproto_heads_compute(mlproto_heads **out, const mlproto_item *items, size_t n) {
  return mlproto__heads_compute_strided(out, items, sizeof *items, n);
}

void mlproto_heads_free(mlproto_heads *h) { mlproto_free(h); }
