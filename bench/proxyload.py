#!/usr/bin/env python3
"""proxyload - helper for bench_proxy.sh: the Maildir, and the POP3/IMAP loads.

  proxyload.py gen DIR --msgs N --size BYTES          alice's Maildir under DIR/home/alice
  proxyload.py retr HOST:PORT USER PASS [--passes P]  RETR 1..N pipelined, P times, one connection
  proxyload.py fetch HOST:PORT USER PASS [--passes P] FETCH 1:* (BODY.PEEK[]), P times, one connection
  proxyload.py login HOST:PORT USER PASS --n N [--imap]  N logins one after another
  proxyload.py median FILE                            medians and ratios of the run lines

Each load prints one key=value line: MB/s of octets received for retr and
fetch, the median ms per login (connect, greeting, login, logout) for
login. Standard library only; the client reads in 1 MiB pieces, so that it
is not what limits the rate.
"""
import os
import socket
import statistics
import sys
import time

CHUNK = 1 << 20


def gen(root, msgs, size):
    md = os.path.join(root, "home", "alice", "Maildir")
    for sub in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    line = b"x" * 76 + b"\n"
    for i in range(msgs):
        head = b"From: a@bench.test\nTo: alice@bench.test\nSubject: m%d\n\n" % i
        body = line * ((size - len(head)) // len(line))
        with open(os.path.join(md, "cur", "%d.M%dP1.bench:2,S" % (1000000 + i, i)), "wb") as f:
            f.write(head + body)
    print("gen msgs=%d size=%d" % (msgs, size))


def connect(hp):
    host, port = hp.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), 60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Reader:
    def __init__(self, s):
        self.s = s
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def until(self, marker, count):
        """Read until marker was seen count times; the octets read."""
        seen, total, tail = 0, len(self.buf), b""
        data = self.buf
        self.buf = b""
        while True:
            w = tail + data
            seen += w.count(marker) - tail.count(marker)
            if seen >= count:
                return total
            tail = w[-(len(marker) - 1):]
            data = self.s.recv(CHUNK)
            if not data:
                raise EOFError("connection closed")
            total += len(data)


def pop3_login(r, s, user, pw):
    if not r.line().startswith(b"+OK"):
        raise SystemExit("no POP3 greeting")
    s.sendall(b"USER %s\r\n" % user.encode())
    r.line()
    s.sendall(b"PASS %s\r\n" % pw.encode())
    if not r.line().startswith(b"+OK"):
        raise SystemExit("POP3 login refused")


def imap_login(r, s, user, pw):
    if not r.line().startswith(b"* OK"):
        raise SystemExit("no IMAP greeting")
    s.sendall(b'a LOGIN "%s" "%s"\r\n' % (user.encode(), pw.encode()))
    while True:
        line = r.line()
        if line.startswith(b"a "):
            if not line.startswith(b"a OK"):
                raise SystemExit("IMAP login refused: %r" % line)
            return


def retr(hp, user, pw, passes):
    s = connect(hp)
    r = Reader(s)
    pop3_login(r, s, user, pw)
    s.sendall(b"STAT\r\n")
    n = int(r.line().split()[1])
    t0 = time.monotonic()
    octets = 0
    for _ in range(passes):
        # Pipelined (RFC 2449 PIPELINING): the server streams, the client never waits a round trip.
        s.sendall(b"".join(b"RETR %d\r\n" % i for i in range(1, n + 1)))
        octets += r.until(b"\r\n.\r\n", n)
    dt = time.monotonic() - t0
    s.sendall(b"QUIT\r\n")
    s.close()
    print("retr msgs=%d octets=%d secs=%.3f mbps=%.1f" % (n, octets, dt, octets / dt / 1e6))


def fetch(hp, user, pw, passes):
    s = connect(hp)
    r = Reader(s)
    imap_login(r, s, user, pw)
    s.sendall(b"b EXAMINE INBOX\r\n")
    while not r.line().startswith(b"b "):
        pass
    t0 = time.monotonic()
    octets = 0
    for i in range(passes):
        s.sendall(b"c%d FETCH 1:* (BODY.PEEK[])\r\n" % i)
        octets += r.until(b"\r\nc%d OK" % i, 1)
    dt = time.monotonic() - t0
    s.sendall(b"d LOGOUT\r\n")
    s.close()
    print("fetch octets=%d secs=%.3f mbps=%.1f" % (octets, dt, octets / dt / 1e6))


def login(hp, user, pw, n, imap):
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        s = connect(hp)
        r = Reader(s)
        if imap:
            imap_login(r, s, user, pw)
            s.sendall(b"z LOGOUT\r\n")
            while not r.line().startswith(b"z "):
                pass
        else:
            pop3_login(r, s, user, pw)
            s.sendall(b"QUIT\r\n")
            r.line()
        s.close()
        times.append((time.monotonic() - t0) * 1000)
    print("login n=%d ms=%.2f" % (n, statistics.median(times)))


def median(path):
    """Lines 'bench=proxy test=T peer=P run=R key=value...': medians per test and peer, ratios."""
    vals = {}
    for line in open(path):
        f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if "run" not in f:
            continue
        key = "mbps" if "mbps" in f else "ms"
        vals.setdefault(f["test"], {}).setdefault(f["peer"], []).append(float(f[key]))
    for test, peers in vals.items():
        med = {p: statistics.median(v) for p, v in peers.items()}
        d, x = med.get("direct"), med.get("proxy")
        if d is None or x is None:
            continue
        if test.startswith("login"):
            print("bench=proxy test=%s direct_ms=%.2f proxy_ms=%.2f added_ms=%.2f"
                  % (test, d, x, x - d))
        else:
            ratio = x / d
            print("bench=proxy test=%s direct_mbps=%.1f proxy_mbps=%.1f ratio=%.3f target=0.90 %s"
                  % (test, d, x, ratio, "met" if ratio >= 0.90 else "missed"))


def main():
    a = sys.argv[1:]
    if not a:
        raise SystemExit(__doc__)
    if a[0] == "gen":
        gen(a[1], int(a[a.index("--msgs") + 1]), int(a[a.index("--size") + 1]))
    elif a[0] in ("retr", "fetch"):
        passes = int(a[a.index("--passes") + 1]) if "--passes" in a else 1
        (retr if a[0] == "retr" else fetch)(a[1], a[2], a[3], passes)
    elif a[0] == "login":
        login(a[1], a[2], a[3], int(a[a.index("--n") + 1]), "--imap" in a)
    elif a[0] == "median":
        median(a[1])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
