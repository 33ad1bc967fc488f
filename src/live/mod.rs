//! Live sources: SIP/SIPREC signalling, RTP with a jitter buffer, RFC 4733 digits, and
//! the microphone. Turns calls into the same PCM frames the pipeline's stages consume.
//!
//! Must not implement recognition, detection or storage itself.
