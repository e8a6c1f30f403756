package fakeaws

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// stsActions are the STS actions, used to route unsigned Query requests.
var stsActions = map[string]bool{
	"AssumeRole": true, "GetCallerIdentity": true, "GetSessionToken": true,
	"AssumeRoleWithWebIdentity": true, "AssumeRoleWithSAML": true, "GetAccessKeyInfo": true,
	"GetFederationToken": true, "DecodeAuthorizationMessage": true, "AssumeRoot": true,
}

var roleARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})$`)

// serveQuery serves IAM and STS (AWS Query protocol).
func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.queryError(w, iamNS, "MalformedQueryString", err.Error(), 400)
		return
	}
	f := r.Form
	action := f.Get("Action")
	key, svc := signature(r)
	if svc != "iam" && svc != "sts" {
		svc = "iam"
		if stsActions[action] {
			svc = "sts"
		}
	}
	ns := iamNS
	if svc == "sts" {
		ns = stsNS
	}
	if action == "" {
		s.count("", "")
		s.queryError(w, ns, "MissingAction", "Missing Action", 400)
		return
	}
	c, aerr := s.resolveCaller(r, key)
	if aerr != nil {
		s.count("", action)
		s.queryError(w, ns, aerr.code, aerr.msg, 0)
		return
	}
	acct := c.account
	if svc == "sts" && action == "AssumeRole" {
		if m := roleARNRE.FindStringSubmatch(f.Get("RoleArn")); m != nil {
			acct = m[1]
		}
	}
	if code := s.admit(r.Context(), acct, action, "Throttling"); code != "" {
		s.queryError(w, ns, code, "", 0)
		return
	}
	q := &queryCall{s: s, w: w, f: f, c: c, action: action, ns: ns}
	if svc == "sts" {
		s.serveSTS(q)
		return
	}
	s.serveIAM(q)
}

type queryCall struct {
	s      *Server
	w      http.ResponseWriter
	f      url.Values
	c      caller
	action string
	ns     string
}

func (q *queryCall) ok(body func(*xw)) { q.s.queryResponse(q.w, q.ns, q.action, body) }

func (q *queryCall) fail(code, msg string) { q.s.queryError(q.w, q.ns, code, msg, 0) }

func (q *queryCall) failf(code, format string, args ...any) {
	q.fail(code, fmt.Sprintf(format, args...))
}

// list reads a Query list parameter (Name.member.1, Name.member.2, ...).
func (q *queryCall) list(name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := q.f[name+".member."+strconv.Itoa(i)]
		if !ok {
			return out
		}
		out = append(out, v[0])
	}
}

// page reads MaxItems and Marker; the marker is an opaque base64 of a position.
func (q *queryCall) page(def int) (max int, marker string, ok bool) {
	max = def
	if v := q.f.Get("MaxItems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			q.failf("ValidationError", "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000", v)
			return 0, "", false
		}
		max = n
	}
	if m := q.f.Get("Marker"); m != "" {
		b, err := base64.RawURLEncoding.DecodeString(m)
		if err != nil {
			q.fail("ValidationError", "Invalid Marker.")
			return 0, "", false
		}
		marker = string(b)
	}
	return max, marker, true
}

func encodeMarker(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// ---- IAM ----

func (s *Server) serveIAM(q *queryCall) {
	a := s.account(q.c.account)
	if a == nil {
		q.fail("InvalidClientTokenId", "")
		return
	}
	switch q.action {
	case "ListUsers":
		s.iamListUsers(q, a)
	case "GetUser":
		s.iamGetUser(q, a)
	case "GetLoginProfile":
		s.iamGetLoginProfile(q, a)
	case "ListAccessKeys":
		s.iamListAccessKeys(q, a)
	case "GetAccessKeyLastUsed":
		s.iamGetAccessKeyLastUsed(q, a)
	case "UpdateAccessKey":
		s.iamUpdateAccessKey(q, a)
	case "DeleteAccessKey":
		s.iamDeleteAccessKey(q, a)
	case "ListUserTags":
		s.iamListUserTags(q, a)
	case "GenerateCredentialReport":
		s.iamGenerateCredentialReport(q, a)
	case "GetCredentialReport":
		s.iamGetCredentialReport(q, a)
	case "SimulatePrincipalPolicy":
		s.iamSimulatePrincipalPolicy(q, a)
	default:
		q.failf("InvalidAction", "Could not find operation %s for version 2010-05-08", q.action)
	}
}

// userName resolves the UserName parameter: when absent, IAM uses the calling user, and fails
// for role credentials.
func (q *queryCall) userName() (string, bool) {
	if n := q.f.Get("UserName"); n != "" {
		return n, true
	}
	if q.c.session != nil {
		q.fail("ValidationError", "Must specify userName when calling with non-User credentials")
		return "", false
	}
	return q.s.opts.CallerUserName, true
}

func (q *queryCall) noSuchUser(name string) {
	q.failf("NoSuchEntity", "The user with name %s cannot be found.", name)
}

func writeUser(x *xw, u *user, withTags bool) {
	x.text("Path", u.Path)
	x.text("UserName", u.Name)
	x.text("UserId", u.ID)
	x.text("Arn", u.arn)
	x.time("CreateDate", u.Created)
	if u.loginProfile != nil && !u.loginProfile.PasswordLastUsed.IsZero() {
		x.time("PasswordLastUsed", u.loginProfile.PasswordLastUsed)
	}
	if withTags && len(u.Tags) > 0 {
		x.open("Tags")
		for _, t := range u.Tags {
			x.open("member")
			x.text("Key", t.Key)
			x.text("Value", t.Value)
			x.close("member")
		}
		x.close("Tags")
	}
}

func (s *Server) iamListUsers(q *queryCall, a *account) {
	max, marker, ok := q.page(100)
	if !ok {
		return
	}
	prefix := q.f.Get("PathPrefix")
	if prefix == "" {
		prefix = "/"
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	start := 0
	if marker != "" {
		sk, name, _ := strings.Cut(marker, "\x00")
		start = sort.Search(len(a.users), func(i int) bool {
			u := a.users[i]
			return u.sortKey > sk || (u.sortKey == sk && u.Name >= name)
		})
	}
	var page []*user
	next := ""
	for i := start; i < len(a.users); i++ {
		u := a.users[i]
		if !strings.HasPrefix(u.Path, prefix) {
			continue
		}
		if len(page) == max {
			next = u.sortKey + "\x00" + u.Name
			break
		}
		page = append(page, u)
	}
	q.ok(func(x *xw) {
		x.b.Grow(len(page) * 320)
		x.open("Users")
		for _, u := range page {
			x.open("member")
			writeUser(x, u, false)
			x.close("member")
		}
		x.close("Users")
		x.bool("IsTruncated", next != "")
		if next != "" {
			x.text("Marker", encodeMarker(next))
		}
	})
}

func (s *Server) iamGetUser(q *queryCall, a *account) {
	name, ok := q.userName()
	if !ok {
		return
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	u := a.byName[strings.ToLower(name)]
	if u == nil {
		if q.f.Get("UserName") == "" {
			// The base caller, not seeded as a user: describe it anyway.
			cfg := a.cfg
			q.ok(func(x *xw) {
				x.open("User")
				x.text("Path", "/")
				x.text("UserName", name)
				x.text("UserId", q.c.userID)
				x.text("Arn", q.c.userARN)
				x.time("CreateDate", cfg.Created)
				x.close("User")
			})
			return
		}
		q.noSuchUser(name)
		return
	}
	q.ok(func(x *xw) {
		x.open("User")
		writeUser(x, u, true)
		x.close("User")
	})
}

func (s *Server) iamGetLoginProfile(q *queryCall, a *account) {
	name, ok := q.userName()
	if !ok {
		return
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	u := a.byName[strings.ToLower(name)]
	if u == nil {
		q.noSuchUser(name)
		return
	}
	lp := u.loginProfile
	if lp == nil {
		q.failf("NoSuchEntity", "Login Profile for User %s cannot be found.", u.Name)
		return
	}
	q.ok(func(x *xw) {
		x.open("LoginProfile")
		x.text("UserName", u.Name)
		x.time("CreateDate", lp.Created)
		x.bool("PasswordResetRequired", lp.ResetRequired)
		x.close("LoginProfile")
	})
}

func (s *Server) iamListAccessKeys(q *queryCall, a *account) {
	name, ok := q.userName()
	if !ok {
		return
	}
	max, marker, ok := q.page(100)
	if !ok {
		return
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	u := a.byName[strings.ToLower(name)]
	var keys []Key
	userName := name
	if u == nil {
		if q.f.Get("UserName") != "" {
			q.noSuchUser(name)
			return
		}
	} else {
		keys = s.slotted(u)
		userName = u.Name
	}
	start := 0
	if marker != "" {
		n, err := strconv.Atoi(marker)
		if err != nil || n < 0 {
			q.fail("ValidationError", "Invalid Marker.")
			return
		}
		start = min(n, len(keys))
	}
	end := min(start+max, len(keys))
	q.ok(func(x *xw) {
		x.open("AccessKeyMetadata")
		for _, k := range keys[start:end] {
			x.open("member")
			x.text("UserName", userName)
			x.text("AccessKeyId", k.ID)
			x.text("Status", k.Status)
			x.time("CreateDate", k.Created)
			x.close("member")
		}
		x.close("AccessKeyMetadata")
		x.bool("IsTruncated", end < len(keys))
		if end < len(keys) {
			x.text("Marker", encodeMarker(strconv.Itoa(end)))
		}
	})
}

func (s *Server) iamGetAccessKeyLastUsed(q *queryCall, a *account) {
	id := q.f.Get("AccessKeyId")
	if id == "" {
		q.fail("ValidationError", "1 validation error detected: Value null at 'accessKeyId' failed to satisfy constraint: Member must not be null")
		return
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	u := a.byKey[id]
	if u == nil {
		q.failf("NoSuchEntity", "The Access Key with id %s cannot be found", id)
		return
	}
	var k *Key
	for _, kk := range u.keys {
		if kk != nil && kk.ID == id {
			k = kk
		}
	}
	q.ok(func(x *xw) {
		x.text("UserName", u.Name)
		x.open("AccessKeyLastUsed")
		if !k.LastUsed.IsZero() {
			x.time("LastUsedDate", k.LastUsed)
		}
		x.text("ServiceName", orNA(k.LastUsedService))
		x.text("Region", orNA(k.LastUsedRegion))
		x.close("AccessKeyLastUsed")
	})
}

func orNA(s string) string {
	if s == "" {
		return "N/A"
	}
	return s
}

// ownedKey finds access key id of user name; callers hold a.mu.
func ownedKey(a *account, name, id string) (*user, int) {
	u := a.byKey[id]
	if u == nil || !strings.EqualFold(u.Name, name) {
		return nil, -1
	}
	for i, k := range u.keys {
		if k != nil && k.ID == id {
			return u, i
		}
	}
	return nil, -1
}

func (s *Server) iamUpdateAccessKey(q *queryCall, a *account) {
	name, ok := q.userName()
	if !ok {
		return
	}
	id, status := q.f.Get("AccessKeyId"), q.f.Get("Status")
	if status != "Active" && status != "Inactive" {
		q.failf("ValidationError", "1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]", status)
		return
	}
	a.mu.Lock()
	u, i := ownedKey(a, name, id)
	if u == nil {
		a.mu.Unlock()
		q.failf("NoSuchEntity", "The Access Key with id %s cannot be found", id)
		return
	}
	u.keys[i].Status = status
	a.mu.Unlock()
	q.ok(nil)
}

func (s *Server) iamDeleteAccessKey(q *queryCall, a *account) {
	name, ok := q.userName()
	if !ok {
		return
	}
	id := q.f.Get("AccessKeyId")
	a.mu.Lock()
	u, i := ownedKey(a, name, id)
	if u == nil {
		a.mu.Unlock()
		q.failf("NoSuchEntity", "The Access Key with id %s cannot be found", id)
		return
	}
	u.keys[i] = nil
	delete(a.byKey, id)
	a.mu.Unlock()
	q.ok(nil)
}

func (s *Server) iamListUserTags(q *queryCall, a *account) {
	name := q.f.Get("UserName")
	max, marker, ok := q.page(100)
	if !ok {
		return
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	u := a.byName[strings.ToLower(name)]
	if u == nil {
		q.noSuchUser(name)
		return
	}
	start := 0
	if marker != "" {
		n, err := strconv.Atoi(marker)
		if err != nil || n < 0 {
			q.fail("ValidationError", "Invalid Marker.")
			return
		}
		start = min(n, len(u.Tags))
	}
	end := min(start+max, len(u.Tags))
	tags := u.Tags[start:end]
	q.ok(func(x *xw) {
		x.open("Tags")
		for _, t := range tags {
			x.open("member")
			x.text("Key", t.Key)
			x.text("Value", t.Value)
			x.close("member")
		}
		x.close("Tags")
		x.bool("IsTruncated", end < len(u.Tags))
		if end < len(u.Tags) {
			x.text("Marker", encodeMarker(strconv.Itoa(end)))
		}
	})
}

// advanceReport counts one credential-report call against a report in progress and finishes
// it when the count runs out. Callers hold a.mu for writing.
func (s *Server) advanceReport(a *account) {
	a.report.pending--
	if a.report.pending <= 0 {
		s.finishReport(a)
	}
}

func (s *Server) finishReport(a *account) {
	now := s.opts.Now().UTC().Truncate(time.Second)
	a.report = reportState{phase: reportReady, generated: now, content: s.buildReport(a)}
}

func (s *Server) iamGenerateCredentialReport(q *queryCall, a *account) {
	a.mu.Lock()
	state, desc := "", ""
	switch {
	case a.report.phase == reportInProgress:
		s.advanceReport(a)
		if a.report.phase == reportReady {
			state, desc = "COMPLETE", ""
		} else {
			state, desc = "INPROGRESS", "Report generation in progress."
		}
	case a.report.phase == reportReady && s.opts.Now().Sub(a.report.generated) < s.opts.ReportMaxAge:
		state = "COMPLETE"
	default:
		state, desc = "STARTED", "No report exists. Starting a new report generation task"
		a.report = reportState{phase: reportInProgress, pending: s.opts.ReportReadyAfter}
		if a.report.pending <= 0 {
			s.finishReport(a)
		}
	}
	a.mu.Unlock()
	q.ok(func(x *xw) {
		x.text("State", state)
		if desc != "" {
			x.text("Description", desc)
		}
	})
}

func (s *Server) iamGetCredentialReport(q *queryCall, a *account) {
	a.mu.Lock()
	if a.report.phase == reportInProgress {
		s.advanceReport(a)
	}
	rep := a.report
	a.mu.Unlock()
	switch {
	case rep.phase == reportNone:
		q.fail("ReportNotPresent", "")
		return
	case rep.phase == reportInProgress:
		q.fail("ReportInProgress", "")
		return
	case s.opts.Now().Sub(rep.generated) >= s.opts.ReportMaxAge:
		q.fail("ReportExpired", "")
		return
	}
	q.ok(func(x *xw) {
		x.text("Content", base64.StdEncoding.EncodeToString(rep.content))
		x.text("ReportFormat", "text/csv")
		x.time("GeneratedTime", rep.generated)
	})
}

// ReportColumns is the credential report header, in AWS's order.
var ReportColumns = []string{
	"user", "arn", "user_creation_time", "password_enabled", "password_last_used",
	"password_last_changed", "password_next_rotation", "mfa_active",
	"access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
	"access_key_1_last_used_region", "access_key_1_last_used_service",
	"access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
	"access_key_2_last_used_region", "access_key_2_last_used_service",
	"cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated",
}

// reportTime is the credential report's time format: 2016-11-25T09:37:34+00:00.
func reportTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05+00:00") }

func reportTimeOr(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return reportTime(t)
}

// Report renders account acct's credential report CSV from its current state (what
// GenerateCredentialReport would snapshot now).
func (s *Server) Report(acct string) []byte {
	a := s.account(acct)
	if a == nil {
		return nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return s.buildReport(a)
}

// buildReport renders the CSV; callers hold a.mu.
func (s *Server) buildReport(a *account) []byte {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(ReportColumns)
	if !s.opts.OmitRootRow {
		_ = cw.Write([]string{
			"<root_account>", "arn:aws:iam::" + a.id + ":root", reportTime(a.cfg.Created),
			"not_supported", reportTimeOr(a.cfg.RootPasswordLastUsed, "no_information"),
			"not_supported", "not_supported", strconv.FormatBool(a.cfg.RootMFA),
			"false", "N/A", "N/A", "N/A", "N/A",
			"false", "N/A", "N/A", "N/A", "N/A",
			"false", "N/A", "false", "N/A",
		})
	}
	row := make([]string, 0, len(ReportColumns))
	for _, u := range a.users {
		row = row[:0]
		row = append(row, u.Name, u.arn, reportTime(u.Created))
		if lp := u.loginProfile; lp != nil {
			row = append(row, "true", reportTimeOr(lp.PasswordLastUsed, "no_information"),
				reportTime(lp.Created), reportTimeOr(lp.NextRotation, "N/A"))
		} else {
			row = append(row, "false", "N/A", "N/A", "N/A")
		}
		row = append(row, strconv.FormatBool(u.MFA))
		var slots [2]*Key
		for _, k := range s.slotted(u) {
			k := k
			slots[k.Slot-1] = &k
		}
		for _, k := range slots {
			if k == nil {
				row = append(row, "false", "N/A", "N/A", "N/A", "N/A")
				continue
			}
			region, service := "N/A", "N/A"
			if !k.LastUsed.IsZero() {
				region, service = orNA(k.LastUsedRegion), orNA(k.LastUsedService)
			}
			row = append(row, strconv.FormatBool(k.Status == "Active"), reportTime(k.Created),
				reportTimeOr(k.LastUsed, "N/A"), region, service)
		}
		row = append(row, "false", "N/A", "false", "N/A")
		_ = cw.Write(row)
	}
	cw.Flush()
	return buf.Bytes()
}

func (s *Server) iamSimulatePrincipalPolicy(q *queryCall, a *account) {
	principal := q.f.Get("PolicySourceArn")
	if principal == "" {
		q.fail("ValidationError", "1 validation error detected: Value null at 'policySourceArn' failed to satisfy constraint: Member must not be null")
		return
	}
	actions := q.list("ActionNames")
	if len(actions) == 0 {
		q.fail("ValidationError", "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null")
		return
	}
	resources := q.list("ResourceArns")
	if len(resources) == 0 {
		resources = []string{"*"}
	}
	decide := s.opts.SimulateDecision
	type result struct{ action, resource, decision string }
	var results []result
	for _, act := range actions {
		for _, res := range resources {
			d := "allowed"
			if decide != nil {
				d = decide(a.id, principal, act, res)
			}
			results = append(results, result{act, res, d})
		}
	}
	q.ok(func(x *xw) {
		x.open("EvaluationResults")
		for _, r := range results {
			x.open("member")
			x.text("EvalActionName", r.action)
			x.text("EvalResourceName", r.resource)
			x.text("EvalDecision", r.decision)
			x.b.WriteString("<MatchedStatements/><MissingContextValues/>")
			x.close("member")
		}
		x.close("EvaluationResults")
		x.bool("IsTruncated", false)
	})
}
