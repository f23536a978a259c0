"""Where each stage reads and writes, relative to the repository root (mirrors dvc.yaml)."""

from pathlib import Path

RAW_WINDOW = Path("data/raw/window.parquet")
RAW_CURRENT = Path("data/raw/current.parquet")
VALIDATION_JSON = Path("reports/validation.json")
VALIDATION_MD = Path("reports/validation.md")
# Untracked (.gitignore): every problem of the last data that failed validation.
VALIDATION_FAILURES = Path("reports/failed/validation.md")
TRAIN = Path("data/features/train.parquet")
TEST = Path("data/features/test.parquet")
CURRENT = Path("data/features/current.parquet")
FEATURE_STATS = Path("reports/features.json")
MODEL_DIR = Path("models")
EVALUATION_DIR = Path("reports/evaluation")
METRICS = EVALUATION_DIR / "metrics.json"
PLOTS_DIR = EVALUATION_DIR / "plots"
DRIFT_JSON = Path("reports/drift.json")
DRIFT_HTML = Path("reports/drift.html")
PR_REPORT = Path("reports/pr_report.md")
