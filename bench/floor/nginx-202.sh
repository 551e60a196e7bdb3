#!/usr/bin/env bash
# The latency floor of the load test: nginx answering 202 to everything, on PORT (default 9999),
# one worker, keep-alive, no logging. Measure it with:
#   bash bench/floor/nginx-202.sh 9999 &  npm run loadtest -- --no-admin --schedule none
set -euo pipefail
port="${1:-9999}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_temp_path $dir;
  server {
    listen 127.0.0.1:$port;
    location / { return 202 '{"message":"payment accepted"}'; }
  }
}
CONF
exec nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;'
