#!/usr/bin/env bash
# `sam local invoke` for real, without Docker: Debian's podman serves a Docker-compatible
# socket, the Lambda python3.13 base image is built locally (it cannot be pulled here), and a
# moto_server plays S3. Invokes the function on every event in infra/events/ (or the files
# given) and prints each response and the result object it wrote.
#
#   infra/sam_local_invoke.sh [event.json ...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
IMAGE=public.ecr.aws/lambda/python:3.13-x86_64
ROOTFS=${ROOTFS:-/var/tmp/emotion-lambda-rootfs-py313}
SOCKET=/run/podman/emotion.sock
PORT=5055
BUCKET=emotion-local-uploads
VENV=.venv
SAM=.venv-sam/bin/sam
export CONTAINERS_CONF="$ROOT/infra/podman/containers.conf"
export SAM_CLI_TELEMETRY=0 DOCKER_HOST="unix://$SOCKET"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
events=("$@")
[ ${#events[@]} -gt 0 ] || events=(infra/events/*.json)

log() { printf '\n== %s\n' "$*" >&2; }

if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
  log "installing podman, runc and debootstrap (Debian packages)"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc debootstrap
fi
make --no-print-directory "$VENV/.base" .venv-sam/.installed function/model/face_detection_short_range.tflite >/dev/null
export PATH="$ROOT/$VENV/bin:$PATH"  # sam build looks for python3.13 on PATH

# Lambda's python3.13 image is Amazon Linux 2023 (glibc 2.34) with CPython built into /var/lang and
# the runtime client in /var/runtime. Amazon Linux cannot be fetched here, so the stand-in is the
# nearest base this machine can build: Debian bookworm (glibc 2.36) with the CPython 3.13 the
# Makefile found copied into /var/lang, the same layout and library path as the real image.
if ! podman image exists "$IMAGE"; then
  PY_PREFIX=$("$VENV/bin/python" -c 'import sys; print(sys.base_prefix)')
  log "building $IMAGE locally (debootstrap bookworm + CPython $("$VENV/bin/python" -c 'import platform; print(platform.python_version())') in /var/lang, awslambdaric, boto3)"
  [ -x "$ROOTFS/usr/bin/env" ] || debootstrap --variant=minbase \
    --include=ca-certificates,libssl3,libffi8,zlib1g,libbz2-1.0,liblzma5,libsqlite3-0,libreadline8,libncursesw6,libuuid1,libexpat1 \
    bookworm "$ROOTFS"
  rm -rf "$ROOTFS/var/lang" && mkdir -p "$ROOTFS/var/lang"
  # The interpreter and its standard library; not its test suite, Tk, or this machine's site-packages.
  tar -C "$PY_PREFIX" --exclude=lib/python3.13/test --exclude='lib/python3.13/idlelib' \
    --exclude='lib/python3.13/tkinter' --exclude='_tkinter*' --exclude='lib/python3.13/site-packages/*' \
    -c bin lib include | tar -C "$ROOTFS/var/lang" -x
  "$VENV/bin/python" -m pip install -q --target "$ROOTFS/var/runtime" awslambdaric==4.2.2 boto3==1.43.11 2>/tmp/emotion-pip.log
  install -m 755 infra/podman/bootstrap "$ROOTFS/var/runtime/bootstrap"
  mkdir -p "$ROOTFS/var/task"
  tar -C "$ROOTFS" -c . | podman import \
    --change 'ENV LAMBDA_TASK_ROOT=/var/task' --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
    --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
    --change 'WORKDIR /var/task' --change 'ENTRYPOINT ["/var/runtime/bootstrap"]' - "$IMAGE" >/dev/null
fi
podman run --rm --entrypoint /var/lang/bin/python3.13 "$IMAGE" -c \
  'import platform, ssl; print("image:", platform.python_version(), "glibc", platform.libc_ver()[1], ssl.OPENSSL_VERSION)' >&2

cleanup() {
  [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null || true
  podman rm -f emotion-bridge >/dev/null 2>&1 || true
  [ -n "${PODMAN_PID:-}" ] && kill "$PODMAN_PID" 2>/dev/null || true
}
trap cleanup EXIT

mkdir -p "$(dirname "$SOCKET")"
podman system service --time=0 "unix://$SOCKET" >/tmp/emotion-podman.log 2>&1 &
PODMAN_PID=$!
# A idle container brings up podman's bridge, so the S3 stand-in can listen on its gateway:
# the function's container reaches the host there (traffic never leaves this machine).
podman run -d --rm --name emotion-bridge --entrypoint /bin/sleep "$IMAGE" 3600 >/dev/null
GATEWAY=$(podman network inspect podman --format '{{range .Subnets}}{{.Gateway}}{{end}}')
"$VENV/bin/moto_server" -H "$GATEWAY" -p "$PORT" >/tmp/emotion-moto.log 2>&1 &
MOTO_PID=$!
ENDPOINT="http://$GATEWAY:$PORT"
for _ in $(seq 50); do curl -s -o /dev/null "$ENDPOINT" && break; sleep 0.2; done

log "uploading infra/samples to s3://$BUCKET/uploads/samples/ on the stand-in ($ENDPOINT)"
"$VENV/bin/python" - "$ENDPOINT" "$BUCKET" <<'PY'
import sys, pathlib, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
s3.create_bucket(Bucket=sys.argv[2])
for p in sorted(pathlib.Path("infra/samples").iterdir()):
    if p.name != "README.md":
        s3.put_object(Bucket=sys.argv[2], Key=f"uploads/samples/{p.name}", Body=p.read_bytes())
PY

log "sam build"
"$SAM" build >/dev/null
"$VENV/bin/python" -m infra.prune_package .aws-sam/build/EmotionFunction
ENV_FILE=$(mktemp)
printf '{"EmotionFunction": {"S3_ENDPOINT_URL": "%s"}}\n' "$ENDPOINT" >"$ENV_FILE"

failed=0
for event in "${events[@]}"; do
  log "sam local invoke -e $event"
  out=$("$SAM" local invoke EmotionFunction -e "$event" --skip-pull-image --env-vars "$ENV_FILE" 2>/tmp/emotion-invoke.log) || true
  echo "$out"
  # sam local invoke exits 0 even when the function raised: judge by the response.
  if [ -z "$out" ] || grep -q '"errorType"' <<<"$out"; then
    failed=1
    tail -20 /tmp/emotion-invoke.log >&2
  fi
done

log "result objects on the stand-in"
"$VENV/bin/python" - "$ENDPOINT" "$BUCKET" <<'PY'
import sys, json, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
for o in s3.list_objects_v2(Bucket=sys.argv[2], Prefix="uploads/").get("Contents", []):
    if o["Key"].endswith(".json"):
        r = json.loads(s3.get_object(Bucket=sys.argv[2], Key=o["Key"])["Body"].read())
        what = f"{r['emotion']} {r['confidence']:.3f}" if r["status"] == "ok" else r["error"]["code"]
        print(f"{o['Key']}: {r['status']} {what}")
PY
rm -f "$ENV_FILE"
exit $failed
