#!/usr/bin/env python3
"""bench_fleet.py - fleet mode (docs/fleet.md): a login on one host -> another host's relay.cdb and osd check.

One private redis-server on 127.0.0.1 (no persistence) and --hosts osd "hosts" on this machine,
each its own state folder, osd.conf (fleet = redis, fsync = yes, relay_expire = 3h) and
`osd watch`:

  1. --entries live entries (10.0.0.0 onwards, mtime now) are made in the hosts' open-smtp/
     folders, an equal share each, before the watchers start; Redis's used_memory is read
     (INFO memory); the watchers start, publish their share and mirror the others'; the time
     until every host holds all the entries is printed (spread_secs), and used_memory again:
     its growth / entries = Redis memory per live entry;
  2. --runs runs of --secs seconds of logins at a steady --rate (new addresses 11.0.0.0
     onwards, round robin over the hosts, made the way `osd record` makes a new address:
     open(O_CREAT|O_EXCL) + close); for each login, a detector thread per OTHER host waits
     with inotify for its relay.cdb to be replaced and looks the address up (the CDB reader of
     bench_latency.py): latency = create on the origin -> first relay.cdb of a remote host that
     holds it; p50/p99 over every (login, remote host) pair;
     and, during the same run, every --check-every seconds one fresh login is followed on the
     host two places on by running `osd check IP` there in a loop until it says relay: that is
     the smtpd decision (osd check decides as osd smtpd does: relay.cdb and the entry); the
     loop is a shell's (timeout + sh), started once per sample, so its latency includes that
     start and one `osd check` (a few ms each): an upper bound;
  3. --resyncs times: the last host's watcher is stopped, its state folder moved aside (removed
     at the end, see below) and made anew, empty, and the watcher started again: resync_secs = start -> "resync from redis" in its log (every key
     SCANned, MGET and mirrored), cdb_secs = start -> the first relay.cdb holding --sample
     addresses picked from Redis.

The remote hosts' tables grow during the runs (an entry that leaves on its origin host is not
a revocation: copies live to their own expiry), so the live entries are printed per run.

The peer, the classic way (described, not built: bench/README.md, "Fleet mode"): an open-smtp
file shared over NFS, or vpopmail's relay table in a shared MySQL, rebuilt into every host's
tcp.smtp.cdb by cron: its latency is the cron period (30 s on average with a 1-minute cron).

Output lines (key=value); with --runs R the medians of the runs, and the load average.
"""

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_latency import Detector, addr, fmt, percentile, proc_cpu_secs  # noqa: E402

STATIC_RULES = '127.:allow,RELAYCLIENT=""\n:allow\n'


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Redis:
    def __init__(self, base, server, cli):
        self.dir = os.path.join(base, "redis")
        os.makedirs(self.dir)
        self.cli_path = cli
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        conf = os.path.join(self.dir, "redis.conf")
        with open(conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\n"
                    % (self.port, self.dir))
        self.proc = subprocess.Popen([server, conf], stdout=open(os.path.join(self.dir, "log"), "wb"),
                                     stderr=subprocess.STDOUT)
        t0 = time.time()
        while self.cli("PING") != "PONG":
            if time.time() - t0 > 20 or self.proc.poll() is not None:
                raise SystemExit("bench_fleet: redis-server did not start")
            time.sleep(0.05)

    def cli(self, *args):
        p = subprocess.run([self.cli_path, "-h", "127.0.0.1", "-p", str(self.port)] + list(args),
                           capture_output=True, text=True, timeout=30)
        return p.stdout.strip()

    def used_memory(self):
        for line in self.cli("INFO", "memory").splitlines():
            if line.startswith("used_memory:"):
                return int(line.split(":")[1])
        return 0

    def commandstats(self):
        """'cmd=calls/usec_per_call' for each command Redis ran (INFO commandstats), and its CPU seconds."""
        out = []
        for line in self.cli("INFO", "commandstats").splitlines():
            if line.startswith("cmdstat_"):
                name, rest = line[8:].split(":", 1)
                f = dict(kv.split("=") for kv in rest.split(","))
                out.append("%s=%s/%sus" % (name, f["calls"], f["usec_per_call"]))
        scripts = [ln.split(":")[1] for ln in self.cli("INFO", "memory").splitlines()
                   if ln.startswith("number_of_cached_scripts:")]
        return "redis_cpu_secs=%.2f cached_scripts=%s commands=%s" % (
            proc_cpu_secs(self.proc.pid), scripts[0] if scripts else "?", ",".join(out))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)


class Host:
    def __init__(self, base, i, osd, redis_port, fsync, batch=None):
        self.i = i
        self.osd = osd
        self.root = os.path.join(base, "host%d" % i)
        self.state = os.path.join(self.root, "state")
        self.osmtp = os.path.join(self.state, "open-smtp")
        os.makedirs(self.osmtp)
        self.cdb = os.path.join(self.state, "relay.cdb")
        self.conf = os.path.join(self.root, "osd.conf")
        rules = os.path.join(self.root, "tcp.smtp")
        with open(rules, "w") as f:
            f.write(STATIC_RULES)
        with open(self.conf, "w") as f:
            f.write("state_dir = %s\nrules = %s\nrelay_expire = 3h\nfsync = %s\nlog = stderr\n"
                    "fleet = redis\nredis_server = 127.0.0.1:%d\n" % (self.state, rules, fsync, redis_port))
            if batch is not None:
                f.write("relay_batch = %s\n" % batch)
        self.log_path = os.path.join(self.root, "watch.log")
        self.proc = None
        self.dirfd = os.open(self.osmtp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def start(self):
        self.proc = subprocess.Popen([self.osd, "watch", "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def count(self):
        return sum(1 for n in os.listdir(self.osmtp) if not n.startswith("."))

    def wait_relays(self, ip, secs):
        """Run `osd check IP` here back to back until it says relay (True) or secs pass.

        The loop is a shell's, outside this Python process: polled from a
        thread of it, each check would also wait for the GIL, which the
        login generator and the detectors hold most of the time.
        """
        loop = 'until "$0" check -c "$1" "$2" >/dev/null 2>&1; do :; done'
        return subprocess.run(["timeout", str(secs), "sh", "-c", loop, self.osd, self.conf, ip],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def wait(pred, timeout, what, step=0.05):
    t0 = time.perf_counter()
    while not pred():
        if time.perf_counter() - t0 > timeout:
            raise SystemExit("bench_fleet: timed out waiting for " + what)
        time.sleep(step)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("OSD_BUILD", os.path.join(HERE, "..", "build")))
    ap.add_argument("--hosts", type=int, default=4)
    ap.add_argument("--entries", type=int, default=100000, help="live entries at the start (100000)")
    ap.add_argument("--rate", type=float, default=1000.0, help="logins per second over all hosts (1000)")
    ap.add_argument("--secs", type=float, default=10.0, help="seconds of logins per run (10)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--resyncs", type=int, default=3)
    ap.add_argument("--check-every", type=float, default=0.2, help="seconds between osd check samples")
    ap.add_argument("--sample", type=int, default=200, help="addresses looked for after a resync")
    ap.add_argument("--fsync", choices=("yes", "no"), default="yes")
    ap.add_argument("--batch", default=None, help="relay_batch for every host (default: osd's own)")
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "/usr/bin/redis-server")
    ap.add_argument("--redis-cli", default=shutil.which("redis-cli") or "/usr/bin/redis-cli")
    ap.add_argument("--tmpdir", default=os.environ.get("TMPDIR", "/tmp"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    osd = os.path.join(os.path.abspath(args.build), "osd")
    if not os.access(osd, os.X_OK):
        raise SystemExit("bench_fleet: no %s (build first, or --build DIR)" % osd)
    for tool in (args.redis_server, args.redis_cli):
        if not os.access(tool, os.X_OK):
            raise SystemExit("bench_fleet: no %s (scripts/install-deps.sh)" % tool)

    base = tempfile.mkdtemp(prefix="osd-bench-fleet-", dir=args.tmpdir)
    print("bench=fleet hosts=%d entries=%d rate=%g secs=%g runs=%d fsync=%s relay_batch=%s loadavg_start=%s"
          % (args.hosts, args.entries, args.rate, args.secs, args.runs, args.fsync, args.batch or "default", loadavg()), flush=True)
    redis = Redis(base, args.redis_server, args.redis_cli)
    hosts = [Host(base, i, osd, redis.port, args.fsync, args.batch) for i in range(args.hosts)]
    dets = []
    try:
        # 1. The live entries, an equal share on each host; memory before and after.
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
        for i in range(args.entries):
            os.close(os.open(addr(i), flags, 0o644, dir_fd=hosts[i % args.hosts].dirfd))
        mem0 = redis.used_memory()
        t0 = time.perf_counter()
        for h in hosts:
            h.start()
        wait(lambda: all(h.count() >= args.entries for h in hosts), 900, "every host to hold every entry", 0.5)
        spread = time.perf_counter() - t0
        wait(lambda: int(redis.cli("DBSIZE") or 0) >= args.entries, 120, "redis to hold every key")
        mem1 = redis.used_memory()
        print("bench=fleet entries=%d spread_secs=%s redis_used_memory_before=%d after=%d "
              "bytes_per_entry=%.1f" % (args.entries, fmt(spread), mem0, mem1,
                                        (mem1 - mem0) / args.entries), flush=True)
        print("bench=fleet after_spread " + redis.commandstats(), flush=True)

        # 2. Logins at a steady rate; detectors on every host.
        dets = [Detector(h.state, h.cdb) for h in hosts]
        for d in dets:
            d.start()
        # Let the spread's last rebuilds pass.
        time.sleep(2)
        create = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        per_run = int(args.rate * args.secs)
        nxt = 0
        results = []
        for run in range(1, args.runs + 1):
            for d in dets:
                d.latencies = []
                d.file_latencies = []
            checks, stop_checks = [], threading.Event()
            recent = {}

            def checker():
                while not stop_checks.is_set():
                    time.sleep(args.check_every)
                    got = dict(recent)
                    if not got:
                        continue
                    ip, (origin, t) = got.popitem()
                    target = hosts[(origin + 2) % len(hosts)]
                    if target.wait_relays(ip, 30):
                        checks.append((time.perf_counter() - t) * 1000.0)
            th = threading.Thread(target=checker, daemon=True)
            th.start()
            cpu0 = [proc_cpu_secs(h.proc.pid) for h in hosts]
            late = 0
            t_start = time.perf_counter()
            for i in range(per_run):
                due = t_start + i / args.rate
                now = time.perf_counter()
                if due > now:
                    time.sleep(due - now)
                elif now - due > 0.010:
                    late += 1
                origin = nxt % len(hosts)
                name = addr(nxt, 11)
                nxt += 1
                t, t_wall = time.perf_counter(), time.time_ns()
                os.close(os.open(name, create, 0o644, dir_fd=hosts[origin].dirfd))
                for j, d in enumerate(dets):
                    if j != origin:
                        d.incoming.put((name.encode(), t, t_wall))
                recent.clear()
                recent[name] = (origin, t)
            t_end = time.perf_counter()
            deadline = time.time() + 60
            while any(d.outstanding() for d in dets) and time.time() < deadline:
                time.sleep(0.05)
            stop_checks.set()
            th.join(35)
            lat = sorted(x * 1000.0 for d in dets for x in d.latencies)
            flat = sorted(x * 1000.0 for d in dets for x in d.file_latencies)
            missing = sum(d.outstanding() for d in dets)
            checks.sort()
            cpu = [100.0 * (proc_cpu_secs(h.proc.pid) - c) / (t_end - t_start) for h, c in zip(hosts, cpu0)]
            r = {"p50": percentile(lat, 50), "p99": percentile(lat, 99),
                 "check_p50": percentile(checks, 50), "check_p99": percentile(checks, 99),
                 "file_p50": percentile(flat, 50), "file_p99": percentile(flat, 99)}
            results.append(r)
            print("bench=fleet run=%d logins=%d secs=%s live_on_host0=%d seen=%d missing=%d late=%d "
                  "cdb_p50_ms=%s cdb_p99_ms=%s max_ms=%s by_file_ctime_p50_ms=%s by_file_ctime_p99_ms=%s "
                  "check_samples=%d check_p50_ms=%s check_p99_ms=%s "
                  "watcher_cpu=%s loadavg=%s"
                  % (run, per_run, fmt(t_end - t_start), hosts[0].count(), len(lat), missing, late,
                     fmt(r["p50"]), fmt(r["p99"]), fmt(lat[-1] if lat else float("nan")),
                     fmt(r["file_p50"]), fmt(r["file_p99"]), len(checks),
                     fmt(r["check_p50"]), fmt(r["check_p99"]), "/".join("%.0f%%" % c for c in cpu),
                     loadavg()), flush=True)
            for d in dets:
                d.pending.clear()
                while not d.incoming.empty():
                    d.incoming.get_nowait()
        med = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print("bench=fleet runs=%d median by_file_ctime_p50_ms=%s by_file_ctime_p99_ms=%s" % (
              args.runs, fmt(med["file_p50"]), fmt(med["file_p99"])), flush=True)
        print("bench=fleet runs=%d median cdb_p50_ms=%s cdb_p99_ms=%s check_p50_ms=%s check_p99_ms=%s "
              "target_p99_100ms=%s" % (args.runs, fmt(med["p50"]), fmt(med["p99"]), fmt(med["check_p50"]),
                                       fmt(med["check_p99"]), "met" if med["p99"] <= 100 else "missed"),
              flush=True)
        for d in dets:
            d.stop.set()
        for d in dets:
            d.join(1)
            d.ino.close()
        dets = []

        # 3. Resync of an emptied host.
        last = hosts[-1]
        keys = [k for k in redis.cli("--scan", "--pattern", "osd:relay:*", "--count", "1000").split()
                if ":revoked" not in k]
        sample = [k.split(":", 2)[2].encode() for k in random.sample(keys, min(args.sample, len(keys)))]
        resyncs = []
        for n in range(1, args.resyncs + 1):
            last.stop()
            # Moved aside, removed at the end: on ext4, creating files right after a
            # mass deletion is several times slower for minutes (recently_deleted(),
            # bench/README.md): that would be the file system's time, not osd's.
            os.rename(last.state, "%s.old%d" % (last.state, n))
            os.makedirs(last.osmtp)
            os.close(last.dirfd)
            last.dirfd = os.open(last.osmtp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            seen = len(last.log())
            live = int(redis.cli("DBSIZE") or 0)
            t0 = time.perf_counter()
            last.start()
            resync = wait(lambda: b"resync from redis" in last.log()[seen:], 300, "the resync", 0.01)
            # The watcher's own CPU time: what the resync costs osd, whatever the load.
            resync_cpu = proc_cpu_secs(last.proc.pid)

            def cdb_has_sample():
                from bench_latency import cdb_get
                try:
                    with open(last.cdb, "rb") as f:
                        buf = f.read()
                except FileNotFoundError:
                    return False
                return len(buf) >= 2048 and all(cdb_get(buf, k) is not None for k in sample)
            wait(cdb_has_sample, 300, "relay.cdb to hold the sample", 0.02)
            cdb = time.perf_counter() - t0
            line = [ln for ln in last.log()[seen:].split(b"\n") if b"resync from redis" in ln][0]
            resyncs.append((resync, cdb, resync_cpu))
            print("bench=fleet resync=%d redis_keys=%d resync_secs=%s cdb_secs=%s watcher_cpu_secs=%s "
                  "log=%r loadavg=%s"
                  % (n, live, fmt(resync), fmt(cdb), fmt(resync_cpu),
                     line.decode(errors="replace").split("fleet: ")[-1], loadavg()), flush=True)
        if resyncs:
            rs = statistics.median(r[0] for r in resyncs)
            rc = statistics.median(r[1] for r in resyncs)
            ru = statistics.median(r[2] for r in resyncs)
            print("bench=fleet resyncs=%d median resync_secs=%s cdb_secs=%s watcher_cpu_secs=%s target_5s=%s "
                  "loadavg_end=%s" % (len(resyncs), fmt(rs), fmt(rc), fmt(ru), "met" if rc <= 5 else "missed",
                                      loadavg()), flush=True)
        print("bench=fleet at_end " + redis.commandstats(), flush=True)
        print("bench=fleet peer=cron-rebuilt-shared-file latency=cron period (30 s mean, 60 s max with a "
              "1-minute cron; described, not built)", flush=True)
    finally:
        for d in dets:
            d.stop.set()
        for h in hosts:
            h.stop()
        redis.stop()
        if args.keep:
            print("bench=fleet kept=" + base)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
