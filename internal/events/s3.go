package events

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/setupkeys/setupkeys/internal/awscall"
)

// S3API is what reading logs from S3 needs.
type S3API interface {
	s3.ListObjectsV2APIClient
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// ParseS3URL splits s3://BUCKET/PREFIX.
func ParseS3URL(s string) (bucket, prefix string, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return "", "", fmt.Errorf("%q: want s3://BUCKET/PREFIX", s)
	}
	return u.Host, strings.TrimPrefix(u.Path, "/"), nil
}

// S3Files lists the CloudTrail log files under s3://bucket/prefix, every page, in CloudTrail's
// AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/ layout or any other: every *.json.gz
// and *.json object outside the digest and Insights folders. Memory grows with the number of
// files (a name and a time each), not of events.
func S3Files(ctx context.Context, api S3API, bucket, prefix string) ([]LogFile, error) {
	var files []LogFile
	p := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, awscall.Error("s3", "ListObjectsV2", "s3://"+bucket+"/"+prefix, err)
		}
		for _, o := range out.Contents {
			key := aws.ToString(o.Key)
			if !isLogName(key) {
				continue
			}
			files = append(files, LogFile{
				Name:      "s3://" + bucket + "/" + key,
				Delivered: DeliveredTime(key),
				Open: func(ctx context.Context) (io.ReadCloser, error) {
					out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
					if err != nil {
						return nil, awscall.Error("s3", "GetObject", "", err)
					}
					return out.Body, nil
				},
			})
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("s3://%s/%s: %w", bucket, prefix, ErrNoLogs)
	}
	return files, nil
}
