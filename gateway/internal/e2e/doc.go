// Package e2e holds the end-to-end test of the whole system over real
// processes: the embedder, two index instances and the gateway, built from
// this workspace with go build and run on loopback. See e2e_test.go.
package e2e
