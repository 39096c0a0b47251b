/* subcommands.h — the commands of `mentorlog`, one group per file
 * (cmd_<group>.c), dispatched by the table in mentorlog.c. Each takes the
 * command's own argv (argv[0] is the command's name) and returns the
 * process exit status. */
#ifndef MENTORLOG_SUBCOMMANDS_H
#define MENTORLOG_SUBCOMMANDS_H

#include "mentorlog/mentorlog.h"
#include "mlproto/json.h"

#include <stdio.h>

int cmd_init(int argc, char **argv);       /* cmd_profile.c */
int cmd_passphrase(int argc, char **argv); /* cmd_profile.c */
int cmd_verify(int argc, char **argv);     /* cmd_profile.c */
int cmd_case(int argc, char **argv);       /* cmd_case.c */
int cmd_grant(int argc, char **argv);      /* cmd_grant.c */
int cmd_contact(int argc, char **argv);    /* cmd_contact.c */
int cmd_note(int argc, char **argv);       /* cmd_note.c */
int cmd_absence(int argc, char **argv);    /* cmd_absence.c */
int cmd_compliance(int argc, char **argv); /* cmd_report.c */
int cmd_week(int argc, char **argv);       /* cmd_report.c */
int cmd_export(int argc, char **argv);     /* cmd_export.c */
int cmd_enroll(int argc, char **argv);     /* cmd_sync.c */
int cmd_sync(int argc, char **argv);       /* cmd_sync.c */
int cmd_status(int argc, char **argv);     /* cmd_sync.c */
int cmd_devices(int argc, char **argv);    /* cmd_device.c */
int cmd_device(int argc, char **argv);     /* cmd_device.c */
int cmd_conflicts(int argc, char **argv);  /* cmd_device.c */

/* Shared between a group's list and export. */

/* The grant's text fields as the JSON members "jobcentre", "ref",
 * "legal_basis", "purpose" of the object j is in (cmd_grant.c). */
void grant_json_texts(mlproto_json *j, const mentorlog_grant *g);

/* The contact as a JSON object (cmd_contact.c). */
void contact_json(mlproto_json *j, const mentorlog_contact *c);

#endif
