#!/usr/bin/env python3
"""run_installed.py - one POP3 login -> relay -> delivery through the INSTALLED osd package.

Run as root by tests/deb/check.sh after "apt-get install ./osd_*.deb", on a throw-away
root (../shared/fresh-machine.sh): it edits the installed /etc/osd/osd.conf in place.
No systemd runs in a chroot, so each daemon is started the way its unit would start it:
the ExecStart= line of the installed unit file, run as root (the daemons drop to the
package's osd account themselves).  The sample osd.conf is changed only where a test
must: its listeners move to free loopback ports (the host's network is shared).

The walk (docs/operations.md, "From apt install to a working relay"):
  control files and two users (osd user add), osd config check;
  osd watch, osd pop3d, osd smtpd, osd queue from their units; Postfix's smtp-sink as
  the remote peer (control/smtproutes);
  before any login, the client address may not relay (RCPT to peer.test refused);
  one POP3 login (curl, from that address): osd check, osd list name the user;
  the same address relays (smtplib) to carol@peer.test and bob@example.test;
  the message reaches smtp-sink and bob's Maildir; osd revoke takes the right away;
  osd status; every process stopped by pid.
Exit status 0 when every step holds, 1 at the first that does not.
"""
import glob
import os
import random
import shlex
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

OSD = "/usr/sbin/osd"
LIBEXEC = "/usr/libexec/osd"
CONF = "/etc/osd/osd.conf"
UNITDIR = "/lib/systemd/system"
STATE = "/var/lib/osd"
DEADLINE = 60           # seconds any one wait may take before it counts as a failure

procs = {}              # name -> (Popen, log path)
work = tempfile.mkdtemp(prefix="osd-deb-check-")
os.chmod(work, 0o755)   # smtp-sink writes below it as nobody


def step(ok, what):
    if ok:
        print("deb-check: ok: " + what, flush=True)
        return
    print("deb-check: FAIL: " + what, flush=True)
    raise SystemExit(1)


def run(*args, stdin=None):
    p = subprocess.run(list(args), input=stdin, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, what):
    """Wait (bounded) for cond(); a readiness wait, not a timing assertion."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if cond():
            return True
        for name, (p, _) in procs.items():
            if p.poll() is not None:
                step(False, "%s exited (status %s) while waiting for %s" % (name, p.returncode, what))
        time.sleep(0.1)
    return False


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def start(name, argv):
    log = os.path.join(work, name + ".log")
    with open(log, "wb") as f:
        procs[name] = (subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                                        start_new_session=True), log)


def exec_start(unit):
    """The ExecStart= command line of an installed unit, as argv."""
    path = os.path.join(UNITDIR, unit)
    lines = [ln[len("ExecStart="):] for ln in open(path).read().splitlines()
             if ln.startswith("ExecStart=")]
    step(len(lines) == 1, "%s has one ExecStart= line: %s" % (path, lines))
    argv = shlex.split(lines[0])
    step(argv[0] == OSD and argv[-2:] == ["-c", CONF],
         "%s starts the installed %s with -c %s: %s" % (unit, OSD, CONF, lines[0]))
    return argv


def set_key(text, key, value):
    """Uncomment the sample's '#key = default' line as 'key = value' (exactly one)."""
    lines = text.splitlines()
    hits = [i for i, ln in enumerate(lines) if ln.split("=")[0].strip() in ("#" + key, key)]
    step(len(hits) == 1, "the sample osd.conf lists %s once" % key)
    lines[hits[0]] = "%s = %s" % (key, value)
    return "\n".join(lines) + "\n"


def pop3_login(client, port, user, password):
    """curl's POP3 LIST from the client address: (exit status, output)."""
    return run("curl", "-sS", "--max-time", "30", "--interface", client,
               "--user", "%s:%s" % (user, password), "pop3://127.0.0.1:%d/" % port)


def smtp_send(client, port, sender, rcpts, body):
    """One SMTP transaction from the client address: the refused RCPTs, or an exception."""
    with smtplib.SMTP("127.0.0.1", port, source_address=(client, 0), timeout=30) as s:
        s.ehlo("roaming.example.test")
        return s.sendmail(sender, rcpts, body)


def setup(ports):
    """The installed configuration, adapted to loopback ports only; control files; users."""
    text = open(CONF).read()
    step("mail_user = osd" in text.splitlines(), "the sample osd.conf sets mail_user = osd")
    text = set_key(text, "pop3_listen", "127.0.0.1:%d" % ports["pop3"])
    text = set_key(text, "smtp_listen", "127.0.0.1:%d" % ports["smtp"])
    text = set_key(text, "submission_listen", "127.0.0.1:%d" % ports["submission"])
    # what osd.service's "osd run" starts (the per-service units ignore it)
    text = set_key(text, "services", "watch pop3d smtpd queue")
    with open(CONF, "w") as f:
        f.write(text)
    control = "/etc/osd/control"
    os.makedirs(control, exist_ok=True)
    for name, value in (("me", "mail.example.test"), ("rcpthosts", "example.test"),
                        ("smtproutes", "peer.test:[127.0.0.1]:%d" % ports["peer"])):
        with open(os.path.join(control, name), "w") as f:
            f.write(value + "\n")

    for user, pw in (("alice@example.test", "alice-secret"), ("bob@example.test", "bob-secret")):
        rc, out = run(OSD, "user", "add", "-c", CONF, user, stdin=pw + "\n")
        step(rc == 0, "osd user add %s %s" % (user, out.strip()))
    vpasswd = os.path.join(STATE, "domains", "example.test", "vpasswd")
    st = os.stat(vpasswd)
    step(st.st_uid == _uid("osd") and st.st_mode & 0o777 == 0o600,
         "%s belongs to osd, mode 0600" % vpasswd)
    rc, out = run(OSD, "config", "check", "-c", CONF)
    step(rc == 0, "osd config check accepts the adapted sample:\n" + out.rstrip())


def phase(title, units, ports, sink):
    """Start the units' ExecStart lines, walk login -> relay -> delivery, stop them by pid."""
    print("deb-check: ---- %s" % title, flush=True)
    client = "127.0.%d.%d" % (random.randint(1, 254), random.randint(2, 254))
    for unit in units:
        start(unit, exec_start(unit + ".service"))
    for name in ("pop3", "smtp"):
        step(wait_for(lambda: listening(ports[name]), name + " listener"),
             "%s listens on 127.0.0.1:%d" % (name, ports[name]))
    cdb = os.path.join(STATE, "relay.cdb")
    step(wait_for(lambda: os.path.exists(cdb), "relay.cdb"), "osd watch wrote " + cdb)
    osd_uid = _uid("osd")
    for pid, cmd in _procs_of(OSD, LIBEXEC):
        if "osd-run" in cmd or cmd.startswith(OSD + " run"):
            step(_proc_uid(pid) == 0, "osd run (pid %d) stays root to restart its children" % pid)
        else:
            # It drops root once it has bound its ports and handed its folders over
            # (osd queue hands over all of queue/ first): wait for that, bounded.
            step(wait_for(lambda: _proc_uid(pid) == osd_uid, "%s to drop root" % cmd),
                 "%s (pid %d) runs as osd (uid %s)" % (cmd, pid, _proc_uid(pid)))

    walk(ports, sink, client, under_run=units == ["osd"])
    stop_all(check=True)
    left = _procs_of(OSD, LIBEXEC)
    step(not left, "no osd process is left after SIGTERM: %s" % left)


def walk(ports, sink, client, under_run):
    """On running daemons: no relay before a login; a POP3 login; relay and delivery
    (smtp-sink and a Maildir); osd check, list, status, revoke. Also tests/deb/run_systemd.py's."""
    # --- before the login: no relay from the client address ---
    rc, _ = run(OSD, "check", "-c", CONF, client)
    step(rc != 0, "osd check %s: may not relay before a login (exit %d)" % (client, rc))
    try:
        smtp_send(client, ports["smtp"], "alice@example.test", ["carol@peer.test"],
                  "Subject: x\r\n\r\nx\r\n")
        refused = False
    except smtplib.SMTPRecipientsRefused as e:
        refused = all(code // 100 == 5 for code, _ in e.recipients.values())
    step(refused, "osd smtpd refuses to relay for %s before a POP3 login" % client)

    # --- one POP3 login ---
    rc, out = pop3_login(client, ports["pop3"], "alice@example.test", "wrong")
    step(rc != 0, "a wrong POP3 password is refused (curl exit %d)" % rc)
    rc, out = pop3_login(client, ports["pop3"], "alice@example.test", "alice-secret")
    step(rc == 0, "curl POP3 login of alice@example.test from %s %s" % (client, out.strip()))
    entry = os.path.join(STATE, "open-smtp", client)
    step(os.path.exists(entry), "the login made " + entry)
    step(wait_for(lambda: run(OSD, "check", "-c", CONF, client)[0] == 0, "osd check"),
         "osd check %s: may relay after the login" % client)
    rc, out = run(OSD, "check", "-c", CONF, client)
    step("user: alice@example.test" in out.splitlines(), "osd check names the user")
    rc, out = run(OSD, "list", "-c", CONF)
    step(rc == 0 and any(ln.split()[:2] == [client, "alice@example.test"] for ln in out.splitlines()),
         "osd list shows %s for alice@example.test" % client)

    # --- relay and delivery ---
    marker = "deb-check-%d" % random.randint(10**8, 10**9)
    body = ("From: alice@example.test\r\nTo: carol@peer.test, bob@example.test\r\n"
            "Subject: %s\r\n\r\nsent through the installed osd package\r\n" % marker)
    try:
        refused = smtp_send(client, ports["smtp"], "alice@example.test",
                            ["carol@peer.test", "bob@example.test"], body)
        err = ""
    except smtplib.SMTPException as e:
        refused, err = None, repr(e)
    step(refused == {}, "osd smtpd accepts the relay to carol@peer.test from %s %s" % (client, err))

    def at_peer():
        return any(marker in open(f, errors="replace").read() for f in glob.glob(sink + "/msg-*"))
    step(wait_for(at_peer, "the remote delivery"), "osd queue delivered to the peer (smtp-sink)")
    maildir = os.path.join(STATE, "domains", "example.test", "bob", "Maildir", "new")

    def in_maildir():
        return any(marker in open(f, errors="replace").read() for f in glob.glob(maildir + "/*"))
    step(wait_for(in_maildir, "the local delivery"), "osd queue delivered to " + maildir)

    # --- the operator's commands on the running system ---
    rc, out = run(OSD, "status", "-c", CONF)
    print(out.rstrip())
    if under_run:
        step(rc == 0, "osd status: everything healthy under osd run (exit %d)" % rc)
    else:
        # without osd run there is no status file of the services: a warning, not ok
        step(rc == 1 and "osd run: not running" in out,
             "osd status without osd run: exit 1, 'osd run: not running' (exit %d)" % rc)
    step(wait_for(lambda: run(OSD, "status", "-c", CONF)[1].count("queue: 0 messages") == 1,
                  "an empty queue"), "osd status: the queue is empty again")
    rc, out = run(OSD, "revoke", "-c", CONF, client)
    step(rc == 0, "osd revoke %s (%s)" % (client, out.strip()))
    step(wait_for(lambda: run(OSD, "check", "-c", CONF, client)[0] != 0, "the revocation"),
         "after osd revoke, %s may not relay" % client)


def start_peer(port):
    """Postfix's smtp-sink on 127.0.0.1:port, the remote peer: (Popen, its message folder)."""
    sink = os.path.join(work, "sink")
    os.makedirs(sink)
    os.chmod(sink, 0o777)
    log = os.path.join(work, "smtp-sink.log")
    with open(log, "wb") as f:
        peer = subprocess.Popen(["smtp-sink", "-u", "nobody", "-h", "peer.test", "-d",
                                 os.path.join(sink, "msg-"), "127.0.0.1:%d" % port, "10"],
                                stdout=f, stderr=subprocess.STDOUT)
    return peer, sink


def main():
    ports = {k: free_port() for k in ("pop3", "smtp", "submission", "peer")}
    setup(ports)
    peer, sink = start_peer(ports["peer"])
    try:
        step(wait_for(lambda: listening(ports["peer"]), "smtp-sink"),
             "the peer, Postfix's smtp-sink, listens on 127.0.0.1:%d" % ports["peer"])
        phase("the per-service units (osd-watch, osd-pop3d, osd-smtpd, osd-queue)",
              ["osd-watch", "osd-pop3d", "osd-smtpd", "osd-queue"], ports, sink)
        phase("osd.service (osd run, services = watch pop3d smtpd queue)",
              ["osd"], ports, sink)
    finally:
        peer.terminate()
        peer.wait()
    return 0


def _uid(name):
    import pwd
    return pwd.getpwnam(name).pw_uid


def _proc_uid(pid):
    """The real uid of pid, None when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("Uid:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return None


def _procs_of(*prefixes):
    """(pid, command line) of the running processes started from the installed paths."""
    out = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            cmd = open(d + "/cmdline", "rb").read().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if any(cmd.startswith(p) for p in prefixes):
            out.append((int(d[6:]), cmd))
    return out


def stop_all(check=False, show_logs=False):
    """SIGTERM each started process by pid; with check, each must exit 0 (bounded wait)."""
    for name, (p, log) in procs.items():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for name, (p, log) in list(procs.items()):
        try:
            p.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if show_logs or (check and p.returncode != 0):
            print("---- %s (pid %d, exit %s) log:" % (name, p.pid, p.returncode))
            sys.stdout.write(open(log, errors="replace").read()[-3000:])
        if check:
            step(p.returncode == 0, "%s (pid %d) exits 0 at SIGTERM (%s)" % (name, p.pid, p.returncode))
        del procs[name]


if __name__ == "__main__":
    if os.environ.get("OSD_DEB_CHECK_INSTALLED") != "1":
        # it edits /etc/osd and adds users: only on check.sh's throw-away root
        print("run_installed.py: SKIPPED: run tests/deb/check.sh (it sets OSD_DEB_CHECK_INSTALLED=1"
              " on a throw-away root after installing the package)", file=sys.stderr)
        sys.exit(77)
    failed = True
    try:
        main()
        failed = False
    finally:
        stop_all(show_logs=failed)
        shutil.rmtree(work, ignore_errors=True)
    print("deb-check: the installed package: POP3 login -> relay -> delivery: all steps ok")
