/* imap_commands.c - the command table: which handler runs each IMAP command, in which states, with which flags (the contract is in imap_session_int.h). */
#include "imap_session_int.h"

/*
 * One row per command name, upper case; the order does not matter (the
 * session searches the table).  imap-core's rows first; the mailbox
 * commands' rows (imap_cmd_*.c) follow, e.g.
 *	{ "SELECT", IMAP_ST_LOGGED_IN, 0, imap_cmd_select },
 *	{ "FETCH", IMAP_ST_SELECTED, IMAP_CMD_UID_OK | IMAP_CMD_NO_EXPUNGE, imap_cmd_fetch },
 */
const struct imap_command imap_commands[] = {
	{ "CAPABILITY", IMAP_ST_ANY, 0, imap_cmd_capability },
	{ "NOOP", IMAP_ST_ANY, 0, imap_cmd_noop },
	{ "LOGOUT", IMAP_ST_ANY, 0, imap_cmd_logout },
	{ "ID", IMAP_ST_ANY, 0, imap_cmd_id },
	{ "STARTTLS", IMAP_ST_NOTAUTH, 0, imap_cmd_starttls },
	{ "LOGIN", IMAP_ST_NOTAUTH, 0, imap_cmd_login },
	{ "AUTHENTICATE", IMAP_ST_NOTAUTH, 0, imap_cmd_authenticate },
	{ "ENABLE", IMAP_ST_LOGGED_IN, 0, imap_cmd_enable },
	{ "NAMESPACE", IMAP_ST_LOGGED_IN, 0, imap_cmd_namespace },
	{ "IDLE", IMAP_ST_LOGGED_IN, 0, imap_cmd_idle },
	/* the mailbox commands (imap_cmd_*.c) */
};

const size_t imap_commands_count = sizeof(imap_commands) / sizeof(imap_commands[0]);
