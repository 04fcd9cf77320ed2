"""The application: the ``vsinr`` command, the graph a run renders, segmented runs, scene cuts, progress."""
