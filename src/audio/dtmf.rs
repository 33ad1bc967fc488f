//! In-band keypad tones (DTMF): finds key presses in one channel's audio at the channel's
//! own rate, streaming, so files and live calls use the same code.
//!
//! Every hop (a quarter block) the block before it is windowed (Hann) and the eight DTMF
//! frequencies are measured with Goertzel filters; the block is 205 samples at 8 kHz,
//! scaled with the rate, so the filters are 39 Hz apart at every rate. A block holds a key
//! when, following ITU-T Q.24 and common receiver practice:
//! - one row and one column tone stand at least 8 dB above the others of their group;
//! - each tone's frequency, from the phase its filter advanced over one hop, is within
//!   2.5 % of nominal: Q.24 asks receivers to accept 1.5 % and reject 3.5 %, and the
//!   boundary sits in the middle, where estimation error cannot turn one into the other;
//! - each tone is at least -42 dBm0, and the row tone is at most 9 dB louder than the
//!   column tone (normal twist) or 5 dB quieter (reverse twist): the usual 8 and 4 dB
//!   limits, with a decibel for measurement;
//! - the two tones, fitted at their measured frequencies, hold at least 80 % of the
//!   block's energy, and what is left holds no second harmonic of either.
//!
//! A key press is a run of such blocks for one key lasting about 40 ms (shorter than
//! 25 ms never counts); a pause of 35-40 ms ends it, a dropout of 20 ms does not. Against
//! talk-off, the cleanest block of a press must show no third spectral line near the
//! weaker tone's level: voiced speech whose harmonics happen to sit on a row and a column
//! frequency always has more harmonics; keypad tones are alone. Such a press is
//! [`Heard::Clearly`]: a key, read.
//!
//! A tone under other sound on the same channel (an agent talking over the keying) fails
//! those checks yet stays readable to a lenient decoder. Fail closed: a press whose blocks
//! only pass looser checks (the tones hold half the energy, 6 dB over their group, no
//! other line within 10 dB) for about 50 ms is [`Heard::UnderSound`]: removed from the
//! recording like any tone, but not read as a key. A press's span covers its tone with a
//! block to spare on each side, so removing the span leaves no decodable edge.
//! Must not log or display a key: keyed digits are as sensitive as spoken ones.

use std::f64::consts::PI;
use std::fmt;

use crate::time::Span;

/// Row (low group) and column (high group) frequencies, Hz.
const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// Keys by row, then column.
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// The classic block: 205 samples at 8 kHz (25.6 ms, filters 39 Hz apart).
const BLOCK_AT_8K: f64 = 205.0;
/// Largest frequency deviation taken as a key, as a share of the nominal frequency.
pub const MAX_DEVIATION: f64 = 0.025;
/// Every other tone of a group must be this much weaker than the group's strongest.
const GROUP_MARGIN_DB: f64 = 8.0;
/// How much louder the row tone may be than the column tone (normal twist) and how much
/// quieter (reverse twist): 8 and 4 dB are accepted, 10 and 6 dB are not.
pub const NORMAL_TWIST_DB: f64 = 9.0;
pub const REVERSE_TWIST_DB: f64 = 5.0;
/// Weakest tone taken, per frequency: -40 dBm0 is accepted, -45 dBm0 is not. Keypads send
/// about -10 to -4 dBm0 per tone.
pub const MIN_LEVEL_DBM0: f64 = -42.0;
/// A 0 dBm0 sine peaks at this share of full scale (G.711's full scale is +3.17 dBm0).
pub const DBM0_PEAK: f64 = 0.68;
/// Share of a block's energy the two fitted tones must hold.
const MIN_TONE_SHARE: f64 = 0.8;
/// The looser checks a tone under other sound passes (see [`Heard::UnderSound`]): share,
/// group margin, third-line margin and length in blocks (about 50 ms). Measured: with
/// speech on the channel 10 dB under the tones every press of 24 is found (18 of them
/// clearly), 5 dB under 23, at the same level 18; over 3,400 s of synthetic voices at
/// extreme pitches one vowel passed.
const UNDER_SOUND_SHARE: f64 = 0.5;
const UNDER_SOUND_GROUP_MARGIN_DB: f64 = 6.0;
const UNDER_SOUND_LINE_MARGIN_DB: f64 = 10.0;
const UNDER_SOUND_MIN_HITS: u32 = 6;
/// A second harmonic of either tone must be this much weaker than the tone.
const HARMONIC_MARGIN_DB: f64 = 15.0;
/// Any other line in a press's cleanest block must be this much weaker than its weaker
/// tone. Measured on synthetic voices whose harmonics passed every other check: the next
/// harmonic stood 4-11 dB below; keypad tones in noise leave nothing above -25 dB.
const THIRD_LINE_MARGIN_DB: f64 = 20.0;
/// Lines are looked for up to here (Hz): the telephone band.
const THIRD_LINE_MAX_HZ: f64 = 3_600.0;
/// Blocks (one per hop) of one key a press needs: every tone of 35 ms or more has them,
/// none of 25 ms or less (Q.24: accept 40 ms, reject below about 23 ms).
const MIN_HITS: u32 = 4;
/// Blocks without the key that end a press: every pause of 35 ms or more spoils that
/// many, a dropout of 20 ms or less fewer, so it is bridged (Q.24: a 40 ms pause
/// separates two presses).
const END_MISSES: u32 = 6;

/// A key press found in the audio: the key, where its tone is on the channel's clock, and
/// how it was heard. `Debug` shows the span only, never the key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tone {
    pub key: char,
    pub span: Span,
    pub heard: Heard,
}

/// How clearly a press was heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Every check passed: a key press, to be read.
    Clearly,
    /// A tone under other sound on the channel: to be removed, not read.
    UnderSound,
}

impl fmt::Debug for Tone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tone")
            .field("key", &"<hidden>")
            .field("span", &self.span)
            .field("heard", &self.heard)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Complex {
    re: f64,
    im: f64,
}

impl Complex {
    fn norm_sqr(self) -> f64 {
        self.re * self.re + self.im * self.im
    }
    fn arg(self) -> f64 {
        self.im.atan2(self.re)
    }
    /// `self · conj(other)`: its argument is the phase from `other` to `self`.
    fn times_conj(self, other: Complex) -> Complex {
        Complex {
            re: self.re * other.re + self.im * other.im,
            im: self.im * other.re - self.re * other.im,
        }
    }
}

/// `Σ x[n]·e^(-jωn)` by the Goertzel recursion (one multiply per sample).
fn goertzel(x: &[f64], omega: f64) -> Complex {
    let coeff = 2.0 * omega.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    // s1 - e^(-jω)·s2 = e^(jω(N-1))·X(ω); turn the phase back to the block's start.
    let y = Complex {
        re: s1 - omega.cos() * s2,
        im: omega.sin() * s2,
    };
    let back = -omega * (x.len() as f64 - 1.0);
    Complex {
        re: y.re * back.cos() - y.im * back.sin(),
        im: y.re * back.sin() + y.im * back.cos(),
    }
}

/// One tone fitted in a block: frequency (radians per sample), amplitude and phase.
#[derive(Debug, Clone, Copy)]
struct Fit {
    omega: f64,
    amplitude: f64,
    phase: f64,
}

/// A block's verdict when it holds a key: which (row, column), whether it passed every
/// check or only the looser ones, and how strong the strongest other line is next to the
/// weaker tone (amplitude ratio).
#[derive(Debug, Clone, Copy)]
struct Found {
    key: (usize, usize),
    clear: bool,
    third_line: f64,
}

/// The key press being followed.
#[derive(Debug, Clone, Copy)]
struct Press {
    key: (usize, usize),
    /// The weakest third line of its clear blocks, and of all its blocks, so far.
    clear_line: f64,
    any_line: f64,
    clear_hits: u32,
    /// Start of the first and of the last block that held the key.
    first: u64,
    last: u64,
    hits: u32,
    misses: u32,
}

/// Finds key presses in one channel, fed in chunks of any size.
pub struct ToneDetector {
    rate: u32,
    block: usize,
    hop: usize,
    window: Vec<f64>,
    /// Σw and Σw² of the window: a tone of amplitude A gives |X| = A·Σw/2, and its
    /// windowed energy is A²·Σw²/2.
    window_sum: f64,
    window_sq: f64,
    /// Radians per sample of the rows then the columns.
    omegas: [f64; 8],
    /// Samples from `buf_start` on, not yet analysed as the start of a block.
    buf: Vec<f32>,
    buf_start: u64,
    windowed: Vec<f64>,
    residual: Vec<f64>,
    /// The filters of the previous block, if it was loud enough to measure.
    previous: Option<[Complex; 8]>,
    press: Option<Press>,
    min_amplitude: f64,
}

impl ToneDetector {
    /// A detector for audio at `rate` Hz whose first sample is index `start`.
    pub fn new(rate: u32, start: u64) -> Self {
        let rate = rate.max(8_000);
        let block = (BLOCK_AT_8K * f64::from(rate) / 8_000.0).round() as usize;
        let hop = block / 4;
        let window: Vec<f64> = (0..block)
            .map(|n| 0.5 - 0.5 * (2.0 * PI * n as f64 / block as f64).cos())
            .collect();
        let window_sum = window.iter().sum();
        let window_sq = window.iter().map(|w| w * w).sum();
        let mut omegas = [0.0; 8];
        for (o, f) in omegas.iter_mut().zip(ROWS.iter().chain(COLS.iter())) {
            *o = 2.0 * PI * f / f64::from(rate);
        }
        ToneDetector {
            rate,
            block,
            hop,
            window,
            window_sum,
            window_sq,
            omegas,
            buf: Vec::with_capacity(2 * block),
            buf_start: start,
            windowed: vec![0.0; block],
            residual: vec![0.0; block],
            previous: None,
            press: None,
            min_amplitude: DBM0_PEAK * db(MIN_LEVEL_DBM0),
        }
    }

    /// Analyses `samples` (following what came before) and returns the presses that
    /// ended in them.
    pub fn push(&mut self, samples: &[f32]) -> Vec<Tone> {
        let mut out = Vec::new();
        self.buf.extend_from_slice(samples);
        let mut at = 0;
        while self.buf.len() - at >= self.block {
            let key = self.analyse(at);
            let block_start = self.buf_start + at as u64;
            out.extend(self.track(key, block_start));
            at += self.hop;
        }
        self.buf.drain(..at);
        self.buf_start += at as u64;
        out
    }

    /// Ends the stream: a press still sounding at its end is reported if long enough.
    pub fn finish(&mut self) -> Vec<Tone> {
        // Silence after the end lets the last blocks be analysed and a press end.
        let tail = vec![0.0f32; self.block + END_MISSES as usize * self.hop];
        self.push(&tail)
    }

    /// Where the press in progress began (its span's start), while one is sounding but
    /// not yet reported; also for one too short so far to count. A live caller holds
    /// the audio from there back.
    pub fn pending_since(&self) -> Option<u64> {
        self.press.map(|p| self.span_of(&p).start)
    }

    /// Updates the press in progress with the verdict on the block starting at
    /// `block_start`; returns a press that ended.
    fn track(&mut self, found: Option<Found>, block_start: u64) -> Option<Tone> {
        let mut ended = None;
        match (&mut self.press, found) {
            (Some(p), Some(f)) if p.key == f.key => {
                p.last = block_start;
                p.hits += 1;
                p.misses = 0;
                p.any_line = p.any_line.min(f.third_line);
                if f.clear {
                    p.clear_hits += 1;
                    p.clear_line = p.clear_line.min(f.third_line);
                }
            }
            (Some(p), _) => {
                p.misses += 1;
                if found.is_some() || p.misses >= END_MISSES {
                    ended = self.press.take().and_then(|p| self.tone_of(&p));
                }
            }
            (None, _) => {}
        }
        if let (None, Some(f)) = (&self.press, found) {
            self.press = Some(Press {
                key: f.key,
                clear_line: if f.clear { f.third_line } else { f64::INFINITY },
                any_line: f.third_line,
                clear_hits: u32::from(f.clear),
                first: block_start,
                last: block_start,
                hits: 1,
                misses: 0,
            });
        }
        ended
    }

    fn tone_of(&self, p: &Press) -> Option<Tone> {
        let heard = if p.clear_hits >= MIN_HITS && p.clear_line < db(-THIRD_LINE_MARGIN_DB) {
            Heard::Clearly
        } else if p.hits >= UNDER_SOUND_MIN_HITS && p.any_line < db(-UNDER_SOUND_LINE_MARGIN_DB) {
            Heard::UnderSound
        } else {
            return None;
        };
        Some(Tone {
            key: KEYS[p.key.0][p.key.1],
            span: self.span_of(p),
            heard,
        })
    }

    /// A block to spare on each side of the blocks that held the key: the tone's true
    /// edges lie within that, so nothing decodable is left outside the span.
    fn span_of(&self, p: &Press) -> Span {
        let block = self.block as u64;
        Span::new(p.first.saturating_sub(block), p.last + 2 * block)
    }

    /// The key the block starting at `buf[at]` holds, if any.
    fn analyse(&mut self, at: usize) -> Option<Found> {
        let frame = &self.buf[at..at + self.block];
        let mut energy = 0.0;
        for ((v, &x), &w) in self.windowed.iter_mut().zip(frame).zip(&self.window) {
            *v = f64::from(x) * w;
            energy += *v * *v;
        }
        // Below the energy two tones at the floor would have: nothing to measure.
        let floor = self.min_amplitude * self.min_amplitude * self.window_sq;
        if energy < floor {
            self.previous = None;
            return None;
        }
        let mut bins = [Complex::default(); 8];
        for (b, &omega) in bins.iter_mut().zip(&self.omegas) {
            *b = goertzel(&self.windowed, omega);
        }
        let previous = self.previous.replace(bins)?;
        let (row, row_apart) = strongest(&bins[..4])?;
        let (col, col_apart) = strongest(&bins[4..])?;
        let row_fit = self.fit(row, &bins, &previous)?;
        let col_fit = self.fit(4 + col, &bins, &previous)?;
        if row_fit.amplitude < self.min_amplitude || col_fit.amplitude < self.min_amplitude {
            return None;
        }
        let twist = row_fit.amplitude / col_fit.amplitude;
        if twist > db(NORMAL_TWIST_DB) || twist < db(-REVERSE_TWIST_DB) {
            return None;
        }
        let fits = [row_fit, col_fit];
        let share = self.tones_share(energy, &fits)?;
        // A press needs one clean block: once it has one, the search is not repeated.
        let third_line = match self.press {
            Some(p) if p.key == (row, col) && p.clear_line < db(-THIRD_LINE_MARGIN_DB) => {
                p.clear_line
            }
            _ => self.third_line(&fits),
        };
        let apart = db(GROUP_MARGIN_DB).powi(2);
        Some(Found {
            key: (row, col),
            clear: share >= MIN_TONE_SHARE && row_apart >= apart && col_apart >= apart,
            third_line,
        })
    }

    /// The tone of filter `i` at its measured frequency, if that is within
    /// [`MAX_DEVIATION`] of nominal. The frequency comes from the phase the filter's
    /// output advanced over the last hop (unambiguous within ±2 filter spacings, as far
    /// as a Hann window's main lobe reaches).
    fn fit(&self, i: usize, bins: &[Complex; 8], previous: &[Complex; 8]) -> Option<Fit> {
        let nominal = self.omegas[i];
        let advance = bins[i].times_conj(previous[i]).arg();
        let expected = nominal * self.hop as f64;
        let offset = wrap(advance - expected) / self.hop as f64;
        if offset.abs() > MAX_DEVIATION * nominal {
            return None;
        }
        let omega = nominal + offset;
        let x = goertzel(&self.windowed, omega);
        Some(Fit {
            omega,
            amplitude: 2.0 * x.norm_sqr().sqrt() / self.window_sum,
            phase: x.arg(),
        })
    }

    /// The share of the block's windowed `energy` the fitted tones hold, if at least
    /// [`UNDER_SOUND_SHARE`] and what is left holds no second harmonic of either.
    fn tones_share(&mut self, energy: f64, fits: &[Fit; 2]) -> Option<f64> {
        let mut left = 0.0;
        for (n, ((r, &v), &w)) in self
            .residual
            .iter_mut()
            .zip(&self.windowed)
            .zip(&self.window)
            .enumerate()
        {
            let t = n as f64;
            let model: f64 = fits
                .iter()
                .map(|f| f.amplitude * (f.omega * t + f.phase).cos())
                .sum();
            *r = v - w * model;
            left += *r * *r;
        }
        let share = 1.0 - left / energy;
        let pure = fits.iter().all(|f| {
            let h = goertzel(&self.residual, 2.0 * f.omega);
            let amplitude = 2.0 * h.norm_sqr().sqrt() / self.window_sum;
            amplitude < f.amplitude * db(-HARMONIC_MARGIN_DB)
        });
        (share >= UNDER_SOUND_SHARE && pure).then_some(share)
    }

    /// The strongest line left after the fitted tones are taken out, on a grid one
    /// filter spacing apart outside each tone's main lobe, as an amplitude ratio to the
    /// weaker tone.
    fn third_line(&self, fits: &[Fit; 2]) -> f64 {
        let spacing = 2.0 * PI / self.block as f64;
        let top = (2.0 * PI * THIRD_LINE_MAX_HZ / f64::from(self.rate)).min(0.9 * PI);
        let weaker = fits[0].amplitude.min(fits[1].amplitude);
        let mut strongest = 0.0f64;
        let mut omega = 2.0 * spacing;
        while omega < top {
            if fits.iter().all(|f| (omega - f.omega).abs() > 2.0 * spacing) {
                let x = goertzel(&self.residual, omega);
                strongest = strongest.max(2.0 * x.norm_sqr().sqrt() / self.window_sum);
            }
            omega += spacing;
        }
        strongest / weaker
    }
}

/// How [`key_tone`] renders a key: each tone's level (dBm0) and frequency error (share of
/// nominal, e.g. 0.015), and the length in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneSpec {
    pub row_dbm0: f64,
    pub col_dbm0: f64,
    pub row_dev: f64,
    pub col_dev: f64,
    pub ms: f64,
}

impl Default for ToneSpec {
    /// As a keypad sends it: the column tone 2 dB above the row tone, 100 ms.
    fn default() -> Self {
        ToneSpec {
            row_dbm0: -8.0,
            col_dbm0: -6.0,
            row_dev: 0.0,
            col_dev: 0.0,
            ms: 100.0,
        }
    }
}

/// The tone of `key` (`0-9`, `*`, `#`, `A-D`) at `rate`, for tests and benchmarks.
/// Panics on anything else.
pub fn key_tone(rate: u32, key: char, spec: &ToneSpec) -> Vec<f32> {
    let (r, c) = KEYS
        .iter()
        .enumerate()
        .find_map(|(r, row)| row.iter().position(|&k| k == key).map(|c| (r, c)))
        .expect("a keypad key");
    let tones = [
        (ROWS[r] * (1.0 + spec.row_dev), spec.row_dbm0, 0.3),
        (COLS[c] * (1.0 + spec.col_dev), spec.col_dbm0, 1.9),
    ];
    let n = (f64::from(rate) * spec.ms / 1000.0).round() as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            tones
                .iter()
                .map(|&(hz, dbm0, phase)| DBM0_PEAK * db(dbm0) * (2.0 * PI * hz * t + phase).sin())
                .sum::<f64>() as f32
        })
        .collect()
}

/// Index of the strongest filter of a group and how far (power ratio) it stands above the
/// next, if at least [`UNDER_SOUND_GROUP_MARGIN_DB`].
fn strongest(group: &[Complex]) -> Option<(usize, f64)> {
    let power: Vec<f64> = group.iter().map(|c| c.norm_sqr()).collect();
    let best = (0..power.len()).max_by(|&a, &b| power[a].total_cmp(&power[b]))?;
    let next = (0..power.len())
        .filter(|&i| i != best)
        .map(|i| power[i])
        .fold(0.0, f64::max);
    let apart = power[best] / next;
    (apart >= db(UNDER_SOUND_GROUP_MARGIN_DB).powi(2)).then_some((best, apart))
}

/// Amplitude ratio of `decibels`.
fn db(decibels: f64) -> f64 {
    10f64.powf(decibels / 20.0)
}

/// An angle wrapped into (-π, π].
fn wrap(angle: f64) -> f64 {
    let a = angle.rem_euclid(2.0 * PI);
    if a > PI {
        a - 2.0 * PI
    } else {
        a
    }
}

#[cfg(test)]
mod tests;
