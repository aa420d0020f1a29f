#!/usr/bin/env python3
"""bench_rebuild.py - full relay-table rebuild: osd against Debian's tcprules.

With N live entries (default 1,000,000: 10.0.0.0 onwards, mtime now) in a
state folder under TMPDIR, and the same static rules on both sides, each run
measures, one after the other:

  (a0) osd-watch-1-nosnap  `build/osd watch -c CONF -1` without state_dir/
                       relay.snap: read the whole open-smtp/ folder (readdir
                       + fstatat per entry, expiry check), build the table,
                       write relay.cdb (temp file, fsync, rename), save
                       relay.snap, exit.  Its log line "scan: ... in X ms"
                       splits it into scan and the rest.
  (a) osd-watch-1      the same with the relay.snap (a0) left: the listing's
                       inode numbers are checked against it instead of an
                       fstatat per entry (a build without snapshots: as a0).
  (d) osd-watch-start  the daemon's cold start, `build/osd watch -c CONF`
                       until it logs "watching" (scan done, relay.cdb
                       written), with the snapshot; then SIGTERM.
  (b) osd-relaydb-write  the rebuild alone: build/bench/bench-relaydb-write
                       calls relaydb_write() on N entries held in memory, as
                       the watcher does after each batch (fsync on).
  (c) tcprules         `tcprules relay.cdb relay.tmp < rules` compiling the
                       same static rules + N `IP:allow,RELAYCLIENT=""` lines
                       from text (tcprules fsyncs too).

Wall time by the clock around each process; peak RSS from /usr/bin/time
(the figure -v prints as "Maximum resident set size"), or, without it, from
VmHWM in /proc/PID/status while polling.  Medians of --runs runs (default 3), then ratios: speedup = tcprules
time / osd time (above 1: osd is faster), rss_ratio = osd RSS / tcprules RSS.
After the first run the two tables are checked to hold the same records.

--open-smtp DIR measures an existing folder instead (run-all.sh hands over
the one bench_latency.py grew, so a million files are made only once).
"""

import argparse
import os
import re
import resource
import signal
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
STATIC_RULES = '127.:allow,RELAYCLIENT=""\n:allow\n'
RSS_TARGET_KB = 256 * 1024
GNU_TIME = "/usr/bin/time"


def addr(i):
    return "10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)


def loadavg():
    with open("/proc/loadavg") as f:
        return "/".join(f.read().split()[:3])


def vm_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_cpu_secs(pid):
    """User + system time of a running process (and of the one it exec'd), from /proc."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def run_measured(argv, stdin=None, stdout=subprocess.DEVNULL, stderr=None):
    """Run argv; return (wall secs, peak RSS in KB, CPU secs) of that one process.

    The CPU time (user + system, from this process's children's rusage) is
    the figure a loaded machine does not change much.

    The peak comes from /usr/bin/time (its %M, as -v prints it); without it,
    from VmHWM in /proc/PID/status, read while polling.  (Not from this
    process's rusage: Linux carries the RSS peak of the forking Python over
    exec into ru_maxrss.)
    """
    rss_file = None
    if os.access(GNU_TIME, os.X_OK):
        fd, rss_file = tempfile.mkstemp(prefix="osd-bench-time.")
        os.close(fd)
        argv = [GNU_TIME, "-f", "%M", "-o", rss_file] + argv
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr)
    peak = 0
    if rss_file is None:
        while p.poll() is None:
            peak = max(peak, vm_hwm_kb(p.pid))
            time.sleep(0.002)
    p.wait()
    wall = time.perf_counter() - t
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if p.returncode != 0:
        raise SystemExit("bench_rebuild: %s exited with %d" % (argv[0], p.returncode))
    if rss_file is not None:
        with open(rss_file) as f:
            peak = int(f.read().split()[-1])
        os.unlink(rss_file)
    return wall, peak, cpu


def cdb_records(path):
    """The multiset of (key, value) records of a cdb file, as a sorted list."""
    with open(path, "rb") as f:
        buf = f.read()
    end = min(struct.unpack_from("<I", buf, 8 * i)[0] for i in range(256))
    pos, recs = 2048, []
    while pos < end:
        klen, dlen = struct.unpack_from("<II", buf, pos)
        recs.append(buf[pos + 8:pos + 8 + klen + dlen] + b"|%d" % klen)
        pos += 8 + klen + dlen
    recs.sort()
    return recs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("OSD_BUILD", os.path.join(HERE, "..", "build")))
    ap.add_argument("--entries", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tcprules", default=shutil.which("tcprules") or "/usr/bin/tcprules")
    ap.add_argument("--tmpdir", default=os.environ.get("TMPDIR", "/tmp"))
    ap.add_argument("--no-verify", action="store_true", help="skip the same-records check")
    ap.add_argument("--keep", action="store_true", help="keep the state folder")
    ap.add_argument("--open-smtp", metavar="DIR",
                    help="measure this existing open-smtp folder (left as it is) instead of "
                    "making ENTRIES files")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    osd = os.path.join(build, "osd")
    writer = os.path.join(build, "bench", "bench-relaydb-write")
    for prog in (osd, writer):
        if not os.access(prog, os.X_OK):
            raise SystemExit("bench_rebuild: no %s (build first, or --build DIR)" % prog)
    n = args.entries

    base = tempfile.mkdtemp(prefix="osd-bench-rebuild.", dir=args.tmpdir)
    try:
        if args.open_smtp:
            # A folder another benchmark left (run-all.sh): use its entries.
            osmtp = os.path.abspath(args.open_smtp)
            state = os.path.dirname(osmtp)
            if os.path.basename(osmtp) != "open-smtp":
                raise SystemExit("bench_rebuild: --open-smtp must name a folder called open-smtp")
        else:
            state = os.path.join(base, "state")
            osmtp = os.path.join(state, "open-smtp")
            os.makedirs(osmtp)
        rules = os.path.join(base, "tcp.smtp")
        with open(rules, "w") as f:
            f.write(STATIC_RULES)
        conf = os.path.join(base, "osd.conf")
        with open(conf, "w") as f:
            f.write("state_dir = %s\nrules = %s\nrelay_expire = 3h\nfsync = yes\nlog = stderr\n"
                    % (state, rules))
        text = os.path.join(base, "rules.txt")
        t = time.perf_counter()
        with open(text, "w") as f:
            # Static rules first, as osd writes them.
            f.write(STATIC_RULES)
            if args.open_smtp:
                n = 0
                with os.scandir(osmtp) as it:
                    for e in it:
                        if not e.name.startswith("."):
                            f.write('%s:allow,RELAYCLIENT=""\n' % e.name)
                            n += 1
            else:
                dirfd = os.open(osmtp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
                for i in range(n):
                    name = addr(i)
                    os.close(os.open(name, flags, 0o644, dir_fd=dirfd))
                    f.write('%s:allow,RELAYCLIENT=""\n' % name)
                os.close(dirfd)
        print("bench=rebuild entries=%d runs=%d prepare_secs=%.1f dir=%s"
              % (n, args.runs, time.perf_counter() - t, osmtp), flush=True)

        osd_cdb = os.path.join(state, "relay.cdb")
        own_cdb = os.path.join(base, "own.cdb")
        tcp_cdb = os.path.join(base, "tcprules.cdb")
        log_path = os.path.join(base, "watch.log")
        res = {"a0": [], "scan0": [], "a": [], "scan": [], "b": [], "c": [], "d": [],
               "cpu_a0": [], "cpu_a": [], "cpu_d": []}
        rss = {"a0": [], "a": [], "b": [], "c": [], "d": []}
        snap = os.path.join(state, "relay.snap")
        for run in range(1, args.runs + 1):
            for key, method in (("a0", "osd-watch-1-nosnap"), ("a", "osd-watch-1")):
                if key == "a0" and os.path.exists(snap):
                    os.unlink(snap)
                with open(log_path, "wb") as log:
                    wall, kb, cpu = run_measured([osd, "watch", "-c", conf, "-1"], stderr=log)
                with open(log_path, "rb") as log:
                    m = re.search(rb"scan: (\d+) live, \d+ expired, \d+ ignored in ([0-9.]+) ms",
                                  log.read())
                if m is None or int(m.group(1)) != n:
                    raise SystemExit("bench_rebuild: osd watch -1 did not report %d live entries (%s)"
                                     % (n, log_path))
                scan = float(m.group(2)) / 1000.0
                res[key].append(wall)
                res["cpu_" + key].append(cpu)
                res["scan" if key == "a" else "scan0"].append(scan)
                rss[key].append(kb)
                print("bench=rebuild run=%d method=%s secs=%.3f cpu_secs=%.3f scan_secs=%.3f "
                      "rest_secs=%.3f peak_rss_kb=%d loadavg=%s"
                      % (run, method, wall, cpu, scan, wall - scan, kb, loadavg()),
                      flush=True)

            # The daemon's cold start (with the snapshot (a) left).
            with open(log_path, "wb") as log:
                t = time.perf_counter()
                p = subprocess.Popen([osd, "watch", "-c", conf], stdout=log, stderr=subprocess.STDOUT)
                while True:
                    with open(log_path, "rb") as f:
                        if b"info: watching " in f.read():
                            break
                    if p.poll() is not None:
                        raise SystemExit("bench_rebuild: osd watch exited; see " + log_path)
                    time.sleep(0.005)
                wall = time.perf_counter() - t
                cpu = proc_cpu_secs(p.pid)
                # The daemon's peak: the scan, the table and the first rewrite.
                kb = vm_hwm_kb(p.pid)
                p.send_signal(signal.SIGTERM)
                p.wait()
            with open(log_path, "rb") as f:
                # The watcher's own figure, taken at the moment it logs "watching".
                m = re.search(rb"start-up CPU (\d+) ms", f.read())
            if m is not None:
                cpu = int(m.group(1)) / 1000.0
            res["d"].append(wall)
            res["cpu_d"].append(cpu)
            rss["d"].append(kb)
            print("bench=rebuild run=%d method=osd-watch-start secs=%.3f cpu_secs=%.3f "
                  "peak_rss_kb=%d loadavg=%s" % (run, wall, cpu, kb, loadavg()), flush=True)

            # N addresses from 10.0.0.0 on (with --open-smtp: as many
            # entries as the folder holds, not the same ones).
            out = subprocess.run([writer, "-n", str(n), "-r", rules, "-k", own_cdb], check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
            m = re.search(r"secs=([0-9.]+) maxrss_kb=(\d+)", out)
            res["b"].append(float(m.group(1)))
            rss["b"].append(int(m.group(2)))
            print("bench=rebuild run=%d method=osd-relaydb-write secs=%.3f peak_rss_kb=%s"
                  % (run, float(m.group(1)), m.group(2)), flush=True)

            with open(text, "rb") as stdin:
                wall, kb, _ = run_measured([args.tcprules, tcp_cdb, tcp_cdb + ".tmp"], stdin=stdin)
            res["c"].append(wall)
            rss["c"].append(kb)
            print("bench=rebuild run=%d method=tcprules secs=%.3f peak_rss_kb=%d"
                  % (run, wall, kb), flush=True)

            if run == 1 and not args.no_verify:
                a, c = cdb_records(osd_cdb), cdb_records(tcp_cdb)
                same = a == c
                print("bench=rebuild check=same_records %s osd_bytes=%d tcprules_bytes=%d records=%d"
                      % ("ok" if same else "DIFFERENT", os.path.getsize(osd_cdb),
                         os.path.getsize(tcp_cdb), len(a)), flush=True)
                del a, c
                if not same:
                    raise SystemExit("bench_rebuild: osd's table and tcprules' differ")

        med = {k: statistics.median(v) for k, v in res.items()}
        mrss = {k: statistics.median(v) for k, v in rss.items()}
        print("bench=rebuild entries=%d method=osd-watch-1-nosnap runs=%d secs=%.3f cpu_secs=%.3f "
              "scan_secs=%.3f peak_rss_kb=%d"
              % (n, args.runs, med["a0"], med["cpu_a0"], med["scan0"], mrss["a0"]))
        print("bench=rebuild entries=%d method=osd-watch-1 runs=%d secs=%.3f cpu_secs=%.3f "
              "scan_secs=%.3f peak_rss_kb=%d"
              % (n, args.runs, med["a"], med["cpu_a"], med["scan"], mrss["a"]))
        print("bench=rebuild entries=%d method=osd-watch-start runs=%d secs=%.3f cpu_secs=%.3f "
              "peak_rss_kb=%d" % (n, args.runs, med["d"], med["cpu_d"], mrss["d"]))
        print("bench=rebuild entries=%d method=osd-relaydb-write runs=%d secs=%.3f peak_rss_kb=%d"
              % (n, args.runs, med["b"], mrss["b"]))
        print("bench=rebuild entries=%d method=tcprules runs=%d secs=%.3f peak_rss_kb=%d"
              % (n, args.runs, med["c"], mrss["c"]))
        print("bench=rebuild entries=%d speedup_full_nosnap=%.2f speedup_start=%.2f loadavg=%s"
              % (n, med["c"] / med["a0"], med["c"] / med["d"], loadavg()))
        print("bench=rebuild entries=%d speedup_full=%.2f speedup_rebuild=%.2f "
              "rss_ratio_full=%.2f rss_ratio_rebuild=%.2f"
              % (n, med["c"] / med["a"], med["c"] / med["b"], mrss["a"] / mrss["c"],
                 mrss["b"] / mrss["c"]))
        print("bench=rebuild entries=%d target_cold_start_under_1s=%s (watch -1 %.3f s, daemon %.3f s)"
              % (n, "met" if max(med["a"], med["d"]) < 1.0 else "missed", med["a"], med["d"]))
        print("bench=rebuild entries=%d target_faster_than_tcprules=%s target_rss_256mb=%s"
              % (n, "met" if med["a"] < med["c"] else "missed",
                 "met" if max(mrss["a"], mrss["d"]) <= RSS_TARGET_KB else "missed"), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
