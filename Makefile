# Two commands matter on a fresh Debian 12 machine, as root: `make run` and `make test`.
# Everything they need (apt packages, npm packages, host preparation) is installed on demand.

BUN     := node_modules/.bin/bun
SOURCES := $(shell find src native -name '*.ts' -o -name '*.c' -o -name '*.h' -o -name '*.sql' -o -name '*.json' 2>/dev/null) package.json
NATIVE  := native/build/.stamp

.PHONY: setup build run test bench clean install migrations native

setup:
	@scripts/setup.sh

native: setup
	@native/build.sh

$(NATIVE): native

dist/nimbus: $(SOURCES) | setup
	@native/build.sh
	@mkdir -p dist
	$(BUN) build --compile --bytecode --minify src/cli/main.ts --outfile dist/nimbus
	@rm -f .*.bun-build

build: setup dist/nimbus

run: build
	dist/nimbus start

test: build
	@scripts/test.sh

bench: build
	@scripts/bench.sh

install: build
	install -m 0755 dist/nimbus /usr/local/bin/nimbus

# Regenerate SQL migrations after editing src/store/schema.ts, and re-embed them.
migrations: setup
	node_modules/.bin/drizzle-kit generate --config src/store/drizzle.config.ts
	$(BUN) scripts/embed-migrations.ts

clean:
	rm -rf dist native/build test/artifacts
