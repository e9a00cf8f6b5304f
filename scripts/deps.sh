#!/usr/bin/env bash
# Installs the Debian packages nas needs to build, test and run, if any is
# missing (as root: apt-get update first, then apt-get install).
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail
# ocl-icd-opencl-dev: Debian's oneDNN is built with the OpenCL GPU runtime, so
# its CMake config (find_package(dnnl)) requires OpenCL; libdnnl-dev only
# recommends it, and recommends are not installed here
pkgs=(build-essential cmake pkg-config libdnnl-dev ocl-icd-opencl-dev libcjson-dev libsqlite3-dev zlib1g-dev
      dataset-fashion-mnist "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "nas: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "nas: missing packages and not root: run as root or install them: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
