#!/usr/bin/env bash
# Fails when a public symbol of the given modules has no documentation, reading the coverage
# report that `docc convert --experimental-documentation-coverage` writes into each archive
# (`<module>.doccarchive/documentation-coverage.json`; `make docs` generates it).
#
#   scripts/check-doc-coverage.sh [OUTPUT_DIR] [MODULE ...]   # default: .build/docs Apus ApusNN
#
# A symbol counts as documented when its page has an abstract: its own doc comment, the doc
# comment of the protocol requirement it implements, or (with --enable-inherited-docs, as
# `make docs` runs docc) that of a standard-library requirement it implements (such as the
# compiler-made `init(rawValue:)` of a raw-value enum). A module's own page needs an abstract
# too (the first paragraph of its catalog's landing page). Compiler-synthesized members
# (`!=`, `localizedDescription`, ...) are left out of the archive by
# --experimental-skip-synthesized-symbols and so are not checked.
#
# Prints each undocumented symbol as `undocumented: Module/Type/member (kind)` and a summary
# line per module; exits 1 if any symbol is undocumented or a report is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.build/docs}
shift || true
modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=(Apus ApusNN)

python3 - "$dir" "${modules[@]}" <<'EOF'
import json, os, sys

directory, modules = sys.argv[1], sys.argv[2:]
failed = False
for module in modules:
    path = os.path.join(directory, f"{module}.doccarchive", "documentation-coverage.json")
    if not os.path.exists(path):
        print(f"check-doc-coverage: {path} is missing (run docc with --experimental-documentation-coverage)")
        failed = True
        continue
    with open(path) as file:
        entries = json.load(file)
    symbols = [e for e in entries if e["kind"]["isSymbol"]]
    missing = sorted((e["referencePath"].split("/documentation/", 1)[-1], e["kind"]["name"])
                     for e in symbols if not e["hasAbstract"])
    for reference, kind in missing:
        print(f"undocumented: {reference} ({kind})")
    print(f"{module}: {len(symbols) - len(missing)} of {len(symbols)} public symbols documented"
          + (f", {len(missing)} undocumented" if missing else ""))
    failed = failed or bool(missing)
sys.exit(1 if failed else 0)
EOF
