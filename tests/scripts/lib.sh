# Shared helpers for the scripts behind `make test`, `make run` and `make contract`.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV_BIN="${VENV_BIN:-$ROOT/.venv/bin}"
export PATH="$VENV_BIN:$PATH"

# Local AWS: fake credentials and a region for moto; nothing here can reach real AWS.
local_aws_env() {
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=
  export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=0
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS: poll until URL answers (any HTTP status).
wait_http() {
  local url="$1" secs="${2:-30}" i
  for ((i = 0; i < secs * 10; i++)); do
    if curl -s -o /dev/null -m 2 "$url"; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $url" >&2
  return 1
}

PIDS=()
# Kill every background process we started, also on failure or Ctrl-C.
cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}

# start_moto: moto on a free loopback port, handling one request at a time so that conditional
# writes are atomic as in DynamoDB (tests/scripts/moto_serialized.py); exports AWS_ENDPOINT_URL.
start_moto() {
  local port log="$ROOT/target/moto.log"
  port="$(free_port)"
  mkdir -p "$ROOT/target"
  setsid "$VENV_BIN/python" "$ROOT/tests/scripts/moto_serialized.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  PIDS+=("$!")
  wait_http "http://127.0.0.1:$port/moto-api/" 30
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  echo "moto (DynamoDB, Secrets Manager) on $AWS_ENDPOINT_URL"
}
