#!/usr/bin/env bash
# Create .venv and install kefu into it; a no-op when pyproject.toml has not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
stamp=.venv/.kefu-install-stamp
want=$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)

# llama-cpp-python has no wheel for this platform: it is compiled once per set of CPU
# features and kept in a folder named after them, so a wheel built for one CPU is never
# installed on another (pip's own wheel cache ignores build flags). Not -march=native: a
# native build segfaulted on a CPU with AMX in a VM. Set CMAKE_ARGS yourself for a GPU.
llama_cpp_args() {
  local args="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
  args+=" -DGGML_BMI2=ON"
  local cpu
  cpu=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  has() { for f in "$@"; do [[ "$cpu" == *" $f "* ]] || return 1; done; }
  if has avx512f avx512cd avx512vl avx512dq avx512bw; then
    args+=" -DGGML_AVX512=ON"
    has avx512_vnni && args+=" -DGGML_AVX512_VNNI=ON"
    has avx512vbmi && args+=" -DGGML_AVX512_VBMI=ON"
    has avx512_bf16 && args+=" -DGGML_AVX512_BF16=ON"
  fi
  echo "$args"
}

if [ ! -x .venv/bin/python ]; then
  echo "kefu: creating .venv"
  "$PYTHON" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  pip=(.venv/bin/python -m pip --disable-pip-version-check)
  "${pip[@]}" install --quiet --upgrade pip
  find_links=()
  llama=$(grep -o '"llama-cpp-python==[^"]*"' pyproject.toml | tr -d '"')
  if [ "$(uname -m)" = x86_64 ] && [ -z "${CMAKE_ARGS:-}" ]; then
    export CMAKE_ARGS
    CMAKE_ARGS=$(llama_cpp_args)
    wheels="${KEFU_WHEELS:-$HOME/.cache/kefu/wheels}/$(echo "$llama $CMAKE_ARGS" | sha256sum | cut -c1-16)"
    if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
      echo "kefu: compiling $llama once for this CPU (about 6 minutes on 2 cores)"
      "${pip[@]}" wheel --quiet --no-deps --no-cache-dir -w "$wheels" "$llama"
    fi
    find_links=(--find-links "$wheels")
  fi
  echo "kefu: installing dependencies"
  "${pip[@]}" install --quiet "${find_links[@]}" -e '.[dev]'
  echo "$want" > "$stamp"
fi
