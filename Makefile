# servelab — the commands that matter:
#   make demo             the sim stack's lab on loopback: no Docker, GPU or Pulumi
#   make up STACK=sim     a real `pulumi up` of stacks/Pulumi.<STACK>.yaml
#   make test             every test (what .ci/run runs)

STACK     ?= local
# Pulumi state lives outside the repository by default.
STATE_DIR ?= $(HOME)/.servelab/pulumi-state
GO        ?= go
PULUMI    ?= pulumi

export PULUMI_SKIP_UPDATE_CHECK := true

GOFILES = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './tools/*')

# The Pulumi CLI against servelab's state (never exported by hand).
STATE = PULUMI_BACKEND_URL="file://$(STATE_DIR)"

.PHONY: test deps fmt-check vet kube-bins unit check-stacks kube-preview up preview destroy secret stack need-pulumi need-stack build bench demo outputs grafana gateway report perf-gateway bench-accuracy help kube-image

help:
	@echo "make demo                 the sim stack on loopback: simulated engines, gateway, Prometheus, benchmark, report (no Docker)"
	@echo "make up STACK=<env>       pulumi up stacks/Pulumi.<env>.yaml (local file backend, passphrase secrets)"
	@echo "make preview STACK=<env>  pulumi preview"
	@echo "make destroy STACK=<env>  pulumi destroy, then list what it kept (volumes, images) and how to remove it"
	@echo "make bench STACK=<env>    run the stack's benchmark afresh (pulumi up --replace of the bench command)"
	@echo "make secret STACK=<env> KEY=<key> < file   set servelab:<key> as a secret (value from stdin)"
	@echo "make outputs STACK=<env>  the stack's URLs and other non-secret outputs"
	@echo "make grafana STACK=<env>  Grafana's URL and admin password (and Prometheus's)"
	@echo "make gateway STACK=<env>  the gateway's URL and API key"
	@echo "make report STACK=<env>   bin/reports/<env>.html from the stack's benchmark outputs"
	@echo "make test                 gofmt, go vet, go test -race ./..., stack files checked by the real Pulumi CLI"
	@echo "make build                bin/servelab"
	@echo "make kube-image REPO=<registry/repo> | KIND=<cluster>   the servelab image for a cluster stack (docs/kubernetes.md)"

## ---- the lab -------------------------------------------------------------

# need-pulumi and need-stack check, before anything is built, that the
# Pulumi CLI is installed, the stack file exists and a passphrase is given.
need-pulumi:
	@command -v $(PULUMI) >/dev/null || { echo "make: the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/); without it, try make demo"; exit 1; }

need-stack: need-pulumi
	@test -f stacks/Pulumi.$(STACK).yaml || { echo "make: no stacks/Pulumi.$(STACK).yaml (stacks: $$(ls stacks | sed -n 's/Pulumi\.\(.*\)\.yaml/\1/p' | tr '\n' ' '))"; exit 1; }
	@test -n "$${PULUMI_CONFIG_PASSPHRASE:-}$${PULUMI_CONFIG_PASSPHRASE_FILE:-}" || { echo "make: export PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE (it encrypts the stack's secrets)"; exit 1; }

# stack selects (creating if needed) the stack in a local file backend with
# the passphrase secrets provider. The passphrase is yours: export
# PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE; none is kept here.
stack: need-stack
	@mkdir -p "$(STATE_DIR)"
	$(STATE) $(PULUMI) stack select --create --secrets-provider passphrase $(STACK)

up: need-stack build stack
	$(STATE) $(PULUMI) up --stack $(STACK)

# preview builds too: a rebuilt bin/servelab re-runs a runOn: local benchmark.
preview: need-stack build stack
	$(STATE) $(PULUMI) preview --diff --stack $(STACK)

# bench runs the benchmark of an unchanged stack again (it re-runs by itself
# only when something that decides its results changes): the bench command
# and the file holding its API keys are replaced, everything else is
# updated as by `make up`. See docs/bench.md#re-runs.
bench: need-stack build stack
	$(STATE) $(PULUMI) up --stack $(STACK) \
		--replace '**::benchmark-keys' --replace '**::benchmark-run'

# destroy keeps some things on purpose (README, "What destroy keeps"):
# the state is exported first, and what the destroy left behind is
# printed afterwards with the command that removes each item.
destroy: stack
	@state=$$(mktemp) && trap 'rm -f "$$state"' EXIT && \
	$(STATE) $(PULUMI) stack export --stack $(STACK) >"$$state" && \
	$(STATE) $(PULUMI) destroy --stack $(STACK) && \
	$(GO) run ./scripts/retained <"$$state"

# secret stores servelab:$(KEY) as an encrypted secret of the stack; the
# value comes from stdin (or a prompt), never from the command line:
#   make secret STACK=rtx5090 KEY=sshPrivateKey < ~/.ssh/id_ed25519
secret: stack
	@test -n "$(KEY)" || { echo "make: KEY= names the servelab: key (hfToken, sshPrivateKey, or a target's apiKeySecret)"; exit 1; }
	$(STATE) $(PULUMI) config set --secret --stack $(STACK) servelab:$(KEY)

# What `up` produced, without running the Pulumi CLI by hand: outputs
# prints URLs and non-secret outputs; grafana and gateway their
# credentials; report renders the benchmark outputs as HTML.
outputs: need-stack
	@$(STATE) $(PULUMI) stack output --json --stack $(STACK) | $(GO) run ./scripts/outputs -stack $(STACK)

grafana: need-stack
	@$(STATE) $(PULUMI) stack output --json --show-secrets --stack $(STACK) | $(GO) run ./scripts/outputs -grafana

gateway: need-stack
	@$(STATE) $(PULUMI) stack output --json --show-secrets --stack $(STACK) | $(GO) run ./scripts/outputs -gateway

report: need-stack build
	@mkdir -p bin/reports
	@$(STATE) $(PULUMI) stack output --json --stack $(STACK) >bin/reports/$(STACK).json
	bin/servelab report --format html --output bin/reports/$(STACK).html bin/reports/$(STACK).json
	@echo "report: bin/reports/$(STACK).html"

# -trimpath and -buildvcs=false: the same sources give the same binary
# wherever the checkout is and whatever its commit, so its hash (a
# benchmark trigger) changes only with the code.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -o bin/servelab ./cmd/servelab

# kube-image builds the servelab image from the build context the program
# generates (tools/imagetag), with the tag the program computes from it,
# and makes it available to a cluster stack: pushed to REPO (the stack's
# clusters[].image), or loaded into the kind cluster KIND (clusters[].image
# left at its default, servelab). docs/kubernetes.md.
kube-image:
	@test -n "$(REPO)$(KIND)" || { echo "make: REPO=<registry/repository> to push, or KIND=<kind cluster name> to load"; exit 1; }
	@set -- $$($(GO) run tools/imagetag/main.go) && test -n "$${2:-}" && tag=$$1 ctx=$$2 && set -x && \
	docker build -t servelab:$$tag "$$ctx" && \
	if [ -n "$(KIND)" ]; then kind load docker-image servelab:$$tag --name "$(KIND)"; \
	else docker tag servelab:$$tag "$(REPO):$$tag" && docker push "$(REPO):$$tag"; fi

# demo runs the sim stack's lab on loopback (internal/demo): simulated
# engines, the gateway, Prometheus when installed, a short benchmark and
# the HTML report, until Ctrl-C. DEMO_FLAGS passes flags, e.g.
# DEMO_FLAGS="--free-ports --num-prompts 40" (bin/servelab-demo -h lists them).
# It is built with bin/servelab's flags, so that the two share the build
# cache.
demo: build
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -o bin/servelab-demo ./cmd/servelab-demo
	bin/servelab-demo $(DEMO_FLAGS)

## ---- tests ---------------------------------------------------------------

test: deps fmt-check vet kube-bins unit check-stacks

deps:
	@scripts/install-test-deps.sh

fmt-check:
	@out="$$(gofmt -l $(GOFILES))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# kube-apiserver and etcd, built from the module proxy into tools/bin (once;
# reused while current): internal/kubetest server-side-applies (dry-run)
# every object the k8s stacks render against them. See docs/kubernetes-check.md.
kube-bins:
	scripts/kube-bins.sh

# SERVELAB_KUBE_BINS makes internal/kubetest fail, not skip, without them.
unit: kube-bins
	SERVELAB_KUBE_BINS="$(CURDIR)/tools/bin" $(GO) test -race -timeout 20m ./...

# The real Pulumi CLI (built from the module proxy) validates every stack
# file against Pulumi.yaml's config schema and sets secrets through it.
check-stacks:
	scripts/pulumi-cli.sh
	scripts/check-stacks.sh --program

# Not part of test: the k8s objects through the real Pulumi engine and a
# pulumi-kubernetes provider built from its module (~14 CPU-minutes cold),
# previewed against kube-apiserver. See docs/kubernetes-check.md.
kube-preview:
	scripts/kube-preview.sh

## ---- figures (not tests) -------------------------------------------------

# make perf-gateway [PERF_FLAGS="-gateways h1,nethttp" | PERF_FLAGS=-soak=5m]
perf-gateway:
	$(GO) run ./internal/gateway/perf $(PERF_FLAGS)

bench-accuracy:
	$(GO) run ./benchmarks/accuracy
