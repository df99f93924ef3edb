package jenkins

import (
	"io"
	"sync"
)

// OnClose returns body with f called once, after body is closed: the end
// of a response's life, when what the request held (a slot of a
// controller's load, a context) can be let go.
func OnClose(body io.ReadCloser, f func()) io.ReadCloser {
	return &closeHook{ReadCloser: body, f: f}
}

type closeHook struct {
	io.ReadCloser
	once sync.Once
	f    func()
}

func (b *closeHook) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.f)
	return err
}
