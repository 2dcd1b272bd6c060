#!/usr/bin/env python3
"""House rules the machine checks, in the spirit of curl's checksrc: every C file
as .clang-format lays it out, no banned function, and every public function that
returns enum sts_err says in its comment which errors it returns. Each objection
names the file and line. Exit 0 when clean, 1 with objections, 2 on a usage error.

  python3 scripts/checksrc.py [--no-format] [FILE ...]   (default: every tracked .c/.h)
"""
import os
import re
import shutil
import subprocess
import sys

BANNED = {
    "sprintf": "snprintf",
    "vsprintf": "vsnprintf",
    "strcpy": "a bounded copy (memcpy with a checked length, snprintf)",
    "strcat": "a bounded copy (memcpy with a checked length, snprintf)",
    "atoi": "strtol with end and range checks",
    "atol": "strtol with end and range checks",
    "gmtime": "gmtime_r",
    "localtime": "localtime_r",
    "strtok": "strtok_r",
    "gets": "fgets",
}
BANNED_RE = re.compile(r"\b(" + "|".join(BANNED) + r")\s*\(")
# An errors clause: "Errors: STS_E...", "Errors: none", or "Returns STS_OK or STS_E...".
ERRORS_RE = re.compile(r"Errors?:")
DECL_RE = re.compile(r"^\s*(?:extern\s+)?enum\s+sts_err\s+(\w+)\s*\(")


def tracked_sources(top):
    out = subprocess.run(["git", "ls-files", "*.c", "*.h"], cwd=top, check=True,
                         capture_output=True, text=True).stdout
    return [os.path.join(top, p) for p in out.split()]


def strip_code(text):
    """Blanks out comments, string and character literals (keeping newlines), so
    that a banned name in a comment or a message is not taken for a call."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def check_banned(path, text, rel):
    problems = []
    for lineno, line in enumerate(strip_code(text).split("\n"), 1):
        for m in BANNED_RE.finditer(line):
            before = line[:m.start()].rstrip()
            # A member or a differently named function (e.g. x.gets(), my_atoi()) is not the call.
            if before.endswith((".", "->")):
                continue
            problems.append(f"{rel}:{lineno}: banned function {m.group(1)}(): use {BANNED[m.group(1)]}")
    return problems


def check_errors(path, text, rel):
    """A declaration's contract is the comment block right above it, or above the
    group of declarations it belongs to (consecutive lines with no blank line)."""
    problems = []
    lines = text.split("\n")
    for idx, line in enumerate(lines):
        m = DECL_RE.match(line)
        if not m or line.rstrip().endswith("{") or (idx + 1 < len(lines) and lines[idx + 1].strip() == "{"):
            continue
        # Walk up over the declaration group, then read the comment above it.
        j = idx - 1
        comment = []
        while j >= 0:
            s = lines[j].strip()
            if s == "":
                break
            if s.startswith(("/*", "*", "//")) or s.endswith("*/"):
                comment.append(s)
            j -= 1
        if not ERRORS_RE.search("\n".join(comment)):
            problems.append(f"{rel}:{idx + 1}: {m.group(1)}() returns enum sts_err but its comment lists no errors "
                            "(add 'Errors: STS_E..., ...' or 'Errors: none.')")
    return problems


def check_format(files, top):
    cf = shutil.which("clang-format") or shutil.which("clang-format-14")
    if cf is None:
        return ["clang-format is not installed (scripts/deps.sh installs it)"]
    res = subprocess.run([cf, "--dry-run", "--style=file"] + files, cwd=top, capture_output=True, text=True)
    problems = []
    for line in res.stderr.splitlines():
        m = re.match(r"(.*?):(\d+):\d+: warning: code should be clang-formatted", line)
        if m:
            problems.append(f"{os.path.relpath(m.group(1), top)}:{m.group(2)}: not as .clang-format lays it out "
                            "(run clang-format -i on the file)")
    if res.returncode != 0 and not problems:
        problems.append("clang-format failed: " + res.stderr.strip()[:200])
    return problems


def main(argv):
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args = [a for a in argv if a != "--no-format"]
    if any(a.startswith("-") for a in args):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    files = [os.path.abspath(a) for a in args] or tracked_sources(top)
    problems = []
    for path in files:
        rel = os.path.relpath(path, top)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        problems += check_banned(path, text, rel)
        if path.endswith(".h"):
            problems += check_errors(path, text, rel)
    if "--no-format" not in argv:
        problems += check_format(files, top)
    for p in problems:
        print(p)
    print(f"checksrc: {len(files)} files, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
