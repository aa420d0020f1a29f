"""Logins at the very instant osd watch expires them are never lost: folder and relay.cdb keep them; osd expire too."""
import os
import re
import subprocess

from osdtest import BUILD, Osd, check, finish, wait_for

RACE = os.path.join(BUILD, "tests", "integration", "recordrace")


def folder_entries(o):
    return sorted(n for n in os.listdir(o.opensmtp) if not n.startswith("."))


def dynamic_keys(o):
    """The open-smtp entries relay.cdb holds (the rules file is empty)."""
    return sorted(o.cdb_keys())


o = Osd(relay_expire="1h")
try:
    watch = o.start_watch()
    check(watch.poll() is None, "osd watch runs")

    # recordrace sets entries to their expiry boundary (the watcher expires
    # them at once) while its threads record the same addresses, round after
    # round, and checks after each round that every recorded login is in the
    # folder, then that the last round's are in relay.cdb (see recordrace.c).
    p = subprocess.run([RACE, o.opensmtp, o.cdb, "3600", "3"], capture_output=True, text=True,
                       timeout=120)
    print(p.stdout + p.stderr, end="")
    m = re.search(r"rounds (\d+) recorded (\d+) lost (\d+) stale (\d+) expired (\d+) kept (\d+) "
                  r"errors (\d+)", p.stdout)
    check(m is not None, "recordrace ran its rounds")
    rounds, recorded, lost, stale, expired, kept, errors = (int(x) for x in m.groups())
    check(p.returncode == 0 and lost == 0 and stale == 0 and errors == 0,
          "no login recorded at the instant of its expiry was lost (%d of %d logins, %d rounds)"
          % (lost, recorded, rounds))
    check(expired > 0 and kept > 0,
          "the watcher expired entries under the logins (%d) and kept refreshed ones (%d)"
          % (expired, kept))
    check(re.search(r"expired 192\.0\.2\.", o.log()) is not None, "the watcher logged expiries")

    last = p.stdout.split("recorded", 2)[-1].split()
    check(len(last) > 0, "the last round recorded addresses: %s" % " ".join(last))
    # The watcher settles: relay.cdb holds exactly the folder's entries.
    check(wait_for(lambda: dynamic_keys(o) == folder_entries(o)),
          "relay.cdb and the folder agree once the watcher is idle")
    for ip in last:
        check(ip in folder_entries(o) and ip in dynamic_keys(o),
              "%s (recorded in the last round) is in the folder and relay.cdb" % ip)
    check(not [n for n in os.listdir(o.opensmtp) if n.startswith(".osd-expire.")],
          "no renamed-aside file is left")
    check(o.stop(watch) == 0, "the watcher stops with status 0")

    # osd expire rebuilds the table from the folder: the same entries.
    q = o.run("expire", "-v")
    check(q.returncode == 0, "osd expire exits 0")
    for ip in last:
        check(ip in folder_entries(o) and ip in dynamic_keys(o),
              "%s is still in the folder and relay.cdb after osd expire" % ip)
        rc, _ = o.check_ip(ip)
        check(rc == 0, "osd check %s: may relay" % ip)
finally:
    o.cleanup()
finish()
