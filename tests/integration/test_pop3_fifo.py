#!/usr/bin/env python3
"""A FIFO swapped into a Maildir must not hang a POP3 session (issue 16.5).

A real POP3 client (Python poplib) logs in and LISTs; then the file of a
listed message is replaced by a FIFO.  RETR and TOP of it get -ERR (the
message no longer exists) instead of a session stuck in open(2), where the
idle timeout never reaches; the session goes on (the other message is
retrieved, QUIT works), the server logs what it found, and the FIFO is left
as it was.  curl, a second client, lists only the real message afterwards.
"""
import os
import poplib
import socket
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, check, finish, free_port, wait_for, wait_port  # noqa: E402

DOM = "fifo.test"
T = 10  # client socket timeout: a functional bound (a hung server never answers at all)


class SrcPOP3(poplib.POP3):
    """poplib.POP3 from a chosen loopback source address."""

    def __init__(self, port, src):
        self._src = src
        super().__init__("127.0.0.1", port, timeout=T)

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout,
                                        source_address=(self._src, 0))


def err_of(fn, *args):
    """The -ERR line a poplib call raised, b'' when it succeeded, the exception text when it failed otherwise."""
    try:
        fn(*args)
        return b""
    except poplib.error_proto as e:
        return e.args[0] if isinstance(e.args[0], bytes) else str(e.args[0]).encode()
    except (OSError, EOFError) as e:
        return ("no reply: %s" % e).encode()


def unblock(path):
    """If a (broken) server waits in open(2) on the FIFO, let it through so it can be stopped."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


def main():
    port = free_port()
    o = Osd()
    # A long idle timeout: only the fix, not the timeout, can answer in time.
    o.write_conf("3h", "pop3_listen = 127.0.0.1:%d\ndefault_domain = %s\npop3_timeout = 10m\n"
                 % (port, DOM))
    fifo = None
    try:
        p = o.run("user", "add", "carol@" + DOM, input="carol-pw\n")
        check(p.returncode == 0, "osd user add carol (%s)" % p.stderr.strip())
        maildir = os.path.join(o.state, "domains", DOM, "carol", "Maildir")
        names = ["1700000001.M1P1.host", "1700000002.M2P1.host"]
        for i, name in enumerate(names):
            with open(os.path.join(maildir, "new", name), "wb") as f:
                f.write(b"Subject: m%d\r\n\r\nbody %d\r\n" % (i + 1, i + 1))
        fifo = os.path.join(maildir, "new", names[0])

        d = o.start("pop3d")
        check(wait_port(port, d), "osd pop3d listens on 127.0.0.1:%d" % port)

        m = SrcPOP3(port, "127.0.0.31")
        m.user("carol")
        m.pass_("carol-pw")
        resp, listing, _ = m.list()
        check(resp.startswith(b"+OK") and len(listing) == 2, "LIST shows two messages (%r)" % listing)

        # Another agent swaps message 1 for a FIFO after the listing.
        os.unlink(fifo)
        os.mkfifo(fifo, 0o600)

        e = err_of(m.retr, 1)
        check(e.startswith(b"-ERR") and b"no longer exists" in e,
              "RETR 1 of the FIFO gets -ERR at once (%r)" % e)
        e = err_of(m.top, 1, 0)
        check(e.startswith(b"-ERR"), "TOP 1 0 gets -ERR too (%r)" % e)
        try:
            resp, lines, _ = m.retr(2)
            ok = resp.startswith(b"+OK") and b"body 2" in lines
        except (poplib.error_proto, OSError, EOFError) as ex:
            ok, lines = False, [str(ex).encode()]
        check(ok, "the session goes on: RETR 2 returns the other message (%r)" % lines[-1:])
        check(err_of(m.noop) == b"", "NOOP answers +OK")
        try:
            stat_ = m.stat()
        except (poplib.error_proto, OSError, EOFError) as ex:
            stat_ = ex
        check(isinstance(stat_, tuple) and stat_[0] == 1,
              "STAT counts only the real message (%r)" % (stat_,))
        try:
            resp = m.quit()
        except (poplib.error_proto, OSError, EOFError) as ex:
            resp = str(ex).encode()
        check(resp.startswith(b"+OK"), "QUIT ends the session normally (%r)" % resp)

        st = os.lstat(fifo)
        check(stat.S_ISFIFO(st.st_mode), "the FIFO is left where it was, not read, moved or removed")
        check(wait_for(lambda: "not a regular file" in o.log("pop3d")),
              "pop3d logs that the message's name holds something else")

        # A new session (curl) never lists the FIFO.
        p = subprocess.run(["curl", "-s", "-S", "--max-time", "20", "--interface", "127.0.0.32",
                            "-u", "carol:carol-pw", "pop3://127.0.0.1:%d/" % port],
                           capture_output=True, timeout=60)
        out = p.stdout.decode(errors="replace").split("\r\n")
        check(p.returncode == 0 and [x for x in out if x] == ["1 23"],
              "curl LIST in a new session lists only the real message (%r)" % p.stdout[:80])
        check(d.poll() is None, "pop3d is still running")
    finally:
        if fifo is not None:
            unblock(fifo)
        for proc in o.procs:
            o.stop(proc)
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
