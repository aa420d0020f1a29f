#!/usr/bin/env python3
"""osd config check: osd.conf, the rules file, the TLS pair, control files, vpasswd, aliases.

The demo configuration of scripts/demo-setup.sh passes ('config OK', exit 0).
Each kind of mistake is caught with 'osd: config: FILE:LINE: KEY: why' and
exit 100: an unknown key and a bad listener in osd.conf, a bad rules line, a
bad smtproutes line, timeoutsmtpd out of range, a concurrency of 0, an alias
without targets, a certificate that does not match its key, vpasswd lines the
logins' own reader skips (too few fields, a flags field that is not a number, a
home that is not absolute, a bad quota; 'FILE:LINE: why'). An unreadable
rules file is exit 111, and so are an unreadable vpasswd and a named config that
does not exist. The
check changes nothing (the folder's files and times are the same after it).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import OSD, check, finish, make_cert  # noqa: E402

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SETUP = os.path.join(TOP, "scripts", "demo-setup.sh")


def config_check(conf, *extra):
    p = subprocess.run([OSD, "config", "check", "-c", conf] + list(extra), capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def snapshot(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            st = os.stat(os.path.join(d, f))
            out[os.path.join(d, f)] = (st.st_size, st.st_mtime_ns)
    return out


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


def main():
    root = tempfile.mkdtemp(prefix="osd-it-config-")
    demo = os.path.join(root, "demo")
    try:
        subprocess.run([SETUP, demo, OSD], check=True, capture_output=True, timeout=120)
        conf = os.path.join(demo, "osd.conf")
        pristine = os.path.join(root, "pristine")
        shutil.copytree(demo, pristine, symlinks=True)

        before = snapshot(demo)
        rc, out, err = config_check(conf)
        check(rc == 0, "the demo config passes: exit 0 (%s, %r)" % (rc, err.strip()))
        check(out.startswith("config OK\n"), "and says 'config OK' (%r)" % out[:60])
        check("rules: %s/tcp.smtp: 2 record(s)" % demo in out, "the summary names the rules file")
        check(snapshot(demo) == before, "the check changed no file of the folder")
        check("users: 1 in 1 vpasswd file(s) in %s/state/domains" % demo in out,
              "the summary counts the users of the vpasswd files (%r)" % out)

        def fresh():
            shutil.rmtree(demo)
            shutil.copytree(pristine, demo, symlinks=True)

        def expect(what, edit, pattern, code=100):
            fresh()
            edit()
            rc, out, err = config_check(conf)
            check(rc == code, "%s: exit %d (%s)" % (what, code, rc))
            check(re.search(pattern, err, re.M) is not None,
                  "%s: the error names file and line (%r)" % (what, err.strip()[:300]))
            check("config OK" not in out, "%s: no 'config OK'" % what)

        lines = sum(1 for _ in open(os.path.join(pristine, "osd.conf")))
        expect("an unknown key in osd.conf",
               lambda: append(conf, "relay_expre = 3h\n"),
               r"^osd: config: %s:%d: relay_expre: unknown key$" % (re.escape(conf), lines + 1))
        expect("a bad listener in osd.conf",
               lambda: append(conf, "pop3_listen = 127.0.0.1:99999\n"),
               r"^osd: config: %s:%d: pop3_listen: " % (re.escape(conf), lines + 1))
        rules = os.path.join(demo, "tcp.smtp")
        rlines = sum(1 for _ in open(os.path.join(pristine, "tcp.smtp")))
        expect("a bad rules line",
               lambda: append(rules, "10.0.0.1 allow\n"),
               r"^osd: config: %s:%d: " % (re.escape(rules), rlines + 1))
        ctl = os.path.join(demo, "control")
        expect("a bad smtproutes line",
               lambda: append(os.path.join(ctl, "smtproutes"),
                              "# routes\nexample.com:relay.example.net\nexample.org:[192.0.2.1\n"),
               r"^osd: config: %s/smtproutes:3: smtproutes: .*no '\]'" % re.escape(ctl))
        expect("timeoutsmtpd out of range",
               lambda: append(os.path.join(ctl, "timeoutsmtpd"), "86401\n"),
               r"^osd: config: %s/timeoutsmtpd:1: timeoutsmtpd: 86401 is out of range"
               % re.escape(ctl))
        expect("concurrencyremote 0",
               lambda: append(os.path.join(ctl, "concurrencyremote"), "\n0\n"),
               r"^osd: config: %s/concurrencyremote:2: concurrencyremote: " % re.escape(ctl))
        aliases = os.path.join(demo, "state", "domains", "example.test", "aliases")
        alines = sum(1 for _ in open(aliases)) if os.path.exists(aliases) else 0
        expect("an alias without targets",
               lambda: append(aliases, "sales:\n"),
               r"^osd: config: %s:%d: sales: " % (re.escape(aliases), alines + 1))

        vpasswd = os.path.join(demo, "state", "domains", "example.test", "vpasswd")
        vlines = sum(1 for _ in open(os.path.join(pristine, "state", "domains", "example.test",
                                                  "vpasswd")))
        for what, line, why in [
                ("a vpasswd line with too few fields", "bob:x:1:0:Bob\n",
                 r"5 fields, expected user:hash:uid:gid:gecos:home:quota"),
                ("a vpasswd flags field that is not a number",
                 "bob:x:1:no-pop:Bob:/var/mail/bob:NOQUOTA\n", r"gid \(flags\) field is not a number"),
                ("a vpasswd home that is not absolute", "bob:x:1:0:Bob:bob:NOQUOTA\n",
                 r"home field is not an absolute path"),
                ("a bad vpasswd quota", "bob:x:1:0:Bob:/var/mail/bob:50 megabytes\n",
                 r"quota field is not NOQUOTA or <bytes>S\[,<count>C\]")]:
            expect(what, lambda line=line: append(vpasswd, "# a comment\n\n" + line),
                   r"^osd: config: %s:%d: %s$" % (re.escape(vpasswd), vlines + 3, why))
        fresh()
        append(vpasswd, "bob:x:1:0:Bob:/var/mail/bob:NOQUOTA\n")
        rc, out, err = config_check(conf)
        check(rc == 0 and "users: 2 in 1 vpasswd file(s)" in out,
              "a well-formed second user passes and is counted (%s, %r, %r)" % (rc, out, err))

        def mismatched_tls():
            c1 = os.path.join(demo, "c1")
            c2 = os.path.join(demo, "c2")
            os.makedirs(c1)
            os.makedirs(c2)
            cert, _ = make_cert(c1)
            _, key = make_cert(c2)
            append(conf, "tls_cert = %s\ntls_key = %s\n" % (cert, key))
        expect("a certificate with another key", mismatched_tls,
               r"^osd: config: %s: tls_cert, tls_key: " % re.escape(conf))

        # An unreadable rules file: root reads a 0000 file anyway, so as root the
        # check runs as nobody (setpriv) over a folder nobody may enter.
        fresh()
        os.chmod(rules, 0)
        cmd = [OSD, "config", "check", "-c", conf]
        if os.geteuid() == 0:
            os.chmod(root, 0o755)
            # The build may sit where nobody cannot enter (/root/... on a fresh
            # machine): nobody runs copies of osd and osd-config, side by side.
            bindir = os.path.join(root, "bin")
            os.makedirs(bindir, exist_ok=True)
            os.chmod(bindir, 0o755)
            for prog in (OSD, os.path.join(os.path.dirname(OSD), "osd-config")):
                shutil.copy(prog, bindir)
            cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                   os.path.join(bindir, "osd")] + cmd[1:]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        check(p.returncode == 111, "an unreadable rules file: exit 111 (%s)" % p.returncode)
        check(re.search(r"^osd: config: %s: Permission denied$" % re.escape(rules), p.stderr,
                        re.M) is not None,
              "it names the file and why (%r)" % p.stderr.strip()[:300])
        # An unreadable vpasswd (every login of the domain would fail): 111, named.
        fresh()
        domain_dir = os.path.dirname(vpasswd)
        os.chmod(domain_dir, 0o755)
        os.chmod(vpasswd, 0)
        if os.path.exists(os.path.join(domain_dir, "aliases")):
            os.chmod(os.path.join(domain_dir, "aliases"), 0o644)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        check(p.returncode == 111, "an unreadable vpasswd: exit 111 (%s)" % p.returncode)
        check(re.search(r"^osd: config: %s: Permission denied$" % re.escape(vpasswd), p.stderr,
                        re.M) is not None,
              "it names the vpasswd and why (%r)" % p.stderr.strip()[:300])
        rc, _, err = config_check(os.path.join(root, "nonexistent.conf"))
        check(rc == 111 and "nonexistent.conf: No such file" in err,
              "a named config that does not exist: exit 111 (%s, %r)" % (rc, err.strip()))

        # Several mistakes at once: each is reported, one summary line.
        fresh()
        append(rules, "junk\n")
        append(os.path.join(ctl, "timeoutremote"), "soon\n")
        rc, _, err = config_check(conf)
        check(rc == 100 and err.count("osd: config: ") == 3 and "2 error(s)" in err,
              "two mistakes in two files: both reported, then the count (%r)" % err)

        # The units reload through the check.
        for unit in ["osd/osd.service", "osd/osd-watch.service", "pop3d/osd-pop3d.service",
                     "imapd/osd-imapd.service", "smtp-gate/smtpd/osd-smtpd.service",
                     "smtp-gate/qmgr/osd-queue.service"]:
            with open(os.path.join(TOP, unit)) as f:
                reloads = [l.strip() for l in f if l.startswith("ExecReload=")]
            check(len(reloads) == 2 and " config check -c " in reloads[0]
                  and reloads[1] == "ExecReload=+/bin/kill -HUP $MAINPID",
                  "%s: ExecReload runs osd config check before the SIGHUP" % unit)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
