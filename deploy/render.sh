#!/usr/bin/env bash
# Render an overlay with the image pinned to a pushed digest, on stdout; needs only kubectl
# (kustomize is built in) and no cluster. The overlays carry a placeholder digest; this writes
# a throwaway kustomization on top of the overlay whose `images:` entry replaces it, so nothing
# in the checkout changes (what `kustomize edit set image` would do, without the kustomize binary).
#
#   deploy/render.sh production sha256:<64 hex> [ghcr.io/owner/repo/flight-delay] | kubectl apply -f -
#
# The optional third argument is the image repository; by default the overlay's `newName`.
# Stage `canary` renders deploy/canary (the production canary), named as production names it.
set -euo pipefail

usage() {
  echo "usage: $0 <staging|production|canary> sha256:<64 hex digits> [image repository]" >&2
  exit 2
}
[[ $# -eq 2 || $# -eq 3 ]] || usage
stage=$1
digest=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $stage == canary ]]; then
  overlay="$here/canary" names="$here/overlays/production/kustomization.yaml"
else
  overlay="$here/overlays/$stage" names="$here/overlays/$stage/kustomization.yaml"
fi
[[ -f "$overlay/kustomization.yaml" ]] || { echo "$0: no overlay named '$stage' in $here/overlays" >&2; exit 2; }
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "$0: '$digest' is not a sha256:<64 hex digits> digest" >&2; exit 2; }

# The overlay has already renamed `flight-delay` to its newName: match on that name.
current=$(awk '$1 == "newName:" { print $2; exit }' "$names")
[[ -n $current ]] || { echo "$0: no images newName in $names" >&2; exit 2; }
repository=${3:-$current}
[[ $repository =~ ^[A-Za-z0-9][A-Za-z0-9._/:-]*$ ]] || { echo "$0: '$repository' is not an image repository" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Kustomize refuses an absolute path as a resource: refer to the overlay relative to $work.
relative=$(realpath --relative-to="$work" "$overlay")
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
