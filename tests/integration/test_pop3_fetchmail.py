#!/usr/bin/env python3
"""osd pop3d with fetchmail, a third real POP3 client: download a whole
mailbox over STLS (keep, then fetch-and-delete), message by message, through
an MDA.

fetchmail speaks UIDL, LIST, RETR/TOP and DELE its own way, so this checks
that osd's POP3 is usable by a real downloader, not just by scripted clients:
every message arrives whole (the dot-stuffed line unstuffed, bare LF turned
to CRLF on the wire), the kept run leaves the mailbox as it was, the
fetch-and-delete run empties it at QUIT, and the login is recorded.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, check, finish, free_port, have, make_cert, wait_port  # noqa: E402

DOM = "example.test"

MESSAGES = {
    "1700000001.M1P1.host": b"From: a@example.org\nSubject: first\n\nhello one\n.dot line\n",
    "1700000002.M2P2.host": b"From: b@example.org\r\nSubject: second\r\n\r\nCRLF body\r\n",
    "1700000003.M3P3.host": b"Subject: third\n\n" + b"x" * 5000 + b"\nlast line\n",
}




def maildir_files(maildir):
    out = []
    for sub in ("new", "cur"):
        out += os.listdir(os.path.join(maildir, sub))
    return sorted(out)




def fetch(o, port, keep, outdir, cert):
    rc = os.path.join(o.root, "fetchmailrc")
    with open(rc, "w") as f:
        # fetchmail 6.4 insists on TLS: STLS, with the test certificate as trust anchor.
        f.write('poll 127.0.0.1 service %d protocol POP3 auth password\n'
                '  user "bob@%s" password "pop-secret" is root here\n'
                '  %s fetchall sslproto TLS1.2+ sslcertck sslcertfile "%s"\n'
                '  mda "/bin/sh -c \'cat > %s/msg.$$\'"\n'
                % (port, DOM, "keep" if keep else "nokeep", cert, outdir))
    os.chmod(rc, 0o600)
    # Its own idfile and no daemon mode; --nosoftbounce: an MDA failure is an error.
    p = subprocess.run(["fetchmail", "-f", rc, "-i", os.path.join(o.root, "fetchids"),
                        "--nosoftbounce", "-v"],
                       capture_output=True, timeout=120, env=dict(os.environ, HOME=o.root))
    return p


def fetched(outdir):
    bodies = []
    for name in sorted(os.listdir(outdir)):
        with open(os.path.join(outdir, name), "rb") as f:
            bodies.append(f.read())
    return bodies


def main():
    if not have("fetchmail"):
        check(False, "fetchmail is installed (scripts/install-deps.sh)")
        finish()
    port = free_port()
    o = Osd()
    # fetchmail checks the name: a certificate for 127.0.0.1, trusted as its own anchor.
    cert, key = make_cert(o.root, cn="127.0.0.1", san="IP:127.0.0.1")
    o.write_conf("3h", "pop3_listen = 127.0.0.1:%d\ndefault_domain = %s\n"
                 "tls_cert = %s\ntls_key = %s\n" % (port, DOM, cert, key))
    try:
        p = o.run("user", "add", "bob@" + DOM, input="pop-secret\n")
        check(p.returncode == 0, "osd user add bob (%s)" % p.stderr.strip())
        maildir = os.path.join(o.state, "domains", DOM, "bob", "Maildir")
        for name, body in MESSAGES.items():
            with open(os.path.join(maildir, "new", name), "wb") as f:
                f.write(body)
        d = o.start("pop3d")
        check(wait_port(port, d), "osd pop3d listens")

        # 1. keep: everything downloaded, nothing removed.
        out1 = os.path.join(o.root, "out1")
        os.mkdir(out1)
        p = fetch(o, port, True, out1, cert)
        check(p.returncode == 0, "fetchmail (keep) succeeds: rc=%d %s" % (
            p.returncode, p.stderr.decode(errors="replace")[-300:]))
        got = fetched(out1)
        check(len(got) == 3, "fetchmail delivered 3 messages (got %d)" % len(got))
        joined = b"\n".join(got)
        check(b"hello one" in joined and b"\n.dot line" in joined,
              "the dot line arrives unstuffed")
        check(b"CRLF body" in joined, "the CRLF message arrives")
        check(b"x" * 5000 + b"\nlast line" in joined.replace(b"\r\n", b"\n"),
              "the 5 kB message arrives whole")
        check(len(maildir_files(maildir)) == 3, "keep: the 3 messages are still in the Maildir")
        check(all(":2,S" in n for n in os.listdir(os.path.join(maildir, "cur"))) and
              len(os.listdir(os.path.join(maildir, "cur"))) == 3,
              "read messages moved to cur/ with the S flag")
        check(os.path.exists(os.path.join(o.state, "open-smtp", "127.0.0.1")),
              "fetchmail's login recorded open-smtp/127.0.0.1")

        # 2. nokeep: downloaded again (fetchall) and deleted at QUIT.
        out2 = os.path.join(o.root, "out2")
        os.mkdir(out2)
        p = fetch(o, port, False, out2, cert)
        check(p.returncode == 0, "fetchmail (nokeep) succeeds: rc=%d" % p.returncode)
        check(len(fetched(out2)) == 3, "fetchmail delivered the 3 messages again")
        check(maildir_files(maildir) == [], "nokeep: the Maildir is empty after QUIT")

        # 3. a wrong password: fetchmail reports an authentication failure (rc 3).
        bad = os.path.join(o.root, "fetchmailrc")
        text = open(bad).read().replace("pop-secret", "wrong")
        open(bad, "w").write(text)
        p = subprocess.run(["fetchmail", "-f", bad, "-i", os.path.join(o.root, "fetchids"),
                            "-v"], capture_output=True, timeout=120,
                           env=dict(os.environ, HOME=o.root))
        check(p.returncode == 3, "a wrong password is an authentication failure (rc=%d)"
              % p.returncode)
    finally:
        for proc in o.procs:
            o.stop(proc)
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
