#!/usr/bin/env bash
# run-all.sh - run every osd benchmark, each side by side with its peer.
#
#   bench/run-all.sh [--full] [--build DIR] [--no-build] [--tmpdir DIR] [--no-smtpd] [--no-queue]
#
# Default: sizes small enough to finish in a few minutes on 2 cores
# (recording 200k osd / 3k vpopmail logins; latency at 1k and 100k entries;
# rebuild of 100k entries).  --full: the issue's sizes (latency also at 1M,
# rebuild of 1M entries, 5k vpopmail logins, 5 recording runs); allow
# about 5-6 minutes, far more if many files were deleted just before (see
# the Caveats in bench/README.md).
# Last, as root: bench_smtpd.sh (osd smtpd against a private Postfix) with
# --quick (about 1.5 minutes), or with its own sizes under --full (about 5
# minutes more).  Skipped when not root or with --no-smtpd.
# Then, as root: bench_queue.sh (osd queue and delivery end to end against
# Postfix, and 100,000 deferred messages) with --quick (about 1.5 minutes), or
# its defaults under --full (about 10 minutes more).  --no-queue skips it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${OSD_BUILD:-$here/../build}
full=0
compile=1
tmpdir=${TMPDIR:-/tmp}
smtpd=1
queue=1

usage() {
	sed -n '2,18s/^# \{0,1\}//p' "$0"
}

while [ $# -gt 0 ]; do
	case $1 in
	--full) full=1 ;;
	--build) build=$2; shift ;;
	--no-build) compile=0 ;;
	--tmpdir) tmpdir=$2; shift ;;
	--no-smtpd) smtpd=0 ;;
	--no-queue) queue=0 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 100 ;;
	esac
	shift
done
build=$(cd "$build" && pwd)

for tool in tcprules python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "run-all: $tool is missing (scripts/install-deps.sh installs it)" >&2
		exit 111
	fi
done
if [ $compile = 1 ]; then
	meson compile -C "$build" >/dev/null || {
		echo "run-all: meson compile -C $build failed" >&2
		exit 111
	}
fi
for prog in osd osd-watch bench/bench-record bench/bench-relaydb-write; do
	if [ ! -x "$build/$prog" ]; then
		echo "run-all: $build/$prog is missing: build first" >&2
		exit 111
	fi
done

if [ $full = 1 ]; then
	record_args=(-n 200000 -N 5000 -r 5)
	latency_args=(--sizes 1000,100000,1000000 --runs 3 --secs 10)
	rebuild_args=(--runs 3)         # on the 1M folder of the latency run
else
	record_args=(-n 200000 -N 3000 -r 3)
	latency_args=(--sizes 1000,100000 --runs 3 --secs 10)
	rebuild_args=(--runs 3)         # on the 100k folder of the latency run
fi

export TMPDIR=$tmpdir
# bench_latency.py grows one open-smtp folder through its sizes and leaves it
# here; bench_rebuild.py then measures that folder: the files are made once.
shared=$(mktemp -d "$tmpdir/osd-bench.XXXXXX")
trap 'rm -rf "$shared"' EXIT
trap 'exit 130' INT TERM

echo "# osd benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $tmpdir on $(stat -f -c %T "$tmpdir"), build $build"
echo "# recording rate"
# -k: its folders go at the end with the rest (a mass deletion slows the
# file creation that follows on some file systems: see README.md).
"$build/bench/bench-record" -d "$shared" -k "${record_args[@]}"
sync     # let the recording benchmark's writes reach the disk first
echo "# login -> relay.cdb latency"
python3 "$here/bench_latency.py" --build "$build" --base "$shared" "${latency_args[@]}"
sync
echo "# full rebuild"
python3 "$here/bench_rebuild.py" --build "$build" --tmpdir "$tmpdir" \
	--open-smtp "$shared/state/open-smtp" "${rebuild_args[@]}"
sync
if [ $smtpd = 1 ] && [ "$(id -u)" = 0 ]; then
	echo "# smtpd vs postfix"
	smtpd_args=(--quick)
	[ $full = 1 ] && smtpd_args=()
	"$here/bench_smtpd.sh" --build "$build" --no-build --tmpdir "$tmpdir" "${smtpd_args[@]}"
elif [ $smtpd = 1 ]; then
	echo "# smtpd vs postfix: skipped (bench_smtpd.sh needs root)"
fi
if [ $queue = 1 ] && [ "$(id -u)" = 0 ]; then
	echo "# queue manager and delivery vs postfix"
	queue_args=(--quick)
	[ $full = 1 ] && queue_args=()
	"$here/bench_queue.sh" --build "$build" --no-build --tmpdir "$tmpdir" "${queue_args[@]}"
elif [ $queue = 1 ]; then
	echo "# queue manager and delivery vs postfix: skipped (bench_queue.sh needs root)"
fi
