package servelabimage_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/components/servelabimage"
	"github.com/servelab/servelab/internal/pulumitest"
)

func TestNewServelabImage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    func(*gpuhost.GpuHost) *servelabimage.ImageArgs
		wantErr string
	}{
		{"nil", func(*gpuhost.GpuHost) *servelabimage.ImageArgs { return nil }, "args are required"},
		{"empty", func(*gpuhost.GpuHost) *servelabimage.ImageArgs { return &servelabimage.ImageArgs{} }, "host is required"},
		{"bad tag", func(h *gpuhost.GpuHost) *servelabimage.ImageArgs {
			return &servelabimage.ImageArgs{Host: h, Tag: "servelab"}
		}, `tag "servelab" must be a fully qualified name:tag`},
		{"short tag", func(h *gpuhost.GpuHost) *servelabimage.ImageArgs {
			return &servelabimage.ImageArgs{Host: h, Tag: "servelab:0.1.0-abc"}
		}, `tag "servelab:0.1.0-abc" must be a fully qualified name:tag`},
		{"ok", func(h *gpuhost.GpuHost) *servelabimage.ImageArgs {
			return &servelabimage.ImageArgs{Host: h, Tag: "localhost/servelab:0.1.0-abc", Context: "/src/servelab"}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := pulumitest.New(nil)
			err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
				h, err := gpuhost.NewGpuHost(ctx, "h", nil)
				if err != nil {
					return err
				}
				_, err = servelabimage.NewServelabImage(ctx, "img", tt.args(h))
				return err
			})
			if pulumitest.CheckErr(t, err, tt.wantErr) {
				return
			}
			b, ok := m.Get("docker:index/image:Image", "img-build")
			if !ok || b.ProviderName() != "h-docker" || b.ParentName() != "img" {
				t.Fatalf("build %+v", b)
			}
			if !slices.ContainsFunc(b.Dependencies, func(d string) bool { return strings.HasSuffix(d, "::h-probe") }) {
				t.Errorf("the build does not wait for the host's probe: %v", b.Dependencies)
			}
			if b.String("imageName") != "localhost/servelab:0.1.0-abc" || b.String("build.context") != "/src/servelab" ||
				b.String("build.dockerfile") != "/src/servelab/Dockerfile" || b.Plain("skipPush") != true {
				t.Errorf("build inputs %v", b.Plain(""))
			}
		})
	}
}
