"""The retraining loop: check production data, decide whether to retrain, keep the history.

Pure logic (`check`, `policy`, `history`, `markdown`) is apart from I/O (`production`, the
CLI in `cli`, and `retrain` for git and GitHub), so every decision is tested offline.
"""
