#!/usr/bin/env python3
"""bench_latency.py - login -> visible in relay.cdb, osd watch against vpopmail + tcprules.

For each size N (live entries in open-smtp/), smallest first:

  1. bring one state folder under TMPDIR (or --base) to N entries (10.0.0.0
     onwards, mtime now; made with open/close), beside a small tcp.smtp and
     an osd.conf with fsync = yes.  The folder grows from one size to the
     next instead of being made anew, so no mass deletion comes before a
     mass creation (on this machine's ext4 that makes creating files several
     times slower for minutes: see README.md);
  2. start `build/osd watch -c CONF`, wait for its start-up scan and first
     rebuild ("watching ..." in its log);
  3. for --secs seconds (default 10) record logins of new addresses at a
     steady --rate (default 1,000/s), each the way `osd record` does it:
     open(O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW) + close of open-smtp/<IP>.
     The clock starts just before the create.  To hold the table at N
     entries, as expiry does in a steady state (relay_expire = N / rate),
     each login also removes the oldest entry (unless --grow);
  4. a second thread waits with inotify (through ctypes) for relay.cdb to be
     renamed into place, opens it, and looks every pending address up in it
     with the CDB reader below (djb's cdb format, checked value
     "+RELAYCLIENT=\\0"); a login's latency is from before its create to the
     opening of the first relay.cdb that holds it;
  5. report p50/p99/max per run; with --runs R the median of the runs.

The peer is the vpopmail way on the same N: a login appends its line to the
open-smtp text, and the table changes only when tcprules compiles all N
entries (`tcprules relay.cdb relay.tmp < lines`; vpopmail pipes it the
open-smtp lines without their time stamps, then tcp.smtp).  That compile
time is the best latency a vpopmail setup can have (ignoring cron's minute
granularity and the locked rewrite of the open-smtp text, so it favours the
peer); it is measured --tcprules-runs times and the median is printed with
the ratio peer / osd.

Output lines (key=value):
  bench=latency entries=N run=1 logins=... p50_ms=... p99_ms=... max_ms=... rebuilds=...
  bench=latency entries=N method=osd runs=R p50_ms=... p99_ms=...
  bench=latency entries=N method=vpopmail+tcprules runs=T latency_ms=... max_new_logins_per_s=...
  bench=latency entries=N ratio_p50=... ratio_p99=... target_p99_50ms=met|missed
ratio = tcprules time / osd latency (above 1: osd shows a login sooner).
max_new_logins_per_s = 1000 / tcprules ms: the most new addresses per second
a vpopmail that runs tcprules inline (its default build) can take at all.
"""

import argparse
import collections
import ctypes
import ctypes.util
import mmap
import os
import queue
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DYN_VALUE = b"+RELAYCLIENT=\x00"
STATIC_RULES = '127.:allow,RELAYCLIENT=""\n:allow\n'


# ---------------------------------------------------------------- cdb reader

def cdb_hash(key):
    h = 5381
    for c in key:
        h = (((h << 5) + h) & 0xFFFFFFFF) ^ c
    return h


def cdb_get(buf, key):
    """First value of key in the cdb held by buf (bytes/mmap), or None."""
    h = cdb_hash(key)
    tpos, tlen = struct.unpack_from("<II", buf, (h & 255) * 8)
    if tlen == 0:
        return None
    slot = (h >> 8) % tlen
    for _ in range(tlen):
        hh, rpos = struct.unpack_from("<II", buf, tpos + slot * 8)
        if rpos == 0:
            return None
        if hh == h:
            klen, dlen = struct.unpack_from("<II", buf, rpos)
            if klen == len(key) and buf[rpos + 8:rpos + 8 + klen] == key:
                return bytes(buf[rpos + 8 + klen:rpos + 8 + klen + dlen])
        slot = (slot + 1) % tlen
    return None


# ---------------------------------------------------------------- inotify

IN_MOVED_TO = 0x00000080


class Inotify:
    def __init__(self, path):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(self.fd, os.fsencode(path), IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch " + path)

    def wait(self, timeout):
        """Names moved in since the last call (waits up to timeout s)."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        names = []
        if not r:
            return names
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return names
            pos = 0
            while pos + 16 <= len(data):
                _wd, _mask, _cookie, nlen = struct.unpack_from("iIII", data, pos)
                names.append(data[pos + 16:pos + 16 + nlen].rstrip(b"\0"))
                pos += 16 + nlen

    def close(self):
        os.close(self.fd)


# ---------------------------------------------------------------- helpers

def addr(i, base=10):
    """The i-th address of base.0.0.0/8 (i < 2**24)."""
    return "%d.%d.%d.%d" % (base, (i >> 16) & 255, (i >> 8) & 255, i & 255)


def make_entries(dirfd, names):
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
    for name in names:
        os.close(os.open(name, flags, 0o644, dir_fd=dirfd))


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def proc_status(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_cpu_secs(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def fmt(x):
    return "%.2f" % x


def loadavg():
    with open("/proc/loadavg") as f:
        return "/".join(f.read().split()[:3])


# ---------------------------------------------------------------- the watcher side

class Detector(threading.Thread):
    """Waits for relay.cdb to be replaced and finds the pending logins in it."""

    def __init__(self, state, cdb_path):
        super().__init__(daemon=True)
        self.ino = Inotify(state)
        self.cdb_path = cdb_path
        self.incoming = queue.SimpleQueue()     # (key bytes, t_create[, wall ns at create])
        self.pending = {}
        self.latencies = []
        # By the table's own time: its ctime (set by the rename that put it in place, on the
        # kernel's coarse clock, a tick or so) less the login's wall time; this leaves out how
        # late this thread noticed the rename (GIL, other detectors), which latencies include.
        self.file_latencies = []
        self.rebuilds = 0
        self.bad_values = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            names = self.ino.wait(0.1)
            if b"relay.cdb" not in names:
                continue
            self.rebuilds += 1
            try:
                fd = os.open(self.cdb_path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            # Every record in the file we opened was created before it was
            # renamed into place, so before now: no latency can come out short.
            t_seen = time.perf_counter()
            while True:
                try:
                    item = self.incoming.get_nowait()
                except queue.Empty:
                    break
                self.pending[item[0]] = (item[1], item[2] if len(item) > 2 else None)
            try:
                st = os.fstat(fd)
                size = st.st_size
                if size >= 2048 and self.pending:
                    with mmap.mmap(fd, size, prot=mmap.PROT_READ) as buf:
                        found = []
                        for key, t in self.pending.items():
                            v = cdb_get(buf, key)
                            if v is not None:
                                if v != DYN_VALUE:
                                    self.bad_values += 1
                                found.append(key)
                                self.latencies.append(t_seen - t[0])
                                if t[1] is not None:
                                    self.file_latencies.append((st.st_ctime_ns - t[1]) / 1e9)
                        for key in found:
                            del self.pending[key]
            finally:
                os.close(fd)

    def outstanding(self):
        return len(self.pending) + self.incoming.qsize()


def start_watcher(osd, conf, log_path, cdb_path, timeout):
    log = open(log_path, "wb")
    proc = subprocess.Popen([osd, "watch", "-c", conf], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit("bench_latency: osd watch exited early; see " + log_path)
        with open(log_path, "rb") as f:
            if b"info: watching " in f.read() and os.path.exists(cdb_path):
                return proc, time.perf_counter() - t0
        time.sleep(0.02)
    proc.kill()
    raise SystemExit("bench_latency: osd watch did not finish its start-up scan in %ds" % timeout)


class Bench:
    """One state folder for every size: it grows from one size to the next,
    so no mass deletion happens between sizes (see bench/README.md)."""

    def __init__(self, args, base):
        self.args = args
        self.base = base
        self.state = os.path.join(base, "state")
        self.osmtp = os.path.join(self.state, "open-smtp")
        os.makedirs(self.osmtp, exist_ok=True)
        self.rules = os.path.join(base, "tcp.smtp")
        with open(self.rules, "w") as f:
            f.write(STATIC_RULES)
        self.conf = os.path.join(base, "osd.conf")
        with open(self.conf, "w") as f:
            f.write("state_dir = %s\nrules = %s\nrelay_expire = 3h\nfsync = %s\nlog = stderr\n"
                    % (self.state, self.rules, args.fsync))
            for line in args.conf_line:
                f.write(line + "\n")
        self.cdb_path = os.path.join(self.state, "relay.cdb")
        self.log_path = os.path.join(base, "watch.log")
        self.dirfd = os.open(self.osmtp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        # The live entries, oldest first.  Start-up entries are 10.0.0.0
        # onwards, logins 11.0.0.0 onwards: every login is a new address.
        self.live = collections.deque()
        self.next_old = 0
        self.next_new = 0

    def close(self):
        os.close(self.dirfd)

    def grow_to(self, n):
        t = time.perf_counter()
        names = [addr(i) for i in range(self.next_old, self.next_old + max(0, n - len(self.live)))]
        self.next_old += len(names)
        make_entries(self.dirfd, names)
        self.live.extend(names)
        print("bench=latency entries=%d prepare_secs=%s made=%d"
              % (len(self.live), fmt(time.perf_counter() - t), len(names)), flush=True)

    def measure_osd(self, n):
        args = self.args
        proc, startup = start_watcher(args.osd, self.conf, self.log_path, self.cdb_path,
                                      args.startup_timeout)
        if args.watcher_nice is not None:
            # Lets the watcher run as on a quiet machine when the bench
            # shares a loaded one (its CPU per login depends on how often
            # it gets to rewrite).
            os.setpriority(os.PRIO_PROCESS, proc.pid, args.watcher_nice)
        # The peak so far is the start-up's (scan, table, first rewrite);
        # the one printed after the runs includes the rewrites under logins.
        print("bench=latency entries=%d watcher_startup_secs=%s start_peak_rss_kb=%d"
              % (n, fmt(startup), proc_status(proc.pid, "VmHWM")), flush=True)
        det = Detector(self.state, self.cdb_path)
        det.start()
        create_flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        per_run = int(args.rate * args.secs)
        dirfd, live = self.dirfd, self.live
        results = []
        try:
            for run in range(1, args.runs + 1):
                det.latencies = []
                rebuilds0 = det.rebuilds
                cpu0 = proc_cpu_secs(proc.pid)
                late = 0
                t_start = time.perf_counter()
                for i in range(per_run):
                    due = t_start + i / args.rate
                    now = time.perf_counter()
                    if due > now:
                        time.sleep(due - now)
                    elif now - due > 0.010:
                        late += 1
                    name = addr(self.next_new, 11)
                    self.next_new += 1
                    t = time.perf_counter()
                    # What osd record does for a new address.
                    os.close(os.open(name, create_flags, 0o644, dir_fd=dirfd))
                    det.incoming.put((name.encode(), t))
                    live.append(name)
                    if not args.grow:
                        # The oldest entry leaves, as expiry makes it leave
                        # in a steady state.
                        os.unlink(live.popleft(), dir_fd=dirfd)
                t_end = time.perf_counter()
                deadline = time.time() + args.drain_timeout
                while det.outstanding() and time.time() < deadline:
                    time.sleep(0.01)
                lat = sorted(x * 1000.0 for x in det.latencies)
                cpu = proc_cpu_secs(proc.pid) - cpu0
                missing = det.outstanding()
                r = {
                    "p50": percentile(lat, 50), "p99": percentile(lat, 99),
                    "max": lat[-1] if lat else float("nan"),
                    "rebuilds": det.rebuilds - rebuilds0,
                    "cpu_us": 1e6 * cpu / max(per_run, 1),
                }
                results.append(r)
                print("bench=latency entries=%d run=%d logins=%d secs=%s seen=%d missing=%d "
                      "late=%d p50_ms=%s p99_ms=%s max_ms=%s rebuilds=%d watcher_cpu=%.1f%% "
                      "cpu_us_per_login=%.1f cpu_ms_per_rebuild=%.2f loadavg=%s"
                      % (n, run, per_run, fmt(t_end - t_start), len(lat), missing, late,
                         fmt(r["p50"]), fmt(r["p99"]), fmt(r["max"]), r["rebuilds"],
                         100.0 * cpu / max(t_end - t_start, 1e-9), r["cpu_us"],
                         1e3 * cpu / max(r["rebuilds"], 1), loadavg()),
                      flush=True)
                if missing:
                    det.pending.clear()
                    while not det.incoming.empty():
                        det.incoming.get_nowait()
            if det.bad_values:
                print("bench=latency entries=%d error=values_not_RELAYCLIENT count=%d"
                      % (n, det.bad_values), flush=True)
        finally:
            det.stop.set()
            det.join(1)
            det.ino.close()
            hwm = proc_status(proc.pid, "VmHWM")
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with open(self.log_path, "rb") as f:
            overflows = f.read().count(b"overflowed")
        print("bench=latency entries=%d watcher_peak_rss_kb=%d inotify_overflows=%d"
              % (n, hwm, overflows), flush=True)
        return results

    def measure_tcprules(self):
        """tcprules compiling the live entries as vpopmail feeds them."""
        args = self.args
        text = os.path.join(self.base, "open-smtp.rules")
        login = addr(self.next_new, 11)
        with open(text, "w") as f:
            # vpopmail's update_rules(): the open-smtp lines without their
            # time stamps (the new login's line last), then tcp.smtp.
            f.writelines('%s:allow,RELAYCLIENT="",RBLSMTPD=""\n' % a for a in self.live)
            f.write('%s:allow,RELAYCLIENT="",RBLSMTPD=""\n' % login)
            f.write(STATIC_RULES)
        out = os.path.join(self.base, "tcprules.cdb")
        times = []
        for _ in range(args.tcprules_runs):
            with open(text, "rb") as stdin:
                t = time.perf_counter()
                subprocess.run([args.tcprules, out, out + ".tmp"], stdin=stdin, check=True)
                times.append((time.perf_counter() - t) * 1000.0)
        with open(out, "rb") as f:
            if cdb_get(f.read(), login.encode()) is None:
                raise SystemExit("bench_latency: tcprules output lacks the login")
        os.unlink(text)
        os.unlink(out)
        return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("OSD_BUILD", os.path.join(HERE, "..", "build")))
    ap.add_argument("--sizes", default="1000,100000,1000000",
                    help="live entries, comma-separated (default 1000,100000,1000000)")
    ap.add_argument("--rate", type=float, default=1000.0, help="logins per second (1000)")
    ap.add_argument("--secs", type=float, default=10.0, help="seconds of logins per run (10)")
    ap.add_argument("--runs", type=int, default=3, help="runs per size; medians reported (3)")
    ap.add_argument("--tcprules-runs", type=int, default=3)
    ap.add_argument("--tcprules", default=shutil.which("tcprules") or "/usr/bin/tcprules")
    ap.add_argument("--fsync", choices=("yes", "no"), default="yes",
                    help="the watcher's fsync setting (default yes, osd's default)")
    ap.add_argument("--grow", action="store_true",
                    help="do not remove the oldest entry per login (the table grows)")
    ap.add_argument("--conf-line", action="append", default=[], metavar="'KEY = VALUE'",
                    help="add this line to the watcher's osd.conf (e.g. 'relay_batch = 0'); "
                    "may be repeated")
    ap.add_argument("--watcher-nice", type=int, metavar="N",
                    help="set the watcher's nice value to N once it runs (e.g. -5 on a loaded "
                    "machine, so that it rewrites as often as it would on a quiet one)")
    ap.add_argument("--drain-timeout", type=float, default=30.0)
    ap.add_argument("--startup-timeout", type=float, default=300.0)
    ap.add_argument("--tmpdir", default=os.environ.get("TMPDIR", "/tmp"))
    ap.add_argument("--keep", action="store_true", help="keep the state folder")
    ap.add_argument("--base", help="work in this folder and leave it there (run-all.sh passes "
                    "the folder on to bench_rebuild.py, so a million files are made once)")
    args = ap.parse_args()
    if args.tcprules_runs < 1:
        # The peer runs in every sitting: a figure without it has nothing to compare to.
        ap.error("--tcprules-runs must be at least 1")
    args.osd = os.path.join(os.path.abspath(args.build), "osd")
    if not os.access(args.osd, os.X_OK):
        raise SystemExit("bench_latency: no %s (build first, or --build DIR)" % args.osd)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]

    print("bench=latency rate=%g secs=%g runs=%d steady=%s fsync=%s conf=%s loadavg=%s"
          % (args.rate, args.secs, args.runs, "no" if args.grow else "yes", args.fsync,
             ",".join(l.replace(" ", "") for l in args.conf_line) or "-", loadavg()), flush=True)
    summary = []
    if args.base:
        base = os.path.abspath(args.base)
        os.makedirs(base, exist_ok=True)
    else:
        base = tempfile.mkdtemp(prefix="osd-bench-latency.", dir=args.tmpdir)
    bench = Bench(args, base)
    try:
        for n in sorted(sizes):
            bench.grow_to(n)
            runs = bench.measure_osd(n)
            peer = bench.measure_tcprules()
            p50 = statistics.median(r["p50"] for r in runs)
            p99 = statistics.median(r["p99"] for r in runs)
            cpu_us = statistics.median(r["cpu_us"] for r in runs)
            rebuilds = statistics.median(r["rebuilds"] for r in runs)
            peer_ms = statistics.median(peer)
            print("bench=latency entries=%d method=osd runs=%d p50_ms=%s p99_ms=%s "
                  "cpu_us_per_login=%.1f rebuilds_per_run=%d"
                  % (n, len(runs), fmt(p50), fmt(p99), cpu_us, rebuilds))
            print("bench=latency entries=%d method=vpopmail+tcprules runs=%d latency_ms=%s "
                  "max_new_logins_per_s=%.0f" % (n, len(peer), fmt(peer_ms), 1000.0 / peer_ms))
            print("bench=latency entries=%d ratio_p50=%.2f ratio_p99=%.2f target_p99_50ms=%s"
                  % (n, peer_ms / p50, peer_ms / p99, "met" if p99 <= 50.0 else "missed"),
                  flush=True)
            summary.append((n, p50, p99, peer_ms))
    finally:
        bench.close()
        if not args.base and not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    print("\n# entries  osd_p50_ms  osd_p99_ms  tcprules_ms  tcprules/osd_p50  tcprules/osd_p99")
    for n, p50, p99, peer_ms in summary:
        print("# %-8d %10.2f  %10.2f  %11.2f  %15.2f  %15.2f"
              % (n, p50, p99, peer_ms, peer_ms / p50, peer_ms / p99))


if __name__ == "__main__":
    main()
