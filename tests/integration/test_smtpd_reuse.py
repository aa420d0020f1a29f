#!/usr/bin/env python3
"""smtp_process_reuse: a session process that served a plain session (no TLS,
no AUTH) waits and serves the next connection, instead of a fork per
connection (issue 15, the speed of one message per connection).

Checked with real sockets and the process tree of osd smtpd: after a plain
session the same process serves the next client (no new child appears) and
every message is queued with its own id; a session that used AUTH, or
STARTTLS, ends its process; the slot of a finished session is free at once
(more sequential sessions than smtp_max_per_ip); SIGHUP retires the waiting
processes; a waiting process killed is replaced, the next client is served;
a process serves at most 100 connections; with smtp_process_reuse = no every
connection gets a new process.  (The 30 s idle limit is not waited for.)
The sockets handed to the sessions keep the keepalive that the listener
sets once (`ss` shows the server side's keepalive timer).
"""
import base64
import os
import re
import signal
import smtplib
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, SmtpRaw, check, children_of, finish, free_port,  # noqa: E402
                     make_cert, wait_for)

DOM = "example.test"
HOSTED = "hosted.test"         # in rcpthosts, no vpasswd: any local part accepted
USES = 100                   # SMTPD_PROCESS_USES in smtp-gate/smtpd/smtpd.c


def session(port, src, auth=None, msgs=1):
    """A whole session from src: EHLO, msgs messages (or AUTH first), QUIT; the 250 lines."""
    r = SmtpRaw(port, src)
    got = []
    r.cmd("EHLO client.test")
    if auth is not None:
        got.append(r.cmd("AUTH PLAIN " + auth))
    for i in range(msgs):
        r.cmd("MAIL FROM:<a@client.test>")
        r.cmd("RCPT TO:<bob@%s>" % HOSTED)
        r.cmd("DATA")
        got.append(r.cmd("Subject: reuse %d\r\n\r\nbody\r\n." % i))
    r.cmd("QUIT")
    r.close()
    return got


def served_by(o, src):
    """The pids of the processes that served src's sessions, in order (from their log lines)."""
    return [int(m) for m in re.findall(r"osd-smtpd\[(\d+)\]: info: session: addr=%s "
                                       % re.escape(src), o.log("smtpd"))]


def wait_served(o, src, n):
    """Wait until src's n-th session has logged its end; the pids so far."""
    wait_for(lambda: len(served_by(o, src)) >= n)
    return served_by(o, src)


RECVMSG = {"x86_64": 47, "aarch64": 212}[os.uname().machine]


def waiting_for_handoff(pid):
    """Is pid blocked in recvmsg, waiting for the parent's next connection?

    A session process logs its session's end, then tells the parent it is
    free, then waits in recvmsg: only once it waits is the parent sure to
    hand it the next connection (a connection that comes sooner gets a new
    process, which is right, but a test that expects the same process would
    then depend on timing).
    """
    try:
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] in "ZX":
                return True     # it retired: nothing to wait for
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[0] == str(RECVMSG)
    except (FileNotFoundError, ProcessLookupError):
        return True


def wait_idle(o, src, n):
    """wait_served, then until the process that served the n-th session waits for another."""
    pids = wait_served(o, src, n)
    wait_for(lambda: waiting_for_handoff(pids[-1]))
    return pids


def main():
    o = Osd()
    try:
        cert, key = make_cert(o.root)
        port = free_port()
        o.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\n"
                     "tls_cert = %s\ntls_key = %s\ncontrol_dir = control\n"
                     "smtp_max_per_ip = 2\n" % (port, cert, key))
        o.write_control("rcpthosts", "%s\n%s\n" % (DOM, HOSTED))
        o.run("user", "add", "alice@" + DOM, input="alice-pw\n")
        d = o.start_smtpd(port)
        check(d.poll() is None, "osd smtpd runs (%s)" % o.log("smtpd")[-300:])
        if d.poll() is not None:
            return
        test_reuse(o, d, port)
        test_keepalive(port)
        test_relay_not_inherited(o, d, port)
        test_secret_sessions_end(o, d, port, cert)
        test_retire(o, d, port)
        test_max_uses(o, d, port)
        check("died of signal" not in o.log("smtpd") and "AddressSanitizer" not in o.log("smtpd"),
              "no session process crashed")
        o.stop(d)
        test_off(o, port)
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()


def ends_after(o, d, src):
    """Did the process that served src's last session exit (rather than wait for another)?"""
    pid = wait_served(o, src, 1)[-1]
    return wait_for(lambda: pid not in children_of(d.pid))


def test_reuse(o, d, port):
    first = session(port, "127.0.0.31")
    (pid,) = wait_served(o, "127.0.0.31", 1)
    check(len(first) == 1 and first[0][0] == 250 and pid in children_of(d.pid),
          "a plain session queues its message (%r); its process %d lives on after it (%r)"
          % (first, pid, children_of(d.pid)))
    # More sequential sessions from one address than smtp_max_per_ip = 2: each is greeted.
    before = set(children_of(d.pid))
    got = []
    for i in range(6):
        got.append(session(port, "127.0.0.33", msgs=2))
        wait_served(o, "127.0.0.33", i + 1)
    ok = [g for g in got if len(g) == 2 and all(c == 250 for c, _ in g)]
    check(len(ok) == 6, "six sequential sessions from one address (cap 2), two messages each: "
          "every message gets 250 (%d of 6 sessions)" % len(ok))
    pids = served_by(o, "127.0.0.33")
    check(len(set(pids)) < 6 and set(pids) & before,
          "... served by processes that served before, not one fork each (%r, before %r)"
          % (pids, before))
    ids = [t.split()[-1] for g in got for _, t in g]
    check(len(set(ids)) == 12, "every message has its own queue id (%d distinct)" % len(set(ids)))


def rcpt_remote(port, src):
    """The reply to RCPT for a domain this host does not serve, from src."""
    r = SmtpRaw(port, src)
    r.cmd("EHLO client.test")
    r.cmd("MAIL FROM:<a@client.test>")
    got = r.cmd("RCPT TO:<carol@remote.test>")
    r.cmd("QUIT")
    r.close()
    return got


def test_relay_not_inherited(o, d, port):
    """A process that served a client allowed to relay serves the next client
    with that client's own decision, and sees a revocation at once."""
    w = o.start_watch()
    o.record("127.0.0.41")
    check(wait_for(lambda: o.check_ip("127.0.0.41")[0] == 0), "127.0.0.41 may relay (osd check)")
    d.send_signal(signal.SIGHUP)      # retire the waiting processes: the next session forks one
    wait_for(lambda: not children_of(d.pid))
    got = rcpt_remote(port, "127.0.0.41")
    (pid,) = wait_idle(o, "127.0.0.41", 1)
    check(got[0] == 250, "the recorded client may relay (%r)" % (got,))
    got = rcpt_remote(port, "127.0.0.42")
    other = wait_idle(o, "127.0.0.42", 1)
    check(other == [pid], "the next client is served by the same process (%r, %d)" % (other, pid))
    check(got[0] == 553, "... and may not relay: 553, not the previous client's right (%r)"
          % (got,))
    check(o.run("revoke", "127.0.0.41").returncode == 0, "osd revoke 127.0.0.41")
    got = rcpt_remote(port, "127.0.0.41")
    again = wait_served(o, "127.0.0.41", 2)
    check(again == [pid, pid] and got[0] == 553,
          "after osd revoke, the same process refuses the revoked client (%r, %r)" % (again, got))
    o.stop(w)


def test_secret_sessions_end(o, d, port, cert):
    plain = base64.b64encode(b"\0alice@" + DOM.encode() + b"\0alice-pw").decode()
    got = session(port, "127.0.0.34", auth=plain)
    check(got[0][0] == 235, "AUTH PLAIN succeeds (%r)" % (got,))
    check(ends_after(o, d, "127.0.0.34"), "the process of a session with AUTH exits after it")
    bad = base64.b64encode(b"\0alice@" + DOM.encode() + b"\0wrong").decode()
    got = session(port, "127.0.0.35", auth=bad, msgs=0)
    check(got[0][0] == 535 and ends_after(o, d, "127.0.0.35"),
          "... and so does the process of a failed AUTH (%r)" % (got,))
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=20,
                     source_address=("127.0.0.36", 0))
    s.starttls(context=ctx)
    s.sendmail("a@client.test", ["bob@" + HOSTED], "Subject: tls\r\n\r\nover TLS\r\n")
    s.quit()
    check(ends_after(o, d, "127.0.0.36"), "the process of a session with STARTTLS exits after it")


def test_retire(o, d, port):
    session(port, "127.0.0.37")
    (pid,) = wait_idle(o, "127.0.0.37", 1)
    d.send_signal(signal.SIGHUP)
    check(wait_for(lambda: pid not in children_of(d.pid)),
          "SIGHUP retires the waiting process (it holds the settings of before)")
    session(port, "127.0.0.37")
    wait_served(o, "127.0.0.37", 2)
    pids = set(children_of(d.pid))
    for p in pids:
        os.kill(p, signal.SIGKILL)
    # (Connecting before the parent has reaped it could hand it the connection, which
    # would then be dropped: bench/README.md, "Reused session processes".)
    wait_for(lambda: not (set(children_of(d.pid)) & pids))
    got = session(port, "127.0.0.38")
    check(len(got) == 1 and got[0][0] == 250,
          "a waiting process killed: the next client is served all the same (%r)" % (got,))


def test_keepalive(port):
    def server_side():
        return subprocess.run(["ss", "-Htno", "state", "established", "( sport = :%d )" % port],
                              capture_output=True, text=True, check=True).stdout

    r = SmtpRaw(port, "127.0.0.50")
    r.cmd("EHLO client.test")
    # ss shows one timer: the keepalive one once the replies are acknowledged.
    wait_for(lambda: "timer:(keepalive" in server_side())
    out = server_side()
    r.cmd("QUIT")
    r.close()
    check("timer:(keepalive" in out,
          "the session's socket has SO_KEEPALIVE, set once on the listener (%r)" % out.strip())


def test_max_uses(o, d, port):
    n = 2 * USES + 10
    for i in range(n):
        r = SmtpRaw(port, "127.0.0.39")
        r.cmd("QUIT")
        r.close()
        wait_idle(o, "127.0.0.39", i + 1)
    pids = served_by(o, "127.0.0.39")
    most = max(pids.count(p) for p in set(pids))
    check(len(pids) == n and most == USES,
          "%d sessions in a row: a process serves %d connections, none more (%d at most, "
          "%d processes)" % (n, USES, most, len(set(pids))))


def test_off(o, port):
    with open(o.conf, "a") as f:
        f.write("smtp_process_reuse = no\n")
    d = o.start_smtpd(port)
    got = session(port, "127.0.0.40")
    check(len(got) == 1 and got[0][0] == 250 and ends_after(o, d, "127.0.0.40"),
          "smtp_process_reuse = no: the session's process exits after it (%r)" % (got,))
    o.stop(d)


if __name__ == "__main__":
    main()
    finish()
