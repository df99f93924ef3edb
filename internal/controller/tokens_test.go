package controller_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jenkinds/jenkinds/internal/controller"
	"github.com/jenkinds/jenkinds/internal/secret"
)

func testUpdateToken(t *testing.T, f fixture) {
	in := input("jenkins-1")
	in.APIToken = "first"
	i := f.create(t, in)
	checkToken := func(want string, wantHas bool) {
		t.Helper()
		got, err := f.store.Token(f.ctx, i.ID)
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		if got != want {
			t.Errorf("Token: got %q, want %q", got, want)
		}
		if inst, _ := f.store.Get(f.ctx, i.ID); inst.HasAPIToken != wantHas {
			t.Errorf("HasAPIToken: got %v, want %v", inst.HasAPIToken, wantHas)
		}
	}
	checkToken("first", true)

	if _, err := f.store.Update(f.ctx, i.ID, controller.Patch{Description: ptr("token untouched")}); err != nil {
		t.Fatalf("Update description: %v", err)
	}
	checkToken("first", true)

	if _, err := f.store.Update(f.ctx, i.ID, controller.Patch{APIToken: ptr("second")}); err != nil {
		t.Fatalf("Update token: %v", err)
	}
	checkToken("second", true)

	if _, err := f.store.Update(f.ctx, i.ID, controller.Patch{APIToken: ptr("")}); err != nil {
		t.Fatalf("clear token: %v", err)
	}
	checkToken("", false)
	if raw := f.rawToken(t, i.ID); raw != "" {
		t.Errorf("api_token after clearing: got %q, want empty", raw)
	}
}

func testTokenSealed(t *testing.T, f fixture) {
	in := input("jenkins-1")
	in.APIToken = "tok-SECRET-123"
	i := f.create(t, in)

	raw := f.rawToken(t, i.ID)
	if strings.Contains(raw, "tok-SECRET-123") {
		t.Errorf("api_token column %q contains the plaintext", raw)
	}
	if prefix := "v1:" + f.sealer.KeyID() + ":"; !strings.HasPrefix(raw, prefix) {
		t.Errorf("api_token column: got %q, want prefix %q", raw, prefix)
	}
	got, err := f.store.Token(f.ctx, i.ID)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if got != "tok-SECRET-123" {
		t.Errorf("Token: got %q, want %q", got, "tok-SECRET-123")
	}

	none := f.create(t, input("jenkins-2"))
	if raw := f.rawToken(t, none.ID); raw != "" {
		t.Errorf("api_token without a token: got %q, want empty", raw)
	}
	if got, err := f.store.Token(f.ctx, none.ID); got != "" || err != nil {
		t.Errorf("Token without a token: got %q, %v, want empty, nil", got, err)
	}

	// A store with another key cannot open it, and says why.
	otherSealer, _ := secret.NewSealer(secret.GenerateKey())
	other := controller.NewStore(f.db, otherSealer, f.clock.Now)
	if _, err := other.Token(f.ctx, i.ID); !errors.Is(err, secret.ErrWrongKey) {
		t.Errorf("Token with another key: got %v, want ErrWrongKey", err)
	}
}

func testReseal(t *testing.T, f fixture) {
	var made []controller.Instance
	for n, tok := range []string{"tok-a", "", "tok-c"} {
		in := input(fmt.Sprintf("jenkins-%d", n))
		in.APIToken = tok
		made = append(made, f.create(t, in))
	}
	newKey := secret.GenerateKey()
	rotating, err := secret.NewSealer(newKey, f.key)
	if err != nil {
		t.Fatalf("new sealer: %v", err)
	}
	newOnly, err := secret.NewSealer(newKey)
	if err != nil {
		t.Fatalf("new sealer: %v", err)
	}

	n, err := f.store.ResealAll(f.ctx, rotating.Open, newOnly.Seal)
	if err != nil {
		t.Fatalf("ResealAll: %v", err)
	}
	if n != 2 {
		t.Errorf("ResealAll count: got %d, want 2", n)
	}

	rotated := controller.NewStore(f.db, newOnly, f.clock.Now)
	for k, want := range []string{"tok-a", "", "tok-c"} {
		id := made[k].ID
		got, err := rotated.Token(f.ctx, id)
		if err != nil || got != want {
			t.Errorf("Token %d with the new key: got %q, %v, want %q", id, got, err, want)
		}
		if want == "" {
			continue
		}
		raw := f.rawToken(t, id)
		if !strings.HasPrefix(raw, "v1:"+newOnly.KeyID()+":") {
			t.Errorf("api_token %d after reseal: got %q, want it under key %s", id, raw, newOnly.KeyID())
		}
		if _, err := f.sealer.Open(raw); !errors.Is(err, secret.ErrWrongKey) {
			t.Errorf("old key opening resealed token %d: got %v, want ErrWrongKey", id, err)
		}
		if _, err := f.store.Token(f.ctx, id); !errors.Is(err, secret.ErrWrongKey) {
			t.Errorf("store with the old key, Token %d: got %v, want ErrWrongKey", id, err)
		}
	}
}

func testResealAtomic(t *testing.T, f fixture) {
	for _, name := range []string{"a", "b", "c"} {
		in := input(name)
		in.APIToken = "tok-" + name
		f.create(t, in)
	}
	before, err := f.store.List(f.ctx, controller.ListFilter{})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var raws []string
	for _, i := range before {
		raws = append(raws, f.rawToken(t, i.ID))
	}

	newSealer, _ := secret.NewSealer(secret.GenerateKey())
	calls := 0
	failSecond := func(sealed string) ([]byte, error) {
		calls++
		if calls == 2 {
			return nil, errors.New("boom")
		}
		return f.sealer.Open(sealed)
	}
	n, err := f.store.ResealAll(f.ctx, failSecond, newSealer.Seal)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("ResealAll with a failing open: got %d, %v, want the error", n, err)
	}
	if want := fmt.Sprintf("reseal token of instance %d", before[1].ID); !strings.Contains(err.Error(), want) {
		t.Errorf("ResealAll error: got %q, want it to name %q", err, want)
	}
	for k, i := range before {
		if got := f.rawToken(t, i.ID); got != raws[k] {
			t.Errorf("api_token %d after failed reseal: changed, want untouched", i.ID)
		}
	}
}

func testListWithTokens(t *testing.T, f fixture) {
	withToken := func(name, token string) controller.CreateInput {
		in := input(name)
		in.APIToken = token
		return in
	}
	a, b, c := f.create(t, withToken("a", "token-a")), f.create(t, input("b")), f.create(t, withToken("c", "token-c"))
	all, err := f.store.ListWithTokens(f.ctx)
	if err != nil {
		t.Fatalf("ListWithTokens: %v", err)
	}
	var got []string
	for _, s := range all {
		got = append(got, fmt.Sprintf("%d:%s:%q:%v", s.Instance.ID, s.Instance.Name, s.Token, s.Instance.HasAPIToken))
	}
	want := []string{
		fmt.Sprintf("%d:a:%q:true", a.ID, "token-a"),
		fmt.Sprintf("%d:b:%q:false", b.ID, ""),
		fmt.Sprintf("%d:c:%q:true", c.ID, "token-c"),
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ListWithTokens: got %v, want %v", got, want)
	}

	other, err := secret.NewSealer(secret.GenerateKey())
	if err != nil {
		t.Fatalf("new sealer: %v", err)
	}
	_, err = controller.NewStore(f.db, other, f.clock.Now).ListWithTokens(f.ctx)
	if !errors.Is(err, secret.ErrWrongKey) || !strings.Contains(err.Error(), fmt.Sprintf("instance %d", a.ID)) {
		t.Errorf("ListWithTokens under another key: got %v, want ErrWrongKey naming instance %d", err, a.ID)
	}
}
