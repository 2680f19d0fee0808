#!/usr/bin/env bash
# Packs a CUDA-variant build for tools/bench/gpu_check.sh --prebuilt on a GPU machine that has the
# same torch wheel but not this machine's Debian libraries: longvid, tests/longvid_tests and
# liblongvid_spm.so (stripped), the shared libraries they need besides torch, glibc and libstdc++
# (lib/), and the torch version they were built against (torch_version.txt, which gpu_check checks).
#
#   cmake -S . -B build-gpu -G Ninja -DLONGVID_CUDA=ON -DLONGVID_FFMPEG=OFF -DLONGVID_TORCH_ROOT=.venv
#   ninja -C build-gpu longvid longvid_tests
#   tools/bench/gpu_bundle.sh build-gpu bundle.tar.xz      # there: tar xJf bundle.tar.xz -C DIR
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:?usage: gpu_bundle.sh BUILD_DIR OUT.tar.xz}
out=${2:?usage: gpu_bundle.sh BUILD_DIR OUT.tar.xz}
for f in longvid tests/longvid_tests liblongvid_spm.so; do
  [ -f "$build/$f" ] || { echo "gpu_bundle.sh: no $build/$f (build longvid and longvid_tests first)" >&2; exit 2; }
done
ldd "$build/longvid" | grep -q "libtorch_cuda.so" \
  || { echo "gpu_bundle.sh: $build/longvid is not the CUDA variant (build with -DLONGVID_CUDA=ON)" >&2; exit 2; }
if ldd "$build/longvid" "$build/tests/longvid_tests" "$build/liblongvid_spm.so" | grep -q "not found"; then
  echo "gpu_bundle.sh: a library of the build is not found here (ldd $build/longvid)" >&2; exit 2
fi
# The torch it links: its lib directory, from the rpath; the version from torch/version.py.
torch_lib=$(ldd "$build/longvid" | awk '/libtorch_cpu.so/ {print $3}' | xargs dirname)
torch_version=$(sed -n "s/^__version__ = ['\"]\([^'\"]*\)['\"].*/\1/p" "$torch_lib/../version.py")
[ -n "$torch_version" ] || { echo "gpu_bundle.sh: no __version__ in $torch_lib/../version.py" >&2; exit 2; }
stage=$(mktemp -d)
trap 'rm -rf "$stage" "$out.tmp"' EXIT
mkdir -p "$stage/tests" "$stage/lib"
cp "$build/longvid" "$build/liblongvid_spm.so" "$stage/"
cp "$build/tests/longvid_tests" "$stage/tests/"
strip "$stage/longvid" "$stage/tests/longvid_tests" "$stage/liblongvid_spm.so"
# Everything ldd resolves outside torch's wheel and the C/C++ runtime.
for bin in "$stage/longvid" "$stage/tests/longvid_tests" "$stage/liblongvid_spm.so"; do
  ldd "$bin" | awk '/=> \// {print $3}'
done | sort -u | grep -v -E '/(torch|nvidia)/|/lib(c|m|dl|rt|pthread|util|gcc_s|stdc\+\+)\.so' \
  | while read -r lib; do cp -L "$lib" "$stage/lib/"; done
echo "$torch_version" > "$stage/torch_version.txt"
tar cJf "$out.tmp" -C "$stage" . && mv "$out.tmp" "$out"
echo "$out: $(du -h "$out" | cut -f1) (torch $(cat "$stage/torch_version.txt"); libs: $(ls "$stage/lib" | tr '\n' ' '))"
