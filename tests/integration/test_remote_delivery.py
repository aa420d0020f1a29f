#!/usr/bin/env python3
"""osd-remote (docs/delivery.md) against real peers: Postfix's smtp-sink, osd's
own smtpd with STARTTLS, and a scripted server on loopback for exact bytes.

Checked: several recipients in one transaction, the message arriving intact
(headers, dot lines, a last line without LF); on the wire CRLF only,
dot-stuffing, SIZE= with the RFC 1870 size, MAIL+RCPT+DATA pipelined when
offered and one by one when not; RCPT 5xx -> h, 4xx -> s, mixed in one
call; every recipient refused -> no DATA and D (all 5xx) or Z; MAIL
refused; the final "." refused (4xx Z, 5xx D); HELO after a refused EHLO;
multi-line replies dribbled a byte at a time; an overlong reply cut to the
verdict bound; a garbage greeting, a silent server (timeoutremote), a
refused connection -> s + Z; a failed TLS handshake goes to the next host,
not clear text; STARTTLS with osd smtpd (the queue file's Received says
ESMTPS); a dead and a 421-greeting MX before a live one (dnsmasq, port 25
on loopback aliases, when it can be bound); NXDOMAIN -> h + D; a 50 MB
message with bounded memory; bad arguments -> exit 100; the last body piece
and the final dot in one write.

--worker (docs/delivery.md, "Worker mode"): requests for one domain share one
connection (RSET after a failed transaction, none after a good one); another
domain: QUIT and a new connection; a server that closes or says 421 while
the connection is cached: reconnected, the message delivered once; a
malformed line: s..Z when its recipients can be counted, else exit 111; a
missing queue file: s Z; the idle timeout: QUIT, the worker goes on; stdin
EOF: QUIT and exit 0 at once.
"""
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (BUILD, Osd, can_bind, check, finish, free_port, free_udp_tcp_port,  # noqa: E402
                     have, make_cert, wait_for, wait_port)

REMOTE = os.path.join(BUILD, "osd-remote")
DOM = "example.net"
MSG = (b"From: Alice <alice@client.test>\nTo: bob@example.net\nSubject: remote test\n"
       b"Message-ID: <1@client.test>\n\nfirst line\n.\n..two dots\n.leading dot\n"
       b"middle . dot\n\nlast line without LF")
VERDICT_MAX = 1000


def remote(o, domain, sender, rcpts, message=MSG, timeout=120):
    """Run osd-remote with message on stdin (a regular file, as the queue gives
    it): (exit status, verdict lines, stderr, seconds)."""
    with tempfile.TemporaryFile() as f:
        f.write(b"envelope that must not be sent\n\n")
        start = f.tell()
        f.write(message)
        f.seek(start)
        t0 = time.monotonic()
        p = subprocess.run([REMOTE, "-c", o.conf, domain, sender] + list(rcpts), stdin=f,
                           capture_output=True, timeout=timeout)
        took = time.monotonic() - t0
    return p.returncode, p.stdout.decode(errors="replace").splitlines(), \
        p.stderr.decode(errors="replace"), took


def kinds(lines):
    return "".join(line[:1] for line in lines)


class Sink:
    """Postfix's smtp-sink on 127.0.0.1:port; -d dumps each message into a folder."""

    def __init__(self, root, *opts, host="127.0.0.1", port=None, dump=True):
        self.port = port or free_port()
        # Outside root (0700): smtp-sink writes as nobody.
        self.dir = tempfile.mkdtemp(prefix="osd-sink-")
        os.chmod(self.dir, 0o777)
        self.log = open(os.path.join(self.dir, "sink.log"), "wb")
        args = ["smtp-sink", "-v", "-u", "nobody"] + list(opts)
        if dump:
            args += ["-d", os.path.join(self.dir, "msg-")]
        self.proc = subprocess.Popen(args + ["%s:%d" % (host, self.port), "100"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.ok = wait_port(self.port, self.proc, host=host)

    def messages(self):
        """Each dumped message: (smtp-sink's X- headers dict, message bytes)."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if not name.startswith("msg-"):
                continue
            data = open(os.path.join(self.dir, name), "rb").read()
            lines = data.split(b"\n")
            meta = {}
            i = 0
            while i < len(lines) and not lines[i].startswith(b"Received: "):
                k, _, v = lines[i].decode().partition(": ")
                meta.setdefault(k, []).append(v)
                i += 1
            # smtp-sink's Received: is three lines; after the message, one empty line.
            body = b"\n".join(lines[i + 3:])
            out.append((meta, body[:-1] if body.endswith(b"\n") else body))
        return out

    def transcript(self):
        self.log.flush()
        return open(os.path.join(self.dir, "sink.log"), "rb").read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Peer(threading.Thread):
    """A scripted SMTP server: exact replies, the raw bytes it got.  With
    PIPELINING offered it answers nothing until DATA arrives, so a client
    that waits for the MAIL reply instead of pipelining times out."""

    def __init__(self, host="127.0.0.1", port=0, greeting=b"220 peer.test ESMTP\r\n",
                 keywords=(b"PIPELINING", b"SIZE 100000000", b"8BITMIME"), ehlo_reply=None,
                 mail_reply=b"250 2.1.0 sender ok\r\n", rcpt=None,
                 data_reply=b"354 go ahead\r\n", end_reply=b"250 2.0.0 queued as P1\r\n",
                 dribble=False, tls_garbage=False, after_data=None):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.greeting, self.keywords, self.ehlo_reply = greeting, keywords, ehlo_reply
        self.mail_reply, self.rcpt = mail_reply, rcpt or (lambda addr: b"250 2.1.5 ok\r\n")
        self.data_reply, self.end_reply = data_reply, end_reply
        self.dribble, self.tls_garbage = dribble, tls_garbage
        # After each message: None keeps the connection, b"" closes it, else sends that and closes.
        self.after_data = after_data
        self.cmds, self.data, self.eager, self.chunks = [], b"", [], []
        self.conns = self.msgs = 0
        self.stopping = False
        self.start()

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns += 1
            try:
                self.serve(conn)
            except OSError:
                pass
            finally:
                conn.close()

    def stop(self):
        self.stopping = True
        self.join(5)
        self.sock.close()

    def send(self, conn, data):
        if not self.dribble:
            conn.sendall(data)
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            conn.sendall(data[i:i + 1])
            time.sleep(0.0005)

    def serve(self, conn):
        conn.settimeout(30)
        buf = b""
        pipelining = False
        held = b""
        if self.greeting is None:
            # Silent: say nothing until the client gives up.
            while conn.recv(4096):
                pass
            return
        self.send(conn, self.greeting)

        def line():
            nonlocal buf
            while b"\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return None
                self.chunks.append(chunk)
                buf += chunk
            ln, _, buf = buf.partition(b"\n")
            return ln.rstrip(b"\r").decode(errors="replace")

        while True:
            cmd = line()
            if cmd is None:
                return
            self.cmds.append(cmd)
            verb = cmd[:4].upper()
            if not pipelining and verb in ("MAIL", "RCPT", "DATA"):
                # Without PIPELINING nothing may follow a command before its reply.
                if buf or select.select([conn], [], [], 0.2)[0]:
                    self.eager.append(cmd)
            if verb == "EHLO":
                if self.ehlo_reply is not None:
                    self.send(conn, self.ehlo_reply)
                else:
                    pipelining = b"PIPELINING" in self.keywords
                    kw = [b"peer.test hello"] + list(self.keywords)
                    self.send(conn, b"".join(b"250-" + k + b"\r\n" for k in kw[:-1]) +
                              b"250 " + kw[-1] + b"\r\n")
            elif verb == "HELO":
                self.send(conn, b"250 peer.test\r\n")
            elif verb == "STAR":
                self.send(conn, b"220 2.0.0 ready for TLS\r\n")
                if self.tls_garbage:
                    conn.recv(65536)
                    conn.sendall(b"this is not TLS at all\r\n" * 4)
                    return
            elif verb == "MAIL":
                held += self.mail_reply
            elif verb == "RCPT":
                held += self.rcpt(cmd[cmd.find("<") + 1:cmd.rfind(">")])
            elif verb == "DATA":
                self.send(conn, held + self.data_reply)
                held = b""
                if not self.data_reply.startswith(b"354"):
                    continue
                while b"\r\n.\r\n" not in b"\r\n" + buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    self.chunks.append(chunk)
                    buf += chunk
                end = (b"\r\n" + buf).index(b"\r\n.\r\n") + 3
                self.data, buf = buf[:end], buf[end:]
                # Counted before the reply: a test that got the verdict finds it counted.
                self.msgs += 1
                self.send(conn, self.end_reply)
                if self.after_data is not None:
                    conn.sendall(self.after_data)
                    return
            elif verb == "RSET":
                held = b""
                self.send(conn, b"250 2.0.0 reset\r\n")
            elif verb == "QUIT":
                self.send(conn, b"221 2.0.0 bye\r\n")
                return
            else:
                self.send(conn, b"502 5.5.2 what?\r\n")
            if verb in ("MAIL", "RCPT") and not pipelining:
                self.send(conn, held)
                held = b""


def setup(o, routes):
    o.write_conf("3h", "control_dir = control\n")
    o.write_control("me", "relay.client.test\n")
    o.write_control("timeoutremote", "3\n")
    o.write_control("timeoutconnect", "3\n")
    o.write_control("smtproutes", routes)


def test_sink_delivery(o):
    s = Sink(o.root)
    try:
        check(s.ok, "smtp-sink listens")
        setup(o, "%s:127.0.0.1:%d\n" % (DOM, s.port))
        rc, lines, err, _ = remote(o, DOM, "alice@client.test",
                                   ["bob@example.net", "carol@example.net", "dave@example.net"])
        check(rc == 0 and kinds(lines) == "rrrK",
              "three recipients, one transaction: r r r K (%r %s)" % (lines, err))
        check(len(lines) == 4 and all(("[127.0.0.1] said: 250" in x) for x in lines),
              "verdicts name the host and its reply (%r)" % lines[:1])
        wait_for(lambda: s.messages())
        msgs = s.messages()
        check(len(msgs) == 1, "smtp-sink saved one message (%d)" % len(msgs))
        if msgs:
            meta, body = msgs[0]
            check(meta.get("X-Rcpt-Args") == ["<bob@example.net>", "<carol@example.net>",
                                              "<dave@example.net>"],
                  "all three RCPTs in the one transaction (%r)" % meta.get("X-Rcpt-Args"))
            check(meta.get("X-Mail-Args") == ["<alice@client.test>"],
                  "MAIL FROM is the sender (%r)" % meta.get("X-Mail-Args"))
            check(meta.get("X-Helo-Args") == ["relay.client.test"],
                  "EHLO names control/me (%r)" % meta.get("X-Helo-Args"))
            check(body == MSG + b"\n",
                  "message intact at the sink: headers, dot lines unstuffed, last line ended "
                  "(%r)" % body[-80:])
            check(b"envelope that must not be sent" not in body,
                  "only what follows stdin's position is sent")

        # The literal route form, and qmail's double-bounce sender as <>.
        setup(o, "%s:[127.0.0.1]:%d\n" % (DOM, s.port))
        rc, lines, err, _ = remote(o, DOM, "#@[]", ["bob@example.net"])
        check(rc == 0 and kinds(lines) == "rK", "[127.0.0.1]:port route delivers (%r)" % lines)
        check("MAIL FROM:<>" in s.transcript(), "#@[] goes out as the null sender")
        helo = [x for x in s.transcript().splitlines() if "EHLO" in x]
        o.write_control("helohost", "helo.client.test\n")
        rc, lines, err, _ = remote(o, DOM, "", ["bob@example.net"])
        check(kinds(lines) == "rK" and "EHLO helo.client.test" in s.transcript() and helo,
              "control/helohost wins over me for EHLO")
        os.unlink(os.path.join(o.control, "helohost"))
    finally:
        s.stop()


def test_sink_refusals(o):
    cases = [
        (["-f", "RCPT"], "hhD", "every RCPT refused 5xx: h h, no DATA, D"),
        (["-r", "RCPT"], "ssZ", "every RCPT refused 4xx: s s, no DATA, Z"),
        (["-f", "MAIL"], "hhD", "MAIL refused 5xx: every recipient h, D"),
        (["-r", "MAIL"], "ssZ", "MAIL refused 4xx: every recipient s, Z"),
        (["-r", "."], "rrZ", "final dot refused 4xx: r r Z"),
        (["-f", "."], "rrD", "final dot refused 5xx: r r D"),
        (["-f", "DATA"], "rrD", "DATA refused 5xx: D"),
        (["-Q", "RCPT"], "ssZ", "421 and disconnect at RCPT: s s Z"),
        (["-q", "DATA"], "rrZ", "connection dropped at DATA: Z"),
    ]
    for opts, want, what in cases:
        s = Sink(o.root, *opts)
        try:
            setup(o, "%s:127.0.0.1:%d\n" % (DOM, s.port))
            rc, lines, err, _ = remote(o, DOM, "alice@client.test",
                                       ["bob@example.net", "carol@example.net"])
            check(rc == 0 and kinds(lines) == want, "%s (%r %s)" % (what, lines, err))
            if want[:2] in ("hh", "ss") and "RCPT" in opts:
                time.sleep(0.2)
                t = s.transcript()
                check("RCPT TO" in t and "DATA" not in t.split("RCPT TO", 1)[1],
                      "no DATA sent when no recipient was accepted (%s)" % " ".join(opts))
        finally:
            s.stop()


def test_peer_wire(o):
    # PIPELINING offered: everything up to DATA in one go, replies read in order.
    p = Peer(rcpt=lambda a: (b"550 5.1.1 <%s>: no such user\r\n" % a.encode()
                             if a.startswith("bad") else
                             b"451 4.2.0 <%s>: try later\r\n" % a.encode()
                             if a.startswith("later") else b"250 2.1.5 ok\r\n"))
    try:
        setup(o, "%s:[127.0.0.1]:%d\n" % (DOM, p.port))
        rc, lines, err, took = remote(o, DOM, "alice@client.test",
                                      ["bob@example.net", "bad@example.net",
                                       "later@example.net", "carol@example.net"])
        check(rc == 0 and kinds(lines) == "rhsrK",
              "per recipient: 250 r, 550 h, 451 s, then K (%r %s)" % (lines, err))
        check(len(lines) == 5 and "550 5.1.1 <bad@example.net>: no such user" in lines[1],
              "an h line carries the server's text (%r)" % lines[1:2])
        check(len(lines) == 5 and lines[4].startswith("K[127.0.0.1] said: 250 2.0.0 queued as P1"),
              "the K line is the reply to the final dot (%r)" % lines[-1:])
        check(took < 3, "pipelined: no wait for replies before DATA (%.1fs)" % took)
        cmds = [c.split(":")[0].split(" ")[0] for c in p.cmds]
        check(cmds == ["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "RCPT", "DATA", "QUIT"],
              "commands: EHLO MAIL RCPT*4 DATA QUIT (%r)" % cmds)
        together = [c for c in p.chunks if b"MAIL FROM" in c]
        check(together and b"DATA\r\n" in together[0] and together[0].count(b"RCPT TO") == 4,
              "MAIL, all RCPTs and DATA arrive in one write")
        stuffed = (b"From: Alice <alice@client.test>\r\nTo: bob@example.net\r\n"
                   b"Subject: remote test\r\nMessage-ID: <1@client.test>\r\n\r\nfirst line\r\n"
                   b"..\r\n...two dots\r\n..leading dot\r\nmiddle . dot\r\n\r\n"
                   b"last line without LF\r\n.\r\n")
        check(p.data == stuffed, "on the wire: CRLF line endings, dot-stuffing, a final CRLF "
              "before the terminator (%r)" % p.data[-60:])
        check(any(c.endswith(b"last line without LF\r\n.\r\n") for c in p.chunks),
              "the body and the final dot arrive in one write (no lone '.' for Nagle to hold)")
        size = len(MSG) + MSG.count(b"\n") + 2
        mail = [c for c in p.cmds if c.startswith("MAIL")]
        check(mail == ["MAIL FROM:<alice@client.test> SIZE=%d" % size],
              "SIZE= declared with the RFC 1870 size (%r, want %d)" % (mail, size))
    finally:
        p.stop()

    # No PIPELINING: one command, one reply; no SIZE when not offered.
    p = Peer(keywords=(b"8BITMIME",))
    try:
        setup(o, "%s:[127.0.0.1]:%d\n" % (DOM, p.port))
        rc, lines, err, _ = remote(o, DOM, "alice@client.test",
                                   ["bob@example.net", "carol@example.net"])
        check(kinds(lines) == "rrK", "without PIPELINING: delivered (%r %s)" % (lines, err))
        check(p.eager == [], "without PIPELINING no command is sent before the last reply (%r)"
              % p.eager)
        check([c for c in p.cmds if c.startswith("MAIL")] == ["MAIL FROM:<alice@client.test>"],
              "no SIZE= when SIZE is not offered")
    finally:
        p.stop()

    # Every recipient refused without PIPELINING: no DATA; mixed 5xx/4xx gives Z.
    p = Peer(keywords=(b"8BITMIME",),
             rcpt=lambda a: b"550 5.1.1 no\r\n" if a.startswith("bad") else b"452 4.5.3 full\r\n")
    try:
        setup(o, "%s:[127.0.0.1]:%d\n" % (DOM, p.port))
        rc, lines, err, _ = remote(o, DOM, "a@client.test", ["bad@example.net", "x@example.net"])
        check(kinds(lines) == "hsZ" and "DATA" not in p.cmds,
              "all refused, one of them 4xx: h s Z, no DATA (%r %r)" % (lines, p.cmds))
    finally:
        p.stop()

    # EHLO refused: HELO; replies dribbled a byte at a time; multi-line and overlong replies.
    long_reply = b"550 5.1.1 " + b"x" * 10000 + b"\r\n"
    p = Peer(ehlo_reply=b"502 5.5.1 no EHLO here\r\n", dribble=True,
             rcpt=lambda a: (long_reply if a.startswith("long") else
                             b"550-5.1.1 first line\r\n550-5.1.1 second line\r\n550 5.1.1 end\r\n"
                             if a.startswith("multi") else b"250 2.1.5 ok\r\n"))
    try:
        setup(o, "%s:[127.0.0.1]:%d\n" % (DOM, p.port))
        rc, lines, err, _ = remote(o, DOM, "a@client.test",
                                   ["long@example.net", "multi@example.net", "ok@example.net"])
        check(kinds(lines) == "hhrK", "EHLO 502 -> HELO, then delivered; replies a byte at a "
              "time (%r %s)" % ([x[:60] for x in lines], err))
        check(any(c.startswith("HELO relay.client.test") for c in p.cmds), "HELO sent after 5xx EHLO")
        check(len(lines) == 4 and len(lines[0]) <= 1 + VERDICT_MAX and "xxxx" in lines[0],
              "an overlong reply is cut to the verdict bound (%d octets)" % len(lines[0]))
        check(len(lines) == 4 and "first line / 5.1.1 second line / 5.1.1 end" in lines[1],
              "a multi-line reply becomes one verdict line (%r)" % lines[1:2])
    finally:
        p.stop()


def test_failures(o):
    # Connection refused.
    port = free_port()
    setup(o, "%s:127.0.0.1:%d\n" % (DOM, port))
    rc, lines, err, _ = remote(o, DOM, "a@client.test", ["bob@example.net", "carol@example.net"])
    check(rc == 0 and kinds(lines) == "ssZ" and "refused" in lines[-1],
          "connection refused: s s Z with the reason (%r)" % lines)

    # Hosts that answer but are no good: each the host's failure, so s and Z.
    for peer, want, what in (
            (dict(greeting=b"HTTP/1.0 400 Bad Request\r\n\r\n"), "malformed",
             "a garbage greeting"),
            (dict(greeting=b"554 5.3.2 not now\r\n"), "554 5.3.2 not now", "a 554 greeting"),
            (dict(greeting=None), "timed out", "a silent server, after timeoutremote (3 s)")):
        p = Peer(**peer)
        try:
            setup(o, "%s:127.0.0.1:%d\n" % (DOM, p.port))
            rc, lines, err, took = remote(o, DOM, "a@client.test", ["bob@example.net"])
            check(kinds(lines) == "sZ" and want in lines[-1] and took < 15,
                  "%s: s Z (%r, %.1fs)" % (what, lines, took))
        finally:
            p.stop()

    # A failed TLS handshake: the next host, never clear text on that connection.
    p = Peer(keywords=(b"STARTTLS", b"PIPELINING"), tls_garbage=True)
    try:
        setup(o, "%s:127.0.0.1:%d\n" % (DOM, p.port))
        rc, lines, err, _ = remote(o, DOM, "a@client.test", ["bob@example.net"])
        check(kinds(lines) == "sZ" and "STARTTLS" in lines[-1],
              "a failed handshake: s Z (%r)" % lines)
        check(not any(c.startswith("MAIL") for c in p.cmds), "no MAIL in clear text after it")
    finally:
        p.stop()

    # A malformed smtproutes line is the admin's to fix: temporary.
    setup(o, "%s:127.0.0.1:notaport\n" % DOM)
    rc, lines, err, _ = remote(o, DOM, "a@client.test", ["bob@example.net"])
    check(rc == 0 and kinds(lines) == "sZ", "a malformed smtproutes line: s Z (%r)" % lines)

    # Bad arguments.
    for args, what in ((["example.net", "a@b"], "no recipient"),
                       (["example.net", "a@b"] + ["r%d@example.net" % i for i in range(101)],
                        "101 recipients"),
                       (["example.net", "a@b", "x@example.net\r\nRSET"], "CR LF in an address")):
        p = subprocess.run([REMOTE, "-c", o.conf] + args, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
        check(p.returncode == 100 and p.stdout == b"", "bad arguments (%s): exit 100" % what)


def test_mx(o):
    """MX hosts in preference order: a dead one, one greeting 421, a live one."""
    if not have("dnsmasq"):
        print("skip - dnsmasq not installed")
        return
    dead, busy, live = "127.0.0.77", "127.0.0.79", "127.0.0.78"
    dns_port = free_udp_tcp_port()
    d = subprocess.Popen(["dnsmasq", "--no-daemon", "--port=%d" % dns_port,
                          "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
                          "--no-hosts", "--conf-file=/dev/null", "--log-facility=-",
                          "--local=/test/",
                          "--mx-host=multi.test,dead.multi.test,10",
                          "--mx-host=multi.test,busy.multi.test,20",
                          "--mx-host=multi.test,live.multi.test,30",
                          "--host-record=dead.multi.test,%s" % dead,
                          "--host-record=busy.multi.test,%s" % busy,
                          "--host-record=live.multi.test,%s" % live],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = p = None
    try:
        wait_for(lambda: not can_bind("127.0.0.1", dns_port))
        o.write_conf("3h", "control_dir = control\nresolver = 127.0.0.1:%d\n" % dns_port)
        o.write_control("smtproutes", "")
        rc, lines, err, _ = remote(o, "nosuch.test", "a@client.test", ["x@nosuch.test"])
        check(rc == 0 and kinds(lines) == "hD", "NXDOMAIN: h D (%r %s)" % (lines, err))
        if not (can_bind(busy, 25) and can_bind(live, 25)):
            print("skip - port 25 on loopback cannot be bound here")
            return
        p = Peer(host=busy, port=25, greeting=b"421 4.3.2 busy, try another\r\n")
        s = Sink(o.root, host=live, port=25)
        check(s.ok, "smtp-sink on %s:25" % live)
        rc, lines, err, _ = remote(o, "multi.test", "a@client.test",
                                   ["x@multi.test", "y@multi.test"])
        check(rc == 0 and kinds(lines) == "rrK" and "live.multi.test [%s]" % live in lines[-1],
              "dead MX, then a 421 greeting, then the live one delivers (%r %s)" % (lines, err))
        check(p.conns == 1, "the 421 host was tried once (%d)" % p.conns)
        wait_for(lambda: s.messages())
        check(len(s.messages()) == 1, "the live MX got the message")
    finally:
        if p is not None:
            p.stop()
        if s is not None:
            s.stop()
        d.terminate()
        d.wait()


def test_starttls(o):
    """STARTTLS against osd smtpd: the message lands in its queue, received over ESMTPS."""
    r = Osd()
    try:
        cert, key = make_cert(r.root)
        port = free_port()
        # Loopback only: no submission port on its default *:587.
        r.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\ntls_cert = %s\n"
                     "tls_key = %s\ncontrol_dir = control\n" % (port, cert, key))
        r.write_control("me", "mx.hosted.test\n")
        r.write_control("rcpthosts", "hosted.test\n")
        d = r.start_smtpd(port)
        if not check(d.poll() is None, "osd smtpd runs (%s)" % r.log("smtpd")[-300:]):
            return
        setup(o, "hosted.test:[127.0.0.1]:%d\nother.test:[127.0.0.1]:%d\n" % (port, port))
        rc, lines, err, _ = remote(o, "hosted.test", "alice@client.test",
                                   ["bob@hosted.test", "carol@hosted.test"])
        check(rc == 0 and kinds(lines) == "rrK", "STARTTLS to osd smtpd: r r K (%r %s)"
              % (lines, err))
        files = wait_for(lambda: r.queue_files())
        check(len(files) == 1, "one queue file in osd smtpd's queue (%r)" % files)
        if files:
            env, body = r.queue_read(files[0])
            check(env.get("to") == ["bob@hosted.test", "carol@hosted.test"],
                  "both recipients in its envelope (%r)" % env)
            received = body.split(b"\n\n", 1)[0].split(b"\nFrom:", 1)[0]
            check(b"ESMTPS" in received, "its Received header says ESMTPS (%r)" % received[:200])
            check(body.endswith(b"middle . dot\n\nlast line without LF\n") and
                  b"\n.\n..two dots\n.leading dot\n" in body,
                  "the queued message is the original, unstuffed (%r)" % body[-60:])
        # Not a hosted domain there: smtpd refuses that recipient only.
        rc, lines, err, _ = remote(o, "other.test", "alice@client.test",
                                   ["x@other.test"])
        check(kinds(lines) == "hD" and "553" in lines[0],
              "osd smtpd's 553 for a domain not in rcpthosts: h D (%r)" % lines)
        # A worker: two messages over one STARTTLS connection (the context made once).
        w = Worker(o)
        try:
            got = [w.request("hosted.test", "alice@client.test", ["bob@hosted.test"])
                   for _ in range(2)]
            check([kinds(v) for v in got] == ["rK", "rK"],
                  "worker over STARTTLS: two messages delivered (%r)" % got)
            check(len(wait_for(lambda: len(r.queue_files()) >= 3 and r.queue_files())) == 3,
                  "both in osd smtpd's queue")
            rc, _ = w.close()
            check(rc == 0, "worker exit 0 at EOF")
        finally:
            w.kill()
    finally:
        r.cleanup()


def peak_rss(o, stdin_path, cmd):
    """Run cmd with stdin from a file under GNU time: (exit, stdout lines, peak RSS kB)."""
    out = os.path.join(o.root, "rss")
    with open(stdin_path, "rb") as f:
        p = subprocess.run(["/usr/bin/time", "-o", out, "-f", "%M"] + cmd, stdin=f,
                           capture_output=True, timeout=300)
    try:
        kb = int(open(out).read().split()[-1])
    except (OSError, ValueError, IndexError):
        kb = 0
    return p.returncode, p.stdout.decode(errors="replace").splitlines(), kb


def test_big(o):
    """50 MB streamed: osd-remote's peak RSS stays far below the message size."""
    s = Sink(o.root)
    big = os.path.join(o.root, "big.eml")
    line = b"." + b"0123456789abcdef" * 4 + b"\n"
    with open(big, "wb") as f:
        f.write(b"Subject: big\n\n")
        chunk = line * 16384
        while f.tell() < 50 * 1024 * 1024:
            f.write(chunk)
    try:
        setup(o, "%s:127.0.0.1:%d\n" % (DOM, s.port))
        o.write_control("timeoutremote", "60\n")
        small = os.path.join(o.root, "small.eml")
        with open(small, "wb") as f:
            f.write(MSG)
        rss = {}
        for name, path in (("small", small), ("big", big)):
            t0 = time.monotonic()
            rc, out, kb = peak_rss(o, path, [REMOTE, "-c", o.conf, DOM, "a@client.test",
                                             "bob@example.net"])
            rss[name] = kb
            check(rc == 0 and kinds(out) == "rK", "%s message delivered to smtp-sink (%r %.1fs)"
                  % (name, out, time.monotonic() - t0))
        check(0 < rss["big"] < 40 * 1024 and rss["big"] - rss["small"] < 4 * 1024,
              "peak RSS %d kB for 50 MB, %d kB for a small message" % (rss["big"], rss["small"]))
        size = os.path.getsize(big)

        def big_body():
            bodies = [b for _, b in s.messages() if len(b) >= size]
            return bodies[0] if bodies else None
        body = wait_for(big_body) or b""
        check(len(body) == size and body[-len(line):] == line and body[14:14 + len(line)] == line,
              "the sink got all %d octets, unstuffed (%d)" % (size, len(body)))
    finally:
        s.stop()
        os.unlink(big)


class Worker:
    """osd-remote --worker with pipes: requests in, verdict lines out."""

    def __init__(self, o):
        self.o = o
        self.proc = subprocess.Popen([REMOTE, "-c", o.conf, "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf = b""
        self.n = 0

    def queue_file(self, message=MSG):
        """A queue-like file: an envelope, then the message; (path, offset)."""
        self.n += 1
        path = os.path.join(self.o.root, "qf-%d" % self.n)
        with open(path, "wb") as f:
            f.write(b"envelope that must not be sent\n\n")
            off = f.tell()
            f.write(message)
        return path, off

    def line(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, domain, sender, rcpts, message=MSG):
        path, off = self.queue_file(message)
        self.line("\t".join([path, str(off), domain, sender] + list(rcpts)))
        return self.verdict(len(rcpts) + 1)

    def verdict(self, n, timeout=30):
        """n verdict lines, or what came before the timeout or EOF."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while self.buf.count(b"\n") < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            self.buf += chunk
        lines = self.buf.split(b"\n")
        got, self.buf = lines[:n], b"\n".join(lines[n:])
        return [x.decode(errors="replace") for x in got if x or len(lines) > n]

    def close(self, timeout=10):
        """Close stdin: (exit status, seconds to exit)."""
        t0 = time.monotonic()
        self.proc.stdin.close()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        return rc, time.monotonic() - t0

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if not f.closed:
                f.close()


def verbs(cmds):
    return [c.split(":")[0].split(" ")[0] for c in cmds]


def test_worker_reuse(o):
    """One connection for a domain's messages; RSET after a failure; another domain: QUIT."""
    p = Peer(rcpt=lambda a: b"550 5.1.1 no such user\r\n" if a.startswith("bad")
             else b"250 2.1.5 ok\r\n")
    # The configuration before the worker: it reads it once, at start.
    setup(o, "%s:[127.0.0.1]:%d\nother.test:[127.0.0.1]:%d\n" % (DOM, p.port, p.port))
    w = Worker(o)
    try:
        got = [w.request(DOM, "alice@client.test", ["bob@example.net", "carol@example.net"]),
               w.request(DOM, "#@[]", ["dave@example.net"]),
               w.request(DOM.upper(), "alice@client.test", ["erin@example.net"])]
        check([kinds(v) for v in got] == ["rrK", "rK", "rK"],
              "three requests, three verdicts (%r)" % got)
        check(got[0][0].startswith("r[127.0.0.1] said: 250") and
              got[0][-1].startswith("K[127.0.0.1] said: 250 2.0.0 queued as P1"),
              "the same verdict lines as a single shot (%r)" % got[0])
        check(p.conns == 1 and p.msgs == 3, "one connection for the three messages (%d "
              "connections, %d messages)" % (p.conns, p.msgs))
        check(verbs(p.cmds) == ["EHLO"] + ["MAIL", "RCPT", "RCPT", "DATA"] +
              ["MAIL", "RCPT", "DATA"] * 2,
              "after a good transaction MAIL follows directly, no RSET, no QUIT (%r)"
              % verbs(p.cmds))
        check("MAIL FROM:<>" in [c.split(" SIZE")[0] for c in p.cmds],
              "the double-bounce sender goes as <>")
        check(p.data.endswith(b"last line without LF\r\n.\r\n") and b"envelope" not in p.data,
              "the message from BODY_OFFSET on (%r)" % p.data[:40])

        # A failed transaction: the next one on the same connection starts with RSET.
        got = w.request(DOM, "a@client.test", ["bad@example.net"])
        check(kinds(got) == "hD", "a refused recipient: h D (%r)" % got)
        del p.cmds[:]
        got = w.request(DOM, "a@client.test", ["bob@example.net"])
        check(kinds(got) == "rK" and p.conns == 1, "then delivered on the same connection "
              "(%r, %d connections)" % (got, p.conns))
        check(verbs(p.cmds)[:2] == ["RSET", "MAIL"], "RSET before MAIL after the failure (%r)"
              % verbs(p.cmds))

        # Another domain: QUIT on the cached connection, a new one.
        del p.cmds[:]
        got = w.request("other.test", "a@client.test", ["x@other.test"])
        check(kinds(got) == "rK" and p.conns == 2,
              "another domain: a new connection (%r, %d)" % (got, p.conns))
        check(verbs(p.cmds)[:2] == ["QUIT", "EHLO"], "the old one got QUIT first (%r)"
              % verbs(p.cmds))

        # A missing queue file: a temporary failure, the worker goes on.
        w.line("\t".join([os.path.join(o.root, "nonexistent"), "0", DOM, "a@b", "x@example.net"]))
        got = w.verdict(2)
        check(kinds(got) == "sZ" and "nonexistent" in got[1],
              "a queue file that cannot be opened: s Z (%r)" % got)

        # stdin's EOF: QUIT, exit 0 at once (not after the idle time).
        rc, took = w.close()
        check(rc == 0 and took < 3, "stdin EOF: exit 0 in %.1fs" % took)
        check(p.cmds[-1:] == ["QUIT"], "the cached connection got QUIT (%r)" % p.cmds[-2:])
    finally:
        w.kill()
        p.stop()


def test_worker_dropped(o):
    """The server closes, or says 421, while the connection is cached: reconnect, deliver once."""
    for after, what in ((b"", "closed"), (b"421 4.4.2 idle too long\r\n", "421 and closed")):
        for pipelining in (True, False):
            kw = (b"PIPELINING", b"SIZE 100000000") if pipelining else (b"8BITMIME",)
            p = Peer(after_data=after, keywords=kw)
            setup(o, "%s:[127.0.0.1]:%d\n" % (DOM, p.port))
            w = Worker(o)
            try:
                got = [w.request(DOM, "a@client.test", ["bob@example.net"]) for _ in range(3)]
                check([kinds(v) for v in got] == ["rK"] * 3,
                      "connection %s after each message%s: each delivered (%r)"
                      % (what, "" if pipelining else " (no PIPELINING)", got))
                check(p.msgs == 3 and p.conns == 3,
                      "each message once, each on a new connection (%d messages, %d "
                      "connections)" % (p.msgs, p.conns))
                rc, _ = w.close()
                check(rc == 0, "exit 0 at EOF (%r)" % rc)
            finally:
                w.kill()
                p.stop()


def test_worker_malformed_idle(o):
    """A malformed line; the idle timeout; a line that cannot be answered: exit 111."""
    p = Peer()
    setup(o, "%s:[127.0.0.1]:%d\n" % (DOM, p.port))
    w = Worker(o)
    try:
        w.line("/some/path\tNaN\t%s\ta@b\tx@example.net\ty@example.net" % DOM)
        got = w.verdict(3)
        check(kinds(got) == "ssZ" and "malformed" in got[-1],
              "a bad offset, two recipients: s s Z (%r)" % got)
        got = w.request(DOM, "a@client.test", ["bob@example.net"])
        check(kinds(got) == "rK" and p.conns == 1, "the worker goes on (%r)" % got)

        # Idle: QUIT after 5 s, the worker still there; the next request connects anew.
        time.sleep(6.5)
        check(p.cmds[-1:] == ["QUIT"] and w.proc.poll() is None,
              "5 s idle: QUIT on the cached connection, the worker runs on (%r %r)"
              % (p.cmds[-2:], w.proc.poll()))
        got = w.request(DOM, "a@client.test", ["bob@example.net"])
        check(kinds(got) == "rK" and p.conns == 2, "after the idle close: a new connection "
              "(%r, %d)" % (got, p.conns))

        # No recipient field: no count, so no verdict the queue manager could delimit.
        w.line("garbage")
        try:
            rc = w.proc.wait(10)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 111 and w.verdict(1, timeout=1) == [],
              "a line without recipients: exit 111, no verdict (%r)" % rc)
    finally:
        w.kill()
        p.stop()

    # An overlong line: exit 111 as well.
    w = Worker(o)
    try:
        try:
            w.line("p\t0\td\ts\t" + "r" * 70000)
        except BrokenPipeError:
            pass    # it gave up on the line before reading it all, as it should
        rc = w.proc.wait(10)
        check(rc == 111, "a line over 64 KB: exit 111 (%r)" % rc)
    finally:
        w.kill()

    # Arguments beside --worker are refused.
    r = subprocess.run([REMOTE, "-c", o.conf, "--worker", DOM], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    check(r.returncode == 100, "--worker with arguments: exit 100")


def main():
    if not os.path.exists(REMOTE):
        print("osd-remote not built")
        sys.exit(1)
    for tool in ("smtp-sink", "/usr/bin/time"):
        if not have(tool):
            print(tool + " not installed")
            sys.exit(1)
    o = Osd()
    try:
        test_sink_delivery(o)
        test_sink_refusals(o)
        test_peer_wire(o)
        test_failures(o)
        test_mx(o)
        test_starttls(o)
        test_big(o)
        test_worker_reuse(o)
        test_worker_dropped(o)
        test_worker_malformed_idle(o)
    finally:
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
