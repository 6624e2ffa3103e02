/*
 * keys_cmds.h - the operator's commands for backups and keys (issue 11):
 * backup, restore, rotate-master-key and dek rotate.
 */
#ifndef TV_CMD_TLSVAULTD_KEYS_CMDS_H
#define TV_CMD_TLSVAULTD_KEYS_CMDS_H

/* Each takes the arguments after the command name (argv[0] is the command)
 * and returns the process exit status: 0 ok, 1 failure, 2 usage. */
int tv_cmd_backup(int argc, char **argv);
int tv_cmd_restore(int argc, char **argv);
int tv_cmd_rotate_master_key(int argc, char **argv);
int tv_cmd_dek(int argc, char **argv);

#endif
