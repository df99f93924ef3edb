package workerapi

import (
	"crypto/sha256"
	"sync"
	"time"
)

// replayShards splits the replay cache so that concurrent requests rarely
// wait on one another's lock.
const replayShards = 64

// replayCache remembers the jti of every token accepted until that token
// expires, so a token is accepted once. Memory is bounded by the token
// lifetime (an entry lives until its token's exp plus the leeway, at most
// MaxTokenLifetime) and by a hard cap on entries.
type replayCache struct {
	perShard int
	shards   [replayShards]replayShard
}

type replayShard struct {
	mu        sync.Mutex
	seen      map[[16]byte]time.Time // key → until when it is remembered
	nextSweep time.Time
}

func newReplayCache(maxEntries int) *replayCache {
	c := &replayCache{perShard: max(1, maxEntries/replayShards)}
	for i := range c.shards {
		c.shards[i].seen = map[[16]byte]time.Time{}
	}
	return c
}

// replayKey is what the cache keeps of a token: a hash of its cluster and
// jti (jti are unique per issuer, and each cluster is one), fixed in size
// however long the jti.
func replayKey(cluster, jti string) [16]byte {
	h := sha256.New()
	h.Write([]byte(cluster))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var k [16]byte
	copy(k[:], h.Sum(nil))
	return k
}

// replayOutcome is what firstUse found.
type replayOutcome int

const (
	replayFirst  replayOutcome = iota // not seen: now remembered until the given time
	replaySeen                        // seen before, and not yet expired
	replayIsFull                      // not seen, but no room to remember it
)

// firstUse records key until until and reports whether it was new. Each
// shard sweeps its expired entries at most once a second, so a full cache
// costs one sweep a second, not one per request.
func (c *replayCache) firstUse(key [16]byte, until, now time.Time) replayOutcome {
	s := &c.shards[key[0]%replayShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.seen[key]; ok && now.Before(exp) {
		return replaySeen
	}
	if now.After(s.nextSweep) {
		for k, exp := range s.seen {
			if !now.Before(exp) {
				delete(s.seen, k)
			}
		}
		s.nextSweep = now.Add(time.Second)
	}
	if len(s.seen) >= c.perShard {
		return replayIsFull
	}
	s.seen[key] = until
	return replayFirst
}

// size counts the entries remembered (expired ones not yet swept included).
func (c *replayCache) size() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.seen)
		s.mu.Unlock()
	}
	return n
}
