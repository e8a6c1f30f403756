package fakeaws

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const orgsTargetPrefix = "AWSOrganizationsV20161128."

// orgTree is the organization's structure. The Server's mu guards it.
type orgTree struct {
	mgmt   string
	orgID  string
	rootID string
	ous    map[string]*ou // by path "A/B"
	byID   map[string]*ou
	kids   map[string][]string // parent ID -> child OU IDs, in creation order
	parent map[string]string   // account ID -> parent ID
}

type ou struct {
	id, name, path, parent string
}

func newOrgTree(mgmt string) *orgTree {
	return &orgTree{
		mgmt:   mgmt,
		orgID:  "o-" + strings.ToLower(fakeID("", "org", mgmt)[:10]),
		rootID: "r-" + strings.ToLower(fakeID("", "root", mgmt)[:4]),
		ous:    map[string]*ou{},
		byID:   map[string]*ou{},
		kids:   map[string][]string{},
		parent: map[string]string{},
	}
}

// place puts account id in the OU at path, creating OUs as needed.
func (t *orgTree) place(id, path string) {
	parent := t.rootID
	if path = strings.Trim(path, "/"); path != "" {
		sofar := ""
		for _, name := range strings.Split(path, "/") {
			if sofar != "" {
				sofar += "/"
			}
			sofar += name
			o := t.ous[sofar]
			if o == nil {
				o = &ou{
					id:     "ou-" + t.rootID[2:] + "-" + strings.ToLower(fakeID("", "ou", t.mgmt, sofar)[:8]),
					name:   name,
					path:   sofar,
					parent: parent,
				}
				t.ous[sofar] = o
				t.byID[o.id] = o
				t.kids[parent] = append(t.kids[parent], o.id)
			}
			parent = o.id
		}
	}
	t.parent[id] = parent
}

// idPath is the Organizations path of a parent: o-x/r-y/ou-z/.../
func (t *orgTree) idPath(parent string) string {
	var ids []string
	for p := parent; p != t.rootID && p != ""; {
		o := t.byID[p]
		if o == nil {
			break
		}
		ids = append([]string{o.id}, ids...)
		p = o.parent
	}
	return t.orgID + "/" + t.rootID + "/" + strings.Join(append(ids, ""), "/")
}

// OrganizationID is the fake organization's ID ("o-...").
func (s *Server) OrganizationID() string { return s.org.orgID }

// RootID is the fake organization's root ID ("r-...").
func (s *Server) RootID() string { return s.org.rootID }

// OUID returns the ID of the OU at path ("A/B"), or the root ID for "".
func (s *Server) OUID(path string) (string, bool) {
	path = strings.Trim(path, "/")
	if path == "" {
		return s.org.rootID, true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	o := s.org.ous[path]
	if o == nil {
		return "", false
	}
	return o.id, true
}

type jsonAccount struct {
	Id              string
	Arn             string
	Email           string
	Name            string
	Status          string
	State           string
	JoinedMethod    string
	JoinedTimestamp float64
}

func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request, target string) {
	action, ok := strings.CutPrefix(target, orgsTargetPrefix)
	if !ok {
		s.count("", target)
		s.jsonError(w, "UnknownOperationException", "Unknown operation "+target, 400, nil)
		return
	}
	key, _ := signature(r)
	c, aerr := s.resolveCaller(r, key)
	if aerr != nil {
		s.count("", action)
		code := "UnrecognizedClientException"
		if aerr.code == "ExpiredToken" {
			code = "ExpiredTokenException"
		}
		s.jsonError(w, code, aerr.msg, 0, nil)
		return
	}
	if code := s.admit(r.Context(), c.account, action, "TooManyRequestsException"); code != "" {
		var extra map[string]string
		if code == "TooManyRequestsException" {
			extra = map[string]string{"Type": "AWSOrganizations"}
		}
		s.jsonError(w, code, "", 0, extra)
		return
	}
	var in struct {
		NextToken  string
		MaxResults *int
		ParentId   string
	}
	body, err := io.ReadAll(r.Body)
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		s.jsonError(w, "SerializationException", err.Error(), 400, nil)
		return
	}
	if s.opts.NoOrganization {
		s.jsonError(w, "AWSOrganizationsNotInUseException", "", 0, nil)
		return
	}
	if action != "DescribeOrganization" && c.account != s.mgmt {
		s.jsonError(w, "AccessDeniedException", "", 0, nil)
		return
	}
	max := 20
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 20 {
			s.jsonError(w, "InvalidInputException", "MaxResults must be between 1 and 20.", 400, map[string]string{"Reason": "MAX_VALUE_EXCEEDED"})
			return
		}
		max = *in.MaxResults
	}
	start := 0
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			s.jsonError(w, "InvalidInputException", "The provided token is invalid.", 400, map[string]string{"Reason": "INVALID_PAGINATION_TOKEN"})
			return
		}
		start = n
	}
	pageOf := func(total int) (int, int, string) {
		st := min(start, total)
		end := min(st+max, total)
		next := ""
		if end < total {
			next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
		}
		return st, end, next
	}

	s.mu.RLock()
	t := s.org
	mgmtArn := "arn:aws:organizations::" + s.mgmt + ":account/" + t.orgID + "/" + s.mgmt
	switch action {
	case "DescribeOrganization":
		mcfg := s.accounts[s.mgmt].cfgCopy()
		s.mu.RUnlock()
		s.jsonResponse(w, map[string]any{"Organization": map[string]any{
			"Id":                   t.orgID,
			"Arn":                  "arn:aws:organizations::" + s.mgmt + ":organization/" + t.orgID,
			"FeatureSet":           "ALL",
			"MasterAccountArn":     mgmtArn,
			"MasterAccountId":      s.mgmt,
			"MasterAccountEmail":   mcfg.Email,
			"AvailablePolicyTypes": []any{},
		}})
	case "ListRoots":
		s.mu.RUnlock()
		st, end, next := pageOf(1)
		roots := []any{}
		if st < end {
			roots = append(roots, map[string]any{
				"Id":          t.rootID,
				"Arn":         "arn:aws:organizations::" + s.mgmt + ":root/" + t.orgID + "/" + t.rootID,
				"Name":        "Root",
				"PolicyTypes": []any{},
			})
		}
		s.jsonResponse(w, withNext(map[string]any{"Roots": roots}, next))
	case "ListOrganizationalUnitsForParent":
		if in.ParentId != t.rootID && t.byID[in.ParentId] == nil {
			s.mu.RUnlock()
			s.jsonError(w, "ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.", 400, nil)
			return
		}
		kids := t.kids[in.ParentId]
		st, end, next := pageOf(len(kids))
		ous := []any{}
		for _, id := range kids[st:end] {
			o := t.byID[id]
			ous = append(ous, map[string]any{
				"Id":   o.id,
				"Arn":  "arn:aws:organizations::" + s.mgmt + ":ou/" + t.orgID + "/" + o.id,
				"Name": o.name,
				"Path": t.idPath(o.id),
			})
		}
		s.mu.RUnlock()
		s.jsonResponse(w, withNext(map[string]any{"OrganizationalUnits": ous}, next))
	case "ListAccounts", "ListAccountsForParent":
		var ids []string
		if action == "ListAccounts" {
			ids = s.order
		} else {
			if in.ParentId != t.rootID && t.byID[in.ParentId] == nil {
				s.mu.RUnlock()
				s.jsonError(w, "ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.", 400, nil)
				return
			}
			for _, id := range s.order {
				if t.parent[id] == in.ParentId {
					ids = append(ids, id)
				}
			}
		}
		st, end, next := pageOf(len(ids))
		accts := make([]jsonAccount, 0, end-st)
		for _, id := range ids[st:end] {
			cfg := s.accounts[id].cfgCopy()
			state := cfg.Status
			accts = append(accts, jsonAccount{
				Id:              id,
				Arn:             "arn:aws:organizations::" + s.mgmt + ":account/" + t.orgID + "/" + id,
				Email:           cfg.Email,
				Name:            cfg.Name,
				Status:          cfg.Status,
				State:           state,
				JoinedMethod:    cfg.JoinedMethod,
				JoinedTimestamp: epoch(cfg.Joined),
			})
		}
		s.mu.RUnlock()
		s.jsonResponse(w, withNext(map[string]any{"Accounts": accts}, next))
	default:
		s.mu.RUnlock()
		s.jsonError(w, "UnknownOperationException", "Unknown operation "+target, 400, nil)
	}
}

func (a *account) cfgCopy() AccountConfig {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg
}

func withNext(m map[string]any, next string) map[string]any {
	if next != "" {
		m["NextToken"] = next
	}
	return m
}

// epoch is a JSON timestamp: seconds since the epoch with millisecond precision.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }
