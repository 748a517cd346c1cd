//go:build tools

// The h2spec build's dependencies, pinned by this module's go.mod and go.sum (h2spec has no
// go.mod of its own, so `go install h2spec@version` would take whatever is newest that day).
package tools

import _ "github.com/summerwind/h2spec/cmd/h2spec"
