#include "mlproto/errors.h"

#include <string.h>

struct errinfo {
  int code;
  int http;
  const char *name;
  const char *msg;
};

static const struct errinfo errtab[] = {
#define MLPROTO_ERROR(name, value, http, msg) {(value), (http), #name, msg},
#include "mlproto/errors.def"
#undef MLPROTO_ERROR
};

static const struct errinfo *lookup(int code) {
  for (size_t i = 0; i < sizeof errtab / sizeof errtab[0]; i++)
    if (errtab[i].code == code)
      return &errtab[i];
  return NULL;
}

const char *mlproto_errname(int code) {
  if (code == MLPROTO_OK)
    return "OK";
  const struct errinfo *e = lookup(code);
  return e ? e->name : "UNKNOWN_ERROR";
}

const char *mlproto_strerror(int code) {
  if (code == MLPROTO_OK)
    return "success";
  const struct errinfo *e = lookup(code);
  return e ? e->msg : "unknown error";
}

int mlproto_http_status(int code) {
  if (code == MLPROTO_OK)
    return 200;
  const struct errinfo *e = lookup(code);
  return e ? e->http : 500;
}

int mlproto_errcode(const char *name) {
  if (name == NULL)
    return MLPROTO_ERR_INTERNAL;
  if (strcmp(name, "OK") == 0)
    return MLPROTO_OK;
  for (size_t i = 0; i < sizeof errtab / sizeof errtab[0]; i++)
    if (strcmp(errtab[i].name, name) == 0)
      return errtab[i].code;
  return MLPROTO_ERR_INTERNAL;
}
