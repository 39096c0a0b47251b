/* See golden_heads.h. */
#include "golden_heads.h"

#include "mlproto/compliance.h"
#include "mlproto/errors.h"

int golden_heads(golden_group *groups, size_t *n_groups, const golden_item *items, size_t n) {
  if (n > GOLDEN_HEADS_MAX)
    return MLPROTO_ERR_TOO_LARGE;
  mlproto_item it[GOLDEN_HEADS_MAX];
  for (size_t i = 0; i < n; i++) {
    for (size_t b = 0; b < 16; b++)
      it[i].record_id[b] = items[i].record_id[b];
    for (size_t b = 0; b < 32; b++)
      it[i].author[b] = items[i].author[b];
    it[i].hlc = items[i].hlc;
    it[i].n_supersedes = items[i].n_supersedes;
    it[i].supersedes = items[i].n_supersedes ? items[i].supersedes : NULL;
  }
  mlproto_heads *h = NULL;
  int rc = mlproto_heads_compute(&h, it, n);
  if (rc)
    return rc;
  *n_groups = h->n_groups;
  for (size_t g = 0; g < h->n_groups; g++) {
    const mlproto_head_group *hg = &h->groups[g];
    groups[g].representative = hg->representative;
    groups[g].n_heads = hg->n_heads;
    groups[g].n_versions = hg->n_versions;
    for (size_t k = 0; k < hg->n_heads; k++)
      groups[g].heads[k] = hg->heads[k];
    for (size_t k = 0; k < hg->n_versions; k++)
      groups[g].versions[k] = hg->versions[k];
  }
  mlproto_heads_free(h);
  return 0;
}
