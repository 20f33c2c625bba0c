# The two entry points of the README. Each does its own set-up first.
.PHONY: setup fixtures run test conformance-official

setup:
	@./scripts/setup.sh

# Standalone mode on the bundled quickstart manifests (Ctrl-C to stop).
run: setup
	@./bin/strait run -f examples/quickstart

# The Go fixtures of the real-control-plane tests (kube-apiserver, etcd, helm, the
# Gateway API conformance binary), built once per version into ~/.cache/strait.
fixtures:
	@./scripts/build-fixtures.sh

# Lint, type-check, import boundaries and every test.
test: setup fixtures
	@npm test --silent

# The official Gateway API conformance suite (Go, v1.6.1) against strait in cluster
# mode on a real control plane with a real Envoy; writes conformance/reports/. Root.
conformance-official: setup fixtures
	@node_modules/.bin/node scripts/conformance-official.ts
