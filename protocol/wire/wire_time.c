#include "wire_int.h"

/* Howard Hinnant's civil_from_days: exact for every int64 day count we can
 * meet, no tables, no time zone state. */
void mlproto__utc_from_unix(mlproto__utc *out, int64_t t) {
  int64_t days = t / 86400, rem = t % 86400;
  if (rem < 0) {
    rem += 86400;
    days--;
  }
  out->hour = (int)(rem / 3600);
  out->min = (int)(rem / 60 % 60);
  out->sec = (int)(rem % 60);
  int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
  out->wday = (int)(w < 0 ? w + 7 : w);

  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  out->day = (int)(doy - (153 * mp + 2) / 5 + 1);
  out->month = (int)(mp < 10 ? mp + 3 : mp - 9);
  out->year = yoe + era * 400 + (out->month <= 2);
}
