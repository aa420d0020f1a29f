#!/usr/bin/env python3
"""cap_flood.py - the cost of refusing clients at smtp_max_connections.

Starts a private `osd smtpd` (the test harness's Osd, state under /tmp) with
smtp_max_connections = smtp_max_per_ip = --sessions, opens that many sessions
from 200 loopback addresses and keeps them open (every slot live), then for
--secs seconds connects one client after another from 127.0.0.250: each gets
421 and is closed.  Prints the parent's CPU (user + system, /proc) over that
time, per refusal, and the median of --runs runs.

At the cap the parent asks the kernel (sock_diag) which sessions are over
before refusing; this shows what that look costs when none is.  No peer:
Postfix at its process limit stops accepting instead of refusing.

    python3 bench/cap_flood.py --sessions 2000 --secs 10 --runs 3
"""
import argparse
import os
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("OSD_BUILD", os.path.join(HERE, "..", "build"))   # read by osdtest at import
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from osdtest import Osd, free_port  # noqa: E402


def cpu_secs(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(n, secs):
    o = Osd()
    socks = []
    try:
        port = free_port()
        o.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\n"
                     "smtp_max_connections = %d\nsmtp_max_per_ip = %d\n" % (port, n, n))
        smtpd = o.start_smtpd(port)
        time.sleep(1)   # wait_port's probe sessions end
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port), 20,
                                         source_address=("127.0.0.%d" % (2 + i % 200), 0))
            if not s.recv(100).startswith(b"220"):
                raise SystemExit("cap_flood: session %d was not greeted" % (i + 1))
            socks.append(s)
        time.sleep(2)
        c0, t0, refused = cpu_secs(smtpd.pid), time.monotonic(), 0
        while time.monotonic() - t0 < secs:
            with socket.create_connection(("127.0.0.1", port), 20,
                                          source_address=("127.0.0.250", 0)) as s:
                refused += s.recv(100).startswith(b"421")
        cpu, took = cpu_secs(smtpd.pid) - c0, time.monotonic() - t0
        print("bench=cap_flood sessions=%d refused=%d secs=%.1f parent_cpu_pct=%.1f "
              "per_refusal_us=%.1f" % (n, refused, took, 100 * cpu / took,
                                       1e6 * cpu / max(refused, 1)), flush=True)
        return 100 * cpu / took, 1e6 * cpu / max(refused, 1)
    finally:
        for s in socks:
            s.close()
        o.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--secs", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = [one_run(args.sessions, args.secs) for _ in range(args.runs)]
    print("bench=cap_flood sessions=%d runs=%d median_parent_cpu_pct=%.1f median_per_refusal_us=%.1f"
          % (args.sessions, len(runs), statistics.median(r[0] for r in runs),
             statistics.median(r[1] for r in runs)))


if __name__ == "__main__":
    main()
