#!/bin/sh
# Installs the packed tarballs (*.tgz in PACK_DIR: the main package and one platform package) into a
# project the way a user without a toolchain would (no compiler in the image, --ignore-scripts), then
# runs the smoke test there: require, import, a watch, an event, and the binary that was loaded.
# Runs inside the target's container (see .github/workflows/ci.yml, job test-binary):
#   test-installed.sh <platform>     e.g. linux-arm64-musl
# PACK_DIR (default /pack) and SMOKE (default /smoke.mjs) say where the tarballs and the script are.
set -eu
platform="$1"
pack_dir="${PACK_DIR:-/pack}"
smoke="${SMOKE:-/smoke.mjs}"

if ! command -v node >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  # No Node image for this CPU (riscv64): Debian's own nodejs, without npm.
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs >/dev/null
fi
node --version

for tool in cc gcc cargo rustc; do
  if command -v "$tool" >/dev/null 2>&1; then
    echo "$tool is on PATH: this image does not prove a zero-toolchain install" >&2
    exit 1
  fi
done

project="${TMPDIR:-/tmp}/project"
mkdir -p "$project"
cd "$project"
printf '{"name":"project","version":"1.0.0","private":true}\n' > package.json
if command -v npm >/dev/null 2>&1; then
  npm install --ignore-scripts --no-audit --no-fund "$pack_dir"/*.tgz
else
  # Debian's nodejs comes without npm (its npm pulls in hundreds of packages, slow under QEMU):
  # unpack the tarballs where npm would put them; neither package has dependencies.
  for tarball in "$pack_dir"/*.tgz; do
    name=$(tar -xzOf "$tarball" package/package.json | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).name')
    mkdir -p "node_modules/$name"
    tar -xzf "$tarball" -C "node_modules/$name" --strip-components=1
  done
fi

cp "$smoke" smoke.mjs
node smoke.mjs | tee result.json
if ! grep -q "node_modules/inotify-napi-$platform/inotify-napi.$platform.node" result.json; then
  echo "the loader did not load the binary of inotify-napi-$platform" >&2
  exit 1
fi
