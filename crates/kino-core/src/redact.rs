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

#[cfg(test)]
mod tests {
    use super::*;

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
