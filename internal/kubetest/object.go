//go:build unix

package kubetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Object is one Kubernetes object as a client would send it.
type Object struct {
	// Source names where the object came from (its file); every error
	// about the object starts with it.
	Source     string
	APIVersion string
	Kind       string
	Namespace  string // empty for cluster-scoped objects (and namespaced ones meant for "default")
	Name       string
	// Body is the object's JSON, sent to the API server unchanged.
	Body []byte
}

// String is the object's source, kind and name.
func (o *Object) String() string {
	name := o.Name
	if o.Namespace != "" {
		name = o.Namespace + "/" + o.Name
	}
	return fmt.Sprintf("%s: %s %s", o.Source, o.Kind, name)
}

// ParseObject reads one JSON object (and nothing after it) with at least
// apiVersion, kind and metadata.name. Unknown and misspelt fields are left
// for the API server to reject: it names them with their paths.
func ParseObject(source string, body []byte) (*Object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&head); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object with apiVersion, kind and metadata: %w", source, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one JSON value (one object per file)", source)
	}
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"apiVersion", head.APIVersion}, {"kind", head.Kind}, {"metadata.name", head.Metadata.Name},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: missing %s", source, strings.Join(missing, ", "))
	}
	return &Object{
		Source:     source,
		APIVersion: head.APIVersion,
		Kind:       head.Kind,
		Namespace:  head.Metadata.Namespace,
		Name:       head.Metadata.Name,
		Body:       body,
	}, nil
}

// ReadFile parses the object in path; its Source is path.
func ReadFile(path string) (*Object, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseObject(path, body)
}

// ReadDir parses every *.json file under root, in lexical path order (a
// numbered file name orders a stack's objects). It reports every file it
// could not parse, and an error wrapping fs.ErrNotExist when root does not
// exist.
func ReadDir(root string) ([]*Object, error) {
	var objs []*Object
	var errs []error
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || filepath.Ext(path) != ".json" {
			return nil
		}
		o, err := ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		objs = append(objs, o)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return objs, errors.Join(errs...)
}
