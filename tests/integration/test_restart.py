"""A restart (clean or kill -9) keeps every entry and revives none; crash leftovers are finished."""
import os
import signal
import time

from osdtest import Osd, check, finish, wait_for

o = Osd(relay_expire="1h")
try:
    w = o.start_watch()
    ips = ["127.0.0.%d" % i for i in range(2, 40)] + ["2001:db8::%x" % i for i in range(1, 10)]
    for ip in ips:
        o.record(ip)
    check(wait_for(lambda: set(ips) <= set(o.cdb_keys())), "all entries in the table before the restart")
    old = "127.0.0.40"
    o.record(old)
    wait_for(lambda: old in o.cdb_keys())

    # kill -9: no clean-up at all.
    w.send_signal(signal.SIGKILL)
    w.wait()
    # While it is down: a login, and an entry that expires.
    o.record("127.0.0.41")
    os.utime(os.path.join(o.opensmtp, old), (time.time() - 7200, time.time() - 7200))
    # A crash in the middle of an expiry leaves the entry renamed aside:
    # a fresh one must come back, an expired one must go.
    o.record("127.0.0.42")
    os.rename(os.path.join(o.opensmtp, "127.0.0.42"), os.path.join(o.opensmtp, ".osd-expire.127.0.0.42"))
    o.record("127.0.0.43")
    os.utime(os.path.join(o.opensmtp, "127.0.0.43"), (time.time() - 7200, time.time() - 7200))
    os.rename(os.path.join(o.opensmtp, "127.0.0.43"), os.path.join(o.opensmtp, ".osd-expire.127.0.0.43"))

    o.start_watch()
    keys = set(o.cdb_keys())
    check(set(ips) <= keys, "after kill -9 and restart every entry is still there")
    check("127.0.0.41" in keys, "a login made while the watcher was down is in the table")
    check(old not in keys and not os.path.exists(os.path.join(o.opensmtp, old)),
          "an entry that expired while down is not revived")
    check("127.0.0.42" in keys and os.path.exists(os.path.join(o.opensmtp, "127.0.0.42")),
          "a fresh entry caught mid-expiry by a crash is put back")
    check("127.0.0.43" not in keys and not os.path.exists(os.path.join(o.opensmtp, ".osd-expire.127.0.0.43")),
          "an expired entry caught mid-expiry is finished off")

    # Clean restart: the same table, byte for byte in content (order may differ).
    before = sorted(o.cdb_keys())
    check(o.stop(o.procs[-1]) == 0, "SIGTERM: clean exit")
    o.start_watch()
    check(sorted(o.cdb_keys()) == before, "a clean restart gives the same entries")

    # The folder removed under a running watcher is recreated and watched again.
    import shutil
    shutil.rmtree(o.opensmtp)
    check(wait_for(lambda: os.path.isdir(o.opensmtp)), "a removed open-smtp folder is recreated")
    check(wait_for(lambda: o.cdb_keys() == []), "and the table follows the (now empty) folder")
    o.record("127.0.0.50")
    check(wait_for(lambda: "127.0.0.50" in o.cdb_keys()), "logins after that are seen again")
finally:
    o.cleanup()
finish()
