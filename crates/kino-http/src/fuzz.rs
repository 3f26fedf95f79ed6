//! Entry points of the fuzz targets under `fuzz/` (issue 8, hostile input). Each takes arbitrary
//! bytes and runs one decoder the way kino runs it on a platform's answer. A decoder never
//! panics; these functions panic only when a property below is broken, which is the bug a
//! fuzzer is looking for. `kino_providers::fuzz` lists every target.

use std::path::{Component, Path};

use crate::{SseDecoder, SseEvent, part_path, result_extension};

/// Everything a decoder yields for a body fed in the given chunks, then ended.
fn decode<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> (Vec<SseEvent>, u64, u64) {
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(decoder.feed(chunk));
    }
    events.extend(decoder.finish());
    (events, decoder.comments(), decoder.bytes_seen())
}

/// An event stream cut anywhere decodes as if it had come in one piece: whole, byte by byte,
/// and in chunks whose lengths (1 to 13 bytes, cycling) the first byte chooses.
pub fn sse(data: &[u8]) {
    let whole = decode(std::iter::once(data));
    let bytewise = decode(data.chunks(1));
    assert_eq!(whole, bytewise, "byte-by-byte feeding changed the events");
    let longest = data.first().map_or(1, |b| usize::from(b % 13) + 1);
    let mut rest = data;
    let mut cuts = Vec::new();
    let mut len = 1;
    while !rest.is_empty() {
        let (head, tail) = rest.split_at(len.min(rest.len()));
        cuts.push(head);
        rest = tail;
        len = len % longest + 1;
    }
    let chunked = decode(cuts.into_iter());
    assert_eq!(whole, chunked, "chunked feeding changed the events");
}

/// A file name kino may create in an output directory: one plain component, no separator,
/// NUL, `..` or root.
fn is_plain_file_name(name: &str) -> bool {
    let mut components = Path::new(name).components();
    matches!(components.next(), Some(Component::Normal(_)))
        && components.next().is_none()
        && !name.contains(['/', '\\', '\0'])
        && !name.contains("..")
}

/// Whatever URL a platform answers with, the names its result gets on disk (the `.part` file
/// and every final candidate) stay plain file names inside the output directory.
pub fn result_file_name(data: &[u8]) {
    let url = String::from_utf8_lossy(data);
    let ext = result_extension(&url);
    if let Some(e) = &ext {
        assert!(
            (1..=5).contains(&e.len()) && e.chars().all(|c| c.is_ascii_alphanumeric()),
            "extension {e:?} from {url:?}"
        );
    }
    let ext = ext.unwrap_or_else(|| "mp4".into());
    let dir = Path::new("out");
    let stem = "dashscope-t2v-1a2b3c4d";
    let part = part_path(dir, stem, &ext, "1a2b3c4d-0");
    let mut names = vec![
        part.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    ];
    assert_eq!(part.parent(), Some(dir), "{part:?} from {url:?}");
    for n in [0, 1, 9_999] {
        names.push(crate::download::final_name(stem, &ext, n));
    }
    for name in names {
        assert!(is_plain_file_name(&name), "{name:?} from {url:?}");
        assert_eq!(dir.join(&name).parent(), Some(dir), "{name:?} from {url:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_points_take_ordinary_and_odd_input() {
        sse(b"\xef\xbb\xbfdata: {\"status\":\"IN_QUEUE\"}\r\n\r\n: ping\rid: 1\n\ndata: x");
        sse(b"");
        result_file_name(b"https://cdn.example/a/b.MP4?Expires=1");
        result_file_name(b"https://h/x/..%2F..%2Fetc%2Fpasswd");
        result_file_name(b"\xff/../../x.sh");
    }

    #[test]
    fn plain_file_names_are_told_from_paths() {
        for bad in ["", "..", ".", "a/b", "/a", "a\\b", "a\0b", "x..y"] {
            assert!(!is_plain_file_name(bad), "{bad:?}");
        }
        assert!(is_plain_file_name("kino-t2v-1a2b3c4d.mp4"));
    }
}
