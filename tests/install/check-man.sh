#!/bin/sh
# check-man.sh PROGRAM PAGE: the man page renders without a warning, and it
# documents every command `PROGRAM --help` lists (a ".SS command" heading;
# the command is the lowercase words before its arguments: "tenant create",
# "ca" for "ca add|list|rm") and every --option named by PROGRAM --help and
# by each command's --help. For tlsvaultd(8) the options' variables, ranges
# and defaults are checked against the option tables by
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

# check_opts WHAT HELP: every --option in HELP is on the page
check_opts() {
    for opt in $(printf '%s\n' "$2" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        [ "$opt" = --help ] && continue
        n_opts=$((n_opts + 1))
        grep -Fq -- "$(roff "$opt")" "$page" || say "$1 has $opt, the page doesn't"
    done
}

top=$("$tvd" --help 2>&1) || true
cmds=$(printf '%s\n' "$top" | sed -n '/^commands:/,/^$/p' | grep '^  [a-z]' | sed 's/^  //; s/  .*//' |
    awk '{ c = ""; for (i = 1; i <= NF && $i ~ /^[a-z][a-z-]*$/; i++) c = c (c ? " " : "") $i; print c }')
[ -n "$cmds" ] || say "no commands in '$tvd --help'"
n_cmds=0
n_opts=0
check_opts "$(basename "$tvd")" "$top"
# one command a line; word splitting only at newlines
old_ifs=$IFS
IFS='
'
for cmd in $cmds; do
    IFS=$old_ifs
    n_cmds=$((n_cmds + 1))
    r=$(roff "$cmd")
    grep -Fqx -e ".SS $r" -e ".SS \"$r\"" "$page" || say "no '.SS $r' for the command '$cmd'"
    # some commands exit non-zero after their --help: only the text matters
    # shellcheck disable=SC2086
    help=$("$tvd" $cmd --help 2>&1) || true
    [ -n "$help" ] || say "'$cmd --help' printed nothing"
    check_opts "'$cmd'" "$help"
    IFS='
'
done
IFS=$old_ifs
[ "$n_opts" -gt 0 ] || say "no options found in any command's --help"
[ $fail -eq 0 ] || exit 1
echo "check-man: $page: no warnings; $n_cmds commands and $n_opts options documented"
