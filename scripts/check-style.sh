#!/usr/bin/env bash
# check-style.sh - the layout rules of docs/hacking.md "Code style", over every tracked .c file.
# Usage: scripts/check-style.sh [FILE.c...]   (default: every .c file git tracks)
#
# It prints FILE:LINE: what for
#   - a function definition not in style(9) layout: the return type (with
#     `static` and any attribute) on a line of its own, the function's name
#     at column 0 of the next, the opening brace alone on a line after the
#     parameter list;
#   - `if(`, `for(`, `while(`, `switch(`: a space goes after the keyword;
#   - a line indented with eight spaces, where a tab goes;
#   - whitespace at the end of a line.
# Comments, strings and preprocessor lines are blanked before looking, so
# text in them is never taken for code. It exits 1 if it printed anything.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
  files=("$@")
elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.c')
else
  mapfile -t files < <(find . -name '*.c' -not -path './build*' | sed 's,^\./,,' | sort)
fi

exec python3 - "${files[@]}" <<'PY'
import re, sys

def clean(src):
    """src with comments, string and character literals and preprocessor
    lines blanked to spaces; newlines are kept, so offsets and lines hold."""
    out = list(src)
    i, n = 0, len(src)
    bol = True

    def blank(a, b):
        for m in range(a, b):
            if out[m] != '\n':
                out[m] = ' '

    while i < n:
        if bol:
            j = i
            while j < n and src[j] in ' \t':
                j += 1
            if j < n and src[j] == '#':
                k = j  # up to the first newline not escaped by a backslash
                while k < n and not (src[k] == '\n' and src[k - 1] != '\\'):
                    if src.startswith('/*', k):
                        e = src.find('*/', k + 2)
                        k = n if e < 0 else e + 2
                    else:
                        k += 1
                blank(j, k)
                i = k
                continue
        bol = False
        c = src[i]
        if src.startswith('//', i):
            e = src.find('\n', i)
            e = n if e < 0 else e
            blank(i, e)
            i = e
        elif src.startswith('/*', i):
            e = src.find('*/', i + 2)
            e = n if e < 0 else e + 2
            blank(i, e)
            i = e
        elif c in '"\'':
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == '\\' else 1
            blank(i + 1, min(j, n))
            i = j + 1
        else:
            bol = c == '\n'
            i += 1
    return ''.join(out)

def name_of(cl, start, brace):
    """The offset of the defined function's name in the header cl[start:brace]:
    the identifier before the first '(' that is not an __attribute__'s."""
    j = start
    while True:
        while j < brace and cl[j] != '(':
            j += 1
        if j == brace:
            return None
        k = j
        while k > start and cl[k - 1] in ' \t\n':
            k -= 1
        m = k
        while m > start and (cl[m - 1].isalnum() or cl[m - 1] == '_'):
            m -= 1
        if cl[m:k] != '__attribute__':
            return m if m < k else None
        depth = 0  # step over the attribute's parentheses
        while j < brace:
            depth += {'(': 1, ')': -1}.get(cl[j], 0)
            if depth == 0:
                break
            j += 1
        j += 1

def outside_parens(h):
    depth, out = 0, []
    for ch in h:
        depth += {'(': 1, ')': -1}.get(ch, 0)
        if depth == 0 and ch not in '()':
            out.append(ch)
    return ''.join(out)

MACRO_LINE = re.compile(r'[A-Z_][A-Z0-9_]*\([^;{}()]*\)')

def definitions(cl):
    """(name offset, brace offset) of every function definition: a '{' at
    file level after a header that ends with ')' and assigns nothing."""
    depth, start = 0, 0
    for i, c in enumerate(cl):
        if c == '{':
            if depth == 0:
                h = cl[start:i].rstrip()
                if h.endswith(')') and '=' not in outside_parens(h):
                    m = name_of(cl, start, i)
                    if m is not None:
                        yield start, m, i
            depth += 1
        elif c == '}':
            depth -= 1
            if depth == 0:
                start = i + 1
        elif c == ';' and depth == 0:
            start = i + 1
        elif c == '\n' and depth == 0 and MACRO_LINE.fullmatch(cl[start:i].strip()):
            start = i + 1   # a file-level macro call such as GOLDEN(basic) ends there

KEYWORD_PAREN = re.compile(r'\b(if|for|while|switch)\(')

found = 0
def report(path, src, pos, what):
    global found
    found += 1
    print('%s:%d: %s' % (path, src.count('\n', 0, pos) + 1, what))

for path in sys.argv[1:]:
    with open(path, encoding='utf-8', errors='replace') as f:
        src = f.read()
    cl = clean(src)
    for start, m, brace in definitions(cl):
        name = re.match(r'\w+', cl[m:]).group(0)
        why = []
        if not cl[start:m].strip():
            why.append('no return type before the name')
        elif src.rfind('\n', 0, m) + 1 != m:
            why.append('name not at column 0 of its own line')
        bol = src.rfind('\n', 0, brace) + 1
        eol = src.find('\n', brace)
        if src[bol:brace].strip() or cl[brace + 1:eol if eol >= 0 else len(cl)].strip():
            why.append("'{' not alone on its line")
        if why:
            report(path, src, m, 'definition of %s: %s (style(9): type line, name at column 0, brace alone)'
                   % (name, ', '.join(why)))
    for mt in KEYWORD_PAREN.finditer(cl):
        report(path, src, mt.start(), "'%s(': a space goes after the keyword" % mt.group(1))
    pos = 0
    for line in src.split('\n'):
        if line.startswith('        '):
            report(path, src, pos, 'indented with spaces where a tab goes')
        if line != line.rstrip(' \t'):
            report(path, src, pos, 'whitespace at the end of the line')
        pos += len(line) + 1

if found:
    print('check-style: %d found in %d files' % (found, len(sys.argv) - 1))
    sys.exit(1)
print('check-style: %d files, 0 found' % (len(sys.argv) - 1))
PY
