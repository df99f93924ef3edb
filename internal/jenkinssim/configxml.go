package jenkinssim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// xmlDecl is the declaration Jenkins writes in front of every config.xml.
const xmlDecl = `<?xml version="1.1" encoding="UTF-8"?>`

var declRE = regexp.MustCompile(`^\s*<\?xml[^?]*\?>\s*`)

// xmlNode is a minimal DOM, enough to read job configurations.
type xmlNode struct {
	name     string
	text     string
	children []*xmlNode
}

func (n *xmlNode) child(name string) *xmlNode {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (n *xmlNode) childText(name string) string {
	if c := n.child(name); c != nil {
		return strings.TrimSpace(c.text)
	}
	return ""
}

// descendants collects every node named name below n.
func (n *xmlNode) descendants(name string, out []*xmlNode) []*xmlNode {
	for _, c := range n.children {
		if c.name == name {
			out = append(out, c)
		}
		out = c.descendants(name, out)
	}
	return out
}

// parseXML parses a document. Go's decoder accepts only XML 1.0
// declarations, so the declaration (Jenkins writes 1.1) is dropped first.
func parseXML(doc string) (*xmlNode, error) {
	body := declRE.ReplaceAllString(doc, "")
	dec := xml.NewDecoder(strings.NewReader(body))
	var stack []*xmlNode
	var root *xmlNode
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &xmlNode{name: t.Name.Local}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else if root != nil {
				return nil, fmt.Errorf("more than one root element")
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no root element")
	}
	return root, nil
}

// jobConfig is what the simulator reads from a config.xml.
type jobConfig struct {
	kind        itemKind
	description string
	disabled    bool
	concurrent  bool
	authToken   string
	params      []paramDef
}

func parseJobConfig(doc string) (jobConfig, error) {
	root, err := parseXML(doc)
	if err != nil {
		return jobConfig{}, err
	}
	cfg := jobConfig{
		description: root.childText("description"),
		disabled:    root.childText("disabled") == "true",
		concurrent:  root.childText("concurrentBuild") == "true",
		authToken:   root.childText("authToken"),
	}
	switch root.name {
	case "flow-definition":
		cfg.kind = kindPipeline
	case "com.cloudbees.hudson.plugins.folder.Folder":
		cfg.kind = kindFolder
	default:
		cfg.kind = kindFreestyle
	}
	for _, defs := range root.descendants("parameterDefinitions", nil) {
		for _, d := range defs.children {
			p := paramDef{name: d.childText("name"), description: d.childText("description"), def: d.childText("defaultValue")}
			switch d.name {
			case "hudson.model.TextParameterDefinition":
				p.kind = paramText
			case "hudson.model.BooleanParameterDefinition":
				p.kind = paramBoolean
			case "hudson.model.ChoiceParameterDefinition":
				p.kind = paramChoice
				if ch := d.child("choices"); ch != nil {
					for _, s := range ch.descendants("string", nil) {
						p.choices = append(p.choices, s.text)
					}
				}
			default:
				p.kind = paramString
			}
			if p.name == "" {
				return jobConfig{}, fmt.Errorf("%s without a <name>", d.name)
			}
			cfg.params = append(cfg.params, p)
		}
	}
	return cfg, nil
}

// normaliseConfig stores a submitted config the way Jenkins serves it back:
// with Jenkins' own declaration.
func normaliseConfig(doc string) string {
	return xmlDecl + "\n" + strings.TrimSpace(declRE.ReplaceAllString(doc, "")) + "\n"
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// renderConfig writes the config.xml of a job defined by a JobSpec.
func renderConfig(kind itemKind, description string, disabled, concurrent bool, authToken string, params []paramDef) string {
	var sb strings.Builder
	sb.WriteString(xmlDecl + "\n")
	root := "project"
	switch kind {
	case kindPipeline:
		root = `flow-definition plugin="workflow-job"`
	case kindFolder:
		sb.WriteString(`<com.cloudbees.hudson.plugins.folder.Folder plugin="cloudbees-folder">` + "\n")
		fmt.Fprintf(&sb, "  <description>%s</description>\n  <properties/>\n  <folderViews/>\n", esc(description))
		sb.WriteString("</com.cloudbees.hudson.plugins.folder.Folder>\n")
		return sb.String()
	}
	fmt.Fprintf(&sb, "<%s>\n  <description>%s</description>\n  <keepDependencies>false</keepDependencies>\n", root, esc(description))
	if len(params) == 0 {
		sb.WriteString("  <properties/>\n")
	} else {
		sb.WriteString("  <properties>\n    <hudson.model.ParametersDefinitionProperty>\n      <parameterDefinitions>\n")
		for _, p := range params {
			cls := p.class()
			fmt.Fprintf(&sb, "        <%s>\n          <name>%s</name>\n          <description>%s</description>\n", cls, esc(p.name), esc(p.description))
			switch p.kind {
			case paramChoice:
				sb.WriteString("          <choices class=\"java.util.Arrays$ArrayList\">\n            <a class=\"string-array\">\n")
				for _, c := range p.choices {
					fmt.Fprintf(&sb, "              <string>%s</string>\n", esc(c))
				}
				sb.WriteString("            </a>\n          </choices>\n")
			case paramBoolean:
				fmt.Fprintf(&sb, "          <defaultValue>%s</defaultValue>\n", p.defaultValue())
			default:
				fmt.Fprintf(&sb, "          <defaultValue>%s</defaultValue>\n          <trim>false</trim>\n", esc(p.def))
			}
			fmt.Fprintf(&sb, "        </%s>\n", cls)
		}
		sb.WriteString("      </parameterDefinitions>\n    </hudson.model.ParametersDefinitionProperty>\n  </properties>\n")
	}
	if authToken != "" {
		fmt.Fprintf(&sb, "  <authToken>%s</authToken>\n", esc(authToken))
	}
	if kind == kindPipeline {
		sb.WriteString("  <definition class=\"org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition\" plugin=\"workflow-cps\">\n    <script>echo 'hello'</script>\n    <sandbox>true</sandbox>\n  </definition>\n  <triggers/>\n")
		fmt.Fprintf(&sb, "  <disabled>%t</disabled>\n</flow-definition>\n", disabled)
		return sb.String()
	}
	fmt.Fprintf(&sb, "  <scm class=\"hudson.scm.NullSCM\"/>\n  <canRoam>true</canRoam>\n  <disabled>%t</disabled>\n", disabled)
	sb.WriteString("  <blockBuildWhenDownstreamBuilding>false</blockBuildWhenDownstreamBuilding>\n  <blockBuildWhenUpstreamBuilding>false</blockBuildWhenUpstreamBuilding>\n  <triggers/>\n")
	fmt.Fprintf(&sb, "  <concurrentBuild>%t</concurrentBuild>\n  <builders/>\n  <publishers/>\n  <buildWrappers/>\n</project>\n", concurrent)
	return sb.String()
}

// setDisabledInConfig rewrites <disabled> so that GET config.xml reflects
// enable/disable, as Jenkins does when it re-serialises the job.
func setDisabledInConfig(doc string, disabled bool) string {
	re := regexp.MustCompile(`<disabled>\s*(true|false)\s*</disabled>`)
	repl := fmt.Sprintf("<disabled>%t</disabled>", disabled)
	if re.MatchString(doc) {
		return re.ReplaceAllString(doc, repl)
	}
	return doc
}

func specParams(ps []ParamSpec) []paramDef {
	out := make([]paramDef, 0, len(ps))
	for _, p := range ps {
		d := paramDef{name: p.Name, description: p.Description, def: p.Default, choices: p.Choices}
		switch p.Type {
		case "text":
			d.kind = paramText
		case "choice":
			d.kind = paramChoice
		case "boolean":
			d.kind = paramBoolean
		}
		out = append(out, d)
	}
	return out
}
