package lazyre

import "testing"

func TestRegexp(t *testing.T) {
	re := New(`^a(b+)$`)
	if !re.MatchString("abb") || re.MatchString("ac") {
		t.Error("MatchString")
	}
	if m := re.FindStringSubmatch("abbb"); len(m) != 2 || m[1] != "bbb" {
		t.Errorf("FindStringSubmatch = %q", m)
	}
	if re.String() != `^a(b+)$` {
		t.Error("String")
	}
}

func TestBadExprPanicsOnUse(t *testing.T) {
	re := New(`(`) // no panic here
	defer func() {
		if recover() == nil {
			t.Error("want a panic on first use")
		}
	}()
	re.MatchString("x")
}
