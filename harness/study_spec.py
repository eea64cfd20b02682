"""What the technique study compares, and the published claims it is set beside (no heavy
imports: the report reads these too)."""

from __future__ import annotations

# (technique, variant): one registry of variant names (compress/variants.py) underneath.
TECHNIQUES: tuple[tuple[str, str], ...] = (
    ("baseline", "fp32"), ("pruning", "structured-0.5-int8"), ("int8", "int8"),
    ("distillation", "distilled-int8"), ("hybrid", "hybrid-int8"))
METRICS: tuple[tuple[str, str], ...] = (
    ("accuracy", "accuracy %"), ("accuracy_retention", "accuracy retention %"),
    ("size_reduction", "size reduction %"), ("latency_reduction", "latency reduction %"),
    ("energy_saving", "energy saving %"))
# The published claims: accuracy %, size / latency / energy reduction %; their ANOVA
# reports p < 0.05. Retention (accuracy / the baseline's) follows from their accuracies.
_CLAIMS: dict[str, tuple[float, float, float, float]] = {
    "baseline": (94.5, 0, 0, 0), "pruning": (93.8, 75, 40, 35),
    "int8": (93.2, 70, 50, 45), "distillation": (92.9, 60, 30, 25),
    "hybrid": (93.5, 90, 65, 70)}
PUBLISHED: dict[str, dict[str, float]] = {
    technique: {"accuracy": accuracy,
                "accuracy_retention": round(100.0 * accuracy / _CLAIMS["baseline"][0], 1),
                "size_reduction": size, "latency_reduction": latency, "energy_saving": energy}
    for technique, (accuracy, size, latency, energy) in _CLAIMS.items()}
STUDY_JSON = "study.json"
