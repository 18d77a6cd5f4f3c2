//go:build ignore

// imagetag writes the servelab image's build context from this work tree
// as the program does (programs.ImageSource: only the files the binary is
// built from) and prints the image's tag — the part after "servelab:" of
// the program's image reference — and the context's directory. `make
// kube-image` builds the image from that context, tags it so, and pushes
// it or loads it into kind: a cluster stack runs
// <clusters[].image>:<this tag>.
//
//	go run tools/imagetag/main.go   # prints "<tag> <context directory>"
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/servelab/servelab/programs"
)

func main() {
	dir, ref, err := programs.ImageSource(programs.DefaultPaths())
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagetag:", err)
		os.Exit(1)
	}
	fmt.Println(ref[strings.LastIndex(ref, ":")+1:], dir)
}
