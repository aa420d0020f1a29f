#!/usr/bin/env python3
"""Bounds on durations (issue 9.3): relay_expire at its largest (30d) keeps a
fresh entry through 'osd expire' and 'osd check'; the absurd value of the issue
(and 30d + 1 s) is refused with 'file:line: relay_expire' and a non-zero exit,
and nothing is deleted; a control file beyond its bound (timeoutsmtpd) is not
used: the default applies and the server logs why."""
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, SmtpRaw, check, finish, free_port, wait_for  # noqa: E402

DAY = 86400


def entry(o, ip):
    return os.path.join(o.opensmtp, ip)


def main():
    o = Osd(relay_expire="30d")
    try:
        relay_expire_bounds(o)
        control_bounds(o)
    finally:
        o.cleanup()
    finish()


def relay_expire_bounds(o):
    # relay_expire at its maximum: fresh and 29-day-old entries live, a 31-day-old one goes.
    now = time.time()
    for ip, age in [("127.0.0.5", 0), ("127.0.0.6", 29 * DAY), ("127.0.0.7", 31 * DAY)]:
        p = o.record(ip)
        check(p.returncode == 0, "osd record %s (%s)" % (ip, p.stderr.strip()))
        if age:
            os.utime(entry(o, ip), (now - age, now - age))
    p = o.run("expire", "-v")
    check(p.returncode == 0, "relay_expire = 30d: osd expire exits 0 (%s)" % p.stderr.strip())
    check(os.path.exists(entry(o, "127.0.0.5")), "relay_expire = 30d: a fresh entry is not deleted")
    check(os.path.exists(entry(o, "127.0.0.6")), "relay_expire = 30d: a 29-day-old entry stays")
    check(not os.path.exists(entry(o, "127.0.0.7")), "relay_expire = 30d: a 31-day-old entry goes")
    keys = o.cdb_keys()
    check("127.0.0.5" in keys and "127.0.0.6" in keys and "127.0.0.7" not in keys,
          "relay.cdb holds the live entries only (%r)" % keys)
    rc, f = o.check_ip("127.0.0.5")
    left = int(f.get("expires_in", "-1"))
    check(rc == 0 and 30 * DAY - 120 <= left <= 30 * DAY,
          "osd check: the fresh entry relays, about 30 days left (%s)" % f.get("expires_in"))

    # The value of the issue and one second over the bound: refused, named by file, line and key.
    for value in ("9223372036854775807", "2592001", "31d"):
        o.write_conf(value)
        for cmd in ("expire", "check"):
            args = (cmd, "127.0.0.5") if cmd == "check" else (cmd,)
            p = o.run(*args)
            m = re.search(r"osd\.conf:(\d+): relay_expire: ", p.stderr)
            check(p.returncode != 0 and m is not None,
                  "relay_expire = %s: osd %s exits %d with 'file:line: relay_expire' (%s)"
                  % (value, cmd, p.returncode, p.stderr.strip()))
            if m:
                line = open(o.conf).read().splitlines()[int(m.group(1)) - 1]
                check(line.startswith("relay_expire = "),
                      "relay_expire = %s: the line named is the relay_expire line" % value)
        check(os.path.exists(entry(o, "127.0.0.5")) and os.path.exists(entry(o, "127.0.0.6")),
              "relay_expire = %s: nothing deleted" % value)
    o.write_conf("30d")
    check("127.0.0.5" in o.cdb_keys(), "relay.cdb untouched by the refused runs")


def control_bounds(o):
    port = free_port()
    o.write_conf("30d", "smtp_listen = 127.0.0.1:%d\nsubmission_listen = \ncontrol_dir = control\n"
                 % port)
    o.write_control("me", "mx.bounds.test\n")
    o.write_control("rcpthosts", "bounds.test\n")
    # One second over the bound: not used (the default, 1200 s), and the server says why.
    o.write_control("timeoutsmtpd", "86401\n")
    d = o.start_smtpd(port)
    check(d.poll() is None, "osd smtpd runs")
    r = SmtpRaw(port, "127.0.0.21")
    c, t = r.cmd("EHLO client.test")
    check(r.greeting[0] == 220 and c == 250, "timeoutsmtpd = 86401: the session is served")
    r.cmd("QUIT")
    r.close()
    check(wait_for(lambda: "control/timeoutsmtpd: 86401 is out of range (1 to 86400 seconds); "
                           "using 1200" in o.log("smtpd")),
          "timeoutsmtpd = 86401: smtpd logs that it is out of range and uses 1200")
    # The bound itself is taken, without a warning.
    o.write_control("timeoutsmtpd", "86400\n")
    seen = len(o.log("smtpd"))
    r = SmtpRaw(port, "127.0.0.22")
    c, t = r.cmd("NOOP")
    r.cmd("QUIT")
    r.close()
    # The session line comes after any warning of its own; other connections
    # (start_smtpd's probe) may still log theirs late, so look at this one's.
    wait_for(lambda: "session: addr=127.0.0.22 " in o.log("smtpd")[seen:])
    check(c == 250 and "127.0.0.22: control/timeoutsmtpd" not in o.log("smtpd")[seen:],
          "timeoutsmtpd = 86400 (the bound) is accepted without a warning")
    o.stop(d)


if __name__ == "__main__":
    main()
