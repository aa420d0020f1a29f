#!/usr/bin/env python3
"""Exim's RCPT ACL on osd's relay.cdb (docs/integrations.md, "Exim"), with a real Exim.

Debian's exim4 conflicts with postfix as the system MTA, so
scripts/install-deps.sh unpacks exim4-daemon-light (dpkg -x) into
/var/cache/osd/exim4/root (OSD_EXIM_ROOT overrides it).  That binary looks up
its compiled-in user Debian-exim at start, so the test runs it in a private
mount namespace (unshare -m) where /etc/passwd and /etc/group are copies with
that account added (as nobody's ids); nothing of the system changes.  One
private Exim daemon (-C config, own spool, log and pid file under the test
folder, loopback ports) answers with the three ACLs of the docs, one per
port: the exact cdb lookup, the IPv4 prefix walk, and osd check through
${run}.  The test proves, from 127.0.0.x and ::1 with raw SMTP:
  - a remote recipient is refused (550) before osd record and accepted (250)
    after it (osd watch rebuilding relay.cdb), on all three ports, for IPv4
    and ::1; another address stays refused; local domains are accepted always;
  - a static deny (127.0.0.9:deny) and an allow without RELAYCLIENT
    (127.0.0.10:allow) never relay, even after osd record;
  - a static prefix rule (127.0.1.:allow,RELAYCLIENT="") relays with the
    prefix walk and with osd check, not with the exact lookup (as the docs say);
  - the prefix walk and osd check relay exactly where Debian's tcpserver -x
    on the same relay.cdb sets RELAYCLIENT;
  - after relay_expire (the watcher drops the entry) Exim refuses again.
"""
import grp
import os
import pwd
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (OSD, Osd, check, finish, free_port, have,  # noqa: E402
                     rcpt_reply, tcpserver_env, wait_for, wait_port)

EXIM_ROOT = os.environ.get("OSD_EXIM_ROOT", "/var/cache/osd/exim4/root")
EXIM = os.path.join(EXIM_ROOT, "usr", "sbin", "exim4")
EXPIRE = 6
DOM = "example.test"
REMOTE = "<someone@remote.example>"

# The ACL conditions exactly as docs/integrations.md gives them (OSD_RELAY_CDB,
# OSD_COMMAND and OSD_CONFIG are macros of the config below).
EXACT = r"""  accept  condition = ${if match {${lookup{$sender_host_address}cdb{OSD_RELAY_CDB}}}{\N^\+RELAYCLIENT=\N}}"""
PREFIX = r"""  accept  condition = ${if match {${lookup{$sender_host_address}cdb{OSD_RELAY_CDB}{$value}{\
                         ${lookup{${sg{$sender_host_address}{\N[^.]+$\N}{}}}cdb{OSD_RELAY_CDB}{$value}{\
                         ${lookup{${sg{$sender_host_address}{\N[^.]+\.[^.]+$\N}{}}}cdb{OSD_RELAY_CDB}{$value}{\
                         ${lookup{${sg{$sender_host_address}{\N[^.]+\.[^.]+\.[^.]+$\N}{}}}cdb{OSD_RELAY_CDB}{$value}{\
                         ${lookup{}cdb{OSD_RELAY_CDB}}}}}}}}}}}{\N^\+RELAYCLIENT=\N}}"""
RUN = r"""  accept  condition = ${run{OSD_COMMAND check -c OSD_CONFIG $sender_host_address}{yes}{no}}"""


def reachable_osd(root):
    """Copies of osd and osd-check that Exim's user can run: the build may sit
    where it cannot enter (/root/... on a fresh machine)."""
    bindir = os.path.join(root, "bin")
    os.makedirs(bindir, exist_ok=True)
    os.chmod(bindir, 0o755)
    for prog in (OSD, os.path.join(os.path.dirname(OSD), "osd-check")):
        shutil.copy(prog, bindir)
    return os.path.join(bindir, "osd")


def exim_conf(root, o, ports):
    return """# private Exim for test_exim_acl.py
OSD_RELAY_CDB = %(cdb)s
OSD_COMMAND = %(osd)s
OSD_CONFIG = %(conf)s
keep_environment =
spool_directory = %(root)s/spool
log_file_path = %(root)s/log/%%slog
pid_file_path = %(root)s/exim.pid
primary_hostname = mx.%(dom)s
local_interfaces = <; 127.0.0.1 ; ::1
daemon_smtp_ports = %(p1)d : %(p2)d : %(p3)d
domainlist local_domains = %(dom)s
acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_rcpt:
  accept  domains = +local_domains
  accept  condition = ${if =={$received_port}{%(p1)d}}
          acl = osd_exact
  accept  condition = ${if =={$received_port}{%(p2)d}}
          acl = osd_prefix
  accept  condition = ${if =={$received_port}{%(p3)d}}
          acl = osd_check
  deny    message = relay not permitted

osd_exact:
%(exact)s
  deny

osd_prefix:
%(prefix)s
  deny

osd_check:
%(run)s
  deny
""" % {"cdb": o.cdb, "osd": reachable_osd(root), "conf": o.conf, "root": root, "dom": DOM,
       "p1": ports[0], "p2": ports[1], "p3": ports[2],
       "exact": EXACT, "prefix": PREFIX, "run": RUN}


def rcpt(port, src, rcpt_to=REMOTE):
    return rcpt_reply(port, src, rcpt_to, "<alice@%s>" % DOM)


def main():
    o = Osd(relay_expire="%ds" % EXPIRE,
            rules='127.0.1.:allow,RELAYCLIENT=""\n127.0.0.9:deny\n127.0.0.10:allow\n')
    procs = []
    try:
        run(o, procs)
    finally:
        for p in procs:
            o.stop(p)
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


def run(o, procs):
    if not check(os.access(EXIM, os.X_OK),
                 "%s is there (scripts/install-deps.sh unpacks Debian's exim4-daemon-light)" % EXIM):
        return
    if not check(have("unshare"), "unshare (util-linux) is installed"):
        return
    # Exim (as nobody) walks to the spool, the table and, for osd check, the config.
    os.chmod(o.root, 0o755)
    ex = os.path.join(o.root, "exim")
    nobody, nogroup = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    for sub in ("spool", "log"):
        os.makedirs(os.path.join(ex, sub))
        os.chown(os.path.join(ex, sub), nobody, nogroup)
    # /etc/passwd and /etc/group as Exim sees them: with its Debian-exim account.
    with open("/etc/passwd") as f:
        passwd = f.read()
    with open("/etc/group") as f:
        group = f.read()
    if "\nDebian-exim:" not in "\n" + passwd:
        passwd += "Debian-exim:x:%d:%d::/nonexistent:/usr/sbin/nologin\n" % (nobody, nogroup)
    if "\nDebian-exim:" not in "\n" + group:
        group += "Debian-exim:x:%d:\n" % nogroup
    with open(os.path.join(ex, "passwd"), "w") as f:
        f.write(passwd)
    with open(os.path.join(ex, "group"), "w") as f:
        f.write(group)
    ports = (free_port(), free_port(), free_port())
    conf = os.path.join(ex, "exim.conf")
    with open(conf, "w") as f:
        f.write(exim_conf(ex, o, ports))

    w = o.start_watch()
    log = open(os.path.join(ex, "daemon.out"), "wb")
    # unshare execs sh, sh execs Exim: the PID is Exim's own (-bdf: stays in the foreground).
    d = subprocess.Popen(
        ["unshare", "-m", "sh", "-c",
         'mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/group" /etc/group && '
         'exec "$2" -C "$3" -bdf', "sh", ex, EXIM, conf],
        stdout=log, stderr=subprocess.STDOUT)
    procs.append(d)
    up = all(wait_port(p, d) for p in ports) and wait_port(ports[0], d, host="::1")
    with open(os.path.join(ex, "daemon.out"), errors="replace") as f:
        out = f.read()
    if not check(up and w.poll() is None, "a private Exim daemon listens on 127.0.0.1 and ::1 "
                 "ports %r, osd watch runs (%s)" % (ports, out.strip()[-300:])):
        return
    names = {ports[0]: "exact lookup", ports[1]: "prefix walk", ports[2]: "osd check"}

    def all_ports(src, want, what):
        for p in ports:
            c, t = rcpt(p, src)
            check(c == want, "%s: %s (%s) -> %d (%s)" % (names[p], what, src, want, t))

    def recorded(ip, key):
        r = o.record(ip)
        return check(r.returncode == 0 and wait_for(lambda: key in o.cdb_keys()),
                     "osd record %s, and relay.cdb has %s (%s)" % (ip, key, r.stderr.strip()))

    # --- before any login ---
    all_ports("127.0.0.5", 550, "before osd record, a remote recipient is refused")
    all_ports("::1", 550, "before osd record, a remote recipient is refused")
    for p in ports:
        c, t = rcpt(p, "127.0.0.6", "<alice@%s>" % DOM)
        check(c == 250, "%s: a local recipient is accepted from anybody (%s)" % (names[p], t))

    # --- after osd record ---
    if recorded("127.0.0.5", "127.0.0.5"):
        all_ports("127.0.0.5", 250, "after osd record, a remote recipient is accepted")
    all_ports("127.0.0.6", 550, "another address is still refused")
    if recorded("::1", "::1"):
        all_ports("::1", 250, "after osd record, a remote recipient is accepted")

    # --- static rules: deny and allow-without-RELAYCLIENT never relay ---
    for ip in ("127.0.0.9", "127.0.0.10"):
        r = o.record(ip)
        check(r.returncode in (0, 100), "osd record %s (%d %s)" % (ip, r.returncode, r.stderr.strip()))
    # the watcher has seen both once 127.0.0.11 (recorded after them) is in the table
    if recorded("127.0.0.11", "127.0.0.11"):
        all_ports("127.0.0.9", 550, "a static deny is refused even after osd record")
        all_ports("127.0.0.10", 550, "a static allow without RELAYCLIENT is refused even after osd record")

    # --- a static prefix rule ---
    c, t = rcpt(ports[0], "127.0.1.5")
    check(c == 550, "exact lookup: 127.0.1.5 under the prefix rule 127.0.1. is refused "
          "(Exim's cdb lookup is exact; docs say so) (%s)" % t)
    for p in ports[1:]:
        c, t = rcpt(p, "127.0.1.5")
        check(c == 250, "%s: 127.0.1.5 relays by the prefix rule 127.0.1., as under tcpserver (%s)"
              % (names[p], t))

    # --- the prefix walk and osd check agree with tcpserver -x on the same table ---
    o.record("127.0.0.5")       # refreshed: still live for this comparison
    srcs = ["127.0.0.5", "127.0.0.6", "127.0.0.9", "127.0.0.10", "127.0.1.5", "127.0.0.11"]
    env = tcpserver_env(o.cdb, "127.0.0.1", srcs)
    if check(env is not None, "Debian's tcpserver -x relay.cdb runs"):
        for p in ports[1:]:
            got = {src: rcpt(p, src)[0] == 250 for src in srcs}
            want = {src: "RELAYCLIENT" in env[src] for src in srcs}
            check(got == want, "%s relays exactly where tcpserver sets RELAYCLIENT (%r, tcpserver %r)"
                  % (names[p], got, want))

    # --- expiry ---
    check(wait_for(lambda: "127.0.0.5" not in o.cdb_keys(), timeout=EXPIRE + 60, step=0.2),
          "after relay_expire (%d s) the watcher drops 127.0.0.5 from relay.cdb" % EXPIRE)
    all_ports("127.0.0.5", 550, "after relay_expire, a remote recipient is refused again")

    with open(os.path.join(ex, "log", "paniclog"), "a+") as f:
        f.seek(0)
        panic = f.read()
    check(panic == "", "Exim's paniclog is empty (%s)" % panic[-300:])


if __name__ == "__main__":
    main()
