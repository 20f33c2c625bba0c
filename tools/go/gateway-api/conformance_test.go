// Package conformance runs the official Gateway API conformance suite (v1.6.1)
// with its own flags (--gateway-class, --conformance-profiles, --supported-features,
// --report-output, ...). Built as a test binary by scripts/build-fixtures.sh and run
// by scripts/conformance-official.ts against strait in cluster mode.
package conformance

import (
	"testing"

	"sigs.k8s.io/gateway-api/conformance"
)

func TestConformance(t *testing.T) {
	conformance.RunConformance(t)
}
