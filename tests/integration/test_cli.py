"""The front command and the error texts an administrator sees."""
import os
import re
import shutil
import subprocess
import tempfile

from osdtest import OSD, Osd, check, finish


def osd(*args, env=None):
    return subprocess.run([OSD] + list(args), capture_output=True, text=True, env=env)


p = osd("--help")
check(p.returncode == 0 and "record" in p.stdout and "watch" in p.stdout, "osd --help lists the commands")
p = osd()
check(p.returncode != 0 and "usage" in p.stderr, "osd without a command prints usage and fails")
p = osd("frobnicate")
check(p.returncode == 100 and p.stderr.startswith("osd: frobnicate: unknown command"), "an unknown command is named")
for cmd in ["record", "check", "watch", "run", "expire", "import-open-smtp", "pop3d"]:
    p = osd(cmd, "--help")
    check(p.returncode == 0 and "usage: osd " + cmd in p.stdout, "osd %s --help" % cmd)
# Every program's --help lists its options (the ones each accepts, checked here).
HELP_OPTIONS = {
    "run": ["-c FILE"], "watch": ["-c FILE", "-1", "-v"], "record": ["-c FILE"],
    "check": ["-c FILE"], "expire": ["-c FILE", "-v"], "import-open-smtp": ["-c FILE"],
    "pop3d": ["-c FILE"], "imapd": ["-c FILE"], "smtpd": ["-c FILE"],
    "queue": ["-c FILE", "--flush", "--delete"], "qstat": ["-c FILE"], "qread": ["-c FILE"],
    "user": ["-c FILE", "--quota", "--gecos", "--keep-mail"], "status": ["-c FILE", "--json"],
    "config": ["-c FILE"], "local": ["-c FILE"], "remote": ["-c FILE", "--worker"],
    "list": ["-c FILE", "--json", "--user NAME", "--prefix P"], "revoke": ["-c FILE", "--user NAME"],
    "policyd": ["-c FILE"], "metrics": ["-c FILE"], "dovecot-postlogin": ["--help"],
}
BUILD = os.path.dirname(OSD)
built = sorted(n[4:] for n in os.listdir(BUILD) if n.startswith("osd-") and
               os.path.isfile(os.path.join(BUILD, n)) and os.access(os.path.join(BUILD, n), os.X_OK))
check(set(HELP_OPTIONS) <= set(built), "every program of the list is built (%s)"
      % sorted(set(HELP_OPTIONS) - set(built)))
for name in built:
    p = subprocess.run([os.path.join(BUILD, "osd-" + name), "--help"], capture_output=True,
                       text=True, timeout=30)
    # Listed: on a line of its own, after the usage line's synopsis.
    missing = [o for o in HELP_OPTIONS.get(name, [])
               if not re.search(r"^ +%s\b" % re.escape(o), p.stdout, re.M)]
    check(p.returncode == 0 and "usage:" in p.stdout and not missing,
          "osd-%s --help: exit 0, usage, lists its options (missing %s)" % (name, missing))
p = osd("record", "-x", "1.2.3.4")
check(p.returncode == 100 and p.stderr.startswith("osd: record: unknown option -x"), "unknown options are named")
# A lone copy of osd has no helper beside it: every command is "not built" there.
with tempfile.TemporaryDirectory() as lone:
    shutil.copy(OSD, lone)
    p = subprocess.run([os.path.join(lone, "osd"), "pop3d"], capture_output=True, text=True)
check(p.returncode != 0 and p.stderr.startswith("osd: pop3d:"), "a command not built yet says so")

o = Osd()
try:
    # Config errors name file, line and key.
    with open(o.conf, "a") as f:
        f.write("relay_expire = 3 hours\n")
    p = o.record("127.0.0.1")
    check(p.returncode != 0 and "osd.conf:5: relay_expire" in p.stderr, "a bad duration names file:line:key (%s)" % p.stderr.strip())
    o.write_conf("3h", "colour = blue\n")
    p = o.run("check", "127.0.0.1")
    check(p.returncode != 0 and "osd.conf:5: colour" in p.stderr, "an unknown key names file:line:key")
    o.write_conf("0", "")
    p = o.run("check", "127.0.0.1")
    check(p.returncode != 0 and "relay_expire" in p.stderr, "relay_expire = 0 is refused")
    o.write_conf("90m", "")
    p = o.run("check", "127.0.0.1")
    check(p.returncode == 1 and "decision: no-relay" in p.stdout, "90m is a valid relay_expire")

    # -c FILE beats $OSD_CONF, which beats the default.
    env = dict(os.environ, OSD_CONF=o.conf)
    o.record("127.0.0.3")
    p = osd("check", "127.0.0.3", env=env)
    check("source: " in p.stdout and p.returncode in (0, 1), "OSD_CONF is used without -c")
    p = osd("check", "-c", os.path.join(o.root, "missing.conf"), "127.0.0.3")
    check(p.returncode == 111 and p.stderr.startswith("osd: config:") and "missing.conf" in p.stderr,
          "a missing -c file is an error naming it")

    # check: exit codes and hostile input.
    p = o.run("check", "not-an-ip")
    check(p.returncode == 100 and p.stderr.startswith("osd: check: 'not-an-ip' is not"), "check refuses a non-address")
    p = o.run("check", "\x1b[31mevil")
    check("\x1b" not in p.stderr, "control characters from argv are not echoed")
finally:
    o.cleanup()
finish()
