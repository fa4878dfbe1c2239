"""``TypedJSONDataset``: a typed result (a pydantic model) saved as plain JSON.

Nodes pass typed objects (``results.py``); the files on disk stay ordinary JSON
with the keys they always had, and loading validates them back into the type.
Saving is crash-safe (``atomic_datasets.JSONDataset``).
"""

from __future__ import annotations

from typing import Any

from kedro.utils import load_obj
from pydantic import BaseModel

from customer_purchase_prediction.atomic_datasets import JSONDataset


class TypedJSONDataset(JSONDataset):
    """A JSON file holding one pydantic model, named by its import path.

    Args:
        model: Import path of the pydantic model, e.g.
            ``customer_purchase_prediction.results.Selection``.
        **kwargs: As for ``kedro_datasets.json.JSONDataset`` (versioning too).
    """

    def __init__(self, *, model: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._model: type[BaseModel] = load_obj(model)

    def load(self) -> BaseModel:
        """Read the JSON and validate it into the model."""
        return self._model.model_validate(super().load())

    def save(self, data: BaseModel) -> None:
        """Write the model as JSON (a plain dict or list is validated first)."""
        typed = (
            data if isinstance(data, self._model) else self._model.model_validate(data)
        )
        super().save(typed.model_dump(mode="json"))

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "model": self._model.__name__}
