package resolve

import (
	"strings"
)

// DepError is an unsatisfiable or missing package. Chain is the path of
// packages from a seed to the one whose Relation failed (empty when a seed
// itself is missing); Reasons say why each candidate was rejected.
type DepError struct {
	Chain    []string
	Relation string
	Reasons  []string
}

func (e *DepError) Error() string {
	var b strings.Builder
	b.WriteString("resolve: ")
	for _, c := range e.Chain {
		b.WriteString(c)
		b.WriteString(" -> ")
	}
	b.WriteString(e.Relation)
	b.WriteString(": no candidate")
	if len(e.Reasons) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(e.Reasons, "; "))
	}
	return b.String()
}
