#!/usr/bin/env python3
"""IPv6 roaming clients and the relay holes of issue 16 (1 and 2), with real clients.

On ::1 (always): a POP3 login over IPv6 (curl) lets ::1 relay through osd
smtpd listening on [::1] (smtplib), and stops at relay_expire; osd record
refuses ::, 0.0.0.0, multicast and broadcast; IPv6 address literals are in
the open-relay battery; a login whose open-smtp file an administrator
deletes stops relaying at once, though the watcher is stopped and relay.cdb
still has it.

On 2001:db8:: addresses added to lo (the test adds and removes them; without
the right to, those checks are reported as skipped and the test exits 77):
a login from 2001:db8:: (its tcpserver text ends in '::', a prefix of
2001:db8::5:1:2:3:4) opens relaying for nobody else, neither in osd check,
nor in osd smtpd, nor in Debian's real tcpserver -x relay.cdb; another IPv6
address gets 553; with relay_ipv6_prefix = 64 a login opens its /64 and
nothing wider, in osd smtpd and in tcpserver.
"""
import os
import smtplib
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, SmtpRaw, check, finish, tcpserver_env, wait_for,  # noqa: E402
                     wait_port)

DOM = "example.test"
REMOTE = "someone@remote.example"
EXPIRE = 6
T = 20
LO_ADDRS = ["2001:db8::", "2001:db8:0:5:1:2:3:4", "2001:db8:7:7::a", "2001:db8:7:7::b",
            "2001:db8:7:8::1"]


def free_port6():
    s = socket.socket(socket.AF_INET6)
    s.bind(("::1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def add_lo_addrs():
    """Add LO_ADDRS to lo; the ones added (to remove), or None without the right to."""
    added = []
    for a in LO_ADDRS:
        p = subprocess.run(["ip", "-6", "addr", "add", a + "/128", "dev", "lo", "nodad"],
                           capture_output=True, text=True)
        exists = "File exists" in p.stderr or "already assigned" in p.stderr
        if p.returncode != 0 and not exists:
            print("# cannot add %s to lo (%s): IPv6 checks beyond ::1 skipped"
                  % (a, p.stderr.strip()))
            remove_lo_addrs(added)
            return None
        if p.returncode == 0:
            added.append(a)
    return added


def remove_lo_addrs(added):
    for a in added:
        subprocess.run(["ip", "-6", "addr", "del", a + "/128", "dev", "lo"], capture_output=True)


def rcpt(port, src, rcpt_to):
    """(code, text) of RCPT TO:<rcpt_to> from src to osd smtpd on [::1]:port."""
    r = SmtpRaw(port, src, host="::1", timeout=T)
    r.cmd("EHLO roamer.test")
    r.cmd("MAIL FROM:<alice@%s>" % DOM)
    c, t = r.cmd("RCPT TO:<%s>" % rcpt_to)
    r.cmd("QUIT")
    r.close()
    return c, t


def send(port, src):
    """A whole message to REMOTE with smtplib from src: the refusal, or None when queued."""
    try:
        with smtplib.SMTP("::1", port, timeout=T, source_address=(src, 0)) as s:
            s.ehlo("roamer.test")
            refused = s.sendmail("alice@" + DOM, [REMOTE], b"Subject: v6\r\n\r\nhi\r\n")
            return refused or None
    except smtplib.SMTPRecipientsRefused as e:
        return e.recipients
    except smtplib.SMTPException as e:
        return str(e)


def pop_login(port, src):
    p = subprocess.run(["curl", "-s", "-S", "--max-time", str(T), "--interface", src,
                        "pop3://[::1]:%d/" % port, "-u", "alice@%s:alice-pw" % DOM],
                       capture_output=True, timeout=120)
    return p.returncode


def setup(o, port, pport, extra="", expire=EXPIRE):
    o.write_conf("%ds" % expire,
                 "smtp_listen = [::1]:%d\nsubmission_listen =\npop3_listen = [::1]:%d\n"
                 "control_dir = control\ndefault_domain = %s\n"
                 # 2001:db8:: clients are not loopback: USER/PASS without TLS by choice.
                 "pop3_plaintext = yes\n%s" % (port, pport, DOM, extra))
    o.write_control("me", "mx.%s\n" % DOM)
    o.write_control("rcpthosts", "%s\n" % DOM)
    p = o.run("user", "add", "alice@" + DOM, input="alice-pw\n")
    check(p.returncode == 0, "osd user add alice@%s (%s)" % (DOM, p.stderr.strip()))
    w = o.start_watch()
    pop = o.start("pop3d")
    d = o.start("smtpd")
    ok = (w.poll() is None and wait_port(pport, pop, host="::1") and
          wait_port(port, d, host="::1"))
    check(ok, "osd watch, pop3d and smtpd listen on [::1] (%s)" % o.log("smtpd").strip()[-300:])
    return ok, w


def on_loopback(o):
    port, pport = free_port6(), free_port6()
    ok, w = setup(o, port, pport)
    if not ok:
        return
    for bad in ("::", "0.0.0.0", "ff02::1", "224.0.0.1", "255.255.255.255", "::ffff:0.0.0.0"):
        p = o.record(bad)
        check(p.returncode == 100 and "not a client's own address" in p.stderr,
              "osd record %s is refused with a clear error (%d %r)" % (bad, p.returncode, p.stderr))
    check(not any(n in os.listdir(o.opensmtp) for n in ("::", "0.0.0.0", "ff02::1")),
          "no entry was made for them (%r)" % os.listdir(o.opensmtp))

    c, t = rcpt(port, "::1", REMOTE)
    check(c == 553, "before any login, ::1 gets 553 for a remote recipient (%d %r)" % (c, t))
    # The IPv6 part of the open-relay battery, from a client that may not relay.
    for trick in ("user@[IPv6:2001:db8::1]", "user%remote.example@[IPv6:::1]",
                  "user@[IPv6:::ffff:127.0.0.1]", "@[IPv6:::1]:user@remote.example",
                  "user@[IPv6:0:0:0:0:0:0:0:1]", "user%remote.example@" + DOM,
                  "\"user@remote.example\"@" + DOM, "user@remote.example@" + DOM):
        c, t = rcpt(port, "::1", trick)
        check(500 <= c < 600, "RCPT TO:<%s> from ::1 refused (%d %r)" % (trick, c, t))
    check(pop_login(pport, "::1") == 0, "curl pop3://[::1] login over IPv6")
    check(os.path.exists(os.path.join(o.opensmtp, "::1")), "open-smtp/::1 was recorded")
    check(wait_for(lambda: o.check_ip("::1")[0] == 0), "osd check ::1 exits 0 after the login")
    check(send(port, "::1") is None, "after the IPv6 POP3 login, ::1 relays (smtplib: queued)")

    # Issue 16.2: revoking by deleting the file works at once, watcher or not.
    o.stop(w)
    check(o.run("record", "::1").returncode == 0, "osd record ::1 again (watcher stopped)")
    os.unlink(os.path.join(o.opensmtp, "::1"))
    check("::1" in o.cdb_keys(), "relay.cdb still has the ::1 login record")
    code, f = o.check_ip("::1")
    check(code == 1 and f.get("decision") == "no-relay",
          "osd check ::1: no-relay once its file is gone (%d %r)" % (code, f))
    c, t = rcpt(port, "::1", REMOTE)
    check(c == 553, "osd smtpd: ::1 no longer relays once its file is gone (%d %r)" % (c, t))

    # Expiry over IPv6.
    w = o.start_watch()
    check(o.run("record", "::1").returncode == 0, "osd record ::1 once more")
    check(wait_for(lambda: o.check_ip("::1")[0] == 0), "::1 may relay again")
    check(wait_for(lambda: rcpt(port, "::1", REMOTE)[0] == 553, timeout=EXPIRE + 20),
          "after relay_expire, ::1 gets 553 again")
    check(wait_for(lambda: "::1" not in o.cdb_keys()), "and the watcher takes it out of relay.cdb")


def on_db8(o):
    port, pport = free_port6(), free_port6()
    ok, _ = setup(o, port, pport, expire=600)
    if not ok:
        return
    # The exploit of issue 16.1, through osd record as any hook would do it.
    check(o.record("2001:db8::").returncode == 0, "osd record 2001:db8::")
    expanded = "2001:0db8:0000:0000:0000:0000:0000:0000"
    wait_for(lambda: set(o.cdb_keys()) & {expanded, "2001:db8::"})
    check(expanded in o.cdb_keys(),
          "relay.cdb holds the login under its expanded key (%r)" % o.cdb_keys())
    check("2001:db8::" not in o.cdb_keys(), "and not under 2001:db8:: (a prefix for tcpserver)")
    code, f = o.check_ip("2001:db8:0:5:1:2:3:4")
    check(code == 1 and f.get("decision") == "no-relay",
          "osd check 2001:db8:0:5:1:2:3:4: no-relay (%d %r)" % (code, f))
    c, t = rcpt(port, "2001:db8:0:5:1:2:3:4", REMOTE)
    check(c == 553, "osd smtpd: 2001:db8:0:5:1:2:3:4 gets 553 (%d %r)" % (c, t))
    check(send(port, "2001:db8::") is None, "osd smtpd: 2001:db8:: itself relays")
    env = tcpserver_env(o.cdb, "::1", ["2001:db8:0:5:1:2:3:4", "2001:db8::"])
    check(env is not None, "tcpserver -6 -x relay.cdb runs on [::1]")
    if env:
        e = env["2001:db8:0:5:1:2:3:4"]
        check(e is not None and e.get("TCPREMOTEIP") == "2001:db8::5:1:2:3:4" and
              "RELAYCLIENT" not in e,
              "tcpserver gives 2001:db8::5:1:2:3:4 no RELAYCLIENT (%r)" % e)
        e = env["2001:db8::"]
        check(e.get("TCPREMOTEIP") == "2001:db8::" and "RELAYCLIENT" not in e,
              "nor 2001:db8:: (tcpserver has no key for that address alone; docs/config.md)")

    # A POP3 login from one IPv6 address; another gets 553.
    check(pop_login(pport, "2001:db8:7:7::a") == 0, "POP3 login from 2001:db8:7:7::a")
    check(wait_for(lambda: o.check_ip("2001:db8:7:7::a")[0] == 0), "2001:db8:7:7::a may relay")
    check(send(port, "2001:db8:7:7::a") is None, "2001:db8:7:7::a relays")
    c, t = rcpt(port, "2001:db8:7:7::b", REMOTE)
    check(c == 553, "2001:db8:7:7::b (no login, relay_ipv6_prefix 128) gets 553 (%d)" % c)


def on_db8_net64(o):
    port, pport = free_port6(), free_port6()
    ok, _ = setup(o, port, pport, "relay_ipv6_prefix = 64\n", expire=600)
    if not ok:
        return
    check(pop_login(pport, "2001:db8:7:7::a") == 0, "relay_ipv6_prefix 64: login from 2001:db8:7:7::a")
    check(os.path.exists(os.path.join(o.opensmtp, "2001:db8:7:7::")),
          "the entry is the /64: open-smtp/2001:db8:7:7:: (%r)" % os.listdir(o.opensmtp))
    check(wait_for(lambda: "2001:db8:7:7:" in o.cdb_keys()),
          "relay.cdb key 2001:db8:7:7: (%r)" % o.cdb_keys())
    check(send(port, "2001:db8:7:7::b") is None, "2001:db8:7:7::b (same /64) relays")
    c, t = rcpt(port, "2001:db8:7:8::1", REMOTE)
    check(c == 553, "2001:db8:7:8::1 (another /64) gets 553 (%d)" % c)
    c, t = rcpt(port, "2001:db8:0:5:1:2:3:4", REMOTE)
    check(c == 553, "2001:db8:0:5:1:2:3:4 gets 553 (%d)" % c)
    env = tcpserver_env(o.cdb, "::1", ["2001:db8:7:7::b", "2001:db8:7:8::1"])
    if check(env is not None, "tcpserver -6 -x relay.cdb runs on [::1]"):
        check(env["2001:db8:7:7::b"] is not None and
              env["2001:db8:7:7::b"].get("RELAYCLIENT") == "",
              "tcpserver: RELAYCLIENT for 2001:db8:7:7::b (%r)" % env["2001:db8:7:7::b"])
        check(env["2001:db8:7:8::1"].get("TCPREMOTEIP") == "2001:db8:7:8::1" and
              "RELAYCLIENT" not in env["2001:db8:7:8::1"],
              "tcpserver: none for 2001:db8:7:8::1")


def main():
    skipped = False
    o = Osd(relay_expire="%ds" % EXPIRE)
    try:
        on_loopback(o)
    finally:
        o.cleanup()
    added = add_lo_addrs()
    if added is None:
        skipped = True
    else:
        try:
            time.sleep(0.2)
            for part in (on_db8, on_db8_net64):
                o = Osd(relay_expire="%ds" % EXPIRE)
                try:
                    part(o)
                finally:
                    o.cleanup()
        finally:
            remove_lo_addrs(added)
    if skipped:
        print("# SKIP: could not add 2001:db8:: addresses to lo")
        from osdtest import _failures
        sys.exit(1 if _failures else 77)
    finish()


if __name__ == "__main__":
    main()
