#!/usr/bin/env bash
# Builds a stand-in for the AWS Lambda Python base image in the local Docker daemon and tags it
# with the real name, so `docker build -f function/Dockerfile .` and `sam build` work offline:
#
#   tests/image/lambda-base/build.sh        # -> public.ecr.aws/lambda/python:3.12 (this daemon only)
#
# The real image cannot be pulled here (no registry but PyPI/Debian/npm). The stand-in keeps its
# contract: Python 3.12 at /var/lang (pyenv's, with the shared libraries it links), pip,
# awslambdaric and boto3 in its site-packages, LAMBDA_TASK_ROOT=/var/task, the Runtime Interface
# Emulator at /usr/local/bin/aws-lambda-rie and /lambda-entrypoint.sh; a busybox shell for RUN.
# A real base already in the daemon (no stand-in label) is left alone and used as it is.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)

TAG=${LAMBDA_BASE_TAG:-public.ecr.aws/lambda/python:3.12}
ROOTFS_TAG=sentiment-api/lambda-rootfs:3.12
AWSLAMBDARIC_VERSION=4.2.2
BOTO3_VERSION=1.44.8
# The emulator ships inside the aws-sam-cli wheel (`make sam` puts it in .venv-sam).
RIE=${RIE:-$(ls "$REPO"/.venv-sam/lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-x86_64 2>/dev/null | head -1)}
export DOCKER_BUILDKIT=0 # the classic builder: Debian's engine has no buildx

log() { echo "lambda-base: $*" >&2; }
die() {
  log "$*"
  exit 1
}

[ -n "$RIE" ] && [ -f "$RIE" ] || die "no aws-lambda-rie: run 'make sam' (aws-sam-cli ships it) or set RIE=<path>"
docker version >/dev/null 2>&1 || die "no Docker daemon answers: tests/image/docker-engine.sh starts one"

# Rebuild only when this builder changes.
stamp=$(cat "$0" "$HERE/Dockerfile" "$HERE/lambda-entrypoint.sh" | sha256sum | cut -c1-16)
current=$(docker image inspect "$TAG" --format '{{ index .Config.Labels "sentiment-api.stand-in" }}' 2>/dev/null || echo missing)
case "$current" in
  "$stamp")
    log "$TAG: stand-in up to date"
    exit 0
    ;;
  missing) ;;
  "" | "<no value>")
    log "$TAG: a real base image is present; using it"
    exit 0
    ;;
esac

PYTHON_PREFIX=${PYTHON_PREFIX:-$(pyenv prefix "$(pyenv latest 3.12)" 2>/dev/null || true)}
[ -x "$PYTHON_PREFIX/bin/python3.12" ] || die "no Python 3.12 (pyenv install 3.12, or set PYTHON_PREFIX)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{var/lang,var/task,var/runtime,opt,tmp,root,bin,usr/bin,usr/local/bin,lib64,usr/lib/ssl,etc/ssl/certs,etc/pki/tls/certs}
chmod 1777 "$root/tmp"

log "Python: $PYTHON_PREFIX -> /var/lang"
# The test suite and static libraries are most of the tree and no function needs them; the
# machine's own .pth hooks stay out of the image.
tar -C "$PYTHON_PREFIX" -cf - \
  --exclude=./lib/python3.12/test --exclude='./lib/python3.12/config-3.12-*/*.a' \
  --exclude='./lib/python3.12/site-packages/_sandboxing*' . | tar -C "$root/var/lang" -xf -
# Console scripts (pip, pydoc, ...) name the interpreter by its pyenv path.
grep -lsZ "^#!$PYTHON_PREFIX/bin/" "$root"/var/lang/bin/* | xargs -0 -r sed -i "1s|^#!$PYTHON_PREFIX/|#!/var/lang/|"

# manylinux wheels may link any library of the manylinux policy's system set (awslambdaric's
# runtime_client needs libpthread.so.0, onnxruntime libstdc++); the real base has them all.
log "shared libraries that ldd names, plus the manylinux system set"
{
  ldd "$PYTHON_PREFIX/bin/python3.12" "$PYTHON_PREFIX"/lib/libpython3*.so* \
    "$PYTHON_PREFIX"/lib/python3.12/lib-dynload/*.so 2>/dev/null || true
  ldconfig -p | grep -E 'lib(stdc\+\+\.so\.6|gcc_s\.so\.1|pthread\.so\.0|dl\.so\.2|rt\.so\.1|util\.so\.1|resolv\.so\.2) .*x86-64'
} | grep -oE '(=> )?/[^ ]+\.so[^ ]*' | sed 's/^=> //' | grep -v "^$PYTHON_PREFIX" | sort -u |
  while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done

log "busybox shell"
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then # not the static one
  (cd "$work" && { apt-get download busybox-static >/dev/null 2>&1 || { apt-get update -qq && apt-get download busybox-static >/dev/null; }; })
  dpkg-deb -x "$work"/busybox-static_*.deb "$work/busybox"
  busybox=$work/busybox/bin/busybox
fi
cp "$busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
ln -s /bin/env "$root/usr/bin/env"

# pip in the real base reaches PyPI with its own certificates; here the machine's bundle is the
# one that verifies the way out, so every TLS client in the image gets it.
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
ln -s /etc/ssl/certs/ca-certificates.crt "$root/etc/pki/tls/certs/ca-bundle.crt"
ln -s /etc/ssl/certs/ca-certificates.crt "$root/usr/lib/ssl/cert.pem"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
printf 'NAME="stand-in for public.ecr.aws/lambda/python:3.12"\nID=sentiment-api-stand-in\n' >"$root/etc/os-release"

log "docker import -> $ROOTFS_TAG"
tar -C "$root" -cf - . | docker import - "$ROOTFS_TAG" >/dev/null

ctx=$work/context
mkdir -p "$ctx"
cp "$HERE/Dockerfile" "$HERE/lambda-entrypoint.sh" "$ctx/"
cp "$RIE" "$ctx/aws-lambda-rie"
chmod 0755 "$ctx/aws-lambda-rie" "$ctx/lambda-entrypoint.sh"
log "docker build -> $TAG"
docker build --label "sentiment-api.stand-in=$stamp" \
  --build-arg ROOTFS="$ROOTFS_TAG" \
  --build-arg AWSLAMBDARIC_VERSION="$AWSLAMBDARIC_VERSION" \
  --build-arg BOTO3_VERSION="$BOTO3_VERSION" \
  -t "$TAG" "$ctx"
log "$TAG: $(docker image inspect "$TAG" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
