# The election booth's jobs. Deno comes from PATH when present, otherwise from
# the npm package `deno` (pinned below), installed into .deno/ (gitignored).
DENO_VERSION := 2.9.6
DENO_LOCAL := .deno/node_modules/.bin/deno
DENO := $(or $(shell command -v deno 2>/dev/null),$(DENO_LOCAL))
HOST ?= localhost
PORT ?= 4443

.PHONY: all run client certs election test check fmt lint build demo bench deno clean

all: test

deno: $(DENO)

$(DENO_LOCAL):
	@command -v npm >/dev/null || { echo "Deno is not on PATH and npm is missing to install it" >&2; exit 1; }
	npm install --prefix .deno --no-save --no-audit --no-fund --loglevel=error deno@$(DENO_VERSION)
	@$(DENO_LOCAL) --version | head -1

## certs: a local CA and a server certificate in certs/ (kept unless FORCE=1)
certs:
	@FORCE=$(FORCE) tools/make_certs.sh certs

## election: the seed's election in data/ unless one exists
election: $(DENO)
	@[ -s data/passwords ] || $(DENO) task server init

## run: everything a fresh machine needs, then the server on localhost:4443
run: $(DENO) certs election
	$(DENO) task server --hostname $(HOST) --port $(PORT)

## client: a voter's client against the server started by `make run`
client: $(DENO)
	$(DENO) task client --host $(HOST) --port $(PORT)

## test: the whole suite (unit and end-to-end, loopback only)
test: $(DENO)
	$(DENO) task test

## check: formatting, lint and type checks
check: $(DENO)
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check server.ts client.ts mod.ts tests/ tools/
	$(DENO) doc --lint mod.ts

fmt: $(DENO)
	$(DENO) fmt

## build: standalone binaries in dist/ with the tasks' permission flags
build: $(DENO)
	$(DENO) run --allow-read --allow-run --allow-write tools/build.ts $(if $(TARGET),--target $(TARGET)) $(if $(ELECTION),--election $(ELECTION))

## demo: a whole election on a free port, transcript printed
demo: $(DENO) certs
	$(DENO) run --allow-all tools/demo.ts

## bench: the booth against a bare TLS echo baseline
bench: $(DENO) certs
	$(DENO) task bench

clean:
	rm -rf dist .deno
