"""Marketing-mix models: what media spend causes, with carry-over and saturation.

``MediaMixModel`` (``model.py``) fits markets together; ``mmm_data`` checks the table it
reads; ``transforms.py`` holds the adstock and saturation formulas.
"""

from growthloop.models.mmm.model import MediaMixModel, MMMData, mmm_data

__all__ = ["MMMData", "MediaMixModel", "mmm_data"]
