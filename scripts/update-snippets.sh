#!/usr/bin/env bash
# Writes every ```swift block of README.md and docs/*.md as a SwiftPM snippet,
# Snippets/<file>_<n>.swift (README.md → readme_1, docs/graph-mode.md → docs_graph_mode_1), so
# `swift build` compiles each one as written; DocSnippetTests checks they match the docs and runs
# them. Run it after editing a Swift block in the docs.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf Snippets
mkdir -p Snippets
for doc in README.md docs/*.md; do
    stem=$(printf '%s' "${doc%.md}" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9\n' '_')
    awk -v stem="$stem" '
        /^```swift[[:space:]]*$/ { inside = 1; n += 1; file = "Snippets/" stem "_" n ".swift"; printf "" > file; next }
        inside && /^```[[:space:]]*$/ { inside = 0; close(file); next }
        inside { print >> file }
    ' "$doc"
done
ls Snippets
