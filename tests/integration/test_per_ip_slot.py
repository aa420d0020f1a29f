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

The same holds for the limit of sessions in all (smtp_max_connections,
pop3_max_connections, imap_max_connections): with LIMIT sessions open from
as many addresses, their processes stopped (SIGSTOP: they can neither
notice that their clients left nor exit), two clients close their
connections; two new clients are greeted, and one more is refused.  Before
the fix the stopped processes held their slots until reaped, and
integration/slow_clients failed under load: the sessions of wait_port's
probes, closed by the client but not yet ended by their slow processes,
took two of its five slots and its fourth trickler was refused.
"""
import os
import re
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, check, finish, free_port, wait_port  # noqa: E402

CAP = 3
ROUNDS = 400
LIMIT = 5


def greeting(sock):
    """The first line the server sends (b'' at EOF)."""
    f = sock.makefile("rb")
    line = f.readline()
    f.close()
    return line


def connect(port, src="127.0.0.2"):
    s = socket.create_connection(("127.0.0.1", port), 20, source_address=(src, 0))
    return s, greeting(s)


def session_pid(port, sock):
    """The pid of the session process that holds the server's end of sock (ss -p)."""
    out = subprocess.run(["ss", "-Htnp", "state", "established",
                          "( sport = :%d and dport = :%d )" % (port, sock.getsockname()[1])],
                         capture_output=True, text=True, timeout=20).stdout
    m = re.search(r"pid=(\d+)", out)
    return int(m.group(1)) if m else None


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


def limit_frees_closed(port, ok_prefix, daemon, key):
    """At key_max_connections = LIMIT: closed sessions of stopped processes free their slots."""
    socks = []
    for i in range(LIMIT):
        s, g = connect(port, "127.0.0.%d" % (11 + i))
        socks.append(s)
        check(g.startswith(ok_prefix), "%s: session %d of %d greeted (%r)" % (daemon, i + 1, LIMIT, g))
    pids = [session_pid(port, s) for s in socks]
    if not check(all(pids), "%s: the process of each session found with ss -p (%r)" % (daemon, pids)):
        return
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for s in socks[:2]:
            s.close()
        fresh = [connect(port, "127.0.0.%d" % (21 + i)) for i in range(2)]
        check(all(g.startswith(ok_prefix) for _, g in fresh),
              "%s: at %s_max_connections = %d, two clients that closed free their slots while "
              "their processes are stopped: two new clients are greeted (%r)"
              % (daemon, key, LIMIT, [g for _, g in fresh]))
        extra, g = connect(port, "127.0.0.30")
        check(not g.startswith(ok_prefix),
              "%s: with %d sessions open the next one is refused (%r)" % (daemon, LIMIT, g))
        extra.close()
        for s, _ in fresh:
            s.close()
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        for s in socks[2:]:
            s.close()


def main():
    o = Osd()
    try:
        sport, pport, iport = free_port(), free_port(), free_port()
        # submission_listen off: its default *:587 is not ours to take on a shared machine.
        o.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\n"
                     "pop3_listen = 127.0.0.1:%d\nimap_listen = 127.0.0.1:%d\n"
                     "smtp_max_per_ip = %d\npop3_max_per_ip = %d\nimap_max_per_ip = %d\n"
                     "smtp_max_connections = %d\npop3_max_connections = %d\n"
                     "imap_max_connections = %d\n"
                     % (sport, pport, iport, CAP, CAP, CAP, LIMIT, LIMIT, LIMIT))
        smtpd = o.start_smtpd(sport)
        if not check(smtpd.poll() is None, "osd smtpd runs (%s)" % o.log("smtpd")[-300:]):
            return
        never_refused(sport, b"220", b"QUIT\r\n", "smtpd", "smtp")
        limit_frees_closed(sport, b"220", "smtpd", "smtp")

        p = o.start("pop3d")
        wait_port(pport, p)
        if not check(p.poll() is None, "osd pop3d runs (%s)" % o.log("pop3d")[-300:]):
            return
        never_refused(pport, b"+OK", b"QUIT\r\n", "pop3d", "pop3")
        limit_frees_closed(pport, b"+OK", "pop3d", "pop3")

        p = o.start("imapd")
        wait_port(iport, p)
        if not check(p.poll() is None, "osd imapd runs (%s)" % o.log("imapd")[-300:]):
            return
        never_refused(iport, b"* OK", b"a LOGOUT\r\n", "imapd", "imap")
        limit_frees_closed(iport, b"* OK", "imapd", "imap")
    finally:
        o.cleanup()


if __name__ == "__main__":
    main()
    finish()
