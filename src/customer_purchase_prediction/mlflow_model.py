"""The registered MLflow model's code (MLflow's "models from code").

``tracking.py`` logs this file, not a pickled object, as the pyfunc's
``python_model``: the logged model holds no pickle, and what it loads is the
skops artifact with its SHA-256 checked (``tracking.PurchaseModelPyfunc``).
"""

from __future__ import annotations

import mlflow

from customer_purchase_prediction.tracking import PurchaseModelPyfunc

mlflow.models.set_model(PurchaseModelPyfunc())
