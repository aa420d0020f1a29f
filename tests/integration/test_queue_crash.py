#!/usr/bin/env python3
"""kill -9 of the queue manager and of osd smtpd under load loses no
acknowledged mail.

2,000 messages, each with a unique Subject and Message-ID and an end marker
as its last line, are relayed by ten Python SMTP clients through osd smtpd;
the clients record which numbers got 250 after DATA.  osd queue delivers them
to Postfix's smtp-sink (one dump file per transaction, -d).  While the mail
flows osd smtpd (with its session processes) is killed with SIGKILL twice, and
the queue manager four times (once with smtpd, then at a quarter, half and
three quarters of the deliveries, each after the deliveries in flight at the
previous kill are over), each restarted at once.  Once the queue
is empty (osd qstat 0): every 250-acknowledged message reached the sink
complete, none more than twice (a crash repeats at most the delivery in
flight), and nothing arrived that was never sent.
"""
import os
import re
import signal
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (Osd, SmtpSink, check, children_of, finish, free_port, have,  # noqa: E402
                     qstat, wait_for)

TOTAL = 2000
CLIENTS = 10
T = 20


class Sender:
    """CLIENTS threads sending numbers 0..TOTAL-1, several messages per session."""

    def __init__(self, port, limit):
        self.port = port
        self.next = 0
        # Numbers from limit on wait for release(): each kill of smtpd then finds the clients
        # mid-flow, however fast they are (with reused session processes they once sent
        # everything while the first restart was still under way).
        self.limit = limit
        self.acked, self.unsure = set(), set()
        self.lock = threading.Lock()
        self.more = threading.Condition(self.lock)
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(CLIENTS)]
        for t in self.threads:
            t.start()

    def release(self, limit):
        with self.lock:
            self.limit = limit
            self.more.notify_all()

    def sent(self):
        with self.lock:
            return len(self.acked) + len(self.unsure)

    def take(self):
        with self.lock:
            while self.next >= self.limit and self.next < TOTAL:
                self.more.wait(1)
            if self.next >= TOTAL:
                return None
            self.next += 1
            return self.next - 1

    def connect(self):
        # smtpd may be down for a moment (killed): try again until it is back.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                s = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test", timeout=T)
                s.ehlo()
                return s
            except (OSError, smtplib.SMTPException):
                time.sleep(0.05)
        return None

    def run(self):
        s = None
        sent = 0
        while True:
            if s is None:
                s = self.connect()
                sent = 0
                if s is None:
                    return
            n = self.take()
            if n is None:
                break
            msg = ("From: a@client.test\r\nTo: b@example.net\r\nSubject: crash-%05d\r\n"
                   "Message-ID: <crash-%05d@client.test>\r\n\r\nmessage %d\r\n%s\r\nEND-%05d\r\n"
                   % (n, n, n, "x" * 200, n)).encode()
            try:
                code, _ = s.mail("a@client.test")
                if code == 250:
                    code, _ = s.rcpt("b@example.net")
                if code == 250:
                    code, _ = s.data(msg)
                with self.lock:
                    (self.acked if code == 250 else self.unsure).add(n)
                sent += 1
                if sent == 20:          # 20 messages per session, then a new one
                    s.quit()
                    s = None
            except (OSError, smtplib.SMTPException):
                # No 250 seen: the message may or may not be queued.
                with self.lock:
                    self.unsure.add(n)
                try:
                    s.close()
                except OSError:
                    pass
                s = None
        if s is not None:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass

    def done(self):
        return not any(t.is_alive() for t in self.threads)


def start_queue(o):
    seen = len(o.log("queue"))
    p = o.start("queue")
    wait_for(lambda: "ready" in o.log("queue")[seen:] or p.poll() is not None)
    return p


def kill9(p):
    p.send_signal(signal.SIGKILL)
    p.wait()


def kill9_smtpd(p):
    """SIGKILL the server and every session process."""
    kids = children_of(p.pid)
    kill9(p)
    for k in kids:
        try:
            os.kill(k, signal.SIGKILL)
        except ProcessLookupError:
            pass


def lock_holders(o):
    """(pid, command line) of every process with state/queue/lock open."""
    lock = os.path.realpath(os.path.join(o.state, "queue", "lock"))
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir("/proc/%s/fd" % pid)
            for fd in fds:
                if os.readlink("/proc/%s/fd/%s" % (pid, fd)) == lock:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        out.append((int(pid), f.read().replace(b"\0", b" ").decode(errors="replace")))
                    break
        except OSError:
            continue
    return out


def sink_counts(sink):
    """Number -> how many complete copies the sink holds; numbers seen without their end."""
    counts, partial = {}, 0
    for data in sink.files():
        m = re.search(rb"\nSubject: crash-(\d{5})\n", data)
        if m is None:
            continue
        n = int(m.group(1))
        if b"\nEND-%05d\n" % n not in data:
            partial += 1
            continue
        counts[n] = counts.get(n, 0) + 1
    return counts, partial


def main():
    if not have("smtp-sink"):
        check(False, "smtp-sink is installed (postfix)")
        finish()
    port = free_port()
    o = Osd(rules='127.0.0.1:allow,RELAYCLIENT=""\n')
    sink = SmtpSink()
    sender = None
    try:
        check(sink.ok, "smtp-sink listens on port %d" % sink.port)
        # fsync = no: kill -9 is no power loss; the page cache keeps what was written.
        o.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\ncontrol_dir = control\n"
                     "fsync = no\nsmtp_max_per_ip = 50\n" % port)
        o.write_control("me", "relay.osd.test\n")
        o.write_control("rcpthosts", "example.test\n")
        o.write_control("smtproutes", "example.net:127.0.0.1:%d\n" % sink.port)
        o.write_control("timeoutconnect", "5\n")
        o.write_control("timeoutremote", "30\n")
        o.start_watch()
        smtpd = o.start_smtpd(port)
        queue = start_queue(o)
        if not check(smtpd.poll() is None and queue.poll() is None, "osd smtpd and osd queue run"):
            return
        t0 = time.monotonic()
        kill_at = (0.3, 0.65)
        sender = Sender(port, int(kill_at[0] * TOTAL))
        kills_q = kills_s = busy_kills = 0

        def ends():
            return o.log("queue").count(": end msg ")

        def kill_queue(what):
            nonlocal queue, kills_q, busy_kills
            running = len(children_of(queue.pid))
            busy_kills += running > 0
            kill9(queue)
            kills_q += 1
            at_kill = lock_holders(o)
            seen = len(o.log("queue"))
            queue = start_queue(o)
            if not check(queue.poll() is None, "%s: osd queue killed with %d delivery processes, "
                         "restarted at once (%s)" % (what, running, o.log("queue")[seen:].strip()[:200])):
                print("info - queue/lock held right after the kill by %r, now by %r"
                      % (at_kill, lock_holders(o)))
                # Go on with the run: start it again once nothing holds the lock.
                wait_for(lambda: not lock_holders(o), timeout=30)
                queue = start_queue(o)
                check(queue.poll() is None, "osd queue starts on a second attempt")

        # osd smtpd dies twice while the clients send (the first time with the manager).
        for frac, with_queue, then in ((kill_at[0], True, kill_at[1]), (kill_at[1], False, 1)):
            # The kill comes while the last messages before the limit are still in flight.
            wait_for(lambda: sender.sent() >= frac * TOTAL - 2 * CLIENTS or sender.done(),
                     timeout=120)
            if sender.done():
                break
            kill9_smtpd(smtpd)
            kills_s += 1
            smtpd = o.start_smtpd(port)
            check(smtpd.poll() is None, "kill -9 of osd smtpd at %d%% sent: restarted" % (frac * 100))
            sender.release(int(then * TOTAL))
            if with_queue:
                kill_queue("with osd smtpd")
        sender.release(TOTAL)
        # The manager dies again at a quarter, half and three quarters of the deliveries.
        # Each time the deliveries that were in flight at the last kill (the oldest
        # messages, retried first) must be over, else one message could be caught
        # by several kills and legitimately arrive three times.
        last = ends()
        for frac in (0.25, 0.5, 0.75):
            wait_for(lambda: ends() >= frac * TOTAL and ends() >= last + 50 or ends() >= TOTAL,
                     timeout=120)
            if ends() >= TOTAL:
                break
            kill_queue("at %d deliveries" % ends())
            last = ends()
        check(wait_for(sender.done, timeout=300), "the clients sent all %d messages" % TOTAL)
        acked = set(sender.acked)
        check(kills_q >= 4 and kills_s >= 2,
              "the queue manager was killed %d times, osd smtpd %d times, mid-flow" % (kills_q, kills_s))
        check(busy_kills >= 1, "at least one kill hit the manager with delivery processes running (%d)" % busy_kills)
        check(len(acked) >= TOTAL - CLIENTS * (kills_s + 1),
              "%d of %d messages acknowledged with 250 (%d unsure)" % (len(acked), TOTAL, len(sender.unsure)))
        check(wait_for(lambda: qstat(o) == (0, 0), timeout=300),
              "the queue drains to empty (osd qstat %r)" % (qstat(o),))
        # Orphans of a killed manager may still be finishing their transaction.
        wait_for(lambda: all(sink_counts(sink)[0].get(n) for n in acked), timeout=30)
        counts, partial = sink_counts(sink)
        missing = sorted(n for n in acked if n not in counts)
        check(not missing, "every acknowledged message reached the sink (%d missing: %r)"
              % (len(missing), missing[:20]))
        over = sorted(n for n, c in counts.items() if c > 2)
        check(not over, "none arrived more than twice (%r)" % [(n, counts[n]) for n in over[:20]])
        dups = sum(1 for c in counts.values() if c == 2)
        print("info - %d duplicates, %d partial dumps, %d unacknowledged that arrived, %.1f s"
              % (dups, partial, len([n for n in counts if n not in acked]), time.monotonic() - t0))
        stray = sorted(n for n in counts if n not in acked and n not in sender.unsure)
        check(not stray, "nothing arrived that was never sent (%r)" % stray[:20])
        log = o.log("queue") + o.log("smtpd")
        check("AddressSanitizer" not in log and "runtime error" not in log,
              "no sanitizer report in the queue and smtpd logs")
        check(o.stop(queue) == 0, "the last osd queue stops cleanly on SIGTERM")
    finally:
        if sender is not None:
            wait_for(sender.done, timeout=60)
        for p in o.procs:
            o.stop(p)
        sink.stop()
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
