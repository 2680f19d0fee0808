# Pinned versions (sourced by scripts/setup). torch 2.11.x: one API for the CPU and CUDA builds.
LONGVID_TORCH_VERSION=2.11.0
LONGVID_CUDART_VERSION=13.0.96
LONGVID_CUPTI_VERSION=13.0.85
