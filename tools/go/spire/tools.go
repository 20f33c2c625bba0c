//go:build tools

// Package tools pins the SPIRE commands strait's tests and local runs build:
// `go build github.com/spiffe/spire/cmd/spire-server` (and spire-agent) from this
// module, so the versions come from this go.mod and go.sum.
package tools

import (
	_ "github.com/spiffe/spire/cmd/spire-agent"
	_ "github.com/spiffe/spire/cmd/spire-server"
	_ "github.com/spiffe/spire-api-sdk/proto/spire/api/agent/delegatedidentity/v1"
)
