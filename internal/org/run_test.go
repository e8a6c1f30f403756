package org

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/setupkeys/setupkeys"
)

func accountsN(n int) []Account {
	out := make([]Account, n)
	for i := range out {
		out[i] = Account{ID: fmt.Sprintf("%012d", 900000000000+int64(n-i)), Name: fmt.Sprintf("acct-%d", n-i)}
	}
	return out
}

func oneFinding(status setupkeys.Status) []setupkeys.Finding {
	return []setupkeys.Finding{{User: "alice", Status: status}}
}

func TestRunEveryAccountOneResult(t *testing.T) {
	accts := accountsN(30)
	boom := accts[3].ID
	panics := accts[7].ID
	partial := accts[11].ID
	var emitting atomic.Int32
	var emitted []setupkeys.AccountResult
	err := Run(context.Background(), accts, RunOptions{Concurrency: 4}, func(ctx context.Context, a Account) (setupkeys.AccountResult, error) {
		switch a.ID {
		case boom:
			return setupkeys.AccountResult{}, errors.New("AccessDenied: not authorized to perform sts:AssumeRole")
		case panics:
			var m map[string]int
			m["x"]++ // a nil map write: a real panic
		case partial:
			r := setupkeys.AccountResult{Findings: oneFinding(setupkeys.StatusFail)}
			r.Err = errors.New("throttled past retries")
			return r, r.Err
		}
		return setupkeys.AccountResult{Users: 5, Findings: oneFinding(setupkeys.StatusFail)}, nil
	}, func(r setupkeys.AccountResult) {
		if emitting.Add(1) != 1 {
			t.Error("emit called concurrently")
		}
		emitted = append(emitted, r)
		emitting.Add(-1)
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(emitted) != len(accts) {
		t.Fatalf("%d results for %d accounts", len(emitted), len(accts))
	}
	seen := map[string]bool{}
	names := map[string]string{}
	for _, a := range accts {
		names[a.ID] = a.Name
	}
	for _, r := range emitted {
		if seen[r.AccountID] {
			t.Errorf("account %s yielded twice", r.AccountID)
		}
		seen[r.AccountID] = true
		if r.AccountName != names[r.AccountID] {
			t.Errorf("account %s name %q, want %q", r.AccountID, r.AccountName, names[r.AccountID])
		}
		for _, f := range r.Findings {
			if f.AccountID != r.AccountID || f.AccountName != r.AccountName {
				t.Errorf("finding of %s filed under %s/%s", r.AccountID, f.AccountID, f.AccountName)
			}
		}
		switch r.AccountID {
		case boom:
			if r.Err == nil || !strings.Contains(r.Err.Error(), "AccessDenied") {
				t.Errorf("failing account: Err = %v", r.Err)
			}
		case panics:
			var pe *PanicError
			if !errors.As(r.Err, &pe) || !strings.Contains(r.Err.Error(), "panicked") || len(pe.Stack) == 0 {
				t.Errorf("panicking account: Err = %v", r.Err)
			}
		case partial:
			if r.Err == nil || len(r.Findings) != 1 {
				t.Errorf("partial account: Err = %v, %d findings; want the error and the finding made before it", r.Err, len(r.Findings))
			}
		default:
			if r.Err != nil || r.Users != 5 || len(r.Findings) != 1 {
				t.Errorf("account %s: %+v", r.AccountID, r)
			}
		}
	}
}

func TestCollectSorted(t *testing.T) {
	accts := accountsN(20)
	res, err := Collect(context.Background(), accts, RunOptions{Concurrency: 8}, func(ctx context.Context, a Account) (setupkeys.AccountResult, error) {
		// Finish in an order unrelated to the IDs.
		time.Sleep(time.Duration(len(a.Name)%3) * time.Millisecond)
		return setupkeys.AccountResult{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(res); i++ {
		if res[i-1].AccountID >= res[i].AccountID {
			t.Fatalf("not sorted at %d: %s then %s", i, res[i-1].AccountID, res[i].AccountID)
		}
	}
}

func TestRunConcurrencyBound(t *testing.T) {
	for _, limit := range []int{1, 3, 16} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			var now, peak atomic.Int32
			_, err := Collect(context.Background(), accountsN(60), RunOptions{Concurrency: limit}, func(ctx context.Context, a Account) (setupkeys.AccountResult, error) {
				n := now.Add(1)
				defer now.Add(-1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
				return setupkeys.AccountResult{}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := peak.Load(); got != int32(limit) {
				t.Errorf("at most %d accounts at once, want exactly the limit %d", got, limit)
			}
		})
	}
}

func TestRunDefaultConcurrency(t *testing.T) {
	var now, peak atomic.Int32
	release := make(chan struct{})
	go func() {
		for now.Load() < DefaultConcurrency {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
		close(release)
	}()
	_, err := Collect(context.Background(), accountsN(DefaultConcurrency+10), RunOptions{}, func(ctx context.Context, a Account) (setupkeys.AccountResult, error) {
		n := now.Add(1)
		defer now.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		return setupkeys.AccountResult{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := peak.Load(); got != DefaultConcurrency {
		t.Errorf("peak %d accounts at once, want DefaultConcurrency %d", got, DefaultConcurrency)
	}
}

func TestRunPerAccountTimeout(t *testing.T) {
	accts := accountsN(5)
	slow := accts[2].ID
	start := time.Now()
	res, err := Collect(context.Background(), accts, RunOptions{Concurrency: 5, PerAccountTimeout: 100 * time.Millisecond}, func(ctx context.Context, a Account) (setupkeys.AccountResult, error) {
		if a.ID == slow {
			<-ctx.Done() // a credential report that never completes
			return setupkeys.AccountResult{}, fmt.Errorf("waiting for the credential report: %w", ctx.Err())
		}
		return setupkeys.AccountResult{Users: 1}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
	for _, r := range res {
		if r.AccountID == slow {
			if r.Err == nil || !strings.Contains(r.Err.Error(), "timed out after 100ms") || !errors.Is(r.Err, context.DeadlineExceeded) {
				t.Errorf("slow account: Err = %v", r.Err)
			}
		} else if r.Err != nil || r.Users != 1 {
			t.Errorf("account %s: %+v", r.AccountID, r)
		}
	}
}

func TestRunAbandonsAnAuditThatIgnoresItsContext(t *testing.T) {
	accts := accountsN(3)
	stuck := accts[1].ID
	never := make(chan struct{})
	defer close(never)
	res, err := Collect(context.Background(), accts, RunOptions{PerAccountTimeout: 50 * time.Millisecond, abandonAfter: 50 * time.Millisecond},
		func(ctx context.Context, a Account) (setupkeys.AccountResult, error) {
			if a.ID == stuck {
				<-never
			}
			return setupkeys.AccountResult{}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if (r.AccountID == stuck) != (r.Err != nil) {
			t.Errorf("account %s: Err = %v", r.AccountID, r.Err)
		}
		if r.AccountID == stuck && !strings.Contains(r.Err.Error(), "did not stop") {
			t.Errorf("stuck account: Err = %v", r.Err)
		}
	}
}

func TestRunCancelled(t *testing.T) {
	accts := accountsN(40)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var started atomic.Int32
	var mu sync.Mutex
	var results []setupkeys.AccountResult
	err := Run(ctx, accts, RunOptions{Concurrency: 2}, func(ctx context.Context, a Account) (setupkeys.AccountResult, error) {
		if started.Add(1) == 5 {
			cancel() // Ctrl-C while the fifth account is being audited
		}
		select {
		case <-ctx.Done():
			return setupkeys.AccountResult{}, ctx.Err()
		case <-time.After(time.Millisecond):
			return setupkeys.AccountResult{}, nil
		}
	}, func(r setupkeys.AccountResult) {
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if len(results) != len(accts) {
		t.Fatalf("%d results for %d accounts", len(results), len(accts))
	}
	cancelled := 0
	for _, r := range results {
		if errors.Is(r.Err, ErrCancelled) {
			cancelled++
			if !strings.HasPrefix(r.Err.Error(), "cancelled") {
				t.Errorf("Err = %q, want it to start with cancelled", r.Err)
			}
		} else if r.Err != nil {
			t.Errorf("account %s: Err = %v", r.AccountID, r.Err)
		}
	}
	if cancelled < len(accts)-6 {
		t.Errorf("%d accounts cancelled, want at least %d", cancelled, len(accts)-6)
	}
	if n := started.Load(); n > 6 {
		t.Errorf("%d audits started; the cancellation should stop new ones", n)
	}
}

func TestRunWrongAccount(t *testing.T) {
	accts := []Account{{ID: "111111111111"}, {ID: "222222222222"}}
	res, _ := Collect(context.Background(), accts, RunOptions{}, func(ctx context.Context, a Account) (setupkeys.AccountResult, error) {
		// A role ARN template that always lands in the same account.
		return setupkeys.AccountResult{AccountID: "111111111111", Findings: oneFinding(setupkeys.StatusFail)}, nil
	})
	if res[0].Err != nil || len(res[0].Findings) != 1 {
		t.Errorf("right account: %+v", res[0])
	}
	if res[1].Err == nil || !strings.Contains(res[1].Err.Error(), "read account 111111111111") || len(res[1].Findings) != 0 {
		t.Errorf("wrong account: Err = %v, findings %d", res[1].Err, len(res[1].Findings))
	}
}

func TestRunNoAccounts(t *testing.T) {
	var p recorder
	err := Run(context.Background(), nil, RunOptions{Progress: &p}, func(context.Context, Account) (setupkeys.AccountResult, error) {
		t.Error("audit called")
		return setupkeys.AccountResult{}, nil
	}, nil)
	if err != nil || p.events != "start(0) finish" {
		t.Errorf("err %v, progress %q", err, p.events)
	}
}

func TestRunProgressEvents(t *testing.T) {
	var p recorder
	accts := accountsN(3)
	_, err := Collect(context.Background(), accts, RunOptions{Progress: &p, Concurrency: 1}, func(ctx context.Context, a Account) (setupkeys.AccountResult, error) {
		return setupkeys.AccountResult{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "start(3) done(" + accts[0].ID + ") done(" + accts[1].ID + ") done(" + accts[2].ID + ") finish"
	if p.events != want {
		t.Errorf("progress %q, want %q", p.events, want)
	}
}

type recorder struct{ events string }

func (r *recorder) add(s string) {
	if r.events != "" {
		r.events += " "
	}
	r.events += s
}
func (r *recorder) Start(total int)                       { r.add(fmt.Sprintf("start(%d)", total)) }
func (r *recorder) AccountDone(a setupkeys.AccountResult) { r.add("done(" + a.AccountID + ")") }
func (r *recorder) Finish()                               { r.add("finish") }
