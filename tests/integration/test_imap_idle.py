#!/usr/bin/env python3
"""osd imapd IDLE without inotify, and its keepalive.

imap_idle_inotify = no forces what a server past
fs.inotify.max_user_instances falls back to (the sysctl itself is global:
tests never change it): the selected folder is polled every imap_idle_poll
(1 s here). A message delivered into new/ the way deliveries do it (tmp/,
then rename) during IDLE must be reported as * n EXISTS; "* OK Still here"
comes every imap_idle_keepalive (1 s here) while nothing else is said; and
the keepalive never restarts the client's autologout timer: a client that
only idles hears * BYE Disconnected for inactivity after imap_timeout (3 s
here), keepalives or not. Plain sockets, so every line is seen in order.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, check, check_no_crash, finish, free_port, wait_port  # noqa: E402

DOM = "example.test"
T = 15  # how long a client waits for a line (a functional bound, well above the 1-3 s timers)


class Client:
    """A raw IMAP client from a chosen loopback address."""

    def __init__(self, port, src):
        self.s = socket.create_connection(("127.0.0.1", port), T, source_address=(src, 0))
        self.buf = b""
        self.seen = []          # every line read, for failure reports

    def send(self, line):
        self.s.sendall(line + b"\r\n")

    def line(self):
        """The next line (without CRLF), or None at EOF or after T seconds of silence."""
        while b"\r\n" not in self.buf:
            try:
                d = self.s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                return None
            if not d:
                return None
            self.buf += d
        out, _, self.buf = self.buf.partition(b"\r\n")
        self.seen.append(out)
        return out

    def until(self, prefix, max_lines=1000):
        """Lines up to and with the first starting with prefix (None if it did not come
        within max_lines lines)."""
        got = []
        while len(got) < max_lines:
            ln = self.line()
            if ln is None:
                return None
            got.append(ln)
            if ln.startswith(prefix):
                return got
        return None

    def close(self):
        self.s.close()


def deliver(maildir, name, body):
    """As osd-local, qmail and vpopmail deliver: write in tmp/, rename into new/."""
    tmp = os.path.join(maildir, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(body)
    os.rename(tmp, os.path.join(maildir, "new", name))


def main():
    o = Osd()
    try:
        run(o)
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


def run(o):
    port = free_port()
    o.write_conf("3h", "imap_listen = 127.0.0.1:%d\nimaps_listen =\ndefault_domain = %s\n"
                 "imap_idle_inotify = no\nimap_idle_poll = 1s\nimap_idle_keepalive = 1s\n"
                 "imap_timeout = 3s\nservices = imapd\n" % (port, DOM))
    p = o.run("user", "add", "alice@" + DOM, input="alice-pw\n")
    check(p.returncode == 0, "osd user add alice (%s)" % p.stderr.strip())
    md = os.path.join(o.state, "domains", DOM, "alice", "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    deliver(md, "1700000001.M1P1.host", b"Subject: one\n\nfirst\n")

    runp = o.start("run")
    up = wait_port(port, runp)
    check(up, "osd run starts imapd on %d with imap_idle_inotify = no" % port)
    if not up:
        print(o.log("run")[-2000:])
        return

    c = Client(port, "127.0.0.41")
    c.line()
    c.send(b"a1 LOGIN alice alice-pw")
    r = c.until(b"a1 ")
    check(r is not None and r[-1].startswith(b"a1 OK"), "LOGIN (%r)" % r)
    c.send(b"a2 SELECT INBOX")
    r = c.until(b"a2 ")
    check(r is not None and b"* 1 EXISTS" in r and r[-1].startswith(b"a2 OK"), "SELECT INBOX: 1 EXISTS (%r)" % r)

    # IDLE: the keepalive first (nothing else to say), then the delivery at the next poll.
    c.send(b"a3 IDLE")
    ln = c.line()
    check(ln is not None and ln.startswith(b"+ "), "IDLE: + idling (%r)" % ln)
    ln = c.line()
    check(ln == b"* OK Still here", "IDLE with imap_idle_keepalive = 1s: * OK Still here (%r)" % ln)
    deliver(md, "1700000002.M2P1.host", b"Subject: two\n\nsecond\n")
    # Polled every second: 15 keepalives without it mean the poll never came.
    r = c.until(b"* 2 EXISTS", max_lines=16)
    check(r is not None, "IDLE without inotify: the delivery is reported as * 2 EXISTS by the poll (%r)"
          % c.seen[-6:])
    check(r is not None and all(x == b"* OK Still here" for x in r[:-1]),
          "only keepalives before the EXISTS (%r)" % r)
    c.send(b"DONE")
    r = c.until(b"a3 ")
    check(r is not None and r[-1] == b"a3 OK Idle completed.", "DONE: a3 OK Idle completed. (%r)" % r)

    # The keepalive is the server's output: the idle client is still logged out after imap_timeout.
    t0 = time.monotonic()
    c.send(b"a4 IDLE")
    # 15 keepalives (15 s) are far past the 3 s timer: a server whose keepalive kept it alive goes on for ever.
    r = c.until(b"* BYE", max_lines=16)
    check(r is not None and r[-1] == b"* BYE Disconnected for inactivity.",
          "an IDLE client that says nothing hears * BYE Disconnected for inactivity (%r)" % c.seen[-6:])
    check(r is not None and r.count(b"* OK Still here") >= 1,
          "... after keepalives, which did not keep it logged in (%r)" % r)
    check(c.line() is None, "... and the connection is closed")
    c.close()
    print("# the idle session ended %.1f s after IDLE (imap_timeout 3 s)" % (time.monotonic() - t0))

    log = o.log("run")
    check("inotify" not in log, "forced polling (imap_idle_inotify = no) logs no inotify warning")
    check_no_crash("imapd", log)


if __name__ == "__main__":
    main()
