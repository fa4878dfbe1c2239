"""The reports' typed JSON files, previewed by ``kedro viz`` as the JSON they hold."""

from __future__ import annotations

import json
from typing import NewType

from customer_purchase_prediction.result_datasets import TypedJSONDataset

# kedro viz picks the preview renderer by the name of preview()'s return type.
JSONPreview = NewType("JSONPreview", str)


class SummaryJSONDataset(TypedJSONDataset):
    """A ``summaries`` model saved as plain JSON (``model_metrics``, ...).

    ``TypedJSONDataset`` with a preview: kedro viz shows the file's JSON.
    """

    def preview(self) -> JSONPreview:
        """The saved JSON, as kedro viz's JSON preview."""
        return JSONPreview(json.dumps(self.load().model_dump(mode="json")))
