#!/usr/bin/env bash
# Build the pulumi-kubernetes provider plugin from its Go module into
# tools/bin/pulumi-resource-kubernetes. Not part of `make test` (see
# docs/kubernetes-check.md for what it takes and what it ran).
#
#   scripts/kube-provider.sh               # build once; reuse while current
#   scripts/kube-provider.sh --force       # rebuild
#   scripts/kube-provider.sh --print-path  # build if needed, then print only the binary's path
#
# The version is the one tools/kube/provider/go.mod requires for
# github.com/pulumi/pulumi-kubernetes/provider/v4 (the module proxy here serves
# a pseudo-version, not v4.32.0). The provider's own main embeds a schema that
# its release build generates; tools/kube/provider/main.go is that main, built
# in a copy of the directory next to the module's schema.json and
# terraform-mapping.json. "Current": built from the same tools/kube/provider
# go.mod + go.sum + main.go (sha256 kept in tools/bin/.kube-provider.pin).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOD_DIR="$ROOT/tools/kube/provider"
BIN_DIR="$ROOT/tools/bin"
PLUGIN="$BIN_DIR/pulumi-resource-kubernetes"
PIN="$BIN_DIR/.kube-provider.pin"
MODULE=github.com/pulumi/pulumi-kubernetes/provider/v4

force=0 print_path=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	--print-path) print_path=1 ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) echo "kube-provider: unknown argument: $arg" >&2; exit 2 ;;
	esac
done

log() { if [ "$print_path" = 1 ]; then echo "kube-provider: $*" >&2; else echo "kube-provider: $*"; fi; }
die() { echo "kube-provider: ERROR: $*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH"
for f in go.mod go.sum main.go; do [ -f "$MOD_DIR/$f" ] || die "$MOD_DIR/$f is missing"; done

VERSION=$(awk -v m="$MODULE" '($1 == m) {print $2} ($1 == "require" && $2 == m) {print $3}' "$MOD_DIR/go.mod" | head -n1)
[ -n "$VERSION" ] || die "no '$MODULE' requirement in $MOD_DIR/go.mod"
PIN_SUM=$(cat "$MOD_DIR/go.mod" "$MOD_DIR/go.sum" "$MOD_DIR/main.go" | sha256sum | cut -d' ' -f1)

mkdir -p "$BIN_DIR"
exec 9>"$BIN_DIR/.kube-provider-build.lock"
if ! flock -n 9; then
	log "another build holds $BIN_DIR/.kube-provider-build.lock; waiting"
	flock 9
fi

if [ "$force" = 0 ] && [ -x "$PLUGIN" ] && [ -f "$PIN" ] && [ "$(cat "$PIN")" = "$PIN_SUM" ]; then
	log "reusing $PLUGIN ($VERSION)"
else
	log "building $MODULE@$VERSION (go output follows)"
	start=$(date +%s)
	work=$(mktemp -d "${TMPDIR:-/tmp}/kube-provider.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	cp "$MOD_DIR/go.mod" "$MOD_DIR/go.sum" "$MOD_DIR/main.go" "$work/"
	src=$(cd "$work" && go mod download -json "$MODULE" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[ -n "$src" ] && [ -f "$src/cmd/pulumi-resource-kubernetes/schema.json" ] || die "no cmd/pulumi-resource-kubernetes/schema.json in $MODULE@$VERSION"
	cp "$src/cmd/pulumi-resource-kubernetes/schema.json" "$src/cmd/pulumi-resource-kubernetes/terraform-mapping.json" "$work/"
	chmod u+w "$work"/*.json
	# The plugin reports VERSION without the leading v, as release builds do.
	(
		cd "$work"
		CGO_ENABLED=0 go build -mod=readonly -trimpath \
			-ldflags "-s -w -X $MODULE/pkg/version.Version=${VERSION#v}" \
			-o "$PLUGIN.tmp.$$" .
	) || { rm -f "$PLUGIN.tmp.$$"; die "go build of $MODULE@$VERSION failed (see output above)"; }
	mv -f "$PLUGIN.tmp.$$" "$PLUGIN"
	echo "$PIN_SUM" >"$PIN"
	log "built $PLUGIN ($(du -h "$PLUGIN" | cut -f1)) in $(($(date +%s) - start))s"
fi

if [ "$print_path" = 1 ]; then echo "$PLUGIN"; fi
