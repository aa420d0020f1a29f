"""Fleet mode with a real redis-server on loopback: two osd "hosts" (two state folders, two
watchers) share logins; Redis killed and restarted; an empty host resyncs by SCAN; what comes
from Redis is never trusted."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from osdtest import Osd, check, finish, free_port, wait_for

EXPIRE = 3 * 3600
PASSWORD = "fleet-secret-1"


def have(tool):
    return shutil.which(tool) is not None


class Redis:
    """A private redis-server: no persistence, ACL users 'osdfleet' (what docs/fleet.md
    grants) and 'admin' (the test's own eyes and hands); the default user is off."""

    def __init__(self, root):
        self.root = root
        self.port = free_port()
        self.conf = os.path.join(root, "redis.conf")
        with open(self.conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\n"
                    "user default off\n"
                    "user osdfleet on >%s ~osd:relay:* &osd:logins "
                    "+ping +get +set +mget +scan +eval +evalsha +publish +subscribe\n"
                    "user admin on >adminpw ~* &* +@all\n" % (self.port, root, PASSWORD))
        self.proc = None

    def start(self):
        log = open(os.path.join(self.root, "redis.log"), "ab")
        self.proc = subprocess.Popen(["redis-server", self.conf], stdout=log, stderr=subprocess.STDOUT)
        check(wait_for(lambda: self.cli("PING") == "PONG"), "redis-server answers on 127.0.0.1:%d" % self.port)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def cli(self, *args):
        p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "--user", "admin",
                            "--pass", "adminpw", "--no-auth-warning"] + list(args),
                           capture_output=True, text=True, timeout=10)
        return p.stdout.strip()


def host(root, name):
    pwfile = os.path.join(root, "redis.pw")
    o = Osd(relay_expire="%ds" % EXPIRE,
            extra="fleet = redis\nredis_server = 127.0.0.1:%d\nredis_user = osdfleet\n"
                  "redis_password_file = %s\n" % (redis.port, pwfile))
    o.name = name
    return o


def entry_mtime(o, ip):
    try:
        return os.stat(os.path.join(o.opensmtp, ip)).st_mtime
    except FileNotFoundError:
        return None


def connected_count(o):
    return o.log("watch").count("fleet: connected to redis")


for tool in ("redis-server", "redis-cli"):
    check(have(tool), "%s is installed (scripts/install-deps.sh)" % tool)
if not have("redis-server") or not have("redis-cli"):
    finish()

# fleet = redis with nowhere to find Redis is a config error, named.
bad = Osd(extra="fleet = redis\n")
p = bad.run("check", "192.0.2.1")
check(p.returncode != 0 and "fleet = redis needs redis_sentinels or redis_server" in p.stderr,
      "fleet = redis without redis_sentinels or redis_server is refused (%r)" % p.stderr.strip())
bad.write_conf("3h", "fleet = redis\nredis_server = 127.0.0.1:6379\nredis_prefix = a*b\n")
w = bad.start("watch")
check(w.wait(20) != 0 and "redis_prefix" in bad.log("watch"), "osd watch refuses a glob in redis_prefix")
bad.cleanup()

root = tempfile.mkdtemp(prefix="osd-fleet-")
with open(os.path.join(root, "redis.pw"), "w") as f:
    f.write(PASSWORD + "\n")
redis = Redis(root)
hosts = []
try:
    redis.start()
    a, b = host(root, "A"), host(root, "B")
    hosts += [a, b]
    a.start_watch()
    b.start_watch()
    check(wait_for(lambda: connected_count(a) == 1 and connected_count(b) == 1),
          "both watchers connect to redis (as the ACL user, with the password from the file)")

    # A login on A reaches B, with its original time and user; another address does not.
    p = a.run("record", "--user", "joe@example.org", "192.0.2.7")
    check(p.returncode == 0, "osd record on A")
    check(wait_for(lambda: "192.0.2.7" in b.cdb_keys()), "A's login reaches B's relay.cdb")
    rc, f = b.check_ip("192.0.2.7")
    check(rc == 0 and f.get("decision") == "relay" and f.get("source") == "dynamic",
          "osd check on B: 192.0.2.7 may relay")
    ta = entry_mtime(a, "192.0.2.7")
    check(int(entry_mtime(b, "192.0.2.7") or 0) == int(ta), "B's entry has A's login time (to the second)")
    check(f.get("user") == "joe@example.org", "B's entry names the user who logged in on A")
    rc, f = b.check_ip("192.0.2.8")
    check(rc == 1 and f.get("decision") == "no-relay", "osd check on B: another address may not relay")
    val = redis.cli("GET", "osd:relay:192.0.2.7")
    ta_ms = os.stat(os.path.join(a.opensmtp, "192.0.2.7")).st_mtime_ns // 1000000
    check(val == "%d joe@example.org" % ta_ms, "the key holds A's login time in ms and the user: %r" % val)
    pexp = int(redis.cli("PEXPIRETIME", "osd:relay:192.0.2.7") or "0")
    check(pexp == ta_ms + EXPIRE * 1000, "the key's TTL ends exactly at login + relay_expire")

    # What comes from Redis is never trusted: a future time, a bad address, an expired login.
    now_ms = int(time.time() * 1000)
    redis.cli("PUBLISH", "osd:logins", "192.0.2.99 %d" % (now_ms + 3600 * 1000))
    redis.cli("PUBLISH", "osd:logins", "../../etc/passwd %d" % now_ms)
    redis.cli("PUBLISH", "osd:logins", "192.0.2.98 %d" % (now_ms - (EXPIRE + 60) * 1000))
    redis.cli("PUBLISH", "osd:logins", "192.0.2.97 %d bad user" % now_ms)
    redis.cli("SET", "osd:relay:192.0.2.96", str(now_ms + 3600 * 1000))   # for the resync below
    redis.cli("SET", "osd:relay:not-an-address", str(now_ms))
    a.record("192.0.2.11")              # a good one after them: when it is in, they were read
    check(wait_for(lambda: "192.0.2.11" in b.cdb_keys()), "a later login reaches B")
    check(not any(os.path.exists(os.path.join(b.opensmtp, n)) for n in
                  ("192.0.2.99", "192.0.2.98", "192.0.2.97", "etc", "passwd")),
          "B mirrors no forged login (future time, bad address, expired, bad user)")
    check("login time in the future" in b.log() and "not a client address" in b.log(),
          "B logs what it refused")
    # The watcher on A may see a login's touch before its recorder stores the name: the
    # name, stored later on the same login, reaches B too.
    os.setxattr(os.path.join(a.opensmtp, "192.0.2.11"), "user.osd.login", b"ann@example.org")
    check(wait_for(lambda: b.check_ip("192.0.2.11")[1].get("user") == "ann@example.org"),
          "a login's name stored after its touch reaches B")
    rc, _ = b.check_ip("192.0.2.99")
    check(rc == 1, "osd check on B: the forged future login does not relay")

    # B makes its copy of A's login as an unnamed inode linked in, takes it into its table at
    # once and skips the link's own event: a login on B to that address after it is still
    # seen (its touch has an event of its own), and reaches A with B's time.
    a.record("192.0.2.13")
    check(wait_for(lambda: "192.0.2.13" in b.cdb_keys()), "A's login of 192.0.2.13 reaches B")
    t13 = entry_mtime(a, "192.0.2.13")
    time.sleep(1.1)
    b.record("192.0.2.13")
    tb = entry_mtime(b, "192.0.2.13")
    check(tb is not None and int(tb) > int(t13), "a login on B to 192.0.2.13, a second later")
    check(wait_for(lambda: int(entry_mtime(a, "192.0.2.13") or 0) == int(tb)),
          "that login on B to an address it mirrored from A reaches A with B's time")
    check("ignoring '#" not in a.log() and "ignoring '#" not in b.log(),
          "the watchers do not take an unnamed inode's events ('#INODE') for entries")

    # A login that expires soon (made 3 h - 8 s ago on A) for the outage below.
    # (made aside with its old time, then renamed in, as an import would: the watcher
    # must never see it with another time)
    aside = os.path.join(a.opensmtp, ".test-import")
    open(aside, "w").close()
    t_soon = int(time.time()) - EXPIRE + 8
    os.utime(aside, (t_soon, t_soon))
    os.rename(aside, os.path.join(a.opensmtp, "192.0.2.30"))
    check(wait_for(lambda: "192.0.2.30" in b.cdb_keys()), "an older login on A reaches B too")

    # Redis dies: local logins still work, B keeps what it mirrored until its exact expiry.
    redis.kill()
    check(wait_for(lambda: "cut off from redis" in a.log() and "cut off from redis" in b.log()),
          "both watchers log that they are cut off from redis")
    st = a.run("status").stdout
    check("fleet: CUT OFF from redis at 127.0.0.1:%d" % redis.port in st,
          "osd status on A says it is cut off from redis")
    p = a.record("192.0.2.20")
    check(p.returncode == 0, "osd record on A works with redis down")
    check(wait_for(lambda: "192.0.2.20" in a.cdb_keys()), "A's own login opens relaying on A")
    rc, _ = a.check_ip("192.0.2.20")
    check(rc == 0, "osd check on A: 192.0.2.20 may relay")
    rc, _ = b.check_ip("192.0.2.7")
    check(rc == 0, "B keeps the mirrored 192.0.2.7 while redis is down")
    check(wait_for(lambda: "192.0.2.30" not in b.cdb_keys()), "B expires the mirrored 192.0.2.30")
    gone = time.time()
    check(gone >= t_soon + EXPIRE, "... not before its login time + relay_expire (%.2f s after)" %
          (gone - t_soon - EXPIRE))
    rc, _ = b.check_ip("192.0.2.30")
    check(rc == 1, "osd check on B: 192.0.2.30 no longer relays")
    check("192.0.2.20" not in b.cdb_keys(), "B has not heard of A's login made while cut off")

    # Redis comes back empty: A publishes what it recorded meanwhile; B hears of it.
    redis.start()
    check(wait_for(lambda: connected_count(a) == 2 and connected_count(b) == 2),
          "both watchers reconnect with back-off")
    st = b.run("status").stdout
    check("fleet: connected to redis at 127.0.0.1:%d" % redis.port in st, "osd status on B says it is connected")
    check(wait_for(lambda: "192.0.2.20" in b.cdb_keys()), "A's login made while cut off reaches B")
    rc, f = b.check_ip("192.0.2.20")
    check(rc == 0 and f.get("source") == "dynamic", "osd check on B: 192.0.2.20 may relay")
    check(wait_for(lambda: redis.cli("EXISTS", "osd:relay:192.0.2.7") == "1"),
          "the logins still live are published again after the restart")
    check(redis.cli("EXISTS", "osd:relay:192.0.2.30") == "0", "the expired one is not")

    # A host with an empty state folder catches up by SCAN.
    redis.cli("SET", "osd:relay:192.0.2.96", str(int(time.time() * 1000) + 3600 * 1000))
    redis.cli("SET", "osd:relay:192.0.2.95", str(int(time.time() * 1000) - (EXPIRE + 5) * 1000))
    redis.cli("SET", "osd:relay:not-an-address", str(int(time.time() * 1000)))
    c = host(root, "C")
    hosts.append(c)
    c.start_watch()
    check(wait_for(lambda: "resync from redis" in c.log()), "C resyncs from redis at connect")
    check(wait_for(lambda: {"192.0.2.7", "192.0.2.11", "192.0.2.20"} <= set(c.cdb_keys())),
          "C's relay.cdb has every live login of the fleet")
    check(int(entry_mtime(c, "192.0.2.7") or 0) == int(ta), "with the original login time")
    rc, f = c.check_ip("192.0.2.7")
    check(rc == 0 and f.get("user") == "joe@example.org", "osd check on C: 192.0.2.7 relays, joe's login")
    check(not any(os.path.exists(os.path.join(c.opensmtp, n)) for n in
                  ("192.0.2.96", "192.0.2.95", "192.0.2.30", "not-an-address")),
          "C mirrors no forged, expired or malformed key")
    # Redis frozen (SIGSTOP: the socket stays open, nothing answers): the PING finds
    # it out; a link that answers anything is not cut off, one that answers nothing is.
    before = [connected_count(o) for o in (a, b)]
    seen = [len(o.log()) for o in (a, b)]
    redis.proc.send_signal(signal.SIGSTOP)
    try:
        check(wait_for(lambda: all("cut off from redis at 127.0.0.1:%d: no answer: PING" % redis.port
                                   in o.log()[n:] for o, n in zip((a, b), seen)), 30),
              "a frozen redis: both watchers say they are cut off (no answer to PING)")
        p = a.record("192.0.2.21")
        check(p.returncode == 0 and wait_for(lambda: "192.0.2.21" in a.cdb_keys()),
              "a login on A counts on A while redis is frozen")
    finally:
        redis.proc.send_signal(signal.SIGCONT)
    check(wait_for(lambda: all(connected_count(o) > n for o, n in zip((a, b), before)), 30),
          "both watchers reconnect once redis runs again")
    check(wait_for(lambda: "192.0.2.21" in b.cdb_keys()), "A's login made while redis was frozen reaches B")

    for o in hosts:
        check(o.stop(o.procs[-1]) == 0, "osd watch on %s stops cleanly" % o.name)
finally:
    for o in hosts:
        o.cleanup()
    if redis.proc is not None and redis.proc.poll() is None:
        redis.kill()
    shutil.rmtree(root, ignore_errors=True)
finish()
