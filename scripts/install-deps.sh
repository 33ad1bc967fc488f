#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test hushline:
# cmake and libclang (whisper-rs-sys builds whisper.cpp and runs bindgen), python3-pip
# (the Whisper weights come from a registry package), sox and espeak-ng (test audio),
# sip-tester (SIPp, the real SIP peer for live tests), multimon-ng (an independent DTMF
# decoder: tests check it reads no keypad tone back from redacted recordings),
# baresip-core and kamailio with its tls module (the real TLS/SRTP peers), openssl
# (s_client against the TLS port),
# libasound2-dev and pkg-config (so lint can check the `mic` feature, cpal over ALSA).
# Does nothing when all are present.
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
