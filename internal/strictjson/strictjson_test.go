package strictjson_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/strictjson"
)

type dur string

func (d *dur) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil || !strings.HasSuffix(s, "s") {
		return fmt.Errorf("want a duration like \"5s\", got %s", b)
	}
	*d = dur(s)
	return nil
}

type ssh struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

type host struct {
	Name   string            `json:"name"`
	SSH    *ssh              `json:"ssh"`
	Tags   map[string]int    `json:"tags"`
	Wait   dur               `json:"wait"`
	Args   json.RawMessage   `json:"args"`
	Hidden string            `json:"-"`
	Labels map[string]string `json:"labels"`
}

type doc struct {
	Hosts   []host `json:"hosts"`
	Retries int    `json:"retries"`
	Debug   bool   `json:"debug"`
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string // problems, in order
		out  func(t *testing.T, d doc)
	}{
		{name: "valid, defaults kept", in: `{"hosts":[{"name":"a","ssh":{"host":"h","port":22},"tags":{"x":1},"wait":"5s","args":{"any":[1]}}]}`,
			out: func(t *testing.T, d doc) {
				if d.Retries != 7 || d.Hosts[0].SSH.Port != 22 || d.Hosts[0].Tags["x"] != 1 || d.Hosts[0].Wait != "5s" || string(d.Hosts[0].Args) != `{"any":[1]}` {
					t.Errorf("decoded %+v", d)
				}
			}},
		{name: "everything wrong at once", in: `{"retrys":1,"debug":"yes","hosts":[{"nme":"a","ssh":{"host":1,"port":"22"},"tags":{"x":"1"},"wait":5,"-":"x"},7]}`,
			want: []string{
				`debug: want true or false, got the string "yes"`,
				`hosts[0].-: unknown key "-" (known keys: args, labels, name, ssh, tags, wait)`,
				`hosts[0].nme: unknown key "nme" (did you mean "name"?)`,
				`hosts[0].ssh.host: want a string, got the number 1`,
				`hosts[0].ssh.port: want a whole number, got the string "22"`,
				`hosts[0].tags.x: want a whole number, got the string "1"`,
				`hosts[0].wait: want a duration like "5s", got 5`,
				`hosts[1]: want a mapping of keys, got the number 7`,
				`retrys: unknown key "retrys" (did you mean "retries"?)`,
			}},
		{name: "far-off key lists the known ones", in: `{"zzzzzz":1}`, want: []string{`zzzzzz: unknown key "zzzzzz" (known keys: debug, hosts, retries)`}},
		{name: "root not an object", in: `[1]`, want: []string{"(root): want a mapping of keys, got a list"}},
		{name: "null is absent", in: `{"hosts":null,"retries":null}`, out: func(t *testing.T, d doc) {
			if d.Retries != 7 || d.Hosts != nil {
				t.Errorf("decoded %+v", d)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := doc{Retries: 7}
			ps := strictjson.Decode([]byte(tt.in), &d, "")
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems\n got %q\nwant %q", got, tt.want)
			}
			if (ps.Err() == nil) != (len(tt.want) == 0) {
				t.Errorf("Err() = %v", ps.Err())
			}
			if tt.out != nil {
				tt.out(t, d)
			}
		})
	}
}

func TestHasAndPrefix(t *testing.T) {
	t.Parallel()
	var d doc
	ps := strictjson.Decode([]byte(`{"hosts":[{"ssh":{"port":"x"}}]}`), &d, "servelab")
	if len(ps) != 1 || ps[0].Path != "servelab.hosts[0].ssh.port" {
		t.Fatalf("problems %v", ps)
	}
	if !ps.Has("servelab.hosts[0]") || !ps.Has("servelab.hosts[0].ssh.port") || ps.Has("servelab.hosts[1]") || ps.Has("servelab.host") {
		t.Error("Has")
	}
}

func TestSyntax(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"a": }`:      "line 1 column 7",
		"{\n\"a\":\n}": "line 3 column 1",
		`{} {}`:        "more than one JSON value",
		`{"a":1}`:      "",
	} {
		err := strictjson.Syntax([]byte(in))
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("Syntax(%q) = %v, want %q", in, err, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(`{"hosts":[{"name":"a","ssh":{"port":1}}],"retries":2}`)
	f.Add(`{"hosts":[{"tags":{"a":"b"}},null,[]]}`)
	f.Fuzz(func(t *testing.T, in string) {
		var d doc
		ps := strictjson.Decode([]byte(in), &d, "")
		if !json.Valid([]byte(in)) {
			return
		}
		// On valid JSON without problems, the result equals encoding/json's.
		if len(ps) == 0 {
			var want doc
			dec := json.NewDecoder(strings.NewReader(in))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&want); err != nil {
				return // encoding/json rejects what we accepted only for null-vs-type nuances
			}
			a, _ := json.Marshal(d)
			b, _ := json.Marshal(want)
			if string(a) != string(b) {
				t.Fatalf("decoded %s, encoding/json %s", a, b)
			}
		}
	})
}
