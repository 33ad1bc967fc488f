#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test hushline:
# cmake and libclang (whisper-rs-sys builds whisper.cpp and runs bindgen), python3-pip
# (the Whisper weights come from a registry package), sox and espeak-ng (test audio),
# sip-tester (SIPp, the real SIP peer for live tests), multimon-ng (an independent DTMF
# decoder: tests check it reads no keypad tone back from redacted recordings),
# baresip-core and kamailio with its tls module (the real TLS/SRTP peers), openssl
# (s_client against the TLS port), libasound2-dev and pkg-config (so lint can check the
# `mic` feature, cpal over ALSA), and the real servers the scale-out tests start
# themselves: nats-server (JetStream work queue), kamailio (recorder pool dispatcher),
# strace (proves workers write nothing locally) and, with cargo, the S3-compatible
# s3s-fs. Does nothing when all are present.
set -euo pipefail

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v clang >/dev/null || need+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || ls /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 || need+=(libclang-dev)
command -v c++ >/dev/null || need+=(g++)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
command -v sox >/dev/null || need+=(sox libsox-fmt-all)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sipp >/dev/null || need+=(sip-tester)
command -v multimon-ng >/dev/null || need+=(multimon-ng)
command -v baresip >/dev/null || need+=(baresip-core)
command -v kamailio >/dev/null || need+=(kamailio)
ls /usr/lib/*/kamailio/modules/tls.so >/dev/null 2>&1 || need+=(kamailio-tls-modules)
command -v openssl >/dev/null || need+=(openssl)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ -e /usr/include/alsa/asoundlib.h ] || need+=(libasound2-dev)
command -v nats-server >/dev/null || need+=(nats-server)
command -v strace >/dev/null || need+=(strace)

# An S3-compatible server for the object storage tests (a bucket is a folder). 0.14.1 is
# the last release that builds with the machine's Rust; --locked keeps its tested deps.
# Built without optimisation: a third of the CPU time of a release build (2.3 vs 7 CPU
# minutes measured), and the tests move a few megabytes.
S3S_FS_VERSION=0.14.1
if ! command -v s3s-fs >/dev/null && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs" ]; then
  echo "installing: s3s-fs $S3S_FS_VERSION (cargo)"
  CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install --quiet --locked "s3s-fs@$S3S_FS_VERSION" --features binary
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

echo "installing: ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
