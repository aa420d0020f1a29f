#!/usr/bin/env python3
"""osd imapd with mbsync (isync), a real two-way IMAP synchronizer.

mbsync lists the folders (LIST), creates them on either side (CREATE),
selects them (SELECT/EXAMINE), fetches by UID (UID FETCH of FLAGS, sizes,
bodies), appends (APPEND with flags and dates, APPENDUID), stores flags
(UID STORE) and expunges (UID EXPUNGE or EXPUNGE). Three runs over one
account: the first copies the server down; between the first and the
second, the server gets a new delivery and moves a message to another folder
(MOVE, imaplib), and the local side flags one message, deletes another and
writes a new one in Sent; the second run carries each change across, the
third finds nothing left to do. At the end both sides hold the same
messages, once each, with the same flags.
"""
import imaplib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, check, finish, free_port, have, wait_port  # noqa: E402
from test_imapd import add_user  # noqa: E402

DOM = "example.test"


def subjects_local(maildir):
    """Subject and Maildir flags of each message of a local folder."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                subj = [ln for ln in f.read().splitlines() if ln.startswith(b"Subject:")][0]
            flags = name.split(":2,")[1] if ":2," in name else ""
            out.append((subj.decode(), "".join(sorted(flags))))
    return sorted(out)


def subjects_server(port, box):
    """Subject and flags (as Maildir letters) of each message of a server folder, over IMAP."""
    letters = {b"\\Seen": "S", b"\\Flagged": "F", b"\\Answered": "R", b"\\Deleted": "T", b"\\Draft": "D"}
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    m.login("alice", "alice-pw")
    typ, data = m.select(box, readonly=True)
    out = []
    if typ == "OK" and data != [b"0"]:
        typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        for item in data:
            if isinstance(item, tuple):
                flags = imaplib.ParseFlags(item[0])
                out.append((item[1].strip().decode(),
                            "".join(sorted(letters[f] for f in flags if f in letters))))
    m.logout()
    return sorted(out)


def mbsync(o, rc, n):
    p = subprocess.run(["mbsync", "-c", rc, "all"], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "mbsync run %d (rc %d: %s)" % (n, p.returncode, p.stderr.strip()[-500:]))
    return p


def main():
    if not have("mbsync"):
        check(False, "mbsync is installed (isync, scripts/install-deps.sh)")
        finish()
    o = Osd()
    try:
        run(o)
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


def run(o):
    port = free_port()
    o.write_conf("3h", "imap_listen = 127.0.0.1:%d\nsmtp_listen =\nsubmission_listen =\n"
                 "default_domain = %s\nservices = watch imapd\n" % (port, DOM))
    alice = add_user(o, "alice@" + DOM, "alice-pw")
    for i in (1, 2, 3):
        with open(os.path.join(alice, "new", "170000000%d.M%dP1.host" % (i, i)), "wb") as f:
            f.write(b"Subject: m%d\r\nMessage-ID: <m%d@example.test>\r\n\r\nbody %d\r\n" % (i, i, i))
    runp = o.start("run")
    if not wait_port(port, runp):
        check(False, "osd run starts imapd on %d" % port)
        print(o.log("run")[-2000:])
        return
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    m.login("alice", "alice-pw")
    check(m.create("Sent")[0] == "OK" and m.create("Lists.osd")[0] == "OK", "CREATE Sent, Lists.osd")
    m.logout()

    local = os.path.join(o.root, "local")
    os.makedirs(local)
    rc = os.path.join(o.root, "mbsyncrc")
    with open(rc, "w") as f:
        f.write("IMAPAccount osd\nHost 127.0.0.1\nPort %d\nUser alice\nPass alice-pw\n"
                "SSLType None\nAuthMechs LOGIN\n\nIMAPStore far\nAccount osd\n\n"
                "MaildirStore near\nInbox %s\nSubFolders Maildir++\n\n"
                "Channel all\nFar :far:\nNear :near:\nPatterns *\nCreate Both\n"
                "Expunge Both\nSyncState *\n" % (port, local))

    # Run 1: the server's folders and messages come down.
    mbsync(o, rc, 1)
    check(os.path.isdir(os.path.join(local, ".Sent")) and os.path.isdir(os.path.join(local, ".Lists.osd")),
          "run 1 creates the local folders .Sent and .Lists.osd")
    check(subjects_local(local) == [("Subject: m1", ""), ("Subject: m2", ""), ("Subject: m3", "")],
          "run 1 copies the three messages down (%r)" % subjects_local(local))

    # Changes on both sides.
    with open(os.path.join(alice, "new", "1700000009.M9P1.host"), "wb") as f:
        f.write(b"Subject: m9\r\nMessage-ID: <m9@example.test>\r\n\r\nnine\r\n")
    m = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    m.login("alice", "alice-pw")
    m.select("INBOX")
    typ, data = m.uid("SEARCH", None, "HEADER", "Subject", "m3")
    typ, data = m._simple_command("UID", "MOVE", data[0].decode(), "Lists.osd")
    check(typ == "OK", "UID MOVE of m3 to Lists.osd (%r)" % data)
    m.logout()
    files = {}
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(local, sub)):
            with open(os.path.join(local, sub, name), "rb") as fh:
                files[fh.read().splitlines()[0]] = os.path.join(local, sub, name)
    m1 = files[b"Subject: m1"]
    os.rename(m1, os.path.join(local, "cur", os.path.basename(m1).split(":2,")[0] + ":2,FS"))
    os.unlink(files[b"Subject: m2"])
    os.makedirs(os.path.join(local, ".Sent", "new"), exist_ok=True)
    with open(os.path.join(local, ".Sent", "new", "1700000100.L1.host"), "wb") as f:
        f.write(b"Subject: sent\r\nMessage-ID: <s1@example.test>\r\n\r\nsent\r\n")

    # Run 2 carries every change across; run 3 finds both sides equal and changes nothing.
    mbsync(o, rc, 2)
    mbsync(o, rc, 3)
    want = {
        "INBOX": [("Subject: m1", "FS"), ("Subject: m9", "")],
        "Sent": [("Subject: sent", "")],
        "Lists.osd": [("Subject: m3", "")],
    }
    near = {"INBOX": local, "Sent": os.path.join(local, ".Sent"),
            "Lists.osd": os.path.join(local, ".Lists.osd")}
    for box, msgs in want.items():
        far = subjects_server(port, box)
        check(far == msgs, "server %s after runs 2 and 3: %r (got %r)" % (box, msgs, far))
        got = subjects_local(near[box])
        check(got == msgs, "local %s after runs 2 and 3: %r (got %r)" % (box, msgs, got))
    check("died of signal" not in o.log("run"), "no imapd session crashed")


if __name__ == "__main__":
    main()
