#!/usr/bin/env python3
"""config-keys.py - osd.conf(5)'s KEYS section, in scdoc, from docs/config.md's key table.

Usage: config-keys.py TEMPLATE.scd CONFIG.md > osd.conf.5.scd
The template's line "@KEYS@" becomes one entry per row of the table under
"| key | default | meaning |", so a key documented in config.md is in the man
page too (tests/integration/test_man.py checks both against lib/config/conf.c).
"""
import re
import sys


def cells(row):
    """The cells of a markdown table row; a '|' inside `code` is not a separator."""
    out, cur, code = [], "", False
    for ch in row.strip().strip("|"):
        if ch == "`":
            code = not code
        if ch == "|" and not code:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def scd(text):
    """Markdown inline text as scdoc: `code` bold, [text](link) as text, specials escaped."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    parts = re.split(r"(`[^`]*`)", text)
    res = []
    for p in parts:
        code = p.startswith("`") and p.endswith("`") and len(p) >= 2
        if code:
            p = p[1:-1]
        p = p.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")
        if code and p.strip():
            p = "*" + p + "*"
        res.append(p)
    return "".join(res)


def main():
    template, config = sys.argv[1], sys.argv[2]
    lines = open(config, encoding="utf-8").read().splitlines()
    start = lines.index("| key | default | meaning |") + 2
    entries = []
    for row in lines[start:]:
        if not row.startswith("|"):
            break
        key, default, meaning = cells(row)[:3]
        meaning = scd(meaning)
        # One key a line ("++" breaks the line): a list of keys wrapped at 80
        # columns would hyphenate a key.
        key = ",++\n".join(scd(k.strip()) for k in key.split(","))
        entries.append("%s\n\t%s%s.\n\n\tDefault: %s.\n" % (key, meaning[:1].upper(), meaning[1:],
                                                          scd(default)))
    out = open(template, encoding="utf-8").read().replace("@KEYS@\n", "\n".join(entries))
    sys.stdout.write(out)


main()
