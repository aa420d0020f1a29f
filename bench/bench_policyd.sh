#!/usr/bin/env bash
# bench_policyd.sh - osd policyd against postfwd (Debian's Postfix policy server), side by side.
#
#   bench/bench_policyd.sh [--clients 50] [--secs 5] [--repeat 3] [--build DIR] [--no-build]
#                          [--tmpdir DIR] [--keep]
#
# Both answer the same question from a table: "may this client_address
# relay?" (osd from relay.cdb + open-smtp/ with one recorded login,
# 127.0.0.5; postfwd from a one-rule ruleset client_address==127.0.0.5 ->
# OK, else DUNNO).  build/bench/bench-policyload drives each with N
# Postfix-style clients that keep their connections and send full Postfix
# 3.7 RCPT requests back to back (one outstanding each, as smtpd does);
# every 10th request is from 127.0.0.5.  Measured: osd over TCP, osd over
# its unix socket, postfwd over TCP (postfwd2 1.35: a Net::Server prefork
# server, 50 children so that every client has one; request cache off,
# --cache=0, so that both answer every query from their rules; no DNS).
# Prints one line per run, then medians and the ratio osd/postfwd, and the
# load average (the machine is shared: read the numbers with it).
# Needs root (postfwd drops to nobody) and the postfwd package
# (scripts/install-deps.sh).  Takes about 1 minute with the defaults.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${OSD_BUILD:-$root/build}
clients=50; secs=5; repeat=3; do_build=1; tmpbase=${TMPDIR:-/tmp}; keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --clients) clients=$2; shift ;;
    --secs) secs=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --build) build=$2; shift ;;
    --no-build) do_build=0 ;;
    --tmpdir) tmpbase=$2; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench_policyd: unknown option $1" >&2; exit 2 ;;
  esac; shift
done
[ "$(id -u)" = 0 ] || { echo "bench_policyd: run as root (postfwd drops to nobody)" >&2; exit 1; }
command -v postfwd >/dev/null || { echo "bench_policyd: postfwd missing (scripts/install-deps.sh)" >&2; exit 1; }
[ "$do_build" = 1 ] && meson compile -C "$build" >/dev/null

work=$(mktemp -d "$tmpbase/bench-policyd.XXXXXX")
chmod 755 "$work"
osd_pid=""; pf_pid=""
cleanup() {
  [ -n "$osd_pid" ] && kill "$osd_pid" 2>/dev/null && wait "$osd_pid" 2>/dev/null
  [ -n "$pf_pid" ] && kill "$pf_pid" 2>/dev/null
  if [ "$keep" = 1 ]; then echo "# kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
osd_port=$(free_port); pf_port=$(free_port)
mkdir -p "$work/state"
cat >"$work/osd.conf" <<CONF
state_dir = $work/state
rules = $work/tcp.smtp
policy_listen = unix:$work/policy.sock 127.0.0.1:$osd_port
CONF
"$build/osd" record -c "$work/osd.conf" 127.0.0.5
"$build/osd" expire -c "$work/osd.conf" 2>/dev/null
"$build/osd" policyd -c "$work/osd.conf" 2>"$work/policyd.log" &
osd_pid=$!

echo 'id=RELAY; client_address==127.0.0.5; action=OK' >"$work/postfwd.cf"
chmod 644 "$work/postfwd.cf"
# It forks into the background; its pid file names the master, which stops the children.
postfwd --file="$work/postfwd.cf" --interface=127.0.0.1 --port="$pf_port" --nodns --perfmon \
  --cache=0 -u nobody -g nogroup --pidfile="$work/postfwd.pid" \
  --min_servers="$clients" --max_servers=$((clients + 10)) >"$work/postfwd.log" 2>&1
for _ in $(seq 100); do
  [ -s "$work/postfwd.pid" ] && [ -S "$work/policy.sock" ] && \
    [ "$(ps --ppid "$(cat "$work/postfwd.pid")" --no-headers | wc -l)" -gt "$clients" ] && break
  sleep 0.1
done
pf_pid=$(cat "$work/postfwd.pid")
sleep 1

echo "# host: nproc=$(nproc) load=\"$(cut -d' ' -f1-3 /proc/loadavg)\" postfwd=$(dpkg-query -W -f='${Version}' postfwd)"
results=$work/results; : >"$results"
for run in $(seq "$repeat"); do
  for t in "osd-tcp 127.0.0.1:$osd_port" "osd-unix unix:$work/policy.sock" "postfwd-tcp 127.0.0.1:$pf_port"; do
    set -- $t
    line=$("$build/bench/bench-policyload" -c "$clients" -t "$secs" "$2")
    echo "bench=policyd peer=$1 run=$run $line" | tee -a "$results"
  done
done
median() { grep "peer=$1 " "$results" | sed -n 's/.* rate=\([0-9]*\).*/\1/p' | sort -n | \
           awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
o_tcp=$(median osd-tcp); o_unix=$(median osd-unix); p_tcp=$(median postfwd-tcp)
echo "bench=policyd clients=$clients osd_tcp=$o_tcp osd_unix=$o_unix postfwd_tcp=$p_tcp" \
     "ratio_tcp=$(awk -v a="$o_tcp" -v b="$p_tcp" 'BEGIN{printf "%.1f", b ? a/b : 0}')" \
     "target_20k=$([ "$o_tcp" -ge 20000 ] && [ "$o_unix" -ge 20000 ] && echo met || echo missed)" \
     "load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
