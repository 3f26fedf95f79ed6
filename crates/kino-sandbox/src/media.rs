//! Result video bytes: the embedded sample MP4, optionally padded with one MP4 `free` box so the
//! file is exactly `video_size` bytes and still a valid MP4.
//!
//! Padded bytes are generated on the fly (by offset), so a 1 GiB video never sits in memory.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest, Sha256};

/// The real 2 s H.264 sample served as every result video.
pub const SAMPLE_MP4: &[u8] = include_bytes!("../assets/sample.mp4");
/// A 64x64 PNG, served at `/samples/sample.png` on the CDN host.
pub const SAMPLE_PNG: &[u8] = include_bytes!("../assets/sample.png");

/// Size of the chunks the body stream yields (and the throttling granularity).
pub const CHUNK: usize = 64 * 1024;

/// Header length of a compact (32-bit size) box.
const BOX_HEADER: u64 = 8;

/// Layout of one result video: the sample, then (optionally) a `free` box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoLayout {
    total: u64,
}

impl VideoLayout {
    /// Layout for a configured `video_size`. Sizes too small to hold the sample plus an 8-byte box
    /// header (and `None`) give the bare sample.
    pub fn new(video_size: Option<u64>) -> Self {
        let sample = SAMPLE_MP4.len() as u64;
        let total = match video_size {
            Some(n) if n >= sample + BOX_HEADER => n,
            _ => sample,
        };
        Self { total }
    }

    /// Exact length in bytes.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Never true (the sample is not empty); present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The `free` box header (empty when there is no padding).
    fn header(&self) -> Vec<u8> {
        let sample = SAMPLE_MP4.len() as u64;
        let box_len = self.total - sample;
        if box_len == 0 {
            return Vec::new();
        }
        match u32::try_from(box_len) {
            Ok(n) => {
                let mut h = Vec::with_capacity(8);
                h.extend_from_slice(&n.to_be_bytes());
                h.extend_from_slice(b"free");
                h
            }
            Err(_) => {
                // size == 1 means "64-bit largesize follows the type".
                let mut h = Vec::with_capacity(16);
                h.extend_from_slice(&1u32.to_be_bytes());
                h.extend_from_slice(b"free");
                h.extend_from_slice(&box_len.to_be_bytes());
                h
            }
        }
    }

    /// Fill `buf` with the bytes at `offset..offset+buf.len()` (caller keeps it within `len`).
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let sample = SAMPLE_MP4.len() as u64;
        let header = self.header();
        let header_end = sample + header.len() as u64;
        for (i, b) in buf.iter_mut().enumerate() {
            let pos = offset + i as u64;
            *b = if pos < sample {
                SAMPLE_MP4[pos as usize]
            } else if pos < header_end {
                header[(pos - sample) as usize]
            } else {
                filler(pos)
            };
        }
    }

    /// Bytes `start..=end` as a stream of chunks of at most [`CHUNK`] bytes, sleeping between
    /// chunks so the stream runs at about `rate` bytes/second when set.
    pub fn stream(
        self,
        start: u64,
        end_inclusive: u64,
        rate: Option<u64>,
    ) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        let end = end_inclusive.saturating_add(1).min(self.total);
        futures_util::stream::unfold(start, move |pos| async move {
            if pos >= end {
                return None;
            }
            let n = (end - pos).min(CHUNK as u64) as usize;
            if let Some(rate) = rate.filter(|r| *r > 0) {
                tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
            }
            let mut buf = vec![0u8; n];
            self.fill(pos, &mut buf);
            Some((Ok(Bytes::from(buf)), pos + n as u64))
        })
    }

    /// Lowercase hex SHA-256 of the whole file.
    pub fn sha256_hex(&self) -> String {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1024 * 1024];
        let mut pos = 0u64;
        while pos < self.total {
            let n = (self.total - pos).min(buf.len() as u64) as usize;
            let chunk = &mut buf[..n];
            self.fill(pos, chunk);
            hasher.update(&*chunk);
            pos += n as u64;
        }
        hex::encode(hasher.finalize())
    }

    /// A cheap validator for `ETag`: the content depends only on the length.
    pub fn etag(&self) -> String {
        format!("\"kino-sandbox-{:x}\"", self.total)
    }
}

/// Deterministic padding byte for absolute offset `pos`.
fn filler(pos: u64) -> u8 {
    (pos % 251) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn all_bytes(layout: VideoLayout) -> Vec<u8> {
        let mut v = vec![0u8; layout.len() as usize];
        layout.fill(0, &mut v);
        v
    }

    #[test]
    fn sample_is_the_real_file() {
        assert_eq!(SAMPLE_MP4.len(), 6105);
        assert_eq!(&SAMPLE_MP4[4..8], b"ftyp");
        assert_eq!(&SAMPLE_PNG[1..4], b"PNG");
    }

    #[test]
    fn unpadded_and_too_small_sizes_give_the_sample() {
        for size in [None, Some(0), Some(6105), Some(6112)] {
            let layout = VideoLayout::new(size);
            assert_eq!(layout.len(), 6105);
            assert_eq!(all_bytes(layout), SAMPLE_MP4);
        }
    }

    #[test]
    fn padding_is_a_valid_free_box_of_exact_length() {
        let n = 100_000u64;
        let layout = VideoLayout::new(Some(n));
        let bytes = all_bytes(layout);
        assert_eq!(bytes.len() as u64, n);
        assert_eq!(&bytes[..6105], SAMPLE_MP4);
        let box_len = u32::from_be_bytes([bytes[6105], bytes[6106], bytes[6107], bytes[6108]]);
        assert_eq!(u64::from(box_len), n - 6105);
        assert_eq!(&bytes[6109..6113], b"free");
        // Top-level boxes tile the file exactly.
        let mut pos = 0usize;
        while pos < bytes.len() {
            let len =
                u32::from_be_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]]);
            assert!(len >= 8);
            pos += len as usize;
        }
        assert_eq!(pos, bytes.len());
    }

    #[test]
    fn minimal_padding_is_just_a_header() {
        let layout = VideoLayout::new(Some(6113));
        let bytes = all_bytes(layout);
        assert_eq!(&bytes[6105..], &[0, 0, 0, 8, b'f', b'r', b'e', b'e']);
    }

    #[test]
    fn huge_sizes_use_largesize() {
        let n = 5u64 << 30;
        let layout = VideoLayout::new(Some(n));
        let mut h = [0u8; 16];
        layout.fill(6105, &mut h);
        assert_eq!(&h[..8], &[0, 0, 0, 1, b'f', b'r', b'e', b'e']);
        assert_eq!(
            u64::from_be_bytes(h[8..].try_into().expect("8 bytes")),
            n - 6105
        );
    }

    #[tokio::test]
    async fn stream_matches_fill_and_hash() {
        let layout = VideoLayout::new(Some(300_000));
        let whole = all_bytes(layout);
        let mut streamed = Vec::new();
        let mut s = Box::pin(layout.stream(0, layout.len() - 1, None));
        while let Some(Ok(chunk)) = s.next().await {
            assert!(chunk.len() <= CHUNK);
            streamed.extend_from_slice(&chunk);
        }
        assert_eq!(streamed, whole);
        assert_eq!(layout.sha256_hex(), hex::encode(Sha256::digest(&whole)));

        let mut part = Vec::new();
        let mut s = Box::pin(layout.stream(1000, 200_000, None));
        while let Some(Ok(chunk)) = s.next().await {
            part.extend_from_slice(&chunk);
        }
        assert_eq!(part, &whole[1000..=200_000]);
    }
}
