/*
 * mlproto/alloc.h — the allocator hook of protocol/.
 *
 * Every heap allocation made by protocol/ (including protobuf-c unpacking,
 * through mlproto_protobuf_allocator()) goes through these functions, so a
 * test can make the Nth allocation fail and an embedder can route memory
 * through its own allocator. client-core installs its hook here as well.
 *
 * mlproto_set_allocator() is not thread-safe: call it once at start-up,
 * before any other thread uses Mentorlog. NULL restores malloc/realloc/free.
 * realloc(p, 0) is never called; free(NULL) must be a no-op.
 */
#ifndef MLPROTO_ALLOC_H
#define MLPROTO_ALLOC_H

#include "mlproto/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlproto_allocator {
  void *(*malloc_fn)(size_t size, void *ud);
  void *(*realloc_fn)(void *ptr, size_t size, void *ud);
  void (*free_fn)(void *ptr, void *ud);
  void *ud;
} mlproto_allocator;

void mlproto_set_allocator(const mlproto_allocator *a);

void *mlproto_malloc(size_t size);
void *mlproto_calloc(size_t n, size_t size); /* overflow-checked */
void *mlproto_realloc(void *ptr, size_t size);
void mlproto_free(void *ptr);
/* Copy of s (NUL-terminated) or NULL on allocation failure. */
char *mlproto_strdup(const char *s);
/* Copy of len bytes; NULL on failure. Returns a non-NULL pointer for len 0. */
void *mlproto_memdup(const void *p, size_t len);

#ifdef __cplusplus
}
#endif
#endif
