# TEMPORARY SHIM (not committed)
import pandas as pd
def lookalike_columns(missing, unknown): return {}
def months_delivered_twice(table, dup): return []
def clock_shift_hours(*a): return None
