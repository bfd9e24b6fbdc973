//! Media hot-path benchmarks: G.711 over 20 ms, RTP packetise/depacketise, jitter-buffer
//! push/pop, Goertzel over 20 ms, and one MediaSession send tick.
//!
//! Budget for scale: 1,000 calls at 50 packets/s each way on half a core leaves ~10 µs per
//! packet for everything, so each of these should sit well under a microsecond or two.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use frontdoor::entropy::Entropy;
use frontdoor::media::dtmf::InbandDtmfDetector;
use frontdoor::media::jitter::{JitterBuffer, JitterConfig};
use frontdoor::media::rtp::{RtpHeader, RtpPacket};
use frontdoor::media::{Codec, MediaConfig, MediaSession};

fn speechish_frame() -> [i16; 160] {
    let mut f = [0i16; 160];
    for (i, s) in f.iter_mut().enumerate() {
        let t = i as f64 / 8000.0;
        *s = (6000.0 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()
            + 2000.0 * (2.0 * std::f64::consts::PI * 1330.0 * t).sin()) as i16;
    }
    f
}

fn g711(c: &mut Criterion) {
    let pcm = speechish_frame();
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let mut encoded = [0u8; 160];
        c.bench_function(&format!("g711 {codec:?} encode 20 ms"), |b| {
            b.iter(|| codec.encode_into(black_box(&pcm), &mut encoded))
        });
        let mut decoded = [0i16; 160];
        c.bench_function(&format!("g711 {codec:?} decode 20 ms"), |b| {
            b.iter(|| codec.decode_into(black_box(&encoded), &mut decoded))
        });
    }
}

fn rtp(c: &mut Criterion) {
    let payload = [0x55u8; 160];
    let mut buf = [0u8; 172];
    let header = RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: 1,
        timestamp: 160,
        ssrc: 0xABCD,
    };
    c.bench_function("rtp packetise 20 ms", |b| {
        b.iter(|| {
            let n = black_box(&header).write(&mut buf).unwrap_or(0);
            buf[n..].copy_from_slice(&payload);
        })
    });
    c.bench_function("rtp depacketise 20 ms", |b| {
        b.iter(|| RtpPacket::parse(black_box(&buf)).map(|p| p.payload.len()))
    });
}

fn jitter(c: &mut Criterion) {
    let payload = [0x55u8; 160];
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut out = [0i16; 160];
    let mut i: u32 = 0;
    c.bench_function("jitter push+pop 20 ms", |b| {
        b.iter(|| {
            let now = t0 + Duration::from_millis(20 * u64::from(i));
            jb.push(
                now,
                1,
                i as u16,
                i.wrapping_mul(160),
                Codec::Pcmu,
                black_box(&payload),
            );
            let p = jb.pop(now, &mut out);
            i = i.wrapping_add(1);
            p
        })
    });
}

fn goertzel(c: &mut Criterion) {
    let frame = speechish_frame();
    let mut d = InbandDtmfDetector::new();
    c.bench_function("goertzel dtmf 20 ms", |b| {
        b.iter(|| d.process(black_box(&frame)))
    });
}

fn session(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut s = MediaSession::new(
        MediaConfig::new(Codec::Pcmu, SocketAddr::from(([127, 0, 0, 1], 40_000))),
        Entropy::seeded(1),
        t0,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    );
    let mut k: u32 = 0;
    c.bench_function("session send tick (silence packet)", |b| {
        b.iter(|| {
            let now = t0 + Duration::from_millis(20 * u64::from(k));
            k += 1;
            let mut n = 0;
            while let Some(t) = s.poll_transmit(now) {
                n += t.payload.len();
            }
            n
        })
    });
}

criterion_group!(benches, g711, rtp, jitter, goertzel, session);
criterion_main!(benches);
