/* Hybrid logical clock. Packing ms || counter into one integer turns the
 * textbook case analysis (equal ms: max counter + 1, ...) into a max and an
 * increment, and makes counter overflow carry into the ms part for free. */
#include "mlproto/hlc.h"

#include "mlproto/errors.h"

int mlproto_hlc_init(mlproto_hlc_state *s, mlproto_hlc last, int64_t max_drift_ms) {
  if (s == NULL || max_drift_ms < 0 || max_drift_ms > MLPROTO_HLC_MAX_MS)
    return MLPROTO_ERR_INVALID_ARGUMENT;
  s->last = last;
  s->max_drift_ms = max_drift_ms;
  return MLPROTO_OK;
}

static int advance(mlproto_hlc_state *s, mlproto_hlc floor, int64_t physical_ms,
                   mlproto_hlc *out) {
  if (floor == UINT64_MAX)
    return MLPROTO_ERR_OUT_OF_RANGE;
  mlproto_hlc next = floor + 1;
  mlproto_hlc phys = MLPROTO_HLC_MAKE(physical_ms, 0);
  if (phys > next)
    next = phys;
  s->last = next;
  if (out)
    *out = next;
  return MLPROTO_OK;
}

int mlproto_hlc_now(mlproto_hlc_state *s, int64_t physical_ms, mlproto_hlc *out) {
  if (physical_ms < 0 || physical_ms > MLPROTO_HLC_MAX_MS)
    return MLPROTO_ERR_OUT_OF_RANGE;
  return advance(s, s->last, physical_ms, out);
}

int mlproto_hlc_update(mlproto_hlc_state *s, mlproto_hlc received, int64_t physical_ms,
                       mlproto_hlc *out) {
  if (physical_ms < 0 || physical_ms > MLPROTO_HLC_MAX_MS)
    return MLPROTO_ERR_OUT_OF_RANGE;
  if (MLPROTO_HLC_MS(received) - physical_ms > s->max_drift_ms)
    return MLPROTO_ERR_CLOCK_DRIFT;
  return advance(s, received > s->last ? received : s->last, physical_ms, out);
}
