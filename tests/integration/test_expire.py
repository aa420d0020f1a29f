"""relay_expire: entries leave relay.cdb when they expire, never before; refresh; osd expire."""
import os
import re
import time

from osdtest import Osd, check, finish, wait_for

o = Osd(relay_expire="2s")
try:
    o.start_watch()
    t0 = time.time()
    o.record("127.0.0.5")
    mtime = os.stat(os.path.join(o.opensmtp, "127.0.0.5")).st_mtime
    check(wait_for(lambda: "127.0.0.5" in o.cdb_keys()), "entry appears")
    rc, f = o.check_ip("127.0.0.5")
    check(rc == 0 and int(f.get("expires_in", "9")) <= 2, "osd check shows at most 2 s left")

    # Watch until it leaves, noting when.
    gone = wait_for(lambda: "127.0.0.5" not in o.cdb_keys() and time.time(), step=0.005)
    check(bool(gone), "the entry leaves relay.cdb")
    check(gone >= mtime + 2, "it never leaves before mtime + relay_expire (left %.3f s after login)" % (gone - mtime))
    check(not os.path.exists(os.path.join(o.opensmtp, "127.0.0.5")), "its file is removed")
    check(re.search(r"expired 127\.0\.0\.5", o.log()) is not None, "the watcher logs the expiry")
    rc, f = o.check_ip("127.0.0.5")
    check(rc == 1, "osd check: may not relay any more")

    # A login before expiry keeps it: refresh at ~1.2 s, still there at ~2.5 s.
    o.record("127.0.0.6")
    wait_for(lambda: "127.0.0.6" in o.cdb_keys())
    time.sleep(1.2)
    o.record("127.0.0.6")
    refreshed = os.stat(os.path.join(o.opensmtp, "127.0.0.6")).st_mtime
    while time.time() < refreshed + 1.5:
        time.sleep(0.05)
    # Removal can only happen after refreshed + 2 s, so this cannot be racy.
    check("127.0.0.6" in o.cdb_keys(), "a refreshed entry survives its first deadline")
    check(wait_for(lambda: "127.0.0.6" not in o.cdb_keys()), "and expires 2 s after the refresh")

    # Entries that expired while the watcher was down are gone at start-up.
    stop_rc = o.stop(o.procs[0])
    check(stop_rc == 0, "SIGTERM stops the watcher with status 0")
    o.record("127.0.0.7")
    os.utime(os.path.join(o.opensmtp, "127.0.0.7"), (time.time() - 10, time.time() - 10))
    o.record("127.0.0.8")
    o.start_watch()
    check(wait_for(lambda: "127.0.0.8" in o.cdb_keys()), "a login made while down is picked up")
    check("127.0.0.7" not in o.cdb_keys() and not os.path.exists(os.path.join(o.opensmtp, "127.0.0.7")),
          "an entry that expired while down is not revived")
    o.stop(o.procs[-1])

    # osd expire (cron): same job, once, without a watcher.
    o.write_conf("1h")
    for ip, age in [("10.0.0.1", 10), ("10.0.0.2", 7200), ("10.0.0.3", 3599)]:
        o.record(ip)
        os.utime(os.path.join(o.opensmtp, ip), (time.time() - age, time.time() - age))
    p = o.run("expire", "-v")
    check(p.returncode == 0, "osd expire exits 0")
    check("expired" in p.stdout, "osd expire -v reports what it did")
    keys = o.cdb_keys()
    check("10.0.0.1" in keys and "10.0.0.3" in keys, "live entries are in the rebuilt table")
    check("10.0.0.2" not in keys and not os.path.exists(os.path.join(o.opensmtp, "10.0.0.2")),
          "the expired one is removed from folder and table")
    p = o.run("expire")
    check(p.returncode == 0 and p.stdout == "", "osd expire is quiet without -v (cron mails output)")
finally:
    o.cleanup()
finish()
