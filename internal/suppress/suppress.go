// Package suppress reads suppression files and applies them to findings. A suppression names the
// keys it covers (by account, user, user path prefix, user tag, access key ID or finding ID), says
// why, and may expire. A suppressed finding keeps its evidence, gets StatusSuppressed and a note,
// and is never planned for remediation. An expired suppression stops applying and is reported.
//
// The file is YAML:
//
//	version: 1                    # optional; 1 is the only version
//	suppressions:
//	  - user: build-bot           # selectors: all that are given must match
//	    account: "123456789012"
//	    reason: CI user, key rotated by the pipeline   # required
//	    expires: 2026-06-30       # optional: a date (stops applying at 00:00 UTC that day) or an RFC 3339 time
//	  - user_path: /service/      # IAM path prefix, starts and ends with /
//	    reason: service users are audited elsewhere
//	  - user_tag: {key: setupkeys-ignore}          # any value; or {key: team, value: data}
//	    reason: owner opted out, see TICKET-12
//	  - access_key_id: AKIAIOSFODNN7EXAMPLE
//	    reason: break-glass key kept in the safe
//	  - finding_id: sk-0123456789abcdef
//	    reason: accepted risk
package suppress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/lazyre"
	"github.com/setupkeys/setupkeys/internal/plural"
	"github.com/setupkeys/setupkeys/internal/strictjson"
	"github.com/setupkeys/setupkeys/internal/termsafe"
)

// Version is the suppression file format this package reads.
const Version = 1

// Rule is one suppression entry. Every selector that is set must match; at least one is set.
type Rule struct {
	// Account is a 12-digit account ID.
	Account string `json:"account,omitempty"`
	// User is an IAM user name, matched without regard to case as IAM does.
	User string `json:"user,omitempty"`
	// UserPath is an IAM path prefix ("/service/" covers "/service/ci/").
	UserPath string `json:"user_path,omitempty"`
	// Tag matches a user tag: the key (without regard to case, as IAM keys are unique that way)
	// and, when Value is set, the exact value.
	Tag *Tag `json:"user_tag,omitempty"`
	// AccessKeyID matches the finding's key ID; findings without one (a report file) never match.
	AccessKeyID string `json:"access_key_id,omitempty"`
	// FindingID matches setupkeys.FindingID.
	FindingID string `json:"finding_id,omitempty"`

	Reason string `json:"reason"`
	// Expires is when the rule stops applying; nil for never.
	Expires *time.Time `json:"expires,omitempty"`

	// File and Line locate the rule for messages.
	File string `json:"file"`
	Line int    `json:"line"`
}

// Tag is a user tag selector.
type Tag struct {
	Key string `json:"key"`
	// Value is nil to match any value.
	Value *string `json:"value,omitempty"`
}

// Where names the rule's place in its file: "suppressions.yaml:12".
func (r Rule) Where() string {
	return fmt.Sprintf("%s:%d", r.File, r.Line)
}

// Expired reports whether the rule has stopped applying at now.
func (r Rule) Expired(now time.Time) bool {
	return r.Expires != nil && !now.Before(*r.Expires)
}

// String describes the rule's selectors: `user=alice account=123456789012`.
func (r Rule) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("account", r.Account)
	add("user", r.User)
	add("user_path", r.UserPath)
	if r.Tag != nil {
		if r.Tag.Value != nil {
			add("user_tag", r.Tag.Key+"="+*r.Tag.Value)
		} else {
			add("user_tag", r.Tag.Key)
		}
	}
	add("access_key_id", setupkeys.MaskKeyID(r.AccessKeyID))
	add("finding_id", r.FindingID)
	return strings.Join(parts, " ")
}

func (r Rule) usesTag() bool { return r.Tag != nil }

// Set is a parsed suppression file.
type Set struct {
	// File is the name the set was read from.
	File  string
	Rules []Rule
}

// NeedsTags reports whether any rule selects by user tag, so the caller knows whether tag look-ups
// (iam:ListUserTags) will be made.
func (s *Set) NeedsTags() bool {
	if s == nil {
		return false
	}
	for _, r := range s.Rules {
		if r.usesTag() {
			return true
		}
	}
	return false
}

// Expired lists the rules that have stopped applying at now, whether or not they match anything.
func (s *Set) Expired(now time.Time) []Rule {
	if s == nil {
		return nil
	}
	var out []Rule
	for _, r := range s.Rules {
		if r.Expired(now) {
			out = append(out, r)
		}
	}
	return out
}

// TagLookup returns a user's tags. Apply calls it only when some live rule selects by tag, only for
// users with a fail or review finding, and once per account and user.
type TagLookup interface {
	UserTags(ctx context.Context, accountID, user string) (map[string]string, error)
}

// ExpiredMatch is an expired rule that would have covered findings had it not expired.
type ExpiredMatch struct {
	Rule Rule
	// Findings are the findings it would have suppressed, as they stand (unsuppressed).
	Findings []setupkeys.Finding
}

// maxListed bounds how many findings a warning names, so that a rule covering a whole
// organization's users does not flood the terminal.
const maxListed = 10

// Warning says, on one line, that the rule expired and which findings it no longer covers: the
// first maxListed as account/user and masked key ID, then how many more.
func (e ExpiredMatch) Warning() string {
	var b strings.Builder
	fmt.Fprintf(&b, "suppression %s (%s) expired on %s and no longer covers %s: ",
		e.Rule.Where(), termsafe.String(e.Rule.String()), e.Rule.Expires.UTC().Format(time.RFC3339), plural.Count(len(e.Findings), "finding"))
	for i, f := range e.Findings {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more", len(e.Findings)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(describeFinding(f))
	}
	fmt.Fprintf(&b, " (its reason was: %s; renew its expires: or remove it)", termsafe.String(e.Rule.Reason))
	return b.String()
}

// describeFinding names a finding's key briefly: "123456789012/alice AKIA************MPLE fail",
// "slot 1" when the key ID is unknown (a report file).
func describeFinding(f setupkeys.Finding) string {
	key := fmt.Sprintf("slot %d", f.KeySlot)
	if f.AccessKeyID != nil {
		key = setupkeys.MaskKeyID(*f.AccessKeyID)
	}
	return fmt.Sprintf("%s/%s %s %s", f.AccountID, termsafe.String(f.User), key, f.Status)
}

// Result is what Apply made of a list of findings.
type Result struct {
	// Findings are the input findings in the same order, the covered ones suppressed.
	Findings []setupkeys.Finding
	// Suppressed counts the findings this call suppressed.
	Suppressed int
	// Expired are the expired rules that would have covered some finding, in file order.
	Expired []ExpiredMatch
	// Warnings say what could not be decided: a tag look-up that failed (the finding then stays
	// unsuppressed unless another rule covers it), or tag rules where no tags can be read.
	Warnings []string
}

// Apply suppresses the fail and review findings that a live rule covers: the first matching rule
// in file order wins. Other findings pass through unchanged. tags nil means the findings come
// from where no tags can be read (a report file): the rules that select by tag then cover
// nothing, and one warning names them. Otherwise a look-up error leaves the finding to the other
// rules and adds a warning. now is the clock that decides expiry.
func (s *Set) Apply(ctx context.Context, findings []setupkeys.Finding, tags TagLookup, now time.Time) Result {
	res := Result{Findings: make([]setupkeys.Finding, len(findings))}
	copy(res.Findings, findings)
	if s == nil || len(s.Rules) == 0 {
		return res
	}
	if tags == nil {
		if w := s.noTagsWarning(now); w != "" {
			res.Warnings = append(res.Warnings, w)
		}
	}
	type userKey struct{ account, user string }
	type tagEntry struct {
		tags map[string]string
		err  error
	}
	tagCache := map[userKey]tagEntry{}
	lookup := func(f setupkeys.Finding) (map[string]string, error) {
		k := userKey{f.AccountID, strings.ToLower(f.User)}
		if e, ok := tagCache[k]; ok {
			return e.tags, e.err
		}
		var e tagEntry
		e.tags, e.err = tags.UserTags(ctx, f.AccountID, f.User)
		tagCache[k] = e
		if e.err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("cannot read the tags of user %s in account %s, so suppressions by tag do not cover it: %v", f.User, f.AccountID, e.err))
		}
		return e.tags, e.err
	}
	expiredHits := make([][]setupkeys.Finding, len(s.Rules))
	for i := range res.Findings {
		f := &res.Findings[i]
		if f.Status != setupkeys.StatusFail && f.Status != setupkeys.StatusReview {
			continue
		}
		for ri, r := range s.Rules {
			if !r.matchesStatic(*f) {
				continue
			}
			if r.usesTag() {
				if tags == nil {
					continue
				}
				t, err := lookup(*f)
				if err != nil || !r.Tag.matches(t) {
					continue
				}
			}
			if r.Expired(now) {
				expiredHits[ri] = append(expiredHits[ri], *f)
				continue
			}
			f.Suppression = &setupkeys.SuppressionNote{Reason: r.Reason, Expires: r.Expires, Was: f.Status}
			f.Status = setupkeys.StatusSuppressed
			res.Suppressed++
			break
		}
	}
	for ri, hits := range expiredHits {
		if len(hits) > 0 {
			res.Expired = append(res.Expired, ExpiredMatch{Rule: s.Rules[ri], Findings: hits})
		}
	}
	return res
}

// noTagsWarning is the one line for the live rules that select by tag when no tags can be read,
// or "" when there are none.
func (s *Set) noTagsWarning(now time.Time) string {
	var where []string
	for _, r := range s.Rules {
		if r.usesTag() && !r.Expired(now) {
			where = append(where, r.Where())
		}
	}
	if len(where) == 0 {
		return ""
	}
	n := len(where)
	return fmt.Sprintf("%s %s %s by user_tag, but a report file has no tags, so %s nothing here: audit the live account to read tags, or select these users by user or user_path",
		plural.Noun(n, "suppression"), strings.Join(where, ", "), plural.Choose(n, "selects", "select"), plural.Choose(n, "it covers", "they cover"))
}

// matchesStatic checks every selector but the tag.
func (r Rule) matchesStatic(f setupkeys.Finding) bool {
	if r.Account != "" && r.Account != f.AccountID {
		return false
	}
	if r.User != "" && !strings.EqualFold(r.User, f.User) {
		return false
	}
	if r.UserPath != "" && !strings.HasPrefix(setupkeys.UserPathFromARN(f.ARN), r.UserPath) {
		return false
	}
	if r.AccessKeyID != "" && (f.AccessKeyID == nil || *f.AccessKeyID != r.AccessKeyID) {
		return false
	}
	if r.FindingID != "" && r.FindingID != f.ID {
		return false
	}
	return true
}

func (t *Tag) matches(tags map[string]string) bool {
	for k, v := range tags {
		if strings.EqualFold(k, t.Key) && (t.Value == nil || *t.Value == v) {
			return true
		}
	}
	return false
}

// Error is a problem in a suppression file, named by file, line and column.
type Error struct {
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *Error) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	if e.Column <= 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// maxFileSize bounds what Parse reads: a suppression file is written by hand.
const maxFileSize = 4 << 20

// Load reads and parses the suppression file at path.
func Load(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, path)
}

// Parse reads a suppression file from r; name names it in messages. Unknown fields, a rule without
// a selector or a reason, a bad date and malformed selectors are errors; all of them are reported,
// each as file:line:column.
func Parse(r io.Reader, name string) (*Set, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxFileSize {
		return nil, &Error{File: name, Msg: fmt.Sprintf("larger than %d bytes; is this a suppression file?", maxFileSize)}
	}
	p := parser{name: name}
	set := &Set{File: name}
	var doc yaml.Node
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return set, nil // an empty file suppresses nothing
		}
		return nil, p.yamlError(data, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, p.at(&extra, "more than one YAML document; put every suppression under one `suppressions:` list")
	} else if !errors.Is(err, io.EOF) {
		return nil, p.yamlError(data, err)
	}
	set.Rules = p.file(&doc)
	if len(p.errs) > 0 {
		return nil, errorList(p.errs)
	}
	return set, nil
}

type parser struct {
	name string
	errs []error
}

// maxErrors stops a badly broken file from producing a wall of errors.
const maxErrors = 20

func (p *parser) at(n *yaml.Node, format string, args ...any) *Error {
	return &Error{File: p.name, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, p.at(n, format, args...))
	}
}

// yamlError places a YAML syntax error where the parser found it, and says which construct was
// open (a quoted value, a list) and where that began, since the cause is often there.
func (p *parser) yamlError(data []byte, err error) error {
	var le *yaml.LoadError
	if !errors.As(err, &le) {
		return &Error{File: p.name, Msg: "bad YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	msg := "bad YAML: " + le.Message
	if le.ContextMsg != "" && le.ContextMark.Line > 0 && le.ContextMark != le.Mark {
		msg += fmt.Sprintf(" (%s that starts at %d:%d)", le.ContextMsg, le.ContextMark.Line, le.ContextMark.Column)
	}
	line, col := le.Mark.Line, le.Mark.Column
	if line == 0 {
		// The reader (bad UTF-8, a control character) knows only the byte offset.
		line, col = strictjson.Position(data, int64(le.Mark.Index), 1)
	}
	return &Error{File: p.name, Line: line, Column: col, Msg: msg}
}

func (p *parser) file(doc *yaml.Node) []Rule {
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	root = resolveAlias(root)
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "expected a mapping with a `suppressions:` list at the top, found %s", kindName(root))
		return nil
	}
	var rules []Rule
	var list *yaml.Node
	for k, v := range p.fields(root) {
		switch k.Value {
		case "version":
			if v.Kind != yaml.ScalarNode || v.Value != fmt.Sprint(Version) {
				p.errorf(v, "unsupported version %q: this setupkeys reads version %d", v.Value, Version)
			}
		case "suppressions":
			list = v
		default:
			p.errorf(k, "unknown field %q (known: version, suppressions)", k.Value)
		}
	}
	if list == nil {
		if len(p.errs) == 0 {
			p.errorf(root, "no `suppressions:` list")
		}
		return nil
	}
	if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		p.errorf(list, "`suppressions` must be a list, found %s", kindName(list))
		return nil
	}
	for _, item := range list.Content {
		if r, ok := p.rule(resolveAlias(item)); ok {
			rules = append(rules, r)
		}
	}
	return rules
}

var (
	findingIDRE = lazyre.New(`^sk-[0-9a-f]{16}(-[12])?$`)
	// userNameRE is IAM's user name pattern.
	userNameRE = lazyre.New(`^[\w+=,.@-]{1,64}$`)
)

const ruleFields = "account, user, user_path, user_tag, access_key_id, finding_id, reason, expires"

func (p *parser) rule(n *yaml.Node) (Rule, bool) {
	r := Rule{File: p.name, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "a suppression must be a mapping with a selector and a reason, found %s", kindName(n))
		return r, false
	}
	before := len(p.errs)
	seen := map[string]bool{}
	for k, v := range p.fields(n) {
		seen[k.Value] = true
		if k.Value == "user_tag" {
			r.Tag = p.tag(v)
			continue
		}
		if !isKnownScalarField(k.Value) {
			p.errorf(k, "unknown field %q (known: %s)", k.Value, ruleFields)
			continue
		}
		s, ok := p.scalar(k.Value, v)
		if !ok {
			continue
		}
		switch k.Value {
		case "account":
			if !setupkeys.ValidAccountID(s) {
				p.errorf(v, "account %q is not a 12-digit account ID (quote it to keep leading zeros)", s)
			}
			r.Account = s
		case "user":
			if !userNameRE.MatchString(s) {
				p.errorf(v, "user %q is not a valid IAM user name", s)
			}
			r.User = s
		case "user_path":
			if !strings.HasPrefix(s, "/") || !strings.HasSuffix(s, "/") {
				p.errorf(v, "user_path %q must start and end with / (e.g. /service/)", s)
			}
			r.UserPath = s
		case "access_key_id":
			if !setupkeys.ValidAccessKeyID(s) {
				p.errorf(v, "access_key_id %q is not an access key ID", setupkeys.MaskKeyID(s))
			}
			r.AccessKeyID = s
		case "finding_id":
			if !findingIDRE.MatchString(s) {
				p.errorf(v, "finding_id %q is not a setupkeys finding ID (sk-, 16 hex digits, and -1 or -2 for twin keys)", s)
			}
			r.FindingID = s
		case "reason":
			r.Reason = strings.TrimSpace(s)
			if r.Reason == "" {
				p.errorf(v, "reason is empty: say why these keys are accepted")
			}
		case "expires":
			t, err := parseExpiry(s)
			if err != nil {
				p.errorf(v, "%v", err)
			} else {
				r.Expires = &t
			}
		}
	}
	if !seen["reason"] {
		p.errorf(n, "suppression has no reason: every suppression must say why")
	}
	if !seen["account"] && !seen["user"] && !seen["user_path"] && !seen["user_tag"] && !seen["access_key_id"] && !seen["finding_id"] {
		p.errorf(n, "suppression has no selector: give at least one of account, user, user_path, user_tag, access_key_id, finding_id")
	}
	return r, len(p.errs) == before
}

func isKnownScalarField(name string) bool {
	switch name {
	case "account", "user", "user_path", "access_key_id", "finding_id", "reason", "expires":
		return true
	}
	return false
}

func (p *parser) scalar(field string, v *yaml.Node) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		p.errorf(v, "%s must be a single value, found %s", field, kindName(v))
		return "", false
	}
	if v.Tag == "!!null" {
		p.errorf(v, "%s is empty", field)
		return "", false
	}
	return v.Value, true
}

// fields yields the key and (alias-resolved) value of each field of mapping n, once: a field
// given twice is an error, and only its first value counts.
func (p *parser) fields(n *yaml.Node) iter.Seq2[*yaml.Node, *yaml.Node] {
	return func(yield func(*yaml.Node, *yaml.Node) bool) {
		first := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if f, ok := first[k.Value]; ok {
				p.errorf(k, "field %q given twice (first at %d:%d)", k.Value, f.Line, f.Column)
				continue
			}
			first[k.Value] = k
			if !yield(k, resolveAlias(n.Content[i+1])) {
				return
			}
		}
	}
}

func (p *parser) tag(v *yaml.Node) *Tag {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "user_tag must be a mapping such as {key: team, value: data}, found %s", kindName(v))
		return nil
	}
	t := &Tag{}
	hasKey := false
	for k, val := range p.fields(v) {
		switch k.Value {
		case "key":
			hasKey = true
			if s, ok := p.scalar("user_tag.key", val); ok {
				if s == "" || len(s) > 128 {
					p.errorf(val, "user_tag.key must be 1 to 128 characters")
				}
				t.Key = s
			}
		case "value":
			if val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
				s := "" // `value:` with nothing means the empty value
				t.Value = &s
			} else if s, ok := p.scalar("user_tag.value", val); ok {
				t.Value = &s
			}
		default:
			p.errorf(k, "unknown field %q in user_tag (known: key, value)", k.Value)
		}
	}
	if !hasKey {
		p.errorf(v, "user_tag has no key")
	}
	return t
}

// parseExpiry accepts a date (the rule stops applying at 00:00 UTC on it) or an RFC 3339 time.
func parseExpiry(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("expires %q is not a date (2006-01-02) or an RFC 3339 time (2006-01-02T15:04:05Z)", s)
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// errorList reports every problem of a file on one line, "; "-separated, as the CLI prints one
// line per error.
type errorList []error

func (l errorList) Error() string {
	msgs := make([]string, len(l))
	for i, err := range l {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (l errorList) Unwrap() []error { return l }
