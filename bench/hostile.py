#!/usr/bin/env python3
"""hostile.py - many hostile clients against osd smtpd, pop3d and imapd at once (loopback only).

    bench/hostile.py [--clients 1000] [--timeout 20] [--deadline 60] [--gap 3]
                     [--legit 4] [--protos smtp,pop3,imap] [--kinds slowloris,endless,auth,idle]
                     [--build build]

Sets up a private osd (config, control files, two users) in a temporary
folder, starts `osd smtpd`, `osd pop3d` and `osd imapd` on free loopback
ports, and opens CLIENTS hostile sessions to each daemon of PROTOS at once,
from 127.1.0.x source addresses, at most PER_IP (16) a source, under the
daemons' per-address cap (20):

  half slowloris     a command line, one byte every GAP seconds
  a fifth endless    kilobytes without a line end, every 0.2 s
  a sixth auth       failed logins back to back (AUTH PLAIN / USER+PASS / LOGIN)
  the rest idle      the greeting, then nothing

plus, from one address, per-address cap + 5 sessions (the cap's refusals).
Meanwhile LEGIT threads per protocol (smtplib, poplib, imaplib, from
127.0.0.2-5) keep sending a message / logging in, and their latency is
measured.  The daemons' timeouts are short (TIMEOUT, DEADLINE) so every
hostile session ends within the run.  Prints key=value lines: per protocol
the hostile sessions' last replies (counted by kind and reply), how many the
server closed and the longest time to close; the legitimate sessions'
count, failures, p50 and p99; the peak PSS of each daemon's process tree
(sum of /proc/PID/smaps_rollup over the daemon and its children) and the
load average.  Standard library only.

The module is also the engine of tests/integration/test_hostile_clients.py.
"""
import argparse
import asyncio
import base64
import imaplib
import os
import poplib
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idle_sessions import mem  # noqa: E402

DOM = "example.test"
ME = "mx.example.test"
PER_IP = 16          # hostile sessions per source address (the cap is 20)
CAP = 20             # smtp/pop3/imap_max_per_ip of the private config
LINE_MAX = 8192      # what a client keeps of replies, per session


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, secs=20):
    end = time.monotonic() + secs
    while time.monotonic() < end and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Osd:
    """A private osd: config, control files, users; its daemons by PID."""

    def __init__(self, build, timeout, deadline, max_conn):
        self.osd = os.path.join(os.path.abspath(build), "osd")
        self.root = tempfile.mkdtemp(prefix="osd-hostile-")
        self.ports = {p: free_port() for p in ("smtp", "pop3", "imap")}
        self.procs = {}
        conf = ("state_dir = state\nrules = tcp.smtp\ncontrol_dir = control\n"
                "default_domain = %s\nsubmission_listen =\n"
                "smtp_listen = 127.0.0.1:%d\npop3_listen = 127.0.0.1:%d\nimap_listen = 127.0.0.1:%d\n"
                "smtp_max_connections = %d\npop3_max_connections = %d\nimap_max_connections = %d\n"
                "smtp_max_per_ip = %d\npop3_max_per_ip = %d\nimap_max_per_ip = %d\n"
                "pop3_timeout = %d\nimap_login_timeout = %d\nimap_timeout = %d\n"
                "smtp_session_deadline = %d\npop3_session_deadline = %d\nimap_session_deadline = %d\n"
                % (DOM, self.ports["smtp"], self.ports["pop3"], self.ports["imap"],
                   max_conn, max_conn, max_conn, CAP, CAP, CAP,
                   timeout, timeout, timeout, deadline, deadline, deadline))
        self.conf = os.path.join(self.root, "osd.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        open(os.path.join(self.root, "tcp.smtp"), "w").close()
        ctl = os.path.join(self.root, "control")
        os.makedirs(ctl)
        for name, text in (("me", ME), ("rcpthosts", DOM), ("timeoutsmtpd", str(timeout))):
            with open(os.path.join(ctl, name), "w") as f:
                f.write(text + "\n")
        for user in ["alice", "bob"] + ["legit%d" % k for k in range(2, 10)]:
            p = self.run("user", "add", "%s@%s" % (user, DOM), input=user + "-pw\n")
            if p.returncode != 0:
                raise RuntimeError("osd user add %s: %s" % (user, p.stderr.strip()))

    def run(self, *args, input=None):
        return subprocess.run([self.osd, args[0], "-c", self.conf] + list(args[1:]), input=input,
                              capture_output=True, text=True, timeout=60)

    def start(self):
        """Start smtpd, pop3d and imapd; True once each accepts connections."""
        ok = True
        for name, cmd in (("smtp", "smtpd"), ("pop3", "pop3d"), ("imap", "imapd")):
            log = open(os.path.join(self.root, cmd + ".log"), "ab")
            p = subprocess.Popen([self.osd, cmd, "-c", self.conf], stdout=log,
                                 stderr=subprocess.STDOUT)
            self.procs[name] = p
            ok = wait_port(self.ports[name], p) and ok
        return ok

    def log(self, cmd):
        try:
            with open(os.path.join(self.root, cmd + ".log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def cleanup(self):
        self.stop()
        if os.environ.get("OSD_TEST_KEEP"):
            print("kept " + self.root)
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def netlink_inodes():
    """Inodes of the netlink sockets of this network namespace."""
    try:
        with open("/proc/net/netlink") as f:
            return {ln.split()[-1] for ln in f.readlines()[1:]}
    except OSError:
        return set()


def fd_kinds(pid):
    """What a daemon's own descriptors point at (sockets by kind), sorted."""
    nl, out = netlink_inodes(), []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            t = "netlink" if t[8:-1] in nl else "socket"
        out.append(t)
    return sorted(out)


def tree_fds(pid):
    """(processes, open descriptors) of pid and its descendants."""
    from idle_sessions import tree
    procs = fds = 0
    for p in tree(pid):
        try:
            fds += len(os.listdir("/proc/%d/fd" % p))
            procs += 1
        except OSError:
            pass
    return procs, fds


# ---------------------------------------------------------------- hostile side

# What each kind sends, per protocol.
SLOW_LINE = {"smtp": b"EHLO slowloris.client.example.net.that.never.ends\r\n",
             "pop3": b"USER slowloris-user-name-that-never-ends@example.test\r\n",
             "imap": b"a1 LOGIN slowloris-user-name-that-never-ends@example.test pw\r\n"}
AUTH_FIRST = {"smtp": b"EHLO auth.client.example\r\n", "pop3": b"", "imap": b""}
AUTH_TRY = {"smtp": b"AUTH PLAIN " + base64.b64encode(b"\0alice@example.test\0wrong-pw") + b"\r\n",
            "pop3": b"USER alice@example.test\r\nPASS wrong-pw\r\n",
            "imap": b"a LOGIN alice@example.test wrong-pw\r\n"}


OPEN = {}           # proto -> [sessions open now, most open at once]


def count_open(proto, delta):
    now = OPEN.setdefault(proto, [0, 0])
    now[0] += delta
    now[1] = max(now[1], now[0])


class Result:
    """What one hostile session saw."""
    __slots__ = ("proto", "kind", "greeting", "last", "replies", "closed", "secs", "sent", "error")

    def __init__(self, proto, kind):
        self.proto, self.kind = proto, kind
        self.greeting, self.last, self.replies = "", "", 0
        self.closed, self.secs, self.sent, self.error = False, 0.0, 0, ""


def reply_lines(buf):
    """Complete lines of buf (bytes) and the rest."""
    *lines, rest = buf.split(b"\n")
    return [ln.rstrip(b"\r").decode("latin-1") for ln in lines], rest


async def hostile(proto, kind, port, src, gap, limit, res):
    """One hostile session, until the server closes it or limit seconds pass."""
    t0 = time.monotonic()
    buf = b""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=(src, 0)), limit)
    except (OSError, asyncio.TimeoutError) as e:
        res.error = "connect: %s" % e
        return res
    auth_pending = 0
    count_open(proto, 1)

    async def feed(wait):
        """Read what the server said within wait seconds; False at EOF."""
        nonlocal buf, auth_pending
        try:
            data = await asyncio.wait_for(reader.read(4096), wait)
        except asyncio.TimeoutError:
            return True
        except OSError:
            data = b""
        if not data:
            return False
        buf = (buf + data)[-LINE_MAX:]
        lines, buf = reply_lines(buf)
        for ln in lines:
            if not res.greeting:
                res.greeting = ln
            else:
                res.replies += 1
                # SMTP continuation lines ("250-") are not the last word.
                if not (proto == "smtp" and ln[3:4] == "-"):
                    res.last = ln
                    auth_pending = max(0, auth_pending - 1)
        return True

    try:
        alive = await feed(limit)
        line = SLOW_LINE[proto]
        pos = 0
        while alive and time.monotonic() - t0 < limit:
            if kind == "slowloris":
                writer.write(line[pos:pos + 1])
                pos = (pos + 1) % len(line)
                res.sent += 1
                wait = gap
            elif kind == "endless":
                writer.write(b"A" * 1024)
                res.sent += 1024
                wait = 0.2
            elif kind == "auth" and auth_pending == 0:
                first = AUTH_FIRST[proto] if res.sent == 0 else b""
                writer.write(first + AUTH_TRY[proto])
                auth_pending = (first + AUTH_TRY[proto]).count(b"\n")
                res.sent += 1
                wait = limit
            else:
                wait = limit
            try:
                await writer.drain()
            except OSError:
                pass
            alive = await feed(wait)
        res.closed = not alive
    except (OSError, asyncio.IncompleteReadError) as e:
        res.error = str(e)
        res.closed = True
    res.secs = time.monotonic() - t0
    count_open(proto, -1)
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return res


KINDS = ("slowloris", "endless", "auth", "idle")


def plan(clients, kinds=KINDS):
    """The kinds of CLIENTS hostile sessions per protocol: half slowloris, a fifth
    endless, a sixth auth, the rest idle; a kind not in kinds is idle instead."""
    n_slow = clients // 2
    n_endless = clients // 5
    n_auth = clients // 6
    n_idle = clients - n_slow - n_endless - n_auth
    out = ["slowloris"] * n_slow + ["endless"] * n_endless + ["auth"] * n_auth + ["idle"] * n_idle
    return [k if k in kinds else "idle" for k in out]


async def hostile_load(ports, clients, gap, limit, results, extra_per_ip=5, kinds=KINDS):
    """CLIENTS hostile sessions per protocol, spread over sources; then the per-address cap probe."""
    tasks = []
    for proto, port in ports.items():
        for i, kind in enumerate(plan(clients, kinds)):
            # Interleave the kinds over the sources; 127.1.P.x, P per protocol.
            src = "127.1.%d.%d" % ({"smtp": 0, "pop3": 1, "imap": 2}[proto], i // PER_IP + 1)
            res = Result(proto, kind)
            results.append(res)
            tasks.append(hostile(proto, kind, port, src, gap, limit, res))
    # Connect in waves, so the listen backlog is not the first thing measured.
    running = []
    for k in range(0, len(tasks), 100):
        running += [asyncio.ensure_future(t) for t in tasks[k:k + 100]]
        await asyncio.sleep(0.1)
    # The per-address cap: CAP + extra sessions from one more address, idle.
    for proto, port in ports.items():
        for _ in range(CAP + extra_per_ip):
            res = Result(proto, "over-cap")
            results.append(res)
            running.append(asyncio.ensure_future(
                hostile(proto, "idle", port, "127.1.9.1", gap, limit, res)))
    await asyncio.gather(*running)


# ---------------------------------------------------------------- legitimate side

def legit_smtp(port, src, i):
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="legit.test", timeout=60,
                     source_address=(src, 0))
    try:
        refused = s.sendmail("legit@client.test", ["alice@" + DOM],
                             "Subject: legit %d\r\n\r\nserved under attack\r\n" % i)
        if refused:
            raise RuntimeError("refused %r" % refused)
    finally:
        s.quit()


def legit_user(src):
    """Each legitimate thread its own user: a POP3 session locks its maildrop (RFC 1939)."""
    return "legit%s" % src.rsplit(".", 1)[1]


def legit_pop3(port, src, i):
    p = SrcPOP3("127.0.0.1", port, src)
    try:
        p.user("%s@%s" % (legit_user(src), DOM))
        p.pass_(legit_user(src) + "-pw")
        p.stat()
    finally:
        p.quit()


def legit_imap(port, src, i):
    m = SrcIMAP4("127.0.0.1", port, src)
    try:
        m.login("%s@%s" % (legit_user(src), DOM), legit_user(src) + "-pw")
        typ, _ = m.select("INBOX")
        if typ != "OK":
            raise RuntimeError("SELECT %s" % typ)
    finally:
        m.logout()


class SrcPOP3(poplib.POP3):
    def __init__(self, host, port, src):
        self._src = src
        super().__init__(host, port, timeout=60)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._src, 0))


class SrcIMAP4(imaplib.IMAP4):
    def __init__(self, host, port, src):
        self._src = src
        super().__init__(host, port, timeout=60)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._src, 0))


LEGIT = {"smtp": legit_smtp, "pop3": legit_pop3, "imap": legit_imap}


def legit_worker(proto, port, src, stop, out, pause=0.2, count=None):
    """Sessions one after another until stop is set (or count are done): latencies and failures."""
    i = 0
    while not stop.is_set() and (count is None or i < count):
        t0 = time.monotonic()
        try:
            LEGIT[proto](port, src, i)
            out["lat"].append(time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001 - every failure is counted and shown
            out["fail"].append("%s: %s" % (type(e).__name__, e))
        i += 1
        stop.wait(pause)


def start_legit(ports, per_proto, stop, count=None):
    """per_proto threads per protocol from 127.0.0.2..; their results by protocol."""
    out, threads = {}, []
    for proto, port in ports.items():
        out[proto] = {"lat": [], "fail": []}
        for k in range(per_proto):
            t = threading.Thread(target=legit_worker, daemon=True,
                                 args=(proto, port, "127.0.0.%d" % (2 + k), stop, out[proto],
                                       0.2, count))
            t.start()
            threads.append(t)
    return out, threads


def pct(values, q):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


# ---------------------------------------------------------------- memory

class PeakPss(threading.Thread):
    """Samples the PSS sum of each daemon tree every interval seconds; keeps the peaks."""

    def __init__(self, pids, interval=1.0):
        super().__init__(daemon=True)
        self.pids, self.interval = pids, interval
        self.peak = {k: (0, 0) for k in pids}     # (pss_kb, procs)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for k, pid in self.pids.items():
                pss, _, n = mem(pid)
                if pss > self.peak[k][0]:
                    self.peak[k] = (pss, n)
            self.stop.wait(self.interval)


def summarize(results):
    """(proto, kind, last reply's first words) -> count, and per proto the longest time to close."""
    table, longest, open_ = {}, {}, {}
    for r in results:
        # A refusal at the cap is the greeting itself.
        said = r.last or (r.greeting if r.greeting[:1] in ("4", "-") or "BYE" in r.greeting
                          else "")
        words = " ".join(said.split()[:5]) if said else ("(greeting only)" if r.greeting
                                                         else "(nothing)")
        if r.error and not r.greeting:
            words = "(error: %s)" % r.error[:40]
        key = (r.proto, r.kind, words, "closed" if r.closed else "OPEN")
        n, secs = table.get(key, (0, 0.0))
        table[key] = (n + 1, max(secs, r.secs))
        longest[r.proto] = max(longest.get(r.proto, 0), r.secs)
        if not r.closed:
            open_[r.proto] = open_.get(r.proto, 0) + 1
    return table, longest, open_


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--timeout", type=int, default=20)
    ap.add_argument("--deadline", type=int, default=60)
    ap.add_argument("--gap", type=float, default=3.0)
    ap.add_argument("--legit", type=int, default=4)
    ap.add_argument("--protos", default="smtp,pop3,imap",
                    help="the daemons to attack (all three run; the others get only legit load)")
    ap.add_argument("--kinds", default=",".join(KINDS),
                    help="hostile kinds to use; the sessions of a kind left out are idle")
    ap.add_argument("--build", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "..", "build"))
    a = ap.parse_args()
    o = Osd(a.build, a.timeout, a.deadline, max_conn=a.clients + 2 * CAP + a.legit + 50)
    try:
        if not o.start():
            sys.exit("osd daemons did not start: %s" % o.log("smtpd")[-400:])
        pids = {k: p.pid for k, p in o.procs.items()}
        base = {k: tree_fds(pid) for k, pid in pids.items()}
        peak = PeakPss(pids)
        peak.start()
        stop = threading.Event()
        legit, threads = start_legit(o.ports, a.legit, stop)
        results = []
        t0 = time.monotonic()
        targets = {p: o.ports[p] for p in a.protos.split(",")}
        asyncio.run(hostile_load(targets, a.clients, a.gap, a.deadline + 60, results,
                                 kinds=a.kinds.split(",")))
        wall = time.monotonic() - t0
        load = os.getloadavg()
        stop.set()
        for t in threads:
            t.join(90)
        peak.stop.set()
        peak.join()
        time.sleep(2)
        after = {k: tree_fds(pid) for k, pid in pids.items()}
        table, longest, open_ = summarize(results)
        print("test=hostile protos=%s clients=%d timeout=%d deadline=%d gap=%g wall_s=%.1f "
              "load=%.2f,%.2f,%.2f" % (a.protos, a.clients, a.timeout, a.deadline, a.gap, wall, *load))
        for proto in o.ports:
            lat = legit[proto]["lat"]
            fails = legit[proto]["fail"]
            print("proto=%s legit_sessions=%d legit_failures=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f"
                  % (proto, len(lat), len(fails), 1000 * pct(lat, 0.5), 1000 * pct(lat, 0.99),
                     1000 * max(lat or [float("nan")])))
            for f in fails[:3]:
                print("  legit failure: %s" % f)
            print("proto=%s peak_pss_kb=%d peak_procs=%d most_hostile_open=%d longest_hostile_s=%.1f "
                  "left_open=%d procs_fds_before=%s procs_fds_after=%s"
                  % (proto, peak.peak[proto][0], peak.peak[proto][1], OPEN.get(proto, [0, 0])[1],
                     longest.get(proto, 0),
                     open_.get(proto, 0), "%d/%d" % base[proto], "%d/%d" % after[proto]))
        for (proto, kind, words, how), (n, secs) in sorted(table.items()):
            print("reply proto=%s kind=%s n=%d %s max_s=%.1f last=%r"
                  % (proto, kind, n, how, secs, words))
        for name in ("smtpd", "pop3d", "imapd"):
            crashed = [ln for ln in o.log(name).splitlines() if "signal" in ln or "crash" in ln]
            print("daemon=%s running=%s crash_lines=%d"
                  % (name, o.procs[name[:4]].poll() is None, len(crashed)))
    finally:
        o.cleanup()


if __name__ == "__main__":
    main()
