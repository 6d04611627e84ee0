#!/bin/sh
# One-shot (temporalio/admin-tools): creates the namespace Leadflow runs in, with the retention
# closed leads' histories are kept for, once the server answers. Idempotent.
set -eu
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"

tries=0
until temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || { echo "Temporal at $ADDRESS did not become healthy" >&2; exit 1; }
    echo "waiting for Temporal at $ADDRESS"
    sleep 2
done
temporal operator namespace describe --address "$ADDRESS" -n "$NAMESPACE" >/dev/null 2>&1 ||
    temporal operator namespace create --address "$ADDRESS" -n "$NAMESPACE" --retention "${TEMPORAL_RETENTION:-90d}"
echo "namespace $NAMESPACE is ready"
