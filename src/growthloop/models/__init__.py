"""Models on sufficient statistics, NumPy/SciPy only and no I/O: customer value
(``clv``) and attribution (``attribution``). Every model is a
``growthloop.core.estimator.Estimator``."""
