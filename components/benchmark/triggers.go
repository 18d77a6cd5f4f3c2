package benchmark

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The run's triggers are what decides its results, one named digest per
// part, so that `pulumi preview --diff` says which part changed:
//
//	servelab sha256:<binary>      the bench binary (runOn: local), or
//	servelab image <ref>          the servelab image it runs in (runOn: host)
//	workload <digest>             the bench's argv and the targets file
//	target <label> <digest>       each target's Spec: engine specs, image
//	                              digests, the gateway's config and image
//
// A trigger change replaces the command, i.e. runs the bench afresh. Its
// other inputs (create, stdin) hold nothing that could change without a
// trigger changing too, and no key and no path of the user's checkout.

// triggerInputs returns the triggers and the spec hash: the SHA-256 of all
// of them, recorded in the outputs.
func triggerInputs(a BenchmarkArgs, bench []string, targetsJSON []byte) ([]pulumi.StringOutput, pulumi.StringOutput) {
	var items []pulumi.StringOutput
	if a.Host == nil {
		items = append(items, pulumi.String("servelab sha256:"+short(a.BinarySHA256)).ToStringOutput())
	} else {
		items = append(items, pulumi.Sprintf("servelab image %s", a.Image))
	}
	items = append(items, pulumi.String("workload "+digest(strings.Join(bench, "\x00"), string(targetsJSON))).ToStringOutput())
	for _, t := range a.Targets {
		if t.Spec == nil {
			continue
		}
		label := t.Label
		items = append(items, t.Spec.ToStringOutput().ApplyT(func(spec string) string {
			return "target " + label + " " + digest(spec)
		}).(pulumi.StringOutput))
	}
	all := make([]any, len(items))
	for i, it := range items {
		all[i] = it
	}
	hash := pulumi.All(all...).ApplyT(func(v []any) string {
		h := sha256.New()
		for _, s := range v {
			h.Write([]byte(s.(string)))
			h.Write([]byte{'\n'})
		}
		return hex.EncodeToString(h.Sum(nil))
	}).(pulumi.StringOutput)
	return items, hash
}

// digest is 16 hex digits of the SHA-256 of parts, each separated.
func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func short(hexHash string) string {
	if len(hexHash) > 16 {
		return hexHash[:16]
	}
	return hexHash
}
