package cli

import (
	"context"
	"errors"

	"github.com/setupkeys/setupkeys"
	"github.com/setupkeys/setupkeys/internal/source"
)

func auditLive(ctx context.Context, flags SourceFlags, opts source.Options) (setupkeys.AccountResult, error) {
	return setupkeys.AccountResult{}, errors.New("live audit: not wired yet")
}
