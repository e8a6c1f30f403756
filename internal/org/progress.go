package org

import "github.com/setupkeys/setupkeys"

// Progress hears about a run (the CLI draws it; this package only reports): Start once with the number of accounts, AccountDone once per
// account as it finishes, Finish once at the end. Run calls it from one goroutine.
type Progress interface {
	Start(total int)
	AccountDone(r setupkeys.AccountResult)
	Finish()
}

// NoProgress is the Progress that shows nothing.
type NoProgress struct{}

func (NoProgress) Start(int)                           {}
func (NoProgress) AccountDone(setupkeys.AccountResult) {}
func (NoProgress) Finish()                             {}
