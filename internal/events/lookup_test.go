package events

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"

	"github.com/setupkeys/setupkeys/internal/testenv/trailgen"
)

// lookupFake answers LookupEvents newest first, two events a page, as CloudTrail does (moto does
// not serve LookupEvents usefully).
type lookupFake struct {
	records []trailgen.Record // oldest first
	calls   int
	inputs  []*cloudtrail.LookupEventsInput
}

func (f *lookupFake) LookupEvents(_ context.Context, in *cloudtrail.LookupEventsInput, _ ...func(*cloudtrail.Options)) (*cloudtrail.LookupEventsOutput, error) {
	f.calls++
	f.inputs = append(f.inputs, in)
	start := 0
	if in.NextToken != nil {
		start, _ = strconv.Atoi(*in.NextToken)
	}
	out := &cloudtrail.LookupEventsOutput{}
	for i := start; i < start+2 && i < len(f.records); i++ {
		r := f.records[len(f.records)-1-i]
		out.Events = append(out.Events, cttypes.Event{CloudTrailEvent: aws.String(string(trailgen.JSON(r)))})
	}
	if start+2 < len(f.records) {
		out.NextToken = aws.String(strconv.Itoa(start + 2))
	}
	return out, nil
}

func TestLookupIAM(t *testing.T) {
	since := trailgen.At(50, 0)
	api := &lookupFake{records: []trailgen.Record{
		trailgen.CreateUser("alice", trailgen.At(53, 12)), trailgen.CreateLoginProfile("alice", trailgen.At(53, 12)),
		trailgen.CreateAccessKey("alice", "AKIAEXAMPLEALICEKEY1", trailgen.At(53, 13)),
		trailgen.CreateUser("bob", trailgen.At(54, 0)), trailgen.CreateLoginProfile("bob", trailgen.At(54, 0)),
		trailgen.CreateAccessKey("bob", "AKIAEXAMPLEBOBKEY001", trailgen.At(54, 5)),
		trailgen.KeyCall(UpdateAccessKey, "bob", "AKIAEXAMPLEBOBKEY001", "Inactive", trailgen.At(56, 0)),
	}}
	tr := NewTracker(10 * time.Minute)
	var last time.Time
	n, err := LookupIAM(context.Background(), api, since, func(ev Event) {
		if ev.Time.Before(last) {
			t.Errorf("%s out of order", ev.Name)
		}
		last = ev.Time
		tr.Apply(ev)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 7 || api.calls != 4 {
		t.Errorf("%d events in %d pages, want 7 in 4", n, api.calls)
	}
	if got := *api.inputs[0].LookupAttributes[0].AttributeValue; got != IAMSource || !api.inputs[0].StartTime.Equal(since) {
		t.Errorf("lookup input %+v", api.inputs[0])
	}
	rows := tr.Rows()
	// Events of one second keep their order (alice's password counts); bob's key is deactivated.
	if len(rows) != 2 || rows[0].Name != "alice" || !rows[0].PasswordEnabled || !rows[0].Keys[0].Active || rows[1].Keys[0].Active {
		t.Errorf("rows %+v", rows)
	}
}
