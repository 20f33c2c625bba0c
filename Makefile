# The two entry points of the README. Each does its own set-up first.
.PHONY: setup run test

setup:
	@./scripts/setup.sh

# Standalone mode on the bundled quickstart manifests, with their echo backends and the managed Envoy (Ctrl-C stops).
run: setup
	@./scripts/quickstart.sh

# Lint, type-check, import boundaries and every test.
test: setup
	@npm test --silent
