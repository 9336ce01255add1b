#!/usr/bin/env bash
# Install the load tools the benchmark harness drives (Debian/Ubuntu): wrk and nginx.
# nginx is only used as the reference server the redirect benchmark compares against; the
# harness starts its own instance with its own config on a free port and never touches
# /etc/nginx or a system service. py-spy (profiles) comes with the test extras in .venv.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends wrk nginx-light util-linux
# Debian starts a default nginx on port 80 when installed; the harness does not need it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  $SUDO systemctl disable --now nginx || true
fi
wrk --version 2>&1 | head -1 || true
nginx -v
