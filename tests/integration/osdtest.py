"""osdtest - shared helpers for osd's integration tests.

Each test script starts the real programs from the build folder (OSD_BUILD,
set by meson) in a private temporary state folder, talks to them with real
clients, and stops every process it started, by PID.
"""
import os
import shutil
import signal
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
        p = subprocess.Popen([OSD, command, "-c", self.conf] + list(args),
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


def have(tool):
    return shutil.which(tool) is not None
