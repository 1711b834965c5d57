#!/usr/bin/env python3
"""List the longest C++ functions of the project, longest first.

    tools/long_functions.py [--top N] [--over LINES] [FOLDER...]

FOLDERs default to core, servers and loadgen. A function's length is counted
from the line where its declaration starts to the line of its closing brace,
so it is the number a reader scrolls through. The scan counts braces after
removing comments, string and character literals; a function is a brace block
opened directly inside a namespace, a class or the file whose header has a
parameter list (member functions defined in a class count; lambdas and local
blocks count towards the function that holds them). It is a scan, not a
parser: macros that open or close braces would confuse it (the project has
none). Exit status 1 when --over is given and some function is longer.
"""
import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SUFFIXES = {".cpp", ".hpp", ".h", ".cc"}
SCOPE_WORDS = re.compile(r"\b(namespace|class|struct|union|enum)\b")
CONTROL_WORDS = re.compile(r"^\s*(if|for|while|switch|catch|do|else|try)\b")


def strip(text):
    """The text with comments and literals blanked, newlines kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == 'R' and text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # digit separator 1'000
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(path):
    """(lines, first line, name) of each function defined in the file."""
    text = strip(path.read_text(errors="replace"))
    found = []
    stack = []  # per open brace: ("scope" | "function" | "other", start line, name)
    header_start = None  # offset where the current declaration began
    line = 1
    last_break = 0
    for i, c in enumerate(text):
        if c == "\n":
            line += 1
            continue
        if c in ";{}":
            header = re.sub(r"\b(alignas|__declspec|__attribute__)\s*\(+[^)]*\)+", "", text[last_break:i])
            in_scope = all(kind == "scope" for kind, _, _ in stack)
            if c == "{":
                kind = "other"
                if in_scope:
                    if SCOPE_WORDS.search(header) and "(" not in header.split("{")[0].split("=")[0]:
                        kind = "scope"
                    elif "extern" in header and '""' in header:
                        kind = "scope"
                    elif ")" in header and not CONTROL_WORDS.match(header) and "=" not in header.split("(")[0]:
                        kind = "function"
                start = text.count("\n", 0, last_break + len(header) - len(header.lstrip())) + 1
                name = ""
                if kind == "function":
                    m = re.findall(r"([~\w:]+(?:operator\s*\S+?)?)\s*\(", header)
                    name = m[0] if m else "?"
                stack.append((kind, start, name))
            elif c == "}" and stack:
                kind, start, name = stack.pop()
                if kind == "function":
                    found.append((line - start + 1, start, name))
            last_break = i + 1
        elif c == ":" and not stack or (c == ":" and all(k == "scope" for k, _, _ in stack)):
            # access specifiers ("public:") end a declaration in a class
            prev = text[last_break:i].strip()
            if prev in ("public", "private", "protected"):
                last_break = i + 1
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", default=["core", "servers", "loadgen"])
    parser.add_argument("--top", type=int, default=5, help="how many to list (default 5)")
    parser.add_argument("--over", type=int, help="exit 1 if any function is longer than this")
    args = parser.parse_args()
    rows = []
    for folder in args.folders:
        base = (ROOT / folder) if not pathlib.Path(folder).is_absolute() else pathlib.Path(folder)
        if not base.exists():
            print(f"long_functions.py: no such folder: {folder}", file=sys.stderr)
            return 2
        for path in sorted(base.rglob("*")):
            if path.suffix in SUFFIXES and path.is_file():
                for length, start, name in functions(path):
                    rows.append((length, f"{path.relative_to(ROOT)}:{start}", name))
    rows.sort(key=lambda r: -r[0])
    for length, where, name in rows[: args.top]:
        print(f"{length:5d}  {where}  {name}")
    if args.over is not None and rows and rows[0][0] > args.over:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
