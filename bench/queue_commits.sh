#!/usr/bin/env bash
# queue_commits.sh - what one acknowledged message costs osd smtpd in journal commits and system calls.
#
#   bench/queue_commits.sh [--msgs N] [--sessions N] [--strace-msgs N] BUILD...
#
# For each BUILD (a meson build folder holding `osd`; e.g. a build of main
# and one of a branch): a private journaled ext4 (bench/benchfs.sh), an
# osd smtpd with fsync = yes on it, then smtp-source sends --msgs (2000) 4 KB
# messages over --sessions (20) sessions, one per connection and then
# persistent (-d).  Printed per message: the jbd2 transactions committed on
# that file system (/proc/fs/jbd2/DEV-8/info; nothing else writes there) and
# the wall time.  Then, with --strace-msgs (300) messages one per connection,
# `strace -c -f` on the smtpd tree: every system call per message, and the
# sync calls (fsync, fdatasync, sync_file_range) on their own line.
# Needs root (mount), smtp-source (postfix), strace.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
msgs=2000
sessions=20
strace_msgs=300
usage() { sed -n '2,16s/^# \{0,1\}//p' "$0"; }
while [ $# -gt 0 ]; do
	case $1 in
	--msgs) msgs=$2; shift ;;
	--sessions) sessions=$2; shift ;;
	--strace-msgs) strace_msgs=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	-*) usage >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
[ $# -ge 1 ] || { usage >&2; exit 2; }
for tool in /usr/sbin/smtp-source strace mkfs.ext4 losetup; do
	command -v "$tool" >/dev/null || { echo "queue_commits: $tool is missing" >&2; exit 1; }
done
# shellcheck source=bench/benchfs.sh
. "$here/benchfs.sh"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
commits() { awk 'NR==1 {print $1}' "/proc/fs/jbd2/$1/info"; }
now() { date +%s.%N; }

one_build() {
	local build=$1 work port pid dev c0 c1 t0 t1 mode flags
	work=$(mktemp -d "${TMPDIR:-/tmp}/queue-commits.XXXXXX")
	benchfs_mount "$work" "$work.img" 2G 200000
	dev=$(basename "$(findmnt -n -o SOURCE "$work")")-8
	mkdir -p "$work/control" "$work/state"
	port=$(free_port)
	benchfs_osd_conf "$work" "$port"
	: >"$work/tcp.smtp"
	"$build/osd" smtpd -c "$work/osd.conf" 2>"$work/osd.log" &
	pid=$!
	for _ in $(seq 50); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
	send() { /usr/sbin/smtp-source "$@" -l 4096 -M client.example.test -f from@example.test \
		-t to@example.test "127.0.0.1:$port" >/dev/null; }
	send -s 2 -m 20            # warm-up: folders made, first processes forked
	sync
	for mode in "one per connection" persistent; do
		flags=""; [ "$mode" = persistent ] && flags=-d
		c0=$(commits "$dev"); t0=$(now)
		# shellcheck disable=SC2086
		send $flags -s "$sessions" -m "$msgs"
		t1=$(now); c1=$(commits "$dev")
		awk -v b="$build" -v m="$mode" -v n="$msgs" -v c=$((c1 - c0)) -v t0="$t0" -v t1="$t1" \
			-v l="$(cut -d' ' -f1-3 /proc/loadavg)" 'BEGIN {
			printf "%s | %s | %d msgs | %.2f journal commits/msg | %.0f msgs/s | load %s\n",
			       b, m, n, c / n, n / (t1 - t0), l }'
	done
	# The server and its session processes (reused ones are alive already); -f takes new ones.
	local p pids=()
	for p in $pid $(ps -o pid= --ppid "$pid"); do pids+=(-p "$p"); done
	strace -c -f -q -o "$work/strace.txt" "${pids[@]}" &
	local spid=$!
	sleep 1
	send -s "$sessions" -m "$strace_msgs"
	sleep 0.5
	kill -INT "$spid"; wait "$spid" 2>/dev/null || true
	awk -v b="$build" -v n="$strace_msgs" '
		$NF == "total" { total = $4 }
		$NF ~ /^(fsync|fdatasync|sync_file_range|fchmod|rename|renameat2|openat|flock|fstatfs)$/ { c[$NF] = $4 }
		END {
			printf "%s | strace -c -f, %d msgs one per connection | %.1f syscalls/msg |", b, n, total / n
			for (k in c) printf " %s %.2f", k, c[k] / n
			printf " (per msg)\n"
		}' "$work/strace.txt"
	kill "$pid"; wait "$pid" 2>/dev/null || true
	benchfs_umount
	rm -rf "$work"
}

for b in "$@"; do
	one_build "$b"
done
