package events

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/setupkeys/setupkeys/internal/testenv/trailgen"
)

// pagingS3 serves objects two keys a page: moto would return them all in one page, so the
// paginator's second call would go untested.
type pagingS3 struct {
	keys    []string
	objects map[string][]byte
	lists   int
}

func (p *pagingS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	p.lists++
	start := 0
	if in.ContinuationToken != nil {
		start, _ = strconv.Atoi(*in.ContinuationToken)
	}
	end := min(start+2, len(p.keys))
	out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(end < len(p.keys))}
	for _, k := range p.keys[start:end] {
		out.Contents = append(out.Contents, types.Object{Key: aws.String(k)})
	}
	if end < len(p.keys) {
		out.NextContinuationToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (p *pagingS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(p.objects[*in.Key]))}, nil
}

func TestS3FilesPages(t *testing.T) {
	api := &pagingS3{objects: trailgen.ScenarioObjects()}
	for k := range api.objects {
		api.keys = append(api.keys, k)
	}
	api.keys = append(api.keys, "AWSLogs/123456789012/CloudTrail-Digest/x.json.gz")
	files, err := S3Files(context.Background(), api, "b", "AWSLogs/")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 || api.lists != 3 {
		t.Fatalf("%d files in %d pages, want 4 files (the digest skipped) in 3 pages", len(files), api.lists)
	}
	results, _, err := run(t, files, StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses(results); got["alice AKIAEXAMPLEALICEKEY1"] != "pending" || len(got) != 4 {
		t.Errorf("findings %v", got)
	}
}

func TestParseS3URL(t *testing.T) {
	for in, want := range map[string]string{"s3://b/AWSLogs/": "b AWSLogs/", "s3://b": "b ", "s3:/b": "", "http://b/x": "", "s3:///x": ""} {
		b, p, err := ParseS3URL(in)
		got := b + " " + p
		if err != nil {
			got = ""
		}
		if got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}
