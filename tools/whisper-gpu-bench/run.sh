#!/bin/bash
# Builds and runs fd_whisper_bench on a machine with an NVIDIA GPU (or CPU-only with
# FD_BENCH_CPU_ONLY=1, for a dry run). Two steps, because the fp16 model (77.7 MB) is larger than
# one transfer to the lent device machine allows; both steps keep their state in $WORK, which
# outlives one command while the machine stays up:
#   run.sh build DIR   DIR holds whisper.cpp.tar.gz, the bench sources (bench/) and model.part1:
#                      unpacks, builds with CUDA for sm_90, keeps the binary and the model's first part
#   run.sh bench DIR   DIR holds model.part2 and audio/: joins and checks the model, runs the bench
# Results go to $OUT (markdown tables and logs).
set -u -o pipefail
step=${1:?build|bench}
DIR=$(cd "${2:?DIR}" && pwd)
OUT=${OUT:-/tmp/fd-out}
WORK=${WORK:-/tmp/fd-gpu-bench}
MODEL_SHA256=ed0eed2823c9c0c5b5e6f1c240a4f76591013648677e146655bb80a0834a3366  # models/ggml-tiny.en.bin.sha256
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT" "$WORK"
export PATH=$PATH:/usr/local/cuda/bin

if [ "${FD_BENCH_CPU_ONLY:-0}" = 1 ]; then
    DEVICE=cpu
    CUDA_FLAGS=()
else
    DEVICE=gpu
    # What whisper-rs-sys's build.rs sets for the `cuda` feature, for Hopper only. FlashAttention
    # kernels are left out: whisper-rs 0.16 decodes with flash_attn off, so they would never run,
    # and they are most of the CUDA build time.
    CUDA_FLAGS=(-DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_CUDA_FA=OFF "-DCMAKE_CUDA_FLAGS=-Xcompiler=-fPIC")
fi

case "$step" in
build)
    {
        date -u
        nvidia-smi || true
        nvcc --version || true
        nproc
    } > "$OUT/machine.txt" 2>&1
    cat "$OUT/machine.txt"
    cp "$DIR/model.part1" "$WORK/model.part1" || exit 1
    rm -rf "$WORK/whisper.cpp" && tar xzf "$DIR/whisper.cpp.tar.gz" -C "$WORK" || exit 1
    generator=()
    command -v ninja > /dev/null && generator=(-G Ninja)
    cmake -S "$DIR/bench" -B "$WORK/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DWHISPER_CPP_DIR="$WORK/whisper.cpp" "${CUDA_FLAGS[@]}" > "$OUT/cmake.log" 2>&1 ||
        { tail -40 "$OUT/cmake.log"; exit 1; }
    start=$(date +%s)
    cmake --build "$WORK/build" --target fd_whisper_bench -j "$JOBS" > "$OUT/build.log" 2>&1 ||
        { tail -60 "$OUT/build.log"; exit 1; }
    echo "build: $(($(date +%s) - start)) s"
    cp "$WORK/build/fd_whisper_bench" "$WORK/fd_whisper_bench"
    ldd "$WORK/fd_whisper_bench" | grep -i -E 'cuda|cublas' || true
    echo "build step done"
    ;;
bench)
    B=$WORK/fd_whisper_bench
    M=$WORK/ggml-tiny.en.bin
    [ -x "$B" ] || { echo "no binary in $WORK: run the build step first"; exit 1; }
    if [ ! -f "$M" ]; then
        cat "$WORK/model.part1" "$DIR/model.part2" > "$M.tmp" || exit 1
        mv "$M.tmp" "$M"
    fi
    echo "$MODEL_SHA256  $M" | sha256sum -c - || exit 1
    A=$DIR/audio
    SHORT=("$A"/s*.wav)
    LONG=("$A"/l*.wav)
    MIX=("${SHORT[@]}" "${LONG[@]}")
    log() { echo; echo "## $*"; }
    ERR=$OUT/stderr.log
    # Closed-loop concurrency with nvidia-smi sampling GPU utilisation and memory every second.
    concurrent() { # name ns [env...]
        local name=$1 ns=$2 dmon_pid=
        shift 2
        if [ "$DEVICE" = gpu ] && command -v nvidia-smi > /dev/null; then
            nvidia-smi dmon -s um -d 1 > "$OUT/dmon_$name.txt" 2>&1 &
            dmon_pid=$!
        fi
        {
            log "$name: concurrent decodes, closed loop, 2 s and 5 s utterances mixed ($*)"
            env "$@" "$B" "$M" "$DEVICE" concurrent "${SECONDS_PER_N:-5}" "$ns" "${MIX[@]}"
        } 2>> "$ERR" | tee "$OUT/concurrent_$name.md"
        [ -n "$dmon_pid" ] && kill "$dmon_pid"
    }
    if [ "${DEFAULT_RUN:-1}" = 1 ]; then
        {
            log "$DEVICE: single decodes (${REPS:-20} after 2 warm-ups)"
            "$B" "$M" "$DEVICE" single "${REPS:-20}" "${MIX[@]}" "$A/jfk.wav"
        } 2>> "$ERR" | tee "$OUT/single_$DEVICE.md"
        concurrent "$DEVICE" "${NS:-1,2,4,8,16,24,32,48,64}"
    fi
    if [ "$DEVICE" = gpu ] && [ "${BLOCKING_TOO:-0}" = 1 ]; then
        # Host threads sleep while the GPU works instead of spinning on a core each.
        {
            log "gpu, blocking sync: single decodes (${REPS:-20} after 2 warm-ups)"
            FD_CUDA_BLOCKING_SYNC=1 "$B" "$M" gpu single "${REPS:-20}" "${MIX[@]}" "$A/jfk.wav"
        } 2>> "$ERR" | tee "$OUT/single_gpu_blocking.md"
        concurrent gpu_blocking "${BLOCKING_NS:-1,8,16,24,32,48,64,96}" FD_CUDA_BLOCKING_SYNC=1
    fi
    if [ "$DEVICE" = gpu ] && [ "${CPU_TOO:-1}" = 1 ]; then
        # The device machine's own CPU cores with the same binary, for scale-out comparison.
        {
            log "cpu (device host, $(nproc) cores): single decodes"
            "$B" "$M" cpu single 5 "${SHORT[0]}" "${LONG[0]}"
            log "cpu (device host): concurrent decodes"
            "$B" "$M" cpu concurrent 5 "1,8,16" "${MIX[@]}"
        } 2>> "$ERR" | tee "$OUT/host_cpu.md"
    fi
    echo "bench step done"
    ;;
*)
    echo "unknown step $step"
    exit 2
    ;;
esac
