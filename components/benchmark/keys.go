package benchmark

import (
	"strconv"
	"time"

	"github.com/servelab/servelab/components/benchmark/benchspec"
)

// API keys never enter the bench command's inputs: a key there (in stdin,
// argv or environment) would re-run the bench whenever a key rotates,
// because pulumi-command re-runs `create` on any input change. They are
// written by a separate command, <name>-keys, into a 0600 file in the home
// directory of the machine that runs the bench, and the bench command
// reads that file when it starts. Rotating a key updates the keys command
// in place (it rewrites the file); the bench is left alone.
//
// ignoreChanges on the bench's stdin was the other way and does not hold:
// the engine substitutes the previous stdin whenever the resource has
// state, also when a trigger change replaces it, so the next re-run would
// send the key of before the rotation (docs/bench.md#re-runs).

// keysDir is where key files live, under $HOME of the machine running the
// bench (expanded there, at run time: no user's path enters any input).
const keysDir = `"$HOME/.servelab/bench-keys"`

// writeKeysScript stores stdin as key file $1 (mode 0600, replaced
// atomically).
const writeKeysScript = `umask 077 && mkdir -p ` + keysDir + ` && cat > ` + keysDir + `/"$1.tmp" && mv -f ` + keysDir + `/"$1.tmp" ` + keysDir + `/"$1"`

// deleteKeysScript removes key file $1.
const deleteKeysScript = `rm -f ` + keysDir + `/"$1"`

// runScript runs the bench: it exports the first $4 lines of key file $1
// as SERVELAB_BENCH_KEY_0..n-1 (the targets file names them), runs the
// rest of its arguments with the command's stdin (the targets file), and
// when the bench reports its deadline (exit 3) adds which stack setting
// bounds it. $2 and $3 are the timeout and deadline as text.
const runScript = `f=` + keysDir + `/"$1"; timeout=$2; deadline=$3; n=$4; shift 4
src=/dev/null
if [ "$n" -gt 0 ]; then
  [ -r "$f" ] || { echo "servelab: the benchmark's API keys file $f is missing on this machine; make bench STACK=<stack> writes it again" >&2; exit 2; }
  src=$f
fi
i=0
while [ "$i" -lt "$n" ]; do
  IFS= read -r k || { echo "servelab: $f holds $i of the $n API keys the benchmark needs; make bench STACK=<stack> writes it again" >&2; exit 2; }
  export "SERVELAB_BENCH_KEY_$i=$k"
  i=$((i+1))
done < "$src"
"$@"
rc=$?
if [ "$rc" -eq 3 ]; then
  echo "servelab: the benchmark stopped at its deadline ($deadline), set just below servelab:benchmark.timeout ($timeout) so that it ends by itself; raise benchmark.timeout or shorten the workload (numPrompts, maxConcurrency levels, repeats)" >&2
fi
exit "$rc"`

// keysArgv writes the key file; deleteKeysArgv removes it.
func keysArgv(file string) []string {
	return []string{"/bin/sh", "-c", writeKeysScript, "servelab-bench-keys", file}
}

func deleteKeysArgv(file string) []string {
	return []string{"/bin/sh", "-c", deleteKeysScript, "servelab-bench-keys", file}
}

// runArgv wraps the bench's argv in runScript.
func runArgv(file string, keys int, timeout time.Duration, bench []string) []string {
	argv := []string{"/bin/sh", "-c", runScript, "servelab-bench", file, timeout.String(), benchspec.Deadline(timeout).String(), strconv.Itoa(keys)}
	return append(argv, bench...)
}
