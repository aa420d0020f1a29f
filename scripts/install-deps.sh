#!/usr/bin/env bash
# install-deps.sh - install every Debian package osd, its tests and its benchmarks need.
# Idempotent: installs only what is missing. Services of the packages (postfix,
# dnsmasq, dovecot) are not started: tests and benchmarks run private instances.
set -euo pipefail

# Checked on a debootstrap --variant=minbase Debian 12 (../shared/fresh-machine.sh): with
# --no-install-recommends nothing arrives that is not named here.
PACKAGES=(
  # build: build-essential brings libc6-dev (gcc alone only recommends it, and without it
  # meson setup fails with "Compiler cc can not compile programs")
  build-essential gcc meson ninja-build pkg-config
  libinotifytools0-dev libcdb-dev libcrypt-dev libcmocka-dev libssl-dev libc-ares-dev
  # imapd: the MIME structure of messages (BODYSTRUCTURE, sections, SEARCH)
  libgmime-3.0-dev
  # tools used by tests and benchmarks
  python3 tinycdb ucspi-tcp-ipv6 postfix swaks curl dnsmasq dovecot-pop3d dovecot-imapd
  valgrind procps iproute2 openssl whois fetchmail
  # libfaketime: wall-clock steps under osd watch (tests/integration/test_clock_jump.py)
  faketime
  # a loop-mounted ext4 state folder made read-only or failing with EIO
  # (tests/integration/test_state_faults.py): mkfs.ext4, losetup and mount
  e2fsprogs mount
  # a real IMAP synchronizer (tests/integration/test_mbsync.py)
  isync
  # Dovecot's imaptest is built from ../shared/tools/imaptest (scripts/imaptest.sh,
  # tests/integration/test_imaptest.py) against Dovecot's development files
  dovecot-dev make autoconf automake libtool
  # swaks --tls needs Net::SSLeay, swaks over IPv6 IO::Socket::INET6 (both only
  # recommended by swaks)
  libnet-ssleay-perl libio-socket-inet6-perl
  # /usr/bin/time (test_remote_delivery.py measures peak memory with it; tests/fuzz/campaign.sh
  # the CPU time of each fuzzing slot)
  time
  # the libFuzzer build of tests/fuzz (-Dfuzz=true, tests/fuzz/campaign.sh): clang and its
  # fuzzer and sanitizer runtimes
  clang libclang-rt-14-dev
  # more real IMAP clients (tests/integration/test_imap_clients.py): offlineimap,
  # getmail, mutt run headless in tmux
  offlineimap3 getmail6 mutt tmux
  # the peer Postfix policy server of bench/bench_policyd.sh (a Perl prefork server)
  postfwd
  # the libraries of Exim 4 (unpacked, not installed: see fetch_exim below), and
  # unshare (tests/integration/test_exim_acl.py)
  libdb5.3 libgnutls30 libgnutls-dane0 libidn12 libidn2-0 libnsl2 libpcre2-8-0 util-linux
  # fleet mode (docs/fleet.md): the Redis client library, and private redis-server and
  # redis-sentinel instances started by tests/integration/test_fleet.py
  libhiredis-dev redis-server redis-sentinel
  # a real Prometheus text-format parser for osd metrics' output (tests/integration/test_metrics.py)
  python3-prometheus-client
  # the installed layout and the man pages (tests/integration/test_install.py, test_man.py):
  # systemd-analyze verify, systemd-sysusers and systemd-tmpfiles on a private root; the
  # man pages are built with scdoc and rendered with man-db's man -l
  systemd scdoc man-db
)

# Exim conflicts with postfix as the system MTA: its Debian packages are downloaded
# and unpacked into a folder of their own (never installed), for tests that run a
# private Exim daemon from there.
EXIM_CACHE=${OSD_EXIM_CACHE:-/var/cache/osd/exim4}
fetch_exim() {
  [ -x "$EXIM_CACHE/root/usr/sbin/exim4" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: need root to fetch Exim into $EXIM_CACHE" >&2
    return 1
  fi
  echo "install-deps: fetching exim4-daemon-light and exim4-base into $EXIM_CACHE"
  rm -rf "$EXIM_CACHE/debs" "$EXIM_CACHE/root.new"
  mkdir -p "$EXIM_CACHE/debs" "$EXIM_CACHE/root.new"
  # _apt (apt's download sandbox user) must be able to write there
  chown _apt "$EXIM_CACHE/debs" 2>/dev/null || true
  (cd "$EXIM_CACHE/debs" && { apt-get download -q exim4-daemon-light exim4-base >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get download -q exim4-daemon-light exim4-base >/dev/null; }; })
  for deb in "$EXIM_CACHE"/debs/*.deb; do dpkg -x "$deb" "$EXIM_CACHE/root.new"; done
  rm -rf "$EXIM_CACHE/root" && mv "$EXIM_CACHE/root.new" "$EXIM_CACHE/root"
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  fetch_exim
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi

# Postfix must install unconfigured so that no system MTA starts.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

# Keep package scripts from starting their daemons during the install.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; made_policy=1
fi
trap '[ $made_policy = 1 ] && rm -f "$policy"' EXIT

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fetch_exim
echo "install-deps: done"
