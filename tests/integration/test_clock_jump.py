#!/usr/bin/env python3
"""Wall-clock steps do not stretch or cut relay entries (issue 15).

osd watch runs under libfaketime (Debian's faketime) with its CLOCK_REALTIME
read from a file the test rewrites (a step backwards, then forwards), while
its monotonic clocks stay true (FAKETIME_DONT_FAKE_MONOTONIC).  relay_expire
is 20 s.  Logins are recorded as the stepped clock would stamp them (the
file's mtime is the clock of the moment).

- Entry A, recorded before a 300 s step backwards (and a SIGHUP rescan
  after it), leaves relay.cdb within relay_expire (+ a margin for a loaded
  machine) of monotonic time, not 300 s later; and not before relay_expire.
- Entry B, recorded after the step (its mtime 300 s behind the old clock),
  is not expired early by more than the step: it is still in relay.cdb
  half its life later, and leaves within relay_expire + the margin.
- Entry C, recorded before a 10 s step forwards, is not expired earlier
  than relay_expire minus the step, and leaves within relay_expire + the margin.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import OSD, Osd, check, finish, wait_for  # noqa: E402

EXPIRE = 20
BACK = 300
FORWARD = 10
MARGIN = 10          # a loaded machine may take this long to notice and rewrite
LIBS = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1"]


def lifetimes(o, born, until):
    """For each ip of born (ip: monotonic birth): seconds until it left relay.cdb, polled
    together; None for one still there at until."""
    gone = {}
    while time.monotonic() < until and len(gone) < len(born):
        keys = o.cdb_keys()
        now = time.monotonic()
        for ip, t in born.items():
            if ip not in gone and ip not in keys:
                gone[ip] = round(now - t, 1)
        time.sleep(0.2)
    return {ip: gone.get(ip) for ip in born}


def stamp(o, ip, offset):
    """A login on a clock offset seconds from the true one: the entry's mtime says so."""
    path = os.path.join(o.opensmtp, ip)
    with open(path, "w"):
        pass
    t = time.time() + offset
    os.utime(path, (t, t))


def main():
    lib = next((p for p in LIBS if os.path.exists(p)), None)
    if not check(lib is not None, "libfaketime is installed (faketime, scripts/install-deps.sh)"):
        finish()
    o = Osd(relay_expire="%d" % EXPIRE)
    clock = os.path.join(o.root, "faketime")
    try:
        with open(clock, "w") as f:
            f.write("+0\n")
        # An ASan build wants its runtime first among the preloads; libfaketime
        # before it does no harm to what ASan checks.
        asan = ":".join(x for x in (os.environ.get("ASAN_OPTIONS", ""),
                                    "verify_asan_link_order=0") if x)
        env = dict(os.environ, LD_PRELOAD=lib, FAKETIME_TIMESTAMP_FILE=clock,
                   FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1", ASAN_OPTIONS=asan)
        log = open(os.path.join(o.root, "watch.log"), "ab")
        w = subprocess.Popen([OSD, "watch", "-c", o.conf], stdout=log, stderr=subprocess.STDOUT,
                             env=env)
        o.procs.append(w)
        if not check(wait_for(lambda: "watching" in o.log("watch") or w.poll() is not None)
                     and w.poll() is None,
                     "osd watch runs under libfaketime (%s)" % o.log("watch")[-300:]):
            return

        def step(offset):
            with open(clock, "w") as f:
                f.write("%+d\n" % offset)

        # A before the backward step.
        t_a = time.monotonic()
        check(o.record("127.0.0.10").returncode == 0, "osd record 127.0.0.10 (A)")
        check(wait_for(lambda: "127.0.0.10" in o.cdb_keys()), "A is in relay.cdb")
        step(-BACK)
        w.send_signal(signal.SIGHUP)    # a rescan on the stepped clock must not revive A's time
        # B after it, stamped by the stepped clock.
        t_b = time.monotonic()
        stamp(o, "127.0.0.11", -BACK)
        check(wait_for(lambda: "127.0.0.11" in o.cdb_keys()), "B is in relay.cdb")
        life = lifetimes(o, {"127.0.0.10": t_a, "127.0.0.11": t_b}, t_b + EXPIRE + MARGIN)
        life_a, life_b = life["127.0.0.10"], life["127.0.0.11"]
        check(life_a is not None,
              "A (recorded before a %d s step back) left relay.cdb within relay_expire %d s + %d s "
              "of monotonic time (after %s s)" % (BACK, EXPIRE, MARGIN, life_a))
        check(life_a is None or life_a >= EXPIRE - 1, "A was not expired early (after %s s)" % life_a)
        check(life_b is not None and life_b >= EXPIRE - 1,
              "B (recorded after the step) lived its relay_expire on the monotonic clock, "
              "no less, and at most %d s more (after %s s)" % (MARGIN, life_b))

        # C before a forward step.
        t_c = time.monotonic()
        stamp(o, "127.0.0.12", -BACK)
        check(wait_for(lambda: "127.0.0.12" in o.cdb_keys()), "C is in relay.cdb")
        step(-BACK + FORWARD)
        life_c = lifetimes(o, {"127.0.0.12": t_c}, t_c + EXPIRE + MARGIN)["127.0.0.12"]
        check(life_c is not None and life_c >= EXPIRE - FORWARD - 1,
              "C (recorded before a %d s step forward) lived at least relay_expire - the step "
              "and at most relay_expire + %d s (after %s s)" % (FORWARD, MARGIN, life_c))
        print("info - lifetimes on the monotonic clock: A %s s, B %s s, C %s s (relay_expire %d s)"
              % (life_a, life_b, life_c, EXPIRE))
        check(o.stop(w) == 0, "osd watch stops cleanly")
    finally:
        o.cleanup()


if __name__ == "__main__":
    main()
    finish()
