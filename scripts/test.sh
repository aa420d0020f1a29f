#!/usr/bin/env bash
# test.sh - install what is needed, build, and run every test (unit + integration),
# once in a normal build and once under AddressSanitizer + UndefinedBehaviorSanitizer,
# then the unit tests under valgrind (memcheck).
# Usage: scripts/test.sh [meson test args...]   e.g. scripts/test.sh --suite unit
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

run_suite() {  # build dir, meson options...
  local dir=$1; shift
  scripts/build.sh "$dir" "$@"
  echo "== tests in $dir ($*)"
  meson test -C "$dir" --print-errorlogs --num-processes 2 "${TEST_ARGS[@]}" || status=1
}

TEST_ARGS=("$@")
status=0
run_suite build
# halt_on_error: a sanitizer report fails the test that caused it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run_suite build-sanitize -Dsanitize=true
logs=(build/meson-logs/testlog.json build-sanitize/meson-logs/testlog.json)

# The unit tests once more, in the normal build under valgrind's memcheck (the
# "valgrind" test setup in meson.build); only in the full run, not with arguments.
if [ ${#TEST_ARGS[@]} -eq 0 ]; then
  echo "== unit tests in build under valgrind"
  meson test -C build --setup valgrind --suite unit --print-errorlogs --num-processes 2 || status=1
  logs+=(build/meson-logs/testlog-valgrind.json)
fi

# One closing line over every run, counted from meson's own logs.
python3 - "${logs[@]}" <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            r = json.loads(line)["result"]
            key = "OK" if r in ("OK", "EXPECTEDFAIL") else "SKIP" if r == "SKIP" else "FAIL"
            counts[key] += 1
print("tests: %d passed, %d failed, %d skipped" % (counts["OK"], counts["FAIL"], counts["SKIP"]))
sys.exit(1 if counts["FAIL"] or counts["OK"] == 0 else 0)
PY
exit $status
