"""Fleet operations with real redis-servers on loopback, hosts as state folders + watchers on one
machine: osd revoke (an address, a user) reaches every host, beats the stale resync of a host that
was down during it, works where no watcher runs, and says so when Redis is away; SIGHUP makes
osd watch take new fleet keys (another Redis) and keep the running ones when the new are bad."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from osdtest import Osd, check, finish, free_port, wait_for

EXPIRE = 3 * 3600
PASSWORD = "fleet-ops-secret"


def have(tool):
    return shutil.which(tool) is not None


class Redis:
    """A private redis-server without persistence; ACL users 'osdfleet' (what docs/fleet.md
    grants, revocation included) and 'admin' (the test's own); the default user is off."""

    def __init__(self, root, name):
        self.root = os.path.join(root, name)
        os.makedirs(self.root)
        self.port = free_port()
        self.conf = os.path.join(self.root, "redis.conf")
        with open(self.conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\n"
                    "user default off\n"
                    "user osdfleet on >%s ~osd:relay:* &osd:logins "
                    "+ping +get +set +del +mget +scan +eval +evalsha +publish +subscribe\n"
                    "user admin on >adminpw ~* &* +@all\n" % (self.port, self.root, PASSWORD))
        self.proc = None

    def start(self):
        log = open(os.path.join(self.root, "redis.log"), "ab")
        self.proc = subprocess.Popen(["redis-server", self.conf], stdout=log, stderr=subprocess.STDOUT)
        check(wait_for(lambda: self.cli("PING") == "PONG"), "redis-server answers on 127.0.0.1:%d" % self.port)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def cli(self, *args):
        p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--user", "admin",
                            "--pass", "adminpw", "--no-auth-warning"] + list(args),
                           capture_output=True, text=True, timeout=10)
        return p.stdout.strip()


def fleet_conf(redis, pwfile, extra=""):
    return ("fleet = redis\nredis_server = 127.0.0.1:%d\nredis_user = osdfleet\n"
            "redis_password_file = %s\n%s" % (redis.port, pwfile, extra))


def host(name, redis, pwfile):
    o = Osd(relay_expire="%ds" % EXPIRE, extra=fleet_conf(redis, pwfile))
    o.name = name
    return o


def has_entry(o, ip):
    return os.path.exists(os.path.join(o.opensmtp, ip))


def relays(o, ip):
    return o.check_ip(ip)[0] == 0


def connected(o, n=1):
    return o.log("watch").count("fleet: connected to redis") >= n


for tool in ("redis-server", "redis-cli"):
    check(have(tool), "%s is installed (scripts/install-deps.sh)" % tool)
if not have("redis-server") or not have("redis-cli"):
    finish()

root = tempfile.mkdtemp(prefix="osd-fleetops-")
pwfile = os.path.join(root, "redis.pw")
with open(pwfile, "w") as f:
    f.write(PASSWORD + "\n")
r1, r2 = Redis(root, "r1"), Redis(root, "r2")
hosts = []
try:
    r1.start()
    a, b, c, d = (host(n, r1, pwfile) for n in "ABCD")
    hosts += [a, b, c, d]
    wa, wb, wc = a.start_watch(), b.start_watch(), c.start_watch()
    # d: the same config, no watcher running there.
    check(wait_for(lambda: connected(a) and connected(b) and connected(c)), "three watchers connect to redis")

    # --- osd revoke IP on one host removes the relay right on every host.
    p = a.run("record", "--user", "joe@example.org", "192.0.2.7")
    check(p.returncode == 0, "osd record on A")
    check(wait_for(lambda: relays(b, "192.0.2.7") and relays(c, "192.0.2.7")), "A's login relays on B and C")
    p = b.run("revoke", "192.0.2.7")
    check(p.returncode == 0 and "revoked 192.0.2.7 user=joe@example.org" in p.stdout and
          "revoked in the fleet: 192.0.2.7 (1 login key deleted in redis)" in p.stdout,
          "osd revoke 192.0.2.7 on B: removed here and in the fleet (%r %r)" % (p.stdout, p.stderr))
    check(not relays(b, "192.0.2.7"), "B: 192.0.2.7 no longer relays")
    check(wait_for(lambda: not has_entry(a, "192.0.2.7") and not has_entry(c, "192.0.2.7")),
          "A's (the login's own host) and C's entries are removed")
    check(wait_for(lambda: "192.0.2.7" not in a.cdb_keys() and "192.0.2.7" not in c.cdb_keys()),
          "... and out of their relay.cdb")
    check(not relays(a, "192.0.2.7") and not relays(c, "192.0.2.7"), "osd check on A and C: no relay")
    check(r1.cli("EXISTS", "osd:relay:192.0.2.7") == "0", "the login key is deleted in redis")
    tomb = r1.cli("GET", "osd:relay:revoked:192.0.2.7")
    check(tomb.isdigit() and abs(int(tomb) - time.time() * 1000) < 600000,
          "a tombstone holds the revocation time (%r)" % tomb)
    check(tomb.isdigit() and int(r1.cli("PEXPIRETIME", "osd:relay:revoked:192.0.2.7") or 0) ==
          int(tomb) + EXPIRE * 1000, "the tombstone lives until revocation + relay_expire exactly")
    check("fleet: revoked 192.0.2.7" in a.log() and "fleet: revoked 192.0.2.7" in c.log(),
          "A and C log the revocation")

    # A login after the revocation stands, everywhere.
    time.sleep(0.002)   # a later millisecond than the revocation (not a timing assertion)
    a.run("record", "--user", "joe@example.org", "192.0.2.7")
    check(wait_for(lambda: relays(b, "192.0.2.7") and relays(c, "192.0.2.7")),
          "a new login after the revocation relays on B and C again")

    # --- A host down during a revocation: its stale copy must not come back at resync.
    a.run("record", "--user", "kim@example.org", "192.0.2.9")
    check(wait_for(lambda: relays(c, "192.0.2.9")), "A's login of 192.0.2.9 reached C")
    check(c.stop(wc) == 0, "C's watcher stops (C misses what follows)")
    p = a.run("revoke", "192.0.2.9")
    check(p.returncode == 0, "osd revoke 192.0.2.9 on A while C's watcher is down")
    check(wait_for(lambda: not has_entry(b, "192.0.2.9")), "B removes 192.0.2.9")
    check(has_entry(c, "192.0.2.9"), "C still holds its stale copy (it heard nothing)")
    seen = len(c.log())
    wc = c.start_watch()
    check(wait_for(lambda: "resync from redis" in c.log()[seen:]), "C resyncs at restart")
    check(wait_for(lambda: not has_entry(c, "192.0.2.9")), "C's stale copy is removed by the tombstone")
    check(not relays(c, "192.0.2.9"), "osd check on C: 192.0.2.9 no longer relays")
    # C took the stale copy for a local login at start and published it again: the
    # tombstone in redis refused it.  A later login of C's is the fence: when it has
    # reached A, anything C published before it has too.
    c.record("192.0.2.50")
    check(wait_for(lambda: relays(a, "192.0.2.50")), "a later login on C reaches A")
    check(r1.cli("EXISTS", "osd:relay:192.0.2.9") == "0", "redis did not take C's stale copy back")
    check(not has_entry(a, "192.0.2.9") and not has_entry(b, "192.0.2.9"),
          "the revoked login did not come back to A or B")

    # --- osd revoke where no watcher runs: the command tells the fleet itself.
    a.run("record", "--user", "lee@example.org", "192.0.2.12")
    check(wait_for(lambda: relays(b, "192.0.2.12")), "A's login of 192.0.2.12 reached B")
    p = d.run("revoke", "192.0.2.12")
    check(p.returncode == 0 and "revoked in the fleet: 192.0.2.12" in p.stdout,
          "osd revoke on D (no watcher, no local entry) revokes in the fleet, exit 0 (%r %r)" %
          (p.stdout, p.stderr))
    check(wait_for(lambda: not relays(a, "192.0.2.12") and not relays(b, "192.0.2.12")),
          "A and B no longer let 192.0.2.12 relay")

    # --- osd revoke --user NAME: every entry of the user, on every host; others stay.
    a.run("record", "--user", "ann@example.org", "192.0.2.20")
    b.run("record", "--user", "ann@example.org", "192.0.2.21")
    a.run("record", "--user", "bob@example.org", "192.0.2.22")
    check(wait_for(lambda: all(relays(c, ip) for ip in ("192.0.2.20", "192.0.2.21", "192.0.2.22"))),
          "three logins (two of ann's) reached C")
    p = c.run("revoke", "--user", "ann@example.org")
    check(p.returncode == 0 and "revoked in the fleet: user ann@example.org (2 login keys deleted in redis)"
          in p.stdout, "osd revoke --user ann on C (%r %r)" % (p.stdout, p.stderr))
    check(wait_for(lambda: not any(has_entry(o, ip) for o in (a, b, c) for ip in ("192.0.2.20", "192.0.2.21"))),
          "ann's entries are gone on A, B and C")
    check(all(relays(o, "192.0.2.22") for o in (a, b, c)), "bob's entry stays everywhere")
    check(r1.cli("EXISTS", "osd:relay:revoked-user:ann@example.org") == "1", "a user tombstone is set")
    # A stale login of ann's published again (as a host cut off at the time would) is refused.
    stale = "%d ann@example.org" % (int(time.time() * 1000) - 60000)
    r1.cli("PUBLISH", "osd:logins", "192.0.2.23 " + stale)
    c.record("192.0.2.51")
    check(wait_for(lambda: relays(b, "192.0.2.51")), "a later login reaches B (fence)")
    check(not has_entry(b, "192.0.2.23"), "B does not mirror a login of ann's made before the revocation")

    # --- SIGHUP: the watcher takes new fleet keys, and keeps the running ones when they are bad.
    r2.start()
    b.record("192.0.2.40")
    check(wait_for(lambda: r1.cli("EXISTS", "osd:relay:192.0.2.40") == "1"), "B publishes to the first redis")
    b.write_conf("%ds" % EXPIRE, fleet_conf(r2, pwfile))
    seen = len(b.log())
    wb.send_signal(signal.SIGHUP)
    check(wait_for(lambda: "fleet: redis settings changed: reconnecting" in b.log()[seen:] and
                   "fleet: connected to redis at 127.0.0.1:%d" % r2.port in b.log()[seen:]),
          "after SIGHUP, B reconnects to the redis its config now names")
    check(wait_for(lambda: r2.cli("EXISTS", "osd:relay:192.0.2.40") == "1"),
          "B publishes its live logins to the new redis")
    check(wait_for(lambda: "peer 127.0.0.1:%d" % r2.port in open(os.path.join(b.state, "fleet.status")).read()),
          "B's fleet.status names the new redis")
    r2.cli("PUBLISH", "osd:logins", "192.0.2.41 %d" % int(time.time() * 1000))
    check(wait_for(lambda: relays(b, "192.0.2.41")), "B mirrors a login announced on the new redis")
    b.record("192.0.2.42")
    check(wait_for(lambda: r2.cli("EXISTS", "osd:relay:192.0.2.42") == "1") and
          r1.cli("EXISTS", "osd:relay:192.0.2.42") == "0", "B's new logins go to the new redis only")

    wrongpw = os.path.join(root, "wrong.pw")
    with open(wrongpw, "w") as f:
        f.write("not-the-password\n")
    bad = [("a bad redis_prefix", fleet_conf(r1, pwfile, "redis_prefix = a*b\n"), "redis_prefix 'a*b'"),
           ("a redis nobody listens on", "fleet = redis\nredis_server = 127.0.0.1:%d\nredis_user = osdfleet\n"
            "redis_password_file = %s\n" % (free_port(), pwfile), "cannot connect to redis"),
           ("a wrong password", fleet_conf(r1, wrongpw), "WRONGPASS"),
           ("a missing password file", fleet_conf(r1, os.path.join(root, "nope.pw")), "nope.pw")]
    for what, conf, why in bad:
        b.write_conf("%ds" % EXPIRE, conf)
        seen = len(b.log())
        wb.send_signal(signal.SIGHUP)
        check(wait_for(lambda: "keeping the running fleet settings" in b.log()[seen:]),
              "SIGHUP with %s: B keeps the running fleet settings" % what)
        check(why in b.log()[seen:], "... and logs why (%r)" % why)
    ip = "192.0.2.43"
    r2.cli("PUBLISH", "osd:logins", "%s %d" % (ip, int(time.time() * 1000)))
    check(wait_for(lambda: relays(b, ip)), "B still follows the new redis after the bad reloads")
    check("redis settings changed" not in b.log()[seen:] and wb.poll() is None,
          "no reconnect, no exit on a bad reload")

    # fleet = none by SIGHUP: B leaves redis.
    b.write_conf("%ds" % EXPIRE, "")
    seen = len(b.log())
    wb.send_signal(signal.SIGHUP)
    check(wait_for(lambda: "fleet: fleet = none now: leaving redis" in b.log()[seen:]), "SIGHUP to fleet = none")
    b.record("192.0.2.44")
    check(wait_for(lambda: "192.0.2.44" in b.cdb_keys()), "B's own login still relays on B")

    # --- A host with many live entries publishes them all at connect, paced by what Redis
    # takes (30,000 EVALs are ~20 MB: more than the 8 MiB unsent that means "cut off").
    e = host("E", r2, pwfile)
    hosts.append(e)
    os.makedirs(e.opensmtp)
    many = ["198.51.%d.%d" % (i // 250, 1 + i % 250) for i in range(30000)]
    for ip in many:
        open(os.path.join(e.opensmtp, ip), "w").close()
    we = e.start_watch()
    check(wait_for(lambda: len(r2.cli("--scan", "--pattern", "osd:relay:198.51.*").split()) == 30000,
                   timeout=120, step=0.5), "E's 30,000 live entries all reach redis")
    check("too much unsent" not in e.log() and e.log().count("fleet: connected to redis") == 1,
          "E publishes them on its first connection, without being cut off")
    check(e.stop(we) == 0, "osd watch on E stops cleanly")

    # --- Redis away: osd revoke removes the local entry and says the fleet was not told.
    r1.stop()
    p = a.run("revoke", "192.0.2.22")
    check(p.returncode == 111 and "the other hosts were NOT told" in p.stderr and
          "revoked 192.0.2.22" in p.stdout,
          "osd revoke with redis down: local entry removed, exit 111, says so (%r)" % p.stderr.strip())
    check(not relays(a, "192.0.2.22"), "A: 192.0.2.22 no longer relays")
    for o, w in ((a, wa), (b, wb), (c, wc)):
        check(o.stop(w) == 0, "osd watch on %s stops cleanly" % o.name)
finally:
    for o in hosts:
        o.cleanup()
    r1.stop()
    r2.stop()
    shutil.rmtree(root, ignore_errors=True)
finish()
