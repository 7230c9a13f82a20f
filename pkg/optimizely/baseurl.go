package optimizely

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckBaseURL reports whether raw is an acceptable Authentication API base
// URL: https with a host, or plain http only to a loopback host
// (127.0.0.0/8, ::1, localhost: an emulator on this machine). No user
// information, query or fragment. The Personal Access Token is sent to this
// host and no other (redirects are never followed), so a URL that would
// carry it in cleartext over a network is a settings error.
func CheckBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("optimizely API URL %q: want https://host[:port][/path]", sanitizeURL(raw))
	}
	shown := u.Redacted()
	switch {
	case u.User != nil:
		return fmt.Errorf("optimizely API URL %q: must not hold user information", shown)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("optimizely API URL %q: must not have a query or fragment", shown)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("optimizely API URL %q: plain http is allowed only to a loopback host "+
			"(127.0.0.0/8, ::1, localhost); use https: the token must never cross a network in cleartext", shown)
	default:
		return fmt.Errorf("optimizely API URL %q: scheme must be https", shown)
	}
}

// isLoopback reports whether host (without port) is localhost or a loopback
// IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sanitizeURL shortens an unparsable URL for an error message and drops
// anything that looks like user information.
func sanitizeURL(raw string) string {
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		raw = "…@" + raw[i+1:]
	}
	if len(raw) > 100 {
		raw = raw[:100] + "…"
	}
	return raw
}
