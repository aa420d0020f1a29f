#!/usr/bin/env python3
"""Dovecot's imaptest compliance tests against osd imapd (scripts/imaptest.sh).

Each test group runs on a fresh osd imapd. The groups that pass today
(PASSING) must keep passing and no session may crash in them; the groups
that fail today are listed in docs/imap.md with why. imaptest is built once
into a cache folder from ../shared/tools/imaptest (scripts/install-deps.sh
installs dovecot-dev and the autotools it needs); where it cannot be built
the test FAILS: a skip would hide a missing install step.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import check, finish  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("OSD_BUILD", os.path.join(TOP, "build"))
CACHE = os.environ.get("IMAPTEST_CACHE", os.path.expanduser("~/.cache/osd-imaptest"))
SRC = os.environ.get("IMAPTEST_SRC", os.path.join(TOP, "..", "shared", "tools", "imaptest",
                                                 "imaptest-0de0dbf.tar.gz"))

# Groups that run commands and pass (scripts/imaptest.sh; docs/imap.md): all that run.
PASSING = """append atoms broken close copy esearch esearch-condstore expunge expunge2 fetch fetch-body
fetch-body-message-rfc822 fetch-body-message-rfc822-mime fetch-body-message-rfc822-x2
fetch-body-mime fetch-bodystructure fetch-envelope id list listext logout move mutf7 nil
pipeline search-addresses search-body search-date search-flags search-header search-sets
search-size select store subscribe uidplus uidvalidity uidvalidity-rename""".split()


def main():
    have = os.access(os.path.join(CACHE, "bin", "imaptest"), os.X_OK)
    check(have or os.path.exists(SRC),
          "imaptest is built in %s or its source %s is there to build it" % (CACHE, SRC))
    if not have and not os.path.exists(SRC):
        finish()
    p = subprocess.run([os.path.join(TOP, "scripts", "imaptest.sh"), BUILD],
                       capture_output=True, text=True, timeout=1800)
    lines = p.stdout.splitlines()
    status = {}
    for line in lines:
        word, _, name = line.partition(" ")
        if word in ("PASS", "FAIL", "SKIP"):
            status[name.strip()] = word
    crashed = [ln for ln in lines if ln.startswith("CRASH ")]
    summary = [ln for ln in lines if ln.startswith(("--- imaptest.sh", "base protocol", "extensions"))]
    print("\n".join(summary))
    check(len(status) >= 70, "imaptest ran its test groups (%d; stderr %s)"
          % (len(status), p.stderr.strip()[-300:]))
    for g in PASSING:
        check(status.get(g) == "PASS", "imaptest group %s passes (%s)" % (g, status.get(g)))
    for ln in crashed:
        g = ln.split()[1].rstrip(":")
        check(g not in PASSING, "no session crashes in the passing group %s (%s)" % (g, ln))
    finish()


if __name__ == "__main__":
    main()
