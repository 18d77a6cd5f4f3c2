#!/usr/bin/env bash
# Build the pinned kube-apiserver and etcd from the Go module proxy into tools/bin.
#
#   scripts/kube-bins.sh               # build once; reuse when present and current
#   scripts/kube-bins.sh --force       # rebuild even if the binaries are current
#   scripts/kube-bins.sh --print-path  # build if needed, then print only the directory
#                                      # holding kube-apiserver and etcd (tools/bin)
#
# Versions are the ones tools/kube/go.mod requires for k8s.io/kubernetes and
# go.etcd.io/etcd/server/v3 (go.sum there pins every dependency; the replace lines
# point the Kubernetes staging modules at the matching k8s.io/* v0.x versions).
# internal/kubetest starts them on loopback (docs/kubernetes-check.md). "Current"
# means: both binaries report the pinned versions and were built from the same
# tools/kube/go.mod + go.sum (their sha256 is kept in tools/bin/.kube-bins.pin).
# Cost: see docs/kubernetes-check.md (re-run with the binaries current: <1 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_MOD="$ROOT/tools/kube"
BIN_DIR="$ROOT/tools/bin"
APISERVER="$BIN_DIR/kube-apiserver"
ETCD="$BIN_DIR/etcd"
PIN="$BIN_DIR/.kube-bins.pin"
KUBE_MODULE=k8s.io/kubernetes
ETCD_MODULE=go.etcd.io/etcd/server/v3

force=0 print_path=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	--print-path) print_path=1 ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) echo "kube-bins: unknown argument: $arg" >&2; exit 2 ;;
	esac
done

log() { if [ "$print_path" = 1 ]; then echo "kube-bins: $*" >&2; else echo "kube-bins: $*"; fi; }
die() { echo "kube-bins: ERROR: $*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH"
[ -f "$TOOLS_MOD/go.mod" ] && [ -f "$TOOLS_MOD/go.sum" ] || die "$TOOLS_MOD/go.mod or go.sum is missing"

# The pinned versions, read from the tools module (single-line or block require).
required() { awk -v m="$1" '($1 == m) {print $2} ($1 == "require" && $2 == m) {print $3}' "$TOOLS_MOD/go.mod" | head -n1; }
KUBE_VERSION=$(required "$KUBE_MODULE")
ETCD_VERSION=$(required "$ETCD_MODULE")
[ -n "$KUBE_VERSION" ] || die "no '$KUBE_MODULE' requirement in $TOOLS_MOD/go.mod"
[ -n "$ETCD_VERSION" ] || die "no '$ETCD_MODULE' requirement in $TOOLS_MOD/go.mod"
# v1.37.2 -> major 1, minor 37 (what `kube-apiserver --version` and /version report).
KUBE_MAJOR=$(echo "$KUBE_VERSION" | sed -E 's/^v([0-9]+)\..*/\1/')
KUBE_MINOR=$(echo "$KUBE_VERSION" | sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/')
PIN_SUM=$(cat "$TOOLS_MOD/go.mod" "$TOOLS_MOD/go.sum" | sha256sum | cut -d' ' -f1)

# The binaries are current when both report the pinned versions and the pin matches.
current() {
	[ -x "$APISERVER" ] && [ -x "$ETCD" ] && [ -f "$PIN" ] || return 1
	[ "$(cat "$PIN")" = "$PIN_SUM" ] || return 1
	[ "$("$APISERVER" --version 2>/dev/null)" = "Kubernetes $KUBE_VERSION" ] || return 1
	# Read the whole output first: `etcd --version | grep -q` under pipefail fails
	# whenever grep exits before etcd has written its last line (SIGPIPE).
	local etcd_version
	etcd_version=$("$ETCD" --version 2>/dev/null) || return 1
	grep -qxF "etcd Version: ${ETCD_VERSION#v}" <<<"$etcd_version" || return 1
}

mkdir -p "$BIN_DIR"
# One build at a time: tools/bin is shared by several work trees.
exec 9>"$BIN_DIR/.kube-build.lock"
if ! flock -n 9; then
	log "another build holds $BIN_DIR/.kube-build.lock; waiting"
	flock 9
fi

if [ "$force" = 0 ] && current; then
	log "reusing $APISERVER ($KUBE_VERSION) and $ETCD ($ETCD_VERSION)"
else
	log "building kube-apiserver $KUBE_VERSION and etcd $ETCD_VERSION from the module proxy (cold: see docs/kubernetes-check.md; go output follows)"
	start=$(date +%s)
	tmp=$(mktemp -d "$BIN_DIR/.kube-bins.tmp.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# One go build for both, so their shared dependencies (grpc, protobuf, otel, ...)
	# compile once. CGO off, as upstream builds both. -mod=readonly: go.mod/go.sum in
	# tools/kube are the pin; a build must not edit them. The -X flags stamp the
	# version the release build would (an unstamped kube-apiserver reports v0.0.0-master).
	vpkg=k8s.io/component-base/version
	(
		cd "$TOOLS_MOD"
		CGO_ENABLED=0 go build -mod=readonly -trimpath \
			-ldflags "-s -w -X $vpkg.gitVersion=$KUBE_VERSION -X $vpkg.gitMajor=$KUBE_MAJOR -X $vpkg.gitMinor=$KUBE_MINOR -X $vpkg.gitTreeState=clean" \
			-o "$tmp/" "$KUBE_MODULE/cmd/kube-apiserver" "$ETCD_MODULE"
	) || die "go build of $KUBE_MODULE/cmd/kube-apiserver@$KUBE_VERSION and $ETCD_MODULE@$ETCD_VERSION failed (see output above)"
	# go names a main package whose path ends in a major-version suffix (server/v3)
	# after the element before it.
	[ -x "$tmp/kube-apiserver" ] && [ -x "$tmp/server" ] || die "go build did not leave kube-apiserver and server in $tmp"
	mv -f "$tmp/kube-apiserver" "$APISERVER"
	mv -f "$tmp/server" "$ETCD"
	echo "$PIN_SUM" >"$PIN"
	rm -rf "$tmp"
	trap - EXIT
	current || die "built $APISERVER and $ETCD but they do not report $KUBE_VERSION / etcd ${ETCD_VERSION#v}: $("$APISERVER" --version 2>&1 | head -n1); $("$ETCD" --version 2>&1 | head -n1)"
	log "built $APISERVER ($(du -h "$APISERVER" | cut -f1)) and $ETCD ($(du -h "$ETCD" | cut -f1)) in $(($(date +%s) - start))s"
fi

if [ "$print_path" = 1 ]; then echo "$BIN_DIR"; fi
