#!/usr/bin/env python3
"""run_systemd.py - the INSTALLED osd units under a real systemd (PID 1 of a container).

Run by tests/deb/systemd.sh inside the container it booted, after "apt-get install
./osd_*.deb": it edits /etc/osd/osd.conf in place, as run_installed.py does (whose set-up
and walk it reuses): listeners on free 127.0.0.1 ports (the network is the host's).

Two phases, as an administrator would run osd (docs/operations.md, step 5):
  osd.service alone ("osd run", services = all seven), then every per-service unit
  (osd-watch, osd-pop3d, osd-imapd, osd-smtpd, osd-queue, osd-policyd, osd-metrics).
Each: the package enabled none of them; systemctl enable --now; is-active; the
hardening systemd reports (systemctl show) equals the unit file's, and is in force on
every process of the unit (NoNewPrivs, the bounding set, / read-only but /var/lib/osd;
each daemon but osd run runs as the osd account); POP3 login -> relay -> delivery;
systemctl reload with a good config (the daemons stay) and with a broken one (the
reload fails naming file:line: key, nothing is signalled, the daemons keep serving);
systemctl stop: the unit ends with Result=success and the daemons' journal lines of
the stop are info, no warning. Then osd-expire.service (oneshot) once, and its timer.
Exit status 0 when every step holds, 1 at the first that does not.
"""
import os
import random
import re
import shutil
import sys

import run_installed as ri
from run_installed import step, run, wait_for, CONF, OSD

UNITDIR = "/lib/systemd/system"
EACH = ["osd-watch", "osd-pop3d", "osd-imapd", "osd-smtpd", "osd-queue", "osd-policyd",
        "osd-metrics"]
CAPS = {"cap_chown": 0, "cap_dac_override": 1, "cap_fowner": 3, "cap_kill": 5,
        "cap_setgid": 6, "cap_setuid": 7, "cap_net_bind_service": 10}


def systemctl(*args):
    return run("systemctl", "--no-pager", *args)


def show(unit, *props):
    rc, out = systemctl("show", "-p", ",".join(props), unit)
    step(rc == 0, "systemctl show %s" % unit)
    return dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)


def unit_file(unit):
    """The Key=value lines of the installed unit file (a repeated key: its values, joined)."""
    keys = {}
    for ln in open(os.path.join(UNITDIR, unit + ".service")).read().splitlines():
        if "=" in ln and not ln.startswith("#"):
            k, v = ln.split("=", 1)
            keys[k] = (keys[k] + " " + v) if k in keys else v
    return keys


def unit_pids(unit):
    cg = show(unit, "ControlGroup")["ControlGroup"]
    step(cg != "", "%s has a control group" % unit)
    with open("/sys/fs/cgroup%s/cgroup.procs" % cg) as f:
        return [int(x) for x in f.read().split()]


def status_of(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            k, _, v = ln.partition(":")
            fields[k] = v.strip()
    return fields


def mount_opts(pid, point):
    """The per-mount options of the last mount at point in pid's mount namespace."""
    opts = None
    with open("/proc/%d/mountinfo" % pid) as f:
        for ln in f:
            parts = ln.split()
            if parts[4] == point:
                opts = parts[5].split(",")
    return opts


def check_hardening(unit, main_is_root):
    """What systemd reports equals the unit file, and it holds on every process of the unit."""
    want = unit_file(unit)
    got = show(unit, "ProtectSystem", "NoNewPrivileges", "CapabilityBoundingSet", "ProtectHome",
               "PrivateTmp", "ReadWritePaths", "MainPID")
    step(got["ProtectSystem"] == "strict" and got["NoNewPrivileges"] == "yes"
         and got["ProtectHome"] == "yes" and got["PrivateTmp"] == "yes",
         "%s: systemctl show: ProtectSystem=%s NoNewPrivileges=%s ProtectHome=%s PrivateTmp=%s"
         % (unit, got["ProtectSystem"], got["NoNewPrivileges"], got["ProtectHome"], got["PrivateTmp"]))
    caps = set(want["CapabilityBoundingSet"].lower().split())
    step(set(got["CapabilityBoundingSet"].split()) == caps,
         "%s: systemctl show: CapabilityBoundingSet=%s" % (unit, got["CapabilityBoundingSet"]))
    step(ri.STATE in got["ReadWritePaths"].split(), "%s: ReadWritePaths=%s" % (unit, got["ReadWritePaths"]))
    mask = sum(1 << CAPS[c] for c in caps)
    main = int(got["MainPID"])
    osd_uid = ri._uid("osd")
    for pid in unit_pids(unit):
        st = status_of(pid)
        what = "%s: pid %d (%s)" % (unit, pid, st["Name"])
        step(st["NoNewPrivs"] == "1", what + ": NoNewPrivs 1")
        step(int(st["CapBnd"], 16) == mask, what + ": CapBnd %s is the unit's set" % st["CapBnd"])
        root, state = mount_opts(pid, "/"), mount_opts(pid, ri.STATE)
        step(root is not None and "ro" in root, what + ": / is read-only (ProtectSystem=strict) %s" % root)
        step(state is not None and "rw" in state, what + ": %s is writable %s" % (ri.STATE, state))
        if pid == main and main_is_root:
            step(int(st["Uid"].split()[0]) == 0, what + ": osd run stays root to restart its children")
        else:
            # a daemon drops root once its ports are bound and its folders handed over
            step(wait_for(lambda: ri._proc_uid(pid) == osd_uid, "%s to drop root" % what),
                 what + ": runs as the osd account (uid %s)" % ri._proc_uid(pid))


def journal_cursor():
    rc, out = run("journalctl", "-n", "0", "--show-cursor", "--no-pager")
    return out.strip().rsplit("cursor: ", 1)[-1]


def journal_tail(unit):
    return run("journalctl", "--no-pager", "-n", "25", "-u", unit)[1].rstrip()


def journal_since(cursor, units):
    args = ["journalctl", "--no-pager", "-o", "cat", "--after-cursor", cursor]
    for u in units:
        args += ["-u", u]
    return run(*args)[1]


def daemon_lines(log):
    """The daemons' own journal lines, "STAMP osd-NAME[PID]: LEVEL: text": (level, line)."""
    found = (re.match(r"\S+ (osd[-\w]*)\[\d+\]: (\w+): ", ln) for ln in log.splitlines())
    return [(m.group(2), m.string) for m in found if m]


def reloaded(log):
    """The daemons that logged taking a SIGHUP: {program name: its line}."""
    return {re.match(r"\S+ (osd[-\w]*)\[", ln).group(1): ln for _, ln in daemon_lines(log)
            if ": SIGHUP: " in ln or ": config reloaded" in ln}


def hup_loggers(units):
    """Who must log a SIGHUP: the unit's program (osd.service: osd run, which passes it on to
    every service); osd metrics too (it re-reads the file only to report edits that take a
    restart, and maps the counter file if that failed at start)."""
    progs = set()
    for u in units:
        progs |= {"osd-run"} | set(EACH) if u == "osd" else {u}
    return progs


def reload_checks(units, ports):
    """A good reload keeps the daemons; a broken config fails the reload and changes nothing."""
    pids = {u: show(u, "MainPID")["MainPID"] for u in units}
    cursor = journal_cursor()
    for u in units:
        rc, out = systemctl("reload", u)
        step(rc == 0, "systemctl reload %s with a valid config %s%s"
             % (u, out.strip(), "" if rc == 0 else "\n" + journal_tail(u)))
    want = hup_loggers(units)
    step(wait_for(lambda: want <= set(reloaded(journal_since(cursor, units))), "the SIGHUP lines"),
         "each daemon logs taking the SIGHUP (%s): %s"
         % (sorted(want), sorted(reloaded(journal_since(cursor, units)).values())))
    good = open(CONF).read()
    with open(CONF, "a") as f:
        f.write("no_such_key = 1\n")
    bad_line = len(good.splitlines()) + 1
    cursor = journal_cursor()
    try:
        for u in units:
            rc, out = systemctl("reload", u)
            step(rc != 0, "systemctl reload %s with a broken config fails (exit %d)" % (u, rc))
        log = journal_since(cursor, units)
        want = "%s:%d: no_such_key" % (CONF, bad_line)
        step(want in log, "the journal names the error, %s:\n%s" % (want, log.rstrip()[-1500:]))
        step(not reloaded(log), "no daemon was signalled: %s" % sorted(reloaded(log).values()))
    finally:
        with open(CONF, "w") as f:
            f.write(good)
    for u in units:
        st = show(u, "ActiveState", "MainPID")
        step(st["ActiveState"] == "active" and st["MainPID"] == pids[u],
             "%s still active, same main pid %s, after the reloads" % (u, pids[u]))
    client = "127.0.%d.%d" % (random.randint(1, 254), random.randint(2, 254))
    rc, out = ri.pop3_login(client, ports["pop3"], "alice@example.test", "alice-secret")
    step(rc == 0 and ri.listening(ports["smtp"]),
         "after the failed reload a POP3 login works and SMTP answers (curl exit %d)" % rc)


def stop_checks(units):
    cursor = journal_cursor()
    rc, out = systemctl("stop", *units)
    step(rc == 0, "systemctl stop %s %s" % (" ".join(units), out.strip()))
    log = journal_since(cursor, units)
    print(log.rstrip())
    for u in units:
        st = show(u, "ActiveState", "Result", "ExecMainStatus")
        step(st["ActiveState"] == "inactive" and st["Result"] == "success",
             "%s stopped: %s, Result=%s, ExecMainStatus=%s" % (u, st["ActiveState"], st["Result"],
                                                               st["ExecMainStatus"]))
    ours = daemon_lines(log)
    bad = [ln for level, ln in ours if level not in ("debug", "info")]
    step(ours and not bad, "the daemons log the stop as info, no warning: %s"
         % (bad or [ln for _, ln in ours[-3:]]))
    left = ri._procs_of(OSD, ri.LIBEXEC)
    step(not left, "no osd process is left after systemctl stop: %s" % left)


def phase(title, units, ports, sink, under_run):
    print("deb-check: ---- %s" % title, flush=True)
    rc, out = systemctl("enable", "--now", *units)
    step(rc == 0, "systemctl enable --now %s %s" % (" ".join(units), out.strip()))
    for u in units:
        step(wait_for(lambda: systemctl("is-active", u)[1].strip() == "active", u + " active"),
             "systemctl is-active %s: active" % u)
    for name in ("pop3", "smtp", "imap", "metrics", "policy"):
        step(wait_for(lambda: ri.listening(ports[name]), name + " listener"),
             "%s listens on 127.0.0.1:%d" % (name, ports[name]))
    for u in units:
        check_hardening(u, main_is_root=under_run)
    client = "127.0.%d.%d" % (random.randint(1, 254), random.randint(2, 254))
    ri.walk(ports, sink, client, under_run)
    rc, out = run("curl", "-sS", "--max-time", "30", "http://127.0.0.1:%d/metrics" % ports["metrics"])
    step(rc == 0 and "\nosd_" in out, "osd metrics answers GET /metrics (%d lines)" % out.count("\n"))
    reload_checks(units, ports)
    stop_checks(units)
    rc, out = systemctl("disable", *units)
    step(rc == 0, "systemctl disable %s" % " ".join(units))


def main():
    rc, out = systemctl("list-unit-files", "--no-legend", "osd*")
    listed = dict(ln.split()[:2] for ln in out.splitlines() if ln.strip())
    step(all(listed.get(u + ".service") == "disabled" for u in ["osd"] + EACH),
         "the package installed the units and enabled none:\n" + out.rstrip())
    ports = {k: ri.free_port() for k in ("pop3", "smtp", "submission", "peer", "imap", "policy",
                                         "metrics")}
    ri.setup(ports)
    text = open(CONF).read()
    for key, port in (("imap_listen", "imap"), ("policy_listen", "policy"),
                      ("metrics_listen", "metrics")):
        text = ri.set_key(text, key, "127.0.0.1:%d" % ports[port])
    text = text.replace("services = watch pop3d smtpd queue",
                        "services = watch pop3d imapd smtpd queue policyd metrics")
    with open(CONF, "w") as f:
        f.write(text)
    rc, out = run(OSD, "config", "check", "-c", CONF)
    step(rc == 0, "osd config check accepts the config with every listener:\n" + out.rstrip())
    peer, sink = ri.start_peer(ports["peer"])
    try:
        step(wait_for(lambda: ri.listening(ports["peer"]), "smtp-sink"),
             "the peer, Postfix's smtp-sink, listens on 127.0.0.1:%d" % ports["peer"])
        phase("osd.service (osd run, all seven services)", ["osd"], ports, sink, under_run=True)
        phase("the per-service units", EACH, ports, sink, under_run=False)
    finally:
        peer.terminate()
        peer.wait()
    rc, out = systemctl("start", "osd-expire.service")
    st = show("osd-expire.service", "Result", "ExecMainStatus")
    step(rc == 0 and st["Result"] == "success",
         "systemctl start osd-expire.service (oneshot): Result=%s status %s %s"
         % (st["Result"], st["ExecMainStatus"], out.strip()))
    rc, out = systemctl("enable", "--now", "osd-expire.timer")
    st = show("osd-expire.timer", "ActiveState", "SubState", "NextElapseUSecRealtime")
    step(rc == 0 and (st["ActiveState"], st["SubState"]) == ("active", "waiting")
         and st["NextElapseUSecRealtime"] not in ("", "infinity"),
         "systemctl enable --now osd-expire.timer: %s/%s, next in %s"
         % (st["ActiveState"], st["SubState"], st["NextElapseUSecRealtime"]))
    step(systemctl("disable", "--now", "osd-expire.timer")[0] == 0, "systemctl disable --now osd-expire.timer")


if __name__ == "__main__":
    if os.environ.get("OSD_DEB_CHECK_INSTALLED") != "1":
        print("run_systemd.py: SKIPPED: run tests/deb/systemd.sh (it boots the container)",
              file=sys.stderr)
        sys.exit(77)
    try:
        main()
    finally:
        shutil.rmtree(ri.work, ignore_errors=True)
    print("deb-check: the installed units under systemd: all steps ok")
