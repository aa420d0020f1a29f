#!/bin/sh
# bench_list.sh - osd list on N live entries (default 1M, each naming its user in
# user.osd.login) against the nearest job a classic tool does on the same folder:
# find printing every entry's name and mtime, piped to sort.  Medians of --runs.
#
#   bench/bench_list.sh [--entries 1000000] [--runs 3] [--build DIR] [--tmpdir DIR]
#
# Output: key=value lines, "bench=list", run= lines per run, then medians and
# the ratio osd/peer (below 1: osd is faster), and the target (<= 2 s) met or missed.
set -eu

entries=1000000
runs=3
build=${OSD_BUILD:-build}
tmpbase=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
	case "$1" in
	--entries) entries=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--tmpdir) tmpbase=$2; shift 2 ;;
	*) echo "usage: $0 [--entries N] [--runs R] [--build DIR] [--tmpdir DIR]" >&2; exit 100 ;;
	esac
done
osd=$(cd "$build" && pwd)/osd
[ -x "$osd" ] || { echo "bench_list: $osd not built" >&2; exit 111; }

work=$(mktemp -d "$tmpbase/osd-bench-list.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/state/open-smtp"
printf 'state_dir = %s/state\nrules = %s/tcp.smtp\nrelay_expire = 3h\n' "$work" "$work" > "$work/osd.conf"
: > "$work/tcp.smtp"

# The entries: IPv4 10.x.y.z and one in ten IPv6, zero-size, mtime within the
# last hour, each with a user (50,000 users: several entries each, as roaming).
python3 - "$work/state/open-smtp" "$entries" <<'EOF'
import ipaddress, os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
now = int(time.time())
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
for i in range(n):
    name = str(ipaddress.IPv6Address("2001:db8::%x:%x" % (i >> 16, i & 0xffff))) if i % 10 == 0 else \
           "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255)
    f = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.setxattr(f, "user.osd.login", b"user%d@example.test" % (i % 50000))
    t = now - (i % 3600)
    os.utime(f, (t, t))
    os.close(f)
EOF

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# Wall time, and the CPU time (user + system) of each side from GNU time:
# on a machine shared with other work the CPU time is the steadier figure.
[ -x /usr/bin/time ] || { echo "bench_list: needs GNU time (Debian package time)" >&2; exit 111; }
osd_times=""
peer_times=""
osd_cpus=""
peer_cpus=""
i=1
while [ "$i" -le "$runs" ]; do
	/usr/bin/time -o "$work/osd.time" -f "%e %U %S" "$osd" list -c "$work/osd.conf" > "$work/osd.out"
	(cd "$work/state" && /usr/bin/time -o "$work/peer.time" -f "%e %U %S" sh -c \
		"find open-smtp -mindepth 1 -maxdepth 1 -type f -printf '%f %T@\n' | LC_ALL=C sort") > "$work/peer.out"
	o=$(awk '{ print $1 }' "$work/osd.time")
	p=$(awk '{ print $1 }' "$work/peer.time")
	oc=$(awk '{ printf "%.2f", $2 + $3 }' "$work/osd.time")
	pc=$(awk '{ printf "%.2f", $2 + $3 }' "$work/peer.time")
	echo "bench=list run=$i entries=$entries osd_s=$o osd_cpu_s=$oc peer_s=$p peer_cpu_s=$pc osd_lines=$(wc -l < "$work/osd.out") peer_lines=$(wc -l < "$work/peer.out")"
	osd_times="$osd_times $o"
	peer_times="$peer_times $p"
	osd_cpus="$osd_cpus $oc"
	peer_cpus="$peer_cpus $pc"
	i=$((i + 1))
done
med() { echo "$1" | tr ' ' '\n' | grep . | median; }
mo=$(med "$osd_times")
mp=$(med "$peer_times")
moc=$(med "$osd_cpus")
mpc=$(med "$peer_cpus")
ratio=$(awk -v a="$mo" -v b="$mp" 'BEGIN { printf "%.2f", a / b }')
ratio_cpu=$(awk -v a="$moc" -v b="$mpc" 'BEGIN { printf "%.2f", a / b }')
target=$(awk -v a="$mo" 'BEGIN { print (a <= 2.0) ? "met" : "missed" }')
echo "bench=list entries=$entries runs=$runs peer=find+sort osd_median_s=$mo peer_median_s=$mp ratio_osd_over_peer=$ratio osd_median_cpu_s=$moc peer_median_cpu_s=$mpc ratio_cpu=$ratio_cpu target_2s=$target load=$(cut -d' ' -f1 /proc/loadavg)"
