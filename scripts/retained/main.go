// Command retained prints what `pulumi destroy` left behind on purpose,
// from the `pulumi stack export` taken before it (on stdin), with the
// command that removes each item. `make destroy` runs it.
package main

import (
	"fmt"
	"os"

	"github.com/servelab/servelab/internal/retained"
)

func main() {
	items, err := retained.FromExport(os.Stdin)
	if err == nil {
		err = retained.Write(os.Stdout, items)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "retained:", err)
		os.Exit(1)
	}
}
