# The two entry points of the README. Each does its own set-up first.
.PHONY: setup fixtures run test conformance-official

setup:
	@./scripts/setup.sh

# Standalone mode on the bundled quickstart manifests, with their echo backends and the managed Envoy (Ctrl-C stops).
run: setup
	@./scripts/quickstart.sh

# The Go fixtures of the real-control-plane and mutual-auth tests (kube-apiserver,
# kube-controller-manager, etcd, helm, the Gateway API conformance binary and echo-basic,
# spire-server and spire-agent), built once per version into ~/.cache/strait.
fixtures:
	@./scripts/build-fixtures.sh
	@./scripts/build-spire.sh >/dev/null

# Lint, type-check, import boundaries and every test.
test: setup fixtures
	@npm test --silent

# The official Gateway API conformance suite (Go, v1.6.1) against strait in cluster
# mode on a real control plane with a real Envoy; writes conformance/reports/. Root.
# Needs only the control-plane and gateway-api fixtures, not SPIRE.
conformance-official: setup
	@./scripts/build-fixtures.sh
	@node_modules/.bin/node scripts/conformance-official.ts
