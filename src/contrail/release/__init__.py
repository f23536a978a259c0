"""Release record: model versions and stage assignments as GTO git tags (issue 9)."""
