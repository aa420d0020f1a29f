#!/usr/bin/env python3
"""The demo of scripts/start.sh, as scripts/demo-setup.sh makes it, run by osd run.

Checked: demo-setup.sh makes a folder osd run starts on, and running it again
changes nothing (no second alias line); a POP3 login as demo:demo with curl
lists the welcome message (what the README has a new user try); a message
relayed from the tcp.smtp rule to a domain that does not exist, from a sender
whose domain does not exist either, ends as a double bounce in the demo
Maildir through the local postmaster (control/doublebounceto =
postmaster@example.test, an alias of demo) instead of being dropped: the
default postmaster@me (demo.example.test) is no local domain. DNS answers come
from a private dnsmasq (NXDOMAIN for .test and .invalid), the listeners are
moved to free ports.
"""
import os
import re
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (OSD, WAIT, Osd, can_bind, check, finish, free_port,  # noqa: E402
                     free_udp_tcp_port, have, wait_for, wait_port)

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SETUP = os.path.join(TOP, "scripts", "demo-setup.sh")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def setup(o):
    return subprocess.run([SETUP, o.root, OSD], capture_output=True, text=True, timeout=120)


def move_listeners(o, ports, dns_port):
    """The demo's fixed loopback ports -> free ones; the private resolver."""
    with open(o.conf) as f:
        text = f.read()
    for key, port in ports.items():
        text, n = re.subn(r"(?m)^%s = .*$" % key, "%s = 127.0.0.1:%d" % (key, port), text)
        check(n == 1, "the demo's osd.conf has one %s line" % key)
    with open(o.conf, "w") as f:
        f.write(text + "resolver = 127.0.0.1:%d\n" % dns_port)


def maildir_new(o):
    d = os.path.join(o.state, "domains", "example.test", "demo", "Maildir", "new")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def main():
    for tool in ("dnsmasq", "curl"):
        if not have(tool):
            check(False, tool + " is installed (scripts/install-deps.sh)")
            finish()
    o = Osd()
    dns = None
    try:
        # Osd() wrote its own osd.conf and tcp.smtp: the demo's are wanted.
        os.remove(o.conf)
        os.remove(o.rules)
        p = setup(o)
        check(p.returncode == 0, "demo-setup.sh makes the demo folder (rc %d %s)" % (
            p.returncode, p.stderr.strip()[-300:]))
        aliases = os.path.join(o.state, "domains", "example.test", "aliases")
        conf1 = read(o.conf)
        p = setup(o)
        conf2 = read(o.conf)
        alias_lines = [ln for ln in read(aliases).splitlines() if ln.startswith("postmaster:")]
        check(p.returncode == 0 and conf1 == conf2 and len(alias_lines) == 1,
              "a second demo-setup.sh run keeps osd.conf; one postmaster alias (%r)" % alias_lines)
        dbt = read(os.path.join(o.control, "doublebounceto")).strip()
        check(dbt == "postmaster@example.test", "doublebounceto is the local postmaster (%r)" % dbt)

        ports = {k: free_port() for k in ("pop3_listen", "smtp_listen", "submission_listen",
                                          "imap_listen", "metrics_listen")}
        dns_port = free_udp_tcp_port()
        move_listeners(o, ports, dns_port)
        dns = subprocess.Popen(
            ["dnsmasq", "--no-daemon", "--port=%d" % dns_port, "--listen-address=127.0.0.1",
             "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
             "--log-facility=-", "--local=/test/", "--local=/invalid/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        check(wait_for(lambda: dns.poll() is not None or not can_bind("127.0.0.1", dns_port))
              and dns.poll() is None, "dnsmasq listens on 127.0.0.1:%d" % dns_port)

        run = o.start("run")
        up = wait_port(ports["pop3_listen"], run) and wait_port(ports["smtp_listen"], run)
        check(up, "osd run serves the demo's POP3 and SMTP")
        check(wait_for(lambda: re.search(r"osd-queue\[\d+\]: info: ready", o.log("run"))),
              "osd queue is ready")

        # The README's first try: a POP3 login lists the welcome message.
        p = subprocess.run(["curl", "-s", "-S", "--max-time", str(int(WAIT)), "-u", "demo:demo",
                            "pop3://127.0.0.1:%d/" % ports["pop3_listen"]],
                           capture_output=True, text=True, timeout=WAIT + 10)
        check(p.returncode == 0 and p.stdout.splitlines()[:1] == ["1 %d" % os.path.getsize(
            os.path.join(o.state, "domains", "example.test", "demo", "Maildir", "new",
                         "1700000000.M1P1.demo"))],
              "curl pop3 -u demo:demo lists the welcome message (%r %s)" % (
                  p.stdout[:60], p.stderr.strip()))

        # scripts/start.sh's IMAP try: curl imap:// lists the folders (LIST, no SELECT:
        # the welcome message stays in new/ for what follows).
        check(wait_port(ports["imap_listen"], run), "osd run serves the demo's IMAP")
        check(wait_port(ports["metrics_listen"], run), "osd run serves the demo's metrics")
        # The POP3 session's process counts the login as its session ends, which
        # may be just after curl has its reply: ask again until it shows (bounded).
        got = {}

        def counted():
            got["p"] = subprocess.run(["curl", "-s", "-S", "--max-time", str(int(WAIT)),
                                       "http://127.0.0.1:%d/metrics" % ports["metrics_listen"]],
                                      capture_output=True, text=True, timeout=WAIT + 10)
            return (got["p"].returncode == 0 and
                    'osd_logins_total{service="pop3",result="ok"} 1' in got["p"].stdout)
        check(wait_for(counted, step=0.1), "GET /metrics counts the POP3 login (%s)" % got["p"].stderr.strip())
        p = subprocess.run(["curl", "-s", "-S", "--max-time", str(int(WAIT)), "-u", "demo:demo",
                            "imap://127.0.0.1:%d/" % ports["imap_listen"]],
                           capture_output=True, text=True, timeout=WAIT + 10)
        check(p.returncode == 0 and "INBOX" in p.stdout,
              "curl imap -u demo:demo lists INBOX (%r %s)" % (p.stdout[:80], p.stderr.strip()))

        # Relayed (127.0.0.1 has RELAYCLIENT in the demo's tcp.smtp) to a domain
        # that does not exist, from a sender whose domain does not exist: the
        # bounce cannot be delivered, so the double bounce goes to the postmaster.
        before = maildir_new(o)
        with smtplib.SMTP("127.0.0.1", ports["smtp_listen"], timeout=WAIT) as s:
            s.ehlo("client.test")
            refused = s.sendmail("someone@gone.invalid", ["x@nowhere.invalid"],
                                 "Subject: demo-double-bounce\r\n\r\nto nowhere\r\n")
        check(refused == {}, "the relayed message is accepted (250)")
        got = wait_for(lambda: [n for n in maildir_new(o) if n not in before])
        check(len(got) == 1, "one new message in the demo Maildir (%s)" % got)
        if got:
            path = os.path.join(o.state, "domains", "example.test", "demo", "Maildir", "new",
                                got[0])
            with open(path, "rb") as f:
                msg = f.read()
            check(b"Delivered-To: postmaster@example.test" in msg and
                  b"Delivered-To: demo@example.test" in msg, "it came through postmaster@example.test (alias) to demo@example.test")
            check(b"Final-Recipient: rfc822; someone@gone.invalid" in msg and
                  b"Return-Path: <#@[]>" in msg,
                  "it is the double bounce: the bounce to someone@gone.invalid failed")
        check("discarded" not in o.log("run"), "no bounce was discarded")
        check(o.stop(run) == 0, "osd run stops on SIGTERM")
    finally:
        if dns is not None and dns.poll() is None:
            dns.terminate()
            dns.wait()
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
