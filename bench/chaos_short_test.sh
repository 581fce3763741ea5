#!/usr/bin/env bash
# ctest chaos_short_itest: the chaos run's short version (scripts/chaos --short;
# bench/chaos.py, docs/benchmarks.md) on the build's binaries. It starts servers
# of its own on free ports (it restarts PostgreSQL and Dovecot) and stops them,
# and every daemon and proxy it started, by pid on any exit; it fails on any
# failed check. Like every integration test it skips (77) outside a test
# session (scripts/test, or MAILFORUM_TEST_REQUIRE_SERVERS=1) and runs under it.
# Its own time limit (540 s) stops it cleanly before ctest's (660 s) would
# kill it without cleaning up.
#
# usage: bench/chaos_short_test.sh BUILD_DIR
set -euo pipefail

BUILD=$(cd "${1:?usage: chaos_short_test.sh BUILD_DIR}" && pwd)
if [ "${MAILFORUM_TEST_REQUIRE_SERVERS:-}" != 1 ] && [ -z "${MAILFORUM_TEST_DIR:-}" ]; then
  echo "chaos_short_itest: skipped outside a test session (scripts/test; or MAILFORUM_TEST_REQUIRE_SERVERS=1)"
  exit 77
fi
MAILFORUM_BUILD_DIR=$BUILD exec bash "$(dirname "$0")/../scripts/chaos" --short --no-build --time-limit 540
