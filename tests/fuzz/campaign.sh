#!/usr/bin/env bash
# campaign.sh - a long libFuzzer sitting over every target (ASan+UBSan), rotating, at nice 19:
# grows each corpus, merges what is new back into tests/fuzz/corpus/<target> minimised
# (-merge=1), keeps crashing inputs, and appends one ledger row per target to
# tests/fuzz/README.md. How to run it, and what the ledger means: tests/fuzz/README.md.
#
#   tests/fuzz/campaign.sh [-s SECS_PER_SLOT] [-u HH:MM (UTC) | -d TOTAL_SECS] [-t t1,t2] [-b BUILD]
#   tests/fuzz/campaign.sh -l     # the ledger's CPU seconds summed per target
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
readme="$here/README.md"
slot=300
until_epoch=
build="$src/build-fuzz"
only=

usage() { sed -n '2,8p' "$0" >&2; exit 2; }

# Sum the ledger's CPU seconds and executions per target (rows: | date | target | cpu_s | ...).
ledger_totals() {
	awk -F'|' '/^\| 20[0-9][0-9]-/ { t = $3; gsub(/ /, "", t); cpu[t] += $4; ex[t] += $6 }
		END { for (t in cpu) printf "%-16s %8.0f CPU s  %6.2f CPU h  %14.0f execs\n", t, cpu[t], cpu[t] / 3600, ex[t] }' \
		"$readme" | sort
}

while getopts "s:u:d:t:b:lh" opt; do
	case $opt in
	s) slot=$OPTARG ;;
	u) until_epoch=$(date -u -d "$OPTARG" +%s) ;;
	d) until_epoch=$(($(date +%s) + OPTARG)) ;;
	t) only=$OPTARG ;;
	b) build=$OPTARG ;;
	l) ledger_totals; exit 0 ;;
	*) usage ;;
	esac
done
[ -n "$until_epoch" ] || until_epoch=$(($(date +%s) + 3600))

# The ASan+UBSan libFuzzer build (clang: Debian's clang and libclang-rt-14-dev).
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$src" -Dfuzz=true -Dsanitize=true >/dev/null
fi
mapfile -t all < <(ninja -C "$build" -t targets all | sed -n 's,^tests/fuzz/fuzz-\([a-z0-9_]*\):.*,\1,p' | sort -u)
if [ -n "$only" ]; then
	IFS=, read -r -a targets <<<"$only"
else
	targets=("${all[@]}")
fi
[ "${#targets[@]}" -gt 0 ] || { echo "campaign: no fuzz targets in $build (-Dfuzz=true?)" >&2; exit 1; }
nice -n 19 ninja -C "$build" "${targets[@]/#/tests/fuzz/fuzz-}" >/dev/null

state="$build/campaign"
mkdir -p "$state"
declare -A cpu execs cov
for t in "${targets[@]}"; do
	cpu[$t]=0 execs[$t]=0 cov[$t]=0
done

# One ledger row per slot, appended as soon as the slot ends: a sitting that is
# killed (SIGKILL, the machine going away) keeps every slot it finished.
ledger_row() {
	local t=$1 secs=$2 execs=$3 cov=$4 found=$5 files
	files=$(find "$here/corpus/$t" -type f | wc -l)
	printf '| %s | %s | %s | 1 | %s | %s | %s | %s |\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$t" "$secs" \
		"$execs" "$cov" "$files" "$found" >>"$readme"
}
child=
trap 'if [ -n "$child" ]; then kill -TERM -- "-$child" 2>/dev/null || true; fi; exit 130' INT TERM

# One slot of target t: fuzz for secs, then merge the new inputs into the committed corpus.
run_slot() {
	local t=$1 secs=$2 bin="$build/tests/fuzz/fuzz-$1" grown="$state/grown/$1"
	local art="$state/artifacts/$1" log="$state/log/$1.$(date +%s).log" dict=() before after u s used ran
	mkdir -p "$grown" "$art" "$state/log"
	[ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
	before=$(find "$art" -type f | wc -l)
	# -timeout: an input that takes 10 s is a hang, a finding like a crash.
	# A session of its own (setsid), so that the trap can stop time(1) and the fuzzer together.
	setsid /usr/bin/time -f '%U %S' -o "$state/time.$t" nice -n 19 "$bin" -max_total_time="$secs" \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" \
		"${dict[@]}" "$grown" "$here/corpus/$t" >"$log" 2>&1 &
	# In the background, so that a TERM is handled at once (the trap stops the fuzzer).
	child=$!
	wait "$child" || true
	child=
	# time(1) puts "Command exited with non-zero status" first when the fuzzer found something.
	read -r u s < <(tail -n 1 "$state/time.$t") || { u=0; s=0; }
	used=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.0f", u + s }')
	ran=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 | grep . || echo 0)
	cov[$t]=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{ print $2 }' | grep . || echo "${cov[$t]}")
	after=$(find "$art" -type f | wc -l)
	[ "$after" -gt "$before" ] && echo "campaign: $t: FINDING, see $art and $log" >&2
	# Only inputs that add coverage go into the committed corpus; hand-made seeds stay.
	nice -n 19 "$bin" -merge=1 "$here/corpus/$t" "$grown" >>"$log" 2>&1 || true
	ledger_row "$t" "$used" "$ran" "${cov[$t]}" $((after - before))
	cpu[$t]=$((cpu[$t] + used)) execs[$t]=$((execs[$t] + ran))
	echo "campaign: $t ${secs}s cpu=${cpu[$t]} execs=${execs[$t]} cov=${cov[$t]}" >&2
}

while :; do
	for t in "${targets[@]}"; do
		left=$((until_epoch - $(date +%s) - 30))
		[ "$left" -ge 10 ] || exit 0
		run_slot "$t" $((left < slot ? left : slot))
	done
done
