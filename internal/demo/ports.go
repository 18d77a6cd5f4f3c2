package demo

import (
	"fmt"
	"net"

	"github.com/servelab/servelab/internal/procs"
	"github.com/servelab/servelab/programs/stackconfig"
)

// ports are the stack's ports, or free ones for those in use (for all
// of them with FreePorts); moved says which moved.
func (l *lab) ports(lab *stackconfig.Lab) (Ports, []string, error) {
	p := StackPorts(lab)
	type slot struct {
		who  string
		addr *string
	}
	var slots []slot
	for i := range p.Engines {
		slots = append(slots, slot{lab.Instances[i].Instance.Name, &p.Engines[i]})
	}
	slots = append(slots, slot{"the gateway", &p.Gateway}, slot{"the gateway's metrics", &p.GatewayMetrics}, slot{"Prometheus", &p.Prometheus})
	var move []slot
	seen := map[string]bool{}
	for _, s := range slots {
		if l.o.FreePorts || seen[*s.addr] || inUse(*s.addr) {
			move = append(move, s)
		}
		seen[*s.addr] = true
	}
	free, err := procs.FreeAddrs(len(move))
	if err != nil {
		return Ports{}, nil, err
	}
	var moved []string
	for i, s := range move {
		if !l.o.FreePorts {
			moved = append(moved, fmt.Sprintf("%s, the stack's address for %s, is in use: %s instead", *s.addr, s.who, free[i]))
		}
		*s.addr = free[i]
	}
	return p, moved, nil
}

// inUse reports whether something already listens on addr.
func inUse(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return true
	}
	ln.Close()
	return false
}
