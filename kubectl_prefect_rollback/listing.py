"""The in-pod listing of the three migration folders, in the ways an image may allow.

One program, three spellings with byte-identical output (tests/test_listing_golden.py):

- `sh -c SCRIPT` with awk (any POSIX sh: bash, dash, busybox);
- the same `sh -c SCRIPT` in an image without awk: the script execs the app's own Python (the
  interpreter in the `prefect-cloud` launcher's shebang, else python3/python on PATH) on PY;
- no shell at all (distroless): `PYTHON -c PY ROOT`, the interpreter found by the caller.

Each prints a `#via` line after the header naming the way, so -v can tell which one ran; the parser
ignores it. The Python program is Python 3.5+ and holds no single quote (it is quoted in SCRIPT).
"""

from __future__ import annotations

import base64
import zlib

from . import constants
from .errors import BadInput

DATABASES = constants.DATABASES
DEFAULT_ROOT = "/prefect_cloud/src/prefect_cloud"
VERSIONS = {
    "nebula": "nebula/migrations/versions",
    "orion": "orion/migrations/versions",
    "events": "events/storage/postgres/migrations/versions",
}
HEADER = "#prefect-rollback-listing v1"
FOOTER = "#end"
VIA = "#via"
# the launcher whose shebang names the app's interpreter
LAUNCHER = "prefect-cloud"

# Per *.py file (C-locale glob order): `file`, the `revision`/`down_revision` code lines (a multi-line
# tuple joined on one line), the first docstring line, and the downgrade() lines that drop data (never
# comments). A drop inside `with op.batch_alter_table("t") as b:` is prefixed `batch_alter_table("t"): `
# so the parser can name the table. Docstring lines are never code lines.
_AWK = r"""
BEGIN { q = "[\"" sq "]"; bre = "batch_alter_table\\([ \t]*" q "[^\"" sq "]+" q
  bpre = "^batch_alter_table\\([ \t]*" q }
function out(kind, text) { gsub(/\t/, " ", text); printf "%s\t%s\t%s\t%s\n", db, kind, name, text }
FNR == 1 { name = FILENAME; sub(/.*\//, "", name); printf "%s\tfile\t%s\n", db, name
  doc = 0; seen = 0; desc = 0; down = 0; cont = ""; batch = "" }
cont != "" { cont = cont " " $0; if ($0 ~ /\)/) { out(contkind, cont); cont = "" }; next }
doc { t = $0; i = index(t, quote); if (i) { t = substr(t, 1, i - 1); doc = 0 }
  if (!desc) { gsub(/^[ \t]+|[ \t]+$/, "", t); if (t != "") { out("description", t); desc = 1 } }
  next }
!seen { t = $0; sub(/^[ \t]*[rRuU]?/, "", t); quote = substr(t, 1, 3) }
!seen && (quote == "\"\"\"" || quote == sq sq sq) { seen = 1; t = substr(t, 4); i = index(t, quote)
  if (i) t = substr(t, 1, i - 1); else doc = 1
  gsub(/^[ \t]+|[ \t]+$/, "", t); if (t != "") { out("description", t); desc = 1 }; next }
$0 !~ /^[ \t]*(#.*)?$/ { seen = 1 }
/^(down_)?revision[ \t]*(:[^=]*)?=/ { kind = $0 ~ /^down_/ ? "down_revision" : "revision"
  if ($0 ~ /\(/ && $0 !~ /\)/) { cont = $0; contkind = kind; next }; out(kind, $0); next }
/^def[ \t]+downgrade[ \t]*\(/ { down = 1; batch = ""; next }
down && /^[^ \t#]/ { down = 0; batch = "" }
down && !/^[ \t]*#/ { match($0, /^[ \t]*/); ind = RLENGTH
  if (batch != "" && $0 ~ /[^ \t]/ && ind <= bind) batch = ""
  if (match($0, bre)) { b = substr($0, RSTART, RLENGTH); sub(bpre, "", b)
    batch = substr(b, 1, length(b) - 1); bind = ind }
  l = tolower($0); if (l ~ /\.drop_(table|column)\(|drop[ \t]+(table|column)/) {
    t = $0; gsub(/^[ \t]+|[ \t]+$/, "", t)
    if (batch != "") t = "batch_alter_table(\"" batch "\"): " t
    out("drop", t) } }
"""

# The same program for Python (bytes in, bytes out: C-locale semantics, as awk under LC_ALL=C).
PY = r"""import os, re, sys
D = [(b"nebula", b"@nebula@"), (b"orion", b"@orion@"), (b"events", b"@events@")]
Q = b"[\x22\x27]"
BLANK = re.compile(rb"[ \t]*(#.*)?")
REV = re.compile(rb"(down_)?revision[ \t]*(:[^=]*)?=")
DOWN = re.compile(rb"def[ \t]+downgrade[ \t]*\(")
DROP = re.compile(rb"\.drop_(table|column)\(|drop[ \t]+(table|column)")
BATCH = re.compile(rb"batch_alter_table\([ \t]*" + Q + rb"([^\x22\x27]+)" + Q)
PRE = re.compile(rb"[ \t]*[rRuU]?")
W = sys.stdout.buffer.write
def scan(db, name, data):
    if not data:
        return
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    W(db + b"\tfile\t" + name + b"\n")
    def out(kind, text):
        W(b"\t".join((db, kind, name, text.replace(b"\t", b" "))) + b"\n")
    doc = seen = desc = down = bind = 0
    cont = quote = batch = kind = b""
    for line in lines:
        if cont:
            cont = cont + b" " + line
            if b")" in line:
                out(kind, cont)
                cont = b""
            continue
        if doc:
            t = line
            i = t.find(quote)
            if i >= 0:
                t, doc = t[:i], 0
            t = t.strip(b" \t")
            if not desc and t:
                out(b"description", t)
                desc = 1
            continue
        if not seen:
            t = line[PRE.match(line).end():]
            quote = t[:3]
            if quote in (b"\x22\x22\x22", b"\x27\x27\x27"):
                seen, t = 1, t[3:]
                i = t.find(quote)
                if i >= 0:
                    t = t[:i]
                else:
                    doc = 1
                t = t.strip(b" \t")
                if t:
                    out(b"description", t)
                    desc = 1
                continue
        if not BLANK.fullmatch(line):
            seen = 1
        if REV.match(line):
            kind = b"down_revision" if line.startswith(b"down_") else b"revision"
            if b"(" in line and b")" not in line:
                cont = line
                continue
            out(kind, line)
            continue
        if DOWN.match(line):
            down, batch = 1, b""
            continue
        if down and line[:1] not in (b"", b" ", b"\t", b"#"):
            down, batch = 0, b""
        if down and not line.lstrip(b" \t").startswith(b"#"):
            ind = len(line) - len(line.lstrip(b" \t"))
            if batch and line.strip(b" \t") and ind <= bind:
                batch = b""
            m = BATCH.search(line)
            if m:
                batch, bind = m.group(1), ind
            if DROP.search(line.lower()):
                t = line.strip(b" \t")
                if batch:
                    t = b"batch_alter_table(\x22" + batch + b"\x22): " + t
                out(b"drop", t)
def main(root, via):
    W(b"@header@\n" + via + b"\n")
    for db, rel in D:
        d = root + b"/" + rel
        if not os.path.isdir(d):
            W(db + b"\tabsent\t" + d + b"\n")
            continue
        W(db + b"\tfolder\t" + d + b"\n")
        for name in sorted(os.listdir(d)):
            p = d + b"/" + name
            if name.endswith(b".py") and name[:1] != b"." and name != b"__init__.py" and os.path.isfile(p):
                with open(p, "rb") as f:
                    scan(db, name, f.read())
    W(b"@footer@\n")
try:
    main(os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2]))
except Exception as e:
    sys.stderr.write("listing failed: %s\n" % e)
    sys.exit(3)
"""
for _key, _value in {**VERSIONS, "header": HEADER, "footer": FOOTER}.items():
    PY = PY.replace(f"@{_key}@", _value)
assert "'" not in PY  # quoted with '…' in SCRIPT
# What goes on argv: kubectl exec sends argv in the URL, where a proxy (or kubesim) may cap a line at
# 8 KiB; compressed, the program costs ~1.7 KB instead of ~7 KB URL-encoded.
PY_ARG = (
    "import base64,zlib;exec(zlib.decompress(base64.b64decode("
    f'"{base64.b64encode(zlib.compress(PY.encode(), 9)).decode()}")))'
)


def _quoted(root: str) -> str:
    if "'" in root:
        raise BadInput(f"migrations root must not contain a quote: {root!r}")
    return root


def python_argv(python: str, root: str = DEFAULT_ROOT) -> tuple[str, ...]:
    """The listing without a shell: the app's interpreter runs PY (one process)."""
    return (python, "-c", PY_ARG, _quoted(root), f"{VIA} python {python}")


def script(root: str = DEFAULT_ROOT) -> str:
    """The POSIX sh script (for `sh -c`) that lists the three chains in one run; dash/busybox safe.

    Without awk it runs the app's Python: the interpreter named by the `prefect-cloud` launcher's
    shebang (`#!/usr/bin/env python3` too), else python3 or python on PATH."""
    root = _quoted(root)
    cases = " ".join(f"{db}) dir=$root/{VERSIONS[db]} ;;" for db in DATABASES)
    return f"""LC_ALL=C; export LC_ALL
root='{root}'
if ! command -v awk >/dev/null 2>&1; then
  py=
  launcher=$(command -v {LAUNCHER} 2>/dev/null) && [ -f "$launcher" ] && IFS= read -r first <"$launcher" && {{
    set -f; set -- ${{first#'#!'}}; set +f
    case $first in '#!'*) case ${{1##*/}} in env) shift; [ "$1" = -S ] && shift ;; esac; py=$1 ;; esac
  }}
  case ${{py##*/}} in python*) command -v "$py" >/dev/null 2>&1 || py= ;; *) py= ;; esac
  [ -n "$py" ] || for c in python3 python; do command -v $c >/dev/null 2>&1 && {{ py=$c; break; }}; done
  [ -n "$py" ] || {{ echo 'awk: not found, and no Python (shebang, python3, python)' >&2; exit 127; }}
  "$py" -c '{PY_ARG}' "$root" "{VIA} sh+python $py" </dev/null || exit 3
else
printf '%s\\n' '{HEADER}' '{VIA} sh+awk'
for db in {" ".join(DATABASES)}; do
  case $db in {cases} esac
  if [ ! -d "$dir" ]; then printf '%s\\tabsent\\t%s\\n' "$db" "$dir"; continue; fi
  printf '%s\\tfolder\\t%s\\n' "$db" "$dir"
  set --
  for f in "$dir"/*.py; do
    [ -f "$f" ] || continue
    case ${{f##*/}} in __init__.py) continue ;; esac
    set -- "$@" "$f"
  done
  [ "$#" -gt 0 ] || continue
  awk -v db="$db" -v sq=\\' '{_AWK.strip()}' "$@" </dev/null || exit 3
done
printf '%s\\n' '{FOOTER}'
fi
"""
