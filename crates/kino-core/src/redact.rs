/// Drops the query string and fragment of a URL, where signed URLs carry their signatures, so the
/// URL can be shown in events and logs. A `data:` URI is cut to its media type.
pub fn redact_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("data:") {
        let media = rest.split([';', ',']).next().unwrap_or("");
        return format!("data:{media};…");
    }
    match url.find(['?', '#']) {
        Some(i) => format!("{}?…", &url[..i]),
        None => url.to_string(),
    }
}

/// Redacts every http(s) URL inside free text (platform messages may carry signed links).
pub fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("http") {
        let tail = &rest[i..];
        if !(tail.starts_with("http://") || tail.starts_with("https://")) {
            out.push_str(&rest[..i + 4]);
            rest = &rest[i + 4..];
            continue;
        }
        let end = tail
            .find(|c: char| {
                !c.is_ascii_graphic() || matches!(c, '"' | '\'' | '<' | '>' | ')' | ']')
            })
            .unwrap_or(tail.len());
        out.push_str(&rest[..i]);
        out.push_str(&redact_url(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_text_lose_their_signatures() {
        assert_eq!(
            redact_urls_in("done: https://c/x.mp4?Signature=s (and http://a/b) ok"),
            "done: https://c/x.mp4?… (and http://a/b) ok"
        );
        assert_eq!(redact_urls_in("no links, httpd"), "no links, httpd");
    }

    #[test]
    fn query_strings_are_dropped() {
        assert_eq!(
            redact_url("https://cdn.example/x.mp4?Expires=1&Signature=abc"),
            "https://cdn.example/x.mp4?…"
        );
        assert_eq!(
            redact_url("oss://dashscope-instant/a/b.png"),
            "oss://dashscope-instant/a/b.png"
        );
        assert_eq!(redact_url("data:image/png;base64,AAAA"), "data:image/png;…");
    }
}
