#!/usr/bin/env python3
"""POP-before-SMTP end to end: osd watch, osd pop3d and osd smtpd side by side.

A POP3 login (curl from 127.0.0.5) lets that address relay through smtpd
(swaks gets 250 for a remote recipient) while 127.0.0.6 still gets qmail's
553; after relay_expire the permission is gone again.  Recipients in
rcpthosts are accepted from anybody; the open-relay battery (%-hack, bang
path, source route, quoted local part, double @, address literals) is refused
at RCPT from a non-relay client.  A new relay.cdb (a static rule added to
tcp.smtp, watcher SIGHUPed) counts for the next connection, with no restart
of smtpd.
"""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, SmtpRaw, check, finish, free_port, have,  # noqa: E402
                     wait_for, wait_port)

DOM = "example.test"         # virtual domain with users, in rcpthosts
HOSTED = "hosted.test"       # rcpthosts only
EXPIRE = 8                   # relay_expire, seconds
T = 20
QMAIL_RCPTHOSTS = "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"
REMOTE = "someone@remote.example"


def swaks(port, src, *args):
    cmd = ["swaks", "--server", "127.0.0.1:%d" % port, "--local-interface", src,
           "--helo", "roamer.test", "--from", "alice@" + DOM, "--timeout", str(T)]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def pop_login(pport, src):
    p = subprocess.run(["curl", "-s", "-S", "--max-time", str(T), "--interface", src,
                        "pop3://127.0.0.1:%d/" % pport, "-u", "alice@%s:alice-pw" % DOM],
                       capture_output=True, timeout=120)
    return p.returncode


def rcpt_code(port, src, rcpt):
    """The reply to RCPT TO:<rcpt> (sent byte for byte) on a fresh connection."""
    r = SmtpRaw(port, src)
    r.cmd("EHLO roamer.test")
    r.cmd("MAIL FROM:<alice@%s>" % DOM)
    c, t = r.cmd("RCPT TO:%s" % rcpt)
    r.cmd("QUIT")
    r.close()
    return c, t


def main():
    o = Osd(relay_expire="%ds" % EXPIRE)
    try:
        run(o)
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


def run(o):
    port, sub, pport = free_port(), free_port(), free_port()
    o.write_conf("%ds" % EXPIRE,
                 "smtp_listen = 127.0.0.1:%d\nsubmission_listen = 127.0.0.1:%d\n"
                 "pop3_listen = 127.0.0.1:%d\ncontrol_dir = control\ndefault_domain = %s\n"
                 % (port, sub, pport, DOM))
    o.write_control("me", "mx.%s\n" % DOM)
    o.write_control("rcpthosts", "%s\n%s\n" % (DOM, HOSTED))
    p = o.run("user", "add", "alice@" + DOM, input="alice-pw\n")
    check(p.returncode == 0, "osd user add alice@%s (%s)" % (DOM, p.stderr.strip()))
    md = os.path.join(o.state, "domains", DOM, "alice", "Maildir", "new")
    if os.path.isdir(md):
        with open(os.path.join(md, "1700000001.M1P1.host"), "wb") as f:
            f.write(b"Subject: hi\r\n\r\nhello\r\n")

    w = o.start_watch()
    pop = o.start("pop3d")
    d = o.start_smtpd(port, sub)
    ok = (w.poll() is None and wait_port(pport, pop) and d.poll() is None and
          wait_port(port, d))
    check(ok, "osd watch, pop3d and smtpd run (%s)" % o.log("smtpd").strip()[-300:])
    if not ok:
        return

    # --- before any login: no relay from .5 ---
    check(o.check_ip("127.0.0.5")[0] == 1, "before the login, osd check 127.0.0.5 exits 1")
    rc, out = swaks(port, "127.0.0.5", "--to", REMOTE)
    check(rc != 0 and QMAIL_RCPTHOSTS in out,
          "before the login, 127.0.0.5 gets qmail's 553 for a remote recipient (rc %d)" % rc)

    # --- POP3 login from .5 opens relaying for .5 only ---
    check(pop_login(pport, "127.0.0.5") == 0, "curl pop3:// login from 127.0.0.5")
    check(wait_for(lambda: o.check_ip("127.0.0.5")[0] == 0),
          "osd check 127.0.0.5 exits 0 after the login")
    before = set(o.queue_files())
    rc, out = swaks(port, "127.0.0.5", "--to", REMOTE)
    check(rc == 0 and "250 2.0.0 Ok: queued as" in out,
          "after the POP3 login, 127.0.0.5 relays to %s: 250 (rc %d)%s"
          % (REMOTE, rc, "" if rc == 0 else "\n" + out[-400:]))
    new = sorted(set(o.queue_files()) - before)
    if check(len(new) == 1, "the relayed message is in queue/new"):
        env, _ = o.queue_read(new[0])
        check(env.get("to") == [REMOTE] and env.get("client") == ["127.0.0.5"] and
              "auth" not in env,
              "its envelope: to %s, client 127.0.0.5, no AUTH (%r)" % (REMOTE, env))
    # The session logs its line after the client's QUIT: wait for it, do not race it.
    check(wait_for(lambda: "relay=pop-before-smtp" in o.log("smtpd")),
          "smtpd logs the session's relay right as pop-before-smtp")
    rc, out = swaks(port, "127.0.0.6", "--to", REMOTE)
    check(rc != 0 and QMAIL_RCPTHOSTS in out,
          "127.0.0.6 (no login) gets qmail's 553 for the same recipient (rc %d)" % rc)
    # A relay client still cannot use tricks against a local domain (no %-routing here).
    c, t = rcpt_code(port, "127.0.0.5", "<user%%other.example@%s>" % DOM)
    check(500 <= c < 600, "even a relay client: user%%other.example@%s refused (%d %r)" % (DOM, c, t))

    # --- rcpthosts recipients from anybody ---
    for rcpt in ("alice@" + DOM, "anyone@" + HOSTED):
        rc, out = swaks(port, "127.0.0.6", "--to", rcpt)
        check(rc == 0 and "queued as" in out,
              "a recipient in rcpthosts (%s) is accepted from 127.0.0.6 (rc %d)" % (rcpt, rc))

    # --- expiry: after relay_expire, .5 is refused again ---
    check(wait_for(lambda: o.check_ip("127.0.0.5")[0] == 1, timeout=EXPIRE + 60, step=0.2),
          "after relay_expire (%d s), osd check 127.0.0.5 exits 1" % EXPIRE)
    rc, out = swaks(port, "127.0.0.5", "--to", REMOTE)
    check(rc != 0 and QMAIL_RCPTHOSTS in out,
          "after relay_expire, 127.0.0.5 gets qmail's 553 again (rc %d)" % rc)

    # --- the open-relay battery from a non-relay client ---
    battery = [
        "<user%%other.example@%s>" % DOM,
        "<other.example!user@%s>" % DOM,
        "<@%s:user@other.example>" % DOM,
        "<\"user@other.example\"@%s>" % DOM,
        "<user@other.example@%s>" % DOM,
        "<user@[127.0.0.1]>",
        "<user@[IPv6:::1]>",
        "<\"user%%other\"@%s>" % DOM,
        "<user%other@[127.0.0.1]>",
        "<user%%other.example@%s>" % HOSTED,
        "<other.example!user@%s>" % HOSTED,
        "<@%s,@%s:user@other.example>" % (HOSTED, DOM),
        "<\"user@other.example\"@%s>" % HOSTED,
        "<user@other.example.>",
        "<USER@OTHER.EXAMPLE>",
    ]
    for rcpt in battery:
        c, t = rcpt_code(port, "127.0.0.6", rcpt)
        check(500 <= c < 600, "relay battery from 127.0.0.6: RCPT TO:%s refused (%d %r)"
              % (rcpt, c, t))
    check(not any("other.example" in line
                  for f in o.queue_files() for line in o.queue_read(f)[0].get("to", [])),
          "no queue file carries an other.example recipient")

    # --- a new relay.cdb counts for the next connection, smtpd not restarted ---
    c, t = rcpt_code(port, "127.0.0.8", "<x@remote.example>")
    check(c == 553, "before the rule, 127.0.0.8 may not relay (%d)" % c)
    with open(o.rules, "w") as f:
        f.write('127.0.0.8:allow,RELAYCLIENT=""\n')
    os.kill(w.pid, signal.SIGHUP)
    check(wait_for(lambda: o.check_ip("127.0.0.8")[0] == 0),
          "after SIGHUP to the watcher, osd check 127.0.0.8 exits 0 (static rule)")
    rc, out = swaks(port, "127.0.0.8", "--to", REMOTE)
    check(rc == 0 and "queued as" in out,
          "the same smtpd (pid %d, not restarted) now relays for 127.0.0.8 (rc %d)" % (d.pid, rc))
    check(d.poll() is None, "smtpd kept running throughout")
    check(wait_for(lambda: "relay=rule" in o.log("smtpd")),
          "smtpd logs the session's relay right as a rule")
    rc, out = swaks(port, "127.0.0.6", "--to", REMOTE)
    check(rc != 0 and QMAIL_RCPTHOSTS in out, "127.0.0.6 is still refused")

    # --- an expired entry still in relay.cdb (no watcher to remove it) grants nothing ---
    check(pop_login(pport, "127.0.0.9") == 0, "curl pop3:// login from 127.0.0.9")
    check(wait_for(lambda: o.check_ip("127.0.0.9")[0] == 0),
          "osd check 127.0.0.9 exits 0 after the login")
    o.stop(w)
    c, t = rcpt_code(port, "127.0.0.9", "<x@remote.example>")
    check(c == 250, "127.0.0.9 relays while its entry is fresh (%d %r)" % (c, t))
    check(wait_for(lambda: o.check_ip("127.0.0.9")[0] == 1, timeout=EXPIRE + 60, step=0.2),
          "with the watcher stopped, osd check 127.0.0.9 turns 1 after relay_expire")
    check("127.0.0.9" in o.cdb_keys(), "the stale entry is still in relay.cdb")
    c, t = rcpt_code(port, "127.0.0.9", "<x@remote.example>")
    check(c == 553 and t == QMAIL_RCPTHOSTS,
          "smtpd checks the login time itself: the stale entry does not relay (%d %r)" % (c, t))

    check("died of signal" not in o.log("smtpd") and "AddressSanitizer" not in o.log("smtpd"),
          "no session process crashed")


if __name__ == "__main__":
    for tool in ("swaks", "curl"):
        if not have(tool):
            print("skip - %s missing" % tool)
            sys.exit(77)
    main()
