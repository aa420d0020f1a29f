#!/usr/bin/env bash
# bench_proxy.sh - osd pop3d/imapd in proxy mode against the same private Dovecot reached directly (issue 12).
#
#   bench/bench_proxy.sh [--runs N] [--msgs M] [--size BYTES] [--passes P] [--logins N] [--build DIR]
#                        [--no-build] [--tmpdir DIR] [--keep]
#
# One private Dovecot (own config, base_dir, state and log under the work
# folder, never /etc/dovecot) serves alice's Maildir of M (default 1,000)
# messages of BYTES (default 100 KB) over POP3 and IMAP on loopback; osd
# pop3d and osd imapd run in proxy mode in front of it (pop3_backend,
# imap_backend, proxy_tls = none: the relay splices). Each test runs
# directly against Dovecot, then through osd, --runs times (default 3):
#   retr   RETR of every message, pipelined, P times (default 3), one connection: MB/s received
#   fetch  FETCH 1:* (BODY.PEEK[]), P times, one connection: MB/s received
#   login-pop3, login-imap   N (default 200) logins one after another
#          (connect, greeting, USER/PASS or LOGIN, QUIT/LOGOUT): median ms
# and prints the medians, the throughput ratios proxy/direct (target >= 0.90)
# and the login latency osd adds. osd is build-j/ (debugoptimized; built
# when missing or stale unless --no-build). Needs root (Dovecot).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${OSD_BUILD:-$root/build-j}
tmpdir=${TMPDIR:-/tmp}
runs=3 msgs=1000 size=102400 passes=3 logins=200 compile=1 keep=0
usage() { sed -n '2,20s/^# \{0,1\}//p' "$0"; }
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift ;;
	--msgs) msgs=$2; shift ;;
	--size) size=$2; shift ;;
	--passes) passes=$2; shift ;;
	--logins) logins=$2; shift ;;
	--build) build=$2; shift ;;
	--no-build) compile=0 ;;
	--tmpdir) tmpdir=$2; shift ;;
	--keep) keep=1 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 100 ;;
	esac
	shift
done

die() { echo "bench_proxy: $*" >&2; exit 111; }
[ "$(id -u)" = 0 ] || die "run as root (the private Dovecot)"
for tool in python3 /usr/sbin/dovecot /usr/lib/dovecot/pop3 /usr/lib/dovecot/imap meson; do
	command -v "$tool" >/dev/null || [ -x "$tool" ] ||
		die "$tool is missing (Debian dovecot-pop3d, dovecot-imapd: scripts/install-deps.sh)"
done
if [ ! -f "$build/build.ninja" ]; then
	[ $compile = 1 ] || die "$build is not a configured build folder"
	meson setup "$build" --buildtype=debugoptimized -Dtests=false >/dev/null || die "meson setup $build failed"
fi
build=$(cd "$build" && pwd)
[ $compile = 0 ] || meson compile -C "$build" >/dev/null || die "meson compile -C $build failed"
for f in osd osd-pop3d osd-imapd; do [ -x "$build/$f" ] || die "$build/$f is missing"; done

load=(python3 "$here/proxyload.py")
work=$tmpdir/osd-proxybench.$$
mkdir -p "$work" && chmod 755 "$work"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dc_pop3=$(free_port) dc_imap=$(free_port) osd_pop3=$(free_port) osd_imap=$(free_port)
pids=()
stop_pid() {  # by PID only, bounded wait
	local p=$1
	kill -0 "$p" 2>/dev/null || return 0
	kill "$p"
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
	kill -9 "$p" 2>/dev/null || true
}
cleanup() {
	for p in "${pids[@]}"; do stop_pid "$p"; done
	if [ "$keep" = 1 ]; then echo "# kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# osd proxy vs direct dovecot, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores," \
	"dovecot $(/usr/sbin/dovecot --version | cut -d' ' -f1), runs=$runs msgs=$msgs size=$size passes=$passes," \
	"osd at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"${load[@]}" gen "$work" --msgs "$msgs" --size "$size" | sed 's/^/# data: /'
mkdir -p "$work/dc-run" "$work/dc-state" "$work/dc-index"
chown -R mail:mail "$work/home" "$work/dc-index"
echo "alice@bench.test:{PLAIN}bench-pass::::::" >"$work/passwd"
cat >"$work/dovecot.conf" <<CONF
instance_name = osd-proxybench-$dc_pop3
base_dir = $work/dc-run
state_dir = $work/dc-state
log_path = $work/dovecot.log
protocols = pop3 imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir:INDEX=$work/dc-index/%n
passdb {
  driver = passwd-file
  args = scheme=PLAIN $work/passwd
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$work/home/%n
}
protocol pop3 {
  pop3_no_flag_updates = yes
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $dc_pop3
  }
  inet_listener pop3s {
    port = 0
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $dc_imap
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
/usr/sbin/dovecot -c "$work/dovecot.conf" || die "dovecot did not start (see $work/dovecot.log)"
for _ in $(seq 50); do [ -s "$work/dc-run/master.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$work/dc-run/master.pid")")

mkdir -p "$work/state/open-smtp"
chown mail:mail "$work/state/open-smtp"
cat >"$work/osd.conf" <<CONF
state_dir = $work/state
default_domain = bench.test
pop3_listen = 127.0.0.1:$osd_pop3
imap_listen = 127.0.0.1:$osd_imap
pop3_backend = 127.0.0.1:$dc_pop3
imap_backend = 127.0.0.1:$dc_imap
pop3_max_per_ip = 1000
imap_max_per_ip = 1000
user =
mail_user = mail
log = stderr
CONF
"$build/osd" pop3d -c "$work/osd.conf" 2>"$work/pop3d.log" & pids+=($!)
"$build/osd" imapd -c "$work/osd.conf" 2>"$work/imapd.log" & pids+=($!)
for p in "$dc_pop3" "$dc_imap" "$osd_pop3" "$osd_imap"; do
	for _ in $(seq 100); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1',$p),1)" 2>/dev/null && break
		sleep 0.1
	done
done

u=alice@bench.test pw=bench-pass
# unmeasured warm-up: Dovecot's index, the page cache
"${load[@]}" retr "127.0.0.1:$dc_pop3" "$u" "$pw" >/dev/null
"${load[@]}" fetch "127.0.0.1:$dc_imap" "$u" "$pw" >/dev/null
results=$work/results
for r in $(seq "$runs"); do
	for peer in direct proxy; do
		if [ $peer = direct ]; then pp=$dc_pop3 ip=$dc_imap; else pp=$osd_pop3 ip=$osd_imap; fi
		echo "bench=proxy test=retr peer=$peer run=$r $("${load[@]}" retr "127.0.0.1:$pp" "$u" "$pw" --passes "$passes")" | tee -a "$results"
		echo "bench=proxy test=fetch peer=$peer run=$r $("${load[@]}" fetch "127.0.0.1:$ip" "$u" "$pw" --passes "$passes")" | tee -a "$results"
		echo "bench=proxy test=login-pop3 peer=$peer run=$r $("${load[@]}" login "127.0.0.1:$pp" "$u" "$pw" --n "$logins")" | tee -a "$results"
		echo "bench=proxy test=login-imap peer=$peer run=$r $("${load[@]}" login "127.0.0.1:$ip" "$u" "$pw" --n "$logins" --imap)" | tee -a "$results"
	done
done
"${load[@]}" median "$results"
echo "# load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
