#!/bin/sh
# Entrypoint of the gateway image. A gateway that was killed (not stopped) leaves its unix socket
# file behind in the shared volume, and listening on an existing path fails (EADDRINUSE): remove a
# socket nobody listens on before starting, so a restarted container comes back.
set -eu
if [ -n "${SOCKET_PATH:-}" ] && [ -S "$SOCKET_PATH" ]; then
  rm -f "$SOCKET_PATH"
fi
exec "$@"
