"""An inotify queue overflow makes the watcher rescan: no login is lost.

The kernel's queue limit is read when an inotify instance is created, so
the test lowers /proc/sys/fs/inotify/max_queued_events just while the
watcher starts (needs root), then stops the watcher with SIGSTOP while far
more logins arrive than its queue holds.
"""
import os
import signal
import sys

from osdtest import Osd, check, finish, wait_for

KNOB = "/proc/sys/fs/inotify/max_queued_events"
if not os.access(KNOB, os.W_OK):
    print("SKIP: %s is not writable (needs root)" % KNOB)
    sys.exit(77)

o = Osd(relay_expire="1h")
try:
    with open(KNOB) as f:
        saved = f.read().strip()
    try:
        with open(KNOB, "w") as f:
            f.write("16\n")
        w = o.start_watch()
    finally:
        with open(KNOB, "w") as f:
            f.write(saved + "\n")
    check(w.poll() is None, "watcher started with a 16-event queue")

    w.send_signal(signal.SIGSTOP)
    ips = ["10.77.%d.%d" % (i // 200, i % 200 + 1) for i in range(400)]
    for ip in ips:
        o.record(ip)
    w.send_signal(signal.SIGCONT)
    check(wait_for(lambda: "inotify queue overflowed" in o.log()), "the overflow is noticed and logged")
    check(wait_for(lambda: set(ips) <= set(o.cdb_keys())), "after the rescan all 400 logins are in relay.cdb")
    o.record("127.0.0.99")
    check(wait_for(lambda: "127.0.0.99" in o.cdb_keys()), "events are followed again after the overflow")
finally:
    o.cleanup()
finish()
