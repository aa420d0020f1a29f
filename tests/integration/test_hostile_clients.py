#!/usr/bin/env python3
"""Hostile clients by the hundred (issue 15), a smaller run of bench/hostile.py.

HOSTILE sessions each against osd smtpd, pop3d and imapd at once, from
127.1.P.x sources (16 a source, under the per-address cap of 20): half
slowloris (a command line a byte a second), a fifth endless lines (no line
end, ever), a sixth failed logins back to back, the rest idle; and from one
more address the cap + 5.  Meanwhile real clients (smtplib, poplib,
imaplib, from 127.0.0.2-3, each with its own user) send and log in.

Asserted, with small configured timeouts (TIMEOUT before a line must be
whole or the client idle, DEADLINE for a whole session) and no timing
threshold of the test's own beyond generous functional bounds:
- every legitimate session succeeds (a fixed number of them, during the attack);
- every hostile session is closed by the server, no later than DEADLINE
  plus a margin, and its last words are the documented ones:
  SMTP 421 4.4.2 (timeout) or 421 4.7.0 (too many failed authentications),
  POP3 -ERR Disconnected for inactivity. / -ERR [AUTH] ...,
  IMAP * BYE Disconnected for inactivity. / * BYE Too many failed ...;
- above the per-address cap the greeting is the refusal
  (421 4.7.0 Too many connections / -ERR [SYS/TEMP] / * BYE [UNAVAILABLE]);
- afterwards each daemon still runs, serves a new session, logged no crash,
  and its process count and open descriptors are back to where they began.
"""
import asyncio
import os
import signal
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
from osdtest import BUILD, check, check_no_crash, finish, wait_for  # noqa: E402
import hostile  # noqa: E402  (bench/hostile.py: the load engine)

HOSTILE = 300        # per protocol
TIMEOUT = 4          # timeoutsmtpd, pop3_timeout, imap_login_timeout, imap_timeout (s)
DEADLINE = 10        # the session deadlines (s)
GAP = 1.0            # the slowloris' pause between two bytes
MARGIN = 10          # functional slack on a loaded machine (s)
LEGIT_THREADS = 2    # per protocol
LEGIT_EACH = 5       # sessions per legitimate thread

# The documented last words, by protocol and kind.
EXPECT = {
    "smtp": {"slowloris": ("421 4.4.2 ", "Error: timeout exceeded"),
             "endless": ("421 4.4.2 ", "Error: timeout exceeded"),
             "idle": ("421 4.4.2 ", "Error: timeout exceeded"),
             "auth": ("421 4.7.0 ", "Error: too many failed authentications"),
             "refused": ("421 4.7.0 ", "Too many connections")},
    "pop3": {"slowloris": ("-ERR ", "Disconnected for inactivity."),
             "endless": ("-ERR ", "Disconnected for inactivity."),
             "idle": ("-ERR ", "Disconnected for inactivity."),
             "auth": ("-ERR [AUTH] ", "Authentication failed."),
             "refused": ("-ERR [SYS/TEMP] ", "Too many connections")},
    "imap": {"slowloris": ("* BYE ", "Disconnected for inactivity."),
             "endless": ("* BYE ", "Disconnected for inactivity."),
             "idle": ("* BYE ", "Disconnected for inactivity."),
             "auth": ("* BYE ", "Too many failed"),
             "refused": ("* BYE [UNAVAILABLE] ", "Too many connections")},
}
# A session deadline may end any of them first.
DEADLINE_WORDS = {"smtp": "session time limit exceeded", "pop3": "Session time limit exceeded",
                  "imap": "Session time limit reached"}


def documented(proto, kind, line):
    prefix, words = EXPECT[proto][kind]
    if line.startswith(prefix) and words in line or DEADLINE_WORDS[proto] in line:
        return True
    # A failed login's reply is delayed (1 s, growing with the address's recent
    # failures, across its sessions, up to 30 s): a session of failed logins
    # may meet the timeout first (IMAP's pre-login one is for the whole login).
    return kind == "auth" and documented(proto, "idle", line)


def retire_waiting(proto, pid):
    """smtpd keeps the process of a plain session waiting for the next client
    (smtp_process_reuse, up to 30 s): SIGHUP retires them, so that the daemon
    is back to one process when nothing is being served."""
    if proto == "smtp":
        os.kill(pid, signal.SIGHUP)


def main():
    o = hostile.Osd(BUILD, TIMEOUT, DEADLINE, max_conn=HOSTILE + 2 * hostile.CAP + 20)
    try:
        if not check(o.start(), "osd smtpd, pop3d and imapd listen (%s)" % o.log("smtpd")[-300:]):
            return
        pids = {k: p.pid for k, p in o.procs.items()}
        # The baseline once the readiness probes' sessions are gone.
        for proto, pid in pids.items():
            retire_waiting(proto, pid)
            wait_for(lambda: hostile.tree_fds(pid)[0] == 1)
        base = {k: (hostile.tree_fds(pid)[0], hostile.fd_kinds(pid)) for k, pid in pids.items()}

        stop = threading.Event()
        legit, threads = hostile.start_legit(o.ports, LEGIT_THREADS, stop, count=LEGIT_EACH)
        results = []
        asyncio.run(hostile.hostile_load(o.ports, HOSTILE, GAP, DEADLINE + 30 + 2 * MARGIN, results))
        for t in threads:
            t.join(120)

        table, _, _ = hostile.summarize(results)
        for (proto, kind, words, how), (n, secs) in sorted(table.items()):
            print("# %s %-9s %4d %s within %4.1f s: %s" % (proto, kind, n, how, secs, words))
        for proto in o.ports:
            lat, fails = legit[proto]["lat"], legit[proto]["fail"]
            check(len(lat) == LEGIT_THREADS * LEGIT_EACH and not fails,
                  "%s: all %d legitimate sessions (%s) served during the attack (%d ok, "
                  "p50 %.0f ms, failures %r)"
                  % (proto, LEGIT_THREADS * LEGIT_EACH, hostile.LEGIT[proto].__name__, len(lat),
                     1000 * hostile.pct(lat, 0.5), fails[:3]))

        for proto in o.ports:
            mine = [r for r in results if r.proto == proto]
            check(len(mine) == HOSTILE + hostile.CAP + 5 and not [r for r in mine if r.error and
                                                                   not r.greeting],
                  "%s: every hostile client connected and was greeted (%d)" % (proto, len(mine)))
            still_open = [r for r in mine if not r.closed]
            check(not still_open, "%s: the server closed every hostile session (%d left open)"
                  % (proto, len(still_open)))
            # A failed login's delay stops at the deadline too (it did not: up to 30 s more).
            late = [r for r in mine if r.secs > DEADLINE + MARGIN]
            check(not late, "%s: each closed within the session deadline (%d s) + %d s "
                  "(longest %.1f s)" % (proto, DEADLINE, MARGIN, max(r.secs for r in mine)))
            for kind in ("slowloris", "endless", "auth", "idle"):
                group = [r for r in mine if r.kind == kind]
                wrong = [(r.last, round(r.secs, 1), r.replies, r.sent) for r in group
                         if not documented(proto, kind, r.last)]
                check(group and not wrong,
                      "%s %s (%d): last words %r%s (wrong: %d, e.g. %r)"
                      % (proto, kind, len(group), " ".join(EXPECT[proto][kind]),
                         " or the session deadline", len(wrong), wrong[:2]))
            # The cap on failed logins, not only the clock, ends failed-login sessions
            # (each one's reply waits the failed-login delay: some may meet the deadline).
            prefix, words = EXPECT[proto]["auth"]
            capped = [r for r in mine if r.kind == "auth" and r.last.startswith(prefix) and
                      words in r.last]
            check(capped, "%s auth: %d of %d sessions of failed logins ended by the cap on "
                  "failed logins (%r)" % (proto, len(capped), len([r for r in mine if r.kind ==
                                                                  "auth"]), prefix + words))
            over = [r for r in mine if r.kind == "over-cap"]
            refused = [r for r in over if documented(proto, "refused", r.greeting)]
            served = [r for r in over if r not in refused and documented(proto, "idle", r.last)]
            check(1 <= len(refused) <= 5 and len(refused) + len(served) == len(over),
                  "%s: %d sessions from one address with the cap at %d: the greeting of %d is the "
                  "refusal %r, the others end as idle ones (%d)"
                  % (proto, len(over), hostile.CAP, len(refused), " ".join(EXPECT[proto]["refused"]),
                     len(served)))

        # Afterwards: alive, serving, no crash, back to the baseline.
        for name in ("smtpd", "pop3d", "imapd"):
            p = o.procs[name[:4]]
            check(p.poll() is None, "%s still runs" % name)
            check_no_crash(name, o.log(name))
        after = {}
        for proto, pid in pids.items():
            procs0, fds0 = base[proto]
            # The one socket the daemon may add and keep: its sock_diag (netlink)
            # socket, opened at the first per-address cap check (lib/net/server.c).
            allowed = (fds0, sorted(fds0 + ["netlink"]))

            def back():
                return hostile.tree_fds(pid)[0] == procs0 and hostile.fd_kinds(pid) in allowed
            retire_waiting(proto, pid)
            check(wait_for(back, timeout=30),
                  "%s: one process again, and its descriptors as at the start (plus at most the "
                  "sock_diag socket): %d %r, now %d %r"
                  % (proto, procs0, fds0, hostile.tree_fds(pid)[0], hostile.fd_kinds(pid)))
            out = {"lat": [], "fail": []}
            hostile.legit_worker(proto, o.ports[proto], "127.0.0.4", threading.Event(), out,
                                 0, count=1)
            after[proto] = out
            check(len(out["lat"]) == 1 and not out["fail"],
                  "%s: a new legitimate session after the attack is served (%r)"
                  % (proto, out["fail"]))
    finally:
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
