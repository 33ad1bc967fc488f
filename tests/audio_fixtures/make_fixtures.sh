#!/bin/sh
# Makes the small decoder fixtures in this directory from one reference signal, so the
# tests need no sox. Needs the Debian packages sox, libsox-fmt-all and lame. Rerun after changing it: `sh tests/audio_fixtures/make_fixtures.sh`.
#
# Reference: 0.5 s at 8 kHz, stereo. Left: a 200-3000 Hz sweep at half scale (not
# periodic, so a time shift shows up in a cross-correlation); right: a 660 Hz tone at a
# quarter scale (so swapped channels show up in the levels). No dither anywhere, so every
# PCM format holds the same signal to within its own quantisation.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sox -D -n -r 8000 -c 2 -b 32 -e floating-point "$tmp/ref.wav" \
    synth 0.5 sine 200-3000 sine 660 remix 1v0.5 2v0.25

sox -D "$tmp/ref.wav" -b 8 -e unsigned-integer pcm_u8.wav
sox -D "$tmp/ref.wav" -b 16 -e signed-integer pcm_s16.wav
sox -D "$tmp/ref.wav" -b 24 -e signed-integer pcm_s24.wav
sox -D "$tmp/ref.wav" -b 32 -e signed-integer pcm_s32.wav
sox -D "$tmp/ref.wav" -b 32 -e floating-point pcm_f32.wav
sox -D "$tmp/ref.wav" -b 8 -e mu-law g711_ulaw.wav
sox -D "$tmp/ref.wav" -b 8 -e a-law g711_alaw.wav
sox -D "$tmp/ref.wav" -b 16 flac_s16.flac
# The same G.711 bytes without a header, for checking our G.711 tables against sox.
sox -D "$tmp/ref.wav" -b 8 -t raw -e mu-law g711_ulaw.raw
sox -D "$tmp/ref.wav" -b 8 -t raw -e a-law g711_alaw.raw
# Lossy codecs at 16 kHz (MPEG-2 layer III and Vorbis both handle it well).
sox -D "$tmp/ref.wav" -r 16000 "$tmp/ref16.wav"
sox -D "$tmp/ref16.wav" -b 16 -e signed-integer pcm_s16_16k.wav
# lame (not sox) writes the LAME info tag that tells decoders the encoder delay and
# padding; without it every decoder's output starts ~70 ms late.
# (lame misreads float WAV levels, so it gets the 16-bit copy.)
lame --quiet -b 64 pcm_s16_16k.wav mp3_16k.mp3
sox -D "$tmp/ref16.wav" -C 3 vorbis_16k.ogg
ls -l >/dev/null
