package report

import (
	"bytes"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	schemaMu    sync.Mutex
	schemaCache = map[string]*jsonschema.Schema{}
)

// validateSchema checks data against the JSON Schema file at path, with formats asserted.
func validateSchema(t *testing.T, path string, data []byte) {
	t.Helper()
	schemaMu.Lock()
	sch, ok := schemaCache[path]
	if !ok {
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		var err error
		if sch, err = c.Compile(path); err != nil {
			schemaMu.Unlock()
			t.Fatalf("compiling %s: %v", path, err)
		}
		schemaCache[path] = sch
	}
	schemaMu.Unlock()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("output does not validate against %s:\n%v", path, err)
	}
}
