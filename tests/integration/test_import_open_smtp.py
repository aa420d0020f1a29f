#!/usr/bin/env python3
"""osd import-open-smtp: migrate a vpopmail open-smtp file, keeping timestamps.

Good lines become open-smtp/ entries whose mtime is the line's time; lines
already older than relay_expire are skipped quietly; bad lines are reported
as 'osd: import-open-smtp: FILE:LINE: why (skipped)' and make the exit status
1; an older time never ages a newer entry; with osd watch running the
imported entries reach relay.cdb and osd check counts down from their real
login time (and the watcher expires them by that time, not the import's).
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import WAIT, Osd, check, finish, wait_for  # noqa: E402

EXPIRE = 3 * 3600
BAD_LINE = re.compile(r"^osd: import-open-smtp: (.*):(\d+): (.+) \(skipped\)$")
VPOP = b'%s:allow,RELAYCLIENT="",RBLSMTPD="" %d\n'


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def entries(o):
    try:
        return set(os.listdir(o.opensmtp))
    except FileNotFoundError:
        return set()


def mtime_ns(o, name):
    try:
        return os.stat(os.path.join(o.opensmtp, name)).st_mtime_ns
    except FileNotFoundError:
        return None


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def import_file(o, path):
    """osd import-open-smtp PATH: (exit code, stdout, stderr), bytes-safe."""
    p = o.run("import-open-smtp", path)
    return p.returncode, p.stdout, p.stderr


def main():
    # vpopmail's lines set RELAYCLIENT and RBLSMTPD; relay_env keeps both.
    o = Osd(relay_expire="3h", extra='relay_env = RELAYCLIENT="",RBLSMTPD=""\n')
    try:
        now = int(time.time())
        mixed = os.path.join(o.root, "open-smtp.vpopmail")
        good = {                        # file name -> expected mtime
            "127.0.0.21": now - 60,
            "127.0.0.22": now - 3600,
            "2001:db8::21": now - 600,  # written non-canonically below
            "127.0.0.27": now - 7200,
            "127.0.0.29": now - 120,
        }
        lines = [
            VPOP % (b"127.0.0.21", now - 60),                       # 1 good
            VPOP % (b"127.0.0.22", now - 3600),                     # 2 good
            VPOP % (b"2001:0db8:0:0::21", now - 600),               # 3 good, IPv6
            VPOP % (b"127.0.0.23", now - 4 * 3600),                 # 4 expired
            b'127.0.0.24:allow,RELAYCLIENT="",RBLSMTPD=""\n',       # 5 no timestamp
            VPOP % (b"mail.example.org", now - 60),                 # 6 not an address
            b"127.0.0.25:deny %d\n" % (now - 60),                   # 7 deny line
            b"\xff\xfe\x00garbage\x01\x02 %d\n" % (now - 60),       # 8 garbage with NUL
            b'\xc3\x28\xa0\xa1:allow,RELAYCLIENT="" %d\n' % (now - 60),  # 9 garbage
            None,                                                   # 10 overlong
            VPOP % (b"127.0.0.27", now - 7200),                     # 11 good after it
            VPOP % (b"256.1.2.3", now - 60),                        # 12 not an address
            b'127.0.0.28:allow,RELAYCLIENT="" %dabc\n' % (now - 60),  # 13 junk after time
            b'127.0.0.29:allow,RELAYCLIENT=""\t%d\n' % (now - 120),  # 14 good, tab
        ]
        head = b'127.0.0.26:allow,RELAYCLIENT="",RBLSMTPD="",PAD="'
        tail = b'" %d\n' % (now - 60)
        lines[9] = head + b"x" * (2000 - len(head) - len(tail)) + tail
        check(len(lines[9]) == 2000, "the overlong line is 2000 bytes")
        bad_numbers = {5, 6, 7, 8, 9, 10, 12, 13}
        write(mixed, b"".join(lines))

        rc, out, err = import_file(o, mixed)
        check(rc == 1, "a file with bad lines: exit 1 (got %d)" % rc)
        got = entries(o)
        check(got == set(good), "exactly the good, live lines became entries (%s)"
              % sorted(got))
        for name, ts in sorted(good.items()):
            check(mtime_ns(o, name) == ts * 10**9,
                  "%s has the line's time as mtime (%s, want %d)"
                  % (name, mtime_ns(o, name), ts))
        for name in ("127.0.0.23", "127.0.0.24", "127.0.0.25", "127.0.0.26",
                     "127.0.0.28", "2001:0db8:0:0::21"):
            check(not os.path.lexists(os.path.join(o.opensmtp, name)),
                  "no entry %s" % name)

        reported = {}
        other = []
        for line in err.splitlines():
            m = BAD_LINE.match(line)
            if m and m.group(1) == mixed:
                reported[int(m.group(2))] = m.group(3)
            else:
                other.append(line)
        check(set(reported) == bad_numbers,
              "stderr names each bad line by number: %s (want %s)"
              % (sorted(reported), sorted(bad_numbers)))
        check(4 not in reported, "the expired line is skipped, not reported as bad")
        check(other == [], "stderr holds nothing but the bad-line reports (%r)" % other)
        for n in sorted(reported):
            check(reported[n].strip() != "", "line %d: a reason is given (%s)"
                  % (n, reported[n]))
        summary = out.strip().splitlines()
        check(len(summary) == 1, "one summary line on stdout (%r)" % out)
        words = re.findall(r"\d+", out)
        check("5" in words and "8" in words,
              "the summary counts 5 imported and 8 bad lines (%r)" % out.strip())

        # Only good lines: exit 0 (an expired one is not an error).
        clean = os.path.join(o.root, "clean.vpopmail")
        write(clean, VPOP % (b"127.0.0.31", now - 30) + VPOP % (b"2001:db8::31", now - 90)
              + VPOP % (b"127.0.0.32", now - 5 * 3600))
        rc, out, err = import_file(o, clean)
        check(rc == 0, "a file with only good lines: exit 0 (got %d, %r)" % (rc, err))
        check(err == "", "nothing on stderr for a clean file (%r)" % err)
        check(mtime_ns(o, "127.0.0.31") == (now - 30) * 10**9, "127.0.0.31 imported")
        check(mtime_ns(o, "2001:db8::31") == (now - 90) * 10**9, "2001:db8::31 imported")
        check(mtime_ns(o, "127.0.0.32") is None, "127.0.0.32 (expired) skipped")

        # An older time never ages a newer entry; a newer one refreshes it.
        p = o.record("127.0.0.33")
        check(p.returncode == 0, "osd record 127.0.0.33")
        recorded = mtime_ns(o, "127.0.0.33")
        again = os.path.join(o.root, "again.vpopmail")
        write(again, VPOP % (b"127.0.0.21", now - 1800) + VPOP % (b"127.0.0.22", now - 30)
              + VPOP % (b"127.0.0.33", now - 600))
        rc, out, err = import_file(o, again)
        check(rc == 0, "re-import: exit 0 (got %d, %r)" % (rc, err))
        check(mtime_ns(o, "127.0.0.21") == (now - 60) * 10**9,
              "importing an older time over 127.0.0.21 keeps its newer mtime")
        check(mtime_ns(o, "127.0.0.33") == recorded,
              "importing an older time over a fresh login keeps the login's mtime")
        check(mtime_ns(o, "127.0.0.22") == (now - 30) * 10**9,
              "importing a newer time over 127.0.0.22 moves its mtime forward")

        # With the watcher running.
        o.start_watch()
        keys = o.cdb_keys()
        check(all(k in keys for k in ("127.0.0.21", "127.0.0.27", "2001:db8::21")),
              "entries imported before the watcher started are in relay.cdb")
        now = int(time.time())
        live = {
            "127.0.0.41": now - 60,
            "127.0.0.42": now - 5400,
            "2001:db8::41": now - 300,
        }
        # A login just short of relay_expire: the watcher must expire it by
        # its imported time, not by the moment the file was created.
        soon = ("127.0.0.43", now - (EXPIRE - 10))
        watched = os.path.join(o.root, "watched.vpopmail")
        write(watched, b"".join(VPOP % (a.encode(), t) for a, t in live.items())
              + VPOP % (soon[0].encode(), soon[1]))
        rc, out, err = import_file(o, watched)
        check(rc == 0, "import while osd watch runs: exit 0 (got %d, %r)" % (rc, err))
        check(wait_for(lambda: all(k in o.cdb_keys() for k in live)),
              "imported entries appear in relay.cdb (%s)" % o.cdb_keys())
        for addr, ts in sorted(live.items()):
            rc, f = o.check_ip(addr)
            want = ts + EXPIRE - time.time()
            try:
                left = int(f.get("expires_in", "x").split()[0])
            except ValueError:
                left = None
            check(rc == 0 and f.get("decision") == "relay",
                  "osd check %s: relay (exit %d)" % (addr, rc))
            check(f.get("source") == "dynamic", "osd check %s: source dynamic" % addr)
            check(f.get("login") == iso(ts), "osd check %s: login %s (want %s)"
                  % (addr, f.get("login"), iso(ts)))
            check(left is not None and abs(left - want) <= 5,
                  "osd check %s: expires_in %s, about relay_expire - age = %d"
                  % (addr, f.get("expires_in"), want))
        rc, f = o.check_ip("127.0.0.23")
        check(rc == 1 and f.get("source") != "dynamic",
              "osd check 127.0.0.23 (expired line): no relay (%s)" % f.get("decision"))

        check(wait_for(lambda: soon[0] not in o.cdb_keys()
                       and mtime_ns(o, soon[0]) is None, timeout=WAIT + 10),
              "the watcher expires %s by its imported time" % soon[0])
        check(all(k in o.cdb_keys() for k in live),
              "the other imported entries stay in relay.cdb")
    finally:
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
