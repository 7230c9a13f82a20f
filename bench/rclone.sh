#!/usr/bin/env bash
# Installs rclone (newer than Debian's 1.60, which has no multi-thread copy
# to S3) into $E3SYNC_CACHE/bin once; later runs do nothing.
set -euo pipefail
bin="${E3SYNC_CACHE:-$HOME/.cache/e3sync}/bin"
[[ -x "$bin/rclone" ]] && exit 0
mkdir -p "$bin"
# The module proxy here sometimes refuses the newest release: fall back one.
GOBIN="$bin" go install github.com/rclone/rclone@latest ||
	GOBIN="$bin" go install github.com/rclone/rclone@v1.75.0
