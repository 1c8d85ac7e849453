#!/usr/bin/env bash
# The tree's C is formatted by .clang-format (docs/architecture.md, "Conventions").
#   scripts/check_format.sh          list files clang-format would change; exit 1 if any
#   scripts/check_format.sh --fix    format them in place (what `make format` runs)
set -euo pipefail
cd "$(dirname "$0")/.."
CF=${CLANG_FORMAT:-clang-format}
command -v "$CF" >/dev/null || { echo "check_format: $CF not found (apt-get install clang-format)" >&2; exit 2; }
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find src include services tests bench fuzz examples -name '*.[ch]')
if [ "${1:-}" = --fix ]; then
    "$CF" -i "${files[@]}"
    exit 0
fi
if ! out=$("$CF" --dry-run -Werror "${files[@]}" 2>&1); then
    printf '%s\n' "$out" | grep -o '^[^:]*\.[ch]' | sort -u | sed 's/^/not formatted: /' >&2
    echo "check_format: run 'make format' (clang-format -i) and commit the result" >&2
    exit 1
fi
