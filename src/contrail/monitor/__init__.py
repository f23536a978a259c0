"""The retraining loop: check production data, decide whether to retrain, keep the history.

Pure logic (`check`, `policy`, `history`, `markdown`, `pulls`) is apart from I/O (`production`
and `run` read data and models, `branch` and `retrain` drive git, `contrail.transports.github`
is the only GitHub transport), so every decision is tested offline.
"""

from pathlib import Path

# What the loop's commands write (git-ignored: they travel as job summary, artifact, branch).
MONITOR_JSON = Path("reports/monitor.json")
MONITOR_MD = Path("reports/monitor.md")
HISTORY = Path("reports/monitor-history.csv")
RETRAIN_JSON = Path("reports/retrain.json")
RETRAIN_BODY = Path("reports/retrain_pr.md")
