"""Data I/O: where raw flights come from, and the contract they must meet."""
