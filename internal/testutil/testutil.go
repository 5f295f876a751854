// Package testutil holds small helpers for imagegen's own tests and
// examples with fixed configurations.
package testutil

// Must returns v, or panics with err: for constructors given a
// configuration the test itself wrote, so a mistake in it fails loudly.
//
//	g := testutil.Must(retry.New(retry.Policy{}))(inner)
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
