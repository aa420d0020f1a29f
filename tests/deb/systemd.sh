#!/usr/bin/env bash
# tests/deb/systemd.sh - the installed osd units under a real systemd, booted as PID 1 of a container.
#
# Usage (as root, from the project root): tests/deb/systemd.sh ../osd_VERSION_ARCH.deb
# tests/deb/check.sh runs it on the fresh machine right after building the .deb. It installs
# nothing into the root it runs on: it lays an overlay (its writable layer on a tmpfs) over a
# base root, installs systemd, dbus and the test's peers there (chroot), boots /lib/systemd/systemd
# as PID 1 of new PID, mount, cgroup, UTS and IPC namespaces (unshare; the network is the
# host's, so every listener of the test is on a free 127.0.0.1 port and anything else that would
# listen is masked), installs the .deb into the booted system with apt-get, and runs
# tests/deb/run_systemd.py there (systemctl enable --now, is-active, the hardening in force,
# reload with a good and a broken config, POP3 login -> relay -> delivery, stop). Then it powers
# the container off and removes everything.
#
# The base: OSD_SYSTEMD_BASE, else / when this root is a throw-away chroot (the fresh machine),
# else the fresh machine's cached Debian 12 root (/var/cache/osd-fresh/base-bookworm, never
# written: it is the overlay's lower layer). The container needs a cgroup v2 hierarchy (a
# pure v2 host, or the "unified" one of a hybrid v1/v2 host): systemd runs there without
# controllers, which the units do not use.
# Exit status: 0 when every step holds, 1 at a failure, 2 for bad usage or a missing base.
set -euo pipefail
cd "$(dirname "$0")/../.."
say() { echo "systemd-check: $*"; }
fail() { echo "systemd-check: FAIL: $*" >&2; exit 1; }
DEADLINE=90     # seconds a boot or a power-off may take before it counts as a failure

[ "$(id -u)" = 0 ] || { echo "systemd-check: needs root (mounts, namespaces)" >&2; exit 2; }
deb=${1:-}
[ -f "$deb" ] || { echo "usage: tests/deb/systemd.sh ../osd_VERSION_ARCH.deb" >&2; exit 2; }
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
. tests/deb/throwaway.sh
base=${OSD_SYSTEMD_BASE:-}
if [ -z "$base" ]; then
  if in_chroot; then base=/; else base=${FRESH_CACHE:-/var/cache/osd-fresh}/base-bookworm; fi
fi
[ -x "$base/bin/bash" ] || { echo "systemd-check: no base root at $base (run ../shared/fresh-machine.sh once, or set OSD_SYSTEMD_BASE)" >&2; exit 2; }
t0=$(date +%s)

run=$(mktemp -d /tmp/osd-systemd.XXXXXX)
root=$run/root
init='' bootpid='' cgname=osd-systemd-$$
cleanup() {
  set +e
  # PID 1 of the container gone, the kernel kills the rest of its PID namespace.
  if [ -n "$init" ] && kill -0 "$init" 2>/dev/null; then kill -9 "$init"; sleep 1; fi
  [ -n "$bootpid" ] && wait "$bootpid" 2>/dev/null
  if [ -d "$run/cg/$cgname" ]; then
    for _ in $(seq 50); do   # the namespace's last processes die asynchronously
      [ -z "$(find "$run/cg/$cgname" -name cgroup.procs -exec cat {} +)" ] && break
      sleep 0.2
    done
    find "$run/cg/$cgname" -depth -type d -exec rmdir {} + 2>/dev/null
  fi
  umount "$run/cg" 2>/dev/null
  for m in dev/console dev/shm dev/pts dev proc; do umount -l "$root/$m" 2>/dev/null; done
  umount -l "$root" 2>/dev/null
  umount -l "$run" 2>/dev/null
  rm -rf "$run"
}
trap cleanup EXIT

# --- the container's root: an overlay whose writable layer is a tmpfs (an overlay cannot be
# the upper layer of another, and the fresh machine's / is one) ---
mount -t tmpfs -o size=4g,mode=700 osd-systemd "$run"
mkdir -p "$run/upper" "$run/work" "$root" "$run/cg"
mount -t overlay overlay -o "lowerdir=$base,upperdir=$run/upper,workdir=$run/work" "$root"
# A /dev of its own (the host's /dev/null may not even be 0666): the usual nodes and a private
# devpts; the same for the chroot that installs and for the booted container.
# shellcheck disable=SC2016 # expanded by the sh that runs it
mkdev='
  mount -t tmpfs -o mode=755,size=1m osd-dev "$1"
  for n in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
    set -- "$1" $n; mknod -m 666 "$1/$2" c "$3" "$4"
  done
  touch "$1/console"; mount --bind "$1/null" "$1/console"   # not the host console: nobody reads it
  mkdir "$1/pts" "$1/shm"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$1/pts"; ln -s pts/ptmx "$1/ptmx"
  mount -t tmpfs -o mode=1777 tmpfs "$1/shm"
  ln -s /proc/self/fd "$1/fd"
'
mount -t proc proc "$root/proc"
sh -ec "$mkdev" sh "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf"
if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
  rm -f "$root/etc/apt/sources.list"; cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/"
fi
in_root() {
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}
say "installing systemd, dbus and the test's peers into the container's root (base $base)"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
in_root sh -c 'echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections'
in_root apt-get update -q >/dev/null || fail "apt-get update in the container's root"
# python3, curl and postfix (smtp-sink) for run_installed.py's walk
in_root apt-get install -y -q --no-install-recommends systemd systemd-sysv dbus python3 curl postfix \
  >"$run/apt.log" 2>&1 || { tail -20 "$run/apt.log"; fail "apt-get install systemd in the container's root"; }
rm -f "$root/usr/sbin/policy-rc.d"
# No login prompt on the console (its agetty would chown and chmod whatever /dev/console is),
# nothing that would set the host kernel's sysctls, modules or binfmts, and no Postfix,
# whose port 25 would be the host's: the peer is a private smtp-sink.
in_root systemctl mask console-getty.service getty.target postfix.service systemd-sysctl.service \
  systemd-modules-load.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount 2>/dev/null
mkdir -p "$root/root/osd-test"
# Proof, before anything runs "inside", that inside is the container and not this root.
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
echo "$token" > "$root/root/osd-test/token"
cp "$deb" "$root/root/osd-test/"
cp tests/deb/run_installed.py tests/deb/run_systemd.py "$root/root/osd-test/"
for m in dev/console dev/shm dev/pts dev proc; do umount "$root/$m"; done

# --- boot: systemd as PID 1 of its own namespaces, in a cgroup v2 subtree of its own ---
mount -t cgroup2 cgroup2 "$run/cg" || fail "this kernel offers no cgroup v2 hierarchy (mount -t cgroup2)"
mkdir "$run/cg/$cgname"
say "booting /lib/systemd/systemd as PID 1 of a container"
(
  echo "$BASHPID" > "$run/cg/$cgname/cgroup.procs"
  # shellcheck disable=SC2016 # expanded by the container's sh
  exec unshare --pid --fork --mount --cgroup --uts --ipc --propagation private \
    /bin/sh -euc '
      root=$1
      mount --bind "$root" "$root"
      mount -t proc proc "$root/proc"
      # the kernel is the host'"'"'s: its settings stay read-only, as systemd-nspawn keeps them
      for p in sys sysrq-trigger; do
        [ -e "$root/proc/$p" ] || continue
        mount --bind "$root/proc/$p" "$root/proc/$p"; mount -o remount,bind,ro "$root/proc/$p"
      done
      mount -t sysfs -o ro sysfs "$root/sys"
      mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup"
      sh -ec "$2" sh "$root/dev"
      hostname osd-systemd-test
      cd "$root"; mkdir -p .oldroot; pivot_root . .oldroot; umount -l /.oldroot; rmdir /.oldroot
      exec env -i container=osd-test /lib/systemd/systemd
    ' sh "$root" "$mkdev"
) </dev/null >"$run/boot.log" 2>&1 &
bootpid=$!
inside() {
  # -r -w: the container's / and cwd; from inside a chroot (the fresh machine) "-a" alone
  # would leave the command on the host's real /
  nsenter -t "$init" -a -r -w /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
end=$(( $(date +%s) + DEADLINE ))
while [ -z "$init" ]; do
  init=$(cat "/proc/$bootpid/task/"*/children 2>/dev/null | awk '{print $1}') || true
  # the unshare process's child, once it runs systemd (not the set-up shell)
  if [ -n "$init" ] && [ "$(cat "/proc/$init/comm" 2>/dev/null)" != systemd ]; then init=; fi
  kill -0 "$bootpid" 2>/dev/null || { cat "$run/boot.log"; fail "the container did not start"; }
  [ "$(date +%s)" -lt "$end" ] || { cat "$run/boot.log"; fail "no systemd in the container after ${DEADLINE}s"; }
  sleep 0.2
done
if ! { [ "$(inside cat /root/osd-test/token 2>/dev/null)" = "$token" ] &&
        [ "$(inside readlink /proc/self/ns/pid)" = "$(readlink "/proc/$init/ns/pid")" ] &&
        [ "$(inside readlink /proc/self/ns/pid)" != "$(readlink /proc/self/ns/pid)" ]; }; then
  fail "nsenter does not reach the container (its / or PID namespace): nothing is run there"
fi
state=
while :; do
  state=$(inside systemctl is-system-running 2>/dev/null) || true
  case $state in running|degraded) break ;; esac
  [ "$(date +%s)" -lt "$end" ] || { inside systemctl list-jobs --no-pager || true; fail "the boot did not finish in ${DEADLINE}s (state: $state)"; }
  sleep 0.5
done
if [ "$state" != running ]; then
  inside systemctl --failed --no-pager || true
  fail "systemd booted, but the system is '$state'"
fi
say "ok: systemd $(inside systemctl --version | head -1 | awk '{print $2}') booted as PID 1 of the container ($(inside systemd-detect-virt -c)): running"

# --- install the package into the booted system, as an administrator would ---
inside apt-get install -y -q --no-install-recommends "/root/osd-test/$(basename "$deb")" \
  >"$run/apt.log" 2>&1 || { tail -30 "$run/apt.log"; fail "apt-get install ./$(basename "$deb") in the booted container"; }
say "ok: apt-get install ./$(basename "$deb") in the booted container"
rc=0
inside sh -c 'cd /root/osd-test && OSD_DEB_CHECK_INSTALLED=1 python3 run_systemd.py' || rc=$?
[ "$rc" = 0 ] || fail "the installed units under systemd (tests/deb/run_systemd.py, exit $rc)"

# --- power off: systemd stops everything and PID 1 exits ---
inside systemctl poweroff --no-block >/dev/null 2>&1 || true
end=$(( $(date +%s) + DEADLINE ))
while kill -0 "$init" 2>/dev/null; do
  [ "$(date +%s)" -lt "$end" ] || fail "the container did not power off in ${DEADLINE}s"
  sleep 0.2
done
init=
say "ok: the container powered off"
say "all ok in $(( $(date +%s) - t0 ))s: the installed units under systemd as PID 1"
