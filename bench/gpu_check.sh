#!/usr/bin/env bash
# The GPU check: one prepared script for a machine with a CUDA GPU, done within 8 minutes.
#
#   1. installs the wheels carried in .whl/ (what the CUDA image lacks: polars, trl, datasets,
#      math-verify, ...; `make gpu-wheels` fills it, bench/gpu_wheels.py says what and why) and
#      factory itself into a private folder put first on PYTHONPATH: no package index needed,
#      the image's own packages untouched;
#   2. runs the `gpu`-marked tests;
#   3. runs bench/gpu_check.py: generate with the transformers backend on CUDA (the tiny model and
#      a 0.49B random-init model from Qwen2.5-0.5B's config), a few bf16 training steps, and
#      tokens/s of each next to plain transformers `generate` and TRL's SFTTrainer called
#      directly on the same card; the numbers also go to $OUT/gpu_check.json.
#
# Usage: bash bench/gpu_check.sh                  (on the GPU machine; python3 must hold torch+CUDA)
#        bash bench/gpu_check.sh --cpu-dry-run    (every step on CPU at tiny sizes: what the tests run)
# Environment: PYTHON (default python3), GPU_CHECK_WHEELS (default .whl), GPU_CHECK_SITE (default
# a fresh temporary folder), OUT (where the JSON goes; default the site folder).
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
case "${1:-}" in
  "") ;;
  --cpu-dry-run) DRY=1 ;;
  *) echo "gpu_check.sh: unknown argument '$1' (expected nothing or --cpu-dry-run)" >&2; exit 2 ;;
esac
PY="${PYTHON:-python3}"
WHEELS="${GPU_CHECK_WHEELS:-.whl}"
SITE="${GPU_CHECK_SITE:-$(mktemp -d "${TMPDIR:-/tmp}/factory-gpu-site.XXXXXX")}"
RESULTS="${OUT:-$SITE}/gpu_check.json"
BUDGET=480  # seconds for everything: each step gets what the earlier ones left
START=$SECONDS
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1

left() {  # seconds left for the next step; none left is a failure, never `timeout 0` (no limit)
  local t=$(( BUDGET - (SECONDS - START) ))
  [ "$t" -gt 0 ] || { echo "gpu_check.sh: the ${BUDGET}s budget is spent" >&2; exit 1; }
  echo "$t"
}
step() { echo; echo "== $1 ($(left)s of ${BUDGET}s left)"; }
fail() { echo "gpu_check.sh: $1" >&2; echo "  hint: $2" >&2; exit 1; }

if [ "$DRY" = 0 ]; then
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null \
    || fail "$PY sees no CUDA GPU (torch.cuda.is_available() is False)" "run it on the GPU machine, or pass --cpu-dry-run"
fi

step "1/3 carried wheels and factory into $SITE"
mkdir -p "$SITE"
shopt -s nullglob
carried=("$WHEELS"/*.whl)
if [ ${#carried[@]} -gt 0 ]; then
  "$PY" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" "${carried[@]}" || fail "installing the ${#carried[@]} wheel(s) of $WHEELS failed" \
    "refill it with \`make gpu-wheels\` (one version of each package; built for Python 3.12)"
  echo "installed ${#carried[@]} carried wheel(s): $(for w in "${carried[@]}"; do basename "$w" | cut -d- -f1-2; done | tr '\n' ' ')"
else
  echo "no wheels in $WHEELS: using what $PY has (fill it with \`make gpu-wheels\` for a bare CUDA image)"
fi
# factory itself, built from this checkout (setuptools from the image; no index, no dependencies)
"$PY" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-build-isolation --no-compile \
  --target "$SITE" . >"$SITE/.factory-install.log" 2>&1 \
  || { tail -20 "$SITE/.factory-install.log" >&2; fail "installing factory from $(pwd) failed" "see the pip output above"; }
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
# -P: the checkout is not put on sys.path (its factory/ lacks the subpackages the install maps in,
# factory.schemas = schemas/ ...): factory is imported from $SITE only
"$PY" -P - <<'EOF' || fail "a package factory needs is missing" "add it to .whl/ (make gpu-wheels --have <the image's pip freeze>)"
import importlib, importlib.metadata as md
need = ["factory", "torch", "transformers", "trl", "datasets", "polars", "pyarrow", "math_verify", "datasketch", "accelerate"]
missing = []
for mod in need:
    try:
        importlib.import_module(mod)
    except Exception as e:  # report every one, then fail
        missing.append(f"{mod} ({type(e).__name__}: {e})")
if missing:
    raise SystemExit("cannot import: " + "; ".join(missing))
import factory
print("factory from", factory.__file__)
print("versions:", ", ".join(f"{d} {md.version(d)}" for d in ("torch", "transformers", "trl", "datasets", "polars", "pyarrow")))
EOF

step "2/3 gpu-marked tests"
if [ "$DRY" = 1 ]; then
  # no GPU: list them (they skip on CPU); collecting imports every test module
  set +e; timeout "$(left)" "$PY" -P -m pytest -q -p no:cacheprovider -m gpu --collect-only tests; rc=$?; set -e
else
  set +e; timeout "$(left)" "$PY" -P -m pytest -q -p no:cacheprovider -m gpu -rs tests; rc=$?; set -e
fi
[ "$rc" = 0 ] || [ "$rc" = 5 ] || fail "the gpu-marked tests failed (pytest exit $rc)" "see the failures above"

step "3/3 generate and train next to transformers and TRL"
if [ "$DRY" = 1 ]; then
  args=(--device cpu --tiny --repeats 1)
else
  args=(--device cuda --repeats 2)
fi
timeout "$(left)" "$PY" -P bench/gpu_check.py "${args[@]}" --json "$RESULTS" \
  || fail "bench/gpu_check.py failed or ran past the ${BUDGET}s budget" "see its output above"
echo
echo "gpu_check.sh: done in $(( SECONDS - START ))s; results in $RESULTS"
