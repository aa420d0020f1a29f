#!/usr/bin/env python3
"""queue_tool.py - helpers for bench_queue.sh (osd queue with many deferred messages).

    bench/queue_tool.py fill --queue DIR --count N [--size 4096] [--user mail]
                             [--domain deferred.test] [--next-in 86400]

Writes N deferred messages straight into an osd queue in the documented
format (docs/queue-format.md): queue/mess/NN/ID with an "osd-queue 1"
envelope and a body of about SIZE octets, and queue/info/NN/ID ("osd-info 1",
tries 1, next = now + NEXT_IN, one pending recipient with a deferral
reason), NN being qstore_bucket()'s FNV-1a bucket of the id.  It is what
`osd queue` leaves behind after one failed attempt per message, made in a
fraction of the time.  Runs as USER (the queue's owner).  No fsync (the
caller runs sync).  Prints one key=value line.

    bench/queue_tool.py peak --pid PID --out FILE [--interval 0.1]

Samples PSS/RSS of PID alone and of PID plus its descendants (the running
osd-remote/osd-local children) from /proc/*/smaps_rollup every INTERVAL s
until killed or PID exits; keeps FILE up to date with one line:
peak_pss_kb= peak_rss_kb= peak_tree_pss_kb= peak_tree_procs= samples=.

    bench/queue_tool.py latency --smtp PORT --sink-port PORT [--msgs 1000] [--rate 20]
                                [--size 4096] [--runs 1] [--accept-msgs N --accept-sessions S]
                                [--timeout 120]

Starts an SMTP sink on 127.0.0.1:SINK_PORT (which control/smtproutes must
route the test domain to) that notes the moment each message's final "."
arrives, then sends MSGS messages to osd smtpd on PORT one by one, each on
its own connection, started at RATE per second.  A message's latency runs
from smtpd's 250 after the final "." to its arrival at the sink (both on
this process's monotonic clock).  Then, with --accept-msgs, drives
smtp-source (-s S -m N, 4 KB) at smtpd and reports its acceptance rate and
the end-to-end rate (all N counted at the sink).  Prints key=value lines.
Standard library only.
"""
import argparse
import os
import pwd
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time


# ---------------------------------------------------------------- fill

def bucket(qid):
    """smtp-gate/queue/qstore.c qstore_bucket(): FNV-1a, folded, two hex digits."""
    h = 2166136261
    for c in qid.encode():
        h = ((h ^ c) * 16777619) & 0xffffffff
    h ^= h >> 16
    return '%x%x' % ((h >> 4) & 15, h & 15)


def fill(a):
    pw = pwd.getpwnam(a.user)
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    os.umask(0o077)
    for sub in ('tmp', 'new', 'mess', 'info'):
        os.makedirs(os.path.join(a.queue, sub), mode=0o700, exist_ok=True)
    for b in range(256):
        for sub in ('mess', 'info'):
            os.makedirs(os.path.join(a.queue, sub, '%02x' % b), mode=0o700, exist_ok=True)
    now = int(time.time())
    base = now - 3600           # arrived an hour ago
    nxt = now + a.next_in
    line = b'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n'
    body_fill = (line * (a.size // len(line) + 1))[:max(0, a.size - 200)]
    t0 = time.monotonic()
    total = 0
    for i in range(a.count):
        sec, us = base + i // 100, (i % 100) * 10000
        qid = '%010d.%06d.%d' % (sec, us, 1)
        b = bucket(qid)
        env = ('osd-queue 1\nreceived %d\nclient 127.0.0.1\nhelo client.example.test\n'
               'from from@example.test\nto rcpt%d@%s\n\n' % (sec, i, a.domain)).encode()
        hdr = ('Received: from client.example.test (127.0.0.1) by osd.example.test; bench\n'
               'From: from@example.test\nTo: rcpt%d@%s\nSubject: deferred %d\n'
               'Message-ID: <%s@bench>\n\n' % (i, a.domain, i, qid)).encode()
        data = env + hdr + body_fill
        with open(os.path.join(a.queue, 'mess', b, qid), 'wb') as f:
            f.write(data)
        total += len(data)
        info = ('osd-info 1\ntries 1\nnext %d\nbounced 0\nrcpt pending\n'
                'why 127.0.0.1 does not answer: Connection refused (benchmark filler)\n' % nxt).encode()
        with open(os.path.join(a.queue, 'info', b, qid), 'wb') as f:
            f.write(info)
    secs = time.monotonic() - t0
    print('bench=queue test=fill msgs=%d bytes=%d secs=%.1f rate=%.0f next=%d'
          % (a.count, total, secs, a.count / secs if secs else 0, nxt), flush=True)


# ---------------------------------------------------------------- peak

def rollup(pid):
    pss = rss = 0
    with open('/proc/%d/smaps_rollup' % pid) as f:
        for ln in f:
            if ln.startswith('Pss:'):
                pss = int(ln.split()[1])
            elif ln.startswith('Rss:'):
                rss = int(ln.split()[1])
    return pss, rss


def descendants(root):
    kids = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                st = f.read()
        except OSError:
            continue
        kids.setdefault(int(st[st.rindex(')') + 2:].split()[1]), []).append(int(d))
    out, todo = [], list(kids.get(root, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def peak(a):
    best = {'peak_pss_kb': 0, 'peak_rss_kb': 0, 'peak_tree_pss_kb': 0, 'peak_tree_procs': 0}
    n = 0
    while True:
        try:
            pss, rss = rollup(a.pid)
        except OSError:
            break
        tree_pss, procs = pss, 1
        for c in descendants(a.pid):
            try:
                tree_pss += rollup(c)[0]
                procs += 1
            except OSError:
                pass
        n += 1
        changed = False
        for k, v in (('peak_pss_kb', pss), ('peak_rss_kb', rss), ('peak_tree_pss_kb', tree_pss),
                     ('peak_tree_procs', procs)):
            if v > best[k]:
                best[k] = v
                changed = True
        if changed or n % 50 == 0:
            with open(a.out + '.tmp', 'w') as f:
                f.write(' '.join('%s=%d' % kv for kv in best.items()) + ' samples=%d\n' % n)
            os.replace(a.out + '.tmp', a.out)
        time.sleep(a.interval)


# ---------------------------------------------------------------- latency

ARRIVED = {}            # seq -> monotonic time of the final "."
COUNT = [0]
LOCK = threading.Lock()


class Sink(socketserver.StreamRequestHandler):
    def w(self, s):
        self.wfile.write(s)
        self.wfile.flush()

    def handle(self):
        # Replies go out at once (no Nagle wait on pipelined replies: Postfix's
        # smtp-sink buffers them, a sink of our own must not add a delay).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.w(b'220 latency-sink ESMTP\r\n')
        while True:
            ln = self.rfile.readline()
            if not ln:
                return
            cmd = ln[:4].upper()
            if cmd in (b'EHLO', b'HELO'):
                self.w(b'250-latency-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n'
                       if cmd == b'EHLO' else b'250 latency-sink\r\n')
            elif cmd == b'DATA':
                self.w(b'354 go\r\n')
                seq = None
                while True:
                    ln = self.rfile.readline()
                    if not ln:
                        return
                    if ln == b'.\r\n' or ln == b'.\n':
                        break
                    if seq is None and ln.startswith(b'X-Bench-Seq: '):
                        seq = int(ln[13:].strip())
                t = time.monotonic()
                with LOCK:
                    COUNT[0] += 1
                    if seq is not None:
                        ARRIVED[seq] = t
                self.w(b'250 2.0.0 Ok\r\n')
            elif cmd == b'QUIT':
                self.w(b'221 Bye\r\n')
                return
            elif cmd == b'RSET' or cmd == b'NOOP' or cmd == b'MAIL' or cmd == b'RCPT':
                self.w(b'250 Ok\r\n')
            else:
                self.w(b'502 unknown\r\n')


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def smtp_send_one(port, seq, body):
    """One message on its own connection; the monotonic time of the 250 after the final dot."""
    s = socket.create_connection(('127.0.0.1', port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile('rb')

    def expect(code):
        while True:
            ln = f.readline()
            if not ln:
                raise OSError('connection closed')
            if ln[3:4] != b'-':
                if not ln.startswith(code):
                    raise OSError('unexpected reply %r' % ln)
                return
    expect(b'220')
    s.sendall(b'EHLO client.example.test\r\n')
    expect(b'250')
    s.sendall(b'MAIL FROM:<from@example.test>\r\n')
    expect(b'250')
    s.sendall(b'RCPT TO:<to@example.test>\r\n')
    expect(b'250')
    s.sendall(b'DATA\r\n')
    expect(b'354')
    s.sendall(b'From: from@example.test\r\nTo: to@example.test\r\nSubject: latency %d\r\n'
              b'X-Bench-Seq: %d\r\n\r\n' % (seq, seq) + body + b'.\r\n')
    expect(b'250')
    t = time.monotonic()
    s.sendall(b'QUIT\r\n')
    try:
        f.readline()
    except OSError:
        pass
    s.close()
    return t


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))]


def latency(a):
    srv = Server(('127.0.0.1', a.sink_port), Sink)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    line = b'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklm\r\n'
    body = (line * (a.size // len(line) + 1))[:a.size]
    body = body[:body.rfind(b'\r\n') + 2]
    seq = 0
    for run in range(1, a.runs + 1):
        acked, errors = {}, 0
        send_ms = []
        t_start = time.monotonic()
        for i in range(a.msgs):
            due = t_start + i / a.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            seq += 1
            t0 = time.monotonic()
            try:
                acked[seq] = smtp_send_one(a.smtp, seq, body)
                send_ms.append((acked[seq] - t0) * 1000)
            except OSError as e:
                errors += 1
                print('# send %d: %s' % (seq, e), file=sys.stderr)
        deadline = time.monotonic() + a.timeout
        while time.monotonic() < deadline:
            with LOCK:
                if all(s in ARRIVED for s in acked):
                    break
            time.sleep(0.05)
        with LOCK:
            lat = [(ARRIVED[s] - t) * 1000 for s, t in acked.items() if s in ARRIVED]
        lost = len(acked) - len(lat)
        elapsed = time.monotonic() - t_start
        if lat:
            print('bench=queue test=latency run=%d msgs=%d rate=%g size=%d p50_ms=%.1f p90_ms=%.1f '
                  'p99_ms=%.1f max_ms=%.1f smtp_p50_ms=%.1f smtp_p99_ms=%.1f send_errors=%d '
                  'not_arrived=%d secs=%.1f'
                  % (run, a.msgs, a.rate, a.size, pct(lat, 50), pct(lat, 90), pct(lat, 99), max(lat),
                     pct(send_ms, 50), pct(send_ms, 99), errors, lost, elapsed), flush=True)
        else:
            print('bench=queue test=latency run=%d msgs=%d send_errors=%d not_arrived=%d'
                  % (run, a.msgs, errors, lost), flush=True)
    if a.accept_msgs:
        for run in range(1, a.runs + 1):
            with LOCK:
                base = COUNT[0]
            t0 = time.monotonic()
            rc = subprocess.call(['/usr/sbin/smtp-source', '-s', str(a.accept_sessions), '-l', str(a.size),
                                  '-m', str(a.accept_msgs), '-M', 'client.example.test',
                                  '-f', 'from@example.test', '-t', 'to@example.test',
                                  '127.0.0.1:%d' % a.smtp], stdout=subprocess.DEVNULL)
            t1 = time.monotonic()
            deadline = t1 + a.timeout
            while time.monotonic() < deadline:
                with LOCK:
                    if COUNT[0] - base >= a.accept_msgs:
                        break
                time.sleep(0.05)
            t2 = time.monotonic()
            with LOCK:
                got = COUNT[0] - base
            print('bench=queue test=accept-deferred run=%d msgs=%d sessions=%d size=%d secs=%.2f rate=%.0f '
                  'e2e_secs=%.2f e2e_rate=%.0f delivered=%d rc=%d'
                  % (run, a.accept_msgs, a.accept_sessions, a.size, t1 - t0, a.accept_msgs / (t1 - t0),
                     t2 - t0, got / (t2 - t0), got, rc), flush=True)
    srv.shutdown()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    f = sub.add_parser('fill')
    f.add_argument('--queue', required=True)
    f.add_argument('--count', type=int, default=100000)
    f.add_argument('--size', type=int, default=4096)
    f.add_argument('--user', default='mail')
    f.add_argument('--domain', default='deferred.test')
    f.add_argument('--next-in', type=int, default=86400)
    p = sub.add_parser('peak')
    p.add_argument('--pid', type=int, required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--interval', type=float, default=0.1)
    l = sub.add_parser('latency')
    l.add_argument('--smtp', type=int, required=True)
    l.add_argument('--sink-port', type=int, required=True)
    l.add_argument('--msgs', type=int, default=1000)
    l.add_argument('--rate', type=float, default=20)
    l.add_argument('--size', type=int, default=4096)
    l.add_argument('--runs', type=int, default=1)
    l.add_argument('--accept-msgs', type=int, default=0)
    l.add_argument('--accept-sessions', type=int, default=20)
    l.add_argument('--timeout', type=float, default=120)
    a = ap.parse_args()
    {'fill': fill, 'peak': peak, 'latency': latency}[a.cmd](a)


if __name__ == '__main__':
    main()
