#!/usr/bin/env bash
# tests/deb/check.sh - build the Debian package, install it, run the installed osd, purge it.
#
# Meant for a throw-away root: it installs packages and osd itself into the system it runs
# on, so run it through the fresh machine (as root, from the project root):
#   ../shared/fresh-machine.sh tests/deb/check.sh
# .ci/run does, after the README's test command. On any other root it refuses (exit 77,
# "SKIPPED" with the reason) unless OSD_DEB_CHECK_HERE=1 says that root is yours to spoil.
#
# Steps, each asserted: the build dependencies from debian/control (apt-get build-dep);
# dpkg-buildpackage -us -uc -b gives ../osd_VERSION_ARCH.deb with meson.build's version;
# lintian reports no error on the .deb and the .changes; tests/deb/systemd.sh installs the .deb
# into a container booted with systemd and runs the units there; apt-get install ./osd_*.deb makes
# the osd account and /var/lib/osd, marks /etc/osd/osd.conf a conffile and enables no unit;
# tests/deb/run_installed.py runs the installed programs (POP3 login -> relay -> delivery);
# apt-get purge removes the programs and the conffile. Exit 0 when all hold.
set -euo pipefail
cd "$(dirname "$0")/../.."
t0=$(date +%s)
say() { echo "deb-check: $*"; }
fail() { echo "deb-check: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || { echo "deb-check: SKIPPED: needs root (it installs packages)" >&2; exit 77; }
# Installing is harmless only on a throw-away root (in_chroot says why it is one).
. tests/deb/throwaway.sh
if [ "${OSD_DEB_CHECK_HERE:-}" != 1 ] && ! in_chroot; then
  echo "deb-check: SKIPPED: not on a throw-away root (no parent process with another /), and" \
       "the check installs osd and its build dependencies into the system it runs on: run" \
       "'../shared/fresh-machine.sh tests/deb/check.sh' as root, or set OSD_DEB_CHECK_HERE=1" \
       "on a root you may spoil" >&2
  exit 77
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
say "installing the build dependencies of debian/control"
apt-get update -q >/dev/null
apt_install dpkg-dev
apt-get build-dep -y -q --no-install-recommends ./ >/dev/null || fail "apt-get build-dep ./"

# --- build ---
version=$(dpkg-parsechangelog -S Version)
project_version=$(meson introspect --projectinfo meson.build |
                  python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
[ "$version" = "$project_version" ] ||
  fail "debian/changelog says $version, meson.build says $project_version: keep them equal"
say "dpkg-buildpackage -us -uc -b (version $version)"
log=$(mktemp /tmp/osd-deb-build.XXXXXX)
if ! dpkg-buildpackage -us -uc -b >"$log" 2>&1; then
  tail -60 "$log"; fail "dpkg-buildpackage -us -uc -b"
fi
arch=$(dpkg --print-architecture)
deb=$(cd .. && pwd)/osd_${version}_${arch}.deb
changes=$(cd .. && pwd)/osd_${version}_${arch}.changes
[ -f "$deb" ] && [ -f "$changes" ] || fail "no $deb and $changes after the build"
say "ok: built $deb"

# --- lintian: no errors (warnings and infos are shown) ---
apt_install lintian
lint=$(lintian --fail-on error --display-info "$deb" "$changes" 2>&1 | grep -v '^running with root') &&
  lint_rc=0 || lint_rc=$?
[ -z "$lint" ] || printf '%s\n' "$lint" | sed 's/^/deb-check: lintian: /'
[ "$lint_rc" = 0 ] || fail "lintian reports errors (exit $lint_rc)"
say "ok: lintian: no errors ($(printf '%s\n' "$lint" | grep -c '^W:' || true) warnings)"

# --- the units under a real systemd, in a container of their own (before / gets osd) ---
say "tests/deb/systemd.sh: the installed units under systemd as PID 1 of a container"
tests/deb/systemd.sh "$deb" || fail "the installed units under systemd (tests/deb/systemd.sh)"

# --- install ---
apt_install "$deb" || fail "apt-get install $deb"
for f in /usr/sbin/osd /usr/libexec/osd/osd-watch /usr/libexec/osd/osd-pop3d \
         /usr/libexec/osd/osd-smtpd /usr/libexec/osd/osd-queue /usr/libexec/osd/osd-local \
         /usr/libexec/osd/osd-remote; do
  [ -x "$f" ] || fail "$f is not installed"
done
for f in /lib/systemd/system/osd.service /lib/systemd/system/osd-watch.service \
         /usr/lib/sysusers.d/osd.conf /usr/lib/tmpfiles.d/osd.conf /etc/osd/osd.conf \
         /usr/share/man/man8/osd.8.gz /usr/share/man/man5/osd.conf.5.gz \
         /usr/share/doc/osd/operations.md.gz /usr/share/doc/osd/copyright; do
  [ -f "$f" ] || fail "$f is not installed"
done
dpkg-query -W -f='${Conffiles}\n' osd | grep -q '^ /etc/osd/osd.conf ' ||
  fail "/etc/osd/osd.conf is not a conffile"
getent passwd osd >/dev/null || fail "no osd account (sysusers.d)"
[ "$(stat -c %U:%a /var/lib/osd)" = osd:755 ] || fail "/var/lib/osd is $(stat -c %U:%a /var/lib/osd), not osd:755"
[ "$(stat -c %U:%a /var/lib/osd/queue)" = osd:700 ] || fail "/var/lib/osd/queue is not osd:700"
enabled=$(find /etc/systemd/system -name 'osd*' 2>/dev/null || true)
[ -z "$enabled" ] || fail "units enabled at install: $enabled"
osd --help >/dev/null || fail "osd --help"
say "ok: installed: programs, units (none enabled), the osd account, /var/lib/osd, the conffile"

# --- run the installed programs: the peers, then the walk ---
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
# No package may start a daemon here: a policy-rc.d of our own, removed only if we made it.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; made_policy=1
fi
apt_install curl python3 postfix   # postfix for smtp-sink, the remote peer
[ "$made_policy" = 0 ] || rm -f "$policy"
OSD_DEB_CHECK_INSTALLED=1 python3 tests/deb/run_installed.py || fail "the installed programs (tests/deb/run_installed.py)"

# --- purge ---
apt-get purge -y -q osd >/dev/null || fail "apt-get purge osd"
[ ! -e /usr/sbin/osd ] && [ ! -e /etc/osd/osd.conf ] && [ ! -e /usr/libexec/osd/osd-watch ] ||
  fail "apt-get purge left the programs or the conffile"
say "ok: apt-get purge osd removed the programs and the conffile"
say "all ok in $(( $(date +%s) - t0 ))s: build, lintian, the units under systemd, install, POP3 login -> relay -> delivery, purge"
