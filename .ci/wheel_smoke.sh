#!/usr/bin/env bash
# The wheel, installed: build layerkit's wheel from the checkout's tracked files, install it (not
# editable) into a fresh venv, and run every command from that install in a folder outside the
# checkout. The tests use an editable install, which reads the checkout and so cannot see a
# package or a data file the wheel leaves out.
#
# Offline where it can be: the venv reuses the machine's TensorFlow and other dependencies
# (--system-site-packages, pip --no-index); only if the machine lacks some are they downloaded.
# (A plain venv, downloading them all from PyPI, took 47 s to install here, against 5 s.) Through
# that door a layerkit installed editable on the machine stays visible, and setuptools' editable
# finder would quietly serve a module the wheel lacks from its checkout (it did, for the
# layerkit.importer a hand-listed `packages` left out); so every file tracked under layerkit/ is
# checked to be installed in the venv, and every module to import from there.
# The training data is tests/data/cifar10-600.tar.gz, passed with --data: nothing is downloaded.
#
# Usage: bash .ci/wheel_smoke.sh   (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python}
export CUDA_VISIBLE_DEVICES='' TF_CPP_MIN_LOG_LEVEL=3
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONNOUSERSITE=1
unset PYTHONPATH
SECONDS=0

step() { printf '\n[wheel smoke %4ss] %s\n' "$SECONDS" "$*"; }
fail() { printf '\nwheel smoke FAILED: %s\n' "$*" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/layerkit-wheel-smoke.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
case "$WORK/" in
    "$ROOT"/*) fail "the scratch folder $WORK is inside the checkout; set TMPDIR elsewhere" ;;
esac
# Caches and settings of the commands stay in the scratch folder, away from the user's.
export LAYERKIT_CACHE="$WORK/cache" KERAS_HOME="$WORK/keras" MPLCONFIGDIR="$WORK/matplotlib"
VENV="$WORK/venv"

# check PATTERN COMMAND...: COMMAND must exit 0 and print (stdout or stderr) a line matching the
# extended regular expression PATTERN. Its stdout is left in $WORK/stdout for further checks.
check() {
    local pattern=$1 status=0
    shift
    printf '  $ %s\n' "$*"
    "$@" >"$WORK/stdout" 2>"$WORK/stderr" || status=$?
    if [ "$status" -ne 0 ]; then
        cat "$WORK/stdout" "$WORK/stderr" >&2
        fail "exit code $status from: $*"
    fi
    cat "$WORK/stdout" "$WORK/stderr" | tail -n 6 | cut -c 1-150 | sed 's/^/    /'
    grep -Eq -- "$pattern" "$WORK/stdout" "$WORK/stderr" \
        || fail "no line matching /$pattern/ in the output of: $*"
}

# check_exit CODE PATTERN COMMAND...: as check, for a command that must exit with CODE.
check_exit() {
    local code=$1 pattern=$2 status=0
    shift 2
    printf '  $ %s   [exit %s]\n' "$*" "$code"
    "$@" >"$WORK/stdout" 2>"$WORK/stderr" || status=$?
    cat "$WORK/stdout" "$WORK/stderr" | tail -n 6 | cut -c 1-150 | sed 's/^/    /'
    [ "$status" -eq "$code" ] || fail "exit code $status, not $code, from: $*"
    grep -Eq -- "$pattern" "$WORK/stdout" "$WORK/stderr" \
        || fail "no line matching /$pattern/ in the output of: $*"
}

# json_check EXPRESSION [ARG...]: the JSON the last command printed, as `out`, makes the Python
# EXPRESSION true (further arguments are its sys.argv[3:]).
json_check() {
    local program='import json, sys
out = json.load(open(sys.argv[1], encoding="utf-8"))
sys.exit(not eval(sys.argv[2]))'
    python -c "$program" "$WORK/stdout" "$@" || fail "the JSON printed does not satisfy: $1"
}

step "build the wheel from a copy of the tracked files"
mkdir "$WORK/source"
git -C "$ROOT" ls-files -z | tar -C "$ROOT" --null -T - -cf - | tar -C "$WORK/source" -xf - \
    || fail "could not copy the tracked files of $ROOT"
check "Successfully built layerkit" \
    "$PYTHON" -m pip wheel "$WORK/source" --no-deps --no-build-isolation --no-index -w "$WORK/dist"
WHEEL=$(echo "$WORK"/dist/layerkit-*.whl)

step "install it with its export and tune extras into a fresh venv (dependencies from the machine, offline)"
"$PYTHON" -m venv --system-site-packages "$VENV"
if ! "$VENV/bin/python" -m pip install --no-index "$WHEEL[export,tune]" >"$WORK/stdout" 2>&1; then
    grep -E "^ERROR" "$WORK/stdout" | sed 's/^/    /' || true
    echo "  the machine lacks some of layerkit's dependencies: installing them from the index"
    check "Successfully installed .*layerkit" "$VENV/bin/python" -m pip install "$WHEEL[export,tune]"
fi
export PATH="$VENV/bin:$PATH"
[ "$(command -v layerkit)" = "$VENV/bin/layerkit" ] \
    || fail "the layerkit command on PATH is $(command -v layerkit), not the venv's"

mkdir "$WORK/run"
cd "$WORK/run"
step "the layerkit imported is the venv's copy, complete"
git -C "$ROOT" ls-files layerkit >"$WORK/tracked"
check "^layerkit .*/venv/" python - "$WORK/tracked" <<'EOF'
import importlib.metadata
import importlib.util
import json
import sys
import sysconfig
from pathlib import Path

import layerkit

installed = Path(sysconfig.get_paths()["purelib"]).resolve()
package = Path(layerkit.__file__).resolve().parent
if package != installed / "layerkit":
    sys.exit(f"layerkit is imported from {package}, not from the venv's {installed}")
tracked = Path(sys.argv[1]).read_text().split()
missing = [name for name in tracked if not (installed / name).is_file()]
if missing:
    sys.exit(f"the installed package lacks {missing}")
for name in tracked:
    if name.endswith(".py"):
        module_name = name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        # where the module is imported from, without running it (layerkit.__main__ would)
        origin = Path(importlib.util.find_spec(module_name).origin).resolve()
        if not origin.is_relative_to(installed):
            sys.exit(f"{module_name} is imported from {origin}, outside the venv")
direct_url = importlib.metadata.distribution("layerkit").read_text("direct_url.json")
if direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"):
    sys.exit("layerkit is installed editable")
print("layerkit", layerkit.__file__)
print(f"{len(tracked)} tracked files installed; every module imports from the venv")
EOF

cp "$ROOT/specs/cifar.yaml" "$ROOT/examples/cifar_summary.txt" \
    "$ROOT/examples/cifar_summary_one_change.txt" .
cp "$ROOT/tests/data/cifar10-600.tar.gz" .

step "validate and build --json a copy of specs/cifar.yaml"
check "valid spec 'cifar10_cnn'" layerkit validate cifar.yaml
check '"total_params": 2494982' layerkit build --json cifar.yaml
json_check 'out["ok"] and out["total_params"] == 2494982 and len(out["layers"]) == 25'

step "import a printed summary, and build the spec it writes"
check "wrote cifar_imported.yaml" layerkit import cifar_summary.txt -o cifar_imported.yaml
check "expectations match" layerkit build cifar_imported.yaml

step "diff the spec against its printed summary, and against one with a filter count changed"
check "^✓ identical: 25 layers, 2,494,982 params" layerkit diff cifar.yaml cifar_summary.txt
check_exit 1 "^✗ 3 layers differ" layerkit diff cifar.yaml cifar_summary_one_change.txt

step "import keras:MobileNetV2"
check "wrote mobilenet_v2.yaml" layerkit import keras:MobileNetV2 -o mobilenet_v2.yaml
check "valid spec" layerkit validate mobilenet_v2.yaml

step "graph, schema, new"
check "wrote g.svg" layerkit graph cifar.yaml -o g.svg
grep -q "<svg" g.svg || fail "g.svg is not an SVG drawing"
# shellcheck disable=SC2016  # $schema is the JSON Schema key, not a shell variable
check '"\$schema": ".*draft-07' layerkit schema
# shellcheck disable=SC2016
json_check '"draft-07" in out["$schema"] and "layers" in out["properties"]'
check "wrote my_net.yaml" layerkit new my_net
check "expectations match" layerkit build my_net.yaml

step "train one epoch on 600 real CIFAR-10 images, evaluate, predict, resume"
cat >tiny.yaml <<'EOF'
name: tiny_cnn
input: [32, 32, 3]
layers:
  - conv2d: {filters: 8, kernel_size: 3, padding: same, activation: relu}
  - max_pooling2d
  - conv2d: {filters: 16, kernel_size: 3, padding: same, activation: relu}
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
data:
  normalize: {scale: 0.00392156862745098}
train:
  epochs: 1
  batch_size: 32
  validation_split: 100
expect:
  total_params: 1562
EOF
check "valid spec 'tiny_cnn'" layerkit validate tiny.yaml
check "^done: 1 epoch in run" layerkit train tiny.yaml --data cifar10-600.tar.gz --out run
for file in spec.yaml setup.json state.json history.csv metrics.json model_{best,last}.keras; do
    [ -f "run/$file" ] || fail "the run directory lacks $file: $(ls run)"
done
check "^100 images from .*: accuracy [0-9.]+, top-5" layerkit evaluate run
check '"n": 100' layerkit evaluate --json run
json_check 'len(out["class_names"]) == 10 and sum(map(sum, out["confusion"])) == 100'
IMAGES=(train/cat/0000.jpg train/ship/0000.jpg train/truck/0000.jpg)
tar -xzf cifar10-600.tar.gz "${IMAGES[@]}"
check "^train/truck/0000.jpg +[a-z]+ 0\.[0-9]+" layerkit predict --plain run "${IMAGES[@]}"
check '"top"' layerkit predict --json run "${IMAGES[@]}"
json_check '[r["file"] for r in out["predictions"]] == sys.argv[3:] and all(len(r["top"]) == 3 for r in out["predictions"])' \
    "${IMAGES[@]}"
check "^done: 2 epochs in run" layerkit train --resume run --epochs 2
[ "$(wc -l <run/history.csv)" -eq 3 ] \
    || fail "run/history.csv should hold a header and 2 epochs: $(cat run/history.csv)"

step "list the runs; export the run to each format, each checked in its own runtime"
check "^run +tiny_cnn +finished +2/2" layerkit runs --plain .
check '"status": "finished"' layerkit runs --json .
for format in savedmodel onnx tflite; do
    check "^✓ exported .*: 100 real images, top-1 agrees on 100/100" \
        layerkit export run --format "$format" --images 100
done

step "tune two trials of one epoch, and continue the study to three"
cat >tune.yaml <<'EOF'
name: tiny_tune
vars:
  width: 8
input: [32, 32, 3]
layers:
  - conv2d: {filters: "${width}", kernel_size: 3, activation: relu}
  - global_average_pooling2d
  - dense: {units: 10, activation: softmax}
train:
  optimizer: {adam: {learning_rate: 0.001}}
  epochs: 1
  validation_split: 100
search:
  width: {int: [4, 16], step: 4}
  train.optimizer.adam.learning_rate: {float: [0.0003, 0.01], log: true}
expect:
  total_params: 314
EOF
check "^best val_accuracy" layerkit tune tune.yaml --trials 2 --data cifar10-600.tar.gz --out tuned
check "^best val_accuracy" layerkit tune tune.yaml --trials 3 --data cifar10-600.tar.gz --out tuned
[ -d tuned/trial-003 ] && [ ! -e tuned/trial-004 ] || fail "tuned/ should hold trials 1 to 3: $(ls tuned)"

step "passed in ${SECONDS} s"

