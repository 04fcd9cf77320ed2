"""The evaluation harness: methods and baselines measured the same way on real clips, metrics, reports."""
