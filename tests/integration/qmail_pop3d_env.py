#!/usr/bin/env python3
"""qmail_pop3d_env.py MAILDIR - stands in for qmail-pop3d after osd checkpassword
in the tests: answers the PASS (or APOP) with "+OK " and a JSON object of what
the checkpassword program handed it (USER, HOME, SHELL, VPOPUSER, the uid and
gid, the working folder, its parent's pid, whether descriptor 3 is still open,
whether MAILDIR is a folder there), then serves QUIT."""
import json
import os
import sys


def main():
    try:
        os.fstat(3)
        fd3 = True
    except OSError:
        fd3 = False
    info = {k: os.environ.get(k) for k in ("USER", "HOME", "SHELL", "VPOPUSER", "TCPREMOTEIP")}
    info.update(uid=os.getuid(), euid=os.geteuid(), gid=os.getgid(), egid=os.getegid(),
                groups=os.getgroups(), cwd=os.getcwd(), pid=os.getpid(), ppid=os.getppid(),
                fd3_open=fd3, argv=sys.argv[1:],
                maildir=len(sys.argv) > 1 and os.path.isdir(os.path.join(sys.argv[1], "new")))
    os.write(1, ("+OK " + json.dumps(info, sort_keys=True) + "\r\n").encode())
    line = b""
    while not line.endswith(b"\n"):
        c = os.read(0, 1)
        if not c:
            return
        line += c
    os.write(1, b"+OK bye\r\n")


if __name__ == "__main__":
    main()
