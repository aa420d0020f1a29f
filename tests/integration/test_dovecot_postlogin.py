#!/usr/bin/env python3
"""osd-dovecot-postlogin under a private Debian Dovecot (POP3 and IMAP).

Dovecot (own config, base_dir, state and log under the test folder; loopback
ports) authenticates against the vpasswd tree osd manages and runs the build
folder's osd-dovecot-postlogin as its pop3 and imap post-login script.  A
POP3 login (poplib from 127.0.0.5) and an IMAP login (imaplib from 127.0.0.6)
each open relaying for their address: osd check says so (and names the
user, passed as osd record --user), relay.cdb (kept by
osd watch) gets the key, and a running osd smtpd accepts a remote recipient
from that address while 127.0.0.9 still gets qmail's 553.  A failed login
(wrong password, POP3 and IMAP) and the logins of a user whose userdb says
osd_no_relay=yes record nothing; neither does a login when osd record fails,
and that login still works (the failure lands in Dovecot's log).  The script
records beside the login, so recorded entries are waited for, and the
absence of the others is checked again at the end.
"""
import imaplib
import os
import poplib
import shutil
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (BUILD, OSD, Osd, check, finish, free_port,  # noqa: E402
                     rcpt_reply, wait_for, wait_port)

DOM = "example.test"
REMOTE = "<someone@remote.example>"
QMAIL_RCPTHOSTS = "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"
SCRIPT = os.path.join(BUILD, "osd-dovecot-postlogin")
DOVECOT = "/usr/sbin/dovecot"
MAIL_USER = "mail"      # owns the Maildirs (osd's mail_user, Dovecot's userdb uid/gid)


def dovecot_conf(o, dc, pop_port, imap_port, wrapper):
    users = os.path.join(o.state, "domains")
    return """instance_name = osd-it-postlogin-%(pop)d
base_dir = %(dc)s/run
state_dir = %(dc)s/state
log_path = %(dc)s/dovecot.log
protocols = pop3 imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir:INDEX=%(dc)s/index/%%d/%%n
# passwords: osd's vpasswd files as they are
passdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%%n %(users)s/%%d/vpasswd
}
# the osd_no_relay flag of the users who have one, then the mailbox owner and home
userdb {
  driver = passwd-file
  args = %(dc)s/osd-no-relay
  result_success = continue-ok
  result_failure = continue
}
userdb {
  driver = static
  args = uid=%(mu)s gid=%(mu)s home=%(users)s/%%d/%%n
}
# osd keeps users_dir for mail_user only (0700): read vpasswd as root
service auth {
  user = root
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = %(pop)d
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %(imap)d
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3 {
  executable = pop3 pop3-postlogin
}
service imap {
  executable = imap imap-postlogin
}
# (vsz_limit: an ASan build of osd reserves more address space than Dovecot's
# default 256 MB limit of a service's processes allows)
service pop3-postlogin {
  executable = script-login %(wrapper)s
  unix_listener pop3-postlogin {
  }
  vsz_limit = 0
}
service imap-postlogin {
  executable = script-login %(wrapper)s
  unix_listener imap-postlogin {
  }
  vsz_limit = 0
}
""" % {"dc": dc, "pop": pop_port, "imap": imap_port, "users": users, "mu": MAIL_USER,
       "wrapper": wrapper}


class Dovecot:
    """A private Dovecot master; stopped by its PID."""

    def __init__(self, dc, conf):
        self.dc, self.conf, self.pid = dc, conf, None

    def start(self):
        # The master forks into the background: its start-up errors go to a file, not
        # to a pipe that the daemon would keep open.
        with open(os.path.join(self.dc, "start.err"), "w+") as err:
            p = subprocess.run([DOVECOT, "-c", self.conf], stdout=err, stderr=err,
                               stdin=subprocess.DEVNULL, timeout=60)
            err.seek(0)
            if p.returncode != 0:
                return "dovecot exited %d: %s" % (p.returncode, err.read().strip())
        pidfile = os.path.join(self.dc, "run", "master.pid")
        wait_for(lambda: os.path.exists(pidfile) and open(pidfile).read().strip())
        try:
            with open(pidfile) as f:
                self.pid = int(f.read().strip())
        except (OSError, ValueError):
            return "no master.pid"
        return None

    def stop(self):
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid = None
            return

        def gone():
            try:
                os.kill(self.pid, 0)
                return False
            except ProcessLookupError:
                return True
        if not wait_for(gone):
            os.kill(self.pid, signal.SIGKILL)
        self.pid = None

    def log(self):
        try:
            with open(os.path.join(self.dc, "dovecot.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


def from_source(cls):
    """cls (poplib.POP3, imaplib.IMAP4) connecting to 127.0.0.1 from a chosen source address."""
    class From(cls):
        def __init__(self, port, src):
            self.src = src
            super().__init__("127.0.0.1", port, timeout=20)

        def _create_socket(self, timeout):
            return socket.create_connection((self.host, self.port), timeout,
                                            source_address=(self.src, 0))
    return From


POP3From = from_source(poplib.POP3)
IMAP4From = from_source(imaplib.IMAP4)


def pop_login(port, src, user, pw):
    """A POP3 USER/PASS login from src: (True, STAT) or (False, error text)."""
    try:
        c = POP3From(port, src)
    except OSError as e:
        return False, str(e)
    try:
        c.user(user)
        c.pass_(pw)
        st = c.stat()
        c.quit()
        return True, st
    except (poplib.error_proto, OSError) as e:
        c.close()
        return False, str(e)


def imap_login(port, src, user, pw):
    """An IMAP LOGIN from src, then SELECT INBOX: (True, message count) or (False, error)."""
    try:
        c = IMAP4From(port, src)
    except OSError as e:
        return False, str(e)
    try:
        c.login(user, pw)
        typ, data = c.select("INBOX")
        c.logout()
        return typ == "OK", data
    except (imaplib.IMAP4.error, OSError) as e:
        try:
            c.shutdown()
        except OSError:
            pass
        return False, str(e)


def entries(o):
    try:
        return sorted(os.listdir(o.opensmtp))
    except FileNotFoundError:
        return []


def main():
    o = Osd()
    dcs = []
    try:
        run(o, dcs)
    finally:
        for dc in dcs:
            dc.stop()
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


def run(o, dcs):
    for tool in (DOVECOT, "/usr/lib/dovecot/pop3", "/usr/lib/dovecot/imap",
                 "/usr/lib/dovecot/script-login"):
        if not check(os.path.exists(tool), "%s is installed (dovecot-pop3d, dovecot-imapd: "
                     "scripts/install-deps.sh)" % tool):
            return
    check(os.access(SCRIPT, os.X_OK), "the build folder has an executable %s" % SCRIPT)
    smtp_port, sub_port, pop_port, imap_port = free_port(), free_port(), free_port(), free_port()
    o.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen = 127.0.0.1:%d\n"
                 "control_dir = control\ndefault_domain = %s\nmail_user = %s\n"
                 % (smtp_port, sub_port, DOM, MAIL_USER))
    o.write_control("me", "mx.%s\n" % DOM)
    o.write_control("rcpthosts", "%s\n" % DOM)
    # Dovecot's mail processes run as MAIL_USER and must reach the Maildirs.
    os.chmod(o.root, 0o755)
    for u in ("alice", "carol"):
        p = o.run("user", "add", "%s@%s" % (u, DOM), input="%s-pw\n" % u)
        check(p.returncode == 0, "osd user add %s@%s (%s)" % (u, DOM, p.stderr.strip()))
    md = os.path.join(o.state, "domains", DOM, "alice", "Maildir", "new")
    with open(os.path.join(md, "1700000001.M1P1.host"), "wb") as f:
        f.write(b"Subject: hi\r\n\r\nhello\r\n")
    shutil.chown(os.path.join(md, "1700000001.M1P1.host"), MAIL_USER, MAIL_USER)

    dc_dir = os.path.join(o.root, "dovecot")
    for sub in ("run", "state", "index"):
        os.makedirs(os.path.join(dc_dir, sub))
    shutil.chown(os.path.join(dc_dir, "index"), MAIL_USER, MAIL_USER)
    # carol is flagged in Dovecot's userdb (and in vpasswd's gid as vpopmail's NO_RELAY 0x20).
    with open(os.path.join(dc_dir, "osd-no-relay"), "w") as f:
        f.write("carol@%s:::::::userdb_osd_no_relay=yes\n" % DOM)
    vp = os.path.join(o.state, "domains", DOM, "vpasswd")
    with open(vp) as f:
        lines = [ln.split(":") for ln in f.read().splitlines()]
    with open(vp, "w") as f:
        for fields in lines:
            if fields[0] == "carol":
                fields[3] = "32"
            f.write(":".join(fields) + "\n")
    # The script as installed, pointed at this build and this config (script-login
    # clears the environment, so the variables are set by a wrapper it runs).
    wrapper = os.path.join(dc_dir, "postlogin-wrapper")
    fail_flag = os.path.join(dc_dir, "make-record-fail")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nOSD_BIN=%s\nOSD_CONF=%s\n"
                "# the test's switch for a failing osd record\n"
                "[ -e %s ] && OSD_BIN=/nonexistent/osd\n"
                "export OSD_BIN OSD_CONF\nexec %s \"$@\"\n" % (OSD, o.conf, fail_flag, SCRIPT))
    os.chmod(wrapper, 0o755)
    conf = os.path.join(dc_dir, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(dovecot_conf(o, dc_dir, pop_port, imap_port, wrapper))

    w = o.start_watch()
    d = o.start_smtpd(smtp_port)
    dc = Dovecot(dc_dir, conf)
    dcs.append(dc)
    err = dc.start()
    ok = (err is None and w.poll() is None and d.poll() is None and
          wait_port(pop_port) and wait_port(imap_port) and wait_port(smtp_port, d))
    check(ok, "osd watch, osd smtpd and a private Dovecot run (%s)" % (err or dc.log()[-400:]))
    if not ok:
        return

    # --- before any login ---
    for src in ("127.0.0.5", "127.0.0.6"):
        check(o.check_ip(src)[0] == 1, "before any login, osd check %s exits 1" % src)
        c, t = rcpt_reply(smtp_port, src, REMOTE)
        check(c == 553 and QMAIL_RCPTHOSTS in t,
              "before any login, %s gets 553 for a remote recipient (%d %s)" % (src, c, t))

    # --- failed logins record nothing ---
    # (each from an address of its own: the recording runs beside the login, so the
    # end of the test looks again, long after any recording would have landed)
    ok, res = pop_login(pop_port, "127.0.0.3", "alice@" + DOM, "wrong-pw")
    check(not ok and "Authentication failed" in str(res),
          "POP3 login with a wrong password fails (%s)" % (res,))
    ok, res = imap_login(imap_port, "127.0.0.4", "alice@" + DOM, "wrong-pw")
    check(not ok and "AUTHENTICATIONFAILED" in str(res),
          "IMAP LOGIN with a wrong password fails (%s)" % (res,))

    # --- a POP3 login from .5 ---
    ok, res = pop_login(pop_port, "127.0.0.5", "alice@" + DOM, "alice-pw")
    check(ok and res[0] == 1, "POP3 login as alice from 127.0.0.5 through Dovecot, STAT %r" % (res,))
    check(wait_for(lambda: entries(o) == ["127.0.0.5"]),
          "open-smtp/127.0.0.5 is recorded, and only it (%r)" % entries(o))
    # (osd check answers from relay.cdb: it waits for the watcher too)
    check(wait_for(lambda: o.check_ip("127.0.0.5")[0] == 0),
          "osd check 127.0.0.5 exits 0 after the POP3 login (%r)" % (o.check_ip("127.0.0.5"),))
    check(o.check_ip("127.0.0.5")[1].get("user") == "alice@%s" % DOM,
          "osd check names the user of the entry: alice@%s (%r)" % (DOM, o.check_ip("127.0.0.5")))
    check(wait_for(lambda: "127.0.0.5" in o.cdb_keys()),
          "osd watch puts 127.0.0.5 in relay.cdb (%r)" % o.cdb_keys())
    c, t = rcpt_reply(smtp_port, "127.0.0.5", REMOTE)
    check(c == 250, "osd smtpd accepts a remote recipient from 127.0.0.5 (%d %s)" % (c, t))
    c, t = rcpt_reply(smtp_port, "127.0.0.9", REMOTE)
    check(c == 553, "and still refuses it from 127.0.0.9 (%d %s)" % (c, t))

    # --- an IMAP login from .6 ---
    check(o.check_ip("127.0.0.6")[0] == 1, "127.0.0.6 may not relay yet")
    ok, res = imap_login(imap_port, "127.0.0.6", "alice@" + DOM, "alice-pw")
    check(ok and res == [b"1"], "IMAP LOGIN as alice from 127.0.0.6, SELECT INBOX: %r" % (res,))
    check(wait_for(lambda: "127.0.0.6" in entries(o)),
          "open-smtp/127.0.0.6 is recorded (%r)" % entries(o))
    check(wait_for(lambda: o.check_ip("127.0.0.6")[0] == 0),
          "osd check 127.0.0.6 exits 0 after the IMAP login")
    check(o.check_ip("127.0.0.6")[1].get("user") == "alice@%s" % DOM,
          "osd check names the user of the entry: alice@%s" % DOM)
    check(wait_for(lambda: "127.0.0.6" in o.cdb_keys()),
          "osd watch puts 127.0.0.6 in relay.cdb (%r)" % o.cdb_keys())
    c, t = rcpt_reply(smtp_port, "127.0.0.6", REMOTE)
    check(c == 250, "osd smtpd accepts a remote recipient from 127.0.0.6 (%d %s)" % (c, t))
    c, t = rcpt_reply(smtp_port, "127.0.0.9", REMOTE)
    check(c == 553, "and still refuses it from 127.0.0.9 (%d %s)" % (c, t))

    # --- a NO_RELAY user: logs in, records nothing ---
    before = entries(o)
    ok, res = pop_login(pop_port, "127.0.0.7", "carol@" + DOM, "carol-pw")
    check(ok, "POP3 login as carol (osd_no_relay=yes) from 127.0.0.7 works (%r)" % (res,))
    ok, res = imap_login(imap_port, "127.0.0.7", "carol@" + DOM, "carol-pw")
    check(ok, "IMAP LOGIN as carol from 127.0.0.7 works (%r)" % (res,))
    # A login of alice from .2 after carol's: once it is recorded, carol's would be too.
    ok, res = pop_login(pop_port, "127.0.0.2", "alice@" + DOM, "alice-pw")
    check(ok and wait_for(lambda: "127.0.0.2" in entries(o)),
          "a later POP3 login of alice from 127.0.0.2 is recorded (%r)" % entries(o))
    check(entries(o) == sorted(before + ["127.0.0.2"]),
          "carol's logins record nothing (%r)" % entries(o))

    # --- osd record failing never breaks the login ---
    open(fail_flag, "w").close()
    ok, res = pop_login(pop_port, "127.0.0.8", "alice@" + DOM, "alice-pw")
    check(ok and res[0] == 1, "with osd record failing, the POP3 login still works (%r)" % (res,))
    ok, res = imap_login(imap_port, "127.0.0.8", "alice@" + DOM, "alice-pw")
    check(ok, "with osd record failing, the IMAP login still works (%r)" % (res,))
    check(wait_for(lambda: dc.log().count("osd-dovecot-postlogin: osd record 127.0.0.8 failed") == 2),
          "both failures are in Dovecot's log (%r)" % dc.log()[-300:])
    os.unlink(fail_flag)
    check("127.0.0.8" not in entries(o), "and nothing is recorded for 127.0.0.8")

    # --- at the end, long after any recording would have landed ---
    check(entries(o) == ["127.0.0.2", "127.0.0.5", "127.0.0.6"],
          "open-smtp/ holds only the good logins' addresses: not the failed logins' "
          "(127.0.0.3, .4), not carol's (.7), not .8 (%r)" % entries(o))
    for src in ("127.0.0.3", "127.0.0.4", "127.0.0.7"):
        check(o.check_ip(src)[0] == 1, "osd check %s exits 1" % src)
        c, t = rcpt_reply(smtp_port, src, REMOTE)
        check(c == 553, "osd smtpd refuses a remote recipient from %s (%d %s)" % (src, c, t))
    check(wait_for(lambda: sorted(o.cdb_keys()) == ["127.0.0.2", "127.0.0.5", "127.0.0.6"]),
          "relay.cdb has the same three keys (%r)" % o.cdb_keys())


if __name__ == "__main__":
    main()
