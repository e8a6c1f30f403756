package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/setupkeys/setupkeys/internal/testenv/lambdart"
	"github.com/setupkeys/setupkeys/internal/testenv/moto"
	"github.com/setupkeys/setupkeys/internal/testenv/trailgen"
	"github.com/setupkeys/setupkeys/internal/watch"
)

func TestMain(m *testing.M) { moto.Main(m) }

var build struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// bootstrap builds the function as it is deployed (-tags lambda.norpc, named bootstrap), for
// this machine's OS and architecture so the test can run it (the deployed build is linux/arm64).
func bootstrap(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "setupkeys-lambda-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "bootstrap")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-tags", "lambda.norpc", "-o", build.path, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
		build.out, build.err = cmd.CombinedOutput()
	})
	if build.err != nil {
		t.Fatalf("go build: %v\n%s", build.err, build.out)
	}
	return build.path
}

// function is the built binary running under the fake Runtime API with moto behind it.
type function struct {
	rt     *lambdart.Runtime
	stdout *bytes.Buffer
	mu     *sync.Mutex
}

func (f *function) journal() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stdout.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func start(t *testing.T, srv *moto.Server, env ...string) *function {
	t.Helper()
	rt := lambdart.Start(t)
	f := &function{rt: rt, stdout: &bytes.Buffer{}, mu: &sync.Mutex{}}
	cmd := exec.Command(bootstrap(t))
	cmd.Env = append(append(os.Environ(), srv.Env(t, moto.DefaultAccountID)...),
		"AWS_LAMBDA_RUNTIME_API="+rt.Addr,
		"AWS_LAMBDA_FUNCTION_NAME=setupkeys",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/setupkeys",
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout = lockedWriter{f.mu, f.stdout}
	cmd.Stderr = lockedWriter{f.mu, f.stdout}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("function output:\n%s", f.journal())
		}
	})
	return f
}

func keyStatus(t *testing.T, cfg aws.Config, user, id string) iamtypes.StatusType {
	out, err := iam.NewFromConfig(cfg).ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range out.AccessKeyMetadata {
		if *k.AccessKeyId == id {
			return k.Status
		}
	}
	return "gone"
}

const invokeTimeout = 60 * time.Second

func TestBinaryReportMode(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	topic, queue := moto.CreateTopicWithQueue(t, cfg, "setupkeys-findings")
	moto.CreateTable(t, cfg, "setupkeys-dedupe")
	moto.CreateConsoleUser(t, cfg, "alice")
	k := moto.CreateAccessKey(t, cfg, "alice")
	event := trailgen.EventBridge(trailgen.CreateAccessKey("alice", *k.AccessKeyId, k.CreateDate.UTC()))

	fn := start(t, srv, watch.EnvTopicARN+"="+topic, watch.EnvDedupeTable+"=setupkeys-dedupe")
	for i := 0; i < 2; i++ { // the same event twice acts once
		res := fn.rt.Invoke(t, event, invokeTimeout)
		if res.Failed() {
			t.Fatalf("invocation %d failed: %s: %s", i, res.ErrorType, res.ErrorMessage)
		}
	}
	_, messages := moto.ReceiveSNS(t, cfg, queue, 5*time.Second)
	if len(messages) != 1 {
		t.Fatalf("%d messages on the topic, want 1: %v", len(messages), messages)
	}
	var msg watch.Message
	if err := json.Unmarshal([]byte(messages[0]), &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Finding.AccessKeyID == nil || *msg.Finding.AccessKeyID != *k.AccessKeyId || msg.Finding.Status != "fail" || !strings.Contains(msg.Summary, *k.AccessKeyId) {
		t.Errorf("message %+v", msg)
	}
	if keyStatus(t, cfg, "alice", *k.AccessKeyId) != iamtypes.StatusTypeActive {
		t.Error("report mode changed the key")
	}
	if !strings.Contains(fn.journal(), `"action":"publish","outcome":"done"`) {
		t.Errorf("journal:\n%s", fn.journal())
	}
}

func TestBinaryDeactivateMode(t *testing.T) {
	srv := moto.Shared(t)
	cfg := srv.Config(t, moto.DefaultAccountID)
	moto.CreateConsoleUser(t, cfg, "alice")
	k := moto.CreateAccessKey(t, cfg, "alice")
	// bob's key comes five hours after bob: not a setup key, left alone.
	srv.InPast(t, 5*time.Hour, func() { moto.CreateConsoleUser(t, cfg, "bob") })
	late := moto.CreateAccessKey(t, cfg, "bob")

	fn := start(t, srv, watch.EnvAction+"=deactivate", watch.EnvGrace+"=0")
	event := trailgen.EventBridge(trailgen.CreateAccessKey("alice", *k.AccessKeyId, k.CreateDate.UTC()))
	for i := 0; i < 2; i++ {
		if res := fn.rt.Invoke(t, event, invokeTimeout); res.Failed() {
			t.Fatalf("invocation %d failed: %s", i, res.ErrorMessage)
		}
	}
	if got := keyStatus(t, cfg, "alice", *k.AccessKeyId); got != iamtypes.StatusTypeInactive {
		t.Errorf("alice's setup key is %s, want Inactive", got)
	}
	if n := strings.Count(fn.journal(), `"action":"deactivate","outcome":"done"`); n != 1 {
		t.Errorf("%d deactivations journalled for a repeated event, want 1:\n%s", n, fn.journal())
	}
	res := fn.rt.Invoke(t, trailgen.EventBridge(trailgen.CreateAccessKey("bob", *late.AccessKeyId, late.CreateDate.UTC())), invokeTimeout)
	if res.Failed() {
		t.Fatal(res.ErrorMessage)
	}
	if got := keyStatus(t, cfg, "bob", *late.AccessKeyId); got != iamtypes.StatusTypeActive {
		t.Errorf("bob's key made 5h after him is %s, want Active", got)
	}
	// A broken event is an error to the runtime (retried, then the dead-letter queue), not a success.
	bad := trailgen.CreateAccessKey("carol", "AKIAEXAMPLEBROKEN001", time.Now())
	delete(bad["responseElements"].(trailgen.Record)["accessKey"].(trailgen.Record), "accessKeyId")
	if res := fn.rt.Invoke(t, trailgen.EventBridge(bad), invokeTimeout); !res.Failed() || !strings.Contains(res.ErrorMessage, "accessKeyId") {
		t.Errorf("broken event: %+v, want an error naming what is missing", res)
	}
}

// A configuration error stops the function at start-up, visibly.
func TestBinaryBadConfig(t *testing.T) {
	srv := moto.Shared(t)
	rt := lambdart.Start(t)
	cmd := exec.Command(bootstrap(t))
	cmd.Env = append(append(os.Environ(), srv.Env(t, moto.DefaultAccountID)...), "AWS_LAMBDA_RUNTIME_API="+rt.Addr, watch.EnvAction+"=delete")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "SETUPKEYS_ACTION") {
		t.Errorf("err %v, output %s", err, out)
	}
}
