#!/usr/bin/env python3
"""Differential check: osd's rules compiler against Debian's tcprules.

Writes random rule files (seeded, bounded: at most --max-lines lines of at
most about 100 bytes) and compiles each with osd (rules2cdb: lib/relay's
parser and CDB writer) and with tcprules (ucspi-tcp-ipv6, the reference for
the format). They agree when both write byte-identical CDB files, or both
refuse. osd refuses on purpose, with the line, what tcprules silently skips
(a line with no ADDRESS:allow or ADDRESS:deny), hangs on (an instruction
without '='), or turns into a key no client can have (a line starting with
white space): docs/config.md. Such a refusal is checked to be one of those
and the file is then compared without that line, so the rest still counts.

    tcprules_diff.py --osd build/tests/fuzz/rules2cdb [--cases 500] [--seed 1]

Exit status 0 when every case agrees, 1 with the disagreements (each cut
down to the fewest lines that still disagree) on stdout.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

# CPU time after which tcprules counts as hung (it loops for ever on some
# lines); a normal run takes about a millisecond. CPU, not wall-clock time,
# so that a loaded machine does not make a slow run look like a hang.
HANG_CPU_SECONDS = 0.05
# A run that has not ended after this long (wall clock) counts as hung too.
HANG_WALL_SECONDS = 60

QUOTES = '"\'/|:,=x%'
VALUE_CHARS = 'ab c:/.-"\'=,@_%#1'
JUNK = 'a1.:-@=,#" \t\r%_'


def ipv4(rng):
    return ".".join(str(rng.choice([0, 1, 2, 10, 127, 192, 255, rng.randrange(256)]))
                    for _ in range(4))


def address(rng):
    """A rule's address: mostly well formed, of every kind tcprules knows."""
    kind = rng.randrange(11) if rng.random() < 0.95 else 11
    if kind == 0:
        return ipv4(rng)
    if kind == 1:
        return ".".join(ipv4(rng).split(".")[:rng.randint(1, 3)]) + "."
    if kind == 2:
        lo, hi = rng.choice([(1, 5), (0, 0), (250, 260), (7, 3), (0, 255)])
        a = ".".join(ipv4(rng).split(".")[:3])
        return "%s.%s-%s" % (a, rng.choice([str(lo), ""]), rng.choice([str(hi), "", "%dx" % hi]))
    if kind == 3:
        return rng.choice(["::1", "2001:db8::1", "2001:db8::dead", "fe80::1", "::"])
    if kind == 4:
        return rng.choice(["2001:db8:", "2001:", "fe80:", "::"])
    if kind == 5:
        return "=" + rng.choice(["mx.example.com", "host-1.example", ".example.com", ""])
    if kind == 6:
        return rng.choice(["info", "joe", ""]) + "@" + rng.choice([ipv4(rng), "=host", "10.0.0.1-3", ""])
    if kind == 7:
        return ""
    if kind == 8:
        return "1.2.3.4-" + rng.choice(["5", "", "a", "5-6", "5.7"])
    if kind == 9:
        return "a-b.c" if rng.random() < 0.5 else "x-1"
    return "".join(rng.choice(JUNK) for _ in range(rng.randint(0, 12)))


def instruction(rng):
    if rng.random() < 0.95:
        word = rng.choice(["allow", "deny"])
    else:
        word = rng.choice(["allowx", "Allow", "deny,", "", "den", "allow,", "allow:deny"])
    env = ""
    for _ in range(rng.choice([0, 0, 1, 1, 1, 2])):
        quote = rng.choice(QUOTES)
        value = "".join(rng.choice(VALUE_CHARS) for _ in range(rng.randint(0, 8)))
        if rng.random() < 0.97:
            value = value.replace(quote, "")
        name = rng.choice(["RELAYCLIENT", "FOO", "A", "X_1", ""])
        if rng.random() < 0.03:
            name = rng.choice(["B=C", "q\"r", "a b"])
        env += ",%s=%s%s%s" % (name, quote, value, quote if rng.random() < 0.98 else "")
    return word + env


def mutate(rng, line):
    """A small random edit of a line: a byte dropped, added or changed, white space."""
    op = rng.randrange(6)
    pos = rng.randint(0, len(line))
    if op == 0 and line:
        pos = min(pos, len(line) - 1)
        return line[:pos] + line[pos + 1:]
    if op == 1:
        return line[:pos] + rng.choice(JUNK) + line[pos:]
    if op == 2 and line:
        pos = min(pos, len(line) - 1)
        return line[:pos] + rng.choice(JUNK) + line[pos + 1:]
    if op == 3:
        return line + rng.choice([" ", "\t", "\r", " \r", "  "])
    if op == 4:
        return rng.choice([" ", "\t"]) + line
    return line


def rule_file(rng, max_lines):
    lines = []
    for _ in range(rng.randint(0, max_lines)):
        r = rng.random()
        if r < 0.08:
            lines.append("#" + "".join(rng.choice(JUNK) for _ in range(rng.randint(0, 10))))
        elif r < 0.10:
            lines.append(rng.choice(["", "", "", " ", "\t", "\r"]))
        else:
            line = address(rng) + ":" + instruction(rng)
            if rng.random() < 0.06:
                line = mutate(rng, line)
            lines.append(line)
    text = "\n".join(lines)
    if lines and rng.random() < 0.9:
        text += "\n"
    return text


class Differ:
    def __init__(self, osd, tcprules, work):
        self.osd, self.tcprules, self.work = osd, tcprules, work

    def run_osd(self, text):
        """-> (cdb bytes or None, error text)"""
        src, out = os.path.join(self.work, "rules"), os.path.join(self.work, "osd.cdb")
        with open(src, "wb") as f:
            f.write(text.encode("latin-1"))
        if os.path.exists(out):
            os.unlink(out)
        p = subprocess.run([self.osd, src, out], capture_output=True)
        if p.returncode != 0:
            return None, p.stderr.decode("latin-1").strip()
        with open(out, "rb") as f:
            return f.read(), ""

    def run_tcprules(self, text):
        """-> (cdb bytes or None, "hang" | "fail: ..." | "")"""
        out = os.path.join(self.work, "tcp.cdb")
        if os.path.exists(out):
            os.unlink(out)
        # The rule files are small: the pipe takes all of the input at once.
        p = subprocess.Popen([self.tcprules, out, out + ".tmp"], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        p.stdin.write(text.encode("latin-1"))
        p.stdin.close()
        deadline = time.monotonic() + HANG_WALL_SECONDS
        while True:
            try:
                p.wait(timeout=0.02)
                break
            except subprocess.TimeoutExpired:
                if cpu_seconds(p.pid) >= HANG_CPU_SECONDS or time.monotonic() > deadline:
                    p.kill()
                    p.wait()
                    p.stderr.close()
                    return None, "hang"
        err = p.stderr.read().decode("latin-1").strip()
        p.stderr.close()
        if p.returncode != 0:
            return None, "fail: " + err
        with open(out, "rb") as f:
            return f.read(), ""

    def compare(self, text):
        """-> ("agree", how) or ("disagree", why); documented differences are checked and set aside."""
        skipped = 0
        for _ in range(200):
            mine, merr = self.run_osd(text)
            theirs, terr = self.run_tcprules(text)
            if mine is not None and theirs is not None and mine == theirs:
                return "agree", "same bytes" + (" (after %d refused lines)" % skipped if skipped else "")
            if mine is None and theirs is None:
                return "agree", "both refuse (tcprules: %s)" % terr.split(":")[0]
            if mine is not None:
                # osd reads CRLF files, blank lines of white space and indented
                # comments (docs/config.md); tcprules hangs on or refuses them,
                # or makes an indented comment a key no client can have.
                tidy = normalize(text)
                if tidy != text and self.run_tcprules(tidy)[0] == mine:
                    return "agree", "same bytes as tcprules on the tidied file"
                if theirs is not None:
                    return "disagree", "both compile, different bytes"
                return "disagree", "osd compiles, tcprules %s" % terr
            # osd refused: one of the documented refusals, at the line it names?
            lineno = line_of(merr)
            lines = text.split("\n")
            if lineno is None or lineno > len(lines):
                return "disagree", "osd refuses without a line: %s" % merr
            line = lines[lineno - 1]
            if "expected ADDRESS:allow or ADDRESS:deny" in merr:
                # tcprules loops for ever on a line without its separator.
                if self.run_tcprules(line + "\n")[1] != "hang":
                    return "disagree", "osd refuses %r (%s), tcprules does not hang on it" % (line, merr)
            elif not ("line starts with white space" in merr or "NUL byte in line" in merr):
                return "disagree", "osd refuses %r (%s), tcprules compiles it" % (line, merr)
            # A key no client has (leading white space, a NUL): refused on purpose.
            text = "\n".join(lines[:lineno - 1] + lines[lineno:])
            skipped += 1
        return "agree", "refused lines set aside"


def normalize(text):
    """The file as osd reads it: trailing CR and blanks off, blank and comment lines out."""
    out = []
    for line in text.split("\n"):
        line = line.rstrip("\r \t")
        if line.lstrip(" \t") == "" or line.lstrip(" \t").startswith("#"):
            continue
        out.append(line)
    return "\n".join(out) + ("\n" if out else "")


def cpu_seconds(pid):
    """User and system CPU time of a running process, from /proc."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime and stime fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def line_of(err):
    """The line number in osd's "FILE:LINE: why", or None."""
    parts = err.split(":")
    for i, p in enumerate(parts[1:], 1):
        if p.isdigit():
            return int(p)
    return None


def shrink(differ, text):
    """The fewest whole lines of text that still disagree."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        trial = lines[:i] + lines[i + 1:]
        if differ.compare("\n".join(trial))[0] == "disagree":
            lines = trial
        else:
            i += 1
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--osd", required=True, help="rules2cdb from the build folder")
    ap.add_argument("--tcprules", default=shutil.which("tcprules") or "tcprules")
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-lines", type=int, default=8)
    ap.add_argument("--show", type=int, default=5, help="disagreements to print")
    args = ap.parse_args()
    if not os.path.exists(args.tcprules) and shutil.which(args.tcprules) is None:
        sys.exit("tcprules_diff: no tcprules (Debian package ucspi-tcp-ipv6)")
    rng = random.Random(args.seed)
    tally, bad = {}, []
    with tempfile.TemporaryDirectory(prefix="osd-tcprules-diff.") as work:
        differ = Differ(args.osd, args.tcprules, work)
        for case in range(args.cases):
            text = rule_file(rng, args.max_lines)
            verdict, how = differ.compare(text)
            key = how if verdict == "agree" else "DISAGREE: " + how
            key = key.split(" (")[0] if verdict == "agree" else key.split(" %r")[0]
            tally[key] = tally.get(key, 0) + 1
            if verdict == "disagree":
                bad.append((case, how, text))
        for k in sorted(tally):
            print("%6d  %s" % (tally[k], k))
        for case, how, text in bad[:args.show]:
            small = shrink(differ, text)
            print("\ncase %d (seed %d): %s\n  shortest: %r\n  osd: %s\n  tcprules: %s" %
                  (case, args.seed, how, small, differ.run_osd(small)[1] or "compiles",
                   differ.run_tcprules(small)[1] or "compiles"))
    print("%d cases, %d disagreements" % (args.cases, len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
