//! An incremental decoder for `text/event-stream` bodies (server-sent events).
//!
//! It follows the "interpreting an event stream" rules of the WHATWG HTML standard, fed with
//! byte chunks cut anywhere: a line ending, a UTF-8 byte-order mark or a multi-byte character
//! may be split across chunks and the result is the same as if the body had come in one piece.

/// The longest line kept, in bytes. Bytes of a line past this are dropped (the line is
/// truncated, not rejected), so a server that never ends a line cannot grow memory without bound.
const MAX_LINE: usize = 16 * 1024 * 1024;

/// After a line this long the line buffer is given back rather than kept for reuse.
const KEEP_LINE_CAPACITY: usize = 64 * 1024;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    ///
    /// The last non-empty `event:` value of this event; an empty value (`event:`) resets it, as
    /// an empty event type means the default `message` type in the standard.
    pub event: Option<String>,
    /// The `data:` lines joined with '\n' (no trailing newline).
    pub data: String,
    /// The last `id:` field seen in this event, if any.
    ///
    /// In practice this is the stream's "last event id": the last `id:` seen anywhere in the
    /// stream so far, including earlier events, as the standard keeps it across events. An empty
    /// `id:` resets it to `None`; an `id:` value containing NUL is ignored.
    pub id: Option<String>,
    /// The `retry:` field in milliseconds, if any and valid.
    ///
    /// The last valid `retry:` seen since the previous dispatched event, so a `retry:` sent in a
    /// block of its own (without data, hence never dispatched) is reported on the next event.
    /// Valid means one or more ASCII digits that fit a `u64`.
    pub retry: Option<u64>,
}

/// An incremental decoder of a `text/event-stream` body, per the WHATWG HTML "server-sent events"
/// interpretation rules, fed with arbitrary byte chunks.
///
/// - Lines end with CRLF, LF or a lone CR; a CR ending one chunk and an LF starting the next are
///   one line ending.
/// - A UTF-8 byte-order mark at the very start of the stream is skipped.
/// - Lines are collected as bytes and decoded at their end, so characters split across chunks
///   are intact; invalid UTF-8 becomes U+FFFD.
/// - A line longer than 16 MiB is truncated to its first 16 MiB (the rest of it is dropped).
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the line being read, at most [`MAX_LINE`].
    line: Vec<u8>,
    /// The previous byte was a CR ending a line: an LF right after it belongs to that ending.
    after_cr: bool,
    /// The start of the stream has been checked for a byte-order mark.
    past_bom: bool,
    /// How many leading bytes of the stream matched the byte-order mark so far.
    bom_matched: usize,
    /// The event type buffer.
    event: Option<String>,
    /// The data buffer: each `data:` value followed by '\n'.
    data: String,
    /// The last event id of the stream.
    last_id: Option<String>,
    /// The last valid `retry:` since the previous dispatch.
    retry: Option<u64>,
    comments: u64,
    bytes_seen: u64,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the stream; returns the events they complete, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.bytes_seen = self.bytes_seen.saturating_add(bytes.len() as u64);
        let mut out = Vec::new();
        let mut rest = self.skip_bom(bytes);
        while let Some((&first, tail)) = rest.split_first() {
            if self.after_cr {
                self.after_cr = false;
                if first == b'\n' {
                    rest = tail;
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
                Some(i) => {
                    self.push_line_bytes(&rest[..i]);
                    self.after_cr = rest[i] == b'\r';
                    rest = &rest[i + 1..];
                    self.end_line(&mut out);
                }
                None => {
                    self.push_line_bytes(rest);
                    break;
                }
            }
        }
        out
    }

    /// The stream ended: returns the pending event if it has data.
    ///
    /// An unterminated last line is taken as if it had ended, and the pending event is
    /// dispatched even without the blank line that should close it. This deviates from the
    /// WHATWG rule, which discards an event not followed by a blank line at the end of the
    /// stream; the seed client dispatches it and so does kino, so a server that closes the
    /// connection right after its last `data:` line loses nothing.
    ///
    /// Afterwards the decoder can be fed a new stream (say, after a reconnect): a byte-order mark
    /// at its start is skipped again, while the last event id and the counters carry over.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.past_bom {
            self.line.extend_from_slice(&BOM[..self.bom_matched]);
        }
        let mut out = Vec::new();
        if !self.line.is_empty() {
            // A non-empty line never dispatches, so `out` stays empty.
            self.end_line(&mut out);
        }
        self.after_cr = false;
        self.past_bom = false;
        self.bom_matched = 0;
        self.dispatch()
    }

    /// Comment lines (starting with ':') seen so far: keep-alives.
    pub fn comments(&self) -> u64 {
        self.comments
    }

    /// Total bytes fed so far.
    pub fn bytes_seen(&self) -> u64 {
        self.bytes_seen
    }

    /// Consumes a byte-order mark (or the part of it) at the start of the stream and returns what
    /// follows. If the start turns out not to be one, the bytes held back start the first line.
    fn skip_bom<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        let mut rest = bytes;
        while !self.past_bom {
            let Some((&b, tail)) = rest.split_first() else {
                break;
            };
            if b == BOM[self.bom_matched] {
                self.bom_matched += 1;
                rest = tail;
                if self.bom_matched == BOM.len() {
                    self.past_bom = true;
                }
            } else {
                self.past_bom = true;
                self.line.extend_from_slice(&BOM[..self.bom_matched]);
            }
        }
        rest
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.line.len());
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Interprets the line collected so far and starts a new one.
    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let mut line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if let Some(event) = self.dispatch() {
                out.push(event);
            }
        } else {
            self.process_line(&line);
        }
        if line.capacity() <= KEEP_LINE_CAPACITY {
            line.clear();
            self.line = line;
        }
    }

    fn process_line(&mut self, line: &[u8]) {
        if line.first() == Some(&b':') {
            self.comments = self.comments.saturating_add(1);
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"event" => {
                self.event =
                    (!value.is_empty()).then(|| String::from_utf8_lossy(value).into_owned());
            }
            b"data" => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
            }
            // An id containing NUL is ignored; an empty one resets the last event id.
            b"id" if !value.contains(&0) => {
                self.last_id =
                    (!value.is_empty()).then(|| String::from_utf8_lossy(value).into_owned());
            }
            // Only ASCII digits (hence valid UTF-8); a value too big for a u64 is ignored too.
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Some(ms) = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
    }

    /// Ends the pending event: returns it if its data buffer is not empty, and clears the event
    /// type and data buffers either way.
    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if self.data.is_empty() {
            return None;
        }
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        Some(SseEvent {
            event,
            data,
            id: self.last_id.clone(),
            retry: self.retry.take(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn data(s: &str) -> SseEvent {
        SseEvent {
            data: s.to_owned(),
            ..SseEvent::default()
        }
    }

    /// Decodes `bytes` in one piece, `finish` included.
    fn decode(bytes: &[u8]) -> Vec<SseEvent> {
        decode_at(bytes, &[]).0
    }

    /// Decodes `bytes` cut at the sorted offsets `cuts`; returns the events (those of `finish`
    /// last), the comment count and the byte count.
    fn decode_at(bytes: &[u8], cuts: &[usize]) -> (Vec<SseEvent>, u64, u64) {
        let mut d = SseDecoder::new();
        let mut events = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            let cut = cut.clamp(start, bytes.len());
            events.extend(d.feed(&bytes[start..cut]));
            start = cut;
        }
        events.extend(d.finish());
        (events, d.comments(), d.bytes_seen())
    }

    fn decode_bytewise(bytes: &[u8]) -> (Vec<SseEvent>, u64, u64) {
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        decode_at(bytes, &cuts)
    }

    #[test]
    fn documented_stream_of_json_events() {
        let body = b"data: {\"status\":\"queued\"}\n\n\
                     data: {\"status\":\"running\",\"progress\":0.5}\n\n\
                     data: {\"status\":\"succeeded\",\"url\":\"https://cdn.example/v.mp4\"}\n\n";
        let mut d = SseDecoder::new();
        let events = d.feed(body);
        assert_eq!(
            events,
            vec![
                data(r#"{"status":"queued"}"#),
                data(r#"{"status":"running","progress":0.5}"#),
                data(r#"{"status":"succeeded","url":"https://cdn.example/v.mp4"}"#),
            ]
        );
        assert_eq!(d.finish(), None);
        assert_eq!(d.bytes_seen(), body.len() as u64);
        assert_eq!(d.comments(), 0);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        assert_eq!(
            decode(b"data: first\ndata: second\ndata\ndata:  indented\n\n"),
            vec![data("first\nsecond\n\n indented")]
        );
        // An empty `data:` still makes a (empty) event; a block with no data makes none.
        assert_eq!(
            decode(b"data:\n\nevent: x\n\n\n\ndata: y\n\n"),
            vec![data(""), data("y")]
        );
    }

    #[test]
    fn crlf_and_lone_cr_line_endings() {
        assert_eq!(
            decode(b"data: a\r\ndata: b\r\n\r\ndata: c\r\rdata: d\n\r\n"),
            vec![data("a\nb"), data("c"), data("d")]
        );
    }

    #[test]
    fn cr_lf_split_across_chunks_is_one_line_ending() {
        let mut d = SseDecoder::new();
        assert_eq!(d.feed(b"data: a\r"), vec![]);
        assert_eq!(d.feed(b"\ndata: b\r"), vec![]);
        assert_eq!(d.feed(b"\n"), vec![]);
        assert_eq!(d.feed(b"\r"), vec![data("a\nb")]);
        assert_eq!(d.feed(b"\n"), vec![]);
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn comments_are_counted_keep_alives() {
        let mut d = SseDecoder::new();
        assert_eq!(d.feed(b": keep-alive\n\n:\n"), vec![]);
        assert_eq!(
            d.feed(b"data: x\n: in the middle\ndata: y\n\n"),
            vec![data("x\ny")]
        );
        assert_eq!(d.comments(), 3);
    }

    #[test]
    fn bom_at_start_is_skipped_even_split() {
        assert_eq!(decode(b"\xEF\xBB\xBFdata: x\n\n"), vec![data("x")]);
        let mut d = SseDecoder::new();
        assert_eq!(d.feed(b"\xEF"), vec![]);
        assert_eq!(d.feed(b"\xBB"), vec![]);
        assert_eq!(d.feed(b"\xBFdata: x\n\n"), vec![data("x")]);
        // Only at the very start: a second BOM is part of the field name, which is unknown.
        assert_eq!(decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n"), vec![]);
        // A false start is kept as bytes of the first line.
        assert_eq!(decode(b"\xEFdata: x\n\ndata: y\n\n"), vec![data("y")]);
    }

    #[test]
    fn utf8_split_across_chunks_and_invalid_bytes() {
        let body = "data: héllo → 🎬\n\n".as_bytes();
        assert_eq!(decode_bytewise(body).0, vec![data("héllo → 🎬")]);
        assert_eq!(
            decode(b"data: a\xFFb\xE2\x82\n\n"),
            vec![data("a\u{FFFD}b\u{FFFD}")]
        );
    }

    #[test]
    fn event_names_ids_and_retry() {
        let body = b"event: progress\nid: 1\nretry: 2500\ndata: a\n\n\
                     data: b\n\n\
                     retry: 1000\n\n\
                     event: done\nid: 2\nid: 3\nretry: 12x\ndata: c\n\n\
                     id\nid: bad\0id\nevent:\nretry:\ndata: d\n\n";
        let ev = |event: Option<&str>, data: &str, id: Option<&str>, retry: Option<u64>| SseEvent {
            event: event.map(str::to_owned),
            data: data.to_owned(),
            id: id.map(str::to_owned),
            retry,
        };
        assert_eq!(
            decode(body),
            vec![
                ev(Some("progress"), "a", Some("1"), Some(2500)),
                ev(None, "b", Some("1"), None),
                ev(Some("done"), "c", Some("3"), Some(1000)),
                ev(None, "d", None, None),
            ]
        );
        // Too big for a u64: ignored.
        assert_eq!(
            decode(b"retry: 99999999999999999999999\ndata: x\n\n"),
            vec![data("x")]
        );
    }

    #[test]
    fn field_without_colon_has_empty_value() {
        assert_eq!(decode(b"data\ndata\n\n"), vec![data("\n")]);
        assert_eq!(decode(b"event\ndata\n\n"), vec![data("")]);
        // Unknown fields are ignored; the value may itself contain colons.
        assert_eq!(decode(b"foo: bar\ndata: a: b:c\n\n"), vec![data("a: b:c")]);
    }

    #[test]
    fn unterminated_final_event_is_dispatched_by_finish() {
        let mut d = SseDecoder::new();
        assert_eq!(
            d.feed(b"data: a\n\nevent: last\ndata: b\ndata: c"),
            vec![data("a")]
        );
        assert_eq!(
            d.finish(),
            Some(SseEvent {
                event: Some("last".to_owned()),
                data: "b\nc".to_owned(),
                ..SseEvent::default()
            })
        );
        assert_eq!(d.finish(), None);
        // Without data there is nothing to dispatch.
        assert_eq!(decode(b"data: a\n\nevent: x\n: bye"), vec![data("a")]);
        // After finish, a new stream may start with a BOM again.
        assert_eq!(d.feed(b"\xEF\xBB\xBFdata: z\n\n"), vec![data("z")]);
    }

    #[test]
    fn overlong_line_is_truncated() {
        let mut d = SseDecoder::new();
        assert_eq!(d.feed(b"data:"), vec![]);
        let chunk = vec![b'a'; 1024 * 1024];
        for _ in 0..17 {
            assert_eq!(d.feed(&chunk), vec![]);
        }
        let events = d.feed(b"\ndata: next\n\n");
        assert_eq!(events.len(), 1);
        let expected_len = MAX_LINE - b"data:".len() + 1 + b"next".len();
        assert_eq!(events[0].data.len(), expected_len);
        assert!(events[0].data.ends_with("aaa\nnext"));
        // The oversized buffer was given back.
        assert!(d.line.capacity() <= KEEP_LINE_CAPACITY);
    }

    // --- property tests ---

    #[derive(Clone, Debug)]
    struct Spec {
        event: Option<String>,
        data: String,
        id: Option<String>,
        retry: Option<u64>,
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (
            proptest::option::of("[^\r\n]{1,12}"),
            // Any text but CR, which cannot be carried by a data line; LF splits it into lines.
            "[^\r]{0,40}",
            proptest::option::weighted(0.3, "[^\r\n\0]{1,8}"),
            proptest::option::weighted(0.2, any::<u64>()),
        )
            .prop_map(|(event, data, id, retry)| Spec {
                event,
                data,
                id,
                retry,
            })
    }

    /// What to put between lines: nothing, or a comment line.
    fn comment() -> impl Strategy<Value = Option<String>> {
        proptest::option::weighted(0.2, "[^\r\n]{0,10}")
    }

    #[derive(Clone, Copy, Debug)]
    enum Ending {
        Lf,
        CrLf,
        Cr,
    }

    fn ending() -> impl Strategy<Value = Ending> {
        prop_oneof![Just(Ending::Lf), Just(Ending::CrLf), Just(Ending::Cr)]
    }

    /// Lines of the stream for `specs` (without endings), and how many are comments.
    fn lines_for(
        specs: &[(Spec, Vec<Option<String>>)],
        terminate_last: bool,
    ) -> (Vec<String>, u64) {
        let mut lines = Vec::new();
        let mut comments = 0;
        for (n, (spec, extra)) in specs.iter().enumerate() {
            let mut fields = Vec::new();
            if let Some(name) = &spec.event {
                fields.push(format!("event: {name}"));
            }
            if let Some(id) = &spec.id {
                fields.push(format!("id: {id}"));
            }
            if let Some(retry) = spec.retry {
                fields.push(format!("retry: {retry}"));
            }
            fields.extend(spec.data.split('\n').map(|l| format!("data: {l}")));
            let last = n + 1 == specs.len();
            if !last || terminate_last {
                fields.push(String::new());
            }
            // Interleave comments before fields, cycling through the generated ones.
            for (i, field) in fields.into_iter().enumerate() {
                if let Some(Some(c)) = extra.get(i) {
                    lines.push(format!(":{c}"));
                    comments += 1;
                }
                lines.push(field);
            }
        }
        (lines, comments)
    }

    fn encode(lines: &[String], endings: &[Ending]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut prev_cr = false;
        for (i, line) in lines.iter().enumerate() {
            out.extend_from_slice(line.as_bytes());
            let mut e = endings
                .get(i % endings.len().max(1))
                .copied()
                .unwrap_or(Ending::Lf);
            // A lone CR followed by an empty line ended by LF would read as one CRLF.
            if prev_cr && line.is_empty() && matches!(e, Ending::Lf) {
                e = Ending::CrLf;
            }
            out.extend_from_slice(match e {
                Ending::Lf => b"\n",
                Ending::CrLf => b"\r\n",
                Ending::Cr => b"\r",
            });
            prev_cr = matches!(e, Ending::Cr);
        }
        out
    }

    fn expected(specs: &[(Spec, Vec<Option<String>>)]) -> Vec<SseEvent> {
        let mut last_id = None;
        specs
            .iter()
            .map(|(s, _)| {
                if s.id.is_some() {
                    last_id.clone_from(&s.id);
                }
                SseEvent {
                    event: s.event.clone(),
                    data: s.data.clone(),
                    id: last_id.clone(),
                    retry: s.retry,
                }
            })
            .collect()
    }

    fn cut_points(len: usize, picks: &[prop::sample::Index]) -> Vec<usize> {
        let mut cuts: Vec<usize> = picks.iter().map(|p| p.index(len + 1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        cuts
    }

    /// Bytes that are mostly the interesting ones: line endings, colons, field names, a BOM.
    fn noisy_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            3 => proptest::collection::vec(any::<u8>(), 1..4),
            2 => Just(b"\n".to_vec()),
            2 => Just(b"\r".to_vec()),
            1 => Just(b"\r\n".to_vec()),
            2 => Just(b":".to_vec()),
            1 => Just(b" ".to_vec()),
            2 => Just(b"data".to_vec()),
            1 => Just(b"event".to_vec()),
            1 => Just(b"id".to_vec()),
            1 => Just(b"retry".to_vec()),
            1 => Just(b"\xEF\xBB\xBF".to_vec()),
            1 => Just("é🎬".as_bytes().to_vec()),
            1 => Just(b"123".to_vec()),
            1 => Just(b"\0".to_vec()),
        ];
        proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn encoded_events_round_trip_under_any_chunking(
            specs in proptest::collection::vec((spec(), proptest::collection::vec(comment(), 0..6)), 0..8),
            endings in proptest::collection::vec(ending(), 1..48),
            terminate_last in any::<bool>(),
            bom in any::<bool>(),
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..24),
        ) {
            let (lines, comments) = lines_for(&specs, terminate_last);
            let mut bytes = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
            bytes.extend(encode(&lines, &endings));
            let want = expected(&specs);
            let len = bytes.len() as u64;

            let whole = decode_at(&bytes, &[]);
            prop_assert_eq!(&whole, &(want, comments, len));
            let cuts = cut_points(bytes.len(), &picks);
            prop_assert_eq!(&decode_at(&bytes, &cuts), &whole);
            prop_assert_eq!(&decode_bytewise(&bytes), &whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_ignore_chunking(
            bytes in prop_oneof![noisy_bytes(), proptest::collection::vec(any::<u8>(), 0..200)],
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..24),
        ) {
            let whole = decode_at(&bytes, &[]);
            prop_assert_eq!(whole.2, bytes.len() as u64);
            let cuts = cut_points(bytes.len(), &picks);
            prop_assert_eq!(&decode_at(&bytes, &cuts), &whole);
            prop_assert_eq!(&decode_bytewise(&bytes), &whole);
        }
    }
}
