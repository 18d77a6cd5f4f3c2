#!/usr/bin/env bash
# Preview Kubernetes objects through the real Pulumi engine and the real
# pulumi-kubernetes provider plugin against a real kube-apiserver on loopback
# (tools/kube/preview/main.go). Not part of `make test`: see
# docs/kubernetes-check.md for what it needs and what it showed.
#
#   scripts/kube-preview.sh              # internal/kubetest/testdata/accepted + programs/testdata/k8s/*
#   scripts/kube-preview.sh DIR...       # these object directories
#
# Builds what is missing first: the Pulumi CLI (scripts/pulumi-cli.sh),
# kube-apiserver + etcd (scripts/kube-bins.sh), the provider plugin
# (scripts/kube-provider.sh). The provider is found on PATH (tools/bin). Pulumi
# state, home and passphrase are throw-away, in a temporary directory removed
# on exit; no network is used.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "kube-preview: ERROR: $*" >&2; exit 1; }

dirs=("$@")
if [ "${#dirs[@]}" = 0 ]; then
	dirs=("$ROOT/internal/kubetest/testdata/accepted")
	shopt -s nullglob
	for d in "$ROOT"/programs/testdata/k8s/*/; do dirs+=("${d%/}"); done
	shopt -u nullglob
fi

PULUMI=$("$ROOT/scripts/pulumi-cli.sh" --print-path) || die "could not build the Pulumi CLI"
BINS=$("$ROOT/scripts/kube-bins.sh" --print-path) || die "could not build kube-apiserver and etcd"
PLUGIN=$("$ROOT/scripts/kube-provider.sh" --print-path) || die "could not build pulumi-resource-kubernetes"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/servelab-kube-preview.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# The driver, built against the work tree in a scratch module whose path lies
# under the main module's (so it may import internal/kubetest).
mod="$ROOT/tools/bin/kube-preview-mod"
mkdir -p "$mod"
exec 8>"$ROOT/tools/bin/.kube-preview-build.lock"
flock 8
{
	sed 's#^module .*#module github.com/servelab/servelab/tools/kube/previewdriver#' "$ROOT/go.mod"
	printf '\nrequire github.com/servelab/servelab v0.0.0\n\nreplace github.com/servelab/servelab => %s\n' "$ROOT"
} >"$mod/go.mod"
cp "$ROOT/go.sum" "$mod/go.sum"
sed '/^\/\/go:build ignore$/d' "$ROOT/tools/kube/preview/main.go" >"$mod/main.go"
(cd "$mod" && go build -mod=mod -o "$ROOT/tools/bin/kube-preview" .) || die "could not build tools/kube/preview against the work tree"
flock -u 8

mkdir -p "$TMP/state" "$TMP/home"
export PULUMI_BACKEND_URL="file://$TMP/state" PULUMI_HOME="$TMP/home"
PULUMI_CONFIG_PASSPHRASE=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
export PULUMI_CONFIG_PASSPHRASE
export PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true NO_COLOR=1
export PATH="$(dirname "$PLUGIN"):$PATH"
unset PULUMI_ACCESS_TOKEN PULUMI_CONFIG_PASSPHRASE_FILE 2>/dev/null || true

preview() { (cd "$TMP" && "$ROOT/tools/bin/kube-preview" -pulumi "$PULUMI" -bins "$BINS" -prereqs "$ROOT/internal/kubetest/testdata/cluster" "$@"); }

preview "${dirs[@]}" || die "the preview failed (output above)"

# Negative check, so this script can fail: a GPU Deployment asking for half a
# GPU must be refused by the API server through the provider's dry-run.
neg="$TMP/negative/objects"
mkdir -p "$neg"
cp "$ROOT/internal/kubetest/testdata/accepted/00-namespace-servelab-kubetest.json" \
	"$ROOT/internal/kubetest/testdata/rejected/deployment-fractional-gpu.json" "$neg/"
want='resources.limits[nvidia.com/gpu]: Invalid value: "500m": must be an integer'
if preview "$neg" >"$TMP/negative/out" 2>&1; then
	sed 's/^/    | /' "$TMP/negative/out" >&2
	die "negative check: the preview accepted a Deployment with nvidia.com/gpu: 0.5"
fi
grep -qF "$want" "$TMP/negative/out" || { sed 's/^/    | /' "$TMP/negative/out" >&2; die "negative check: the preview failed, but not with: $want"; }
echo "kube-preview: ok (negative) nvidia.com/gpu: 0.5 refused by the API server through the provider: $(grep -m1 -oF "$want" "$TMP/negative/out")"
