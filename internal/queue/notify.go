package queue

import "sync"

// Notifier tells LeaseWait callers that a cluster may have work. It is a
// hint, never the only way work is found: LeaseWait also polls, so a lost
// or late notification delays a job by at most PollInterval.
type Notifier interface {
	// Notify wakes every current waiter of cluster.
	Notify(cluster string)
	// Wait returns a channel that is closed at the next Notify of
	// cluster after the call.
	Wait(cluster string) <-chan struct{}
}

// LocalNotifier is the in-process Notifier: one channel per cluster,
// closed (and replaced) by Notify, so a notification wakes all waiters at
// once and costs nothing when nobody waits. It reaches the workers
// long-polling this process only; another replica's enqueues reach them
// through the fallback poll (a PostgreSQL LISTEN/NOTIFY Notifier would
// close that gap).
type LocalNotifier struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
}

var _ Notifier = (*LocalNotifier)(nil)

// NewNotifier returns an in-process Notifier.
func NewNotifier() *LocalNotifier {
	return &LocalNotifier{waiting: map[string]chan struct{}{}}
}

func (n *LocalNotifier) Wait(cluster string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	ch, ok := n.waiting[cluster]
	if !ok {
		ch = make(chan struct{})
		n.waiting[cluster] = ch
	}
	return ch
}

func (n *LocalNotifier) Notify(cluster string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ch, ok := n.waiting[cluster]; ok {
		close(ch)
		delete(n.waiting, cluster)
	}
}
