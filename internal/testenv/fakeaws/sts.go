package fakeaws

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func (s *Server) serveSTS(q *queryCall) {
	switch q.action {
	case "GetCallerIdentity":
		c := q.c
		q.ok(func(x *xw) {
			x.text("UserId", c.userID)
			x.text("Account", c.account)
			x.text("Arn", c.userARN)
		})
	case "AssumeRole":
		s.stsAssumeRole(q)
	default:
		q.failf("InvalidAction", "Could not find operation %s for version 2011-06-15", q.action)
	}
}

func (s *Server) stsAssumeRole(q *queryCall) {
	roleARN := q.f.Get("RoleArn")
	m := roleARNRE.FindStringSubmatch(roleARN)
	if m == nil {
		q.failf("ValidationError", "%s is invalid", roleARN)
		return
	}
	target, roleName := m[1], m[2]
	sessName := q.f.Get("RoleSessionName")
	if !sessionNameRE.MatchString(sessName) {
		q.failf("ValidationError", "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", sessName)
		return
	}
	duration := 3600
	if v := q.f.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			q.failf("ValidationError", "1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", v)
			return
		}
		duration = n
	}
	denied := func() {
		q.failf("AccessDenied", "User: %s is not authorized to perform: sts:AssumeRole on resource: %s", q.c.userARN, roleARN)
	}
	a := s.account(target)
	if a == nil {
		denied()
		return
	}
	a.mu.RLock()
	cfg := a.cfg
	a.mu.RUnlock()
	if cfg.DenyAssumeRole || cfg.Status == "SUSPENDED" ||
		(cfg.RoleName != "" && cfg.RoleName != roleName) ||
		(cfg.ExternalID != "" && cfg.ExternalID != q.f.Get("ExternalId")) {
		denied()
		return
	}

	n := s.sessSeq.Add(1)
	suffix := strings.ToUpper(strconv.FormatUint(n%(36*36*36*36), 36))
	suffix = strings.Repeat("0", 4-len(suffix)) + suffix
	akid := "ASIA" + target + suffix
	sum := sha256.Sum256(fmt.Appendf(nil, "%d/%s/%d", s.opts.Seed, akid, n))
	secret := base64.StdEncoding.EncodeToString(sum[:])[:40]
	token := "FwoGZXIvYXdzEFAKE" + base64.StdEncoding.EncodeToString(append(sum[:], []byte(akid)...))
	expires := s.opts.Now().UTC().Truncate(time.Second).Add(time.Duration(duration) * time.Second)
	ss := &session{
		account:     target,
		roleARN:     roleARN,
		roleName:    roleName,
		sessionName: sessName,
		roleID:      fakeID("AROA", target, roleName),
		token:       token,
		expires:     expires,
	}
	s.sessions.Store(akid, ss)
	q.ok(func(x *xw) {
		x.open("Credentials")
		x.text("AccessKeyId", akid)
		x.text("SecretAccessKey", secret)
		x.text("SessionToken", token)
		x.time("Expiration", expires)
		x.close("Credentials")
		x.open("AssumedRoleUser")
		x.text("AssumedRoleId", ss.roleID+":"+sessName)
		x.text("Arn", "arn:aws:sts::"+target+":assumed-role/"+roleName+"/"+sessName)
		x.close("AssumedRoleUser")
	})
}
