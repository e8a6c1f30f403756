// Package lazyre compiles a regular expression on first use instead of at program start. Every
// package's init runs on every invocation, and `setupkeys audit --report` must start fast; the
// validators that use these patterns run only on some paths.
package lazyre

import (
	"regexp"
	"sync"
)

// Regexp is a regexp.Regexp compiled on first use.
type Regexp struct {
	expr string
	get  func() *regexp.Regexp
}

// New returns a Regexp for expr; like regexp.MustCompile, a bad expr panics, but on first use.
func New(expr string) *Regexp {
	return &Regexp{expr: expr, get: sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })}
}

// MatchString reports whether s contains a match.
func (r *Regexp) MatchString(s string) bool { return r.get().MatchString(s) }

// FindStringSubmatch is regexp.Regexp.FindStringSubmatch.
func (r *Regexp) FindStringSubmatch(s string) []string { return r.get().FindStringSubmatch(s) }

// String is the source text.
func (r *Regexp) String() string { return r.expr }
