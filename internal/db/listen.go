package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// listenPing is how long a listening connection may stay silent before
// Listen pings it, so that a connection that died without a word (a
// server gone, a network cut) is noticed and replaced.
const listenPing = 30 * time.Second

// Listen delivers the payloads of the PostgreSQL notifications on channel
// (NOTIFY, or pg_notify(channel, payload) in a transaction that commits)
// until ctx ends, then closes the returned channel. It listens on a
// connection of its own, outside the pool, and reconnects by itself when
// that connection breaks, backing off from 100ms to 5s.
//
// An empty string means "notifications may have been missed: re-read what
// you follow". Listen sends one as soon as LISTEN is in place, after it
// returns, and again after every reconnect. Payloads are delivered in
// order; while the reader is busy delivery waits, and the server queues
// the notifications meanwhile. Notifications are per database: handles on
// other schemas of the same database hear them too.
//
// On SQLite, a single replica's database, there is no one to hear from:
// Listen returns a nil channel, which never delivers, and no error. The
// first connection's error is returned; later ones are retried.
func (d *DB) Listen(ctx context.Context, channel string) (<-chan string, error) {
	if d.Dialect != Postgres {
		return nil, nil
	}
	if channel == "" {
		return nil, errors.New("listen: the channel name is empty")
	}
	conn, err := d.listenConn(ctx, channel)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", channel, err)
	}
	out := make(chan string)
	go d.listen(ctx, channel, conn, out)
	return out, nil
}

// listenConn opens a connection and listens on channel.
func (d *DB) listenConn(ctx context.Context, channel string) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, d.pgConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// listen delivers conn's notifications to out, replacing conn when it
// breaks, until ctx ends.
func (d *DB) listen(ctx context.Context, channel string, conn *pgx.Conn, out chan<- string) {
	defer close(out)
	for {
		if send(ctx, out, "") {
			deliver(ctx, conn, out)
		}
		closeConn(conn)
		for attempt := 0; ; attempt++ {
			if !sleep(ctx, listenBackoff(attempt)) {
				return
			}
			var err error
			if conn, err = d.listenConn(ctx, channel); err == nil {
				break
			}
		}
	}
}

// deliver sends conn's notifications to out until conn breaks or ctx ends.
func deliver(ctx context.Context, conn *pgx.Conn, out chan<- string) {
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			if !send(ctx, out, n.Payload) {
				return
			}
		case pgconn.Timeout(err): // silent for a while: is it still there?
			pctx, cancel := context.WithTimeout(ctx, listenPing)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		default:
			return
		}
	}
}

// listenBackoff is how long Listen waits before reconnect attempt n (0
// first): 100ms, doubling, at most 5s.
func listenBackoff(n int) time.Duration {
	return min(100*time.Millisecond<<min(n, 6), 5*time.Second)
}

func send(ctx context.Context, out chan<- string, payload string) bool {
	select {
	case out <- payload:
		return true
	case <-ctx.Done():
		return false
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// closeConn closes conn, bounded: it may be broken.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}
