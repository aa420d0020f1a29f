#!/usr/bin/env python3
"""test_relay_batch - relay_batch: a burst of logins is one rewrite per window, expiry stays exact.

1. relay_batch = 1s: 30 new entries, one every 25 ms.  The watcher may start
   at most one rewrite per second (plus the first at once), so however slow
   the machine, the rewrites during the burst are at most its length in
   seconds + 2, where one rewrite per change would be ~30.  Every entry ends
   up in relay.cdb (and osd check lets it relay).
2. Expiry stays exact: relay_expire = 10s.  Entry A, then 9.2 s later entry B,
   whose rewrite may be followed by the next only a second later, after A's
   expiry: that rewrite must already leave A out.  relay.cdb is read every
   few ms until A is gone: a table read after A's expiry never holds it.
3. osd revoke within a window: osd check refuses at once, and relay.cdb
   loses the entry (the time it took is printed, not asserted).
"""
import os
import time

from osdtest import Osd, check, finish, wait_for


def rewrites(o):
    """Rewrites of relay.cdb the watcher has logged so far (-v)."""
    return o.log("watch").count("debug: relay table: ")


# relay_expire 10 s: the window is at most a tenth of it.
o = Osd(relay_expire="10s", extra="relay_batch = 1s\n")
try:
    p = o.start("watch", "-v")
    check(wait_for(lambda: "watching" in o.log("watch") or p.poll() is not None)
          and p.poll() is None, "osd watch starts with relay_batch = 1s")
    dirfd = os.open(o.opensmtp, os.O_RDONLY | os.O_DIRECTORY)

    # --- 1. a burst ---
    time.sleep(1.1)             # the start-up rewrite's window is over
    before = rewrites(o)
    t0 = time.monotonic()
    names = ["127.0.1.%d" % i for i in range(1, 31)]
    for name in names:
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dirfd))
        time.sleep(0.025)
    check(wait_for(lambda: set(names) <= set(o.cdb_keys())), "all 30 entries reach relay.cdb")
    span = time.monotonic() - t0
    n = rewrites(o) - before
    check(n <= int(span) + 2,
          "the burst took %d rewrites in %.2f s: at most one a second (+ the first)" % (n, span))
    check(n < len(names) / 3, "far fewer rewrites (%d) than changes (%d)" % (n, len(names)))
    rc, f = o.check_ip("127.0.1.30")
    check(rc == 0 and f.get("rule") is not None, "osd check: the last of the burst may relay")
    # The burst expires (10 s) before part 2 begins.
    check(wait_for(lambda: not set(names) & set(o.cdb_keys()), timeout=30), "the burst's entries expire")

    # --- 2. exact expiry ---
    time.sleep(1.1)
    os.close(os.open("127.0.2.1", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dirfd))
    deadline = os.stat("127.0.2.1", dir_fd=dirfd).st_mtime + 10
    check(wait_for(lambda: "127.0.2.1" in o.cdb_keys()), "entry A reaches relay.cdb")
    while time.time() < deadline - 0.8:
        time.sleep(0.01)
    # B's rewrite comes at once (the last one is > 1 s ago); the next may
    # only come after A's expiry.
    os.close(os.open("127.0.2.2", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dirfd))
    b_at = time.time() - deadline
    late = []
    reads = 0
    gone_at = None
    while time.time() < deadline + 1.5:
        t = time.time()
        keys = o.cdb_keys()
        reads += 1
        if "127.0.2.1" in keys and t >= deadline:
            late.append(round(t - deadline, 3))
        if "127.0.2.1" not in keys and gone_at is None:
            gone_at = t - deadline
        if "127.0.2.1" not in keys and "127.0.2.2" in keys and t >= deadline:
            break
        time.sleep(0.005)
    # On a failure, the timeline and the watcher's rewrites (with their times) say where it stalled.
    if not check(not late, "relay.cdb never holds A past its expiry (%d reads; late by %s s, "
                 "%d late reads; B made at %+.3f s from A's expiry, A first seen gone at %s s)"
                 % (reads, late[:5], len(late), b_at,
                    "%+.3f" % gone_at if gone_at is not None else "never")):
        rewrites_logged = [ln for ln in o.log("watch").splitlines() if "relay table" in ln]
        print("# watch.log, the last rewrites:\n# " + "\n# ".join(rewrites_logged[-12:]))
    check(wait_for(lambda: "127.0.2.1" not in o.cdb_keys() and "127.0.2.2" in o.cdb_keys(), timeout=30),
          "A leaves relay.cdb, B stays")
    rc, _ = o.check_ip("127.0.2.1")
    check(rc == 1, "osd check: A may not relay after its expiry")

    # --- 3. a revoke is written at once ---
    o.write_conf("1h", "relay_batch = 1s\n")
    p.send_signal(1)            # SIGHUP: relay_expire 1h, so nothing expires below
    check(wait_for(lambda: "config reloaded" in o.log("watch")), "SIGHUP reloads")
    time.sleep(1.1)
    os.close(os.open("127.0.3.1", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=dirfd))
    check(wait_for(lambda: "127.0.3.1" in o.cdb_keys()), "entry C reaches relay.cdb")
    # Within C's window (nothing waiting): the revoke does not wait for its end.
    t_rev = time.monotonic()
    r = o.run("revoke", "127.0.3.1")
    check(r.returncode == 0, "osd revoke 127.0.3.1 succeeds (%s)" % r.stderr.strip())
    rc, _ = o.check_ip("127.0.3.1")
    check(rc == 1, "osd check: a revoked entry may not relay, at once")
    check(wait_for(lambda: "127.0.3.1" not in o.cdb_keys()), "the revoke reaches relay.cdb")
    print("# revoke in relay.cdb after %.3f s (relay_batch 1 s)" % (time.monotonic() - t_rev))
    os.close(dirfd)
    check(o.stop(p) == 0, "SIGTERM stops the watcher")
finally:
    o.cleanup()
finish()
