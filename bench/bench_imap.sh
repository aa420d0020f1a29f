#!/usr/bin/env bash
# bench_imap.sh - osd imapd against Debian's Dovecot IMAP (issue 11), side by side in one run.
#
#   bench/bench_imap.sh [--runs N] [--secs S] [--msgs M] [--large L] [--sessions N] [--idle N] [--stores N]
#                       [--tests "login select fetch body mem"] [--build DIR] [--no-build]
#                       [--tmpdir DIR] [--port N] [--dovecot-port N] [--dovecot-profile default|fast] [--keep]
#
# Makes one vpopmail-style tree with bench/imapload.py gen (users yNN
# yescrypt and sNN sha512-crypt with 10 messages each, "big" with M messages
# (default 10,000) of varied sizes, about 30% multipart, "large" with L
# (default 120) messages of 64 KB - 1 MB with base64 attachments; password
# bench-pass, domain bench.test, owned by the system user "mail"), and copies
# it: osd imapd serves one copy, a private Dovecot (own config, base_dir,
# state and log under the work folder, never /etc/dovecot) the other, so
# neither sees the other's osd-uidlist / dovecot-uidlist. Both servers run for
# the whole benchmark; each test runs osd then Dovecot, --runs times
# (default 3), and the medians and ratios osd/dovecot are printed:
#   login-sha512/-yescrypt c=1,16  LOGIN + LOGOUT, a new connection each, S s (default 5)
#   select-first   SELECT big with no UID list (osd-uidlist / Dovecot's index+uidlist removed)
#   select-again   SELECT big again (list and index in place)
#   fetch-envelope FETCH 1:* (FLAGS ENVELOPE) on big: messages/s
#   fetch-flags    FETCH 1:* (FLAGS) on big: messages/s (test "flags", not in the default list)
#   body           FETCH 1:* (BODY.PEEK[]) on large, 3 times in one session: MB/s of message octets
#   store          N (--stores, default 200) single-message STOREs in a row on big (message 1,
#                  +FLAGS.SILENT then -FLAGS.SILENT (\Seen), each a change): ms per STORE
#                  (test "store", not in the default list)
#   mem-session    PSS per idle session (LOGIN + SELECT INBOX), N sessions (default 16)
#   mem-idle       PSS of the tree with N sessions in IDLE (default 200), and per session
# --dovecot-profile fast: Dovecot reuses its processes (imap-login service_count 0,
# process_min_avail 2; imap service_count 100, process_min_avail 4), as bench_pop3.sh's.
# Both servers' sessions run as uid mail, and each IDLE takes an inotify instance:
# fs.inotify.max_user_instances is raised to 4 x --idle for the run (restored at exit).
# osd is build-j/ (debugoptimized; built when missing or stale unless --no-build).
# Needs root (Dovecot; osd binds as root and drops to mail). About 4 minutes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${OSD_BUILD:-$root/build-j}
tmpdir=${TMPDIR:-/tmp}
port=11443
dc_port=11444
runs=3
secs=5
msgs=10000
large=120
dc_profile=default
sessions=16
idle=200
stores=200
tests="login select fetch body mem"
compile=1
keep=0
mail_user=mail

usage() { sed -n '2,34s/^# \{0,1\}//p' "$0"; }
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift ;;
	--secs) secs=$2; shift ;;
	--msgs) msgs=$2; shift ;;
	--large) large=$2; shift ;;
	--sessions) sessions=$2; shift ;;
	--idle) idle=$2; shift ;;
	--stores) stores=$2; shift ;;
	--tests) tests=$2; shift ;;
	--build) build=$2; shift ;;
	--no-build) compile=0 ;;
	--tmpdir) tmpdir=$2; shift ;;
	--port) port=$2; shift ;;
	--dovecot-port) dc_port=$2; shift ;;
	--dovecot-profile) dc_profile=$2; shift ;;
	--keep) keep=1 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 100 ;;
	esac
	shift
done

die() { echo "bench_imap: $*" >&2; exit 111; }
[ "$(id -u)" = 0 ] || die "run as root (the private Dovecot; osd binds as root and drops to $mail_user)"
for tool in python3 mkpasswd /usr/sbin/dovecot /usr/lib/dovecot/imap meson ss; do
	command -v "$tool" >/dev/null || [ -x "$tool" ] ||
		die "$tool is missing (Debian dovecot-imapd, whois, python3, meson, iproute2: scripts/install-deps.sh)"
done
if [ ! -f "$build/build.ninja" ]; then
	[ $compile = 1 ] || die "$build is not a configured build folder"
	meson setup "$build" --buildtype=debugoptimized -Dtests=false >/dev/null || die "meson setup $build failed"
fi
build=$(cd "$build" && pwd)
if [ $compile = 1 ]; then
	meson compile -C "$build" >/dev/null || die "meson compile -C $build failed"
fi
for f in osd osd-imapd; do [ -x "$build/$f" ] || die "$build/$f is missing: build first"; done
owner="$(id -u "$mail_user"):$(id -g "$mail_user")" || die "no system user $mail_user"
for p in "$port" "$dc_port"; do
	! ss -Hltn "sport = :$p" | grep -q . || die "port $p is in use (use --port/--dovecot-port)"
done

load=(python3 "$here/imapload.py")
work=$tmpdir/osd-imapbench.$$
mkdir -p "$work" && chmod 755 "$work"  # mail (osd) and Dovecot's uid must traverse it
osd_pid="" dc_pid="" inotify_old=""
stop_pid() {  # by PID only, bounded wait
	local p=$1
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 0
	kill "$p"
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$p" 2>/dev/null || true
}
cleanup() {
	stop_pid "$osd_pid"
	stop_pid "$dc_pid"
	[ -z "$inotify_old" ] || echo "$inotify_old" >/proc/sys/fs/inotify/max_user_instances
	if [ "$keep" = 1 ]; then echo "# kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# each IDLE session holds an inotify instance, all as uid mail (the default limit is 128)
cur=$(cat /proc/sys/fs/inotify/max_user_instances)
if [ "$cur" -lt $((4 * idle)) ]; then
	inotify_old=$cur
	echo $((4 * idle)) >/proc/sys/fs/inotify/max_user_instances
fi
load_now() { cut -d' ' -f1-3 /proc/loadavg; }
echo "# osd imapd vs dovecot, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores," \
	"cpu \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')\"," \
	"dovecot $(/usr/sbin/dovecot --version | cut -d' ' -f1), runs=$runs secs=$secs," \
	"build $build ($(sed -n "s/^buildtype *= *//p" "$build/meson-private/cmd_line.txt" 2>/dev/null || true))," \
	"dovecot profile $dc_profile, inotify max_user_instances $(cat /proc/sys/fs/inotify/max_user_instances)," \
	"osd at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), load $(load_now)"
t0=$(date +%s)
"${load[@]}" gen "$work/osd" --msgs "$msgs" --large "$large" --owner "$owner" | sed 's/^/# data: /'
cp -a "$work/osd" "$work/dc"
sed -i "s|$work/osd/|$work/dc/|" "$work/dc/domains/bench.test/vpasswd"
osd_md=$work/osd/domains/bench.test

# --- osd imapd ---------------------------------------------------------------
mkdir -p "$work/state/open-smtp"
chown "$owner" "$work/state/open-smtp"    # osd records logins after dropping to mail_user
cat >"$work/osd.conf" <<EOF
state_dir = $work/state
users_dir = $work/osd/domains
default_domain = bench.test
imap_listen = 127.0.0.1:$port
imap_plaintext = no
imap_loopback_plaintext = yes
imap_max_connections = 1000
imap_max_per_ip = 1000
user =
mail_user = $mail_user
log = stderr
EOF
"$build/osd" imapd -c "$work/osd.conf" 2>"$work/osd.log" &
osd_pid=$!

# --- Dovecot: stock process model; passwd-file over the same vpasswd ----------
dc_login="" dc_imap=""
case $dc_profile in
default) ;;
fast) dc_login="service_count = 0
  process_min_avail = 2"; dc_imap="service_count = 100
  process_min_avail = 4" ;;
*) die "--dovecot-profile: default or fast" ;;
esac
mkdir -p "$work/dc-run" "$work/dc-state" "$work/dc-index"
chown "$owner" "$work/dc-index"
cat >"$work/dovecot.conf" <<EOF
instance_name = osd-imapbench-$dc_port
base_dir = $work/dc-run
state_dir = $work/dc-state
log_path = $work/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
default_process_limit = 1000
default_client_limit = 4000
mail_location = maildir:~/Maildir:INDEX=$work/dc-index/%d/%n:CONTROL=$work/dc-index/%d/%n/control
passdb {
  driver = passwd-file
  args = scheme=CRYPT username_format=%n $work/dc/domains/%d/vpasswd
}
userdb {
  driver = static
  args = uid=${owner%%:*} gid=${owner##*:} home=$work/dc/domains/%d/%n
}
protocol imap {
  mail_max_userip_connections = 1000
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $dc_port
  }
  inet_listener imaps {
    port = 0
  }
  $dc_login
}
service imap {
  $dc_imap
}
service anvil {
  client_limit = 4000
}
EOF
/usr/sbin/dovecot -c "$work/dovecot.conf" || die "dovecot did not start (see $work/dovecot.log)"
for _ in $(seq 50); do [ -s "$work/dc-run/master.pid" ] && break; sleep 0.1; done
dc_pid=$(cat "$work/dc-run/master.pid" 2>/dev/null) || die "no dovecot master.pid"
for p in "$port" "$dc_port"; do
	for _ in $(seq 50); do ss -Hltn "sport = :$p" | grep -q . && break; sleep 0.1; done
	ss -Hltn "sport = :$p" | grep -q . || { cat "$work/osd.log" "$work/dovecot.log" >&2; die "nothing listens on $p"; }
done

# --- the measurements ---------------------------------------------------------
res=$work/results
: >"$res"
emit() { echo "peer=$1 test=$2 run=$3 $4" | tee -a "$res"; }
# peer NAME -> host:port, root pid, data folder, command that removes its UID list and index of big
hp() { [ "$1" = osd ] && echo "127.0.0.1:$port" || echo "127.0.0.1:$dc_port"; }
rootpid() { [ "$1" = osd ] && echo "$osd_pid" || echo "$dc_pid"; }
forget_big() {
	if [ "$1" = osd ]; then rm -f "$osd_md/big/Maildir/osd-uidlist"
	else rm -rf "$work/dc-index/bench.test/big"; fi
}
peers="osd dovecot"
# unmeasured warm-up: page cache, and each server's first look at the folders
for p in $peers; do
	for u in big large; do timeout 300 "${load[@]}" select "$(hp "$p")" "$u@bench.test" bench-pass >/dev/null ||
		die "warm-up SELECT of $u on $p failed"; done
done
for r in $(seq "$runs"); do
	echo "# run $r, load $(load_now)"
	for t in $tests; do for p in $peers; do case $t in
	login)
		for c in 1 16; do for h in s:sha512 y:yescrypt; do
			out=$(timeout $((secs + 150)) "${load[@]}" login "$(hp "$p")" "${h%%:*}{i:02d}@bench.test" bench-pass \
				--clients "$c" --secs "$secs")
			emit "$p" "login-${h#*:}-c$c" "$r" "$out"
		done; done ;;
	select)
		forget_big "$p"
		emit "$p" select-first "$r" "$(timeout 300 "${load[@]}" select "$(hp "$p")" big@bench.test bench-pass)"
		emit "$p" select-again "$r" "$(timeout 300 "${load[@]}" select "$(hp "$p")" big@bench.test bench-pass)" ;;
	fetch)
		emit "$p" fetch-envelope "$r" "$(timeout 300 "${load[@]}" fetch "$(hp "$p")" big@bench.test bench-pass)" ;;
	flags)
		emit "$p" fetch-flags "$r" "$(timeout 300 "${load[@]}" fetch "$(hp "$p")" big@bench.test bench-pass \
			--items '(FLAGS)')" ;;
	body)
		emit "$p" body "$r" "$(timeout 300 "${load[@]}" body "$(hp "$p")" large@bench.test bench-pass)" ;;
	store)
		emit "$p" store "$r" "$(timeout 600 "${load[@]}" store "$(hp "$p")" big@bench.test bench-pass --stores "$stores")" ;;
	mem)
		emit "$p" mem-session "$r" "$(timeout 300 "${load[@]}" mem "$(hp "$p")" 's{i:02d}@bench.test' bench-pass \
			--pid "$(rootpid "$p")" --sessions "$sessions")"
		emit "$p" mem-idle "$r" "$(timeout 600 "${load[@]}" mem "$(hp "$p")" 's{i:02d}@bench.test' bench-pass \
			--pid "$(rootpid "$p")" --sessions "$idle" --idle)" ;;
	*) die "unknown test $t" ;;
	esac; done; done
done

echo "# medians of $runs runs, load $(load_now)"
"${load[@]}" median "$res" | tee "$work/medians"
python3 - "$work/medians" <<'EOF'
import sys
rows = {}
for ln in open(sys.argv[1]):
    kv = dict(x.split('=', 1) for x in ln.split() if '=' in x)
    rows[(kv['peer'], kv['test'])] = kv
# test -> (metric, unit, higher is better)
spec = {'select-first': ('ms', 'ms', False), 'select-again': ('ms', 'ms', False),
        'fetch-envelope': ('rate', 'msgs/s', True), 'fetch-flags': ('rate', 'msgs/s', True), 'body': ('mbps', 'MB/s', True),
        'store': ('per_store_ms', 'ms/STORE', False),
        'mem-session': ('per_session_kb', 'kB/session', False), 'mem-idle': ('pss_kb', 'kB total', False)}
for test in sorted({t for _, t in rows}, key=lambda t: (t.startswith('mem'), t)):
    metric, unit, up = spec.get(test, ('rate', 'logins/s', True))
    o, d = rows.get(('osd', test)), rows.get(('dovecot', test))
    if not o or not d:
        continue
    ov, dv = float(o[metric]), float(d[metric])
    ratio = ov / dv if dv else float('inf')
    met = ratio >= 1 if up else ratio <= 1
    extra = ''
    if test == 'mem-idle':
        extra = f' osd_per_session_kb={o["per_session_kb"]} dovecot_per_session_kb={d["per_session_kb"]}'
    print(f'ratio test={test} metric={metric} unit={unit.replace(" ", "_")} osd={ov:g} dovecot={dv:g} '
          f'ratio={ratio:.2f} target={"ge" if up else "le"}_dovecot {"met" if met else "missed"}{extra}')
EOF
echo "# osd log: $(grep -c 'login: ' "$work/osd.log" || true) logins," \
	"$(grep -ci 'warn\|error\|refused' "$work/osd.log" || true) warnings/errors;" \
	"dovecot log: $(grep -ci 'warn\|error\|fatal' "$work/dovecot.log" || true) warnings/errors"
grep -i 'warn\|error\|fatal' "$work/dovecot.log" | sort | uniq -c | sort -rn | head -5 | sed 's/^/# dovecot: /' || true
echo "# total $(( $(date +%s) - t0 )) s"
