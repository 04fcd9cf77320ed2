"""Video and files in and out: safe writes, VapourSynth sources and PyAV encoding, clip I/O, remuxing."""
