#!/usr/bin/env python3
"""Debris of interrupted writers is removed where a mail system would, and only debris.

Maildir tmp/ (maildir(5): a reader removes files in tmp/ untouched for 36
hours; here maildir_tmp_max_age, set to a few seconds so that a real file's
status-change time can age): a POP3 login (poplib) cleans the INBOX's tmp/,
an IMAP SELECT (imaplib) the selected folder's.  Removed: a regular file
whose access, modification and status-change times are all older.  Kept: a
fresh file; a file backdated with touch -d but changed just now (ctime: an
APPEND that set the internal date, a COPY's hard link); a folder; a symbolic
link.  Each removal is logged.

The queue's info/NN/.ID.tmp.PID.N (a manager killed while it rewrote a
message's delivery state): removed when osd queue starts if that writer no
longer runs, whatever its age; kept, even when days old, if the pid runs.
"""
import imaplib
import os
import poplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, add_user, check, finish, free_port, wait_for,  # noqa: E402
                     wait_port)

DOM = "example.test"
AGE = 3                 # maildir_tmp_max_age (s)
T = 20                  # client timeouts (functional bound)


def touch(path, when=None):
    """Create path if missing; with when (touch -d), set its access and modification times."""
    with open(path, "ab") as f:
        f.write(b"partial message\n")
    if when is not None:
        subprocess.run(["touch", "-d", when, path], check=True)


def make_debris(tmp, tag):
    """The old debris (ctime aging from now on) and a folder and a link that must stay."""
    old = os.path.join(tmp, "1700000000.M1P99.%s" % tag)
    touch(old, "3 days ago")
    os.mkdir(os.path.join(tmp, "a-folder-%s" % tag))
    subprocess.run(["touch", "-d", "3 days ago", os.path.join(tmp, "a-folder-%s" % tag)], check=True)
    os.symlink("/nonexistent", os.path.join(tmp, "a-link-%s" % tag))
    return old


def make_fresh(tmp, tag):
    """After the wait: a fresh file, and one backdated but changed now."""
    fresh = os.path.join(tmp, "1800000000.M2P99.%s" % tag)
    touch(fresh)
    backdated = os.path.join(tmp, "1700000000.M3P99.%s" % tag)
    touch(backdated, "3 days ago")
    return fresh, backdated


def test_maildir(o, home, pop_port, imap_port):
    inbox_tmp = os.path.join(home, "Maildir", "tmp")
    sent = os.path.join(home, "Maildir", ".Sent")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(sent, sub), exist_ok=True)
    sent_tmp = os.path.join(sent, "tmp")
    old_inbox = make_debris(inbox_tmp, "inbox")
    old_sent = make_debris(sent_tmp, "sent")
    time.sleep(AGE + 1.5)
    fresh_inbox, back_inbox = make_fresh(inbox_tmp, "inbox")
    fresh_sent, back_sent = make_fresh(sent_tmp, "sent")
    kept = ["a-folder-inbox", "a-link-inbox"]

    # IMAP first on a folder other than INBOX: SELECT Sent cleans Sent's tmp/ only.
    m = imaplib.IMAP4("127.0.0.1", imap_port, timeout=T)
    m.login("alice@" + DOM, "alice-pw")
    typ, _ = m.select("Sent")
    check(typ == "OK", "imaplib SELECT Sent: OK")
    check(not os.path.exists(old_sent),
          "IMAP SELECT: the Sent folder's old tmp/ file (atime, mtime, ctime all older than "
          "maildir_tmp_max_age) is removed")
    check(all(os.path.lexists(p) for p in (fresh_sent, back_sent)) and
          sorted(n for n in os.listdir(sent_tmp) if n.startswith("a-")) ==
          ["a-folder-sent", "a-link-sent"],
          "IMAP SELECT: the fresh file, the backdated one changed just now, a folder and a "
          "link stay (%r)" % sorted(os.listdir(sent_tmp)))
    check(os.path.exists(old_inbox), "IMAP SELECT Sent leaves the INBOX's tmp/ alone")
    m.logout()
    check(wait_for(lambda: "maildir: removed %s/%s" % (sent_tmp, os.path.basename(old_sent))
                   in o.log("imapd")),
          "imapd logs the removal (%r)" % o.log("imapd")[-300:])

    # POP3 login cleans the INBOX's tmp/.
    p = poplib.POP3("127.0.0.1", pop_port, timeout=T)
    p.user("alice@" + DOM)
    p.pass_("alice-pw")
    p.quit()
    check(not os.path.exists(old_inbox), "POP3 login: the INBOX's old tmp/ file is removed")
    check(all(os.path.lexists(x) for x in [fresh_inbox, back_inbox] +
              [os.path.join(inbox_tmp, k) for k in kept]),
          "POP3 login: the fresh file, the backdated one changed just now, a folder and a link "
          "stay (%r)" % sorted(os.listdir(inbox_tmp)))
    check(wait_for(lambda: "maildir: removed %s/%s" % (inbox_tmp, os.path.basename(old_inbox))
                   in o.log("pop3d")),
          "pop3d logs the removal (%r)" % o.log("pop3d")[-300:])
    check(o.log("pop3d").count("maildir: removed") == 1 and
          o.log("imapd").count("maildir: removed") == 1,
          "nothing else was removed (pop3d %d, imapd %d)"
          % (o.log("pop3d").count("maildir: removed"), o.log("imapd").count("maildir: removed")))


def dead_pid():
    """A pid that ran and is gone."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_queue_info(o):
    bucket = os.path.join(o.state, "queue", "info", "1a")
    os.makedirs(bucket)
    gone = dead_pid()
    # A dead writer's temporaries, one fresh and one old: both go (age is no criterion).
    dead_fresh = os.path.join(bucket, ".1800000000.1.%d.tmp.%d.0" % (gone, gone))
    dead_old = os.path.join(bucket, ".1700000000.2.%d.tmp.%d.1" % (gone, gone))
    # A running process's, days old: it stays (this test's own pid; no manager's).
    live_old = os.path.join(bucket, ".1700000000.3.1.tmp.%d.0" % os.getpid())
    touch(dead_fresh)
    touch(dead_old, "3 days ago")
    touch(live_old, "3 days ago")
    q = o.start("queue")
    check(wait_for(lambda: "ready" in o.log("queue") or q.poll() is not None) and q.poll() is None,
          "osd queue starts (%s)" % o.log("queue")[-300:])
    check(not os.path.exists(dead_fresh) and not os.path.exists(dead_old),
          "osd queue start: info/1a's temporaries of a writer that no longer runs are removed, "
          "fresh or old")
    check(os.path.exists(live_old), "osd queue start: a temporary whose pid runs stays, though "
          "3 days old")
    check("removed 2 temporary file(s) of a dead writer from %s" % bucket in o.log("queue"),
          "osd queue logs the removal (%r)" % o.log("queue")[-400:])
    o.stop(q)


def main():
    o = Osd()
    try:
        pop_port, imap_port = free_port(), free_port()
        o.write_conf("3h", "pop3_listen = 127.0.0.1:%d\nimap_listen = 127.0.0.1:%d\n"
                     "maildir_tmp_max_age = %ds\n" % (pop_port, imap_port, AGE))
        home = add_user(o, "alice@" + DOM, "alice-pw")
        pop = o.start("pop3d")
        imap = o.start("imapd")
        if not check(wait_port(pop_port, pop) and wait_port(imap_port, imap),
                     "osd pop3d and imapd listen"):
            return
        test_maildir(o, home, pop_port, imap_port)
        test_queue_info(o)
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
