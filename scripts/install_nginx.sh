#!/usr/bin/env bash
# Install Debian's nginx: the load balancer of `make run-cluster` (deploy/nginx.conf.tmpl) and of
# the cluster tests. Only the binary is used; the cluster command runs its own nginx with its own
# configuration, prefix and loopback ports, so the package's default site is stopped and disabled.
# Idempotent (installs only when missing), non-interactive, says what it does.
set -euo pipefail

if [ -x /usr/sbin/nginx ]; then
    echo "install_nginx: nothing to do: $(/usr/sbin/nginx -v 2>&1)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_nginx: apt-get needs root (or sudo) to install nginx" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install_nginx: apt-get update"
$SUDO apt-get update -q
echo "install_nginx: apt-get install nginx-light or nginx"
# policy-rc.d 101: the package must not start its own server on port 80 while installing.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
fi
$SUDO apt-get install -y -q --no-install-recommends nginx || {
    [ "$created_policy" -eq 1 ] && $SUDO rm -f "$policy"
    exit 1
}
[ "$created_policy" -eq 1 ] && $SUDO rm -f "$policy"

if [ ! -x /usr/sbin/nginx ]; then
    echo "install_nginx: apt-get finished but /usr/sbin/nginx is still missing" >&2
    exit 1
fi
echo "install_nginx: ready: $(/usr/sbin/nginx -v 2>&1)"
