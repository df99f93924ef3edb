package controller

import (
	"context"
	"fmt"
)

// sealToken seals a plaintext API token for the api_token column; "" (no
// token) stays "".
func (s *Store) sealToken(plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	sealed, err := s.sealer.Seal([]byte(plain))
	if err != nil {
		return "", fmt.Errorf("seal api token: %w", err)
	}
	return sealed, nil
}

// Token returns the plaintext API token of the instance with id, for the
// code that talks to its Jenkins; "" when it has none. The token must not
// reach a log line or an API response.
func (s *Store) Token(ctx context.Context, id int64) (string, error) {
	var sealed string
	err := s.db.QueryRowContext(ctx, s.db.Rebind(`SELECT api_token FROM controllers WHERE id = ?`), id).Scan(&sealed)
	if err != nil {
		return "", fmt.Errorf("get api token of instance %d: %w", id, notFound(err))
	}
	plain, err := s.openToken(sealed)
	if err != nil {
		return "", fmt.Errorf("open api token of instance %d: %w", id, err)
	}
	return plain, nil
}

// ListWithTokens returns every instance with its plaintext API token, by
// ascending id, for Pool.Sync: one SELECT, where List and a Token per
// instance took 1+N. The tokens must not reach a log line or an API
// response.
func (s *Store) ListWithTokens(ctx context.Context) ([]Synced, error) {
	insts, err := s.List(ctx, ListFilter{})
	if err != nil {
		return nil, err
	}
	out := make([]Synced, 0, len(insts))
	for _, in := range insts {
		tok, err := s.openToken(in.sealedToken)
		if err != nil {
			return nil, fmt.Errorf("open api token of instance %d: %w", in.ID, err)
		}
		out = append(out, Synced{Instance: in, Token: tok})
	}
	return out, nil
}

// openToken opens a sealed api_token column; "" (no token) stays "".
func (s *Store) openToken(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	plain, err := s.sealer.Open(sealed)
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

// ResealAll re-encrypts every stored API token, opening each with open and
// sealing it with seal, in one transaction: after a key rotation either all
// tokens are under the new key or, on error, none changed. It returns how
// many tokens it resealed.
//
//	n, err := store.ResealAll(ctx, oldAndNew.Open, newOnly.Seal)
func (s *Store) ResealAll(ctx context.Context, open func(string) ([]byte, error), seal func([]byte) (string, error)) (n int, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("reseal tokens: %w", err)
	}
	defer tx.Rollback()

	type row struct {
		id     int64
		sealed string
	}
	var todo []row
	rows, err := tx.QueryContext(ctx, `SELECT id, api_token FROM controllers WHERE api_token <> '' ORDER BY id`+s.db.ForUpdate())
	if err != nil {
		return 0, fmt.Errorf("reseal tokens: %w", err)
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.sealed); err != nil {
			rows.Close()
			return 0, fmt.Errorf("reseal tokens: %w", err)
		}
		todo = append(todo, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("reseal tokens: %w", err)
	}

	update := s.db.Rebind(`UPDATE controllers SET api_token = ? WHERE id = ?`)
	for _, r := range todo {
		plain, err := open(r.sealed)
		if err != nil {
			return 0, fmt.Errorf("reseal token of instance %d: %w", r.id, err)
		}
		sealed, err := seal(plain)
		clear(plain)
		if err != nil {
			return 0, fmt.Errorf("reseal token of instance %d: %w", r.id, err)
		}
		if _, err := tx.ExecContext(ctx, update, sealed, r.id); err != nil {
			return 0, fmt.Errorf("reseal token of instance %d: %w", r.id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("reseal tokens: %w", err)
	}
	return len(todo), nil
}
