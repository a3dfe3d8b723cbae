#!/usr/bin/env bash
# Build the example algorithm images and their `docker save` tarballs.
#
#   examples/build.sh [name ...]     names: weak-baseline classical torch-cnn segmentation
#                                    detection (default: all)
#
# For each example: pip-installs its pinned requirements*.txt on the host into
# examples/build/<name>-site and <name>-train-site (cached on the file's hash), assembles a build context
# under examples/build/<name>-context, builds `enclave-example/<name>:latest` (FROM the local
# base image, built first by examples/base/build-base.sh) and writes examples/build/<name>.tar.
# Everything is keyed on a hash of the example's sources, this script and the base image id,
# stored as the image label org.enclave.source-hash: a second run with nothing changed only
# compares hashes. Env: PIP (default .venv/bin/pip), ENCLAVE_BASE_IMAGE.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
BUILD="$HERE/build"
PIP="${PIP:-$ROOT/.venv/bin/pip}"
BASE_IMAGE="${ENCLAVE_BASE_IMAGE:-enclave/base:bookworm}"
ALL=(weak-baseline classical torch-cnn segmentation detection)
LABEL=org.enclave.source-hash

say() { echo "[examples] $*"; }
fail() { echo "[examples] error: $*" >&2; exit 1; }

# The example's own files, plus the shared algokit for the learned classifiers.
source_files() {
  local name="$1"
  (cd "$HERE" && find "$name" -maxdepth 1 -type f | sort)
  if [[ "$name" == classical || "$name" == torch-cnn ]]; then
    (cd "$HERE" && find algokit -maxdepth 1 -type f -name '*.py' | sort)
  fi
}

source_hash() {
  local name="$1" base_id="$2"
  {
    echo "base $base_id"
    sha256sum "$HERE/build.sh" | cut -d' ' -f1
    source_files "$name" | while read -r file; do
      echo "$file $(sha256sum "$HERE/$file" | cut -d' ' -f1)"
    done
  } | sha256sum | cut -d' ' -f1
}

# pip install --target, cached on the requirements file's hash; strips what an image never needs.
site_for() {
  local requirements="$1" site="$2"
  local want
  want="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [[ -f "$site/.requirements.sha256" && "$(cat "$site/.requirements.sha256")" == "$want" ]]; then
    return
  fi
  say "pip install $(basename "$requirements") -> ${site#"$ROOT"/}"
  rm -rf "$site"
  if ! "$PIP" install --quiet --no-deps --no-compile --no-cache-dir --target "$site" \
    -r "$requirements" > "$site.log" 2>&1; then
    cat "$site.log" >&2
    fail "pip install failed for $requirements"
  fi
  strip_site "$site"
  echo "$want" > "$site/.requirements.sha256"
}

strip_site() {
  local site="$1"
  find "$site" -depth -type d \( -name __pycache__ -o -name tests -o -name testing_data \) \
    -not -path '*/torch/testing*' -exec rm -rf {} +
  rm -rf "$site/bin" "$site"/torch/{test,include,share} "$site"/torch/lib/*test*.so \
    "$site"/torch/lib/libbackend_with_compiler.so "$site"/torch/lib/libaoti_custom_ops.so
  if [[ -d "$site/torch/bin" ]]; then  # keep only what `import torch` checks for
    find "$site/torch/bin" -mindepth 1 -maxdepth 1 -not -name torch_shm_manager -exec rm -rf {} +
  fi
}

assemble_context() {
  local name="$1" context="$2"
  rm -rf "$context"
  mkdir -p "$context/app"
  cp "$HERE/$name/Dockerfile" "$context/"
  source_files "$name" | grep '\.py$' | while read -r file; do cp "$HERE/$file" "$context/app/"; done
  local kind site requirements
  for kind in site train-site; do
    case "$kind" in
      site) requirements="$HERE/$name/requirements.txt" ;;
      train-site) requirements="$HERE/$name/requirements-train.txt" ;;
    esac
    [[ -e "$requirements" ]] || continue
    site="$BUILD/$name-$kind"
    site_for "$requirements" "$site"
    cp -al "$site" "$context/$kind" 2>/dev/null || cp -a "$site" "$context/$kind"
  done
}

image_hash() {
  docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null || true
}

build_one() {
  local name="$1" base_id="$2"
  local tag="enclave-example/$name:latest" tarball="$BUILD/$name.tar" hash
  hash="$(source_hash "$name" "$base_id")"
  if [[ "$(image_hash "$tag")" == "$hash" ]]; then
    say "$name: image up to date"
  else
    local context="$BUILD/$name-context" log="$BUILD/$name-build.log" started=$SECONDS
    say "$name: building $tag (log: ${log#"$ROOT"/})"
    assemble_context "$name" "$context"
    if ! docker build --build-arg "BASE_IMAGE=$BASE_IMAGE" --label "$LABEL=$hash" -t "$tag" \
      "$context" > "$log" 2>&1; then
      tail -n 30 "$log" >&2
      fail "$name: docker build failed"
    fi
    rm -rf "$context"
    docker image prune --force --filter "label=$LABEL" > /dev/null || true
    say "$name: built in $((SECONDS - started)) s"
  fi
  if [[ -f "$tarball" && -f "$tarball.hash" && "$(cat "$tarball.hash")" == "$hash" ]]; then
    say "$name: tarball up to date"
  else
    say "$name: docker save -> ${tarball#"$ROOT"/}"
    docker save -o "$tarball.partial" "$tag" || fail "$name: docker save failed"
    mv "$tarball.partial" "$tarball"
    echo "$hash" > "$tarball.hash"
  fi
  say "$name: ready ($(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec) image)"
}

main() {
  local names=("$@") name
  if [[ ${#names[@]} -eq 0 ]]; then names=("${ALL[@]}"); fi
  for name in "${names[@]}"; do
    [[ " ${ALL[*]} " == *" $name "* ]] || fail "unknown example '$name' (known: ${ALL[*]})"
  done
  mkdir -p "$BUILD"
  ENCLAVE_BASE_IMAGE="$BASE_IMAGE" bash "$HERE/base/build-base.sh" | sed 's/^/[examples] /'
  local base_id
  base_id="$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")" || fail "no base image $BASE_IMAGE"
  for name in "${names[@]}"; do
    build_one "$name" "$base_id"
  done
}

main "$@"
