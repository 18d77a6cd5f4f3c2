#!/bin/sh
# Installs what `make test` needs beyond Go: promtool (Debian's prometheus
# package) for the monitoring checks and the end-to-end run against a real
# Prometheus, and podman (with runc) for the tests against a real container
# engine (components/gpuhost/podman_test.go; they also need the docker CLI,
# which is not installed here: it comes with Docker, and they skip without
# it). Idempotent: does nothing when everything is present.
set -eu

need=""
command -v promtool >/dev/null 2>&1 || need="$need prometheus"
command -v prometheus >/dev/null 2>&1 || case "$need" in *prometheus*) ;; *) need="$need prometheus" ;; esac
command -v podman >/dev/null 2>&1 || need="$need podman runc"

if [ -z "$need" ]; then
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "install-test-deps: need root (or sudo) to install:$need" >&2
		exit 1
	fi
fi

echo "install-test-deps: installing$need (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
# Debian starts the packaged prometheus service where systemd runs; the
# tests start their own servers on free ports, so that one is not needed.
command -v promtool >/dev/null 2>&1 || { echo "install-test-deps: promtool still missing" >&2; exit 1; }
