package stapler

import (
	"fmt"
	"strconv"
	"strings"
)

// Tree is a parsed `tree=` expression: the properties selected at one level.
type Tree struct {
	nodes []treeNode
}

type treeNode struct {
	name     string
	children *Tree // never nil: an empty Tree selects nothing below
	rng      Range
}

// Range is a slice of a collection: [Min, Max). Max < 0 means unbounded.
type Range struct {
	Min, Max int
}

// All is the range that keeps every element.
var All = Range{Min: 0, Max: -1}

func (r Range) bounds(n int) (int, int) {
	lo, hi := r.Min, r.Max
	if hi < 0 || hi > n {
		hi = n
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// child returns the subtree for property name and whether it is selected.
func (t *Tree) child(name string) (*treeNode, bool) {
	var star *treeNode
	for i := range t.nodes {
		n := &t.nodes[i]
		if n.name == name {
			return n, true
		}
		if n.name == "*" {
			star = n
		}
	}
	return star, star != nil
}

// MalformedError reports a tree expression that does not parse. Jenkins
// answers it with 500 "Malformed tree expression".
type MalformedError struct {
	Expr string
	Pos  int
	Msg  string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("Malformed tree expression: %q at position %d: %s", e.Expr, e.Pos, e.Msg)
}

// ParseTree parses a tree expression.
func ParseTree(expr string) (*Tree, error) {
	p := &treeParser{s: expr}
	if strings.TrimSpace(expr) == "" {
		return &Tree{}, nil
	}
	t, err := p.list()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.s) {
		return nil, p.fail("unexpected " + strconv.Quote(p.s[p.i:p.i+1]))
	}
	return t, nil
}

type treeParser struct {
	s string
	i int
}

func (p *treeParser) fail(msg string) error {
	return &MalformedError{Expr: p.s, Pos: p.i, Msg: msg}
}

func (p *treeParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *treeParser) list() (*Tree, error) {
	t := &Tree{}
	for {
		n, err := p.node()
		if err != nil {
			return nil, err
		}
		t.nodes = append(t.nodes, n)
		if p.peek() != ',' {
			return t, nil
		}
		p.i++
	}
}

func (p *treeParser) node() (treeNode, error) {
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune(",[]{}", rune(p.s[p.i])) {
		p.i++
	}
	name := strings.TrimSpace(p.s[start:p.i])
	if name == "" {
		return treeNode{}, p.fail("expected a property name")
	}
	n := treeNode{name: name, children: &Tree{}, rng: All}
	if p.peek() == '[' {
		p.i++
		c, err := p.list()
		if err != nil {
			return treeNode{}, err
		}
		if p.peek() != ']' {
			return treeNode{}, p.fail("expected ']'")
		}
		p.i++
		n.children = c
	}
	if p.peek() == '{' {
		p.i++
		end := strings.IndexByte(p.s[p.i:], '}')
		if end < 0 {
			return treeNode{}, p.fail("expected '}'")
		}
		r, err := parseRange(p.s[p.i : p.i+end])
		if err != nil {
			return treeNode{}, p.fail(err.Error())
		}
		n.rng = r
		p.i += end + 1
	}
	return n, nil
}

// parseRange parses the inside of {…}: "M,N", "M,", ",N" or "N".
func parseRange(s string) (Range, error) {
	num := func(x string) (int, error) {
		v, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil || v < 0 {
			return 0, fmt.Errorf("bad range bound %q", x)
		}
		return v, nil
	}
	lo, hi, comma := strings.Cut(s, ",")
	if !comma {
		v, err := num(lo)
		if err != nil {
			return Range{}, err
		}
		return Range{Min: v, Max: v + 1}, nil
	}
	r := All
	var err error
	if strings.TrimSpace(lo) != "" {
		if r.Min, err = num(lo); err != nil {
			return Range{}, err
		}
	}
	if strings.TrimSpace(hi) != "" {
		if r.Max, err = num(hi); err != nil {
			return Range{}, err
		}
	}
	return r, nil
}
