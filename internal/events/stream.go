package events

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ErrNoLogs is a folder or prefix without log files: most likely the wrong place.
var ErrNoLogs = errors.New("no CloudTrail log files (*.json, *.json.gz) under it")

// LogFile is one CloudTrail log file wherever it lives.
type LogFile struct {
	// Name is the path or s3:// URL, for messages.
	Name string
	// Delivered is the time in CloudTrail's file name (…_20240730T2155Z_…), zero when the name has
	// none: the order files are read in.
	Delivered time.Time
	Open      func(ctx context.Context) (io.ReadCloser, error)
}

// deliveredPattern finds the delivery time in CloudTrail's file name,
// <account>_CloudTrail_<region>_<yyyymmdd>T<hhmm>Z_<unique>.json.gz.
var deliveredPattern = regexp.MustCompile(`_CloudTrail_[a-z0-9-]+_([0-9]{8}T[0-9]{4}Z)_`)

// DeliveredTime is the delivery time in a CloudTrail log file name, zero when it has none.
func DeliveredTime(name string) time.Time {
	m := deliveredPattern.FindStringSubmatch(filepath.Base(name))
	if m == nil {
		return time.Time{}
	}
	t, err := time.Parse("20060102T1504Z", m[1])
	if err != nil {
		return time.Time{}
	}
	return t
}

// isLogName says whether a file found in a folder or under a prefix is a CloudTrail log file.
// Digest and Insights files live beside the logs and have other shapes.
func isLogName(name string) bool {
	if strings.Contains(name, "CloudTrail-Digest") || strings.Contains(name, "CloudTrail-Insight") {
		return false
	}
	return strings.HasSuffix(name, ".json.gz") || strings.HasSuffix(name, ".json")
}

// LocalFiles lists path: the file itself, or every log file under the folder, recursively.
func LocalFiles(path string) ([]LogFile, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	open := func(p string) func(context.Context) (io.ReadCloser, error) {
		return func(context.Context) (io.ReadCloser, error) { return os.Open(p) }
	}
	if !info.IsDir() {
		return []LogFile{{Name: path, Delivered: DeliveredTime(path), Open: open(path)}}, nil
	}
	var files []LogFile
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && isLogName(p) {
			files = append(files, LogFile{Name: p, Delivered: DeliveredTime(p), Open: open(p)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrNoLogs)
	}
	return files, nil
}

// DefaultHorizon is how late an event may reach its log file, compared with the delivery time in
// the file name, and still be put in order. CloudTrail delivers within about 5 minutes on
// average, without a guarantee; an hour leaves ample room.
const DefaultHorizon = time.Hour

// StreamOptions tune Stream.
type StreamOptions struct {
	// Horizon: see DefaultHorizon. Zero means DefaultHorizon.
	Horizon time.Duration
	// Since drops events before it (audit --since-report reads only what the report missed).
	Since time.Time
}

// Stats say what a stream read.
type Stats struct {
	Files  int
	Events int
	// Late counts events that reached their file more than the horizon late and so were applied
	// after newer ones.
	Late int
	// MaxPending is the most events that waited in memory at once.
	MaxPending int
}

// Stream reads files in delivery order and calls fn with the events the state machine needs, in
// eventTime order. Files are read one at a time; only events of the last Horizon of deliveries
// wait in memory (in a heap) to be put in order, so memory is flat in the number of events.
// A bad file stops the stream with a *FileError that names the file, the record and, when the
// JSON says where, the line and column.
func Stream(ctx context.Context, files []LogFile, opts StreamOptions, fn func(Event) error) (Stats, error) {
	horizon := opts.Horizon
	if horizon <= 0 {
		horizon = DefaultHorizon
	}
	files = append([]LogFile(nil), files...)
	sort.SliceStable(files, func(i, j int) bool {
		if !files[i].Delivered.Equal(files[j].Delivered) {
			return files[i].Delivered.Before(files[j].Delivered)
		}
		return files[i].Name < files[j].Name
	})
	var (
		stats   Stats
		pending eventHeap
		seq     int
		last    time.Time
	)
	release := func(before time.Time, all bool) error {
		for pending.Len() > 0 && (all || pending.items[0].ev.Time.Before(before)) {
			ev := heap.Pop(&pending).(heapItem).ev
			if ev.Time.Before(last) {
				stats.Late++
			} else {
				last = ev.Time
			}
			stats.Events++
			if err := fn(ev); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		if !f.Delivered.IsZero() {
			if err := release(f.Delivered.Add(-horizon), false); err != nil {
				return stats, err
			}
		}
		if err := readFile(ctx, f, func(ev Event) error {
			if ev.Time.Before(opts.Since) {
				return nil
			}
			seq++
			heap.Push(&pending, heapItem{ev: ev, seq: seq})
			stats.MaxPending = max(stats.MaxPending, pending.Len())
			return nil
		}); err != nil {
			return stats, err
		}
		stats.Files++
	}
	return stats, release(time.Time{}, true)
}

func readFile(ctx context.Context, f LogFile, fn func(Event) error) error {
	rc, err := f.Open(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	off, err := readLog(rc, f.Name, fn)
	rc.Close()
	var fe *FileError
	if err == nil || !errors.As(err, &fe) || off < 0 {
		return err
	}
	if rc, oerr := f.Open(ctx); oerr == nil {
		fe.Line, fe.Column, _ = locate(rc, off)
		rc.Close()
	}
	return err
}

type heapItem struct {
	ev  Event
	seq int // read order breaks ties, so equal times keep the order they were read in
}

type eventHeap struct{ items []heapItem }

func (h *eventHeap) Len() int { return len(h.items) }
func (h *eventHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if !a.ev.Time.Equal(b.ev.Time) {
		return a.ev.Time.Before(b.ev.Time)
	}
	return a.seq < b.seq
}
func (h *eventHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *eventHeap) Push(x any)    { h.items = append(h.items, x.(heapItem)) }
func (h *eventHeap) Pop() any {
	n := len(h.items) - 1
	it := h.items[n]
	h.items = h.items[:n]
	return it
}
