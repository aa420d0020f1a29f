#!/usr/bin/env bash
# check-deps.sh - file-level dependency cycles and folder-level layer violations, from the built objects' symbols and the sources' includes.
# Usage: scripts/check-deps.sh [BUILD_DIR]   (default: build; it must be compiled)
#
# For every object of a source outside tests/ and bench/ (found through the
# build's compile_commands.json), `nm` lists the symbols it defines and the
# ones it leaves undefined; an undefined symbol that another object defines
# is a dependency of the first file on the second. The script prints
#   - every group of files that depend on each other, directly or round a
#     ring (the strongly connected components of that graph with more than
#     one file), with the symbols each uses of the next;
#   - every dependency, by symbol or by #include "x.h", that goes against the
#     folder order of docs/hacking.md.
# It exits 1 if it printed any of these, 0 if there are none.
set -euo pipefail
if [ $# -gt 0 ]; then
  build=$(realpath "$1")
  cd "$(dirname "$0")/.."
else
  cd "$(dirname "$0")/.."
  build=$(realpath build)
fi
if [ ! -f "$build/compile_commands.json" ]; then
  echo "check-deps: $build/compile_commands.json: missing (meson setup $build && meson compile -C $build)" >&2
  exit 2
fi

exec python3 - "$build" <<'PY'
import json, os, re, subprocess, sys

build = sys.argv[1]
# The sources the build was made from (they need not be this checkout's).
with open(os.path.join(build, 'meson-info', 'meson-info.json')) as f:
    top = json.load(f)['directories']['source']
os.chdir(top)

# The folder order (docs/hacking.md): what each folder may use besides itself.
LIB = ['lib/util', 'lib/net', 'lib/auth', 'lib/relay', 'lib/config']
ALLOWED = {
    'lib/util': [],
    'lib/net': ['lib/util'],
    'lib/auth': ['lib/util'],
    'lib/relay': ['lib/util'],
    'lib/config': ['lib/util', 'lib/net', 'lib/relay'],
    # osd config check and osd status read the gate's files with the gate's own
    # readers: the queue and aliases (queue/), smtproutes (remote/mx.c).
    'osd': LIB + ['smtp-gate/queue', 'smtp-gate/remote'],
    'cron': LIB,
    'pop3d': LIB,
    'imapd': LIB,
    'policyd': LIB,
    'checkpassword': LIB,
    'smtp-gate/queue': LIB,
}
for room in ['smtpd', 'qmgr', 'local', 'remote']:
    ALLOWED['smtp-gate/' + room] = LIB + ['smtp-gate/queue']

def folder(path):
    """The folder a source belongs to, as the rules name it."""
    d = os.path.dirname(path)
    return d if d in ALLOWED else None

# One object per source file (a source built twice, as pop3d/maildir.c is
# for its unit test, is the same file: the first object stands for it).
objects = {}
with open(os.path.join(build, 'compile_commands.json')) as f:
    for e in json.load(f):
        src = os.path.relpath(os.path.join(e['directory'], e['file']), top)
        if src.startswith(('tests/', 'bench/', '..')) or src in objects:
            continue
        objects[src] = os.path.join(e['directory'], e['output'])

def nm(obj, *args):
    out = subprocess.run(['nm', *args, obj], check=True, capture_output=True, text=True).stdout
    return [line.split()[-1] for line in out.splitlines() if line.strip()]

defined_by = {}
undefined = {}
for src, obj in objects.items():
    for sym in nm(obj, '--defined-only', '--extern-only'):
        if sym != 'main':
            defined_by.setdefault(sym, src)
    undefined[src] = nm(obj, '--undefined-only')

# File-level edges: a -> b with the symbols a takes from b.
edges = {src: {} for src in objects}
for src, syms in undefined.items():
    for sym in syms:
        dst = defined_by.get(sym)
        if dst and dst != src:
            edges[src].setdefault(dst, []).append(sym)

# Strongly connected components (Tarjan).
index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in sorted(edges[v]):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        comps.append(sorted(comp))
sys.setrecursionlimit(10000)
for v in sorted(objects):
    if v not in index:
        visit(v)

found = 0
for comp in sorted(c for c in comps if len(c) > 1):
    found += 1
    print('cycle: ' + ' <-> '.join(comp))
    for a in comp:
        for b in comp:
            if b in edges[a]:
                print('  %s uses %s: %s' % (a, b, ' '.join(sorted(set(edges[a][b])))))

def violation(a, b):
    fa, fb = folder(a), folder(b)
    if fa is None or fb is None:
        return '%s or %s is in no folder of the rules' % (a, b)
    if fa != fb and fb not in ALLOWED[fa]:
        return '%s may not use %s' % (fa, fb)
    return None

for a in sorted(edges):
    for b in sorted(edges[a]):
        why = violation(a, b)
        if why:
            found += 1
            print('layer: %s uses %s (%s): %s' % (a, b, ' '.join(sorted(set(edges[a][b]))), why))

# The same rule over #include "x.h". The include paths are flat (each
# library adds its folder), so a header's name must be unique in the tree
# and then says which folder it is in.
headers = {}
sources = []
for d in ALLOWED:
    for name in sorted(os.listdir(d)):
        if name.endswith('.h'):
            headers.setdefault(name, []).append(os.path.join(d, name))
        if name.endswith(('.c', '.h')):
            sources.append(os.path.join(d, name))
for name, where in sorted(headers.items()):
    if len(where) > 1:
        found += 1
        print('header: %s is in %s' % (name, ' and '.join(where)))
include = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
for src in sources:
    with open(src, errors='replace') as f:
        for n, line in enumerate(f, 1):
            m = include.match(line)
            if not m:
                continue
            # As the compiler: the including file's own folder first.
            here = os.path.join(os.path.dirname(src), m.group(1))
            where = [here] if os.path.exists(here) else headers.get(os.path.basename(m.group(1)), [])
            if len(where) != 1:
                continue
            why = violation(src, where[0])
            if why:
                found += 1
                print('include: %s:%d: "%s": %s' % (src, n, m.group(1), why))

print('check-deps: %d files, %d found' % (len(objects), found))
sys.exit(1 if found else 0)
PY
