#!/usr/bin/env python3
"""osd run: start the configured services as children and keep them running.

With 'services = watch': the watcher child appears and does its job; a child
killed with SIGKILL is replaced by a new one (which also picks up what was
recorded while none ran); a second crash waits longer (back-off doubles);
SIGHUP reaches the child; SIGTERM stops the child cleanly and osd run exits 0
leaving no child behind. No 'services' key means watch; an unknown service
name is a config error that names it.
"""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import WAIT, Osd, check, finish, wait_for  # noqa: E402


def children(ppid):
    """Live (non-zombie) child pids of ppid."""
    p = subprocess.run(["pgrep", "-P", str(ppid)], capture_output=True, text=True)
    pids = []
    for word in p.stdout.split():
        pid = int(word)
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):  # gone meanwhile
            continue
        if state != "Z":
            pids.append(pid)
    return pids


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return ""


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def watcher_child(o, run, other_than=None):
    """The pid of run's osd-watch child once it logged that it watches."""
    def ready():
        for pid in children(run.pid):
            if pid != other_than and "osd-watch" in cmdline(pid) and \
                    ("osd-watch[%d]: info: watching" % pid) in o.log("run"):
                return pid
        return None
    return wait_for(ready)


def supervised_watch():
    o = Osd(extra="services = watch\n")
    child_pids = []
    try:
        run = o.start("run")
        first = watcher_child(o, run)
        check(first is not None, "osd run starts the watcher as its child (pid %s)" % first)
        if first is None:
            return
        child_pids.append(first)
        check(children(run.pid) == [first], "exactly one child for services = watch")

        check(o.record("127.0.0.5").returncode == 0, "osd record 127.0.0.5")
        check(wait_for(lambda: "127.0.0.5" in o.cdb_keys()),
              "a login reaches relay.cdb through the supervised watcher")

        # Crash 1: SIGKILL the child; record while none may be running.
        os.kill(first, signal.SIGKILL)
        check(o.record("127.0.0.6").returncode == 0, "osd record 127.0.0.6 right after the crash")
        second = watcher_child(o, run, other_than=first)
        check(second is not None and second != first,
              "a new watcher child replaces the killed one (%s -> %s)" % (first, second))
        if second is None:
            return
        child_pids.append(second)
        check(not alive(first), "the killed child is gone (reaped)")
        check(run.poll() is None, "osd run survives its child's crash")
        check(wait_for(lambda: "127.0.0.6" in o.cdb_keys()),
              "the login recorded while the child was down is in relay.cdb")
        check(o.record("127.0.0.7").returncode == 0, "osd record 127.0.0.7")
        check(wait_for(lambda: "127.0.0.7" in o.cdb_keys()),
              "a login after the restart reaches relay.cdb")

        # Crash 2, soon after: the back-off doubles (read from the log, no clock).
        os.kill(second, signal.SIGKILL)
        third = watcher_child(o, run, other_than=second)
        check(third is not None, "a third child replaces the second (%s)" % third)
        if third is None:
            return
        child_pids.append(third)
        delays = [int(d) for d in re.findall(r"restarting in (\d+)", o.log("run"))]
        check(len(delays) == 2 and delays[0] >= 1 and delays[1] == 2 * delays[0],
              "back-off doubles between quick crashes (restart delays %s s)" % delays)

        # SIGHUP reaches the child: it reloads the (changed) config.
        o.write_conf("2h", "services = watch\n")
        run.send_signal(signal.SIGHUP)
        check(wait_for(lambda: ("osd-watch[%d]: info: config reloaded: relay_expire=7200s"
                                % third) in o.log("run")),
              "SIGHUP to osd run reaches the watcher child (its log says config reloaded)")
        check(run.poll() is None and children(run.pid) == [third],
              "SIGHUP neither stops osd run nor restarts the child")

        # SIGTERM stops everything.
        rc = o.stop(run)
        check(rc == 0, "SIGTERM: osd run exits 0 (got %s)" % rc)
        check(not any(alive(pid) for pid in child_pids),
              "no child remains after osd run exited (%s)"
              % [pid for pid in child_pids if alive(pid)])
        check(("osd-watch[%d]: info: stopping" % third) in o.log("run"),
              "the child was stopped cleanly by SIGTERM (it logged 'stopping')")
    finally:
        for pid in child_pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        o.cleanup()


def default_services_and_stop_during_backoff():
    """No 'services' key means watch; SIGTERM while a restart is pending."""
    d = Osd()
    pids = []
    try:
        run = d.start("run")
        pid = watcher_child(d, run)
        check(pid is not None, "without a services key osd run starts the watcher")
        if pid is None:
            return
        pids.append(pid)
        os.kill(pid, signal.SIGKILL)
        check(wait_for(lambda: "restarting in" in d.log("run")),
              "osd run schedules a restart of the killed child")
        pids.extend(children(run.pid))      # in case the restart already happened
        rc = d.stop(run)
        check(rc == 0, "SIGTERM while a restart is pending: osd run exits 0 (got %s)" % rc)
        check(not any(alive(p) for p in pids), "and no child remains")
    finally:
        for p in pids:
            if alive(p):
                os.kill(p, signal.SIGKILL)
        d.cleanup()


def unknown_service():
    """An unknown service name is an error that names it, before anything starts."""
    for log in ("", "log = syslog\n"):
        u = Osd(extra="services = watch frobnicate\n" + log)
        try:
            try:
                p = u.run("run", timeout=WAIT)
                rc, err = p.returncode, p.stderr
            except subprocess.TimeoutExpired:
                rc, err = None, "(still running after %s s)" % WAIT
            how = "log = syslog" if log else "default log"
            check(rc is not None and rc != 0,
                  "unknown service (%s): osd run exits non-zero (%s)" % (how, rc))
            check(not os.path.exists(u.cdb), "unknown service (%s): nothing was started" % how)
            check("frobnicate" in err,
                  "unknown service (%s): the message names it (%r)" % (how, err.strip()))
            check(re.search(r"osd\.conf:\d+: services:", err) is not None,
                  "unknown service (%s): the message names file, line and key" % how)
        finally:
            u.cleanup()


def main():
    supervised_watch()
    default_services_and_stop_during_backoff()
    unknown_service()
    finish()


if __name__ == "__main__":
    main()
