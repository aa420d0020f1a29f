#!/usr/bin/env python3
"""osd queue when its delivery program cannot be started: a copy of osd-queue
in a folder without osd-local beside it (it runs its programs from its own
folder) defers a local delivery with the reason "cannot run .../osd-local:
..." in its log and in osd qread, the plain text of osd-local's one-line
verdict (docs/delivery.md), without osd-remote's protocol letter 'Z' in
front of it.
"""
import os
import shutil
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osdtest import BUILD, Osd, check, finish, free_port, wait_for  # noqa: E402

DOM = "example.test"


def main():
    o = Osd()
    port = free_port()
    queue = None
    try:
        o.write_conf("3h", "smtp_listen = 127.0.0.1:%d\nsubmission_listen =\npop3_listen =\n"
                     "control_dir = control\n" % port)
        o.write_control("me", "relay.osd.test\n")
        o.write_control("rcpthosts", DOM + "\n")
        p = o.run("user", "add", "bob@" + DOM, input="pw-bob\n")
        check(p.returncode == 0, "osd user add bob@%s (%s)" % (DOM, p.stderr.strip()))
        smtpd = o.start_smtpd(port)
        check(smtpd.poll() is None, "osd smtpd runs")
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=20)
        try:
            s.sendmail("alice@client.test", ["bob@" + DOM],
                       b"Subject: noprog\r\n\r\nBody.\r\n")
        finally:
            s.quit()
        check(len(o.queue_files()) == 1, "smtpd queued the message")

        # osd-queue alone in a folder: exec of its osd-local fails.
        lonely = os.path.join(o.root, "lonely")
        os.mkdir(lonely)
        prog = os.path.join(lonely, "osd-queue")
        shutil.copy2(os.path.join(BUILD, "osd-queue"), prog)
        log = open(os.path.join(o.root, "queue.log"), "ab")
        queue = subprocess.Popen([prog, "-c", o.conf], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        want = "cannot run %s/osd-local: " % lonely
        check(wait_for(lambda: "delivery 1: deferral: " in o.log("queue")),
              "osd queue deferred the local delivery (%r)" % o.log("queue")[-300:])
        line = [x for x in o.log("queue").splitlines() if "delivery 1: deferral: " in x]
        check(len(line) == 1 and line[0].split("delivery 1: deferral: ", 1)[1].startswith(want),
              "the log gives osd-local's reason as is: %r (%r)" % (want, line))
        check(wait_for(lambda: "deferred: " in o.run("qread").stdout), "osd qread shows it deferred")
        rc = [x for x in o.run("qread").stdout.splitlines() if "bob@" + DOM in x]
        head = "\tlocal\tbob@%s\tdeferred: " % DOM
        check(len(rc) == 1 and rc[0].startswith(head + want),
              "qread: %r, osd-local's reason without a 'Z' (%r)" % (head + want + "...", rc))
        check(o.stop(queue) == 0, "osd queue stops cleanly on SIGTERM")
        qlog = o.log("queue")
        check("AddressSanitizer" not in qlog and "runtime error" not in qlog,
              "no sanitizer report in queue.log")
    finally:
        if queue is not None:
            o.stop(queue)
        for p in o.procs:
            o.stop(p)
        o.cleanup()
    finish()


if __name__ == "__main__":
    main()
