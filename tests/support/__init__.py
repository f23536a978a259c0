"""Helpers shared by several test folders (real servers run on loopback)."""
