#!/usr/bin/env bash
# The Debian package, end to end (issue 11 item 7): builds it with CPack from a built tree, runs lintian
# (an error fails), installs it with dpkg into a fresh root (dpkg --root; the maintainer scripts run
# chrootless against that root, so the system user and /etc/mailforum are made there, not here), copies the
# runtime libraries the binaries need into that root and, chrooted there (with a /proc of its own), runs
# the installed `mailforumctl check-config` on the installed example: 78 naming the missing secret files
# first, then 0 once the files exist.
#
# usage: packaging/test-deb.sh BUILD_DIR        (needs root for chroot; run by scripts/test as deb_package_test)
set -euo pipefail
BUILD=$(cd "$1" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "test-deb: needs root (chroot)"; exit 1; }
for tool in cpack lintian dpkg dpkg-deb dpkg-shlibdeps systemd-sysusers systemd-tmpfiles unshare; do
  command -v "$tool" > /dev/null || { echo "test-deb: $tool is missing (scripts/setup installs it)"; exit 1; }
done
WORK=$(mktemp -d /tmp/mf-deb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

echo "== cpack"
(cd "$WORK" && cpack --config "$BUILD/CPackConfig.cmake" -B "$WORK/out") > "$WORK/cpack.log" 2>&1 \
  || { cat "$WORK/cpack.log"; exit 1; }
deb=$(ls "$WORK"/out/mailforum_*.deb)
echo "$(basename "$deb"): $(du -k "$deb" | cut -f1) KiB"
dpkg-deb --field "$deb" Package Version Architecture Depends Recommends
dpkg-deb --contents "$deb" | awk '{print $6}' | grep -vE '/$' | sed 's|^\./|/|'

echo "== lintian"
lintian --tag-display-limit 0 "$deb" > "$WORK/lintian.txt" 2>&1 || true
cat "$WORK/lintian.txt"
errors=$(grep -c '^E:' "$WORK/lintian.txt" || true)
warnings=$(grep -c '^W:' "$WORK/lintian.txt" || true)
echo "lintian: $errors errors, $warnings warnings"
[ "$errors" -eq 0 ] || { echo "test-deb: lintian reports errors"; exit 1; }

echo "== dpkg --root (a fresh root)"
ROOT=$WORK/root
mkdir -p "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/updates" "$ROOT/etc" "$ROOT/tmp"
touch "$ROOT/var/lib/dpkg/status"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\n' > "$ROOT/etc/group"
# --force-depends: the fresh root's dpkg database knows none of the runtime packages (their libraries are
# copied in below); the maintainer scripts run chrootless with DPKG_ROOT set.
dpkg --root="$ROOT" --force-script-chrootless --force-depends --log=/dev/null -i "$deb" 2>&1 \
  | grep -v 'dependency problems\|depends on\|is not installed\|Package .* not installed' || true
dpkg --root="$ROOT" -s mailforum | grep -E '^(Status|Version):'
dpkg --root="$ROOT" -s mailforum | grep -q '^Status: install ok installed' \
  || { echo "test-deb: the package is not installed in the fresh root"; exit 1; }
for f in usr/sbin/mailforumd usr/bin/mailforumctl usr/bin/mailforum-web lib/systemd/system/mailforumd.service \
         lib/systemd/system/mailforum-web.service usr/share/doc/mailforum/examples/mailforum.yaml; do
  [ -e "$ROOT/$f" ] || [ -e "$ROOT/usr/$f" ] || { echo "test-deb: /$f is not installed"; exit 1; }
done
grep -q '^mailforum:' "$ROOT/etc/passwd" || { echo "test-deb: postinst made no mailforum user"; exit 1; }
echo "user: $(grep '^mailforum:' "$ROOT/etc/passwd")"
gid=$(stat -c '%g' "$ROOT/etc/mailforum")
echo "/etc/mailforum: mode $(stat -c '%a' "$ROOT/etc/mailforum"), group $(awk -F: -v g="$gid" '$3 == g {print $1}' "$ROOT/etc/group") in the root"
[ "$(stat -c '%a' "$ROOT/etc/mailforum")" = 750 ] || { echo "test-deb: /etc/mailforum is not 0750"; exit 1; }

echo "== the runtime libraries into the root, then check-config there"
copy_into_root() {
  local src=$1
  mkdir -p "$ROOT$(dirname "$src")"
  cp -L "$src" "$ROOT$src"
}
for bin in usr/bin/mailforumctl usr/sbin/mailforumd usr/bin/mailforum-web; do
  ldd "$ROOT/$bin" | awk '/=> \//{print $3} /^\t\/lib/{print $1}' | while read -r lib; do
    [ -e "$ROOT$lib" ] || copy_into_root "$lib"
  done
done
mkdir -p "$ROOT/etc/ssl/certs" "$ROOT/dev"
cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/" 2> /dev/null || true
: > "$ROOT/dev/null"

cp "$ROOT/usr/share/doc/mailforum/examples/mailforum.yaml" "$ROOT/etc/mailforum/mailforum.yaml"
CRED=/run/credentials/mailforumd.service
# The root gets a /proc of its own, as a system has: the binaries of the asan preset need it (LeakSanitizer
# reads /proc, and the sanitizers read their options from /proc/self/environ). unshare mounts it in a mount
# namespace that ends with the command, so nothing stays mounted in $WORK.
mkdir -p "$ROOT/proc"
IN_ROOT=("$(command -v unshare)" --mount --pid --fork --mount-proc="$ROOT/proc" "$(command -v chroot)" "$ROOT")
set +e
env -i CREDENTIALS_DIRECTORY=$CRED "${IN_ROOT[@]}" /usr/bin/mailforumctl check-config \
  -c /etc/mailforum/mailforum.yaml > "$WORK/check1.txt" 2>&1
rc=$?
set -e
cat "$WORK/check1.txt"
[ "$rc" -eq 78 ] || { echo "test-deb: check-config without the secret files exited $rc, expected 78"; exit 1; }

# The secret files the example names (*_file keys), made with the modes the admin guide asks for.
sed -n 's/^[^#]*_file:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$ROOT/etc/mailforum/mailforum.yaml" \
  | grep -v 'ca_file' | sed "s|\\\${CREDENTIALS_DIRECTORY[^}]*}|$CRED|" \
  | while read -r secret; do
      mkdir -p "$ROOT$(dirname "$secret")"
      head -c 32 /dev/urandom | base64 > "$ROOT$secret"
      chmod 0640 "$ROOT$secret"
      echo "secret file: $secret"
    done
env -i CREDENTIALS_DIRECTORY=$CRED "${IN_ROOT[@]}" /usr/bin/mailforumctl check-config \
  -c /etc/mailforum/mailforum.yaml
echo "test-deb: passed (the package installs in a fresh root; check-config on its example exits 0)"
