"""The frame-serving core, VapourSynth-free: public functions and their validation, time maps, scheduling, tiling."""
