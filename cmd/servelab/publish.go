package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/servelab/servelab/internal/kubepublish"
)

func newPublishCmd() *cobra.Command {
	var (
		configMap string
		files     []string
		literals  []string
	)
	cmd := &cobra.Command{
		Use:   "publish --configmap NAME --from-file KEY=PATH [--literal KEY=VALUE]",
		Short: "Write files into a ConfigMap of the pod's namespace (the Kubernetes benchmark Job's results)",
		Long: "Merge-patch the data of an existing ConfigMap in the pod's own namespace with the\n" +
			"contents of files (--from-file) and short values (--literal), using the pod's service\n" +
			"account. The Kubernetes target's benchmark Job runs it after `servelab bench` to hand\n" +
			"its results to the Pulumi program (docs/kubernetes.md).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data := map[string]string{}
			for _, f := range files {
				key, path, ok := strings.Cut(f, "=")
				if !ok || key == "" || path == "" {
					return fmt.Errorf("--from-file %q: want KEY=PATH", f)
				}
				b, err := os.ReadFile(path)
				if err != nil {
					return fmt.Errorf("--from-file: %w", err)
				}
				data[key] = string(b)
			}
			for _, l := range literals {
				key, value, ok := strings.Cut(l, "=")
				if !ok || key == "" {
					return fmt.Errorf("--literal %q: want KEY=VALUE", l)
				}
				data[key] = value
			}
			if len(data) == 0 {
				return fmt.Errorf("nothing to publish: give --from-file or --literal")
			}
			c, ns, err := kubepublish.InCluster(os.Getenv, kubepublish.ServiceAccountDir)
			if err != nil {
				return err
			}
			return c.PatchConfigMapData(cmd.Context(), ns, configMap, data)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configMap, "configmap", "", "name of the ConfigMap (it must exist)")
	f.StringArrayVar(&files, "from-file", nil, "KEY=PATH: a data key and the file whose content it gets (repeatable)")
	f.StringArrayVar(&literals, "literal", nil, "KEY=VALUE: a data key and its value (repeatable)")
	_ = cmd.MarkFlagRequired("configmap")
	return cmd
}
