"""Engines and fits: from a validated call to what renders it, devices, weights on disk, the optimisation loop."""
