"""The reports' numbers as typed objects: computed once, quoted by every template.

``ModelMetrics`` and ``BusinessImpact`` pass between the reporting nodes and are
saved as ``model_metrics.json`` and ``business_impact.json``
(``ReportJSONDataset``), in the shape those files have always had: the fields
below, in this order. ``CardFacts`` gathers what the model card and the HTML
report say about the artifact and its training data; it is never saved.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from customer_purchase_prediction.evaluation import threshold_metric
from customer_purchase_prediction.results import MeanStd

THRESHOLD_ROWS = {
    "out_of_fold_and_validation": "the out-of-fold probabilities of the training "
    "part plus the validation part",
    "validation": "the validation part",
}
METRIC_LABELS = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "average_precision": "Average precision",
    "profit": "Profit per customer",
    "brier": "Brier score",
    "log_loss": "Log-loss",
    "ece": "Expected calibration error",
}


class _Summary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- model metrics
class CandidateMetrics(_Summary):
    """One candidate's CV, validation and test metrics, at its own threshold."""

    selected: bool
    contender: bool
    threshold: float
    selection_score: float
    cv: dict[str, MeanStd]
    validation: dict[str, float]
    test: dict[str, float]
    test_interval: dict[str, list[float]]


class Bootstrap(_Summary):
    """How the test intervals were drawn."""

    method: str
    n_resamples: int
    confidence: float
    seed: int


class CalibrationBin(_Summary):
    mean_probability: float
    purchase_rate: float
    customers: int


class Calibration(_Summary):
    """The selected model's Brier score and reliability curve on the test part."""

    brier_score: float
    reference_brier_score: float
    brier_skill_score: float
    mean_probability: float
    purchase_rate: float
    mean_gap: float
    bins: list[CalibrationBin]


class ModelMetrics(_Summary):
    """Everything ``model_metrics.json`` holds."""

    selected_model: str
    selection_metric: str
    contenders: list[str]
    threshold: float
    artifact_version: str
    trained_at: str | None
    test_rows: int
    test_purchasers: int
    bootstrap: Bootstrap
    calibration: Calibration
    calibration_method: str | None = None  # sigmoid, isotonic, none; None: unknown
    threshold_tuned_on: str = "validation"
    tie_break: str = "roc_auc"  # what chose among the contenders (ensemble, a metric)
    ensemble_weights: str | None = None  # equal or greedy; None: unknown (older)
    # modelling.ensemble.weights (auto, equal, greedy); None: unknown (older)
    ensemble_weights_setting: str | None = None
    # auto's reason: {"metric": "brier", "equal": honest CV, "greedy": honest CV}
    ensemble_weights_cv: dict[str, float | str] | None = None
    models: dict[str, CandidateMetrics]

    @property
    def selected(self) -> CandidateMetrics:
        """The selected candidate's metrics."""
        return self.models[self.selected_model]

    @property
    def contender_names(self) -> list[str]:
        """The candidates selection chose among, in candidate order."""
        return [name for name, entry in self.models.items() if entry.contender]

    @property
    def threshold_metric(self) -> str:
        """The metric the thresholds were tuned for (F1 for threshold-free ones)."""
        return threshold_metric(self.selection_metric)

    @property
    def threshold_rows(self) -> str:
        """The rows the thresholds were tuned on, in words."""
        return THRESHOLD_ROWS.get(self.threshold_tuned_on, self.threshold_tuned_on)


# ---------------------------------------------------------------- business impact
class Assumptions(_Summary):
    contact_cost: float
    conversion_value: float
    currency: str
    profit_formula: str
    attribution: str
    break_even_probability: float
    per_customers: int


class ConfusionCounts(_Summary):
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    @property
    def total(self) -> int:
        """All customers counted."""
        return (
            self.true_positives
            + self.false_positives
            + self.false_negatives
            + self.true_negatives
        )


class ClassifiedCorrectly(_Summary):
    customers: int
    share: float


class MissedOpportunities(_Summary):
    customers: int
    share_of_purchasers: float
    forgone_profit: float


class MarketingWaste(_Summary):
    customers: int
    share_of_contacted: float
    wasted_cost: float


class ModelVsEveryone(_Summary):
    """Profit(model) - profit(everyone): what skipping the untargeted earns."""

    saved_contact_costs: float
    forgone_profit: float
    profit_difference: float


class Strategy(_Summary):
    customers_contacted: int
    purchasers_reached: int
    attributed_value: float
    contact_costs: float
    profit: float
    profit_per_1000_customers: float


class CampaignDepth(_Summary):
    """The most profitable number of top deciles to contact (0: none pays)."""

    deciles: int
    customers_contacted: int
    profit: float
    profit_per_1000_customers: float
    min_probability: float | None


class Decile(_Summary):
    decile: int
    customers: int
    purchasers: int
    min_probability: float
    max_probability: float
    purchase_rate: float
    lift: float
    cumulative_customers: int
    cumulative_customers_share: float
    cumulative_purchasers: int
    cumulative_gain: float
    cumulative_lift: float
    cumulative_profit: float


class BusinessImpact(_Summary):
    """Everything ``business_impact.json`` holds."""

    model: str
    threshold: float
    assumptions: Assumptions
    test_customers: int
    purchasers: int
    purchase_rate: float
    confusion_matrix: ConfusionCounts
    classified_correctly: ClassifiedCorrectly
    missed_opportunities: MissedOpportunities
    marketing_waste: MarketingWaste
    model_vs_everyone: ModelVsEveryone
    strategies: dict[str, Strategy]
    best_campaign_depth: CampaignDepth
    deciles: list[Decile]
    best_strategy: str


# ---------------------------------------------------------------- model card
class TrainingData(_Summary):
    """The data-quality facts of the training file the card quotes."""

    source: str
    rows_in: int
    rows_kept: int
    rows_rejected: int
    rejected_share: float
    reject_reasons: list[tuple[str, int]]
    missing_shares: dict[str, float]
    max_missing_share: float
    purchase_rate: float
    training_rows: int | None
    training_positive_rate: float | None
    # --env=dask: the rows the statistics and the model learned from.
    fitted_on: dict[str, Any] | None = None


class FeatureDriver(_Summary):
    feature: str
    permutation_mean: float


class CloseCall(_Summary):
    """The selected model beat the runner-up by less than one CV std."""

    runner_up: str
    margin: float
    spread: float


class CardFacts(_Summary):
    """What the model card says about the artifact, its data and its drivers."""

    model: str
    version: str | None
    trained_at: str
    estimator: str
    hyperparameters: dict[str, Any]
    trees: int | None
    threshold: float
    fingerprint: str
    class_weighted: bool
    calibration_direction: str | None  # "overstate", "understate", None: about right
    close_call: CloseCall | None
    importance_kind: str | None
    drivers: list[FeatureDriver]
    data: TrainingData
    data_note: str
    break_even_probability: float
    library_versions: dict[str, str]
    input_columns: list[str]
