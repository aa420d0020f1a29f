#!/usr/bin/env python3
"""The one-commit queue write: smtpd writes a message in queue/new itself,
read-only and locked while it writes, marks it complete (mode 0600) and
fsyncs it once before it says 250 (docs/queue-format.md).

- A writer killed (SIGKILL) in the middle of DATA leaves an unmarked file in
  new/: qstat does not count it, qread does not list it, and the queue
  manager, started afterwards, removes it (and logs so) and delivers nothing.
- A file whose writer still lives is never removed: osd queue --delete
  refuses it, a manager started while a client is in the middle of DATA
  leaves it alone, and delivers it once the client ends DATA.
- Power cut: on a loop-mounted ext4 (as test_state_faults), messages are
  acknowledged with the manager stopped, one more session is left in the
  middle of DATA (and one more message acknowledged after it, whose fsync
  commits the unfinished file's creation), then EXT4_IOC_SHUTDOWN without a
  log flush.  After e2fsck and a remount every acknowledged message is
  delivered exactly once, and the unfinished one never: the manager removes
  its file at start-up.  Runs in a mount namespace of its own.
"""
import fcntl
import os
import signal
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, SmtpRaw, add_user, check, children_of, finish, free_port,  # noqa: E402
                     qstat, wait_for)
from test_state_faults import (EXT4_GOING_FLAGS_NOLOGFLUSH, EXT4_IOC_SHUTDOWN, LoopFs,  # noqa: E402
                               data_reply, own_mount_namespace, sh, start_queue, tags_in)

DOM = "example.test"


def setup(o):
    port = free_port()
    o.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\ncontrol_dir = control\n"
                 "default_domain = %s\n" % (port, DOM))
    with open(o.rules, "w") as f:
        f.write("127.0.0.1:allow\n")
    o.write_control("me", "mx.%s\n" % DOM)
    o.write_control("rcpthosts", DOM + "\n")
    maildir = os.path.join(add_user(o, "bob@" + DOM, "pw-bob"), "Maildir")
    return port, maildir


def half_data(port, tag):
    """A session left in the middle of DATA (some body sent, no end): the SmtpRaw."""
    r = SmtpRaw(port, src="127.0.0.1")
    r.cmd("EHLO client.test")
    r.cmd("MAIL FROM:<a@client.test>")
    r.cmd("RCPT TO:<bob@%s>" % DOM)
    c, _ = r.cmd("DATA")
    r.send("From: a@client.test\r\nSubject: %s\r\n\r\n%s" % (tag, ("line of %s\r\n" % tag) * 5000))
    return r, c


def unmarked(o):
    return [n for n, complete in o.new_files() if not complete]


def kill_sessions(smtpd):
    for k in children_of(smtpd.pid):
        try:
            os.kill(k, signal.SIGKILL)
        except ProcessLookupError:
            pass


def stop_all(o):
    for p in o.procs:
        if p.poll() is None:
            o.stop(p)


def killed_writer():
    o = Osd()
    try:
        port, maildir = setup(o)
        smtpd = o.start_smtpd(port)
        check(data_reply(port, "k1")[0] == 250, "k1 acknowledged (no manager running)")
        r, c = half_data(port, "k2")
        check(c == 354, "k2: DATA accepted (%d)" % c)
        check(wait_for(lambda: len(unmarked(o)) == 1), "k2 is being written in new/, unmarked (%r)"
              % o.new_files())
        kill_sessions(smtpd)
        check(r.eof(), "the session of k2 is gone")
        r.close()
        debris = unmarked(o)
        check(len(debris) == 1, "the killed writer left one unmarked file in new/ (%r)" % o.new_files())
        check(qstat(o) == (1, 1), "qstat counts k1 only (%r)" % (qstat(o),))
        qread = o.run("qread").stdout
        check(qread.count("#") == 1 and "<a@client.test>" in qread, "qread lists k1 only:\n%s" % qread)

        seen = len(o.log("queue"))
        start_queue(o)
        check(wait_for(lambda: tags_in(maildir) == ["k1"], timeout=30), "k1 delivered (%r)" % tags_in(maildir))
        check(wait_for(lambda: o.new_files() == []), "the debris is removed from new/ (%r)" % o.new_files())
        log = o.log("queue")[seen:]
        check(debris and "removed new/%s: unfinished, its writer is gone" % debris[0] in log,
              "the manager logs the removal:\n%s" % log[-600:])

        # A live writer's file survives a manager's start-up scan and is delivered once ended.
        queue = o.procs[-1]
        o.stop(queue)
        r, c = half_data(port, "k3")
        check(c == 354 and wait_for(lambda: len(unmarked(o)) == 1), "k3 in the middle of DATA")
        if unmarked(o):
            d = o.run("queue", "--delete", unmarked(o)[0])
            check(d.returncode == 100 and "not complete yet" in d.stderr and len(unmarked(o)) == 1,
                  "osd queue --delete refuses a file still being written (%d %s)"
                  % (d.returncode, d.stderr.strip()))
        start_queue(o)
        check(not wait_for(lambda: len(unmarked(o)) != 1, timeout=2),
              "the manager leaves the file of a live writer alone (%r)" % o.new_files())
        r.send("END-k3\r\n.\r\n")
        c, t = r.reply()
        check(c == 250, "k3 acknowledged (%d %s)" % (c, t))
        r.cmd("QUIT")
        r.close()
        check(wait_for(lambda: tags_in(maildir) == ["k1", "k3"], timeout=30),
              "k3 delivered once, no debris left (%r)" % tags_in(maildir))
        check(wait_for(lambda: o.new_files() == []), "new/ is empty (%r)" % o.new_files())
    finally:
        stop_all(o)
        o.cleanup()


def power_cut():
    o = Osd()
    fs = LoopFs(o.root, o.state)
    try:
        if fs.dev is None:
            check(False, "a loop device is made (%s)" % fs.why)
            return
        if not check(fs.mount(), "ext4 on %s mounted on state_dir (%s)" % (fs.dev, fs.why)):
            return
        port, maildir = setup(o)
        o.start_watch()
        smtpd = o.start_smtpd(port)
        tags = ["p%02d" % i for i in range(20)]
        codes = [data_reply(port, t)[0] for t in tags]
        check(codes == [250] * len(tags), "20 messages acknowledged, no manager running (%r)" % codes)
        r, c = half_data(port, "px")
        check(c == 354 and wait_for(lambda: len(unmarked(o)) == 1), "px in the middle of DATA")
        # p20's fsync commits the journal transaction that created px's file too.
        check(data_reply(port, "p20")[0] == 250, "p20 acknowledged while px is unfinished")
        tags.append("p20")
        fd = os.open(o.state, os.O_RDONLY)
        try:
            fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
        finally:
            os.close(fd)
        r.close()
        kill_sessions(smtpd)
        for p in o.procs:
            o.stop(p)
        check(fs.umount(), "the file system is unmounted (%s)" % fs.why)
        rc, out = sh("e2fsck", "-fy", fs.dev)
        check(rc in (0, 1), "e2fsck (rc %d: %s)" % (rc, out[-300:]))
        if not check(fs.mount(), "mounted again (%s)" % fs.why):
            return
        left = o.new_files()
        check(len(o.queue_files()) == 21, "the 21 acknowledged messages are in new/, marked (%r)" % left)
        debris = unmarked(o)
        check(len(debris) == 1, "px's file survived the cut, unmarked (%r)" % left)
        o.start_watch()
        seen = len(o.log("queue"))
        start_queue(o)
        log = o.log("queue")[seen:]
        check(debris and "removed new/%s: unfinished, its writer is gone" % debris[0] in log,
              "the manager removes px's debris at start-up and logs it:\n%s" % log[-600:])
        check(wait_for(lambda: qstat(o) == (0, 0), timeout=60), "the queue drains (%r)" % (qstat(o),))
        check(wait_for(lambda: tags_in(maildir) == tags, timeout=30),
              "each acknowledged message delivered exactly once, px never (%r)" % tags_in(maildir))
        check(wait_for(lambda: o.new_files() == []), "no debris left in new/ (%r)" % o.new_files())
    finally:
        stop_all(o)
        fs.remove()
        o.cleanup()


def main():
    own_mount_namespace(__file__)
    killed_writer()
    power_cut()
    finish()


if __name__ == "__main__":
    main()
