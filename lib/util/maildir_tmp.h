/* maildir_tmp.h - removing what interrupted deliveries left in a Maildir's tmp/ (qmail's 36-hour rule), for pop3d and imapd. */
#ifndef OSD_MAILDIR_TMP_H
#define OSD_MAILDIR_TMP_H

#include <time.h>

/* qmail's maildir(5): a file in tmp/ untouched this long is an interrupted delivery. */
#define MAILDIR_TMP_MAX_AGE (36 * 3600)

/*
 * Remove the regular files of maildir/tmp whose access, modification and
 * status-change times are all more than max_age seconds before now, each
 * logged.  The status-change time counts too because a writer may set the
 * other two into the past (IMAP APPEND gives the message its internal
 * date) and a hard link made into tmp/ keeps the original's: only ctime
 * says that someone is at work there now.  max_age <= 0: nothing is done.
 * Returns how many files were removed (a folder that cannot be read is
 * not an error for a reader: 0).
 */
int maildir_tmp_clean(const char *maildir, long max_age, time_t now);

#endif
