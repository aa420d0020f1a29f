#!/usr/bin/env python3
"""Slow clients do not hold a session slot forever (issue 16 point 4), with
real clients on 127.0.0.x and small configured timeouts.

- A client trickling a command one byte a second (SMTP command phase, POP3)
  is cut off once the whole line has not arrived within the timeout
  (timeoutsmtpd, pop3_timeout): the per-line deadline.  Before, every byte
  restarted the idle timeout and the line went through.
- A client trickling its DATA body is cut off at timeoutsmtpd plus the
  bytes received / smtp_min_data_rate, with 421 4.4.2 and nothing queued;
  one sending steadily above the rate for longer than timeoutsmtpd is not.
- A client that keeps sending whole commands (NOOP) is ended at the session
  deadline (smtp_session_deadline, pop3_session_deadline) with SMTP's
  "421 4.4.2 ... session time limit exceeded" and POP3's "-ERR [SYS/TEMP]".
- Meanwhile a normal SMTP session (smtplib) and a normal POP3 session
  (poplib) complete, while every trickler is still connected.
"""
import os
import poplib
import select
import smtplib
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, check, check_no_crash, finish, free_port, wait_for,  # noqa: E402
                     wait_port)

DOM = "example.test"
ME = "mx.example.test"
TIMEOUT = 6          # timeoutsmtpd and pop3_timeout (seconds): room for the normal sessions on a loaded machine
DEADLINE = 12        # smtp_session_deadline and pop3_session_deadline (seconds)
GAP = 1.0            # the tricklers' pause between two bytes or two commands
LIMIT = 40           # a trickler gives up after this long (a functional bound)


class Slow:
    """A raw connection that reads with its own buffer, so select() tells the truth."""

    def __init__(self, port, src):
        self.sock = socket.create_connection(("127.0.0.1", port), 20, source_address=(src, 0))
        self.buf = b""
        self.eof = False
        self.greeting = self.line(20)

    def _fill(self, wait):
        r, _, _ = select.select([self.sock], [], [], wait)
        if not r:
            return False
        try:
            data = self.sock.recv(4096)
        except OSError:
            data = b""
        if not data:
            self.eof = True
        self.buf += data
        return True

    def line(self, wait=20):
        """The next line (without CRLF), '' at EOF or when none came within wait."""
        end = time.monotonic() + wait
        while b"\n" not in self.buf and not self.eof:
            left = end - time.monotonic()
            if left <= 0 or not self._fill(left):
                break
        if b"\n" not in self.buf:
            return ""
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode("latin-1").rstrip("\r")

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def closed_by_server(self):
        """True when the server has closed its end (EOF after what it said)."""
        while not self.eof:
            if not self._fill(20):
                return False
        return True

    def trickle(self, data):
        """Send data a byte every GAP seconds until the server speaks (or LIMIT).
        Returns (what it said, bytes of data sent)."""
        t0, sent = time.monotonic(), 0
        while time.monotonic() - t0 < LIMIT:
            if self.buf or self._fill(GAP):
                return self.line(5), sent
            if sent < len(data):
                if not self.send(data[sent:sent + 1]):
                    break
                sent += 1
        return self.line(1), sent

    def close(self):
        self.sock.close()


def smtp_command_trickler(port, res):
    c = Slow(port, "127.0.0.41")
    line = b"EHLO client.test\r\n"
    reply, sent = c.trickle(line)
    res.update(reply=reply, sent=sent, total=len(line), closed=c.closed_by_server())
    c.close()


def start_data(c, sender):
    """EHLO, MAIL, RCPT to alice and DATA at full speed; the reply to DATA."""
    for cmd in ("EHLO client.test", "MAIL FROM:<%s>" % sender, "RCPT TO:<alice@%s>" % DOM):
        c.send(cmd.encode() + b"\r\n")
        r = c.line()
        while r[3:4] == "-":
            r = c.line()
    c.send(b"DATA\r\n")
    return c.line()


def smtp_data_trickler(port, res):
    c = Slow(port, "127.0.0.42")
    res["354"] = start_data(c, "slow@client.test")
    body = b"Subject: trickled\r\n\r\n" + b"x" * 200 + b"\r\n.\r\n"
    reply, sent = c.trickle(body)
    res.update(reply=reply, sent=sent, total=len(body), closed=c.closed_by_server())
    c.close()


def smtp_steady_sender(port, res):
    """A body sent slowly but above smtp_min_data_rate (1000 bytes/s against 500),
    for longer than timeoutsmtpd: the deadline grows with the bytes, so it is accepted."""
    c = Slow(port, "127.0.0.45")
    start_data(c, "steady@client.test")
    t0 = time.monotonic()
    c.send(b"Subject: steady\r\n\r\n")
    while time.monotonic() - t0 < TIMEOUT + 2:
        c.send(b"y" * 98 + b"\r\n")
        time.sleep(0.1)
    c.send(b".\r\n")
    res.update(reply=c.line(), seconds=time.monotonic() - t0)
    c.send(b"QUIT\r\n")
    c.close()


def smtp_noop_loop(port, res):
    c = Slow(port, "127.0.0.43")
    t0, n, last = time.monotonic(), 0, ""
    while time.monotonic() - t0 < LIMIT:
        if c.buf or c._fill(GAP):
            last = c.line(5)
            if not last.startswith("250"):
                break
            continue
        if not c.send(b"NOOP\r\n"):
            break
        n += 1
    if not last or last.startswith("250"):
        last = c.line(5) or last
    res.update(reply=last, noops=n, seconds=time.monotonic() - t0,
               closed=c.closed_by_server())
    c.close()


def pop3_command_trickler(port, res):
    c = Slow(port, "127.0.0.51")
    line = ("USER alice@%s\r\n" % DOM).encode()
    reply, sent = c.trickle(line)
    res.update(reply=reply, sent=sent, total=len(line), closed=c.closed_by_server())
    c.close()


def pop3_noop_loop(port, res):
    c = Slow(port, "127.0.0.52")
    c.send(("USER alice@%s\r\n" % DOM).encode())
    c.line()
    c.send(b"PASS alice-pw\r\n")
    res["login"] = c.line()
    t0, n, last = time.monotonic(), 0, ""
    while time.monotonic() - t0 < LIMIT:
        if c.buf or c._fill(GAP):
            last = c.line(5)
            if not last.startswith("+OK"):
                break
            continue
        if not c.send(b"NOOP\r\n"):
            break
        n += 1
    res.update(reply=last, noops=n, seconds=time.monotonic() - t0,
               closed=c.closed_by_server())
    c.close()


def normal_sessions(smtp_port, pop_port, threads, res):
    """An ordinary SMTP and POP3 session each, while the tricklers are connected."""
    s = smtplib.SMTP("127.0.0.1", smtp_port, local_hostname="client.test", timeout=20,
                     source_address=("127.0.0.44", 0))
    refused = s.sendmail("normal@client.test", ["alice@" + DOM],
                         "Subject: normal\r\n\r\nserved during the trickle\r\n")
    s.quit()
    p = poplib.POP3("127.0.0.1", pop_port, timeout=20)
    p.user("bob@" + DOM)
    p.pass_("bob-pw")
    count, _ = p.stat()
    p.quit()
    res.update(smtp_ok=refused == {}, pop_ok=count >= 0,
               during=all(t.is_alive() for t in threads))


def main():
    o = Osd()
    pop_port, smtp_port = free_port(), free_port()
    o.write_conf("3h", "pop3_listen = 127.0.0.1:%d\nsmtp_listen = 127.0.0.1:%d\n"
                 "submission_listen =\ncontrol_dir = control\ndefault_domain = %s\n"
                 "pop3_timeout = %d\npop3_session_deadline = %d\n"
                 "smtp_session_deadline = %d\nsmtp_min_data_rate = 500\n"
                 "smtp_max_connections = 5\npop3_max_connections = 3\n"
                 % (pop_port, smtp_port, DOM, TIMEOUT, DEADLINE, DEADLINE))
    o.write_control("me", ME + "\n")
    o.write_control("rcpthosts", DOM + "\n")
    o.write_control("timeoutsmtpd", "%d\n" % TIMEOUT)
    try:
        for login, pw in (("alice", "alice-pw"), ("bob", "bob-pw")):
            p = o.run("user", "add", "%s@%s" % (login, DOM), input=pw + "\n")
            check(p.returncode == 0, "osd user add %s (%s)" % (login, p.stderr.strip()))
        o.start_watch()
        pop = o.start("pop3d")
        check(wait_port(pop_port, pop), "osd pop3d listens on 127.0.0.1:%d" % pop_port)
        smtpd = o.start_smtpd(smtp_port)
        check(wait_port(smtp_port, smtpd), "osd smtpd listens on 127.0.0.1:%d" % smtp_port)
        before = set(o.queue_files())

        res = {k: {} for k in ("cmd", "data", "steady", "noop", "pcmd", "pnoop", "normal")}
        threads = [threading.Thread(target=f, args=(port, res[k]), daemon=True)
                   for f, port, k in ((smtp_command_trickler, smtp_port, "cmd"),
                                      (smtp_data_trickler, smtp_port, "data"),
                                      (smtp_steady_sender, smtp_port, "steady"),
                                      (smtp_noop_loop, smtp_port, "noop"),
                                      (pop3_command_trickler, pop_port, "pcmd"),
                                      (pop3_noop_loop, pop_port, "pnoop"))]
        for t in threads:
            t.start()
        time.sleep(GAP * 1.5)  # every trickler connected and under way
        normal_sessions(smtp_port, pop_port, threads, res["normal"])
        for t in threads:
            t.join(LIMIT + 60)

        n = res["normal"]
        check(n.get("smtp_ok") and n.get("pop_ok"),
              "a normal SMTP session (smtplib) and a normal POP3 session (poplib) complete (%r)" % n)
        check(n.get("during"), "... while every trickler is still connected")

        r = res["cmd"]
        check(r.get("reply", "").startswith("421 4.4.2 %s Error: timeout exceeded" % ME)
              and r.get("sent", 99) < r.get("total", 0) and r.get("closed"),
              "SMTP: a command trickled a byte a second is cut off before it is whole, with "
              "421 4.4.2 timeout exceeded, and closed (%r)" % r)
        r = res["data"]
        check(r.get("354", "").startswith("354"), "SMTP: DATA is accepted (%r)" % r.get("354"))
        check(r.get("reply", "").startswith("421 4.4.2 %s Error: timeout exceeded" % ME)
              and r.get("sent", 999) < r.get("total", 0) and r.get("closed"),
              "SMTP: a DATA body trickled a byte a second (below smtp_min_data_rate) is cut off "
              "with 421 4.4.2 timeout exceeded, and closed (%r)" % r)
        new = [o.queue_read(q)[1].decode(errors="replace") for q in set(o.queue_files()) - before]
        check(len(new) == 2 and not any("trickled" in m for m in new),
              "... the trickled message is not queued (the normal and the steady one are)")
        r = res["steady"]
        check(r.get("reply", "").startswith("250") and r.get("seconds", 0) > TIMEOUT,
              "SMTP: a body sent for longer than timeoutsmtpd but above smtp_min_data_rate "
              "is accepted (%r)" % r)
        r = res["noop"]
        check(r.get("reply", "").startswith("421 4.4.2 %s Error: session time limit exceeded"
                                            % ME) and r.get("closed") and r.get("noops", 0) >= 2,
              "SMTP: a client sending NOOP every second is ended at smtp_session_deadline with "
              "421 4.4.2 session time limit exceeded (%r)" % r)
        check(r.get("seconds", 0) >= DEADLINE - 0.5,
              "... not before the deadline (%.1f s >= %d s)" % (r.get("seconds", 0), DEADLINE))
        r = res["pcmd"]
        check(r.get("reply", "") == "-ERR Disconnected for inactivity." and
              r.get("sent", 99) < r.get("total", 0) and r.get("closed"),
              "POP3: a command trickled a byte a second is cut off before it is whole (%r)" % r)
        r = res["pnoop"]
        check(r.get("login", "").startswith("+OK"), "POP3: the NOOP client logs in (%r)"
              % r.get("login"))
        check(r.get("reply", "") == "-ERR [SYS/TEMP] Session time limit exceeded."
              and r.get("closed") and r.get("noops", 0) >= 2,
              "POP3: a client sending NOOP every second is ended at pop3_session_deadline with "
              "-ERR [SYS/TEMP] (%r)" % r)
        check(r.get("seconds", 0) >= DEADLINE - 0.5 - GAP,
              "... not before the deadline (%.1f s)" % r.get("seconds", 0))

        slog, plog = o.log("smtpd"), o.log("pop3d")
        for addr, name in (("127.0.0.41", "smtpd"), ("127.0.0.42", "smtpd"),
                           ("127.0.0.51", "pop3d")):
            check(wait_for(lambda: any("session: addr=%s " % addr in ln and "end=timeout" in ln
                                       for ln in o.log(name).splitlines())),
                  "%s logs the trickler %s's session with end=timeout" % (name, addr))
        check(wait_for(lambda: any("session: addr=127.0.0.43 " in ln and "end=deadline" in ln
                                   for ln in o.log("smtpd").splitlines())),
              "smtpd logs the NOOP client's session with end=deadline")
        check(wait_for(lambda: any("session: addr=127.0.0.52 " in ln and "end=deadline" in ln
                                   for ln in o.log("pop3d").splitlines())),
              "pop3d logs the NOOP client's session with end=deadline")
        for name, log in (("smtpd", slog), ("pop3d", plog)):
            check_no_crash(name, log)
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
