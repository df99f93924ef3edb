package stapler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Options select what a request sees: a tree, else a depth.
type Options struct {
	Tree   *Tree // nil: use Depth
	Depth  int
	Pretty bool
}

// pruner decides which properties are written at one level.
type pruner struct {
	tree *Tree // tree mode when non-nil
	n    int   // depth mode: minimum visibility
}

func (pr pruner) accept(p *Prop) (child pruner, rng Range, ok bool) {
	if pr.tree != nil {
		node, ok := pr.tree.child(p.Name)
		if !ok {
			return pruner{}, All, false
		}
		return pruner{tree: node.children}, node.rng, true
	}
	vis := p.Vis
	if vis == 0 {
		vis = VisDefault
	}
	if vis < pr.n {
		return pruner{}, All, false
	}
	if p.Inline {
		return pr, All, true
	}
	return pruner{n: pr.n + 1}, All, true
}

// AppendJSON appends o rendered under opts to buf.
func AppendJSON(buf []byte, o *Object, opts Options) []byte {
	pr := pruner{tree: opts.Tree, n: 1 - opts.Depth}
	buf = appendObject(buf, o, pr, true)
	if opts.Pretty {
		var out bytes.Buffer
		if err := json.Indent(&out, buf, "", "  "); err == nil {
			return out.Bytes()
		}
	}
	return buf
}

// Marshal renders o under opts.
func Marshal(o *Object, opts Options) []byte {
	return AppendJSON(make([]byte, 0, 512), o, opts)
}

func appendObject(buf []byte, o *Object, pr pruner, top bool) []byte {
	if o == nil {
		return append(buf, "null"...)
	}
	buf = append(buf, '{')
	first := true
	if o.Class != "" && (top || o.ShowClass) {
		buf = append(buf, `"_class":`...)
		buf = appendString(buf, o.Class)
		first = false
	}
	for i := range o.Props {
		p := &o.Props[i]
		child, rng, ok := pr.accept(p)
		if !ok {
			continue
		}
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = appendString(buf, p.Name)
		buf = append(buf, ':')
		buf = appendValue(buf, p.Value, child, rng)
	}
	return append(buf, '}')
}

func appendValue(buf []byte, v any, pr pruner, rng Range) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...)
	case Lazy:
		return appendValue(buf, x(), pr, rng)
	case *Object:
		return appendObject(buf, x, pr, false)
	case []*Object:
		lo, hi := rng.bounds(len(x))
		buf = append(buf, '[')
		for i := lo; i < hi; i++ {
			if i > lo {
				buf = append(buf, ',')
			}
			buf = appendObject(buf, x[i], pr, false)
		}
		return append(buf, ']')
	case []any:
		lo, hi := rng.bounds(len(x))
		buf = append(buf, '[')
		for i := lo; i < hi; i++ {
			if i > lo {
				buf = append(buf, ',')
			}
			buf = appendValue(buf, x[i], pr, All)
		}
		return append(buf, ']')
	case []string:
		lo, hi := rng.bounds(len(x))
		buf = append(buf, '[')
		for i := lo; i < hi; i++ {
			if i > lo {
				buf = append(buf, ',')
			}
			buf = appendString(buf, x[i])
		}
		return append(buf, ']')
	case []float64:
		lo, hi := rng.bounds(len(x))
		buf = append(buf, '[')
		for i := lo; i < hi; i++ {
			if i > lo {
				buf = append(buf, ',')
			}
			buf = appendFloat(buf, x[i])
		}
		return append(buf, ']')
	case string:
		return appendString(buf, x)
	case bool:
		return strconv.AppendBool(buf, x)
	case int:
		return strconv.AppendInt(buf, int64(x), 10)
	case int64:
		return strconv.AppendInt(buf, x, 10)
	case float64:
		return appendFloat(buf, x)
	default:
		panic(fmt.Sprintf("stapler: unsupported value type %T", v))
	}
}

// appendFloat writes a float as Java does for the common cases: always with
// a fractional part ("2.0").
func appendFloat(buf []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(buf, "null"...)
	}
	start := len(buf)
	buf = strconv.AppendFloat(buf, f, 'f', -1, 64)
	if bytes.IndexByte(buf[start:], '.') < 0 {
		buf = append(buf, ".0"...)
	}
	return buf
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
