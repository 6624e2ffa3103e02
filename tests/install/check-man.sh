#!/bin/sh
# check-man.sh TLSVAULTD PAGE: the man page renders without a warning, and
# it documents every command `TLSVAULTD --help` lists (a ".SS command"
# heading) and every --option each command's --help names. The options'
# variables, ranges and defaults are checked against the option tables by
# tests/unit/test_serve_opts.c.
set -eu
tvd=$1
page=$2
fail=0

say() {
    echo "check-man: $*" >&2
    fail=1
}

# groff: every warning (-ww), no output (-z)
out=$(groff -ww -z -man "$page" 2>&1) || say "groff failed"
[ -z "$out" ] || say "groff warns: $out"
if command -v man >/dev/null 2>&1; then
    out=$(MANWIDTH=80 man -l "$page" 2>&1 >/dev/null) || say "man -l failed"
    [ -z "$out" ] || say "man -l warns: $out"
fi

roff() {
    printf '%s' "$1" | sed 's/-/\\-/g'
}

cmds=$("$tvd" --help | sed -n 's/^  \([a-z][a-z-]*\( [a-z][a-z-]*\)\{0,1\}\)  .*/\1/p')
[ -n "$cmds" ] || say "no commands in '$tvd --help'"
n_cmds=0
n_opts=0
# one command a line; word splitting only at newlines
old_ifs=$IFS
IFS='
'
for cmd in $cmds; do
    IFS=$old_ifs
    n_cmds=$((n_cmds + 1))
    r=$(roff "$cmd")
    grep -Fqx -e ".SS $r" -e ".SS \"$r\"" "$page" || say "no '.SS $r' for the command '$cmd'"
    # shellcheck disable=SC2086
    help=$("$tvd" $cmd --help 2>&1) || say "'$cmd --help' failed"
    for opt in $(printf '%s\n' "$help" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        [ "$opt" = --help ] && continue
        n_opts=$((n_opts + 1))
        grep -Fq -- "$(roff "$opt")" "$page" || say "'$cmd' has $opt, the page doesn't"
    done
    IFS='
'
done
IFS=$old_ifs
[ "$n_opts" -gt 0 ] || say "no options found in any command's --help"
[ $fail -eq 0 ] || exit 1
echo "check-man: $page: no warnings; $n_cmds commands and $n_opts options documented"
