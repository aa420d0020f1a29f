#!/usr/bin/env bash
# imaptest.sh - Dovecot's imaptest compliance tests against a private osd imapd on loopback.
# Builds imaptest once (../shared/tools/imaptest/build-imaptest.sh, as root: it installs
# dovecot-dev and autotools) into a cache folder, starts osd imapd with two users (same
# password), runs the scripted tests and prints imaptest's report and its summary.
# Usage: scripts/imaptest.sh [BUILD_DIR [TEST]]   (TEST: one group, e.g. fetch-body; default all)
# Env: IMAPTEST_CACHE (default ~/.cache/osd-imaptest), IMAPTEST_SRC (the imaptest tarball).
# Exit status: imaptest's (0 all passed, 2 some failed), 1 when it could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
build=$(readlink -f "${1:-build}")
test_name=${2:-}
cache=${IMAPTEST_CACHE:-$HOME/.cache/osd-imaptest}
src=${IMAPTEST_SRC:-$top/../shared/tools/imaptest/imaptest-0de0dbf.tar.gz}
imaptest=$cache/bin/imaptest

if [ ! -x "$imaptest" ]; then
  [ -f "$src" ] || { echo "imaptest.sh: no imaptest at $imaptest and no source $src" >&2; exit 1; }
  "$(dirname "$src")/build-imaptest.sh" "$src" "$cache" >&2 ||
    { echo "imaptest.sh: building imaptest failed" >&2; exit 1; }
  # Installing dovecot-dev may have started the system Dovecot: stop that one (by its PID).
  if [ -f /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
    kill "$(cat /run/dovecot/master.pid)" || true
  fi
fi
[ -x "$build/osd" ] && [ -x "$build/osd-imapd" ] || { echo "imaptest.sh: build $build first" >&2; exit 1; }

work=$(mktemp -d /tmp/osd-imaptest-XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  [ -n "${IMAPTEST_KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/state"
cat > "$work/osd.conf" <<CONF
state_dir = state
imap_listen = 127.0.0.1:$port
default_domain = imaptest.test
imap_max_per_ip = 100
CONF
for u in imaptest1 imaptest2; do
  echo imaptest-pw | "$build/osd" user add -c "$work/osd.conf" "$u@imaptest.test" >/dev/null
done
"$build/osd" imapd -c "$work/osd.conf" > "$work/imapd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q "ready" "$work/imapd.log" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/imapd.log" >&2; exit 1; }
  sleep 0.1
done

tests=$cache/tests
[ -n "$test_name" ] && tests=$cache/tests/$test_name
set +e
"$imaptest" host=127.0.0.1 port="$port" user=imaptest1 user2=imaptest2 pass=imaptest-pw \
  test="$tests" 2>&1 | tee "$work/report.txt"
rc=${PIPESTATUS[0]}
set -e
echo "--- imaptest.sh: exit $rc; failed groups:"
grep -E "^\*\*\* Test .* failed|^Test .* failed" "$work/report.txt" | sed 's/^/  /' || true
tail -3 "$work/report.txt"
if grep -qE "Assertion|Panic|crash|signal" "$work/imapd.log"; then
  echo "imaptest.sh: osd imapd logged a crash:" >&2
  grep -E "Assertion|Panic|crash|signal" "$work/imapd.log" | head >&2
fi
exit "$rc"
