"""Edits of tcp.smtp take effect at once; a broken file keeps the old rules; SIGHUP re-reads osd.conf."""
import os
import signal

from osdtest import Osd, check, finish, wait_for

o = Osd(rules="10.0.0.:deny\n:allow\n", relay_expire="1h")
try:
    w = o.start_watch()
    o.record("127.0.0.5")
    check(wait_for(lambda: o.cdb_keys() == ["10.0.0.", "", "127.0.0.5"]), "initial table: rules then entries")

    # Edit in place.
    with open(o.rules, "w") as f:
        f.write('10.0.0.:deny\n192.0.2.:allow,RELAYCLIENT="",DATABYTES="1000"\n:allow\n')
    check(wait_for(lambda: "192.0.2." in o.cdb_keys()), "an in-place edit is picked up")
    rc, f = o.check_ip("192.0.2.44")
    check(rc == 0 and f.get("rule") == "192.0.2.", "the new prefix rule relays")

    # Replace by rename (how editors and config management write files).
    tmp = o.rules + ".new"
    with open(tmp, "w") as f:
        f.write("127.0.0.:deny\n:allow\n")
    os.rename(tmp, o.rules)
    check(wait_for(lambda: o.cdb_keys()[:2] == ["127.0.0.", ""]), "a file renamed over the rules is picked up")
    check("127.0.0.5" not in o.cdb_keys(), "a new deny prefix removes logins inside it")
    rc, f = o.check_ip("127.0.0.5")
    check(rc == 1 and f.get("decision") == "deny", "osd check: denied now")

    # A broken file: error with file:line, the previous rules stay.
    with open(o.rules, "w") as f:
        f.write('127.0.0.:deny\n:allow\n1.2.3.4:allow,X="unterminated\n')
    check(wait_for(lambda: "tcp.smtp:3:" in o.log()), "a broken rules file is reported with file:line")
    check(o.cdb_keys()[:2] == ["127.0.0.", ""], "the previous rules stay in force")
    check(w.poll() is None, "the watcher keeps running")

    # Fixing it applies it.
    with open(o.rules, "w") as f:
        f.write(":allow\n")
    check(wait_for(lambda: o.cdb_keys() == ["", "127.0.0.5"]), "the fixed file applies, the login is back")

    # Removing the rules file: no static rules, entries remain.
    os.unlink(o.rules)
    check(wait_for(lambda: o.cdb_keys() == ["127.0.0.5"]), "without a rules file only the entries remain")

    # SIGHUP re-reads osd.conf: a shorter relay_expire expires old entries now.
    os.utime(os.path.join(o.opensmtp, "127.0.0.5"), (os.path.getmtime(o.conf) - 600,) * 2)
    o.write_conf("5m")
    w.send_signal(signal.SIGHUP)
    check(wait_for(lambda: "relay_expire=300s" in o.log()), "SIGHUP reloads the configuration")
    check(wait_for(lambda: "127.0.0.5" not in o.cdb_keys()), "the shorter relay_expire applies at once")

    # A bad config on SIGHUP is refused and the old one kept.
    with open(o.conf, "a") as f:
        f.write("relay_expire = soon\n")
    w.send_signal(signal.SIGHUP)
    check(wait_for(lambda: "keeping the running configuration" in o.log()), "a bad config on SIGHUP is refused")
    check(w.poll() is None, "and the watcher keeps running")
finally:
    o.cleanup()
finish()
