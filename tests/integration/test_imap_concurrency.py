#!/usr/bin/env python3
"""Two IMAP sessions on one mailbox while osd queue delivers into it and osd
pop3d deletes from it.

osd watch, pop3d, smtpd, queue and imapd run side by side on 127.0.0.81.
A thread sends messages through osd smtpd to bob (osd queue -> osd-local ->
bob's Maildir) the whole time; meanwhile two Python imaplib clients A and B
have INBOX selected and take turns: NOOP, FETCH 1:* (UID FLAGS), UID SEARCH
ALL; A or B sets or clears \\Flagged (the other must get an untagged FETCH
with the new flags at its next NOOP), A marks one \\Deleted and EXPUNGEs it
(B must get the EXPUNGE at its next NOOP), and a poplib session deletes
messages both clients know (DELE + QUIT): B's FETCH 1:* and UID SEARCH
right after must not report the expunge (RFC 3501 7.4.1), its NOOP must.

Each client keeps a model of its view, seq -> UID, built only from the
untagged EXISTS, EXPUNGE and FETCH responses, in the order they came
(imaplib's _append_untagged is hooked to keep that order). Checked after
every step:
- a FETCH names a sequence number the client has been told of, and the UID
  it gives for a number equals the model's (EXPUNGE renumbering right);
- UIDs ascend with the sequence numbers; no UID appears twice; a UID once
  expunged never comes back (UIDs never reused);
- UID SEARCH ALL and FETCH 1:* agree with the model once the view is quiet;
- each delivered message (by its Subject) has one UID only, the same in both
  clients, and never changes UID;
- at the end every delivered message has been seen by both clients, and
  what is left is exactly delivered - deleted by pop3d - expunged over
  IMAP, in both views and in the Maildir; no daemon or session crashed.
"""
import imaplib
import os
import poplib
import re
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, check, check_no_crash, finish, free_port, qstat,  # noqa: E402
                     wait_for, wait_port)

DOM = "example.test"
HOST = "127.0.0.81"          # every listener of this test
SRC_A, SRC_B, SRC_POP, SRC_SMTP = "127.0.0.82", "127.0.0.83", "127.0.0.84", "127.0.0.85"
NMSG = 30                    # messages delivered during the run
T = 20                       # client timeouts (a functional bound)

FETCH_RE = re.compile(rb"^(\d+) \((.*)$", re.S)
UID_RE = re.compile(rb"\bUID (\d+)")
FLAGS_RE = re.compile(rb"\bFLAGS \(([^)]*)\)")
SUBJ_RE = re.compile(rb"Subject: (cc-\d+)")


class Dead(Exception):
    """A client's connection ended under it (the session died)."""


class Client(imaplib.IMAP4):
    """imaplib from a chosen source address, keeping a seq -> UID model of the
    selected folder from the untagged responses in the order they arrive."""

    def __init__(self, name, port, src):
        self.name, self._src = name, src
        self.events = []          # (typ, dat) in arrival order, not yet applied
        self.model = []           # seq - 1 -> UID (None: announced, UID not yet known)
        self.flags = {}           # UID -> set of flags (bytes), as last told
        self.subj = {}            # UID -> Subject (cc-N)
        self.gone = set()         # UIDs expunged from this view
        self.maxuid = 0           # highest UID ever seen in this view
        self.errors = []          # protocol violations seen (each also a FAIL)
        self.search = None        # the last * SEARCH result (list of ints)
        self.flag_events = []     # (UID, flags) of untagged FETCH FLAGS, since reset
        self.history = []         # commands sent and untagged responses, for a failure report
        super().__init__(HOST, port, timeout=T)

    def _create_socket(self, timeout):
        import socket
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._src, 0))

    def _append_untagged(self, typ, dat):
        self.events.append((typ, dat))
        self.history.append("  * %s %r" % (typ, dat))
        super()._append_untagged(typ, dat)

    def bad(self, what):
        self.errors.append(what)
        check(False, "%s: %s" % (self.name, what))

    def apply(self):
        """Apply the untagged responses received so far to the model, in order."""
        ev, self.events = self.events, []
        for typ, dat in ev:
            body = None
            if isinstance(dat, tuple):
                dat, body = dat
            if typ == "EXISTS":
                n = int(dat)
                if n < len(self.model):
                    self.bad("* %d EXISTS below the %d messages known without EXPUNGE" % (n, len(self.model)))
                    continue
                self.model.extend([None] * (n - len(self.model)))
            elif typ == "EXPUNGE":
                n = int(dat)
                if not 1 <= n <= len(self.model):
                    self.bad("* %d EXPUNGE outside 1..%d" % (n, len(self.model)))
                    continue
                uid = self.model.pop(n - 1)
                if uid is not None:
                    self.gone.add(uid)
            elif typ == "SEARCH":
                self.search = [int(x) for x in dat.split()]
            elif typ == "FETCH":
                m = FETCH_RE.match(dat)
                if not m:
                    continue            # the rest of a line after a literal
                seq, items = int(m.group(1)), m.group(2)
                if not 1 <= seq <= len(self.model):
                    self.bad("* %d FETCH for a number not announced (%d known): %r" % (seq, len(self.model), dat))
                    continue
                um = UID_RE.search(items)
                uid = self.model[seq - 1]
                if um:
                    got = int(um.group(1))
                    if uid is None:
                        self.learn(seq, got)
                        uid = self.model[seq - 1]
                    elif got != uid:
                        self.bad("* %d FETCH says UID %d, the model has UID %d there (%r)"
                                 % (seq, got, uid, self.model))
                        continue
                if uid is None:
                    continue
                fm = FLAGS_RE.search(items)
                if fm:
                    fl = set(fm.group(1).split())
                    self.flags[uid] = fl
                    self.flag_events.append((uid, fl))
                if body is not None:
                    sm = SUBJ_RE.search(body)
                    if sm:
                        s = sm.group(1).decode()
                        if uid in self.subj and self.subj[uid] != s:
                            self.bad("UID %d was %s, now %s" % (uid, self.subj[uid], s))
                        self.subj[uid] = s

    def learn(self, seq, uid):
        """The UID of sequence number seq: ascending, unique, never an expunged one."""
        if uid in self.gone:
            self.bad("UID %d at %d was expunged before (UID reused)" % (uid, seq))
        if uid in self.model:
            self.bad("UID %d at %d is already at %d" % (uid, seq, self.model.index(uid) + 1))
        lower = [u for u in self.model[:seq - 1] if u is not None]
        upper = [u for u in self.model[seq:] if u is not None]
        if (lower and uid <= max(lower)) or (upper and uid >= min(upper)):
            self.bad("UID %d at %d does not ascend with the numbers (%r)" % (uid, seq, self.model))
        # A slot without a UID is a message announced by EXISTS: its UID must be
        # above every UID this view has seen (RFC 3501 2.3.1.1).
        if uid <= self.maxuid:
            self.bad("new message at %d with UID %d not above the highest seen %d" % (seq, uid, self.maxuid))
        self.maxuid = max(self.maxuid, uid)
        self.model[seq - 1] = uid

    def cmd(self, *args):
        """One command through imaplib; its untagged responses applied; the tagged status."""
        self.history.append("C: " + " ".join(args))
        try:
            typ, data = self._simple_command(*args)
        except (imaplib.IMAP4.abort, OSError) as e:
            self.bad("%r: the connection ended: %s" % (args, e))
            print("%s's last exchanges:\n%s" % (self.name, "\n".join(self.history[-60:])))
            raise Dead(self.name)
        except imaplib.IMAP4.error as e:
            self.bad("%r failed: %s" % (args, e))
            return "NO"
        self.history.append("S: %s %r" % (typ, data))
        self.apply()
        return typ

    def sync(self):
        """NOOP, then FETCH until every number has its UID and Subject, then
        UID SEARCH ALL: True when the view is quiet and all three agree."""
        self.cmd("NOOP")
        if self.model:
            self.cmd("FETCH", "1:*", "(UID FLAGS)")
        unknown = [u for u in self.model if u is not None and u not in self.subj]
        if unknown:
            self.cmd("UID", "FETCH", ",".join(map(str, unknown)),
                     "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        before = list(self.model)
        self.search = None
        self.cmd("UID", "SEARCH", "ALL")
        quiet = before == self.model and None not in self.model and \
            all(u in self.subj for u in self.model)
        return quiet and self.search is not None and sorted(self.search) == self.model

    def settle(self, what):
        """sync() until the view is quiet (deliveries and deletions race it)."""
        for _ in range(40):
            if self.sync():
                return True
            time.sleep(0.1)
        check(False, "%s: the view settles after %s (model %r, search %r)"
              % (self.name, what, self.model, self.search))
        return False

    def uid_of(self, subject):
        return [u for u, s in self.subj.items() if s == subject]


def message(i):
    return ("From: carol@client.test\r\nTo: bob@%s\r\nSubject: cc-%d\r\n"
            "Message-ID: <cc-%d@client.test>\r\n\r\nBody of message %d.\r\n" % (DOM, i, i, i)).encode()


def deliver(port, out, stop):
    """Send NMSG messages through osd smtpd, one connection each; out gets the
    numbers smtpd accepted (250), -N for a failure."""
    for i in range(1, NMSG + 1):
        if stop.is_set():
            return
        try:
            s = smtplib.SMTP(HOST, port, local_hostname="client.test", timeout=T,
                             source_address=(SRC_SMTP, 0))
            s.sendmail("carol@client.test", ["bob@" + DOM], message(i))
            s.quit()
            out.append(i)
        except (smtplib.SMTPException, OSError) as e:
            out.append(-i)
            print("delivery %d failed: %s" % (i, e))
        time.sleep(0.1)


class SrcPOP3(poplib.POP3):
    """poplib from this test's own source address."""

    def _create_socket(self, timeout):
        import socket
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(SRC_POP, 0))


def pop_delete(port, subjects):
    """POP3 as bob: DELE the messages whose Subject is in subjects, QUIT.
    The Subjects deleted."""
    p = SrcPOP3(HOST, port, timeout=T)
    deleted = []
    try:
        p.user("bob@" + DOM)
        p.pass_("pw-bob")
        _, listing, _ = p.list()
        for line in listing:
            n = int(line.split()[0])
            _, head, _ = p.top(n, 0)
            subj = [h for h in head if h.startswith(b"Subject: ")]
            s = subj[0][9:].decode() if subj else None
            if s in subjects:
                p.dele(n)
                deleted.append(s)
        check(p.quit().startswith(b"+OK"), "pop3d QUIT after DELE %r: +OK" % deleted)
    finally:
        p.close()
    return deleted


def files_in(md):
    out = []
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(md, sub)):
            with open(os.path.join(md, sub, name), "rb") as f:
                m = SUBJ_RE.search(f.read())
            out.append(m.group(1).decode() if m else name)
    return sorted(out)


def main():
    o = Osd(rules="")
    try:
        run(o)
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


def run(o):
    smtp, pop3, imap = free_port(HOST), free_port(HOST), free_port(HOST)
    o.write_conf("3h", "smtp_listen = %s:%d\nsubmission_listen =\npop3_listen = %s:%d\n"
                 "imap_listen = %s:%d\ncontrol_dir = control\ndefault_domain = %s\n"
                 % (HOST, smtp, HOST, pop3, HOST, imap, DOM))
    o.write_control("me", "mx.example.test\n")
    o.write_control("rcpthosts", DOM + "\n")
    p = o.run("user", "add", "bob@" + DOM, input="pw-bob\n")
    check(p.returncode == 0, "osd user add bob@%s (%s)" % (DOM, p.stderr.strip()))
    md = os.path.join(o.state, "domains", DOM, "bob", "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)

    o.start_watch()
    popd = o.start("pop3d")
    imapd = o.start("imapd")
    smtpd = o.start_smtpd()     # (its ports argument would wait on 127.0.0.1)
    seen = len(o.log("queue"))
    queue = o.start("queue")
    ok = wait_for(lambda: "ready" in o.log("queue")[seen:] or queue.poll() is not None) and \
        queue.poll() is None and smtpd.poll() is None and \
        wait_port(pop3, popd, HOST) and wait_port(imap, imapd, HOST)
    check(ok, "osd watch, pop3d, imapd, smtpd and queue run")
    if not ok:
        for name in ("queue", "smtpd", "pop3d", "imapd"):
            print(name, o.log(name)[-1000:])
        return

    a = Client("A", imap, SRC_A)
    b = Client("B", imap, SRC_B)
    for c in (a, b):
        check(c.login("bob", "pw-bob")[0] == "OK", "%s: LOGIN bob" % c.name)
        typ, _ = c.select("INBOX")
        c.apply()
        check(typ == "OK" and c.model == [], "%s: SELECT INBOX (empty: %r)" % (c.name, c.model))
        c.uidvalidity = int(c.untagged_responses.get("UIDVALIDITY", [b"0"])[-1])

    sent = []
    stop = threading.Event()
    th = threading.Thread(target=deliver, args=(smtp, sent, stop))
    th.start()
    try:
        rounds(o, a, b, th, pop3, sent, md)
    except Dead as e:
        check(False, "client %s kept its session to the end (imapd.log: %s)"
              % (e, [ln for ln in o.log("imapd").splitlines()
                     if "died" in ln or "runtime error" in ln or "Sanitizer" in ln]))
    finally:
        stop.set()
        th.join()
    for name, p in (("imapd", imapd), ("pop3d", popd), ("smtpd", smtpd), ("queue", queue)):
        check(p.poll() is None, "osd %s still runs" % name)
        check_no_crash(name, o.log(name))
    check("killed by signal" not in o.log("queue"), "no delivery program died of a signal")


def rounds(o, a, b, th, pop3, sent, md):
    """The steps of both clients, pop3d and the checks while th delivers."""

    popped, expunged = set(), set()
    flagged = None
    rnd = 0
    # Until the deliveries are over and each kind of step has run a few times.
    # The short sleep only paces the rounds against the deliveries.
    while (th.is_alive() or len(popped) < 4 or len(expunged) < 4) and rnd < 2000:
        rnd += 1
        time.sleep(0.02)
        a.sync()
        b.sync()
        step = rnd % 4
        both = sorted(set(a.subj.get(u) for u in a.model if u in a.subj) &
                      set(b.subj.get(u) for u in b.model if u in b.subj),
                      key=lambda s: int(s[3:]))
        if step == 1 and both:
            # A flags a message B knows: B hears of it at its next NOOP.
            s = both[-1]
            u = a.uid_of(s)[0]
            check(a.cmd("UID", "STORE", str(u), "+FLAGS", "(\\Flagged)") == "OK",
                  "round %d: A UID STORE %d +FLAGS (\\Flagged)" % (rnd, u))
            b.flag_events = []
            b.cmd("NOOP")
            got = [fl for uid, fl in b.flag_events if uid == u]
            check(got and b"\\Flagged" in got[-1],
                  "round %d: B's NOOP brings * FETCH (UID %d FLAGS (... \\Flagged)) (%r)" % (rnd, u, b.flag_events))
            flagged = s
        elif step == 2 and flagged is not None and flagged not in popped | expunged:
            # B clears it again: A hears of it.
            u = b.uid_of(flagged)[0]
            check(b.cmd("UID", "STORE", str(u), "-FLAGS", "(\\Flagged)") == "OK",
                  "round %d: B UID STORE %d -FLAGS (\\Flagged)" % (rnd, u))
            a.flag_events = []
            a.cmd("NOOP")
            got = [fl for uid, fl in a.flag_events if uid == u]
            check(got and b"\\Flagged" not in got[-1],
                  "round %d: A's NOOP brings * FETCH (UID %d FLAGS without \\Flagged) (%r)" % (rnd, u, a.flag_events))
            flagged = None
        elif step == 3 and len(both) >= 2 and len(popped) < NMSG // 3:
            # pop3d deletes the oldest message both clients know.
            s = both[0]
            got = pop_delete(pop3, {s})
            check(got == [s], "round %d: pop3d DELE of %s (%r)" % (rnd, s, got))
            popped.update(got)
            # B asks before any NOOP: FETCH and SEARCH must not report the
            # expunge (RFC 3501 7.4.1) nor shift a number; its NOOP then does.
            u = b.uid_of(s)[0] if b.uid_of(s) else None
            gone = len(b.gone)
            if b.model:
                b.cmd("FETCH", "1:*", "(UID FLAGS)")
            b.cmd("UID", "SEARCH", "ALL")
            check(len(b.gone) == gone and u in b.model,
                  "round %d: B's FETCH 1:* and UID SEARCH after pop3d's DELE report no EXPUNGE" % rnd)
            b.cmd("NOOP")
            check(u in b.gone and u not in b.model,
                  "round %d: B's NOOP brings the * EXPUNGE of UID %s deleted by pop3d" % (rnd, u))
        elif step == 0 and len(both) >= 2 and len(expunged) < NMSG // 3:
            # A expunges the second one both know: B gets * n EXPUNGE at its NOOP.
            s = both[1]
            u = a.uid_of(s)[0]
            n_b = b.model.index(b.uid_of(s)[0]) + 1 if b.uid_of(s) and b.uid_of(s)[0] in b.model else None
            a.cmd("UID", "STORE", str(u), "+FLAGS.SILENT", "(\\Deleted)")
            before = len(a.model)
            check(a.cmd("EXPUNGE") == "OK" and u not in a.model and u in a.gone,
                  "round %d: A EXPUNGE of UID %d (%s): * EXPUNGE for it (%d -> %d)" % (rnd, u, s, before, len(a.model)))
            expunged.add(s)
            ev_b = len(b.gone)
            b.cmd("NOOP")
            check(u in b.gone and u not in b.model and len(b.gone) > ev_b,
                  "round %d: B's NOOP brings * %s EXPUNGE for UID %d" % (rnd, n_b, u))

    th.join()
    accepted = ["cc-%d" % i for i in sent if i > 0]
    check(len(accepted) == NMSG, "osd smtpd accepted all %d messages (%r)" % (NMSG, sent))
    check(wait_for(lambda: qstat(o) == (0, 0)), "the queue is empty: everything delivered")
    check(wait_for(lambda: len(files_in(md)) == len(accepted) - len(popped) - len(expunged)),
          "the Maildir holds delivered - popped - expunged = %d" % (len(accepted) - len(popped) - len(expunged)))
    check(len(popped) >= 3 and len(expunged) >= 3,
          "the run deleted through pop3d (%d) and expunged over IMAP (%d)" % (len(popped), len(expunged)))
    left = sorted(set(accepted) - popped - expunged)
    for c in (a, b):
        c.settle("the last delivery")
        seen_subj = sorted(set(c.subj.values()))
        check(seen_subj == sorted(accepted),
              "%s saw every delivered message (%d of %d, missing %r)"
              % (c.name, len(seen_subj), len(accepted), sorted(set(accepted) - set(seen_subj))))
        dup = [s for s in seen_subj if len(c.uid_of(s)) != 1]
        check(not dup, "%s saw each message with one UID only (%r)" % (c.name, dup))
        now = sorted(c.subj[u] for u in c.model)
        check(now == left, "%s ends with delivered - deleted by pop3d - expunged: %d (got %d, %r)"
              % (c.name, len(left), len(now), sorted(set(now) ^ set(left))))
        typ, data = c.fetch("1:*", "(UID)") if c.model else ("OK", [])
        c.apply()
        check(typ == "OK", "%s: FETCH 1:* (UID) at the end" % c.name)
        check(not c.errors, "%s: no protocol violation in the whole run (%d)" % (c.name, len(c.errors)))
    same = all(a.uid_of(s) == b.uid_of(s) for s in accepted)
    check(same and a.uidvalidity == b.uidvalidity and a.uidvalidity > 0,
          "A and B saw every message under the same UID (UIDVALIDITY %d)" % a.uidvalidity)
    check(files_in(md) == left, "the Maildir holds exactly those (%r)" % sorted(set(files_in(md)) ^ set(left)))
    for c in (a, b):
        check(c.logout()[0] == "BYE", "%s: LOGOUT" % c.name)
    print("rounds %d, delivered %d, popped %d, expunged %d, left %d"
          % (rnd, len(accepted), len(popped), len(expunged), len(left)))


if __name__ == "__main__":
    main()
