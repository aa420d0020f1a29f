#!/usr/bin/env python3
"""osd's rules compiler against Debian's tcprules, on random rule files.

Runs tests/fuzz/tcprules_diff.py for 500 seeded cases: every file is
compiled by osd's parser and CDB writer (tests/fuzz/rules2cdb) and by
tcprules (ucspi-tcp-ipv6); both must write byte-identical tables or both
refuse, apart from the differences docs/config.md lists, which the script
checks case by case. Then the disagreements found while writing it, as
fixed regression files, each byte-identical to tcprules' table.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import BUILD, check, finish, have  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DIFF = os.path.join(HERE, "..", "fuzz", "tcprules_diff.py")
RULES2CDB = os.path.join(BUILD, "tests", "fuzz", "rules2cdb")

# Found by the differential run (tcprules is the reference): both compile, same bytes.
REGRESSIONS = [
    "a@1.2.3.4-6:allow\n",          # '@': one key as written, no range
    "x=1.2.3.4-5:allow\n",          # '=' anywhere: one key as written
    "1.2.3.4:allow,=/v/\n",         # an empty variable name is kept
    "1.2:3.4-5:allow\n",            # ':' before a range is no error
    "-.a:deny\n",
]
# ...and both refuse.
REFUSED = ["1.2.3.4-5x:allow\n", "1.2.3.4--6:allow\n", "1.2.3.4:allow:deny\n"]

check(have("tcprules"), "tcprules is installed (Debian package ucspi-tcp-ipv6)")
check(os.path.exists(RULES2CDB), "rules2cdb is built (%s)" % RULES2CDB)

p = subprocess.run([sys.executable, DIFF, "--osd", RULES2CDB, "--cases", "500", "--seed", "2026"],
                   capture_output=True, text=True, timeout=500)
print(p.stdout + p.stderr)
check(p.returncode == 0, "500 random rule files: osd and tcprules agree")
same = sum(int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\s+same bytes", p.stdout, re.M))
check(same >= 100, "at least 100 of them compiled by both, byte for byte (%d)" % same)

with tempfile.TemporaryDirectory(prefix="osd-tcprules-reg.") as d:
    src = os.path.join(d, "rules")
    for text in REGRESSIONS + REFUSED:
        with open(src, "w") as f:
            f.write(text)
        mine = subprocess.run([RULES2CDB, src, os.path.join(d, "osd.cdb")], capture_output=True)
        theirs = subprocess.run(["tcprules", os.path.join(d, "tcp.cdb"), os.path.join(d, "tcp.tmp")],
                                input=text.encode(), capture_output=True, timeout=10)
        if text in REFUSED:
            check(mine.returncode != 0 and theirs.returncode != 0, "both refuse %r" % text)
            continue
        with open(os.path.join(d, "osd.cdb"), "rb") as a, open(os.path.join(d, "tcp.cdb"), "rb") as b:
            check(a.read() == b.read(), "%r: osd's table is tcprules' byte for byte" % text)
finish()
