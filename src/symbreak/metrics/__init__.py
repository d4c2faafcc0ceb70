"""Numbers that compare maps with ground truth.

* :mod:`~symbreak.metrics.agreement`: circular correlation of angle maps and ROC-AUC of
  score maps against labels;
* :mod:`~symbreak.metrics.ideal`: the ideal observer, the physical limit of telling a
  defect (or one site from another) from the perfect crystal at a dose, and each map's
  dose efficiency against it.
"""

from .agreement import (auc, circular_correlation, circular_correlation_js, circular_mean,
                        symmetric_auc)

__all__ = ["auc", "circular_correlation", "circular_correlation_js", "circular_mean",
           "symmetric_auc"]
