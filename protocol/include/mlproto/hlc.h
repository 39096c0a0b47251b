/*
 * mlproto/hlc.h — hybrid logical clock (Kulkarni et al., 2014).
 *
 * Every record carries the HLC of the device that wrote it. An HLC value is a
 * uint64_t: the high 48 bits are Unix milliseconds, the low 16 bits a counter
 * that orders events within one millisecond. Compared as plain integers, HLC
 * values respect causality: a record written after receiving another always
 * has a larger HLC, even when the two devices' wall clocks disagree.
 *
 * Pure: the caller reads its own clock and passes physical_ms in. One state
 * per device; not thread-safe (guard a shared state with a lock).
 *
 * Overflow: when the counter would pass 0xFFFF, the value simply advances to
 * the next millisecond with counter 0 (the packed value + 1), so the clock
 * never goes backwards and never wraps. A remote HLC whose millisecond part is
 * more than max_drift_ms ahead of our physical clock is refused with
 * MLPROTO_ERR_CLOCK_DRIFT and leaves the state untouched: one device with a
 * wrong clock (or a forged record) cannot drag every clock into the future.
 */
#ifndef MLPROTO_HLC_H
#define MLPROTO_HLC_H

#include "mlproto/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t mlproto_hlc;

#define MLPROTO_HLC_MS(h) ((int64_t)((h) >> 16))
#define MLPROTO_HLC_COUNTER(h) ((uint32_t)((h)&0xFFFFu))
#define MLPROTO_HLC_MAKE(ms, counter) (((uint64_t)(ms) << 16) | ((uint64_t)(counter)&0xFFFFu))
#define MLPROTO_HLC_MAX_MS ((INT64_C(1) << 48) - 1) /* year 10889 */
/* A sensible default for max_drift_ms: one day. */
#define MLPROTO_HLC_DEFAULT_MAX_DRIFT_MS INT64_C(86400000)

typedef struct mlproto_hlc_state {
  mlproto_hlc last;     /* the largest value issued or received so far */
  int64_t max_drift_ms; /* how far ahead of us a remote clock may be */
} mlproto_hlc_state;

/* Start from a persisted value (0 for a new device). max_drift_ms >= 0;
 * MLPROTO_ERR_INVALID_ARGUMENT otherwise. */
MLPROTO_EXTERN int mlproto_hlc_init(mlproto_hlc_state *s, mlproto_hlc last, int64_t max_drift_ms)
    MLPROTO_WARN_UNUSED;

/* A local event (a record being written) at physical time physical_ms:
 * *out = max(last + 1, physical_ms << 16), and the state remembers it.
 * Strictly greater than every value issued or received before.
 * MLPROTO_ERR_OUT_OF_RANGE when physical_ms is negative or above
 * MLPROTO_HLC_MAX_MS, or when the clock would overflow 64 bits (state
 * untouched). */
MLPROTO_EXTERN int mlproto_hlc_now(mlproto_hlc_state *s, int64_t physical_ms, mlproto_hlc *out)
    MLPROTO_WARN_UNUSED;

/* A remote value received at physical time physical_ms: merges it so that
 * *out is greater than both the remote value and everything issued before
 * (*out = max(last, received) + 1, or physical_ms << 16 when that is larger).
 * out may be NULL. MLPROTO_ERR_CLOCK_DRIFT when MLPROTO_HLC_MS(received) >
 * physical_ms + max_drift_ms; MLPROTO_ERR_OUT_OF_RANGE as for _now. On error
 * the state is untouched. */
MLPROTO_EXTERN int mlproto_hlc_update(mlproto_hlc_state *s, mlproto_hlc received,
                                      int64_t physical_ms, mlproto_hlc *out) MLPROTO_WARN_UNUSED;

#ifdef __cplusplus
}
#endif
#endif
