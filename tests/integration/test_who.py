#!/usr/bin/env python3
"""Who is behind a relay entry: osd pop3d stores the login name, osd check,
osd list and osd smtpd name it, osd revoke takes the right away at once.

Run twice: with the user.osd.login xattr (this kernel's tmpfs and ext4 have
user xattrs), and with OSD_USER_STORE=file in every program's environment,
the sidecar fallback osd uses where a filesystem refuses xattrs (ENOTSUP).
And once on a filesystem that really refuses them: ramfs, mounted in a
private mount namespace (unshare -m, as root): record, check, list, revoke.

- alice logs in over POP3 (curl) from 127.0.0.31: osd check and osd list
  --json name her; she relays (swaks) and smtpd's session and message lines
  say relay=pop-before-smtp user=alice@example.test; with
  received_auth_user = yes the queued message's Received: names her.
- NAT: bob logs in from the same address: the entry names bob, the pop3d
  log has both logins.
- osd revoke 127.0.0.31 with osd watch stopped (SIGSTOP): relay.cdb still
  has the key, yet smtpd refuses the remote recipient at once; after
  SIGCONT relay.cdb loses the key.  osd revoke --user alice removes her two
  entries and keeps bob's.  A static rule is not revoked, and says so.
- expiry: an expired entry is removed with its name (no sidecar left); a
  login without a user afterwards names no one.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (OSD, Osd, check, finish, free_port, wait_for, wait_port)  # noqa: E402

DOM = "example.test"
ALICE = "alice@" + DOM
BOB = "bob@" + DOM
EXPIRE = 15
T = 20
REMOTE = "someone@remote.example"
QMAIL_RCPTHOSTS = "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"


def swaks(port, src, *args):
    cmd = ["swaks", "--server", "127.0.0.1:%d" % port, "--local-interface", src,
           "--helo", "roamer.test", "--from", ALICE, "--timeout", str(T)]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def pop_login(pport, src, user, pw):
    return subprocess.run(["curl", "-s", "-S", "--max-time", str(T), "--interface", src,
                           "pop3://127.0.0.1:%d/" % pport, "-u", "%s:%s" % (user, pw)],
                          capture_output=True, timeout=120).returncode


def listed(o, *args):
    p = o.run("list", "--json", *args)
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        return p.returncode, None


def user_of(o, ip):
    return o.check_ip(ip)[1].get("user")


def sidecars(o):
    try:
        return [n for n in os.listdir(os.path.join(o.opensmtp, ".osd-users"))
                if not n.startswith(".")]
    except FileNotFoundError:
        return []


def has_xattr(o, ip):
    try:
        return os.getxattr(os.path.join(o.opensmtp, ip), "user.osd.login") != b""
    except OSError:
        return False


def run(o, mode):
    tag = "[%s] " % mode
    port, pport = free_port(), free_port()
    o.write_conf("%ds" % EXPIRE,
                 "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\npop3_listen = 127.0.0.1:%d\ncontrol_dir = control\n"
                 "default_domain = %s\nreceived_auth_user = yes\n" % (port, pport, DOM))
    with open(o.rules, "w") as f:
        f.write('10.9.:allow,RELAYCLIENT=""\n')
    o.write_control("me", "mx.%s\n" % DOM)
    o.write_control("rcpthosts", "%s\n" % DOM)
    for u in (ALICE, BOB):
        p = o.run("user", "add", u, input=u.split("@")[0] + "-pw\n")
        check(p.returncode == 0, tag + "osd user add %s (%s)" % (u, p.stderr.strip()))
    w = o.start_watch()
    pop = o.start("pop3d")
    d = o.start_smtpd(port)
    ok = w.poll() is None and wait_port(pport, pop) and d.poll() is None
    if not check(ok, tag + "osd watch, pop3d and smtpd run"):
        return

    # --- alice logs in: check, list, smtpd's log and Received: name her ---
    check(pop_login(pport, "127.0.0.31", ALICE, "alice-pw") == 0, tag + "alice's POP3 login from 127.0.0.31")
    check(wait_for(lambda: user_of(o, "127.0.0.31") == ALICE), tag + "osd check 127.0.0.31 prints user: %s (%r)"
          % (ALICE, o.check_ip("127.0.0.31")[1]))
    if mode == "xattr":
        check(has_xattr(o, "127.0.0.31") and not sidecars(o),
              tag + "the name is in the entry's user.osd.login xattr, no sidecar")
    else:
        check(not has_xattr(o, "127.0.0.31") and len(sidecars(o)) == 1,
              tag + "the name is in a sidecar under open-smtp/.osd-users, no xattr")
    check(os.path.getsize(os.path.join(o.opensmtp, "127.0.0.31")) == 0, tag + "the entry stays zero-size")
    rc, rows = listed(o)
    mine = [r for r in rows or [] if r.get("address") == "127.0.0.31"]
    check(rc == 0 and len(mine) == 1 and mine[0]["user"] == ALICE and mine[0]["source"] == "dynamic"
          and mine[0]["expires_unix"] - mine[0]["login_unix"] == EXPIRE,
          tag + "osd list --json names alice for 127.0.0.31, dynamic, expiry = login + relay_expire (%r)" % rows)
    check(any(r["address"] == "10.9." and r["source"] == "static" for r in rows or []),
          tag + "osd list shows the static rule 10.9. as static")
    check(wait_for(lambda: "127.0.0.31" in o.cdb_keys()), tag + "relay.cdb has 127.0.0.31")
    before = set(o.queue_files())
    rc, out = swaks(port, "127.0.0.31", "--to", REMOTE)
    check(rc == 0 and "queued as" in out, tag + "127.0.0.31 relays after alice's login (rc %d)" % rc)
    line = "relay=pop-before-smtp user=%s" % ALICE
    check(wait_for(lambda: any("message: " in ln and line in ln for ln in o.log("smtpd").splitlines())),
          tag + "smtpd's message line says %s" % line)
    check(wait_for(lambda: any("session: " in ln and line in ln for ln in o.log("smtpd").splitlines())),
          tag + "smtpd's session line says %s" % line)
    new = sorted(set(o.queue_files()) - before)
    if check(len(new) == 1, tag + "the relayed message is queued"):
        _, body = o.queue_read(new[0])
        head = body.split(b"\n\n")[0].decode(errors="replace")
        check(head.startswith("Received: from roamer.test ([127.0.0.31])\n"
                              "\t(Authenticated sender: %s, POP-before-SMTP)\n\tby " % ALICE),
              tag + "received_auth_user = yes: Received: names alice (%r)" % head[:300])

    # --- NAT: bob behind the same address ---
    check(pop_login(pport, "127.0.0.31", BOB, "bob-pw") == 0, tag + "bob's POP3 login from 127.0.0.31")
    check(wait_for(lambda: user_of(o, "127.0.0.31") == BOB), tag + "the entry now names bob, the last login")
    plog = o.log("pop3d")
    check("login: addr=127.0.0.31 user=%s recorded" % ALICE in plog and
          "login: addr=127.0.0.31 user=%s recorded" % BOB in plog,
          tag + "the pop3d log keeps both logins from 127.0.0.31")
    if mode == "file":
        check(len(sidecars(o)) == 1, tag + "still one sidecar for the one entry")

    # --- revoke by IP: smtpd refuses at once, before relay.cdb is rewritten ---
    w.send_signal(signal.SIGSTOP)
    try:
        p = o.run("revoke", "127.0.0.31")
        check(p.returncode == 0 and "revoked 127.0.0.31 user=%s" % BOB in p.stdout,
              tag + "osd revoke 127.0.0.31 exits 0 naming bob (%d %r %r)" % (p.returncode, p.stdout, p.stderr))
        check("127.0.0.31" in o.cdb_keys(), tag + "with the watcher stopped, relay.cdb still has 127.0.0.31")
        rc, out = swaks(port, "127.0.0.31", "--to", REMOTE)
        check(rc != 0 and QMAIL_RCPTHOSTS in out,
              tag + "yet smtpd refuses 127.0.0.31's remote recipient at once (rc %d)" % rc)
        check(o.check_ip("127.0.0.31")[0] == 1, tag + "osd check 127.0.0.31 exits 1")
    finally:
        w.send_signal(signal.SIGCONT)
    check(wait_for(lambda: "127.0.0.31" not in o.cdb_keys()), tag + "the watcher drops 127.0.0.31 from relay.cdb")
    check(not sidecars(o), tag + "no sidecar left after the revoke")
    p = o.run("revoke", "127.0.0.31")
    check(p.returncode == 1 and "no login entry" in p.stderr, tag + "revoking it again: exit 1, no login entry")

    # --- revoke --user: all of alice's entries, not bob's ---
    for src, u, pw in (("127.0.0.32", ALICE, "alice-pw"), ("127.0.0.33", ALICE, "alice-pw"),
                       ("127.0.0.34", BOB, "bob-pw")):
        check(pop_login(pport, src, u, pw) == 0, tag + "%s logs in from %s" % (u, src))
    rc, rows = listed(o, "--user", ALICE)
    check(rc == 0 and [r["address"] for r in rows or []] == ["127.0.0.32", "127.0.0.33"],
          tag + "osd list --user alice: her two entries only, sorted (%r)" % rows)
    rc, rows = listed(o, "--prefix", "127.0.0.3")
    check(rc == 0 and [r["address"] for r in rows or []] == ["127.0.0.32", "127.0.0.33", "127.0.0.34"],
          tag + "osd list --prefix 127.0.0.3 (%r)" % rows)
    check(wait_for(lambda: {"127.0.0.32", "127.0.0.33", "127.0.0.34"} <= set(o.cdb_keys())),
          tag + "relay.cdb has the three")
    p = o.run("revoke", "--user", ALICE)
    check(p.returncode == 0 and p.stdout.count("revoked ") == 2, tag + "osd revoke --user alice revokes 2 (%r)" % p.stdout)
    rc, out = swaks(port, "127.0.0.32", "--to", REMOTE)
    check(rc != 0 and QMAIL_RCPTHOSTS in out, tag + "127.0.0.32 refused at once (rc %d)" % rc)
    check(wait_for(lambda: not {"127.0.0.32", "127.0.0.33"} & set(o.cdb_keys())
                   and "127.0.0.34" in o.cdb_keys()),
          tag + "relay.cdb loses alice's keys, keeps bob's")
    check(user_of(o, "127.0.0.34") == BOB, tag + "bob's entry still names bob")
    # A login right after the revoke opens relaying again.
    check(pop_login(pport, "127.0.0.32", ALICE, "alice-pw") == 0 and
          wait_for(lambda: o.check_ip("127.0.0.32")[0] == 0), tag + "a login after the revoke relays again")

    # --- a static rule cannot be revoked ---
    p = o.run("revoke", "10.9.0.1")
    check(p.returncode == 1 and "static rule '10.9.'" in p.stderr and "cannot" in p.stderr,
          tag + "osd revoke 10.9.0.1: exit 1, the static rule cannot be revoked (%r)" % p.stderr)
    p = o.run("revoke", "not-an-ip")
    check(p.returncode == 100, tag + "osd revoke not-an-ip: exit 100")
    p = o.run("revoke", "--user", "bad name")
    check(p.returncode == 100, tag + "osd revoke --user 'bad name': exit 100")

    # --- expiry drops the name with the entry; a user-less login names no one ---
    p = o.run("record", "--user", "carol@" + DOM, "127.0.0.40")
    check(p.returncode == 0 and wait_for(lambda: user_of(o, "127.0.0.40") == "carol@" + DOM),
          tag + "osd record --user carol")
    check(wait_for(lambda: not os.path.exists(os.path.join(o.opensmtp, "127.0.0.40")),
                   timeout=EXPIRE + 60, step=0.2), tag + "the watcher expires 127.0.0.40")
    if mode == "file":
        check(not any("carol" in open(os.path.join(o.opensmtp, ".osd-users", n)).read()
                      for n in sidecars(o)), tag + "expiry removed carol's sidecar")
    p = o.run("record", "127.0.0.40")
    check(p.returncode == 0 and wait_for(lambda: user_of(o, "127.0.0.40") == "-"),
          tag + "a login without --user afterwards names no one")


# A filesystem that refuses user xattrs for real: ramfs (EOPNOTSUPP), mounted in a
# private mount namespace (unshare -m) so nothing outside sees it.
RAMFS_SCRIPT = r"""
set -u
mnt=$1; osd=$2
mount -t ramfs osd-test "$mnt" || exit 3
cd "$mnt"
printf 'state_dir = %s/state\nrules = %s/tcp.smtp\nrelay_expire = 3h\n' "$mnt" "$mnt" > osd.conf
: > tcp.smtp
python3 -c 'import os,sys
open("probe","w").close()
try:
    os.setxattr("probe", "user.osd.login", b"x"); print("probe: xattr works")
except OSError as e:
    print("probe: errno %d" % e.errno)'
"$osd" record -c osd.conf --user alice@example.test 127.0.0.51; echo "record: $?"
"$osd" record -c osd.conf --user bob@example.test 127.0.0.52; echo "record: $?"
"$osd" watch -1 -c osd.conf 2>/dev/null; echo "watch: $?"
"$osd" check -c osd.conf 127.0.0.51 | grep '^user:'
echo "sidecars: $(ls state/open-smtp/.osd-users | wc -l)"
"$osd" list -c osd.conf --json; echo "list: $?"
"$osd" revoke -c osd.conf --user alice@example.test; echo "revoke: $?"
echo "sidecars: $(ls state/open-smtp/.osd-users | wc -l)"
"$osd" list -c osd.conf
cd /
umount "$mnt"
"""


def ramfs_fallback():
    """The sidecar where the filesystem itself says ENOTSUP, not by OSD_USER_STORE."""
    tag = "[ramfs] "
    mnt = tempfile.mkdtemp(prefix="osd-it-ramfs-")
    try:
        p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", RAMFS_SCRIPT,
                            "sh", mnt, OSD], capture_output=True, text=True, timeout=120)
    finally:
        os.rmdir(mnt)
    out = p.stdout
    if not check(p.returncode == 0 and "probe: errno 95" in out,
                 tag + "ramfs mounted in a private namespace refuses user xattrs (EOPNOTSUPP) "
                 "(rc %d %r %r)" % (p.returncode, out, p.stderr)):
        return
    check(out.count("record: 0") == 2, tag + "osd record --user succeeds there")
    check("user: alice@example.test" in out, tag + "osd check names alice (from the sidecar)")
    check("sidecars: 2" in out, tag + "two sidecars in open-smtp/.osd-users")
    check('"address":"127.0.0.51","user":"alice@example.test"' in out and
          '"address":"127.0.0.52","user":"bob@example.test"' in out, tag + "osd list --json names both")
    check("revoke: 0" in out and "sidecars: 1" in out and
          "127.0.0.52 bob@example.test" in out and "127.0.0.51 " not in out.split("sidecars: 1")[1],
          tag + "osd revoke --user alice removes her entry and its sidecar, keeps bob's")


def main():
    ramfs_fallback()
    for mode in ("xattr", "file"):
        if mode == "file":
            os.environ["OSD_USER_STORE"] = "file"
        o = Osd(relay_expire="%ds" % EXPIRE)
        try:
            run(o, mode)
        finally:
            for p in o.procs:
                o.stop(p)
            o.cleanup()
    os.environ.pop("OSD_USER_STORE", None)
    finish()


if __name__ == "__main__":
    main()
