// Package benchkit holds what the benchmark programs share: starting and
// watching server processes, a latency histogram, and the bare webhook
// handler that serves as the ceiling.
package benchkit
