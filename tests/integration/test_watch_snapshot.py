#!/usr/bin/env python3
"""test_watch_snapshot - a cold start from state_dir/relay.snap trusts the folder, not the snapshot.

The watcher saves relay.snap when it stops.  While it is down: entry B is
deleted, C is replaced by a file that expired long ago (another inode), A
gets a new login, D is new.  At the next start the mtimes come from the
snapshot (its log says so), yet relay.cdb holds A and D only: B is not
revived, C is read, expired and removed.  Then the watcher reads the
snapshot's entries again and finds A's later login.  A damaged snapshot is
ignored (every file read), and osd watch -1 / osd expire use and write it too.
"""
import os
import re
import time

from osdtest import Osd, check, finish, wait_for

o = Osd(relay_expire="1h")
try:
    snap = os.path.join(o.state, "relay.snap")
    p = o.start_watch()
    for ip in ("127.0.4.1", "127.0.4.2", "127.0.4.3"):
        check(o.record(ip).returncode == 0, "record %s" % ip)
    check(wait_for(lambda: {"127.0.4.1", "127.0.4.2", "127.0.4.3"} <= set(o.cdb_keys())),
          "A, B and C reach relay.cdb")
    check(o.stop(p) == 0, "SIGTERM stops the watcher")
    check(os.path.getsize(snap) > 0, "the watcher saved relay.snap when it stopped")

    # While it is down.
    a = os.path.join(o.opensmtp, "127.0.4.1")
    old_a = os.stat(a).st_mtime
    time.sleep(0.05)
    os.unlink(os.path.join(o.opensmtp, "127.0.4.2"))
    c_new = os.path.join(o.opensmtp, ".new-c")
    with open(c_new, "w"):
        pass
    os.utime(c_new, (time.time() - 7200, time.time() - 7200))
    os.rename(c_new, os.path.join(o.opensmtp, "127.0.4.3"))
    check(o.record("127.0.4.1").returncode == 0, "a new login of A while the watcher is down")
    check(os.stat(a).st_mtime > old_a, "A's mtime moved on")
    check(o.record("127.0.4.4").returncode == 0, "record D while the watcher is down")

    seen = len(o.log("watch"))
    p = o.start_watch()
    log = o.log("watch")[seen:]
    check("mtimes from the snapshot" in log, "the start-up scan took mtimes from the snapshot")
    keys = set(o.cdb_keys())
    check("127.0.4.1" in keys and "127.0.4.4" in keys, "A and D are in relay.cdb")
    check("127.0.4.2" not in keys, "B, deleted while down, is not revived by the snapshot")
    check("127.0.4.3" not in keys and not os.path.exists(os.path.join(o.opensmtp, "127.0.4.3")),
          "C, replaced by an expired file, is read, expired and removed")
    check(re.search(r"scan: 2 live, 1 expired", log) is not None, "the start-up scan counts C as expired")
    check(wait_for(lambda: "entries read again" in o.log("watch")[seen:]),
          "the watcher reads the snapshot's entries again after start")
    m = re.search(r"snapshot: (\d+) entries read again, (\d+) had a later login", o.log("watch")[seen:])
    check(m is not None and m.group(1) == "1" and m.group(2) == "1",
          "one entry came from the snapshot, A, and it had a later login (%s)"
          % (m.group(0) if m else None))
    check(o.stop(p) == 0, "SIGTERM stops the watcher again")

    # A damaged snapshot is ignored: every file is read.
    with open(snap, "r+b") as f:
        f.seek(30)
        b = f.read(1)
        f.seek(30)
        f.write(bytes([b[0] ^ 0xff]))
    seen = len(o.log("watch"))
    p = o.start_watch()
    log = o.log("watch")[seen:]
    check("mtimes from the snapshot" not in log, "a damaged snapshot is not used")
    check({"127.0.4.1", "127.0.4.4"} <= set(o.cdb_keys()), "the table is whole without it")
    check(o.stop(p) == 0, "SIGTERM stops the watcher")

    # osd watch -1 and osd expire: the same.
    os.unlink(snap)
    r = o.run("watch", "-1", "-v")
    check(r.returncode == 0 and os.path.exists(snap), "osd watch -1 writes relay.snap")
    os.unlink(os.path.join(o.opensmtp, "127.0.4.4"))
    r = o.run("expire", "-v")
    check(r.returncode == 0, "osd expire runs from the snapshot")
    keys = set(o.cdb_keys())
    check("127.0.4.1" in keys and "127.0.4.4" not in keys,
          "osd expire: a deleted entry is not revived by the snapshot")
finally:
    o.cleanup()
finish()
