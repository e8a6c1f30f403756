// Package reportgen writes synthetic credential reports in AWS's exact format, for benchmarks and
// scale tests. The mix is deterministic for a seed.
package reportgen

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"time"
)

// Header is the credential report's 22 columns in AWS's order.
const Header = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated"

const awsTime = "2006-01-02T15:04:05+00:00"

// Write writes a report of a root row plus users users for account to w. Four in five users have
// a console password; about one console user in eight carries a setup key never used (slot 1 or
// 2); the rest hold used setup keys, later keys, inactive keys or none.
func Write(w io.Writer, account string, users int, seed int64) error {
	bw := bufio.NewWriterSize(w, 64*1024)
	rng := rand.New(rand.NewSource(seed))
	base := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	fmt.Fprintln(bw, Header)
	fmt.Fprintf(bw, "<root_account>,arn:aws:iam::%s:root,%s,not_supported,%s,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n",
		account, base.Format(awsTime), base.Add(24*time.Hour).Format(awsTime))
	for i := 0; i < users; i++ {
		created := base.Add(time.Duration(rng.Int63n(int64(9 * 365 * 24 * time.Hour)))).Truncate(time.Second)
		console := rng.Intn(10) < 8
		name := fmt.Sprintf("user-%05d", i)
		pw, pwUsed, pwChanged := "false", "N/A", "N/A"
		if console {
			pw, pwUsed, pwChanged = "true", created.Add(48*time.Hour).Format(awsTime), created.Format(awsTime)
		}
		fmt.Fprintf(bw, "%s,arn:aws:iam::%s:user/staff/%s,%s,%s,%s,%s,N/A,%t,", name, account, name, created.Format(awsTime), pw, pwUsed, pwChanged, rng.Intn(2) == 0)
		writeKey(bw, rng, created, slot1Weights)
		bw.WriteByte(',')
		writeKey(bw, rng, created, slot2Weights)
		bw.WriteString(",false,N/A,false,N/A\n")
	}
	return bw.Flush()
}

// Weights, in percent, of: no key, setup key never used, setup key used, later key, inactive
// setup key.
var (
	slot1Weights = [5]int{30, 10, 25, 25, 10}
	slot2Weights = [5]int{70, 3, 10, 15, 2}
)

func pick(rng *rand.Rand, weights [5]int) int {
	n := rng.Intn(100)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return 0
}

func writeKey(w *bufio.Writer, rng *rand.Rand, userCreated time.Time, weights [5]int) {
	switch pick(rng, weights) {
	case 0: // no key
		w.WriteString("false,N/A,N/A,N/A,N/A")
	case 1: // setup key, never used
		fmt.Fprintf(w, "true,%s,N/A,N/A,N/A", userCreated.Add(time.Duration(rng.Intn(300))*time.Second).Format(awsTime))
	case 2: // setup key, used
		fmt.Fprintf(w, "true,%s,%s,us-east-1,s3", userCreated.Add(time.Duration(rng.Intn(300))*time.Second).Format(awsTime), userCreated.Add(72*time.Hour).Truncate(time.Minute).Format(awsTime))
	case 3: // later key
		fmt.Fprintf(w, "true,%s,N/A,N/A,N/A", userCreated.Add(30*24*time.Hour).Format(awsTime))
	default: // inactive setup key
		fmt.Fprintf(w, "false,%s,N/A,N/A,N/A", userCreated.Add(5*time.Second).Format(awsTime))
	}
}
