#!/usr/bin/env python3
"""The per-address cap frees a session's slot when the session ends, not when
its process is reaped (issue 15).

A real client keeps exactly smtp_max_per_ip (pop3_max_per_ip, imap_max_per_ip)
sessions open
from 127.0.0.2 and, each round, ends one (half the rounds with QUIT and the
server's goodbye, half by just closing its socket) and at once opens a new
one.  Every new session must be greeted (220 / +OK / * OK), never refused with
"421 ... Too many connections" / "-ERR [SYS/TEMP]" / "* BYE [UNAVAILABLE]": the ended session no
longer holds a slot even while its process is still exiting.  Before the
fix a slot stayed counted until the parent reaped the child, and this loop
got refusals now and then (the count is printed).  So it did, more rarely,
after it (1 run in about 10 under ASan and load): the client here reuses the
port of a connection the server closed first, still in TIME_WAIT
(tcp_tw_reuse = 2 on loopback), so the new connection had the very ends of
the old session's and the kernel answered "established" for the old one.

The cap still holds: one more session than the cap, with all of them open,
is refused.
"""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, check, finish, free_port, wait_port  # noqa: E402

CAP = 3
ROUNDS = 400


def greeting(sock):
    """The first line the server sends (b'' at EOF)."""
    f = sock.makefile("rb")
    line = f.readline()
    f.close()
    return line


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), 20, source_address=("127.0.0.2", 0))
    return s, greeting(s)


def end(sock, quit_cmd, rnd):
    """End a session: politely (QUIT, read the goodbye) on even rounds, by a bare close on odd ones."""
    if rnd % 2 == 0:
        try:
            sock.sendall(quit_cmd)
            f = sock.makefile("rb")
            f.readline()
            f.close()
        except OSError:
            pass
    sock.close()


def churn(port, ok_prefix, quit_cmd, name):
    """Keep CAP sessions open, replacing one at a time; the greetings that were not ok_prefix."""
    open_ = []
    refused = []
    for _ in range(CAP):
        s, g = connect(port)
        check(g.startswith(ok_prefix), "%s: initial session greeted (%r)" % (name, g))
        open_.append(s)
    for rnd in range(ROUNDS):
        end(open_.pop(0), quit_cmd, rnd)
        s, g = connect(port)
        # A refused session is retried (a bounded number of times) so that
        # CAP sessions stay really open.
        for _ in range(100):
            if g.startswith(ok_prefix):
                break
            refused.append(g)
            s.close()
            s, g = connect(port)
        open_.append(s)
    # The cap itself still holds with CAP sessions really open.
    extra, g = connect(port)
    check(not g.startswith(ok_prefix),
          "%s: with %d sessions open the next one is refused (%r)" % (name, CAP, g))
    extra.close()
    for s in open_:
        s.close()
    return refused


def never_refused(port, greeting, quit, daemon, key):
    """Churn one session at the cap of daemon (key_max_per_ip): no new one is refused."""
    refused = churn(port, greeting, quit, daemon)
    print("%s: %d of %d new sessions at the cap refused" % (daemon, len(refused), ROUNDS))
    check(not refused, "%s: a session at exactly %s_max_per_ip = %d, replaced %d times, "
          "is never refused (%d refused, e.g. %r)"
          % (daemon, key, CAP, ROUNDS, len(refused), refused[:1]))


def main():
    o = Osd()
    try:
        sport, pport, iport = free_port(), free_port(), free_port()
        # submission_listen off: its default *:587 is not ours to take on a shared machine.
        o.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\n"
                     "pop3_listen = 127.0.0.1:%d\nimap_listen = 127.0.0.1:%d\n"
                     "smtp_max_per_ip = %d\npop3_max_per_ip = %d\nimap_max_per_ip = %d\n"
                     % (sport, pport, iport, CAP, CAP, CAP))
        smtpd = o.start_smtpd(sport)
        if not check(smtpd.poll() is None, "osd smtpd runs (%s)" % o.log("smtpd")[-300:]):
            return
        never_refused(sport, b"220", b"QUIT\r\n", "smtpd", "smtp")

        p = o.start("pop3d")
        wait_port(pport, p)
        if not check(p.poll() is None, "osd pop3d runs (%s)" % o.log("pop3d")[-300:]):
            return
        never_refused(pport, b"+OK", b"QUIT\r\n", "pop3d", "pop3")

        p = o.start("imapd")
        wait_port(iport, p)
        if not check(p.poll() is None, "osd imapd runs (%s)" % o.log("imapd")[-300:]):
            return
        never_refused(iport, b"* OK", b"a LOGOUT\r\n", "imapd", "imap")
    finally:
        o.cleanup()


if __name__ == "__main__":
    main()
    finish()
