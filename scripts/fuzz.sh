#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZ_TIME each (default 30s):
# `go test -fuzz` takes one target of one package at a time. New inputs that
# fail are written to the package's testdata/fuzz/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_TIME="${FUZZ_TIME:-30s}"
GO="${GO:-go}"
status=0
while IFS=: read -r file name; do
	pkg="./$(dirname "$file")"
	echo "fuzz $pkg $name ($FUZZ_TIME)"
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZ_TIME" "$pkg"; then
		status=1
	fi
done < <(grep -rhoE --include='*_test.go' '^func (Fuzz[A-Za-z0-9_]+)' --with-filename . | sed -E 's#^\./##; s#:func #:#')
exit "$status"
