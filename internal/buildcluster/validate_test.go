package buildcluster_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	valid := func(edit func(*buildcluster.CreateInput)) buildcluster.CreateInput {
		in := buildcluster.CreateInput{Name: "iOS", SCMContext: "github:github.com", SCMOrganizations: []string{"iOS_org1"},
			ManagedBy: buildcluster.ManagedByExternal, ManagedByEmail: "ci@example.com"}
		edit(&in)
		return in
	}
	tests := []struct {
		name      string
		in        buildcluster.CreateInput
		wantField string // "" when valid
		want422   bool
	}{
		{"valid external", valid(func(*buildcluster.CreateInput) {}), "", false},
		{"valid shared, no organizations", valid(func(in *buildcluster.CreateInput) {
			in.ManagedBy, in.SCMOrganizations = buildcluster.ManagedByScrewdriver, nil
		}), "", false},
		{"name with dots and dashes", valid(func(in *buildcluster.CreateInput) { in.Name = "aws.us-east-1_b" }), "", false},
		{"name of 50", valid(func(in *buildcluster.CreateInput) { in.Name = strings.Repeat("a", 50) }), "", false},
		{"weight 0", valid(func(in *buildcluster.CreateInput) { in.Weight = ptr(0) }), "", false},
		{"weight 100", valid(func(in *buildcluster.CreateInput) { in.Weight = ptr(100) }), "", false},

		{"no name", valid(func(in *buildcluster.CreateInput) { in.Name = "" }), "name", false},
		{"name of 51", valid(func(in *buildcluster.CreateInput) { in.Name = strings.Repeat("a", 51) }), "name", false},
		{"name with a slash", valid(func(in *buildcluster.CreateInput) { in.Name = "a/b" }), "name", false},
		{"name with a space", valid(func(in *buildcluster.CreateInput) { in.Name = "a b" }), "name", false},
		{"no scmContext", valid(func(in *buildcluster.CreateInput) { in.SCMContext = "" }), "scmContext", false},
		{"scmContext without host", valid(func(in *buildcluster.CreateInput) { in.SCMContext = "github" }), "scmContext", false},
		{"scmContext with two colons", valid(func(in *buildcluster.CreateInput) { in.SCMContext = "github:a:b" }), "scmContext", false},
		{"description too long", valid(func(in *buildcluster.CreateInput) { in.Description = strings.Repeat("d", 101) }), "description", false},
		{"organization with a slash", valid(func(in *buildcluster.CreateInput) { in.SCMOrganizations = []string{"org/repo"} }), "scmOrganizations[0]", false},
		{"empty organization", valid(func(in *buildcluster.CreateInput) { in.SCMOrganizations = []string{"a", ""} }), "scmOrganizations[1]", false},
		{"duplicate organization", valid(func(in *buildcluster.CreateInput) { in.SCMOrganizations = []string{"a", "A"} }), "scmOrganizations[1]", false},
		{"managedBy missing", valid(func(in *buildcluster.CreateInput) { in.ManagedBy = "" }), "managedBy", false},
		{"managedBy unknown", valid(func(in *buildcluster.CreateInput) { in.ManagedBy = "Screwdriver" }), "managedBy", false},
		{"email malformed", valid(func(in *buildcluster.CreateInput) { in.ManagedByEmail = "not-an-email" }), "managedByEmail", false},
		{"weight 101", valid(func(in *buildcluster.CreateInput) { in.Weight = ptr(101) }), "weight", false},
		{"weight -1", valid(func(in *buildcluster.CreateInput) { in.Weight = ptr(-1) }), "weight", false},
		{"eleven keys", valid(func(in *buildcluster.CreateInput) {
			for range 11 {
				in.PublicKeys = append(in.PublicKeys, edPublic())
			}
		}), "publicKeys", false},

		{"external without organizations", valid(func(in *buildcluster.CreateInput) { in.SCMOrganizations = nil }), "scmOrganizations", true},
		{"external with an empty list", valid(func(in *buildcluster.CreateInput) { in.SCMOrganizations = []string{} }), "scmOrganizations", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.in.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *buildcluster.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.wantField {
				t.Fatalf("Validate: got %v, want a *ValidationError on %s", err, tt.wantField)
			}
			if got := errors.Is(err, buildcluster.ErrExternalWithoutOrganizations); got != tt.want422 {
				t.Errorf("Validate: errors.Is(ErrExternalWithoutOrganizations) = %v, want %v", got, tt.want422)
			}
		})
	}
}
