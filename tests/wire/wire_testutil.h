/*
 * wire_testutil.h — helpers shared by the wire tests.
 */
#ifndef ML_TEST_WIRE_TESTUTIL_H
#define ML_TEST_WIRE_TESTUTIL_H

#include "mlproto/alloc.h"

/* An allocator for out-of-memory tests: while wt_oom_countdown is positive
 * each allocation takes one off it, at 0 every allocation fails, at -1 none
 * does. Install it with mlproto_set_allocator(&wt_oom_allocator). */
extern int wt_oom_countdown;
extern const mlproto_allocator wt_oom_allocator;

#endif
