// Package monitoring is the Kubernetes Monitoring component: Prometheus
// and Grafana as Deployments and Services in the cluster's namespace,
// loading the files internal/monitoring generates for the Docker target —
// the same recording rules, alerts and dashboards. Prometheus finds the
// framework pods through the Kubernetes API (a ServiceAccount allowed only
// to read pods in the namespace), so every replica is scraped and labelled
// with its node. Credentials are generated (random.RandomPassword): the web
// config holds the bcrypt hash, passwords are files from Secrets, and the
// clear passwords leave the stack only as secret outputs. A framework
// whose metrics need its API key (Lab's CredentialsFile: llama.cpp) is
// scraped with it, mounted from the engine's own key Secret
// (components/kube/framework) at that file, as the Docker target uploads
// it.
package monitoring

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/kube/cluster"
	kframework "github.com/servelab/servelab/components/kube/framework"
	dockermon "github.com/servelab/servelab/components/monitoring"
	"github.com/servelab/servelab/internal/imageref"
	"github.com/servelab/servelab/internal/kube"
	mon "github.com/servelab/servelab/internal/monitoring"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "servelab:kube:Monitoring"

// Object names in the namespace.
const (
	Prometheus = "prometheus"
	Grafana    = "grafana"
	// PrometheusAuthSecret holds the web config and the clear password.
	PrometheusAuthSecret = "prometheus-auth"
	// GrafanaSecret holds Grafana's admin and Prometheus passwords.
	GrafanaSecret = "grafana-secrets"
)

// Users of the images (prom/prometheus runs as nobody, grafana/grafana as
// 472); fsGroup makes the data claims and secret files theirs.
const (
	prometheusUID = 65534
	grafanaUID    = 472
)

// Data claim sizes.
const (
	PrometheusDataGiB = 20
	GrafanaDataGiB    = 5
)

// MonitoringArgs configure monitoring. Lab describes what to scrape; the
// component sets its Kubernetes discovery.
type MonitoringArgs struct {
	Cluster *cluster.Cluster
	Lab     mon.Lab
	// PrometheusPort and GrafanaPort are the Services' ports.
	PrometheusPort  int
	GrafanaPort     int
	GrafanaEnabled  bool
	Retention       time.Duration
	PrometheusImage string
	GrafanaImage    string
	// After are resources to wait for (gateway, frameworks).
	After []pulumi.Resource
}

// Monitoring is the deployed monitoring.
type Monitoring struct {
	pulumi.ResourceState
	dockermon.Endpoints
}

// Discovery is how Prometheus finds framework pods in namespace.
func Discovery(namespace string) *mon.KubernetesSD {
	return &mon.KubernetesSD{Namespace: namespace, PodLabel: kube.LabelFramework, PortName: kube.PortName}
}

// NewMonitoring creates Prometheus (with its RBAC) and Grafana.
func NewMonitoring(ctx *pulumi.Context, name string, args *MonitoringArgs, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	a, err := validate(name, args)
	if err != nil {
		return nil, err
	}
	c := a.Cluster
	a.Lab.Kubernetes = Discovery(c.Namespace)
	promFiles, err := mon.PrometheusFiles(a.Lab)
	if err != nil {
		return nil, fmt.Errorf("monitoring %s: %w", name, err)
	}
	healthCfg, err := dockermon.HealthHTTPConfig()
	if err != nil {
		return nil, err
	}
	promFiles[dockermon.PrometheusHealthHTTPConfig] = []byte(healthCfg)
	var grafanaFiles map[string][]byte
	if a.GrafanaEnabled {
		grafanaFiles, err = mon.GrafanaFiles(a.Lab, mon.Datasource{
			URL:            "http://" + Prometheus + ":" + strconv.Itoa(a.PrometheusPort),
			User:           mon.PrometheusUser,
			ScrapeInterval: a.Lab.ScrapeInterval,
		})
		if err != nil {
			return nil, fmt.Errorf("monitoring %s: %w", name, err)
		}
	}

	m := &Monitoring{}
	if err := ctx.RegisterComponentResource(TypeToken, name, m, opts...); err != nil {
		return nil, err
	}
	// Special characters are off: Grafana expands "$" in files it reads.
	promPass, err := random.NewRandomPassword(ctx, name+"-prometheus-password", &random.RandomPasswordArgs{
		Length: pulumi.Int(32), Special: pulumi.Bool(false),
	}, pulumi.Parent(m))
	if err != nil {
		return nil, err
	}
	webConfig := promPass.BcryptHash.ApplyT(func(hash string) (string, error) {
		b, err := mon.WebConfig(mon.PrometheusUser, hash)
		return string(b), err
	}).(pulumi.StringOutput)

	prom, err := prometheus(ctx, m, name, a, promFiles, webConfig, promPass.Result)
	if err != nil {
		return nil, err
	}
	m.PrometheusURL = pulumi.Sprintf("http://%s.%s.svc:%d", Prometheus, c.NamespaceName, a.PrometheusPort)
	m.PrometheusUser = pulumi.String(mon.PrometheusUser).ToStringOutput()
	m.PrometheusPassword = pulumi.ToSecret(promPass.Result).(pulumi.StringOutput)
	m.GrafanaURL = pulumi.String("").ToStringOutput()
	m.GrafanaAdminPassword = pulumi.ToSecret(pulumi.String("")).(pulumi.StringOutput)

	if a.GrafanaEnabled {
		admin, err := random.NewRandomPassword(ctx, name+"-grafana-admin-password", &random.RandomPasswordArgs{
			Length: pulumi.Int(32), Special: pulumi.Bool(false),
		}, pulumi.Parent(m))
		if err != nil {
			return nil, err
		}
		if err := grafana(ctx, m, name, a, grafanaFiles, admin.Result, promPass.Result, prom); err != nil {
			return nil, err
		}
		m.GrafanaURL = pulumi.Sprintf("http://%s.%s.svc:%d", Grafana, c.NamespaceName, a.GrafanaPort)
		m.GrafanaAdminPassword = pulumi.ToSecret(admin.Result).(pulumi.StringOutput)
	}

	if err := ctx.RegisterResourceOutputs(m, m.Outputs(true)); err != nil {
		return nil, err
	}
	return m, nil
}

// prometheus creates its ServiceAccount and Role (read pods in the
// namespace: discovery), its files, data claim, Deployment and Service.
func prometheus(ctx *pulumi.Context, m *Monitoring, name string, a MonitoringArgs, files map[string][]byte, webConfig, password pulumi.StringOutput) (*appsv1.Deployment, error) {
	c := a.Cluster
	opts := c.Opts(m)
	sa, err := corev1.NewServiceAccount(ctx, name+"-prometheus-sa", &corev1.ServiceAccountArgs{
		Metadata: c.Meta(Prometheus, "prometheus", nil),
	}, opts...)
	if err != nil {
		return nil, err
	}
	role, err := rbacv1.NewRole(ctx, name+"-prometheus-role", &rbacv1.RoleArgs{
		Metadata: c.Meta(Prometheus+"-discovery", "prometheus", nil),
		Rules: rbacv1.PolicyRuleArray{rbacv1.PolicyRuleArgs{
			ApiGroups: pulumi.ToStringArray([]string{""}),
			Resources: pulumi.ToStringArray([]string{"pods"}),
			Verbs:     pulumi.ToStringArray([]string{"get", "list", "watch"}),
		}},
	}, opts...)
	if err != nil {
		return nil, err
	}
	binding, err := rbacv1.NewRoleBinding(ctx, name+"-prometheus-rolebinding", &rbacv1.RoleBindingArgs{
		Metadata: c.Meta(Prometheus+"-discovery", "prometheus", nil),
		RoleRef: &rbacv1.RoleRefArgs{
			ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("Role"), Name: pulumi.String(Prometheus + "-discovery"),
		},
		Subjects: rbacv1.SubjectArray{rbacv1.SubjectArgs{
			Kind: pulumi.String("ServiceAccount"), Name: pulumi.String(Prometheus), Namespace: c.NamespaceName,
		}},
	}, opts...)
	if err != nil {
		return nil, err
	}
	auth, err := corev1.NewSecret(ctx, name+"-prometheus-auth", &corev1.SecretArgs{
		Metadata: c.Meta(PrometheusAuthSecret, "prometheus", nil),
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			fileKey(path.Base(mon.PrometheusWebConfigPath)):      webConfig,
			fileKey(path.Base(dockermon.PrometheusPasswordFile)): pulumi.Sprintf("%s\n", password),
		},
	}, opts...)
	if err != nil {
		return nil, err
	}
	const root = "/etc/prometheus"
	cm, cmName, err := configMap(ctx, c, m, name+"-prometheus-config", Prometheus+"-config", "prometheus", root, files)
	if err != nil {
		return nil, err
	}
	data, err := c.DataClaim(ctx, m, name+"-prometheus-data", Prometheus+"-data", PrometheusDataGiB)
	if err != nil {
		return nil, err
	}
	sources := corev1.VolumeProjectionArray{
		corev1.VolumeProjectionArgs{ConfigMap: &corev1.ConfigMapProjectionArgs{Name: pulumi.String(cmName), Items: items(root, files)}},
		corev1.VolumeProjectionArgs{Secret: &corev1.SecretProjectionArgs{Name: pulumi.String(PrometheusAuthSecret), Items: corev1.KeyToPathArray{
			corev1.KeyToPathArgs{Key: pulumi.String(fileKey(path.Base(mon.PrometheusWebConfigPath))), Path: pulumi.String(rel(root, mon.PrometheusWebConfigPath))},
			corev1.KeyToPathArgs{Key: pulumi.String(fileKey(path.Base(dockermon.PrometheusPasswordFile))), Path: pulumi.String(rel(root, dockermon.PrometheusPasswordFile))},
		}}},
	}
	// Engine keys: Prometheus reads the file at every scrape, so a new key
	// reaches it when the kubelet refreshes the volume; no restart.
	for _, f := range a.Lab.Frameworks {
		if f.CredentialsFile == "" {
			continue
		}
		sources = append(sources, corev1.VolumeProjectionArgs{Secret: &corev1.SecretProjectionArgs{
			Name:  pulumi.String(kframework.KeySecret(f.Name)),
			Items: corev1.KeyToPathArray{corev1.KeyToPathArgs{Key: pulumi.String(kframework.KeySecretKey), Path: pulumi.String(rel(root, f.CredentialsFile))}},
		}})
	}
	probe := dockermon.PrometheusHealthcheck()
	window := 3 * time.Minute
	after := append(slices.Clone(a.After), sa, role, binding, auth, cm)
	deployment, err := appsv1.NewDeployment(ctx, name+"-prometheus", &appsv1.DeploymentArgs{
		Metadata: c.Meta(Prometheus, "prometheus", nil),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(1),
			Strategy: &appsv1.DeploymentStrategyArgs{Type: pulumi.String("Recreate")}, // one TSDB writer
			Selector: &metav1.LabelSelectorArgs{MatchLabels: kube.Selector(Prometheus)},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: kube.Labels(c.Stack, Prometheus, "prometheus", nil)},
				Spec: &corev1.PodSpecArgs{
					ServiceAccountName: pulumi.String(Prometheus),
					EnableServiceLinks: pulumi.Bool(false),
					SecurityContext:    podSecurity(prometheusUID),
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:            pulumi.String(Prometheus),
						Image:           pulumi.String(a.PrometheusImage),
						ImagePullPolicy: pulumi.String("IfNotPresent"),
						Args:            pulumi.ToStringArray(mon.PrometheusArgs(a.Retention)),
						Ports:           port(dockermon.PrometheusPort),
						ReadinessProbe:  kube.ReadinessProbe(probe),
						StartupProbe:    kube.StartupProbe(probe, window),
						SecurityContext: containerSecurity(prometheusUID),
						VolumeMounts: corev1.VolumeMountArray{
							corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String(root), ReadOnly: pulumi.Bool(true)},
							corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String(mon.PrometheusDataDir)},
						},
					}},
					Volumes: corev1.VolumeArray{
						corev1.VolumeArgs{Name: pulumi.String("config"), Projected: &corev1.ProjectedVolumeSourceArgs{DefaultMode: pulumi.Int(0o440), Sources: sources}},
						corev1.VolumeArgs{Name: pulumi.String("data"), PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: data}},
					},
				},
			},
		},
	}, append(slices.Clone(opts), pulumi.DependsOn(after), timeouts(window))...)
	if err != nil {
		return nil, fmt.Errorf("monitoring %s: prometheus: %w", name, err)
	}
	if err := service(ctx, c, m, name+"-prometheus-service", Prometheus, a.PrometheusPort); err != nil {
		return nil, err
	}
	return deployment, nil
}

// grafana creates its Secret, provisioning and dashboards, data claim,
// Deployment and Service, after Prometheus.
func grafana(ctx *pulumi.Context, m *Monitoring, name string, a MonitoringArgs, files map[string][]byte, admin, promPassword pulumi.StringOutput, prom pulumi.Resource) error {
	c := a.Cluster
	opts := c.Opts(m)
	secret, err := corev1.NewSecret(ctx, name+"-grafana-secrets", &corev1.SecretArgs{
		Metadata: c.Meta(GrafanaSecret, "grafana", nil),
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			fileKey(path.Base(mon.GrafanaAdminPasswordFile)):      admin,
			fileKey(path.Base(mon.GrafanaPrometheusPasswordFile)): promPassword,
		},
	}, opts...)
	if err != nil {
		return err
	}
	const root = "/etc/grafana"
	cm, cmName, err := configMap(ctx, c, m, name+"-grafana-config", Grafana+"-config", "grafana", root, files)
	if err != nil {
		return err
	}
	data, err := c.DataClaim(ctx, m, name+"-grafana-data", Grafana+"-data", GrafanaDataGiB)
	if err != nil {
		return err
	}
	sources := corev1.VolumeProjectionArray{
		corev1.VolumeProjectionArgs{ConfigMap: &corev1.ConfigMapProjectionArgs{Name: pulumi.String(cmName), Items: items(root, files)}},
		corev1.VolumeProjectionArgs{Secret: &corev1.SecretProjectionArgs{Name: pulumi.String(GrafanaSecret), Items: corev1.KeyToPathArray{
			corev1.KeyToPathArgs{Key: pulumi.String(fileKey(path.Base(mon.GrafanaAdminPasswordFile))), Path: pulumi.String(rel(root, mon.GrafanaAdminPasswordFile))},
			corev1.KeyToPathArgs{Key: pulumi.String(fileKey(path.Base(mon.GrafanaPrometheusPasswordFile))), Path: pulumi.String(rel(root, mon.GrafanaPrometheusPasswordFile))},
		}}},
	}
	env := corev1.EnvVarArray{}
	for _, kv := range mon.GrafanaEnv() {
		k, v, _ := strings.Cut(kv, "=")
		env = append(env, corev1.EnvVarArgs{Name: pulumi.String(k), Value: pulumi.String(v)})
	}
	probe := dockermon.GrafanaHealthcheck()
	window := 4 * time.Minute
	// Each file is mounted on its own (subPath), the way the Docker target
	// uploads it: the image's /etc/grafana (grafana.ini, the other
	// provisioning directories) stays as it is.
	mounts := corev1.VolumeMountArray{
		corev1.VolumeMountArgs{Name: pulumi.String("data"), MountPath: pulumi.String("/var/lib/grafana")},
		corev1.VolumeMountArgs{Name: pulumi.String("tmp"), MountPath: pulumi.String("/tmp")}, // the root filesystem is read-only
	}
	for _, p := range append(slices.Sorted(maps.Keys(files)), mon.GrafanaAdminPasswordFile, mon.GrafanaPrometheusPasswordFile) {
		mounts = append(mounts, corev1.VolumeMountArgs{
			Name: pulumi.String("config"), MountPath: pulumi.String(p), SubPath: pulumi.String(rel(root, p)), ReadOnly: pulumi.Bool(true),
		})
	}
	_, err = appsv1.NewDeployment(ctx, name+"-grafana", &appsv1.DeploymentArgs{
		Metadata: c.Meta(Grafana, "grafana", nil),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(1),
			Strategy: &appsv1.DeploymentStrategyArgs{Type: pulumi.String("Recreate")}, // one SQLite writer
			Selector: &metav1.LabelSelectorArgs{MatchLabels: kube.Selector(Grafana)},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: kube.Labels(c.Stack, Grafana, "grafana", nil)},
				Spec: &corev1.PodSpecArgs{
					EnableServiceLinks:           pulumi.Bool(false),
					AutomountServiceAccountToken: pulumi.Bool(false),
					SecurityContext:              podSecurity(grafanaUID),
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:            pulumi.String(Grafana),
						Image:           pulumi.String(a.GrafanaImage),
						ImagePullPolicy: pulumi.String("IfNotPresent"),
						Env:             env,
						Ports:           port(dockermon.GrafanaPort),
						ReadinessProbe:  kube.ReadinessProbe(probe),
						StartupProbe:    kube.StartupProbe(probe, window),
						SecurityContext: containerSecurity(grafanaUID),
						VolumeMounts:    mounts,
					}},
					Volumes: corev1.VolumeArray{
						corev1.VolumeArgs{Name: pulumi.String("config"), Projected: &corev1.ProjectedVolumeSourceArgs{DefaultMode: pulumi.Int(0o440), Sources: sources}},
						corev1.VolumeArgs{Name: pulumi.String("data"), PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: data}},
						corev1.VolumeArgs{Name: pulumi.String("tmp"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}},
					},
				},
			},
		},
	}, append(slices.Clone(opts), pulumi.DependsOn([]pulumi.Resource{prom, secret, cm}), timeouts(window))...)
	if err != nil {
		return fmt.Errorf("monitoring %s: grafana: %w", name, err)
	}
	return service(ctx, c, m, name+"-grafana-service", Grafana, a.GrafanaPort)
}

// configMap holds files (container paths under root) in an immutable
// ConfigMap named by their content, so a change rolls the pod.
func configMap(ctx *pulumi.Context, c *cluster.Cluster, m *Monitoring, resName, base, role, root string, files map[string][]byte) (*corev1.ConfigMap, string, error) {
	data := pulumi.StringMap{}
	var content [][]byte
	for _, p := range slices.Sorted(maps.Keys(files)) {
		data[fileKey(rel(root, p))] = pulumi.String(string(files[p]))
		content = append(content, []byte(p), files[p])
	}
	cmName := kube.HashName(base, content...)
	cm, err := corev1.NewConfigMap(ctx, resName, &corev1.ConfigMapArgs{
		Metadata:  c.Meta(cmName, role, nil),
		Immutable: pulumi.Bool(true),
		Data:      data,
	}, c.Opts(m)...)
	if err != nil {
		return nil, "", err
	}
	return cm, cmName, nil
}

// items place a ConfigMap's files at their paths under root.
func items(root string, files map[string][]byte) corev1.KeyToPathArray {
	out := corev1.KeyToPathArray{}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		out = append(out, corev1.KeyToPathArgs{Key: pulumi.String(fileKey(rel(root, p))), Path: pulumi.String(rel(root, p))})
	}
	return out
}

// rel is p relative to root ("/etc/prometheus/rules/alerts.yml" →
// "rules/alerts.yml").
func rel(root, p string) string { return strings.TrimPrefix(p, root+"/") }

// fileKey is a ConfigMap/Secret key for a relative path: keys may not
// hold "/".
func fileKey(relPath string) string { return strings.ReplaceAll(relPath, "/", "_") }

func port(p int) corev1.ContainerPortArray {
	return corev1.ContainerPortArray{corev1.ContainerPortArgs{
		Name: pulumi.String(kube.PortName), ContainerPort: pulumi.Int(p), Protocol: pulumi.String("TCP"),
	}}
}

func service(ctx *pulumi.Context, c *cluster.Cluster, m *Monitoring, resName, svc string, p int) error {
	meta := c.Meta(svc, svc, nil)
	meta.Annotations = kube.SkipAwait
	_, err := corev1.NewService(ctx, resName, &corev1.ServiceArgs{
		Metadata: meta,
		Spec: &corev1.ServiceSpecArgs{
			Selector: kube.Selector(svc),
			Ports: corev1.ServicePortArray{corev1.ServicePortArgs{
				Name: pulumi.String(kube.PortName), Port: pulumi.Int(p), TargetPort: pulumi.String(kube.PortName), Protocol: pulumi.String("TCP"),
			}},
		},
	}, c.Opts(m)...)
	return err
}

// podSecurity runs the pod as uid, its volumes group-owned by uid.
func podSecurity(uid int) *corev1.PodSecurityContextArgs {
	return &corev1.PodSecurityContextArgs{
		RunAsNonRoot: pulumi.Bool(true),
		RunAsUser:    pulumi.Int(uid),
		RunAsGroup:   pulumi.Int(uid),
		FsGroup:      pulumi.Int(uid),
	}
}

// containerSecurity is kube.Restricted with the image's own user.
func containerSecurity(uid int) *corev1.SecurityContextArgs {
	s := kube.Restricted()
	s.RunAsUser, s.RunAsGroup = pulumi.Int(uid), pulumi.Int(uid)
	return s
}

func timeouts(window time.Duration) pulumi.ResourceOption {
	t := (window + kframework.ImagePullMargin).String()
	return pulumi.Timeouts(&pulumi.CustomTimeouts{Create: t, Update: t})
}

func validate(name string, args *MonitoringArgs) (MonitoringArgs, error) {
	if args == nil {
		return MonitoringArgs{}, fmt.Errorf("monitoring %s: args are required", name)
	}
	a := *args
	var errs []error
	if a.Cluster == nil {
		errs = append(errs, fmt.Errorf("monitoring %s: cluster is required", name))
	}
	if a.PrometheusPort == 0 {
		a.PrometheusPort = dockermon.PrometheusPort
	}
	if a.GrafanaPort == 0 {
		a.GrafanaPort = dockermon.GrafanaPort
	}
	for _, p := range []int{a.PrometheusPort, a.GrafanaPort} {
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("monitoring %s: port %d out of range 1-65535", name, p))
		}
	}
	for _, f := range a.Lab.Frameworks {
		if f.CredentialsFile != "" && !strings.HasPrefix(f.CredentialsFile, "/etc/prometheus/") {
			errs = append(errs, fmt.Errorf("monitoring %s: %s's credentials file %s is not under /etc/prometheus, where its volume is mounted", name, f.Name, f.CredentialsFile))
		}
	}
	if a.PrometheusImage == "" {
		a.PrometheusImage = dockermon.DefaultPrometheusImage
	}
	if a.GrafanaImage == "" {
		a.GrafanaImage = dockermon.DefaultGrafanaImage
	}
	a.PrometheusImage, a.GrafanaImage = imageref.Qualify(a.PrometheusImage), imageref.Qualify(a.GrafanaImage)
	return a, errors.Join(errs...)
}
