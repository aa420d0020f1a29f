#!/usr/bin/env bash
# start.sh - install what is needed, build, and start osd on its embedded demo
# configuration: loopback ports, state in ./demo inside the checkout, a demo user.
# Stop it with Ctrl-C (or SIGTERM to the osd run process).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

scripts/install-deps.sh
scripts/build.sh build

demo=$top/demo
mkdir -p "$demo/state" "$demo/control"
if [ ! -f "$demo/osd.conf" ]; then
  cat > "$demo/osd.conf" <<CONF
# osd demo configuration (made by scripts/start.sh; edit freely).
# Relative paths are relative to this file's folder.
state_dir = state
control_dir = control
rules = tcp.smtp
relay_expire = 3h
pop3_listen = 127.0.0.1:11110
smtp_listen = 127.0.0.1:2525
submission_listen = 127.0.0.1:2587
imap_listen = 127.0.0.1:11143
default_domain = example.test
services = watch pop3d smtpd queue
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

dom=$demo/state/domains/example.test
if [ ! -f "$dom/vpasswd" ]; then
  echo demo | build/osd user add -c "$demo/osd.conf" demo@example.test
  printf 'From: postmaster@example.test\r\nTo: demo@example.test\r\nSubject: Welcome to osd\r\n\r\nThis is the demo mailbox.\r\n' \
    > "$dom/demo/Maildir/new/1700000000.M1P1.demo"
fi

cat <<MSG

osd is starting on the demo configuration ($demo/osd.conf).
In another terminal, try:
  build/osd record -c demo/osd.conf 127.0.0.9     # what a POP3 login does
  build/osd check  -c demo/osd.conf 127.0.0.9     # decision: relay, and for how long
  curl pop3://127.0.0.1:11110/ -u demo:demo --interface 127.0.0.9   # a POP3 login records 127.0.0.9
  swaks --server 127.0.0.1:2525 --local-interface 127.0.0.9 --to someone@far.example   # relayed (250)
  swaks --server 127.0.0.1:2525 --local-interface 127.0.0.10 --to someone@far.example  # 553, no relay
  swaks --server 127.0.0.1:2587 -a PLAIN -au demo -ap demo --to someone@far.example   # submission with AUTH
  swaks --server 127.0.0.1:2525 --to demo@example.test   # delivered to the demo Maildir by osd queue
  build/osd qstat -c demo/osd.conf; build/osd qread -c demo/osd.conf   # the queue
  build/osd check  -c demo/osd.conf 127.0.0.10    # decision: no-relay
  cdb -d demo/state/relay.cdb                     # the table, as tcpserver reads it
  ls -l --time-style=+%T demo/state/open-smtp     # one empty file per address
Stop with Ctrl-C.

MSG
exec build/osd run -c "$demo/osd.conf"
