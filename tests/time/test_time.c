/* Civil dates, ISO weeks, Europe/Copenhagen and Danish holidays. */
#include "testutil.h"

#include "mlproto/civiltime.h"
#include "mlproto/errors.h"

#include <stdlib.h>
#include <string.h>

static mlproto_date D(const char *s) {
  mlproto_date d = 0;
  assert_int_equal(mlproto_date_parse(&d, s, strlen(s)), MLPROTO_OK);
  return d;
}

/* Wall time "YYYY-MM-DD HH:MM[:SS][+HH:MM]" -> ms, asserting success. */
static int64_t T(const char *s) {
  int64_t ms = 0;
  assert_int_equal(mlproto_datetime_parse(&ms, s, strlen(s)), MLPROTO_OK);
  return ms;
}

static void test_isoweek_vectors(void **state) {
  (void)state;
  char *path = tu_path(TU_VECTORS_DIR, "isoweek.json");
  tu_json *j = tu_json_load(path);
  free(path);
  const tu_json *cols = tu_json_get(j, "columns");
  assert_non_null(cols);
  assert_string_equal(tu_json_at(cols, 0)->str, "date");
  assert_string_equal(tu_json_at(cols, 1)->str, "days_since_1970_01_01");
  assert_string_equal(tu_json_at(cols, 4)->str, "iso_weekday");
  const tu_json *rows = tu_json_get(j, "rows");
  assert_true(rows->n >= 1000);
  for (size_t i = 0; i < rows->n; i++) {
    const tu_json *r = tu_json_at(rows, i);
    const char *ds = tu_json_at(r, 0)->str;
    mlproto_date d;
    assert_int_equal(mlproto_date_parse(&d, ds, strlen(ds)), MLPROTO_OK);
    assert_int_equal(d, tu_json_at(r, 1)->inum);
    char buf[MLPROTO_DATE_STRLEN];
    assert_int_equal(mlproto_date_format(buf, d), MLPROTO_OK);
    assert_string_equal(buf, ds);
    mlproto_isoweek w;
    assert_int_equal(mlproto_isoweek_of(&w, d), MLPROTO_OK);
    assert_int_equal(w.year, tu_json_at(r, 2)->inum);
    assert_int_equal(w.week, tu_json_at(r, 3)->inum);
    assert_int_equal(w.weekday, tu_json_at(r, 4)->inum);
    assert_int_equal(mlproto_date_weekday(d), w.weekday);
    mlproto_date back;
    assert_int_equal(mlproto_isoweek_to_date(&back, w.year, w.week, w.weekday), MLPROTO_OK);
    assert_int_equal(back, d);
    mlproto_date mon = mlproto_date_monday(d);
    assert_int_equal(mon, d - (w.weekday - 1));
    assert_int_equal(mlproto_date_weekday(mon), 1);
  }
  tu_json_free(j);
}

static void test_copenhagen_vectors(void **state) {
  (void)state;
  char *path = tu_path(TU_VECTORS_DIR, "copenhagen-time.json");
  tu_json *j = tu_json_load(path);
  free(path);
  assert_string_equal(tu_json_get(j, "zone")->str, "Europe/Copenhagen");
  const tu_json *cols = tu_json_get(j, "columns");
  assert_string_equal(tu_json_at(cols, 0)->str, "unix_seconds");
  assert_string_equal(tu_json_at(cols, 1)->str, "local_date");
  assert_string_equal(tu_json_at(cols, 2)->str, "local_time");
  assert_string_equal(tu_json_at(cols, 3)->str, "utc_offset_seconds");
  const tu_json *rows = tu_json_get(j, "rows");
  assert_true(rows->n >= 1000);
  size_t ambiguous = 0, roundtrips = 0;
  for (size_t i = 0; i < rows->n; i++) {
    const tu_json *r = tu_json_at(rows, i);
    int64_t t = tu_json_at(r, 0)->inum;
    const char *ds = tu_json_at(r, 1)->str, *ts = tu_json_at(r, 2)->str;
    int off = (int)tu_json_at(r, 3)->inum;
    mlproto_localtime lt;
    assert_int_equal(mlproto_cph_from_unix(&lt, t), MLPROTO_OK);
    char buf[MLPROTO_DATE_STRLEN];
    assert_int_equal(mlproto_date_format(buf, lt.date), MLPROTO_OK);
    assert_string_equal(buf, ds);
    char hms[9];
    hms[0] = (char)('0' + lt.hour / 10), hms[1] = (char)('0' + lt.hour % 10), hms[2] = ':';
    hms[3] = (char)('0' + lt.minute / 10), hms[4] = (char)('0' + lt.minute % 10), hms[5] = ':';
    hms[6] = (char)('0' + lt.second / 10), hms[7] = (char)('0' + lt.second % 10), hms[8] = 0;
    assert_string_equal(hms, ts);
    assert_int_equal(lt.utc_offset_seconds, off);
    assert_int_equal(lt.millisecond, 0);

    /* Local -> UTC: without an offset it must round-trip or be reported
     * ambiguous (then the other reading also exists); with the offset it
     * always round-trips. */
    int64_t ms;
    int rc = mlproto_cph_to_unix_ms(&ms, lt.date, lt.hour, lt.minute, lt.second, 0,
                                    MLPROTO_OFFSET_NONE);
    if (rc == MLPROTO_ERR_AMBIGUOUS_LOCAL_TIME) {
      ambiguous++;
      int other = off == 3600 ? 7200 : 3600;
      assert_int_equal(mlproto_cph_to_unix_ms(&ms, lt.date, lt.hour, lt.minute, lt.second, 0,
                                              other),
                       MLPROTO_OK);
      assert_int_equal(ms, (t + (off - other)) * 1000);
    } else {
      assert_int_equal(rc, MLPROTO_OK);
      assert_int_equal(ms, t * 1000);
      roundtrips++;
    }
    assert_int_equal(
        mlproto_cph_to_unix_ms(&ms, lt.date, lt.hour, lt.minute, lt.second, 0, off), MLPROTO_OK);
    assert_int_equal(ms, t * 1000);
    /* The formatted local time parses back to the same instant. */
    char full[MLPROTO_LOCALTIME_STRLEN];
    assert_int_equal(mlproto_cph_format(full, t * 1000), MLPROTO_OK);
    assert_int_equal(mlproto_datetime_parse(&ms, full, strlen(full)), MLPROTO_OK);
    assert_int_equal(ms, t * 1000);
  }
  assert_true(ambiguous > 0);
  assert_true(roundtrips > ambiguous);
  tu_json_free(j);
}

static void test_date_parse_strict(void **state) {
  (void)state;
  static const char *const bad[] = {
      "2025-02-29", "2025-13-01", "2025-00-10", "2025-01-00", "2025-01-32", "1899-12-31",
      "25-01-01",   "2025-1-01",  "2025/01/01", "+025-01-01", "2025-01-01 ", " 2025-01-01",
      "2025-01-1a", "",           "10000-01-01", "2025-04-31"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mlproto_date d = 42;
    assert_int_equal(mlproto_date_parse(&d, bad[i], strlen(bad[i])), MLPROTO_ERR_BAD_DATE);
    assert_int_equal(d, 42);
  }
  mlproto_date d;
  assert_int_equal(mlproto_date_parse(&d, "2024-02-29", 10), MLPROTO_OK);
  assert_int_equal(mlproto_date_parse(&d, "2000-02-29", 10), MLPROTO_OK);
  assert_int_equal(mlproto_date_parse(&d, "1900-02-29", 10), MLPROTO_ERR_BAD_DATE);
  assert_int_equal(mlproto_date_parse(&d, "2024-02-29xyz", 10), MLPROTO_OK); /* len counts */
  assert_int_equal(mlproto_date_parse(&d, NULL, 10), MLPROTO_ERR_BAD_DATE);
  assert_int_equal(mlproto_date_parse(&d, "1900-01-01", 10), MLPROTO_OK);
  assert_int_equal(d, MLPROTO_DATE_MIN);
  assert_int_equal(mlproto_date_parse(&d, "9999-12-31", 10), MLPROTO_OK);
  assert_int_equal(d, MLPROTO_DATE_MAX);
  assert_int_equal(mlproto_date_parse(&d, "1970-01-01", 10), MLPROTO_OK);
  assert_int_equal(d, 0);
  char buf[MLPROTO_DATE_STRLEN];
  assert_int_equal(mlproto_date_format(buf, MLPROTO_DATE_MAX + 1), MLPROTO_ERR_BAD_DATE);
  assert_string_equal(buf, "");
  assert_int_equal(mlproto_date_format(buf, MLPROTO_DATE_MIN), MLPROTO_OK);
  assert_string_equal(buf, "1900-01-01");
  char m[MLPROTO_MONTH_STRLEN];
  assert_int_equal(mlproto_month_format(m, D("2026-12-31")), MLPROTO_OK);
  assert_string_equal(m, "2026-12");
  assert_int_equal(mlproto_days_in_month(2024, 2), 29);
  assert_int_equal(mlproto_days_in_month(2100, 2), 28);
  assert_int_equal(mlproto_days_in_month(2025, 13), 0);
  /* Every date of the range round-trips through ymd. */
  for (int64_t x = MLPROTO_DATE_MIN; x <= MLPROTO_DATE_MAX; x += 97) {
    int y, mo, dd;
    assert_int_equal(mlproto_date_to_ymd((mlproto_date)x, &y, &mo, &dd), MLPROTO_OK);
    mlproto_date back;
    assert_int_equal(mlproto_date_from_ymd(&back, y, mo, dd), MLPROTO_OK);
    assert_int_equal(back, x);
  }
}

static void test_isoweek_labels(void **state) {
  (void)state;
  char w[MLPROTO_ISOWEEK_STRLEN];
  assert_int_equal(mlproto_isoweek_label(w, D("2026-12-28")), MLPROTO_OK);
  assert_string_equal(w, "2026-W53");
  assert_int_equal(mlproto_isoweek_label(w, D("2027-01-03")), MLPROTO_OK);
  assert_string_equal(w, "2026-W53");
  assert_int_equal(mlproto_isoweek_label(w, D("2027-01-04")), MLPROTO_OK);
  assert_string_equal(w, "2027-W01");
  assert_int_equal(mlproto_isoweek_label(w, D("2025-12-29")), MLPROTO_OK);
  assert_string_equal(w, "2026-W01");
  assert_int_equal(mlproto_isoweek_label(w, D("2024-12-30")), MLPROTO_OK);
  assert_string_equal(w, "2025-W01");
  assert_int_equal(mlproto_date_monday(D("2027-01-02")), D("2026-12-28"));
  mlproto_date d;
  assert_int_equal(mlproto_isoweek_to_date(&d, 2026, 53, 1), MLPROTO_OK);
  assert_int_equal(d, D("2026-12-28"));
  assert_int_equal(mlproto_isoweek_to_date(&d, 2025, 53, 1), MLPROTO_ERR_BAD_DATE);
  assert_int_equal(mlproto_isoweek_to_date(&d, 2025, 0, 1), MLPROTO_ERR_BAD_DATE);
  assert_int_equal(mlproto_date_weekday(-1), 3); /* 1969-12-31 was a Wednesday */
  assert_int_equal(mlproto_date_weekday(D("1900-01-01")), 1);
}

static void test_easter(void **state) {
  (void)state;
  static const struct {
    int year;
    const char *date;
  } known[] = {{1900, "1900-04-15"}, {1961, "1961-04-02"}, {2000, "2000-04-23"},
               {2008, "2008-03-23"}, {2011, "2011-04-24"}, {2023, "2023-04-09"},
               {2024, "2024-03-31"}, {2025, "2025-04-20"}, {2026, "2026-04-05"},
               {2027, "2027-03-28"}, {2038, "2038-04-25"}, {2285, "2285-03-22"},
               {9999, "9999-03-28"}};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    mlproto_date e;
    assert_int_equal(mlproto_easter(&e, known[i].year), MLPROTO_OK);
    char buf[MLPROTO_DATE_STRLEN];
    assert_int_equal(mlproto_date_format(buf, e), MLPROTO_OK);
    assert_string_equal(buf, known[i].date);
  }
  mlproto_date e;
  assert_int_equal(mlproto_easter(&e, 1899), MLPROTO_ERR_BAD_DATE);
  /* Always a Sunday between 22 March and 25 April. */
  for (int y = 1900; y <= 9999; y++) {
    assert_int_equal(mlproto_easter(&e, y), MLPROTO_OK);
    assert_int_equal(mlproto_date_weekday(e), 7);
    int yy, m, d;
    assert_int_equal(mlproto_date_to_ymd(e, &yy, &m, &d), MLPROTO_OK);
    assert_true((m == 3 && d >= 22) || (m == 4 && d <= 25));
  }
}

static void check_holidays(int year, const char *const *expected, size_t n) {
  mlproto_holiday h[MLPROTO_DK_HOLIDAYS_MAX];
  size_t count = 0;
  assert_int_equal(mlproto_dk_holidays(h, &count, year), MLPROTO_OK);
  assert_int_equal(count, n);
  for (size_t i = 0; i < n; i++) {
    char buf[MLPROTO_DATE_STRLEN];
    assert_int_equal(mlproto_date_format(buf, h[i].date), MLPROTO_OK);
    assert_string_equal(buf, expected[i]);
    assert_true(mlproto_dk_is_holiday(h[i].date));
    assert_false(mlproto_is_working_day(h[i].date));
  }
  /* Exactly these days of the year are holidays. */
  mlproto_date jan1, dec31;
  assert_int_equal(mlproto_date_from_ymd(&jan1, year, 1, 1), MLPROTO_OK);
  assert_int_equal(mlproto_date_from_ymd(&dec31, year, 12, 31), MLPROTO_OK);
  size_t seen = 0;
  for (mlproto_date d = jan1; d <= dec31; d++)
    seen += (size_t)mlproto_dk_is_holiday(d);
  assert_int_equal(seen, n);
}

static void test_holidays_2023(void **state) {
  (void)state;
  static const char *const h[] = {"2023-01-01", "2023-04-06", "2023-04-07", "2023-04-09",
                                  "2023-04-10", "2023-05-05", "2023-05-18", "2023-05-28",
                                  "2023-05-29", "2023-12-25", "2023-12-26"};
  check_holidays(2023, h, 11);
  mlproto_holiday all[MLPROTO_DK_HOLIDAYS_MAX];
  size_t n;
  assert_int_equal(mlproto_dk_holidays(all, &n, 2023), MLPROTO_OK);
  assert_string_equal(all[5].name, "store-bededag");
  assert_string_equal(all[1].name, "maundy-thursday");
}

static void test_holidays_2024(void **state) {
  (void)state;
  static const char *const h[] = {"2024-01-01", "2024-03-28", "2024-03-29", "2024-03-31",
                                  "2024-04-01", "2024-05-09", "2024-05-19", "2024-05-20",
                                  "2024-12-25", "2024-12-26"};
  check_holidays(2024, h, 10);
  assert_true(mlproto_is_working_day(D("2024-04-26"))); /* would-be Store bededag */
  assert_false(mlproto_is_working_day(D("2024-04-27"))); /* Saturday */
  assert_true(mlproto_is_working_day(D("2024-06-05"))); /* Grundlovsdag: not a holiday here */
  assert_true(mlproto_is_working_day(D("2024-12-24")));
}

static void test_working_days_2026_w14(void **state) {
  (void)state;
  /* Domain example 8: 2026-W14 holds Maundy Thursday and Good Friday. */
  mlproto_date mon = D("2026-03-30");
  int working = 0;
  for (int i = 0; i < 7; i++)
    working += mlproto_is_working_day(mon + i);
  assert_int_equal(working, 3);
  assert_false(mlproto_is_working_day(D("2026-04-02")));
  assert_false(mlproto_is_working_day(D("2026-04-03")));
  assert_false(mlproto_is_working_day(D("2026-04-06"))); /* Easter Monday, W15 */
}

static void test_copenhagen_transitions(void **state) {
  (void)state;
  int64_t ms;
  /* Spring 2025-03-30: 02:00..02:59 does not exist. */
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("2025-03-30"), 2, 30, 0, 0, MLPROTO_OFFSET_NONE),
                   MLPROTO_ERR_NONEXISTENT_LOCAL_TIME);
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("2025-03-30"), 2, 0, 0, 0, 3600),
                   MLPROTO_ERR_NONEXISTENT_LOCAL_TIME);
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("2025-03-30"), 1, 59, 59, 999, MLPROTO_OFFSET_NONE),
                   MLPROTO_OK);
  assert_int_equal(ms, T("2025-03-30T00:59:59Z") + 999);
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("2025-03-30"), 3, 0, 0, 0, MLPROTO_OFFSET_NONE),
                   MLPROTO_OK);
  assert_int_equal(ms, T("2025-03-30T01:00:00Z"));
  /* Autumn 2025-10-26: 02:00..02:59 occurs twice. */
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("2025-10-26"), 2, 30, 0, 0, MLPROTO_OFFSET_NONE),
                   MLPROTO_ERR_AMBIGUOUS_LOCAL_TIME);
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("2025-10-26"), 2, 30, 0, 0, 7200), MLPROTO_OK);
  assert_int_equal(ms, T("2025-10-26T00:30:00Z"));
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("2025-10-26"), 2, 30, 0, 0, 3600), MLPROTO_OK);
  assert_int_equal(ms, T("2025-10-26T01:30:00Z"));
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("2025-10-26"), 3, 0, 0, 0, 7200),
                   MLPROTO_ERR_OFFSET_MISMATCH);
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("2025-07-01"), 12, 0, 0, 0, 3600),
                   MLPROTO_ERR_OFFSET_MISMATCH);
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("2025-07-01"), 12, 0, 0, 0, 0),
                   MLPROTO_ERR_OFFSET_MISMATCH);
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("2025-07-01"), 24, 0, 0, 0, MLPROTO_OFFSET_NONE),
                   MLPROTO_ERR_BAD_TIME);
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("2025-07-01"), 12, 0, 60, 0, MLPROTO_OFFSET_NONE),
                   MLPROTO_ERR_BAD_TIME);
  /* 1995 still ended summer time in September, 1980 began it in April. */
  mlproto_localtime lt;
  assert_int_equal(mlproto_cph_from_unix(&lt, 811213200), MLPROTO_OK); /* 1995-09-16 */
  assert_int_equal(lt.utc_offset_seconds, 7200);
  assert_int_equal(mlproto_cph_from_unix(&lt, 811213200 + 15 * 86400), MLPROTO_OK); /* 1995-10-01 */
  assert_int_equal(lt.utc_offset_seconds, 3600);
  assert_int_equal(mlproto_datetime_parse(&ms, "1980-03-30 12:00", 16), MLPROTO_OK);
  assert_int_equal(mlproto_cph_from_unix_ms(&lt, ms), MLPROTO_OK);
  assert_int_equal(lt.utc_offset_seconds, 3600);
  assert_int_equal(mlproto_datetime_parse(&ms, "1980-04-06 02:30", 16),
                   MLPROTO_ERR_NONEXISTENT_LOCAL_TIME);
  /* Range. */
  assert_int_equal(mlproto_cph_from_unix(&lt, 315532799), MLPROTO_ERR_OUT_OF_RANGE);
  assert_int_equal(mlproto_cph_from_unix(&lt, 315532800), MLPROTO_OK);
  assert_int_equal(mlproto_cph_from_unix_ms(&lt, -1), MLPROTO_ERR_OUT_OF_RANGE);
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("1979-12-31"), 12, 0, 0, 0, MLPROTO_OFFSET_NONE),
                   MLPROTO_ERR_OUT_OF_RANGE);
  assert_int_equal(mlproto_cph_to_unix_ms(&ms, D("9999-12-31"), 23, 59, 59, 999, MLPROTO_OFFSET_NONE),
                   MLPROTO_OK);
  assert_int_equal(mlproto_cph_from_unix_ms(&lt, ms), MLPROTO_OK);
  assert_int_equal(lt.date, MLPROTO_DATE_MAX);
  assert_int_equal(mlproto_cph_from_unix_ms(&lt, ms + 1), MLPROTO_ERR_OUT_OF_RANGE);
  /* Local midnight. */
  assert_int_equal(mlproto_cph_day_start_ms(&ms, D("2025-03-30")), MLPROTO_OK);
  assert_int_equal(ms, T("2025-03-29T23:00:00Z"));
  assert_int_equal(mlproto_cph_day_start_ms(&ms, D("2025-03-31")), MLPROTO_OK);
  assert_int_equal(ms, T("2025-03-30T22:00:00Z"));
  /* Negative milliseconds floor (1969), and ms within a second. */
  assert_int_equal(mlproto_cph_from_unix_ms(&lt, T("2025-01-01T00:00:00Z") - 1), MLPROTO_OK);
  assert_int_equal(lt.hour, 0);
  assert_int_equal(lt.minute, 59);
  assert_int_equal(lt.millisecond, 999);
}

static void test_datetime_parse(void **state) {
  (void)state;
  assert_int_equal(T("2025-03-30T22:30:00Z"), INT64_C(1743373800000));
  assert_int_equal(T("2025-03-31 00:30"), T("2025-03-30T22:30:00Z"));
  assert_int_equal(T("2025-03-31 00:30:00"), T("2025-03-30T22:30:00Z"));
  assert_int_equal(T("2025-03-31 00:30+02:00"), T("2025-03-30T22:30:00Z"));
  assert_int_equal(T("2025-03-31 00:30:15+02:00"), T("2025-03-30T22:30:15Z"));
  assert_int_equal(T("2025-10-26 02:30+01:00") - T("2025-10-26 02:30+02:00"), 3600000);
  static const struct {
    const char *s;
    int rc;
  } bad[] = {
      {"2025-03-31", MLPROTO_ERR_BAD_TIME},
      {"2025-03-31 0:30", MLPROTO_ERR_BAD_TIME},
      {"2025-03-31 24:00", MLPROTO_ERR_BAD_TIME},
      {"2025-03-31 12:60", MLPROTO_ERR_BAD_TIME},
      {"2025-03-31 12:00:60", MLPROTO_ERR_BAD_TIME},
      {"2025-03-31T12:00:00", MLPROTO_ERR_BAD_TIME},
      {"2025-03-31T12:00Z", MLPROTO_ERR_BAD_TIME},
      {"2025-03-31T12:00:00+00:00", MLPROTO_ERR_BAD_TIME},
      {"2025-03-31 12:00:00Z", MLPROTO_ERR_BAD_TIME},
      {"2025-03-31 12:00 +02:00", MLPROTO_ERR_BAD_TIME},
      {"2025-03-31 12:00+0200", MLPROTO_ERR_BAD_TIME},
      {"2025-03-31 12:00+03:00", MLPROTO_ERR_OFFSET_MISMATCH},
      {"2025-03-31 12:00-02:00", MLPROTO_ERR_OFFSET_MISMATCH},
      {"2025-03-31 12:00+01:00", MLPROTO_ERR_OFFSET_MISMATCH},
      {"2025-03-30 02:15", MLPROTO_ERR_NONEXISTENT_LOCAL_TIME},
      {"2025-10-26 02:15", MLPROTO_ERR_AMBIGUOUS_LOCAL_TIME},
      {"2025-02-30 12:00", MLPROTO_ERR_BAD_DATE},
      {"2025-3-30 12:00", MLPROTO_ERR_BAD_DATE},
      {"", MLPROTO_ERR_BAD_DATE},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t ms = 7;
    int rc = mlproto_datetime_parse(&ms, bad[i].s, strlen(bad[i].s));
    if (rc != bad[i].rc)
      fail_msg("'%s': got %s, want %s", bad[i].s, mlproto_errname(rc), mlproto_errname(bad[i].rc));
    assert_int_equal(ms, 7);
  }
  char buf[MLPROTO_UTCTIME_STRLEN];
  assert_int_equal(mlproto_utc_format(buf, T("2025-03-30T22:30:05Z") + 999), MLPROTO_OK);
  assert_string_equal(buf, "2025-03-30T22:30:05Z");
  char lb[MLPROTO_LOCALTIME_STRLEN];
  assert_int_equal(mlproto_cph_format(lb, T("2025-10-26T01:30:00Z")), MLPROTO_OK);
  assert_string_equal(lb, "2025-10-26 02:30:00+01:00");
  assert_int_equal(mlproto_cph_format(lb, T("2025-10-26T00:30:00Z")), MLPROTO_OK);
  assert_string_equal(lb, "2025-10-26 02:30:00+02:00");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_isoweek_vectors),    cmocka_unit_test(test_copenhagen_vectors),
      cmocka_unit_test(test_date_parse_strict),  cmocka_unit_test(test_isoweek_labels),
      cmocka_unit_test(test_easter),             cmocka_unit_test(test_holidays_2023),
      cmocka_unit_test(test_holidays_2024),      cmocka_unit_test(test_working_days_2026_w14),
      cmocka_unit_test(test_copenhagen_transitions), cmocka_unit_test(test_datetime_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
