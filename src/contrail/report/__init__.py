"""The pull-request report and promotion gate: how the workspace's model compares with a base
revision's, rendered as one markdown comment for reviewers.

`revision` does the I/O (git, dvc, models), with `base_model` fetching or rebuilding the base's
model; `compare`, `mermaid` and `markdown` are pure and work on what it collects; `publish`
writes the comment. The gate's rules are `contrail.gate`'s.
"""
