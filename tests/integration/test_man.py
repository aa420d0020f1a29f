#!/usr/bin/env python3
"""test_man - the man pages built from docs/man/*.scd render cleanly and are complete.

Each page renders with man -l and groff's warnings on (man --warnings) without
a single warning; osd.conf(5) has an entry for every key of lib/config/conf.c's
table (a new key without a line in docs/config.md's table fails here), and
osd(8) one for every command of osd/main.c's table.  scdoc and man are
required (scripts/install-deps.sh): without them this test fails.
"""
import os
import re
import shutil
import subprocess

from osdtest import BUILD, check, finish

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
PAGES = ["osd.8", "osd.conf.5", "osd-watch.8", "osd-pop3d.8", "osd-imapd.8", "osd-smtpd.8",
         "osd-queue.8", "osd-policyd.8", "osd-metrics.8"]


def render(path, width=80):
    env = dict(os.environ, MANWIDTH=str(width), LC_ALL="C.UTF-8")
    return subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True, env=env)


def entries(text):
    """The heading lines of a rendered page's tagged paragraphs (indented 7 columns)."""
    return [line.strip() for line in text.splitlines() if re.match(r"^ {7}\S", line)]


def table(path, start, pattern):
    text = open(os.path.join(SRC, path)).read()
    text = text[text.index(start):]
    return re.findall(pattern, text[:text.index("};")])


def main():
    check(shutil.which("scdoc") is not None, "scdoc is installed")
    check(shutil.which("man") is not None, "man (man-db) is installed")
    rendered = {}
    for page in PAGES:
        path = os.path.join(BUILD, "docs", "man", page)
        if not check(os.path.isfile(path), "%s is built" % page):
            continue
        r = render(path)
        rendered[page] = r.stdout
        check(r.returncode == 0 and r.stderr == "" and len(r.stdout) > 500,
              "%s renders without warnings (rc %d) %s" % (page, r.returncode, r.stderr.strip()[:500]))
        name = page.rsplit(".", 1)[0]
        check(re.search(r"^NAME\n\s+%s - \S" % re.escape(name), r.stdout, re.M),
              "%s: NAME says what it is" % page)

    keys = table("lib/config/conf.c", "conf_keys[] = {", r"FIELD(?:_MAX)?\((\w+),")
    check(len(keys) >= 60, "conf.c's key table read (%d keys)" % len(keys))
    heads = [re.split(r",\s*", h) for h in entries(rendered.get("osd.conf.5", ""))]
    words = {w for h in heads for w in h}
    missing = [k for k in keys if k not in words]
    check(not missing, "osd.conf(5) has an entry for every key of conf.c (missing: %s)" % missing)

    cmds = table("osd/main.c", "commands[] = {", r'\{ "([a-z0-9-]+)", "')
    check(len(cmds) >= 18, "osd/main.c's command table read (%d commands)" % len(cmds))
    firsts = {h.split()[0] for h in entries(rendered.get("osd.8", "")) if h.split()}
    missing = [c for c in cmds if c not in firsts]
    check(not missing, "osd(8) has an entry for every command of osd/main.c (missing: %s)" % missing)
    finish()


main()
