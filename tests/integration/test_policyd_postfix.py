#!/usr/bin/env python3
"""osd policyd behind a private Postfix (Debian's postfix, own config and
queue folders, on loopback): check_policy_service over a unix socket and
over TCP decides relaying from the live relay state.  A recorded login
relays (proven by the message arriving at smtp-sink, Postfix's relayhost),
another address gets 554 5.7.1 Relay access denied, osd policyd killed
gives 451 4.3.5 (Postfix fails closed) until it is back, and a login
older than relay_expire is refused even while relay.cdb still lists it."""
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

from osdtest import (Osd, SmtpSink, WAIT, check, finish, free_port, have, wait_for,
                     wait_port)

POSTFIX = "/usr/sbin/postfix"
RELAY_EXPIRE = 8


def postfix_setup(work, smtp_port, tcp_port, policy_sock, policy_tcp, sink_port):
    """A private Postfix: two smtpd listeners, asking osd policyd over unix and TCP."""
    etc, spool, data = (os.path.join(work, d) for d in ("etc", "spool", "data"))
    for d in (etc, spool, data):
        os.makedirs(d)
    shutil.chown(data, "postfix")
    with open(os.path.join(etc, "main.cf"), "w") as f:
        f.write(f"""compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.osd-test.example
mydestination =
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
# permit_mynetworks is not in the restrictions: only osd policyd opens relaying
mynetworks = 192.0.2.0/24
relayhost = [127.0.0.1]:{sink_port}
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_relay_restrictions = check_policy_service unix:{policy_sock}, reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_policy_service_retry_delay = 1s
smtpd_tls_security_level = none
smtp_tls_security_level = none
biff = no
notify_classes =
maillog_file = {work}/maillog
maillog_file_prefixes = {work}
""")
    with open(os.path.join(etc, "master.cf"), "w") as f:
        f.write(f"""127.0.0.1:{smtp_port} inet n - n - - smtpd
127.0.0.1:{tcp_port} inet n - n - - smtpd
  -o {{ smtpd_relay_restrictions = check_policy_service inet:{policy_tcp}, reject_unauth_destination }}
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
""")
    return etc, spool


def rcpt(port, src, marker, to="friend@remote.example"):
    """One SMTP transaction from src: (code, text) of RCPT; on 250 the message goes on."""
    s = smtplib.SMTP("127.0.0.1", port, source_address=(src, 0), timeout=WAIT)
    try:
        s.ehlo("laptop.example.org")
        s.mail("roamer@example.org")
        code, text = s.rcpt(to)
        if code == 250:
            c2, _ = s.data(("Subject: %s\r\n\r\nrelayed for %s\r\n" % (marker, src)).encode())
            if c2 != 250:
                return c2, b"DATA refused"
        s.quit()
        return code, text
    finally:
        s.close()


def main():
    if not check(os.geteuid() == 0, "running as root (a private Postfix master needs it)"):
        return finish()
    if not check(have(POSTFIX) and have("smtp-sink"), "postfix and smtp-sink installed (scripts/install-deps.sh)"):
        return finish()
    # The socket's folder must be searchable by Postfix's smtpd (user postfix); the osd root is 0700.
    sockdir = tempfile.mkdtemp(prefix="osd-policyd-")
    os.chmod(sockdir, 0o755)
    sock = os.path.join(sockdir, "policy.sock")
    policy_port = free_port()
    o = Osd(relay_expire="%ds" % RELAY_EXPIRE,
            extra="policy_listen = unix:%s 127.0.0.1:%d\npolicy_socket_group = postfix\n"
                  % (sock, policy_port))
    work = tempfile.mkdtemp(prefix="osd-pf-")
    os.chmod(work, 0o755)
    sink = SmtpSink()
    smtp_port, tcp_port = free_port(), free_port()
    etc, spool = postfix_setup(work, smtp_port, tcp_port, sock, "127.0.0.1:%d" % policy_port, sink.port)
    master = None
    try:
        o.start_watch()

        def start_policyd():
            seen = len(o.log("policyd"))
            p = o.start("policyd")
            wait_for(lambda: "ready" in o.log("policyd")[seen:] or p.poll() is not None)
            wait_port(policy_port, p)
            return p

        pd = start_policyd()
        st = os.stat(sock)
        check(oct(st.st_mode & 0o777) == "0o660" and st.st_gid == shutil._get_gid("postfix"),
              "the unix socket is 0660, group postfix (%s)" % oct(st.st_mode & 0o777))

        r = subprocess.run([POSTFIX, "-c", etc, "start"], capture_output=True, text=True)
        check(r.returncode == 0, "private postfix starts (%s)" % r.stderr.strip()[-200:])
        pidfile = os.path.join(spool, "pid", "master.pid")
        wait_for(lambda: os.path.exists(pidfile))
        with open(pidfile) as f:
            master = int(f.read().strip())
        check(wait_port(smtp_port) and wait_port(tcp_port), "postfix listens on both ports")

        for port, via in ((smtp_port, "unix"), (tcp_port, "tcp")):
            code, text = rcpt(port, "127.0.0.5", "never-%s" % via)
            check(code == 554 and b"5.7.1" in text and b"Relay access denied" in text,
                  "%s: before any login 127.0.0.5 is refused: %d %s" % (via, code, text))

        check(o.record("127.0.0.5").returncode == 0, "osd record 127.0.0.5")
        wait_for(lambda: "127.0.0.5" in o.cdb_keys())
        for port, via in ((smtp_port, "unix"), (tcp_port, "tcp")):
            marker = "relayed-%s-1" % via
            code, text = rcpt(port, "127.0.0.5", marker)
            check(code == 250, "%s: after the login 127.0.0.5 may relay: %d %s" % (via, code, text))
            check(wait_for(lambda: sink.count(marker) == 1),
                  "%s: the relayed message arrives at the relayhost (smtp-sink)" % via)
            code, text = rcpt(port, "127.0.0.6", "other-%s" % via)
            check(code == 554 and b"Relay access denied" in text,
                  "%s: another address (127.0.0.6) is refused: %d %s" % (via, code, text))

        # Postfix keeps its policy connections open across SMTP sessions: more than one
        # request went over one connection without osd closing it.
        check("bad request" not in o.log("policyd"), "no request was refused as malformed")

        # Fail closed: the service gone, Postfix answers 451 4.3.5 (its default action).
        o.stop(pd, signal.SIGKILL)
        for port, via in ((smtp_port, "unix"), (tcp_port, "tcp")):
            code, text = rcpt(port, "127.0.0.5", "down-%s" % via)
            check(code == 451 and b"4.3.5" in text,
                  "%s: osd policyd killed -> Postfix answers 451 4.3.5: %d %s" % (via, code, text))
        check(o.record("127.0.0.5").returncode == 0, "osd record 127.0.0.5 again")
        pd = start_policyd()
        for port, via in ((smtp_port, "unix"), (tcp_port, "tcp")):
            marker = "relayed-%s-2" % via
            code, text = rcpt(port, "127.0.0.5", marker)
            check(code == 250 and wait_for(lambda: sink.count(marker) == 1),
                  "%s: osd policyd back -> 127.0.0.5 relays again: %d %s" % (via, code, text))

        # Expiry: the watcher stopped, relay.cdb keeps the entry; the login's age alone refuses it.
        o.stop(o.procs[0])
        login = os.stat(os.path.join(o.opensmtp, "127.0.0.5")).st_mtime
        time.sleep(max(0.0, login + RELAY_EXPIRE + 1 - time.time()))
        check("127.0.0.5" in o.cdb_keys(), "relay.cdb still lists 127.0.0.5 (no watcher to expire it)")
        for port, via in ((smtp_port, "unix"), (tcp_port, "tcp")):
            code, text = rcpt(port, "127.0.0.5", "expired-%s" % via)
            check(code == 554 and b"Relay access denied" in text,
                  "%s: after relay_expire 127.0.0.5 is refused again: %d %s" % (via, code, text))
        check(sink.count("never-") + sink.count("other-") + sink.count("down-") +
              sink.count("expired-") == 0, "no refused message reached the relayhost")
        check(o.stop(pd) == 0, "osd policyd stops cleanly on SIGTERM")
    finally:
        if master is not None:
            try:
                os.kill(master, signal.SIGTERM)
                wait_for(lambda: not os.path.exists("/proc/%d" % master))
            except ProcessLookupError:
                pass
        if os.path.exists(os.path.join(work, "maillog")) and os.environ.get("OSD_TEST_VERBOSE"):
            print(open(os.path.join(work, "maillog")).read()[-4000:])
        sink.stop()
        print(o.log("policyd")[-2000:])
        o.cleanup()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(sockdir, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
