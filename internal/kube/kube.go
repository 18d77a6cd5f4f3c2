// Package kube holds what servelab's Kubernetes components share: the
// labels every object carries, object metadata, probes made from the
// Docker healthchecks' commands, and content-addressed names. It has no
// resources of its own.
package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/internal/kubetypes"
)

// Label keys servelab sets.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelComponent = "app.kubernetes.io/component"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelStack     = "servelab.dev/stack"
	// LabelFramework is on every engine pod; Prometheus finds a
	// framework's pods by it.
	LabelFramework = "servelab.dev/framework"
	LabelEngine    = "servelab.dev/engine"
)

// PortName is the name of every servelab container's HTTP port; Services
// target it and Prometheus's pod discovery keeps it.
const PortName = "http"

// Labels are the labels of an object named name playing role component in
// stack, plus extra (which may not override them).
func Labels(stack, name, component string, extra map[string]string) pulumi.StringMap {
	out := pulumi.StringMap{}
	for k, v := range extra {
		out[k] = pulumi.String(v)
	}
	out[LabelName] = pulumi.String(name)
	out[LabelComponent] = pulumi.String(component)
	out[LabelPartOf] = pulumi.String("servelab")
	out[LabelManagedBy] = pulumi.String("pulumi")
	out[LabelStack] = pulumi.String(stack)
	return out
}

// Selector is the label selector of a workload named name: immutable once
// created, so it holds only the name.
func Selector(name string) pulumi.StringMap {
	return pulumi.StringMap{LabelName: pulumi.String(name)}
}

// Meta is the metadata of a namespaced object.
func Meta(name string, namespace pulumi.StringInput, labels pulumi.StringMap) *metav1.ObjectMetaArgs {
	return &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: namespace, Labels: labels}
}

// ErrNotExec is returned for a healthcheck that is not in Docker's exec
// form ["CMD", argv...].
var ErrNotExec = errors.New(`healthcheck is not ["CMD", argv...]`)

// ExecCommand is the argv of a Docker exec-form healthcheck: the same
// command, run by the kubelet in the container, decides readiness.
func ExecCommand(health []string) ([]string, error) {
	if len(health) < 2 || health[0] != "CMD" {
		return nil, ErrNotExec
	}
	return slices.Clone(health[1:]), nil
}

// Probe timing of every servelab workload.
const (
	ProbePeriod  = 10 * time.Second
	ProbeTimeout = 25 * time.Second
)

// ReadinessProbe runs cmd every ProbePeriod; three failures in a row take
// the pod out of its Service.
func ReadinessProbe(cmd []string) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		Exec:             &corev1.ExecActionArgs{Command: pulumi.ToStringArray(cmd)},
		PeriodSeconds:    pulumi.Int(int(ProbePeriod.Seconds())),
		TimeoutSeconds:   pulumi.Int(int(ProbeTimeout.Seconds())),
		FailureThreshold: pulumi.Int(3),
	}
}

// StartupProbe runs cmd until it succeeds, for at most window (the
// Docker target's wait: model download and load); the kubelet restarts
// the container after that. Readiness is not checked before it passes.
func StartupProbe(cmd []string, window time.Duration) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		Exec:             &corev1.ExecActionArgs{Command: pulumi.ToStringArray(cmd)},
		PeriodSeconds:    pulumi.Int(int(ProbePeriod.Seconds())),
		TimeoutSeconds:   pulumi.Int(int(ProbeTimeout.Seconds())),
		FailureThreshold: pulumi.Int(StartupFailures(window)),
	}
}

// StartupFailures is how many failed startup probes, one per ProbePeriod,
// fit in window (at least one).
func StartupFailures(window time.Duration) int {
	n := int((window + ProbePeriod - 1) / ProbePeriod)
	return max(n, 1)
}

// HashName is name-<8 hex digits of content>. A ConfigMap named by its
// content gets a new name when it changes, which changes the pod template
// that mounts it and so rolls the pods; the old one is deleted after.
func HashName(name string, content ...[]byte) string {
	h := sha256.New()
	for _, c := range content {
		h.Write(c)
		h.Write([]byte{0})
	}
	return name + "-" + hex.EncodeToString(h.Sum(nil))[:8]
}

// Tolerations renders ts for a pod spec (nil when empty).
func Tolerations(ts []kubetypes.Toleration) corev1.TolerationArray {
	if len(ts) == 0 {
		return nil
	}
	out := corev1.TolerationArray{}
	for _, t := range ts {
		ta := corev1.TolerationArgs{}
		if t.Key != "" {
			ta.Key = pulumi.String(t.Key)
		}
		if t.Operator != "" {
			ta.Operator = pulumi.String(t.Operator)
		}
		if t.Value != "" {
			ta.Value = pulumi.String(t.Value)
		}
		if t.Effect != "" {
			ta.Effect = pulumi.String(t.Effect)
		}
		if t.TolerationSeconds != nil {
			ta.TolerationSeconds = pulumi.Int(int(*t.TolerationSeconds))
		}
		out = append(out, ta)
	}
	return out
}

// SkipAwait is the annotation that makes pulumi-kubernetes create an
// object without waiting for it: a Service would otherwise wait (10 min by
// default) for ready endpoints, which for an engine is the model load its
// Deployment already waits for.
var SkipAwait = pulumi.StringMap{"pulumi.com/skipAwait": pulumi.String("true")}

// NonRootUID is the user (and group) servelab-image containers run as.
const NonRootUID = 65532

// Restricted is the security context of a container that needs nothing:
// not root, no privilege escalation, no capability, read-only root
// filesystem, the runtime's default seccomp profile.
func Restricted() *corev1.SecurityContextArgs {
	return &corev1.SecurityContextArgs{
		RunAsNonRoot:             pulumi.Bool(true),
		RunAsUser:                pulumi.Int(NonRootUID),
		RunAsGroup:               pulumi.Int(NonRootUID),
		AllowPrivilegeEscalation: pulumi.Bool(false),
		ReadOnlyRootFilesystem:   pulumi.Bool(true),
		Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.ToStringArray([]string{"ALL"})},
		SeccompProfile:           &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
	}
}
