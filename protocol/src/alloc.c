#include "mlproto/alloc.h"

#include <stdlib.h>
#include <string.h>

static void *default_malloc(size_t size, void *ud) {
  (void)ud;
  return malloc(size);
}
static void *default_realloc(void *ptr, size_t size, void *ud) {
  (void)ud;
  return realloc(ptr, size);
}
static void default_free(void *ptr, void *ud) {
  (void)ud;
  free(ptr);
}

static mlproto_allocator current = {default_malloc, default_realloc, default_free, NULL};

void mlproto_set_allocator(const mlproto_allocator *a) {
  if (a == NULL) {
    current = (mlproto_allocator){default_malloc, default_realloc, default_free, NULL};
    return;
  }
  current = *a;
}

void *mlproto_malloc(size_t size) {
  return current.malloc_fn(size ? size : 1, current.ud);
}

void *mlproto_calloc(size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size)
    return NULL;
  void *p = mlproto_malloc(n * size);
  if (p)
    memset(p, 0, n * size);
  return p;
}

void *mlproto_realloc(void *ptr, size_t size) {
  if (ptr == NULL)
    return mlproto_malloc(size);
  return current.realloc_fn(ptr, size ? size : 1, current.ud);
}

void mlproto_free(void *ptr) {
  if (ptr)
    current.free_fn(ptr, current.ud);
}

char *mlproto_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = mlproto_malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

void *mlproto_memdup(const void *p, size_t len) {
  void *d = mlproto_malloc(len);
  if (d && len)
    memcpy(d, p, len);
  return d;
}
