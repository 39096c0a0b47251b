#include "wire_testutil.h"

#include <stdlib.h>

int wt_oom_countdown = -1;

/* Whether this allocation may go ahead. */
static int oom_tick(void) {
  if (wt_oom_countdown == 0)
    return 0;
  if (wt_oom_countdown > 0)
    wt_oom_countdown--;
  return 1;
}

static void *oom_malloc(size_t n, void *ud) {
  (void)ud;
  return oom_tick() ? malloc(n) : NULL;
}

static void *oom_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  return oom_tick() ? realloc(p, n) : NULL;
}

static void oom_free(void *p, void *ud) {
  (void)ud;
  free(p);
}

const mlproto_allocator wt_oom_allocator = {oom_malloc, oom_realloc, oom_free, NULL};
