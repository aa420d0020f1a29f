#!/usr/bin/env python3
"""qmail_popup.py HOSTNAME SUBPROGRAM [ARGS...] - qmail-popup's part for the tests
(Debian 12 ships no qmail): under tcpserver, greet with an RFC 1939 timestamp
"<pid.time@HOSTNAME>", take USER/PASS or APOP, then do what qmail-popup's
doanddie() does: fork, put a pipe on descriptor 3 of the child, exec
SUBPROGRAM (a checkpassword program) in it with the network as its standard
input and output, write "user\\0password\\0timestamp\\0" into the pipe, close
it and wait.  A child that exits non-zero gets "-ERR authorization failed"
(it crashed: "-ERR aack, child crashed"), as qmail-popup says.  For the test it
also writes "popup: checkpassword exit N" (or "signal N") to stderr, which
tcpserver's log keeps beside osd checkpassword's own lines.
"""
import os
import sys
import time


def out(text):
    os.write(1, (text + "\r\n").encode())


def readline():
    """One command line from the client, read octet by octet: nothing past it
    is taken from the descriptor the next program inherits."""
    line = b""
    while not line.endswith(b"\n"):
        c = os.read(0, 1)
        if not c:
            sys.exit(0)
        line += c
        if len(line) > 4096:
            out("-ERR line too long")
            sys.exit(1)
    return line.rstrip(b"\r\n")


def doanddie(user, password, timestamp, prog):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        if r != 3:
            os.dup2(r, 3)
            os.close(r)
        os.set_inheritable(3, True)     # os.pipe() gives close-on-exec descriptors
        try:
            os.execvp(prog[0], prog)
        finally:
            os._exit(111)
    os.close(r)
    os.write(w, user + b"\0" + password + b"\0" + timestamp + b"\0")
    os.close(w)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sys.stderr.write("popup: checkpassword signal %d\n" % os.WTERMSIG(status))
        out("-ERR aack, child crashed")
    elif os.WEXITSTATUS(status) != 0:
        sys.stderr.write("popup: checkpassword exit %d\n" % os.WEXITSTATUS(status))
        out("-ERR authorization failed")
    else:
        sys.stderr.write("popup: checkpassword exit 0\n")
    sys.stderr.flush()
    sys.exit(0)


def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: qmail_popup.py HOSTNAME SUBPROGRAM [ARGS...]\n")
        sys.exit(100)
    timestamp = ("<%d.%d@%s>" % (os.getpid(), int(time.time()), sys.argv[1])).encode()
    prog = sys.argv[2:]
    out("+OK " + timestamp.decode())
    user = None
    while True:
        cmd, _, arg = readline().partition(b" ")
        verb = cmd.upper()
        if verb == b"QUIT":
            out("+OK ")
            return
        if verb == b"USER":
            user = arg
            out("+OK ")
        elif verb == b"PASS":
            if user is None:
                out("-ERR USER first")
                continue
            doanddie(user, arg, timestamp, prog)
        elif verb == b"APOP":
            name, _, digest = arg.partition(b" ")
            doanddie(name, digest, timestamp, prog)
        else:
            out("-ERR authorization first")


if __name__ == "__main__":
    main()
