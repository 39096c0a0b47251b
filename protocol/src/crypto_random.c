/* crypto_random.c — pooled random bytes for the record path (see crypto_int.h). */
#include "crypto_int.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#define POOL_BYTES 512u
#define POOL_MAX_REQUEST 64u

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static _Atomic int atfork_ok;
static _Atomic unsigned fork_generation;

static _Thread_local struct {
  uint8_t buf[POOL_BYTES];
  size_t left;         /* unused bytes at the end of buf */
  unsigned generation;
} pool;

static void on_fork_child(void) { atomic_fetch_add(&fork_generation, 1); }

static void register_atfork(void) {
  atomic_store(&atfork_ok, pthread_atfork(NULL, NULL, on_fork_child) == 0);
}

/* Only libsodium's own generators are pooled: an implementation installed
 * with randombytes_set_implementation() (a platform RNG, a deterministic
 * one for golden vectors) sees every request as it is made. */
static int pool_allowed(size_t n) {
  if (n > POOL_MAX_REQUEST || !atomic_load_explicit(&atfork_ok, memory_order_relaxed)) return 0;
  const char *impl = randombytes_implementation_name();
  return impl && (strcmp(impl, "sysrandom") == 0 || strcmp(impl, "internal") == 0);
}

void mlproto__random(uint8_t *out, size_t n) {
  pthread_once(&atfork_once, register_atfork);
  if (!pool_allowed(n)) {
    randombytes_buf(out, n);
    return;
  }
  unsigned gen = atomic_load(&fork_generation);
  if (pool.generation != gen || pool.left < n) {
    randombytes_buf(pool.buf, POOL_BYTES);
    pool.left = POOL_BYTES;
    pool.generation = gen;
  }
  uint8_t *p = pool.buf + (POOL_BYTES - pool.left);
  memcpy(out, p, n);
  sodium_memzero(p, n);
  pool.left -= n;
}
