package controller_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/controller"
)

func ptr[T any](v T) *T { return &v }

// validInput is a CreateInput that passes; each case breaks one field.
func validInput() controller.CreateInput {
	return controller.CreateInput{
		Name:     "jenkins-1",
		URL:      "https://jenkins-1.example.com",
		Username: "admin",
		APIToken: "11aa22bb33cc44dd55ee66ff77aa88bb99",
	}
}

func TestCreateInputValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*controller.CreateInput)
		field  string // "" means valid
	}{
		{"valid", func(*controller.CreateInput) {}, ""},
		{"valid with everything", func(in *controller.CreateInput) {
			in.Description = "line one\n\tline two"
			in.IsPrimary = true
			in.ClusterID = ptr("prod.eu_1")
			in.LoadBalancerURL = "http://jenkins-lb:80"
			in.Priority = 100
			in.HealthCheckURL = "/api/json?tree=mode"
			in.MaxConnections = ptr(100000)
			in.IsActive = ptr(false)
		}, ""},
		{"name of 100 characters", func(in *controller.CreateInput) { in.Name = strings.Repeat("a", 100) }, ""},
		{"url with path and port", func(in *controller.CreateInput) { in.URL = "http://10.0.0.5:8080/jenkins/" }, ""},
		{"no token", func(in *controller.CreateInput) { in.APIToken = "" }, ""},
		{"priority 0", func(in *controller.CreateInput) { in.Priority = 0 }, ""},
		{"max connections 1", func(in *controller.CreateInput) { in.MaxConnections = ptr(1) }, ""},
		{"absolute health check", func(in *controller.CreateInput) { in.HealthCheckURL = "https://other.example.com/health" }, ""},
		{"health check root", func(in *controller.CreateInput) { in.HealthCheckURL = "/" }, ""},

		{"name missing", func(in *controller.CreateInput) { in.Name = "" }, "name"},
		{"name with space", func(in *controller.CreateInput) { in.Name = "Jenkins Master 1" }, "name"},
		{"name with parenthesis", func(in *controller.CreateInput) { in.Name = "jenkins(1)" }, "name"},
		{"name with slash", func(in *controller.CreateInput) { in.Name = "a/b" }, "name"},
		{"name non-ASCII", func(in *controller.CreateInput) { in.Name = "jénkins" }, "name"},
		{"name of 101 characters", func(in *controller.CreateInput) { in.Name = strings.Repeat("a", 101) }, "name"},
		{"url missing", func(in *controller.CreateInput) { in.URL = "" }, "url"},
		{"url relative", func(in *controller.CreateInput) { in.URL = "jenkins.example.com" }, "url"},
		{"url ftp", func(in *controller.CreateInput) { in.URL = "ftp://jenkins.example.com" }, "url"},
		{"url without host", func(in *controller.CreateInput) { in.URL = "https:///jenkins" }, "url"},
		{"url only slash", func(in *controller.CreateInput) { in.URL = "https://" }, "url"},
		{"url opaque", func(in *controller.CreateInput) { in.URL = "http:jenkins" }, "url"},
		{"url with query", func(in *controller.CreateInput) { in.URL = "https://jenkins.example.com/?a=b" }, "url"},
		{"url with empty query", func(in *controller.CreateInput) { in.URL = "https://jenkins.example.com?" }, "url"},
		{"url with fragment", func(in *controller.CreateInput) { in.URL = "https://jenkins.example.com/#top" }, "url"},
		{"url with credentials", func(in *controller.CreateInput) { in.URL = "https://admin:pw@jenkins.example.com" }, "url"},
		{"url with space", func(in *controller.CreateInput) { in.URL = "https://jenkins example.com" }, "url"},
		{"username too long", func(in *controller.CreateInput) { in.Username = strings.Repeat("u", 256) }, "username"},
		{"username with newline", func(in *controller.CreateInput) { in.Username = "admin\n" }, "username"},
		{"description too long", func(in *controller.CreateInput) { in.Description = strings.Repeat("d", 2001) }, "description"},
		{"description with control character", func(in *controller.CreateInput) { in.Description = "bell\a" }, "description"},
		{"cluster empty", func(in *controller.CreateInput) { in.ClusterID = ptr("") }, "clusterId"},
		{"cluster with space", func(in *controller.CreateInput) { in.ClusterID = ptr("my cluster") }, "clusterId"},
		{"cluster too long", func(in *controller.CreateInput) { in.ClusterID = ptr(strings.Repeat("c", 101)) }, "clusterId"},
		{"load balancer relative", func(in *controller.CreateInput) { in.LoadBalancerURL = "jenkins-lb:80" }, "loadBalancerUrl"},
		{"load balancer with query", func(in *controller.CreateInput) { in.LoadBalancerURL = "http://lb/?x=1" }, "loadBalancerUrl"},
		{"priority negative", func(in *controller.CreateInput) { in.Priority = -1 }, "priority"},
		{"priority 101", func(in *controller.CreateInput) { in.Priority = 101 }, "priority"},
		{"health check relative without slash", func(in *controller.CreateInput) { in.HealthCheckURL = "api/json" }, "healthCheckUrl"},
		{"health check scheme-relative", func(in *controller.CreateInput) { in.HealthCheckURL = "//evil.example.com/x" }, "healthCheckUrl"},
		{"health check ftp", func(in *controller.CreateInput) { in.HealthCheckURL = "ftp://jenkins/health" }, "healthCheckUrl"},
		{"health check with fragment", func(in *controller.CreateInput) { in.HealthCheckURL = "/login#x" }, "healthCheckUrl"},
		{"health check with space", func(in *controller.CreateInput) { in.HealthCheckURL = "/log in" }, "healthCheckUrl"},
		{"health check bad escape", func(in *controller.CreateInput) { in.HealthCheckURL = "/%zz" }, "healthCheckUrl"},
		{"max connections 0", func(in *controller.CreateInput) { in.MaxConnections = ptr(0) }, "maxConnections"},
		{"max connections too many", func(in *controller.CreateInput) { in.MaxConnections = ptr(100001) }, "maxConnections"},
		{"token with newline", func(in *controller.CreateInput) { in.APIToken = "tok\n" }, "apiToken"},
		{"token with space", func(in *controller.CreateInput) { in.APIToken = "tok en" }, "apiToken"},
		{"token too long", func(in *controller.CreateInput) { in.APIToken = strings.Repeat("t", 1025) }, "apiToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := validInput()
			tt.modify(&in)
			checkField(t, in.Validate(), tt.field)
		})
	}
}

// checkField checks that err is nil when field is "", else a
// *ValidationError on field.
func checkField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Errorf("Validate: got %v, want nil", err)
		}
		return
	}
	var ve *controller.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate: got %v, want a *ValidationError on %s", err, field)
	}
	if ve.Field != field {
		t.Errorf("Validate field: got %q (%v), want %q", ve.Field, err, field)
	}
	if ve.Rule == "" {
		t.Errorf("Validate rule: got empty, want a rule")
	}
	if strings.Contains(err.Error(), "tok") && field == "apiToken" {
		t.Errorf("Validate error quotes the token: %q", err)
	}
}

func TestPatchValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		patch controller.Patch
		field string
	}{
		{"empty", controller.Patch{}, ""},
		{"valid fields", controller.Patch{Name: ptr("jenkins-2"), URL: ptr("http://j2:8080/"), Priority: ptr(5), IsActive: ptr(false)}, ""},
		{"clear optional URLs", controller.Patch{LoadBalancerURL: ptr(""), HealthCheckURL: ptr("")}, ""},
		{"clear token", controller.Patch{APIToken: ptr("")}, ""},
		{"clear username and description", controller.Patch{Username: ptr(""), Description: ptr("")}, ""},
		{"name emptied", controller.Patch{Name: ptr("")}, "name"},
		{"url emptied", controller.Patch{URL: ptr("")}, "url"},
		{"cluster emptied", controller.Patch{ClusterID: ptr("")}, "clusterId"},
		{"bad load balancer", controller.Patch{LoadBalancerURL: ptr("lb")}, "loadBalancerUrl"},
		{"bad health check", controller.Patch{HealthCheckURL: ptr("health")}, "healthCheckUrl"},
		{"priority", controller.Patch{Priority: ptr(1000)}, "priority"},
		{"max connections", controller.Patch{MaxConnections: ptr(-5)}, "maxConnections"},
		{"username", controller.Patch{Username: ptr("a\x00b")}, "username"},
		{"description", controller.Patch{Description: ptr(strings.Repeat("x", 5000))}, "description"},
		{"token", controller.Patch{APIToken: ptr(" tok")}, "apiToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkField(t, tt.patch.Validate(), tt.field)
		})
	}
}

func TestValidationErrorMessage(t *testing.T) {
	t.Parallel()
	in := validInput()
	in.URL = "jenkins.example.com"
	got := in.Validate().Error()
	want := "url: must be an absolute http or https URL, e.g. https://jenkins.example.com"
	if got != want {
		t.Errorf("Error(): got %q, want %q", got, want)
	}
}

func TestHealthCheckTarget(t *testing.T) {
	t.Parallel()
	tests := []struct{ url, health, want string }{
		{"https://ci.example.com/jenkins", "/api/json", "https://ci.example.com/jenkins/api/json"},
		{"https://ci.example.com", "/login?from=%2F", "https://ci.example.com/login?from=%2F"},
		{"https://ci.example.com", "https://status.example.com/ci", "https://status.example.com/ci"},
		{"https://ci.example.com", "", ""},
	}
	for _, tt := range tests {
		i := controller.Instance{URL: tt.url, HealthCheckURL: tt.health}
		if got := i.HealthCheckTarget(); got != tt.want {
			t.Errorf("HealthCheckTarget(%q, %q): got %q, want %q", tt.url, tt.health, got, tt.want)
		}
	}
}
