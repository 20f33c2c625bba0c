# The two entry points of the README. Each does its own set-up first.
.PHONY: setup run test

setup:
	@./scripts/setup.sh

# Standalone mode on the bundled quickstart manifests (Ctrl-C to stop).
run: setup
	@./bin/strait run -f examples/quickstart

# Lint, type-check, import boundaries and every test.
test: setup
	@npm test --silent
