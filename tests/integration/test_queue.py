#!/usr/bin/env python3
"""The queue manager end to end: osd smtpd takes the mail, osd queue delivers it
with osd-local and osd-remote to real peers (Postfix's smtp-sink, dnsmasq for
MX records, osd pop3d read with curl to see the Maildir).

Checked: a relayed message (swaks from a tcp.smtp RELAYCLIENT rule, and from
127.0.0.5 after osd record) reaches smtp-sink through control/smtproutes; a
local message lands in the Maildir and is read back with curl pop3://; MX
routing through dnsmasq (preference order, a dead best MX skipped, a null MX
bounced at once, an implicit MX from an A record, smtproutes winning over
DNS); a 5xx gives a DSN (multipart/report, Status 5.x.x, the original
headers) in the local sender's Maildir; an unreachable peer and a 4xx are
deferred (osd qread "deferred: ...", osd qstat 1), then delivered after
osd queue --flush once the peer is up; queuelifetime expiry bounces with
5.4.7; a bounce of the null sender goes to doublebounceto, a failing double
bounce is dropped with a log line; qstat/qread wording, "not yet
preprocessed" while no manager runs; osd queue --delete; an alias forwarding
to a remote address.
"""
import email
import email.policy
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, SmtpSink, can_bind, check, finish, free_port, free_udp_tcp_port,  # noqa: E402
                     have, qstat, wait_for, wait_port)

DOM = "example.test"            # the virtual domain (osd user add)
ME = "relay.osd.test"
# 127.0.0.x addresses of the MX hosts (port 25 there).
DEAD_MX, LIVE_MX, LAST_MX = "127.0.0.61", "127.0.0.62", "127.0.0.63"
T = 20                          # client timeouts (functional bound)


class Env:
    """Everything one run shares: the osd instance, its ports, sinks and peers."""
    pass


def message(tag, sender="alice@example.test", to="someone", extra=""):
    """A small message whose Subject and Message-ID carry tag (the marker tests look for)."""
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@client.test>\r\n%s\r\n"
            "Body of %s.\r\n.a dot line\r\nlast line\r\n" % (sender, to, tag, tag, extra, tag)).encode()


def send(port, sender, rcpts, data, src="127.0.0.1"):
    """One SMTP transaction with smtplib: (DATA reply code, text, queue id or None)."""
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=T,
                     source_address=(src, 0))
    try:
        s.ehlo()
        code, text = s.mail(sender)
        if code != 250:
            return code, text.decode(errors="replace"), None
        for r in rcpts:
            code, text = s.rcpt(r)
            if code != 250:
                return code, text.decode(errors="replace"), None
        code, text = s.data(data)
        text = text.decode(errors="replace")
        qid = text.rsplit("queued as ", 1)[1].strip() if "queued as " in text else None
        return code, text, qid
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            s.close()


def swaks(port, src, sender, to, tag):
    cmd = ["swaks", "--server", "127.0.0.1:%d" % port, "--local-interface", src,
           "--helo", "client.test", "--from", sender, "--to", to, "--timeout", str(T),
           "--header", "Subject: " + tag, "--header", "Message-ID: <%s@client.test>" % tag,
           "--body", "Body of %s.\n" % tag]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def add_user(o, login):
    p = o.run("user", "add", login, input="pw-" + login + "\n")
    check(p.returncode == 0, "osd user add %s (%s)" % (login, p.stderr.strip()))


def maildir(o, login):
    user, dom = login.split("@")
    return os.path.join(o.state, "domains", dom, user, "Maildir")


def mailbox(o, login):
    """Every message in the Maildir (new/ and cur/) as bytes."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir(o, login), sub)
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            continue
        for n in names:
            try:
                with open(os.path.join(d, n), "rb") as f:
                    out.append(f.read())
            except OSError:
                pass
    return out


def dsns(o, login, tag):
    """The bounces in login's Maildir that quote tag (parsed)."""
    found = []
    for data in mailbox(o, login):
        m = email.message_from_bytes(data, policy=email.policy.compat32)
        if m.get_content_type() == "multipart/report" and tag.encode() in data:
            found.append((m, data))
    return found


def dsn_parts(m):
    """(report-type, [per-recipient field dicts], original headers text) of a DSN."""
    parts = m.get_payload() if m.is_multipart() else []
    rcpt_fields, orig = [], ""
    for p in parts:
        ct = p.get_content_type()
        if ct == "message/delivery-status":
            blocks = p.get_payload()
            if isinstance(blocks, list):
                for b in blocks:
                    d = {k.lower(): v for k, v in b.items()}
                    if "final-recipient" in d or "status" in d:
                        rcpt_fields.append(d)
        elif ct in ("text/rfc822-headers", "message/rfc822-headers"):
            orig = (p.get_payload(decode=True) or b"").decode(errors="replace")
    return m.get_param("report-type"), rcpt_fields, orig


def qread(o):
    p = o.run("qread")
    return p.returncode, p.stdout


def queue_empty(o):
    return qstat(o) == (0, 0)


def flush(o):
    p = o.run("queue", "--flush")
    return p.returncode == 0


def hup_queue(e, what):
    """SIGHUP the queue manager and wait until it says it re-read the control files."""
    n = e.o.log("queue").count("SIGHUP: control files re-read")
    e.queue.send_signal(signal.SIGHUP)
    return check(wait_for(lambda: e.o.log("queue").count("SIGHUP: control files re-read") > n),
                 "osd queue re-read the control files on SIGHUP (%s)" % what)


def start_queue(e):
    seen = len(e.o.log("queue"))
    e.queue = e.o.start("queue")
    return wait_for(lambda: "ready" in e.o.log("queue")[seen:] or e.queue.poll() is not None) \
        and e.queue.poll() is None


def test_relay(e):
    """swaks from a RELAYCLIENT address -> osd smtpd -> queue -> osd-remote -> smtp-sink."""
    rc, out = swaks(e.port, "127.0.0.1", "alice@" + DOM, "bob@example.net", "relay-swaks-1")
    check(rc == 0 and "queued as" in out, "swaks from 127.0.0.1 (tcp.smtp RELAYCLIENT): 250 queued")
    check(wait_for(lambda: e.sink.count("relay-swaks-1") == 1), "the message reached smtp-sink")
    got = [d for d in e.sink.files() if b"relay-swaks-1" in d]
    if got:
        d = got[0]
        check(b"\nX-Mail-Args: <alice@example.test>" in d and
              b"\nX-Rcpt-Args: <bob@example.net>" in d,
              "the sink saw MAIL FROM:<alice@example.test> and RCPT TO:<bob@example.net>")
        check(b"\nReceived: from client.test" in d and b"by " + ME.encode() in d,
              "osd smtpd's Received: header travelled with it")
        check(b"Body of relay-swaks-1." in d, "the body arrived")
    check(wait_for(lambda: queue_empty(e.o)), "the message left the queue (osd qstat: 0)")
    check("end msg" in e.o.log("queue") and "delivery 1: success: bob@example.net" in e.o.log("queue"),
          "the queue log says success and end msg")

    # POP-before-SMTP: 127.0.0.5 may not relay until osd record; then it may.
    rc, out = swaks(e.port, "127.0.0.5", "alice@" + DOM, "bob@example.net", "relay-swaks-2")
    check(rc != 0 and "553" in out, "127.0.0.5 before any login: 553 for a remote recipient")
    check(e.o.record("127.0.0.5").returncode == 0, "osd record 127.0.0.5")
    check(wait_for(lambda: e.o.check_ip("127.0.0.5")[0] == 0), "osd check 127.0.0.5: may relay")
    rc, out = swaks(e.port, "127.0.0.5", "alice@" + DOM, "bob@example.net", "relay-swaks-3")
    check(rc == 0 and "queued as" in out, "127.0.0.5 after osd record: 250 queued")
    check(wait_for(lambda: e.sink.count("relay-swaks-3") == 1), "its message reached smtp-sink")
    check(e.sink.count("relay-swaks-2") == 0, "the refused one did not")


def test_local(e):
    """A message to a virtual user lands in the Maildir; curl reads it over POP3."""
    before = len(mailbox(e.o, "bob@" + DOM))
    rc, out = swaks(e.port, "127.0.0.1", "someone@client.test", "bob@" + DOM, "local-1")
    check(rc == 0 and "queued as" in out, "swaks to bob@example.test: 250 queued")
    check(wait_for(lambda: len(mailbox(e.o, "bob@" + DOM)) == before + 1),
          "one new message in bob's Maildir")
    check(wait_for(lambda: queue_empty(e.o)), "the queue is empty after local delivery")
    msgs = [m for m in mailbox(e.o, "bob@" + DOM) if b"local-1" in m]
    check(len(msgs) == 1 and msgs[0].startswith(
        b"Return-Path: <someone@client.test>\nDelivered-To: bob@example.test\n"),
        "Return-Path and Delivered-To on top")
    if not have("curl"):
        check(False, "curl is installed")
        return
    p = subprocess.run(["curl", "-s", "-S", "--max-time", str(T), "-u", "bob@%s:pw-bob@%s" % (DOM, DOM),
                        "pop3://127.0.0.1:%d/" % e.pop3], capture_output=True, timeout=60)
    lines = p.stdout.decode(errors="replace").split("\r\n")
    n = len([x for x in lines if x.strip()])
    check(p.returncode == 0 and n == before + 1, "curl pop3 LIST: %d message(s) (%r)" % (before + 1, p.stdout[:80]))
    found = False
    for i in range(1, n + 1):
        p = subprocess.run(["curl", "-s", "-S", "--max-time", str(T), "-u",
                            "bob@%s:pw-bob@%s" % (DOM, DOM), "pop3://127.0.0.1:%d/%d" % (e.pop3, i)],
                           capture_output=True, timeout=60)
        body = p.stdout.replace(b"\r\n", b"\n")
        if b"Subject: local-1" in body:
            found = p.returncode == 0 and msgs and body == msgs[0]
    check(found, "curl pop3 RETR gives back the delivered message byte for byte")

    # One message to a local and a remote recipient: both get it, the queue empties.
    code, text, _ = send(e.port, "alice@" + DOM, ["bob@" + DOM, "carol@example.net"], message("mixed-1"))
    check(code == 250, "local + remote recipients in one message: 250 (%s)" % text)
    check(wait_for(lambda: e.sink.count("mixed-1") == 1 and
                   any(b"mixed-1" in m for m in mailbox(e.o, "bob@" + DOM))),
          "the remote copy reached the sink and the local one the Maildir")
    check(wait_for(lambda: queue_empty(e.o)), "the queue is empty")


def test_mx(e):
    """MX routing through dnsmasq; smtp-sink on port 25 of 127.0.0.62 and .63."""
    if e.mx_b is None:
        print("skip - port 25 on 127.0.0.62/63 cannot be bound here")
        return
    b, c = e.mx_b, e.mx_c
    # multi.test: 10 dead (nothing listens), 20 live (b), 30 last (c).
    code, text, _ = send(e.port, "alice@" + DOM, ["x@multi.test"], message("mx-multi"))
    check(code == 250, "to x@multi.test: 250 (%s)" % text)
    check(wait_for(lambda: b.count("mx-multi") == 1), "the dead MX 10 skipped: MX 20 (127.0.0.62) got it")
    check(c.count("mx-multi") == 0, "MX 30 (127.0.0.63) did not")
    # best.test: 5 -> .63, 50 -> .62: the best one that lives takes it.
    code, text, _ = send(e.port, "alice@" + DOM, ["y@best.test"], message("mx-best"))
    check(code == 250 and wait_for(lambda: c.count("mx-best") == 1) and b.count("mx-best") == 0,
          "best.test: MX 5 (127.0.0.63) got it, MX 50 did not")
    # aonly.test: no MX, an A record: the implicit MX.
    code, text, _ = send(e.port, "alice@" + DOM, ["z@aonly.test"], message("mx-aonly"))
    check(code == 250 and wait_for(lambda: b.count("mx-aonly") == 1),
          "aonly.test (A record only): delivered to its address (implicit MX)")
    # routed.test: MX says .63, smtproutes says the main sink: smtproutes wins.
    code, text, _ = send(e.port, "alice@" + DOM, ["r@routed.test"], message("mx-routed"))
    check(code == 250 and wait_for(lambda: e.sink.count("mx-routed") == 1),
          "routed.test: smtproutes sent it to the route's sink")
    check(c.count("mx-routed") == 0 and b.count("mx-routed") == 0, "not to the MX of DNS")
    # nullmx.test: RFC 7505 null MX: a bounce at once, no retry.
    code, text, _ = send(e.port, "alice@" + DOM, ["n@nullmx.test"], message("mx-null"))
    check(code == 250, "to n@nullmx.test: 250 (%s)" % text)
    check(wait_for(lambda: dsns(e.o, "alice@" + DOM, "mx-null")), "null MX: a bounce in alice's Maildir")
    for m, _ in dsns(e.o, "alice@" + DOM, "mx-null")[:1]:
        _, rc, _ = dsn_parts(m)
        check(len(rc) == 1 and rc[0].get("status", "").startswith("5.") and
              "n@nullmx.test" in rc[0].get("final-recipient", ""),
              "null MX bounce: Final-Recipient n@nullmx.test, Status 5.x.x (%r)" % rc)
    check("delivery" in e.o.log("queue") and
          e.o.log("queue").count("deferral: n@nullmx.test") == 0, "null MX: no deferral, failed at once")
    check(wait_for(lambda: queue_empty(e.o)), "the queue is empty after the MX tests")


def test_dsn(e):
    """A 5xx from the peer: RFC 3464 bounce in the (local) sender's Maildir."""
    code, text, qid = send(e.port, "alice@" + DOM, ["nobody@hard.example"],
                           message("hard-1", extra="X-Original-Marker: keep-me\r\n"))
    check(code == 250, "to nobody@hard.example (smtp-sink -f RCPT): 250 (%s)" % text)
    check(wait_for(lambda: dsns(e.o, "alice@" + DOM, "hard-1")), "a bounce reached alice's Maildir")
    found = dsns(e.o, "alice@" + DOM, "hard-1")
    check(len(found) == 1, "exactly one bounce (%d)" % len(found))
    if found:
        m, raw = found[0]
        rtype, rc, orig = dsn_parts(m)
        check(raw.startswith(b"Return-Path: <>\n"), "the bounce comes from the null sender")
        check(m.get_content_type() == "multipart/report" and rtype == "delivery-status",
              "Content-Type multipart/report; report-type=delivery-status")
        check(len(rc) == 1 and rc[0].get("status", "").startswith("5.") and
              rc[0].get("action", "").lower() == "failed" and
              "nobody@hard.example" in rc[0].get("final-recipient", ""),
              "one failed recipient, Status 5.x.x (%r)" % rc)
        check("500" in rc[0].get("diagnostic-code", "") if rc else False,
              "Diagnostic-Code carries the peer's 5xx reply (%r)" % (rc[0].get("diagnostic-code") if rc else None))
        check("Subject: hard-1" in orig and "Message-ID: <hard-1@client.test>" in orig and
              "X-Original-Marker: keep-me" in orig and "Body of hard-1" not in orig,
              "the original headers (not the body) are quoted")
        check(m["To"] is not None and "alice@example.test" in m["To"], "the bounce is addressed to alice")
        if qid:
            check(qid in raw.decode(errors="replace"), "the bounce names the queue id %s" % qid)
    check(wait_for(lambda: queue_empty(e.o)), "the queue is empty (message and bounce delivered)")


def test_defer(e):
    """Unreachable peer and 4xx: deferred, then delivered after --flush."""
    # Nothing listens on soft.example's route.
    code, text, qid = send(e.port, "alice@" + DOM, ["later@soft.example"], message("defer-1"))
    check(code == 250 and qid is not None, "to later@soft.example (nobody listens): 250 (%s)" % text)
    check(wait_for(lambda: "deferred: " in qread(e.o)[1]),
          "osd qread shows the recipient deferred")
    rc, out = qread(e.o)
    line = [x for x in out.splitlines() if "later@soft.example" in x]
    check(rc == 0 and len(line) == 1 and line[0].startswith("\tremote\tlater@soft.example\tdeferred: ")
          and "127.0.0.1" in line[0], "qread: '\\tremote\\tlater@soft.example\\tdeferred: <reason>' (%r)" % line)
    check(("#" + qid) in out and "<alice@example.test>" in out,
          "qread: the message line has #ID and the sender (%r)" % out.splitlines()[:1])
    check(qstat(e.o) == (1, 0), "osd qstat: 1 in queue, 0 not yet preprocessed (%r)" % (qstat(e.o),))
    p = e.o.run("qstat")
    check(p.stdout == "messages in queue: 1\nmessages in queue but not yet preprocessed: 0\n",
          "qstat output in qmail-qstat's words (%r)" % p.stdout)
    # The peer comes up; a flush delivers at once (the schedule says minutes).
    s = SmtpSink(port=e.soft_port)
    e.extra_sinks.append(s)
    check(s.ok, "smtp-sink now listens on soft.example's route")
    check(flush(e.o), "osd queue --flush exits 0")
    check(wait_for(lambda: s.count("defer-1") == 1), "after the flush the message reached the sink")
    check(wait_for(lambda: queue_empty(e.o)), "and left the queue (qstat 0)")
    check("flush:" in e.o.log("queue"), "the queue log mentions the flush")
    check(not dsns(e.o, "alice@" + DOM, "defer-1"), "no bounce for a deferral")

    # A 4xx from the peer (smtp-sink -r RCPT), then the peer accepts.
    port = free_port()
    r = SmtpSink("-r", "RCPT", port=port)
    e.extra_sinks.append(r)
    e.o.write_control("smtproutes", e.routes + "tempfail.example:127.0.0.1:%d\n" % port)
    code, text, qid = send(e.port, "alice@" + DOM, ["t@tempfail.example"], message("defer-2"))
    check(code == 250, "to t@tempfail.example (smtp-sink -r RCPT): 250")
    check(wait_for(lambda: "deferred: " in qread(e.o)[1]), "qread: deferred")
    line = [x for x in qread(e.o)[1].splitlines() if "t@tempfail.example" in x]
    check(len(line) == 1 and "450" in line[0], "the deferral reason is the peer's 450 (%r)" % line)
    check(r.count("defer-2") == 0, "the 4xx peer kept nothing")
    r.stop()
    e.extra_sinks.remove(r)
    ok = SmtpSink(port=port)
    e.extra_sinks.append(ok)
    check(ok.ok and flush(e.o), "a willing sink on the same port; osd queue --flush")
    check(wait_for(lambda: ok.count("defer-2") == 1), "the 4xx-deferred message is delivered")
    check(wait_for(lambda: queue_empty(e.o)), "the queue is empty (qstat 0)")
    e.o.write_control("smtproutes", e.routes)


def test_lifetime(e):
    """queuelifetime 3: an undeliverable message bounces with 5.4.7 once it is older."""
    e.o.write_control("queuelifetime", "3\n")
    if not hup_queue(e, "queuelifetime 3"):
        return
    check("lifetime 3s" in e.o.log("queue"), "the queue log shows lifetime 3s")
    t0 = time.time()
    code, text, _ = send(e.port, "alice@" + DOM, ["never@dead.example"], message("expire-1"))
    check(code == 250, "to never@dead.example (nobody listens): 250")
    check(wait_for(lambda: "deferral: never@dead.example" in e.o.log("queue")),
          "first try: deferred")
    # Retries are capped at arrival + lifetime: waiting suffices; a flush does no harm.
    got = wait_for(lambda: dsns(e.o, "alice@" + DOM, "expire-1") or
                   (flush(e.o) and time.sleep(0.5)), timeout=60, step=0.2)
    took = time.time() - t0
    check(bool(got), "after the lifetime a bounce reached alice")
    check(took >= 2, "not before the lifetime passed (%.1f s after sending)" % took)
    for m, raw in dsns(e.o, "alice@" + DOM, "expire-1")[:1]:
        _, rc, orig = dsn_parts(m)
        check(len(rc) == 1 and rc[0].get("status") == "5.4.7",
              "Status 5.4.7 (%r)" % [x.get("status") for x in rc])
        check(b"too long" in raw, "the reason says it was in the queue too long")
        check("Subject: expire-1" in orig, "the original headers are quoted")
    check(wait_for(lambda: queue_empty(e.o)), "the queue is empty")
    os.unlink(os.path.join(e.o.control, "queuelifetime"))
    hup_queue(e, "queuelifetime back to the default")


def test_double_bounce(e):
    """The null sender's failure goes to doublebounceto; a failing double bounce is dropped."""
    pm = "postmaster@" + DOM
    before = len(mailbox(e.o, pm))
    code, text, qid = send(e.port, "", ["nobody@hard.example"], message("dbl-1", sender="<>"))
    check(code == 250, "MAIL FROM:<> to nobody@hard.example: 250 (%s)" % text)
    check(wait_for(lambda: dsns(e.o, pm, "dbl-1")), "the double bounce reached postmaster's Maildir")
    found = dsns(e.o, pm, "dbl-1")
    check(len(found) == 1 and len(mailbox(e.o, pm)) == before + 1, "exactly one")
    if found:
        m, raw = found[0]
        _, rc, orig = dsn_parts(m)
        check(raw.startswith(b"Return-Path: <#@[]>\n"), "its envelope sender is qmail's #@[] (%r)" % raw[:40])
        check(len(rc) == 1 and rc[0].get("status", "").startswith("5."), "Status 5.x.x")
        check("Subject: dbl-1" in orig, "the original headers are quoted")
    check(not dsns(e.o, "alice@" + DOM, "dbl-1"), "nothing went to alice")
    check(wait_for(lambda: queue_empty(e.o)), "the queue is empty")

    # doublebounceto is an unknown local user: the double bounce fails and is dropped.
    e.o.write_control("doublebounceto", "ghost@%s\n" % DOM)
    hup_queue(e, "doublebounceto ghost")
    log0 = len(e.o.log("queue"))
    n_pm = len(mailbox(e.o, pm))
    code, text, qid = send(e.port, "", ["nobody@hard.example"], message("dbl-2", sender="<>"))
    check(code == 250, "MAIL FROM:<> again, doublebounceto an unknown user: 250")
    check(wait_for(lambda: "a double bounce failed: discarded" in e.o.log("queue")[log0:]),
          "the failed double bounce is discarded with a log line")
    check(wait_for(lambda: queue_empty(e.o)), "the queue is empty (no loop)")
    new = e.o.log("queue")[log0:]
    check(new.count("bounce msg") == 1, "one bounce was made, not more (%d)" % new.count("bounce msg"))
    time.sleep(1)       # anything looping would show up in the queue or the log by now
    check(queue_empty(e.o) and e.o.log("queue")[log0:].count("bounce msg") == 1,
          "still empty, still one bounce")
    check(len(mailbox(e.o, pm)) == n_pm, "postmaster got nothing")

    # An empty doublebounceto: the bounce of a bounce is dropped at once.
    e.o.write_control("doublebounceto", "\n")
    hup_queue(e, "doublebounceto empty")
    log0 = len(e.o.log("queue"))
    code, text, _ = send(e.port, "", ["nobody@hard.example"], message("dbl-3", sender="<>"))
    check(code == 250 and wait_for(lambda: "doublebounceto is empty: discarded" in e.o.log("queue")[log0:]),
          "empty doublebounceto: discarded with a log line")
    check(wait_for(lambda: queue_empty(e.o)), "the queue is empty")
    e.o.write_control("doublebounceto", pm + "\n")
    hup_queue(e, "doublebounceto postmaster")


def test_qstat_fresh(e):
    """With no queue manager running a message waits in new/: 'not yet preprocessed'."""
    check(e.o.stop(e.queue) == 0, "osd queue stops on SIGTERM with status 0")
    code, text, qid = send(e.port, "alice@" + DOM, ["fresh@example.net"], message("fresh-1"))
    check(code == 250, "a message while no queue manager runs: 250")
    check(qstat(e.o) == (1, 1), "qstat: 1 in queue, 1 not yet preprocessed (%r)" % (qstat(e.o),))
    rc, out = qread(e.o)
    check(rc == 0 and ("#%s" % qid) in out and "not yet preprocessed" in out and
          "\tremote\tfresh@example.net" in out, "qread marks it not yet preprocessed (%r)" % out)
    p = e.o.run("queue", "--flush")
    check(p.returncode != 0 and "osd: " in p.stderr, "--flush with no manager: an error (%r)" % p.stderr.strip())
    check(start_queue(e), "osd queue starts again")
    check(wait_for(lambda: e.sink.count("fresh-1") == 1), "it picks the waiting message up and delivers it")
    check(wait_for(lambda: queue_empty(e.o)), "the queue is empty")


def test_delete(e):
    """osd queue --delete removes a deferred message without a bounce."""
    code, text, qid = send(e.port, "alice@" + DOM, ["gone@dead.example"], message("delete-1"))
    check(code == 250 and qid is not None, "to gone@dead.example: 250")
    check(wait_for(lambda: "deferred: " in qread(e.o)[1]), "deferred")
    p = e.o.run("queue", "--delete", qid or "x")
    check(p.returncode == 0 and "deleted" in p.stdout, "osd queue --delete %s: exit 0 (%r)" % (qid, p.stdout + p.stderr))
    check(qstat(e.o) == (0, 0), "qstat: 0 after the delete")
    check((qid or "x") not in qread(e.o)[1], "qread no longer lists it")
    log0 = len(e.o.log("queue"))
    flush(e.o)
    check(wait_for(lambda: "gone from the queue" in e.o.log("queue")[log0:]),
          "at the flush the manager notices it is gone")
    check(not dsns(e.o, "alice@" + DOM, "delete-1"), "no bounce for a deleted message")
    p = e.o.run("queue", "--delete", qid or "x")
    check(p.returncode == 100 and "no such message" in p.stderr, "deleting it again: exit 100 (%r)" % p.stderr)
    p = e.o.run("queue", "--delete", "../../etc/passwd")
    check(p.returncode == 100 and "not a queue id" in p.stderr, "--delete of a path: exit 100, not a queue id")


def test_alias(e):
    """An alias forwarding to a remote address: osd-local re-queues, osd-remote delivers."""
    with open(os.path.join(e.o.state, "domains", DOM, "aliases"), "w") as f:
        f.write("fwd: far@example.net\n")
    code, text, _ = send(e.port, "alice@" + DOM, ["fwd@" + DOM], message("alias-1"))
    check(code == 250, "to fwd@example.test: 250 (%s)" % text)
    check(wait_for(lambda: e.sink.count("alias-1") == 1), "the forward reached the sink")
    got = [d for d in e.sink.files() if b"alias-1" in d]
    if got:
        check(b"\nX-Rcpt-Args: <far@example.net>" in got[0] and
              b"\nX-Mail-Args: <alice@example.test>" in got[0],
              "RCPT TO:<far@example.net>, the original sender kept")
        check(b"\nDelivered-To: fwd@example.test\n" in got[0], "Delivered-To: fwd@example.test on it")
    check(wait_for(lambda: queue_empty(e.o)), "the queue is empty (both queue files gone)")


def start_dnsmasq(e):
    e.dns_port = free_udp_tcp_port()
    e.dns = subprocess.Popen(
        ["dnsmasq", "--no-daemon", "--port=%d" % e.dns_port, "--listen-address=127.0.0.1",
         "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
         "--log-facility=-", "--local=/test/",
         "--mx-host=multi.test,dead.multi.test,10",
         "--mx-host=multi.test,live.multi.test,20",
         "--mx-host=multi.test,last.multi.test,30",
         "--host-record=dead.multi.test,%s" % DEAD_MX,
         "--host-record=live.multi.test,%s" % LIVE_MX,
         "--host-record=last.multi.test,%s" % LAST_MX,
         "--mx-host=best.test,last.multi.test,5",
         "--mx-host=best.test,live.multi.test,50",
         "--host-record=aonly.test,%s" % LIVE_MX,
         "--mx-host=nullmx.test,.,0",
         "--mx-host=routed.test,last.multi.test,10"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return wait_for(lambda: e.dns.poll() is not None or not can_bind("127.0.0.1", e.dns_port)) \
        and e.dns.poll() is None


def main():
    for tool in ("smtp-sink", "swaks", "dnsmasq", "curl"):
        if not have(tool):
            check(False, tool + " is installed (scripts/install-deps.sh)")
            finish()
    e = Env()
    e.port, e.pop3 = free_port(), free_port()
    e.extra_sinks = []
    e.mx_b = e.mx_c = e.dns = None
    e.o = o = Osd(rules='127.0.0.1:allow,RELAYCLIENT=""\n')
    e.sink = SmtpSink()
    e.hard = SmtpSink("-f", "RCPT")
    e.soft_port, e.dead_port = free_port(), free_port()
    try:
        check(e.sink.ok and e.hard.ok, "smtp-sink (accepting) and smtp-sink -f RCPT (5xx) listen")
        check(start_dnsmasq(e), "dnsmasq answers on 127.0.0.1:%d" % e.dns_port)
        if os.geteuid() == 0 and can_bind(LIVE_MX, 25) and can_bind(LAST_MX, 25) and can_bind(DEAD_MX, 25):
            e.mx_b = SmtpSink(host=LIVE_MX, port=25)
            e.mx_c = SmtpSink(host=LAST_MX, port=25)
            check(e.mx_b.ok and e.mx_c.ok, "smtp-sink on %s:25 and %s:25" % (LIVE_MX, LAST_MX))
        o.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\npop3_listen = 127.0.0.1:%d\n"
                     "control_dir = control\nresolver = 127.0.0.1:%d\n" % (e.port, e.pop3, e.dns_port))
        o.write_control("me", ME + "\n")
        o.write_control("rcpthosts", DOM + "\n")
        o.write_control("doublebounceto", "postmaster@%s\n" % DOM)
        o.write_control("timeoutconnect", "3\n")
        o.write_control("timeoutremote", "10\n")
        e.routes = ("example.net:127.0.0.1:%d\nrouted.test:127.0.0.1:%d\nhard.example:127.0.0.1:%d\n"
                    "soft.example:127.0.0.1:%d\ndead.example:127.0.0.1:%d\n"
                    % (e.sink.port, e.sink.port, e.hard.port, e.soft_port, e.dead_port))
        o.write_control("smtproutes", e.routes)
        for u in ("alice", "bob", "postmaster"):
            add_user(o, "%s@%s" % (u, DOM))
        w = o.start_watch()
        pop = o.start("pop3d")
        smtpd = o.start_smtpd(e.port)
        ok = start_queue(e)
        check(ok and w.poll() is None and smtpd.poll() is None and wait_port(e.pop3, pop),
              "osd watch, pop3d, smtpd and queue run (%s)" % o.log("queue").strip()[-300:])
        if not ok:
            return
        check(qstat(o) == (0, 0), "qstat on an empty queue: 0 and 0")
        check(qread(o) == (0, ""), "qread on an empty queue: nothing")
        test_relay(e)
        test_local(e)
        test_mx(e)
        test_dsn(e)
        test_defer(e)
        test_lifetime(e)
        test_double_bounce(e)
        test_qstat_fresh(e)
        test_delete(e)
        test_alias(e)
        for name in ("queue", "smtpd", "pop3d", "watch"):
            log = o.log(name)
            check("AddressSanitizer" not in log and "runtime error" not in log and
                  "LeakSanitizer" not in log, "no sanitizer report in %s.log" % name)
        check("killed by signal" not in o.log("queue"), "no delivery program died of a signal")
        check(o.stop(e.queue) == 0, "osd queue stops cleanly on SIGTERM")
    finally:
        for p in o.procs:
            o.stop(p)
        for s in [e.sink, e.hard, e.mx_b, e.mx_c] + e.extra_sinks:
            if s is not None:
                s.stop()
        if e.dns is not None:
            e.dns.terminate()
            e.dns.wait()
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
