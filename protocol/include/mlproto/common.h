/*
 * mlproto/common.h — macros shared by every public header of Mentorlog.
 */
#ifndef MLPROTO_COMMON_H
#define MLPROTO_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Exported from a shared library build (we build with hidden visibility). */
#if defined(__GNUC__)
#define MLPROTO_EXTERN __attribute__((visibility("default")))
#define MLPROTO_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define MLPROTO_EXTERN
#define MLPROTO_WARN_UNUSED
#endif

#endif
