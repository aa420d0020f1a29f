#!/usr/bin/env python3
"""The open-relay battery (issue 15): a client that may not relay gets every
classic relay trick refused, and nothing is queued for a remote domain.

Where the forms come from: the DSBL project's relay tester, relaytest(1)
(shipped in Debian as part of the old dsbltesters package), walks a server
through a fixed list of RCPT spellings of a third-party address: the
address as is, quoted whole, without angle brackets; then, against each
name the server may call its own (its domains, localhost, its address
literal), the %-hack, the quoted %-hack, the double @, the quoted @, the
source route and the bang path with and without the server's domain; and
it repeats them with senders in the server's own domain, the null sender
and a bang-path sender.  The same families, written here in our own
words, are completed by the spellings that relay checkers such as rlytest
also vary: letter case, a trailing dot, IPv4 and IPv6 literals, stacked
%-hacks and mixed bang/percent paths.

For each form, in a session of its own from 127.0.0.6 (no relay right):
MAIL, RCPT with the form, then RCPT to a real local user and DATA, so that
whatever smtpd accepted would be queued.  Asserted: the form's RCPT gets a
5xx (553 for a well-formed address outside rcpthosts, 550/553 for a
routing trick, 501 for what is no address at all), never 250 and never a
temporary 4xx; and no queue file names any recipient but the local user.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, SmtpRaw, check, check_no_crash, finish, free_port  # noqa: E402

DOM = "example.test"         # virtual domain with users, in rcpthosts
HOSTED = "hosted.test"       # rcpthosts only, no users here
ME = "mx.example.test"
LOCAL = "alice@" + DOM
VICTIM = "victim"
REMOTE = "remote.example"    # the third party the relay would reach
SRC = "127.0.0.6"


def forms():
    """(rcpt argument as sent, sender) pairs: at least 30 distinct spellings."""
    ours = [DOM, HOSTED, ME, "localhost", "[127.0.0.1]"]
    out = []
    # The third-party address itself, in the spellings a parser may take apart.
    for rcpt in ("<%s@%s>" % (VICTIM, REMOTE),
                 "<\"%s@%s\">" % (VICTIM, REMOTE),
                 "%s@%s" % (VICTIM, REMOTE),
                 "<%s@%s>" % (VICTIM.upper(), REMOTE.upper()),
                 "<%s@%s.>" % (VICTIM, REMOTE),
                 "<\"%s\"@%s>" % (VICTIM, REMOTE),
                 "<postmaster@%s>" % REMOTE,
                 "<%s@%s> NOTIFY=NEVER" % (VICTIM, REMOTE),
                 "<%s%%%s>" % (VICTIM, REMOTE),
                 "<\"%s%%%s\">" % (VICTIM, REMOTE),
                 "<%s!%s>" % (REMOTE, VICTIM),
                 "<%s@[127.0.0.2]>" % VICTIM,
                 "<%s@[192.0.2.1]>" % VICTIM,
                 "<%s@[IPv6:::1]>" % VICTIM,
                 "<%s@[IPv6:::ffff:127.0.0.1]>" % VICTIM,
                 "<%s@127.0.0.1>" % VICTIM,
                 "<%s@%s.%s>" % (VICTIM, DOM, REMOTE),
                 "<%s@%s.%s>" % (VICTIM, REMOTE, DOM),
                 "<%s\\@%s@%s>" % (VICTIM, REMOTE, DOM),
                 "<%s@%s@%s>" % (VICTIM, DOM, REMOTE)):
        for sender in ("<nobody@%s>" % REMOTE, "<>", "<nobody@%s>" % DOM, "<%s!nobody@%s>" % (REMOTE, DOM)):
            out.append((rcpt, sender))
    # Against each name the server may take for its own.
    for d in ours:
        for rcpt in ("<%s%%%s@%s>" % (VICTIM, REMOTE, d),
                     "<\"%s%%%s\"@%s>" % (VICTIM, REMOTE, d),
                     "<%s@%s@%s>" % (VICTIM, REMOTE, d),
                     "<\"%s@%s\"@%s>" % (VICTIM, REMOTE, d),
                     "<@%s:%s@%s>" % (d, VICTIM, REMOTE),
                     "<@%s,@%s:%s@%s>" % (d, REMOTE, VICTIM, DOM),
                     "<%s!%s@%s>" % (REMOTE, VICTIM, d),
                     "<%s%%%s%%%s@%s>" % (VICTIM, REMOTE, d, d),
                     "<%s!%s%%%s@%s>" % (REMOTE, VICTIM, d, d),
                     "<%s%%%s@%s>" % (VICTIM.upper(), REMOTE.upper(), d.upper())):
            out.append((rcpt, "<nobody@%s>" % (DOM if d.startswith("[") else d)))
    return out


def session(port, rcpt, sender):
    """One transaction: (code, text) of the form's RCPT, and the DATA result."""
    r = SmtpRaw(port, SRC)
    r.cmd("EHLO relaytest.remote.example")
    c, t = r.cmd("MAIL FROM:%s" % sender)
    if c != 250:
        r.close()
        return (c, "MAIL refused: " + t), None
    got = r.cmd("RCPT TO:%s" % rcpt)
    r.cmd("RCPT TO:<%s>" % LOCAL)
    c, _ = r.cmd("DATA")
    done = None
    if c == 354:
        r.send("Subject: relay test\r\n\r\nform %s\r\n.\r\n" % rcpt)
        done = r.reply()
    r.cmd("QUIT")
    r.close()
    return got, done


def main():
    o = Osd()
    port = free_port()
    o.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\ncontrol_dir = control\n"
                 "default_domain = %s\n" % (port, DOM))
    o.write_control("me", ME + "\n")
    o.write_control("rcpthosts", "%s\n%s\n" % (DOM, HOSTED))
    try:
        p = o.run("user", "add", LOCAL, input="alice-pw\n")
        check(p.returncode == 0, "osd user add %s (%s)" % (LOCAL, p.stderr.strip()))
        d = o.start_smtpd(port)
        if not check(d.poll() is None, "osd smtpd runs (%s)" % o.log("smtpd")[-300:]):
            return
        rc, f = o.check_ip(SRC)
        check(rc == 1, "%s may not relay (osd check exits 1)" % SRC)

        battery = forms()
        distinct = sorted(set(r for r, _ in battery))
        check(len(distinct) >= 30, "the battery has at least 30 address forms (%d)" % len(distinct))
        accepted, temp, mail_refused, queued, codes = [], [], [], 0, {}
        for rcpt, sender in battery:
            (c, t), done = session(port, rcpt, sender)
            codes[c] = codes.get(c, 0) + 1
            if t.startswith("MAIL refused"):
                mail_refused.append((sender, t))
            if c == 250 or (200 <= c < 300):
                accepted.append((rcpt, sender, t))
            elif not 500 <= c < 600:
                temp.append((rcpt, sender, c, t))
            if done and done[0] == 250:
                queued += 1
        check(not accepted, "no relay form is accepted at RCPT from a non-relay client "
              "(%d of %d accepted: %r)" % (len(accepted), len(battery), accepted[:5]))
        check(not temp, "every form gets a permanent 5xx, never 4xx or no answer (%r)" % temp[:5])
        check(not mail_refused, "every sender of the battery is taken, so each RCPT form is "
              "really tried (%r)" % mail_refused[:3])
        print("# RCPT replies by code: %s" % ", ".join("%d x%d" % kv for kv in sorted(codes.items())))
        files = o.queue_files()
        # A well-formed address outside rcpthosts gets qmail's 553, the plain case.
        (c, t), _ = session(port, "<%s@%s>" % (VICTIM, REMOTE), "<nobody@%s>" % REMOTE)
        check(c == 553 and "rcpthosts" in t, "a plain remote recipient: qmail's 553 (%d %r)" % (c, t))
        (c, t), _ = session(port, "<%s%%%s@%s>" % (VICTIM, REMOTE, DOM), "<nobody@%s>" % DOM)
        check(c in (550, 553, 554), "the %%-hack against our own domain: 550/553/554 (%d %r)" % (c, t))

        # Every session went on to a local recipient and DATA: those messages
        # are queued, and none carries a recipient outside the local user.
        check(queued == len(battery) and len(files) == queued,
              "the local recipient of each session was queued (%d sessions, %d 250s, %d files)"
              % (len(battery), queued, len(files)))
        foreign = sorted(set(to for q in files for to in o.queue_read(q)[0].get("to", [])
                             if to != LOCAL))
        check(not foreign, "no queue file names a recipient other than %s (%r)" % (LOCAL, foreign))
        check(d.poll() is None, "smtpd still runs")
        check_no_crash("smtpd", o.log("smtpd"))
    finally:
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
