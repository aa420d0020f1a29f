"""osd record -> open-smtp/ -> osd watch -> relay.cdb -> osd check, and hostile input."""
import os
import time

from osdtest import Osd, check, finish, wait_for

RULES = """# static rules
10.1.2.:deny
192.0.2.1:allow,RELAYCLIENT=""
:allow
"""

o = Osd(rules=RULES)
try:
    o.start_watch()
    check(os.path.isdir(o.opensmtp), "watch creates the open-smtp folder")
    check(o.cdb_keys() == ["10.1.2.", "192.0.2.1", ""], "start-up table holds the static rules in order")

    p = o.record("127.0.0.9")
    check(p.returncode == 0 and p.stderr == "", "record 127.0.0.9 succeeds quietly")
    st = os.stat(os.path.join(o.opensmtp, "127.0.0.9"))
    check(st.st_size == 0 and abs(st.st_mtime - time.time()) < 60, "entry is an empty file with mtime = now")
    check(wait_for(lambda: "127.0.0.9" in o.cdb_keys()), "the address reaches relay.cdb")
    check(o.cdb_keys()[:3] == ["10.1.2.", "192.0.2.1", ""], "static rules stay first")
    rc, f = o.check_ip("127.0.0.9")
    check(rc == 0 and f.get("decision") == "relay" and f.get("source") == "dynamic",
          "osd check says relay from a dynamic entry")
    check(f.get("env") == 'RELAYCLIENT=""', "the entry sets RELAYCLIENT to empty")
    left = int(f.get("expires_in", "-1"))
    check(3 * 3600 - 120 <= left <= 3 * 3600, "expires_in is about relay_expire (3 h)")

    rc, f = o.check_ip("127.0.0.10")
    check(rc == 1 and f.get("decision") == "no-relay" and f.get("rule") == "default",
          "an unrecorded address may not relay (default rule)")
    rc, f = o.check_ip("192.0.2.1")
    check(rc == 0 and f.get("source") == "static", "a static RELAYCLIENT rule relays")

    # IPv4-mapped IPv6 is the IPv4 client; IPv6 works too.
    o.record("::ffff:198.51.100.7")
    check(os.path.exists(os.path.join(o.opensmtp, "198.51.100.7")), "::ffff:198.51.100.7 is recorded as 198.51.100.7")
    o.record("2001:DB8:0:0::5")
    check(os.path.exists(os.path.join(o.opensmtp, "2001:db8::5")), "IPv6 is recorded in canonical form")
    check(wait_for(lambda: {"198.51.100.7", "2001:db8::5"} <= set(o.cdb_keys())), "both reach relay.cdb")
    rc, f = o.check_ip("2001:db8::5")
    check(rc == 0 and f.get("decision") == "relay", "osd check relays the IPv6 entry")

    # A static deny for a prefix stays a deny, whoever logs in.
    o.record("10.1.2.7")
    o.record("127.0.0.11")  # a later change, to know the watcher has seen both
    wait_for(lambda: "127.0.0.11" in o.cdb_keys())
    check("10.1.2.7" not in o.cdb_keys(), "a login inside a denied prefix is not added")
    rc, f = o.check_ip("10.1.2.7")
    check(rc == 1 and f.get("decision") == "deny" and f.get("rule") == "10.1.2.", "osd check: still denied by 10.1.2.")

    # Hostile input: clear error, exit 100, nothing touched.
    before = sorted(os.listdir(o.opensmtp))
    for bad in ["../etc/passwd", "1.2.3", "", "x" * 300, "1.2.3.4/24", "1.2.3.4 ", "01.2.3.4",
                "fe80::1%lo", "1.2.3.4\n", "-1"]:
        p = o.record(bad)
        check(p.returncode == 100 and p.stderr.startswith("osd: record: "),
              "record %r is refused with an error" % bad[:20])
    check(sorted(os.listdir(o.opensmtp)) == before, "refused input created no file")
    check(not os.path.exists(os.path.join(o.root, "etc")), "no path escaped the folder")

    # Junk in the folder is ignored with a warning, not fatal.
    open(os.path.join(o.opensmtp, "not-an-address"), "w").close()
    open(os.path.join(o.opensmtp, "2001:0db8::9"), "w").close()  # non-canonical
    o.record("127.0.0.12")
    check(wait_for(lambda: "127.0.0.12" in o.cdb_keys()), "watcher keeps working after junk files")
    check("ignoring 'not-an-address'" in o.log(), "junk is logged as ignored")
    check("2001:0db8::9" not in o.cdb_keys() and "2001:db8::9" not in o.cdb_keys(),
          "a non-canonical name is not an entry")

    # Deleting the file revokes the entry.
    os.unlink(os.path.join(o.opensmtp, "127.0.0.9"))
    check(wait_for(lambda: "127.0.0.9" not in o.cdb_keys()), "deleting the file removes the entry")
    rc, f = o.check_ip("127.0.0.9")
    check(rc == 1, "osd check no longer allows a revoked address")

    # A burst of logins: every one lands, in few rebuilds.
    for i in range(500):
        o.record("10.20.%d.%d" % (i // 250, i % 250 + 1))
    want = {"10.20.%d.%d" % (i // 250, i % 250 + 1) for i in range(500)}
    check(wait_for(lambda: want <= set(o.cdb_keys())), "all 500 logins of a burst are in relay.cdb")

    # Refreshing an existing entry updates its mtime, and the folder is recreated if removed.
    path = os.path.join(o.opensmtp, "127.0.0.11")
    os.utime(path, (time.time() - 600, time.time() - 600))
    o.record("127.0.0.11")
    check(time.time() - os.stat(path).st_mtime < 60, "a second login refreshes the mtime")

    check(not [n for n in os.listdir(o.state) if n.startswith(".")], "no temporary file left in the state folder")
finally:
    o.cleanup()
finish()
