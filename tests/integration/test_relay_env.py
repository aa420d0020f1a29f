#!/usr/bin/env python3
"""relay_env: the variables a logged-in address gets (issue 9.5), with Debian's tools.

With relay_env = RELAYCLIENT="",RBLSMTPD="" (vpopmail's value) a recorded
login's record in relay.cdb is byte for byte what tcprules writes for
'ADDR:allow,RELAYCLIENT="",RBLSMTPD=""'; tcprulescheck shows both
variables; a real tcpserver -x relay.cdb gives both to the logged-in
client (so rblsmtpd lets it through) and neither to another; osd check
shows them.  osd import-open-smtp keeps a vpopmail file's RBLSMTPD: with
the default relay_env it imports nothing and names the relay_env to set;
with vpopmail's relay_env it imports.  A relay_env without RELAYCLIENT or
with bad syntax is a config error naming file, line and key.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, check, finish, tcpserver_env  # noqa: E402

VPOP_ENV = 'RELAYCLIENT="",RBLSMTPD=""'


def cdb_records(path):
    """(key, value) pairs of a cdb file, as Debian's cdb -d dumps them, in order."""
    out = subprocess.run(["cdb", "-d", path], capture_output=True).stdout
    recs, pos = [], 0
    while pos < len(out) and out[pos:pos + 1] == b"+":
        head_end = out.index(b":", pos)
        klen, vlen = (int(x) for x in out[pos + 1:head_end].split(b","))
        key = out[head_end + 1:head_end + 1 + klen]
        val = out[head_end + 1 + klen + 2:head_end + 1 + klen + 2 + vlen]
        recs.append((key, val))
        pos = head_end + 1 + klen + 2 + vlen + 1
    return recs


def main():
    o = Osd(extra="relay_env = %s\n" % VPOP_ENV)
    try:
        check(o.record("127.0.0.41").returncode == 0, "osd record 127.0.0.41")
        p = o.run("expire")
        check(p.returncode == 0, "osd expire writes relay.cdb (%s)" % p.stderr.strip())
        ref = os.path.join(o.root, "ref.cdb")
        t = subprocess.run(["tcprules", ref, ref + ".tmp"],
                           input=('127.0.0.41:allow,%s\n' % VPOP_ENV).encode(), capture_output=True)
        check(t.returncode == 0, "tcprules compiles the same rule")
        with open(o.cdb, "rb") as a, open(ref, "rb") as b:
            mine, theirs = a.read(), b.read()
        check(mine == theirs, "relay.cdb is byte for byte tcprules' table (%r vs %r)"
              % (cdb_records(o.cdb), cdb_records(ref)))
        env = {"PATH": "/usr/bin:/bin", "TCPREMOTEIP": "127.0.0.41"}
        rc = subprocess.run(["tcprulescheck", o.cdb], env=env, capture_output=True, text=True)
        check("set environment variable RBLSMTPD=" in rc.stdout and
              "set environment variable RELAYCLIENT=" in rc.stdout,
              "tcprulescheck: RELAYCLIENT and RBLSMTPD for 127.0.0.41 (%r)" % rc.stdout)
        got = tcpserver_env(o.cdb, "127.0.0.1", ["127.0.0.41", "127.0.0.42"])
        if check(got is not None, "tcpserver -x relay.cdb runs"):
            e = got["127.0.0.41"]
            check(e.get("RELAYCLIENT") == "" and e.get("RBLSMTPD") == "",
                  "tcpserver gives the logged-in 127.0.0.41 RELAYCLIENT and RBLSMTPD (%r)"
                  % {k: v for k, v in e.items() if k.startswith(("RELAY", "RBL"))})
            e = got["127.0.0.42"]
            check("RELAYCLIENT" not in e and "RBLSMTPD" not in e,
                  "and 127.0.0.42 neither")
        p = o.run("check", "127.0.0.41")
        check(p.returncode == 0 and 'env: RBLSMTPD=""' in p.stdout and
              'env: RELAYCLIENT=""' in p.stdout, "osd check shows both (%r)" % p.stdout)
    finally:
        o.cleanup()

    # The import keeps a vpopmail file's variables, or imports nothing.
    now = int(time.time())
    o = Osd()
    try:
        f = os.path.join(o.root, "open-smtp")
        with open(f, "w") as fp:
            fp.write('127.0.0.43:allow,%s %d\n127.0.0.44:allow,%s %d\n'
                     % (VPOP_ENV, now - 60, VPOP_ENV, now - 60))
        p = o.run("import-open-smtp", f)
        check(p.returncode == 1 and "relay_env" in p.stderr and VPOP_ENV in p.stderr and
              "nothing imported" in p.stderr,
              "default relay_env: the import refuses and names the relay_env to set (%d %r)"
              % (p.returncode, p.stderr))
        check(not os.path.isdir(o.opensmtp) or os.listdir(o.opensmtp) == [],
              "and imports nothing")
        o.write_conf("3h", "relay_env = %s\n" % VPOP_ENV)
        p = o.run("import-open-smtp", f)
        check(p.returncode == 0 and sorted(os.listdir(o.opensmtp)) == ["127.0.0.43", "127.0.0.44"],
              "with vpopmail's relay_env both lines are imported (%d %r)" % (p.returncode, p.stderr))
        check(o.run("expire").returncode == 0, "osd expire")
        got = tcpserver_env(o.cdb, "127.0.0.1", ["127.0.0.43"])
        check(got is not None and got["127.0.0.43"].get("RBLSMTPD") == "",
              "tcpserver gives the imported 127.0.0.43 RBLSMTPD")

        # Config errors name file, line and key.
        o.write_conf("3h", "relay_env = RBLSMTPD=\"\"\n")
        p = o.run("check", "127.0.0.43")
        check(p.returncode != 0 and "osd.conf:5: relay_env: must set RELAYCLIENT" in p.stderr,
              "relay_env without RELAYCLIENT: file:line: key error (%r)" % p.stderr)
        o.write_conf("3h", "relay_env = RELAYCLIENT=\"\n")
        p = o.run("check", "127.0.0.43")
        check(p.returncode != 0 and "osd.conf:5: relay_env: bad variables" in p.stderr,
              "unterminated value: file:line: key error (%r)" % p.stderr)
    finally:
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
