// Package stackfile reads servelab's stack files (stacks/Pulumi.<env>.yaml)
// as the Pulumi CLI hands them to a program, and makes the copies tests
// and checks work on.
//
// A stack file in a user's checkout is not only what the repository
// ships: `pulumi stack init` (make up, make preview) adds the stack's
// encryptionsalt, and `pulumi config set --secret` (make secret) adds
// `secure:` values encrypted with the user's passphrase. Pulumi's way is
// to commit both (the ciphertexts are useless without the passphrase,
// which is never committed), so tests must not trip over them: they read
// the config without the user's secrets (Config) or check a copy without
// the user's salt and secrets (Clean).
package stackfile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// UserKeys are the top-level keys the Pulumi CLI writes into a stack file
// for its secrets provider: the passphrase provider's salt, or another
// provider's name and encrypted data key.
var UserKeys = []string{"encryptionsalt", "secretsprovider", "encryptedkey"}

// Read reads a stack file and returns its config (Config).
func Read(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := Config(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Config returns a stack file's config the way the Pulumi CLI hands it to
// a program: every key fully qualified, scalars as text, structured values
// as JSON. `secure:` values (a user's secrets, which only their passphrase
// decrypts) are left out, wherever they are.
func Config(data []byte) (map[string]string, error) {
	clean, _, err := Clean(data)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(clean, &doc); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(doc.Config))
	for k, v := range doc.Config {
		switch x := v.(type) {
		case string:
			out[k] = x
		case bool:
			out[k] = strconv.FormatBool(x)
		case int:
			out[k] = strconv.Itoa(x)
		case float64:
			out[k] = strconv.FormatFloat(x, 'g', -1, 64)
		default:
			j, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = string(j)
		}
	}
	return out, nil
}

// Clean returns the stack file without what a user's Pulumi CLI added to
// it — the secrets provider's keys (UserKeys) and every `secure:` value —
// and the paths of what it removed (e.g. "encryptionsalt",
// "config.servelab:hfToken"). Comments and everything else are kept; a
// file with nothing to remove is returned unchanged.
func Clean(data []byte) ([]byte, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, err
	}
	if doc.Kind == 0 { // empty file
		return data, nil, nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("a stack file is a YAML mapping (config:, encryptionsalt:, …)")
	}
	top := doc.Content[0]
	var removed []string
	for i := 0; i < len(top.Content); i += 2 {
		key := top.Content[i].Value
		switch {
		case slices.Contains(UserKeys, key):
			removed = append(removed, key)
			top.Content = slices.Delete(top.Content, i, i+2)
			i -= 2
		case key == "config":
			dropSecure(top.Content[i+1], "config", &removed)
		}
	}
	if len(removed) == 0 {
		return data, nil, nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), removed, nil
}

// dropSecure removes, under n, every mapping entry and sequence item whose
// value is a secure value ({secure: ciphertext}).
func dropSecure(n *yaml.Node, path string, removed *[]string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i < len(n.Content); i += 2 {
			p := path + "." + n.Content[i].Value
			if isSecure(n.Content[i+1]) {
				*removed = append(*removed, p)
				n.Content = slices.Delete(n.Content, i, i+2)
				i -= 2
				continue
			}
			dropSecure(n.Content[i+1], p, removed)
		}
	case yaml.SequenceNode:
		kept := n.Content[:0]
		for i, item := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]" // index in the file
			if isSecure(item) {
				*removed = append(*removed, p)
				continue
			}
			dropSecure(item, p, removed)
			kept = append(kept, item)
		}
		n.Content = kept
	}
}

// isSecure reports whether n is Pulumi's encrypted value: a mapping with
// the one key "secure".
func isSecure(n *yaml.Node) bool {
	return n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "secure"
}
