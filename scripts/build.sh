#!/usr/bin/env bash
# build.sh - set up (or reconfigure) and compile one meson build folder quietly, for test.sh
# and start.sh; on failure print the end of the output and why, and exit 1.
# Usage: scripts/build.sh DIR [meson setup options...]   e.g. scripts/build.sh build-sanitize -Dsanitize=true
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1; shift
log=$dir/build-sh.log  # inside the build folder, which git ignores
mkdir -p "$dir"

quiet() {  # command...: run into $log; on failure show its last lines and stop
  if ! "$@" >"$log" 2>&1; then
    echo "build.sh: '$*' failed; the last lines of its output:" >&2
    tail -n 60 "$log" >&2
    echo "build.sh: FAILED: '$*' (full output: $log)" >&2
    exit 1
  fi
}

if [ -f "$dir/build.ninja" ]; then
  quiet meson setup --reconfigure "$dir" "$@"
else
  quiet meson setup "$dir" "$@"
fi
quiet meson compile -C "$dir"
