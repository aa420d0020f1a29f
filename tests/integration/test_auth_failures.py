#!/usr/bin/env python3
"""pop3_max_auth_failures and imap_max_auth_failures with poplib and imaplib.

osd pop3d and osd imapd start with both caps at 1: the first failed login is
the session's last (POP3 `-ERR [AUTH] Authentication failed.` then the close;
IMAP `NO [AUTHENTICATIONFAILED] Authentication failed.`, `* BYE Too many
failed logins.`, then the close).  A SIGHUP raises both to 4: three failures
leave the session open and the right password then logs in, the fourth
closes it.  A cap out of range stops each daemon at start-up with the file,
line and key in the error.

Each session comes from its own 127.0.0.x, so the per-address failed-login
delay (about 1 s for an address's first three failures) stays short.
"""
import imaplib
import os
import poplib
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, SrcIMAP, SrcPOP3, add_user, check, finish, free_port,  # noqa: E402
                     wait_for, wait_port)

DOM = "example.test"
T = 30  # client socket timeout: above a few failed-login delays (a functional bound)
POP_FAIL = b"-ERR [AUTH] Authentication failed."
IMAP_NO = "[AUTHENTICATIONFAILED] Authentication failed."
IMAP_BYE = b"* BYE Too many failed logins.\r\n"
CLOSE_WAIT = 10  # how long a closing session may take to close (a functional bound)


def next_line(sock, f):
    """The next line the server sends; b"" at its close, "(still open)" when neither comes."""
    sock.settimeout(CLOSE_WAIT)
    try:
        return f.readline()
    except socket.timeout:
        return "(still open)"


def pop_failures(port, src, n):
    """n failed USER/PASS logins on one poplib session; (replies, session)."""
    p = SrcPOP3("127.0.0.1", port, src, timeout=T)
    replies = []
    for _ in range(n):
        try:
            p.user("alice@" + DOM)
            replies.append(p.pass_("wrong-pw"))
        except poplib.error_proto as e:  # -ERR, and "-ERR EOF" when the server has closed
            replies.append(e.args[0])
        except OSError as e:
            replies.append(repr(e))
    return replies, p


def test_pop3(o, port, cap, base):
    # cap failures: each answered with the failure, and the last one closes.
    replies, p = pop_failures(port, "127.0.0.%d" % base, cap)
    rest = next_line(p.sock, p.file)
    check(replies == [POP_FAIL] * cap and rest == b"",
          "pop3_max_auth_failures = %d: %d x %r, then the server closes (%r, then %r)"
          % (cap, cap, POP_FAIL, replies, rest))
    p.close()
    if cap == 1:
        return
    # cap - 1 failures leave the session open; the right password then works.
    replies, p = pop_failures(port, "127.0.0.%d" % (base + 1), cap - 1)
    p.user("alice@" + DOM)
    ok = p.pass_("alice-pw")
    check(replies == [POP_FAIL] * (cap - 1) and ok.startswith(b"+OK"),
          "pop3_max_auth_failures = %d: %d failures keep the session, then +OK (%r)"
          % (cap, cap - 1, ok))
    p.quit()


def imap_failures(port, src, n):
    """n failed LOGINs on one imaplib session; (NO texts, session)."""
    m = SrcIMAP(port, src, timeout=T)
    texts = []
    for _ in range(n):
        try:
            m.login("alice@" + DOM, "wrong-pw")
            texts.append("(logged in)")
        except imaplib.IMAP4.error as e:
            texts.append(str(e))
    return texts, m


def test_imap(o, port, cap, base):
    texts, m = imap_failures(port, "127.0.0.%d" % base, cap)
    bye = next_line(m.sock, m.file)
    rest = next_line(m.sock, m.file) if bye == IMAP_BYE else None
    check(texts == [repr(IMAP_NO.encode())] * cap and bye == IMAP_BYE and rest == b"",
          "imap_max_auth_failures = %d: %d x NO %s, then %r and the close (%r, %r, %r)"
          % (cap, cap, IMAP_NO, IMAP_BYE, texts, bye, rest))
    m.shutdown()
    if cap == 1:
        return
    texts, m = imap_failures(port, "127.0.0.%d" % (base + 1), cap - 1)
    typ, _ = m.login("alice@" + DOM, "alice-pw")
    check(texts == [repr(IMAP_NO.encode())] * (cap - 1) and typ == "OK",
          "imap_max_auth_failures = %d: %d failures keep the session, then LOGIN OK (%r)"
          % (cap, cap - 1, typ))
    m.logout()


def test_bounds(o, conf_extra):
    """Out of range or not a number: each daemon refuses to start and says where."""
    for key, daemon in (("pop3_max_auth_failures", "pop3d"), ("imap_max_auth_failures", "imapd")):
        for bad in ("0", "1000001", "three"):
            o.write_conf("3h", conf_extra + "%s = %s\n" % (key, bad))
            p = o.run(daemon, timeout=30)
            line = len((conf_extra + "x").splitlines()) + 4  # the header's 4 lines, then this one
            want = '%s:%d: %s: bad number "%s" (want 1 to 1000000)' % (o.conf, line, key, bad)
            check(p.returncode != 0 and want in p.stderr,
                  "%s = %s: osd %s exits %d with %r (%r)"
                  % (key, bad, daemon, p.returncode, want, p.stderr.strip()[-200:]))


def main():
    o = Osd()
    pop_port, imap_port = free_port(), free_port()
    conf_extra = ("pop3_listen = 127.0.0.1:%d\nimap_listen = 127.0.0.1:%d\nsmtp_listen =\n"
                  "submission_listen =\ndefault_domain = %s\n" % (pop_port, imap_port, DOM))
    try:
        add_user(o, "alice@" + DOM, "alice-pw")
        test_bounds(o, conf_extra)
        o.write_conf("3h", conf_extra + "pop3_max_auth_failures = 1\nimap_max_auth_failures = 1\n")
        pop3d, imapd = o.start("pop3d"), o.start("imapd")
        if not (check(wait_port(pop_port, pop3d), "osd pop3d listens")
                and check(wait_port(imap_port, imapd), "osd imapd listens")):
            return
        test_pop3(o, pop_port, 1, 10)
        test_imap(o, imap_port, 1, 20)
        # SIGHUP: the later line of a key wins.
        with open(o.conf, "a") as f:
            f.write("pop3_max_auth_failures = 4\nimap_max_auth_failures = 4\n")
        for name, d in (("pop3d", pop3d), ("imapd", imapd)):
            n = o.log(name).count("SIGHUP: configuration re-read")
            d.send_signal(signal.SIGHUP)
            check(wait_for(lambda: o.log(name).count("SIGHUP: configuration re-read") > n),
                  "osd %s re-reads its configuration on SIGHUP" % name)
        test_pop3(o, pop_port, 4, 30)
        test_imap(o, imap_port, 4, 40)
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
