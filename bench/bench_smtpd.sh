#!/usr/bin/env bash
# bench_smtpd.sh - osd smtpd (the SMTP gate's receiving side) against a private Postfix and OpenSMTPD.
#
#   bench/bench_smtpd.sh [--quick] [--msgs N] [--big-msgs N] [--repeat N] [--sessions "20 100"]
#                        [--tests "accept reuse big setup"] [--idle N] [--build DIR] [--no-build]
#                        [--no-opensmtpd] [--no-sink] [--no-nofsync] [--fs loop|loop-nojournal|tmpdir]
#                        [--tmpdir DIR] [--harness PATH] [--keep]
#
# Peers: Postfix (the harness's own) and OpenSMTPD (bench/peer-opensmtpd.sh:
# Debian's package unpacked, never installed, run in a private mount
# namespace; a fresh instance per harness call, like Postfix), both relaying
# to the harness's smtp-sink.  After each harness call the same smtp-source
# load goes straight to a bare smtp-sink (no disk, no queue): the limit of
# the client on this machine; osd is printed as a fraction of it.
# A second osd with fsync = no (target osd-nofsync) shows osd at the
# durability OpenSMTPD gives (it does not fsync what it accepts).
# --no-opensmtpd, --no-sink and --no-nofsync leave those out.  --fs loop
# (the default): the temp folder is a private journaled ext4
# (bench/benchfs.sh, a 4 GB sparse loop image beside it) so that no
# server's file creates pay for other processes' deletions; loop-nojournal:
# the same without a journal (as this machine's root); tmpdir: as it is.
# Uses the shared harness ../shared/bench/peer-postfix.sh (relative to the
# project root): it starts a private Postfix on loopback (relaying to an
# smtp-sink) and drives it and osd with smtp-source in the same run.  This
# script makes a private osd configuration (fsync = yes, rcpthosts
# example.test, databytes 10 MB, 500 connections) in one temp folder, starts
# `osd smtpd` itself and calls the harness once per (sessions, test) with
# --target osd=127.0.0.1:PORT and TARGET_PID (peak PSS of osd's tree).
# Tests: accept (4 KB, one message per connection), reuse (4 KB, persistent
# sessions), big (100 KB, one per connection), setup (1 KB, one per
# connection: new connections/s; --setup-sessions = --sessions).  Defaults:
# --msgs 5000 (4 KB and setup), --big-msgs 1000, --repeat 3 (medians),
# sessions 20 and 100.  Between harness calls osd's queue/new (there is no
# queue manager yet) is renamed aside; everything is deleted at the end.
# Then: PSS per idle session (after greeting + EHLO) of --idle (50)
# connections, for osd and a fresh private Postfix.  Prints a summary with
# osd against the faster peer (target >= 1.5x, 2x persistent; <= 1 MB PSS per
# idle session), every run's rate (the trend) and the CPU of osd's tree per
# message (user + system of osd smtpd and its children over each harness call).
# --quick: --msgs 500 --big-msgs 100 --repeat 1 (about 2 minutes).  Default run: about 8
# minutes on 2 cores.  Needs root (the private Postfix).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${OSD_BUILD:-$root/build}
harness=${PEER_POSTFIX:-$root/../shared/bench/peer-postfix.sh}
tmpdir=${TMPDIR:-/tmp}
msgs=5000
big_msgs=1000
repeat=3
sessions_list="20 100"
tests="accept reuse big setup"
idle=50
compile=1
keep=0
fs=loop
opensmtpd=1
sinkref=1
nofsync=1

usage() { sed -n '2,42s/^# \{0,1\}//p' "$0"; }
while [ $# -gt 0 ]; do
	case $1 in
	--quick) msgs=500; big_msgs=100; repeat=1 ;;
	--msgs) msgs=$2; shift ;;
	--big-msgs) big_msgs=$2; shift ;;
	--repeat) repeat=$2; shift ;;
	--sessions) sessions_list=$2; shift ;;
	--tests) tests=$2; shift ;;
	--idle) idle=$2; shift ;;
	--build) build=$2; shift ;;
	--no-build) compile=0 ;;
	--tmpdir) tmpdir=$2; shift ;;
	--fs) fs=$2; shift ;;
	--harness) harness=$2; shift ;;
	--keep) keep=1 ;;
	--no-opensmtpd) opensmtpd=0 ;;
	--no-sink) sinkref=0 ;;
	--no-nofsync) nofsync=0 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 100 ;;
	esac
	shift
done

die() { echo "bench_smtpd: $*" >&2; exit 111; }
[ "$(id -u)" = 0 ] || die "run as root (the harness starts a private Postfix)"
[ -f "$harness" ] || die "harness $harness is missing (expected ../shared/bench/peer-postfix.sh next to the project; set --harness or PEER_POSTFIX)"
for tool in python3 /usr/sbin/smtp-source /usr/sbin/postfix meson; do
	command -v "$tool" >/dev/null || die "$tool is missing (Debian postfix, python3, meson)"
done
if [ ! -f "$build/build.ninja" ]; then
	[ $compile = 1 ] || die "$build is not a configured build folder"
	meson setup "$build" --buildtype=debugoptimized >/dev/null || die "meson setup $build failed"
fi
build=$(cd "$build" && pwd)
if [ $compile = 1 ]; then
	meson compile -C "$build" >/dev/null || die "meson compile -C $build failed"
fi
for f in "$build/osd" "$build/osd-smtpd"; do
	[ -x "$f" ] || die "$f is missing: build first"
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); pf_port=$(free_port); sink_port=$(free_port); idle_pf_port=$(free_port)
os_port=$(free_port); ref_port=$(free_port); ref_sink_port=$(free_port); nf_port=$(free_port)
# shellcheck source=peer-opensmtpd.sh
. "$here/peer-opensmtpd.sh"
[ $opensmtpd = 0 ] || osmtpd_fetch

# One folder for everything: osd's state and Postfix's work folders are on
# the same file system, so both fsync to the same disk.
work=$(mktemp -d "$tmpdir/osd-smtpbench.XXXXXX")
chmod 755 "$work"
# shellcheck source=benchfs.sh
. "$here/benchfs.sh"
case $fs in
loop) benchfs_mount "$work" "$work.img" 4G 400000 || die "cannot make the private file system (--fs tmpdir runs without it)" ;;
loop-nojournal) benchfs_mount "$work" "$work.img" 4G 400000 -O ^has_journal || die "cannot make the private file system" ;;
tmpdir) ;;
*) die "--fs loop, loop-nojournal or tmpdir" ;;
esac
osd_pid="" nf_pid=""
stop_osd() {
	if [ -n "$osd_pid" ] && kill -0 "$osd_pid" 2>/dev/null; then
		kill "$osd_pid"
		for _ in $(seq 50); do kill -0 "$osd_pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$osd_pid" 2>/dev/null && kill -9 "$osd_pid"
	fi
	osd_pid=""
}
ref_pid=""
cleanup() {
	stop_osd
	[ -n "$nf_pid" ] && kill "$nf_pid" 2>/dev/null && wait "$nf_pid" 2>/dev/null
	osmtpd_stop
	[ -n "$ref_pid" ] && kill "$ref_pid" 2>/dev/null && wait "$ref_pid" 2>/dev/null
	if [ "$keep" = 1 ]; then
		echo "# kept $work${BENCHFS_DIR:+ (still mounted from $BENCHFS_IMAGE: umount it, then remove both)}"
	else
		benchfs_umount
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/control" "$work/state" "$work/state-nofsync" "$work/aside"
benchfs_osd_conf "$work" "$port"
# The same osd with fsync = no: what OpenSMTPD 6.8 does when it accepts (see README).
sed -e "s|^state_dir = .*|state_dir = $work/state-nofsync|" -e "s|^smtp_listen = .*|smtp_listen = 127.0.0.1:$nf_port|" \
	-e 's|^fsync = yes|fsync = no|' "$work/osd.conf" >"$work/osd-nofsync.conf"

echo "# osd smtpd vs postfix and opensmtpd, load average $(cut -d" " -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(benchfs_describe "$tmpdir")," \
	"build $build ($(sed -n "s/^buildtype *= *//p" "$build/meson-private/cmd_line.txt" 2>/dev/null || true)), osd at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "# msgs=$msgs big_msgs=$big_msgs repeat=$repeat sessions=\"$sessions_list\" tests=\"$tests\" idle=$idle;" \
	"osd on 127.0.0.1:$port, postfix on 127.0.0.1:$pf_port, opensmtpd on 127.0.0.1:$os_port, sink on $sink_port"
t0=$(date +%s)
"$build/osd" smtpd -c "$work/osd.conf" 2>"$work/osd.log" &
osd_pid=$!
for _ in $(seq 50); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
ss -Hltn "sport = :$port" | grep -q . || { cat "$work/osd.log" >&2; die "osd smtpd did not start"; }
if [ $nofsync = 1 ]; then
	"$build/osd" smtpd -c "$work/osd-nofsync.conf" 2>"$work/osd-nofsync.log" &
	nf_pid=$!
	for _ in $(seq 50); do ss -Hltn "sport = :$nf_port" | grep -q . && break; sleep 0.1; done
	ss -Hltn "sport = :$nf_port" | grep -q . || { cat "$work/osd-nofsync.log" >&2; die "osd smtpd (fsync = no) did not start"; }
fi

# CPU ticks (user + system) of an osd smtpd and its children, those reaped included: osd's CPU per
# message, which the load of the other processes on the machine moves far less than the rates.
tree_ticks() {
	local t=0 p
	for p in $(pgrep -P "$1" || true) "$1"; do
		t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
cpu_line() {  # PEER TEST SESSIONS MSGS TICKS_BEFORE TICKS_AFTER
	awk -v p="$1" -v t="$2" -v s="$3" -v m="$4" -v a="$5" -v b="$6" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { printf "cpu peer=%s test=%s sessions=%s msgs=%d us_per_msg=%.0f\n", p, t, s, m, (b - a) * 1e6 / hz / m }'
}

queued=0
aside_queue() {  # move queue/new out of osd's way (a rename: no mass deletion while measuring)
	local q=$work/state/queue/new n
	[ -d "$q" ] || return 0
	n=$(find "$q" -type f | wc -l)
	queued=$((queued + n))
	mv "$q" "$work/aside/new.$(date +%s%N)"
	mkdir -m 700 "$q" && chown mail: "$q"
	q=$work/state-nofsync/queue/new
	[ -d "$q" ] || return 0
	mv "$q" "$work/aside/nofsync.$(date +%s%N)"
	mkdir -m 700 "$q" && chown mail: "$q"
}

: >"$work/harness.out"
for sess in $sessions_list; do
	for t in $tests; do
		echo "# --- sessions=$sess test=$t ($(( $(date +%s) - t0 )) s so far)"
		pf_work=$work/pf.$sess.$t
		# Our own peak-PSS sampler (see README: the harness's misses osd's children)
		targets=(--target "osd=127.0.0.1:$port")
		[ $nofsync = 1 ] && targets+=(--target "osd-nofsync=127.0.0.1:$nf_port")
		if [ $opensmtpd = 1 ]; then  # a fresh OpenSMTPD per call, as the harness's Postfix
			osmtpd_start "$os_port" "$sink_port" "$work/os.$sess.$t"
			targets+=(--target "opensmtpd=127.0.0.1:$os_port")
		fi
		python3 "$here/idle_sessions.py" --peak "$work/peak" --watch "osd=$osd_pid" \
			--watch "postfix=@$pf_work/spool/pid/master.pid" \
			${OSMTPD_PID:+--watch "opensmtpd=$OSMTPD_PID"} &
		sampler=$!
		cpu0=$(tree_ticks "$osd_pid"); nf_cpu0=$([ $nofsync = 1 ] && tree_ticks "$nf_pid" || echo 0)
		TARGET_PID=$osd_pid bash "$harness" --port "$pf_port" --sink-port "$sink_port" \
			--msgs "$msgs" --big-msgs "$big_msgs" --sessions "$sess" --setup-sessions "$sess" \
			--repeat "$repeat" --tests "$t" --workdir "$pf_work" \
			"${targets[@]}" | tee -a "$work/harness.out"
		kill "$sampler"; wait "$sampler" 2>/dev/null || true
		n=$msgs; [ "$t" = big ] && n=$big_msgs; n=$((n * repeat))
		{ cpu_line osd "$t" "$sess" "$n" "$cpu0" "$(tree_ticks "$osd_pid")"
		  [ $nofsync = 1 ] && cpu_line osd-nofsync "$t" "$sess" "$n" "$nf_cpu0" "$(tree_ticks "$nf_pid")"; } |
			tee -a "$work/harness.out"
		sed "s/^\(peer=[^ ]*\)/\1 test=$t sessions=$sess run=peakmem/" "$work/peak" | tee -a "$work/harness.out"
		rm -f "$work/peak"
		if [ $opensmtpd = 1 ]; then
			echo "# OpenSMTPD: $(grep -c 'smtp message' "$OSMTPD_WORK/smtpd.log" || true) accepted," \
				"$(grep -c 'mta delivery.*result="Ok"' "$OSMTPD_WORK/smtpd.log" || true) relayed," \
				"$(osmtpd_queued) left in its queue; $(grep -c '^warn\|fatal' "$OSMTPD_WORK/smtpd.log" || true) warn: lines (the sink stops with the harness: refused relays are logged)"
			osmtpd_stop
			rm -rf "$OSMTPD_WORK"
		fi
		aside_queue
		if [ $sinkref = 1 ]; then  # the same load against a bare smtp-sink: the client's limit
			/usr/sbin/smtp-sink -c -u nobody -m 512 "127.0.0.1:$ref_port" 1024 >/dev/null 2>&1 &
			ref_pid=$!
			sleep 0.3
			bash "$harness" --no-postfix --port "$pf_port" --sink-port "$ref_sink_port" \
				--msgs "$msgs" --big-msgs "$big_msgs" --sessions "$sess" --setup-sessions "$sess" \
				--repeat "$repeat" --tests "$t" --workdir "$work/ref.$sess.$t" \
				--target "smtp-sink=127.0.0.1:$ref_port" | grep -v '^#' | tee -a "$work/harness.out"
			kill "$ref_pid"; wait "$ref_pid" 2>/dev/null || true; ref_pid=""
		fi
	done
done

# ---- PSS per idle session: osd (its tree has no children now) and a fresh private Postfix
echo "# --- idle sessions ($idle, after greeting and EHLO)"
# Session processes waiting for a connection (smtp_process_reuse) would serve some of the idle
# sessions without a new process: SIGHUP retires them, so that each session has a process of its own.
kill -HUP "$osd_pid"
for _ in $(seq 100); do [ -z "$(pgrep -P "$osd_pid")" ] && break; sleep 0.1; done
python3 "$here/idle_sessions.py" --name osd --port "$port" --pid "$osd_pid" --sessions "$idle" |
	tee -a "$work/harness.out"
(
	# shellcheck source=/dev/null
	. "$harness" --lib --port "$idle_pf_port" --sink-port "$sink_port" --workdir "$work/pf.idle"
	set +u
	mkdir -p "$WORK" && touch "$WORK/.bench"
	pf_setup && pf_start
	trap pf_stop EXIT
	python3 "$here/idle_sessions.py" --name postfix --port "$idle_pf_port" --pid "$(pf_master_pid)" --sessions "$idle"
) | tee -a "$work/harness.out"

# ---- summary
expected=0
for sess in $sessions_list; do
	for t in $tests; do
		case $t in big) expected=$((expected + big_msgs * repeat)) ;; *) expected=$((expected + msgs * repeat)) ;; esac
	done
done
echo "# osd queued $queued messages in queue/new (expected $expected);" \
	"log: $(grep -c 'result=queued' "$work/osd.log" || true) queued," \
	"$(grep -ci 'warn\|refused\|fatal' "$work/osd.log" || true) warnings/refusals"
python3 - "$work/harness.out" "$sessions_list" "$tests" <<'EOF'
import sys
rows, idle, peaks, runs, cpu = {}, {}, {}, {}, {}
for ln in open(sys.argv[1]):
    kv = dict(x.split('=', 1) for x in ln.split() if '=' in x)
    if ln.startswith('cpu '):
        cpu.setdefault((kv['test'], kv['sessions']), []).append(f'{kv["peer"]}={kv["us_per_msg"]}')
    elif kv.get('run') == 'median' and 'peer' in kv:
        rows[(kv['peer'], kv['test'], kv['sessions'])] = kv
    elif kv.get('run') == 'peakmem':
        peaks[(kv['peer'], kv['test'], kv['sessions'])] = kv
    elif kv.get('test') == 'idle-pss':
        idle[kv['peer']] = kv
    elif kv.get('run', '').isdigit() and 'peer' in kv and 'rate' in kv:
        runs.setdefault((kv['peer'], kv['test'], kv['sessions']), []).append(kv['rate'])
what = {'accept': 'msgs/s, 4 KB, 1 msg/conn', 'reuse': 'msgs/s, 4 KB, persistent',
        'big': 'msgs/s, 100 KB, 1 msg/conn', 'setup': 'conns/s, 1 KB, 1 msg/conn'}
target = {'reuse': 2.0}   # the issue's targets against the faster peer: 2x persistent, else 1.5x
peers = ('postfix', 'opensmtpd')
def rate(peer, t, sess):
    k = rows.get((peer, t, sess))
    return float(k['rate']) if k else None
def pk(peer, t, sess):
    k = peaks.get((peer, t, sess))
    return f'{int(k["peak_pss_kb"]) / 1024:.1f}' if k else '-'
lines, trends = [], []
for sess in sys.argv[2].split():
    for t in sys.argv[3].split():
        o = rate('osd', t, sess)
        have = {p: rate(p, t, sess) for p in peers if rate(p, t, sess)}
        if o is None or not have:
            lines.append(f'{t:<7} {what.get(t, ""):<26} {sess:>4}  (missing)')
            continue
        fast = max(have, key=have.get)
        r = o / have[fast] if have[fast] else float('inf')
        tg = target.get(t, 1.5)
        verdict = 'met' if r >= tg else 'missed'
        sink = rate('smtp-sink', t, sess)
        frac = f'{o / sink:.2f}' if sink else '-'
        print(f'ratio test={t} sessions={sess} osd={o:.0f} ' +
              ' '.join(f'{p}={have[p]:.0f} osd_per_{p}={o / have[p]:.2f}' for p in have) +
              f' faster_peer={fast} ratio={r:.2f} target=ge_{tg}x {verdict}' +
              (f' smtp_sink={sink:.0f} osd_per_sink={frac}' if sink else '') +
              ''.join(f' {p}_peak_pss_kb={peaks.get((p, t, sess), {}).get("peak_pss_kb", "")}'
                      for p in ('osd',) + peers))
        cell = lambda p: f'{have[p]:>8.0f}' if p in have else f'{"-":>8}'
        nf = rate('osd-nofsync', t, sess)
        nfc = f'{nf:>8.0f}' if nf else f'{"-":>8}'
        nfr = f'{nf / have["opensmtpd"]:.2f}x' if nf and 'opensmtpd' in have else '-'
        lines.append(f'{t:<7} {what.get(t, ""):<26} {sess:>4} {o:>8.0f} {cell("postfix")} {cell("opensmtpd")}'
                     f' {r:>5.2f}x {("≥" + str(tg) + "×"):<6} {verdict:<7} {(f"{sink:.0f}" if sink else "-"):>8}'
                     f' {frac:>5}  {nfc} {nfr:>6}  {pk("osd", t, sess):>6} {pk("postfix", t, sess):>6} {pk("opensmtpd", t, sess):>6}')
        if nf:
            print(f'nofsync test={t} sessions={sess} osd_nofsync={nf:.0f}' +
                  (f' opensmtpd={have["opensmtpd"]:.0f} ratio={nf / have["opensmtpd"]:.2f}' if 'opensmtpd' in have else '') +
                  (f' osd_nofsync_per_sink={nf / sink:.2f}' if sink else ''))
        for p in ('osd', 'osd-nofsync') + peers + ('smtp-sink',):
            rr = runs.get((p, t, sess))
            if rr:
                trends.append(f'trend test={t} sessions={sess} peer={p} runs={",".join(rr)}'
                              f' last_per_first={float(rr[-1]) / float(rr[0]):.2f}' if float(rr[0]) else '')
print()
print(f'{"test":<7} {"what (median rate)":<26} {"sess":>4} {"osd":>8} {"postfix":>8} {"opensmtpd":>8}'
      f' {"osd ÷ faster":>6} {"target":<14} {"sink":>8} {"÷sink":>5}  {"osd nofs":>8} {"÷osmtpd":>6}'
      f'  {"MB osd":>6} {"pf":>6} {"osmtpd":>6}'
      f'   (MB: peak PSS of the tree)')
print('\n'.join(lines))
print('per-run rates (run 1, 2, ...: a falling trend means something accumulates):')
print('\n'.join(trends))
print('CPU of the osd smtpd tree per message, µs (all runs of the call; the load of other processes moves it far less than the rates):')
for (t, sess), v in cpu.items():
    print(f'cpu test={t} sessions={sess} ' + ' '.join(v))
for peer in ('osd', 'postfix'):
    k = idle.get(peer)
    if k:
        per = float(k['per_session_kb'])
        print(f'idle    PSS per idle session ({k["sessions"]} after EHLO) {peer:<8} {per:>6.0f} kB'
              f'  (RSS {k["rss_per_session_kb"]} kB; tree {k["procs_before"]} -> {k["procs_after"]} procs)'
              f'  <=1 MB {"met" if per <= 1024 else "missed"}')
EOF
echo "# total $(( $(date +%s) - t0 )) s; load average at the end $(cut -d" " -f1-3 /proc/loadavg)"
