#!/usr/bin/env bash
# test-tools.sh installs or checks the real components the tests use and
# prints where they are. Idempotent: a cached MinIO of the pinned version is
# reused (seconds), a cold build takes about 5 minutes.
#
#   E3SYNC_CACHE   cache directory (default $HOME/.cache/e3sync); MinIO goes to $E3SYNC_CACHE/bin
#
# Output (stdout) is shell-friendly, e.g. `eval "$(scripts/test-tools.sh)"`:
#   E3SYNC_MINIO=/root/.cache/e3sync/bin/minio
#   MOTO_SERVER=/usr/local/bin/moto_server
#   CFN_LINT=/usr/local/bin/cfn-lint
set -euo pipefail

MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

E3SYNC_CACHE=${E3SYNC_CACHE:-$HOME/.cache/e3sync}
bin_dir=$E3SYNC_CACHE/bin
minio_bin=$bin_dir/minio
stamp=$bin_dir/minio.version

log() { printf 'test-tools: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH"
mkdir -p "$bin_dir"

# minio_is_current succeeds when the cached binary is the pinned version,
# according to the stamp file or, failing that, the binary's own build info
# (a binary built by hand with the same `go install` then gets its stamp).
minio_is_current() {
	[[ -x $minio_bin ]] || return 1
	if [[ -f $stamp && $(<"$stamp") == "$MINIO_VERSION" ]]; then
		return 0
	fi
	if go version -m "$minio_bin" 2>/dev/null |
		awk -v m="$MINIO_MODULE" -v v="$MINIO_VERSION" '$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'; then
		printf '%s\n' "$MINIO_VERSION" >"$stamp"
		return 0
	fi
	return 1
}

install_minio() {
	if minio_is_current; then
		log "minio $MINIO_VERSION already in $minio_bin"
		return
	fi
	# A build started outside this script (same command, e.g. by a machine
	# image's setup) would race with ours: wait for it and reuse its result.
	while pgrep -f "go install $MINIO_MODULE@$MINIO_VERSION" >/dev/null 2>&1; do
		log "waiting for a running 'go install $MINIO_MODULE@$MINIO_VERSION' to finish"
		sleep 10
	done
	if minio_is_current; then
		log "minio $MINIO_VERSION now in $minio_bin"
		return
	fi
	log "building minio $MINIO_VERSION into $bin_dir (about 5 minutes and 2 GB of Go caches when cold)"
	rm -f "$stamp"
	GOBIN="$bin_dir" go install "$MINIO_MODULE@$MINIO_VERSION" ||
		die "go install $MINIO_MODULE@$MINIO_VERSION failed"
	printf '%s\n' "$MINIO_VERSION" >"$stamp"
	minio_is_current || die "$minio_bin is not $MINIO_VERSION after installing it"
}

# Serialise concurrent runs (several test packages, several engineers) so
# only one of them builds MinIO; the others wait and then find it cached.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$E3SYNC_CACHE/minio.lock"
	flock 9
	install_minio
	flock -u 9
else
	install_minio
fi

# Preinstalled Python tools: this image cannot reach PyPI, so only check them.
need() {
	local name=$1 hint=$2 path
	path=$(command -v "$name" 2>/dev/null) || die "$name is not on PATH ($hint)"
	printf '%s\n' "$path"
}
moto=$(need moto_server "needed for Secrets Manager/SQS/CloudWatch tests; it is preinstalled in the machine image (pip install 'moto[server]' where PyPI is reachable)")
cfnlint=$(need cfn-lint "needed by make lint; it is preinstalled in the machine image (pip install cfn-lint where PyPI is reachable)")

printf 'E3SYNC_MINIO=%s\n' "$minio_bin"
printf 'MOTO_SERVER=%s\n' "$moto"
printf 'CFN_LINT=%s\n' "$cfnlint"
