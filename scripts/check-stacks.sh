#!/usr/bin/env bash
# Check every stacks/Pulumi.<env>.yaml with the real Pulumi CLI (tools/bin/pulumi).
#
#   scripts/check-stacks.sh            # all stacks, plus the negative checks
#   scripts/check-stacks.sh local h100 # only these stacks (negative checks still run)
#   scripts/check-stacks.sh --program  # also run the real program under the real engine
#   VERBOSE=1 scripts/check-stacks.sh  # also print every CLI output
#
# For each stack, in a throw-away copy of Pulumi.yaml + stacks/ (the repo is never
# written: `pulumi stack init` adds an encryptionsalt to the stack file):
#   1. pulumi stack init <env>      (local file backend, passphrase secrets provider,
#                                    passphrase drawn from /dev/urandom at run time)
#   2. pulumi config set --secret servelab:hfToken <random>
#      pulumi config set --secret servelab:sshPrivateKey < throw-away key
#      and read both back with `pulumi config get` (the secret path works; no plaintext
#      lands in the stack file)
#   3. pulumi preview --non-interactive, which must fail ONLY where these machines stop
#      it: the missing Go language plugin (or, if a Go language host is on PATH, a
#      missing resource plugin). Anything else - a schema violation, a YAML error,
#      missing required config, a wrong passphrase - fails this script with the CLI's
#      output.
# Negative checks: a copy of a stack file with servelab:hosts given as a string, and
# one with servelab:gateway given as a number, must be rejected by the CLI's schema
# validation (so this script can fail).
#
# --program: there is no Go language host here (the module proxy refuses
# pulumi-language-go), so the CLI alone never runs main.go. With --program the script
# also builds tools/pulumi/preview/main.go (an Automation API inline program that calls
# programs.Run; the engine is tools/bin/pulumi) and previews every stack with it: the
# program's own config validation and planner run under the real engine, and the
# preview must stop ONLY at a missing resource plugin (docker, command, random). A copy
# of a stack with an unknown engine must be rejected by the program (negative check).
#
# No network: the CLI runs with update checks and plugin downloads off and, where the
# kernel allows it (root), inside a fresh network namespace with only loopback.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERBOSE=${VERBOSE:-0}
TIMEOUT=${PULUMI_CHECK_TIMEOUT:-120} # seconds per CLI call

die() { echo "check-stacks: ERROR: $*" >&2; exit 1; }

program=0
args=()
for a in "$@"; do
	case "$a" in
	--program) program=1 ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
	-*) die "unknown option $a" ;;
	*) args+=("$a") ;;
	esac
done

# The CLI: build once (a no-op taking <1 s when tools/bin/pulumi is current).
PULUMI=$("$ROOT/scripts/pulumi-cli.sh" --print-path) || die "could not build the Pulumi CLI"

cd "$ROOT"
[ -f Pulumi.yaml ] || die "no Pulumi.yaml at $ROOT"
shopt -s nullglob
stack_files=(stacks/Pulumi.*.yaml)
shopt -u nullglob
[ "${#stack_files[@]}" -gt 0 ] || die "no stacks/Pulumi.*.yaml"

# Which stacks to check (default: all).
stacks=()
if [ "${#args[@]}" -gt 0 ]; then
	for s in "${args[@]}"; do
		[ -f "stacks/Pulumi.$s.yaml" ] || die "no stacks/Pulumi.$s.yaml"
		stacks+=("$s")
	done
else
	for f in "${stack_files[@]}"; do
		s=${f#stacks/Pulumi.}
		stacks+=("${s%.yaml}")
	done
fi

# A Go language host on PATH or next to the CLI changes where preview stops: it then
# runs the program and stops at the first missing resource plugin (docker/random/command).
lang_host=""
if [ -x "$(dirname "$PULUMI")/pulumi-language-go" ]; then
	lang_host="$(dirname "$PULUMI")/pulumi-language-go"
elif command -v pulumi-language-go >/dev/null 2>&1; then
	lang_host=$(command -v pulumi-language-go)
fi

# The CLI's own words where these machines stop it (pulumi v3.274.1:
# sdk/go/common/workspace/plugins.go MissingError, wrapped by the engine).
STOP_LANGUAGE="error: failed to load language plugin go: no language plugin 'pulumi-language-go' found in the workspace or on your \$PATH"
STOP_PROVIDER_RE="no resource plugin 'pulumi-resource-[a-z0-9-]+' found in the workspace"

# Work area; removed on exit whatever happens.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/servelab-check-stacks.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/project" "$TMP/state" "$TMP/home"
if [ -n "$lang_host" ]; then
	# The language host builds the program: give it the whole work tree (minus ignored files).
	# (Untested here: no Go language host can be had on these machines.)
	git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null |
		tar -xf - -C "$TMP/project" || die "could not copy the program for the Go language host"
	export PATH="$(dirname "$lang_host"):$PATH"
else
	cp Pulumi.yaml "$TMP/project/"
	cp -r stacks "$TMP/project/"
fi
# Stack files must carry no encryptionsalt of their own: we use a fresh passphrase.
for f in "$TMP"/project/stacks/Pulumi.*.yaml; do
	if grep -q '^encryptionsalt:' "$f"; then
		echo "check-stacks: note: $(basename "$f") carries an encryptionsalt; ignoring it in the copy"
		sed -i '/^encryptionsalt:/d' "$f"
	fi
done

# Fingerprint of the user-facing files: the check must leave them untouched.
fingerprint() { sha256sum Pulumi.yaml stacks/Pulumi.*.yaml; }
before=$(fingerprint)

# Hermetic CLI environment: local file backend, our own PULUMI_HOME, a random passphrase.
unset PULUMI_ACCESS_TOKEN PULUMI_CONFIG_PASSPHRASE_FILE PULUMI_STACK PULUMI_ORG PULUMI_CONFIG 2>/dev/null || true
export PULUMI_BACKEND_URL="file://$TMP/state"
export PULUMI_HOME="$TMP/home"
export PULUMI_CONFIG_PASSPHRASE
PULUMI_CONFIG_PASSPHRASE=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_SKIP_CONFIRMATIONS=true
export NO_COLOR=1

# Run the CLI without network where we can (root: unshare; loopback only).
netns=0
if [ "${CHECK_STACKS_NETNS:-1}" = 1 ] && unshare -n true 2>/dev/null; then netns=1; fi
isolated() {
	if [ "$netns" = 1 ]; then
		timeout "$TIMEOUT" unshare -n sh -c 'command -v ip >/dev/null && ip link set lo up 2>/dev/null; exec "$@"' sh "$@"
	else
		timeout "$TIMEOUT" "$@"
	fi
}
pulumi_cli() { isolated "$PULUMI" --non-interactive --color=never "$@"; }

# --program: build the inline-program driver against the current work tree.
PREVIEW=""
build_preview_driver() {
	local mod="$ROOT/tools/bin/preview-mod" t0
	t0=$(now_ms)
	mkdir -p "$mod"
	exec 8>"$ROOT/tools/bin/.preview-build.lock"
	flock 8
	# A scratch module: the main module's requirements, plus the main module itself.
	{
		sed 's#^module .*#module servelab-preview#' "$ROOT/go.mod"
		printf '\nrequire github.com/servelab/servelab v0.0.0\n\nreplace github.com/servelab/servelab => %s\n' "$ROOT"
	} >"$mod/go.mod"
	cp "$ROOT/go.sum" "$mod/go.sum"
	sed '/^\/\/go:build ignore$/d' "$ROOT/tools/pulumi/preview/main.go" >"$mod/main.go"
	(cd "$mod" && go build -mod=mod -o "$ROOT/tools/bin/servelab-preview" .) >"$TMP/build.out" 2>&1 ||
		fail "--program" "could not build tools/pulumi/preview against the work tree (does the program compile?)" "$TMP/build.out"
	flock -u 8
	PREVIEW="$ROOT/tools/bin/servelab-preview"
	# benchmark.runOn: local stacks need bin/servelab to exist (the program
	# checks before anything else); a preview never runs it, so a stand-in
	# saves building the binary here.
	mkdir -p "$TMP/stub" && printf '#!/bin/sh\nexit 1\n' >"$TMP/stub/servelab" && chmod +x "$TMP/stub/servelab"
	echo "check-stacks: built $PREVIEW from the work tree ($(since "$t0"))"
}
PLUGIN_MISSING_RE="error: no resource plugin 'pulumi-resource-[a-z0-9-]+' found in the workspace"

# program_preview STACK: run programs.Run under the engine; output in $out, exit code echoed.
program_preview() {
	set +e
	# HOME is throw-away too: the program writes the stacks' known_hosts files
	# (placeholder host keys) under ~/.servelab/known_hosts. Go's caches stay
	# where they are: the program runs `go list` for the image's sources.
	mkdir -p "$TMP/userhome"
	local gomodcache gocache gopath
	gomodcache=$(go env GOMODCACHE) gocache=$(go env GOCACHE) gopath=$(go env GOPATH)
	(cd "$TMP/project" && HOME="$TMP/userhome" GOMODCACHE="$gomodcache" GOCACHE="$gocache" GOPATH="$gopath" isolated "$PREVIEW" -pulumi "$PULUMI" -dir "$TMP/project" -stack "$1" \
		-repo "$ROOT" -binary "$TMP/stub/servelab" -context "$TMP/image-context") >"$out" 2>&1
	echo $?
	set -e
}

# Throw-away secrets: an HF-style token and an ssh key (multi-line, as users pipe it in).
hf_token="hf_$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 30)"
keyfile="$TMP/id_throwaway"
if command -v ssh-keygen >/dev/null; then
	ssh-keygen -q -t ed25519 -N '' -C servelab-check-stacks -f "$keyfile" >/dev/null
elif command -v openssl >/dev/null; then
	openssl genpkey -algorithm ed25519 -out "$keyfile" 2>/dev/null
else
	{ echo "-----BEGIN TEST KEY-----"; head -c 300 /dev/urandom | base64 -w 64; echo "-----END TEST KEY-----"; } >"$keyfile"
fi

out="$TMP/out"
fail() { # stack, what, [output file]
	echo "check-stacks: FAIL $1: $2" >&2
	if [ -n "${3:-}" ] && [ -s "$3" ]; then sed 's/^/    | /' "$3" >&2; fi
	exit 1
}
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
since() { local ms=$(($(now_ms) - $1)); printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100)); }
show() { if [ "$VERBOSE" = 1 ]; then sed 's/^/    | /' "$1"; fi; }

check_stack() {
	local s=$1 t0 how
	t0=$(now_ms)
	(cd "$TMP/project" && pulumi_cli stack init "$s") >"$out" 2>&1 || fail "$s" "pulumi stack init failed" "$out"
	show "$out"
	(cd "$TMP/project" && pulumi_cli config set --secret servelab:hfToken "$hf_token" -s "$s") >"$out" 2>&1 ||
		fail "$s" "pulumi config set --secret servelab:hfToken failed" "$out"
	(cd "$TMP/project" && pulumi_cli config set --secret servelab:sshPrivateKey -s "$s" <"$keyfile") >"$out" 2>&1 ||
		fail "$s" "pulumi config set --secret servelab:sshPrivateKey < key failed" "$out"
	# Read back through the secrets provider; nothing in plaintext in the stack file.
	(cd "$TMP/project" && pulumi_cli config get servelab:hfToken -s "$s") >"$out" 2>&1 ||
		fail "$s" "pulumi config get servelab:hfToken failed" "$out"
	[ "$(cat "$out")" = "$hf_token" ] || fail "$s" "servelab:hfToken did not read back as set" "$out"
	(cd "$TMP/project" && pulumi_cli config get servelab:sshPrivateKey -s "$s") >"$out" 2>&1 ||
		fail "$s" "pulumi config get servelab:sshPrivateKey failed" "$out"
	cmp -s "$out" "$keyfile" || fail "$s" "servelab:sshPrivateKey did not read back byte for byte"
	local sf="$TMP/project/stacks/Pulumi.$s.yaml"
	if grep -qF "$hf_token" "$sf" || grep -qF "$(sed -n 2p "$keyfile")" "$sf"; then
		fail "$s" "a secret landed in plaintext in the stack file"
	fi
	[ "$(grep -c 'secure: v1:' "$sf")" -ge 2 ] || fail "$s" "stack file lacks the two secure: values" "$sf"

	set +e
	(cd "$TMP/project" && pulumi_cli preview -s "$s") >"$out" 2>&1
	local rc=$?
	set -e
	show "$out"
	if [ "$rc" = 124 ]; then fail "$s" "pulumi preview timed out after ${TIMEOUT}s" "$out"; fi
	if [ "$rc" = 0 ]; then
		how="preview SUCCEEDED (plugins present?)"
	elif [ -z "$lang_host" ] && grep -qxF "$STOP_LANGUAGE" "$out" && [ "$(grep -c '^error:' "$out")" = 1 ]; then
		how="stopped at the missing Go language plugin"
	elif [ -n "$lang_host" ] && grep -qE "$STOP_PROVIDER_RE" "$out"; then
		how="stopped at a missing provider plugin: $(grep -oE "pulumi-resource-[a-z0-9-]+" "$out" | head -n1)"
	else
		fail "$s" "pulumi preview failed before the expected stop (exit $rc)" "$out"
	fi
	if [ "$program" = 1 ]; then
		rc=$(program_preview "$s")
		show "$out"
		if [ "$rc" = 124 ]; then fail "$s" "program preview timed out after ${TIMEOUT}s" "$out"; fi
		local others
		others=$(grep -E 'error:' "$out" | grep -vE "$PLUGIN_MISSING_RE" | grep -v '^servelab-preview: preview failed$' || true)
		if [ "$rc" = 0 ]; then
			how="$how; program preview SUCCEEDED"
		elif [ -z "$others" ] && grep -qE "$PLUGIN_MISSING_RE" "$out"; then
			how="$how; program ran, stopped at $(grep -oE "pulumi-resource-[a-z0-9-]+' found in the workspace at version v[0-9.]+" "$out" | head -n1 | sed "s/' found in the workspace at version / /") missing ($(grep -oE '[0-9]+ to create' "$out" | head -n1 || echo '? to create'))"
		else
			fail "$s" "the program failed under the engine before the expected stop at a missing provider plugin (exit $rc)" "$out"
		fi
	fi
	printf 'check-stacks: ok   %-10s config valid, 2 secrets set+read back, %s (%s)\n' "$s" "$how" "$(since "$t0")"
}

# A copy of FROM_STACK with its first framework's engine unknown: the program must say so.
negative_program_check() {
	local name=$1 from=$2
	local dst="$TMP/project/stacks/Pulumi.$name.yaml"
	grep -qE '^ +engine: ' "$ROOT/stacks/Pulumi.$from.yaml" || die "negative program check: stack '$from' has no engine: line"
	sed '/^encryptionsalt:/d' "$ROOT/stacks/Pulumi.$from.yaml" |
		awk '!done && /^ +engine: / { sub(/engine: .*/, "engine: bogus-engine"); done = 1 } { print }' >"$dst"
	(cd "$TMP/project" && pulumi_cli stack init "$name") >"$out" 2>&1 || fail "$name" "pulumi stack init failed" "$out"
	local rc
	rc=$(program_preview "$name")
	show "$out"
	if [ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q 'bogus-engine' "$out" && ! grep -qE "$PLUGIN_MISSING_RE" "$out"; then
		printf 'check-stacks: ok   %-10s engine: bogus-engine rejected by the program: %s\n' "(negative)" "$(grep -m1 'bogus-engine' "$out" | sed 's/^ *//')"
	else
		fail "(negative) $name" "the program did not reject 'engine: bogus-engine' before any provider (exit $rc)" "$out"
	fi
}

# negative_check NAME FROM_STACK KEY BAD_VALUE EXPECTED_TYPE_WORD
# Writes a copy of FROM_STACK's file with KEY's block replaced by a scalar, and demands
# the CLI's schema error for exactly that key.
negative_check() {
	local name=$1 from=$2 key=$3 bad=$4
	local src="$ROOT/stacks/Pulumi.$from.yaml" dst="$TMP/project/stacks/Pulumi.$name.yaml"
	grep -q "^  servelab:$key:" "$src" || die "negative check: stack '$from' has no servelab:$key to break"
	# Replace "  servelab:KEY: ..." and its indented continuation lines with a scalar.
	awk -v k="  servelab:$key:" -v bad="$bad" '
		skip && (/^   / || /^  -/ || /^ *#/ || /^[ \t]*$/) { next }
		{ skip = 0 }
		index($0, k) == 1 { print k " " bad; skip = 1; next }
		{ print }
	' "$src" | sed '/^encryptionsalt:/d' >"$dst"
	grep -q "^  servelab:$key: $bad\$" "$dst" || die "negative check: could not write the broken copy"
	(cd "$TMP/project" && pulumi_cli stack init "$name") >"$out" 2>&1 || fail "$name" "pulumi stack init failed" "$out"
	set +e
	(cd "$TMP/project" && pulumi_cli preview -s "$name") >"$out" 2>&1
	local rc=$?
	set -e
	show "$out"
	local want="error: validating stack config: Stack '$name' with configuration key '$key' must be of type"
	if [ "$rc" != 0 ] && grep -qF "$want" "$out"; then
		printf 'check-stacks: ok   %-10s servelab:%s: %s rejected: %s\n' "(negative)" "$key" "$bad" "$(grep -F "$want" "$out" | sed 's/^error: validating stack config: //')"
	else
		fail "(negative) $name" "the CLI did not reject servelab:$key: $bad (exit $rc); expected: $want" "$out"
	fi
}

start=$(now_ms)
echo "check-stacks: pulumi $("$PULUMI" version) at $PULUMI; ${#stacks[@]} stack(s); Go language host: ${lang_host:-none}; program under the engine: $([ "$program" = 1 ] && echo yes || echo "no (--program)"); no-network namespace: $([ "$netns" = 1 ] && echo yes || echo no)"
if [ "$program" = 1 ]; then build_preview_driver; fi
for s in "${stacks[@]}"; do check_stack "$s"; done

# Negative checks, on a stack that declares hosts and gateway.
base=""
for s in "${stacks[@]}"; do
	f="$ROOT/stacks/Pulumi.$s.yaml"
	if grep -q '^  servelab:hosts:' "$f" && grep -q '^  servelab:gateway:' "$f"; then base=$s; break; fi
done
[ -n "$base" ] || die "negative checks need a stack that sets servelab:hosts and servelab:gateway"
negative_check broken-hosts "$base" hosts laptop
negative_check broken-gateway "$base" gateway 8088
negatives=2
if [ "$program" = 1 ]; then
	negative_program_check broken-engine "$base"
	negatives=3
fi

after=$(fingerprint)
[ "$before" = "$after" ] || die "Pulumi.yaml or a stack file changed during the check (it must work on a copy)"
echo "check-stacks: ${#stacks[@]} stack(s) passed, $negatives negative checks rejected as expected ($(since "$start"))"
