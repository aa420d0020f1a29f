#!/usr/bin/env python3
"""osd imapd with real IMAP clients beyond mbsync (test_mbsync.py):

- offlineimap (Debian offlineimap3) syncs alice's INBOX to a local Maildir:
  run 1 copies the three messages down; then the server gets a new delivery,
  one message is flagged locally and another deleted locally; run 2 carries
  each change across (the new one down, \\Flagged up, the deletion up as
  \\Deleted + EXPUNGE); run 3 changes nothing. Both sides end with the same
  messages, once each, with the same flags.
- getmail6 retrieves carol's INBOX over plain IMAP on loopback with
  delete = true (its Maildir delivery as nobody: getmail will not deliver
  as root): run 1 gets the three messages and empties the server;
  after a new delivery run 2 gets that one only (no duplicate, none lost).
- mutt, headless in tmux (a private tmux socket), opens
  imap://dave@HOST:PORT/INBOX, reads the first message (Enter: its body
  shows in the pager), flags it ('F'), deletes the second ('d', then '$'
  to sync) and quits; checked on the screen (capture-pane) and then on the
  server over imaplib: the first \\Seen \\Flagged, the second gone, the
  third untouched.

A missing client is a FAIL (scripts/install-deps.sh installs them all).
imapd listens on 127.0.0.87 only.
"""
import imaplib
import os
import shutil
import pwd
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, check, check_no_crash, finish, free_port, have,  # noqa: E402
                     wait_for, wait_port)

DOM = "example.test"
HOST = "127.0.0.87"
LETTERS = {b"\\Seen": "S", b"\\Flagged": "F", b"\\Answered": "R", b"\\Deleted": "T", b"\\Draft": "D"}


def add_user(o, user):
    p = o.run("user", "add", "%s@%s" % (user, DOM), input="%s-pw\n" % user)
    check(p.returncode == 0, "osd user add %s@%s (%s)" % (user, DOM, p.stderr.strip()))
    md = os.path.join(o.state, "domains", DOM, user, "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    return md


def deliver(md, tag, n):
    """A message as a delivery leaves it: a new file in new/ (Subject: tag)."""
    name = "17000%05d.M%dP1.host" % (n, n)
    with open(os.path.join(md, "new", name), "wb") as f:
        f.write(b"From: x@client.test\nTo: y@example.test\nSubject: %s\n"
                b"Message-ID: <%s@client.test>\n\nBody of %s.\n" % (tag.encode(), tag.encode(), tag.encode()))


def local_msgs(md):
    """(Subject, Maildir flags) of each message of a local Maildir."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(md, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                subj = [ln for ln in f.read().splitlines() if ln.startswith(b"Subject: ")]
            flags = name.split(":2,")[1] if ":2," in name else ""
            out.append((subj[0][9:].decode() if subj else name,
                        "".join(sorted(c for c in flags if c.isupper()))))
    return sorted(out)


def server_msgs(port, user):
    """(Subject, flags as Maildir letters) of each message of user's INBOX, over IMAP (EXAMINE)."""
    m = imaplib.IMAP4(HOST, port, timeout=20)
    try:
        m.login(user, user + "-pw")
        typ, data = m.select("INBOX", readonly=True)
        out = []
        if typ == "OK" and data != [b"0"]:
            typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            for item in data:
                if isinstance(item, tuple):
                    flags = imaplib.ParseFlags(item[0])
                    out.append((item[1].strip()[9:].decode(),
                                "".join(sorted(LETTERS[f] for f in flags if f in LETTERS))))
        m.logout()
        return sorted(out)
    except (imaplib.IMAP4.error, OSError) as e:
        return "error: %s" % e


def test_offlineimap(o, port):
    md = add_user(o, "alice")
    for i in (1, 2, 3):
        deliver(md, "oi-%d" % i, i)
    local = os.path.join(o.root, "oimap")
    rc = os.path.join(o.root, "offlineimaprc")
    with open(rc, "w") as f:
        f.write("[general]\naccounts = osd\nmetadata = %s\n\n"
                "[Account osd]\nlocalrepository = near\nremoterepository = far\n\n"
                "[Repository near]\ntype = Maildir\nlocalfolders = %s\n\n"
                "[Repository far]\ntype = IMAP\nremotehost = %s\nremoteport = %d\n"
                "remoteuser = alice\nremotepass = alice-pw\nssl = no\nstarttls = no\n"
                "folderfilter = lambda f: f == 'INBOX'\nholdconnectionopen = no\n"
                % (os.path.join(o.root, "oimap-meta"), local, HOST, port))

    def run(n):
        p = subprocess.run(["offlineimap", "-c", rc, "-o", "-u", "basic"], capture_output=True,
                           text=True, timeout=180, env=dict(os.environ, HOME=o.root))
        out = p.stdout + p.stderr
        good = p.returncode == 0 and "ERROR" not in out
        check(good, "offlineimap run %d (rc %d%s)" % (n, p.returncode, "" if good else ": " + out.strip()[-600:]))
        return out

    inbox = os.path.join(local, "INBOX")
    run(1)
    got = local_msgs(inbox)
    check(got == [("oi-1", ""), ("oi-2", ""), ("oi-3", "")],
          "offlineimap run 1 copies the three messages down (%r)" % got)

    # Server: a new delivery. Local: oi-1 flagged, oi-2 deleted.
    deliver(md, "oi-4", 4)
    files = {}
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(inbox, sub)):
            with open(os.path.join(inbox, sub, name), "rb") as f:
                s = [ln for ln in f.read().splitlines() if ln.startswith(b"Subject: ")][0][9:].decode()
            files[s] = os.path.join(inbox, sub, name)
    if set(files) != {"oi-1", "oi-2", "oi-3"}:
        check(False, "offlineimap's local files are the three messages (%r)" % sorted(files))
        return
    p1 = files["oi-1"]
    base = os.path.basename(p1).split(":2,")[0]
    old = os.path.basename(p1).split(":2,")[1] if ":2," in p1 else ""
    os.rename(p1, os.path.join(inbox, "cur", base + ":2," + "".join(sorted(set(old + "F")))))
    os.unlink(files["oi-2"])

    run(2)
    out = run(3)
    acts = [ln for ln in out.splitlines() if ln.strip().startswith(("Copy message", "Deleting", "Adding flag",
                                                                    "Removing flag"))]
    check(not acts, "offlineimap run 3 finds nothing to do (%r)" % acts)
    want = [("oi-1", "F"), ("oi-3", ""), ("oi-4", "")]
    got = server_msgs(port, "alice")
    check(got == want, "offlineimap runs 2 and 3: server INBOX %r (got %r)" % (want, got))
    got = local_msgs(inbox)
    check(got == want, "offlineimap runs 2 and 3: local INBOX %r (got %r)" % (want, got))


def test_getmail(o, port):
    md = add_user(o, "carol")
    for i in (1, 2, 3):
        deliver(md, "gm-%d" % i, i)
    # getmail refuses to deliver as root: its Maildir delivery runs as nobody
    # (its option user), so the Maildir is outside the osd root (0700) and nobody's.
    out_root = tempfile.mkdtemp(prefix="osd-getmail-")
    os.chmod(out_root, 0o755)
    dest = os.path.join(out_root, "Maildir")
    nobody = pwd.getpwnam("nobody")
    for sub in ("", "cur", "new", "tmp"):
        os.makedirs(os.path.join(dest, sub), exist_ok=True)
        os.chown(os.path.join(dest, sub), nobody.pw_uid, nobody.pw_gid)
    try:
        getmail_runs(o, port, md, dest)
    finally:
        shutil.rmtree(out_root, ignore_errors=True)


def getmail_runs(o, port, md, dest):
    gdir = os.path.join(o.root, "getmail")
    os.makedirs(gdir)
    rc = os.path.join(gdir, "getmailrc")
    with open(rc, "w") as f:
        f.write("[retriever]\ntype = SimpleIMAPRetriever\nserver = %s\nport = %d\n"
                "username = carol\npassword = carol-pw\nmailboxes = (\"INBOX\",)\n\n"
                "[destination]\ntype = Maildir\npath = %s/\n%s\n"
                "[options]\nverbose = 1\nread_all = false\ndelete = true\n"
                % (HOST, port, dest, "user = nobody\n" if os.geteuid() == 0 else ""))

    def run(n):
        p = subprocess.run(["getmail", "--getmaildir", gdir, "--rcfile", rc], capture_output=True,
                           text=True, timeout=180, env=dict(os.environ, HOME=o.root))
        out = p.stdout + p.stderr
        check(p.returncode == 0, "getmail run %d (rc %d%s)" % (
            n, p.returncode, "" if p.returncode == 0 else ": " + out.strip()[-600:]))
        return out

    run(1)
    got = local_msgs(dest)
    check([s for s, _ in got] == ["gm-1", "gm-2", "gm-3"], "getmail run 1 retrieves the three messages (%r)" % got)
    check(server_msgs(port, "carol") == [], "getmail run 1 deletes them on the server (%r)"
          % (server_msgs(port, "carol"),))
    deliver(md, "gm-4", 4)
    out = run(2)
    got = local_msgs(dest)
    check([s for s, _ in got] == ["gm-1", "gm-2", "gm-3", "gm-4"],
          "getmail run 2 retrieves the new message only: no duplicate, none lost (%r; %s)" % (got, out.strip()[-300:]))
    check(server_msgs(port, "carol") == [], "getmail run 2 leaves the server INBOX empty")


class Tmux:
    """A private tmux server (its own socket) running one command in a pane."""

    def __init__(self, root, cmd, env):
        self.sock = os.path.join(root, "tmux.sock")
        self.env = env
        subprocess.run(self.tmux("new-session", "-d", "-s", "m", "-x", "160", "-y", "40", cmd),
                       check=True, env=env, timeout=30)
        p = subprocess.run(self.tmux("display-message", "-p", "#{pid}"), capture_output=True,
                           text=True, env=env, timeout=30)
        self.pid = int(p.stdout.strip()) if p.stdout.strip().isdigit() else None

    def tmux(self, *args):
        return ["tmux", "-S", self.sock] + list(args)

    def keys(self, *keys):
        subprocess.run(self.tmux("send-keys", "-t", "m") + list(keys), env=self.env, timeout=30)

    def screen(self):
        p = subprocess.run(self.tmux("capture-pane", "-p", "-t", "m"), capture_output=True,
                           text=True, env=self.env, timeout=30)
        return p.stdout

    def wait_screen(self, pred):
        last = [""]

        def ok():
            last[0] = self.screen()
            return pred(last[0])
        good = bool(wait_for(ok, step=0.1))
        # The screen goes into the check's text only when the check fails.
        return good, "" if good else last[0][-1500:]

    def stop(self):
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            if not wait_for(lambda: not os.path.exists("/proc/%d" % self.pid) or
                            open("/proc/%d/stat" % self.pid).read().split()[2] == "Z"):
                os.kill(self.pid, signal.SIGKILL)


def index_flags(screen, subject):
    """The status flags (%Z) mutt's index shows for subject ('' when not listed)."""
    for ln in screen.splitlines():
        f = ln.split()
        if len(f) >= 2 and f[-1] == subject and f[0].isdigit():
            return "".join(f[1:-1])
    return ""


def test_mutt(o, port):
    md = add_user(o, "dave")
    for i in (1, 2, 3):
        deliver(md, "mutt-%d" % i, i)
    home = os.path.join(o.root, "mutt-home")
    os.makedirs(home)
    rc = os.path.join(home, "muttrc")
    with open(rc, "w") as f:
        f.write('set imap_user = "dave"\nset imap_pass = "dave-pw"\n'
                'set folder = "imap://dave@%s:%d/"\nset spoolfile = "+INBOX"\n'
                'set ssl_starttls = no\nset ssl_force_tls = no\nset record = ""\n'
                'set header_cache = ""\nset message_cachedir = ""\nset move = no\n'
                'set delete = yes\nset quit = yes\nset confirmappend = no\nset mark_old = no\n'
                'set sort = date-sent\nset resolve = no\nset pager_index_lines = 0\nset wait_key = no\n'
                'set index_format = "%%4C %%Z %%s"\n' % (HOST, port))
    env = dict(os.environ, HOME=home, TERM="xterm", LANG="C.UTF-8")
    env.pop("TMUX", None)
    url = "imap://dave@%s:%d/INBOX" % (HOST, port)
    t = Tmux(o.root, "mutt -n -F %s -f %s" % (rc, url), env)
    try:
        ok, scr = t.wait_screen(lambda s: "mutt-1" in s and "mutt-3" in s)
        check(ok, "mutt opens %s and lists the three messages (%r)" % (url, scr))
        if not ok:
            return
        t.keys("Enter")
        ok, scr = t.wait_screen(lambda s: "Body of mutt-1." in s)
        check(ok, "Enter: mutt shows the body of mutt-1 in its pager (%r)" % scr)
        t.keys("i")          # back to the index
        ok, scr = t.wait_screen(lambda s: "mutt-2" in s and "Body of" not in s)
        check(ok, "i: back in the index")
        t.keys("F")          # flag mutt-1 (the current message)
        ok, scr = t.wait_screen(lambda s: "!" in index_flags(s, "mutt-1"))
        check(ok, "F: mutt-1 is shown flagged ('!') (%r)" % scr)
        t.keys("j")
        t.keys("d")          # delete mutt-2
        ok, scr = t.wait_screen(lambda s: "D" in index_flags(s, "mutt-2"))
        check(ok, "d: mutt-2 is shown deleted ('D') (%r)" % scr)
        t.keys("$")          # sync: the flag and the deletion go to the server
        ok, scr = t.wait_screen(lambda s: "mutt-2" not in s and "mutt-3" in s)
        check(ok, "$: mutt-2 leaves the index after the sync (%r)" % scr)
        got = server_msgs(port, "dave")
        check(got == [("mutt-1", "FS"), ("mutt-3", "")],
              "after mutt's sync the server has mutt-1 \\Seen \\Flagged, no mutt-2, mutt-3 untouched (%r)" % (got,))
        t.keys("q")
        ok = wait_for(lambda: not os.path.exists("/proc/%d" % t.pid) or
                      "m" not in subprocess.run(t.tmux("list-sessions", "-F", "#{session_name}"),
                                                capture_output=True, text=True, env=env).stdout.split())
        check(ok, "q: mutt quits")
    finally:
        t.stop()


def main():
    missing = [tool for tool in ("offlineimap", "getmail", "mutt", "tmux") if not have(tool)]
    if missing:
        check(False, "%s installed (offlineimap3, getmail6, mutt, tmux: scripts/install-deps.sh)" % missing)
        finish()
    o = Osd()
    try:
        port = free_port(HOST)
        o.write_conf("3h", "imap_listen = %s:%d\ndefault_domain = %s\n" % (HOST, port, DOM))
        imapd = o.start("imapd")
        if not check(wait_port(port, imapd, HOST), "osd imapd listens on %s:%d" % (HOST, port)):
            print(o.log("imapd")[-2000:])
            finish()
        test_offlineimap(o, port)
        test_getmail(o, port)
        test_mutt(o, port)
        check_no_crash("imapd", o.log("imapd"))
        check(imapd.poll() is None, "osd imapd still runs")
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
