#!/usr/bin/env bash
# kefu scaled out, on one machine: `scripts/scale-demo.sh up` starts PostgreSQL, Redis, a
# Chroma server, an LLM server (python -m llama_cpp.server with the installed model), two
# kefu workers and nginx in front of them, all on free loopback ports, imports the demo shop,
# and prints as its last line `front=URL workers=URL1,URL2`. `scripts/scale-demo.sh down`
# stops exactly what `up` started. The two workers share nothing but those servers (each has
# a KEFU_HOME of its own), as two machines would.
#
# Environment: KEFU_SERVER__ADMIN_TOKEN (the admin pages and API; none: they are off),
# SCALE_DEMO_DIR (where state and logs go; default $KEFU_HOME/scale-demo or
# ~/.kefu/scale-demo), SCALE_DEMO_LLM (default or small; default: default).
# Needs Debian's postgresql, redis-server and nginx (apt-get install postgresql
# redis-server nginx).
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${SCALE_DEMO_DIR:-${KEFU_HOME:-$HOME/.kefu}/scale-demo}
LLM=${SCALE_DEMO_LLM:-default}
PIDS="$STATE/started"  # one line per thing started: kind and how to stop it
KEFU=.venv/bin/kefu
PY=.venv/bin/python

say() { echo "scale-demo: $*" >&2; }
die() { say "$*"; exit 1; }

free_ports() {  # N distinct free loopback ports
  "$PY" - "$1" <<'EOF'
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))
EOF
}

wait_for() {  # URL, what, seconds, pid to watch (its log is shown if it dies)
  local url=$1 what=$2 seconds=$3 pid=${4:-} log=${5:-} i
  for ((i = 0; i < seconds * 4; i++)); do
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      [ -n "$log" ] && tail -n 20 "$log" >&2
      die "$what stopped while starting (log: $log)"
    fi
    sleep 0.25
  done
  die "$what did not answer at $url within $seconds s${log:+ (log: $log)}"
}

as_postgres() {  # PostgreSQL refuses to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

started() { echo "$*" >> "$PIDS"; }

background() {  # KIND LOG COMMAND...: start COMMAND detached, remember its process id
  local kind=$1 log=$2
  shift 2
  setsid "$@" > "$log" 2>&1 < /dev/null &
  started "$kind $!"
  echo $!
}

up() {
  if [ -s "$PIDS" ]; then
    die "already up (or not cleanly stopped): run '$0 down' first ($PIDS)"
  fi
  command -v redis-server > /dev/null || die "redis-server is missing: apt-get install redis-server"
  command -v nginx > /dev/null || die "nginx is missing: apt-get install nginx"
  local pg_bin
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n 1 || true)
  [ -x "$pg_bin/postgres" ] || die "PostgreSQL is missing: apt-get install postgresql"

  bash scripts/setup.sh
  local model
  model=$("$KEFU" models install --llm "$LLM" | tail -n 1 | sed 's/^[a-z]*: //')
  mkdir -p "$STATE"
  : > "$PIDS"
  trap 'say "failed; stopping what was started"; down' EXIT

  # Files the postgres and nginx users must reach live outside a home folder.
  local run
  run=$(mktemp -d /tmp/kefu-scale.XXXXXX)
  chmod 755 "$run"
  started "folder $run"
  local pg redis chroma llm w1 w2 front
  read -r pg redis chroma llm w1 w2 front <<< "$(free_ports 7)"

  say "PostgreSQL on $pg"
  mkdir -p "$run/pg"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$run/pg"
  as_postgres "$pg_bin/initdb" -D "$run/pg/data" -U kefu --auth=trust -E UTF8 > "$STATE/pg-init.log"
  started "postgres $pg_bin $run/pg/data"  # before the start: a slow start is stopped too
  as_postgres "$pg_bin/pg_ctl" -D "$run/pg/data" -l "$run/pg/server.log" -w \
    -o "-p $pg -k $run/pg -c listen_addresses=127.0.0.1" start > /dev/null
  as_postgres "$pg_bin/createdb" -h 127.0.0.1 -p "$pg" -U kefu kefu

  say "Redis on $redis"
  rm -f "$STATE/redis.pid"
  redis-server --bind 127.0.0.1 --port "$redis" --save "" --appendonly no --daemonize yes \
    --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log" --dir "$STATE"
  for _ in $(seq 40); do [ -s "$STATE/redis.pid" ] && break; sleep 0.25; done
  [ -s "$STATE/redis.pid" ] || die "Redis did not start (log: $STATE/redis.log)"
  started "redis $(cat "$STATE/redis.pid")"
  for _ in $(seq 40); do
    redis-cli -p "$redis" ping 2> /dev/null | grep -q PONG && break
    sleep 0.25
  done
  redis-cli -p "$redis" ping 2> /dev/null | grep -q PONG \
    || die "Redis does not answer on $redis (log: $STATE/redis.log)"

  say "Chroma on $chroma"
  local pid
  pid=$(background chroma "$STATE/chroma.log" .venv/bin/chroma run --host 127.0.0.1 \
    --port "$chroma" --path "$run/chroma")
  wait_for "http://127.0.0.1:$chroma/api/v2/heartbeat" "chroma run" 60 "$pid" "$STATE/chroma.log"

  say "LLM server on $llm ($model)"
  pid=$(background llm "$STATE/llm.log" "$PY" -m llama_cpp.server --model "$model" \
    --host 127.0.0.1 --port "$llm" --n_ctx 4096 --n_threads 2 --n_batch 512)
  wait_for "http://127.0.0.1:$llm/v1/models" "the LLM server" 180 "$pid" "$STATE/llm.log"

  # What every worker is told (and `. $STATE/env` tells a kefu command run by hand).
  cat > "$STATE/env" <<EOF
export KEFU_STORE__CLIENT='http' KEFU_STORE__HOST='127.0.0.1' KEFU_STORE__PORT='$chroma'
export KEFU_STORE__DATABASE_URL='postgresql://kefu@127.0.0.1:$pg/kefu'
export KEFU_STORE__REDIS_URL='redis://127.0.0.1:$redis/0'
export KEFU_LLM__BACKEND='openai' KEFU_LLM__BASE_URL='http://127.0.0.1:$llm/v1'
export KEFU_LLM__MODEL='$LLM'
EOF
  # shellcheck source=/dev/null
  . "$STATE/env"
  local n port
  for n in 1 2; do  # one after the other: the first imports the demo, the second finds it done
    port=$([ "$n" = 1 ] && echo "$w1" || echo "$w2")
    say "kefu worker $n on $port"
    pid=$(KEFU_HOME="$STATE/worker$n" background "worker$n" "$STATE/worker$n.log" \
      "$KEFU" serve --demo --host 127.0.0.1 --port "$port")
    wait_for "http://127.0.0.1:$port/healthz" "kefu worker $n" 300 "$pid" \
      "$STATE/worker$n.log"
  done

  say "nginx on $front"
  mkdir -p "$run/nginx"
  sed -e "s#@RUN@#$run/nginx#g" -e "s#@FRONT@#$front#g" -e "s#@W1@#$w1#g" -e "s#@W2@#$w2#g" \
    -e "s#@USER@#$([ "$(id -u)" = 0 ] && echo 'user root;')#" \
    scripts/scale-demo.nginx.conf > "$run/nginx/nginx.conf"
  nginx -p "$run/nginx" -c "$run/nginx/nginx.conf" -e "$run/nginx/error.log"
  started "nginx $run/nginx"
  wait_for "http://127.0.0.1:$front/healthz" nginx 30
  trap - EXIT
  echo "front=http://127.0.0.1:$front workers=http://127.0.0.1:$w1,http://127.0.0.1:$w2"
}

stop_pid() {  # PID WORD: TERM, then KILL after 20 s, if PID is still the process started
  local pid=$1 word=$2 i
  kill -0 "$pid" 2> /dev/null || return 0
  # after a reboot the number may belong to another program: leave that one alone
  tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -q -- "$word" || return 0
  kill -TERM -- "-$pid" 2> /dev/null || kill -TERM "$pid" 2> /dev/null || true
  for ((i = 0; i < 80; i++)); do kill -0 "$pid" 2> /dev/null || return 0; sleep 0.25; done
  kill -KILL -- "-$pid" 2> /dev/null || kill -KILL "$pid" 2> /dev/null || true
}

down() {
  [ -f "$PIDS" ] || { say "nothing to stop ($PIDS not found)"; return 0; }
  local kind a b
  # the last started first: nginx, the workers, then the servers they use
  tac "$PIDS" | while read -r kind a b; do
    case "$kind" in
      nginx) nginx -p "$a" -c "$a/nginx.conf" -e "$a/error.log" -s stop 2> /dev/null || true
             for _ in $(seq 40); do [ -s "$a/nginx.pid" ] || break; sleep 0.25; done ;;
      postgres) as_postgres "$a/pg_ctl" -D "$b" -m fast -w stop > /dev/null 2>&1 || true ;;
      folder) rm -rf "$a" ;;
      redis) stop_pid "$a" redis-server ;;
      chroma) stop_pid "$a" chroma ;;
      llm) stop_pid "$a" llama_cpp.server ;;
      *) stop_pid "$a" "kefu serve" ;;
    esac
    say "stopped $kind"
  done
  rm -f "$PIDS"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
