# shellcheck shell=bash
# tests/deb/throwaway.sh - sourced by check.sh and systemd.sh: is this root a throw-away one?
# Proof that it is, a chroot such as the fresh machine's: an ancestor process whose / is
# another folder. Anything unreadable or unexpected counts as "not proven" (fails closed).
in_chroot() {
  local me pid root
  me=$(stat -c %d:%i /) || return 1
  pid=$$
  while :; do
    pid=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
    case $pid in ''|*[!0-9]*) return 1 ;; esac
    [ "$pid" -gt 1 ] || return 1
    root=$(stat -L -c %d:%i "/proc/$pid/root" 2>/dev/null) || continue
    [ "$root" = "$me" ] || return 0
  done
}
