package suppress

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

// FuzzParse: any input either parses into rules that each have a reason and a selector, or fails
// with *Error values that name the file, line and column. Never a panic. Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add("suppressions:\n  - user: a\n    reason: r\n")
	f.Add("version: 1\nsuppressions:\n  - user_tag: {key: k, value: v}\n    reason: r\n    expires: 2025-01-01\n")
	f.Add("a: &x {user: a, reason: r}\nsuppressions: [*x, *x]\n")
	f.Add("suppressions:\n  - user: \"alice\n    reason: r\n")
	f.Add("suppressions:\n  - user: a\n    reason: r\n   bad: y\n")
	f.Add("suppressions:\n  - user: a\n    user: b\n    reason: r\n    expires: 2025-13-01\n")
	f.Fuzz(func(t *testing.T, src string) {
		set, err := Parse(strings.NewReader(src), "f.yaml")
		if err != nil {
			if set != nil {
				t.Fatal("both a set and an error")
			}
			// Every problem is placed: file, line and column.
			errs := []error{err}
			if list, ok := err.(interface{ Unwrap() []error }); ok {
				errs = list.Unwrap()
			}
			for _, e := range errs {
				perr, ok := e.(*Error)
				if !ok || perr.File != "f.yaml" || perr.Line <= 0 || perr.Column <= 0 {
					t.Fatalf("error %T %q is not a *Error naming the file, line and column", e, e)
				}
			}
			return
		}
		for _, r := range set.Rules {
			if strings.TrimSpace(r.Reason) == "" {
				t.Fatalf("rule without a reason: %+v", r)
			}
			if r.Account == "" && r.User == "" && r.UserPath == "" && r.Tag == nil && r.AccessKeyID == "" && r.FindingID == "" {
				t.Fatalf("rule without a selector: %+v", r)
			}
			_ = r.String()
		}
		f := setupkeys.Finding{ID: "sk-0123456789abcdef", AccountID: "111111111111", User: "a", ARN: "arn:aws:iam::111111111111:user/a", Status: setupkeys.StatusFail}
		set.Apply(context.Background(), []setupkeys.Finding{f}, StaticTags{}, time.Unix(0, 0))
	})
}
