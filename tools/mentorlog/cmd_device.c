/* mentorlog devices, device approve, conflicts: the mentor's devices and
 * what they wrote concurrently, from the profile alone (no network). */
#include "cli.h"
#include "subcommands.h"

#include "mentorlog/sync.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ----------------------------------------------------------- devices */

static const char usage_devices[] =
    "Usage: mentorlog devices [--json]\n"
    "\n"
    "The mentor's devices as this device knows them from the server's log (as of\n"
    "its last sync): id (32 hex digits), fingerprint, state and label. States:\n"
    "  this device        the one you are using\n"
    "  approved           receives the case keys (the mentor's first device, or\n"
    "                     approved by one of the mentor's devices)\n"
    "  pending approval   enrolled, but reads nothing until approved:\n"
    "                     mentorlog device approve ID --fingerprint FINGERPRINT\n"
    "  revoked            revoked by the administrator: gets no key, its pushes refused\n"
    "Approve a device only when the fingerprint shown here equals the one that\n"
    "device shows for itself ('mentorlog status' there): a device enrolled by\n"
    "someone else with a leaked code shows another one.\n";

static const char *device_state(const mentorlog_device *d) {
  if (d->self)
    return d->revoked ? "this device, revoked" : d->approved ? "this device" : "this device, pending approval";
  return d->revoked ? "revoked" : d->approved ? "approved" : "pending approval";
}

/* Open the profile and list its devices; on failure (printed) *h is NULL. */
static int load_devices(const char *what, mentorlog **h, mentorlog_device **v, size_t *n) {
  *v = NULL;
  *n = 0;
  int rc = open_profile(h, false);
  if (rc)
    return rc;
  int err = mentorlog_devices(*h, v, n);
  if (err == MENTORLOG_ERR_NOT_ENROLLED) {
    fprintf(stderr, "%s: %s: this device is not enrolled with a server: run 'mentorlog enroll URL CODE --pin"
                    " SHA256' first (NOT_ENROLLED)\n", prog, what);
    rc = EXIT_USER;
  } else if (err) {
    rc = fail(*h, err, what);
  }
  if (rc) {
    mentorlog_close(*h);
    *h = NULL;
  }
  return rc;
}

static int devices_json(const mentorlog_device *v, size_t n) {
  mlproto_json j;
  mlproto_buf b;
  json_begin(&j, &b);
  mlproto_json_arr(&j);
  for (size_t i = 0; i < n; i++) {
    const mentorlog_device *d = &v[i];
    mlproto_json_obj(&j);
    mlproto_json_khex(&j, "id", d->id, MENTORLOG_ID_BYTES);
    mlproto_json_kstr(&j, "label", d->label);
    mlproto_json_kstr(&j, "fingerprint", d->fingerprint);
    mlproto_json_kstr(&j, "state", device_state(d));
    mlproto_json_kbool(&j, "self", d->self);
    mlproto_json_kbool(&j, "first", d->first);
    mlproto_json_kbool(&j, "approved", d->approved);
    mlproto_json_kbool(&j, "revoked", d->revoked);
    mlproto_json_ku64(&j, "log_index", d->log_index);
    mlproto_json_ki64(&j, "enrolled_ms", d->enrolled_ms);
    mlproto_json_end(&j);
  }
  mlproto_json_end(&j);
  return json_emit(&j, stdout, "devices");
}

static void devices_text(const mentorlog_device *v, size_t n) {
  bool pending = false;
  printf("%-32s  %-19s  %-16s  %s\n", "DEVICE", "FINGERPRINT", "STATE", "LABEL");
  for (size_t i = 0; i < n; i++) {
    const mentorlog_device *d = &v[i];
    char id[MENTORLOG_ID_HEX + 1];
    hex(id, d->id);
    pending |= !d->self && !d->approved && !d->revoked;
    printf("%s  %-19s  %-16s  ", id, d->fingerprint, device_state(d));
    print_safe(stdout, d->label);
    fputc('\n', stdout);
  }
  if (pending)
    printf("\nA device pending approval reads nothing. Compare its fingerprint with the one it shows\n"
           "for itself ('mentorlog status' there), then: mentorlog device approve ID --fingerprint F\n");
}

int cmd_devices(int argc, char **argv) {
  struct opt opts[] = {{"json", 1, 0, 0}, {0}};
  const char *pos[1];
  int npos, rc;
  if (parse_opts(argc, argv, opts, pos, 0, &npos, usage_devices, &rc))
    return rc;
  mentorlog *h;
  mentorlog_device *v;
  size_t n;
  if ((rc = load_devices("devices", &h, &v, &n)))
    return rc;
  if (opt_get(opts, "json")->seen)
    rc = devices_json(v, n);
  else
    devices_text(v, n);
  mentorlog_devices_free(v, n);
  mentorlog_close(h);
  return rc;
}

/* ------------------------------------------------------------ device */

static const char usage_device[] =
    "Usage: mentorlog device approve ID --fingerprint FINGERPRINT\n"
    "\n"
    "Approve another device of the mentor (listed by 'mentorlog devices' as pending\n"
    "approval) after comparing FINGERPRINT with the one that device shows for itself\n"
    "('mentorlog status' there; case, spaces and dashes do not matter). This device\n"
    "must be approved itself. It signs the approval and grants the device every case\n"
    "key it holds; the grants go to the server at the next 'mentorlog sync', and the\n"
    "approved device reads the cases after its own sync.\n"
    "ID: the device's 32 hex digits or a unique prefix of >= 6.\n"
    "Exit status 1 with FINGERPRINT_MISMATCH when the fingerprints differ: do not\n"
    "approve that device (it may have been enrolled by someone else with your code).\n";

/* The device named by arg (full id or unique prefix of >= 6 hex digits) in
 * v. Returns 0 with *out, or an exit status (printed). */
static int device_resolve(const mentorlog_device *v, size_t n, const char *arg, const mentorlog_device **out) {
  size_t len = strlen(arg);
  bool ok = len >= 6 && len <= MENTORLOG_ID_HEX;
  for (size_t i = 0; ok && i < len; i++)
    ok = isxdigit((unsigned char)arg[i]) != 0;
  if (!ok)
    return usage_error(usage_device, "ID '%s': expected the device's 32 hex digits or a prefix of >= 6", arg);
  *out = NULL;
  size_t matches = 0;
  for (size_t i = 0; i < n; i++) {
    char id[MENTORLOG_ID_HEX + 1];
    hex(id, v[i].id);
    if (strncasecmp(id, arg, len) == 0) {
      *out = &v[i];
      matches++;
    }
  }
  if (matches == 1)
    return 0;
  fprintf(stderr, "%s: device approve: %s (%s)\n", prog,
          matches ? "the prefix matches more than one device: give more digits"
                  : "no device of the mentor has this id ('mentorlog devices' lists them; sync first if it"
                    " enrolled after this device's last sync)",
          matches ? "AMBIGUOUS_PREFIX" : "NOT_FOUND");
  return EXIT_USER;
}

int cmd_device(int argc, char **argv) {
  struct opt opts[] = {{"fingerprint", 0, 0, 0}, {0}};
  const char *pos[1];
  const char *sub;
  int npos, rc;
  if (parse_sub(argc, argv, "device", usage_device, opts, pos, &npos, &sub, &rc))
    return rc;
  if (strcmp(sub, "approve") != 0)
    return usage_error(usage_device, "device: unknown subcommand '%s'", sub);
  if (npos != 1)
    return usage_error(usage_device, "device approve needs the device's ID");
  const char *fp = optv(opts, "fingerprint");
  if (!fp)
    return usage_error(usage_device, "device approve needs --fingerprint (compare it with the device's own)");
  mentorlog *h;
  mentorlog_device *v;
  size_t n;
  if ((rc = load_devices("device approve", &h, &v, &n)))
    return rc;
  const mentorlog_device *d = NULL;
  if (!(rc = device_resolve(v, n, pos[0], &d))) {
    char id[MENTORLOG_ID_HEX + 1];
    hex(id, d->id);
    int err = mentorlog_device_approve(h, d->id, fp);
    if (err == MENTORLOG_ERR_FINGERPRINT_MISMATCH) {
      fprintf(stderr, "%s: device approve: device %s has the fingerprint %s, not %s: not approved"
                      " (FINGERPRINT_MISMATCH). Do not approve a device whose own screen shows another one.\n",
              prog, id, d->fingerprint, fp);
      rc = EXIT_USER;
    } else if (err == MENTORLOG_ERR_NO_CASE_KEY) {
      fprintf(stderr, "%s: device approve: this device is not approved itself, so it holds no case key to"
                      " grant: approve from an approved device (NO_CASE_KEY)\n", prog);
      rc = EXIT_USER;
    } else if (err) {
      rc = fail(h, err, "device approve");
    } else {
      printf("approved device %s", id);
      if (d->label[0]) {
        fputs(" \"", stdout);
        print_safe(stdout, d->label);
        fputc('"', stdout);
      }
      printf(": its case keys go to the server at the next 'mentorlog sync'\n");
    }
  }
  mentorlog_devices_free(v, n);
  mentorlog_close(h);
  return rc;
}

/* --------------------------------------------------------- conflicts */

static const char usage_conflicts[] =
    "Usage: mentorlog conflicts [--json]\n"
    "\n"
    "The items that have concurrent versions: two devices changed the same contact,\n"
    "note or grant without seeing each other's change (offline). Both were kept;\n"
    "each version is shown, newest first. Until it is resolved, a conflicted contact\n"
    "counts by the protocol's rule (the same on every device), and 'contact list'\n"
    "marks it CONFLICT. A later version supersedes both and resolves it:\n"
    "    mentorlog contact correct RECORD [options]   (RECORD: either version)\n"
    "    mentorlog note revise RECORD\n"
    "    mentorlog grant update GRANT [options]\n"
    "then 'mentorlog sync'. From the profile alone (no network).\n";

struct conflicts {
  mlproto_json *j; /* --json: the document, else NULL (text) */
  size_t items;    /* conflicted items printed */
  size_t locked; /* cases this device cannot read */
};

/* Start of one conflicted item. */
static void item_begin(struct conflicts *c, const char *kind, const uint8_t id[MENTORLOG_ID_BYTES],
                       const uint8_t case_id[MENTORLOG_ID_BYTES], size_t versions) {
  c->items++;
  if (c->j) {
    mlproto_json_obj(c->j);
    mlproto_json_kstr(c->j, "kind", kind);
    mlproto_json_khex(c->j, "id", id, MENTORLOG_ID_BYTES);
    mlproto_json_khex(c->j, "case", case_id, MENTORLOG_ID_BYTES);
    mlproto_json_key(c->j, "versions");
    mlproto_json_arr(c->j);
    return;
  }
  char s[MENTORLOG_ID_HEX + 1], cs[MENTORLOG_ID_HEX + 1];
  hex(s, id);
  hex(cs, case_id);
  if (versions)
    printf("%s %s of case %s: %zu concurrent versions, newest first\n", kind, s, cs, versions);
  else
    printf("%s %s of case %s: concurrent versions\n", kind, s, cs);
}

static void item_end(struct conflicts *c) {
  if (c->j) {
    mlproto_json_end(c->j);
    mlproto_json_end(c->j);
  } else {
    fputc('\n', stdout);
  }
}

/* One version of a conflicted item. */
static void contact_version(const struct conflicts *c, const void *item) {
  const mentorlog_contact *v = item;
  if (c->j) {
    contact_json(c->j, v);
    return;
  }
  char rec[MENTORLOG_ID_HEX + 1], when[32], rec_at[32];
  hex(rec, v->record);
  fmt_local(when, v->start_ms);
  fmt_local(rec_at, v->recorded_ms);
  printf("  record %s (written %s)\n    %s  %u min  %s  %s  transport %u min\n", rec, rec_at, when, v->minutes,
         mentorlog_channel_name(v->channel), mentorlog_outcome_name(v->outcome), v->transport_minutes);
  if (v->note)
    printf("    note: %s\n", v->note);
}

static void note_version(const struct conflicts *c, const void *item) {
  const mentorlog_note *v = item;
  char rec[MENTORLOG_ID_HEX + 1], when[32];
  hex(rec, v->record);
  fmt_local(when, v->recorded_ms);
  if (c->j) {
    mlproto_json_obj(c->j);
    mlproto_json_kstr(c->j, "record", rec);
    mlproto_json_kstr(c->j, "recorded", when);
    mlproto_json_kstr(c->j, "text", v->text);
    mlproto_json_end(c->j);
    return;
  }
  printf("  record %s (written %s)\n", rec, when);
  /* the text as it is, indented */
  fputs("    ", stdout);
  for (const char *p = v->text ? v->text : ""; *p; p++) {
    putchar(*p);
    if (*p == '\n')
      fputs("    ", stdout);
  }
  fputc('\n', stdout);
}

/* Every conflicted item of a list (contacts or notes: an array of n
 * structs of `size` bytes whose `id` and `conflict` members sit at id_off
 * and conflict_off): the library lists each head of a conflicted item, so
 * the entries with one id are the item's versions, printed together. */
static void items_conflicted(struct conflicts *c, const char *what, const uint8_t case_id[MENTORLOG_ID_BYTES],
                             const void *v, size_t n, size_t size, size_t id_off, size_t conflict_off,
                             void (*version)(const struct conflicts *, const void *)) {
  const char *base = v;
#define ID_AT(i) ((const uint8_t *)(base + (i) * size + id_off))
  bool *done = calloc(n ? n : 1, 1);
  for (size_t i = 0; i < n; i++) {
    if (!*(const int *)(base + i * size + conflict_off) || (done && done[i]))
      continue;
    size_t versions = 0;
    for (size_t j = i; j < n; j++)
      versions += memcmp(ID_AT(j), ID_AT(i), MENTORLOG_ID_BYTES) == 0;
    item_begin(c, what, ID_AT(i), case_id, versions);
    for (size_t j = i; j < n; j++) {
      if (memcmp(ID_AT(j), ID_AT(i), MENTORLOG_ID_BYTES) != 0)
        continue;
      if (done)
        done[j] = true;
      version(c, base + j * size);
    }
    item_end(c);
  }
#undef ID_AT
  free(done);
}

/* A conflicted grant is listed once, merged (the newest parameters, the
 * earliest close): that is the version that counts. */
static void grant_conflicted(struct conflicts *c, const mentorlog_grant *g) {
  item_begin(c, "grant", g->id, g->case_id, 0);
  char rec[MENTORLOG_ID_HEX + 1], a[11], b[11];
  hex(rec, g->record);
  mentorlog_format_date(a, g->start);
  mentorlog_format_date(b, g->end);
  if (c->j) {
    mlproto_json_obj(c->j);
    mlproto_json_kstr(c->j, "record", rec);
    mlproto_json_kbool(c->j, "merged", 1);
    grant_json_texts(c->j, g);
    mlproto_json_kdate(c->j, "start", g->start);
    mlproto_json_kdate(c->j, "end", g->end);
    mlproto_json_kbool(c->j, "closed", g->closed);
    mlproto_json_ku64(c->j, "minutes_per_week", g->minutes_per_week);
    mlproto_json_end(c->j);
  } else {
    printf("  as it counts (newest parameters, earliest close): %s %s  %s..%s%s  %u min/week  (head %s)\n",
           g->jobcentre ? g->jobcentre : "", g->reference ? g->reference : "", a, b, g->closed ? "  closed" : "",
           g->minutes_per_week, rec);
  }
  item_end(c);
}

/* The conflicts of one case; 0 or a library error. */
static int case_conflicts(mentorlog *h, struct conflicts *c, const uint8_t case_id[MENTORLOG_ID_BYTES]) {
  mentorlog_grant *g = NULL;
  mentorlog_contact *ct = NULL;
  mentorlog_note *nt = NULL;
  size_t ng = 0, nct = 0, nnt = 0;
  int err = mentorlog_grants(h, case_id, &g, &ng);
  if (!err)
    err = mentorlog_contacts(h, case_id, &ct, &nct);
  if (!err)
    err = mentorlog_notes(h, case_id, &nt, &nnt);
  if (!err) {
    for (size_t i = 0; i < ng; i++)
      if (g[i].conflict)
        grant_conflicted(c, &g[i]);
    items_conflicted(c, "contact", case_id, ct, nct, sizeof *ct, offsetof(mentorlog_contact, id),
                     offsetof(mentorlog_contact, conflict), contact_version);
    items_conflicted(c, "note", case_id, nt, nnt, sizeof *nt, offsetof(mentorlog_note, id),
                     offsetof(mentorlog_note, conflict), note_version);
  }
  mentorlog_grants_free(g, ng);
  mentorlog_contacts_free(ct, nct);
  mentorlog_notes_free(nt, nnt);
  return err;
}

int cmd_conflicts(int argc, char **argv) {
  struct opt opts[] = {{"json", 1, 0, 0}, {0}};
  const char *pos[1];
  int npos, rc;
  if (parse_opts(argc, argv, opts, pos, 0, &npos, usage_conflicts, &rc))
    return rc;
  mentorlog *h;
  if ((rc = open_profile(&h, false)))
    return rc;
  mlproto_json j;
  mlproto_buf b;
  json_begin(&j, &b);
  mlproto_json_arr(&j);
  bool js = opt_get(opts, "json")->seen;
  struct conflicts c = {js ? &j : NULL, 0, 0};
  mentorlog_case *cases = NULL;
  size_t nc = 0;
  int err = mentorlog_cases(h, &cases, &nc);
  for (size_t i = 0; !err && i < nc; i++)
    if (cases[i].locked) /* its versions cannot be shown: no key of it here yet */
      c.locked++;
    else if (!cases[i].erased)
      err = case_conflicts(h, &c, cases[i].id);
  mentorlog_cases_free(cases, nc);
  mlproto_json_end(&j);
  if (err) {
    rc = fail(h, err, "conflicts");
  } else if (js) {
    rc = json_emit(&j, stdout, "conflicts");
  } else {
    if (c.items == 0)
      printf("no conflicts\n");
    else
      printf("%zu item%s with concurrent versions. A later version supersedes both and resolves it:\n"
             "'mentorlog contact correct RECORD', 'mentorlog note revise RECORD' (RECORD: either\n"
             "version) or 'mentorlog grant update GRANT', then 'mentorlog sync'.\n",
             c.items, c.items == 1 ? "" : "s");
  }
  mlproto_buf_free(&b);
  if (!err && c.locked)
    fprintf(stderr, "%s: conflicts: %zu case%s not shown: this device holds no key for them yet (not approved)\n",
            prog, c.locked, c.locked == 1 ? "" : "s");
  mentorlog_close(h);
  return rc;
}
