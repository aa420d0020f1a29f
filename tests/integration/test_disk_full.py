#!/usr/bin/env python3
"""A full disk loses no acknowledged mail and half-queues nothing (issue 15).

The queue (state/queue) and bob's Maildir each sit on a small tmpfs that the
test mounts (it runs as root; a missing privilege fails the test) and
unmounts at the end.  With osd smtpd and osd queue running:

- three messages are acknowledged and delivered while there is room;
- the Maildir's tmpfs is filled: three more messages are acknowledged, local
  delivery fails with the disk full and the messages are deferred, kept in
  the queue (nothing left in the Maildir's tmp/);
- the queue's tmpfs is filled but for a little: a message larger than the
  room, sent with smtplib, is answered at the end of DATA with Postfix's
  "452 4.3.1 Insufficient system storage", and no file of it is left in
  queue/new (marked or not); a new session meanwhile gets 452 4.3.1 too;
- the space comes back: the same client, on the same session, sends the
  big message again and gets 250; osd queue --flush retries the deferred
  ones; every acknowledged message is in the Maildir exactly once, and
  the queue drains.

Then state_dir itself on a 1 MB tmpfs under osd watch: with it full, 199
logins make the watcher fail to rewrite relay.cdb; the old table stays in
force, whole and unchanged, no temporary file is left, the watcher keeps
running, and once there is room every login reaches relay.cdb.
"""
import os
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, check, finish, free_port, qstat, wait_for  # noqa: E402

DOM = "example.test"


def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", path],
                       capture_output=True, text=True)
    return p.returncode == 0, p.stderr.strip()


def fill(path, leave=0, name="filler"):
    """Fill the file system of path, leaving about leave bytes free; the filler's path."""
    name = os.path.join(path, name)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    os.close(fd)
    if leave:
        st = os.stat(name)
        os.truncate(name, max(0, st.st_size - leave))
    return name


def message(tag, size=0):
    body = "Body of %s.\n" % tag + ("x" * 76 + "\n") * (size // 77)
    return ("From: alice@example.org\r\nTo: bob@%s\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n\r\n%s"
            % (DOM, tag, tag, body.replace("\n", "\r\n")))


def send(port, tag, size=0):
    """Send one message on a new session: (code, text) of the DATA reply (or of the failing step)."""
    try:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30)
    except OSError as e:
        return 0, str(e)
    try:
        s.sendmail("alice@example.org", ["bob@" + DOM], message(tag, size))
        return 250, ""
    except smtplib.SMTPDataError as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        return code, text.decode(errors="replace")
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass


def tags_in(maildir):
    """Subject tags of the messages in the Maildir's new/ and cur/, with repeats."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            with open(os.path.join(d, n), "rb") as f:
                for line in f.read().split(b"\n"):
                    if line.startswith(b"Subject: "):
                        out.append(line[9:].strip().decode())
                        break
    return out


def listing(path):
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def watcher_full():
    """The state folder full while osd watch rewrites relay.cdb: the old table stays."""
    o = Osd(relay_expire="1h")
    mounted = False
    try:
        ok, why = mount_tmpfs(o.state, "1m")
        if not check(ok, "a 1 MB tmpfs mounted on state_dir (%s)" % why):
            return
        mounted = True
        w = o.start_watch()
        check(o.record("127.0.0.20").returncode == 0, "osd record 127.0.0.20")
        check(wait_for(lambda: "127.0.0.20" in o.cdb_keys()), "127.0.0.20 is in relay.cdb")
        before = os.stat(o.cdb)
        keys = o.cdb_keys()
        # Many entries, so the new table needs more room than is left.
        sfill = fill(o.state, leave=0)
        recorded = [ip for ip in ("127.0.1.%d" % i for i in range(1, 200))
                    if o.record(ip).returncode == 0]
        seen = len(o.log("watch"))
        check(wait_for(lambda: "cannot write" in o.log("watch")[seen:], timeout=30),
              "osd watch says it cannot write relay.cdb (%s)" % o.log("watch")[seen:][-300:])
        after = os.stat(o.cdb)
        check((after.st_ino, after.st_size, after.st_mtime_ns) ==
              (before.st_ino, before.st_size, before.st_mtime_ns) and o.cdb_keys() == keys,
              "the old relay.cdb stays in force, whole and unchanged")
        # run/: the daemons' shared counters (state_dir/run/metrics), not the watcher's;
        # relay.snap: the watcher's start-up snapshot, saved when it had room.
        check([n for n in listing(o.state) if n != "relay.snap"] ==
              sorted(["filler", "open-smtp", "relay.cdb", "run"]),
              "no temporary file is left beside it (%r)" % listing(o.state))
        check(w.poll() is None, "osd watch keeps running")
        os.unlink(sfill)
        check(wait_for(lambda: all(ip in o.cdb_keys() for ip in recorded), timeout=30),
              "once there is room the new logins (%d) reach relay.cdb" % len(recorded))
    finally:
        for p in o.procs:
            if p.poll() is None:
                o.stop(p)
        if mounted and subprocess.run(["umount", o.state], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", o.state], capture_output=True)
        o.cleanup()


def main():
    if os.geteuid() != 0:
        check(False, "the test runs as root (it mounts tmpfs file systems)")
        finish()
    port = free_port()
    o = Osd()
    mounts = []
    try:
        o.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\ncontrol_dir = control\n"
                     "default_domain = %s\n" % (port, DOM))
        o.write_control("me", "mx.%s\n" % DOM)
        o.write_control("rcpthosts", DOM + "\n")
        p = o.run("user", "add", "bob@" + DOM, input="pw-bob\n")
        check(p.returncode == 0, "osd user add bob (%s)" % p.stderr.strip())
        maildir = os.path.join(o.state, "domains", DOM, "bob", "Maildir")
        qdir = os.path.join(o.state, "queue")
        ok, why = mount_tmpfs(qdir, "1m")
        if not check(ok, "a 1 MB tmpfs mounted on the queue (%s)" % why):
            return
        mounts.append(qdir)
        saved = [(n, os.stat(os.path.join(maildir, n)).st_mode & 0o7777) for n in ("new", "cur", "tmp")]
        ok, why = mount_tmpfs(maildir, "2m")
        if not check(ok, "a 2 MB tmpfs mounted on bob's Maildir (%s)" % why):
            return
        mounts.append(maildir)
        for n, mode in saved:
            os.mkdir(os.path.join(maildir, n), mode)

        o.start_smtpd(port)
        seen = len(o.log("queue"))
        queue = o.start("queue")
        if not check(wait_for(lambda: "ready" in o.log("queue")[seen:] or queue.poll() is not None)
                     and queue.poll() is None, "osd queue runs"):
            return
        acked = []

        # 1. Room everywhere: delivered.
        for i in range(3):
            c, t = send(port, "room-%d" % i)
            check(c == 250, "room-%d: 250 (%d %s)" % (i, c, t))
            acked += ["room-%d" % i] if c == 250 else []
        check(wait_for(lambda: len(tags_in(maildir)) == 3), "the first three reached the Maildir")

        # 2. The Maildir is full: acknowledged, deferred, kept.
        mfill = fill(maildir)
        for i in range(3):
            c, t = send(port, "mfull-%d" % i, 8000)
            check(c == 250, "mfull-%d with the Maildir full: 250 (%d %s)" % (i, c, t))
            acked += ["mfull-%d" % i] if c == 250 else []
        check(wait_for(lambda: o.log("queue").count("deferral") >= 3 or
                       o.log("queue").count("defer") >= 3, timeout=30),
              "local delivery to the full Maildir is deferred, three times")
        check(qstat(o)[0] == 3, "the three stay in the queue (osd qstat %r)" % (qstat(o),))
        check(len(tags_in(maildir)) == 3, "nothing more in the Maildir")
        check(listing(os.path.join(maildir, "tmp")) == [],
              "no partial file left in the Maildir's tmp/ (%r)" % listing(os.path.join(maildir, "tmp")))

        # 3. The queue's disk fills during DATA (the manager is stopped meanwhile,
        # so that it meets the full queue at its start).
        check(o.stop(queue) == 0, "osd queue stops on SIGTERM")
        qfill = fill(qdir, leave=40 * 1024)
        c, t = send(port, "qlow", 1000)
        check(c == 250, "a 1 kB message into a queue with 40 kB free: 250 (%d %s)" % (c, t))
        acked += ["qlow"] if c == 250 else []
        before_new = listing(os.path.join(qdir, "new"))
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30)
        big = message("big", 200 * 1024)
        try:
            s.sendmail("alice@example.org", ["bob@" + DOM], big)
            code, text = 250, ""
        except smtplib.SMTPDataError as e:
            code, text = e.smtp_code, e.smtp_error.decode(errors="replace")
        except smtplib.SMTPResponseException as e:
            code, text = e.smtp_code, "(before DATA) " + e.smtp_error.decode(errors="replace")
        check((code, text) == (452, "4.3.1 Insufficient system storage"),
              "a 200 kB message into a queue with 40 kB free: 452 4.3.1 Insufficient system "
              "storage at the end of DATA (%d %r)" % (code, text))
        check([n for n, complete in o.new_files() if not complete] == [],
              "nothing half-queued in queue/new (%r)" % o.new_files())
        check(listing(os.path.join(qdir, "new")) == before_new,
              "nothing new in queue/new")
        # Fill the rest too: a new session's message gets 452 4.3.1 as well.
        fill2 = fill(qdir, name="filler2")
        c, t = send(port, "full-new", 1000)
        check(c == 452 and t.startswith("4.3.1"), "a new session with the queue full: 452 4.3.1 (%d %s)"
              % (c, t))
        # The manager starts on a full queue and a full Maildir and retries everything.
        seen = len(o.log("queue"))
        queue = o.start("queue")
        check(wait_for(lambda: "ready" in o.log("queue")[seen:] or queue.poll() is not None)
              and queue.poll() is None, "osd queue starts with the queue's disk full")
        check(o.run("queue", "--flush").returncode == 0, "osd queue --flush with both disks full")
        check(wait_for(lambda: o.log("queue")[seen:].count("defer") >= 4 or queue.poll() is not None,
                       timeout=30) and queue.poll() is None,
              "the four are deferred again, the manager keeps running (%s)"
              % o.log("queue")[seen:][-600:])
        check(qstat(o)[0] == 4, "the queue still holds four (osd qstat %r)" % (qstat(o),))
        os.unlink(fill2)

        # 4. Space returns: the client retries on the same session; everything is delivered once.
        os.unlink(qfill)
        os.unlink(mfill)
        try:
            s.rset()
            s.sendmail("alice@example.org", ["bob@" + DOM], big)
            code, text = 250, ""
        except smtplib.SMTPException as e:
            code, text = -1, str(e)
        check(code == 250, "the same session sends the big message again: 250 (%s)" % text)
        acked += ["big"] if code == 250 else []
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass
        c, t = send(port, "after", 1000)
        check(c == 250, "a new session after: 250 (%d %s)" % (c, t))
        acked += ["after"] if c == 250 else []
        check(o.run("queue", "--flush").returncode == 0, "osd queue --flush")
        check(wait_for(lambda: sorted(tags_in(maildir)) == sorted(acked), timeout=60),
              "every acknowledged message is in the Maildir exactly once (%r vs %r)"
              % (sorted(tags_in(maildir)), sorted(acked)))
        check(wait_for(lambda: qstat(o)[0] == 0, timeout=60), "the queue drains (%r)" % (qstat(o),))
        check("full-new" not in tags_in(maildir), "the refused message was not delivered")
    finally:
        for p in o.procs:
            if p.poll() is None:
                o.stop(p)
        for m in reversed(mounts):
            # A process still ending may hold a file there: then detach it (lazy).
            if subprocess.run(["umount", m], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", m], capture_output=True)
        o.cleanup()
    watcher_full()


if __name__ == "__main__":
    main()
    finish()
