package main

import (
	"context"
	"database/sql/driver"
	"sync"
)

// A database/sql connector that remembers the statements run through it, so
// that the benchmark can EXPLAIN exactly the SQL storage.Store.Cases builds
// for the console (only the EXPLAIN store uses it; the timed store is the
// product's own).

type statement struct {
	query string
	args  []any
}

type recorder struct {
	mu   sync.Mutex
	last []statement
}

func (r *recorder) add(query string, args []driver.NamedValue) {
	s := statement{query: query}
	for _, a := range args {
		s.args = append(s.args, a.Value)
	}
	r.mu.Lock()
	r.last = append(r.last, s)
	r.mu.Unlock()
}

// take returns the statements recorded since the last take.
func (r *recorder) take() []statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.last
	r.last = nil
	return out
}

type recConnector struct {
	driver.Connector
	rec *recorder
}

func (c recConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return recConn{Conn: conn, rec: c.rec}, nil
}

type recConn struct {
	driver.Conn
	rec *recorder
}

func (c recConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.rec.add(query, args)
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	return q.QueryContext(ctx, query, args)
}

func (c recConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c recConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}
