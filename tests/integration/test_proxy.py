#!/usr/bin/env python3
"""osd pop3d and osd imapd as a proxy in front of a private Dovecot (issue 12).

A private Dovecot (own config, base_dir, state, log under the test's
folder; never /etc/dovecot) serves alice's Maildir over POP3 and IMAP on
loopback, plain (with STARTTLS) and with implicit TLS, its certificate
signed by a CA the test makes with openssl.  osd pops up in front of it in
proxy mode, and real clients (poplib, imaplib, curl) from 127.0.0.x:

- read the backend's mailbox through osd (RETR / FETCH octets equal to the
  files in the Maildir), and the login opens relaying for exactly that
  address (osd check);
- a password the backend refuses gets -ERR [AUTH] / NO [AUTHENTICATIONFAILED]
  and records nothing;
- with proxy_tls = implicit / starttls and the right CA the session works;
  with another CA it is a temporary failure (-ERR [SYS/TEMP] /
  NO [UNAVAILABLE]) with the certificate's trouble in osd's log, and
  nothing recorded;
- proxy_auth = local refuses a password vpasswd does not know without
  connecting to the backend at all (a listener of the test counts);
- commands pipelined right after PASS reach the backend;
- no password appears in osd's logs.
"""
import contextlib
import imaplib
import os
import poplib
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, check, finish, free_port, wait_for, wait_port  # noqa: E402

DOM = "example.test"
PW = "s3cret \"quoted\" pass"   # a space and quotes: IMAP LOGIN must quote it
BAD = "wrong-password"
T = 30  # client socket timeout, a functional bound


class FromAddress:
    """A poplib or imaplib client connecting from a chosen source address."""

    def __init__(self, port, src):
        self.src = src
        super().__init__("127.0.0.1", port, timeout=T)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self.src, 0))


class POP3From(FromAddress, poplib.POP3):
    pass


class IMAP4From(FromAddress, imaplib.IMAP4):
    pass


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, timeout=120, **kw)


def make_ca(root, name, san="IP:127.0.0.1,DNS:localhost", ca=None):
    """A test CA and a server certificate it signs for san: (ca, cert, key).
    ca: (ca.pem, ca.key) of an existing CA to sign with instead of a new one."""
    d = os.path.join(root, name)
    os.makedirs(d)
    ca_key = os.path.join(d, "ca.key")
    key, csr, cert = (os.path.join(d, n) for n in ("srv.key", "srv.csr", "srv.pem"))
    ext = os.path.join(d, "ext.cnf")
    if ca is not None:
        shutil.copy(ca[0], ca_pem_path(d))
        shutil.copy(ca[1], os.path.join(d, "ca.key"))
    else:
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=osd test CA " + name, "-keyout", ca_key, "-out", ca_pem_path(d)])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-keyout", key, "-out", csr])
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % san)
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_pem_path(d), "-CAkey", ca_key,
         "-CAcreateserial", "-days", "1", "-extfile", ext, "-out", cert])
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    return ca_pem_path(d), cert, key


def ca_dir(ca_pem):
    return os.path.dirname(ca_pem)


def ca_pem_path(d):
    return os.path.join(d, "ca.pem")


class Listener:
    """A server of the test's own on loopback: handle(conn) for each connection, in a thread."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                self.handle(c)
            except (OSError, ssl.SSLError):
                pass
            finally:
                c.close()


class TlsListener(Listener):
    """Shakes hands with cert and key (a client that checks the name gives up here), then says +OK."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        super().__init__()

    def handle(self, c):
        with self.ctx.wrap_socket(c, server_side=True) as t:
            t.sendall(b"+OK fake\r\n")
            t.recv(100)


class Dovecot:
    """A private Dovecot: POP3 and IMAP, plain (STARTTLS offered) and implicit TLS."""

    def __init__(self, root, cert, key):
        self.root = os.path.join(root, "dovecot")
        os.makedirs(self.root)
        self.pop3, self.pop3s, self.imap, self.imaps = (free_port() for _ in range(4))
        self.home = os.path.join(self.root, "home")
        os.makedirs(os.path.join(self.home, "alice"))
        with open(os.path.join(self.root, "passwd"), "w") as f:
            f.write("alice@%s:{PLAIN}%s::::::\n" % (DOM, PW))
        conf = os.path.join(self.root, "dovecot.conf")
        with open(conf, "w") as f:
            f.write("""instance_name = osd-proxy-test-{pop3}
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
protocols = pop3 imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes
first_valid_uid = 1
mail_location = maildir:~/Maildir:INDEX={r}/index/%n
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {r}/passwd
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={h}/%n
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s}
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
  }}
}}
""".format(r=self.root, h=self.home, cert=cert, key=key, pop3=self.pop3, pop3s=self.pop3s,
           imap=self.imap, imaps=self.imaps))
        for sub in ("run", "state", "index"):
            os.makedirs(os.path.join(self.root, sub))
        self.conf = conf
        self.pid = None

    def maildir(self, messages):
        """alice's Maildir with these messages (bytes, CRLF-free on disk as Maildir keeps them)."""
        md = os.path.join(self.home, "alice", "Maildir")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        for i, m in enumerate(messages):
            with open(os.path.join(md, "new", "%d.M%dP1.test" % (1000 + i, i)), "wb") as f:
                f.write(m)
        run(["chown", "-R", "mail:mail", os.path.join(self.home), os.path.join(self.root, "index")])

    def start(self):
        subprocess.run(["/usr/sbin/dovecot", "-c", self.conf], check=True, timeout=60)
        pidfile = os.path.join(self.root, "run", "master.pid")
        wait_for(lambda: os.path.exists(pidfile) and open(pidfile).read().strip())
        self.pid = int(open(pidfile).read())
        for port in (self.pop3, self.pop3s, self.imap, self.imaps):
            wait_port(port)

    def log(self):
        try:
            return open(os.path.join(self.root, "dovecot.log"), errors="replace").read()
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.pid is None:
            return
        try:
            os.kill(self.pid, 15)
        except ProcessLookupError:
            return
        wait_for(lambda: not os.path.exists("/proc/%d" % self.pid))
        self.pid = None


def message(i, size):
    """A message of about size octets, lines of 76 characters, CRLF line ends."""
    head = ("From: a@%s\r\nTo: alice@%s\r\nSubject: proxy test %d\r\nMessage-ID: <%d@t>\r\n\r\n"
            % (DOM, DOM, i, i)).encode()
    line = (("%d" % i) * 76)[:76].encode() + b"\r\n"
    n = max(1, (size - len(head)) // len(line))
    return head + line * n


class Counter(Listener):
    """Counts connections and plays a minimal POP3 server (proxy_auth = local)."""

    def __init__(self):
        self.count = 0
        self.seen = []
        super().__init__()

    def handle(self, c):
        self.count += 1
        f = c.makefile("rwb")
        f.write(b"+OK fake\r\n")
        f.flush()
        for line in f:
            self.seen.append(line)
            if line.upper().startswith(b"QUIT"):
                f.write(b"+OK bye\r\n")
                f.flush()
                break
            f.write(b"+OK Logged in.\r\n" if line.startswith(b"PASS") else b"+OK\r\n")
            f.flush()
        f.close()


@contextlib.contextmanager
def proxy(extra, kind, users=()):
    """A private osd (watch and KIND pop3d or imapd) with these settings: (o, port); stopped after."""
    o = Osd()
    os.chmod(o.root, 0o755)
    port = free_port()
    o.write_conf("3h", "%s_listen = 127.0.0.1:%d\ndefault_domain = %s\n%s" % (kind, port, DOM, extra))
    try:
        for login, password in users:
            r = o.run("user", "add", login, input=password + "\n")
            check(r.returncode == 0, "osd user add %s" % login)
        o.start_watch()
        p = o.start(kind + "d")
        check(wait_port(port, p), "osd %sd is up (%s)" % (kind, extra.strip().replace("\n", ", ")))
        yield o, port
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()


def pop3_refused(port, src, password, prefix):
    """A POP3 login through osd that must fail with a reply starting with prefix."""
    try:
        p = POP3From(port, src)
        p.user("alice@" + DOM)
        p.pass_(password)
        return check(False, "%s: the login is refused" % src)
    except poplib.error_proto as e:
        return check(str(e).startswith("b'" + prefix), "%s: %s" % (src, e))


def imap_refused(port, src, password, code):
    """An IMAP login through osd that must fail with NO [code]."""
    m = IMAP4From(port, src)
    try:
        m.login("alice@" + DOM, password)
        check(False, "%s: the login is refused" % src)
    except imaplib.IMAP4.error as e:
        check(code in str(e), "%s: %s" % (src, e))
    m.shutdown()
    return m


def relayed(o, ip):
    """Does osd check say ip may relay (once osd watch has had the time to see the login)?"""
    return bool(wait_for(lambda: o.check_ip(ip)[0] == 0, step=0.1))


def not_relayed(o, ip):
    """No open-smtp entry for ip, and osd check says it may not relay."""
    return not os.path.exists(os.path.join(o.opensmtp, ip)) and o.check_ip(ip)[0] == 1


def pop3_read_all(port, src, user, password):
    """poplib through osd: [message octets...] as the client sees them."""
    p = POP3From(port, src)
    p.user(user)
    p.pass_(password)
    n, _ = p.stat()
    msgs = []
    for i in range(1, n + 1):
        _, lines, _ = p.retr(i)
        msgs.append(b"\r\n".join(lines) + b"\r\n")
    p.quit()
    return msgs


def imap_read_all(port, src, user, password):
    """imaplib through osd: ([message octets...], the tagged OK of LOGIN)."""
    m = IMAP4From(port, src)
    typ, data = m.login(user, password)
    login_ok = data
    typ, data = m.select("INBOX", readonly=True)
    n = int(data[0])
    msgs = []
    for i in range(1, n + 1):
        typ, data = m.fetch(str(i), "(BODY.PEEK[])")
        msgs.append(data[0][1])
    m.logout()
    return msgs, login_ok


def test_imap_plain(dc, msgs):
    print("# IMAP proxy, plain link to the backend")
    with proxy("imap_backend = 127.0.0.1:%d\n" % dc.imap, "imap") as (o, port):
        got, ok = imap_read_all(port, "127.0.0.20", "alice@" + DOM, PW)
        check(got == msgs, "imaplib FETCH BODY[] through osd: %d messages, octets equal to the "
              "backend's files" % len(got))
        check(relayed(o, "127.0.0.20"), "the proxied IMAP login opened relaying for 127.0.0.20")
        m = imap_refused(port, "127.0.0.21", BAD, "AUTHENTICATIONFAILED")
        check("AUTH=PLAIN" in m.capabilities and "AUTH=CRAM-MD5" not in m.capabilities,
              "before login: PLAIN offered, CRAM-MD5 never (the password must reach the backend)")
        check(not_relayed(o, "127.0.0.21"), "the refused IMAP login recorded nothing")

        # the raw exchange: the client's own tag on the backend's OK, with its CAPABILITY
        s = socket.create_connection(("127.0.0.1", port), T, source_address=("127.0.0.22", 0))
        f = s.makefile("rb")
        greeting = f.readline()
        pw = PW.replace("\\", "\\\\").replace('"', '\\"')
        s.sendall(('x7 LOGIN "alice@%s" "%s"\r\nx8 CAPABILITY\r\nx9 LOGOUT\r\n' % (DOM, pw)).encode())
        lines = []
        while True:
            line = f.readline()
            lines.append(line)
            if line.startswith(b"x9 ") or line == b"":
                break
        f.close()
        s.close()
        check(b"osd" in greeting, "the greeting is osd's: %r" % greeting)
        login = [x for x in lines if x.startswith(b"x7 ")]
        check(login and login[0].startswith(b"x7 OK [CAPABILITY ") and b"osd2" not in b"".join(lines),
              "LOGIN answered under the client's tag with the backend's CAPABILITY: %r"
              % (login[0][:60] if login else lines[:2]))
        capa = [x for x in lines if x.startswith(b"* CAPABILITY")]
        check(capa and b"IDLE" in capa[0], "CAPABILITY pipelined after LOGIN: the backend's")
        check(lines[-1].startswith(b"x9 OK"), "LOGOUT through the relay: %r" % lines[-1])

        # curl: AUTHENTICATE PLAIN on the client side, LOGIN to the backend
        r = subprocess.run(["curl", "-s", "--max-time", "30", "--interface", "127.0.0.23",
                            "--login-options", "AUTH=PLAIN", "-u", "alice@%s:%s" % (DOM, PW),
                            "imap://127.0.0.1:%d/INBOX;MAILINDEX=3" % port],
                           capture_output=True, timeout=60)
        check(r.returncode == 0 and r.stdout == msgs[2],
              "curl AUTHENTICATE PLAIN, message 3 through osd equals the backend's (rc %d, %d "
              "octets)" % (r.returncode, len(r.stdout)))
        check(relayed(o, "127.0.0.23"), "curl's IMAP login opened relaying for 127.0.0.23")
        log = o.log("imapd")
        check("splice=yes" in log, "plain on both sides: the relay splices")
        check(PW not in log and "s3cret" not in log, "the password is never logged")


def test_imap_tls(dc, msgs, ca, other_ca):
    print("# IMAP proxy, implicit TLS and STARTTLS to the backend")
    for mode, bport in (("implicit", dc.imaps), ("starttls", dc.imap)):
        with proxy("imap_backend = localhost:%d\nproxy_tls = %s\nproxy_ca_file = %s\n"
                   % (bport, mode, ca), "imap") as (o, port):
            got, _ = imap_read_all(port, "127.0.0.24", "alice@" + DOM, PW)
            check(got == msgs, "proxy_tls = %s: imaplib reads the backend's messages" % mode)
            check(relayed(o, "127.0.0.24"), "proxy_tls = %s: relaying opened" % mode)
    with proxy("imap_backend = 127.0.0.1:%d\nproxy_tls = starttls\nproxy_ca_file = %s\n"
                   % (dc.imap, other_ca), "imap") as (o, port):
        imap_refused(port, "127.0.0.25", PW, "UNAVAILABLE")
        check(not_relayed(o, "127.0.0.25"), "IMAP, wrong CA: nothing recorded")
        check("certificate" in o.log("imapd"), "IMAP, wrong CA: osd's log says why")


def test_pop3_plain(dc, msgs):
    print("# POP3 proxy, plain link to the backend")
    with proxy("pop3_backend = 127.0.0.1:%d\n" % dc.pop3, "pop3") as (o, port):
        got = pop3_read_all(port, "127.0.0.2", "alice@" + DOM, PW)
        check(got == msgs, "poplib RETR through osd: %d messages, octets equal to the backend's "
              "files (%s)" % (len(got), [len(m) for m in got][:4]))
        check(relayed(o, "127.0.0.2"), "the proxied login opened relaying for 127.0.0.2 (osd check)")
        check(os.path.exists(os.path.join(o.opensmtp, "127.0.0.2")), "open-smtp/127.0.0.2 exists")

        pop3_refused(port, "127.0.0.3", BAD, "-ERR [AUTH]")
        check(not_relayed(o, "127.0.0.3"), "the refused login recorded nothing for 127.0.0.3")
        check(not os.path.exists(os.path.join(o.opensmtp, "127.0.0.3")), "no open-smtp/127.0.0.3")
        check("login failed: addr=127.0.0.3" in o.log("pop3d"), "the refusal is logged")

        # curl, and AUTH PLAIN on the client side (USER/PASS to the backend)
        r = subprocess.run(["curl", "-s", "--max-time", "30", "--interface", "127.0.0.5",
                            "--login-options", "AUTH=PLAIN",
                            "-u", "alice@%s:%s" % (DOM, PW),
                            "pop3://127.0.0.1:%d/2" % port], capture_output=True, timeout=60)
        check(r.returncode == 0 and r.stdout == msgs[1],
              "curl AUTH PLAIN, RETR 2 through osd equals the backend's message (rc %d, %d octets)"
              % (r.returncode, len(r.stdout)))
        check(relayed(o, "127.0.0.5"), "curl's login opened relaying for 127.0.0.5")

        # commands pipelined right after PASS go on to the backend
        s = socket.create_connection(("127.0.0.1", port), T, source_address=("127.0.0.6", 0))
        f = s.makefile("rb")
        f.readline()
        s.sendall(("USER alice@%s\r\n" % DOM).encode())
        f.readline()
        s.sendall(("PASS %s\r\nSTAT\r\nCAPA\r\nQUIT\r\n" % PW).encode())
        ok = f.readline()
        stat = f.readline()
        capa = []
        while True:
            line = f.readline()
            capa.append(line)
            if line in (b".\r\n", b""):
                break
        bye = f.readline()
        eof = f.readline()
        f.close()
        s.close()
        check(ok.startswith(b"+OK"), "PASS: %r" % ok)
        check(stat.startswith(b"+OK %d " % len(msgs)), "STAT pipelined after PASS answered by "
              "the backend: %r" % stat)
        check(any(b"Dovecot" in c or b"IMPLEMENTATION" not in c for c in capa) and
              b"IMPLEMENTATION osd\r\n" not in capa,
              "CAPA after login is the backend's, not osd's")
        check(bye.startswith(b"+OK") and eof == b"", "QUIT: %r, then the connection closes" % bye)
        check(wait_for(lambda: "proxy: addr=127.0.0.6" in o.log("pop3d")),
              "the relay logs its end")
        log = o.log("pop3d")
        check("splice=yes" in log, "plain on both sides: the relay splices")
        check(PW not in log and "s3cret" not in log, "the password is never logged")


def test_pop3_tls(dc, msgs, ca, other_ca):
    print("# POP3 proxy, implicit TLS and STLS to the backend")
    for mode, bport in (("implicit", dc.pop3s), ("starttls", dc.pop3)):
        with proxy("pop3_backend = 127.0.0.1:%d\nproxy_tls = %s\nproxy_ca_file = %s\n"
                   % (bport, mode, ca), "pop3") as (o, port):
            got = pop3_read_all(port, "127.0.0.7", "alice@" + DOM, PW)
            check(got == msgs, "proxy_tls = %s: poplib reads the backend's messages" % mode)
            check(relayed(o, "127.0.0.7"), "proxy_tls = %s: relaying opened" % mode)
            check(wait_for(lambda: "splice=no" in o.log("pop3d")),
                  "TLS on the backend link: the relay copies")
    # hostname verification: the certificate is for 127.0.0.1/localhost; another CA fails
    with proxy("pop3_backend = localhost:%d\nproxy_tls = implicit\nproxy_ca_file = %s\n"
                   % (dc.pop3s, other_ca), "pop3") as (o, port):
        pop3_refused(port, "127.0.0.8", PW, "-ERR [SYS/TEMP]")
        check(not_relayed(o, "127.0.0.8"), "wrong CA: nothing recorded")
        log = o.log("pop3d")
        check("certificate" in log, "wrong CA: osd's log says the certificate failed")
    # the right CA, but a certificate for another name than the backend's
    other = TlsListener(*make_ca(os.path.dirname(ca_dir(ca)), "named", "DNS:mail.other.test",
                                 ca=(ca, os.path.join(ca_dir(ca), "ca.key")))[1:])
    for host, why in (("127.0.0.1", "IP address mismatch"), ("localhost", "hostname mismatch")):
        with proxy("pop3_backend = %s:%d\nproxy_tls = implicit\nproxy_ca_file = %s\n"
                   % (host, other.port, ca), "pop3") as (o, port):
            pop3_refused(port, "127.0.0.12", PW, "-ERR [SYS/TEMP]")
            check(not_relayed(o, "127.0.0.12"), "%s: nothing recorded" % why)
            check(why in o.log("pop3d"), "a certificate for another name: the log says %r" % why)


def test_pop3_unreachable():
    print("# POP3 proxy, backend down")
    dead = free_port()
    with proxy("pop3_backend = 127.0.0.1:%d\n" % dead, "pop3") as (o, port):
        pop3_refused(port, "127.0.0.9", PW, "-ERR [SYS/TEMP]")
        check(not_relayed(o, "127.0.0.9"), "backend down: nothing recorded")
        check("backend 127.0.0.1:%d: connect" % dead in o.log("pop3d"), "backend down: logged")


def test_pop3_local_auth():
    print("# POP3 proxy, proxy_auth = local")
    fake = Counter()
    with proxy("pop3_backend = 127.0.0.1:%d\nproxy_auth = local\n" % fake.port, "pop3",
               users=[("alice@" + DOM, PW)]) as (o, port):
        pop3_refused(port, "127.0.0.10", BAD, "-ERR [AUTH]")
        check(fake.count == 0, "proxy_auth = local: the backend was never contacted for it")
        check(not_relayed(o, "127.0.0.10"), "proxy_auth = local: nothing recorded")
        p = POP3From(port, "127.0.0.11")
        p.user("alice@" + DOM)
        p.pass_(PW)
        p.quit()
        check(fake.count == 1, "proxy_auth = local: the right password goes on to the backend")
        check(any(line.startswith(b"PASS ") for line in fake.seen),
              "the backend got the client's credentials")
        check(relayed(o, "127.0.0.11"), "proxy_auth = local: relaying opened")


def main():
    root = tempfile.mkdtemp(prefix="osd-proxy-")
    os.chmod(root, 0o755)
    dc = None
    try:
        ca, cert, key = make_ca(root, "good")
        other_ca, _, _ = make_ca(root, "other")
        dc = Dovecot(root, cert, key)
        msgs = [message(i, s) for i, s in enumerate((1200, 100 * 1024, 300 * 1024, 5000))]
        dc.maildir(msgs)
        dc.start()
        test_pop3_plain(dc, msgs)
        test_pop3_tls(dc, msgs, ca, other_ca)
        test_pop3_unreachable()
        test_pop3_local_auth()
        test_imap_plain(dc, msgs)
        test_imap_tls(dc, msgs, ca, other_ca)
    finally:
        if dc is not None:
            dc.stop()
        if os.environ.get("OSD_TEST_KEEP"):
            print("kept " + root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
