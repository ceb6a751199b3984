#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on localhost: start them if installed but stopped,
# install them with apt-get when missing (as root), and create the test database.
set -euo pipefail

PGHOST=127.0.0.1
PGPORT=${DIALER_TEST_PGPORT:-5432}
REDIS_PORT=${DIALER_TEST_REDIS_PORT:-6379}

log() { printf '[services] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; return 1; fi
}

apt_install() {
  log "installing $* with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_up() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; }

start_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    apt_install postgresql postgresql-client
  fi
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    as_root pg_createcluster "$version" main >/dev/null
  fi
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do pg_up && return 0; sleep 0.5; done
  log "PostgreSQL did not come up on $PGHOST:$PGPORT"; return 1
}

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

start_redis() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server redis-tools
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 40); do redis_up && return 0; sleep 0.25; done
  log "Redis did not come up on 127.0.0.1:$REDIS_PORT"; return 1
}

command -v pg_isready >/dev/null 2>&1 || apt_install postgresql-client
pg_up || start_postgres
command -v redis-cli >/dev/null 2>&1 || apt_install redis-tools
# the shipped FreeSWITCH Lua flow is run branch by branch under lua (tests/freeswitch)
command -v lua5.4 >/dev/null 2>&1 || command -v lua >/dev/null 2>&1 || apt_install lua5.4
redis_up || start_redis

# A password for TCP logins on clusters that do not trust localhost; harmless where they do.
if ! psql "postgresql://postgres:postgres@$PGHOST:$PGPORT/postgres" -qtAc 'select 1' >/dev/null 2>&1; then
  as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
fi
if ! psql "postgresql://postgres:postgres@$PGHOST:$PGPORT/postgres" -qtAc \
    "select 1 from pg_database where datname='test'" | grep -q 1; then
  psql "postgresql://postgres:postgres@$PGHOST:$PGPORT/postgres" -qc 'CREATE DATABASE test'
fi
log "PostgreSQL and Redis are up"
