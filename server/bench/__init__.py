"""``cardforge bench``: the project's own benchmarks, one module per subject.

``queue`` (drain rate, idle pickup), ``offline`` (offline generator speed), ``wire`` (a job
row's way to its JSON). Each runs the real code paths on this machine; figures that compare
with a peer are printed as ratios from one run, because these machines are shared and noisy.
"""
