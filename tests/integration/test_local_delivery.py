#!/usr/bin/env python3
"""osd-local, run by hand as the queue manager runs it: a queue file on stdin,
positioned after the envelope; the verdict in the exit status (0 delivered,
100 permanent, 111 temporary) and one line on stdout.

Maildir delivery lands in new/ with Return-Path and Delivered-To on top and is
read back with curl over POP3 from osd pop3d; unknown users and domains fail
permanently, a full mailbox temporarily; aliases (one level, alias before
user, catch-all) are re-queued as one new queue file with Delivered-To; a
forwarding loop a -> b -> a stops with 'mail loop'; run as root, the Maildir
is written as mail_user and the queue as user.
"""
import os
import pwd
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import BUILD, Osd, check, finish, free_port, have, wait_port  # noqa: E402

DOM = "example.test"
LOCAL = os.path.join(BUILD, "osd-local")
MSG = b"From: alice@example.org\nTo: bob@example.test\nSubject: hello\n\nHi Bob.\n"


def queue_file(o, sender, rcpts, body):
    """A queue file in the format of docs/queue-format.md (not in queue/: ours)."""
    queue_file.n += 1
    path = os.path.join(o.root, "msg-%d" % queue_file.n)
    env = "osd-queue 1\nreceived 1718000000\nclient 192.0.2.7\nhelo laptop\nfrom %s\n" % sender
    env += "".join("to %s\n" % r for r in rcpts)
    with open(path, "wb") as f:
        f.write(env.encode() + b"\n" + body)
    return path


queue_file.n = 0


def run_local(o, sender, rcpt, path, stdin=None):
    """osd-local with the message part of the queue file at path on stdin: (rc, stdout)."""
    with open(path, "rb") as f:
        data = f.read()
        f.seek(data.index(b"\n\n") + 2)
        p = subprocess.run([LOCAL, "-c", o.conf, sender, rcpt], stdin=stdin or f,
                           capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(errors="replace")


def deliver(o, rcpt, body=MSG, sender="alice@example.org"):
    return run_local(o, sender, rcpt, queue_file(o, sender, [rcpt], body))


def one_line(out):
    return out.endswith("\n") and out.count("\n") == 1 and len(out) <= 1001


def add_user(o, login, quota=None):
    args = ["user", "add", login] + (["--quota", quota] if quota else [])
    p = o.run(*args, input="pw-" + login + "\n")
    check(p.returncode == 0, "osd user add %s (%s)" % (login, p.stderr.strip()))
    user, dom = login.split("@")
    return os.path.join(o.state, "domains", dom, user, "Maildir")


def files(maildir, sub):
    try:
        return sorted(n for n in os.listdir(os.path.join(maildir, sub)) if not n.startswith("."))
    except FileNotFoundError:
        return []


def mail(maildir):
    """Messages in new/ and cur/ (pop3d moves what a client has seen to cur/)."""
    return files(maildir, "new") + files(maildir, "cur")


def read(maildir, sub, name):
    with open(os.path.join(maildir, sub, name), "rb") as f:
        return f.read()


def curl_pop3(port, user, url=""):
    return subprocess.run(["curl", "-s", "-S", "--max-time", "20", "-u", "%s:pw-%s" % (user, user),
                           "pop3://127.0.0.1:%d/%s" % (port, url)],
                          capture_output=True, timeout=60)


def test_maildir(o, port):
    bob = add_user(o, "bob@" + DOM)
    rc, out = deliver(o, "bob@" + DOM)
    check(rc == 0 and out == "delivered to %s\n" % bob, "bob: exit 0, 'delivered to' (%d %r)" % (rc, out))
    new = files(bob, "new")
    check(len(new) == 1 and files(bob, "tmp") == [], "one file in new/, none left in tmp/")
    head = b"Return-Path: <alice@example.org>\nDelivered-To: bob@example.test\n"
    data = read(bob, "new", new[0]) if new else b""
    check(data == head + MSG, "Return-Path and Delivered-To on top of the message, body intact")
    m = re.match(r"^(\d+)\.M(\d{6})P(\d+)\.([^,/]+),S=(\d+)$", new[0] if new else "")
    check(m is not None and int(m.group(5)) == len(data),
          "unique name time.MusecPpid.host,S=size with the file's size (%s)" % (new[:1],))
    check(os.stat(os.path.join(bob, "new", new[0])).st_mode & 0o777 == 0o600 if new else False,
          "the message is mode 0600")

    # Read it back over POP3 with curl (pop3d sizes with CRLF; the text must match).
    if have("curl"):
        p = curl_pop3(port, "bob@" + DOM)
        check(p.returncode == 0 and p.stdout.split() == [b"1", str(len(data) + data.count(b"\n")).encode()],
              "curl pop3 LIST: one message of the right size (%r)" % p.stdout[:80])
        p = curl_pop3(port, "bob@" + DOM, "1")
        check(p.returncode == 0 and p.stdout.replace(b"\r\n", b"\n") == data,
              "curl pop3 RETR 1 gives back the delivered message")
    else:
        print("skip - curl missing")

    # Case does not matter in the recipient; the header names it in lower case.
    rc, out = deliver(o, "BOB@Example.TEST")
    new = files(bob, "new")
    check(rc == 0 and len(mail(bob)) == 2, "BOB@Example.TEST is delivered to bob (%d %r)" % (rc, out))
    check(any(b"\nDelivered-To: bob@example.test\n" in read(bob, "new", n) for n in new),
          "Delivered-To is the lower-cased address")

    # The null sender and a double bounce sender.
    rc, _ = deliver(o, "bob@" + DOM, sender="")
    rc2, _ = deliver(o, "bob@" + DOM, sender="#@[]")
    heads = [read(bob, "new", n).split(b"\n")[0] for n in files(bob, "new")]
    check(rc == 0 and rc2 == 0 and b"Return-Path: <>" in heads and b"Return-Path: <#@[]>" in heads,
          "null sender gives Return-Path: <>, double bounce <#@[]>")

    # Delivered-To in the body is no loop.
    body = b"Subject: quoted\n\n> Delivered-To: bob@example.test\n"
    rc, out = deliver(o, "bob@" + DOM, body=body)
    check(rc == 0, "Delivered-To for bob in the body only: delivered (%d %r)" % (rc, out))
    # Delivered-To for bob in the header: a loop, a permanent failure.
    before = len(mail(bob))
    rc, out = deliver(o, "bob@" + DOM, body=b"Delivered-To: Bob@Example.Test\n" + MSG)
    check(rc == 100 and out.startswith("mail loop") and one_line(out),
          "Delivered-To: bob already in the header: exit 100 'mail loop' (%d %r)" % (rc, out))
    check(len(mail(bob)) == before, "nothing delivered on a loop")

    # A 5 MB message goes through whole.
    big = b"Subject: big\n\n" + (b"x" * 999 + b"\n") * 5000
    rc, out = deliver(o, "bob@" + DOM, body=big)
    sizes = sorted(os.path.getsize(os.path.join(bob, "new", n)) for n in files(bob, "new"))
    check(rc == 0 and sizes[-1] == len(big) + len(head), "a 5 MB message is delivered whole")
    check(files(bob, "tmp") == [], "tmp/ is empty after all deliveries")


def test_failures(o):
    rc, out = deliver(o, "nobody@" + DOM)
    check(rc == 100 and "no such user" in out and one_line(out),
          "unknown user: exit 100, 'no such user' (%d %r)" % (rc, out))
    rc, out = deliver(o, "bob@nowhere.test")
    check(rc == 100 and one_line(out), "unknown domain: exit 100 (%d %r)" % (rc, out))
    rc, out = deliver(o, "no-at-sign")
    check(rc == 100 and one_line(out), "recipient without '@': exit 100 (%d %r)" % (rc, out))
    # stdin must be the queue file, not a pipe.
    path = queue_file(o, "a@example.org", ["bob@" + DOM], MSG)
    rc, out = run_local(o, "a@example.org", "bob@" + DOM, path, stdin=subprocess.PIPE)
    check(rc == 111 and "regular file" in out, "stdin a pipe: exit 111 (%d %r)" % (rc, out))
    p = subprocess.run([LOCAL, "-c", o.conf, "only-one-arg"], capture_output=True, timeout=30)
    check(p.returncode == 100 and b"usage" in p.stderr, "wrong argument count: usage, exit 100")

    # Quota: bytes.
    carol = add_user(o, "carol@" + DOM, quota="2000")
    rc, out = deliver(o, "carol@" + DOM, body=b"Subject: a\n\n" + b"x" * 1500 + b"\n")
    check(rc == 0, "carol (2000 bytes quota): 1.5 kB message delivered (%d %r)" % (rc, out))
    rc, out = deliver(o, "carol@" + DOM, body=b"Subject: b\n\n" + b"x" * 1500 + b"\n")
    check(rc == 111 and "over quota" in out and one_line(out),
          "second 1.5 kB message: over quota, exit 111 (%d %r)" % (rc, out))
    check(len(files(carol, "new")) == 1 and files(carol, "tmp") == [],
          "nothing written for the over-quota message")
    # Messages in cur/ count too (without ,S= the size comes from stat).
    os.rename(os.path.join(carol, "new", files(carol, "new")[0]), os.path.join(carol, "cur", "seen:2,S"))
    rc, out = deliver(o, "carol@" + DOM, body=b"Subject: c\n\n" + b"x" * 600 + b"\n")
    check(rc == 111, "a message in cur/ (no S= field) counts against the quota (%d %r)" % (rc, out))
    rc, out = deliver(o, "carol@" + DOM, body=b"Subject: d\n\nsmall\n")
    check(rc == 0, "a small message still fits (%d %r)" % (rc, out))

    # Quota: message count.
    dave = add_user(o, "dave@" + DOM, quota="50M,1C")
    rc1, _ = deliver(o, "dave@" + DOM)
    rc2, out = deliver(o, "dave@" + DOM)
    check(rc1 == 0 and rc2 == 111 and "over quota" in out and len(files(dave, "new")) == 1,
          "dave (1 message quota): first delivered, second exit 111 (%d %d %r)" % (rc1, rc2, out))

    # A missing Maildir is temporary (the administrator can fix it).
    erin = add_user(o, "erin@" + DOM)
    os.rename(erin, erin + ".gone")
    rc, out = deliver(o, "erin@" + DOM)
    check(rc == 111 and one_line(out), "missing Maildir: exit 111 (%d %r)" % (rc, out))
    os.rename(erin + ".gone", erin)


def write_aliases(o, text):
    with open(os.path.join(o.state, "domains", DOM, "aliases"), "w") as f:
        f.write(text)


def requeue(o, rcpt, queued=None):
    """osd-local for rcpt, with a fresh message or the queue file named queued:
    (exit status, stdout, names of the queue files it added)."""
    before = o.queue_files()
    if queued is None:
        rc, out = deliver(o, rcpt)
    else:
        rc, out = run_local(o, "alice@example.org", rcpt, os.path.join(o.state, "queue", "new", queued))
    return rc, out, [n for n in o.queue_files() if n not in before]


def test_aliases(o):
    grace = add_user(o, "grace@" + DOM)
    keep = add_user(o, "keep@" + DOM)
    write_aliases(o, "# aliases of %s\n" % DOM +
                     "info: bob, Ext@Example.NET\n"
                     "Grace: grace-fwd@example.org\n"
                     "loopa: loopb\n"
                     "loopb: loopa\n"
                     "keep: keep, keep-fwd@example.org\n"
                     "broken: not an address\n"
                     "spam: " + "x" * 100000 + "\n"
                     "*: bob\n")

    rc, out, q = requeue(o, "info@" + DOM)
    check(rc == 0 and out == "forwarded to bob@example.test, Ext@example.net\n",
          "alias info: exit 0, 'forwarded to ...' (%d %r)" % (rc, out))
    check(len(q) == 1, "ONE new queue file in queue/new (%r)" % q)
    if q:
        env, body = o.queue_read(q[0])
        check(env.get("from") == ["alice@example.org"], "same sender (%r)" % env.get("from"))
        check(env.get("to") == ["bob@example.test", "Ext@example.net"], "targets as recipients (%r)" % env.get("to"))
        check(body == b"Delivered-To: info@example.test\n" + MSG, "Delivered-To: info on top, message intact")
        check(env.get("osd-queue") is None and "received" in env and "client" in env,
              "a complete envelope (received, client)")

    # An alias wins over a user of the same name (case ignored).
    rc, out, q = requeue(o, "grace@" + DOM)
    check(rc == 0 and "grace-fwd@example.org" in out and files(grace, "new") == [] and len(q) == 1,
          "alias Grace wins over user grace: re-queued (%d %r)" % (rc, out))

    # The catch-all: only when no user and no alias matches.
    rc, out, q = requeue(o, "whoever@" + DOM)
    check(rc == 0 and out == "forwarded to bob@example.test\n" and len(q) == 1,
          "unknown user with a catch-all: forwarded to bob (%d %r)" % (rc, out))
    if q:
        env, body = o.queue_read(q[0])
        check(env.get("to") == ["bob@example.test"] and body.startswith(b"Delivered-To: whoever@example.test\n"),
              "catch-all forward: Delivered-To the original recipient")
        # The forward comes back through osd-local as the queue manager would pass it.
        bob = os.path.join(o.state, "domains", DOM, "bob", "Maildir")
        n = len(mail(bob))
        rc, out, _ = requeue(o, "bob@" + DOM, q[0])
        check(rc == 0 and len(mail(bob)) == n + 1, "the re-queued message is delivered to bob")
    rc, out = deliver(o, "bob@" + DOM)
    check(rc == 0 and out.startswith("delivered to"), "a user is delivered directly despite the catch-all")

    # a -> b -> a: one level each time; the Delivered-To check stops it.
    rc, out, q1 = requeue(o, "loopa@" + DOM)
    check(rc == 0 and out == "forwarded to loopb@example.test\n" and len(q1) == 1,
          "loopa forwarded to loopb, not resolved further (%d %r)" % (rc, out))
    if q1:
        rc, out, q2 = requeue(o, "loopb@" + DOM, q1[0])
        check(rc == 0 and len(q2) == 1, "loopb forwarded back to loopa (%d %r)" % (rc, out))
        if q2:
            _, body = o.queue_read(q2[0])
            check(body.startswith(b"Delivered-To: loopb@example.test\nDelivered-To: loopa@example.test\n"),
                  "two Delivered-To lines, the newest on top")
            rc, out, q3 = requeue(o, "loopa@" + DOM, q2[0])
            check(rc == 100 and out.startswith("mail loop") and q3 == [],
                  "back at loopa: exit 100 'mail loop', nothing re-queued (%d %r)" % (rc, out))

    # An alias naming its own user keeps a copy in the Maildir.
    rc, out, q = requeue(o, "keep@" + DOM)
    check(rc == 0 and len(files(keep, "new")) == 1 and len(q) == 1,
          "keep: keep, keep-fwd: a copy in the Maildir, one forward (%d %r)" % (rc, out))
    if q:
        check(o.queue_read(q[0])[0].get("to") == ["keep-fwd@example.org"], "the forward goes to keep-fwd only")

    # A broken alias line waits for the administrator; an overlong line for another name is skipped.
    rc, out = deliver(o, "broken@" + DOM)
    check(rc == 111 and "bad target" in out and one_line(out), "broken alias: exit 111 (%d %r)" % (rc, out))
    rc, out = deliver(o, "spam@" + DOM)
    check(rc == 111 and "too long" in out, "overlong alias line for the name: exit 111 (%d %r)" % (rc, out))
    check(files(os.path.join(o.state, "queue"), "tmp") == [], "no half-written queue file left in queue/tmp")

    # Without the catch-all an unknown user fails permanently again.
    write_aliases(o, "info: bob\n")
    rc, out = deliver(o, "whoever@" + DOM)
    check(rc == 100 and "no such user" in out, "no catch-all: unknown user exit 100 (%d %r)" % (rc, out))


def test_root(port_unused=None):
    """Run as root: the Maildir is written as mail_user, the queue as user."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        print("skip - no user nobody")
        return
    o = Osd(extra="default_domain = %s\nmail_user = nobody\nuser = nobody\nfsync = no\n" % DOM)
    try:
        # The tree must be reachable by nobody, as a real /var/lib/osd is.
        for d in (o.root, o.state):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        os.makedirs(os.path.join(o.state, "queue"), mode=0o700)
        os.chown(os.path.join(o.state, "queue"), nobody.pw_uid, nobody.pw_gid)
        zed = add_user(o, "zed@" + DOM)
        os.chmod(os.path.join(o.state, "domains"), 0o755)
        rc, out = deliver(o, "zed@" + DOM)
        new = files(zed, "new")
        check(rc == 0 and len(new) == 1, "as root: delivered (%d %r)" % (rc, out))
        if new:
            check(os.stat(os.path.join(zed, "new", new[0])).st_uid == nobody.pw_uid,
                  "as root: the message belongs to mail_user")
        write_aliases(o, "fwd: elsewhere@example.org\n")
        rc, out = deliver(o, "fwd@" + DOM)
        q = o.queue_files()
        check(rc == 0 and len(q) == 1, "as root: forward re-queued (%d %r)" % (rc, out))
        if q:
            check(os.stat(os.path.join(o.state, "queue", "new", q[0])).st_uid == nobody.pw_uid,
                  "as root: the queue file belongs to user")
    finally:
        o.cleanup()


def main():
    port = free_port()
    o = Osd(extra="default_domain = %s\npop3_listen = 127.0.0.1:%d\nfsync = no\n" % (DOM, port))
    try:
        pop3d = o.start("pop3d")
        check(wait_port(port, pop3d), "osd pop3d listens on 127.0.0.1:%d" % port)
        test_maildir(o, port)
        test_failures(o)
        test_aliases(o)
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    if os.geteuid() == 0:
        test_root()
    else:
        print("skip - not root: the privilege drop is not tested")
    finish()


if __name__ == "__main__":
    main()
