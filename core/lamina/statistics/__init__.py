"""The statistics lamina reports: one implementation, shared by A/B analysis (serving)
and monitoring, on numpy and ``scipy.special`` (never ``scipy.stats``, whose import alone
costs about a second).

- :mod:`~lamina.statistics.classical`: fixed-horizon tests and intervals (Welch's t, two
  proportions, Wilson), and the chi-square goodness-of-fit test behind the sample-ratio
  check.
- :mod:`~lamina.statistics.sequential`: always-valid inference (mixture SPRT and its
  confidence sequence), which may be read at any time.
- :mod:`~lamina.statistics.variance`: CUPED variance reduction.
- :mod:`~lamina.statistics.multiple`: Holm and Benjamini-Hochberg adjustments.

Every function takes sufficient statistics (counts, sums, sums of squares) and is
vectorized over numpy arrays, so a simulation of thousands of experiments runs the very
code a report runs.
"""
