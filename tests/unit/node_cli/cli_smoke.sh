#!/usr/bin/env bash
# End to end through the built binary: init, demo seed, status --json,
# export, import into a second node, serve with SIGTERM, and the exit codes
# and messages of bad input. Usage: cli_smoke.sh /path/to/posta
set -u
posta=${1:?usage: cli_smoke.sh /path/to/posta}
work=$(mktemp -d "${TMPDIR:-/tmp}/posta-smoke-XXXXXX")
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

step=""
fail() {
  echo "cli_smoke: FAIL at '$step': $*" >&2
  for f in "$work"/*.out "$work"/*.err; do
    [ -s "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}
# run NAME EXPECTED_RC CMD...: runs CMD with stdout/stderr in $work/NAME.*
run() {
  local name=$1 want=$2
  shift 2
  step="$name"
  "$@" >"$work/$name.out" 2>"$work/$name.err"
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "exit code $rc, wanted $want"
}
json_field() {  # json_field FILE KEY: a top-level number or string
  sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$1"
}

run help 0 "$posta" --help
grep -q "init" "$work/help.out" || fail "--help does not list init"
run version 0 "$posta" --version
grep -q "^posta " "$work/version.out" || fail "no version line"
run no_command 2 "$posta"
run bad_option 2 "$posta" status --no-such-flag

run init_a 0 "$posta" init --dir "$work/a" --role clinic --facility clinic-a
grep -q "posta serve --config $work/a/posta.toml" "$work/init_a.out" ||
  fail "init does not print the next command"
run init_again 1 "$posta" init --dir "$work/a" --role clinic --facility clinic-a
grep -q "posta: .*posta.db: a database already exists" "$work/init_again.err" ||
  fail "second init: no clear message"
run init_bad_facility 2 "$posta" init --dir "$work/x" --facility "no spaces"
run init_nothing 2 "$posta" init
grep -q -- "--dir" "$work/init_nothing.err" || fail "init alone: no mention of --dir"
run init_no_facility 2 "$posta" init --dir "$work/x"
run init_config_and_dir 2 "$posta" init --config "$work/a/posta.toml" --dir "$work/x"
# A config written beforehand (a package's /etc/posta/posta.toml).
sed -e "s|^data_dir = .*|data_dir = \"$work/c-data\"|" \
  -e 's|^facility = .*|facility = "clinic-c"|' "$work/a/posta.toml" >"$work/c.toml"
run init_config 0 "$posta" init --config "$work/c.toml"
[ -f "$work/c-data/posta.db" ] || fail "init --config made no database"
grep -q "posta serve --config $work/c.toml" "$work/init_config.out" ||
  fail "init --config does not print the next command"

run seed 0 "$posta" demo seed --config "$work/a/posta.toml" --patients 40 --seed 7
grep -q " 0 rejected" "$work/seed.out" || fail "demo seed rejected records"

run status_a 0 "$posta" status --config "$work/a/posta.toml" --json
[ "$(json_field "$work/status_a.out" facility)" = clinic-a ] || fail "facility"
live_a=$(json_field "$work/status_a.out" live_records)
[ "${live_a:-0}" -gt 40 ] || fail "live_records=$live_a"

run export 0 "$posta" export --config "$work/a/posta.toml" --out "$work/a.ndjson"
[ "$(wc -l <"$work/a.ndjson")" -eq "$live_a" ] || fail "export line count"
[ ! -e "$work/a.ndjson.partial" ] || fail "partial file left behind"

run init_b 0 "$posta" init --dir "$work/b" --facility clinic-b
run import_b 0 "$posta" import --config "$work/b/posta.toml" "$work/a.ndjson"
grep -q "$live_a created, 0 updated, 0 unchanged, 0 rejected" "$work/import_b.out" ||
  fail "import summary"
run import_again 0 "$posta" import --config "$work/b/posta.toml" - <"$work/a.ndjson"
grep -q "$live_a unchanged" "$work/import_again.out" || fail "rerun not unchanged"
run status_b 0 "$posta" status --config "$work/b/posta.toml"
grep -q "records *$live_a live" "$work/status_b.out" || fail "status of b"

printf '{"resourceType":"Patient","name":[{"family":"Ba"}]}\nnot json\n' >"$work/mixed.ndjson"
run import_mixed 1 "$posta" import --config "$work/b/posta.toml" "$work/mixed.ndjson"
grep -q "^line 2: " "$work/import_mixed.out" || fail "rejected line not listed"
grep -q "1 of 2 records rejected" "$work/import_mixed.err" || fail "no failure message"

run backup 0 "$posta" backup --config "$work/a/posta.toml" "$work/a-backup.db"
grep -q "verified" "$work/backup.out" || fail "backup not verified"

printf '[node]\nfacility = "f"\ndata_dir = "."\n[http]\nmax_body_bytes = 5\n' >"$work/bad.toml"
run bad_config 1 "$posta" status --config "$work/bad.toml"
grep -q "^posta: .*bad.toml: http.max_body_bytes: must be between" "$work/bad_config.err" ||
  fail "bad config message"
run missing_db 1 "$posta" status --config "$work/x.toml"
printf '[node]\nfacility = "f"\ndata_dir = "nodb"\n' >"$work/nodb.toml"
run no_database 1 "$posta" status --config "$work/nodb.toml"
grep -q "hint: run \`posta init --dir" "$work/no_database.err" || fail "no init hint"

# serve: port 0 from the config, the bound port read from --port-file, one
# request, then SIGTERM must stop it cleanly with exit code 0.
step=serve
sed -i 's/^listen = .*/listen = "127.0.0.1:0"/' "$work/a/posta.toml"
"$posta" serve --config "$work/a/posta.toml" --port-file "$work/port" \
  >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 1 100); do
  [ -s "$work/port" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "serve exited early"
  sleep 0.1
done
port=$(cat "$work/port" 2>/dev/null)
[ -n "$port" ] || fail "no port file"
grep -q "serving http://127.0.0.1:$port" "$work/serve.out" || fail "no URL printed"
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect"
printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
response=$(cat <&3)
exec 3<&-
echo "$response" | head -n 1 | grep -q "200" || fail "health: $response"
kill -TERM "$server_pid"
wait "$server_pid"
rc=$?
server_pid=
[ "$rc" -eq 0 ] || fail "serve exit code $rc after SIGTERM"
grep -q "stopped cleanly" "$work/serve.err" || fail "no clean stop"

echo "cli_smoke: ok"
