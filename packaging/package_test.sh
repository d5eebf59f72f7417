#!/usr/bin/env bash
# The Debian package on this machine: builds it (and an older version of
# it) from a configured build directory with cpack, then install, setup,
# upgrade (the config edit and the records survive), remove and purge.
# Needs root and dpkg; exits 77 (skipped) without them, saying why.
# Usage: package_test.sh BUILD_DIR
set -u
build=$(cd "${1:?usage: package_test.sh BUILD_DIR}" && pwd)

skip() { echo "package_test: SKIPPED: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to install a package (CI runs as root)"
command -v dpkg >/dev/null && command -v cpack >/dev/null ||
  skip "needs dpkg and cpack"
if dpkg-query -W -f='${Status}' posta 2>/dev/null | grep -q installed; then
  skip "a posta package is already installed here; this test installs and purges its own (dpkg --purge posta to run it)"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/posta-pkg-XXXXXX")
had_user=0; getent passwd posta >/dev/null && had_user=1
had_data=0; [ -e /var/lib/posta ] && had_data=1
cleanup() {
  dpkg --purge posta >/dev/null 2>&1
  [ "$had_data" -eq 1 ] || rm -rf /var/lib/posta
  [ "$had_user" -eq 1 ] || { userdel posta 2>/dev/null; groupdel posta 2>/dev/null; }
  rm -rf "$work"
}
trap cleanup EXIT

step=""
fail() { echo "package_test: FAIL at '$step': $*" >&2; exit 1; }
# dpkg with a wait for the lock, which an apt-get elsewhere may hold.
dpkg_run() {
  local i out
  for i in $(seq 1 60); do
    out=$(dpkg "$@" 2>&1) && { echo "$out" >>"$work/dpkg.log"; return 0; }
    echo "$out" >>"$work/dpkg.log"
    echo "$out" | grep -q "lock" || { echo "$out" >&2; return 1; }
    sleep 2
  done
  return 1
}
as_posta() { runuser -u posta -- "$@"; }

step="build packages"
(cd "$build" && cpack -G DEB -B "$work/new" >"$work/cpack-new.log" 2>&1) ||
  { cat "$work/cpack-new.log" >&2; fail "cpack"; }
(cd "$build" && cpack -G DEB -B "$work/old" -D CPACK_PACKAGE_VERSION=0.0.1 \
  >"$work/cpack-old.log" 2>&1) || { cat "$work/cpack-old.log" >&2; fail "cpack (old)"; }
new=$(ls "$work"/new/posta_*.deb) && old=$(ls "$work"/old/posta_*.deb) ||
  fail "no .deb built"
version=$(dpkg-deb -f "$new" Version)
old_version=$(dpkg-deb -f "$old" Version)
dpkg --compare-versions "$old_version" lt "$version" ||
  fail "old package $old_version is not older than $version"
dpkg-deb -c "$new" | grep -q " ./usr/bin/posta$" || fail "no /usr/bin/posta"
dpkg-deb -e "$new" "$work/control"
grep -qx /etc/posta/posta.toml "$work/control/conffiles" ||
  fail "posta.toml is not a conffile"

step="install $old_version"
dpkg_run -i "$old" || fail "dpkg -i"
/usr/bin/posta --version | grep -q "^posta " || fail "posta --version"
getent passwd posta >/dev/null || fail "no posta user"
[ "$(stat -c '%U:%G %a' /etc/posta/posta.toml)" = "root:posta 640" ] ||
  fail "config is $(stat -c '%U:%G %a' /etc/posta/posta.toml)"
[ "$(stat -c '%U %a' /var/lib/posta)" = "posta 750" ] ||
  fail "/var/lib/posta is $(stat -c '%U %a' /var/lib/posta)"

step="the packaged config before setup"
if as_posta posta init --config /etc/posta/posta.toml >"$work/init0.out" 2>&1; then
  fail "init accepted the config without a facility"
fi
grep -q "facility" "$work/init0.out" || fail "no word of the facility: $(cat "$work/init0.out")"

step="set up the node"
sed -i -e 's|^facility = ""|facility = "clinic-pkg"|' \
  -e 's|^listen = "127.0.0.1:8080"|listen = "127.0.0.1:18080"|' /etc/posta/posta.toml
echo "# local edit kept across upgrades" >>/etc/posta/posta.toml
as_posta posta init --config /etc/posta/posta.toml >"$work/init.out" 2>&1 ||
  fail "$(cat "$work/init.out")"
as_posta posta demo seed --config /etc/posta/posta.toml --patients 5 --seed 3 \
  >/dev/null 2>&1 || fail "demo seed"
before=$(posta status --config /etc/posta/posta.toml --json) || fail "status"

step="systemd-analyze verify"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/posta.service >"$work/verify.log" 2>&1 ||
    { cat "$work/verify.log" >&2; fail "systemd-analyze verify"; }
  # It exits 0 on some warnings; any line about posta.service is one.
  if grep -q "posta.service" "$work/verify.log"; then
    cat "$work/verify.log" >&2; fail "systemd-analyze warns"
  fi
else
  echo "package_test: systemd-analyze not installed; unit not verified"
fi

step="upgrade to $version"
dpkg_run -i "$new" || fail "dpkg -i"
dpkg-query -W -f='${Version}' posta | grep -qx "$version" || fail "not upgraded"
grep -q "^# local edit kept across upgrades" /etc/posta/posta.toml ||
  fail "the config edit is lost"
grep -q '^facility = "clinic-pkg"' /etc/posta/posta.toml || fail "facility lost"
after=$(posta status --config /etc/posta/posta.toml --json) || fail "status"
[ "$(echo "$before" | grep -o '"live_records":[0-9]*')" = \
  "$(echo "$after" | grep -o '"live_records":[0-9]*')" ] ||
  fail "records changed: $before / $after"
[ "$(stat -c '%U:%G %a' /etc/posta/posta.toml)" = "root:posta 640" ] ||
  fail "config mode after upgrade"

step="posta init into a temporary directory"
posta init --dir "$work/node" --facility clinic-tmp >/dev/null ||
  fail "init --dir"
[ -f "$work/node/posta.db" ] || fail "no database"

step="remove"
dpkg_run -r posta || fail "dpkg -r"
[ ! -e /usr/bin/posta ] || fail "/usr/bin/posta still there"
[ -f /etc/posta/posta.toml ] || fail "remove deleted the config"
[ -f /var/lib/posta/posta.db ] || fail "remove deleted the records"

step="purge"
dpkg_run --purge posta || fail "dpkg --purge"
[ ! -e /etc/posta/posta.toml ] || fail "purge left the config"
[ -f /var/lib/posta/posta.db ] || fail "purge deleted the records"
dpkg-query -W posta >/dev/null 2>&1 && fail "still known to dpkg"
echo "package_test: $old_version -> $version installed, upgraded, removed and purged"
