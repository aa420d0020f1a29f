#!/usr/bin/env python3
"""A power cut under osd watch (fsync = yes): relay.cdb never comes back with an entry
that a rewrite had taken out.

osd watch puts each new relay.cdb in place by exchanging names (no rename over the
old file, which ext4 would write to disk at once) and makes it durable only when it
lacks a record the last one had (docs/config.md, "fsync"). state_dir is an ext4 on a
loop device (as test_state_faults): 127.0.0.2 and .3 log in, .3 is revoked (a durable
rewrite), .4 logs in (a rewrite that only adds), then EXT4_IOC_SHUTDOWN without a log
flush stands for the power cut. After e2fsck and a remount, before any osd runs:
relay.cdb must not let .3 relay (an older table, a newer one or none at all are all
allowed, but a table is whole or absent: no torn file). Then osd watch starts and
writes the table whole again from the folder. Runs in a mount namespace of its own.

First, with no watcher running (its durable rewrite would sync the folder as a side
effect): 127.0.0.5 logs in and reaches the disk, osd revoke removes it, a power cut:
the revoked entry must not be back in open-smtp/ (osd revoke makes its removal durable
before it says "revoked").
"""
import fcntl
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, check, finish, wait_for  # noqa: E402
from test_state_faults import (EXT4_GOING_FLAGS_NOLOGFLUSH, EXT4_IOC_SHUTDOWN, LoopFs,  # noqa: E402
                               own_mount_namespace, sh)


def table_state(o):
    """('none' | 'empty' | 'whole' | 'torn', keys): what relay.cdb is, as Debian's cdb reads it."""
    if not os.path.exists(o.cdb):
        return "none", []
    if os.path.getsize(o.cdb) == 0:
        return "empty", []
    p = subprocess.run(["cdb", "-d", o.cdb], capture_output=True)
    return ("whole" if p.returncode == 0 else "torn"), o.cdb_keys()


def power_cut(o, fs):
    """EXT4_IOC_SHUTDOWN without a log flush (what was not committed is lost), every osd
    stopped, e2fsck, mounted again; False when it is not mounted again."""
    fd = os.open(o.state, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, EXT4_IOC_SHUTDOWN, struct.pack("I", EXT4_GOING_FLAGS_NOLOGFLUSH))
    finally:
        os.close(fd)
    for p in o.procs:
        o.stop(p)
    check(fs.umount(), "the file system is unmounted (%s)" % fs.why)
    rc, out = sh("e2fsck", "-fy", fs.dev)
    check(rc in (0, 1), "e2fsck (rc %d: %s)" % (rc, out[-300:]))
    return check(fs.mount(), "mounted again (%s)" % fs.why)


def revoke_alone_is_durable(o, fs):
    """osd revoke with no watcher running (whose rewrite would sync the folder too): once
    it has said "revoked", a power cut does not bring the entry back."""
    check(o.record("127.0.0.5").returncode == 0, "osd record 127.0.0.5 (no watcher)")
    os.sync()   # the login is on disk: only the revoke's own step is under test
    r = o.run("revoke", "127.0.0.5")
    check(r.returncode == 0, "osd revoke 127.0.0.5 (%r)" % (r.stdout + r.stderr))
    if not power_cut(o, fs):
        return False
    check(not os.path.exists(os.path.join(o.opensmtp, "127.0.0.5")),
          "after the cut the revoked 127.0.0.5 is not back in open-smtp/ (%r)"
          % sorted(os.listdir(o.opensmtp)))
    return True


def main():
    own_mount_namespace(__file__)
    o = Osd(relay_expire="3h")
    fs = LoopFs(o.root, o.state)
    try:
        if fs.dev is None:
            check(False, "a loop device is made (%s)" % fs.why)
            return
        if not check(fs.mount(), "ext4 on %s mounted on state_dir (%s)" % (fs.dev, fs.why)):
            return
        o.write_conf("3h", "fsync = yes\n")
        if not revoke_alone_is_durable(o, fs):
            return
        o.start_watch()
        for ip in ("127.0.0.2", "127.0.0.3"):
            check(o.record(ip).returncode == 0, "osd record %s" % ip)
        check(wait_for(lambda: {"127.0.0.2", "127.0.0.3"} <= set(o.cdb_keys())),
              "both logins reach relay.cdb (%r)" % o.cdb_keys())
        check(o.run("revoke", "127.0.0.3").returncode == 0, "osd revoke 127.0.0.3")
        check(wait_for(lambda: "127.0.0.3" not in o.cdb_keys()),
              "the revoke reaches relay.cdb (%r)" % o.cdb_keys())
        check(o.record("127.0.0.4").returncode == 0, "osd record 127.0.0.4")
        check(wait_for(lambda: "127.0.0.4" in o.cdb_keys()),
              "the later login reaches relay.cdb (%r)" % o.cdb_keys())

        if not power_cut(o, fs):
            return

        kind, keys = table_state(o)
        check(kind != "torn", "after the cut relay.cdb is whole, empty or absent, never torn "
              "(%s, %r)" % (kind, keys))
        check("127.0.0.3" not in keys,
              "after the cut relay.cdb does not bring back the revoked 127.0.0.3 (%s, %r)"
              % (kind, keys))
        check(kind != "whole" or "127.0.0.2" in keys,
              "a whole relay.cdb after the cut holds 127.0.0.2, which every table since its "
              "login had (%r)" % keys)

        o.start_watch()
        kind, keys = table_state(o)
        on_disk = sorted(n for n in os.listdir(o.opensmtp) if n.startswith("127."))
        check(kind == "whole" and sorted(k for k in keys if k.startswith("127.")) == on_disk,
              "osd watch writes relay.cdb whole again from the folder at start (%s, %r; "
              "folder %r)" % (kind, keys, on_disk))
        check("127.0.0.2" in keys and "127.0.0.3" not in keys,
              "... with 127.0.0.2 and without the revoked 127.0.0.3 (%r)" % keys)
    finally:
        for p in o.procs:
            o.stop(p)
        fs.remove()
        o.cleanup()


if __name__ == "__main__":
    main()
    finish()
