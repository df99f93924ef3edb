package workerapi

import (
	"context"
	"crypto"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/jenkinds/jenkinds/internal/buildcluster"
)

// maxCachedClusters bounds the key cache: names asked for that are not
// registered are cached too (so a flood of made-up names costs one query a
// name and TTL), and past this many entries the cache starts over.
const maxCachedClusters = 10_000

// verifyKey is one public key ready for a JWT verifier.
type verifyKey struct {
	kid, alg string
	key      crypto.PublicKey
}

// clusterKeys is what authentication needs of a cluster name: whether it
// is registered, whether it is active, and the keys its workers sign with.
type clusterKeys struct {
	known  bool
	active bool
	// keys are those of the active records when one is active, else those
	// of the inactive ones (which then only ever earn a 403): a retired
	// record's old key never authenticates beside an active record.
	keys   []verifyKey
	loaded time.Time
}

// withKID returns the keys of kid.
func (c *clusterKeys) withKID(kid string) []verifyKey {
	var out []verifyKey
	for _, k := range c.keys {
		if k.kid == kid {
			out = append(out, k)
		}
	}
	return out
}

// keyring caches each cluster's keys for ttl, reading the registry at most
// once per name and ttl however many requests ask at once.
type keyring struct {
	clusters buildcluster.Lister
	ttl      time.Duration
	now      func() time.Time
	group    singleflight.Group

	mu      sync.Mutex
	entries map[string]*clusterKeys
	parsed  map[buildcluster.PublicKey]crypto.PublicKey // PEMs parse once
}

func newKeyring(clusters buildcluster.Lister, ttl time.Duration, now func() time.Time) *keyring {
	return &keyring{clusters: clusters, ttl: ttl, now: now,
		entries: map[string]*clusterKeys{}, parsed: map[buildcluster.PublicKey]crypto.PublicKey{}}
}

// lookup returns the keys of the cluster called name (every scmContext's
// records of that name: they are one cluster and one queue).
func (r *keyring) lookup(ctx context.Context, name string) (*clusterKeys, error) {
	if r.ttl >= 0 {
		r.mu.Lock()
		e, ok := r.entries[name]
		r.mu.Unlock()
		if ok && r.now().Sub(e.loaded) < r.ttl {
			return e, nil
		}
	}
	// One caller going away must not fail the others waiting on the same read.
	v, err, _ := r.group.Do(name, func() (any, error) { return r.load(context.WithoutCancel(ctx), name) })
	if err != nil {
		return nil, err
	}
	return v.(*clusterKeys), nil
}

func (r *keyring) load(ctx context.Context, name string) (*clusterKeys, error) {
	records, err := r.clusters.List(ctx, buildcluster.ListFilter{Name: name})
	if err != nil {
		return nil, fmt.Errorf("read keys of build cluster %q: %w", name, err)
	}
	e := &clusterKeys{known: len(records) > 0, loaded: r.now()}
	for _, c := range records {
		e.active = e.active || c.IsActive
	}
	for _, c := range records {
		if c.IsActive != e.active {
			continue
		}
		for _, k := range c.PublicKeys {
			key, err := r.parse(k)
			if err != nil {
				// Stored keys were validated on the way in; one that no
				// longer parses verifies nothing, and the others still work.
				continue
			}
			e.keys = append(e.keys, verifyKey{kid: k.KID, alg: k.Algorithm, key: key})
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) >= maxCachedClusters {
		clear(r.entries)
	}
	r.entries[name] = e
	return e, nil
}

// parse returns k's key, parsing its PEM the first time it is seen.
func (r *keyring) parse(k buildcluster.PublicKey) (crypto.PublicKey, error) {
	r.mu.Lock()
	key, ok := r.parsed[k]
	r.mu.Unlock()
	if ok {
		return key, nil
	}
	key, err := k.CryptoKey()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.parsed) >= maxCachedClusters {
		clear(r.parsed)
	}
	r.parsed[k] = key
	return key, nil
}
