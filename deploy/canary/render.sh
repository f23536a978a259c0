#!/usr/bin/env bash
# Render the production canary (deploy/canary) with the image pinned to a pushed digest, on
# stdout; the same throwaway-kustomization trick as deploy/render.sh, needs only kubectl.
#
#   deploy/canary/render.sh sha256:<64 hex> [ghcr.io/owner/repo/flight-delay] | kubectl apply -f -
#
# The optional second argument is the image repository; by default the production overlay's `newName`.
set -euo pipefail

[[ $# -eq 1 || $# -eq 2 ]] || { echo "usage: $0 sha256:<64 hex digits> [image repository]" >&2; exit 2; }
digest=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "$0: '$digest' is not a sha256:<64 hex digits> digest" >&2; exit 2; }
current=$(awk '$1 == "newName:" { print $2; exit }' "$here/../overlays/production/kustomization.yaml")
[[ -n $current ]] || { echo "$0: no images newName in the production overlay" >&2; exit 2; }
repository=${2:-$current}
[[ $repository =~ ^[A-Za-z0-9][A-Za-z0-9._/:-]*$ ]] || { echo "$0: '$repository' is not an image repository" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
relative=$(realpath --relative-to="$work" "$here")
cat > "$work/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $relative
images:
  - name: $current
    newName: $repository
    digest: $digest
YAML
kubectl kustomize "$work"
