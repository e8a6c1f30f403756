package fakeaws

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/setupkeys/setupkeys"
)

// Kind is the shape of a generated user, and so what the setup-key rule (DESIGN.md, default
// 10-minute window) says about it.
type Kind string

const (
	// KindSetupUnused: console user, one active key made at setup (0-120 s after the user),
	// never used. One fail.
	KindSetupUnused Kind = "setup-unused"
	// KindSetupUnusedSlot2: console user with two keys: slot 1 a newer key that was used,
	// slot 2 the setup key, never used. One fail (slot 2).
	KindSetupUnusedSlot2 Kind = "setup-unused-slot2"
	// KindSetupUsed: console user, setup key used since. Pass.
	KindSetupUsed Kind = "setup-used"
	// KindLaterKey: console user whose only key was made days after the user, never used. Pass.
	KindLaterKey Kind = "later-key"
	// KindSetupInactive: console user, setup key never used but inactive. Skipped (pass).
	KindSetupInactive Kind = "setup-inactive"
	// KindLegacySetupUnused: console user and setup key made before 2015-04-22, never used.
	// One review.
	KindLegacySetupUnused Kind = "legacy-setup-unused"
	// KindConsoleNoKeys: console user without keys. Nothing to report.
	KindConsoleNoKeys Kind = "console-no-keys"
	// KindProgrammatic: no console password, key made at setup (same second), never used.
	// Skipped (pass).
	KindProgrammatic Kind = "programmatic"
)

// Kinds lists every Kind.
var Kinds = []Kind{
	KindSetupUnused, KindSetupUnusedSlot2, KindSetupUsed, KindLaterKey, KindSetupInactive,
	KindLegacySetupUnused, KindConsoleNoKeys, KindProgrammatic,
}

// Expect is what the rule should say about a user of this kind: how many of its keys fail and
// how many need review.
func (k Kind) Expect() (fail, review int) {
	switch k {
	case KindSetupUnused, KindSetupUnusedSlot2:
		return 1, 0
	case KindLegacySetupUnused:
		return 0, 1
	}
	return 0, 0
}

// Flagged is the key of g that the rule must flag and the status it must give it; ok is false for
// a user with nothing to flag.
func (g Generated) Flagged() (key Key, status setupkeys.Status, ok bool) {
	switch g.Kind {
	case KindSetupUnused:
		return g.User.Keys[0], setupkeys.StatusFail, true
	case KindSetupUnusedSlot2:
		return g.User.Keys[1], setupkeys.StatusFail, true
	case KindLegacySetupUnused:
		return g.User.Keys[0], setupkeys.StatusReview, true
	}
	return Key{}, "", false
}

// Mix weighs the kinds of generated users. Counts are exact: with N users, kind k gets
// N*w(k)/sum(w) users, rounded by largest remainder.
type Mix map[Kind]int

// DefaultMix: mostly healthy users, about 1 in 5 failing.
var DefaultMix = Mix{
	KindSetupUnused:       15,
	KindSetupUnusedSlot2:  3,
	KindSetupUsed:         25,
	KindLaterKey:          15,
	KindSetupInactive:     5,
	KindLegacySetupUnused: 2,
	KindConsoleNoKeys:     15,
	KindProgrammatic:      20,
}

// Generated is one generated user and its kind.
type Generated struct {
	User User
	Kind Kind
}

// GenerateOptions configures GenerateUsers.
type GenerateOptions struct {
	Seed int64
	N    int
	// Mix defaults to DefaultMix.
	Mix Mix
	// Now is the reference time; everything generated is before it. Default
	// 2025-06-01T00:00:00Z (not the wall clock, so output is reproducible).
	Now time.Time
	// Prefix starts every user name; default "user-". Every 10th user gets a name with the
	// characters IAM allows besides letters and digits (+=,.@_-), commas included.
	Prefix string
}

// GenerateUsers makes n users deterministically from the seed: the same options always give
// the same users, keys, IDs and times.
func GenerateUsers(o GenerateOptions) []Generated {
	if o.Mix == nil {
		o.Mix = DefaultMix
	}
	if o.Now.IsZero() {
		o.Now = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.Prefix == "" {
		o.Prefix = "user-"
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x5e70c0de))
	kinds := apportion(o.Mix, o.N)
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })

	legacyCutoff := time.Date(2015, 4, 22, 0, 0, 0, 0, time.UTC)
	services := []struct{ svc, region string }{
		{"iam", "us-east-1"}, {"s3", ""}, {"ec2", "eu-west-1"}, {"sts", "us-east-1"}, {"lambda", "us-west-2"},
	}
	secs := func(lo, hi time.Duration) time.Duration {
		return time.Duration(rng.Int64N(int64((hi-lo)/time.Second)+1))*time.Second + lo
	}
	day := 24 * time.Hour
	out := make([]Generated, 0, o.N)
	for i, kind := range kinds {
		name := fmt.Sprintf("%s%05d", o.Prefix, i)
		if i%10 == 7 {
			name = fmt.Sprintf("ops+%steam,x=a.b@c_d-%05d", o.Prefix, i)
		}
		var created time.Time
		if kind == KindLegacySetupUnused {
			created = legacyCutoff.Add(-secs(30*day, 3*365*day))
		} else {
			// After the cut-over, and at least 30 days before Now.
			span := o.Now.Add(-30 * day).Sub(legacyCutoff)
			created = legacyCutoff.Add(day + secs(0, span-day))
		}
		created = created.Truncate(time.Second)
		u := User{Name: name, Created: created, MFA: rng.IntN(2) == 0}
		if kind != KindProgrammatic {
			c := &Console{Created: created.Add(secs(0, 90*time.Second))}
			if rng.IntN(4) != 0 {
				c.PasswordLastUsed = c.Created.Add(secs(time.Hour, o.Now.Sub(c.Created)-time.Hour))
			}
			u.Console = c
		}
		setup := created.Add(secs(0, 120*time.Second))
		used := func(k *Key, after time.Time) {
			sv := services[rng.IntN(len(services))]
			k.LastUsed = after.Add(secs(time.Hour, o.Now.Sub(after)-time.Hour)).Truncate(time.Minute)
			k.LastUsedService, k.LastUsedRegion = sv.svc, sv.region
		}
		later := func() time.Time {
			return created.Add(secs(2*day, o.Now.Sub(created)-day))
		}
		switch kind {
		case KindSetupUnused, KindLegacySetupUnused:
			u.Keys = []Key{{Created: setup}}
		case KindSetupUnusedSlot2:
			k1 := Key{Created: later()}
			used(&k1, k1.Created)
			u.Keys = []Key{k1, {Created: setup}}
		case KindSetupUsed:
			k := Key{Created: setup}
			used(&k, setup)
			u.Keys = []Key{k}
		case KindLaterKey:
			u.Keys = []Key{{Created: later()}}
		case KindSetupInactive:
			u.Keys = []Key{{Created: setup, Status: "Inactive"}}
		case KindProgrammatic:
			u.Keys = []Key{{Created: created}}
		}
		for j := range u.Keys {
			u.Keys[j].ID = genKeyID(rng)
		}
		if rng.IntN(5) == 0 {
			u.Tags = []Tag{{Key: "team", Value: fmt.Sprintf("team-%d", rng.IntN(8))}}
		}
		out = append(out, Generated{User: u, Kind: kind})
	}
	return out
}

func genKeyID(rng *rand.Rand) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := []byte("AKIA0000000000000000")
	for i := 4; i < len(b); i++ {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// apportion spreads n over the mix's kinds by largest remainder, in Kinds order.
func apportion(m Mix, n int) []Kind {
	total := 0
	var ks []Kind
	for _, k := range Kinds {
		if w := m[k]; w > 0 {
			total += w
			ks = append(ks, k)
		}
	}
	var extra []Kind // kinds not in Kinds, sorted for determinism
	for k, w := range m {
		if w > 0 && !containsKind(Kinds, k) {
			extra = append(extra, k)
			total += w
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i] < extra[j] })
	ks = append(ks, extra...)
	if total == 0 || n <= 0 {
		return nil
	}
	counts := make([]int, len(ks))
	type rem struct {
		i int
		r int
	}
	rems := make([]rem, len(ks))
	got := 0
	for i, k := range ks {
		counts[i] = n * m[k] / total
		got += counts[i]
		rems[i] = rem{i, n * m[k] % total}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for j := 0; got < n; j++ {
		counts[rems[j%len(rems)].i]++
		got++
	}
	out := make([]Kind, 0, n)
	for i, k := range ks {
		for range counts[i] {
			out = append(out, k)
		}
	}
	return out
}

func containsKind(ks []Kind, k Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// Tally sums the expected fails and reviews of generated users.
func Tally(gs []Generated) (fail, review int) {
	for _, g := range gs {
		f, r := g.Kind.Expect()
		fail += f
		review += r
	}
	return fail, review
}

// SeedUsers generates users (GenerateUsers) and adds them to account acct.
func (s *Server) SeedUsers(acct string, o GenerateOptions) []Generated {
	gs := GenerateUsers(o)
	for _, g := range gs {
		s.AddUser(acct, g.User)
	}
	return gs
}

// OrgSpec describes a generated organization for SeedOrganization.
type OrgSpec struct {
	// Accounts is the number of member accounts (besides the management account).
	Accounts int
	// UsersPerAccount is the number of users generated in each member account.
	UsersPerAccount int
	Seed            int64
	// Mix defaults to DefaultMix.
	Mix Mix
	// OUs are the OU paths accounts are spread over, round robin. Default: "Workloads/Prod",
	// "Workloads/Dev", "Sandbox", "" (the root).
	OUs []string
	// SuspendedEvery, if > 0, suspends every n-th account.
	SuspendedEvery int
	// FirstID is the first account ID; the next ones count up. Default 200000000000.
	FirstID int64
	// Now is passed to GenerateUsers.
	Now time.Time
}

// SeededAccount is one account SeedOrganization made.
type SeededAccount struct {
	ID     string
	Name   string
	OUPath string
	Status string
	Users  []Generated
}

// SeedOrganization adds spec.Accounts member accounts with generated users, deterministically.
// Account i gets users from seed spec.Seed+i.
func (s *Server) SeedOrganization(spec OrgSpec) []SeededAccount {
	if spec.OUs == nil {
		spec.OUs = []string{"Workloads/Prod", "Workloads/Dev", "Sandbox", ""}
	}
	if spec.FirstID == 0 {
		spec.FirstID = 200000000000
	}
	out := make([]SeededAccount, 0, spec.Accounts)
	for i := range spec.Accounts {
		id := fmt.Sprintf("%012d", spec.FirstID+int64(i))
		sa := SeededAccount{ID: id, Name: fmt.Sprintf("member-%04d", i), OUPath: spec.OUs[i%len(spec.OUs)], Status: "ACTIVE"}
		if spec.SuspendedEvery > 0 && (i+1)%spec.SuspendedEvery == 0 {
			sa.Status = "SUSPENDED"
		}
		s.AddAccountConfig(id, AccountConfig{Name: sa.Name, OUPath: sa.OUPath, Status: sa.Status})
		sa.Users = s.SeedUsers(id, GenerateOptions{Seed: spec.Seed + int64(i), N: spec.UsersPerAccount, Mix: spec.Mix, Now: spec.Now})
		out = append(out, sa)
	}
	return out
}
