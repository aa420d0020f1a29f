#!/usr/bin/env python3
"""Running unprivileged for real: user/group/mail_user set to a system account
that this test creates (osdtest<pid>, removed again at the end, by name, even
on failure).

Checked, with every daemon started as root on a state folder that `osd user
add` left owned by root: osd watch, osd pop3d, osd smtpd and osd queue all
end up running as the account (every uid of /proc/PID/status); the state
folders they write are handed to it (open-smtp/, state_dir, queue/ 0700,
relay.cdb); a POP3 login with curl from 127.0.0.5 is recorded and the
unprivileged watcher rewrites relay.cdb (owned by the account), so 127.0.0.5
may relay and 127.0.0.6 gets 553; a message sent with smtplib is queued,
delivered by osd-local into the Maildir (owned by the account) and read back
over POP3 with poplib; `osd record` run by root leaves an entry owned by the
account, which the next POP3 login refreshes; `osd expire` run by root
rewrites relay.cdb as the account; no daemon log says "Permission denied".
Refusals: each daemon run as the account itself on a root-owned 0755 state
folder, and osd watch run as root on a state folder the account cannot
reach, stop with "osd: <command>: <path>: ..." and a non-zero status;
open-smtp/ or queue/ replaced by a symbolic link makes osd watch and osd
queue refuse to start, and the link's target is not chowned.

The programs run from a copy of the build's osd and osd-* in a folder every
user can reach (as /usr/local/bin is), since the build may lie in root's home.
"""
import os
import poplib
import pwd
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import osdtest  # noqa: E402
from osdtest import (BUILD, WAIT, Osd, SmtpRaw, check, finish, free_port, have,  # noqa: E402
                     wait_for, wait_port)

NAME = "osdtest%d" % os.getpid()
DOM = "example.test"
PW = "alice-pw"
T = 20                          # client timeouts (functional bound)


def uids(pid):
    """The real, effective, saved and fs uids of pid (from /proc)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Uid:"):
                    return [int(x) for x in line.split()[1:]]
    except OSError:
        pass
    return []


def owner(path):
    try:
        return os.lstat(path).st_uid
    except OSError:
        return None


def make_osd(pw, extra=""):
    """An osd instance configured to run as the account; its folder (config,
    rules, control files) is readable by it, as /etc/osd is."""
    o = Osd(extra="user = %s\ngroup = %s\nmail_user = %s\nfsync = no\n%s" %
            (NAME, NAME, NAME, extra))
    os.chmod(o.root, 0o755)
    return o


def logs_clean(o, commands):
    for c in commands:
        text = o.log(c)
        check("Permission denied" not in text, "no 'Permission denied' in the %s log" % c)
        check("fatal" not in text, "no fatal error in the %s log" % c)


def mailbox(o):
    md = os.path.join(o.state, "domains", DOM, "alice", "Maildir")
    out = []
    for sub in ("new", "cur"):
        try:
            out += [os.path.join(md, sub, n) for n in sorted(os.listdir(os.path.join(md, sub)))]
        except FileNotFoundError:
            pass
    return out


def pop3_login(pport, src):
    p = subprocess.run(["curl", "-s", "-S", "--max-time", str(T), "--interface", src,
                        "pop3://127.0.0.1:%d/" % pport, "-u", "alice@%s:%s" % (DOM, PW)],
                       capture_output=True, timeout=120)
    return p.returncode


def rcpt_code(sport, src, rcpt):
    r = SmtpRaw(sport, src)
    r.cmd("EHLO roamer.test")
    r.cmd("MAIL FROM:<alice@%s>" % DOM)
    c, _ = r.cmd("RCPT TO:<%s>" % rcpt)
    r.cmd("QUIT")
    r.close()
    return c


def test_chain(pw):
    """watch, pop3d, smtpd and queue started as root run as the account, end to end."""
    pport, sport = free_port(), free_port()
    o = make_osd(pw, "default_domain = %s\ncontrol_dir = control\n"
                 "pop3_listen = 127.0.0.1:%d\nsmtp_listen = 127.0.0.1:%d\n"
                 "submission_listen =\n" % (DOM, pport, sport))
    try:
        o.write_control("me", "osd.test\n")
        o.write_control("rcpthosts", DOM + "\n")
        p = o.run("user", "add", "alice@" + DOM, input=PW + "\n")
        check(p.returncode == 0, "osd user add alice@%s as root (%s)" % (DOM, p.stderr.strip()))
        # What a first installation looks like: state_dir made by root, 0755.
        check(owner(o.state) == 0, "before the daemons: state_dir belongs to root")

        watch = o.start_watch()
        pop3d = o.start("pop3d")
        smtpd = o.start_smtpd(sport)
        queue = o.start("queue")
        check(watch.poll() is None and "watching" in o.log("watch"), "osd watch started as root runs")
        check(wait_port(pport, pop3d), "osd pop3d listens on 127.0.0.1:%d" % pport)
        check(smtpd.poll() is None, "osd smtpd runs")
        check(wait_for(lambda: "ready" in o.log("queue") or queue.poll() is not None) and
              queue.poll() is None, "osd queue runs")
        for name, proc in (("watch", watch), ("pop3d", pop3d), ("smtpd", smtpd), ("queue", queue)):
            u = uids(proc.pid)
            check(len(u) == 4 and set(u) == {pw.pw_uid},
                  "osd %s dropped root: every uid is %s's (%r)" % (name, NAME, u))

        for rel in ("", "open-smtp", "queue", "queue/tmp", "queue/new", "queue/mess",
                    "queue/info", "queue/lock"):
            path = os.path.join(o.state, rel)
            check(owner(path) == pw.pw_uid, "state/%s belongs to %s" % (rel, NAME))
        check(os.stat(os.path.join(o.state, "queue")).st_mode & 0o777 == 0o700, "queue/ is 0700")
        check(os.stat(o.opensmtp).st_mode & 0o002 == 0, "open-smtp/ is not world-writable")
        check(owner(o.cdb) == pw.pw_uid, "relay.cdb written at start-up belongs to %s" % NAME)

        # A POP3 login opens relaying: the unprivileged watcher rewrites relay.cdb.
        check(pop3_login(pport, "127.0.0.5") == 0, "curl pop3:// login from 127.0.0.5")
        entry = os.path.join(o.opensmtp, "127.0.0.5")
        check(wait_for(lambda: os.path.exists(entry)), "the login is recorded in open-smtp/")
        check(owner(entry) == pw.pw_uid, "open-smtp/127.0.0.5 belongs to %s" % NAME)
        check(wait_for(lambda: "127.0.0.5" in o.cdb_keys()), "relay.cdb gets the key 127.0.0.5")
        check(owner(o.cdb) == pw.pw_uid, "the rewritten relay.cdb belongs to %s" % NAME)
        check(rcpt_code(sport, "127.0.0.5", "bob@example.net") == 250,
              "127.0.0.5 after its POP3 login: RCPT to a remote domain 250")
        check(rcpt_code(sport, "127.0.0.6", "bob@example.net") == 553,
              "127.0.0.6 without a login: 553")

        # A message to the local user: queued, delivered by osd-local, read back over POP3.
        tag = "unpriv-%d" % os.getpid()
        s = smtplib.SMTP("127.0.0.1", sport, local_hostname="roamer.test", timeout=T,
                         source_address=("127.0.0.5", 0))
        try:
            refused = s.sendmail("someone@elsewhere.test", ["alice@" + DOM],
                                 ("From: someone@elsewhere.test\r\nTo: alice@%s\r\nSubject: %s\r\n"
                                  "\r\nDelivered while unprivileged.\r\n" % (DOM, tag)).encode())
            check(refused == {}, "smtplib: the message is accepted (250)")
        except smtplib.SMTPException as e:
            check(False, "smtplib: the message is accepted (%s)" % e)
        finally:
            s.quit()
        check(wait_for(lambda: len(mailbox(o)) == 1), "the message lands in alice's Maildir")
        box = mailbox(o)
        if box:
            check(owner(box[0]) == pw.pw_uid, "the delivered file belongs to %s" % NAME)
        check(wait_for(lambda: os.listdir(os.path.join(o.state, "queue", "new")) == [] and
                       "end msg" in o.log("queue")), "the message left the queue")
        try:
            c = poplib.POP3("127.0.0.1", pport, timeout=T)
            c.user("alice@" + DOM)
            c.pass_(PW)
            count, _ = c.stat()
            lines = c.retr(1)[1] if count == 1 else []
            c.quit()
            check(count == 1 and ("Subject: " + tag).encode() in lines,
                  "poplib RETR 1 reads the message back")
        except (poplib.error_proto, OSError) as e:
            check(False, "poplib RETR 1 reads the message back (%s)" % e)

        # osd record run by root (a Dovecot post-login hook) writes as the account,
        # so that pop3d can refresh the entry at the next login.
        p = o.record("127.0.0.7")
        entry = os.path.join(o.opensmtp, "127.0.0.7")
        check(p.returncode == 0 and owner(entry) == pw.pw_uid,
              "osd record as root: open-smtp/127.0.0.7 belongs to %s (%s)" % (NAME, p.stderr.strip()))
        old = time.time() - 600
        os.utime(entry, (old, old))
        check(pop3_login(pport, "127.0.0.7") == 0, "curl pop3:// login from 127.0.0.7")
        check(wait_for(lambda: os.stat(entry).st_mtime > old + 300),
              "pop3d (as %s) refreshed the entry osd record made" % NAME)
        check("cannot record" not in o.log("pop3d"), "pop3d never failed to record a login")

        # osd expire run by root (cron, the timer) works as the account too.
        p = o.run("expire")
        check(p.returncode == 0 and owner(o.cdb) == pw.pw_uid and "127.0.0.7" in o.cdb_keys(),
              "osd expire as root: relay.cdb rewritten, still %s's (%s)" % (NAME, p.stderr.strip()))

        for proc in (watch, pop3d, smtpd, queue):
            o.stop(proc)
        logs_clean(o, ("watch", "pop3d", "smtpd", "queue"))
    finally:
        for proc in o.procs:
            o.stop(proc)
        o.cleanup()


def install_programs():
    """Copy osd and its osd-* programs into a folder every user can reach, as
    /usr/local/bin is: the build folder may lie in root's home (0700), where
    osd queue, once it runs as the account, could not start osd-local.
    Returns that folder; the tests run osd from there."""
    bindir = tempfile.mkdtemp(prefix="osd-it-bin-")
    os.chmod(bindir, 0o755)
    for name in os.listdir(BUILD):
        path = os.path.join(BUILD, name)
        if (name == "osd" or name.startswith("osd-")) and os.path.isfile(path) and \
                os.access(path, os.X_OK):
            shutil.copy2(path, os.path.join(bindir, name))
            os.chmod(os.path.join(bindir, name), 0o755)
    osdtest.OSD = os.path.join(bindir, "osd")
    return bindir


def run_as_account(o, args, pw):
    """Run an osd command as the account itself (not started as root)."""
    try:
        p = subprocess.run([osdtest.OSD] + args + ["-c", o.conf], capture_output=True, text=True,
                           timeout=WAIT, user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        return p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        return None, "still running after %ss" % WAIT


def test_refuse(pw):
    """Each daemon refuses to start, clearly, when its folder cannot be made writable."""
    o = make_osd(pw, "control_dir = control\npop3_listen = 127.0.0.1:%d\n"
                 "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\n" % (free_port(), free_port()))
    try:
        os.makedirs(o.state, mode=0o755)
        os.chmod(o.state, 0o755)
        for cmd, what in (("watch", o.opensmtp), ("pop3d", o.opensmtp),
                          ("smtpd", os.path.join(o.state, "queue")),
                          ("queue", os.path.join(o.state, "queue"))):
            rc, err = run_as_account(o, [cmd], pw)
            # The daemons log their listeners first; the refusal is the "osd:" line.
            said = [line for line in err.splitlines() if line.startswith("osd: ")]
            check(rc is not None and rc != 0, "osd %s as %s on a root-owned 0755 state_dir: "
                  "refuses to start (exit %r)" % (cmd, NAME, rc))
            check(len(said) == 1 and said[0].startswith("osd: %s: %s: " % (cmd, what)) and
                  NAME in said[0], "... saying osd: %s: PATH: why (%r)" % (cmd, err.strip()))
        check(os.listdir(o.state) == [], "nothing was made in the root-owned folder")

        # Started as root, but the account cannot reach the state folder: refused too.
        os.chmod(o.root, 0o700)
        p = o.run("watch")
        check(p.returncode == 111 and p.stderr.startswith("osd: watch: %s: " % o.state) and
              "cannot reach" in p.stderr,
              "osd watch as root, state_dir out of the account's reach: refused (%d %r)" %
              (p.returncode, p.stderr.strip()))
    finally:
        o.cleanup()


def test_symlink(pw):
    """A link where a handed-over folder should be is refused; its target keeps its owner."""
    o = make_osd(pw)
    target = tempfile.mkdtemp(prefix="osd-it-target-")
    try:
        os.makedirs(o.state, mode=0o755)
        os.symlink(target, o.opensmtp)
        p = o.run("watch", "-1")
        check(p.returncode == 111 and "symbolic link" in p.stderr,
              "open-smtp/ a symbolic link: osd watch refuses (%d %r)" % (p.returncode, p.stderr.strip()))
        check(owner(target) == 0, "the link's target was not chowned")
        os.unlink(o.opensmtp)
        os.symlink(target, os.path.join(o.state, "queue"))
        try:
            p = o.run("queue", timeout=WAIT)
            rc, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired:
            rc, err = None, "still running"
        check(rc == 111 and "symbolic link" in err,
              "queue/ a symbolic link: osd queue refuses (%r %r)" % (rc, err.strip()))
        check(owner(target) == 0 and os.listdir(target) == [],
              "the link's target was not chowned nor filled")
    finally:
        o.cleanup()
        for root, dirs, files in os.walk(target, topdown=False):
            for n in files:
                os.unlink(os.path.join(root, n))
            for n in dirs:
                os.rmdir(os.path.join(root, n))
        os.rmdir(target)


def main():
    if os.geteuid() != 0:
        print("SKIP - needs root: it creates a system account and starts daemons as root")
        sys.exit(77)
    for tool in ("useradd", "userdel", "curl"):
        if not have(tool):
            check(False, "%s is installed" % tool)
            finish()
    p = subprocess.run(["useradd", "--system", "--no-create-home", "--user-group",
                        "--shell", "/usr/sbin/nologin", NAME], capture_output=True, text=True)
    if not check(p.returncode == 0, "useradd %s (%s)" % (NAME, p.stderr.strip())):
        finish()
    bindir = install_programs()
    try:
        pw = pwd.getpwnam(NAME)
        test_chain(pw)
        test_refuse(pw)
        test_symlink(pw)
    finally:
        shutil.rmtree(bindir, ignore_errors=True)
        p = subprocess.run(["userdel", NAME], capture_output=True, text=True)
        check(p.returncode == 0, "userdel %s (%s)" % (NAME, p.stderr.strip()))
        if subprocess.run(["getent", "group", NAME], capture_output=True).returncode == 0:
            subprocess.run(["groupdel", NAME], capture_output=True)
    finish()


if __name__ == "__main__":
    main()
