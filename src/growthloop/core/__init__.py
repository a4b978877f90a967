"""What every layer shares: configuration, canonical schema, errors, dates and grains,
money conversion, the glossary of business numbers and the estimator contract.

Nothing here imports another layer of growthloop.
"""
