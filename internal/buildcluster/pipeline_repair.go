package buildcluster

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// emptyKey matches a line that is only "key:" (and maybe a comment): a key
// whose value, if any, is on the lines below.
var emptyKey = regexp.MustCompile(`^(\s*)([^\s#\-][^#:]*):\s*(#.*)?$`)

// reindentSequences moves document markers to column 0 and the items of a sequence that sits to the left
// of the key it follows (steps: at column 8, "- init: …" at column 4)
// under that key. It runs only on a document that does not parse: there a
// sequence item left of the line before cannot be read any other way. It
// returns the lines and one note per sequence moved; no notes means
// nothing was changed.
func reindentSequences(lines []string) ([]string, []string) {
	out := make([]string, len(lines))
	copy(out, lines)
	var notes []string
	for i, line := range out {
		// "..." or "---" ends or starts a document only at column 0;
		// indented, it is a stray value that breaks the mapping around it.
		if t := strings.TrimSpace(line); (t == "..." || t == "---") && line != t {
			out[i] = t
			notes = append(notes, fmt.Sprintf("line %d: the document marker %s is indented; read at column 0", i+1, t))
		}
	}
	for i := 0; i < len(out); i++ {
		m := emptyKey.FindStringSubmatch(out[i])
		if m == nil {
			continue
		}
		keyIndent := len(m[1])
		j := nextContent(out, i+1)
		if j < 0 {
			continue
		}
		itemIndent := indentOf(out[j])
		if itemIndent >= keyIndent || !isItem(out[j]) {
			continue
		}
		// The run: items at itemIndent, and what is indented deeper (an
		// item's continuation lines), blank lines and comments between.
		end := j
		for k := j; k < len(out); k++ {
			if blankOrComment(out[k]) {
				continue
			}
			ind := indentOf(out[k])
			if ind > itemIndent || ind == itemIndent && isItem(out[k]) {
				end = k
				continue
			}
			break
		}
		pad := strings.Repeat(" ", keyIndent+2-itemIndent)
		for k := j; k <= end; k++ {
			if !blankOrComment(out[k]) {
				out[k] = pad + out[k]
			}
		}
		notes = append(notes, fmt.Sprintf("lines %d-%d: the list under %s (line %d) is indented less than its key; read as its items",
			j+1, end+1, strings.TrimSpace(m[2]), i+1))
		i = end
	}
	return out, notes
}

func nextContent(lines []string, from int) int {
	for k := from; k < len(lines); k++ {
		if !blankOrComment(lines[k]) {
			return k
		}
	}
	return -1
}

func blankOrComment(line string) bool {
	t := strings.TrimSpace(line)
	return t == "" || strings.HasPrefix(t, "#")
}

func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

func isItem(line string) bool {
	t := strings.TrimLeft(line, " ")
	return t == "-" || strings.HasPrefix(t, "- ")
}

// yamlLine is the "line N: " yaml.v3 puts before its problems.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// maxLocate bounds the prefixes locate parses.
const maxLocate = 2000

// locate turns a parse error into a *YAMLError on the line at fault.
// yaml.v3 reports the line where the enclosing block starts, which is
// often far above the mistake; locate finds the first line at which the
// document, cut there, fails with the same problem.
func locate(doc []byte, err error) *YAMLError {
	msg := err.Error()
	problem, line := strings.TrimPrefix(msg, "yaml: "), 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		problem = m[2]
	}
	lines := strings.Split(string(doc), "\n")
	if line < 1 {
		line = 1
	}
	var node yaml.Node
	for k := line; k <= len(lines) && k < line+maxLocate; k++ {
		perr := yaml.Unmarshal([]byte(strings.Join(lines[:k], "\n")), &node)
		if perr != nil && strings.HasSuffix(perr.Error(), problem) {
			line = k
			break
		}
	}
	e := &YAMLError{Line: line, Problem: problem}
	if line <= len(lines) {
		e.Text = lines[line-1]
	}
	switch {
	case strings.HasPrefix(strings.TrimLeft(e.Text, " "), "\t"):
		e.Problem += " (the line is indented with a tab: YAML allows only spaces)"
	case strings.Contains(problem, "expected key") || strings.Contains(problem, "mapping values are not allowed"):
		e.Problem += " (check this line's indentation against the lines above it)"
	}
	return e
}
