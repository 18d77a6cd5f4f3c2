# servelab — the two commands that matter:
#   make up STACK=local   a real `pulumi up` of stacks/Pulumi.<STACK>.yaml
#   make test             every test (what .ci/run runs)

STACK     ?= local
# Pulumi state lives outside the repository by default.
STATE_DIR ?= $(HOME)/.servelab/pulumi-state
GO        ?= go
PULUMI    ?= pulumi

export PULUMI_SKIP_UPDATE_CHECK := true

GOFILES = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tools/*')

.PHONY: test deps fmt-check vet unit check-stacks up preview destroy secret stack build perf-gateway bench-accuracy help

help:
	@echo "make up STACK=<env>       pulumi up stacks/Pulumi.<env>.yaml (local file backend, passphrase secrets)"
	@echo "make preview STACK=<env>  pulumi preview"
	@echo "make destroy STACK=<env>  pulumi destroy"
	@echo "make secret STACK=<env> KEY=<key> < file   set servelab:<key> as a secret (value from stdin)"
	@echo "make test                 gofmt, go vet, go test -race ./..., stack files checked by the real Pulumi CLI"
	@echo "make build                bin/servelab"

## ---- the lab -------------------------------------------------------------

# stack selects (creating if needed) the stack in a local file backend with
# the passphrase secrets provider. The passphrase is yours: export
# PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE; none is kept here.
stack:
	@command -v $(PULUMI) >/dev/null || { echo "make: the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/)"; exit 1; }
	@test -f stacks/Pulumi.$(STACK).yaml || { echo "make: no stacks/Pulumi.$(STACK).yaml (stacks: $$(ls stacks | sed -n 's/Pulumi\.\(.*\)\.yaml/\1/p' | tr '\n' ' '))"; exit 1; }
	@test -n "$${PULUMI_CONFIG_PASSPHRASE:-}$${PULUMI_CONFIG_PASSPHRASE_FILE:-}" || { echo "make: export PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE (it encrypts the stack's secrets)"; exit 1; }
	@mkdir -p "$(STATE_DIR)"
	PULUMI_BACKEND_URL="file://$(STATE_DIR)" $(PULUMI) stack select --create --secrets-provider passphrase $(STACK)

up: build stack
	PULUMI_BACKEND_URL="file://$(STATE_DIR)" $(PULUMI) up --stack $(STACK)

preview: stack
	PULUMI_BACKEND_URL="file://$(STATE_DIR)" $(PULUMI) preview --diff --stack $(STACK)

destroy: stack
	PULUMI_BACKEND_URL="file://$(STATE_DIR)" $(PULUMI) destroy --stack $(STACK)

# secret stores servelab:$(KEY) as an encrypted secret of the stack; the
# value comes from stdin (or a prompt), never from the command line:
#   make secret STACK=rtx5090 KEY=sshPrivateKey < ~/.ssh/id_ed25519
secret: stack
	@test -n "$(KEY)" || { echo "make: KEY= names the servelab: key (hfToken, sshPrivateKey, or a target's apiKeySecret)"; exit 1; }
	PULUMI_BACKEND_URL="file://$(STATE_DIR)" $(PULUMI) config set --secret --stack $(STACK) servelab:$(KEY)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/servelab ./cmd/servelab

## ---- tests ---------------------------------------------------------------

test: deps fmt-check vet unit check-stacks

deps:
	@scripts/install-test-deps.sh

fmt-check:
	@out="$$(gofmt -l $(GOFILES))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -timeout 20m ./...

# The real Pulumi CLI (built from the module proxy) validates every stack
# file against Pulumi.yaml's config schema and sets secrets through it.
check-stacks:
	scripts/pulumi-cli.sh
	scripts/check-stacks.sh --program

## ---- figures (not tests) -------------------------------------------------

# make perf-gateway [PERF_FLAGS="-gateways h1,nethttp" | PERF_FLAGS=-soak=5m]
perf-gateway:
	$(GO) run ./internal/gateway/perf $(PERF_FLAGS)

bench-accuracy:
	$(GO) run ./benchmarks/accuracy
