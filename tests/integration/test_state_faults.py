#!/usr/bin/env python3
"""The state folder turning read-only, or failing with EIO, under every daemon.

state_dir (open-smtp/, relay.cdb, the queue, the users' Maildirs) is an ext4
file system on a loop device the test makes (losetup on an image file in its
temp folder, mounted with errors=remount-ro) and removes by name at the end.
osd watch, pop3d, imapd, smtpd and queue run on it.  After a healthy round (a
POP3 login relays, a message reaches the Maildir), one of two faults strikes:

  ro   ext4's own error path (/sys/fs/ext4/DEV/trigger_fs_error): the file
       system goes read-only at once, open files included (EROFS), as when
       the kernel finds it damaged;
  eio  EXT4_IOC_SHUTDOWN: every access fails with EIO, as when the disk dies.

A message is then caught in each part of the queue: one acknowledged while
the queue manager was stopped (SIGSTOP) in queue/new, one written into
Maildir/tmp by an osd-local stopped at the test hook (OSD_LOCAL_TEST_STOP=tmp).
With the fault in force:

- smtpd never says 250 to a message it could not save: DATA gets 451/452
  4.3.x (or the session is refused with 4xx), and it goes on serving;
- pop3d and imapd answer logins (+OK or -ERR / NO) without crashing, and
  log that the login could not be recorded; a login never says "recorded"
  when it was not;
- the watcher logs the fault and keeps running; the entry of the healthy
  login, expired meanwhile, no longer relays although nobody could remove it
  (smtpd checks the entry's age itself);
- the queue manager logs that it cannot take the new message and that the
  local delivery was deferred (the Maildir write failed), and keeps running;
- every daemon is alive, and none logs a sanitizer report.

Then the daemons are stopped, the file system is checked (e2fsck -fy) and
mounted again, and osd watch and osd queue start on it: every acknowledged
message reaches the Maildir exactly once.  The test runs in a mount
namespace of its own (unshare -m), so nothing else sees the mount.  Without a loop device (a
container without /dev/loop-control) the test exits 77 and says so.
"""
import fcntl
import glob
import imaplib
import os
import poplib
import signal
import smtplib
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, SrcPOP3, add_user, check, children_of, finish, free_port,  # noqa: E402
                     qstat, wait_for, wait_port)

DOM = "example.test"
EXPIRE = 12
EXT4_IOC_SHUTDOWN = 0x8004587d          # _IOR('X', 125, __u32)
EXT4_GOING_FLAGS_NOLOGFLUSH = 2


def sh(*cmd):
    try:
        p = subprocess.run(list(cmd), capture_output=True, text=True, timeout=120)
    except FileNotFoundError as e:
        return 127, str(e)
    return p.returncode, (p.stdout + p.stderr).strip()


class LoopFs:
    """An ext4 image in folder, on a loop device, mounted on mnt; removed by name."""

    def __init__(self, folder, mnt):
        self.img = os.path.join(folder, "state.img")
        self.mnt, self.dev = mnt, None
        with open(self.img, "wb") as f:
            f.truncate(64 << 20)
        rc, out = sh("mkfs.ext4", "-q", "-F", self.img)
        self.why = out
        if rc != 0:
            return
        rc, out = sh("losetup", "--find", "--show", self.img)
        if rc != 0:
            self.why = "losetup: " + out
            return
        self.dev = out.splitlines()[-1]

    def mount(self):
        os.makedirs(self.mnt, exist_ok=True)
        rc, out = sh("mount", "-o", "errors=remount-ro", self.dev, self.mnt)
        self.why = out
        return rc == 0

    def fault(self, kind):
        if kind == "ro":
            name = os.path.basename(self.dev)
            with open("/sys/fs/ext4/%s/trigger_fs_error" % name, "w") as f:
                f.write("osd test_state_faults: the state folder goes read-only\n")
        else:
            fd = os.open(self.mnt, os.O_RDONLY)
            try:
                fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
            finally:
                os.close(fd)

    def umount(self):
        """True once unmounted; a process that has just ended may still hold it a moment."""
        if not os.path.ismount(self.mnt):
            return True
        if wait_for(lambda: sh("umount", self.mnt)[0] == 0, timeout=30, step=0.2):
            return True
        self.why = "busy: " + sh("fuser", "-vm", self.mnt)[1]
        sh("umount", "-l", self.mnt)
        return False

    def remove(self):
        self.umount()
        if self.dev:
            sh("losetup", "-d", self.dev)
            self.dev = None


def data_reply(port, tag, rcpt="bob@" + DOM):
    """Send one message: (code, text) of the reply to the end of DATA, or of the step refused."""
    msg = ("From: a@client.test\r\nTo: %s\r\nSubject: %s\r\n\r\nbody %s\r\nEND-%s\r\n"
           % (rcpt, tag, tag, tag))
    try:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30)
    except smtplib.SMTPConnectError as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")
    except OSError as e:
        return 0, str(e)
    try:
        s.sendmail("a@client.test", [rcpt], msg)
        return 250, ""
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        return code, text.decode(errors="replace")
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")
    except (smtplib.SMTPException, OSError) as e:
        return 0, str(e)
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass


def rcpt_code(port, src, rcpt):
    try:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30,
                         source_address=(src, 0))
        s.ehlo()
        s.mail("a@client.test")
        code, _ = s.rcpt(rcpt)
        s.quit()
        return code
    except (smtplib.SMTPException, OSError):
        return 0


def pop3_login(port, src):
    """'+OK', '-ERR ...' or the error; never raises."""
    try:
        p = SrcPOP3("127.0.0.1", port, src, timeout=30)
    except (OSError, poplib.error_proto) as e:
        return "connect: %s" % e
    try:
        p.user("bob@" + DOM)
        r = p.pass_("pw-bob").decode(errors="replace")
        try:
            p.stat()
        except poplib.error_proto:
            pass
        p.quit()
        return r
    except poplib.error_proto as e:
        a = e.args[0] if e.args else b""
        return a.decode(errors="replace") if isinstance(a, bytes) else str(a)
    except OSError as e:
        return "io: %s" % e


def imap_login(port):
    try:
        m = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    except OSError as e:
        return "connect: %s" % e
    try:
        typ, _ = m.login("bob@" + DOM, "pw-bob")
        try:
            m.select("INBOX")
        except imaplib.IMAP4.error:
            pass
        m.logout()
        return typ
    except imaplib.IMAP4.error as e:
        return "NO %s" % e
    except OSError as e:
        return "io: %s" % e


def tags_in(maildir):
    out = []
    for sub in ("new", "cur"):
        for p in sorted(glob.glob(os.path.join(maildir, sub, "*"))):
            with open(p, "rb") as f:
                data = f.read()
            for line in data.split(b"\n"):
                if line.startswith(b"Subject: "):
                    tag = line[9:].strip().decode()
                    out.append(tag if b"END-" + tag.encode() in data else tag + "(partial)")
                    break
    return sorted(out)


def stopped_local(pid):
    for c in children_of(pid):
        try:
            with open("/proc/%d/stat" % c) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "T":
                    return c
        except OSError:
            pass
    return None


def start_queue(o, hook=None):
    if hook:
        os.environ["OSD_LOCAL_TEST_STOP"] = hook
    seen = len(o.log("queue"))
    p = o.start("queue")
    os.environ.pop("OSD_LOCAL_TEST_STOP", None)
    wait_for(lambda: "ready" in o.log("queue")[seen:] or p.poll() is not None)
    return p


def run(kind):
    t = "[%s] " % kind
    o = Osd(relay_expire="%ds" % EXPIRE)
    fs = LoopFs(o.root, o.state)
    try:
        if fs.dev is None:
            if not os.path.exists("/dev/loop-control"):
                print("SKIP: no loop device can be made here (%s)" % fs.why)
                sys.exit(77)
            check(False, t + "a loop device is made (%s)" % fs.why)
            return
        if not check(fs.mount(), t + "ext4 on %s mounted on state_dir (%s)" % (fs.dev, fs.why)):
            return
        sport, pport, iport = free_port(), free_port(), free_port()
        o.write_conf("%ds" % EXPIRE,
                     "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\npop3_listen = 127.0.0.1:%d\n"
                     "imap_listen = 127.0.0.1:%d\ncontrol_dir = control\ndefault_domain = %s\n"
                     % (sport, pport, iport, DOM))
        with open(o.rules, "w") as f:
            f.write("127.0.0.1:allow\n")
        o.write_control("me", "mx.%s\n" % DOM)
        o.write_control("rcpthosts", DOM + "\n")
        maildir = os.path.join(add_user(o, "bob@" + DOM, "pw-bob"), "Maildir")
        w = o.start_watch()
        pop = o.start("pop3d")
        imap = o.start("imapd")
        smtpd = o.start_smtpd(sport)
        queue = start_queue(o)
        daemons = {"watch": w, "pop3d": pop, "imapd": imap, "smtpd": smtpd, "queue": queue}
        if not check(wait_port(pport, pop) and wait_port(iport, imap) and
                     all(p.poll() is None for p in daemons.values()), t + "all five daemons run"):
            return

        # Healthy.
        check(pop3_login(pport, "127.0.0.2").startswith("+OK"), t + "POP3 login from 127.0.0.2")
        check(wait_for(lambda: "127.0.0.2" in o.cdb_keys()), t + "127.0.0.2 reaches relay.cdb")
        check(rcpt_code(sport, "127.0.0.2", "x@example.net") == 250, t + "127.0.0.2 may relay")
        check(data_reply(sport, "m1")[0] == 250, t + "m1 acknowledged")
        check(wait_for(lambda: tags_in(maildir) == ["m1"]), t + "m1 delivered (%r)" % tags_in(maildir))
        cdb_before = open(o.cdb, "rb").read()

        # m2 in Maildir/tmp: a manager whose osd-local stops at the test hook.
        o.stop(queue)
        queue = start_queue(o, hook="tmp")
        daemons["queue"] = queue
        check(data_reply(sport, "m2")[0] == 250, t + "m2 acknowledged")
        local = wait_for(lambda: stopped_local(queue.pid), timeout=60)
        check(local is not None, t + "osd-local stopped with m2 written into Maildir/tmp")
        # m3 in queue/new: the manager is stopped.
        queue.send_signal(signal.SIGSTOP)
        check(data_reply(sport, "m3")[0] == 250, t + "m3 acknowledged while the manager is stopped")
        check(qstat(o)[1] == 1, t + "m3 waits in queue/new (%r)" % (qstat(o),))

        # The fault.
        logs0 = {n: len(o.log(n)) for n in daemons}
        fs.fault(kind)
        err = "Read-only file system" if kind == "ro" else "Input/output error"
        if local is not None:
            os.kill(local, signal.SIGCONT)
        queue.send_signal(signal.SIGCONT)

        code, text = data_reply(sport, "m5")
        check(code != 250 and 400 <= code < 500 and (" 4.3." in " " + text or code in (421,)),
              t + "smtpd refuses m5 with a 4xx (%d %s), never 250" % (code, text))
        code2, text2 = data_reply(sport, "m6")
        check(code2 != 250 and 400 <= code2 < 500, t + "and again (%d %s)" % (code2, text2))
        r = pop3_login(pport, "127.0.0.3")
        check(r.startswith("+OK") or r.startswith("-ERR"), t + "POP3 login answered (%s)" % r)
        ri = imap_login(iport)
        check(ri == "OK" or ri.startswith("NO"), t + "IMAP login answered (%s)" % ri)
        plog = o.log("pop3d")[logs0["pop3d"]:]
        check("cannot record" in plog or not r.startswith("+OK"),
              t + "pop3d logs that the login could not be recorded (%s)" % plog.strip()[-300:])
        check(" recorded" not in plog.replace("NOT recorded", ""),
              t + "pop3d never logs a login as recorded that was not (%s)" % plog.strip()[-600:])
        ilog = o.log("imapd")[logs0["imapd"]:]
        check("cannot record" in ilog or ri != "OK", t + "imapd logs the failed record (%s)" % ilog.strip()[-200:])
        check(wait_for(lambda: err in o.log("queue")[logs0["queue"]:], timeout=60),
              t + "the queue manager logs the fault (%s)" % o.log("queue")[logs0["queue"]:].strip()[-400:])
        qlog = o.log("queue")[logs0["queue"]:]
        check("deferral" in qlog, t + "the local delivery of m2 is deferred, not lost")
        # The healthy login's entry expires while nobody can remove it.
        check(wait_for(lambda: err in o.log("watch")[logs0["watch"]:], timeout=EXPIRE + 30),
              t + "the watcher logs the fault (%s)" % o.log("watch")[logs0["watch"]:].strip()[-300:])
        code = rcpt_code(sport, "127.0.0.2", "x@example.net")
        check(code != 250, t + "the expired entry of 127.0.0.2 does not relay (%d)" % code)
        if kind == "ro":
            check(open(o.cdb, "rb").read() == cdb_before, t + "the last relay.cdb stays in force, whole")
        for name, p in daemons.items():
            check(p.poll() is None, t + "osd %s is still running" % name)
        for name in daemons:
            log = o.log(name)
            check("AddressSanitizer" not in log and "runtime error" not in log and
                  "died of signal" not in log, t + "no crash or sanitizer report in osd %s's log" % name)
        for name, p in daemons.items():
            rc = o.stop(p)
            check(rc is not None and rc >= 0, t + "osd %s stops on SIGTERM (exit %s)" % (name, rc))

        # Repaired: every acknowledged message arrives once.
        check(fs.umount(), t + "the file system is unmounted (%s)" % fs.why)
        rc, out = sh("e2fsck", "-fy", fs.dev)
        check(rc in (0, 1), t + "e2fsck repairs the file system (rc %d: %s)" % (rc, out[-300:]))
        if not check(fs.mount(), t + "mounted again (%s)" % fs.why):
            return
        o.start_watch()
        queue = start_queue(o)
        check(wait_for(lambda: qstat(o) == (0, 0), timeout=60), t + "the queue drains (%r)" % (qstat(o),))
        got = tags_in(maildir)
        check(got == ["m1", "m2", "m3"], t + "m1, m2 and m3 delivered once each, none partial (%r)" % got)
        for p in o.procs:
            o.stop(p)
    finally:
        os.environ.pop("OSD_LOCAL_TEST_STOP", None)
        for p in o.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                o.stop(p)
        fs.remove()
        o.cleanup()


def own_mount_namespace(script):
    """As root, run script again in a mount namespace of its own (returns there): the
    loop mount is seen by the test and the daemons it starts only, and no namespace
    another program clones meanwhile keeps the device busy after the unmount (e2fsck
    would find it in use)."""
    if os.geteuid() != 0:
        check(False, "runs as root (it mounts a loop device)")
        finish()
    if not os.environ.get("OSD_STATE_FAULTS_NS"):
        os.environ["OSD_STATE_FAULTS_NS"] = "1"
        sys.stdout.flush()
        os.execvp("unshare", ["unshare", "-m", "--propagation", "private", sys.executable,
                              os.path.abspath(script)] + sys.argv[1:])


def main():
    own_mount_namespace(__file__)
    for kind in ("ro", "eio"):
        run(kind)
    finish()


if __name__ == "__main__":
    main()
