//go:build race

package main

// raceBuild makes TestMain build the binary with the race detector when
// the tests run with it, so that the end-to-end runs check the command's
// own concurrency (batch workers, probe) too.
const raceBuild = true
