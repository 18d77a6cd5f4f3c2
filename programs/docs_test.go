package programs_test

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/servelab/servelab/programs/stackconfig"
)

// Every key a stack can set is named where users look it up: in the
// description of its top-level key in Pulumi.yaml (what `pulumi config`
// and the schema show) and in README's section of that key.
func TestEveryConfigKeyIsDocumented(t *testing.T) {
	t.Parallel()
	project, err := os.ReadFile("../Pulumi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Config map[string]struct{ Description string }
	}
	if err := yaml.Unmarshal(project, &p); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cfg := reflect.TypeFor[stackconfig.Config]()
	for i := range cfg.NumField() {
		f := cfg.Field(i)
		top := jsonName(f)
		if top == "" || top == "program" {
			continue
		}
		desc := p.Config[top].Description
		if desc == "" {
			t.Errorf("Pulumi.yaml: servelab:%s has no description", top)
		}
		_, section, ok := strings.Cut(string(readme), "\n### `"+top+"`")
		if !ok {
			_, section, ok = strings.Cut(string(readme), "\n### `"+top+"[]`")
		}
		if !ok {
			t.Errorf("README has no section ### `%s`", top)
		}
		section, _, _ = strings.Cut(section, "\n### ")
		for _, key := range keyNames(f.Type) {
			word := regexp.MustCompile(`\b` + regexp.QuoteMeta(key) + `\b`)
			if !word.MatchString(desc) {
				t.Errorf("Pulumi.yaml: the description of servelab:%s does not name %q", top, key)
			}
			if !word.MatchString(section) {
				t.Errorf("README's ### `%s` section does not name %q", top, key)
			}
		}
	}
}

// keyNames are the JSON names of every field reachable from t.
func keyNames(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := jsonName(f)
		if name == "" {
			continue
		}
		out = append(out, name)
		out = append(out, keyNames(f.Type)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	return name
}
