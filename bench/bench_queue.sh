#!/usr/bin/env bash
# bench_queue.sh - osd queue (the queue manager) and delivery against Postfix and OpenSMTPD, end to end.
#
#   bench/bench_queue.sh [--quick] [--msgs N] [--big-msgs N] [--repeat N] [--sessions N]
#                        [--queue-msgs N] [--deferred N] [--lat-msgs N] [--lat-rate R]
#                        [--accept-msgs N] [--runs N] [--starts N] [--build DIR] [--no-build]
#                        [--no-opensmtpd] [--fs loop|loop-nojournal|tmpdir] [--tmpdir DIR] [--harness PATH] [--keep]
#
# OpenSMTPD (bench/peer-opensmtpd.sh, relaying to the same sink) is a second
# target of part 1's "accept big" call (--no-opensmtpd leaves it out); the
# summary compares osd with the faster peer and prints every run's rate.
# --fs loop (the default): the temp folder is a private journaled ext4
# (bench/benchfs.sh, an 8 GB sparse loop image beside it); loop-nojournal:
# the same without a journal (as this machine's root); tmpdir: as it is.
# Part 1, in the same run as Postfix: ../shared/bench/peer-postfix.sh with
# TARGET_E2E=1 and --target osd=127.0.0.1:PORT.  osd (smtpd + queue, fsync =
# yes, rcpthosts example.test, no local domain) relays everything through
# control/smtproutes ":127.0.0.1:SINK" to the harness's smtp-sink on
# --sink-port SINK, as Postfix does (relayhost).  Tests "accept big": 4 KB
# and 100 KB messages, one per connection, --sessions (20) at once; rates
# from the gate's acceptance and end to end (all counted at the sink).  Then
# the harness's "queue" test with --queue-msgs (20000) deferred (sink
# stopped): acceptance with that queue, and postqueue -p against `osd qread`
# (TARGET_QLIST_CMD).  --queue-msgs 0 skips it.
# Part 2, osd alone, with --deferred (100000) messages queued: they are
# written straight into queue/mess/NN and queue/info/NN in the documented
# format (bench/queue_tool.py fill: one remote recipient at deferred.test,
# routed to a closed port, tried once, next try in 24 h), which is what
# `osd queue` leaves after one failed attempt each.  Measured: the queue
# manager's start-up (--starts, 3: until its "ready:" line), `osd qstat` and
# `osd qread > /dev/null` (median of --runs, 5), new-mail latency (smtpd's
# 250 -> arrival at a sink of bench/queue_tool.py; --lat-msgs 1000 at
# --lat-rate 20/s, one connection each; --repeat runs), smtpd's acceptance
# and the end-to-end rate meanwhile (smtp-source, --accept-msgs 5000,
# --sessions), and the queue manager's peak PSS (alone, and with its
# delivery children) from /proc/PID/smaps_rollup every 0.1 s.
# Defaults: --msgs 3000 --big-msgs 600 --repeat 3: about 12 minutes on 2
# cores.  --quick: --msgs 500 --big-msgs 100 --repeat 1 --queue-msgs 2000
# --deferred 20000 --lat-msgs 200 --accept-msgs 1000 --runs 3 (about 3
# minutes).  Needs root (the private Postfix).  Build: build-j/ (debugoptimized).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${OSD_BUILD:-$root/build-j}
harness=${PEER_POSTFIX:-$root/../shared/bench/peer-postfix.sh}
tmpdir=${TMPDIR:-/tmp}
msgs=3000
big_msgs=600
repeat=3
sessions=20
queue_msgs=20000
deferred=100000
lat_msgs=1000
lat_rate=20
accept_msgs=5000
runs=5
starts=3
compile=1
keep=0
fs=loop
opensmtpd=1

usage() { sed -n '2,44s/^# \{0,1\}//p' "$0"; }
while [ $# -gt 0 ]; do
	case $1 in
	--quick) msgs=500; big_msgs=100; repeat=1; queue_msgs=2000; deferred=20000; lat_msgs=200
		 accept_msgs=1000; runs=3 ;;
	--msgs) msgs=$2; shift ;;
	--big-msgs) big_msgs=$2; shift ;;
	--repeat) repeat=$2; shift ;;
	--sessions) sessions=$2; shift ;;
	--queue-msgs) queue_msgs=$2; shift ;;
	--deferred) deferred=$2; shift ;;
	--lat-msgs) lat_msgs=$2; shift ;;
	--lat-rate) lat_rate=$2; shift ;;
	--accept-msgs) accept_msgs=$2; shift ;;
	--runs) runs=$2; shift ;;
	--starts) starts=$2; shift ;;
	--build) build=$2; shift ;;
	--no-build) compile=0 ;;
	--tmpdir) tmpdir=$2; shift ;;
	--fs) fs=$2; shift ;;
	--harness) harness=$2; shift ;;
	--keep) keep=1 ;;
	--no-opensmtpd) opensmtpd=0 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 100 ;;
	esac
	shift
done

die() { echo "bench_queue: $*" >&2; exit 111; }
[ "$(id -u)" = 0 ] || die "run as root (the harness starts a private Postfix)"
[ -f "$harness" ] || die "harness $harness is missing (expected ../shared/bench/peer-postfix.sh next to the project; set --harness or PEER_POSTFIX)"
for tool in python3 /usr/sbin/smtp-source /usr/sbin/postfix meson; do
	command -v "$tool" >/dev/null || die "$tool is missing (Debian postfix, python3, meson)"
done
if [ ! -f "$build/build.ninja" ]; then
	[ $compile = 1 ] || die "$build is not a configured build folder"
	meson setup "$build" --buildtype=debugoptimized -Dtests=false >/dev/null || die "meson setup $build failed"
fi
build=$(cd "$build" && pwd)
if [ $compile = 1 ]; then
	meson compile -C "$build" >/dev/null || die "meson compile -C $build failed"
fi
for f in osd osd-smtpd osd-queue osd-remote osd-qstat osd-qread; do
	[ -x "$build/$f" ] || die "$build/$f is missing: build first"
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); pf_port=$(free_port); sink_port=$(free_port); lat_port=$(free_port); dead_port=$(free_port)
os_port=$(free_port)
# shellcheck source=peer-opensmtpd.sh
. "$here/peer-opensmtpd.sh"
[ $opensmtpd = 0 ] || osmtpd_fetch

# One folder for everything: osd's queue and Postfix's spool are on the same
# file system, so both fsync to the same disk.
work=$(mktemp -d "$tmpdir/osd-queuebench.XXXXXX")
chmod 755 "$work"
# shellcheck source=benchfs.sh
. "$here/benchfs.sh"
case $fs in
loop) benchfs_mount "$work" "$work.img" 8G 1000000 || die "cannot make the private file system (--fs tmpdir runs without it)" ;;
loop-nojournal) benchfs_mount "$work" "$work.img" 8G 1000000 -O ^has_journal || die "cannot make the private file system" ;;
tmpdir) ;;
*) die "--fs loop, loop-nojournal or tmpdir" ;;
esac
smtpd_pid="" qmgr_pid="" qpeak_pid=""
stop_pid() {  # pid: SIGTERM, then up to 15 s (osd queue gives deliveries 10 s), then SIGKILL
	local p=$1
	[ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 0
	kill "$p"
	for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$p" 2>/dev/null && kill -9 "$p"
	wait "$p" 2>/dev/null || true
}
cleanup() {
	[ -n "$qpeak_pid" ] && kill "$qpeak_pid" 2>/dev/null
	stop_pid "$qmgr_pid"; stop_pid "$smtpd_pid"
	osmtpd_stop
	if [ "$keep" = 1 ]; then
		echo "# kept $work${BENCHFS_DIR:+ (still mounted from $BENCHFS_IMAGE: umount it, then remove both)}"
	else
		benchfs_umount
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/control" "$work/state" "$work/aside"
benchfs_osd_conf "$work" "$port"
printf ':127.0.0.1:%s\n' "$sink_port" >"$work/control/smtproutes"
conf=$work/osd.conf
osd=$build/osd
qdir=$work/state/queue

start_qmgr() {  # start osd queue; sets qmgr_pid and startup_ms (until its "ready:" line)
	local log=$work/queue.log.$1 t0 t1
	: >"$log"
	t0=$(date +%s%N)
	"$osd" queue -c "$conf" 2>"$log" &
	qmgr_pid=$!
	until grep -q 'ready:' "$log"; do
		kill -0 "$qmgr_pid" 2>/dev/null || { cat "$log" >&2; die "osd queue did not start"; }
		sleep 0.01
	done
	t1=$(date +%s%N)
	startup_ms=$(( (t1 - t0) / 1000000 ))
}
med() { sort -n | awk '{a[NR]=$1} END{if (NR) print a[int((NR+1)/2)]; else print "-"}'; }
timed() {  # command... -> wall seconds on stdout (the command's output goes to /dev/null)
	local t0 t1
	t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
	awk -v d=$((t1 - t0)) 'BEGIN{printf "%.3f\n", d / 1e9}'
}

echo "# osd queue vs postfix and opensmtpd, load average $(cut -d" " -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(benchfs_describe "$tmpdir")," \
	"build $build ($(sed -n "s/^buildtype *= *//p" "$build/meson-private/cmd_line.txt" 2>/dev/null || true)), osd at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "# msgs=$msgs big_msgs=$big_msgs repeat=$repeat sessions=$sessions queue_msgs=$queue_msgs deferred=$deferred" \
	"lat_msgs=$lat_msgs lat_rate=$lat_rate accept_msgs=$accept_msgs runs=$runs; osd on 127.0.0.1:$port," \
	"postfix on 127.0.0.1:$pf_port, harness sink on $sink_port"
t0=$(date +%s)
"$osd" smtpd -c "$conf" 2>"$work/smtpd.log" &
smtpd_pid=$!
for _ in $(seq 50); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
ss -Hltn "sport = :$port" | grep -q . || { cat "$work/smtpd.log" >&2; die "osd smtpd did not start"; }
start_qmgr 0
out=$work/results
: >"$out"

# ---- part 1: the harness, osd and Postfix end to end in the same run
harness_call() {  # tag opensmtpd(0/1) tests...
	local tag=$1 withos=$2; shift 2
	local targets=(--target "osd=127.0.0.1:$port")
	echo "# --- harness: tests \"$*\" ($(( $(date +%s) - t0 )) s so far; load average $(cut -d' ' -f1-3 /proc/loadavg))"
	if [ "$withos" = 1 ]; then  # a fresh OpenSMTPD relaying to the harness's sink
		osmtpd_start "$os_port" "$sink_port" "$work/os.$tag"
		targets+=(--target "opensmtpd=127.0.0.1:$os_port")
	fi
	python3 "$here/idle_sessions.py" --peak "$work/peak.$tag" --watch "osd-smtpd=$smtpd_pid" \
		--watch "osd-queue=$qmgr_pid" --watch "postfix=@$work/pf.$tag/spool/pid/master.pid" \
		${OSMTPD_PID:+--watch "opensmtpd=$OSMTPD_PID"} &
	local tree=$!
	python3 "$here/queue_tool.py" peak --pid "$qmgr_pid" --out "$work/qpeak.$tag" &
	qpeak_pid=$!
	TARGET_E2E=1 TARGET_QLIST_CMD="$osd qread -c $conf" \
		bash "$harness" --port "$pf_port" --sink-port "$sink_port" --msgs "$msgs" \
		--big-msgs "$big_msgs" --sessions "$sessions" --queue-msgs "$queue_msgs" \
		--repeat "$repeat" --tests "$*" --workdir "$work/pf.$tag" \
		"${targets[@]}" | sed -u "s/^peer=/tag=$tag peer=/" | tee -a "$out"
	kill "$tree" "$qpeak_pid"; wait "$tree" "$qpeak_pid" 2>/dev/null || true
	qpeak_pid=""
	if [ "$withos" = 1 ]; then
		echo "# OpenSMTPD: $(grep -c 'smtp message' "$OSMTPD_WORK/smtpd.log" || true) accepted," \
			"$(grep -c 'mta delivery.*result="Ok"' "$OSMTPD_WORK/smtpd.log" || true) relayed," \
			"$(osmtpd_queued) left in its queue; $(grep -c '^warn\|fatal' "$OSMTPD_WORK/smtpd.log" || true) warn: lines (the sink stops with the harness: refused relays are logged)"
		osmtpd_stop
	fi
	sed "s/^/tag=$tag run=treepeak /" "$work/peak.$tag" | tee -a "$out"
	sed "s/^/tag=$tag run=qmgrpeak /" "$work/qpeak.$tag" | tee -a "$out"
}
harness_call e2e "$opensmtpd" accept big
[ "$queue_msgs" -gt 0 ] && harness_call queue 0 queue

# ---- part 2: osd with $deferred deferred messages
echo "# --- $deferred deferred messages ($(( $(date +%s) - t0 )) s so far)"
stop_pid "$qmgr_pid"; qmgr_pid=""
left=$(find "$qdir/mess" "$qdir/new" -type f 2>/dev/null | wc -l)
echo "# left in osd's queue after part 1: $left (moved aside)"
mv "$qdir" "$work/aside/queue.1"
install -d -o mail -g "$(id -gn mail)" -m 700 "$qdir"
python3 "$here/queue_tool.py" fill --queue "$qdir" --count "$deferred" --size 4096 | tee -a "$out"
sync
printf 'deferred.test:127.0.0.1:%s\n:127.0.0.1:%s\n' "$dead_port" "$lat_port" >"$work/control/smtproutes"
for i in $(seq 1 "$starts"); do
	[ -n "$qmgr_pid" ] && stop_pid "$qmgr_pid"
	start_qmgr "d$i"
	echo "bench=queue test=startup run=$i queued=$deferred ms=$startup_ms $(grep -o 'ready: [0-9]* message' "$work/queue.log.d$i")" | tee -a "$out"
done
python3 "$here/queue_tool.py" peak --pid "$qmgr_pid" --out "$work/qpeak.deferred" &
qpeak_pid=$!
sleep 1
echo "# osd qstat: $("$osd" qstat -c "$conf" | tr '\n' ' ')"
for i in $(seq 1 "$runs"); do
	echo "bench=queue test=qstat run=$i queued=$deferred secs=$(timed "$osd" qstat -c "$conf")" | tee -a "$out"
done
for i in $(seq 1 "$runs"); do
	echo "bench=queue test=qread run=$i queued=$deferred secs=$(timed "$osd" qread -c "$conf")" | tee -a "$out"
done
echo "# osd qread: $("$osd" qread -c "$conf" | wc -l) lines"
python3 "$here/queue_tool.py" latency --smtp "$port" --sink-port "$lat_port" --msgs "$lat_msgs" \
	--rate "$lat_rate" --runs "$repeat" --accept-msgs "$accept_msgs" --accept-sessions "$sessions" |
	tee -a "$out"
kill "$qpeak_pid"; wait "$qpeak_pid" 2>/dev/null || true; qpeak_pid=""
sed "s/^/tag=deferred run=qmgrpeak /" "$work/qpeak.deferred" | tee -a "$out"
echo "# queue manager log: $(grep -c 'end msg' "$work/queue.log.d$starts" || true) delivered," \
	"$(grep -ci 'warn\|fatal' "$work/queue.log.d$starts" || true) warnings; qstat now: $("$osd" qstat -c "$conf" | head -1)"

# ---- summary
python3 - "$out" "$deferred" "$queue_msgs" <<'EOF'
import statistics, sys
med, peaks, lines, runs = {}, {}, [], {}
deferred, qmsgs = sys.argv[2], sys.argv[3]
for ln in open(sys.argv[1]):
    kv = dict(x.split('=', 1) for x in ln.split() if '=' in x)
    if kv.get('run') == 'median' and 'peer' in kv:
        med[(kv['peer'], kv['test'])] = kv
    elif kv.get('run') in ('treepeak', 'qmgrpeak'):
        peaks[(kv['tag'], kv['run'], kv.get('peer', ''))] = kv
    elif kv.get('bench') == 'queue':
        lines.append(kv)
    elif kv.get('run', '').isdigit() and 'peer' in kv and 'rate' in kv:
        runs.setdefault((kv['peer'], kv['test']), []).append(kv['rate'])
def mb(kb): return f'{int(kb) / 1024:.1f}' if kb not in (None, '') else '-'
what = {'accept': 'accepted/s, 4 KB', 'accept-e2e': 'end to end/s, 4 KB',
        'big': 'accepted/s, 100 KB', 'big-e2e': 'end to end/s, 100 KB',
        'queue-accept': f'accepted/s, 4 KB, {qmsgs} deferred', 'queue-list': f'listing s, {qmsgs} queued'}
print()
ratios, trends = [], []
print(f'{"test":<13} {"what (median)":<32} {"osd":>8} {"postfix":>8} {"opensmtpd":>9} {"osd ÷ faster":>12}  target')
for t in ('accept', 'accept-e2e', 'big', 'big-e2e', 'queue-accept', 'queue-list'):
    o = med.get(('osd', t))
    have = {p: med[(p, t)] for p in ('postfix', 'opensmtpd') if (p, t) in med}
    if not o or not have:
        continue
    key = 'secs' if t == 'queue-list' else 'rate'
    ov = float(o[key])
    vals = {p: float(v[key]) for p, v in have.items()}
    if t == 'queue-list':                              # above 1: osd lists faster
        fast = min(vals, key=vals.get)
        r = vals[fast] / ov if ov else float('inf')
    else:
        fast = max(vals, key=vals.get)
        r = ov / vals[fast] if vals[fast] else float('inf')
    tgt = ''
    if t in ('accept-e2e', 'big-e2e'):
        tgt = '>=1.5x ' + ('met' if r >= 1.5 else 'missed')
    cell = lambda p, w: f'{have[p][key]:>{w}}' if p in have else f'{"-":>{w}}'
    print(f'{t:<13} {what[t]:<32} {o[key]:>8} {cell("postfix", 8)} {cell("opensmtpd", 9)} {r:>11.2f}x  {tgt}')
    ratios.append(f'ratio test={t} osd={o[key]} ' + ' '.join(f'{p}={have[p][key]}' for p in have) +
                  f' faster_peer={fast} ratio={r:.2f}')
    for p in ('osd',) + tuple(have):
        rr = runs.get((p, t), [])
        if rr and t != 'queue-list':
            trends.append(f'trend test={t} peer={p} runs={",".join(rr)}'
                          f' last_per_first={float(rr[-1]) / float(rr[0]):.2f}' if float(rr[0]) else '')
print('\n'.join(ratios))
print('per-run rates (run 1, 2, ...: a falling trend means something accumulates):')
print('\n'.join(trends))
for tag in ('e2e', 'queue'):
    q = peaks.get((tag, 'qmgrpeak', ''))
    ts = {k[2]: v for k, v in peaks.items() if k[0] == tag and k[1] == 'treepeak'}
    if q or ts:
        print(f'peak PSS, harness "{tag}": osd queue alone {mb(q and q.get("peak_pss_kb"))} MB, '
              f'with its children {mb(q and q.get("peak_tree_pss_kb"))} MB; trees: ' +
              ', '.join(f'{n} {mb(v.get("peak_pss_kb"))} MB' for n, v in sorted(ts.items())))
def col(test, key):
    return [float(k[key]) for k in lines if k.get('test') == test and key in k]
def m(v): return statistics.median(v) if v else float('nan')
print(f'--- osd with {deferred} deferred messages queued (medians)')
st = col('startup', 'ms')
print(f'start-up of osd queue           {m(st):8.0f} ms   ({len(st)} starts)')
qs, qr = col('qstat', 'secs'), col('qread', 'secs')
print(f'osd qstat                       {m(qs) * 1000:8.0f} ms   <=100 ms {"met" if m(qs) <= 0.1 else "missed"}')
print(f'osd qread > /dev/null           {m(qr) * 1000:8.0f} ms   <=1 s {"met" if m(qr) <= 1.0 else "missed"}')
p50, p99 = col('latency', 'p50_ms'), col('latency', 'p99_ms')
print(f'new-mail latency p50            {m(p50):8.1f} ms   (runs: {", ".join(f"{x:.1f}" for x in p50)})')
print(f'new-mail latency p99            {m(p99):8.1f} ms   <=200 ms {"met" if m(p99) <= 200 else "missed"}'
      f'   (runs: {", ".join(f"{x:.1f}" for x in p99)})')
ar, ae = col('accept-deferred', 'rate'), col('accept-deferred', 'e2e_rate')
print(f'smtpd acceptance meanwhile      {m(ar):8.0f} msg/s (4 KB; end to end {m(ae):.0f} msg/s)')
q = peaks.get(('deferred', 'qmgrpeak', ''))
if q:
    print(f'peak PSS of osd queue           {mb(q.get("peak_pss_kb")):>8} MB   (RSS {mb(q.get("peak_rss_kb"))} MB; '
          f'with its delivery children {mb(q.get("peak_tree_pss_kb"))} MB, {q.get("peak_tree_procs")} procs)')
EOF
echo "# total $(( $(date +%s) - t0 )) s; load average at the end $(cut -d" " -f1-3 /proc/loadavg)"
