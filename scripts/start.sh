#!/usr/bin/env bash
# start.sh - install what is needed, build, and start osd on its demo configuration
# (scripts/demo-setup.sh): loopback ports, state in ./demo inside the checkout, a demo user.
# Stop it with Ctrl-C (or SIGTERM to the osd run process).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

scripts/install-deps.sh
scripts/build.sh build

demo=$top/demo
scripts/demo-setup.sh "$demo" build/osd

cat <<MSG

osd is starting on the demo configuration ($demo/osd.conf).
In another terminal, try:
  build/osd record -c demo/osd.conf 127.0.0.9     # what a POP3 login does
  build/osd check  -c demo/osd.conf 127.0.0.9     # decision: relay, and for how long
  curl pop3://127.0.0.1:11110/ -u demo:demo --interface 127.0.0.9   # a POP3 login records 127.0.0.9
  curl imap://127.0.0.1:11143/ -u demo:demo --interface 127.0.0.11  # an IMAP login (lists INBOX) records 127.0.0.11
  curl 'imap://127.0.0.1:11143/INBOX;UID=1' -u demo:demo             # the welcome message over IMAP
  swaks --server 127.0.0.1:2525 --local-interface 127.0.0.9 --to someone@far.example   # relayed (250)
  swaks --server 127.0.0.1:2525 --local-interface 127.0.0.10 --to someone@far.example  # 553, no relay
  swaks --server 127.0.0.1:2587 -a PLAIN -au demo -ap demo --to someone@far.example   # submission with AUTH
  swaks --server 127.0.0.1:2525 --to demo@example.test   # delivered to the demo Maildir by osd queue
  swaks --server 127.0.0.1:2525 --to someone@nowhere.invalid   # no such domain: the bounce (or, when the
      # sender's domain fails too, the double bounce to postmaster@example.test) lands in the demo Maildir
  build/osd qstat -c demo/osd.conf; build/osd qread -c demo/osd.conf   # the queue
  build/osd check  -c demo/osd.conf 127.0.0.10    # decision: no-relay
  curl -s http://127.0.0.1:9469/metrics | grep -v '^#'   # the counters, as Prometheus scrapes them
  cdb -d demo/state/relay.cdb                     # the table, as tcpserver reads it
  ls -l --time-style=+%T demo/state/open-smtp     # one empty file per address
Stop with Ctrl-C.

MSG
exec build/osd run -c "$demo/osd.conf"
