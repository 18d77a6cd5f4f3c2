#!/usr/bin/env bash
# Build the pinned Pulumi CLI from the Go module proxy into tools/bin/pulumi.
#
#   scripts/pulumi-cli.sh                # build once; reuse when present and the same version
#   scripts/pulumi-cli.sh --force        # rebuild even if tools/bin/pulumi is current
#   scripts/pulumi-cli.sh --language-go  # also try the Go language host (see docs/pulumi-cli.md)
#   scripts/pulumi-cli.sh --print-path   # build if needed, then print only the binary's path
#
# The version is the one tools/pulumi/go.mod requires for github.com/pulumi/pulumi/pkg/v3
# (go.sum there pins every dependency). Cost: see docs/pulumi-cli.md (cold: ~16 CPU-minutes,
# 1.4 GB of modules, 1.7 GB of build cache; re-run with the binary current: <1 s).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_MOD="$ROOT/tools/pulumi"
BIN_DIR="$ROOT/tools/bin"
PULUMI="$BIN_DIR/pulumi"
PKG_MODULE=github.com/pulumi/pulumi/pkg/v3
LANG_GO_MODULE=github.com/pulumi/pulumi/sdk/go/pulumi-language-go/v3

force=0 language_go=0 print_path=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	--language-go) language_go=1 ;;
	--print-path) print_path=1 ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) echo "pulumi-cli.sh: unknown argument: $arg" >&2; exit 2 ;;
	esac
done

log() { if [ "$print_path" = 1 ]; then echo "pulumi-cli: $*" >&2; else echo "pulumi-cli: $*"; fi; }
die() { echo "pulumi-cli: ERROR: $*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH"
[ -f "$TOOLS_MOD/go.mod" ] || die "$TOOLS_MOD/go.mod is missing"

# The pinned version, read from the tools module (single-line or block require).
VERSION=$(awk -v m="$PKG_MODULE" '($1 == m) {print $2} ($1 == "require" && $2 == m) {print $3}' "$TOOLS_MOD/go.mod" | head -n1)
[ -n "$VERSION" ] || die "no '$PKG_MODULE' requirement in $TOOLS_MOD/go.mod"

# What the pinned version string looks like when the binary reports it.
current_version() {
	[ -x "$PULUMI" ] || return 0
	local home
	home=$(mktemp -d)
	PULUMI_SKIP_UPDATE_CHECK=true PULUMI_HOME="$home" "$PULUMI" version 2>/dev/null | tr -d '[:space:]' || true
	rm -rf "$home"
}

mkdir -p "$BIN_DIR"
# One build at a time: engineers share this working tree.
exec 9>"$BIN_DIR/.pulumi-build.lock"
if ! flock -n 9; then
	log "another build holds $BIN_DIR/.pulumi-build.lock; waiting"
	flock 9
fi

have=$(current_version)
if [ "$force" = 0 ] && [ "$have" = "$VERSION" ]; then
	log "reusing $PULUMI ($have)"
else
	if [ -n "$have" ]; then log "$PULUMI is '$have', want $VERSION: rebuilding"; fi
	log "building Pulumi CLI $VERSION from the module proxy (cold: ~16 CPU-minutes, about 10 min on 2 idle cores, 1.4 GB modules + 1.7 GB build cache; go output follows)"
	start=$(date +%s)
	tmp="$PULUMI.tmp.$$"
	trap 'rm -f "$tmp"' EXIT
	# -mod=readonly: go.mod/go.sum in tools/pulumi are the pin; a build must not edit them.
	# -X ...version.Version: `pulumi version` and the engine's plugin version checks read it
	# (an unstamped build reports an empty version).
	(
		cd "$TOOLS_MOD"
		go build -mod=readonly -trimpath \
			-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$VERSION" \
			-o "$tmp" "$PKG_MODULE/cmd/pulumi"
	) || die "go build of $PKG_MODULE/cmd/pulumi@$VERSION failed (see output above)"
	mv -f "$tmp" "$PULUMI"
	trap - EXIT
	have=$(current_version)
	[ "$have" = "$VERSION" ] || die "built $PULUMI but it reports version '$have', want $VERSION"
	log "built $PULUMI ($have) in $(( $(date +%s) - start ))s, $(du -h "$PULUMI" | cut -f1)"
fi

if [ "$language_go" = 1 ]; then
	# The Go language host lives in its own module. The module proxy available here
	# refused it (403 "This module version is not available") when this was written;
	# this tries once more and reports, without failing the CLI build.
	lang="$BIN_DIR/pulumi-language-go"
	if [ -x "$lang" ]; then
		log "reusing $lang"
	else
		log "trying $LANG_GO_MODULE@$VERSION"
		work=$(mktemp -d)
		if (
			cd "$work" &&
				go mod init servelab-pulumi-language-go >/dev/null 2>&1 &&
				go get "$LANG_GO_MODULE@$VERSION" &&
				go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$VERSION" \
					-o "$lang.tmp.$$" "$LANG_GO_MODULE"
		); then
			mv -f "$lang.tmp.$$" "$lang"
			log "built $lang"
		else
			rm -f "$lang.tmp.$$"
			log "could not get/build $LANG_GO_MODULE@$VERSION (output above); pulumi preview will stop at the missing Go language plugin"
		fi
		rm -rf "$work"
	fi
fi

if [ "$print_path" = 1 ]; then echo "$PULUMI"; fi
