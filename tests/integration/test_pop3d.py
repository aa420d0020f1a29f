#!/usr/bin/env python3
"""osd pop3d with real clients: curl, Python poplib (USER/PASS, AUTH PLAIN and
LOGIN, APOP and AUTH CRAM-MD5 with a vpasswd cleartext password, STLS, POP3 over implicit TLS), raw sockets for hostile input.

A login records the client address in open-smtp/ (and osd watch, started by
'osd run' beside pop3d, turns it into relay permission); a failed one records
nothing.  DELE takes effect at QUIT only; one session per mailbox; overlong
lines, garbage and NULs get -ERR; idle clients are dropped; STLS forgets what
came before the handshake; run as root, the server drops to the configured user.
"""
import base64
import hashlib
import hmac
import os
import poplib
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (OSD, WAIT, Osd, check, children_of, finish, free_port,  # noqa: E402
                     have, make_cert, wait_for, wait_port)

DOM = "example.test"
T = 10  # socket timeout of the test clients (a functional bound)






def add_user(o, login, password, flags=None):
    p = o.run("user", "add", login, input=password + "\n")
    check(p.returncode == 0, "osd user add %s (%s)" % (login, p.stderr.strip()))
    user, dom = login.split("@")
    if flags is not None:
        # vpopmail's gid field is the flag mask: set it in vpasswd directly.
        path = os.path.join(o.state, "domains", dom, "vpasswd")
        lines = open(path).read().splitlines()
        for i, line in enumerate(lines):
            f = line.split(":")
            if f[0] == user:
                f[3] = str(flags)
                lines[i] = ":".join(f)
        open(path, "w").write("\n".join(lines) + "\n")
    return os.path.join(o.state, "domains", dom, user, "Maildir")


def put_msg(maildir, name, body):
    with open(os.path.join(maildir, "new", name), "wb") as f:
        f.write(body)




def curl(port, *args, src="127.0.0.9", url=""):
    cmd = ["curl", "-s", "-S", "--max-time", "20", "--interface", src,
           "pop3://127.0.0.1:%d/%s" % (port, url)] + list(args)
    return subprocess.run(cmd, capture_output=True, timeout=60)


def pop(port, src="127.0.0.3"):
    return _SrcPOP3("127.0.0.1", port, src)


class _SrcPOP3(poplib.POP3):
    """poplib.POP3 bound to a source address (older Pythons lack the argument)."""

    def __init__(self, host, port, src):
        self._src = src
        super().__init__(host, port, timeout=T)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._src, 0))


def raw(port, src="127.0.0.4"):
    s = socket.create_connection(("127.0.0.1", port), T, source_address=(src, 0))
    f = s.makefile("rb")
    greeting = f.readline()
    return s, f, greeting




def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return -1


def pop3d_pid(run_pid):
    for c in children_of(run_pid):
        try:
            if open("/proc/%d/comm" % c).read().strip() == "osd-pop3d":
                return c
        except OSError:
            pass
    return None


def main():
    port, sport = free_port(), free_port()
    o = Osd()
    cert, key = make_cert(o.root)
    conf_extra = ("pop3_listen = 127.0.0.1:%d\npop3s_listen = 127.0.0.1:%d\n"
                  "tls_cert = %s\ntls_key = %s\ndefault_domain = %s\n"
                  "pop3_timeout = 2\npop3_max_per_ip = 4\nservices = watch pop3d\n"
                  % (port, sport, cert, key, DOM))
    o.write_conf("3h", conf_extra)
    try:
        run_tests(o, port, sport, cert, conf_extra)
        if os.geteuid() == 0:
            test_root_drop(cert, key)
        else:
            print("skip - not root: the privilege drop is not tested")
    finally:
        # SIGTERM first: a SIGKILLed 'osd run' would leave pop3d behind.
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


def run_tests(o, port, sport, cert, conf_extra):
    alice = add_user(o, "alice@" + DOM, "alice-pw")
    bob = add_user(o, "bob@" + DOM, "bob-pw")
    add_user(o, "nopop@" + DOM, "nopop-pw", flags=0x02)
    norelay = add_user(o, "norelay@" + DOM, "norelay-pw", flags=0x20)
    put_msg(alice, "1700000001.M1P1.host", b"Subject: one\r\n\r\nfirst message\r\n")
    put_msg(alice, "1700000002.M2P1.host", b"Subject: two\n\n.dotted line\nsecond\n")
    put_msg(bob, "1700000003.M3P1.host", b"Subject: bob\r\n\r\nfor bob\r\n")

    run = o.start("run")
    check(wait_port(port, run), "osd run starts pop3d on 127.0.0.1:%d" % port)
    check(wait_port(sport, run), "pop3s listener on 127.0.0.1:%d" % sport)
    wait_for(lambda: os.path.exists(o.cdb))

    # --- curl: list, retr, login recorded, osd check allows ---
    p = curl(port, "-u", "alice@%s:alice-pw" % DOM)
    lines = p.stdout.decode(errors="replace").split("\r\n")
    check(p.returncode == 0 and lines[0].startswith("1 ") and lines[1].startswith("2 "),
          "curl LIST from 127.0.0.9 lists two messages (%r)" % p.stdout[:80])
    check(os.path.exists(os.path.join(o.opensmtp, "127.0.0.9")),
          "login from 127.0.0.9 creates open-smtp/127.0.0.9")
    check(wait_for(lambda: o.check_ip("127.0.0.9")[0] == 0),
          "osd check 127.0.0.9 exits 0 (relay allowed) after the login")
    p = curl(port, "-u", "alice:alice-pw", url="1")
    check(p.returncode == 0 and b"first message" in p.stdout,
          "curl RETR 1 with a bare user name (default_domain)")
    p = curl(port, "-u", "alice:alice-pw", url="2")
    check(p.returncode == 0 and b".dotted line" in p.stdout and b"second" in p.stdout,
          "curl RETR 2: bare LF message, dot-stuffed line comes back intact")

    # --- failed login from 127.0.0.10: nothing recorded, logged without the password ---
    t0 = time.monotonic()
    p = curl(port, "-u", "alice:wrong-password-xyz", src="127.0.0.10")
    check(p.returncode != 0, "curl with a wrong password fails")
    check(time.monotonic() - t0 >= 0.9, "a failed login's reply is delayed (~1 s)")
    time.sleep(0.3)
    check(not os.path.exists(os.path.join(o.opensmtp, "127.0.0.10")),
          "failed login from 127.0.0.10 records nothing")
    check(o.check_ip("127.0.0.10")[0] == 1, "osd check 127.0.0.10 exits 1")
    log = o.log("run")
    check("login failed: addr=127.0.0.10" in log, "the failed login is logged")
    check("wrong-password-xyz" not in log, "the password never reaches the log")

    # --- NO_POP and NO_RELAY flags ---
    p = curl(port, "-u", "nopop:nopop-pw", src="127.0.0.11")
    check(p.returncode != 0 and not os.path.exists(os.path.join(o.opensmtp, "127.0.0.11")),
          "a NO_POP user cannot log in, nothing recorded")
    put_msg(norelay, "1700000004.M4P1.host", b"Subject: x\r\n\r\nx\r\n")
    p = curl(port, "-u", "norelay:norelay-pw", src="127.0.0.12")
    check(p.returncode == 0 and not os.path.exists(os.path.join(o.opensmtp, "127.0.0.12")),
          "a NO_RELAY user logs in but is not recorded")

    # --- curl DELE: gone after QUIT ---
    # -I: a custom command's reply is one line, no body to wait for (curl's documented use).
    p = curl(port, "-u", "bob:bob-pw", "-X", "DELE 1", "-I", src="127.0.0.5")
    check(p.returncode == 0, "curl -X 'DELE 1' succeeds")
    check(wait_for(lambda: not os.listdir(os.path.join(bob, "new")) and
                   not os.listdir(os.path.join(bob, "cur")), timeout=5),
          "curl DELE 1 then QUIT removes bob's message")

    # --- poplib USER/PASS; dropped connection keeps DELE'd messages ---
    m = pop(port)
    m.user("alice")
    m.pass_("alice-pw")
    count, size = m.stat()
    check(count == 2, "poplib STAT after USER/PASS: 2 messages (%d)" % count)
    uidls = [x.split()[1] for x in m.uidl()[1]]
    check(uidls == [b"1700000001.M1P1.host", b"1700000002.M2P1.host"],
          "UIDL is the Maildir unique name (%r)" % uidls)
    resp, body, octets = m.retr(1)
    check(b"first message" in body, "poplib RETR 1")
    m.dele(1)
    dropped = o.log("run").count("end=dropped")
    m.file.close()      # dropped: no QUIT
    m.sock.close()
    check(wait_for(lambda: o.log("run").count("end=dropped") > dropped),
          "the server sees the dropped connection and ends the session")
    files = lambda: os.listdir(os.path.join(alice, "new")) + os.listdir(os.path.join(alice, "cur"))
    check(len(files()) == 2, "a DELE without QUIT (dropped connection) deletes nothing")

    # --- one session per mailbox ---
    def in_use():
        m1 = pop(port, "127.0.0.6")
        m1.user("alice")
        m1.pass_("alice-pw")
        m2 = pop(port, "127.0.0.7")
        m2.user("alice")
        try:
            m2.pass_("alice-pw")
            r = b"(accepted)"
        except poplib.error_proto as e:
            r = e.args[0]
        m2.file.close()
        m2.sock.close()
        m1.quit()
        return r
    r = wait_for(lambda: in_use().startswith(b"-ERR [IN-USE]"), timeout=5)
    check(r, "a second concurrent session gets -ERR [IN-USE]")

    # --- AUTH PLAIN and AUTH LOGIN ---
    m = pop(port, "127.0.0.13")
    cred = base64.b64encode(b"\0alice@" + DOM.encode() + b"\0alice-pw").decode()
    r = m._shortcmd("AUTH PLAIN " + cred)
    check(r.startswith(b"+OK"), "AUTH PLAIN with an initial response logs in")
    m.dele(1)
    m.quit()
    check(len(files()) == 1, "DELE then QUIT removes the message")
    check(os.path.exists(os.path.join(o.opensmtp, "127.0.0.13")), "AUTH PLAIN login recorded")
    m = pop(port, "127.0.0.14")
    m._putcmd("AUTH LOGIN")
    ok = m._getline()[0].startswith(b"+ ")
    m._putcmd(base64.b64encode(b"alice").decode())
    ok = ok and m._getline()[0].startswith(b"+ ")
    m._putcmd(base64.b64encode(b"alice-pw").decode())
    r = m._getresp()
    check(ok and r.startswith(b"+OK"), "AUTH LOGIN logs in")
    m.quit()

    # --- APOP and AUTH CRAM-MD5: need the cleartext 8th vpasswd field ---
    carol = add_user(o, "carol@" + DOM, "carol-pw")
    put_msg(carol, "1700000005.M5P1.host", b"Subject: carol\r\n\r\nfor carol\r\n")
    path = os.path.join(o.state, "domains", DOM, "vpasswd")
    lines = open(path).read().splitlines()
    lines = [ln + ":carol-clear" if ln.startswith("carol:") else ln for ln in lines]
    open(path, "w").write("\n".join(lines) + "\n")
    m = pop(port, "127.0.0.40")
    check(b"<" in m.getwelcome() and b"@" in m.getwelcome(),
          "the greeting carries an APOP timestamp (%r)" % m.getwelcome())
    # Accepted but not advertised: curl would pick it over PLAIN for every user.
    check("CRAM-MD5" not in m.capa().get("SASL", []), "CAPA does not advertise CRAM-MD5")
    r = m.apop("carol", "carol-clear")
    check(r.startswith(b"+OK") and m.stat()[0] == 1, "poplib apop() logs in")
    m.quit()
    check(os.path.exists(os.path.join(o.opensmtp, "127.0.0.40")), "APOP login recorded")
    m = pop(port, "127.0.0.41")
    m._putcmd("AUTH CRAM-MD5")
    line = m._getline()[0]
    chal = base64.b64decode(line[2:]) if line.startswith(b"+ ") else b""
    digest = hmac.new(b"carol-clear", chal, hashlib.md5).hexdigest()
    m._putcmd(base64.b64encode(("carol@%s %s" % (DOM, digest)).encode()).decode())
    r = m._getresp()
    check(chal.startswith(b"<") and r.startswith(b"+OK"), "AUTH CRAM-MD5 logs in (%r)" % r)
    m.quit()
    check(os.path.exists(os.path.join(o.opensmtp, "127.0.0.41")), "CRAM-MD5 login recorded")
    m = pop(port, "127.0.0.42")
    try:
        m.apop("alice", "alice-pw")
        r = b"(accepted)"
    except poplib.error_proto as e:
        r = e.args[0]
    check(r.startswith(b"-ERR [AUTH]") and
          not os.path.exists(os.path.join(o.opensmtp, "127.0.0.42")),
          "APOP for a user without a cleartext password fails, nothing recorded (%r)" % r)
    m.quit()

    # --- pipelining: several commands in one write, answered in order ---
    s, f, g = raw(port, "127.0.0.15")
    s.sendall(b"CAPA\r\nUSER alice\r\nPASS alice-pw\r\nSTAT\r\nQUIT\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    check(b"PIPELINING" in data and b"+OK 1 " in data and data.endswith(b"+OK Logging out.\r\n"),
          "pipelined CAPA/USER/PASS/STAT/QUIT all answered (%r)" % data[-60:])

    # --- STLS with the test certificate ---
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    m = pop(port, "127.0.0.16")
    caps = m.capa()
    check("STLS" in caps, "CAPA offers STLS")
    m.stls(ctx)
    check(m.sock.version() in ("TLSv1.2", "TLSv1.3"), "STLS: TLS %s" % m.sock.version())
    m.user("alice")
    m.pass_("alice-pw")
    check(m.stat()[0] == 1, "login and STAT over STLS")
    m.quit()

    # --- STARTTLS command injection: input sent with STLS is discarded ---
    s, f, g = raw(port, "127.0.0.17")
    s.sendall(b"STLS\r\nCAPA\r\n")
    r = f.readline()
    ok = r.startswith(b"+OK")
    ts = ctx.wrap_socket(s, server_hostname="localhost")
    ts.sendall(b"NOOP\r\n")
    first = ts.recv(4096)
    check(ok and first.startswith(b"-ERR"),
          "a command pipelined after STLS is not run inside TLS (first reply %r)" % first[:40])
    ts.close()

    # --- implicit TLS (pop3s_listen) ---
    m = poplib.POP3_SSL("127.0.0.1", sport, context=ctx, timeout=T)
    caps = m.capa()
    check("STLS" not in caps, "no STLS offered on the implicit-TLS listener")
    m.user("alice")
    m.pass_("alice-pw")
    check(m.stat()[0] == 1, "login and STAT over POP3_SSL (pop3s_listen)")
    m.quit()

    # --- hostile input ---
    s, f, g = raw(port, "127.0.0.18")
    s.sendall(b"A" * 2000 + b"\r\n")
    r1 = f.readline()
    s.sendall(b"CAPA\r\n")
    r2 = f.readline()
    check(r1.startswith(b"-ERR") and r2.startswith(b"+OK"),
          "a 2000-byte line gets -ERR and the session goes on (%r, %r)" % (r1[:30], r2[:30]))
    s.close()
    s, f, g = raw(port, "127.0.0.19")
    s.sendall(b"\x00\xff\xfe garbage \x00\r\nUS\x00ER alice\r\n" + os.urandom(3000) + b"\r\n")
    try:
        rest = s.recv(65536)
    except OSError:
        rest = b""
    s.close()
    check(rest.startswith(b"-ERR") or rest == b"", "binary garbage and NULs get -ERR")
    s, f, g = raw(port, "127.0.0.20")
    s.sendall(b"\x00" * 100000)
    s.close()
    p = curl(port, "-u", "alice:alice-pw", src="127.0.0.21")
    check(p.returncode == 0 and run.poll() is None,
          "the server survives overlong lines, garbage and NULs")
    check("died of signal" not in o.log("run"), "no session process crashed")

    # --- idle timeout (pop3_timeout = 2) ---
    s, f, g = raw(port, "127.0.0.22")
    t0 = time.monotonic()
    s.settimeout(WAIT)
    try:
        data = s.recv(4096)
        data2 = s.recv(4096) if data else b""
    except OSError:
        data, data2 = b"timeout", b"x"
    took = time.monotonic() - t0
    check(data.startswith(b"-ERR") and data2 == b"" and took >= 1.5,
          "a silent client is dropped after the idle timeout (%.1f s, %r)" % (took, data[:40]))
    s.close()

    # --- per-address cap (pop3_max_per_ip = 4) ---
    socks = []
    for i in range(4):
        socks.append(raw(port, "127.0.0.23"))
    s5, f5, g5 = raw(port, "127.0.0.23")
    check(all(x[2].startswith(b"+OK") for x in socks) and g5.startswith(b"-ERR [SYS/TEMP]"),
          "the 5th connection from one address is refused (%r)" % g5[:50])
    for x in socks + [(s5, f5, g5)]:
        x[0].close()
    s, f, g = raw(port, "127.0.0.24")
    check(g.startswith(b"+OK"), "another address is still served")
    s.close()

    # --- plaintext refusal: SIGHUP with pop3_loopback_plaintext = no ---
    o.write_conf("3h", conf_extra + "pop3_loopback_plaintext = no\n")
    pid = pop3d_pid(run.pid)
    seen = o.log("run").count("configuration re-read")
    if pid:
        os.kill(pid, signal.SIGHUP)
    check(wait_for(lambda: o.log("run").count("configuration re-read") > seen),
          "pop3d re-reads its configuration on SIGHUP")
    m = pop(port, "127.0.0.25")
    check("USER" not in m.capa(), "CAPA hides USER on plaintext when loopback is not trusted")
    try:
        m.user("alice")
        r = b"(accepted)"
    except poplib.error_proto as e:
        r = e.args[0]
    check(r.startswith(b"-ERR [AUTH]"), "plaintext USER refused with -ERR [AUTH] (%r)" % r[:40])
    m.stls(ctx)
    m.user("alice")
    m.pass_("alice-pw")
    check(m.stat()[0] == 1, "the same login works after STLS")
    m.quit()

    # --- fetchmail / s-nail ---
    if have("fetchmail"):
        print("note - fetchmail present but not scripted here")
    else:
        print("skip - fetchmail and s-nail are not installed: no third client run")

    # --- SIGTERM to osd run stops pop3d and its sessions ---
    s, f, g = raw(port, "127.0.0.26")
    pid = pop3d_pid(run.pid)
    rc = o.stop(run)
    check(rc is not None and (pid is None or not os.path.exists("/proc/%d" % pid) or
                              open("/proc/%d/stat" % pid).read().split()[2] == "Z"),
          "SIGTERM to osd run stops pop3d")
    s.close()
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        closed = False
    except OSError:
        closed = True
    check(closed, "the POP3 port is closed after SIGTERM")


def test_root_drop(cert, key):
    """Started as root with user = nobody: the server and its sessions run as nobody."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        print("skip - no user nobody")
        return
    port = free_port()
    o = Osd()
    try:
        os.chmod(o.root, 0o755)
        o.write_conf("3h", "pop3_listen = 127.0.0.1:%d\ndefault_domain = %s\nuser = nobody\n"
                     % (port, DOM))
        md = add_user(o, "carol@" + DOM, "carol-pw")
        put_msg(md, "1700000009.M9P1.host", b"Subject: c\r\n\r\nc\r\n")
        os.makedirs(o.opensmtp, exist_ok=True)
        for d, dirs, fs in os.walk(o.state):
            for n in [d] + [os.path.join(d, x) for x in fs]:
                os.chown(n, nobody.pw_uid, nobody.pw_gid)
        p = o.start("pop3d")
        check(wait_port(port, p), "pop3d started as root listens")
        # The port listens a moment before the drop: wait for it, do not race it.
        check(wait_for(lambda: uid_of(p.pid) == nobody.pw_uid),
              "the pop3d parent runs as nobody after binding")
        m = pop(port, "127.0.0.30")
        m.user("carol")
        m.pass_("carol-pw")
        kids = children_of(p.pid)
        check(kids and all(uid_of(k) == nobody.pw_uid for k in kids),
              "the session process runs as nobody")
        check(m.stat()[0] == 1, "nobody reads the chowned Maildir")
        m.quit()
        check(os.path.exists(os.path.join(o.opensmtp, "127.0.0.30")),
              "the login is recorded by the unprivileged server")
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()


if __name__ == "__main__":
    if not have("curl") or not have("openssl"):
        print("skip - curl or openssl missing")
        sys.exit(77)
    main()
