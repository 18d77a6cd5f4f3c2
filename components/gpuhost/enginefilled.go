package gpuhost

// What Docker and podman report back differently for the same request.
// The docker provider reads these fields from the engine after creating a
// resource; where an engine fills in its own value, the next `up` would
// show a change (and, the fields being create-only, replace the resource)
// although nothing changed. Pulumi is told to ignore them (ignoreChanges);
// README's "Docker and podman" section lists them with the reason.

// EngineFilledContainerFields are the docker.Container inputs ignored:
//
//   - pidMode: servelab sets none; podman reports "private", Docker "".
//   - logOpts: podman reports none (null) whatever was asked, Docker the
//     options given. Consequence: a change to servelab's log rotation
//     reaches a container when it is replaced for another reason.
func EngineFilledContainerFields() []string { return []string{"pidMode", "logOpts"} }

// EngineFilledNetworkFields are the docker.Network inputs ignored:
//
//   - ipamOptions: servelab sets none; podman reports {driver: host-local}.
func EngineFilledNetworkFields() []string { return []string{"ipamOptions"} }
