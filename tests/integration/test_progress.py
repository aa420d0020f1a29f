#!/usr/bin/env python3
"""Progress lines on a terminal: osd import-open-smtp and osd watch's first scan.

Under a pseudo-terminal (Python pty) as stderr, 'osd import-open-smtp' of a
50,000-line vpopmail file shows '\\r'-rewritten progress lines ('reading: N
lines (P%)', 'recording: N entries') and ends them with a newline; with a
pipe as stderr it writes nothing but its result. The same for 'osd watch':
its first scan of the entries shows 'first scan: N entries' on a terminal and
nothing in a log file. The import's own result is the same either way.
"""
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import OSD, WAIT, Osd, check, finish, wait_for  # noqa: E402

LINES = 50000


def run_on_pty(cmd, until=None):
    """Run cmd with stderr on a pseudo-terminal: (exit code, stdout, what the terminal got).
    until: a predicate on the terminal text after which the process gets SIGTERM."""
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    got = []

    def drain():        # the terminal must be read, or a full buffer would block the writer
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:     # EIO: the last writer closed it
                return
            if not data:
                return
            got.append(data)
    t = threading.Thread(target=drain)
    t.start()
    try:
        if until is not None:
            wait_for(lambda: until(b"".join(got).decode(errors="replace")) or p.poll() is not None)
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        t.join(WAIT)
        os.close(master)
    return p.returncode, out.decode(), b"".join(got).decode(errors="replace")


def vpop_file(path, first_octet):
    now = int(time.time())
    with open(path, "w") as f:
        for i in range(LINES):
            f.write('10.%d.%d.%d:allow,RELAYCLIENT="" %d\n'
                    % (first_octet, i // 250, i % 250 + 1, now - 60))


def import_progress():
    o = Osd()
    try:
        src = os.path.join(o.root, "open-smtp.vpop")
        vpop_file(src, 1)
        rc, out, term = run_on_pty([OSD, "import-open-smtp", "-c", o.conf, src])
        check(rc == 0, "import under a pty exits 0 (%s)" % rc)
        check(out.strip() == "imported %d, kept 0 newer, skipped 0 expired and 0 bad line(s)"
              % LINES, "its result on stdout is unchanged (%r)" % out.strip())
        reading = re.findall(r"\rosd: import-open-smtp: reading: (\d+) lines \((\d+)\.\d%\), "
                             r"\d+\.\d s", term)
        check(len(reading) >= 1, "the terminal shows reading progress lines (%d)" % len(reading))
        check(any(int(n) == LINES for n, _ in reading),
              "the last reading line counts all %d lines (%s)" % (LINES, reading[-1:]))
        check(all(0 <= int(pct) <= 100 for _, pct in reading), "percentages within 0..100")
        check(re.search(r"\rosd: import-open-smtp: recording: %d entries \(100\.0%%\), \d+\.\d s\r?\n" % LINES,
                        term) is not None,
              "the recording progress ends with its full count and a newline")
        check(len(os.listdir(o.opensmtp)) == LINES, "all %d entries exist" % LINES)

        # Without a terminal: no progress at all, the same result.
        src2 = os.path.join(o.root, "open-smtp.vpop2")
        vpop_file(src2, 2)
        p = subprocess.run([OSD, "import-open-smtp", "-c", o.conf, src2], capture_output=True,
                           text=True, timeout=300)
        check(p.returncode == 0 and p.stdout.startswith("imported %d," % LINES),
              "import with stderr on a pipe: same result (%s, %r)" % (p.returncode, p.stdout))
        check(p.stderr == "", "and nothing on stderr: no progress off a terminal (%r)"
              % p.stderr[:200])
    finally:
        o.cleanup()


def watch_progress():
    o = Osd()
    try:
        src = os.path.join(o.root, "open-smtp.vpop")
        vpop_file(src, 3)
        check(o.run("import-open-smtp", src, timeout=300).returncode == 0, "entries imported")
        rc, _, term = run_on_pty([OSD, "watch", "-c", o.conf], until=lambda t: "watching" in t)
        check(rc == 0, "osd watch on a pty stops cleanly on SIGTERM (%s)" % rc)
        counts = [int(n) for n in re.findall(r"\rosd: watch: first scan: (\d+) entries", term)]
        check(len(counts) >= 1 and counts[-1] == LINES,
              "the watcher's first scan shows progress on a terminal, ending at %d (%s)"
              % (LINES, counts[-3:]))
        check(term.count("first scan") == len(counts), "only progress lines mention it")

        # A log file: no progress line.
        p = o.start("watch")
        check(wait_for(lambda: "watching" in o.log("watch")), "osd watch with stderr in a file")
        o.stop(p)
        check("first scan" not in o.log("watch") and "\r" not in o.log("watch"),
              "no progress line in the log file")
    finally:
        o.cleanup()


def main():
    import_progress()
    watch_progress()
    finish()


if __name__ == "__main__":
    main()
