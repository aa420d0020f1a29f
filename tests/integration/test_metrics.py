#!/usr/bin/env python3
"""osd metrics: the Prometheus text of the counters every daemon keeps, scraped with curl.

The real daemons (watch, pop3d, smtpd, queue) run with metrics_listen set;
osd metrics serves GET /metrics.  Each scrape is parsed with a real
Prometheus text parser (Debian's python3-prometheus-client,
text_string_to_metric_families), and each step of the test checks the exact
deltas it causes: a POP3 login via curl (and a failed one), osd record, a
relay via swaks after the login, an IMAP login via curl (and a failed one), a refused relay from another address, a
relay by a static rule and by SMTP AUTH, a remote delivery to smtp-sink, a
recipient the remote refuses (a bounce, delivered locally).  The HTTP side
is strict: 404 elsewhere, 405 for POST, HEAD without a body, 400 for
garbage, and the listener survives all of it.
"""
import os
import shutil
import socket
import subprocess
import sys

# Debian's python3-prometheus-client is installed for the system Python; a
# test runner on another interpreter hands over to it rather than skipping.
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("FAIL - python3-prometheus-client is missing (scripts/install-deps.sh)")
    sys.exit(1)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import (OSD, Osd, SmtpSink, check, check_no_crash, finish, free_port,  # noqa: E402
                     have, wait_for, wait_port)

DOM = "example.test"
T = 20


class Scrape:
    """One GET /metrics: the HTTP status, headers and {(name, labels): value} of its samples."""

    def __init__(self, port):
        p = subprocess.run(["curl", "-s", "-S", "--max-time", str(T), "-D", "-",
                            "http://127.0.0.1:%d/metrics" % port],
                           capture_output=True, timeout=60)
        # Bytes: the header block ends in CRLF CRLF, which text mode would rewrite.
        head, _, body = p.stdout.decode("utf-8", "replace").partition("\r\n\r\n")
        self.body = body
        lines = head.split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
        self.headers = {k.lower(): v.strip() for k, _, v in
                        (x.partition(":") for x in lines[1:])}
        self.families = {}
        self.samples = {}
        self.error = None
        try:
            for fam in text_string_to_metric_families(self.body):
                self.families[fam.name] = fam
                for s in fam.samples:
                    self.samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        except Exception as e:  # the parser's own complaint is the failure to report
            self.error = "%s: %s" % (type(e).__name__, e)

    def get(self, name, **labels):
        return self.samples.get((name, tuple(sorted(labels.items()))))


def k(name, **labels):
    return (name, tuple(sorted(labels.items())))


LOGIN_POP3_OK = k("osd_logins_total", service="pop3", result="ok")
LOGIN_POP3_FAILED = k("osd_logins_total", service="pop3", result="failed")
REC_POP3 = k("osd_logins_recorded_total", service="pop3")
LOGIN_IMAP_OK = k("osd_logins_total", service="imap", result="ok")
LOGIN_IMAP_FAILED = k("osd_logins_total", service="imap", result="failed")
REC_IMAP = k("osd_logins_recorded_total", service="imap")
REC_RECORD = k("osd_logins_recorded_total", service="record")
LOGIN_CHECKPW_OK = k("osd_logins_total", service="checkpassword", result="ok")
LOGIN_CHECKPW_FAILED = k("osd_logins_total", service="checkpassword", result="failed")
REC_CHECKPW = k("osd_logins_recorded_total", service="checkpassword")
RELAY = {r: k("osd_relay_decisions_total", result=r)
         for r in ("pop-before-smtp", "auth", "rule", "refused")}
SESSIONS = k("osd_smtp_sessions_total")
ACCEPTED = k("osd_smtp_messages_total", result="accepted")
REJ_RCPTHOSTS = k("osd_smtp_rejections_total", reason="rcpthosts")
DELIVERED = k("osd_deliveries_total", result="delivered")
DEFERRED = k("osd_deliveries_total", result="deferred")
BOUNCED = k("osd_deliveries_total", result="bounced")
BOUNCES = k("osd_bounces_total")
ENTRIES = k("osd_relay_entries")
QUEUE = {s: k("osd_queue_messages", state=s) for s in ("new", "pending", "deferred")}
REBUILDS = k("osd_relay_table_rebuilds_total")

# The counters the steps below move; every one not named in a step must stay put.
WATCHED = [LOGIN_POP3_OK, LOGIN_POP3_FAILED, REC_POP3, REC_RECORD, LOGIN_IMAP_OK,
           LOGIN_IMAP_FAILED, REC_IMAP, LOGIN_CHECKPW_OK, LOGIN_CHECKPW_FAILED, REC_CHECKPW,
           SESSIONS, ACCEPTED,
           REJ_RCPTHOSTS, DELIVERED, DEFERRED, BOUNCED, BOUNCES] + list(RELAY.values())


def swaks(port, src, to, *args):
    cmd = ["swaks", "--server", "127.0.0.1:%d" % port, "--local-interface", src,
           "--helo", "roamer.test", "--from", "alice@" + DOM, "--to", to, "--timeout", str(T)]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def pop_login(pport, src, password):
    return subprocess.run(["curl", "-s", "-S", "--max-time", str(T), "--interface", src,
                           "pop3://127.0.0.1:%d/" % pport, "-u", "alice@%s:%s" % (DOM, password)],
                          capture_output=True, timeout=120).returncode


def imap_login(iport, src, password):
    """curl imap:// lists the folders after LOGIN; its exit code."""
    return subprocess.run(["curl", "-s", "-S", "--max-time", str(T), "--interface", src,
                           "imap://127.0.0.1:%d/" % iport, "-u", "alice@%s:%s" % (DOM, password)],
                          capture_output=True, timeout=120).returncode


def checkpassword(o, src, password):
    """osd checkpassword as qmail-popup runs it under tcpserver: the login on descriptor 3."""
    env = {"PATH": "/usr/bin:/bin", "PROTO": "TCP", "TCPLOCALIP": "127.0.0.1",
           "TCPLOCALPORT": "110", "TCPREMOTEIP": src, "TCPREMOTEPORT": "40000"}
    data = ("alice@%s\0%s\0ts\0" % (DOM, password)).encode()
    # As under tcpserver on port 110: started as root, it runs the next program as mail_user.
    conf = o.conf + ".checkpassword"
    # nobody reaches open-smtp/, and reads vpasswd and the home (as a site with mail_user has them).
    os.chmod(o.root, 0o755)
    subprocess.run(["chown", "-R", "nobody:", os.path.join(o.state, "domains")], check=True)
    with open(o.conf) as f, open(conf, "w") as g:
        g.write(f.read() + "mail_user = nobody\n")
    cmd = ["sh", "-c", 'exec "$@" 3<&0 </dev/null', "sh", OSD, "checkpassword", "-c", conf,
           "/bin/true"]
    p = subprocess.run(cmd, input=data, capture_output=True, timeout=60, env=env)
    return p.returncode, p.stderr.decode(errors="replace").strip()[-300:]


def raw_http(port, data):
    """Send data as is; the first line of the answer ('' if none)."""
    c = socket.create_connection(("127.0.0.1", port), T)
    c.sendall(data)
    got = b""
    while True:
        try:
            chunk = c.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    c.close()
    return got


class Steps:
    def __init__(self, mport):
        self.mport = mport
        self.last = Scrape(mport)

    def step(self, what, action, deltas, settle=None):
        """Run action, wait until every expected delta showed up, then check each watched
        counter moved by exactly its delta (0 for the rest)."""
        before = self.last.samples
        action()

        def arrived():
            s = Scrape(self.mport)
            ok = s.error is None and all(
                (s.samples.get(key, 0) - before.get(key, 0)) >= d for key, d in deltas.items())
            if ok and settle is not None:
                ok = settle(s)
            return s if ok else None

        s = wait_for(arrived, step=0.1)
        if s is None:
            s = Scrape(self.mport)
        for key in WATCHED:
            want = deltas.get(key, 0)
            got = s.samples.get(key, 0) - before.get(key, 0)
            check(got == want, "%s: %s%s moved by %r (want %d)"
                  % (what, key[0], dict(key[1]) if key[1] else "", got, want))
        self.last = s
        return s


def test_queue_new_complete(o, mport):
    """queue/new holds files smtpd is still writing (created 0400) beside complete
    ones (fchmod 0600, docs/queue-format.md): only the complete ones are messages,
    as osd qstat counts them.  Before any daemon runs, so nothing takes the files."""
    qdir = os.path.join(o.state, "queue")
    new = os.path.join(qdir, "new")
    os.makedirs(new)
    path = os.path.join(new, "1700000000.4242.1")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    os.write(fd, b"an envelope still being written\n")
    os.close(fd)
    unmarked = Scrape(mport).samples.get(QUEUE["new"])
    os.chmod(path, 0o600)
    marked = Scrape(mport).samples.get(QUEUE["new"])
    check(unmarked == 0 and marked == 1,
          "osd_queue_messages{state=\"new\"}: a file in queue/new not yet marked complete "
          "(0400) is not counted, once marked (0600) it is (%r, then %r)" % (unmarked, marked))
    shutil.rmtree(qdir)


def main():
    o = Osd()
    sinks = []
    try:
        run(o, sinks)
    finally:
        for p in o.procs:
            o.stop(p)
        for s in sinks:
            s.stop()
        o.cleanup()
    finish()


def run(o, sinks):
    for tool in ("curl", "swaks", "smtp-sink"):
        if not check(have(tool), "%s is installed" % tool):
            return
    good, bad = SmtpSink(), SmtpSink("-f", "RCPT")
    sinks += [good, bad]
    if not check(good.ok and bad.ok, "two smtp-sinks listen (one refusing every RCPT)"):
        return
    port, sub, pport, mport, iport = (free_port() for _ in range(5))
    with open(o.rules, "w") as f:
        f.write('127.0.0.7:allow,RELAYCLIENT=""\n')
    o.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen = 127.0.0.1:%d\n"
                 "pop3_listen = 127.0.0.1:%d\nmetrics_listen = 127.0.0.1:%d\n"
                 "imap_listen = 127.0.0.1:%d\ncontrol_dir = control\ndefault_domain = %s\n"
                 % (port, sub, pport, mport, iport, DOM))
    o.write_control("me", "mx.%s\n" % DOM)
    o.write_control("rcpthosts", "%s\n" % DOM)
    o.write_control("smtproutes", "route.test:127.0.0.1:%d\nbounce.test:127.0.0.1:%d\n"
                    % (good.port, bad.port))
    p = o.run("user", "add", "alice@" + DOM, input="alice-pw\n")
    check(p.returncode == 0, "osd user add alice@%s (%s)" % (DOM, p.stderr.strip()))

    # osd metrics first: a scrape before any daemon ran shows the families with zeros.
    seen = len(o.log("metrics"))
    m = o.start("metrics")
    if not check(wait_port(mport, m), "osd metrics listens on metrics_listen (%s)"
                 % o.log("metrics")[seen:].strip()[-300:]):
        return
    s = Scrape(mport)
    check(s.status == 200 and s.error is None,
          "GET /metrics: 200 and parsed by prometheus_client (%s)" % s.error)
    check(s.headers.get("content-type") == "text/plain; version=0.0.4; charset=utf-8",
          "Content-Type is the text format 0.0.4 (%r)" % s.headers.get("content-type"))
    check(s.samples.get(SESSIONS) == 0 and s.samples.get(DELIVERED) == 0,
          "before any daemon ran, the counters are 0")
    types = {n: f.type for n, f in s.families.items()}
    want_types = {"osd_logins_recorded": "counter", "osd_logins": "counter",
                  "osd_relay_decisions": "counter", "osd_relay_entries": "gauge",
                  "osd_relay_table_rebuilds": "counter",
                  "osd_relay_table_rebuild_duration_seconds": "histogram",
                  "osd_smtp_sessions": "counter", "osd_smtp_messages": "counter",
                  "osd_smtp_rejections": "counter", "osd_queue_messages": "gauge",
                  "osd_deliveries": "counter", "osd_bounces": "counter"}
    check(all(types.get(n) == t for n, t in want_types.items()),
          "every family is there with its type (%r)" % types)
    test_queue_new_complete(o, mport)

    w = o.start_watch()
    pop = o.start("pop3d")
    imap = o.start("imapd")
    d = o.start_smtpd(port, sub)
    seen = len(o.log("queue"))
    q = o.start("queue")
    ok = (w.poll() is None and wait_port(pport, pop) and wait_port(iport, imap) and
          d.poll() is None and
          wait_for(lambda: "ready" in o.log("queue")[seen:] or q.poll() is not None) and
          q.poll() is None)
    if not check(ok, "osd watch, pop3d, imapd, smtpd and queue run"):
        return
    st = Steps(mport)
    s = st.last
    check(s.samples.get(REBUILDS, 0) >= 1 and s.samples.get(ENTRIES) == 0,
          "the watcher's first table is counted, with 0 live entries (%r, %r)"
          % (s.samples.get(REBUILDS), s.samples.get(ENTRIES)))
    check(s.get("osd_relay_table_rebuild_duration_seconds_count") == s.samples.get(REBUILDS) and
          s.get("osd_relay_table_rebuild_duration_seconds_bucket", le="+Inf") ==
          s.samples.get(REBUILDS),
          "the rebuild histogram counts every rebuild")

    rebuilds0 = s.samples.get(REBUILDS, 0)
    st.step("a failed POP3 login (curl, 127.0.0.9)",
            lambda: check(pop_login(pport, "127.0.0.9", "wrong") != 0, "curl: wrong password refused"),
            {LOGIN_POP3_FAILED: 1})
    s = st.step("a POP3 login (curl, 127.0.0.5)",
                lambda: check(pop_login(pport, "127.0.0.5", "alice-pw") == 0, "curl pop3:// login"),
                {LOGIN_POP3_OK: 1, REC_POP3: 1},
                settle=lambda x: x.samples.get(ENTRIES) == 1)
    check(s.samples.get(ENTRIES) == 1, "osd_relay_entries is 1 after the login")
    check(s.samples.get(REBUILDS, 0) > rebuilds0, "the login's table rebuild is counted")
    s = st.step("osd record 127.0.0.20",
                lambda: check(o.record("127.0.0.20").returncode == 0, "osd record"),
                {REC_RECORD: 1}, settle=lambda x: x.samples.get(ENTRIES) == 2)
    check(s.samples.get(ENTRIES) == 2, "osd_relay_entries is 2 after osd record")
    st.step("a failed IMAP login (curl, 127.0.0.12)",
            lambda: check(imap_login(iport, "127.0.0.12", "wrong") != 0,
                          "curl imap://: wrong password refused"),
            {LOGIN_IMAP_FAILED: 1})
    s = st.step("an IMAP login (curl, 127.0.0.11)",
                lambda: check(imap_login(iport, "127.0.0.11", "alice-pw") == 0, "curl imap:// login"),
                {LOGIN_IMAP_OK: 1, REC_IMAP: 1}, settle=lambda x: x.samples.get(ENTRIES) == 3)
    check(s.samples.get(ENTRIES) == 3, "osd_relay_entries is 3 after the IMAP login")
    # qmail-popup's checkpassword: its logins are counted under their own service label.
    def checkpw_step(src, password, want_rc, what):
        rc, err = checkpassword(o, src, password)
        check(rc == want_rc, "osd checkpassword: %s: exit %d (want %d) %s" % (what, rc, want_rc, err))
    st.step("a failed osd checkpassword login (TCPREMOTEIP 127.0.0.14)",
            lambda: checkpw_step("127.0.0.14", "wrong", 1, "wrong password"),
            {LOGIN_CHECKPW_FAILED: 1})
    s = st.step("an osd checkpassword login (TCPREMOTEIP 127.0.0.13)",
                lambda: checkpw_step("127.0.0.13", "alice-pw", 0, "the next program runs"),
                {LOGIN_CHECKPW_OK: 1, REC_CHECKPW: 1}, settle=lambda x: x.samples.get(ENTRIES) == 4)
    check(s.samples.get(ENTRIES) == 4, "osd_relay_entries is 4 after the checkpassword login")
    # The cron job's rebuild counts as the watcher's do (a site may run cron alone).
    rebuilds0 = s.samples.get(REBUILDS, 0)
    hist0 = s.get("osd_relay_table_rebuild_duration_seconds_count")
    p = o.run("expire")
    check(p.returncode == 0, "osd expire (%s)" % p.stderr.strip())
    s = st.step("osd expire", lambda: None, {},
                settle=lambda x: x.samples.get(REBUILDS, 0) > rebuilds0)
    check(s.samples.get(REBUILDS, 0) - rebuilds0 == 1 and
          s.get("osd_relay_table_rebuild_duration_seconds_count") - hist0 == 1,
          "osd expire's rebuild is counted once, in the counter and the histogram (%r, %r)"
          % (s.samples.get(REBUILDS, 0) - rebuilds0,
             s.get("osd_relay_table_rebuild_duration_seconds_count") - hist0))
    check(s.samples.get(ENTRIES) == 4, "osd expire sets osd_relay_entries to the 4 live entries")

    def relay_ok(src, to, *args):
        rc, out = swaks(port, src, to, *args)
        check(rc == 0 and "queued as" in out, "swaks from %s to %s: 250 (rc %d)%s"
              % (src, to, rc, "" if rc == 0 else "\n" + out[-400:]))

    idle = lambda x: all(x.samples.get(v) == 0 for v in QUEUE.values())  # noqa: E731
    st.step("a relay after the login (swaks from 127.0.0.5), delivered to smtp-sink",
            lambda: relay_ok("127.0.0.5", "bob@route.test"),
            {SESSIONS: 1, ACCEPTED: 1, RELAY["pop-before-smtp"]: 1, DELIVERED: 1}, settle=idle)
    check(wait_for(lambda: good.count("bob@route.test") == 1), "smtp-sink got the message")

    def refused():
        rc, out = swaks(port, "127.0.0.6", "bob@route.test")
        check(rc != 0 and "553" in out, "swaks from 127.0.0.6 (no login): 553 (rc %d)" % rc)
    st.step("a refused relay (swaks from 127.0.0.6)", refused,
            {SESSIONS: 1, RELAY["refused"]: 1, REJ_RCPTHOSTS: 1})
    st.step("a relay by the static rule of 127.0.0.7",
            lambda: relay_ok("127.0.0.7", "carol@route.test"),
            {SESSIONS: 1, ACCEPTED: 1, RELAY["rule"]: 1, DELIVERED: 1}, settle=idle)
    st.step("a relay by SMTP AUTH (127.0.0.8)",
            lambda: relay_ok("127.0.0.8", "dave@route.test", "--auth", "PLAIN",
                             "--auth-user", "alice@" + DOM, "--auth-password", "alice-pw"),
            {SESSIONS: 1, ACCEPTED: 1, RELAY["auth"]: 1, DELIVERED: 1}, settle=idle)
    # The remote refuses the recipient: a failure, a bounce to alice, delivered locally.
    st.step("a recipient the remote refuses: bounced, the bounce delivered locally",
            lambda: relay_ok("127.0.0.5", "nobody@bounce.test"),
            {SESSIONS: 1, ACCEPTED: 1, RELAY["pop-before-smtp"]: 1, BOUNCED: 1, BOUNCES: 1,
             DELIVERED: 1}, settle=idle)
    md = os.path.join(o.state, "domains", DOM, "alice", "Maildir", "new")
    check(len(os.listdir(md)) == 1 if os.path.isdir(md) else False,
          "the bounce is in alice's Maildir")

    # --- strict, small HTTP ---
    def first_line(data):
        return raw_http(mport, data).split(b"\r\n", 1)[0]
    check(first_line(b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n") == b"HTTP/1.1 404 Not Found",
          "GET /other: 404")
    check(first_line(b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n") ==
          b"HTTP/1.1 405 Method Not Allowed", "POST /metrics: 405")
    head = raw_http(mport, b"HEAD /metrics HTTP/1.0\r\n\r\n")
    check(head.startswith(b"HTTP/1.0 200 OK\r\n") and head.endswith(b"\r\n\r\n") and
          b"# TYPE" not in head, "HEAD /metrics: 200, headers only")
    check(first_line(b"\x00\xff garbage\r\n\r\n") == b"HTTP/1.0 400 Bad Request",
          "garbage: 400")
    check(first_line(b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 9000 + b"\r\n\r\n")
          .endswith(b"431 Request Header Fields Too Large"), "a huge header: 431")
    check(first_line(b"GET /metrics HTTP/1.1\r\n\r\n") == b"HTTP/1.1 400 Bad Request",
          "HTTP/1.1 without Host: 400")
    s = Scrape(mport)
    check(m.poll() is None and s.status == 200 and s.error is None,
          "osd metrics still serves after the bad requests")
    for name in ("metrics", "smtpd", "pop3d", "imapd", "queue", "watch"):
        check_no_crash(name, o.log(name))


if __name__ == "__main__":
    main()
