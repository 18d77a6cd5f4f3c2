package report

import (
	"slices"
	"strings"
)

// directSuffix marks the target that reaches a framework bypassing the
// gateway: "vllm" goes through the gateway, "vllm-direct" does not.
const directSuffix = "-direct"

// stackOverheads are the gateway overheads a stack output carries.
func stackOverheads(src Source) []Overhead {
	var out []Overhead
	for fw, list := range src.stack.Overhead {
		for _, o := range list {
			rate, _ := parseRate(o.RequestRate) // checked by decodeStack
			out = append(out, Overhead{
				Source: src.Name, Framework: fw,
				Level:     Level{MaxConcurrency: o.MaxConcurrency, RequestRate: rate},
				TTFTP50Ms: o.TTFTP50Ms, TTFTP99Ms: o.TTFTP99Ms, E2ELP50Ms: o.E2ELP50Ms,
			})
		}
	}
	return out
}

// pairOverheads computes the gateway's overhead for every label X of one
// source whose series has an X-direct sibling, at each level both have:
// X minus X-direct. Frameworks the source's stack output already gives
// (known) are left to it.
func pairOverheads(source string, series []Series, known []Overhead) []Overhead {
	var out []Overhead
	for _, via := range series {
		if via.Label == "" || strings.HasSuffix(via.Label, directSuffix) ||
			slices.ContainsFunc(known, func(o Overhead) bool { return o.Source == source && o.Framework == via.Label }) {
			continue
		}
		i := slices.IndexFunc(series, func(s Series) bool { return s.Label == via.Label+directSuffix })
		if i < 0 {
			continue
		}
		for _, g := range via.Points {
			d, ok := series[i].at(g.Level)
			if !ok {
				continue
			}
			out = append(out, Overhead{
				Source: source, Framework: via.Label, Level: g.Level, Derived: true,
				TTFTP50Ms: g.TTFT.P50 - d.TTFT.P50, TTFTP99Ms: g.TTFT.P99 - d.TTFT.P99, E2ELP50Ms: g.E2EL.P50 - d.E2EL.P50,
			})
		}
	}
	return out
}
