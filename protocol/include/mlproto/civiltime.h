/*
 * mlproto/civiltime.h — civil dates, ISO 8601 weeks, Europe/Copenhagen time
 * and Danish public holidays, without the C library's time zone machinery.
 *
 * protocol/ reads no clock and consults no TZ database: every function here
 * is pure arithmetic on its arguments, thread-safe, allocation-free, and
 * gives the same answer on every platform (phone and server must agree).
 *
 * Dates
 *   A date is an mlproto_date: the number of days since 1970-01-01 in the
 *   proleptic Gregorian calendar (1969-12-31 is -1). Valid dates are
 *   1900-01-01 (MLPROTO_DATE_MIN) .. 9999-12-31 (MLPROTO_DATE_MAX); functions
 *   that take a date refuse others with MLPROTO_ERR_BAD_DATE unless noted.
 *   Weekdays are ISO numbers: 1 = Monday .. 7 = Sunday.
 *
 * Europe/Copenhagen
 *   CET (UTC+1) in winter, CEST (UTC+2) in summer. Modelled exactly as the
 *   IANA tz database has it from 1980 on (the EU rules; Denmark switched in
 *   UTC, at 01:00 UTC):
 *     1980        summer from the first Sunday of April to the last Sunday
 *                 of September,
 *     1981..1995  from the last Sunday of March to the last Sunday of
 *                 September,
 *     1996..9999  from the last Sunday of March to the last Sunday of
 *                 October (today's rule, assumed to continue).
 *   Instants before 1980-01-01T00:00Z (Denmark's older, irregular history)
 *   and local times after 9999-12-31 are outside the supported range:
 *   MLPROTO_ERR_OUT_OF_RANGE. Unix times here ignore leap seconds (POSIX).
 *
 * Danish public holidays (domain.md, definition 4)
 *   1 January; Maundy Thursday, Good Friday, Easter Sunday, Easter Monday;
 *   Store bededag (Easter + 26, the 4th Friday after Easter) up to and
 *   including 2023 (abolished from 2024); Ascension (Easter + 39); Whit Sunday
 *   and Whit Monday (Easter + 49, + 50); 25 and 26 December. Nothing else
 *   (5 June and 24 December are not public holidays in this sense). Easter is
 *   the Gregorian (Western) Easter, by the anonymous algorithm
 *   (Meeus/Jones/Butcher).
 */
#ifndef MLPROTO_CIVILTIME_H
#define MLPROTO_CIVILTIME_H

#include "mlproto/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------- dates */

typedef int32_t mlproto_date; /* days since 1970-01-01 */

#define MLPROTO_DATE_MIN (-25567)  /* 1900-01-01 */
#define MLPROTO_DATE_MAX 2932896   /* 9999-12-31 */
/* "No date" for optional date fields (never a valid date). */
#define MLPROTO_DATE_NONE INT32_MIN

#define MLPROTO_MS_PER_DAY INT64_C(86400000)

/* Buffer sizes including the terminating NUL. */
#define MLPROTO_DATE_STRLEN 11     /* "2026-01-31" */
#define MLPROTO_MONTH_STRLEN 8     /* "2026-01" */
#define MLPROTO_ISOWEEK_STRLEN 9   /* "2026-W53" */
#define MLPROTO_LOCALTIME_STRLEN 26 /* "2026-01-31 14:05:00+01:00" */
#define MLPROTO_UTCTIME_STRLEN 21  /* "2026-01-31T13:05:00Z" */

/* 1 when MLPROTO_DATE_MIN <= d <= MLPROTO_DATE_MAX. */
MLPROTO_EXTERN int mlproto_date_valid(int64_t d);

/* (year, month 1..12, day 1..31) -> date. MLPROTO_ERR_BAD_DATE when the day
 * does not exist (2025-02-29) or the year is outside 1900..9999. */
MLPROTO_EXTERN int mlproto_date_from_ymd(mlproto_date *out, int year, int month, int day)
    MLPROTO_WARN_UNUSED;
/* date -> (year, month, day). d must be valid (else MLPROTO_ERR_BAD_DATE and
 * the outputs are untouched). Any output pointer may be NULL. */
MLPROTO_EXTERN int mlproto_date_to_ymd(mlproto_date d, int *year, int *month, int *day);

/* Days in a month (28..31); 0 for a month outside 1..12. */
MLPROTO_EXTERN int mlproto_days_in_month(int year, int month);

/* Strict "YYYY-MM-DD" of exactly len bytes (no NUL needed, no spaces, no
 * signs, two-digit month and day). MLPROTO_ERR_BAD_DATE otherwise. */
MLPROTO_EXTERN int mlproto_date_parse(mlproto_date *out, const char *s, size_t len)
    MLPROTO_WARN_UNUSED;
/* "YYYY-MM-DD" into out[MLPROTO_DATE_STRLEN]. MLPROTO_ERR_BAD_DATE for an
 * invalid date (out then holds ""). */
MLPROTO_EXTERN int mlproto_date_format(char *out, mlproto_date d);
/* "YYYY-MM" of the month holding d, into out[MLPROTO_MONTH_STRLEN]. */
MLPROTO_EXTERN int mlproto_month_format(char *out, mlproto_date d);

/* ISO weekday of any date: 1 = Monday .. 7 = Sunday. */
MLPROTO_EXTERN int mlproto_date_weekday(mlproto_date d);
/* The Monday on or before d (the first day of d's ISO week). */
MLPROTO_EXTERN mlproto_date mlproto_date_monday(mlproto_date d);

/* ------------------------------------------------------------ ISO weeks */

typedef struct mlproto_isoweek {
  int year;    /* ISO week-year (2027-01-02 is in week-year 2026) */
  int week;    /* 1..53 */
  int weekday; /* 1 = Monday .. 7 = Sunday */
} mlproto_isoweek;

/* ISO 8601 week of a valid date; MLPROTO_ERR_BAD_DATE otherwise. */
MLPROTO_EXTERN int mlproto_isoweek_of(mlproto_isoweek *out, mlproto_date d);
/* Label "YYYY-Www" (e.g. "2026-W53") of the week holding d, into
 * out[MLPROTO_ISOWEEK_STRLEN]. */
MLPROTO_EXTERN int mlproto_isoweek_label(char *out, mlproto_date d);
/* Date of (ISO year, week, weekday). MLPROTO_ERR_BAD_DATE when the week does
 * not exist in that year (week 53 of a 52-week year) or out of range. */
MLPROTO_EXTERN int mlproto_isoweek_to_date(mlproto_date *out, int iso_year, int week,
                                           int weekday) MLPROTO_WARN_UNUSED;

/* ---------------------------------------------------- Europe/Copenhagen */

/* The Copenhagen wall clock at one instant. */
typedef struct mlproto_localtime {
  mlproto_date date;
  int hour, minute, second, millisecond;
  int utc_offset_seconds; /* 3600 (CET) or 7200 (CEST) */
} mlproto_localtime;

/* Offset given to mlproto_cph_to_unix_ms when the caller has none. */
#define MLPROTO_OFFSET_NONE INT32_MIN

/* Instant (Unix ms, may be negative; floor semantics) -> Copenhagen wall
 * clock. MLPROTO_ERR_OUT_OF_RANGE before 1980-01-01T00:00Z or after
 * 9999-12-31 local. */
MLPROTO_EXTERN int mlproto_cph_from_unix_ms(mlproto_localtime *out, int64_t unix_ms)
    MLPROTO_WARN_UNUSED;
/* The same for whole seconds. */
MLPROTO_EXTERN int mlproto_cph_from_unix(mlproto_localtime *out, int64_t unix_seconds)
    MLPROTO_WARN_UNUSED;
/* Only the local date of an instant (the date a contact counts on). */
MLPROTO_EXTERN int mlproto_cph_date(mlproto_date *out, int64_t unix_ms) MLPROTO_WARN_UNUSED;

/* Copenhagen wall time (date, hour 0..23, minute 0..59, second 0..59,
 * milliseconds 0..999) -> Unix ms.
 * offset_seconds: MLPROTO_OFFSET_NONE, or the offset the caller saw
 * (3600 or 7200) to pick one of the two occurrences of an autumn wall time.
 * Errors: MLPROTO_ERR_BAD_DATE / MLPROTO_ERR_BAD_TIME for fields out of
 * range; MLPROTO_ERR_NONEXISTENT_LOCAL_TIME for a wall time in the spring
 * gap (with or without an offset); MLPROTO_ERR_AMBIGUOUS_LOCAL_TIME for an
 * autumn wall time that occurs twice when no offset was given;
 * MLPROTO_ERR_OFFSET_MISMATCH when the given offset is not in force at that
 * wall time (or is neither +01:00 nor +02:00); MLPROTO_ERR_OUT_OF_RANGE
 * before 1980. */
MLPROTO_EXTERN int mlproto_cph_to_unix_ms(int64_t *out, mlproto_date date, int hour,
                                          int minute, int second, int millisecond,
                                          int offset_seconds) MLPROTO_WARN_UNUSED;
/* The instant local midnight begins date d (always exists in Copenhagen:
 * the clocks change at 02:00/03:00). */
MLPROTO_EXTERN int mlproto_cph_day_start_ms(int64_t *out, mlproto_date d) MLPROTO_WARN_UNUSED;

/* Strict parse of exactly len bytes, either
 *   "YYYY-MM-DD HH:MM", "YYYY-MM-DD HH:MM:SS", each optionally followed by
 *   "+HH:MM" (Copenhagen wall time, offset as above), or
 *   "YYYY-MM-DDTHH:MM:SSZ" (UTC),
 * into Unix ms. Errors as mlproto_cph_to_unix_ms, plus MLPROTO_ERR_BAD_DATE
 * (date part) and MLPROTO_ERR_BAD_TIME (anything else malformed). */
MLPROTO_EXTERN int mlproto_datetime_parse(int64_t *out, const char *s, size_t len)
    MLPROTO_WARN_UNUSED;
/* "YYYY-MM-DD HH:MM:SS+HH:MM" (Copenhagen, always with the offset, so it
 * parses back to the same second) into out[MLPROTO_LOCALTIME_STRLEN]. */
MLPROTO_EXTERN int mlproto_cph_format(char *out, int64_t unix_ms);
/* "YYYY-MM-DDTHH:MM:SSZ" into out[MLPROTO_UTCTIME_STRLEN]; years 1900..9999. */
MLPROTO_EXTERN int mlproto_utc_format(char *out, int64_t unix_ms);

/* ------------------------------------------------------------- holidays */

typedef struct mlproto_holiday {
  mlproto_date date;
  const char *name;    /* stable slug: "new-years-day", "maundy-thursday",
                          "good-friday", "easter-sunday", "easter-monday",
                          "store-bededag", "ascension-day", "whit-sunday",
                          "whit-monday", "christmas-day", "boxing-day" */
  const char *name_da; /* Danish name, UTF-8 ("Skærtorsdag") */
} mlproto_holiday;

#define MLPROTO_DK_HOLIDAYS_MAX 11

/* Gregorian Easter Sunday of year (1900..9999). */
MLPROTO_EXTERN int mlproto_easter(mlproto_date *out, int year) MLPROTO_WARN_UNUSED;
/* The Danish public holidays of year, in date order, into
 * out[MLPROTO_DK_HOLIDAYS_MAX]; *count gets 11 (up to 2023) or 10. */
MLPROTO_EXTERN int mlproto_dk_holidays(mlproto_holiday *out, size_t *count, int year)
    MLPROTO_WARN_UNUSED;
/* 1 when d is a Danish public holiday, 0 when not (or invalid). */
MLPROTO_EXTERN int mlproto_dk_is_holiday(mlproto_date d);
/* 1 when d is Monday..Friday and not a public holiday, else 0. */
MLPROTO_EXTERN int mlproto_is_working_day(mlproto_date d);

#ifdef __cplusplus
}
#endif
#endif
