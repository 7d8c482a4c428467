#!/bin/bash
# Initialise PGDATA once (superuser POSTGRES_USER, password from POSTGRES_PASSWORD, never in argv), run the
# init scripts against a server reachable only on its socket, then serve with password authentication.
set -euo pipefail
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
export POSTGRES_USER=${POSTGRES_USER:-postgres}
socket=/var/run/postgresql

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl --wait --silent --options="-c listen_addresses='' -c unix_socket_directories=$socket" start
  for script in /docker-entrypoint-initdb.d/*.sh; do
    if [ -e "$script" ]; then "$script"; fi
  done
  pg_ctl --wait --silent stop
fi
exec postgres -c listen_addresses='*' -c "unix_socket_directories=$socket" "$@"
