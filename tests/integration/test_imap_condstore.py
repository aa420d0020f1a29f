#!/usr/bin/env python3
"""CONDSTORE (RFC 7162 section 3.1) in osd imapd, with Python imaplib.

Two clients on one INBOX: CAPABILITY and ENABLE CONDSTORE; SELECT
(CONDSTORE) tells HIGHESTMODSEQ; each STORE gives the changed messages a
MODSEQ above every earlier one, told in the other client's untagged FETCH;
STORE (UNCHANGEDSINCE) refuses a message another client changed since
([MODIFIED]); FETCH (CHANGEDSINCE) returns only what changed; SEARCH MODSEQ
ends with (MODSEQ n). A flag changed by renaming the file behind osd's
back (as mutt or another Maildir program does) gets a new modseq; an
expunge, by a client or by deleting the file (pop3d), raises
HIGHESTMODSEQ. After osd is restarted the modseqs and HIGHESTMODSEQ are
those from before, and CHANGEDSINCE still finds exactly the later changes.
"""
import imaplib
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, check, check_no_crash, finish, free_port, wait_port  # noqa: E402

DOM = "example.test"
T = 15  # socket timeout of the clients (a functional bound)


def deliver(maildir, name, body):
    """As osd-local, qmail and vpopmail deliver: write in tmp/, rename into new/."""
    tmp = os.path.join(maildir, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(body)
    os.rename(tmp, os.path.join(maildir, "new", name))


def login(port):
    c = imaplib.IMAP4("127.0.0.1", port, timeout=T)
    c.login("alice@" + DOM, "alice-pw")
    return c


def select_condstore(c):
    """SELECT INBOX (CONDSTORE) (imaplib's select() takes no parameters); the HIGHESTMODSEQ told."""
    typ, _ = c._simple_command("SELECT", "INBOX", "(CONDSTORE)")
    check(typ == "OK", "SELECT INBOX (CONDSTORE) is OK (%s)" % typ)
    c.state = "SELECTED"
    _, hm = c._untagged_response(typ, [None], "HIGHESTMODSEQ")
    return int(hm[-1]) if hm and hm[-1] else 0


def modseqs(lines):
    """{uid: modseq} of FETCH lines that have both."""
    out = {}
    for ln in lines:
        if isinstance(ln, tuple):
            ln = ln[0]
        if not isinstance(ln, bytes):
            continue
        u = re.search(rb"UID (\d+)", ln)
        m = re.search(rb"MODSEQ \((\d+)\)", ln)
        if u and m:
            out[int(u.group(1))] = int(m.group(1))
    return out


def highest(c):
    typ, dat = c.status("INBOX", "(HIGHESTMODSEQ)")
    m = re.search(rb"HIGHESTMODSEQ (\d+)", dat[0] if dat and dat[0] else b"")
    check(typ == "OK" and m is not None, "STATUS INBOX (HIGHESTMODSEQ) (%s %r)" % (typ, dat))
    return int(m.group(1)) if m else 0


def noop_fetches(c):
    """The untagged FETCH lines a NOOP brings."""
    typ, _ = c.noop()
    check(typ == "OK", "NOOP is OK")
    return c.untagged_responses.pop("FETCH", [])


def main():
    o = Osd()
    try:
        run(o)
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


def start(o, port):
    runp = o.start("run")
    up = wait_port(port, runp)
    check(up, "osd run starts imapd on %d" % port)
    return runp


def run(o):
    port = free_port()
    o.write_conf("3h", "imap_listen = 127.0.0.1:%d\nimaps_listen =\ndefault_domain = %s\n"
                 "services = imapd\n" % (port, DOM))
    p = o.run("user", "add", "alice@" + DOM, input="alice-pw\n")
    check(p.returncode == 0, "osd user add alice (%s)" % p.stderr.strip())
    md = os.path.join(o.state, "domains", DOM, "alice", "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    for i in range(1, 5):
        deliver(md, "170000000%d.M%dP1.host,S=20" % (i, i), b"Subject: m%d\n\nbody %d\n" % (i, i))
    runp = start(o, port)

    a = login(port)
    typ, caps = a.capability()
    check(typ == "OK" and b"CONDSTORE" in caps[0].split(), "CAPABILITY has CONDSTORE (%r)" % caps)
    typ, dat = a.enable("CONDSTORE")
    check(typ == "OK" and a.untagged_responses.get("ENABLED", [b""])[-1] == b"CONDSTORE",
          "ENABLE CONDSTORE: * ENABLED CONDSTORE (%r)" % a.untagged_responses.get("ENABLED"))
    h0 = select_condstore(a)
    check(h0 > 0, "SELECT (CONDSTORE): [HIGHESTMODSEQ %d]" % h0)
    typ, dat = a.uid("FETCH", "1:*", "(FLAGS MODSEQ)")
    ms0 = modseqs(dat)
    check(typ == "OK" and sorted(ms0) == [1, 2, 3, 4] and max(ms0.values()) <= h0,
          "FETCH MODSEQ of the 4 messages, none above HIGHESTMODSEQ (%r, %d)" % (ms0, h0))

    b = login(port)
    typ, _ = b.select("INBOX")
    check(typ == "OK", "second client SELECT INBOX")

    # A STORE: a modseq above all before, told to the other client (CONDSTORE on there) with it.
    typ, dat = b.uid("STORE", "2", "+FLAGS", "(\\Flagged)")
    check(typ == "OK", "client B: UID STORE 2 +FLAGS (\\Flagged)")
    f = modseqs(noop_fetches(a))
    check(2 in f and f[2] > h0, "client A hears UID 2's change with a MODSEQ above %d (%r)" % (h0, f))
    m2 = f.get(2, 0)

    # UNCHANGEDSINCE with what A knew before B's change: refused for UID 2, done for UID 3.
    typ, dat = a.uid("STORE", "2:3", "(UNCHANGEDSINCE %d)" % h0, "+FLAGS", "(\\Seen)")
    # imaplib keeps the tagged OK's response code among the untagged ones.
    mod = a.untagged_responses.pop("MODIFIED", None)
    check(typ == "OK" and mod == [b"2"], "UID STORE 2:3 (UNCHANGEDSINCE %d): OK [MODIFIED 2] (%r)" % (h0, mod))
    f = modseqs(dat)
    check(sorted(f) == [3] and f[3] > m2, "... and UID 3 stored with a MODSEQ above %d (%r)" % (m2, dat))
    typ, dat = a.uid("FETCH", "1:4", "(FLAGS)")
    flags = {int(re.search(rb"UID (\d+)", x).group(1)): x for x in dat if isinstance(x, bytes)}
    check(b"\\Seen" in flags.get(3, b"") and b"\\Seen" not in flags.get(2, b""),
          "UID 3 got \\Seen, UID 2 (modified meanwhile) did not (%r)" % dat)

    # CHANGEDSINCE: only UIDs 2 and 3 changed since h0; nothing since the newest.
    typ, dat = a.uid("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE %d)" % h0)
    f = modseqs(dat)
    check(sorted(f) == [2, 3] and f[3] > m2, "FETCH (CHANGEDSINCE %d): UIDs 2 and 3, 3's last (%r)" % (h0, f))
    m3 = f.get(3, 0)
    typ, dat = a.uid("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE %d)" % m3)
    check(typ == "OK" and modseqs(dat) == {}, "FETCH (CHANGEDSINCE %d): nothing (%r)" % (m3, dat))
    typ, dat = a.uid("SEARCH", "MODSEQ", str(m2))
    check(typ == "OK" and dat[0] == b"2 3 (MODSEQ %d)" % m3,
          "UID SEARCH MODSEQ %d: 2 3 (MODSEQ %d) (%r)" % (m2, m3, dat))

    # A flag set by renaming the file behind osd's back: a new modseq, told with the flag.
    cur = os.path.join(md, "cur")
    name = [n for n in os.listdir(cur) if n.startswith("1700000004.")][0]
    base = name.split(":")[0]
    os.rename(os.path.join(cur, name), os.path.join(cur, base + ":2,R"))
    f = modseqs(noop_fetches(a))
    check(4 in f and f[4] > m3, "a rename behind osd's back: UID 4 told with a MODSEQ above %d (%r)" % (m3, f))
    m4 = f.get(4, 0)
    h1 = highest(b)
    check(h1 >= m4, "STATUS HIGHESTMODSEQ %d covers the rename's %d" % (h1, m4))

    # Expunges raise HIGHESTMODSEQ: one by a client, one by a program deleting the file.
    b.uid("STORE", "1", "+FLAGS", "(\\Deleted)")
    typ, _ = b.expunge()
    check(typ == "OK", "client B EXPUNGE")
    h2 = highest(a)
    check(h2 > h1, "an EXPUNGE raises HIGHESTMODSEQ (%d -> %d)" % (h1, h2))
    name = [n for n in os.listdir(cur) if n.startswith("1700000003.")][0]
    os.unlink(os.path.join(cur, name))
    noop_fetches(a)
    h3 = highest(a)
    check(h3 > h2, "a message deleted behind osd's back (pop3d) raises HIGHESTMODSEQ (%d -> %d)" % (h2, h3))
    a.logout()
    b.logout()

    # A restart: the same modseqs and HIGHESTMODSEQ, and CHANGEDSINCE still knows what changed when.
    o.stop(runp)
    o.procs.remove(runp)
    log = o.log("run")
    runp = start(o, port)
    a = login(port)
    h4 = select_condstore(a)
    check(h4 == h3, "after a restart SELECT (CONDSTORE) tells the same HIGHESTMODSEQ (%d, was %d)" % (h4, h3))
    typ, dat = a.uid("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE %d)" % m3)
    f = modseqs(dat)
    check(f == {4: m4}, "after a restart FETCH (CHANGEDSINCE %d): UID 4 with MODSEQ %d (%r)" % (m3, m4, f))
    typ, dat = a.uid("FETCH", "2", "(MODSEQ)")
    check(modseqs(dat) == {2: m2}, "after a restart UID 2 keeps MODSEQ %d (%r)" % (m2, dat))
    a.logout()
    check_no_crash("imapd", log + o.log("run"))


if __name__ == "__main__":
    main()
