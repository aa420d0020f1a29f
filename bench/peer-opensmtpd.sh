#!/usr/bin/env bash
# peer-opensmtpd.sh - a private OpenSMTPD on loopback for bench_smtpd.sh and bench_queue.sh.
#
#   . bench/peer-opensmtpd.sh            # a library: osmtpd_fetch, osmtpd_start, osmtpd_stop
#   bench/peer-opensmtpd.sh PORT SINK_PORT WORKDIR   # start one in the foreground (Ctrl-C stops it)
#
# Debian's opensmtpd conflicts with postfix as the system MTA, so it is never
# installed: `apt-get download opensmtpd` + `dpkg -x` into
# /var/cache/osd/opensmtpd/root (OSD_OPENSMTPD_CACHE; its libraries libevent,
# libssl, libdb5.3, libpam, zlib are installed here already).  osmtpd_start
# PORT SINK_PORT WORKDIR runs the unpacked `smtpd -d -f WORKDIR/smtpd.conf` in
# a private mount namespace (unshare -m) where an overlay over /etc holds its
# own passwd and group (with its users opensmtpd and opensmtpq) and
# resolv.conf, and WORKDIR's folders are bound over /var/spool (its queue
# /var/spool/smtpd), /var/lib (its chroot /var/lib/opensmtpd/empty) and /run
# (its control socket): it touches nothing of the host.  (Files bound over
# /etc/passwd itself were lost whenever a useradd on the host renamed a new
# /etc/passwd into place: a mount on a file renamed over in another
# namespace is detached.)  It listens on 127.0.0.1:PORT and relays everything for
# example.test to 127.0.0.1:SINK_PORT.  How it is configured, and why, is in
# bench/README.md ("OpenSMTPD, the second peer").  Sets OSMTPD_PID (smtpd's
# parent) and DNSMASQ_PID.  Needs root, unshare, dnsmasq and cc.
OSMTPD_CACHE=${OSD_OPENSMTPD_CACHE:-/var/cache/osd/opensmtpd}
OSMTPD_BIN=$OSMTPD_CACHE/root/usr/sbin/smtpd
OSMTPD_PID="" DNSMASQ_PID="" OSMTPD_WORK=""
osmtpd_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

osmtpd_die() { echo "peer-opensmtpd: $*" >&2; exit 111; }

# Unpacks Debian's opensmtpd into $OSMTPD_CACHE/root once (benchmark-only: not in install-deps.sh).
osmtpd_fetch() {
	[ -x "$OSMTPD_BIN" ] && return 0
	echo "# fetching Debian's opensmtpd into $OSMTPD_CACHE (apt-get download + dpkg -x, not installed)" >&2
	rm -rf "$OSMTPD_CACHE/debs" "$OSMTPD_CACHE/root.new"
	mkdir -p "$OSMTPD_CACHE/debs" "$OSMTPD_CACHE/root.new"
	chown _apt "$OSMTPD_CACHE/debs" 2>/dev/null || true
	(cd "$OSMTPD_CACHE/debs" && { apt-get download -q opensmtpd >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get download -q opensmtpd >/dev/null; }; }) ||
		osmtpd_die "apt-get download opensmtpd failed"
	for deb in "$OSMTPD_CACHE"/debs/*.deb; do dpkg -x "$deb" "$OSMTPD_CACHE/root.new"; done
	rm -rf "$OSMTPD_CACHE/root" && mv "$OSMTPD_CACHE/root.new" "$OSMTPD_CACHE/root"
	ldd "$OSMTPD_BIN" | grep -q 'not found' && osmtpd_die "$OSMTPD_BIN misses libraries: $(ldd "$OSMTPD_BIN" | grep 'not found')"
	return 0
}

# A uid/gid free on this host (for opensmtpd and opensmtpq, which exist only in the namespace).
osmtpd_free_id() {
	local i=$1
	while getent passwd "$i" >/dev/null || getent group "$i" >/dev/null; do i=$((i + 1)); done
	echo "$i"
}

# osmtpd_start PORT SINK_PORT WORKDIR: starts dnsmasq and smtpd, waits until smtpd listens.
osmtpd_start() {
	local port=$1 sink=$2 w=$3 uid quid addr i
	command -v unshare >/dev/null || osmtpd_die "unshare (util-linux) is missing"
	command -v dnsmasq >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -q dnsmasq-base >/dev/null ||
		osmtpd_die "dnsmasq is missing (apt-get install dnsmasq-base)"; }
	command -v cc >/dev/null || osmtpd_die "cc is missing"
	osmtpd_fetch
	OSMTPD_WORK=$w
	mkdir -p "$w/spool" "$w/varlib/opensmtpd/empty" "$w/run" "$w/etc" "$w/etc.work"
	chmod 755 "$w" "$w/varlib" "$w/varlib/opensmtpd"
	chmod 711 "$w/spool"
	uid=$(osmtpd_free_id 64010); quid=$(osmtpd_free_id $((uid + 1)))
	{ cat /etc/passwd
	  echo "opensmtpd:x:$uid:$uid:OpenSMTPD (bench):/nonexistent:/usr/sbin/nologin"
	  echo "opensmtpq:x:$quid:$quid:OpenSMTPD queue (bench):/nonexistent:/usr/sbin/nologin"; } >"$w/etc/passwd"
	{ cat /etc/group; echo "opensmtpd:x:$uid:"; echo "opensmtpq:x:$quid:"; } >"$w/etc/group"
	chmod 644 "$w/etc/passwd" "$w/etc/group"
	cc -O2 -shared -fPIC -o "$w/listen_backlog.so" "$osmtpd_here/listen_backlog.c" -ldl ||
		osmtpd_die "cannot build the listen backlog shim"
	# The resolver: dnsmasq on a loopback address of its own, answering from a hosts file
	# (127.0.0.1 <-> localhost, what a client on loopback resolves to) and NXDOMAIN for
	# everything else, never asking anyone outside.
	printf '127.0.0.1 localhost\n' >"$w/dns.hosts"
	for i in $(seq 20); do
		addr=127.$((RANDOM % 200 + 30)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
		dnsmasq --conf-file=/dev/null --keep-in-foreground --listen-address="$addr" --bind-interfaces \
			--port=53 --no-resolv --no-hosts --addn-hosts="$w/dns.hosts" --local=/#/ --pid-file= \
			--user=nobody --cache-size=1000 2>"$w/dnsmasq.log" &
		DNSMASQ_PID=$!
		sleep 0.2
		kill -0 "$DNSMASQ_PID" 2>/dev/null && break
		wait "$DNSMASQ_PID" 2>/dev/null; DNSMASQ_PID=""
	done
	[ -n "$DNSMASQ_PID" ] || { cat "$w/dnsmasq.log" >&2; osmtpd_die "dnsmasq did not start"; }
	printf 'nameserver %s\noptions timeout:1 attempts:1\n' "$addr" >"$w/etc/resolv.conf"
	chmod 644 "$w/etc/resolv.conf"
	# The configuration: see bench/README.md, "OpenSMTPD, the second peer".
	cat >"$w/smtpd.conf" <<EOF
# private OpenSMTPD for osd's benchmarks (bench/peer-opensmtpd.sh)
smtp max-message-size 10M
smtp limit max-mails 1000000
mta limit max-conn-per-host 20 max-conn-per-route 20 max-conn-per-connector 20 conn-delay-route 0 conn-delay-relay 0 reconn-delay-route 0
listen on 127.0.0.1 port $port hostname opensmtpd.example.test
action "sink" relay host smtp://127.0.0.1:$sink
match from any for domain "example.test" action "sink"
EOF
	chmod 644 "$w/smtpd.conf"
	: >"$w/smtpd.log"
	# unshare execs sh, sh execs smtpd: the PID is smtpd's parent ("-d": stays in the foreground).
	LISTEN_BACKLOG_MIN=${LISTEN_BACKLOG_MIN:-128} unshare -m sh -c '
		w=$1; shift
		mount -t overlay overlay -o "lowerdir=/etc,upperdir=$w/etc,workdir=$w/etc.work" /etc || exit 1
		mount --bind "$w/spool" /var/spool && mount --bind "$w/varlib" /var/lib &&
			mount --bind "$w/run" /run || exit 1
		LD_PRELOAD=$w/listen_backlog.so exec "$@"' sh "$w" "$OSMTPD_BIN" -d -f "$w/smtpd.conf" \
		>>"$w/smtpd.log" 2>&1 &
	OSMTPD_PID=$!
	for i in $(seq 100); do
		ss -Hltn "sport = :$port" | grep -q . && break
		kill -0 "$OSMTPD_PID" 2>/dev/null || break
		sleep 0.1
	done
	ss -Hltn "sport = :$port" | grep -q . || { tail -20 "$w/smtpd.log" >&2; osmtpd_die "smtpd did not start"; }
	return 0
}

# Stops smtpd (SIGTERM to its parent, which stops its children) and dnsmasq, by PID.
osmtpd_stop() {
	local p
	for p in $OSMTPD_PID $DNSMASQ_PID; do
		kill -0 "$p" 2>/dev/null || continue
		kill "$p"
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$p" 2>/dev/null && kill -9 "$p"
		wait "$p" 2>/dev/null || true
	done
	OSMTPD_PID="" DNSMASQ_PID=""
}

# Messages still in smtpd's queue (envelopes under spool/smtpd/queue).
osmtpd_queued() {
	find "$OSMTPD_WORK/spool/smtpd/queue" "$OSMTPD_WORK/spool/smtpd/incoming" -type f 2>/dev/null | wc -l
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -eu
	[ $# = 3 ] || { sed -n '2,6s/^# \{0,1\}//p' "$0" >&2; exit 100; }
	[ "$(id -u)" = 0 ] || osmtpd_die "run as root"
	mkdir -p "$3"
	trap osmtpd_stop EXIT
	trap 'exit 130' INT TERM
	osmtpd_start "$1" "$2" "$3"
	echo "# OpenSMTPD (pid $OSMTPD_PID) on 127.0.0.1:$1, relaying to 127.0.0.1:$2, resolver $(head -1 "$3/etc/resolv.conf")"
	wait "$OSMTPD_PID"
fi
