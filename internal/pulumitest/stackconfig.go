package pulumitest

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"gopkg.in/yaml.v3"
)

// LoadStackConfig reads a stack file (stacks/Pulumi.<env>.yaml) and returns
// its config the way the Pulumi CLI hands it to a program: every key fully
// qualified, scalars as text, structured values as JSON. A `secure:` value
// cannot be decrypted here and is an error: stack files in the repository
// hold no secrets.
func LoadStackConfig(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make(map[string]string, len(doc.Config))
	for k, v := range doc.Config {
		if m, ok := v.(map[string]any); ok {
			if _, secure := m["secure"]; secure && len(m) == 1 {
				return nil, fmt.Errorf("%s: %s is an encrypted secret; stack files in the repository must hold none", path, k)
			}
		}
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
				return nil, fmt.Errorf("%s: %s: %w", path, k, err)
			}
			out[k] = string(j)
		}
	}
	return out, nil
}
