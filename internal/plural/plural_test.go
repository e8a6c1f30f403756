package plural

import "testing"

func TestPlural(t *testing.T) {
	tests := []struct {
		n                   int
		count, noun, choose string
	}{
		{0, "0 keys", "keys", "are"},
		{1, "1 key", "key", "is"},
		{2, "2 keys", "keys", "are"},
		{-1, "-1 keys", "keys", "are"},
		{1000, "1000 keys", "keys", "are"},
	}
	for _, tt := range tests {
		if got := Count(tt.n, "key"); got != tt.count {
			t.Errorf("Count(%d) = %q, want %q", tt.n, got, tt.count)
		}
		if got := Noun(tt.n, "key"); got != tt.noun {
			t.Errorf("Noun(%d) = %q, want %q", tt.n, got, tt.noun)
		}
		if got := Choose(tt.n, "is", "are"); got != tt.choose {
			t.Errorf("Choose(%d) = %q, want %q", tt.n, got, tt.choose)
		}
	}
}
