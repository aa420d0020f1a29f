#!/usr/bin/env python3
"""relay.cdb is a table that Debian's ucspi-tcp-ipv6 reads as its own.

1. Static rules (exact, prefix, range, IPv6 exact and prefix, odd quotes, a
   default) plus dynamic logins: osd's relay.cdb must answer every lookup
   exactly as a table compiled by Debian's tcprules from the equivalent text
   (the rules file, then one ADDR:allow,RELAYCLIENT="" line per login that
   osd keeps), as tcprulescheck shows it, and `osd check` must agree.
2. A real tcpserver -x relay.cdb sets RELAYCLIENT for recorded clients only,
   on 127.0.0.1 and on ::1, and sees a new login without a restart.
"""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import Osd, check, finish, have, wait_for  # noqa: E402

RULES = """\
# tcp.smtp for the compatibility test
127.0.0.1:allow,RELAYCLIENT=""
127.0.0.9:allow,FOO=/a:b/
127.0.1.:deny
10.1.2.:deny
10.9.9.1-5:allow,RELAYCLIENT="",QUIRK='say "hi"'
192.0.2.66:deny
2001:db8::7:allow,RELAYCLIENT=""
2001:db8::dead:deny
2001:db8:bad::deny
2001:db8::allow,SUBNET="v6"
:allow
"""

# (address as given to osd, tcpserver's key for it, kept in relay.cdb?)
DYNAMIC = [
    ("127.0.0.5", "127.0.0.5", True),
    ("127.0.0.7", "127.0.0.7", True),
    ("127.0.0.9", "127.0.0.9", True),        # static exact allow comes first
    ("10.9.9.3", "10.9.9.3", True),          # static range member comes first
    ("2001:db8:5::1", "2001:db8:5::1", True),  # inside the *allow* prefix 2001:db8:
    ("::1", "::1", True),
    # tcpserver compresses a single zero group, inet_ntop does not
    ("2001:db8:0:1:1:1:1:1", "2001:db8::1:1:1:1:1", True),
    # covered by a static deny: left out on purpose, stays a deny
    ("10.1.2.3", "10.1.2.3", False),
    ("127.0.1.9", "127.0.1.9", False),
    ("192.0.2.66", "192.0.2.66", False),
    ("2001:db8::dead", "2001:db8::dead", False),
    ("2001:db8:bad::5", "2001:db8:bad::5", False),
]

# Addresses to look up: (address for osd check, key for tcprulescheck)
LOOKUPS = [(a, k) for a, k, _ in DYNAMIC] + [
    ("127.0.0.1", "127.0.0.1"),     # static exact relay
    ("127.0.0.6", "127.0.0.6"),     # nothing: default
    ("127.0.0.8", "127.0.0.8"),
    ("127.0.1.10", "127.0.1.10"),   # prefix deny member
    ("10.1.2.0", "10.1.2.0"),
    ("10.1.2.200", "10.1.2.200"),
    ("10.1.20.1", "10.1.20.1"),     # not in 10.1.2. (prefixes cut at '.')
    ("10.1.3.1", "10.1.3.1"),
    ("10.9.9.1", "10.9.9.1"),       # range members
    ("10.9.9.5", "10.9.9.5"),
    ("10.9.9.0", "10.9.9.0"),       # range non-members
    ("10.9.9.6", "10.9.9.6"),
    ("10.9.9.15", "10.9.9.15"),     # not 10.9.9.1 followed by more digits
    ("8.8.8.8", "8.8.8.8"),
    ("2001:db8::7", "2001:db8::7"),
    ("2001:db8:5::2", "2001:db8:5::2"),   # allow prefix member, no login
    ("2001:db8:bad::6", "2001:db8:bad::6"),
    ("2001:db9::1", "2001:db9::1"),
    ("::2", "::2"),
    ("fe80::1", "fe80::1"),
]


def tcprules(text, path):
    p = subprocess.run(["tcprules", path, path + ".tmp"], input=text.encode(),
                       capture_output=True)
    check(p.returncode == 0, "tcprules compiles %s (%s)" % (os.path.basename(path),
                                                           p.stderr.decode().strip()))


def cdb_keys(path):
    out = subprocess.run(["cdb", "-d", path], capture_output=True).stdout
    keys = []
    for rec in out.split(b"\n"):
        if rec.startswith(b"+"):
            head, _, rest = rec.partition(b":")
            keys.append(rest[:int(head[1:].split(b",")[0])].decode())
    return keys


def rulescheck(cdb, key):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TCPREMOTEIP": key}
    p = subprocess.run(["tcprulescheck", cdb], env=env, capture_output=True, text=True)
    return p.stdout + p.stderr


def parse_rulescheck(text):
    """-> (rule key, '' for the default record, None for no rule; env; decision)"""
    rule, env, connect = None, {}, None
    for line in text.splitlines():
        if line.startswith("rule ") and line.endswith(":"):
            rule = line[5:-1]
        elif line.startswith("set environment variable "):
            name, _, value = line[len("set environment variable "):].partition("=")
            env[name] = value
        elif line == "deny connection":
            connect = False
        elif line == "allow connection":
            connect = True
    if connect is False:
        decision = "deny"
    elif "RELAYCLIENT" in env:
        decision = "relay"
    else:
        decision = "no-relay"
    return rule, env, decision


def osd_check(o, addr):
    """osd check with every env: line kept (check_ip keeps only the first)."""
    p = o.run("check", addr)
    fields, env = {}, {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition(": ")
        if k == "env":
            name, _, value = v.partition("=")
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            env[name] = value
        else:
            fields.setdefault(k, v)
    return p.returncode, fields, env


def free_port(host, family):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ask(host, port, source=None):
    """Connect (from source), return what the tcpserver child said, or None."""
    try:
        with socket.create_connection((host, port), timeout=10,
                                      source_address=(source, 0) if source else None) as s:
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return data.decode(errors="replace")
                data += chunk
    except OSError:
        return None


def relay_seen(reply):
    return reply is not None and "RELAY" in reply.split()


def start_tcpserver(o, host, port):
    log = open(os.path.join(o.root, "tcpserver-%d.log" % port), "ab")
    p = subprocess.Popen(
        ["tcpserver", "-x", o.cdb, "-R", "-H", "-l", "0", host, str(port),
         "sh", "-c", 'echo "$TCPREMOTEIP ${RELAYCLIENT+RELAY} ${FOO-}"'],
        stdout=log, stderr=subprocess.STDOUT)
    o.procs.append(p)
    return p


def main():
    for tool in ("tcprules", "tcprulescheck", "tcpserver", "cdb"):
        if not have(tool):
            print("SKIP: %s not installed" % tool)
            sys.exit(77)
    o = Osd(rules=RULES)
    servers = []
    try:
        for addr, _, _ in DYNAMIC:
            p = o.record(addr)
            check(p.returncode == 0, "osd record %s" % addr)
        o.start_watch()
        check(os.path.exists(o.cdb), "osd watch wrote relay.cdb")

        # --- the table itself ---------------------------------------------
        static_cdb = os.path.join(o.root, "static.cdb")
        tcprules(RULES, static_cdb)
        static_keys = cdb_keys(static_cdb)
        keys = o.cdb_keys()
        check(keys[:len(static_keys)] == static_keys,
              "relay.cdb starts with the static records, in tcprules' order")
        dyn_keys = keys[len(static_keys):]
        kept = [k for _, k, keep in DYNAMIC if keep]
        check(sorted(dyn_keys) == sorted(kept),
              "dynamic records are exactly the kept logins, in tcpserver key form "
              "(got %s)" % dyn_keys)
        for addr, key, keep in DYNAMIC:
            if not keep:
                check(key not in dyn_keys,
                      "%s (covered by a static deny) has no dynamic record" % addr)

        # Same records in the same order through Debian's tcprules: the very
        # same bytes (the format tcprules writes, not just something similar).
        same_order = os.path.join(o.root, "same-order.cdb")
        tcprules(RULES + "".join('%s:allow,RELAYCLIENT=""\n' % k for k in dyn_keys),
                 same_order)
        with open(o.cdb, "rb") as a, open(same_order, "rb") as b:
            check(a.read() == b.read(),
                  "relay.cdb is byte-identical to tcprules' output for the same records")

        # The equivalent text written independently (our own order).
        expected_text = RULES + "".join('%s:allow,RELAYCLIENT=""\n' % k for k in kept)
        expected_cdb = os.path.join(o.root, "expected.cdb")
        tcprules(expected_text, expected_cdb)

        for addr, key in LOOKUPS:
            ours = rulescheck(o.cdb, key)
            theirs = rulescheck(expected_cdb, key)
            check(ours == theirs and ours.strip() != "",
                  "tcprulescheck %s: relay.cdb answers like tcprules' table (%s)"
                  % (key, " / ".join(ours.splitlines()) if ours == theirs else
                     "%r vs %r" % (ours, theirs)))
            rule, env, decision = parse_rulescheck(theirs)
            rc, fields, oenv = osd_check(o, addr)
            check(fields.get("decision") == decision,
                  "osd check %s: decision %s (tcprulescheck says %s)"
                  % (addr, fields.get("decision"), decision))
            check(rc == (0 if decision == "relay" else 1),
                  "osd check %s: exit %d for %s" % (addr, rc, decision))
            want_rule = "none" if rule is None else ("default" if rule == "" else rule)
            check(fields.get("rule") == want_rule,
                  "osd check %s: rule %s (tcprulescheck: %s)"
                  % (addr, fields.get("rule"), want_rule))
            check(oenv == env, "osd check %s: environment %s (tcprulescheck: %s)"
                  % (addr, oenv, env))
            check(fields.get("connection") == ("deny" if decision == "deny" else "allow"),
                  "osd check %s: connection %s" % (addr, fields.get("connection")))

        # A few sources spelled out.
        _, f, _ = osd_check(o, "127.0.0.5")
        check(f.get("source") == "dynamic", "127.0.0.5 is a dynamic entry")
        _, f, _ = osd_check(o, "127.0.0.9")
        check(f.get("source") == "static",
              "127.0.0.9: the static rule wins over its login (source %s)" % f.get("source"))
        _, f, _ = osd_check(o, "10.1.2.3")
        check(f.get("source") == "static" and f.get("rule") == "10.1.2.",
              "10.1.2.3: a static deny for a prefix stays a deny")
        _, f, _ = osd_check(o, "2001:db8:bad::5")
        check(f.get("decision") == "deny" and f.get("rule") == "2001:db8:bad:",
              "2001:db8:bad::5: an IPv6 prefix deny stays a deny")
        _, f, _ = osd_check(o, "2001:db8:0:1:1:1:1:1")
        check(f.get("rule") == "2001:db8::1:1:1:1:1" and f.get("source") == "dynamic",
              "osd check shows the tcpserver key form of 2001:db8:0:1:1:1:1:1")

        # --- a real tcpserver reading relay.cdb ------------------------------
        port = free_port("127.0.0.1", socket.AF_INET)
        servers.append(start_tcpserver(o, "127.0.0.1", port))
        up = wait_for(lambda: ask("127.0.0.1", port, "127.0.0.8") is not None)
        check(up, "tcpserver -x relay.cdb listens on 127.0.0.1:%d" % port)

        r = ask("127.0.0.1", port, "127.0.0.5")
        check(relay_seen(r) and r.split()[0] == "127.0.0.5",
              "tcpserver: recorded 127.0.0.5 gets RELAYCLIENT (%r)" % r)
        r = ask("127.0.0.1", port, "127.0.0.6")
        check(r is not None and r.split()[:1] == ["127.0.0.6"] and not relay_seen(r),
              "tcpserver: unrecorded 127.0.0.6 gets no RELAYCLIENT (%r)" % r)
        r = ask("127.0.0.1", port, "127.0.0.9")
        check(r is not None and not relay_seen(r) and "a:b" in r.split(),
              "tcpserver: 127.0.0.9 gets its static rule (FOO=a:b), not its login (%r)" % r)
        r = ask("127.0.0.1", port, "127.0.1.9")
        check(r == "", "tcpserver: recorded 127.0.1.9 under '127.0.1.:deny' is refused (%r)" % r)

        p = o.record("127.0.0.6")
        check(p.returncode == 0, "osd record 127.0.0.6 with the watcher running")
        check(wait_for(lambda: relay_seen(ask("127.0.0.1", port, "127.0.0.6"))),
              "tcpserver: 127.0.0.6 gets RELAYCLIENT after its login, no restart")
        r = ask("127.0.0.1", port, "127.0.0.8")
        check(r is not None and not relay_seen(r),
              "tcpserver: 127.0.0.8 still gets no RELAYCLIENT (%r)" % r)

        # --- and on ::1 -------------------------------------------------------
        port6 = free_port("::1", socket.AF_INET6)
        servers.append(start_tcpserver(o, "::1", port6))
        up = wait_for(lambda: ask("::1", port6) is not None)
        check(up, "tcpserver -x relay.cdb listens on [::1]:%d" % port6)
        r = ask("::1", port6)
        check(relay_seen(r) and r.split()[0] == "::1",
              "tcpserver on ::1: recorded ::1 gets RELAYCLIENT (%r)" % r)
        os.unlink(os.path.join(o.opensmtp, "::1"))
        check(wait_for(lambda: "::1" not in o.cdb_keys()),
              "removing open-smtp/::1 takes ::1 out of relay.cdb")
        r = ask("::1", port6)
        check(r is not None and not relay_seen(r),
              "tcpserver on ::1: no RELAYCLIENT without an entry (%r)" % r)
        p = o.record("::1")
        check(p.returncode == 0, "osd record ::1")
        check(wait_for(lambda: relay_seen(ask("::1", port6))),
              "tcpserver on ::1: RELAYCLIENT again after osd record ::1")
    finally:
        for s in servers:
            o.stop(s)
        o.cleanup()
    deny_by_default()
    finish()


def deny_by_default():
    """A ':deny' default is not a deny that covers logins: they still relay.

    The table is built once by 'osd expire' (no watcher)."""
    rules = '127.0.0.1:allow,RELAYCLIENT=""\n10.1.2.:deny\n:deny\n'
    o = Osd(rules=rules)
    try:
        for addr in ("127.0.0.5", "2001:db8::5", "10.1.2.3"):
            check(o.record(addr).returncode == 0, "deny default: osd record %s" % addr)
        p = o.run("expire")
        check(p.returncode == 0, "osd expire builds relay.cdb once (%r)" % p.stderr)
        expected = os.path.join(o.root, "expected.cdb")
        tcprules(rules + '127.0.0.5:allow,RELAYCLIENT=""\n2001:db8::5:allow,RELAYCLIENT=""\n',
                 expected)
        for addr in ("127.0.0.5", "2001:db8::5", "10.1.2.3", "127.0.0.1", "127.0.0.6",
                     "2001:db8::6"):
            ours = rulescheck(o.cdb, addr)
            theirs = rulescheck(expected, addr)
            check(ours == theirs, "deny default: tcprulescheck %s agrees (%s)"
                  % (addr, " / ".join(ours.splitlines()) if ours == theirs else
                     "%r vs %r" % (ours, theirs)))
            _, _, decision = parse_rulescheck(theirs)
            rc, f, _ = osd_check(o, addr)
            check(f.get("decision") == decision and rc == (0 if decision == "relay" else 1),
                  "deny default: osd check %s says %s (exit %d), tcprulescheck %s"
                  % (addr, f.get("decision"), rc, decision))
        check(parse_rulescheck(rulescheck(o.cdb, "127.0.0.5"))[2] == "relay",
              "deny default: a login still relays")
    finally:
        o.cleanup()


if __name__ == "__main__":
    main()
