/* Civil calendar, ISO weeks, Copenhagen time and Danish holidays.
 * Calendar conversions follow Howard Hinnant's days_from_civil /
 * civil_from_days (exact for the whole proleptic Gregorian calendar). */
#include "mlproto/civiltime.h"

#include "mlproto/errors.h"

#include <string.h>

#define SEC_PER_DAY INT64_C(86400)
#define CET 3600
#define CEST 7200
/* 1980-01-01T00:00:00Z: the start of the modelled Copenhagen history. */
#define CPH_MIN_UNIX INT64_C(315532800)

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    q--;
  return q;
}

static int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = floor_div(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d) {
  z += 719468;
  const int64_t era = floor_div(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int dd = (int)(doy - (153 * mp + 2) / 5 + 1);
  const int mm = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yoe + era * 400 + (mm <= 2));
  *m = mm;
  *d = dd;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int mlproto_days_in_month(int year, int month) {
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12)
    return 0;
  return dim[month - 1] + (month == 2 && is_leap(year));
}

int mlproto_date_valid(int64_t d) { return d >= MLPROTO_DATE_MIN && d <= MLPROTO_DATE_MAX; }

int mlproto_date_from_ymd(mlproto_date *out, int year, int month, int day) {
  if (year < 1900 || year > 9999 || month < 1 || month > 12 || day < 1 ||
      day > mlproto_days_in_month(year, month))
    return MLPROTO_ERR_BAD_DATE;
  *out = (mlproto_date)days_from_civil(year, month, day);
  return MLPROTO_OK;
}

int mlproto_date_to_ymd(mlproto_date d, int *year, int *month, int *day) {
  if (!mlproto_date_valid(d))
    return MLPROTO_ERR_BAD_DATE;
  int y, m, dd;
  civil_from_days(d, &y, &m, &dd);
  if (year)
    *year = y;
  if (month)
    *month = m;
  if (day)
    *day = dd;
  return MLPROTO_OK;
}

/* n decimal digits at s, no sign; -1 on a non-digit. */
static int digits(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

static int parse_date10(mlproto_date *out, const char *s) {
  if (s[4] != '-' || s[7] != '-')
    return MLPROTO_ERR_BAD_DATE;
  int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
  if (y < 0 || m < 0 || d < 0)
    return MLPROTO_ERR_BAD_DATE;
  return mlproto_date_from_ymd(out, y, m, d);
}

int mlproto_date_parse(mlproto_date *out, const char *s, size_t len) {
  if (s == NULL || len != 10)
    return MLPROTO_ERR_BAD_DATE;
  return parse_date10(out, s);
}

/* n decimal digits of v (0 <= v < 10^n) at p; returns p + n. Used instead
 * of snprintf so that field widths are exact by construction. */
static char *put_digits(char *p, int v, int n) {
  for (int i = n - 1; i >= 0; i--) {
    p[i] = (char)('0' + v % 10);
    v /= 10;
  }
  return p + n;
}

/* "YYYY-MM-DD" (10 chars, no NUL) of a valid date. */
static char *put_date(char *p, mlproto_date d) {
  int y, m, dd;
  civil_from_days(d, &y, &m, &dd);
  p = put_digits(p, y, 4);
  *p++ = '-';
  p = put_digits(p, m, 2);
  *p++ = '-';
  return put_digits(p, dd, 2);
}

/* "HH:MM:SS" (8 chars) of milliseconds within a day. */
static char *put_hms(char *p, int64_t ms_of_day) {
  p = put_digits(p, (int)(ms_of_day / 3600000), 2);
  *p++ = ':';
  p = put_digits(p, (int)(ms_of_day / 60000 % 60), 2);
  *p++ = ':';
  return put_digits(p, (int)(ms_of_day / 1000 % 60), 2);
}

int mlproto_date_format(char *out, mlproto_date d) {
  if (!mlproto_date_valid(d)) {
    out[0] = '\0';
    return MLPROTO_ERR_BAD_DATE;
  }
  *put_date(out, d) = '\0';
  return MLPROTO_OK;
}

int mlproto_month_format(char *out, mlproto_date d) {
  if (!mlproto_date_valid(d)) {
    out[0] = '\0';
    return MLPROTO_ERR_BAD_DATE;
  }
  char full[10];
  put_date(full, d);
  memcpy(out, full, 7);
  out[7] = '\0';
  return MLPROTO_OK;
}

/* 1970-01-01 was a Thursday (4). */
int mlproto_date_weekday(mlproto_date d) { return (int)floor_mod((int64_t)d + 3, 7) + 1; }

mlproto_date mlproto_date_monday(mlproto_date d) {
  return (mlproto_date)((int64_t)d - (mlproto_date_weekday(d) - 1));
}

int mlproto_isoweek_of(mlproto_isoweek *out, mlproto_date d) {
  if (!mlproto_date_valid(d))
    return MLPROTO_ERR_BAD_DATE;
  /* The Thursday of d's week decides the week-year. */
  int wd = mlproto_date_weekday(d);
  int64_t thu = (int64_t)d - wd + 4;
  int y, m, dd;
  civil_from_days(thu, &y, &m, &dd);
  int64_t jan1 = days_from_civil(y, 1, 1);
  out->year = y;
  out->week = (int)((thu - jan1) / 7) + 1;
  out->weekday = wd;
  return MLPROTO_OK;
}

int mlproto_isoweek_label(char *out, mlproto_date d) {
  mlproto_isoweek w;
  if (mlproto_isoweek_of(&w, d) != MLPROTO_OK) {
    out[0] = '\0';
    return MLPROTO_ERR_BAD_DATE;
  }
  char *p = put_digits(out, w.year, 4);
  *p++ = '-';
  *p++ = 'W';
  *put_digits(p, w.week, 2) = '\0';
  return MLPROTO_OK;
}

int mlproto_isoweek_to_date(mlproto_date *out, int iso_year, int week, int weekday) {
  if (iso_year < 1900 || iso_year > 9999 || week < 1 || week > 53 || weekday < 1 ||
      weekday > 7)
    return MLPROTO_ERR_BAD_DATE;
  /* Week 1 is the week holding 4 January. */
  int64_t jan4 = days_from_civil(iso_year, 1, 4);
  int64_t d = jan4 - (mlproto_date_weekday((mlproto_date)jan4) - 1) + 7 * (int64_t)(week - 1) +
              (weekday - 1);
  mlproto_isoweek w;
  if (!mlproto_date_valid(d) || mlproto_isoweek_of(&w, (mlproto_date)d) != MLPROTO_OK ||
      w.year != iso_year)
    return MLPROTO_ERR_BAD_DATE;
  *out = (mlproto_date)d;
  return MLPROTO_OK;
}

/* ----------------------------------------------------- Europe/Copenhagen */

static int64_t last_sunday(int y, int month) {
  int64_t last = days_from_civil(y, month, mlproto_days_in_month(y, month));
  return last - (mlproto_date_weekday((mlproto_date)last) % 7);
}

/* Offset in force at a Unix second t >= CPH_MIN_UNIX (tz database, EU rules). */
static int cph_offset(int64_t t) {
  int y, m, d;
  civil_from_days(floor_div(t, SEC_PER_DAY), &y, &m, &d);
  int64_t start, end;
  if (y == 1980) {
    int64_t apr1 = days_from_civil(y, 4, 1);
    start = apr1 + (7 - mlproto_date_weekday((mlproto_date)apr1)) % 7;
  } else {
    start = last_sunday(y, 3);
  }
  end = last_sunday(y, y <= 1995 ? 9 : 10);
  int64_t s = start * SEC_PER_DAY + 3600, e = end * SEC_PER_DAY + 3600;
  return (t >= s && t < e) ? CEST : CET;
}

/* Largest supported instant: 9999-12-31 23:59:59.999 local (CET). */
#define CPH_MAX_UNIX_MS (((int64_t)MLPROTO_DATE_MAX + 1) * MLPROTO_MS_PER_DAY - CET * 1000 - 1)

int mlproto_cph_from_unix_ms(mlproto_localtime *out, int64_t unix_ms) {
  if (unix_ms < CPH_MIN_UNIX * 1000 || unix_ms > CPH_MAX_UNIX_MS)
    return MLPROTO_ERR_OUT_OF_RANGE;
  int64_t t = floor_div(unix_ms, 1000);
  int off = cph_offset(t);
  int64_t local_ms = unix_ms + (int64_t)off * 1000;
  int64_t day = floor_div(local_ms, MLPROTO_MS_PER_DAY);
  int64_t ms_of_day = local_ms - day * MLPROTO_MS_PER_DAY;
  out->date = (mlproto_date)day;
  out->hour = (int)(ms_of_day / 3600000);
  out->minute = (int)(ms_of_day / 60000 % 60);
  out->second = (int)(ms_of_day / 1000 % 60);
  out->millisecond = (int)(ms_of_day % 1000);
  out->utc_offset_seconds = off;
  return MLPROTO_OK;
}

int mlproto_cph_from_unix(mlproto_localtime *out, int64_t unix_seconds) {
  if (unix_seconds < CPH_MIN_UNIX || unix_seconds > CPH_MAX_UNIX_MS / 1000)
    return MLPROTO_ERR_OUT_OF_RANGE;
  return mlproto_cph_from_unix_ms(out, unix_seconds * 1000);
}

int mlproto_cph_date(mlproto_date *out, int64_t unix_ms) {
  mlproto_localtime lt;
  int rc = mlproto_cph_from_unix_ms(&lt, unix_ms);
  if (rc == MLPROTO_OK)
    *out = lt.date;
  return rc;
}

int mlproto_cph_to_unix_ms(int64_t *out, mlproto_date date, int hour, int minute, int second,
                           int millisecond, int offset_seconds) {
  if (!mlproto_date_valid(date))
    return MLPROTO_ERR_BAD_DATE;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 ||
      millisecond < 0 || millisecond > 999)
    return MLPROTO_ERR_BAD_TIME;
  int64_t wall = (int64_t)date * SEC_PER_DAY + hour * 3600 + minute * 60 + second;
  /* The two readings of the wall time; each is valid when its offset is the
   * one in force at the instant it denotes. */
  int64_t t_cet = wall - CET, t_cest = wall - CEST;
  if (t_cest < CPH_MIN_UNIX)
    return MLPROTO_ERR_OUT_OF_RANGE;
  int ok_cet = cph_offset(t_cet) == CET, ok_cest = cph_offset(t_cest) == CEST;
  int64_t t;
  if (!ok_cet && !ok_cest)
    return MLPROTO_ERR_NONEXISTENT_LOCAL_TIME;
  if (offset_seconds == MLPROTO_OFFSET_NONE) {
    if (ok_cet && ok_cest)
      return MLPROTO_ERR_AMBIGUOUS_LOCAL_TIME;
    t = ok_cet ? t_cet : t_cest;
  } else if (offset_seconds == CET && ok_cet) {
    t = t_cet;
  } else if (offset_seconds == CEST && ok_cest) {
    t = t_cest;
  } else {
    return MLPROTO_ERR_OFFSET_MISMATCH;
  }
  if (t < CPH_MIN_UNIX)
    return MLPROTO_ERR_OUT_OF_RANGE;
  *out = t * 1000 + millisecond;
  return MLPROTO_OK;
}

int mlproto_cph_day_start_ms(int64_t *out, mlproto_date d) {
  return mlproto_cph_to_unix_ms(out, d, 0, 0, 0, 0, MLPROTO_OFFSET_NONE);
}

/* "HH:MM" at s; seconds are parsed by the caller. */
static int parse_hm(const char *s, int *h, int *m) {
  if (s[2] != ':')
    return MLPROTO_ERR_BAD_TIME;
  *h = digits(s, 2);
  *m = digits(s + 3, 2);
  if (*h < 0 || *m < 0 || *h > 23 || *m > 59)
    return MLPROTO_ERR_BAD_TIME;
  return MLPROTO_OK;
}

int mlproto_datetime_parse(int64_t *out, const char *s, size_t len) {
  /* Lengths: 16 "D HH:MM", 19 "D HH:MM:SS", 22 "D HH:MM+hh:mm",
   * 25 "D HH:MM:SS+hh:mm", 20 "DTHH:MM:SSZ". */
  if (s == NULL || len < 10)
    return MLPROTO_ERR_BAD_DATE;
  mlproto_date date;
  int rc = parse_date10(&date, s);
  if (rc != MLPROTO_OK)
    return rc;
  if (len != 16 && len != 19 && len != 20 && len != 22 && len != 25)
    return MLPROTO_ERR_BAD_TIME;
  int h, m, sec = 0;
  if (len == 20 && s[10] == 'T') {
    if ((rc = parse_hm(s + 11, &h, &m)) != MLPROTO_OK)
      return rc;
    if (s[16] != ':' || s[19] != 'Z' || (sec = digits(s + 17, 2)) < 0 || sec > 59)
      return MLPROTO_ERR_BAD_TIME;
    *out = ((int64_t)date * SEC_PER_DAY + h * 3600 + m * 60 + sec) * 1000;
    return MLPROTO_OK;
  }
  if (s[10] != ' ' || (rc = parse_hm(s + 11, &h, &m)) != MLPROTO_OK)
    return MLPROTO_ERR_BAD_TIME;
  size_t pos = 16;
  if (len == 19 || len == 25) {
    if (s[16] != ':' || (sec = digits(s + 17, 2)) < 0 || sec > 59)
      return MLPROTO_ERR_BAD_TIME;
    pos = 19;
  }
  int offset = MLPROTO_OFFSET_NONE;
  if (pos + 6 == len) {
    int oh, om;
    if ((s[pos] != '+' && s[pos] != '-') || parse_hm(s + pos + 1, &oh, &om) != MLPROTO_OK)
      return MLPROTO_ERR_BAD_TIME;
    offset = (s[pos] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    if (offset != CET && offset != CEST)
      return MLPROTO_ERR_OFFSET_MISMATCH;
  } else if (pos != len) {
    return MLPROTO_ERR_BAD_TIME;
  }
  return mlproto_cph_to_unix_ms(out, date, h, m, sec, 0, offset);
}

int mlproto_cph_format(char *out, int64_t unix_ms) {
  mlproto_localtime lt;
  int rc = mlproto_cph_from_unix_ms(&lt, unix_ms);
  if (rc != MLPROTO_OK) {
    out[0] = '\0';
    return rc;
  }
  char *p = put_date(out, lt.date);
  *p++ = ' ';
  p = put_hms(p, ((int64_t)lt.hour * 3600 + lt.minute * 60 + lt.second) * 1000);
  *p++ = '+';
  p = put_digits(p, lt.utc_offset_seconds / 3600, 2);
  memcpy(p, ":00", 4);
  return MLPROTO_OK;
}

int mlproto_utc_format(char *out, int64_t unix_ms) {
  int64_t day = floor_div(unix_ms, MLPROTO_MS_PER_DAY);
  if (!mlproto_date_valid(day)) {
    out[0] = '\0';
    return MLPROTO_ERR_OUT_OF_RANGE;
  }
  char *p = put_date(out, (mlproto_date)day);
  *p++ = 'T';
  p = put_hms(p, unix_ms - day * MLPROTO_MS_PER_DAY);
  memcpy(p, "Z", 2);
  return MLPROTO_OK;
}

/* ------------------------------------------------------------- holidays */

int mlproto_easter(mlproto_date *out, int year) {
  if (year < 1900 || year > 9999)
    return MLPROTO_ERR_BAD_DATE;
  int a = year % 19, b = year / 100, c = year % 100, d = b / 4, e = b % 4;
  int f = (b + 8) / 25, g = (b - f + 1) / 3, h = (19 * a + b - d - g + 15) % 30;
  int i = c / 4, k = c % 4, l = (32 + 2 * e + 2 * i - h - k) % 7;
  int m = (a + 11 * h + 22 * l) / 451;
  int month = (h + l - 7 * m + 114) / 31, day = (h + l - 7 * m + 114) % 31 + 1;
  *out = (mlproto_date)days_from_civil(year, month, day);
  return MLPROTO_OK;
}

int mlproto_dk_holidays(mlproto_holiday *out, size_t *count, int year) {
  mlproto_date easter;
  int rc = mlproto_easter(&easter, year);
  if (rc != MLPROTO_OK)
    return rc;
  size_t n = 0;
#define HOL(d, slug, da) out[n++] = (mlproto_holiday){(mlproto_date)(d), slug, da}
  HOL(days_from_civil(year, 1, 1), "new-years-day", "Nytårsdag");
  HOL(easter - 3, "maundy-thursday", "Skærtorsdag");
  HOL(easter - 2, "good-friday", "Langfredag");
  HOL(easter, "easter-sunday", "Påskedag");
  HOL(easter + 1, "easter-monday", "2. påskedag");
  if (year <= 2023)
    HOL(easter + 26, "store-bededag", "Store bededag");
  HOL(easter + 39, "ascension-day", "Kristi himmelfartsdag");
  HOL(easter + 49, "whit-sunday", "Pinsedag");
  HOL(easter + 50, "whit-monday", "2. pinsedag");
  HOL(days_from_civil(year, 12, 25), "christmas-day", "Juledag");
  HOL(days_from_civil(year, 12, 26), "boxing-day", "2. juledag");
#undef HOL
  *count = n;
  return MLPROTO_OK;
}

int mlproto_dk_is_holiday(mlproto_date d) {
  int y, m, dd;
  if (mlproto_date_to_ymd(d, &y, &m, &dd) != MLPROTO_OK)
    return 0;
  if ((m == 1 && dd == 1) || (m == 12 && (dd == 25 || dd == 26)))
    return 1;
  if (m < 3 || m > 6)
    return 0; /* every Easter-based holiday falls in March..June */
  mlproto_date easter;
  if (mlproto_easter(&easter, y) != MLPROTO_OK)
    return 0;
  int off = d - easter;
  return off == -3 || off == -2 || off == 0 || off == 1 || (off == 26 && y <= 2023) ||
         off == 39 || off == 49 || off == 50;
}

int mlproto_is_working_day(mlproto_date d) {
  return mlproto_date_valid(d) && mlproto_date_weekday(d) <= 5 && !mlproto_dk_is_holiday(d);
}
