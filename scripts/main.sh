#!/usr/bin/env bash
# The main job: installs what is missing, builds nas and runs it on the
# embedded default (Fashion-MNIST). Extra arguments go to nas.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
build/nas space show spaces/mobilenet.nas "$@"
