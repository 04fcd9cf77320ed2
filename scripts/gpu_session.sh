#!/bin/sh
# One command for a lent GPU, which can download nothing (PyTorch, OpenCV, Pillow, safetensors, numpy and
# click come with it; the material comes from scripts/gpu_bundle.py): continue every flow-guided default
# from its shipped weights for SECONDS of training each, then time STVSR ×4 ×2 at 480×270 → 1920×1080 in
# fp32, fp16 and bf16, and every learned default per backend where VapourSynth is installed. A weights file lands in OUT only where it validates better than the shipped one.
#
#   sh scripts/gpu_session.sh gpu_data OUT [SECONDS]   (a dry run here: DEVICE=cpu WORKERS=0 PYTHON=.venv/bin/python)
set -e
DATA=$1
OUT=$2
SECONDS_EACH=${3:-45}
DEVICE=${DEVICE:-cuda}
WORKERS=${WORKERS:-14}
PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD:$PWD/plugins"
mkdir -p "$OUT"
LOG="$OUT/log.txt"

run() {  # FILE SHIPPED RECIPE ARGS...: train from SHIPPED, export to OUT/FILE only if better
    file=$1 shipped=$2 recipe=$3
    shift 3
    cp "$shipped" "$OUT/$file"
    echo "== $file" >> "$LOG"
    "$PYTHON" -m vsinr.training.entry "$recipe" --videos "$DATA/videos" --photos "$DATA/photos" --run "runs/gpu_${file%.safetensors}" \
        --init "$shipped" --lr 5e-4 --device "$DEVICE" --workers "$WORKERS" --batch 32 --seconds "$SECONDS_EACH" \
        --export "$OUT/$file" "$@" 2>> "$LOG"
    if cmp -s "$shipped" "$OUT/$file"; then rm "$OUT/$file"; fi  # not better: nothing to bring back
}

Z=plugins/vsinr_zsm/weights
run zsm_x4x2.safetensors "$Z/zsm_x4x2.safetensors" vsinr_zsm.training:zsm-flow --task stvsr --degradation clean
run zsm_x4x2_noise.safetensors "$Z/zsm_x4x2_noise.safetensors" vsinr_zsm.training:zsm-flow --task stvsr --degradation noise
run zsm_x4x2_jpeg.safetensors "$Z/zsm_x4x2_jpeg.safetensors" vsinr_zsm.training:zsm-flow --task stvsr --degradation jpeg
run zsm_x1_noise.safetensors "$Z/zsm_x1_noise.safetensors" vsinr_zsm.training:zsm-flow --degradation noise
run zsm_x1_jpeg.safetensors "$Z/zsm_x1_jpeg.safetensors" vsinr_zsm.training:zsm-flow --degradation jpeg
run videoinr_flow.safetensors plugins/vsinr_videoinr/weights/videoinr_flow.safetensors vsinr_videoinr.training:videoinr-flow --min-scale 1.5
run flowfill.safetensors plugins/vsinr_flowfill/weights/flowfill.safetensors vsinr_flowfill.training:flowfill
if [ "$DEVICE" = cuda ]; then
    "$PYTHON" scripts/bench_stvsr_speed.py --width 480 --height 270 --device cuda --method zsm --method videoinr \
        --method classic --precision fp16 --precision bf16 --json "$OUT/speed.json" 2>> "$LOG"
    # every learned default per backend (CUDA eager fp32/fp16/bf16, ONNX Runtime CUDA, TensorRT fp16):
    # it runs through VapourSynth, so only where the machine has it (and onnxruntime-gpu for the last two)
    if "$PYTHON" -c "import vapoursynth" 2>/dev/null; then
        "$PYTHON" scripts/bench_backends.py --json "$OUT/backends.json" > "$OUT/backends.md" 2>> "$LOG"
    fi
fi
grep -h "wrote\|kept\|samples_per_second" "$LOG" >&2 || true
