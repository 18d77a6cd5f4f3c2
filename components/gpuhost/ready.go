package gpuhost

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ReadyScript waits until a container is running and healthy, and fails as
// soon as it cannot become so: it has exited or is restarting, it has
// restarted at least once (a crash loop under `restart: unless-stopped`), or
// it is unhealthy — printing the container's last 200 log lines to stderr,
// which pulumi-command puts in the error `up` reports. It is a fixed script
// fed on stdin to `sh -s -- NAME SECONDS`: the container name and the time
// limit are argv words, quoted like any other.
//
// It replaces the docker provider's wait (`wait: true`), which polls only
// for "healthy" and notices a crashing container only when its timeout
// runs out. Podman runs healthchecks from systemd timers; where nothing
// runs them the container stays "starting" until the limit.
const ReadyScript = `name=$1 limit=$2
start=$(date +%s)
while :; do
	state=$(docker inspect --format '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$name" </dev/null 2>&1) || {
		echo "servelab: cannot inspect container $name: $state" >&2
		exit 1
	}
	set -- $state
	status=$1 restarts=$2 code=$3 health=$4
	why=
	case $status in
	running|created|configured|initialized) ;;
	*) why="is $status (exit code $code)" ;;
	esac
	if [ -z "$why" ] && [ "$restarts" -gt 0 ]; then
		why="restarted $restarts time(s): it crashes at start-up"
	elif [ -z "$why" ] && [ "$health" = unhealthy ]; then
		why="is unhealthy"
	elif [ -z "$why" ] && [ "$status" = running ] && { [ "$health" = healthy ] || [ "$health" = none ]; }; then
		echo "$name: ready ($health)"
		exit 0
	elif [ -z "$why" ] && [ $(( $(date +%s) - start )) -ge "$limit" ]; then
		why="is not healthy after ${limit}s (state $status, health $health)"
	fi
	if [ -n "$why" ]; then
		echo "servelab: container $name $why; its last 200 log lines:" >&2
		docker logs --tail 200 "$name" </dev/null >&2 2>&1
		echo "servelab: end of $name's logs" >&2
		exit 1
	fi
	sleep 2
done
`

// ReadyArgs say which container AwaitReady watches.
type ReadyArgs struct {
	// Container is the container resource; ContainerName its Docker name.
	Container     *docker.Container
	ContainerName string
	// Timeout bounds the wait for healthy: the container's start-up
	// budget (a model download and load for an engine).
	Timeout time.Duration
}

// ReadyMargin is how much longer than ReadyArgs.Timeout the readiness
// command's own custom timeout is, so the script's message (with the logs)
// reaches `up` rather than Pulumi's kill.
const ReadyMargin = time.Minute

// AwaitReady runs ReadyScript on the host after the container is created.
// Create containers without the provider's wait and depend on the
// returned command for "ready". A replaced container (a new ID) re-runs
// it.
func (h *GpuHost) AwaitReady(ctx *pulumi.Context, name string, args ReadyArgs, opts ...pulumi.ResourceOption) (*Command, error) {
	if args.Container == nil || args.ContainerName == "" || args.Timeout <= 0 {
		return nil, errors.New(name + ": AwaitReady needs the container, its name and a timeout")
	}
	limit := Duration(args.Timeout + ReadyMargin)
	opts = append(opts,
		pulumi.DependsOn([]pulumi.Resource{args.Container}),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: limit, Update: limit}))
	c, err := h.Run(ctx, name, RunArgs{
		Argv:          []string{"sh", "-s", "--", args.ContainerName, strconv.Itoa(int(args.Timeout.Seconds()))},
		Stdin:         pulumi.String(ReadyScript),
		TriggerInputs: []pulumi.Input{args.Container.ID()},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}
