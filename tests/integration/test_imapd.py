#!/usr/bin/env python3
"""osd imapd with real clients: curl imap://, Python imaplib (LOGIN, literal
LOGIN, AUTHENTICATE PLAIN with SASL-IR and LOGIN, STARTTLS, IMAPS), raw
sockets for hostile input.

A login records the client address in open-smtp/, and osd smtpd then relays
for that address (POP-before-SMTP through IMAP) and not for another; NO_IMAP
users are refused, NO_RELAY users are not recorded; plaintext LOGIN is
refused (LOGINDISABLED, PRIVACYREQUIRED) without TLS when loopback plaintext
is off; overlong lines, huge literals and deep nesting get BAD/BYE and the
server goes on; the mailbox commands work once they are merged.
"""
import base64
import imaplib
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, SmtpRaw, SrcIMAP, check, finish, free_port,  # noqa: E402
                     make_cert, wait_for, wait_port)

DOM = "example.test"
T = 10  # socket timeout of the test clients (a functional bound)
REMOTE = "someone@remote.example"


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
    md = os.path.join(o.state, "domains", dom, user, "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    return md


def put_msg(maildir, name, body):
    with open(os.path.join(maildir, "new", name), "wb") as f:
        f.write(body)


def curl(port, *args, src="127.0.0.9", url=""):
    cmd = ["curl", "-s", "-S", "--max-time", "20", "--interface", src,
           "imap://127.0.0.1:%d/%s" % (port, url)] + list(args)
    return subprocess.run(cmd, capture_output=True, timeout=60)


class Raw:
    """A raw client: send bytes, read what comes until a line starting with want."""

    def __init__(self, port, src="127.0.0.4"):
        self.s = socket.create_connection(("127.0.0.1", port), T, source_address=(src, 0))
        self.buf = b""
        self.greeting = self.until(b"* OK")

    def send(self, data):
        self.s.sendall(data)

    def until(self, want):
        """Lines up to (and with) the first that starts with want; None at EOF."""
        deadline = time.monotonic() + T
        while time.monotonic() < deadline:
            i = 0
            while True:
                j = self.buf.find(b"\r\n", i)
                if j < 0:
                    break
                if self.buf[i:].startswith(want):
                    out, self.buf = self.buf[i:j + 2], self.buf[j + 2:]
                    return out
                i = j + 2
            try:
                d = self.s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                return None
            if not d:
                return None
            self.buf += d
        return None

    def closed(self):
        """True when the server closed the connection (EOF after what is buffered)."""
        try:
            self.s.settimeout(T)
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
                self.buf += d
        except ConnectionResetError:
            return True     # closed while the client was still sending
        except (socket.timeout, OSError):
            return False

    def close(self):
        self.s.close()


def rcpt_code(port, src):
    r = SmtpRaw(port, src)
    r.cmd("EHLO roamer.test")
    r.cmd("MAIL FROM:<alice@%s>" % DOM)
    c, _ = r.cmd("RCPT TO:<%s>" % REMOTE)
    r.cmd("QUIT")
    r.close()
    return c


def main():
    o = Osd()
    try:
        run(o)
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


def run(o):
    port, sport, smtp = free_port(), free_port(), free_port()
    cert, key = make_cert(o.root)
    o.write_conf("3h", "imap_listen = 127.0.0.1:%d\nimaps_listen = 127.0.0.1:%d\n"
                 "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\ncontrol_dir = control\n"
                 "tls_cert = %s\ntls_key = %s\ndefault_domain = %s\nimap_login_timeout = 3\n"
                 "services = watch imapd smtpd\n" % (port, sport, smtp, cert, key, DOM))
    o.write_control("me", "mx.%s\n" % DOM)
    o.write_control("rcpthosts", "%s\n" % DOM)
    alice = add_user(o, "alice@" + DOM, "alice-pw")
    add_user(o, "noimap@" + DOM, "noimap-pw", flags=0x08)
    add_user(o, "norelay@" + DOM, "norelay-pw", flags=0x20)
    put_msg(alice, "1700000001.M1P1.host", b"Subject: one\r\nFrom: a@b.test\r\n\r\nfirst message\r\n")
    put_msg(alice, "1700000002.M2P1.host", b"Subject: two\n\nsecond\n")

    runp = o.start("run")
    up = wait_port(port, runp) and wait_port(sport, runp) and wait_port(smtp, runp)
    check(up, "osd run starts imapd (%d, imaps %d) and smtpd (%d)" % (port, sport, smtp))
    if not up:
        print(o.log("run")[-2000:])
        return
    wait_for(lambda: os.path.exists(o.cdb))

    # --- POP-before-SMTP through IMAP: 127.0.0.2 relays after its login, 127.0.0.3 does not ---
    check(rcpt_code(smtp, "127.0.0.2") == 553, "before any login, 127.0.0.2 may not relay (553)")
    m = SrcIMAP(port, "127.0.0.2")
    typ, data = m.login("alice", "alice-pw")
    check(typ == "OK" and b"CAPABILITY" in data[0], "imaplib LOGIN from 127.0.0.2: OK [CAPABILITY ...]")
    m.logout()
    check(os.path.exists(os.path.join(o.opensmtp, "127.0.0.2")),
          "the IMAP login from 127.0.0.2 creates open-smtp/127.0.0.2")
    check(wait_for(lambda: rcpt_code(smtp, "127.0.0.2") == 250),
          "after the IMAP login, osd smtpd relays for 127.0.0.2 (250)")
    check(rcpt_code(smtp, "127.0.0.3") == 553, "127.0.0.3 (no login) still gets 553")

    # --- curl imap:// lists INBOX ---
    p = curl(port, "-u", "alice@%s:alice-pw" % DOM)
    check(p.returncode == 0 and b"INBOX" in p.stdout,
          "curl imap:// -u alice lists INBOX (rc %d, %r)" % (p.returncode, p.stdout[:200]))

    # --- failed login: NO [AUTHENTICATIONFAILED], nothing recorded, password not logged ---
    m = SrcIMAP(port, "127.0.0.10")
    try:
        m.login("alice", "wrong-password-xyz")
        check(False, "a wrong password is refused")
    except imaplib.IMAP4.error as e:
        check("AUTHENTICATIONFAILED" in str(e), "a wrong password: NO [AUTHENTICATIONFAILED] (%s)" % e)
    m.shutdown()
    check(not os.path.exists(os.path.join(o.opensmtp, "127.0.0.10")),
          "a failed login records nothing")
    check("wrong-password-xyz" not in o.log("run"), "the password never reaches the log")

    # --- NO_IMAP refused, NO_RELAY logs in unrecorded ---
    m = SrcIMAP(port, "127.0.0.11")
    try:
        m.login("noimap", "noimap-pw")
        check(False, "a NO_IMAP user is refused")
    except imaplib.IMAP4.error:
        check(True, "a NO_IMAP user is refused")
    m.shutdown()
    check(not os.path.exists(os.path.join(o.opensmtp, "127.0.0.11")),
          "the refused NO_IMAP login records nothing")
    check(wait_for(lambda: "NO_IMAP" in o.log("run")), "the log says why (vpasswd flag NO_IMAP)")
    m = SrcIMAP(port, "127.0.0.12")
    typ, _ = m.login("norelay", "norelay-pw")
    m.logout()
    check(typ == "OK" and not os.path.exists(os.path.join(o.opensmtp, "127.0.0.12")),
          "a NO_RELAY user logs in but is not recorded")

    # --- literal LOGIN ({n} synchronizing, {n+} non-synchronizing) ---
    r = Raw(port)
    r.send(b"a LOGIN {5}\r\n")
    check(r.until(b"+") is not None, "a synchronizing literal gets a '+' continuation")
    r.send(b"alice {8+}\r\nalice-pw\r\n")
    check((r.until(b"a ") or b"").startswith(b"a OK"), "LOGIN with a {5} and a {8+} literal: OK")
    r.send(b"b LOGOUT\r\n")
    check(r.until(b"* BYE") is not None and (r.until(b"b ") or b"").startswith(b"b OK"),
          "LOGOUT: * BYE then the tagged OK")
    r.close()

    # --- AUTHENTICATE PLAIN with SASL-IR, AUTHENTICATE LOGIN, cancel ---
    ir = base64.b64encode(b"\0alice\0alice-pw")
    r = Raw(port)
    r.send(b"a AUTHENTICATE PLAIN " + ir + b"\r\n")
    check((r.until(b"a ") or b"").startswith(b"a OK"), "AUTHENTICATE PLAIN with an initial response (SASL-IR)")
    r.close()
    r = Raw(port)
    r.send(b"a AUTHENTICATE LOGIN\r\n")
    c1 = r.until(b"+ ")
    r.send(base64.b64encode(b"alice") + b"\r\n")
    c2 = r.until(b"+ ")
    r.send(base64.b64encode(b"alice-pw") + b"\r\n")
    check(c1 is not None and c2 is not None and (r.until(b"a ") or b"").startswith(b"a OK"),
          "AUTHENTICATE LOGIN: two continuations, then OK")
    r.send(b"b AUTHENTICATE PLAIN\r\n")
    check((r.until(b"b ") or b"").startswith(b"b BAD"), "AUTHENTICATE in the authenticated state: BAD")
    r.close()
    r = Raw(port)
    r.send(b"a AUTHENTICATE PLAIN\r\n")
    r.until(b"+")
    r.send(b"*\r\n")
    check((r.until(b"a ") or b"").startswith(b"a BAD"), "'*' cancels AUTHENTICATE: BAD")
    r.close()

    # --- ID, NAMESPACE, ENABLE, NOOP, commands in the wrong state ---
    r = Raw(port)
    r.send(b"a ID NIL\r\n")
    check(r.until(b"* ID") == b'* ID ("name" "osd")\r\n', "ID NIL: * ID (\"name\" \"osd\")")
    r.until(b"a ")
    r.send(b"b SELECT INBOX\r\n")
    check((r.until(b"b ") or b"").startswith(b"b BAD"), "SELECT before login: BAD")
    r.send(b"c LOGIN alice alice-pw\r\nd NAMESPACE\r\n")
    check(r.until(b"* NAMESPACE") == b'* NAMESPACE (("" ".")) NIL NIL\r\n', "NAMESPACE after login")
    r.send(b"e LOGIN alice alice-pw\r\n")
    check((r.until(b"e ") or b"").startswith(b"e BAD"), "LOGIN when logged in: BAD")
    r.close()

    # --- STARTTLS and IMAPS ---
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    m = SrcIMAP(port, "127.0.0.13")
    check("STARTTLS" in m.capabilities, "STARTTLS is advertised on imap_listen")
    m.starttls(ssl_context=ctx)
    check("STARTTLS" not in m.capabilities, "after STARTTLS the capability list has no STARTTLS")
    typ, _ = m.login("alice", "alice-pw")
    check(typ == "OK", "LOGIN over STARTTLS")
    m.logout()
    m = imaplib.IMAP4_SSL("127.0.0.1", sport, ssl_context=ctx, timeout=T)
    typ, _ = m.login("alice", "alice-pw")
    check(typ == "OK" and "STARTTLS" not in m.capabilities, "LOGIN over imaps (implicit TLS)")
    m.logout()

    # --- hostile input: the connection ends or gets BAD, the server lives on ---
    r = Raw(port)
    r.send(b"a NOOP " + b"x" * 70000 + b"\r\n")
    bye = r.until(b"* BYE")
    # The BYE may be lost to the reset that closing with unread input causes.
    check((bye is None or b"TOOBIG" in bye) and b"a OK" not in r.buf and r.closed(),
          "an overlong line (70,000 octets): no OK, connection closed (* BYE [TOOBIG]: %r)"
          % (bye,))
    r.close()
    r = Raw(port)
    r.send(b"a LOGIN alice {99999999999}\r\n")
    check((r.until(b"a ") or b"").startswith(b"a BAD"), "a huge synchronizing literal: BAD, no '+'")
    r.send(b"b NOOP\r\n")
    check((r.until(b"b ") or b"").startswith(b"b OK"), "the session goes on after the refused literal")
    r.send(b"c LOGIN alice {99999999999+}\r\n")
    check(r.until(b"* BYE") is not None and r.closed(),
          "a huge non-synchronizing literal: * BYE, connection closed (its octets cannot be told from commands)")
    r.close()
    r = Raw(port)
    r.send(b"a ID " + b"(" * 100 + b"\r\n")
    check((r.until(b"a ") or b"").startswith(b"a BAD"), "100 nested lists: BAD")
    r.send(b"\xff\xfe\x00garbage\r\n")
    check((r.until(b"") or b"").find(b"BAD") >= 0, "binary garbage with a NUL: BAD")
    for i in range(25):
        try:
            r.send(b"x%d FROB\r\n" % i)
        except (BrokenPipeError, ConnectionResetError):
            break   # the server closed after the 20th BAD while later lines were still going out
    check(r.until(b"* BYE") is not None and r.closed(), "too many bad commands: * BYE, closed")
    r.close()
    m = SrcIMAP(port, "127.0.0.14")
    check(m.login("alice", "alice-pw")[0] == "OK", "imapd still serves after the hostile clients")
    m.logout()

    # --- the mailbox commands, when merged: SELECT, FETCH, STORE, EXPUNGE, IDLE ---
    try:
        mailbox_commands(port, alice)
    except (imaplib.IMAP4.error, OSError) as e:
        check(False, "the mailbox commands: %s" % e)

    try:
        rename_selected(port, alice)
    except (imaplib.IMAP4.error, OSError) as e:
        check(False, "RENAME of the selected folder: %s" % e)

    # --- plaintext refused from loopback with imap_loopback_plaintext = no ---
    plaintext_refusal(o, port, cert)


def mailbox_commands(port, alice):
    m = SrcIMAP(port, "127.0.0.15")
    m.login("alice", "alice-pw")
    typ, data = m.select("INBOX")
    if typ != "OK":
        check(False, "SELECT INBOX: %r" % data)
        return
    check(data == [b"2"], "SELECT INBOX: 2 EXISTS (%r)" % data)
    typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    check(typ == "OK" and b"Subject: one" in data[0][1], "FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
    typ, data = m.store("2", "+FLAGS", "(\\Deleted)")
    check(typ == "OK" and b"\\Deleted" in data[0], "STORE 2 +FLAGS (\\Deleted)")
    typ, data = m.expunge()
    check(typ == "OK" and data == [b"2"], "EXPUNGE: * 2 EXPUNGE (%r)" % data)
    typ, data = m.search(None, "ALL")
    check(data == [b"1"], "SEARCH ALL after EXPUNGE: 1 (%r)" % data)
    # IDLE: a delivery into new/ is told at once, DONE ends it.
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    check(m.readline().startswith(b"+"), "IDLE: + continuation")
    put_msg(alice, "1700000003.M3P1.host", b"Subject: three\r\n\r\nthird\r\n")
    line = m.readline()
    check(line.startswith(b"* 2 EXISTS"), "IDLE reports a new delivery as * 2 EXISTS (%r)" % line)
    m.send(b"DONE\r\n")
    rest = b""
    while not rest.startswith(tag):
        rest = m.readline()
    check(b"OK" in rest, "DONE ends IDLE with the tagged OK")
    m.logout()


def exists_after_noop(m):
    m.noop()
    typ, data = m.response("EXISTS")
    return data[-1] if data and data[-1] is not None else None


def rename_selected(port, alice):
    """RENAME of the selected folder, and of a parent of it: the session goes on under the new name."""
    m = SrcIMAP(port, "127.0.0.17")
    m.login("alice", "alice-pw")
    check(m.create("Work")[0] == "OK", "CREATE Work")
    for i in (1, 2):
        m.append("Work", None, None, b"Subject: work %d\r\n\r\nbody %d\r\n" % (i, i))
    typ, data = m.select("Work")
    check(typ == "OK" and data == [b"2"], "SELECT Work: 2 EXISTS (%r)" % data)
    uidvalidity = m.response("UIDVALIDITY")[1][-1]
    typ, data = m.rename("Work", "Projects")
    check(typ == "OK", "RENAME of the selected Work to Projects: OK (%r)" % data)
    typ, data = m.fetch("2", "(UID BODY.PEEK[])")
    check(typ == "OK" and b"UID 2 " in data[0][0] and b"body 2" in data[0][1],
          "after RENAME, FETCH 2 still reads its message (%r)" % (data,))
    # A delivery into the renamed folder: its UID list is found there (same UIDVALIDITY, the next UID).
    put_msg(os.path.join(alice, ".Projects"), "1700000009.M9P1.host", b"Subject: nine\r\n\r\nninth\r\n")
    n = exists_after_noop(m)
    check(n == b"3", "after RENAME, a delivery into .Projects/new is told: * 3 EXISTS (%r)" % n)
    typ, data = m.fetch("3", "(UID)")
    check(typ == "OK" and b"UID 3" in data[0], "the new message gets UID 3 (%r)" % data)
    typ, data = m.store("1", "+FLAGS", "(\\Flagged)")
    check(typ == "OK" and b"\\Flagged" in data[0], "STORE in the renamed folder (%r)" % data)
    typ, data = m.status("Projects", "(MESSAGES UIDNEXT UIDVALIDITY)")
    check(typ == "OK" and b"MESSAGES 3" in data[0] and b"UIDNEXT 4" in data[0] and
          b"UIDVALIDITY " + uidvalidity in data[0],
          "STATUS Projects: 3 messages, UIDNEXT 4, the UIDVALIDITY of SELECT Work (%r)" % data)
    check(not os.path.exists(os.path.join(alice, ".Work")), "nothing is made again under the old name")
    # A parent renamed: the selected child follows.
    check(m.create("Lists.osd")[0] == "OK", "CREATE Lists.osd")
    m.append("Lists.osd", None, None, b"Subject: list\r\n\r\nlist\r\n")
    typ, data = m.select("Lists.osd")
    check(typ == "OK" and data == [b"1"], "SELECT Lists.osd: 1 EXISTS (%r)" % data)
    check(m.rename("Lists", "Groups")[0] == "OK", "RENAME Lists Groups (the selected Lists.osd under it)")
    put_msg(os.path.join(alice, ".Groups.osd"), "1700000010.M10P1.host", b"Subject: ten\r\n\r\ntenth\r\n")
    n = exists_after_noop(m)
    check(n == b"2", "the selected child, now Groups.osd, sees a delivery: * 2 EXISTS (%r)" % n)
    typ, data = m.fetch("2", "(UID)")
    check(typ == "OK" and b"UID 2" in data[0], "... as UID 2 (%r)" % data)
    m.logout()


def plaintext_refusal(o, port, cert):
    with open(o.conf) as f:
        conf = f.read()
    with open(o.conf, "w") as f:
        f.write(conf + "imap_loopback_plaintext = no\n")
    for p in o.procs:
        os.kill(p.pid, 1)   # osd run passes SIGHUP on to its children
    time.sleep(0.5)
    m = SrcIMAP(port, "127.0.0.16")
    caps = m.capabilities
    check("LOGINDISABLED" in caps and "AUTH=PLAIN" not in caps,
          "imap_loopback_plaintext = no: LOGINDISABLED, no AUTH=PLAIN (%r)" % (caps,))
    try:
        m.login("alice", "alice-pw")
        check(False, "plaintext LOGIN refused")
    except imaplib.IMAP4.error as e:
        check("PRIVACYREQUIRED" in str(e), "plaintext LOGIN: NO [PRIVACYREQUIRED] (%s)" % e)
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False
    m.starttls(ssl_context=ctx)
    check(m.login("alice", "alice-pw")[0] == "OK", "after STARTTLS the same LOGIN works")
    m.logout()


if __name__ == "__main__":
    main()
