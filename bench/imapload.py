#!/usr/bin/env python3
"""imapload.py - IMAP load generator and data maker for bench/bench_imap.sh (loopback only).

Standard library only. Every measuring command prints one key=value line.

  gen DIR [--domain D --password P --owner UID:GID --users N --msgs M --large L]
      vpopmail-style DIR/domains/D/vpasswd and Maildirs: yNN (yescrypt) and sNN
      (sha512-crypt), NN=01..N, 10 small messages each; big (sha512-crypt) with M
      messages of varied sizes (about 30% multipart); large (sha512-crypt) with L
      messages of 64 KB to 1 MB, each with a base64 attachment. All in cur/ with
      :2,<flags>, mtime = the time in the name.
  login  HOST:PORT USER PASS [--clients C --secs S]   LOGIN + LOGOUT, a new connection each,
                                                      C processes; USER may hold {i} = 1..C
  select HOST:PORT USER PASS [--mailbox M]            time of SELECT M (from the command to its OK)
  fetch  HOST:PORT USER PASS [--mailbox M] [--items I] FETCH 1:* (FLAGS ENVELOPE) (or I): messages/s
  body   HOST:PORT USER PASS [--mailbox M --passes P] FETCH 1:* (BODY.PEEK[]) P times (default 3):
                                                      MB/s of message octets
  store  HOST:PORT USER PASS [--mailbox M --stores N] N single-message STOREs in a row on
                                                      message 1 (+FLAGS then -FLAGS (\Seen), each
                                                      a change): ms per STORE
  mem    HOST:PORT USER PASS --pid PID --sessions S [--idle]
      PSS of PID's process tree (sum of /proc/P/smaps_rollup over PID and its
      descendants) before and with S sessions logged in and SELECTed on INBOX
      (and in IDLE with --idle); USER may hold {i} = 1..16, cycled.
  median FILE    the run=median lines of the run=N lines in FILE
"""
import argparse
import base64
import email.utils
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import time


def hostport(s):
    h, p = s.rsplit(':', 1)
    if not h.startswith('127.'):
        sys.exit('refusing non-loopback address ' + h)
    return h, int(p)


class IMAP:
    """Minimal client: reads whole responses, skipping literals by their counts."""

    def __init__(self, hp):
        self.s = socket.create_connection(hp, timeout=60)
        self.buf, self.pos, self.n, self.exists = bytearray(), 0, 0, None
        greet = self._line()
        if not greet.startswith(b'* OK'):
            raise RuntimeError(bytes(greet[:80]).decode('latin1'))

    def _fill(self):
        if self.pos > 1 << 20:
            del self.buf[:self.pos]
            self.pos = 0
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError('connection closed by server')
        self.buf += d

    def _line(self):
        while (i := self.buf.find(b'\r\n', self.pos)) < 0:
            self._fill()
        ln = self.buf[self.pos:i]
        self.pos = i + 2
        return ln

    def cmd(self, text, expect=b'OK'):
        """Send one command; return (untagged responses, literal octets, tagged line)."""
        self.n += 1
        tag = b'a%d' % self.n
        self.s.sendall(tag + b' ' + text.encode() + b'\r\n')
        untagged = lit = 0
        start = True
        while True:
            ln = self._line()
            if start:
                if ln.startswith(tag + b' '):
                    if not ln.startswith(tag + b' ' + expect):
                        raise RuntimeError(bytes(ln[:120]).decode('latin1'))
                    return untagged, lit, bytes(ln)
                if ln.startswith(b'*'):
                    untagged += 1
                    if ln.endswith(b' EXISTS'):
                        self.exists = int(ln.split()[1])
                elif ln.startswith(b'+') and expect == b'+':
                    return untagged, lit, bytes(ln)
            if ln.endswith(b'}') and (j := ln.rfind(b'{')) >= 0:
                k = int(ln[j + 1:-1].rstrip(b'+'))
                while len(self.buf) - self.pos < k:
                    self._fill()
                self.pos += k
                lit += k
                start = False           # the response goes on after the literal
            else:
                start = True

    def login(self, user, pw):
        self.cmd(f'LOGIN "{user}" "{pw}"')
        return self

    def close(self):
        try:
            self.cmd('LOGOUT')
        finally:
            self.s.close()


def _login_worker(hp, user, pw, deadline, q):
    ok = err = 0
    last = ''
    while time.time() < deadline and err < 1000:
        try:
            IMAP(hp).login(user, pw).close()
            ok += 1
        except Exception as e:  # count, back off briefly, go on until the deadline
            err += 1
            last = str(e)[:60].replace(' ', '_')
            time.sleep(0.05)
    q.put((ok, err, last))


def login(a):
    hp = hostport(a.hostport)
    q = multiprocessing.Queue()
    t0 = time.time()
    deadline = t0 + a.secs
    ps = [multiprocessing.Process(target=_login_worker,
                                  args=(hp, a.user.format(i=i), a.password, deadline, q))
          for i in range(1, a.clients + 1)]
    for p in ps:
        p.start()
    res = [q.get(timeout=a.secs + 120) for _ in ps]
    dt = time.time() - t0
    for p in ps:
        p.join()
    ok, err = sum(r[0] for r in res), sum(r[1] for r in res)
    last = next((r[2] for r in res if r[2]), '')
    print(f'clients={a.clients} secs={dt:.2f} logins={ok} rate={ok / dt:.1f} errors={err}'
          + (f' last_error={last}' if last else ''))


def select(a):
    c = IMAP(hostport(a.hostport)).login(a.user, a.password)
    t0 = time.perf_counter()
    _, _, ok = c.cmd(f'SELECT {a.mailbox}')
    dt = time.perf_counter() - t0
    c.cmd('NOOP')                       # a session that writes its list after the OK has done so
    c.close()
    print(f'ms={dt * 1000:.1f} exists={c.exists} ok={ok.split()[2].decode()}')


def _selected(a):
    c = IMAP(hostport(a.hostport)).login(a.user, a.password)
    c.cmd(f'SELECT {a.mailbox}')
    return c


def fetch(a):
    c = _selected(a)
    t0 = time.perf_counter()
    n, _, _ = c.cmd(f'FETCH 1:* {a.items}')
    dt = time.perf_counter() - t0
    c.close()
    print(f'msgs={n} ms={dt * 1000:.0f} rate={n / dt:.0f}')


def body(a):
    c = _selected(a)
    n = lit = 0
    t0 = time.perf_counter()
    for _ in range(a.passes):
        k, b, _ = c.cmd('FETCH 1:* (BODY.PEEK[])')
        n, lit = n + k, lit + b
    dt = time.perf_counter() - t0
    c.close()
    print(f'msgs={n} bytes={lit} ms={dt * 1000:.0f} mbps={lit / dt / 1e6:.1f}')


def store(a):
    c = _selected(a)
    c.cmd('STORE 1 -FLAGS.SILENT (\\Seen)')           # a known start: each STORE then changes the flag
    t0 = time.perf_counter()
    for i in range(a.stores):
        c.cmd(f'STORE 1 {"+" if i % 2 == 0 else "-"}FLAGS.SILENT (\\Seen)')
    dt = time.perf_counter() - t0
    c.close()
    print(f'stores={a.stores} ms={dt * 1000:.0f} per_store_ms={dt * 1000 / a.stores:.3f}')


def tree_pss(root):
    """(PSS kB, RSS kB, processes, USS kB) over root and all its descendants.

    USS (Private_Clean + Private_Dirty) does not move with what other programs on
    the machine map, as PSS's share of libc does: a steadier second figure."""
    kids = {}
    for d in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{d}/stat') as f:
                st = f.read()
            kids.setdefault(int(st[st.rindex(')') + 2:].split()[1]), []).append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    todo, pss, rss, n, uss = [root], 0, 0, 0, 0
    while todo:
        p = todo.pop()
        todo += kids.get(p, [])
        try:
            with open(f'/proc/{p}/smaps_rollup') as f:
                for ln in f:
                    if ln.startswith('Pss:'):
                        pss += int(ln.split()[1])
                    elif ln.startswith('Rss:'):
                        rss += int(ln.split()[1])
                    elif ln.startswith('Private_'):
                        uss += int(ln.split()[1])
            n += 1
        except OSError:
            pass
    return pss, rss, n, uss


def mem(a):
    hp = hostport(a.hostport)
    time.sleep(1)
    base = tree_pss(a.pid)
    conns = []
    for k in range(a.sessions):
        c = IMAP(hp).login(a.user.format(i=k % 16 + 1), a.password)
        c.cmd('SELECT INBOX')
        if a.idle:
            c.cmd('IDLE', expect=b'+')
        conns.append(c)
    samples = []
    for _ in range(4):                  # let the tree settle (login processes exit)
        time.sleep(0.5)
        samples.append(tree_pss(a.pid))
    pss, rss, n, uss = samples[-1]
    for c in conns:
        if a.idle:
            c.s.sendall(b'DONE\r\n')
            c.cmd('NOOP')               # reads the IDLE's tagged OK first, then NOOP's
        c.s.close()
    print(f'sessions={a.sessions} pss_idle_kb={base[0]} procs_idle={base[2]} pss_kb={pss} '
          f'rss_kb={rss} procs={n} per_session_kb={(pss - base[0]) / a.sessions:.0f} '
          f'rss_per_session_kb={(rss - base[1]) / a.sessions:.0f} '
          f'uss_per_session_kb={(uss - base[3]) / a.sessions:.0f}')


def median(a):
    groups = {}
    for ln in open(a.file):
        kv = dict(x.split('=', 1) for x in ln.split() if '=' in x)
        if kv.get('run', '').isdigit():
            groups.setdefault((kv['peer'], kv['test']), []).append(kv)
    for (peer, test), rows in groups.items():
        out = [f'peer={peer} test={test} run=median n={len(rows)}']
        for k, v in rows[0].items():
            if k in ('peer', 'test', 'run'):
                continue
            try:
                m = statistics.median(float(r[k]) for r in rows)
                out.append(f'{k}=' + f'{m:.3f}'.rstrip('0').rstrip('.'))
            except (KeyError, ValueError):
                out.append(f'{k}={v}')
        print(' '.join(out))


# --- data -------------------------------------------------------------------

WORDS = ('mailbox server message account invoice meeting report quarterly review attached please '
         'note regards thanks schedule update project draft budget customer support ticket network '
         'backup the a of to and for with on is this that from we will be').split()


class Gen:
    def __init__(self, domain):
        self.rnd, self.domain = random.Random(42), domain
        self.lines = [' '.join(self.rnd.choices(WORDS, k=self.rnd.randint(6, 12))) for _ in range(3000)]

    def text(self, size):
        out, n = [], 0
        while n < size:
            ln = self.lines[self.rnd.randrange(len(self.lines))]
            out.append(ln)
            n += len(ln) + 1
        return '\n'.join(out) + '\n'

    def b64(self, size):
        raw = self.rnd.randbytes(size * 3 // 4)
        return base64.encodebytes(raw).decode()

    def headers(self, k, user, t):
        r = self.rnd
        mx = f'mx{k % 7}.example.org'
        subj = f'Benchmark message {k}: ' + ' '.join(r.choices(WORDS, k=4))
        if k % 13 == 0:
            subj = '=?utf-8?q?R=C3=A9union_du_lundi?= ' + subj      # an encoded word
        h = (f'Return-Path: <sender{k % 97}@example.org>\n'
             f'Delivered-To: {user}\n'
             f'Received: from {mx} ({mx} [192.0.2.{k % 250 + 1}])\n\tby mail.{self.domain} with ESMTP id {k:08X}\n'
             f'\tfor <{user}>; {email.utils.formatdate(t, usegmt=True)}\n'
             f'Message-ID: <{t}.{k}@example.org>\n'
             f'Date: {email.utils.formatdate(t, usegmt=True)}\n'
             f'From: "Sender {k % 97}" <sender{k % 97}@example.org>\n'
             f'To: <{user}>')
        if k % 3 == 0:
            h += f', "Colleague {k % 11}" <colleague{k % 11}@example.net>'
        h += '\n'
        if k % 4 == 0:
            h += f'Cc: team{k % 5}@example.com, "Boss" <boss@example.com>\n'
        if k % 5 == 0:
            h += f'In-Reply-To: <{t - 3600}.{k - 1}@example.org>\nReferences: <{t - 3600}.{k - 1}@example.org>\n'
        if k % 9 == 0:
            h += f'Reply-To: list{k % 3}@lists.example.org\n'
        return h + f'Subject: {subj}\nMIME-Version: 1.0\n'

    def message(self, k, user, t, size, kind):
        h = self.headers(k, user, t)
        if kind == 'plain':
            return (h + 'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n'
                    + self.text(max(size - len(h) - 80, 100))).encode()
        b = f'=_bench_{k}_{t}'
        if kind == 'alt':
            t1 = self.text(max(size // 3, 100))
            html = '<html><body><p>' + self.text(max(size // 2, 100)).replace('\n', '</p>\n<p>') + '</p></body></html>\n'
            return (h + f'Content-Type: multipart/alternative; boundary="{b}"\n\n'
                    f'This is a multi-part message in MIME format.\n\n--{b}\n'
                    'Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n'
                    f'{t1}\n--{b}\nContent-Type: text/html; charset=utf-8\n\n{html}\n--{b}--\n').encode()
        # mixed: a short text and a base64 attachment filling the size
        t1 = self.text(400)
        att = self.b64(max(size - len(h) - 800, 200))
        return (h + f'Content-Type: multipart/mixed; boundary="{b}"\n\n--{b}\n'
                'Content-Type: text/plain; charset=utf-8\n\n'
                f'{t1}\n--{b}\nContent-Type: application/pdf; name="report-{k}.pdf"\n'
                f'Content-Disposition: attachment; filename="report-{k}.pdf"\n'
                f'Content-Transfer-Encoding: base64\n\n{att}\n--{b}--\n').encode()


def gen(a):
    dom = os.path.abspath(os.path.join(a.dir, 'domains', a.domain))
    g = Gen(a.domain)
    r = g.rnd
    users = ([(f'y{i:02d}', 'yescrypt', 'small', 10) for i in range(1, a.users + 1)]
             + [(f's{i:02d}', 'sha512crypt', 'small', 10) for i in range(1, a.users + 1)]
             + [('big', 'sha512crypt', 'mixed', a.msgs), ('large', 'sha512crypt', 'large', a.large)])
    lines, k, total = [], 0, 0
    kinds = {}
    for u, scheme, what, n in users:
        h = subprocess.run(['mkpasswd', '-m', scheme, '-s'], input=a.password, capture_output=True,
                           text=True, check=True).stdout.strip()
        lines.append(f'{u}:{h}:1:0:{u}:{dom}/{u}:NOQUOTA')  # vpopmail: uid/gid fields are flags
        md = f'{dom}/{u}/Maildir'
        for s in ('cur', 'new', 'tmp'):
            os.makedirs(f'{md}/{s}', exist_ok=True)
        for _ in range(n):
            k += 1
            t = 1700000000 + k * 60
            if what == 'large':
                size, kind = r.randint(64 << 10, 1 << 20), 'mixed'
            else:
                x = r.random()
                size = (r.randint(800, 4096) if x < .6 else r.randint(4096, 16384) if x < .85
                        else r.randint(16384, 65536) if x < .97 else r.randint(65536, 262144))
                y = r.random()
                kind = 'plain' if y < .7 else 'alt' if y < .85 else 'mixed'
            kinds[kind] = kinds.get(kind, 0) + 1
            m = g.message(k, f'{u}@{a.domain}', t, size, kind)
            total += len(m)
            fl = r.choice(('', 'S', 'S', 'S', 'RS', 'FS'))
            p = f'{md}/cur/{t}.M{k}P1.bench,S={len(m)}:2,{fl}'
            with open(p, 'wb') as f:
                f.write(m)
            os.utime(p, (t, t))
    with open(f'{dom}/vpasswd', 'w') as f:
        f.write('\n'.join(lines) + '\n')
    uid, gid = map(int, a.owner.split(':'))
    for root, _, files in os.walk(os.path.join(a.dir, 'domains')):
        for x in [root] + [os.path.join(root, f) for f in files]:
            os.chown(x, uid, gid)
    print(f'users={len(users)} messages={k} bytes={total} '
          + ' '.join(f'{x}={v}' for x, v in sorted(kinds.items())))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = ap.add_subparsers(dest='cmd', required=True)
    for name, fn in (('login', login), ('select', select), ('fetch', fetch), ('body', body), ('store', store),
                     ('mem', mem)):
        p = sp.add_parser(name)
        p.set_defaults(fn=fn)
        for x in ('hostport', 'user', 'password'):
            p.add_argument(x)
        for x, d in (('--clients', 1), ('--sessions', 16), ('--pid', 0), ('--passes', 3),
                     ('--stores', 200)):
            p.add_argument(x, type=int, default=d)
        p.add_argument('--secs', type=float, default=5)
        p.add_argument('--mailbox', default='INBOX')
        p.add_argument('--items', default='(FLAGS ENVELOPE)')     # fetch: the attributes
        p.add_argument('--idle', action='store_true')
    p = sp.add_parser('gen')
    p.set_defaults(fn=gen)
    p.add_argument('dir')
    for x, d in (('--domain', 'bench.test'), ('--password', 'bench-pass'), ('--owner', '8:8')):
        p.add_argument(x, default=d)
    for x, d in (('--users', 16), ('--msgs', 10000), ('--large', 120)):
        p.add_argument(x, type=int, default=d)
    p = sp.add_parser('median')
    p.set_defaults(fn=median)
    p.add_argument('file')
    a = ap.parse_args()
    a.fn(a)


if __name__ == '__main__':
    main()
