#!/bin/sh
# check-layout.sh BUILD_DIR: `cmake --install` of BUILD_DIR into a scratch
# DESTDIR, with the prefix /usr and then /opt/tlsvault, lays out exactly the
# binaries, the man page, the systemd unit (its ExecStart following the
# prefix), the sysusers.d file, the example config and the docs; the
# installed daemon runs; and `systemd-analyze verify` accepts the installed
# unit when systemd-analyze is there (its ExecStart pointed at the scratch
# copy, since nothing is installed on this machine).
set -eu
build=$1
dest=$(mktemp -d /tmp/tv-install-XXXXXX)
trap 'rm -rf "$dest"' EXIT
fail=0

say() {
    echo "check-layout: $*" >&2
    fail=1
}

# layout PREFIX: install under $dest/PREFIX's root and check the tree
layout() {
    prefix=$1
    root=$dest/root$(echo "$prefix" | tr / _)
    DESTDIR=$root cmake --install "$build" --prefix "$prefix" >/dev/null
    p=$root$prefix
    want=$(printf '%s\n' \
        "$prefix/bin/tlsvault" \
        "$prefix/sbin/tlsvaultd" \
        "$prefix/share/man/man8/tlsvaultd.8" \
        "$prefix/share/man/man1/tlsvault.1" \
        "$prefix/lib/systemd/system/tlsvaultd.service" \
        "$prefix/lib/sysusers.d/tlsvault.conf" \
        "$prefix/share/doc/tlsvault/README.md" \
        "$prefix/share/doc/tlsvault/DEPLOYMENT.md" \
        "$prefix/share/doc/tlsvault/SECURITY.md" \
        "/etc/tlsvault/tlsvaultd.conf.example" | sort)
    got=$(cd "$root" && find . -type f | sed 's/^\.//' | sort)
    [ "$got" = "$want" ] || say "prefix $prefix: installed
$got
expected
$want"
    for x in "$p/bin/tlsvault" "$p/sbin/tlsvaultd"; do
        [ -x "$x" ] || say "$x is not executable"
    done
    "$p/sbin/tlsvaultd" version | grep -q '^tlsvaultd [0-9]' || say "installed tlsvaultd doesn't run"
    grep -qx "ExecStart=$prefix/sbin/tlsvaultd serve --data /var/lib/tlsvault" \
        "$p/lib/systemd/system/tlsvaultd.service" || say "prefix $prefix: wrong ExecStart"
    grep -q '^u tlsvault ' "$p/lib/sysusers.d/tlsvault.conf" || say "no tlsvault user"
}

layout /usr
layout /opt/tlsvault

if command -v systemd-analyze >/dev/null 2>&1; then
    root=$dest/root_usr
    mkdir -p "$dest/verify"
    sed "s#^ExecStart=/usr/sbin/tlsvaultd #ExecStart=$root/usr/sbin/tlsvaultd #" \
        "$root/usr/lib/systemd/system/tlsvaultd.service" >"$dest/verify/tlsvaultd.service"
    out=$(MANPATH=$root/usr/share/man systemd-analyze verify "$dest/verify/tlsvaultd.service" 2>&1) ||
        say "systemd-analyze verify failed: $out"
    [ -z "$out" ] || say "systemd-analyze verify says: $out"
    verified=", systemd-analyze verify: clean"
else
    verified=", systemd-analyze: not installed, not verified"
fi
[ $fail -eq 0 ] || exit 1
echo "check-layout: /usr and /opt/tlsvault layouts as expected$verified"
