"""kubectl and kind stand-ins for running the deploy workflow where no cluster can exist.

They record every call, validate what is applied as an API server would, and run each applied
Deployment's pod for real with `podman kube play`. See ../README.md for the interface.
"""
