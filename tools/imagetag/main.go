//go:build ignore

// imagetag prints the tag the servelab program gives the servelab image
// built from this work tree (the part after "servelab:" of
// programs.ImageTag). `make kube-image` tags the image it builds and
// pushes, or loads into kind, with it: a cluster stack runs
// <clusters[].image>:<this tag>.
//
//	go run tools/imagetag/main.go
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/servelab/servelab/programs"
)

func main() {
	tag, err := programs.ImageTag(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "imagetag:", err)
		os.Exit(1)
	}
	fmt.Println(tag[strings.LastIndex(tag, ":")+1:])
}
