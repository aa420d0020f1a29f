#!/usr/bin/env python3
"""osd smtpd with real clients: swaks, Python smtplib, curl's smtp:// upload,
and raw sockets for exact bytes.

EHLO keywords; AUTH PLAIN, LOGIN and CRAM-MD5 (right and wrong passwords, and
that AUTH opens relaying); STARTTLS (swaks --tls, smtplib.starttls) and the
538 refusal of plaintext AUTH when loopback is not trusted; implicit TLS;
pipelining (several messages on one connection, a raw batch answered in
order); SIZE declared and undeclared; the 100-recipient limit; bare LF and
SMTP smuggling; overlong lines; dot-stuffing; the Received header; VRFY,
unknown and out-of-order commands, too many errors (smtp_max_errors) and
too many failed AUTH exchanges (smtp_max_auth_failures); the submission port's
AUTH requirement; badmailfrom, rcpthosts and morercpthosts (edits count for
the next connection); unknown virtual users; a deny rule; smtp_max_per_ip;
timeoutsmtpd between commands and in DATA; SIGHUP; and a 250-acknowledged
message surviving kill -9 of the whole server.  CRAM-MD5 is accepted but only
listed with advertise_cram_md5 = yes (docs/config.md).
"""
import base64
import hashlib
import hmac
import os
import re
import signal
import smtplib
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, SmtpRaw, check, children_of, finish, free_port,  # noqa: E402
                     have, make_cert, wait_for, wait_port)

DOM = "example.test"         # a virtual domain (users made with osd user add), in rcpthosts
HOSTED = "hosted.test"       # in rcpthosts, no vpasswd: any local part accepted
ME = "mx.example.test"
DATABYTES = 20000
T = 20                       # client timeouts (functional bound)
QMAIL_RCPTHOSTS = "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"
QMAIL_BMF = "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)"


def add_user(o, login, password, flags=None, cleartext=None):
    p = o.run("user", "add", login, input=password + "\n")
    check(p.returncode == 0, "osd user add %s (%s)" % (login, p.stderr.strip()))
    user, dom = login.split("@")
    if flags is None and cleartext is None:
        return
    # vpopmail: gid field = flag mask, 8th field = cleartext password.
    path = os.path.join(o.state, "domains", dom, "vpasswd")
    lines = open(path).read().splitlines()
    for i, line in enumerate(lines):
        f = line.split(":")
        if f[0] == user:
            if flags is not None:
                f[3] = str(flags)
            if cleartext is not None:
                f = f[:7] + [cleartext]
            lines[i] = ":".join(f)
    open(path, "w").write("\n".join(lines) + "\n")


def swaks(port, src, *args):
    cmd = ["swaks", "--server", "127.0.0.1:%d" % port, "--local-interface", src,
           "--helo", "client.test", "--from", "sender@client.test", "--timeout", str(T)]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def smtp(port, src, ssl_ctx=None):
    if ssl_ctx is not None:
        return smtplib.SMTP_SSL("127.0.0.1", port, local_hostname="client.test", timeout=T,
                                source_address=(src, 0), context=ssl_ctx)
    return smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=T,
                        source_address=(src, 0))


def queued_id(text):
    m = re.search(r"queued as ([0-9A-Za-z.]+)", text if isinstance(text, str)
                  else text.decode(errors="replace"))
    return m.group(1) if m else None


def send_raw_message(r, sender, rcpts, body):
    """MAIL/RCPT/DATA one at a time on SmtpRaw r; returns the final (code, text)."""
    c, t = r.cmd("MAIL FROM:<%s>" % sender)
    if c != 250:
        return c, t
    for x in rcpts:
        r.cmd("RCPT TO:<%s>" % x)
    c, t = r.cmd("DATA")
    if c != 354:
        return c, t
    r.send(body)
    return r.reply()


def cram(port, src, user, secret, rcpt=None):
    """AUTH CRAM-MD5 by hand: the AUTH reply, or with rcpt the RCPT reply after it."""
    r = SmtpRaw(port, src)
    r.cmd("EHLO client.test")
    c, t = r.cmd("AUTH CRAM-MD5")
    if c != 334:
        r.close()
        return c, t
    chal = base64.b64decode(t[4:])
    digest = hmac.new(secret.encode(), chal, hashlib.md5).hexdigest()
    c, t = r.cmd(base64.b64encode(("%s %s" % (user, digest)).encode()).decode())
    if c == 235 and rcpt is not None:
        r.cmd("MAIL FROM:<%s>" % user)
        c, t = r.cmd("RCPT TO:<%s>" % rcpt)
    r.cmd("QUIT")
    r.close()
    return c, t


def rcpt_reply(port, src, rcpt):
    r = SmtpRaw(port, src)
    r.cmd("EHLO client.test")
    r.cmd("MAIL FROM:<a@client.test>")
    c, t = r.cmd("RCPT TO:<%s>" % rcpt)
    r.cmd("QUIT")
    r.close()
    return c, t


def conf_text(o, smtp_port, sub_port, smtps_port, cert, key, extra=""):
    s = ("smtp_listen = 127.0.0.1:%d\nsubmission_listen = 127.0.0.1:%d\n"
         % (smtp_port, sub_port))
    if smtps_port:
        s += "smtps_listen = 127.0.0.1:%d\n" % smtps_port
    if cert:
        s += "tls_cert = %s\ntls_key = %s\n" % (cert, key)
    return s + extra


def main():
    o = Osd(rules="127.0.0.7:deny\n")
    o2 = o3 = None
    try:
        cert, key = make_cert(o.root)
        port, sub, sps = free_port(), free_port(), free_port()
        o.write_conf("3h", conf_text(o, port, sub, sps, cert, key,
                                     "control_dir = control\ndefault_domain = %s\n"
                                     "smtp_max_per_ip = 5\n" % DOM))
        o.write_control("me", ME + "\n")
        o.write_control("rcpthosts", "%s\n%s\n" % (DOM, HOSTED))
        o.write_control("badmailfrom", "spammer@bad.test\n@evil.test\n")
        o.write_control("databytes", "%d\n" % DATABYTES)
        add_user(o, "alice@" + DOM, "alice-pw")
        add_user(o, "carol@" + DOM, "carol-pw", cleartext="carol-clear")
        add_user(o, "nosmtp@" + DOM, "nosmtp-pw", flags=0x800)
        add_user(o, "norelay@" + DOM, "norelay-pw", flags=0x20)
        w = o.start_watch()
        check(w.poll() is None and os.path.exists(o.cdb), "osd watch writes relay.cdb")
        d = o.start_smtpd(port, sub, sps)
        check(d.poll() is None and wait_port(port, d) and wait_port(sub, d) and wait_port(sps, d),
              "osd smtpd listens on smtp, submission and smtps ports (%s)"
              % o.log("smtpd").strip()[-300:])
        if d.poll() is not None:
            return
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False

        test_ehlo(o, port)
        test_auth(o, port)
        test_auth_limit(o, port, 3)
        test_tls(o, port, sps, ctx)
        # Instances sharing users and control files: no certificate; loopback not trusted.
        o2 = Osd()
        p2 = free_port()
        o2.write_conf("3h", conf_text(o2, p2, free_port(), 0, None, None,
                                      "control_dir = %s\nusers_dir = %s\n"
                                      "advertise_cram_md5 = yes\n"
                                      "smtp_max_auth_failures = 2\nsmtp_max_errors = 5\n"
                                      % (o.control, os.path.join(o.state, "domains"))))
        o2.start_watch()
        test_no_cert(o2, p2)
        o3 = Osd()
        p3 = free_port()
        o3.write_conf("3h", conf_text(o3, p3, free_port(), 0, cert, key,
                                      "control_dir = %s\nusers_dir = %s\n"
                                      "smtp_loopback_plaintext = no\n"
                                      % (o.control, os.path.join(o.state, "domains"))))
        o3.start_watch()
        test_plaintext_refused(o3, p3, ctx)
        test_pipelining(o, port)
        test_curl(o, port)
        test_size(o, port)
        test_rcpt_limit(o, port)
        test_data_checks(o, port)
        test_commands(o, port)
        test_submission(o, sub)
        test_policy(o, port)
        test_limits(o, port)
        test_edges(o, port)
        # Before kill -9 (which makes the server log the killed session).
        check("died of signal" not in o.log("smtpd") and "AddressSanitizer" not in o.log("smtpd"),
              "no session process crashed")
        test_kill9(o, port, d)
    finally:
        for x in (o, o2, o3):
            if x is None:
                continue
            for p in x.procs:
                x.stop(p)
            x.cleanup()


def test_ehlo(o, port):
    s = smtp(port, "127.0.0.2")
    code, banner = s.ehlo()
    f = s.esmtp_features
    check(code == 250, "EHLO answers 250")
    check("pipelining" in f, "EHLO offers PIPELINING")
    check(f.get("size") == str(DATABYTES), "EHLO offers SIZE %d from control/databytes (%r)"
          % (DATABYTES, f.get("size")))
    check("8bitmime" in f, "EHLO offers 8BITMIME")
    check("enhancedstatuscodes" in f, "EHLO offers ENHANCEDSTATUSCODES")
    check("starttls" in f, "EHLO offers STARTTLS with a certificate")
    auth = f.get("auth", "").upper().split()
    check({"PLAIN", "LOGIN"} <= set(auth), "EHLO offers AUTH PLAIN LOGIN to a loopback client (%r)"
          % auth)
    # docs/config.md advertise_cram_md5 (default no): accepted, not listed.
    check("CRAM-MD5" not in auth, "CRAM-MD5 is not listed by default")
    check(banner.decode().startswith(ME), "EHLO reply names control/me (%r)" % banner[:40])
    s.quit()
    r = SmtpRaw(port, "127.0.0.2")
    check(r.greeting[0] == 220 and ME in r.greeting[1] and "ESMTP" in r.greeting[1],
          "greeting 220 %s ESMTP (%r)" % (ME, r.greeting[1]))
    c, t = r.cmd("HELO client.test")
    check(c == 250 and "PIPELINING" not in t, "HELO answers one plain 250 line")
    r.cmd("QUIT")
    r.close()


def test_auth(o, port):
    remote = "someone@remote.example"
    # Without AUTH a loopback client is no relay client (no rule in tcp.smtp).
    rc, out = swaks(port, "127.0.0.3", "--to", remote)
    check(rc != 0 and QMAIL_RCPTHOSTS in out,
          "no AUTH: remote recipient refused with qmail's rcpthosts text (rc %d)" % rc)
    for i, mech in enumerate(["PLAIN", "LOGIN"]):
        before = set(o.queue_files())
        rc, out = swaks(port, "127.0.0.3", "--to", remote, "--auth", mech,
                        "--auth-user", "alice@" + DOM, "--auth-password", "alice-pw")
        new = set(o.queue_files()) - before
        check(rc == 0 and "235 2.7.0" in out and "250 2.0.0 Ok: queued as" in out,
              "swaks AUTH %s: 235, then relays to %s (rc %d)" % (mech, remote, rc))
        qid = queued_id(out)
        if check(qid in new, "AUTH %s: the relayed message is in queue/new (%s)" % (mech, qid)):
            env, body = o.queue_read(qid)
            check(env.get("to") == [remote] and env.get("auth") == ["alice@" + DOM] and
                  env.get("client") == ["127.0.0.3"],
                  "AUTH %s: envelope to=%s auth=alice client=127.0.0.3 (%r)" % (mech, remote, env))
            check(b"with ESMTPA" in body.split(b"\n\n")[0],
                  "AUTH %s: Received says 'with ESMTPA'" % mech)
        # Wrong password: its own source address (failures slow down per address).
        rc, out = swaks(port, "127.0.0.%d" % (30 + i), "--to", remote, "--auth", mech,
                        "--auth-user", "alice@" + DOM, "--auth-password", "wrong-pw")
        check(rc != 0 and "535 5.7.8" in out and "queued as" not in out,
              "swaks AUTH %s with a wrong password: 535 5.7.8 (rc %d)" % (mech, rc))
    # A bare user name takes default_domain.
    rc, out = swaks(port, "127.0.0.3", "--to", remote, "--auth", "PLAIN",
                    "--auth-user", "alice", "--auth-password", "alice-pw", "--quit-after", "AUTH")
    check(rc == 0 and "235 2.7.0" in out, "AUTH PLAIN with a bare user name (default_domain)")
    # CRAM-MD5 is accepted though not listed: a raw exchange (swaks wants it listed: see
    # test_no_cert, whose instance sets advertise_cram_md5 = yes).
    c, t = cram(port, "127.0.0.3", "carol@" + DOM, "carol-clear")
    check(c == 235, "raw AUTH CRAM-MD5 with the vpasswd cleartext: 235 (%d %r)" % (c, t))
    c, t = cram(port, "127.0.0.32", "carol@" + DOM, "not-carol")
    check(c == 535, "raw AUTH CRAM-MD5 with a wrong secret: 535 (%d)" % c)
    c, t = cram(port, "127.0.0.33", "alice@" + DOM, "alice-pw")
    check(c == 535, "AUTH CRAM-MD5 for a user without a cleartext password: 535 (%d)" % c)
    c, t = cram(port, "127.0.0.3", "carol@" + DOM, "carol-clear", rcpt=remote)
    check(c == 250, "after AUTH CRAM-MD5 a remote recipient is accepted (%d %r)" % (c, t))
    rc, out = swaks(port, "127.0.0.34", "--to", remote, "--auth", "PLAIN",
                    "--auth-user", "nosmtp@" + DOM, "--auth-password", "nosmtp-pw")
    check(rc != 0 and "535 5.7.8" in out, "a NO_SMTP (0x800) user's AUTH is refused: 535")
    rc, out = swaks(port, "127.0.0.35", "--to", remote, "--auth", "PLAIN",
                    "--auth-user", "norelay@" + DOM, "--auth-password", "norelay-pw")
    check("235 2.7.0" in out and QMAIL_RCPTHOSTS in out,
          "a NO_RELAY (0x20) user authenticates but may not relay (553)")
    rc, out = swaks(port, "127.0.0.36", "--to", remote, "--auth", "PLAIN",
                    "--auth-user", "ghost@" + DOM, "--auth-password", "x")
    check(rc != 0 and "535 5.7.8" in out, "AUTH for an unknown user: 535")
    log = o.log("smtpd")
    check("wrong-pw" not in log and "not-carol" not in log, "passwords never reach the log")
    # AUTH on an SMTP connection, raw: cancel, bad base64, unknown mechanism.
    r = SmtpRaw(port, "127.0.0.3")
    r.cmd("EHLO client.test")
    c1, _ = r.cmd("AUTH FOO")
    r.cmd("AUTH LOGIN")
    c2, _ = r.cmd("*")
    c3, _ = r.cmd("AUTH PLAIN !!!notbase64")
    check(c1 == 504 and c2 == 501 and c3 == 501,
          "AUTH: unknown mechanism 504, '*' cancels 501, bad base64 501 (%d %d %d)" % (c1, c2, c3))
    r.close()


def test_tls(o, port, sps, ctx):
    before = set(o.queue_files())
    rc, out = swaks(port, "127.0.0.4", "--tls", "--to", "alice@" + DOM)
    check(rc == 0 and "TLS started" in out and "queued as" in out,
          "swaks --tls: STARTTLS, then a message to a local user is queued (rc %d)" % rc)
    rc, out = swaks(port, "127.0.0.4", "--tls", "--to", "x@remote.example", "--auth", "LOGIN",
                    "--auth-user", "alice@" + DOM, "--auth-password", "alice-pw")
    check(rc == 0 and "235 2.7.0" in out and "queued as" in out,
          "swaks --tls with AUTH LOGIN relays (rc %d)" % rc)
    qid = queued_id(out)
    if qid in o.queue_files():
        env, body = o.queue_read(qid)
        check(b"with ESMTPSA" in body.split(b"\n\n")[0],
              "Received of a TLS + AUTH message says 'with ESMTPSA'")
    s = smtp(port, "127.0.0.4")
    s.ehlo()
    code, _ = s.starttls(context=ctx)
    check(code == 220, "smtplib starttls: 220")
    s.ehlo()
    check("starttls" not in s.esmtp_features, "after STARTTLS, EHLO no longer offers STARTTLS")
    check(s.sock.version() in ("TLSv1.2", "TLSv1.3"), "STARTTLS negotiates %s" % s.sock.version())
    s.login("alice@" + DOM, "alice-pw")
    code, msg = s.mail("sender@client.test")
    s.rcpt("bob@remote.example")
    code, msg = s.data(b"Subject: over tls\r\n\r\nsecret\r\n")
    check(code == 250 and queued_id(msg) in o.queue_files(),
          "smtplib over STARTTLS: login, relay, queued (%r)" % msg)
    code, msg = s.docmd("STARTTLS")
    check(code == 503, "a second STARTTLS: 503 (%d)" % code)
    s.quit()
    check(len(set(o.queue_files()) - before) == 3, "three messages queued over TLS")

    # Commands pipelined after STARTTLS are not run inside TLS (RFC 3207 4.2).
    r = SmtpRaw(port, "127.0.0.4")
    r.cmd("EHLO client.test")
    r.send("STARTTLS\r\nMAIL FROM:<injected@client.test>\r\n")
    c, _ = r.reply()
    ts = ctx.wrap_socket(r.sock, server_hostname="localhost")
    ts.sendall(b"RCPT TO:<alice@%s>\r\n" % DOM.encode())
    first = ts.recv(4096)
    check(c == 220 and first.startswith(b"503"),
          "MAIL pipelined after STARTTLS was discarded: RCPT inside TLS gets 503 (%r)" % first[:50])
    ts.close()

    # Implicit TLS (smtps_listen).
    s = smtp(sps, "127.0.0.4", ssl_ctx=ctx)
    s.ehlo()
    check("starttls" not in s.esmtp_features and
          "PLAIN" in s.esmtp_features.get("auth", "").upper(),
          "SMTP_SSL: no STARTTLS offered, AUTH PLAIN offered (%r)" % s.esmtp_features)
    code, _ = s.login("alice@" + DOM, "alice-pw")
    s.mail("sender@client.test")
    s.rcpt("dave@remote.example")
    code, msg = s.data(b"Subject: smtps\r\n\r\nimplicit tls\r\n")
    check(code == 250 and queued_id(msg) in o.queue_files(),
          "smtplib.SMTP_SSL on smtps_listen: AUTH, relay, queued (%r)" % msg)
    s.quit()


def test_no_cert(o2, p2):
    d = o2.start_smtpd(p2)
    if not check(d.poll() is None, "a second smtpd without a certificate starts"):
        return
    s = smtp(p2, "127.0.0.2")
    s.ehlo()
    check("starttls" not in s.esmtp_features, "no certificate: EHLO does not offer STARTTLS")
    code, _ = s.docmd("STARTTLS")
    check(code == 502, "no certificate: STARTTLS gets 502 (%d)" % code)
    auth = s.esmtp_features.get("auth", "").upper().split()
    check("PLAIN" in auth, "no certificate: AUTH PLAIN still offered to loopback")
    check("CRAM-MD5" in auth, "advertise_cram_md5 = yes: EHLO lists CRAM-MD5 (%r)" % auth)
    s.quit()
    remote = "someone@remote.example"
    rc, out = swaks(p2, "127.0.0.38", "--to", remote, "--auth", "CRAM-MD5",
                    "--auth-user", "carol@" + DOM, "--auth-password", "carol-clear")
    check(rc == 0 and "235 2.7.0" in out and "queued as" in out,
          "swaks AUTH CRAM-MD5 (vpasswd cleartext): 235 and relayed (rc %d)" % rc)
    rc, out = swaks(p2, "127.0.0.39", "--to", remote, "--auth", "CRAM-MD5",
                    "--auth-user", "carol@" + DOM, "--auth-password", "not-carol")
    check(rc != 0 and "535 5.7.8" in out, "swaks AUTH CRAM-MD5 with a wrong secret: 535")
    test_auth_limit(o2, p2, 2)
    test_error_limit(p2, "127.0.0.70", 5)
    # SIGHUP re-reads the caps (the later line of a key wins).
    with open(o2.conf, "a") as f:
        f.write("smtp_max_auth_failures = 1\nsmtp_max_errors = 3\n")
    n = o2.log("smtpd").count("SIGHUP: configuration re-read")
    d.send_signal(signal.SIGHUP)
    check(wait_for(lambda: o2.log("smtpd").count("SIGHUP: configuration re-read") > n),
          "smtpd logs the SIGHUP")
    test_auth_limit(o2, p2, 1)
    test_error_limit(p2, "127.0.0.71", 3)


def plain(user, password):
    """An smtplib authobject for AUTH PLAIN with an initial response."""
    return lambda challenge=None: "\0%s\0%s" % (user, password)


def test_auth_limit(o, port, limit):
    """smtp_max_auth_failures (limit): the limit-th failed AUTH exchange gets its
    535, then 421 4.7.0, and the server closes the connection; fewer failures
    leave the session open and a right password then works."""
    src = "127.0.0.%d" % (50 + limit)
    s = smtp(port, src)
    s.ehlo()
    codes = []
    for _ in range(limit):
        try:
            codes.append(s.auth("PLAIN", plain("alice@" + DOM, "wrong-pw")))
        except smtplib.SMTPAuthenticationError as e:
            codes.append(e.smtp_code)
    code, text = s.getreply()
    try:
        s.noop()
        closed = False
    except smtplib.SMTPServerDisconnected:
        closed = True
    check(codes == [535] * limit and code == 421 and
          text.decode().startswith("4.7.0 %s Error: too many failed authentications" % ME) and
          closed,
          "smtplib: %d failed AUTH PLAIN: 535 each, then 421 4.7.0 ... too many failed "
          "authentications and the connection closed (%r, %d %r, closed %r)"
          % (limit, codes, code, text, closed))
    s.close()
    log = o.log("smtpd")
    check(log.count("auth failed: addr=%s " % src) == limit and
          re.search(r"session: addr=%s .* end=closed" % re.escape(src), log),
          "each failed AUTH is logged, and the session's end (%d)"
          % log.count("auth failed: addr=%s " % src))
    # limit - 1 failures (the failed-login delay before each), then the right password.
    src = "127.0.0.%d" % (60 + limit)
    s = smtp(port, src)
    s.ehlo()
    fails = 0
    for _ in range(limit - 1):
        try:
            s.auth("PLAIN", plain("alice@" + DOM, "wrong-pw"))
        except smtplib.SMTPAuthenticationError as e:
            fails += e.smtp_code == 535
    # One mechanism by name: smtplib's login() tries each offered one in turn
    # (CRAM-MD5 first where advertised), and each refusal is a failure too.
    code, _ = s.auth("PLAIN", plain("alice@" + DOM, "alice-pw"))
    refused = s.sendmail("alice@" + DOM, ["someone@remote.example"], b"Subject: t\r\n\r\nhi\r\n")
    check(fails == limit - 1 and code == 235 and refused == {},
          "smtplib: %d failed AUTH, then the right password: 235 and a relayed message "
          "(%d failures, %d)" % (limit - 1, fails, code))
    s.quit()


def test_error_limit(port, src, limit):
    """smtp_max_errors: the limit-th error reply is followed by 421 4.7.0 and the end."""
    r = SmtpRaw(port, src)
    r.cmd("EHLO client.test")
    codes = [r.cmd("XYZZY%d" % n)[0] for n in range(limit)]
    last = r.reply()
    check(codes == [502] * limit and
          last == (421, "421 4.7.0 %s Error: too many errors, closing the connection" % ME) and
          r.eof(),
          "smtp_max_errors = %d: %d x 502, the last followed by 421 4.7.0 ... too many errors, "
          "and the connection closes (%r %r)" % (limit, limit, codes, last))
    r.close()


def test_plaintext_refused(o3, p3, ctx):
    d = o3.start_smtpd(p3)
    if not check(d.poll() is None, "a third smtpd with smtp_loopback_plaintext = no starts"):
        return
    s = smtp(p3, "127.0.0.2")
    s.ehlo()
    auth = s.esmtp_features.get("auth", "").upper().split()
    check("PLAIN" not in auth and "LOGIN" not in auth,
          "loopback not trusted: EHLO before TLS hides AUTH PLAIN/LOGIN (%r)" % auth)
    code, msg = s.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==")
    check(code == 538, "AUTH PLAIN without TLS: 538 (%d %r)" % (code, msg))
    code, msg = s.docmd("AUTH", "LOGIN")
    check(code == 538, "AUTH LOGIN without TLS: 538 (%d)" % code)
    s.starttls(context=ctx)
    s.ehlo()
    check("PLAIN" in s.esmtp_features.get("auth", "").upper(),
          "after STARTTLS, AUTH PLAIN is offered")
    code, msg = s.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABhbGljZS1wdw==")
    check(code == 235, "after STARTTLS, AUTH PLAIN works: 235 (%d %r)" % (code, msg))
    s.quit()
    rc, out = swaks(p3, "127.0.0.37", "--to", "x@remote.example", "--auth", "PLAIN",
                    "--auth-user", "alice@" + DOM, "--auth-password", "alice-pw")
    check(rc != 0 and "queued as" not in out, "swaks AUTH PLAIN without --tls fails")
    rc, out = swaks(p3, "127.0.0.37", "--tls", "--to", "x@remote.example", "--auth", "PLAIN",
                    "--auth-user", "alice@" + DOM, "--auth-password", "alice-pw")
    check(rc == 0 and "235 2.7.0" in out and "queued as" in out,
          "swaks --tls AUTH PLAIN relays (rc %d)" % rc)
    # SIGHUP re-reads smtp_loopback_plaintext: no restart needed to trust loopback again.
    with open(o3.conf) as f:
        text = f.read()
    with open(o3.conf, "w") as f:
        f.write(text.replace("smtp_loopback_plaintext = no", "smtp_loopback_plaintext = yes"))
    seen = o3.log("smtpd").count("configuration re-read")
    os.kill(d.pid, signal.SIGHUP)
    check(wait_for(lambda: o3.log("smtpd").count("configuration re-read") > seen),
          "smtpd logs that SIGHUP re-read the configuration")
    s = smtp(p3, "127.0.0.2")
    s.ehlo()
    check("PLAIN" in s.esmtp_features.get("auth", "").upper() and d.poll() is None,
          "after SIGHUP with smtp_loopback_plaintext = yes, plaintext AUTH PLAIN is offered")
    s.quit()


def test_pipelining(o, port):
    # Several messages on one connection (smtplib).
    s = smtp(port, "127.0.0.5")
    s.ehlo()
    ids = []
    for i in range(5):
        s.mail("sender@client.test")
        s.rcpt("alice@" + DOM)
        code, msg = s.data(("Subject: m%d\r\n\r\nmessage number %d\r\n" % (i, i)).encode())
        ids.append(queued_id(msg) if code == 250 else None)
    s.quit()
    check(all(ids) and len(set(ids)) == 5 and all(x in o.queue_files() for x in ids),
          "five messages on one smtplib connection, five queue files (%r)" % ids)
    bodies = [o.queue_read(x)[1] for x in ids if x in o.queue_files()]
    check(all(b"message number %d\n" % i in b for i, b in enumerate(bodies)),
          "each queue file holds its own message")

    # A raw pipelined batch: one send, replies in order.
    r = SmtpRaw(port, "127.0.0.5")
    r.cmd("EHLO client.test")
    r.send("MAIL FROM:<sender@client.test>\r\nRCPT TO:<alice@%s>\r\n"
           "RCPT TO:<nobody@remote.example>\r\nRCPT TO:<x@%s>\r\nDATA\r\n" % (DOM, HOSTED))
    codes = [r.reply()[0] for _ in range(5)]
    check(codes == [250, 250, 553, 250, 354],
          "pipelined MAIL/RCPT/RCPT/RCPT/DATA answered in order 250 250 553 250 354 (%r)" % codes)
    # End of data and the next transaction in one send.
    r.send("Subject: batch 1\r\n\r\nfirst\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<alice@%s>\r\nDATA\r\n"
           % DOM)
    replies = [r.reply() for _ in range(4)]
    codes = [x[0] for x in replies]
    check(codes == [250, 250, 250, 354],
          "data end + MAIL/RCPT/DATA in one send: 250 250 250 354 (%r)" % codes)
    id1 = queued_id(replies[0][1])
    r.send("Subject: batch 2\r\n\r\nsecond\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
    replies = [r.reply() for _ in range(4)]
    codes = [x[0] for x in replies]
    check(codes == [250, 250, 250, 221] and r.eof(),
          "data end + RSET/NOOP/QUIT: 250 250 250 221, then closed (%r)" % codes)
    id2 = queued_id(replies[0][1])
    r.close()
    if check(id1 in o.queue_files() and id2 in o.queue_files(), "both batch messages queued"):
        e1, b1 = o.queue_read(id1)
        e2, b2 = o.queue_read(id2)
        check(e1.get("to") == ["alice@" + DOM, "x@" + HOSTED] and b"first\n" in b1,
              "batch 1: the two accepted recipients, not the refused one (%r)" % e1.get("to"))
        check(e2.get("from") == [""] and b"second\n" in b2,
              "batch 2: null sender <> kept (%r)" % e2.get("from"))


def test_curl(o, port):
    path = os.path.join(o.root, "upload.eml")
    with open(path, "wb") as f:
        f.write(b"Subject: by curl\r\n\r\nuploaded with curl\r\n.leading dot\r\n")
    before = set(o.queue_files())
    p = subprocess.run(["curl", "-s", "-S", "--max-time", str(T), "--interface", "127.0.0.6",
                        "smtp://127.0.0.1:%d" % port, "--mail-from", "a@client.test",
                        "--mail-rcpt", "alice@" + DOM, "-T", path],
                       capture_output=True, timeout=120)
    new = sorted(set(o.queue_files()) - before)
    check(p.returncode == 0 and len(new) == 1, "curl smtp:// upload queues one message (rc %d, %r)"
          % (p.returncode, p.stderr[-200:]))
    if new:
        env, body = o.queue_read(new[0])
        check(env.get("from") == ["a@client.test"] and env.get("to") == ["alice@" + DOM] and
              b"uploaded with curl\n.leading dot\n" in body,
              "curl's message arrives with its envelope and its dotted line unstuffed")
    p = subprocess.run(["curl", "-s", "-S", "--max-time", str(T), "--interface", "127.0.0.6",
                        "smtp://127.0.0.1:%d" % port, "--mail-from", "a@client.test",
                        "--mail-rcpt", "x@remote.example", "-T", path],
                       capture_output=True, timeout=120)
    check(p.returncode != 0 and len(set(o.queue_files()) - before) == 1,
          "curl to a remote recipient from a non-relay client fails, nothing queued (rc %d)"
          % p.returncode)


def test_size(o, port):
    r = SmtpRaw(port, "127.0.0.8")
    r.cmd("EHLO client.test")
    c, t = r.cmd("MAIL FROM:<sender@client.test> SIZE=%d" % (DATABYTES + 1))
    check(c == 552, "MAIL with SIZE over databytes: 552 (%d %r)" % (c, t))
    c, t = r.cmd("MAIL FROM:<sender@client.test> SIZE=1000")
    check(c == 250, "MAIL with a small SIZE: 250")
    r.cmd("RSET")
    before = set(o.queue_files())
    big = b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * (DATABYTES // 72 + 50) + b".\r\n"
    c, t = send_raw_message(r, "sender@client.test", ["alice@" + DOM], big)
    check(c == 552, "undeclared message over databytes: 552 after the data (%d %r)" % (c, t))
    check(set(o.queue_files()) == before, "the oversized message is not queued")
    c, t = r.cmd("NOOP")
    check(c == 250, "the session goes on after the 552")
    small = b"Subject: small\r\n\r\n" + (b"y" * 70 + b"\r\n") * 100 + b".\r\n"
    c, t = send_raw_message(r, "sender@client.test", ["alice@" + DOM], small)
    check(c == 250, "a message under databytes on the same connection: 250")
    r.cmd("QUIT")
    r.close()


def test_rcpt_limit(o, port):
    r = SmtpRaw(port, "127.0.0.9")
    r.cmd("EHLO client.test")
    r.cmd("MAIL FROM:<sender@client.test>")
    # Pipelined in one send, as a client with PIPELINING would.
    r.send("".join("RCPT TO:<u%d@%s>\r\n" % (i, HOSTED) for i in range(101)))
    codes = [r.reply()[0] for _ in range(101)]
    check(codes[:100] == [250] * 100, "100 recipients accepted (%r)" % sorted(set(codes[:100])))
    check(codes[100] == 452, "the 101st recipient: 452 (%d)" % codes[100])
    c, t = r.cmd("DATA")
    r.send("Subject: many\r\n\r\nhello all\r\n.\r\n")
    c, t = r.reply()
    qid = queued_id(t)
    if check(c == 250 and qid in o.queue_files(), "the message to 100 recipients is queued"):
        env, _ = o.queue_read(qid)
        check(len(env.get("to", [])) == 100, "its envelope lists 100 recipients (%d)"
              % len(env.get("to", [])))
    r.cmd("QUIT")
    r.close()


def test_data_checks(o, port):
    before = set(o.queue_files())
    r = SmtpRaw(port, "127.0.0.10")
    r.cmd("EHLO client.test")
    c, t = send_raw_message(r, "s@client.test", ["alice@" + DOM],
                            b"Subject: lf\r\n\r\nline one\nline two\r\n.\r\n")
    check(500 <= c < 600, "a bare LF in DATA: 5xx (%d %r)" % (c, t))
    # Smuggling: "\n.\n" and "\r\n.\n" do not end the data; what follows is no command.
    c, t = send_raw_message(r, "s@client.test", ["alice@" + DOM],
                            b"Subject: smuggle\r\n\r\nhi\n.\nMAIL FROM:<evil@client.test>\r\n"
                            b"RCPT TO:<alice@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n")
    c2, t2 = r.cmd("NOOP")
    check(500 <= c < 600 and c2 == 250,
          "'<LF>.<LF>' does not end DATA: one 5xx for the whole, then NOOP 250 (%d %d %r)"
          % (c, c2, t2))
    c, t = send_raw_message(r, "s@client.test", ["alice@" + DOM],
                            b"Subject: smuggle2\r\n\r\nhi\r\n.\nMAIL FROM:<evil2@client.test>\r\n"
                            b"RCPT TO:<alice@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n")
    c2, t2 = r.cmd("NOOP")
    check(500 <= c < 600 and c2 == 250,
          "'<CR><LF>.<LF>' does not end DATA either (%d %d %r)" % (c, c2, t2))
    c, t = send_raw_message(r, "s@client.test", ["alice@" + DOM],
                            b"Subject: cr\r\n\r\nbare\rcr\r\n.\r\n")
    check(500 <= c < 600, "a bare CR in DATA: 5xx (%d)" % c)
    # The other end-of-data look-alikes (issue 15), and NUL: each hides a
    # second transaction after it; one 550 for the whole, then the session
    # is where it was (NOOP 250), and no second message exists.
    smuggled = (b"MAIL FROM:<evil@client.test>\r\nRCPT TO:<alice@example.test>\r\n"
                b"DATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
    for name, fake, code in (("<CR>.<CR>", b"\r.\r", "5.6.11"),
                             ("<CR><LF>.<CR>", b"\r\n.\r", "5.6.11"),
                             ("<LF>.<CR><LF>", b"\n.\r\n", "5.6.11"),
                             ("<CR><LF>.<CR><CR><LF>", b"\r\n.\r\r\n", "5.6.11"),
                             ("<CR><LF>.<NUL><CR><LF>", b"\r\n.\0\r\n", "5.6.0"),
                             ("<CR><LF><NUL>.<CR><LF>", b"\r\n\0.\r\n", "5.6.0")):
        c, t = send_raw_message(r, "s@client.test", ["alice@" + DOM],
                                b"Subject: fake end\r\n\r\nhi" + fake + smuggled)
        c2, t2 = r.cmd("NOOP")
        check(c == 550 and code in t and c2 == 250,
              "'%s' does not end DATA: one 550 %s for the whole, then NOOP 250 (%d %r / %d)"
              % (name, code, c, t, c2))
    c, t = send_raw_message(r, "s@client.test", ["alice@" + DOM],
                            b"Subject: nul\r\n\r\nbinary\0zero\r\n.\r\n")
    check(c == 550 and "5.6.0" in t and "NUL" in t, "a NUL octet in DATA: 550 5.6.0 (%d %r)" % (c, t))
    # Commands: NUL and a CR inside a command are bad characters.
    for name, line in (("NUL", b"MAIL FROM:<a@client.test>\0RCPT TO:<b@client.test>\r\n"),
                       ("a bare CR", b"MAIL FROM:<a@client.test>\rRCPT TO:<b@client.test>\r\n")):
        r.send(line)
        c, t = r.reply()
        c2, _ = r.cmd("RCPT TO:<alice@example.test>")
        check(c == 500 and c2 == 503, "%s inside a command: 500, not obeyed (%d %r / %d)"
              % (name, c, t, c2))
    # A bare LF line end: refused and the connection closed, as Postfix's
    # smtpd_forbid_bare_newline = reject does (Debian's 3.7 seen doing it).
    lf = SmtpRaw(port, "127.0.0.10")
    lf.cmd("EHLO client.test")
    lf.send(b"MAIL FROM:<lf@client.test>\nRCPT TO:<alice@example.test>\r\n")
    c, t = lf.reply()
    check(c == 550 and t.startswith("550 5.5.2 %s Error: bare <LF> received" % ME) and lf.eof(),
          "a command ending in a bare LF: 550 5.5.2 <me> Error: bare <LF> received, and the "
          "connection closes; the RCPT after it is not read (%d %r)" % (c, t))
    lf.close()
    check(set(o.queue_files()) == before, "nothing of the refused messages is queued")
    # Line length: 998 octets + CRLF is the limit.
    c, t = send_raw_message(r, "s@client.test", ["alice@" + DOM],
                            b"Subject: long\r\n\r\n" + b"L" * 1001 + b"\r\n.\r\n")
    check(c == 550 and "5.6.0" in t, "a 1001-octet line in DATA: 550 5.6.0 (%d %r)" % (c, t))
    check(set(o.queue_files()) == before, "the overlong message is not queued")
    c, t = send_raw_message(r, "s@client.test", ["alice@" + DOM],
                            b"Subject: edge\r\n\r\n" + b"E" * 998 + b"\r\n.\r\n")
    check(c == 250, "a 998-octet line (1000 with CRLF) is accepted (%d %r)" % (c, t))
    c, t = r.cmd("NOOP " + "n" * 1100)
    check(c == 500, "a command line over 1000 octets: 500 (%d %r)" % (c, t))
    c, t = r.cmd("NOOP")
    check(c == 250, "the session goes on after the overlong command")
    # Dot-stuffing round trip, and the Received header.
    c, t = send_raw_message(r, "s@client.test", ["alice@" + DOM],
                            b"Subject: dots\r\n\r\n..hidden\r\n...two dots\r\n.. \r\n"
                            b". lone stuffed\r\nend\r\n.\r\n")
    qid = queued_id(t)
    if check(c == 250 and qid in o.queue_files(), "dot-stuffed message queued"):
        env, body = o.queue_read(qid)
        # RFC 5321 4.5.2: a leading dot with more on its line is dropped.
        check(body.endswith(b"\n.hidden\n..two dots\n. \n lone stuffed\nend\n"),
              "dots unstuffed in the queue file, no terminator kept (%r)" % body[-60:])
        check(body.startswith(b"Received: from client.test ([127.0.0.10])") and
              ("by %s (osd) with ESMTP" % ME).encode() in body and
              ("for <alice@%s>" % DOM).encode() in body,
              "Received header names helo, address, me, ESMTP and the recipient (%r)"
              % body[:160])
        check(env.get("helo") == ["client.test"] and env.get("client") == ["127.0.0.10"] and
              env.get("from") == ["s@client.test"],
              "envelope helo, client and from (%r)" % env)
    r.cmd("QUIT")
    r.close()


def test_commands(o, port):
    r = SmtpRaw(port, "127.0.0.11")
    c1, _ = r.cmd("MAIL FROM:<a@client.test>")
    r.cmd("EHLO client.test")
    c2, t2 = r.cmd("VRFY alice")
    c3, _ = r.cmd("FOOBAR")
    c4, _ = r.cmd("RCPT TO:<alice@%s>" % DOM)
    c5, _ = r.cmd("DATA")
    r.cmd("MAIL FROM:<a@client.test>")
    c6, _ = r.cmd("MAIL FROM:<a@client.test>")
    c7, _ = r.cmd("DATA")
    c8, _ = r.cmd("EXPN staff")
    c9, _ = r.cmd("BDAT 10 LAST")
    check(c1 == 503, "MAIL before HELO/EHLO: 503 (%d)" % c1)
    check(c2 == 252, "VRFY: 252 (%d %r)" % (c2, t2))
    check(c3 == 502, "unknown command: 502 (%d)" % c3)
    check(c4 == 503, "RCPT before MAIL: 503 (%d)" % c4)
    check(c5 == 503, "DATA before MAIL: 503 (%d)" % c5)
    check(c6 == 503, "nested MAIL: 503 (%d)" % c6)
    check(c7 == 503, "DATA without RCPT: 503 (%d)" % c7)
    check(c8 == 502 and c9 == 502, "EXPN and BDAT: 502 (%d %d)" % (c8, c9))
    c, t = r.cmd("HELP")
    check(c == 214, "HELP: 214")
    r.close()
    # Too many errors: the connection is closed with 421 (smtp_max_errors, default 20).
    test_error_limit(port, "127.0.0.12", 20)
    r = SmtpRaw(port, "127.0.0.13")
    r.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    c, t = r.reply()
    check(c == 421 and r.eof(), "an HTTP request gets 421 and the connection closes (%d)" % c)
    r.close()


def test_submission(o, sub):
    r = SmtpRaw(sub, "127.0.0.14")
    r.cmd("EHLO client.test")
    c, t = r.cmd("MAIL FROM:<sender@client.test>")
    check(c == 530, "submission port: MAIL before AUTH gets 530 (%d %r)" % (c, t))
    r.close()
    s = smtp(sub, "127.0.0.14")
    s.ehlo()
    s.login("alice@" + DOM, "alice-pw")
    s.mail("alice@" + DOM)
    s.rcpt("friend@remote.example")
    code, msg = s.data(b"Subject: via 587\r\n\r\nsubmitted\r\n")
    check(code == 250 and queued_id(msg) in o.queue_files(),
          "submission port: AUTH, then relay to a remote domain, queued (%r)" % msg)
    s.quit()
    rc, out = swaks(sub, "127.0.0.14", "--to", "alice@" + DOM)
    check(rc != 0 and "530" in out, "submission without AUTH cannot even send to a local user")


def test_policy(o, port):
    r = SmtpRaw(port, "127.0.0.15")
    r.cmd("EHLO client.test")
    c, t = r.cmd("MAIL FROM:<spammer@bad.test>")
    check(c == 553 and t == QMAIL_BMF, "badmailfrom address: %r" % t)
    c, t = r.cmd("MAIL FROM:<anyone@evil.test>")
    check(c == 553 and t == QMAIL_BMF, "badmailfrom @domain: %r" % t)
    c, t = r.cmd("MAIL FROM:<anyone@sub.evil.test>")
    check(c == 250, "@evil.test does not cover sub.evil.test (qmail: exact domain) (%d)" % c)
    r.cmd("RSET")
    c, t = r.cmd("MAIL FROM:<>")
    check(c == 250, "the null sender is accepted")
    c, t = r.cmd("RCPT TO:<nobody@%s>" % DOM)
    check(c == 550 and "5.1.1" in t, "unknown user in a virtual domain: 550 5.1.1 (%r)" % t)
    c, t = r.cmd("RCPT TO:<Alice@%s>" % DOM.upper())
    check(c == 250, "a local user in other letter case: 250 (%d %r)" % (c, t))
    c, t = r.cmd("RCPT TO:<whoever@%s>" % HOSTED)
    check(c == 250, "any local part in an rcpthosts domain: 250")
    c, t = r.cmd("RCPT TO:<x@remote.example>")
    check(c == 553 and t == QMAIL_RCPTHOSTS, "a remote domain from a non-relay client: %r" % t)
    r.cmd("QUIT")
    r.close()
    # Control files are read per connection: a new badmailfrom entry counts at once.
    o.write_control("badmailfrom", "spammer@bad.test\n@evil.test\nlate@client.test\n")
    rc, out = swaks(port, "127.0.0.15", "--from", "late@client.test", "--to", "alice@" + DOM)
    check(rc != 0 and QMAIL_BMF in out, "a badmailfrom edit counts for the next connection")
    # rcpthosts and morercpthosts edits count for the next connection; ".domain" covers subdomains.
    o.write_control("rcpthosts", "%s\n%s\n.sub.test\n" % (DOM, HOSTED))
    o.write_control("morercpthosts", "more.test\n")
    got = {a: rcpt_reply(port, "127.0.0.15", a)[0]
           for a in ("x@more.test", "x@deep.sub.test", "x@sub.test", "x@more.test.evil")}
    check(got == {"x@more.test": 250, "x@deep.sub.test": 250, "x@sub.test": 553,
                  "x@more.test.evil": 553},
          "morercpthosts and '.sub.test' in rcpthosts, as qmail reads them (%r)" % got)
    os.unlink(os.path.join(o.control, "morercpthosts"))
    o.write_control("rcpthosts", "%s\n%s\n" % (DOM, HOSTED))
    c, _ = rcpt_reply(port, "127.0.0.15", "x@more.test")
    check(c == 553, "removing it counts at once too (%d)" % c)
    # EHLO resets a transaction (RFC 5321 4.1.4).
    r = SmtpRaw(port, "127.0.0.15")
    r.cmd("EHLO client.test")
    r.cmd("MAIL FROM:<a@client.test>")
    r.cmd("EHLO client.test")
    c, _ = r.cmd("RCPT TO:<alice@%s>" % DOM)
    check(c == 503, "EHLO in a transaction resets it: RCPT then gets 503 (%d)" % c)
    r.close()
    # A deny rule in tcp.smtp: 421 at connect.
    r = SmtpRaw(port, "127.0.0.7")
    check(r.greeting[0] == 421 and r.eof(),
          "a deny rule for 127.0.0.7: 421 at connect, then closed (%r)" % (r.greeting,))
    r.close()
    rc, out = swaks(port, "127.0.0.7", "--to", "alice@" + DOM)
    check(rc != 0 and "421" in out, "swaks from the denied address sees 421")


def test_limits(o, port):
    # smtp_max_per_ip = 5: the 6th concurrent connection from one address is refused.
    conns = [SmtpRaw(port, "127.0.0.17") for _ in range(5)]
    sixth = SmtpRaw(port, "127.0.0.17")
    check(all(c.greeting[0] == 220 for c in conns) and sixth.greeting[0] == 421,
          "smtp_max_per_ip = 5: five greeted, the sixth gets 421 (%r)" % (sixth.greeting,))
    other = SmtpRaw(port, "127.0.0.18")
    check(other.greeting[0] == 220, "another address is still served")
    for c in conns + [sixth, other]:
        c.close()
    # control/timeoutsmtpd, read per connection: an idle client gets 421 4.4.2 and is dropped.
    o.write_control("timeoutsmtpd", "2\n")
    r = SmtpRaw(port, "127.0.0.19", timeout=60)
    o.write_control("timeoutsmtpd", "1200\n")
    r.cmd("EHLO client.test")
    c, t = r.reply()
    check(c == 421 and "4.4.2" in t and r.eof(),
          "timeoutsmtpd = 2: an idle client gets 421 4.4.2, then the connection closes (%d %r)"
          % (c, t))
    r.close()
    # The same in DATA: the message is dropped, never queued.
    o.write_control("timeoutsmtpd", "2\n")
    r2 = SmtpRaw(port, "127.0.0.19", timeout=60)
    o.write_control("timeoutsmtpd", "1200\n")
    before = set(o.queue_files())
    r2.cmd("EHLO client.test")
    r2.cmd("MAIL FROM:<a@client.test>")
    r2.cmd("RCPT TO:<alice@%s>" % DOM)
    r2.cmd("DATA")
    r2.send(b"Subject: stalled\r\n\r\nand then nothing\r\n")
    c2, t2 = r2.reply()
    check(r2.eof() and set(o.queue_files()) == before,
          "a client stalled in DATA is dropped after timeoutsmtpd, nothing queued")
    check(c2 == 421 and "4.4.2" in t2,
          "... and told so with 421 4.4.2, as an idle client between commands (%d %r)"
          % (c2, t2))
    r2.close()


def test_edges(o, port):
    plain = base64.b64encode(b"\0alice@" + DOM.encode() + b"\0alice-pw").decode()
    r = SmtpRaw(port, "127.0.0.20")
    r.cmd("EHLO client.test")
    c1, t1 = r.cmd("AUTH PLAIN")
    c2, t2 = r.cmd(plain)
    check(c1 == 334 and c2 == 235, "AUTH PLAIN without initial response: 334, then 235 (%d %d)"
          % (c1, c2))
    c, t = r.cmd("AUTH PLAIN " + plain)
    check(c == 503, "a second AUTH: 503 (%d)" % c)
    r.cmd("RSET")
    r.cmd("MAIL FROM:<alice@%s> BODY=8BITMIME SIZE=%d" % (DOM, DATABYTES))
    c, t = r.cmd("RCPT TO:<far@remote.example>")
    check(c == 250, "after RSET the AUTH still allows relaying (%d %r)" % (c, t))
    c, t = r.cmd("AUTH PLAIN " + plain)
    check(c == 503, "AUTH inside a mail transaction: 503 (%d)" % c)
    r.cmd("DATA")
    r.send(b"Subject: 8bit\r\n\r\ncaf\xc3\xa9 \xff\x80 bytes\r\n.\r\n")
    c, t = r.reply()
    qid = queued_id(t)
    check(c == 250 and qid in o.queue_files() and
          b"caf\xc3\xa9 \xff\x80 bytes\n" in o.queue_read(qid)[1],
          "BODY=8BITMIME with SIZE = databytes: 8-bit octets arrive unchanged (%d %r)" % (c, t))
    # AUTH LOGIN with the user name given in the command.
    r.close()
    r = SmtpRaw(port, "127.0.0.20")
    r.cmd("EHLO client.test")
    c1, t1 = r.cmd("AUTH LOGIN " + base64.b64encode(b"alice@" + DOM.encode()).decode())
    c2, t2 = r.cmd(base64.b64encode(b"alice-pw").decode())
    check(c1 == 334 and c2 == 235, "AUTH LOGIN with the user in the command: 334, 235 (%d %d)"
          % (c1, c2))
    # An empty message: "." right after the 354.
    c, t = send_raw_message(r, "s@client.test", ["alice@" + DOM], b".\r\n")
    qid = queued_id(t)
    check(c == 250 and qid in o.queue_files() and
          o.queue_read(qid)[1].startswith(b"Received: "),
          "an empty message ('.' at once) is queued with its Received header (%d)" % c)
    # databytes is a limit on the octets as sent, line endings and stuffing included.
    def exact(n):
        line = b"z" * 78 + b"\r\n"
        head = b"Subject: exact\r\n\r\n"
        rest = n - len(head)
        body = head + line * (rest // 80)
        tail = rest % 80
        if tail:
            body += b"w" * (tail - 2) + b"\r\n" if tail >= 2 else b""
        return body
    b1 = exact(DATABYTES)
    c, t = send_raw_message(r, "s@client.test", ["alice@" + DOM], b1 + b".\r\n")
    check(len(b1) == DATABYTES and c == 250,
          "a message of exactly databytes (%d octets) is accepted (%d %r)" % (len(b1), c, t))
    b2 = b1[:-2] + b"q\r\n"
    c, t = send_raw_message(r, "s@client.test", ["alice@" + DOM], b2 + b".\r\n")
    check(len(b2) == DATABYTES + 1 and c == 552,
          "one octet more: 552 (%d %r)" % (c, t))
    r.cmd("QUIT")
    r.close()
    # Dropped in the middle of DATA: nothing reaches queue/new.
    before = set(o.queue_files())
    r = SmtpRaw(port, "127.0.0.21")
    r.cmd("EHLO client.test")
    r.cmd("MAIL FROM:<s@client.test>")
    r.cmd("RCPT TO:<alice@%s>" % DOM)
    r.cmd("DATA")
    r.send(b"Subject: cut\r\n\r\nhalf a message\r\n")
    r.close()
    gone = wait_for(lambda: "addr=127.0.0.21 " in o.log("smtpd") and
                    "end=dropped" in o.log("smtpd").split("addr=127.0.0.21 ")[-1])
    check(gone and set(o.queue_files()) == before,
          "a client dropped in mid-DATA: session ends, nothing queued")


def test_kill9(o, port, d):
    r = SmtpRaw(port, "127.0.0.16")
    r.cmd("EHLO client.test")
    c, t = send_raw_message(r, "s@client.test", ["alice@" + DOM],
                            b"Subject: durable\r\n\r\nmust survive kill -9\r\n.\r\n")
    qid = queued_id(t)
    check(c == 250 and qid is not None, "a message is acknowledged with 250 (%r)" % t)
    # No QUIT: the session process is alive; kill it and the server with SIGKILL.
    kids = children_of(d.pid)
    check(len(kids) >= 1, "the open session has its own process")
    for k in kids:
        try:
            os.kill(k, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.kill(d.pid, signal.SIGKILL)
    d.wait()
    for k in kids:
        wait_for(lambda: not os.path.exists("/proc/%d" % k) or
                 open("/proc/%d/stat" % k).read().split()[2] == "Z")
    r.close()
    check(qid in o.queue_files(), "after kill -9 of smtpd and its session, %s is in queue/new"
          % qid)
    if qid in o.queue_files():
        env, body = o.queue_read(qid)
        check(env.get("to") == ["alice@" + DOM] and b"must survive kill -9\n" in body,
              "the surviving queue file is complete")
    check((qid, True) in o.new_files() and [n for n, c in o.new_files() if not c] == [],
          "the acknowledged message is marked complete, no unfinished file beside it (%r)"
          % o.new_files())


if __name__ == "__main__":
    for tool in ("swaks", "curl", "openssl"):
        if not have(tool):
            print("skip - %s missing" % tool)
            sys.exit(77)
    main()
    finish()
