"""One module per outside system; nothing else starts their processes or makes their calls."""
