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
  # a real IMAP synchronizer (tests/integration/test_mbsync.py)
  isync
  # Dovecot's imaptest is built from ../shared/tools/imaptest (scripts/imaptest.sh,
  # tests/integration/test_imaptest.py) against Dovecot's development files
  dovecot-dev make autoconf automake libtool
  # swaks --tls needs Net::SSLeay, swaks over IPv6 IO::Socket::INET6 (both only
  # recommended by swaks)
  libnet-ssleay-perl libio-socket-inet6-perl
  # /usr/bin/time (test_remote_delivery.py measures peak memory with it)
  time
  # more real IMAP clients (tests/integration/test_imap_clients.py): offlineimap,
  # getmail, mutt run headless in tmux
  offlineimap3 getmail6 mutt tmux
  # the peer Postfix policy server of bench/bench_policyd.sh (a Perl prefork server)
  postfwd
  # the installed layout and the man pages (tests/integration/test_install.py, test_man.py):
  # systemd-analyze verify, systemd-sysusers and systemd-tmpfiles on a private root; the
  # man pages are built with scdoc and rendered with man-db's man -l
  systemd scdoc man-db
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
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
echo "install-deps: done"
