"""Shared operations without learned weights: optical flow, hole filling, the evaluation's degradations."""
