package control

import (
	"errors"
	"testing"
)

func TestParseRelations(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a", "a"},
		{"a,b , c", "a, b, c"},
		{"a | b (>= 1.0), c:any", "a | b (>= 1.0), c:any"},
		{"x (< 1), y (> 2)", "x (<= 1), y (>= 2)"},
		{"x(<<1:2.0-1~bpo1)", "x (<< 1:2.0-1~bpo1)"},
		{"x (=1)", "x (= 1)"},
		{"r [amd64 !i386] <!nocheck> <stage1 cross>", "r [amd64 !i386] <!nocheck> <stage1 cross>"},
		{"a,\n b,\n", "a, b"},
		{"libc6:native (>= 2.3)", "libc6:native (>= 2.3)"},
	} {
		rs, err := ParseRelations(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := rs.String(); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseRelationsOps(t *testing.T) {
	rs, err := ParseRelations("a (<< 1), b (<= 1), c (= 1), d (>= 1), e (>> 1), f (< 1), g (> 1), h")
	if err != nil {
		t.Fatal(err)
	}
	want := []Op{OpLT, OpLE, OpEQ, OpGE, OpGT, OpLE, OpGE, OpNone}
	for i, r := range rs {
		if r[0].Op != want[i] {
			t.Errorf("%s: op %v, want %v", r[0].Name, r[0].Op, want[i])
		}
	}
}

func TestParseRelationsErrors(t *testing.T) {
	for _, in := range []string{
		"a |", "| a", "a (>= )", "a (1.0)", "a (>= 1.0", "a [", "a []", "a <", "a b",
		"a:", "a (>= 1 0)", "${shlibs:Depends}", "a (>= x1)", "a (= -)", "a (= 1-)", "a (= 1:)",
	} {
		if _, err := ParseRelations(in); !errors.Is(err, ErrRelation) {
			t.Errorf("%q: err = %v, want ErrRelation", in, err)
		}
	}
}
