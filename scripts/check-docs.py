#!/usr/bin/env python3
"""Checks that the codemaps tell the truth: every path that ARCHITECTURE.md, README.md and
RELIABILITY.md name in backticks, starting at a top-level folder of the repository, exists.
Run by scripts/test.sh; exits 1 and lists the missing paths otherwise."""

import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
tops = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")} - {"target"}
missing = []
for doc in ["ARCHITECTURE.md", "README.md", "RELIABILITY.md"]:
    path = root / doc
    if not path.exists():
        missing.append(f"{doc} itself")
        continue
    for n, line in enumerate(path.read_text().splitlines(), 1):
        for token in re.findall(r"`([A-Za-z0-9_./-]+)`", line):
            head = token.split("/")[0]
            if "/" in token and head in tops and not (root / token).exists():
                missing.append(f"{doc}:{n}: {token}")
if missing:
    print("paths named in the docs that do not exist:\n  " + "\n  ".join(missing), file=sys.stderr)
    sys.exit(1)
print("docs: every named path exists")
