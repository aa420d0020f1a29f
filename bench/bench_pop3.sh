#!/usr/bin/env bash
# bench_pop3.sh - osd pop3d against Debian's Dovecot POP3 (issue 3), side by side in one run.
#
#   bench/bench_pop3.sh [--quick] [--repeat N] [--secs S] [--passes P] [--profiles "default fast"]
#                       [--build DIR] [--tmpdir DIR] [--port N] [--dovecot-port N]
#                       [--harness PATH] [--keep]
#
# Uses the shared harness ../shared/bench/peer-dovecot.sh (relative to the
# project root; load generator: pop3load.py next to it). Generates one
# vpopmail-style tree (users yNN yescrypt, sNN sha512-crypt, big with 1,000
# messages; password bench-pass, domain bench.test), owned by the system user "mail". osd pop3d is started
# as root with `user =` empty and `mail_user = mail`, so it binds as root
# and drops to mail; the private Dovecot serves the same tree as the same uid.
# The harness measures dovecot-default, dovecot-fast and osd (medians of
# --repeat runs: default 3 runs of 10 s); this script then measures the RSS of
# osd's idle session processes and prints ratio lines (osd / dovecot-PROFILE).
# --passes: RETR passes over the 1,000 messages (default 1; the harness's own
# default is 3, which gives steadier RETR figures: used for bench/README.md).
# --quick: --repeat 1 --secs 3 (a fast check, under a minute).
# Default run: about 10 minutes on 2 cores (about 7 once RETR is fast). Needs root.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${OSD_BUILD:-$root/build}
harness=${PEER_DOVECOT:-$root/../shared/bench/peer-dovecot.sh}
tmpdir=${TMPDIR:-/tmp}
port=11310
dc_port=11210
repeat=3
secs=10
passes=1
profiles="default fast"
keep=0
mail_user=mail
sessions=16

usage() { sed -n '2,22s/^# \{0,1\}//p' "$0"; }
while [ $# -gt 0 ]; do
	case $1 in
	--quick) repeat=1; secs=3 ;;
	--repeat) repeat=$2; shift ;;
	--secs) secs=$2; shift ;;
	--passes) passes=$2; shift ;;
	--profiles) profiles=$2; shift ;;
	--build) build=$2; shift ;;
	--tmpdir) tmpdir=$2; shift ;;
	--port) port=$2; shift ;;
	--dovecot-port) dc_port=$2; shift ;;
	--harness) harness=$2; shift ;;
	--keep) keep=1 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 100 ;;
	esac
	shift
done
build=$(cd "$build" && pwd)
load="$(dirname "$harness")/pop3load.py"

[ "$(id -u)" = 0 ] || { echo "bench_pop3: run as root (binds as root, drops to $mail_user; the harness needs root)" >&2; exit 111; }
for f in "$build/osd" "$build/osd-pop3d"; do
	[ -x "$f" ] || { echo "bench_pop3: $f is missing: build first" >&2; exit 111; }
done
[ -x "$harness" ] && [ -f "$load" ] || { echo "bench_pop3: harness $harness or $load missing (expected ../shared/bench/peer-dovecot.sh next to the project; set --harness or PEER_DOVECOT)" >&2; exit 111; }
command -v mkpasswd >/dev/null || { echo "bench_pop3: mkpasswd missing (Debian whois; scripts/install-deps.sh)" >&2; exit 111; }
owner="$(id -u "$mail_user"):$(id -g "$mail_user")" ||
	{ echo "bench_pop3: no system user $mail_user" >&2; exit 111; }
for p in "$port" "$dc_port"; do
	if ss -Hltn "sport = :$p" | grep -q .; then
		echo "bench_pop3: port $p is in use (use --port/--dovecot-port)" >&2; exit 111
	fi
done

work=$tmpdir/osd-pop3bench.$$
mkdir -p "$work" && chmod 755 "$work"  # mail (osd) and Dovecot's uid must traverse it
osd_pid=""
cleanup() {
	if [ -n "$osd_pid" ] && kill -0 "$osd_pid" 2>/dev/null; then
		kill "$osd_pid"
		for _ in $(seq 50); do kill -0 "$osd_pid" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$osd_pid" 2>/dev/null && kill -9 "$osd_pid"
	fi
	if [ "$keep" = 1 ]; then echo "# kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# osd pop3d vs dovecot, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, repeat=$repeat secs=$secs passes=$passes, build $build"
t0=$(date +%s)
python3 "$load" gen "$work/data" --domain bench.test --password bench-pass --msgs 1000 --owner "$owner" |
	sed 's/^/# data: /'

mkdir -p "$work/state/open-smtp"
chown "$owner" "$work/state/open-smtp"    # osd writes it after dropping to mail_user
cat >"$work/osd.conf" <<EOF
state_dir = $work/state
users_dir = $work/data/domains
default_domain = bench.test
pop3_listen = 127.0.0.1:$port
pop3_plaintext = no
pop3_loopback_plaintext = yes
pop3_max_connections = 500
pop3_max_per_ip = 500
pop3_timeout = 10m
user =
mail_user = $mail_user
log = stderr
EOF
"$build/osd" pop3d -c "$work/osd.conf" 2>"$work/osd.log" &
osd_pid=$!
for _ in $(seq 50); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
ss -Hltn "sport = :$port" | grep -q . || { echo "bench_pop3: osd pop3d did not start:" >&2; cat "$work/osd.log" >&2; exit 111; }

"$harness" --port "$dc_port" --repeat "$repeat" --secs "$secs" --sessions "$sessions" --passes "$passes" \
	--profiles "$profiles" --data "$work/data" --owner "$owner" --workdir "$work/peer" \
	--target "osd=127.0.0.1:$port:$osd_pid" | tee "$work/harness.out"

# RSS (and PSS) of each osd session process: 16 logged-in idle sessions
python3 - "$port" "$osd_pid" "$sessions" <<'EOF' | tee -a "$work/harness.out"
import os, socket, statistics, sys, time
port, root, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rd(s):
    b = b''
    while not b.endswith(b'\r\n'): b += s.recv(4096)
    assert b.startswith(b'+OK'), b
def status(p):
    d = {}
    for ln in open(f'/proc/{p}/status'):
        k, v = ln.split(':', 1); d[k] = v.split()[0] if v.split() else ''
    return d
def pss(p):
    return sum(int(x.split()[1]) for x in open(f'/proc/{p}/smaps_rollup') if x.startswith('Pss:'))
conns = []
for i in range(1, n + 1):
    s = socket.create_connection(('127.0.0.1', port), timeout=15); rd(s)
    for c in (f'USER s{i:02d}@bench.test', 'PASS bench-pass', 'STAT'): s.sendall(c.encode() + b'\r\n'); rd(s)
    conns.append(s)
time.sleep(1)
kids = [int(d) for d in os.listdir('/proc') if d.isdigit() and status(d).get('PPid') == str(root)]
rss = [int(status(k)['VmRSS']) for k in kids]; hwm = [int(status(k)['VmHWM']) for k in kids]
ps = [pss(k) for k in kids]
print(f'peer=osd test=session-rss run=median sessions={len(kids)} rss_kb={statistics.median(rss):.0f} '
      f'rss_max_kb={max(rss)} hwm_max_kb={max(hwm)} pss_kb={statistics.median(ps):.0f} '
      f'parent_rss_kb={status(root)["VmRSS"]}')
for s in conns: s.sendall(b'QUIT\r\n'); s.close()
EOF

# ratio lines from the median lines
python3 - "$work/harness.out" "$profiles" <<'EOF'
import sys
rows, profiles = {}, sys.argv[2].split()
for ln in open(sys.argv[1]):
    kv = dict(x.split('=', 1) for x in ln.split() if '=' in x)
    if kv.get('run') == 'median' and 'peer' in kv:
        rows[(kv['peer'], kv['test'], kv.get('clients', ''))] = kv
def f(k, key): return float(rows[k][key]) if k in rows and key in rows[k] else None
for (peer, test, clients) in sorted(k for k in rows if k[0] == 'osd'):
    key = {'retr': 'mbps', 'mem-idle': 'per_session_kb'}.get(test, 'rate')
    if test == 'session-rss': continue
    o = f(('osd', test, clients), key)
    for prof in profiles:
        d = f((f'dovecot-{prof}', test, clients), key)
        if o is None or d is None: continue
        ratio = o / d if d else float('inf')
        if test == 'mem-idle':
            verdict = 'met' if o <= 1024 else 'missed'   # target: <= 1 MB per idle session
            tgt = 'le_1024kb'
        else:
            verdict = 'met' if ratio >= 1 else 'missed'  # target: at least Dovecot's rate
            tgt = 'ge_dovecot'
        cl = f' clients={clients}' if clients else ''
        print(f'ratio test={test}{cl} metric={key} osd={o:g} vs=dovecot-{prof} dovecot={d:g} '
              f'ratio={ratio:.2f} target={tgt} {verdict}')
s = rows.get(('osd', 'session-rss', ''))
if s:
    print(f'target test=session-rss rss_kb={s["rss_kb"]} pss_kb={s["pss_kb"]} '
          f'target=le_1024kb {"met" if float(s["rss_kb"]) <= 1024 else "missed"}(rss) '
          f'{"met" if float(s["pss_kb"]) <= 1024 else "missed"}(pss)')
EOF
echo "# osd log: $(grep -c 'login: ' "$work/osd.log" || true) logins recorded," \
	"$(grep -c 'login failed' "$work/osd.log" || true) failed, $(grep -ci 'refused\|died\|warn' "$work/osd.log" || true) refusals/warnings"
echo "# total $(( $(date +%s) - t0 )) s"
