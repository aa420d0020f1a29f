#!/usr/bin/env python3
"""Fleet mode across hosts: network namespaces made by the test, a Redis master, its replica and
three Sentinels, two POP3 hosts and two SMTP gates, each osd with its own state folder.

Every host is a network namespace (ip netns, named osdt<pid>-NAME) with one veth on a bridge
that lives in a namespace of its own (osdt<pid>-sw): nothing is added to the machine's own
network namespace, every address is from 192.0.2.0/24 or 2001:db8::/64, and no packet leaves
the namespaces.
The test runs in a private mount namespace, so even the /run/netns mounts are its own; it
deletes every namespace at the end, also on failure.

- a POP3 login on pop-A (poplib, from the client namespace) lets that address relay via mx-B
  (smtplib, swaks); the propagation time is measured and printed (no threshold); another
  address is refused; the same over IPv6 (pop-B, mx-A);
- the Redis master is killed: Sentinel promotes the replica, logins made during and after the
  failover reach every host, and the new master holds them with their exact expiry;
- one gate is partitioned (its veth set down): it keeps its state, still allows what it
  mirrored and what is logged in on it, says it is cut off (fleet.status, osd status), and
  after the link is up again catches up with the logins made meanwhile (and publishes its own);
- a gate restarted with an empty state folder resynchronises from Redis;
- throughout, a watcher thread reads every host's open-smtp/ and relay.cdb: no host ever holds
  an address that never logged in, no copy carries a later login time than its original, and
  no entry outlives its expiry (relay_expire is short).
"""
import ctypes
import json
import os
import poplib
import shutil
import signal
import smtplib
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import OSD, Osd, check, finish, wait_for  # noqa: E402

PID = os.getpid()
NS = "osdt%d-" % PID
EXPIRE = 45                 # relay_expire: short, so expiry is seen within the run
MARGIN = 5                  # the longest a watcher may be busy elsewhere when an entry is due
DOM = "example.test"
REMOTE = "someone@remote.example"
PASSWORD = "fleet-netns-1"
ADMIN = ["--user", "admin", "--pass", "adminpw", "--no-auth-warning"]
QMAIL_RCPTHOSTS = "553"

# Hosts: namespace name -> address on the bridge.
ADDR = {"r1": "192.0.2.11", "r2": "192.0.2.12",
        "s1": "192.0.2.21", "s2": "192.0.2.22", "s3": "192.0.2.23",
        "popA": "192.0.2.31", "popB": "192.0.2.32", "mxA": "192.0.2.41", "mxB": "192.0.2.42",
        "cli": "192.0.2.99"}
CLIENTS = ["192.0.2.%d" % i for i in range(100, 200)]      # each logs in once, in order
STRANGERS = ["192.0.2.%d" % i for i in range(200, 206)]    # never log in anywhere
CLIENTS6 = ["2001:db8::%x" % i for i in range(0x100, 0x104)]
STRANGER6 = "2001:db8::200"


def addr6(name):
    """A host's IPv6 address: 2001:db8:: and the last octet of its IPv4 one (in hex digits)."""
    return "2001:db8::" + ADDR[name].split(".")[-1]
# First an address where no host answers (its connect never completes) and a port nobody
# listens on (refused): the watcher skips both, each time it asks, without waiting on them.
SENTINELS = ", ".join(["192.0.2.24:26379", "192.0.2.21:26380"] +
                      ["%s:26379" % ADDR[s] for s in ("s1", "s2", "s3")])


# ---------------------------------------------------------------- the client agent
# Runs as 'ip netns exec osdtPID-cli python3 THIS --agent': real POP3 and SMTP clients
# (Python's poplib, smtplib) from the client namespace's addresses, driven by JSON lines.

class SrcPOP3(poplib.POP3):
    def __init__(self, host, src, timeout=10):
        self.src = src
        super().__init__(host, 110, timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.src, 0))


def agent_rcpt(src, host):
    try:
        s = smtplib.SMTP(host, 25, "roamer.test", timeout=10, source_address=(src, 0))
        s.ehlo("roamer.test")
        s.mail("alice@" + DOM)
        code, text = s.rcpt(REMOTE)
        s.quit()
        return code, text.decode(errors="replace")
    except (OSError, smtplib.SMTPException) as e:
        return -1, str(e)


def agent_do(req):
    op = req["op"]
    if op == "pop":
        try:
            p = SrcPOP3(req["host"], req["src"])
            p.user("alice@" + DOM)
            p.pass_("alice-pw")
            t = time.time()
            p.quit()
            return {"ok": True, "t": t}
        except (OSError, poplib.error_proto) as e:
            return {"ok": False, "err": str(e)}
    if op == "rcpt":
        code, text = agent_rcpt(req["src"], req["host"])
        return {"code": code, "text": text}
    if op == "relay_wait":
        # A fresh SMTP session every few ms until RCPT to a remote domain is accepted.
        deadline = time.time() + req["timeout"]
        tries = 0
        while time.time() < deadline:
            tries += 1
            code, _ = agent_rcpt(req["src"], req["host"])
            if code == 250:
                return {"t": time.time(), "tries": tries}
            time.sleep(0.005)
        return {"t": None, "tries": tries}
    if op == "port":
        try:
            socket.create_connection((req["host"], req["port"]), 2).close()
            return {"ok": True}
        except OSError:
            return {"ok": False}
    return {"err": "unknown op"}


def agent_main():
    for line in sys.stdin:
        sys.stdout.write(json.dumps(agent_do(json.loads(line))) + "\n")
        sys.stdout.flush()


if sys.argv[1:2] == ["--agent"]:
    agent_main()
    sys.exit(0)


# ---------------------------------------------------------------- namespaces

def skip(why):
    print("SKIP: %s" % why)
    sys.exit(77)


def ip(*args, check_rc=True):
    p = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=30)
    if check_rc and p.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def private_mounts():
    """This process into a mount namespace of its own (so the /run/netns mounts that ip netns
    makes are the test's alone and vanish with it), or the reason it cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNS, MS_REC, MS_PRIVATE = 0x00020000, 0x4000, 0x40000
    if libc.unshare(CLONE_NEWNS) != 0:
        return "unshare(CLONE_NEWNS): %s" % os.strerror(ctypes.get_errno())
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return "mount --make-rprivate /: %s" % os.strerror(ctypes.get_errno())
    return None


class Net:
    """The namespaces, the bridge and the veth pairs; delete() removes them all."""

    def __init__(self):
        self.made = []

    def add(self, name):
        ip("netns", "add", NS + name)
        self.made.append(NS + name)

    def build(self):
        self.add("sw")
        ip("-n", NS + "sw", "link", "add", "br0", "type", "bridge")
        ip("-n", NS + "sw", "link", "set", "br0", "up")
        for name, addr in ADDR.items():
            self.add(name)
            # Both ends made inside namespaces: the host's own namespace never sees them.
            ip("-n", NS + "sw", "link", "add", "v" + name, "type", "veth", "peer", "name", "eth0",
               "netns", NS + name)
            ip("-n", NS + "sw", "link", "set", "v" + name, "master", "br0", "up")
            batch = ("link set lo up\naddr add %s/24 dev eth0\naddr add %s/64 dev eth0 nodad\n"
                     "link set eth0 up\n" % (addr, addr6(name)))
            if name == "cli":
                batch += "".join("addr add %s/24 dev eth0\n" % a for a in CLIENTS + STRANGERS)
                batch += "".join("addr add %s/64 dev eth0 nodad\n" % a for a in CLIENTS6 + [STRANGER6])
            p = subprocess.run(["ip", "-n", NS + name, "-batch", "-"], input=batch, text=True,
                               capture_output=True, timeout=30)
            if p.returncode != 0:
                raise RuntimeError("ip -n %s -batch: %s" % (NS + name, p.stderr.strip()))

    def link(self, name, state):
        ip("-n", NS + "sw", "link", "set", "v" + name, state)

    def delete(self):
        for ns in reversed(self.made):
            ip("netns", "del", ns, check_rc=False)
        self.made = []


def netns_exec(name, argv):
    return ["ip", "netns", "exec", NS + name] + argv


procs = []          # every process the test starts (stopped by PID at the end)


def spawn(name, argv, log):
    p = subprocess.Popen(netns_exec(name, argv), stdout=log, stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


# ---------------------------------------------------------------- Redis and Sentinel

def rcli(host, port, *args, admin=True):
    p = subprocess.run(netns_exec("cli", ["redis-cli", "-h", host, "-p", str(port)] +
                                  (ADMIN if admin else []) + list(args)),
                       capture_output=True, text=True, timeout=20)
    return p.stdout.strip()


class Redis:
    """redis-server in its namespace: no persistence; ACL users osdfleet (what docs/fleet.md
    grants) and admin (replication, Sentinel, the test); the default user off."""

    def __init__(self, root, name, replicaof=None):
        self.name, self.addr = name, ADDR[name]
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "redis.conf")
        with open(self.conf, "w") as f:
            f.write("port 6379\nbind %s\nprotected-mode no\nsave \"\"\nappendonly no\ndir %s\n"
                    "user default off\n"
                    "user osdfleet on >%s ~osd:relay:* &osd:logins "
                    "+ping +get +set +mget +scan +eval +evalsha +publish +subscribe\n"
                    "user admin on >adminpw ~* &* +@all\n"
                    "masteruser admin\nmasterauth adminpw\n" % (self.addr, self.dir, PASSWORD))
            if replicaof:
                f.write("replicaof %s 6379\n" % replicaof)
        self.proc = spawn(name, ["redis-server", self.conf], open(os.path.join(self.dir, "log"), "ab"))

    def cli(self, *args):
        return rcli(self.addr, 6379, *args)


class Sentinel:
    def __init__(self, root, name):
        self.name, self.addr = name, ADDR[name]
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf, "w") as f:
            f.write("port 26379\nbind %s\nprotected-mode no\ndir %s\n"
                    "sentinel monitor osd %s 6379 2\n"
                    "sentinel down-after-milliseconds osd 1000\n"
                    "sentinel failover-timeout osd 10000\n"
                    "sentinel auth-user osd admin\nsentinel auth-pass osd adminpw\n"
                    % (self.addr, self.dir, ADDR["r1"]))
        self.proc = spawn(name, ["redis-sentinel", self.conf], open(os.path.join(self.dir, "log"), "ab"))

    def cli(self, *args):
        return rcli(self.addr, 26379, *args, admin=False)

    def master(self):
        return self.cli("SENTINEL", "get-master-addr-by-name", "osd").split("\n")[:1]


# ---------------------------------------------------------------- osd hosts

class Host(Osd):
    """One osd host in namespace ns: its own state folder, its daemons run in the namespace."""

    def __init__(self, name, ns, listen):
        self.name, self.ns = name, ns
        super().__init__(relay_expire="%ds" % EXPIRE,
                         extra="fleet = redis\nredis_sentinels = %s\nredis_master_name = osd\n"
                               "redis_user = osdfleet\nredis_password_file = %s\n"
                               "control_dir = control\ndefault_domain = %s\n%s"
                               % (SENTINELS, PWFILE, DOM, listen))
        self.write_control("me", "%s.%s\n" % (name, DOM))
        self.write_control("rcpthosts", "%s\n" % DOM)

    def run(self, *args, input=None, timeout=60):
        return subprocess.run(netns_exec(self.ns, [OSD, args[0], "-c", self.conf] + list(args[1:])),
                              input=input, capture_output=True, text=True, timeout=timeout)

    def start(self, command="watch", *args):
        p = spawn(self.ns, [OSD, command, "-c", self.conf] + list(args),
                  open(os.path.join(self.root, command + ".log"), "ab"))
        self.procs.append(p)
        return p

    def names(self):
        try:
            return {n for n in os.listdir(self.opensmtp) if not n.startswith(".")}
        except FileNotFoundError:
            return set()

    def connects(self, peer=None):
        return sum(1 for line in self.log("watch").splitlines()
                   if "fleet: connected to redis at" in line and (peer is None or peer in line))


def pop_host(name):
    # A private test network without TLS: plaintext logins allowed (as pop3_plaintext says).
    # "*": IPv4 and IPv6 (the namespace has only the host's own addresses and loopback).
    h = Host(name, name, "pop3_listen = *:110\npop3_plaintext = yes\nsmtp_listen =\nsubmission_listen =\n")
    p = h.run("user", "add", "alice@" + DOM, input="alice-pw\n")
    check(p.returncode == 0, "osd user add alice@%s on %s (%s)" % (DOM, name, p.stderr.strip()))
    return h


def gate_host(name, label=None):
    return Host(label or name, name, "smtp_listen = *:25\nsubmission_listen =\npop3_listen =\n")


def cdb_keys(path):
    """The keys of a CDB file (read directly: the records lie between the header and the first
    hash table)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return set()
    if len(data) < 2048:
        return set()
    end = min(struct.unpack_from("<I", data, 8 * i)[0] for i in range(256))
    keys, pos = set(), 2048
    while pos + 8 <= end:
        klen, dlen = struct.unpack_from("<II", data, pos)
        keys.add(data[pos + 8:pos + 8 + klen].decode(errors="replace"))
        pos += 8 + klen + dlen
    return keys


# ---------------------------------------------------------------- the watchful eye

class Logins:
    """Who logged in where and when: an address counts from the moment its login is attempted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.started = {}       # address -> time.time() just before the login began
        self.ok = {}            # address -> time.time() of the +OK after PASS
        self.where = {}         # address -> host name
        self.next = iter(CLIENTS)
        self.next6 = iter(CLIENTS6)

    def claim(self, host, v6=False):
        with self.lock:
            a = next(self.next6 if v6 else self.next)
            self.started[a] = time.time()
            self.where[a] = host
            return a

    def left(self):
        with self.lock:
            return len(CLIENTS) - len([a for a in self.started if ":" not in a])

    def known(self, a):
        with self.lock:
            return a in self.started


class Monitor(threading.Thread):
    """Reads every host's open-smtp/ and relay.cdb every few ms and notes any address that never
    logged in, any copy with a later time than its login, and any entry past its expiry."""

    def __init__(self, logins):
        super().__init__(daemon=True)
        self.logins = logins
        self.hosts = []
        self.stranger, self.later, self.outlived = set(), set(), set()
        self.seen = {}          # (host, address) -> (first seen, last seen)
        self.rounds = 0
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(0.05):
            for h in list(self.hosts):
                self.look(h)
            self.rounds += 1

    def look(self, h):
        now = time.time()
        names = h.names() | {k for k in cdb_keys(h.cdb) if k.startswith(("192.0.2.", "2001:db8:"))}
        for a in names:
            if not self.logins.known(a):
                self.stranger.add("%s on %s" % (a, h.name))
                continue
            first, _ = self.seen.get((h.name, a), (now, now))
            self.seen[(h.name, a)] = (first, now)
            with self.logins.lock:
                t_ok = self.logins.ok.get(a)
            if t_ok is None:
                continue
            try:
                mtime = os.stat(os.path.join(h.opensmtp, a)).st_mtime
            except FileNotFoundError:
                mtime = None
            if mtime is not None and mtime > t_ok + 0.001:
                self.later.add("%s on %s: %.3f after its login" % (a, h.name, mtime - t_ok))
            if now > t_ok + EXPIRE + MARGIN:
                self.outlived.add("%s on %s: %.1f s after its login" % (a, h.name, now - t_ok))


# ---------------------------------------------------------------- the test

class Agent:
    def __init__(self):
        self.proc = subprocess.Popen(netns_exec("cli", [sys.executable, os.path.abspath(__file__), "--agent"]),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(self.proc)

    def ask(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        return json.loads(line) if line else {}

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def login(agent, logins, host, v6=False):
    """A POP3 login on host from a fresh client address (IPv6 with v6); the address (None if
    it failed)."""
    a = logins.claim(host.name, v6)
    r = agent.ask(op="pop", host=addr6(host.ns) if v6 else ADDR[host.ns], src=a)
    if not r.get("ok"):
        print("# login of %s on %s failed: %s" % (a, host.name, r.get("err")))
        return None
    with logins.lock:
        logins.ok[a] = r["t"]
    return a


def relays(agent, gate, src):
    return agent.ask(op="rcpt", host=addr6(gate.ns) if ":" in src else ADDR[gate.ns], src=src).get("code")


def swaks(src, gate):
    p = subprocess.run(netns_exec("cli", ["swaks", "--server", "%s:25" % ADDR[gate.ns], "--local-interface", src,
                                          "--helo", "roamer.test", "--from", "alice@" + DOM, "--to", REMOTE,
                                          "--timeout", "20"]),
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def local_login(logins, h):
    """osd record (the hook of other POP/IMAP servers) on host h: (address, ms until it is in
    h's relay.cdb, or None)."""
    a = logins.claim(h.name)
    p = h.run("record", "--user", "bob@" + DOM, a)
    t = time.time()
    with logins.lock:
        logins.ok[a] = t
    if p.returncode != 0 or not wait_for(lambda: a in cdb_keys(h.cdb), step=0.002):
        return a, None
    return a, (time.time() - t) * 1000


def status_state(h):
    try:
        with open(os.path.join(h.state, "fleet.status")) as f:
            return f.readline().split()[-1]
    except (FileNotFoundError, IndexError):
        return None


def main():
    if os.geteuid() != 0:
        skip("network namespaces need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)")
    if shutil.which("ip") is None:
        skip("no 'ip' command (iproute2) to make network namespaces")
    for tool in ("redis-server", "redis-sentinel", "redis-cli", "swaks"):
        check(shutil.which(tool) is not None, "%s is installed (scripts/install-deps.sh)" % tool)
    why = private_mounts()
    if why:
        skip("cannot make a private mount namespace for ip netns: " + why)
    net = Net()
    had_run_netns = os.path.exists("/run/netns")
    root = tempfile.mkdtemp(prefix="osd-fleetns-")
    global PWFILE
    PWFILE = os.path.join(root, "redis.pw")
    with open(PWFILE, "w") as f:
        f.write(PASSWORD + "\n")
    hosts, agents = [], []
    monitor = None
    try:
        try:
            net.build()
        except RuntimeError as e:
            # (what was made is removed below, on the way out)
            skip("cannot make the network namespaces, bridge and veth pairs here: %s" % e)
        print("# namespaces %s* made; bridge br0 in %ssw" % (NS, NS))
        logins = Logins()
        monitor = Monitor(logins)
        monitor.start()
        agents += [Agent(), Agent()]
        run(net, root, hosts, logins, monitor, agents[0], agents[1])
    finally:
        if monitor is not None:
            monitor.halt.set()
            monitor.join(10)
        for a in agents:
            a.close()
        for p in procs:
            stop(p)
        net.delete()
        left = [n for n in ip("netns", "list", check_rc=False).stdout.split() if n.startswith(NS)]
        check(not left, "every namespace the test made is gone (%s)" % " ".join(left))
        if not had_run_netns:
            # ip netns made /run/netns (and, in our mount namespace only, a mount on it).
            ctypes.CDLL(None, use_errno=True).umount2(b"/run/netns", 2)     # MNT_DETACH
            try:
                os.rmdir("/run/netns")
            except OSError:
                pass            # something else uses it now
        for h in hosts:
            h.cleanup()
        shutil.rmtree(root, ignore_errors=True)
    finish()


def run(net, root, hosts, logins, monitor, agent, agent2):
    t_setup = time.monotonic()
    r1 = Redis(root, "r1")
    check(wait_for(lambda: r1.cli("PING") == "PONG"), "redis master answers on %s:6379 (namespace r1)" % r1.addr)
    r2 = Redis(root, "r2", replicaof=r1.addr)
    check(wait_for(lambda: "master_link_status:up" in r2.cli("INFO", "replication")),
          "the replica on %s follows the master" % r2.addr)
    sentinels = [Sentinel(root, s) for s in ("s1", "s2", "s3")]
    # Sentinels find each other and the replica through the master (hello messages, INFO).
    check(wait_for(lambda: all(s.cli("SENTINEL", "sentinels", "osd").count("runid") == 2 and
                               s.cli("SENTINEL", "replicas", "osd").count(r2.addr) >= 1
                               for s in sentinels), timeout=40, step=0.2),
          "the three sentinels know each other and the replica")

    popA, popB = pop_host("popA"), pop_host("popB")
    mxA, mxB = gate_host("mxA"), gate_host("mxB")
    hosts += [popA, popB, mxA, mxB]        # all of them, for the clean-up
    live = hosts[:]
    monitor.hosts[:] = live
    for h in live:
        h.start_watch()
    for h in (popA, popB):
        h.start("pop3d")
    for h in (mxA, mxB):
        h.start("smtpd")
    check(wait_for(lambda: all(h.connects(r1.addr) == 1 for h in live)),
          "the four watchers find the master through the sentinels and connect (as osdfleet)")
    check(wait_for(lambda: all(agent.ask(op="port", host=ip_, port=port)["ok"]
                               for h, port in ((popA, 110), (popB, 110), (mxA, 25), (mxB, 25))
                               for ip_ in (ADDR[h.ns], addr6(h.ns)))),
          "pop3d listens on pop-A and pop-B, smtpd on mx-A and mx-B (IPv4 and IPv6)")
    print("# set-up took %.1f s" % (time.monotonic() - t_setup))

    # ---- a login on pop-A lets the client relay via mx-B, and only that client
    stranger = STRANGERS[0]
    check(relays(agent, mxB, stranger) == 553, "before any login, mx-B refuses to relay for %s (553)" % stranger)
    props = []
    first = None
    for i in range(12):
        src = popA if i % 3 != 2 else popB
        dst = mxB if src is popA else mxA
        a = login(agent, logins, src)
        if a is None:
            check(False, "POP3 login on %s" % src.name)
            continue
        r = agent.ask(op="relay_wait", host=ADDR[dst.ns], src=a, timeout=30)
        if r["t"] is None:
            check(False, "%s (logged in on %s) relays via %s" % (a, src.name, dst.name))
            continue
        props.append((r["t"] - logins.ok[a]) * 1000)
        first = first or a
    check(len(props) == 12, "12 logins (on pop-A and pop-B) each let their client relay via the other side's gate")
    if props:
        print("# propagation, POP3 +OK -> the other gate's smtpd accepts RCPT: median %.1f ms, max %.1f ms "
              "(n=%d; load %s)" % (statistics.median(props), max(props), len(props),
                                   " ".join(open("/proc/loadavg").read().split()[:3])))
    rc, out = swaks(first, mxB) if first else (-1, "no login")
    check(rc == 0 and "queued as" in out, "swaks from %s relays a message via mx-B (rc %d)" % (first, rc))
    for s in STRANGERS[:3]:
        check(relays(agent, mxB, s) == 553 and relays(agent, mxA, s) == 553,
              "%s (never logged in) may relay via neither gate (553)" % s)
    rc, out = swaks(stranger, mxB)
    check(rc != 0 and QMAIL_RCPTHOSTS in out, "swaks from %s via mx-B is refused" % stranger)
    # IPv6: a login on pop-B from 2001:db8::100 relays via mx-A over IPv6; another v6 address not.
    a6 = login(agent, logins, popB, v6=True)
    r = agent.ask(op="relay_wait", host=addr6("mxA"), src=a6, timeout=30) if a6 else {"t": None}
    check(r["t"] is not None, "%s (POP3 login on pop-B over IPv6) relays via mx-A over IPv6" % a6)
    check(relays(agent, mxA, STRANGER6) == 553 and relays(agent, mxB, STRANGER6) == 553,
          "%s (never logged in) may relay via neither gate" % STRANGER6)
    check(a6 is not None and r1.cli("EXISTS", "osd:relay:" + a6) == "1" and
          wait_for(lambda: all(a6 in h.names() for h in live)),
          "its key osd:relay:%s is in redis, and the entry on every host" % a6)
    rc, f = mxB.check_ip(first)
    check(rc == 0 and f.get("user") == "alice@" + DOM, "osd check on mx-B names alice as who logged in")
    key = r1.cli("GET", "osd:relay:" + first)
    ms = int(key.split()[0]) if key else 0
    check(key.endswith(" alice@" + DOM) and
          int(r1.cli("PEXPIRETIME", "osd:relay:" + first) or 0) == ms + EXPIRE * 1000,
          "the key in redis holds the login and expires exactly at login + relay_expire")

    # ---- kill the master; logins keep coming (pop-A and pop-B in turn) during and after the failover
    during = []
    halt = threading.Event()

    def keep_logging_in():
        n = 0
        # (addresses kept for the later steps: a slow failover does not use them up)
        while not halt.is_set() and logins.left() > 30:
            h = popA if n % 2 == 0 else popB
            a = login(agent2, logins, h)
            if a is not None:
                during.append((a, h))
            n += 1
            halt.wait(0.3)

    t = threading.Thread(target=keep_logging_in, daemon=True)
    t.start()
    time.sleep(1)
    t_kill = time.monotonic()
    r1.proc.send_signal(signal.SIGKILL)
    r1.proc.wait()
    n_before = len(during)
    promoted = wait_for(lambda: all(s.master() == [r2.addr] for s in sentinels), timeout=60, step=0.1)
    t_promoted = time.monotonic()
    check(promoted, "the sentinels promote the replica %s" % r2.addr)
    check(wait_for(lambda: "role:master" in r2.cli("INFO", "replication")), "%s says it is the master" % r2.addr)
    back = wait_for(lambda: all(h.connects(r2.addr) >= 1 for h in live), timeout=60, step=0.05)
    t_back = time.monotonic()
    check(back, "the four watchers reconnect to the new master")
    check(all("cut off from redis" in h.log("watch") for h in live), "and each logged that it was cut off")
    n_failover = len(during) - n_before
    time.sleep(2)
    halt.set()
    t.join(30)
    print("# failover: master killed -> sentinels name the replica %.1f s, -> all four watchers on it %.1f s"
          % (t_promoted - t_kill, t_back - t_kill))
    check(n_failover > 0 and len(during) > n_failover, "logins were made during the failover (%d) and after it (%d)"
          % (n_failover, len(during) - n_before - n_failover))
    for a, h in during:
        others = [o for o in live if o is not h]
        check(wait_for(lambda: all(a in o.names() and a in cdb_keys(o.cdb) for o in others)),
              "%s (login on %s around the failover) is in every other host's relay.cdb" % (a, h.name))
    if during:
        a = during[len(during) // 2][0]
        check(relays(agent, mxA, a) == 250 and relays(agent, mxB, a) == 250,
              "%s, logged in during the failover, relays via mx-A and mx-B" % a)
        addrs = [x for x, _ in during]
        check(wait_for(lambda: all(r2.cli("EXISTS", "osd:relay:" + x) == "1" for x in addrs)),
              "the new master holds every login made around the failover")
        x = addrs[0]
        with logins.lock:
            origin = [h for h in hosts if h.name == logins.where[x]][0]
        ms = os.stat(os.path.join(origin.opensmtp, x)).st_mtime_ns // 1000000
        check(int(r2.cli("PEXPIRETIME", "osd:relay:" + x) or 0) == ms + EXPIRE * 1000,
              "... with the exact expiry (login + relay_expire)")
    for s in STRANGERS[:3]:
        check(relays(agent, mxA, s) == 553 and relays(agent, mxB, s) == 553,
              "after the failover, %s still relays via neither gate" % s)

    # ---- partition mx-B (its veth down on the bridge)
    before = login(agent, logins, popA)
    check(before is not None and wait_for(lambda: before in cdb_keys(mxB.cdb)),
          "%s (login on pop-A) reaches mx-B before the partition" % before)
    linked = [local_login(logins, mxB)[1] for _ in range(3)]
    net.link("mxB", "down")
    t_cut = time.monotonic()
    check(wait_for(lambda: status_state(mxB) == "cut-off", timeout=30),
          "mx-B's fleet.status says cut-off (after %.1f s)" % (time.monotonic() - t_cut))
    st = mxB.run("status").stdout
    check("fleet: CUT OFF from redis" in st, "osd status on mx-B says it is cut off from redis")
    rc, _ = mxB.check_ip(before)
    check(rc == 0, "mx-B, cut off, still allows %s (mirrored before the partition)" % before)
    # Logins recorded on the gate itself while it is cut off (osd record, as another POP/IMAP
    # server on it would): they count there; how long each takes to reach its relay.cdb is
    # printed beside the same on a connected gate (informative: no threshold).
    cut = []
    for i in range(6):
        local, ms = local_login(logins, mxB)
        cut.append(ms)
        check(ms is not None and mxB.check_ip(local)[0] == 0,
              "mx-B, cut off, allows a login recorded on it (%s)" % local)
        time.sleep(0.3)
    print("# osd record -> relay.cdb on mx-B, connected: %s ms; cut off: %s ms" %
          (" ".join("%.0f" % x for x in linked if x is not None), " ".join("%.0f" % x for x in cut if x is not None)))
    meanwhile = [login(agent, logins, popA), login(agent, logins, popB)]
    check(None not in meanwhile and wait_for(lambda: all(a in cdb_keys(mxA.cdb) for a in meanwhile)),
          "logins on pop-A and pop-B during the partition reach mx-A")
    check(all(a not in mxB.names() for a in meanwhile if a), "... not mx-B, cut off")
    check(mxB.check_ip(STRANGERS[3])[0] == 1, "mx-B, cut off, still refuses %s" % STRANGERS[3])
    time.sleep(1)
    net.link("mxB", "up")
    t_heal = time.monotonic()
    check(wait_for(lambda: all(a in cdb_keys(mxB.cdb) for a in meanwhile if a), timeout=40),
          "after the link is up, mx-B catches up with the logins made meanwhile (%.1f s)" % (time.monotonic() - t_heal))
    check(wait_for(lambda: status_state(mxB) == "up"), "mx-B's fleet.status says up again")
    check("fleet: connected to redis at %s" % r2.addr in mxB.run("status").stdout,
          "osd status on mx-B says connected")
    check(wait_for(lambda: all(local in h.names() for h in (popA, popB, mxA))),
          "the login recorded on mx-B while cut off reaches the other hosts")
    for a in meanwhile:
        if a:
            check(relays(agent, mxB, a) == 250, "%s relays via mx-B after the partition" % a)
    check(relays(agent, mxB, STRANGERS[3]) == 553, "%s still does not" % STRANGERS[3])

    # ---- restart mx-A with an empty state folder: it resynchronises from Redis
    check(all(stop(p) == 0 for p in mxA.procs), "osd watch and osd smtpd on mx-A stop")
    live.remove(mxA)
    mxA2 = gate_host("mxA", "mxA-restarted")
    hosts.append(mxA2)
    live.append(mxA2)
    monitor.hosts[:] = live
    with logins.lock:
        expect = {a for a, t_ok in logins.ok.items() if t_ok + EXPIRE > time.time() + 10}
    mxA2.start_watch()
    mxA2.start("smtpd")
    check(wait_for(lambda: "resync from redis" in mxA2.log()), "the restarted mx-A resyncs from redis")
    check(wait_for(lambda: expect <= cdb_keys(mxA2.cdb)),
          "its relay.cdb has every live login of the fleet (%d)" % len(expect))
    newest = max(expect, key=lambda a: logins.ok[a]) if expect else None
    check(newest is not None and wait_for(lambda: relays(agent, mxA2, newest) == 250),
          "%s relays via the restarted mx-A" % newest)
    check(relays(agent, mxA2, STRANGERS[4]) == 553, "%s does not" % STRANGERS[4])

    # ---- expiry: a login is still everywhere shortly before its expiry, and gone from every
    # host at it (a copy carries whole seconds: it may leave up to 1 s before the original)
    now = time.time()
    with logins.lock:
        due = sorted((t_ok, a) for a, t_ok in logins.ok.items() if t_ok + EXPIRE - 3 > now + 0.5)
    if check(bool(due), "a login is left to watch expire"):
        t_ok, a = due[0]
        wait_for(lambda: time.time() > t_ok + EXPIRE - 3, timeout=EXPIRE, step=0.05)
        check(all(a in cdb_keys(h.cdb) for h in live),
              "%s is in every host's relay.cdb 3 s before its expiry" % a)
        wait_for(lambda: time.time() > t_ok + EXPIRE, timeout=10, step=0.05)
        check(wait_for(lambda: all(a not in h.names() and a not in cdb_keys(h.cdb) for h in live),
                       timeout=MARGIN),
              "%s leaves every host's open-smtp/ and relay.cdb at its expiry" % a)
        check(relays(agent, mxB, a) == 553 and relays(agent, mxA2, a) == 553,
              "%s may no longer relay via mx-B or mx-A" % a)
    with logins.lock:
        old = [a for a, t_ok in logins.ok.items() if t_ok + EXPIRE < time.time()]
    # A login whose expiry passed a moment ago may be in its watcher's hands right now:
    # gone within 2 s (the monitor below allows a busy watcher 5 s).
    check(bool(old) and wait_for(lambda: not any(a in h.names() for a in old for h in live), timeout=2),
          "no host holds any of the %d logins past their expiry" % len(old))

    # ---- what the monitor saw throughout
    time.sleep(0.2)
    check(monitor.rounds > 50, "the monitor read every host's state %d times" % monitor.rounds)
    check(not monitor.stranger, "no host ever held an address that never logged in %s" % sorted(monitor.stranger))
    check(not monitor.later, "no copy ever carried a later time than its login %s" % sorted(monitor.later))
    check(not monitor.outlived, "no entry outlived its expiry (+%d s for a busy watcher) %s"
          % (MARGIN, sorted(monitor.outlived)))
    for h in live:
        w = h.procs[0]
        check(w.poll() is None, "osd watch on %s is still running" % h.name)
    for h in live:
        check(stop(h.procs[0]) == 0, "osd watch on %s stops cleanly" % h.name)
    for h in live:
        for s in ("AddressSanitizer", "runtime error"):
            check(s not in h.log("watch") + h.log("smtpd") + h.log("pop3d"), "no %s on %s" % (s, h.name))


PWFILE = None
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
main()
