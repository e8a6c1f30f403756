package awsconfig

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzCheckEndpoint: --endpoint-url is accepted only as an absolute http or https URL with a
// host, never with a panic; a warning comes only for plain http to a host that is not this
// machine, and an accepted URL's warning names no control character raw.
func FuzzCheckEndpoint(f *testing.F) {
	for _, s := range []string{
		"http://127.0.0.1:5000", "https://iam.amazonaws.com", "http://localhost:4566/", "http://[::1]:5000",
		"http://moto.example.com", "ftp://example.com/", "file:///etc/passwd", "//no-scheme", "http://", "http:///path",
		"HTTP://127.0.0.1", "http://a.localhost", "http://127.0.0.1\x1b[2J", "http://exa\x00mple.com", "\ufeffhttp://127.0.0.1",
		"http://user:secret@example.com/", "https://" + strings.Repeat("a", 70000) + ".com", "http://127.0.0.1:99999", "javascript:alert(1)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		warning, err := checkEndpoint(raw)
		if err != nil {
			if warning != "" {
				t.Fatalf("both a warning and an error: %q, %v", warning, err)
			}
			if _, ok := err.(*OptionError); !ok {
				t.Fatalf("error %T is not an *OptionError", err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Fatalf("accepted %q", raw)
		}
		if (warning != "") != (u.Scheme == "http" && !isLoopback(u.Hostname())) {
			t.Fatalf("%q: warning %q", raw, warning)
		}
		if strings.ContainsAny(warning, "\x00\x1b\r\n") {
			t.Fatalf("warning with a control character: %q", warning)
		}
	})
}
