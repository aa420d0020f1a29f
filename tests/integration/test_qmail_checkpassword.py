#!/usr/bin/env python3
"""osd checkpassword under a real tcpserver (Debian's ucspi-tcp-ipv6), behind a
qmail-popup stand-in (qmail_popup.py: Debian 12 has no qmail package) and in
front of a qmail-pop3d stand-in (qmail_pop3d_env.py, which answers PASS with
the environment it was given), as a qmail site runs it:

  tcpserver 127.0.0.1 PORT qmail_popup.py pop.test \\
      osd checkpassword -c osd.conf qmail_pop3d_env.py Maildir

with mail_user = nobody, the test running as root (as tcpserver on port 110
does), and osd watch rebuilding relay.cdb.

Checked, with poplib from distinct 127.0.0.x sources:
- a good login (USER/PASS) is answered by the next program, run in place of
  osd checkpassword (its parent is the popup), as nobody:nogroup, in the
  user's home, with USER, HOME, SHELL=NOLOGIN and VPOPUSER set as vchkpw does,
  descriptor 3 closed; the client's TCPREMOTEIP is recorded (open-smtp entry
  owned by nobody) and `osd check` says it may relay; another address may not;
  the log line reads "osd-checkpassword[PID]: info: login: addr=... user=...
  recorded";
- the same over IPv6 (tcpserver -6 on ::1), and with tcpserver -6 on an IPv4
  address (TCPREMOTEIP=::ffff:127.0.0.29 is recorded as 127.0.0.29);
- APOP (qmail-popup hands the digest over as the password) logs in as
  vchkpw takes it, from the cleartext vpasswd field;
- a wrong password: "-ERR authorization failed", checkpassword exit 1, nothing
  recorded, the password in no log;
- a NO_RELAY user logs in (the next program runs) but nothing is recorded;
  a NO_POP user is refused (exit 1);
- a password that makes descriptor 3 longer than 512 bytes: exit 2;
- driven directly with tcpserver's environment (descriptor 3 from a pipe):
  no \\0 after the login or the password, empty input, no descriptor 3,
  more than 512 bytes and no program are misuse (2); descriptor 3 unreadable,
  vpasswd unreadable, a program that cannot be run and root without a
  mail_user are temporary (111); a multicast or a malformed TCPREMOTEIP logs
  in without recording; none of them crashes (no signal, no sanitizer report).
"""
import json
import os
import poplib
import pwd
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (OSD, Osd, SrcPOP3, add_user, check, finish, free_port, have,  # noqa: E402
                     wait_for, wait_port)

HERE = os.path.dirname(os.path.abspath(__file__))
DOM = "example.test"
T = 20                          # client timeouts (functional bound)


class Front:
    """tcpserver HOST PORT qmail_popup.py pop.test osd checkpassword -c CONF next Maildir."""

    def __init__(self, o, host, nextprog, v6=None):
        self.host = host
        self.port = free_port(host)
        v6 = ":" in host if v6 is None else v6
        self.logpath = os.path.join(o.root, "tcpserver-%s%s.log" % (host.replace(":", "_"),
                                                                    "-6" if v6 else ""))
        self.log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            ["tcpserver"] + (["-6"] if v6 else []) +
            ["-R", "-H", "-l", "pop.test", host, str(self.port),
             os.path.join(o.root, "qmail_popup.py"), "pop.test",
             OSD, "checkpassword", "-c", o.conf, nextprog, "Maildir"],
            stdout=subprocess.DEVNULL, stderr=self.log,
            env={"PATH": "/usr/bin:/bin", "OSD_CONF": "/nonexistent"})
        self.ok = wait_port(self.port, self.proc, host=host)

    def text(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(T)
        self.log.close()


def login(front, src, user, password=None, apop=None):
    """USER/PASS (or APOP with the cleartext secret): (the next program's JSON or
    None, the error text or None, the greeting's timestamp)."""
    m = SrcPOP3(front.host, front.port, src, timeout=T)
    welcome = m.getwelcome().decode()
    try:
        if apop is not None:
            resp = m.apop(user, apop)
        else:
            m.user(user)
            resp = m.pass_(password)
    except poplib.error_proto as e:
        m.close()
        return None, str(e), welcome
    info = json.loads(resp.decode()[4:])
    m.quit()
    return info, None, welcome


def popup_pid(welcome):
    """The pid in qmail-popup's timestamp <pid.time@host>."""
    return int(welcome.split("<", 1)[1].split(".", 1)[0])


def direct(o, data, *prog, env_extra=None, fd3=True, conf=None):
    """osd checkpassword run as qmail-popup runs it, with tcpserver's environment:
    data on descriptor 3 (from a pipe; fd3=False: no descriptor 3 at all)."""
    env = {"PATH": "/usr/bin:/bin", "PROTO": "TCP", "TCPLOCALIP": "127.0.0.1",
           "TCPLOCALPORT": "110", "TCPLOCALHOST": "pop.test", "TCPREMOTEIP": "127.0.0.40",
           "TCPREMOTEPORT": "40000"}
    env.update(env_extra or {})
    redirect = "3<&0 </dev/null" if fd3 else "3<&- </dev/null"
    cmd = ["sh", "-c", 'exec "$@" ' + redirect, "sh", OSD, "checkpassword",
           "-c", conf or o.conf] + list(prog)
    return subprocess.run(cmd, input=data, capture_output=True, timeout=60, env=env)


def no_crash(p, what):
    err = p.stderr.decode(errors="replace")
    check(p.returncode >= 0 and "AddressSanitizer" not in err and "runtime error" not in err,
          "%s: no crash (exit %d)" % (what, p.returncode))


def main():
    for tool in ("tcpserver", "cdb"):
        if not have(tool):
            check(False, "%s is installed (scripts/install-deps.sh)" % tool)
            finish()
    if os.geteuid() != 0:
        check(False, "the test runs as root, as tcpserver on port 110 does")
        finish()
    nobody = pwd.getpwnam("nobody")
    o = Osd(extra="mail_user = nobody\ndefault_domain = %s\n" % DOM)
    # The next program must be reachable by nobody (the build, and the Python
    # running this test, may lie in root's home): Debian's /usr/bin/python3
    # runs both stand-ins, by their "#!/usr/bin/env python3" line and PATH.
    os.chmod(o.root, 0o755)
    for name in ("qmail_popup.py", "qmail_pop3d_env.py"):
        shutil.copy(os.path.join(HERE, name), os.path.join(o.root, name))
        os.chmod(os.path.join(o.root, name), 0o755)
    nextprog = os.path.join(o.root, "qmail_pop3d_env.py")
    fronts = []
    try:
        alice = add_user(o, "alice@" + DOM, "alice-pw", cleartext="alice-clear")
        add_user(o, "norelay@" + DOM, "norelay-pw", flags=0x20)
        add_user(o, "nopop@" + DOM, "nopop-pw", flags=0x02)
        gone = add_user(o, "gone@" + DOM, "gone-pw")
        watch = o.start_watch()
        check(watch.poll() is None, "osd watch runs")
        front = Front(o, "127.0.0.1", nextprog)
        fronts.append(front)
        if not check(front.ok, "tcpserver with the popup and osd checkpassword listens"):
            return

        # A good login: the next program runs with vchkpw's environment, the address is recorded.
        info, err, welcome = login(front, "127.0.0.21", "alice@" + DOM, "alice-pw")
        if check(info is not None, "good login: the next program answers PASS (%s)" % err):
            check(info["USER"] == "alice", "USER is the name without its domain (%s)" % info["USER"])
            check(info["VPOPUSER"] == "alice@" + DOM, "VPOPUSER is the login as given")
            check(info["HOME"] == alice, "HOME is the vpasswd home (%s)" % info["HOME"])
            check(info["SHELL"] == "NOLOGIN", "SHELL=NOLOGIN as vchkpw sets it")
            check(os.path.realpath(info["cwd"]) == os.path.realpath(alice),
                  "the next program runs in the home (%s)" % info["cwd"])
            check(info["maildir"] is True, "qmail-pop3d's 'Maildir' argument is found there")
            check(info["uid"] == nobody.pw_uid and info["euid"] == nobody.pw_uid,
                  "the next program runs as mail_user nobody (uid %d)" % info["uid"])
            check(info["gid"] == nobody.pw_gid and info["egid"] == nobody.pw_gid and
                  set(info["groups"]) <= {nobody.pw_gid},
                  "... with nobody's group only (%s, %s)" % (info["gid"], info["groups"]))
            check(info["ppid"] == popup_pid(welcome),
                  "the next program was exec'd in place of osd checkpassword (its parent is the popup)")
            check(info["fd3_open"] is False, "descriptor 3 is closed before the next program")
            check(info["TCPREMOTEIP"] == "127.0.0.21", "tcpserver's TCPREMOTEIP is passed on")
            check(info["argv"] == ["Maildir"], "the next program's arguments are passed on")
        entry = os.path.join(o.opensmtp, "127.0.0.21")
        check(wait_for(lambda: os.path.exists(entry)), "open-smtp/127.0.0.21 is recorded")
        check(os.path.exists(entry) and os.lstat(entry).st_uid == nobody.pw_uid,
              "the entry belongs to mail_user nobody (root dropped before recording)")
        check(wait_for(lambda: o.check_ip("127.0.0.21")[0] == 0),
              "osd check: 127.0.0.21 may relay after its login")
        check(o.check_ip("127.0.0.22")[0] == 1, "osd check: 127.0.0.22 (no login) may not")
        check(wait_for(lambda: "127.0.0.21" in o.cdb_keys()), "relay.cdb has 127.0.0.21")
        text = front.text()
        check("osd-checkpassword[" in text and
              "info: login: addr=127.0.0.21 user=alice@%s recorded" % DOM in text,
              "the log line: osd-checkpassword[PID]: info: login: addr=127.0.0.21 "
              "user=alice@%s recorded" % DOM)
        check(wait_for(lambda: "popup: checkpassword exit 0" in front.text()),
              "the session ended with status 0 (the next program's)")

        # APOP: the digest of the popup's timestamp and the cleartext field, as vchkpw takes it.
        info, err, _ = login(front, "127.0.0.26", "alice@" + DOM, apop="alice-clear")
        check(info is not None and info["USER"] == "alice", "APOP logs in (%s)" % err)
        check(wait_for(lambda: os.path.exists(os.path.join(o.opensmtp, "127.0.0.26"))),
              "the APOP login is recorded")
        info, err, _ = login(front, "127.0.0.27", "alice@" + DOM, apop="wrong-clear")
        check(info is None and "authorization failed" in (err or ""), "a wrong APOP digest is refused")

        # A wrong password: exit 1, nothing recorded, the password nowhere in the log.
        info, err, _ = login(front, "127.0.0.23", "alice@" + DOM, "Wrong-Pass-23")
        check(info is None and "authorization failed" in (err or ""),
              "wrong password: -ERR authorization failed (%s)" % err)
        text = front.text()
        check("popup: checkpassword exit 1" in text, "wrong password: checkpassword exits 1")
        check("login failed: addr=127.0.0.23 user=alice@%s: wrong password" % DOM in text,
              "wrong password: logged as a failed login")
        check(not os.path.exists(os.path.join(o.opensmtp, "127.0.0.23")),
              "wrong password: nothing recorded")
        check(o.check_ip("127.0.0.23")[0] == 1, "wrong password: osd check says no relay")

        # NO_RELAY: logs in, nothing recorded.  NO_POP: refused.
        info, err, _ = login(front, "127.0.0.24", "norelay@" + DOM, "norelay-pw")
        check(info is not None and info["USER"] == "norelay",
              "a NO_RELAY user logs in, the next program runs (%s)" % err)
        check("login: addr=127.0.0.24 user=norelay@%s (no-relay: not recorded)" % DOM in front.text(),
              "NO_RELAY: logged as not recorded")
        check(not os.path.exists(os.path.join(o.opensmtp, "127.0.0.24")), "NO_RELAY: nothing recorded")
        check(o.check_ip("127.0.0.24")[0] == 1, "NO_RELAY: osd check says no relay")
        info, err, _ = login(front, "127.0.0.25", "nopop@" + DOM, "nopop-pw")
        check(info is None and "authorization failed" in (err or ""), "a NO_POP user is refused")
        check("login failed: addr=127.0.0.25 user=nopop@%s: POP3 access disabled" % DOM in front.text(),
              "NO_POP: logged with the vpasswd flag")
        check(not os.path.exists(os.path.join(o.opensmtp, "127.0.0.25")), "NO_POP: nothing recorded")

        # A password that makes descriptor 3 overlong: misuse, 2.
        before = front.text().count("popup: checkpassword exit 2")
        info, err, _ = login(front, "127.0.0.28", "alice@" + DOM, "p" * 600)
        check(info is None and front.text().count("popup: checkpassword exit 2") == before + 1,
              "over 512 bytes on descriptor 3 through the popup: exit 2")
        check("misuse: more than 512 bytes on descriptor 3" in front.text(), "... logged as misuse")
        check(not os.path.exists(os.path.join(o.opensmtp, "127.0.0.28")), "... nothing recorded")

        # IPv6: tcpserver -6 on ::1 sets TCPREMOTEIP=::1.
        if socket.has_ipv6:
            front6 = Front(o, "::1", nextprog)
            fronts.append(front6)
            if check(front6.ok, "tcpserver -6 on ::1 listens"):
                info, err, _ = login(front6, "::1", "alice@" + DOM, "alice-pw")
                check(info is not None and info["TCPREMOTEIP"] == "::1", "IPv6 login (%s)" % err)
                check(wait_for(lambda: os.path.exists(os.path.join(o.opensmtp, "::1"))),
                      "open-smtp/::1 is recorded")
                check(wait_for(lambda: o.check_ip("::1")[0] == 0), "osd check: ::1 may relay")

        # tcpserver -6 on an IPv4 address: TCPREMOTEIP=::ffff:127.0.0.29, recorded as IPv4.
        front46 = Front(o, "127.0.0.1", nextprog, v6=True)
        fronts.append(front46)
        if check(front46.ok, "tcpserver -6 on 127.0.0.1 listens"):
            info, err, _ = login(front46, "127.0.0.29", "alice@" + DOM, "alice-pw")
            check(info is not None and info["TCPREMOTEIP"] == "::ffff:127.0.0.29",
                  "tcpserver -6 hands over an IPv4-mapped TCPREMOTEIP (%s)"
                  % (info or {}).get("TCPREMOTEIP", err))
            check(wait_for(lambda: os.path.exists(os.path.join(o.opensmtp, "127.0.0.29"))),
                  "... recorded as open-smtp/127.0.0.29")

        # Driven directly, with tcpserver's environment.
        good = b"alice@" + DOM.encode() + b"\0alice-pw\0<1.2@pop.test>\0"
        cases = [
            ("no \\0 after the login", b"alice@" + DOM.encode(), 2, "no \\0 after the login name"),
            ("no \\0 after the password", b"alice@" + DOM.encode() + b"\0alice-pw", 2,
             "no \\0 after the password"),
            ("empty input", b"", 2, "no \\0 after the login name"),
            ("513 bytes", b"alice\0" + b"p" * 507, 2, "more than 512 bytes"),
            ("empty login", b"\0alice-pw\0ts\0", 1, "login failed: addr=127.0.0.40 user=-"),
            ("empty password", b"alice\0\0ts\0", 1, "login failed: addr=127.0.0.40 user=alice"),
        ]
        for what, data, want, logged in cases:
            p = direct(o, data, "/bin/true")
            err = p.stderr.decode(errors="replace")
            check(p.returncode == want and logged in err,
                  "direct, %s: exit %d, logged (%d: %s)" % (what, want, p.returncode, err.strip()))
            no_crash(p, "direct, " + what)
        check(not os.path.exists(os.path.join(o.opensmtp, "127.0.0.40")),
              "direct: none of the refused inputs recorded anything")
        p = direct(o, b"", "/bin/true", fd3=False)
        check(p.returncode == 2 and b"descriptor 3 is not open" in p.stderr,
              "direct, no descriptor 3: exit 2 (%d)" % p.returncode)
        p = direct(o, good)
        check(p.returncode == 2 and b"usage: osd checkpassword" in p.stderr,
              "direct, no program: exit 2 (%d)" % p.returncode)
        p = subprocess.run(["sh", "-c", 'exec "$@" 3</', "sh", OSD, "checkpassword", "-c", o.conf,
                            "/bin/true"], capture_output=True, timeout=60)
        check(p.returncode == 111 and b"cannot read descriptor 3" in p.stderr,
              "direct, descriptor 3 unreadable (a folder): exit 111 (%d)" % p.returncode)
        no_crash(p, "direct, descriptor 3 a folder")
        # The login was proven before the program fails to run: recorded, as vchkpw does.
        p = direct(o, good, "/nonexistent/qmail-pop3d", "Maildir",
                   env_extra={"TCPREMOTEIP": "127.0.0.42"})
        check(p.returncode == 111 and b"cannot run /nonexistent/qmail-pop3d" in p.stderr,
              "direct, a program that cannot be run: exit 111 (%d)" % p.returncode)
        # A home that is not there: 111 before anything is recorded.
        shutil.rmtree(gone)
        p = direct(o, b"gone\0gone-pw\0ts\0", "/bin/true", env_extra={"TCPREMOTEIP": "127.0.0.43"})
        check(p.returncode == 111 and b"home " + gone.encode() in p.stderr,
              "direct, the home is missing: exit 111 (%d, %s)"
              % (p.returncode, p.stderr.decode(errors="replace").strip()))
        check(not os.path.exists(os.path.join(o.opensmtp, "127.0.0.43")),
              "direct, the home is missing: nothing recorded")
        os.makedirs(os.path.join(o.state, "domains", "broken.test", "vpasswd"))
        p = direct(o, b"bob@broken.test\0pw\0ts\0", "/bin/true")
        check(p.returncode == 111, "direct, vpasswd unreadable (a folder): exit 111 (%d, %s)"
              % (p.returncode, p.stderr.decode(errors="replace").strip()))
        bare = os.path.join(o.root, "bare.conf")
        with open(bare, "w") as f:
            f.write("state_dir = %s\nrules = %s\n" % (o.state, o.rules))
        p = direct(o, good, "/bin/true", conf=bare)
        check(p.returncode == 111 and b"refusing to run the mail program as root" in p.stderr,
              "direct, root with neither user nor mail_user: exit 111 (%d)" % p.returncode)
        for ip, why in (("224.0.0.1", "not a client's own address"),
                        ("0.0.0.0", "not a client's own address"),
                        ("127.0.0.41%lo", "TCPREMOTEIP is not an IPv4 or IPv6 address"),
                        ("", "no TCPREMOTEIP")):
            p = direct(o, good, "/bin/true", env_extra={"TCPREMOTEIP": ip})
            check(p.returncode == 0 and ("(%s: not recorded)" % why).encode() in p.stderr,
                  "direct, TCPREMOTEIP=%r: logs in, not recorded (%d)" % (ip, p.returncode))
        left = sorted(os.listdir(o.opensmtp))
        want = ["127.0.0.21", "127.0.0.26", "127.0.0.29", "127.0.0.42"] + (["::1"] if socket.has_ipv6 else [])
        check(left == sorted(want),
              "open-smtp/ holds the good logins' addresses only (%s)" % left)
        p = direct(o, good, "/bin/true")
        check(p.returncode == 0 and os.path.exists(os.path.join(o.opensmtp, "127.0.0.40")),
              "direct, a good login with tcpserver's environment: exit 0 (the program's), recorded")

        logs = "".join(f.text() for f in fronts)
        check("Wrong-Pass-23" not in logs and "alice-pw" not in logs and "alice-clear" not in logs,
              "no password in tcpserver's log")
        check("AddressSanitizer" not in logs and "runtime error" not in logs and
              "signal" not in logs, "no osd checkpassword crashed under tcpserver")
    finally:
        for f in fronts:
            f.stop()
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
