package catalog_test

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// checkSourceURL returns why u cannot be a fact's source, or nil: a source
// is a page anyone can open, so an absolute http(s) URL on a public host,
// never a path, a file, a local or private address, or this project's own
// PROVIDERS.md (its notes are not public).
func checkSourceURL(u string) error {
	if strings.Contains(strings.ToLower(u), "providers.md") {
		return errors.New("cites the project's PROVIDERS.md, not a public page")
	}
	p, err := url.Parse(u)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL: %w", err)
	case strings.ContainsAny(u, " \t\n"):
		return fmt.Errorf("not a URL: %q has spaces", u)
	case p.Scheme != "http" && p.Scheme != "https":
		return fmt.Errorf("%q is not an http(s) URL", u)
	case p.Hostname() == "":
		return fmt.Errorf("%q has no host", u)
	}
	host := p.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() {
			return fmt.Errorf("%q is not a public address", u)
		}
		return nil
	}
	if host == "localhost" || !strings.Contains(host, ".") ||
		strings.HasSuffix(host, ".local") || strings.HasSuffix(host, ".internal") || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("%q is not a public host", u)
	}
	return nil
}
