#!/usr/bin/env bash
# demo-setup.sh - make (or bring up to date) the demo folder scripts/start.sh runs osd on:
# osd.conf with loopback ports, tcp.smtp, control files, the demo user demo@example.test
# (password "demo") with one message, and a local postmaster. Keeps what exists (edit freely).
# Usage: scripts/demo-setup.sh DIR [OSD]   (OSD: the osd command, default build/osd)
# tests/integration/test_demo.py runs it too.
set -euo pipefail
demo=$1
osd=${2:-build/osd}
mkdir -p "$demo/state" "$demo/control"
if [ ! -f "$demo/osd.conf" ]; then
  cat > "$demo/osd.conf" <<CONF
# osd demo configuration (made by scripts/demo-setup.sh for scripts/start.sh; edit freely).
# Relative paths are relative to this file's folder.
state_dir = state
control_dir = control
rules = tcp.smtp
relay_expire = 3h
pop3_listen = 127.0.0.1:11110
smtp_listen = 127.0.0.1:2525
submission_listen = 127.0.0.1:2587
imap_listen = 127.0.0.1:11143
metrics_listen = 127.0.0.1:9469
default_domain = example.test
services = watch pop3d smtpd queue imapd metrics
CONF
  cat > "$demo/tcp.smtp" <<'RULES'
# Static rules in tcprules syntax; logins add ADDRESS:allow,RELAYCLIENT="".
127.0.0.1:allow,RELAYCLIENT=""
:allow
RULES
  echo demo.example.test > "$demo/control/me"
  echo example.test > "$demo/control/rcpthosts"
fi

# The demo user demo@example.test (password "demo"), vpopmail layout, with one message.
# Demo folders made before the SMTP gate existed get it too.
sed -i 's/^services = watch pop3d\( smtpd\)\?$/services = watch pop3d smtpd queue/' "$demo/osd.conf"
# ... and the IMAP server, now that there is one (imap_listen was always set).
sed -i 's/^services = watch pop3d smtpd queue$/services = watch pop3d smtpd queue imapd/' "$demo/osd.conf"
# ... and the Prometheus metrics on loopback (docs/operations.md, Metrics).
if ! grep -q '^metrics_listen' "$demo/osd.conf"; then
  sed -i 's/^services = watch pop3d smtpd queue imapd$/metrics_listen = 127.0.0.1:9469\nservices = watch pop3d smtpd queue imapd metrics/' "$demo/osd.conf"
fi

dom=$demo/state/domains/example.test
if [ ! -f "$dom/vpasswd" ]; then
  echo demo | "$osd" user add -c "$demo/osd.conf" demo@example.test
  printf 'From: postmaster@example.test\r\nTo: demo@example.test\r\nSubject: Welcome to osd\r\n\r\nThis is the demo mailbox.\r\n' \
    > "$dom/demo/Maildir/new/1700000000.M1P1.demo"
fi
# The demo's postmaster is local: postmaster@example.test, an alias of the demo user, receives
# the double bounces (a bounce that could not go back to its sender). The default,
# postmaster@me = postmaster@demo.example.test, is no local domain and would lose them.
# Demo folders made before get it too.
[ -f "$demo/control/doublebounceto" ] || echo postmaster@example.test > "$demo/control/doublebounceto"
grep -qs '^postmaster:' "$dom/aliases" || echo 'postmaster: demo' >> "$dom/aliases"
