#!/usr/bin/env python3
"""osd policyd on its own, with a raw client: answers over one kept
connection (unix socket and TCP, pipelined), the live relay state
(a login seen once the watcher has replaced relay.cdb, an expired one
refused), a request without client_address answered with the default
action and logged, bad and oversized requests logged and the connection
closed (the daemon keeps serving), the idle timeout, the connection cap,
and SIGHUP changing the action."""
import os
import signal
import socket
import time

from osdtest import Osd, WAIT, check, finish, free_port, wait_for, wait_port


def req(ip=None, extra=""):
    lines = "request=smtpd_access_policy\nprotocol_state=RCPT\n"
    if ip is not None:
        lines += "client_address=%s\n" % ip
    return (lines + extra + "\n").encode()


def ask(s, data, n=1):
    """Send data; read n answers (each ends with an empty line); b'' on EOF."""
    s.sendall(data)
    out = b""
    while out.count(b"\n\n") < n:
        d = s.recv(4096)
        if not d:
            return out
        out += d
    return out


def closed(s):
    """True when the server closed s (EOF or reset) within WAIT."""
    s.settimeout(WAIT)
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def main():
    o = Osd(relay_expire="4s")
    sock = os.path.join(o.root, "policy.sock")
    port = free_port()
    base = "policy_listen = unix:%s, 127.0.0.1:%d\npolicy_timeout = 3s\npolicy_max_connections = 8\n" % (sock, port)
    o.write_conf("4s", base)
    try:
        o.start_watch()
        pd = o.start("policyd")
        check(wait_port(port, pd) and os.path.exists(sock), "osd policyd listens on TCP and the unix socket")

        t = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        u = socket.socket(socket.AF_UNIX)
        u.settimeout(WAIT)
        u.connect(sock)
        check(ask(t, req("127.0.0.7")) == b"action=DUNNO\n\n", "tcp: no login: DUNNO")
        check(o.record("127.0.0.7").returncode == 0, "osd record 127.0.0.7")
        check(wait_for(lambda: ask(u, req("127.0.0.7")) == b"action=OK\n\n"),
              "unix: the login seen once the watcher replaced relay.cdb: OK (same connection)")
        check(ask(t, req("127.0.0.7") + req("127.0.0.8") + req("::ffff:127.0.0.7"), 3) ==
              b"action=OK\n\naction=DUNNO\n\naction=OK\n\n",
              "tcp: three pipelined requests, three answers in order, on the connection kept open")

        # Only client_address counts: the other attributes cannot claim anything.
        check(ask(t, req("127.0.0.8", "sasl_username=alice\nclient_name=127.0.0.7\n")) ==
              b"action=DUNNO\n\n", "other attributes naming the login change nothing")
        check(ask(t, req(None)) == b"action=DUNNO\n\n", "no client_address: the default action")
        check(ask(t, req("[127.0.0.7]")) == b"action=DUNNO\n\n", "client_address not an address: the default action")
        check(wait_for(lambda: "request without client_address; answering DUNNO" in o.log("policyd")) and
              "client_address=[127.0.0.7] is not an IP address" in o.log("policyd"),
              "both logged")

        # Bad input: logged, the connection closed, the daemon serves on.
        for what, data, logged in (
                ("a line without '='", b"request=smtpd_access_policy\ngarbage\n\n", "line without '='"),
                ("a line of 5000 octets", b"request=smtpd_access_policy\nx=" + b"a" * 5000 + b"\n\n", "line too long"),
                ("a request over 32 KiB", b"a=b\n" * 9000, "request too long"),
                ("a NUL octet", b"request=smtpd_access_policy\nclient_address=127.0.0.7\x00\n\n", "NUL octet"),
                ("CRLF lines", b"request=smtpd_access_policy\r\nclient_address=127.0.0.7\r\n\r\n", "line without '='")):
            b = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
            try:
                b.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            check(closed(b), "%s: connection closed" % what)
            check(wait_for(lambda: ("bad request after 0 good ones: " + logged) in o.log("policyd")),
                  "%s: logged (%s)" % (what, logged))
            b.close()
        check(pd.poll() is None and ask(u, req("127.0.0.7")) == b"action=OK\n\n",
              "the daemon is still up and answering")

        # Expiry: refused once the login is older than relay_expire.
        login = os.stat(os.path.join(o.opensmtp, "127.0.0.7")).st_mtime
        time.sleep(max(0.0, login + 4 + 0.5 - time.time()))
        u.close()
        t.close()
        # (a new connection: the old ones were idle past policy_timeout meanwhile)
        u = socket.socket(socket.AF_UNIX)
        u.settimeout(WAIT)
        u.connect(sock)
        check(ask(u, req("127.0.0.7")) == b"action=DUNNO\n\n", "after relay_expire: DUNNO")
        u.close()

        # Idle timeout: a connection without a whole request is closed after policy_timeout.
        idle = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        idle.sendall(b"request=smtpd_access_policy\n")
        check(closed(idle), "an unfinished request is closed after policy_timeout")
        check(wait_for(lambda: "request not complete within 3s; closing" in o.log("policyd")), "logged")
        idle.close()

        # Connection cap: policy_max_connections = 8; the ninth is closed at once.
        many = [socket.create_connection(("127.0.0.1", port), timeout=WAIT) for _ in range(8)]
        for c in many:
            ask(c, req("127.0.0.9"))
        extra = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        check(closed(extra), "the ninth connection is closed")
        check(wait_for(lambda: "policy_max_connections (8) reached" in o.log("policyd")), "logged")
        for c in many:
            c.close()
        extra.close()

        # SIGHUP: a new action takes effect on the next request.
        o.record("127.0.0.7")
        o.write_conf("4s", base + 'policy_action = "PREPEND X-Relay-Auth: pop-before-smtp"\n')
        pd.send_signal(signal.SIGHUP)
        check(wait_for(lambda: "configuration re-read" in o.log("policyd")), "SIGHUP re-reads osd.conf")
        t = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        check(wait_for(lambda: ask(t, req("127.0.0.7")) == b"action=PREPEND X-Relay-Auth: pop-before-smtp\n\n"),
              "the new policy_action is answered")
        t.close()
        check(o.stop(pd) == 0, "SIGTERM stops it with status 0")
        check("Sanitizer" not in o.log("policyd") and "runtime error" not in o.log("policyd"),
              "no sanitizer report in the log")
    finally:
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
