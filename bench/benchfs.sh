# benchfs.sh - a private ext4 (a loop image, journaled unless asked otherwise) for the SMTP benchmarks' queues; sourced.
# shellcheck shell=bash
#
#   . bench/benchfs.sh; benchfs_mount DIR IMAGE SIZE INODES [MKFS_OPTION...]; ...; benchfs_umount
#
# Why: on ext4 without a journal (this machine's root file system) the inode
# allocator passes over every inode freed in the last 1-6 minutes
# (recently_deleted() in fs/ext4/ialloc.c, consulted only without a journal),
# so each file created costs a scan of whatever anyone deleted lately in the
# same block group: 0.3-0.9 ms per create here while other helpers delete
# files, 0.03 ms on a journaled ext4 with the same deletions.  Every server
# creates at least one file per message, so the figures followed the other
# processes' deletions and the previous runs' (bench/README.md, "Why osd's
# rate fell from run to run").  A private file system of the default kind
# (mkfs.ext4: journal on) holds every server's queue; fsync still reaches
# the disk through the loop device.  Needs root, mkfs.ext4 and losetup.
BENCHFS_DIR="" BENCHFS_IMAGE=""

# benchfs_mount DIR IMAGE SIZE INODES [MKFS_OPTION...]: make IMAGE (sparse, SIZE as truncate -s
# takes it; mkfs.ext4's defaults, a journal included, unless the options say otherwise), mount it on DIR.
benchfs_mount() {
	command -v mkfs.ext4 >/dev/null || { echo "benchfs: mkfs.ext4 is missing (e2fsprogs)" >&2; return 1; }
	truncate -s "$3" "$2" || return 1
	mkfs.ext4 -q -F -N "$4" -E lazy_itable_init=0,lazy_journal_init=0 "${@:5}" "$2" || { rm -f "$2"; return 1; }
	mount -o loop "$2" "$1" || { rm -f "$2"; return 1; }
	BENCHFS_DIR=$1 BENCHFS_IMAGE=$2
	chmod 755 "$1"
}

# benchfs_osd_conf WORK PORT: the benchmarks' osd in WORK: WORK/osd.conf (state WORK/state,
# fsync = yes, smtpd on 127.0.0.1:PORT, 500 connections, user mail) and WORK/control
# (rcpthosts example.test, databytes 10 MB, me).  WORK/control must exist.
benchfs_osd_conf() {
	echo example.test >"$1/control/rcpthosts"
	echo 10485760 >"$1/control/databytes"
	echo osd.example.test >"$1/control/me"
	cat >"$1/osd.conf" <<EOF
state_dir = $1/state
control_dir = $1/control
rules = $1/tcp.smtp
smtp_listen = 127.0.0.1:$2
submission_listen =
smtps_listen =
smtp_max_connections = 500
smtp_max_per_ip = 500
fsync = yes
user = mail
log = stderr
EOF
}

# Unmounts and removes the image (idempotent).
benchfs_umount() {
	[ -n "$BENCHFS_DIR" ] && { umount "$BENCHFS_DIR" 2>/dev/null || umount -l "$BENCHFS_DIR"; }
	[ -n "$BENCHFS_IMAGE" ] && rm -f "$BENCHFS_IMAGE"
	BENCHFS_DIR="" BENCHFS_IMAGE=""
}

# One line for the benchmark's header: what holds the queues.
benchfs_describe() {
	if [ -n "$BENCHFS_DIR" ]; then
		echo "queues on a private ext4 ($(dumpe2fs -h "$BENCHFS_IMAGE" 2>/dev/null | grep -q has_journal &&
			echo journaled || echo "no journal"); $(du -h --apparent-size "$BENCHFS_IMAGE" | cut -f1) loop image in $(dirname "$BENCHFS_IMAGE"))"
	else
		echo "queues on $(stat -f -c %T "$1") ($1)"
	fi
}
