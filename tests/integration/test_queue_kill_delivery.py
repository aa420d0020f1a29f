#!/usr/bin/env python3
"""kill -9 of osd queue at a chosen point of a delivery: a delivery in flight
dies with its manager, so a crash repeats a delivery only inside the
documented window (the message complete at its destination, its success not
yet recorded), and never runs beside the next manager.

A scripted SMTP server (Python, loopback) plays the remote MX and can hold a
transaction at a chosen point; osd-local stops itself (SIGSTOP) at a chosen
point of its Maildir delivery (the test hook OSD_LOCAL_TEST_STOP).  Each case
kills the manager there with SIGKILL, then starts a new one:

  remote, held before the message went (no 354 yet): the held connection is
      closed by the death of the delivery program, before the test releases
      it; the new manager delivers: exactly one copy.  (Before the fix the
      orphaned osd-remote went on, got its 354, delivered, and the new manager
      delivered again: two copies; one kill more in that state made three.)
  remote, held after the final dot, before the 250: two copies, the
      at-least-once window (RFC 1047), as in qmail and Postfix.
  local, stopped with the message written in Maildir/tmp: the stopped osd-local
      dies with the manager (before the fix it lived on, stopped, and delivered
      once continued); exactly one copy in new/.
  local, stopped right after the link into new/: one copy.  The new manager
      runs osd-local -r for a message found in mess/ at its start; osd-local
      finds the copy by its delivery key (",Q=QUEUEID.N" in the Maildir
      name) and does not deliver it again.  (Before: two copies.)
  one message to a local and a remote recipient, the remote one held: the local
      delivery, finished earlier in the round, is recorded at once and not
      repeated by the new manager (before, the round's state was written only
      when all its jobs were over: the local copy came twice).
"""
import glob
import os
import select
import signal
import smtplib
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, add_user, check, children_of, finish, free_port, qstat,  # noqa: E402
                     wait_for)

DOM = "example.test"


class FakeMx:
    """A scripted SMTP server on 127.0.0.1: records each message at its final
    dot; hold ('data' or 'dot') stops the next transaction there until release
    or until the client goes away (then eof is set)."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(50)
        self.port = self.srv.getsockname()[1]
        self.lock = threading.Lock()
        self.messages = []
        self.hold = None
        self.held, self.release, self.eof = threading.Event(), threading.Event(), threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def arm(self, where):
        with self.lock:
            self.hold = where
        self.held.clear()
        self.release.clear()
        self.eof.clear()

    def copies(self, marker):
        with self.lock:
            return sum(1 for m in self.messages if marker in m)

    def accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def wait_held(self, c):
        """Hold until released (True) or the client closed (False)."""
        self.held.set()
        while not self.release.is_set():
            r, _, _ = select.select([c], [], [], 0.05)
            if r:
                try:
                    if c.recv(1, socket.MSG_PEEK) == b"":
                        self.eof.set()
                        return False
                except OSError:
                    self.eof.set()
                    return False
        return True

    def serve(self, c):
        f = c.makefile("rb")
        try:
            c.sendall(b"220 fake.test ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    c.sendall(b"250-fake.test\r\n250 8BITMIME\r\n")
                elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                    c.sendall(b"250 ok\r\n")
                elif verb == b"QUIT":
                    c.sendall(b"221 bye\r\n")
                    return
                elif verb == b"DATA":
                    with self.lock:
                        hold, self.hold = self.hold, None
                    if hold == "data" and not self.wait_held(c):
                        return
                    c.sendall(b"354 go on\r\n")
                    data = b""
                    while True:
                        line = f.readline()
                        if not line:
                            return
                        if line == b".\r\n":
                            break
                        data += line
                    with self.lock:
                        self.messages.append(data)
                    if hold == "dot" and not self.wait_held(c):
                        return
                    c.sendall(b"250 queued\r\n")
                else:
                    c.sendall(b"500 what\r\n")
        except OSError:
            pass
        finally:
            f.close()
            c.close()

    def close(self):
        self.srv.close()


def stopped_local(queue):
    """The pid of a child of osd queue that is osd-local stopped (state T), or None."""
    for pid in children_of(queue.pid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if state == "T" and b"osd-local" in cmd:
            return pid
    return None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def maildir_copies(maildir, marker):
    """Complete copies of the message marked marker in new/ (and what is in tmp/)."""
    n = partial = 0
    for p in glob.glob(os.path.join(maildir, "new", "*")):
        with open(p, "rb") as f:
            data = f.read()
        if marker in data:
            if b"END-" + marker in data:
                n += 1
            else:
                partial += 1
    return n, partial, len(os.listdir(os.path.join(maildir, "tmp")))


class Case:
    def __init__(self, o, port):
        self.o, self.port = o, port
        self.queue = None

    def start_queue(self, stop_at=None):
        if stop_at:
            os.environ["OSD_LOCAL_TEST_STOP"] = stop_at
        else:
            os.environ.pop("OSD_LOCAL_TEST_STOP", None)
        seen = len(self.o.log("queue"))
        self.queue = self.o.start("queue")
        os.environ.pop("OSD_LOCAL_TEST_STOP", None)
        ok = wait_for(lambda: "ready" in self.o.log("queue")[seen:] or self.queue.poll() is not None)
        return ok and self.queue.poll() is None

    def kill_queue(self):
        self.queue.send_signal(signal.SIGKILL)
        self.queue.wait()

    def send(self, marker, rcpts):
        msg = ("From: a@client.test\r\nSubject: %s\r\n\r\nbody of %s\r\n%s\r\nEND-%s\r\n"
               % (marker, marker, "x" * 300, marker)).encode()
        s = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test", timeout=20)
        try:
            s.sendmail("a@client.test", rcpts, msg)
        finally:
            s.quit()

    def drained(self, what):
        check(wait_for(lambda: qstat(self.o) == (0, 0), timeout=60),
              "%s: the queue drains (osd qstat %r)" % (what, qstat(self.o)))


def remote_case(c, mx, hold, marker, want):
    what = "remote, killed while held at %s" % ("DATA (no 354 yet)" if hold == "data" else
                                                 "the final dot (no 250 yet)")
    mx.arm(hold)
    c.send(marker, ["carol@example.net"])
    if not check(mx.held.wait(60), "%s: the delivery reached the hold" % what):
        return
    c.kill_queue()
    closed = mx.eof.wait(15)
    check(closed, "%s: the held connection was closed by the death of the delivery program" % what)
    mx.release.set()
    # Before the fix, the released orphan delivered now, beside the new manager.
    check(c.start_queue(), "%s: a new osd queue starts" % what)
    c.drained(what)
    wait_for(lambda: mx.copies(marker.encode()) >= want, timeout=10)
    got = mx.copies(marker.encode())
    check(got == want, "%s: %d cop%s arrived (want %d%s)" % (
        what, got, "y" if got == 1 else "ies", want,
        ": the documented at-least-once window" if want == 2 else ""))


def local_case(c, maildir, stop_at, marker, want):
    what = "local, killed with osd-local stopped at %s" % (
        "Maildir/tmp (written, not yet linked)" if stop_at == "tmp" else "new/ (linked, no verdict)")
    check(c.start_queue(stop_at), "%s: osd queue starts" % what)
    c.send(marker, ["bob@" + DOM])
    pid = wait_for(lambda: stopped_local(c.queue), timeout=60)
    if not check(pid is not None, "%s: osd-local stopped itself at the hook" % what):
        return
    c.kill_queue()
    gone = wait_for(lambda: not alive(pid), timeout=10)
    check(gone, "%s: the stopped osd-local died with the manager" % what)
    if not gone:
        os.kill(pid, signal.SIGCONT)        # the unfixed code: the orphan delivers now
        wait_for(lambda: not alive(pid), timeout=20)
    check(c.start_queue(), "%s: a new osd queue starts" % what)
    c.drained(what)
    n, partial, _ = maildir_copies(maildir, marker.encode())
    check(n == want and partial == 0, "%s: %d complete cop%s in new/, %d partial (want %d%s)" % (
        what, n, "y" if n == 1 else "ies", partial, want,
        ": the documented at-least-once window" if want == 2 else ""))
    c.kill_queue()


def split_case(c, mx, maildir, marker):
    what = "one message to a local and a held remote recipient"
    mx.arm("data")
    c.send(marker, ["bob@" + DOM, "carol@example.net"])
    check(mx.held.wait(60), "%s: the remote delivery reached the hold" % what)

    def local_recorded():
        for p in glob.glob(os.path.join(c.o.state, "queue", "info", "*", "*")):
            try:
                with open(p) as f:
                    if "rcpt done" in f.read():
                        return True
            except OSError:
                pass
        return False
    check(wait_for(local_recorded, timeout=15),
          "%s: the finished local delivery is recorded while the remote one runs" % what)
    check(maildir_copies(maildir, marker.encode())[0] == 1, "%s: the local copy is in new/" % what)
    c.kill_queue()
    check(mx.eof.wait(15), "%s: the held remote delivery died with the manager" % what)
    mx.release.set()
    check(c.start_queue(), "%s: a new osd queue starts" % what)
    c.drained(what)
    wait_for(lambda: mx.copies(marker.encode()) >= 1, timeout=10)
    n = maildir_copies(maildir, marker.encode())[0]
    check(n == 1, "%s: the local recipient got 1 copy (%d): its delivery was not repeated" % (what, n))
    check(mx.copies(marker.encode()) == 1,
          "%s: the remote recipient got 1 copy (%d)" % (what, mx.copies(marker.encode())))


def main():
    port = free_port()
    o = Osd(rules='127.0.0.1:allow,RELAYCLIENT=""\n')
    mx = FakeMx()
    c = Case(o, port)
    try:
        o.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\ncontrol_dir = control\n"
                     "fsync = no\n" % port)
        o.write_control("me", "relay.osd.test\n")
        o.write_control("rcpthosts", DOM + "\n")
        o.write_control("smtproutes", "example.net:127.0.0.1:%d\n" % mx.port)
        maildir = os.path.join(add_user(o, "bob@" + DOM, "pw-bob"), "Maildir")
        o.start_watch()
        o.start_smtpd(port)

        check(c.start_queue(), "osd queue starts")
        remote_case(c, mx, "data", "kill-before-data", 1)
        c.kill_queue()
        check(c.start_queue(), "osd queue starts again")
        remote_case(c, mx, "dot", "kill-after-dot", 2)
        c.kill_queue()

        local_case(c, maildir, "tmp", "kill-in-tmp", 1)
        local_case(c, maildir, "new", "kill-in-new", 1)

        check(c.start_queue(), "osd queue starts for the split message")
        split_case(c, mx, maildir, "kill-split")

        log = o.log("queue") + o.log("smtpd")
        check("AddressSanitizer" not in log and "runtime error" not in log,
              "no sanitizer report in the queue and smtpd logs")
        check(o.stop(c.queue) == 0, "the last osd queue stops cleanly on SIGTERM")
    finally:
        os.environ.pop("OSD_LOCAL_TEST_STOP", None)
        for p in o.procs:
            if p.poll() is None:
                o.stop(p)
        mx.close()
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
