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
	{ "SELECT", IMAP_ST_LOGGED_IN, 0, imap_cmd_select },
	{ "EXAMINE", IMAP_ST_LOGGED_IN, 0, imap_cmd_select },
	{ "CREATE", IMAP_ST_LOGGED_IN, 0, imap_cmd_create },
	{ "DELETE", IMAP_ST_LOGGED_IN, 0, imap_cmd_delete },
	{ "RENAME", IMAP_ST_LOGGED_IN, 0, imap_cmd_rename },
	{ "SUBSCRIBE", IMAP_ST_LOGGED_IN, 0, imap_cmd_subscribe },
	{ "UNSUBSCRIBE", IMAP_ST_LOGGED_IN, 0, imap_cmd_subscribe },
	{ "LIST", IMAP_ST_LOGGED_IN, 0, imap_cmd_list },
	{ "LSUB", IMAP_ST_LOGGED_IN, 0, imap_cmd_list },
	{ "STATUS", IMAP_ST_LOGGED_IN, 0, imap_cmd_status },
	{ "APPEND", IMAP_ST_LOGGED_IN, 0, imap_cmd_append },
	{ "CHECK", IMAP_ST_SELECTED, 0, imap_cmd_check },
	{ "CLOSE", IMAP_ST_SELECTED, 0, imap_cmd_close },
	{ "UNSELECT", IMAP_ST_SELECTED, 0, imap_cmd_unselect },
	{ "EXPUNGE", IMAP_ST_SELECTED, IMAP_CMD_UID_OK, imap_cmd_expunge },
	{ "SEARCH", IMAP_ST_SELECTED, IMAP_CMD_UID_OK | IMAP_CMD_NO_EXPUNGE, imap_cmd_search },
	{ "FETCH", IMAP_ST_SELECTED, IMAP_CMD_UID_OK | IMAP_CMD_NO_EXPUNGE, imap_cmd_fetch },
	{ "STORE", IMAP_ST_SELECTED, IMAP_CMD_UID_OK | IMAP_CMD_NO_EXPUNGE, imap_cmd_store },
	{ "COPY", IMAP_ST_SELECTED, IMAP_CMD_UID_OK, imap_cmd_copy },
	{ "MOVE", IMAP_ST_SELECTED, IMAP_CMD_UID_OK, imap_cmd_move },
};

const size_t imap_commands_count = sizeof(imap_commands) / sizeof(imap_commands[0]);
