#!/usr/bin/env bash
# The man pages (issue 11 item 6): each renders without a groff warning, and mailforumctl(8) describes every
# command that `mailforumctl --help` lists (so a new command without a man entry fails here).
# usage: packaging/test-man.sh SOURCE_DIR BUILD_DIR MAILFORUMCTL
set -euo pipefail
SRC=$1 BUILD=$2 CTL=$3
status=0
for page in mailforumd.8 mailforum-web.8 mailforumctl.8 mailforum.yaml.5; do
  [ -s "$BUILD/man/$page" ] || { echo "man: $BUILD/man/$page was not generated"; status=1; continue; }
  # Wide reference tables cannot always be justified at 80 columns: only real errors count for (5).
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$BUILD/man/$page" 2>&1 > /dev/null \
    | grep -v -e 'cannot adjust line' -e "can't break line" -e 'table wider than line width' -e "around line" || true)
  if [ -n "$warnings" ]; then
    echo "man: $page: $warnings"
    status=1
  fi
  echo "man: $page: $(LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$BUILD/man/$page" 2> /dev/null | wc -l) lines"
done
commands=$("$CTL" --help | sed -n '/^Subcommands:/,$p' | awk 'NR > 1 && NF {print $1}')
[ -n "$commands" ] || { echo "man: mailforumctl --help lists no commands"; exit 1; }
described=0
for c in $commands; do
  if grep -qE "^\*\*mailforumctl $c( |\*\*)" "$SRC/docs/man/mailforumctl.8.md"; then
    described=$((described + 1))
  else
    echo "man: mailforumctl $c is not described in docs/man/mailforumctl.8.md"
    status=1
  fi
done
echo "man: mailforumctl(8) describes $described of $(echo "$commands" | wc -w) commands listed by --help"
[ "$status" -eq 0 ] && echo "man: passed"
exit "$status"
