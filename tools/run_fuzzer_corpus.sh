#!/usr/bin/env bash
# Runs a fuzz target (built with //base:fuzz_main) over its seed corpus: no input may crash it.
set -euo pipefail
"$1" "$2"
