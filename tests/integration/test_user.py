"""osd user add/passwd/del/list: the vpasswd tree, its line format, bad input."""
import ctypes
import ctypes.util
import os
import pwd
import stat
import subprocess

from osdtest import OSD, Osd, check, finish

# libxcrypt's crypt(3) through ctypes: Python's crypt module is deprecated.
_libcrypt = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def crypt(password, setting):
    out = _libcrypt.crypt(password.encode(), setting.encode())
    return out.decode() if out is not None else None


def verifies(password, hashed):
    return crypt(password, hashed) == hashed


# Every password used below; none may ever show up in any output.
PASSWORDS = ["Bob-pw-1!", "Alice pw with spaces", "Carol-pw", "Bob-new-pw", "legacy-new-pw"]
outputs = []


def user(o, *args, password=None):
    """Run osd user with the password (if any) on stdin as one line."""
    p = o.run("user", *args, input=password + "\n" if password is not None else "")
    outputs.append(p.stdout + p.stderr)
    return p


def vpasswd_lines(o, domain):
    path = os.path.join(o.state, "domains", domain, "vpasswd")
    with open(path, "rb") as f:
        return f.read()


def line_of(o, domain, name):
    for line in vpasswd_lines(o, domain).decode().splitlines():
        if line.split(":")[0] == name:
            return line
    return None


o = Osd(extra="default_domain = Example.ORG\n")
domains = os.path.join(o.state, "domains")
try:
    p = subprocess.run([OSD, "user", "--help"], capture_output=True, text=True)
    check(p.returncode == 0 and "usage: osd user" in p.stdout, "osd user --help")

    # add: the domain folder on first use, home and Maildir, the line format.
    p = user(o, "add", "bob@Example.COM", password=PASSWORDS[0])
    check(p.returncode == 0 and p.stdout == "", "add bob@Example.COM (%s)" % p.stderr.strip())
    home = os.path.join(domains, "example.com", "bob")
    for sub in ["", "Maildir", "Maildir/tmp", "Maildir/new", "Maildir/cur"]:
        path = os.path.join(home, sub)
        ok = os.path.isdir(path) and stat.S_IMODE(os.stat(path).st_mode) == 0o700
        check(ok, "add made %s (mode 0700)" % os.path.relpath(path, o.root))
    vp = os.path.join(domains, "example.com", "vpasswd")
    check(stat.S_IMODE(os.stat(vp).st_mode) == 0o600, "a new vpasswd is mode 0600")
    check(os.path.exists(os.path.join(domains, "example.com", ".vpasswd.lock")),
          "the lock file is vpopmail's .vpasswd.lock")
    raw = vpasswd_lines(o, "example.com")
    check(raw.endswith(b"\n") and raw.count(b"\n") == 1, "vpasswd holds one newline-terminated line")
    f = raw.decode().rstrip("\n").split(":")
    check(len(f) == 7, "the line has the 7 vpopmail fields (no cleartext): %d" % len(f))
    check(f[0] == "bob" and f[2] == "1" and f[3] == "0" and f[4] == "bob" and f[6] == "NOQUOTA",
          "user, uid 1, flags 0, gecos, NOQUOTA: %r" % (f[:1] + f[2:],))
    check(f[5] == os.path.realpath(home) or f[5] == home, "home is absolute: %s" % f[5])
    check(f[1].startswith("$y$"), "the new hash is yescrypt")
    check(verifies(PASSWORDS[0], f[1]), "the hash verifies the password given on stdin")
    check(not verifies(PASSWORDS[0] + "x", f[1]), "and not another one")

    # A bare name goes to default_domain (lower-cased); quota and gecos.
    p = user(o, "add", "alice", "--quota", "50M", "--gecos", "Alice Liddell", password=PASSWORDS[1])
    check(p.returncode == 0, "add alice --quota 50M --gecos (%s)" % p.stderr.strip())
    line = line_of(o, "example.org", "alice")
    check(line is not None and line.split(":")[4:] == ["Alice Liddell",
          os.path.join(domains, "example.org", "alice"), "52428800S"],
          "alice is in example.org with gecos and quota 52428800S: %r" % line)
    check(line is not None and verifies(PASSWORDS[1], line.split(":")[1]),
          "a password with spaces is kept whole")

    p = user(o, "add", "bob@example.com", password="whatever")
    check(p.returncode == 100 and p.stderr.startswith("osd: user: add:") and "exists" in p.stderr,
          "adding bob twice: exit 100, exists (%s)" % p.stderr.strip())

    # Bad names: exit 100, nothing created anywhere.
    before = sorted(os.walk(o.root))
    for bad in ["../x@example.com", "a@../d", "a@d/e", "a:b@example.com", "", "@example.com",
                "a@", "x" * 300, "a b@example.com", "a\x1b[31m@example.com", ".hidden@example.com",
                "vpasswd@example.com", "a@b@example.com"]:
        p = user(o, "add", bad, password="pw")
        check(p.returncode == 100 and p.stderr.startswith("osd: user: add: ")
              and "\x1b" not in p.stderr,
              "bad name %r refused with 100 (%s)" % (bad[:20], p.stderr.strip()[:80]))
    check(sorted(os.walk(o.root)) == before, "the refused names created nothing")

    # Bad passwords and options.
    p = user(o, "add", "carol@example.com", password="")
    check(p.returncode == 100 and "empty password" in p.stderr, "an empty password is refused")
    p = user(o, "add", "carol@example.com")
    check(p.returncode == 100, "no password at all (stdin at EOF) is refused")
    p = user(o, "add", "carol@example.com", password="x" * 2000)
    check(p.returncode == 100 and "too long" in p.stderr, "an over-long password is refused")
    check(line_of(o, "example.com", "carol") is None, "and carol was not added")
    p = user(o, "add", "carol@example.com", "--quota", "lots", password="pw")
    check(p.returncode == 100 and "--quota" in p.stderr, "a bad quota is refused")
    p = user(o, "add", "carol@example.com", "--gecos", "a:b", password="pw")
    check(p.returncode == 100 and "--gecos" in p.stderr, "a gecos with ':' is refused")
    p = user(o, "list", "--quota", "5M")
    check(p.returncode == 100, "--quota with list is refused")
    p = user(o, "add", "-x", "carol@example.com")
    check(p.returncode == 100 and p.stderr.startswith("osd: user: unknown option -x"),
          "unknown options are named")
    p = user(o, "frobnicate", "carol@example.com")
    check(p.returncode == 100 and "unknown action" in p.stderr, "an unknown action is refused")
    p = user(o, "passwd")
    check(p.returncode == 100 and "usage" in p.stderr, "passwd without a name prints usage")

    # A hand-edited vpasswd: comments, CRLF, extra fields, a cleartext, a $1$ hash.
    p = user(o, "add", "carol@example.com", password=PASSWORDS[2])
    check(p.returncode == 0, "add carol")
    legacy_hash = crypt("legacy-old-pw", "$1$saltsalt")
    # Its home is outside users_dir, as after a move from /home/vpopmail.
    old_home = os.path.join(o.root, "elsewhere", "old")
    os.makedirs(os.path.join(old_home, "Maildir", "new"))
    with open(vp, "ab") as fh:
        fh.write(b"# added by hand\r\n")
        fh.write(("old:%s:1:2:Old Timer:%s:1000000S,100C:legacy-old-pw:future\r\n"
                  % (legacy_hash, old_home)).encode())
        fh.write(b"broken line without fields")
    os.chmod(vp, 0o640)
    p = user(o, "list", "example.com")
    check(p.returncode == 0 and p.stdout ==
          "bob@example.com\t-\tNOQUOTA\ncarol@example.com\t-\tNOQUOTA\n"
          "old@example.com\tno-pop\t1000000S,100C\n",
          "list DOMAIN: user@domain, flags, quota (%r)" % p.stdout)
    check(":5: " in p.stderr and p.stderr.startswith("osd: user: list: "),
          "list names the malformed line by file:line (%s)" % p.stderr.strip())
    p = user(o, "list")
    check(p.returncode == 0 and p.stdout.splitlines() ==
          ["bob@example.com\t-\tNOQUOTA", "carol@example.com\t-\tNOQUOTA",
           "old@example.com\tno-pop\t1000000S,100C", "alice@example.org\t-\t52428800S"],
          "list: every domain, sorted (%r)" % p.stdout)
    p = user(o, "list", "nowhere.org")
    check(p.returncode == 100 and "no such domain" in p.stderr, "list of an unknown domain: 100")
    p = user(o, "list", "../etc")
    check(p.returncode == 100, "list of a hostile domain: 100")

    # passwd: only that line's hash changes; every other byte stays.
    before = vpasswd_lines(o, "example.com")
    p = user(o, "passwd", "bob@example.com", password=PASSWORDS[3])
    check(p.returncode == 0, "passwd bob (%s)" % p.stderr.strip())
    after = vpasswd_lines(o, "example.com")
    old_bob = [l for l in before.split(b"\n") if l.startswith(b"bob:")][0]
    new_bob = [l for l in after.split(b"\n") if l.startswith(b"bob:")][0]
    check(after == before.replace(old_bob, new_bob), "passwd left every other line byte-identical")
    nf, of = new_bob.decode().split(":"), old_bob.decode().split(":")
    check(nf[0] == of[0] and nf[2:] == of[2:] and nf[1] != of[1], "only the hash field changed")
    check(verifies(PASSWORDS[3], nf[1]) and not verifies(PASSWORDS[0], nf[1]),
          "the new password verifies, the old one does not")
    check(stat.S_IMODE(os.stat(vp).st_mode) == 0o640, "the rewrite kept vpasswd's mode")

    # passwd on the vpopmail-style line: CRLF and extra fields kept, cleartext follows.
    p = user(o, "passwd", "old@example.com", password=PASSWORDS[4])
    check(p.returncode == 0, "passwd of a hand-written $1$ user")
    raw = vpasswd_lines(o, "example.com")
    tail = raw[raw.index(b"# added by hand"):]
    lines = tail.split(b"\r\n")
    f = lines[1].decode().split(":")
    check(lines[0] == b"# added by hand" and f[0] == "old" and f[2:7] ==
          ["1", "2", "Old Timer", old_home, "1000000S,100C"]
          and f[7] == PASSWORDS[4] and f[8] == "future" and lines[2] == b"broken line without fields",
          "CRLF, flags, quota, extra field kept; the cleartext field follows the new password")
    check(f[1].startswith("$y$") and verifies(PASSWORDS[4], f[1]), "the $1$ hash became yescrypt")

    p = user(o, "passwd", "nobody@example.com", password="pw")
    check(p.returncode == 100 and "no such user" in p.stderr, "passwd of an unknown user: 100")

    # del: the line goes, and the home unless --keep-mail.
    before = vpasswd_lines(o, "example.com")
    p = user(o, "del", "bob@example.com")
    check(p.returncode == 0, "del bob (%s)" % p.stderr.strip())
    after = vpasswd_lines(o, "example.com")
    check(after == before.replace(new_bob + b"\n", b""), "del removed exactly bob's line")
    check(not os.path.exists(home), "del removed bob's home")
    p = user(o, "del", "bob@example.com")
    check(p.returncode == 100 and "no such user" in p.stderr, "del of a gone user: 100")
    p = user(o, "del", "carol@example.com", "--keep-mail")
    check(p.returncode == 0 and line_of(o, "example.com", "carol") is None
          and os.path.isdir(os.path.join(domains, "example.com", "carol", "Maildir")),
          "del --keep-mail keeps the Maildir")
    # A home outside the domain folder is never removed.
    p = user(o, "del", "old@example.com")
    check(p.returncode == 0 and "left in place" in p.stderr and line_of(o, "example.com", "old") is None
          and os.path.isdir(os.path.join(old_home, "Maildir", "new")),
          "del of a user whose home is outside the domain folder leaves it (%s)" % p.stderr.strip())

    # Concurrent osd user add calls lose nothing.
    procs = []
    for i in range(12):
        cmd = [OSD, "user", "-c", o.conf, "add", "u%d@race.org" % i]
        procs.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE))
    for pr in procs:
        out, err = pr.communicate(b"race-pw\n", timeout=120)
        outputs.append((out + err).decode(errors="replace"))
    names = sorted(l.split(":")[0] for l in vpasswd_lines(o, "race.org").decode().splitlines())
    check(all(pr.returncode == 0 for pr in procs) and names == sorted("u%d" % i for i in range(12)),
          "12 concurrent adds: all 12 users are in vpasswd")

    # As root with mail_user set, what add creates belongs to mail_user.
    if os.geteuid() == 0:
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            nobody = None
        if nobody is not None:
            o.write_conf("3h", "default_domain = example.org\nmail_user = nobody\n")
            p = user(o, "add", "dave@owned.net", password="Dave-pw")
            PASSWORDS.append("Dave-pw")
            owned = [os.path.join(domains, "owned.net", x) for x in
                     ["", "vpasswd", ".vpasswd.lock", "dave", "dave/Maildir", "dave/Maildir/new"]]
            check(p.returncode == 0 and all(os.stat(x).st_uid == nobody.pw_uid and
                                            os.stat(x).st_gid == nobody.pw_gid for x in owned),
                  "as root, the domain, vpasswd and Maildir belong to mail_user")
            o.write_conf("3h", "mail_user = no-such-user-here\n")
            p = user(o, "add", "erin@owned.net", password="pw")
            check(p.returncode == 111 and "mail_user" in p.stderr, "an unknown mail_user: 111")

    leaked = [pw for pw in PASSWORDS if any(pw in out for out in outputs)]
    check(not leaked, "no password appears in any output (%r)" % leaked)
finally:
    o.cleanup()
finish()
