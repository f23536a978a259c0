"""contrail: git is the control plane of a machine-learning model."""
