#!/usr/bin/env python3
"""idle_sessions.py - memory per idle SMTP session of a server's process tree.

    bench/idle_sessions.py --port PORT --pid ROOT_PID [--sessions 50] [--name NAME]

Sums PSS (and RSS) from /proc/PID/smaps_rollup over ROOT_PID and all its
descendants, opens SESSIONS connections to 127.0.0.1:PORT, reads each
greeting, sends EHLO and reads the whole reply, waits for the tree to settle,
sums again, and prints one key=value line:

    peer=NAME test=idle-pss sessions=N before_pss_kb= after_pss_kb= per_session_kb=
        before_rss_kb= after_rss_kb= rss_per_session_kb= procs_before= procs_after=

per_session_kb = (after - before) / N: what an idle session adds, whatever
the process model (fork per connection, a pool of reused processes, ...).
Then it sends QUIT on every connection.

    bench/idle_sessions.py --peak OUT --watch NAME=PID|NAME=@PIDFILE... [--interval 0.25]

Peak mode: samples the PSS sum of each watched tree every INTERVAL seconds
until killed, and keeps OUT up to date with one line per tree:
peer=NAME peak_pss_kb= peak_rss_kb= peak_procs= samples=.  Processes that
vanish while a sample is read are skipped (a fork-per-connection tree churns
hundreds of children a second).  Standard library only.
"""
import argparse
import os
import socket
import sys
import time


def children():
    """pid -> list of child pids, for every process in /proc."""
    kids = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open(f'/proc/{d}/stat') as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(')') + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(root):
    kids, out, todo = children(), [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def mem(root):
    """(pss_kb, rss_kb, procs) summed over root and its descendants."""
    pss = rss = n = 0
    for p in tree(root):
        try:
            with open(f'/proc/{p}/smaps_rollup') as f:
                for ln in f:
                    if ln.startswith('Pss:'):
                        pss += int(ln.split()[1])
                    elif ln.startswith('Rss:'):
                        rss += int(ln.split()[1])
            n += 1
        except OSError:
            pass
    return pss, rss, n


def reply(s, buf=b''):
    """Read one complete SMTP reply (all continuation lines); return its code."""
    while True:
        lines = buf.split(b'\r\n')
        for i, ln in enumerate(lines[:-1]):
            if len(ln) >= 4 and ln[3:4] == b' ':
                return int(ln[:3]), b'\r\n'.join(lines[i + 1:])
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError('connection closed by the server')
        buf += chunk


def settle(root, secs=1.0):
    """Wait until the tree's process count stops changing (at most 10 s), then a little more."""
    last, t0 = None, time.time()
    while time.time() - t0 < 10:
        n = len(tree(root))
        if n == last:
            break
        last = n
        time.sleep(0.3)
    time.sleep(secs)


def peak(out, watches, interval):
    best = {name: (0, 0, 0) for name, _ in watches}
    samples = dict.fromkeys(best, 0)
    while True:
        changed = False
        for name, spec in watches:
            try:
                pid = int(open(spec[1:]).read().strip()) if spec.startswith('@') else int(spec)
            except (OSError, ValueError):
                continue
            if not os.path.exists(f'/proc/{pid}'):
                continue
            m = mem(pid)
            samples[name] += 1
            if m[0] > best[name][0]:
                best[name], changed = m, True
        if changed:
            with open(out + '.tmp', 'w') as f:
                for name, (pss, rss, n) in best.items():
                    if samples[name]:
                        f.write(f'peer={name} peak_pss_kb={pss} peak_rss_kb={rss} '
                                f'peak_procs={n} samples={samples[name]}\n')
            os.replace(out + '.tmp', out)
        time.sleep(interval)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--peak', metavar='OUT', help='peak mode: write the peaks to OUT until killed')
    ap.add_argument('--watch', action='append', default=[], help='NAME=PID or NAME=@PIDFILE (peak mode)')
    ap.add_argument('--interval', type=float, default=0.25)
    ap.add_argument('--port', type=int)
    ap.add_argument('--pid', type=int, help='root of the server process tree')
    ap.add_argument('--sessions', type=int, default=50)
    ap.add_argument('--name', default='server')
    ap.add_argument('--helo', default='client.example.test')
    a = ap.parse_args()
    if a.peak:
        peak(a.peak, [w.split('=', 1) for w in a.watch], a.interval)
        return
    if a.port is None or a.pid is None:
        ap.error('--port and --pid are needed')
    settle(a.pid)
    before = mem(a.pid)
    conns = []
    for _ in range(a.sessions):
        s = socket.create_connection(('127.0.0.1', a.port), timeout=30)
        code, rest = reply(s)
        if code != 220:
            sys.exit(f'idle_sessions: greeting {code} from {a.name}')
        s.sendall(f'EHLO {a.helo}\r\n'.encode())
        code, _ = reply(s, rest)
        if code != 250:
            sys.exit(f'idle_sessions: EHLO answered {code} by {a.name}')
        conns.append(s)
    settle(a.pid)
    after = mem(a.pid)
    n = a.sessions
    print(f'peer={a.name} test=idle-pss sessions={n} before_pss_kb={before[0]} '
          f'after_pss_kb={after[0]} per_session_kb={(after[0] - before[0]) / n:.0f} '
          f'before_rss_kb={before[1]} after_rss_kb={after[1]} '
          f'rss_per_session_kb={(after[1] - before[1]) / n:.0f} '
          f'procs_before={before[2]} procs_after={after[2]}', flush=True)
    for s in conns:
        try:
            s.sendall(b'QUIT\r\n')
            reply(s)
        except OSError:
            pass
        s.close()


if __name__ == '__main__':
    main()
