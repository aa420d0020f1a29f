"""osdtest - shared helpers for osd's integration tests.

Each test script starts the real programs from the build folder (OSD_BUILD,
set by meson) in a private temporary state folder, talks to them with real
clients, and stops every process it started, by PID.
"""
import imaplib
import os
import poplib
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("OSD_BUILD") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
OSD = os.path.join(BUILD, "osd")

# Generous bounds for *functional* waits (something must happen at all);
# never used as a speed requirement.
WAIT = float(os.environ.get("OSD_TEST_WAIT", "20"))
# A command put before every daemon the tests start, e.g.
# OSD_TEST_WRAP="valgrind --trace-children=yes --error-exitcode=99" (docs/hacking.md).
WRAP = os.environ.get("OSD_TEST_WRAP", "").split()

_failures = 0
_checks = 0


def check(cond, what):
    """Record one assertion; keep going so a run reports every failure."""
    global _failures, _checks
    _checks += 1
    if cond:
        print("ok   - " + what)
    else:
        _failures += 1
        print("FAIL - " + what)
    return cond


def finish():
    """Exit non-zero if any check failed (or none ran)."""
    print("%d checks, %d failed" % (_checks, _failures))
    sys.exit(1 if _failures or _checks == 0 else 0)


def wait_for(pred, timeout=WAIT, step=0.01):
    """Poll pred() until it is true or timeout passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on right now (for a daemon's *_listen); IPv6 when host has a ':'."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_udp_tcp_port():
    """A port free for both UDP and TCP on 127.0.0.1 (dnsmasq takes both)."""
    while True:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()


def can_bind(host, port):
    """Could a server bind host:port now (e.g. port 25 on 127.0.0.x, as root)?"""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_port(port, proc=None, host="127.0.0.1"):
    """Wait until port accepts connections; False if proc died first."""
    def up():
        if proc is not None and proc.poll() is not None:
            return True
        try:
            socket.create_connection((host, port), 1).close()
            return True
        except OSError:
            return False
    return bool(wait_for(up)) and (proc is None or proc.poll() is None)


def make_cert(root, cn="localhost", san=None):
    """A self-signed test certificate and key in root: (cert, key).
    san: a subjectAltName such as "IP:127.0.0.1" (for clients that check it)."""
    cert, key = os.path.join(root, "cert.pem"), os.path.join(root, "key.pem")
    extra = ["-addext", "subjectAltName=" + san] if san else []
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-subj", "/CN=" + cn, "-days", "1", "-keyout", key, "-out", cert] + extra,
                   check=True, capture_output=True, timeout=60)
    return cert, key


def children_of(pid):
    """Direct children of pid (from /proc)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class SmtpRaw:
    """A raw SMTP connection from a chosen source address: exact bytes out,
    replies read back one at a time, in order (for pipelining and hostile input)."""

    def __init__(self, port, src="127.0.0.2", host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout, source_address=(src, 0))
        self.f = self.sock.makefile("rb")
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def reply(self):
        """(code, text) of the next reply, all its lines; (0, '') at EOF."""
        lines = []
        while True:
            try:
                line = self.f.readline()
            except OSError:
                line = b""
            if not line:
                break
            lines.append(line.rstrip(b"\r\n").decode("latin-1"))
            if line[3:4] != b"-":
                break
        if not lines:
            return 0, ""
        code = lines[-1][:3]
        return (int(code) if code.isdigit() else -1), "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def eof(self):
        """True when the server has closed the connection (nothing more to read)."""
        try:
            return self.f.read(1) == b""
        except OSError:
            return True

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def rcpt_reply(port, src, rcpt, sender="<alice@example.test>"):
    """(code, text) of the reply to RCPT TO:rcpt (sent as is) on a fresh SMTP
    connection from src (to ::1 when src is IPv6, else 127.0.0.1); (-1, why)
    when it cannot connect."""
    try:
        r = SmtpRaw(port, src, host="::1" if ":" in src else "127.0.0.1")
    except OSError as e:
        return -1, str(e)
    r.cmd("EHLO roamer.test")
    r.cmd("MAIL FROM:%s" % sender)
    c, t = r.cmd("RCPT TO:%s" % rcpt)
    r.cmd("QUIT")
    r.close()
    return c, t


class Osd:
    """A private osd installation: config, rules, state folder, daemons."""

    def __init__(self, relay_expire="3h", rules="", extra=""):
        self.root = tempfile.mkdtemp(prefix="osd-it-")
        self.conf = os.path.join(self.root, "osd.conf")
        self.state = os.path.join(self.root, "state")
        self.rules = os.path.join(self.root, "tcp.smtp")
        self.opensmtp = os.path.join(self.state, "open-smtp")
        self.cdb = os.path.join(self.state, "relay.cdb")
        self.procs = []
        with open(self.rules, "w") as f:
            f.write(rules)
        self.write_conf(relay_expire, extra)

    def write_conf(self, relay_expire, extra=""):
        with open(self.conf, "w") as f:
            f.write("# written by %s\nstate_dir = state\nrules = tcp.smtp\n"
                    "relay_expire = %s\n%s" % (os.path.basename(sys.argv[0]),
                                               relay_expire, extra))

    def run(self, *args, input=None, timeout=60):
        """Run 'osd ARGS -c conf' (the config goes after the command name)."""
        cmd = [OSD, args[0], "-c", self.conf] + list(args[1:])
        return subprocess.run(cmd, input=input, capture_output=True, text=True,
                              timeout=timeout)

    def record(self, ip):
        return self.run("record", ip)

    def check_ip(self, ip):
        """osd check: (exit code, dict of its 'key: value' lines)."""
        p = self.run("check", ip)
        fields = {}
        for line in p.stdout.splitlines():
            k, _, v = line.partition(": ")
            fields.setdefault(k, v)
        return p.returncode, fields

    def start(self, command="watch", *args):
        log = open(os.path.join(self.root, command + ".log"), "ab")
        p = subprocess.Popen(WRAP + [OSD, command, "-c", self.conf] + list(args),
                             stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def start_watch(self):
        seen = len(self.log("watch"))
        p = self.start("watch")
        # Ready once it has written the table and logged that it watches
        # (in this run's part of the log).
        wait_for(lambda: "watching" in self.log("watch")[seen:] or p.poll() is not None)
        return p

    @property
    def control(self):
        """control_dir of a config that says 'control_dir = control'."""
        return os.path.join(self.root, "control")

    def write_control(self, name, text):
        """Write one qmail-style control file (control_dir = control)."""
        os.makedirs(self.control, exist_ok=True)
        with open(os.path.join(self.control, name), "w") as f:
            f.write(text)

    def start_smtpd(self, *ports):
        """Start 'osd smtpd'; ready once it logs 'ready' and ports accept."""
        seen = len(self.log("smtpd"))
        p = self.start("smtpd")
        wait_for(lambda: "ready" in self.log("smtpd")[seen:] or p.poll() is not None)
        for port in ports:
            wait_port(port, p)
        return p

    def queue_files(self):
        """Names in state/queue/new marked complete (messages smtpd acknowledged with 250)."""
        return [n for n, complete in self.new_files() if complete]

    def new_files(self):
        """(name, marked complete) of every file in state/queue/new: a writer creates its
        file there read-only and makes it writable for its owner once complete."""
        d = os.path.join(self.state, "queue", "new")
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            try:
                out.append((n, bool(os.lstat(os.path.join(d, n)).st_mode & stat.S_IWUSR)))
            except FileNotFoundError:
                pass
        return out

    def queue_read(self, name):
        """One queue file: (envelope dict of lists, message bytes)."""
        with open(os.path.join(self.state, "queue", "new", name), "rb") as f:
            data = f.read()
        head, _, body = data.partition(b"\n\n")
        env = {}
        for line in head.decode(errors="replace").split("\n")[1:]:
            k, _, v = line.partition(" ")
            env.setdefault(k, []).append(v)
        return env, body

    def log(self, command="watch"):
        try:
            with open(os.path.join(self.root, command + ".log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def cdb_keys(self):
        """Keys of relay.cdb as Debian's cdb tool dumps them (in order)."""
        if not os.path.exists(self.cdb):
            return []
        out = subprocess.run(["cdb", "-d", self.cdb], capture_output=True).stdout
        keys = []
        for rec in out.split(b"\n"):
            if not rec.startswith(b"+"):
                continue
            head, _, rest = rec.partition(b":")
            klen = int(head[1:].split(b",")[0])
            keys.append(rest[:klen].decode())
        return keys

    def stop(self, p, sig=signal.SIGTERM, timeout=WAIT):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("OSD_TEST_KEEP"):
            print("kept " + self.root)
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def tcpserver_env(cdb, host, sources):
    """Debian's tcpserver -x cdb on host running env: for each source address,
    the environment it gives that client ({} when it closes without one); None
    when tcpserver does not start.  IPv6 when host has a ':'."""
    v6 = ":" in host
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen(["tcpserver"] + (["-6"] if v6 else []) +
                         ["-R", "-H", "-x", cdb, host, str(port), "env"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={"PATH": "/usr/bin:/bin"})
    got = {}
    try:
        if not wait_port(port, p, host=host):
            return None
        for src in sources:
            c = socket.create_connection((host, port), 10, source_address=(src, 0))
            data = b""
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            c.close()
            got[src] = dict(line.partition("=")[::2] for line in data.decode().splitlines())
    finally:
        p.kill()
        p.wait()
    return got


def check_no_crash(name, log):
    """No session of daemon name died of a signal or hit a sanitizer report in log."""
    check("died of signal" not in log and "AddressSanitizer" not in log
          and "runtime error" not in log, "no %s session crashed" % name)


def have(tool):
    return shutil.which(tool) is not None


class SmtpSink:
    """Postfix's smtp-sink on host:port, keeping every message it accepts as one
    file (-d) in a private folder; extra options (-f RCPT, -r RCPT, ...) pass through."""

    def __init__(self, *opts, host="127.0.0.1", port=None):
        self.host, self.port = host, port or free_port(host)
        # Outside the osd root (0700): smtp-sink writes as nobody.
        self.dir = tempfile.mkdtemp(prefix="osd-sink-")
        os.chmod(self.dir, 0o777)
        os.makedirs(os.path.join(self.dir, "m"), mode=0o777)
        os.chmod(os.path.join(self.dir, "m"), 0o777)
        self.logf = open(os.path.join(self.dir, "sink.log"), "wb")
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "nobody", "-h", "sink.test", "-d",
             os.path.join(self.dir, "m", "msg-")] + list(opts) +
            ["%s:%d" % (host, self.port), "100"],
            stdout=self.logf, stderr=subprocess.STDOUT)
        self.ok = wait_port(self.port, self.proc, host=host)

    def files(self):
        """The raw dump files (smtp-sink's X- headers, its Received, the message)."""
        d = os.path.join(self.dir, "m")
        out = []
        for name in sorted(os.listdir(d)):
            try:
                with open(os.path.join(d, name), "rb") as f:
                    out.append(f.read())
            except OSError:
                pass
        return out

    def count(self, marker):
        """How many dumped messages contain the bytes marker."""
        m = marker.encode() if isinstance(marker, str) else marker
        return sum(1 for data in self.files() if m in data)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def qstat(o):
    """osd qstat: (messages in queue, not yet preprocessed), (None, None) when unreadable."""
    p = o.run("qstat")
    total = fresh = None
    for line in p.stdout.splitlines():
        if line.startswith("messages in queue: "):
            total = int(line.split(": ", 1)[1])
        elif line.startswith("messages in queue but not yet preprocessed: "):
            fresh = int(line.split(": ", 1)[1])
    return total, fresh


class SrcIMAP(imaplib.IMAP4):
    """imaplib.IMAP4 to 127.0.0.1:port from a chosen source address."""

    def __init__(self, port, src="127.0.0.3", timeout=10):
        self._src = src
        super().__init__("127.0.0.1", port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._src, 0))


class SrcPOP3(poplib.POP3):
    """poplib.POP3 from a chosen source address (older Pythons lack the argument)."""

    def __init__(self, host, port, src, timeout=10):
        self._src = src
        super().__init__(host, port, timeout=timeout)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._src, 0))


def add_user(o, login, password, flags=None, cleartext=None):
    """osd user add LOGIN (user@domain), then in vpasswd by hand: vpopmail's flag
    mask (the gid field) and the cleartext 8th field when given.  The home."""
    p = o.run("user", "add", login, input=password + "\n")
    check(p.returncode == 0, "osd user add %s (%s)" % (login, p.stderr.strip()))
    user, dom = login.split("@")
    path = os.path.join(o.state, "domains", dom, "vpasswd")
    with open(path) as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        f = line.split(":")
        if f[0] == user:
            if flags is not None:
                f[3] = str(flags)
            if cleartext is not None:
                f = f[:7] + [cleartext]
            lines[i] = ":".join(f)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return os.path.join(o.state, "domains", dom, user)
