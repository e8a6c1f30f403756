package report

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// ocsfSchema reads the OCSF schema's own source files (the dictionary, classes, objects and
// profiles of one release, as ocsf/ocsf-schema keeps them) and checks events against a class:
// required attributes present, no attribute outside the class or its applied profiles, enum
// values defined, captions matching their enum sibling, JSON types as the dictionary says, and
// the at-least-one constraints of objects.
type ocsfSchema struct {
	dir   string
	dict  map[string]ocsfDictAttr
	types map[string]struct {
		Type string `json:"type"`
	}
}

type ocsfDictAttr struct {
	Type    string                     `json:"type"`
	IsArray bool                       `json:"is_array"`
	Sibling string                     `json:"sibling"`
	Enum    map[string]json.RawMessage `json:"enum"`
}

// ocsfAttr is one attribute of a class or object after inheritance: its requirement, enum
// values, and the profile it comes from ("" when it is always part of the class).
type ocsfAttr struct {
	requirement string
	enum        map[string]string
	profile     string
	// fixed: the enum is the class's alone, not merged with the dictionary's.
	fixed bool
}

type ocsfDef struct {
	attrs       map[string]*ocsfAttr
	atLeastOne  []string
	profileName string
}

type ocsfFile struct {
	Name        string                     `json:"name"`
	Extends     string                     `json:"extends"`
	Meta        string                     `json:"meta"`
	Attributes  map[string]json.RawMessage `json:"attributes"`
	Constraints struct {
		AtLeastOne []string `json:"at_least_one"`
	} `json:"constraints"`
}

type ocsfFileAttr struct {
	Requirement *string                    `json:"requirement"`
	Enum        map[string]json.RawMessage `json:"enum"`
	Profile     json.RawMessage            `json:"profile"`
}

func loadOCSFSchema(t *testing.T, dir string) *ocsfSchema {
	t.Helper()
	var dict struct {
		Attributes map[string]ocsfDictAttr `json:"attributes"`
		Types      struct {
			Attributes map[string]struct {
				Type string `json:"type"`
			} `json:"attributes"`
		} `json:"types"`
	}
	readJSONFile(t, filepath.Join(dir, "dictionary.json"), &dict)
	return &ocsfSchema{dir: dir, dict: dict.Attributes, types: dict.Types.Attributes}
}

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("OCSF schema file missing (copy it from ocsf/ocsf-schema): %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// eventPaths locates the classes this test uses by name.
var ocsfEventPaths = map[string]string{
	"base_event":         "events/base_event.json",
	"finding":            "events/findings/finding.json",
	"compliance_finding": "events/findings/compliance_finding.json",
}

// class resolves a class and the identifiers the OCSF server computes for it: category_uid
// from categories.json, class_uid = category uid * 1000 + the class's uid, type_uid =
// class_uid * 100 + each activity_id, with their captions.
func (s *ocsfSchema) class(t *testing.T, name string) *ocsfDef {
	t.Helper()
	path, ok := ocsfEventPaths[name]
	if !ok {
		t.Fatalf("unknown OCSF class %s", name)
	}
	def := s.load(t, path, func(parent string) string { return ocsfEventPaths[parent] })
	var f struct {
		UID     int    `json:"uid"`
		Caption string `json:"caption"`
	}
	readJSONFile(t, filepath.Join(s.dir, path), &f)
	category := ""
	for p := path; p != "" && category == ""; {
		var g struct {
			Category string `json:"category"`
			Extends  string `json:"extends"`
		}
		readJSONFile(t, filepath.Join(s.dir, p), &g)
		category, p = g.Category, ocsfEventPaths[g.Extends]
	}
	var cats struct {
		Attributes map[string]struct {
			UID     int    `json:"uid"`
			Caption string `json:"caption"`
		} `json:"attributes"`
	}
	readJSONFile(t, filepath.Join(s.dir, "categories.json"), &cats)
	cat, ok := cats.Attributes[category]
	if !ok {
		t.Fatalf("%s: category %q not in categories.json", path, category)
	}
	classUID := cat.UID*1000 + f.UID
	def.attrs["category_uid"].enum = map[string]string{strconv.Itoa(cat.UID): cat.Caption}
	def.attrs["class_uid"].enum = map[string]string{strconv.Itoa(classUID): f.Caption}
	types := map[string]string{}
	for id, caption := range s.enumOf("activity_id", def.attrs["activity_id"]) {
		n, _ := strconv.Atoi(id)
		types[strconv.Itoa(classUID*100+n)] = f.Caption + ": " + caption
	}
	def.attrs["type_uid"].enum = types
	for _, n := range []string{"category_uid", "class_uid", "type_uid"} {
		def.attrs[n].fixed = true
	}
	return def
}

func (s *ocsfSchema) object(t *testing.T, name string) *ocsfDef {
	t.Helper()
	return s.load(t, "objects/"+name+".json", func(parent string) string { return "objects/" + parent + ".json" })
}

// load resolves a class or object file: its parent's attributes first, then its included
// profiles' (marked with the profile), then its own, each field overriding the one before.
func (s *ocsfSchema) load(t *testing.T, path string, parentPath func(string) string) *ocsfDef {
	t.Helper()
	var f ocsfFile
	readJSONFile(t, filepath.Join(s.dir, path), &f)
	def := &ocsfDef{attrs: map[string]*ocsfAttr{}, atLeastOne: f.Constraints.AtLeastOne}
	if f.Meta == "profile" {
		def.profileName = f.Name
	}
	if f.Extends != "" {
		parent := s.load(t, parentPath(f.Extends), parentPath)
		for k, v := range parent.attrs {
			c := *v
			c.enum = maps.Clone(v.enum)
			def.attrs[k] = &c
		}
		if def.atLeastOne == nil {
			def.atLeastOne = parent.atLeastOne
		}
	}
	if inc, ok := f.Attributes["$include"]; ok {
		var includes []string
		if err := json.Unmarshal(inc, &includes); err != nil {
			t.Fatalf("%s: $include: %v", path, err)
		}
		for _, p := range includes {
			prof := s.load(t, p, parentPath)
			for k, v := range prof.attrs {
				c := *v
				c.profile = prof.profileName
				s.merge(def, k, &c)
			}
		}
	}
	for name, raw := range f.Attributes {
		if name == "$include" {
			continue
		}
		var fa ocsfFileAttr
		if err := json.Unmarshal(raw, &fa); err != nil {
			t.Fatalf("%s: %s: %v", path, name, err)
		}
		a := def.attrs[name]
		if a == nil {
			a = &ocsfAttr{}
			def.attrs[name] = a
		}
		if fa.Requirement != nil {
			a.requirement = *fa.Requirement
		}
		if string(fa.Profile) == "null" {
			a.profile = ""
		}
		if fa.Enum != nil {
			if a.enum == nil {
				a.enum = map[string]string{}
			}
			for k, v := range fa.Enum {
				a.enum[k] = enumCaption(v)
			}
		}
	}
	return def
}

func (s *ocsfSchema) merge(def *ocsfDef, name string, a *ocsfAttr) {
	if old, ok := def.attrs[name]; ok && old.profile == "" {
		// Already a plain attribute of the class: the profile adds nothing.
		return
	}
	def.attrs[name] = a
}

func enumCaption(raw json.RawMessage) string {
	var e struct {
		Caption string `json:"caption"`
	}
	json.Unmarshal(raw, &e)
	return e.Caption
}

// enumOf merges the dictionary's enum with the class's, as the OCSF server does.
func (s *ocsfSchema) enumOf(name string, a *ocsfAttr) map[string]string {
	out := map[string]string{}
	for k, v := range s.dict[name].Enum {
		out[k] = enumCaption(v)
	}
	maps.Copy(out, a.enum)
	return out
}

// validate returns every problem of v against def, each naming its path.
func (s *ocsfSchema) validate(t *testing.T, path string, v map[string]any, def *ocsfDef, profiles []string) []string {
	var problems []string
	inClass := func(a *ocsfAttr) bool { return a.profile == "" || slices.Contains(profiles, a.profile) }
	names := slices.Sorted(maps.Keys(def.attrs))
	for _, name := range names {
		a := def.attrs[name]
		if _, ok := v[name]; !ok && a.requirement == "required" && inClass(a) {
			problems = append(problems, fmt.Sprintf("%s.%s: required attribute missing", path, name))
		}
	}
	if len(def.atLeastOne) > 0 && !slices.ContainsFunc(def.atLeastOne, func(n string) bool { _, ok := v[n]; return ok }) {
		problems = append(problems, fmt.Sprintf("%s: needs at least one of %v", path, def.atLeastOne))
	}
	keys := slices.Sorted(maps.Keys(v))
	for _, name := range keys {
		val := v[name]
		a, ok := def.attrs[name]
		if !ok || !inClass(a) {
			problems = append(problems, fmt.Sprintf("%s.%s: not an attribute of this class or object (profiles %v)", path, name, profiles))
			continue
		}
		d, ok := s.dict[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s.%s: not in the dictionary", path, name))
			continue
		}
		values := []any{val}
		if d.IsArray {
			arr, ok := val.([]any)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s.%s: want an array, got %T", path, name, val))
				continue
			}
			values = arr
		}
		for i, item := range values {
			p := path + "." + name
			if d.IsArray {
				p += "[" + strconv.Itoa(i) + "]"
			}
			problems = append(problems, s.checkValue(t, p, name, d, a, item, v, profiles)...)
		}
	}
	return problems
}

func (s *ocsfSchema) checkValue(t *testing.T, path, name string, d ocsfDictAttr, a *ocsfAttr, item any, parent map[string]any, profiles []string) []string {
	if d.Type == "object" {
		// OCSF's free-form object (unmapped, ...): any content.
		if _, ok := item.(map[string]any); !ok {
			return []string{fmt.Sprintf("%s: want an object, got %T", path, item)}
		}
		return nil
	}
	if !strings.HasSuffix(d.Type, "_t") {
		obj, ok := item.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object (%s), got %T", path, d.Type, item)}
		}
		return s.validate(t, path, obj, s.object(t, d.Type), profiles)
	}
	base := d.Type
	if tt, ok := s.types[base]; ok && tt.Type != "" {
		base = tt.Type
	}
	switch base {
	case "string_t":
		if _, ok := item.(string); !ok {
			return []string{fmt.Sprintf("%s: want a string (%s), got %T", path, d.Type, item)}
		}
	case "integer_t", "long_t", "timestamp_t":
		n, ok := item.(float64)
		if !ok || n != float64(int64(n)) {
			return []string{fmt.Sprintf("%s: want an integer (%s), got %v", path, d.Type, item)}
		}
		enum := s.enumOf(name, a)
		if a.fixed {
			enum = a.enum
		}
		if len(enum) > 0 {
			caption, ok := enum[strconv.FormatInt(int64(n), 10)]
			if !ok {
				return []string{fmt.Sprintf("%s: %v is not one of %v", path, n, sortedKeys(enum))}
			}
			if sib, ok := parent[d.Sibling].(string); ok && d.Sibling != "" && caption != "Other" && sib != caption {
				return []string{fmt.Sprintf("%s: %s is %q, want the caption of %v, %q", path, d.Sibling, sib, n, caption)}
			}
		}
	case "boolean_t":
		if _, ok := item.(bool); !ok {
			return []string{fmt.Sprintf("%s: want a boolean, got %T", path, item)}
		}
	case "float_t":
		if _, ok := item.(float64); !ok {
			return []string{fmt.Sprintf("%s: want a number, got %T", path, item)}
		}
	case "json_t":
	default:
		return []string{fmt.Sprintf("%s: type %s unknown to this check", path, d.Type)}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := slices.Collect(maps.Keys(m))
	sort.Strings(keys)
	return keys
}
