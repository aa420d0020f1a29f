#!/usr/bin/env python3
"""The failed-login throttle counts per client address AND per target login
(issue 16 point 3), with real clients on 127.0.0.x.

A client with a valid account of its own guesses passwords against another
account, and logs in with its own account in between.  Today's delay
schedule (lib/net/server.c): 1 s for the first three recent failures of an
address, then 2, 4, 8, 16, up to 30 s.  After five failed guesses against
bob and a good login as alice from the same address, the next failed guess
must still wait the delay of the sixth failure (8 s), not drop back to 1 s
as it did when any success reset the whole address.

The assertions are lower bounds on a deliberate penalty (the server sleeps
before answering), never a bound on how fast anything is.

POP3 covers USER/PASS, AUTH PLAIN and APOP; SMTP AUTH covers PLAIN, LOGIN
and CRAM-MD5.
"""
import base64
import hashlib
import hmac
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, SmtpRaw, check, check_no_crash, finish, free_port,  # noqa: E402
                     wait_for, wait_port)

DOM = "example.test"
T = 60  # client socket timeout: above the longest delay (30 s), a functional bound
# The delay of the sixth recent failure of an address (server_fail_delay_ms(6)),
# less a margin for clock granularity; the first three wait 1 s.
SIXTH_DELAY_S = 8.0
LOWER_BOUND_S = SIXTH_DELAY_S - 0.5


def add_user(o, login, password, cleartext=None):
    p = o.run("user", "add", login, input=password + "\n")
    check(p.returncode == 0, "osd user add %s (%s)" % (login, p.stderr.strip()))
    if cleartext is None:
        return
    user, dom = login.split("@")
    path = os.path.join(o.state, "domains", dom, "vpasswd")
    lines = open(path).read().splitlines()
    for i, line in enumerate(lines):
        f = line.split(":")
        if f[0] == user:
            lines[i] = ":".join(f[:7] + [cleartext])
    open(path, "w").write("\n".join(lines) + "\n")


class Pop:
    """A raw POP3 connection from a chosen source address."""

    def __init__(self, port, src):
        self.sock = socket.create_connection(("127.0.0.1", port), T, source_address=(src, 0))
        self.f = self.sock.makefile("rb")
        self.greeting = self.line()

    def line(self):
        return self.f.readline().decode("latin-1").rstrip("\r\n")

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def timed(self, text):
        """Send text; (reply, seconds until the reply came)."""
        t0 = time.monotonic()
        r = self.cmd(text)
        return r, time.monotonic() - t0

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        self.f.close()
        self.sock.close()


def pop_fail(port, src, how):
    """One failed login as bob over a fresh connection; (reply, delay)."""
    c = Pop(port, src)
    if how == "user":
        c.cmd("USER bob@" + DOM)
        r, dt = c.timed("PASS wrong-guess")
    elif how == "plain":
        msg = base64.b64encode(b"\0bob@" + DOM.encode() + b"\0wrong-guess").decode()
        r, dt = c.timed("AUTH PLAIN " + msg)
    else:  # APOP with a digest of a wrong secret
        stamp = re.search(r"<[^>]+>", c.greeting).group(0)
        digest = hashlib.md5((stamp + "wrong-guess").encode()).hexdigest()
        r, dt = c.timed("APOP bob@%s %s" % (DOM, digest))
    c.close()
    return r, dt


def test_pop3(o, port):
    src = "127.0.0.31"
    ways = ["user", "plain", "apop", "user", "plain"]
    delays = []
    for how in ways:
        r, dt = pop_fail(port, src, how)
        check(r.startswith("-ERR"), "POP3 %s as bob with a wrong password: -ERR (%r)" % (how, r))
        delays.append(dt)
    # The fourth and fifth failures already wait 2 and 4 s: the count is per address.
    check(delays[3] >= 1.5 and delays[4] >= 3.5,
          "POP3: guesses from one address escalate (delays %s)" % ["%.1f" % d for d in delays])

    # A good login with the client's own account, from the same address.
    c = Pop(port, src)
    c.cmd("USER alice@" + DOM)
    r = c.cmd("PASS alice-pw")
    check(r.startswith("+OK"), "POP3: alice logs in from %s between the guesses (%r)" % (src, r))
    c.close()
    check(wait_for(lambda: "login: addr=%s user=alice@%s" % (src, DOM) in o.log("pop3d")),
          "POP3: alice's login is logged")

    r, dt = pop_fail(port, src, "apop")
    check(r.startswith("-ERR") and dt >= LOWER_BOUND_S,
          "POP3: alice's login did not reset bob's failures: the sixth guess waits the "
          "sixth failure's delay (%.1f s >= %.1f s; it was 1 s when any login reset the address)"
          % (dt, LOWER_BOUND_S))

    # Bob's failures slow down that address only.
    r, dt = pop_fail(port, "127.0.0.32", "user")
    check(r.startswith("-ERR") and dt >= 0.9,
          "POP3: another address still gets the first failure's 1 s delay (%.1f s)" % dt)


def smtp_fail(port, src, how):
    """One failed AUTH as bob over a fresh connection; (code, delay)."""
    c = SmtpRaw(port, src, timeout=T)
    c.cmd("EHLO client.test")
    t0 = time.monotonic()
    if how == "plain":
        msg = base64.b64encode(b"\0bob@" + DOM.encode() + b"\0wrong-guess").decode()
        code, _ = c.cmd("AUTH PLAIN " + msg)
    elif how == "login":
        c.cmd("AUTH LOGIN")
        c.cmd(base64.b64encode(("bob@" + DOM).encode()).decode())
        t0 = time.monotonic()
        code, _ = c.cmd(base64.b64encode(b"wrong-guess").decode())
    else:  # CRAM-MD5 with a digest of a wrong secret
        code, text = c.cmd("AUTH CRAM-MD5")
        challenge = base64.b64decode(text[4:])
        digest = hmac.new(b"wrong-guess", challenge, hashlib.md5).hexdigest()
        t0 = time.monotonic()
        code, _ = c.cmd(base64.b64encode(("bob@%s %s" % (DOM, digest)).encode()).decode())
    dt = time.monotonic() - t0
    c.cmd("QUIT")
    c.close()
    return code, dt


def test_smtp(o, port):
    src = "127.0.0.33"
    ways = ["plain", "login", "cram", "plain", "login"]
    delays = []
    for how in ways:
        code, dt = smtp_fail(port, src, how)
        check(code == 535, "SMTP AUTH %s as bob with a wrong password: 535 (%d)" % (how, code))
        delays.append(dt)
    check(delays[3] >= 1.5 and delays[4] >= 3.5,
          "SMTP: guesses from one address escalate (delays %s)" % ["%.1f" % d for d in delays])

    c = SmtpRaw(port, src, timeout=T)
    c.cmd("EHLO client.test")
    code, _ = c.cmd("AUTH PLAIN " +
                    base64.b64encode(b"\0alice@" + DOM.encode() + b"\0alice-pw").decode())
    check(code == 235, "SMTP: alice authenticates from %s between the guesses (%d)" % (src, code))
    c.cmd("QUIT")
    c.close()
    check(wait_for(lambda: "auth: addr=%s user=alice@%s" % (src, DOM) in o.log("smtpd")),
          "SMTP: alice's AUTH is logged")

    code, dt = smtp_fail(port, src, "cram")
    check(code == 535 and dt >= LOWER_BOUND_S,
          "SMTP: alice's AUTH did not reset bob's failures: the sixth guess waits the "
          "sixth failure's delay (%.1f s >= %.1f s)" % (dt, LOWER_BOUND_S))
    check("auth failed: addr=%s user=bob@%s" % (src, DOM) in o.log("smtpd"),
          "SMTP: a failed AUTH is logged with the login tried")


def main():
    o = Osd()
    pop_port, smtp_port = free_port(), free_port()
    o.write_conf("3h", "pop3_listen = 127.0.0.1:%d\nsmtp_listen = 127.0.0.1:%d\n"
                 "submission_listen =\ncontrol_dir = control\ndefault_domain = %s\n"
                 % (pop_port, smtp_port, DOM))
    o.write_control("me", "mx.example.test\n")
    o.write_control("rcpthosts", DOM + "\n")
    try:
        add_user(o, "alice@" + DOM, "alice-pw")
        add_user(o, "bob@" + DOM, "bob-pw", cleartext="bob-clear")
        o.start_watch()
        pop = o.start("pop3d")
        check(wait_port(pop_port, pop), "osd pop3d listens on 127.0.0.1:%d" % pop_port)
        smtpd = o.start_smtpd(smtp_port)
        check(wait_port(smtp_port, smtpd), "osd smtpd listens on 127.0.0.1:%d" % smtp_port)
        test_pop3(o, pop_port)
        test_smtp(o, smtp_port)
        for name in ("pop3d", "smtpd"):
            check_no_crash(name, o.log(name))
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
