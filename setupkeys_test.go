package setupkeys

import (
	"testing"
	"time"
)

func TestFindingID(t *testing.T) {
	created := time.Date(2024, 7, 30, 21, 53, 13, 0, time.UTC)
	base := FindingID("123456789012", "arn:aws:iam::123456789012:user/alice", 0, created)
	// The ID is part of the JSON contract and of suppression files: it must not drift.
	if base != "sk-9f49e906cff4a7ac" {
		t.Errorf("ID is %s, was sk-9f49e906cff4a7ac: a changed ID breaks suppressions by finding_id", base)
	}
	for _, tt := range []struct {
		name string
		id   string
		same bool
	}{
		{"sub-second difference", FindingID("123456789012", "arn:aws:iam::123456789012:user/alice", 0, created.Add(999*time.Millisecond)), true},
		{"other zone, same instant", FindingID("123456789012", "arn:aws:iam::123456789012:user/alice", 0, created.In(time.FixedZone("x", 3600))), true},
		{"next second", FindingID("123456789012", "arn:aws:iam::123456789012:user/alice", 0, created.Add(time.Second)), false},
		{"other user", FindingID("123456789012", "arn:aws:iam::123456789012:user/bob", 0, created), false},
		{"other account", FindingID("210987654321", "arn:aws:iam::123456789012:user/alice", 0, created), false},
		{"twin in slot 2", FindingID("123456789012", "arn:aws:iam::123456789012:user/alice", 2, created), false},
	} {
		if (tt.id == base) != tt.same {
			t.Errorf("%s: %s vs %s, want same=%v", tt.name, tt.id, base, tt.same)
		}
	}
}

func TestTwinSlot(t *testing.T) {
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	keys := []AccessKey{{Slot: 1, Created: at}, {Slot: 2, Created: at.Add(300 * time.Millisecond)}}
	if TwinSlot(keys, keys[0]) != 1 || TwinSlot(keys, keys[1]) != 2 {
		t.Error("keys made in one second are twins")
	}
	keys[1].Created = at.Add(time.Second)
	if TwinSlot(keys, keys[0]) != 0 || TwinSlot(keys[:1], keys[0]) != 0 {
		t.Error("keys a second apart are not twins")
	}
}

func TestAccountAndPathFromARN(t *testing.T) {
	for _, tt := range []struct{ arn, account, path string }{
		{"arn:aws:iam::123456789012:user/alice", "123456789012", "/"},
		{"arn:aws:iam::123456789012:user/ops/eu/dave,ops", "123456789012", "/ops/eu/"},
		{"arn:aws-cn:iam::123456789012:root", "123456789012", "/"},
		{"garbage", "", "/"},
	} {
		if got := AccountFromARN(tt.arn); got != tt.account {
			t.Errorf("AccountFromARN(%q) = %q", tt.arn, got)
		}
		if got := UserPathFromARN(tt.arn); got != tt.path {
			t.Errorf("UserPathFromARN(%q) = %q", tt.arn, got)
		}
	}
}

func TestMaskKeyID(t *testing.T) {
	if got := MaskKeyID("AKIAIOSFODNN7EXAMPLE"); got != "AKIA************MPLE" {
		t.Errorf("got %q", got)
	}
	if got := MaskKeyID("short"); got != "*****" {
		t.Errorf("got %q", got)
	}
}

func TestSetAccountKeepsTwinSuffix(t *testing.T) {
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	plain := Finding{ARN: "arn:aws:iam::1:user/a", KeySlot: 2, KeyCreated: at, ID: FindingID("1", "arn:aws:iam::1:user/a", 0, at)}
	twin := plain
	twin.ID = FindingID("1", plain.ARN, 2, at)
	plain.SetAccount("123456789012")
	twin.SetAccount("123456789012")
	if plain.ID != FindingID("123456789012", plain.ARN, 0, at) || twin.ID != FindingID("123456789012", plain.ARN, 2, at) || plain.AccountID != "123456789012" {
		t.Errorf("plain %s, twin %s", plain.ID, twin.ID)
	}
}

func TestValidIDs(t *testing.T) {
	for _, tt := range []struct {
		id            string
		account, akey bool
	}{
		{"123456789012", true, false},
		{"12345678901", false, false},
		{"1234567890123", false, false},
		{"12345678901a", false, false},
		{"AKIAIOSFODNN7EXAMPLE", false, true},
		{"AKIAIOSFODNN7EXAMPL", false, true},
		{"AKIAIOSFODNN7", false, false},
		{"akiaiosfodnn7example", false, false},
		{"", false, false},
	} {
		if got := ValidAccountID(tt.id); got != tt.account {
			t.Errorf("ValidAccountID(%q) = %v", tt.id, got)
		}
		if got := ValidAccessKeyID(tt.id); got != tt.akey {
			t.Errorf("ValidAccessKeyID(%q) = %v", tt.id, got)
		}
	}
}
