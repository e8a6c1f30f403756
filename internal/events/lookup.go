package events

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/setupkeys/setupkeys/internal/awscall"
)

// LookupAPI is CloudTrail's LookupEvents.
type LookupAPI interface {
	cloudtrail.LookupEventsAPIClient
}

// maxLookupEvents bounds what LookupIAM holds: LookupEvents answers newest first, so the events
// are gathered and sorted before they are applied. IAM events of a report's four hours are far
// fewer in any real account.
const maxLookupEvents = 200_000

// LookupIAM reads IAM's management events since since with cloudtrail:LookupEvents (every page,
// through the SDK's paginator; CloudTrail keeps 90 days) and calls fn with those the state
// machine needs, in eventTime order. Call it in us-east-1, where IAM's events are recorded.
func LookupIAM(ctx context.Context, api LookupAPI, since time.Time, fn func(Event)) (int, error) {
	in := &cloudtrail.LookupEventsInput{
		StartTime:        aws.Time(since),
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyEventSource, AttributeValue: aws.String(IAMSource)}},
	}
	var evs []Event
	p := cloudtrail.NewLookupEventsPaginator(api, in)
	for page := 0; p.HasMorePages(); page++ {
		out, err := p.NextPage(ctx)
		if err != nil {
			return 0, awscall.Error("cloudtrail", "LookupEvents", "", err)
		}
		for i, e := range out.Events {
			at := Position{File: fmt.Sprintf("LookupEvents page %d", page), Record: i}
			ev, keep, err := ParseRecord([]byte(aws.ToString(e.CloudTrailEvent)), at)
			if err != nil {
				return 0, err
			}
			if keep && !ev.Time.Before(since) {
				evs = append(evs, ev)
			}
			if len(evs) > maxLookupEvents {
				return 0, fmt.Errorf("cloudtrail LookupEvents: more than %d IAM events since %s: read the trail's log files instead (--cloudtrail)", maxLookupEvents, since.Format(time.RFC3339))
			}
		}
	}
	// Newest first, to the second: reverse, so calls of one second (CreateUser, then
	// CreateLoginProfile) keep the order they happened in, then sort.
	slices.Reverse(evs)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	for _, ev := range evs {
		fn(ev)
	}
	return len(evs), nil
}
