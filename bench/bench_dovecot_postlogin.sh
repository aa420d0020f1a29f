#!/usr/bin/env bash
# bench_dovecot_postlogin.sh - what osd-dovecot-postlogin adds to a Dovecot login (issue 12), side by side in one run.
#
#   bench/bench_dovecot_postlogin.sh [--runs N] [--secs S] [--clients "1 8"] [--protos "pop3 imap"]
#                                    [--build DIR] [--no-build] [--tmpdir DIR] [--port N] [--keep]
#
# Three private Dovecot instances (own config, base_dir, state and log under
# the work folder, never /etc/dovecot) serve the same vpasswd tree and run
# for the whole benchmark; they differ only in the post-login step of their
# pop3 and imap services:
#   none   no post-login script (stock Dovecot)
#   empty  script-login running a script that only does exec "$@" (Dovecot's own cost of the hook)
#   osd    script-login running the build's osd-dovecot-postlogin (osd record as root,
#          dropping to mail_user, with osd watch rebuilding relay.cdb beside it)
# Each run measures every protocol and client count on none, empty and osd in
# turn: C clients (default 1 and 8) log in for S seconds (default 5), a new
# connection per login (POP3 USER/PASS/QUIT, IMAP LOGIN/LOGOUT), each login
# from the next of 127.0.0.2-127.0.0.250, so that osd records distinct
# addresses.  Printed: logins/s and median/p90 latency per run, the medians
# over --runs (default 3), and added_ms = median latency (osd) - (none), the
# issue's target being < 5 ms per login (reported, never asserted), split
# into script_login_ms = (empty) - (none), Dovecot's hook machinery, and
# osd_script_ms = (osd) - (empty), what osd's script itself adds.
# Passwords are sha512-crypt with 1000 rounds so that hashing does not drown
# the difference.  The osd copy of the script differs from the installed one
# only in its osd path and an exported OSD_CONF (script-login clears the
# environment).  Needs root (Dovecot). About 2 minutes with the defaults.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${OSD_BUILD:-$root/build}
tmpdir=${TMPDIR:-/tmp}
port=11610
runs=3
secs=5
clients="1 8"
protos="pop3 imap"
compile=1
keep=0
mail_user=mail
variants="none empty osd"

usage() { sed -n '2,29s/^# \{0,1\}//p' "$0"; }
die() { echo "bench_dovecot_postlogin: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift ;;
	--secs) secs=$2; shift ;;
	--clients) clients=$2; shift ;;
	--protos) protos=$2; shift ;;
	--build) build=$2; shift ;;
	--no-build) compile=0 ;;
	--tmpdir) tmpdir=$2; shift ;;
	--port) port=$2; shift ;;
	--keep) keep=1 ;;
	-h|--help) usage; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
	shift
done
[ "$(id -u)" = 0 ] || die "run as root (private Dovecot instances)"
for tool in python3 mkpasswd ss /usr/sbin/dovecot /usr/lib/dovecot/pop3 /usr/lib/dovecot/imap \
	/usr/lib/dovecot/script-login; do
	command -v "$tool" >/dev/null ||
		die "$tool is missing (dovecot-pop3d, dovecot-imapd, whois, iproute2: scripts/install-deps.sh)"
done
[ "$compile" = 1 ] && { [ -f "$build/build.ninja" ] || meson setup "$build" "$root" >/dev/null; } &&
	meson compile -C "$build" >/dev/null
[ -x "$build/osd" ] && [ -x "$build/osd-dovecot-postlogin" ] || die "no osd build in $build"

work=$(mktemp -d "$tmpdir/bench-dovecot-postlogin.XXXXXX")
chmod 755 "$work"       # the mail processes (uid mail) walk through it
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	if [ "$keep" = 1 ]; then echo "# kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- osd: config, users, watcher ------------------------------------------------
cat >"$work/osd.conf" <<EOF
state_dir = $work/state
rules = $work/tcp.smtp
mail_user = $mail_user
EOF
: >"$work/tcp.smtp"
dom=bench.test
mkdir -p "$work/state/domains/$dom"
hash=$(mkpasswd -m sha512crypt -R 1000 bench-pass)
for i in $(seq -w 1 16); do
	mkdir -p "$work/state/domains/$dom/u$i/Maildir/"{new,cur,tmp}
	echo "u$i:$hash:1:0:u$i:$work/state/domains/$dom/u$i:NOQUOTA"
done >"$work/state/domains/$dom/vpasswd"
chown -R "$mail_user:$mail_user" "$work/state/domains"
"$build/osd" watch -c "$work/osd.conf" 2>"$work/watch.log" &
pids+=($!)

# --- the scripts: empty, and osd's with this build's osd and config --------------
printf '#!/bin/sh\nexec "$@"\n' >"$work/empty-postlogin"
sed "s|^osd=.*|osd=$build/osd; OSD_CONF=$work/osd.conf; export OSD_CONF|" \
	"$build/osd-dovecot-postlogin" >"$work/osd-postlogin"
grep -q "^osd=$build/osd;" "$work/osd-postlogin" || die "could not point the script at $build/osd"
chmod 755 "$work/empty-postlogin" "$work/osd-postlogin"

# --- three Dovecot instances ------------------------------------------------------
n=0
for v in $variants; do
	d=$work/dc-$v
	mkdir -p "$d/run" "$d/state" "$d/index"
	chown "$mail_user:$mail_user" "$d/index"
	eval "port_${v}_pop3=$((port + 2 * n))"
	eval "port_${v}_imap=$((port + 2 * n + 1))"
	pp=$((port + 2 * n)); ip=$((port + 2 * n + 1)); n=$((n + 1))
	for p in $pp $ip; do
		! ss -Hltn "sport = :$p" | grep -q . || die "port $p is in use (use --port)"
	done
	hook=""
	if [ "$v" != none ]; then
		hook="service pop3 {
  executable = pop3 pop3-postlogin
}
service imap {
  executable = imap imap-postlogin
}
service pop3-postlogin {
  executable = script-login $work/$v-postlogin
  unix_listener pop3-postlogin {
  }
}
service imap-postlogin {
  executable = script-login $work/$v-postlogin
  unix_listener imap-postlogin {
  }
}"
	fi
	cat >"$d/dovecot.conf" <<EOF
instance_name = osd-postlogin-bench-$v-$pp
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = pop3 imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir:INDEX=$d/index/%d/%n
passdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%n $work/state/domains/%d/vpasswd
}
userdb {
  driver = static
  args = uid=$mail_user gid=$mail_user home=$work/state/domains/%d/%n
}
protocol pop3 {
  mail_max_userip_connections = 1000
}
protocol imap {
  mail_max_userip_connections = 1000
}
service auth {
  user = root
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $pp
  }
  process_limit = 64
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $ip
  }
  inet_listener imaps {
    port = 0
  }
  process_limit = 64
}
$hook
EOF
	/usr/sbin/dovecot -c "$d/dovecot.conf" </dev/null >"$d/start.log" 2>&1 ||
		die "dovecot ($v) did not start: $(cat "$d/start.log")"
	for _ in $(seq 50); do [ -s "$d/run/master.pid" ] && break; sleep 0.1; done
	pids+=("$(cat "$d/run/master.pid")")
	for p in $pp $ip; do
		for _ in $(seq 50); do ss -Hltn "sport = :$p" | grep -q . && break; sleep 0.1; done
		ss -Hltn "sport = :$p" | grep -q . || die "nothing listens on $p (see $d/dovecot.log)"
	done
done

# --- the load: one login per connection, from rotating 127.0.0.x ---------------------
load() {  # PROTO PORT CLIENTS SECS -> "logins=N logins_s=R p50_ms=X p90_ms=Y failed=F"
	python3 - "$@" <<'EOF'
import socket, sys, threading, time
proto, port, clients, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
lat, failed, lock = [], [0], threading.Lock()
nexthost = [0]
def line(f):
    s = f.readline()
    if not s:
        raise OSError("closed")
    return s
def one(i, src):
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), 20, source_address=(src, 0))
    f = s.makefile("rb")
    user = "u%02d@bench.test" % (i % 16 + 1)
    try:
        line(f)
        if proto == "pop3":
            s.sendall(b"USER " + user.encode() + b"\r\n"); ok = line(f).startswith(b"+OK")
            s.sendall(b"PASS bench-pass\r\n"); ok = ok and line(f).startswith(b"+OK")
            s.sendall(b"QUIT\r\n"); line(f)
        else:
            s.sendall(b"a LOGIN " + user.encode() + b" bench-pass\r\n")
            r = line(f)
            while not r.startswith(b"a "):
                r = line(f)
            ok = r.startswith(b"a OK")
            s.sendall(b"b LOGOUT\r\n")
            r = line(f)
            while not r.startswith(b"b "):
                r = line(f)
    finally:
        f.close(); s.close()
    return ok, time.monotonic() - t0
def worker(i, end):
    n = 0
    while time.monotonic() < end:
        with lock:
            nexthost[0] = nexthost[0] % 249 + 1
            src = "127.0.0.%d" % (nexthost[0] + 1)
        try:
            ok, dt = one(i + n, src)
        except OSError:
            ok, dt = False, 0
        with lock:
            if ok: lat.append(dt)
            else: failed[0] += 1
        n += 1
end = time.monotonic() + secs
ts = [threading.Thread(target=worker, args=(i, end)) for i in range(clients)]
[t.start() for t in ts]; [t.join() for t in ts]
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0
print("logins=%d logins_s=%.1f p50_ms=%.2f p90_ms=%.2f failed=%d"
      % (len(lat), len(lat) / secs, q(0.5), q(0.9), failed[0]))
EOF
}

res=$work/results
: >"$res"
echo "# osd-dovecot-postlogin cost, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg), dovecot $(/usr/sbin/dovecot --version | cut -d' ' -f1)," \
	"runs=$runs secs=$secs clients=\"$clients\", osd at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
# unmeasured warm-up: each instance's first logins create its index folders
for v in $variants; do for pr in $protos; do
	eval "p=\$port_${v}_$pr"; load "$pr" "$p" 1 1 >/dev/null
done; done
for r in $(seq "$runs"); do
	for pr in $protos; do for c in $clients; do for v in $variants; do
		eval "p=\$port_${v}_$pr"
		echo "bench=dovecot-postlogin run=$r proto=$pr clients=$c variant=$v $(load "$pr" "$p" "$c" "$secs")" |
			tee -a "$res"
	done; done; done
done
python3 - "$res" <<'EOF'
import statistics, sys
rows = {}
for ln in open(sys.argv[1]):
    kv = dict(x.split("=", 1) for x in ln.split())
    rows.setdefault((kv["proto"], kv["clients"], kv["variant"]), []).append(kv)
med = {}
for k, rs in sorted(rows.items()):
    m = {f: statistics.median(float(r[f]) for r in rs) for f in ("logins_s", "p50_ms", "p90_ms")}
    med[k] = m
    print("bench=dovecot-postlogin proto=%s clients=%s variant=%s logins_s=%.1f p50_ms=%.2f p90_ms=%.2f failed=%d"
          % (k + (m["logins_s"], m["p50_ms"], m["p90_ms"], sum(int(r["failed"]) for r in rs))))
for (pr, c, v) in sorted(med):
    if v != "osd" or (pr, c, "none") not in med:
        continue
    added = med[(pr, c, "osd")]["p50_ms"] - med[(pr, c, "none")]["p50_ms"]
    hook = med[(pr, c, "empty")]["p50_ms"] - med[(pr, c, "none")]["p50_ms"] if (pr, c, "empty") in med else float("nan")
    print("added proto=%s clients=%s added_ms=%.2f script_login_ms=%.2f osd_script_ms=%.2f rate_ratio=%.2f target=lt_5ms %s"
          % (pr, c, added, hook, added - hook,
             med[(pr, c, "osd")]["logins_s"] / max(med[(pr, c, "none")]["logins_s"], 0.1),
             "met" if added < 5 else "missed"))
EOF
for v in $variants; do
	e=$(grep -ci 'error\|fatal' "$work/dc-$v/dovecot.log" || true)
	echo "# dovecot-$v log: $e errors"
done
