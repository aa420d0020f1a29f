#!/usr/bin/env python3
"""osd run's status file and osd status, against real daemons.

osd run with 'services = watch smtpd': osd status says OK (exit 0) with both
services running, relay.cdb and the listeners up, in text and in --json. A
service killed with SIGKILL shows up with its restart and 'last exit
signal:9'. SIGHUP after editing 'services' starts the new service (queue) and
stops the dropped one (smtpd, logged as info, its listener closed) while the
watcher keeps its pid and reloads. SIGTERM stops all with info lines only,
and osd status then says 'osd run is not running' (exit 1).

A listener that cannot be bound (the test holds the port) shows as DOWN and
smtpd as NOT RUNNING (exit 1). Certificates made by openssl: one expired in
2020 is CRITICAL, one valid for a day is a WARNING (both exit 1), one valid a
year is fine. A status file that cannot be parsed is UNKNOWN (exit 111).
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, check, children_of, finish, free_port, make_cert,  # noqa: E402
                     wait_for, wait_port)


def status(o, *args):
    p = o.run("status", *args)
    return p.returncode, p.stdout, p.stderr


def service_line(out, name):
    m = re.search(r"^service %s: (.*)$" % name, out, re.M)
    return m.group(1) if m else None


def child_pid(run, name):
    for pid in children_of(run.pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if ("osd-" + name).encode() in f.read():
                    return pid
        except OSError:
            pass
    return None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def openssl_cert(root, days=None, expired=False):
    """A certificate and key made by openssl: valid `days`, or expired in 2020."""
    os.makedirs(root, exist_ok=True)
    cert, key = os.path.join(root, "cert.pem"), os.path.join(root, "key.pem")
    if not expired:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=localhost", "-days", str(days), "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        return cert, key
    with open(os.path.join(root, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\n"
                "serial = serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n"
                "[p]\ncommonName = supplied\n")
    open(os.path.join(root, "index.txt"), "w").close()
    with open(os.path.join(root, "serial"), "w") as f:
        f.write("01\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=old", "-keyout", key, "-out", "req.pem"], check=True,
                   capture_output=True, timeout=60, cwd=root)
    subprocess.run(["openssl", "ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", key,
                    "-in", "req.pem", "-out", cert, "-startdate", "20200101000000Z",
                    "-enddate", "20200201000000Z"], check=True, capture_output=True,
                   timeout=60, cwd=root)
    return cert, key


def supervised():
    smtp, sub = free_port(), free_port()
    base = ("smtp_listen = 127.0.0.1:%d\nsubmission_listen = 127.0.0.1:%d\n"
            "control_dir = control\n" % (smtp, sub))
    o = Osd(extra=base + "services = watch smtpd\n")
    o.write_control("rcpthosts", "example.test\n")
    pids = []
    try:
        run = o.start("run")
        check(wait_port(smtp, run), "osd run started smtpd (its port accepts)")
        rc, out, err = [None] * 3

        def healthy():
            nonlocal rc, out, err
            rc, out, err = status(o)
            return rc == 0
        check(wait_for(healthy), "osd status: exit 0 once everything runs (%s, %r)"
              % (rc, out[:300] + err))
        check(out.startswith("OK: osd is healthy\n"), "first line 'OK: osd is healthy'")
        check(re.search(r"^osd run: pid %d, up \d+s, config %s$" % (run.pid, re.escape(o.conf)),
                        out, re.M) is not None, "it names osd run's pid and config")
        for name in ("watch", "smtpd"):
            line = service_line(out, name) or ""
            check(re.match(r"running, pid (\d+), up \d+s, restarts 0, last exit -$", line)
                  is not None, "service %s: running, restarts 0 (%r)" % (name, line))
        check(re.search(r"^relay\.cdb: \d+ bytes, \d+ records, rebuilt \d+s ago$", out, re.M)
              is not None, "relay.cdb: size, records, age")
        check("listener smtp_listen 127.0.0.1:%d: up" % smtp in out and
              "listener submission_listen 127.0.0.1:%d: up" % sub in out, "both listeners up")
        check(re.search(r"^queue: 0 messages, 0 not yet preprocessed$", out, re.M) is not None,
              "queue counts as osd qstat's")

        rc, js, _ = status(o, "--json")
        try:
            doc = json.loads(js)
        except ValueError:
            doc = {}
        check(rc == 0 and doc.get("status") == "OK" and doc.get("problems") == [],
              "--json: a JSON object, status OK, no problems")
        svc = {s.get("name"): s for s in doc.get("services", [])}
        check(svc.get("smtpd", {}).get("running") is True and
              svc.get("watch", {}).get("restarts") == 0, "--json: the services, running")
        check([l.get("up") for l in doc.get("listeners", [])] == [True, True],
              "--json: the listeners, up")

        # A service killed: osd run restarts it; status shows the restart and why.
        smtpd1 = child_pid(run, "smtpd")
        pids.append(smtpd1)
        os.kill(smtpd1, signal.SIGKILL)
        check(wait_for(lambda: re.match(r"running, pid (\d+), up \d+s, restarts 1, "
                                        r"last exit signal:9$",
                                        service_line(status(o)[1], "smtpd") or "")),
              "the killed smtpd: status shows restarts 1, last exit signal:9")
        smtpd2 = child_pid(run, "smtpd")
        pids.append(smtpd2)
        watch1 = child_pid(run, "watch")
        pids.append(watch1)

        # SIGHUP with one more service.
        o.write_conf("3h", base + "services = watch smtpd queue\n")
        run.send_signal(signal.SIGHUP)
        check(wait_for(lambda: (service_line(status(o)[1], "queue") or "").startswith("running")),
              "SIGHUP adding queue: osd status shows it running")
        check("info: queue: newly in services" in o.log("run"), "osd run logs the new service")
        check(child_pid(run, "watch") == watch1 and child_pid(run, "smtpd") == smtpd2,
              "the services that stay keep their pids")
        check(wait_for(lambda: "osd-watch[%d]: info: config reloaded" % watch1 in o.log("run")),
              "and got the SIGHUP (the watcher reloaded)")
        pids.append(child_pid(run, "queue"))

        # SIGHUP with smtpd dropped.
        o.write_conf("3h", base + "services = watch queue\n")
        run.send_signal(signal.SIGHUP)
        check(wait_for(lambda: not alive(smtpd2)), "SIGHUP dropping smtpd stops it")
        check(wait_for(lambda: service_line(status(o)[1], "smtpd") is None),
              "osd status no longer lists smtpd")
        log = o.log("run")
        check(re.search(r"osd-run\[%d\]: info: smtpd: stopped after" % run.pid, log) is not None,
              "its end is logged as info")
        try:
            socket.create_connection(("127.0.0.1", smtp), 2).close()
            closed = False
        except OSError:
            closed = True
        check(closed, "its listener is closed")
        rc, out, _ = status(o)
        check(rc == 0 and "smtp_listen" not in out,
              "status: healthy, no smtpd listener checked any more (%s, %r)" % (rc, out))

        # SIGTERM: everything stops; normal ends are info, not warn.
        seen = len(o.log("run"))
        check(o.stop(run) == 0, "SIGTERM: osd run exits 0")
        tail = o.log("run")[seen:]
        run_lines = [l for l in tail.splitlines() if "osd-run[" in l]
        check(any("info: watch: stopped after" in l for l in run_lines) and
              any("info: queue: stopped after" in l for l in run_lines),
              "each child's end at SIGTERM is logged as info (%r)" % run_lines)
        check(not any(": warn:" in l for l in run_lines),
              "and osd run logs no warning for them (%r)"
              % [l for l in run_lines if "warn" in l])
        rc, out, _ = status(o)
        check(rc == 1 and "osd run is not running (pid %d is gone)" % run.pid in out,
              "after it: osd status exit 1, 'osd run is not running' (%s, %r)"
              % (rc, out.splitlines()[:1]))
        check(re.search(r"^service watch: NOT RUNNING \(stopped\)", out, re.M) is not None,
              "the services' last state: stopped")

        # A status file that cannot be read as one: cannot tell.
        with open(os.path.join(o.state, "run", "osd-run.status"), "w") as f:
            f.write("garbage\n")
        rc, out, _ = status(o)
        check(rc == 111 and out.startswith("UNKNOWN: "),
              "an unparsable status file: UNKNOWN, exit 111 (%s, %r)" % (rc, out[:100]))
    finally:
        for pid in pids:
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)
        o.cleanup()


def listener_down():
    """The test holds smtpd's port (bound, not listening): smtpd cannot start."""
    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))
    port = hold.getsockname()[1]
    o = Osd(extra="smtp_listen = 127.0.0.1:%d\nsubmission_listen =\nservices = watch smtpd\n"
            % port)
    try:
        run = o.start("run")
        out = ""

        def reported():
            nonlocal out
            rc, out, _ = status(o)
            # Once osd run has reaped it (before, its pid is merely gone).
            line = service_line(out, "smtpd") or ""
            return rc == 1 and "NOT RUNNING" in line and "last exit exit:" in line
        check(wait_for(reported), "smtpd that cannot bind: status exit 1, NOT RUNNING (%r)"
              % out[:400])
        check(out.startswith("CRITICAL: ") and "service smtpd is not running" in out,
              "the first line says CRITICAL and why")
        check("listener smtp_listen 127.0.0.1:%d: DOWN: Connection refused" % port in out,
              "the listener shows DOWN")
        check(re.search(r"last exit exit:111", service_line(out, "smtpd") or "") is not None,
              "with smtpd's last exit status (111)")
        o.stop(run)
    finally:
        hold.close()
        o.cleanup()


def certificates():
    o = Osd(extra="services = watch\n")
    try:
        run = o.start("run")
        check(wait_for(lambda: status(o)[0] == 0), "services = watch: healthy")
        cases = [
            ("a certificate valid for a year", openssl_cert(os.path.join(o.root, "y"), 365),
             0, r"^certificate .*: expires \S+ \(in 36[45] days\)$", "OK: "),
            ("a certificate valid for one day", openssl_cert(os.path.join(o.root, "d"), 1),
             1, r"^certificate .*: expires \S+ \(in [01] days\)$", "WARNING: certificate "),
            ("a certificate that expired in 2020",
             openssl_cert(os.path.join(o.root, "x"), expired=True),
             1, r"^certificate .*: EXPIRED at 2020-02-01T00:00:00Z$", "CRITICAL: certificate "),
        ]
        for what, (cert, key), code, line, first in cases:
            o.write_conf("3h", "services = watch\ntls_cert = %s\ntls_key = %s\n" % (cert, key))
            rc, out, _ = status(o)
            check(rc == code, "%s: exit %d (%s)" % (what, code, rc))
            check(re.search(line, out, re.M) is not None and out.startswith(first),
                  "%s: %r" % (what, out.splitlines()[:1]))
        o.stop(run)
    finally:
        o.cleanup()


def main():
    supervised()
    listener_down()
    certificates()
    finish()


if __name__ == "__main__":
    main()
