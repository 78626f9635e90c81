#!/usr/bin/env bash
# The round trip on a real cluster: a kind cluster, ember's images built and loaded into it, the
# chart installed, the examples applied and awaited, the driver logs printed and checked.
#
#   scripts/e2e_kind.sh            (or: make e2e-kind)
#
# Needs docker, kind, kubectl and helm on PATH. Settings (environment):
#   KIND_CLUSTER  cluster name (default ember-e2e); an existing cluster of that name is reused
#   KEEP_CLUSTER  1 keeps the cluster afterwards (default: deleted when this script created it)
#   TIMEOUT       seconds to wait for each application (default 600)
set -euo pipefail

cd "$(dirname "$0")/.."
CLUSTER=${KIND_CLUSTER:-ember-e2e}
KEEP_CLUSTER=${KEEP_CLUSTER:-0}
TIMEOUT=${TIMEOUT:-600}
NAMESPACE=ember-system
# The image the chart's values and the examples name; the role images are built beside it.
REPOSITORY=$(awk '/^image:/ {in_image=1} in_image && /repository:/ {print $2; exit}' charts/ember/values.yaml)
TAG=$(awk '/^image:/ {in_image=1} in_image && /tag:/ {gsub(/"/, "", $2); print $2; exit}' charts/ember/values.yaml)
IMAGE="$REPOSITORY:$TAG"

# name:expected end state, with the line the driver log must hold ("" for none).
APPS=(
  "spark-pi:COMPLETED:^pi 3\.14"
  "wordcount:COMPLETED:^distinct words 101$"
  "failing-job:FAILED:failing on purpose"
  "retry-on-failure:FAILED:failing on purpose"
)

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "e2e-kind: $tool is not on PATH; install it first" >&2; exit 2; }
done

log() { printf '\n== %s\n' "$*"; }

created=0
if ! kind get clusters | grep -qx "$CLUSTER"; then
  log "creating kind cluster $CLUSTER"
  kind create cluster --name "$CLUSTER" --wait 120s
  created=1
fi
cleanup() {
  if [[ $created == 1 && $KEEP_CLUSTER != 1 ]]; then
    log "deleting kind cluster $CLUSTER (KEEP_CLUSTER=1 keeps it)"
    kind delete cluster --name "$CLUSTER"
  fi
}
trap cleanup EXIT
kubectl config use-context "kind-$CLUSTER" >/dev/null

log "building the images ($TAG)"
for target in operator driver executor; do
  docker build --target "$target" -t "$REPOSITORY-$target:$TAG" .
done
# Pods set their own command, so the driver image serves as the one image the chart and the
# examples name.
docker tag "$REPOSITORY-driver:$TAG" "$IMAGE"

log "loading the images into $CLUSTER"
for image in "$IMAGE" "$REPOSITORY-operator:$TAG" "$REPOSITORY-executor:$TAG"; do
  kind load docker-image --name "$CLUSTER" "$image"
done

log "installing the chart"
helm upgrade --install ember charts/ember --namespace "$NAMESPACE" --create-namespace \
  --set image.repository="$REPOSITORY-operator" --set image.tag="$TAG" --wait --timeout 5m
kubectl get crd sparkapplications.ember.dev
kubectl --namespace "$NAMESPACE" get pods

log "applying the examples"
for entry in "${APPS[@]}"; do
  name=${entry%%:*}
  kubectl delete sparkapp "$name" --ignore-not-found --wait
  kubectl apply -f "manifests/examples/$name.yaml"
done

state_of() { kubectl get sparkapp "$1" -o jsonpath='{.status.applicationState.state}' 2>/dev/null || true; }

failures=0
for entry in "${APPS[@]}"; do
  IFS=: read -r name expected pattern <<<"$entry"
  log "waiting for $name to be $expected"
  state=""
  for _ in $(seq "$TIMEOUT"); do
    state=$(state_of "$name")
    [[ $state == COMPLETED || $state == FAILED ]] && break
    sleep 1
  done
  kubectl get sparkapp "$name"
  echo "-- driver log of $name"
  logs=$(kubectl logs "$name-driver" 2>&1 || true)
  printf '%s\n' "$logs"
  if [[ $state != "$expected" ]]; then
    echo "FAIL: $name ended $state, expected $expected" >&2
    kubectl describe sparkapp "$name" >&2 || true
    failures=$((failures + 1))
  elif [[ -n $pattern ]] && ! grep -Eq "$pattern" <<<"$logs"; then
    echo "FAIL: the driver log of $name has no line matching '$pattern'" >&2
    failures=$((failures + 1))
  else
    echo "ok: $name $state"
  fi
done

attempts=$(kubectl get sparkapp retry-on-failure -o jsonpath='{.status.executionAttempts}')
if [[ $attempts != 3 ]]; then
  echo "FAIL: retry-on-failure ran $attempts times, expected 3 (onFailureRetries 2)" >&2
  failures=$((failures + 1))
fi

log "operator log (last 50 lines)"
kubectl --namespace "$NAMESPACE" logs deployment/ember --tail 50 || true

if [[ $failures != 0 ]]; then
  echo "e2e-kind: $failures check(s) failed" >&2
  exit 1
fi
echo "e2e-kind: all examples ended as expected"
