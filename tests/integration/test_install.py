#!/usr/bin/env python3
"""test_install - "meson install --destdir" of the build: the installed layout.

osd in <prefix>/<sbindir>, every other program in <prefix>/<libexecdir>/osd,
the staged front command running its staged helpers (osd --help, a helper's
--help, osd record, osd run starting osd watch beside itself), the systemd
units naming the installed paths and passing systemd-analyze verify, the
sysusers.d and tmpfiles.d files applied by systemd-sysusers and
systemd-tmpfiles to a private root, the sample osd.conf with every key of
lib/config/conf.c, and the docs.  Paths are checked against the build's own
configured prefix (the tests' build dirs use meson's default /usr/local; a
Debian build's --prefix=/usr gives /usr/sbin/osd and /usr/libexec/osd).
"""
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile

import osdtest
from osdtest import BUILD, Osd, check, finish, wait_for

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def options():
    out = subprocess.run(["meson", "introspect", BUILD, "--buildoptions"],
                         capture_output=True, text=True, check=True).stdout
    return {o["name"]: o["value"] for o in json.loads(out)}


def under(prefix, d):
    """meson's prefix / dir: an absolute dir stays as it is."""
    return d if d.startswith("/") else os.path.join(prefix, d)


def conf_keys():
    """The keys of conf.c's table (FIELD(...) rows between 'conf_keys[] = {' and '};')."""
    text = open(os.path.join(SRC, "lib", "config", "conf.c")).read()
    table = text[text.index("conf_keys[] = {"):]
    table = table[:table.index("};")]
    return re.findall(r"FIELD(?:_MAX)?\((\w+),", table)


def systemd_dir(opts, opt, fallback):
    if opts[opt]:
        return opts[opt]
    p = subprocess.run(["pkg-config", "--variable=" + opt, "systemd"], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else \
        os.path.join(opts["prefix"], fallback)


def main():
    opts = options()
    prefix = opts["prefix"]
    sbindir = under(prefix, opts["sbindir"])
    libexec = os.path.join(under(prefix, opts["libexecdir"]), "osd")
    sysconf = under(prefix, opts["sysconfdir"])
    docdir = os.path.join(under(prefix, opts["datadir"]), "doc", "osd")
    mandir = under(prefix, opts["mandir"])
    unitdir = systemd_dir(opts, "systemdsystemunitdir", "lib/systemd/system")
    sysusersdir = systemd_dir(opts, "sysusersdir", "lib/sysusers.d")
    tmpfilesdir = systemd_dir(opts, "tmpfilesdir", "lib/tmpfiles.d")

    dest = tempfile.mkdtemp(prefix="osd-install-")
    try:
        p = subprocess.run(["meson", "install", "-C", BUILD, "--destdir", dest, "--no-rebuild",
                            "--quiet"], capture_output=True, text=True)
        check(p.returncode == 0, "meson install --destdir succeeds (%s)" % p.stderr.strip()[-300:])
        staged = lambda path: dest + path  # noqa: E731

        # --- programs ---
        osd = staged(os.path.join(sbindir, "osd"))
        check(os.access(osd, os.X_OK), "the front command is %s/osd" % sbindir)
        check(sorted(os.listdir(staged(sbindir))) == ["osd"],
              "nothing but osd in %s: %s" % (sbindir, sorted(os.listdir(staged(sbindir)))))
        built = sorted(n for n in os.listdir(BUILD)
                       if n.startswith("osd-") and os.path.isfile(os.path.join(BUILD, n))
                       and os.access(os.path.join(BUILD, n), os.X_OK))
        check(len(built) >= 20, "the build has its osd-* programs (%d)" % len(built))
        missing = [n for n in built if not os.access(staged(os.path.join(libexec, n)), os.X_OK)]
        check(not missing, "every osd-* program is in %s (missing: %s)" % (libexec, missing))

        h = subprocess.run([osd, "--help"], capture_output=True, text=True)
        check(h.returncode == 0 and "commands:" in h.stdout and "qread" in h.stdout,
              "staged osd --help lists the commands")
        h = subprocess.run([osd, "check", "--help"], capture_output=True, text=True)
        check(h.returncode == 0 and h.stdout.startswith("usage: osd check"),
              "staged osd check --help runs the staged libexec helper (rc %d: %s)"
              % (h.returncode, (h.stdout + h.stderr).strip()[:200]))
        # Without the helper the front command says where it looked: not in the build.
        os.rename(staged(os.path.join(libexec, "osd-qstat")), dest + "/qstat.aside")
        h = subprocess.run([osd, "qstat", "--help"], capture_output=True, text=True)
        check(h.returncode == 111 and "not built in this version" in h.stderr
              and libexec in h.stderr, "a missing helper is reported with %s: %s"
              % (libexec, h.stderr.strip()))
        os.rename(dest + "/qstat.aside", staged(os.path.join(libexec, "osd-qstat")))

        # The staged tree works: osd record (libexec), osd run starting osd watch beside it.
        o = Osd(extra="services = watch\n")
        try:
            osdtest.OSD = osd
            r = o.record("127.0.0.9")
            check(r.returncode == 0, "staged osd record works (%s)" % r.stderr.strip())
            run = o.start("run")
            ok = wait_for(lambda: os.path.exists(o.cdb) and "127.0.0.9" in o.cdb_keys()
                          or run.poll() is not None)
            check(ok and run.poll() is None,
                  "staged osd run starts osd watch from libexec; relay.cdb has the entry")
            check(o.stop(run) == 0, "staged osd run stops cleanly on SIGTERM")
        finally:
            osdtest.OSD = os.path.join(BUILD, "osd")
            o.cleanup()

        # --- systemd units ---
        units = sorted(os.listdir(staged(unitdir))) if os.path.isdir(staged(unitdir)) else []
        want = ["osd-expire.service", "osd-expire.timer", "osd-imapd.service", "osd-metrics.service",
                "osd-policyd.service", "osd-pop3d.service", "osd-queue.service", "osd-smtpd.service",
                "osd-watch.service", "osd.service"]
        check(all(u in units for u in want), "the units are in %s: %s" % (unitdir, units))
        for u in units:
            text = open(staged(os.path.join(unitdir, u))).read()
            check("/usr/local/bin" not in text and "@" not in text,
                  "%s: no /usr/local/bin, no unfilled @VAR@" % u)
            if not u.endswith(".service"):
                continue
            execs = re.findall(r"^Exec(?:Start|Reload)=[+]?(\S+)", text, re.M)
            check(execs and all(e in (os.path.join(sbindir, "osd"), "/bin/kill") for e in execs),
                  "%s runs %s/osd: %s" % (u, sbindir, execs))
            check("-c %s/osd/osd.conf" % sysconf in text, "%s names %s/osd/osd.conf" % (u, sysconf))
            for line in ["NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                         "ProtectHome=yes", "ReadWritePaths=/var/lib/osd"]:
                check(re.search("^" + re.escape(line) + "$", text, re.M), "%s: %s" % (u, line))
            caps = re.findall(r"^CapabilityBoundingSet=(.*)$", text, re.M)
            check(len(caps) == 1 and "CAP_SYS_ADMIN" not in caps[0] and "CAP_SETUID" in caps[0],
                  "%s: a capability bounding set: %s" % (u, caps))
            listens = u in ("osd.service", "osd-pop3d.service", "osd-imapd.service",
                            "osd-smtpd.service", "osd-policyd.service")
            check(caps and ("CAP_NET_BIND_SERVICE" in caps[0]) == listens,
                  "%s: CAP_NET_BIND_SERVICE only for a daemon that listens" % u)
            reloads = re.findall(r"^ExecReload=(.*)$", text, re.M)
            if reloads:
                check(len(reloads) == 2 and " config check " in reloads[0] and "kill -HUP" in reloads[1],
                      "%s: ExecReload runs osd config check before the SIGHUP" % u)

        # systemd-analyze verify on a private root: the staged tree plus the host's
        # targets (the units' dependencies); the man pages of Documentation= from
        # the staged mandir.  A missing systemd-analyze fails (install-deps.sh).
        check(shutil.which("systemd-analyze") is not None, "systemd-analyze is installed")
        root = tempfile.mkdtemp(prefix="osd-root-")
        try:
            shutil.copytree(dest, root, symlinks=True, dirs_exist_ok=True)
            targets = os.path.join(root, "usr", "lib", "systemd", "system")
            os.makedirs(targets, exist_ok=True)
            for d in ["/lib/systemd/system", "/usr/lib/systemd/system"]:
                for n in os.listdir(d) if os.path.isdir(d) else []:
                    if n.endswith(".target") and not os.path.exists(os.path.join(targets, n)):
                        shutil.copyfile(os.path.join(d, n), os.path.join(targets, n))
            env = dict(os.environ, MANPATH=staged(mandir), SYSTEMD_LOG_LEVEL="notice")
            for u in units:
                v = subprocess.run(["systemd-analyze", "--root=" + root, "verify",
                                    root + os.path.join(unitdir, u)],
                                   capture_output=True, text=True, env=env)
                out = (v.stdout + v.stderr).strip()
                check(v.returncode == 0 and out == "",
                      "systemd-analyze verify %s: clean (rc %d) %s" % (u, v.returncode, out[:600]))

            # sysusers.d and tmpfiles.d, applied to the private root.
            su = os.path.join(sysusersdir, "osd.conf")
            tf = os.path.join(tmpfilesdir, "osd.conf")
            check(os.path.isfile(staged(su)) and os.path.isfile(staged(tf)),
                  "%s and %s are installed" % (su, tf))
            os.makedirs(os.path.join(root, "etc"), exist_ok=True)
            for n in ["passwd", "group"]:
                shutil.copyfile("/etc/" + n, os.path.join(root, "etc", n))
            s = subprocess.run(["systemd-sysusers", "--root=" + root, root + su],
                               capture_output=True, text=True)
            pw = [line.split(":") for line in open(os.path.join(root, "etc", "passwd"))]
            osd_pw = [e for e in pw if e[0] == "osd"]
            check(s.returncode == 0 and osd_pw and osd_pw[0][5] == "/var/lib/osd",
                  "systemd-sysusers makes the osd account (%s)" % s.stderr.strip())
            t = subprocess.run(["systemd-tmpfiles", "--root=" + root, "--create", root + tf],
                               capture_output=True, text=True)
            check(t.returncode == 0, "systemd-tmpfiles --create applies it (%s)" % t.stderr.strip())
            for d, mode in [("", 0o755), ("open-smtp", 0o755), ("queue", 0o700), ("domains", 0o755)]:
                path = os.path.join(root, "var", "lib", "osd", d)
                st = os.stat(path) if os.path.isdir(path) else None
                check(st is not None and stat.S_IMODE(st.st_mode) == mode and
                      (os.geteuid() != 0 or (osd_pw and st.st_uid == int(osd_pw[0][2]))),
                      "/var/lib/osd/%s: made %04o, owned by osd" % (d, mode))
        finally:
            shutil.rmtree(root, ignore_errors=True)

        # --- the sample osd.conf: every key, commented with its default ---
        sample = staged(os.path.join(sysconf, "osd", "osd.conf"))
        text = open(sample).read() if os.path.isfile(sample) else ""
        keys = conf_keys()
        check(len(keys) >= 60, "conf.c's table read (%d keys)" % len(keys))
        absent = [k for k in keys if not re.search(r"^#?%s =" % k, text, re.M)]
        check(not absent, "the sample osd.conf lists every key (missing: %s)" % absent)
        c = subprocess.run([osd, "config", "check", "-c", sample], capture_output=True, text=True)
        check(c.returncode == 0, "the sample passes osd config check (%s)" % c.stderr.strip()[:300])
        unc = os.path.join(dest, "uncommented.conf")
        with open(unc, "w") as f:
            f.write(re.sub(r"^#(\w+ =)", r"\1", text, flags=re.M))
        c = subprocess.run([osd, "config", "check", "-c", unc], capture_output=True, text=True)
        check(c.returncode == 0, "every default it shows, uncommented, is valid (%s)"
              % c.stderr.strip()[:300])

        # --- man pages (their contents: test_man.py) ---
        for page in ["man8/osd.8", "man5/osd.conf.5", "man8/osd-watch.8", "man8/osd-pop3d.8",
                     "man8/osd-imapd.8", "man8/osd-smtpd.8", "man8/osd-queue.8", "man8/osd-policyd.8",
                     "man8/osd-metrics.8"]:
            check(os.path.isfile(staged(os.path.join(mandir, page))), "%s/%s is installed" % (mandir, page))

        # --- docs, the cron file ---
        for n in ["README.md", "operations.md", "config.md", "integrations.md"]:
            check(os.path.isfile(staged(os.path.join(docdir, n))), "%s/%s is installed" % (docdir, n))
        cron = staged(os.path.join(under(prefix, opts["datadir"]), "osd", "cron", "osd-expire.cron"))
        ctext = open(cron).read() if os.path.isfile(cron) else ""
        check("PATH=%s:" % sbindir in ctext and "@" not in ctext,
              "the cron file's PATH has %s" % sbindir)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    finish()


main()
