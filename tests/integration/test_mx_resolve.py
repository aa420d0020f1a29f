#!/usr/bin/env python3
"""smtp-gate/remote/mx.c against a real DNS server: dnsmasq on a loopback port.

mxlookup (tests/integration/mxlookup.c) runs mx_resolve and prints one line
per host.  Checked: MX preferences come out in order and equal ones in both
orders over many runs; a domain with only A records is its own host
(implicit MX); NXDOMAIN and "no MX, no address" are permanent; a null MX
("0 .", RFC 7505) in both of dnsmasq's spellings; a null MX beside real MX
records; hosts that do not resolve are kept without addresses, and when
none resolves the failure is permanent or temporary as the lookups were;
more than MX_HOSTS_MAX MX records (over TCP: the answer does not fit UDP)
and more than MX_ADDRS_MAX addresses are cut; a route host is resolved
alone; a REFUSED answer, a closed resolver port and a resolver that never
answers are temporary failures within the timeout.
"""
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import BUILD, check, finish, free_udp_tcp_port, wait_port  # noqa: E402

MXLOOKUP = os.path.join(BUILD, "tests", "integration", "mxlookup")
MX_HOSTS_MAX = 16
MX_ADDRS_MAX = 8


def lookup(resolver, domain, timeout_ms=3000, route=None):
    """Run mxlookup: (status, error, [(name, pref, port, [addrs])], seconds)."""
    args = [MXLOOKUP, resolver, domain, str(timeout_ms)]
    if route is not None:
        args += [route[0], str(route[1])]
    t0 = time.monotonic()
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    status, error, hosts = None, "", []
    for line in p.stdout.splitlines():
        f = dict(kv.split("=", 1) for kv in line.split(" ") if "=" in kv)
        if line.startswith("status="):
            status = f["status"]
        elif line.startswith("error="):
            error = line[len("error="):]
        elif line.startswith("host="):
            addrs = f["addrs"].split(",") if f["addrs"] else []
            hosts.append((f["host"], int(f["pref"]), int(f["port"]), addrs))
    if p.returncode != 0:
        error = p.stderr.strip()
    elif p.stderr:
        # A sanitizer report or a warning: nothing else writes there.
        check(False, "mxlookup %s: quiet on stderr (%s)" % (domain, p.stderr.strip()[:300]))
    return status, error, hosts, took


def dnsmasq_args(port):
    a = ["--no-daemon", "--port=%d" % port, "--listen-address=127.0.0.1", "--bind-interfaces",
         "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--log-facility=-",
         # Everything under .test is answered here: unknown names are NXDOMAIN,
         # not forwarded.  Names elsewhere get REFUSED (no upstream server).
         "--local=/test/",
         # Three preferences, two hosts sharing 20.
         "--mx-host=multi.test,mx10.multi.test,10",
         "--mx-host=multi.test,mx20a.multi.test,20",
         "--mx-host=multi.test,mx20b.multi.test,20",
         "--mx-host=multi.test,mx30.multi.test,30",
         "--host-record=mx10.multi.test,192.0.2.10,2001:db8::10",
         "--host-record=mx20a.multi.test,192.0.2.21",
         "--host-record=mx20b.multi.test,192.0.2.22",
         "--host-record=mx30.multi.test,2001:db8::30",
         # Only an A record: the implicit MX.  Only AAAA, and only TXT.
         "--host-record=aonly.test,192.0.2.9",
         "--host-record=v6only.test,2001:db8::9",
         "--txt-record=txtonly.test,nothing here",
         # RFC 7505 null MX: dnsmasq's own "." target, and raw rdata
         # (preference 0, then the root name: one zero byte).
         "--mx-host=dotnull.test,.,0",
         "--dns-rr=rawnull.test,15,0000" + "00",
         # A null MX beside a real one (RFC 7505 3 forbids it): the real one counts.
         "--mx-host=mixed.test,.,0",
         "--mx-host=mixed.test,mx20a.multi.test,10",
         # The best MX host does not exist; the next one does.
         "--mx-host=partial.test,ghost.test,5",
         "--mx-host=partial.test,mx20b.multi.test,10",
         # No MX host exists at all: permanent.
         "--mx-host=ghosts.test,ghost1.test,5",
         "--mx-host=ghosts.test,ghost2.test,10",
         # The MX host is outside .test: dnsmasq REFUSES its A query: temporary.
         "--mx-host=refusedhost.test,mx.elsewhere.example,10",
         # An MX host through a CNAME.
         "--mx-host=viacname.test,alias.test,10",
         "--cname=alias.test,mx10.multi.test",
         ]
    # Twenty MX records, preferences 1..20: only the best sixteen are kept.
    for i in range(1, 21):
        a.append("--mx-host=many.test,host%02d.many-mx-hosts-with-long-names.test,%d" % (i, i))
        a.append("--host-record=host%02d.many-mx-hosts-with-long-names.test,192.0.2.%d" % (i, 100 + i))
    # Ten A and two AAAA records for one host: eight addresses kept, both families.
    for i in range(1, 11):
        a.append("--host-record=fat.test,198.51.100.%d" % i)
    a.append("--host-record=fat.test,2001:db8::f1")
    a.append("--host-record=fat.test,2001:db8::f2")
    return a


def main():
    dnsmasq = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.path.exists("/usr/sbin/dnsmasq") else None)
    if dnsmasq is None:
        check(False, "dnsmasq is installed (scripts/install-deps.sh)")
        finish()
    if not check(os.access(MXLOOKUP, os.X_OK), "mxlookup built at " + MXLOOKUP):
        finish()
    port = free_udp_tcp_port()
    res = "127.0.0.1:%d" % port
    proc = subprocess.Popen([dnsmasq] + dnsmasq_args(port), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        if not check(wait_port(port, proc), "dnsmasq listens on port %d" % port):
            proc.kill()
            print(proc.communicate()[1].decode(errors="replace"))
            finish()
        run_checks(res)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    finish()


def run_checks(res):
    # Preferences in order; the equal pair in between, both present.
    st, err, hosts, _ = lookup(res, "multi.test")
    check(st == "ok", "multi.test: ok (%s)" % err)
    names = [h[0] for h in hosts]
    check([h[1] for h in hosts] == [10, 20, 20, 30], "multi.test: preferences 10 20 20 30 (%s)" % hosts)
    check(len(names) == 4 and names[0] == "mx10.multi.test" and names[3] == "mx30.multi.test"
          and sorted(names[1:3]) == ["mx20a.multi.test", "mx20b.multi.test"],
          "multi.test: mx10, the two 20s, mx30 (%s)" % names)
    check(len(hosts) > 0 and hosts[0][3] == ["192.0.2.10", "2001:db8::10"],
          "multi.test: mx10 has its A and AAAA (%s)" % (hosts[:1],))
    check(len(hosts) == 4 and hosts[3][3] == ["2001:db8::30"], "multi.test: mx30 has only its AAAA")
    check(all(h[2] == 25 for h in hosts), "multi.test: port 25 everywhere")

    # Equal preferences are shuffled: over 40 lookups both orders show up.
    firsts = set()
    for _ in range(40):
        st, _, hosts, _ = lookup(res, "multi.test")
        if st == "ok" and len(hosts) == 4:
            firsts.add(hosts[1][0])
    check(firsts == {"mx20a.multi.test", "mx20b.multi.test"},
          "multi.test: both of the preference-20 hosts come first sometimes (%s)" % sorted(firsts))

    # Implicit MX (RFC 5321 5.1): the domain itself, preference 0.
    st, err, hosts, _ = lookup(res, "aonly.test")
    check(st == "ok" and hosts == [("aonly.test", 0, 25, ["192.0.2.9"])],
          "aonly.test: implicit MX with its A record (%s %s %s)" % (st, err, hosts))
    st, err, hosts, _ = lookup(res, "v6only.test")
    check(st == "ok" and hosts == [("v6only.test", 0, 25, ["2001:db8::9"])],
          "v6only.test: implicit MX with its AAAA record (%s %s)" % (st, hosts))
    st, err, hosts, _ = lookup(res, "txtonly.test")
    check(st == "nodomain" and "no MX and no A" in err,
          "txtonly.test: no MX and no address is permanent (%s: %s)" % (st, err))

    # NXDOMAIN.
    st, err, hosts, _ = lookup(res, "nosuchdomain.test")
    check(st == "nodomain" and "NXDOMAIN" in err and not hosts,
          "nosuchdomain.test: NXDOMAIN is permanent (%s: %s)" % (st, err))

    # Null MX, both spellings.
    for d in ("dotnull.test", "rawnull.test"):
        st, err, hosts, _ = lookup(res, d)
        check(st == "null" and "null MX" in err and not hosts,
              "%s: null MX (%s: %s)" % (d, st, err))
    st, err, hosts, _ = lookup(res, "mixed.test")
    check(st == "ok" and [h[0] for h in hosts] == ["mx20a.multi.test"],
          "mixed.test: a null MX beside a real one: the real one (%s %s)" % (st, hosts))

    # Hosts that do not resolve are kept, without addresses.
    st, err, hosts, _ = lookup(res, "partial.test")
    check(st == "ok" and hosts == [("ghost.test", 5, 25, []),
                                   ("mx20b.multi.test", 10, 25, ["192.0.2.22"])],
          "partial.test: the missing host is kept without addresses (%s %s)" % (st, hosts))
    st, err, hosts, _ = lookup(res, "ghosts.test")
    check(st == "nodomain" and "no MX host" in err,
          "ghosts.test: no MX host exists: permanent (%s: %s)" % (st, err))
    st, err, hosts, took = lookup(res, "refusedhost.test", 4000)
    check(st == "tempfail" and "mx.elsewhere.example" in err,
          "refusedhost.test: the MX host's lookup REFUSED: temporary (%s: %s)" % (st, err))
    check(took < 6, "refusedhost.test: within the timeout (%.1fs)" % took)

    st, err, hosts, _ = lookup(res, "viacname.test")
    check(st == "ok" and hosts == [("alias.test", 10, 25, ["192.0.2.10", "2001:db8::10"])],
          "viacname.test: an MX host through a CNAME resolves (%s %s)" % (st, hosts))

    # Bounds: sixteen hosts (the best preferences), eight addresses.
    st, err, hosts, _ = lookup(res, "many.test")
    check(st == "ok" and [h[1] for h in hosts] == list(range(1, MX_HOSTS_MAX + 1)),
          "many.test: the %d best of 20 MX records, in order (%s)" % (MX_HOSTS_MAX, [h[1] for h in hosts]))
    check(all(h[3] == ["192.0.2.%d" % (100 + h[1])] for h in hosts), "many.test: each with its address")
    st, err, hosts, _ = lookup(res, "fat.test")
    addrs = hosts[0][3] if hosts else []
    check(st == "ok" and len(addrs) == MX_ADDRS_MAX and "2001:db8::f1" in addrs and "2001:db8::f2" in addrs
          and len(set(addrs)) == len(addrs),
          "fat.test: %d addresses kept, both AAAA among them (%s)" % (MX_ADDRS_MAX, addrs))

    # A route host: resolved alone, with the route's port; a literal needs no DNS.
    st, err, hosts, _ = lookup(res, "multi.test", route=("mx20a.multi.test", 2525))
    check(st == "ok" and hosts == [("mx20a.multi.test", 0, 2525, ["192.0.2.21"])],
          "route host: only it, on its port (%s %s)" % (st, hosts))
    st, err, hosts, _ = lookup(res, "multi.test", route=("ghost.test", 25))
    check(st == "nodomain" and "route" in err, "route host that does not exist: permanent (%s: %s)" % (st, err))
    st, err, hosts, _ = lookup("127.0.0.1:1", "multi.test", route=("[192.0.2.77]", 26))
    check(st == "ok" and hosts == [("[192.0.2.77]", 0, 26, ["192.0.2.77"])],
          "route literal: no DNS at all (%s %s %s)" % (st, err, hosts))

    # A domain outside .test: dnsmasq has no upstream and refuses: temporary.
    st, err, hosts, took = lookup(res, "elsewhere.example", 4000)
    check(st == "tempfail" and err, "REFUSED for the MX query: temporary (%s: %s)" % (st, err))
    check(took < 6, "REFUSED: within the timeout (%.1fs)" % took)

    # Nobody on the resolver port: temporary, within the timeout.
    dead = free_udp_tcp_port()
    st, err, hosts, took = lookup("127.0.0.1:%d" % dead, "multi.test", 2000)
    check(st == "tempfail" and "MX lookup" in err, "closed resolver port: temporary (%s: %s)" % (st, err))
    check(took < 4, "closed resolver port: within the 2 s timeout (%.1fs)" % took)

    # A resolver that takes the query and never answers: our own deadline.
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.1", 0))
    try:
        st, err, hosts, took = lookup("127.0.0.1:%d" % hole.getsockname()[1], "multi.test", 1500)
        check(st == "tempfail" and ("timed out" in err or "timeout" in err),
              "silent resolver: timed out (%s: %s)" % (st, err))
        check(1.0 < took < 3.5, "silent resolver: gives up after about 1.5 s (%.1fs)" % took)
        # A budget shorter than c-ares's own retries: mx_resolve's deadline cuts them.
        st, err, hosts, took = lookup("127.0.0.1:%d" % hole.getsockname()[1], "multi.test", 200)
        check(st == "tempfail" and "timed out after 200 ms" in err,
              "silent resolver, 200 ms: our deadline (%s: %s)" % (st, err))
        check(took < 1.5, "silent resolver, 200 ms: returns at once (%.2fs)" % took)
    finally:
        hole.close()

    # A bad resolver setting: mxlookup cannot start.
    st, err, hosts, _ = lookup("dns.example.net:53", "multi.test")
    check(st is None and "resolver" in err, "resolver given as a name is refused (%s)" % err)


if __name__ == "__main__":
    main()
