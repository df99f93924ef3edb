package api_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/api"
	"github.com/jenkinds/jenkinds/internal/auth"
	"github.com/jenkinds/jenkinds/internal/buildcluster"
	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/dispatch"
	"github.com/jenkinds/jenkinds/internal/health"
	"github.com/jenkinds/jenkinds/internal/jobsync"
	"github.com/jenkinds/jenkinds/internal/queue"
)

// openAPIDoc is the part of an OpenAPI document the tests read.
type openAPIDoc struct {
	OpenAPI    string                          `json:"openapi"`
	Security   []map[string][]string           `json:"security"`
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
		} `json:"schemas"`
		Parameters map[string]parameter `json:"parameters"`
	} `json:"components"`
}

type operation struct {
	OperationID string                     `json:"operationId"`
	Security    *[]map[string][]string     `json:"security"`
	Parameters  []parameter                `json:"parameters"`
	RequestBody json.RawMessage            `json:"requestBody"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

type parameter struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

func loadOpenAPI(t *testing.T) (openAPIDoc, []byte) {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc, raw
}

// documented returns "METHOD /path" of every operation in doc, sorted.
func documented(doc openAPIDoc) []string {
	var ops []string
	for path, item := range doc.Paths {
		for method := range item {
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

// concrete fills a path template's parameters.
func concrete(path string) string {
	return strings.NewReplacer("{id}", "1", "{clusterId}", "default").Replace(path)
}

// TestOpenAPIMatchesRoutes checks that the document describes exactly the
// routes the mux serves: the same patterns, each served (not a routing 404
// or 405), and no other method served on a documented path.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	doc, _ := loadOpenAPI(t)

	served := slices.Sorted(slices.Values(api.Patterns(f.Handler)))
	if got := documented(doc); !slices.Equal(got, served) {
		t.Errorf("documented operations:\n  %s\nserved routes:\n  %s", strings.Join(got, "\n  "), strings.Join(served, "\n  "))
	}

	for path, item := range doc.Paths {
		for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			op, ok := item[strings.ToLower(method)]
			r := f.call(t, method, concrete(path), `{}`)
			var e apiError
			json.Unmarshal([]byte(r.body), &e)
			routed := e.Error.Code != api.CodeMethodNotAllowed && !strings.HasPrefix(e.Error.Message, "no route")
			if routed != ok {
				t.Errorf("%s %s: got %d %s; documented %v", method, path, r.status, r.body, ok)
			}
			if !ok {
				continue
			}
			// Without a token: public operations answer, the others 401.
			r = f.call(t, method, concrete(path), `{}`, withoutToken)
			public := op.Security != nil && len(*op.Security) == 0
			if public == (r.status == http.StatusUnauthorized) {
				t.Errorf("%s %s without a token: got %d; documented as public: %v", method, path, r.status, public)
			}
			if public == strings.HasPrefix(path, api.Prefix) {
				t.Errorf("%s %s: documented as public %v, but the rule is: everything under %s needs the token", method, path, public, api.Prefix)
			}
		}
	}
}

// TestOpenAPIIsComplete checks what each operation must document.
func TestOpenAPIIsComplete(t *testing.T) {
	t.Parallel()
	doc, raw := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi: got %q, want 3.0.x", doc.OpenAPI)
	}
	if len(doc.Security) != 1 || doc.Security[0]["adminToken"] == nil {
		t.Errorf("global security: got %v, want adminToken", doc.Security)
	}
	ids := map[string]string{}
	for path, item := range doc.Paths {
		for method, op := range item {
			where := strings.ToUpper(method) + " " + path
			if op.OperationID == "" || ids[op.OperationID] != "" {
				t.Errorf("%s: operationId %q missing or also used by %s", where, op.OperationID, ids[op.OperationID])
			}
			ids[op.OperationID] = where
			var success bool
			for status := range op.Responses {
				success = success || strings.HasPrefix(status, "2")
			}
			if !success {
				t.Errorf("%s: no 2xx response documented", where)
			}
			if op.RequestBody != nil {
				for _, status := range []string{"400", "413", "415"} {
					if op.Responses[status] == nil {
						t.Errorf("%s takes a body but documents no %s", where, status)
					}
				}
			}
			if strings.HasPrefix(path, api.Prefix) && op.Responses["401"] == nil {
				t.Errorf("%s: needs the token but documents no 401", where)
			}
			// Every {param} of the path is declared, and nothing else in the path.
			var declared []string
			for _, p := range op.Parameters {
				if name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
					p = doc.Components.Parameters[name]
				}
				if p.In == "path" {
					declared = append(declared, p.Name)
				}
			}
			var inPath []string
			for _, seg := range strings.Split(path, "/") {
				if name, ok := strings.CutPrefix(seg, "{"); ok {
					inPath = append(inPath, strings.TrimSuffix(name, "}"))
				}
			}
			if !slices.Equal(declared, inPath) {
				t.Errorf("%s: path parameters declared %q, want %q", where, declared, inPath)
			}
		}
	}
	// Every $ref resolves.
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	walkRefs(tree, func(ref string) {
		var node any = tree
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, _ := node.(map[string]any)
			node = m[part]
		}
		if node == nil || !strings.HasPrefix(ref, "#/") {
			t.Errorf("$ref %q does not resolve", ref)
		}
	})
}

func walkRefs(node any, visit func(string)) {
	switch n := node.(type) {
	case map[string]any:
		if ref, ok := n["$ref"].(string); ok {
			visit(ref)
		}
		for _, v := range n {
			walkRefs(v, visit)
		}
	case []any:
		for _, v := range n {
			walkRefs(v, visit)
		}
	}
}

// TestOpenAPISchemas checks that each schema's properties are the JSON
// fields of the Go type it describes, so neither can change alone.
func TestOpenAPISchemas(t *testing.T) {
	t.Parallel()
	doc, _ := loadOpenAPI(t)
	for _, tt := range []struct {
		schema string
		goType any
	}{
		{"Instance", controller.Instance{}},
		{"CreateInput", controller.CreateInput{}},
		{"Patch", controller.Patch{}},
		{"InstanceStats", api.InstanceStats{}},
		{"TestConnectionRequest", api.TestConnectionRequest{}},
		{"TestResult", api.TestResult{}},
		{"Cluster", api.Cluster{}},
		{"FailoverRequest", api.FailoverRequest{}},
		{"CheckResult", api.CheckResult{}},
		{"Status", api.Status{}},
		{"BuildCluster", buildcluster.Cluster{}},
		{"BuildClusterInput", buildcluster.CreateInput{}},
		{"BuildClusterPatch", buildcluster.Patch{}},
		{"PublicKey", buildcluster.PublicKey{}},
		{"BuildRequest", api.BuildRequest{}},
		{"BuildSpec", api.BuildSpec{}},
		{"PipelineBuild", api.PipelineBuild{}},
		{"QueueJob", queue.Job{}},
		{"DriftReport", jobsync.Report{}},
		{"DriftController", jobsync.ControllerReport{}},
		{"DriftSummary", jobsync.Summary{}},
		{"JobDrift", jobsync.JobReport{}},
		{"DriftVariant", jobsync.Variant{}},
		{"PendingJobWrite", jobsync.Pending{}},
		{"HealthEvent", health.Event{}},
		{"EventList", api.EventList{}},
		{"Freeze", api.Freeze{}},
		{"RedispatchPolicy", api.RedispatchPolicy{}},
		{"PolicyRequest", api.PolicyRequest{}},
		{"PolicyRule", dispatch.PolicyRule{}},
	} {
		s, ok := doc.Components.Schemas[tt.schema]
		if !ok {
			t.Errorf("schema %s: missing", tt.schema)
			continue
		}
		var props []string
		for p := range s.Properties {
			props = append(props, p)
		}
		slices.Sort(props)
		fields := jsonFields(reflect.TypeOf(tt.goType))
		slices.Sort(fields)
		if !slices.Equal(props, fields) {
			t.Errorf("schema %s: properties\n  %q\nbut %T has the JSON fields\n  %q", tt.schema, props, tt.goType, fields)
		}
		for _, r := range s.Required {
			if !slices.Contains(props, r) {
				t.Errorf("schema %s: requires %q, which is not a property", tt.schema, r)
			}
		}
	}

}

// TestOpenAPIErrorCodes checks that the error codes the document lists are
// the package's Code constants.
func TestOpenAPIErrorCodes(t *testing.T) {
	t.Parallel()
	_, raw := loadOpenAPI(t)
	var doc struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Properties struct {
								Code struct {
									Enum []string `json:"enum"`
								} `json:"code"`
							} `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(doc.Components.Schemas.Error.Properties.Error.Properties.Code.Enum))
	if want := codeConstants(t); len(want) < 10 || !slices.Equal(got, want) {
		t.Errorf("Error.code enum:\n  %q\nCode constants in errors.go:\n  %q", got, want)
	}
}

// jsonFields lists the JSON field names of struct type t, embedded structs
// flattened.
func jsonFields(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case name == "-" || !f.IsExported():
		case f.Anonymous && name == "" && ft.Kind() == reflect.Struct:
			names = append(names, jsonFields(ft)...)
		case name == "":
			names = append(names, f.Name)
		default:
			names = append(names, name)
		}
	}
	return names
}

// codeConstants reads the values of the Code… constants in errors.go.
func codeConstants(t *testing.T) []string {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	ast.Inspect(file, func(n ast.Node) bool {
		spec, ok := n.(*ast.ValueSpec)
		if !ok || len(spec.Names) != 1 || !strings.HasPrefix(spec.Names[0].Name, "Code") || len(spec.Values) != 1 {
			return true
		}
		switch v := spec.Values[0].(type) {
		case *ast.BasicLit:
			s, _ := strconv.Unquote(v.Value)
			codes = append(codes, s)
		case *ast.SelectorExpr: // auth.CodeUnauthorized
			codes = append(codes, auth.CodeUnauthorized)
		default:
			t.Errorf("errors.go: %s has a value this test cannot read", spec.Names[0].Name)
		}
		return true
	})
	slices.Sort(codes)
	return codes
}

// TestOpenAPIServed checks the document is served as is, with the token.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	f := setup(t, sqlite(t))
	_, raw := loadOpenAPI(t)
	r := f.call(t, "GET", "/api/v1/openapi.json", "")
	if r.status != http.StatusOK || strings.TrimSpace(r.body) != strings.TrimSpace(string(raw)) {
		t.Errorf("GET openapi.json: got %d and %d bytes, want 200 and openapi.json's %d", r.status, len(r.body), len(raw))
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type: got %q", got)
	}
	if got := string(api.OpenAPI()); got != string(raw) {
		t.Errorf("api.OpenAPI(): got %d bytes, want openapi.json's %d", len(got), len(raw))
	}
}
