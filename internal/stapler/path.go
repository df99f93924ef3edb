package stapler

import (
	"errors"
	"strings"
)

// Path is a request path as Stapler reads it before dispatching
// (docs/stapler-dispatch.md §1): made canonical the way
// Stapler.getServletPath does (runs of '/' are one, "." segments go, ".."
// removes the segment before it), then cut into tokens the way TokenList
// does, each token percent-decoded on its own, so "%2F" stays inside its
// token and "%28built-in%29" is "(built-in)".
type Path struct {
	// Tokens are the decoded segments, empty ones dropped.
	Tokens []string
	// Slash reports whether the path ends with '/'. Stapler redirects a
	// request that ends at an object without one (DirectoryishDispatcher),
	// and a view is served only without one.
	Slash   bool
	escaped string
}

// ErrDotDot is a token that decodes to ".." ("%2E%2E"): Stapler's
// TokenList throws IllegalArgumentException on it (a 500 on Jenkins).
var ErrDotDot = errors.New(`a path segment decodes to ".."`)

// ParsePath reads escaped (a request's URL.EscapedPath()).
func ParsePath(escaped string) (Path, error) {
	p := Path{Slash: strings.HasSuffix(escaped, "/"), escaped: escaped}
	p.Tokens = canonical(make([]string, 0, strings.Count(escaped, "/")), escaped, decode)
	// A ".." token left now was sent encoded: canonicalPath, which works
	// on the encoded path, did not resolve it, and TokenList refuses it.
	for _, t := range p.Tokens {
		if t == ".." {
			return Path{}, ErrDotDot
		}
	}
	return p, nil
}

// Canonical is the canonical path, still percent-encoded, with its
// trailing slash if it had one: what a directory redirect appends '/' to.
func (p Path) Canonical() string {
	raw := canonical(nil, p.escaped, func(s string) string { return s })
	var b strings.Builder
	for _, s := range raw {
		b.WriteByte('/')
		b.WriteString(s)
	}
	if p.Slash || len(raw) == 0 {
		b.WriteByte('/')
	}
	return b.String()
}

// canonical appends to dst, each through f, the segments of the escaped
// path that Stapler.canonicalPath keeps.
func canonical(dst []string, escaped string, f func(string) string) []string {
	for s := range strings.SplitSeq(escaped, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(dst) > 0 {
				dst = dst[:len(dst)-1]
			}
		default:
			dst = append(dst, f(s))
		}
	}
	return dst
}

// decode is TokenList.decode: %XY is a byte; it is lenient where
// url.PathUnescape is strict (a '%' without two characters after it is
// dropped, non-hex digits give whatever byte the arithmetic gives), as
// Stapler is.
func decode(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	out = append(out, s[:i]...)
	for ; i < len(s); i++ {
		if s[i] != '%' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) {
			break // malformed: the rest is dropped, as TokenList does
		}
		out = append(out, fromHex(s[i+1])*16+fromHex(s[i+2]))
		i += 2
	}
	return string(out)
}

func fromHex(c byte) byte { return c&0xF + (c&0x40)>>6*9 }
