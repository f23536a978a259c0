"""The promotion gate, pure: may a pull request's model replace its base branch's, and what
each pull-request event does to that answer.

`rules` judges a comparison against the `gate:` bounds of params.yaml; `events` says what a
push, a label or a re-run means for the required check and judges the verdict the training
job recorded (`recorded`) with the labels the pull request has now. Nothing here reads files
or calls GitHub: `contrail.gate_run` does, and the tests pin these functions down offline.
"""
