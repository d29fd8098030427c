"""resblock: a course on residual connections you can run.

One concept per module; import the one you need (nothing runs at import time). README's package
table lists every module and the notebook that teaches it: blocks and models (01-07), gradients (02),
train and degradation (03-04), paths and landscape (05-06), variants and transformer (07), exercises,
claims (checked statements in every notebook), data, env (seed and device).
"""

__version__ = "0.1.0"
