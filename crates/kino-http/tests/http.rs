//! Downloads against a local server that misbehaves the way CDNs do.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use sha2::{Digest, Sha256};

use kino_http::{Backoff, DownloadError, fetch_resumable, finalize_no_overwrite, part_path};

const LEN: usize = 1_000_000;

fn content() -> Vec<u8> {
    (0..LEN).map(|i| (i % 251) as u8).collect()
}

#[derive(Clone)]
struct Server {
    hits: Arc<AtomicU32>,
    /// The first this-many responses are cut after 300 kB.
    cuts: u32,
    status: Option<StatusCode>,
    saw_auth: Arc<AtomicU32>,
}

async fn serve(State(s): State<Server>, headers: HeaderMap) -> Response {
    let n = s.hits.fetch_add(1, Ordering::SeqCst);
    if headers.contains_key(header::AUTHORIZATION) {
        s.saw_auth.fetch_add(1, Ordering::SeqCst);
    }
    if let Some(st) = s.status {
        return Response::builder().status(st).body(Body::empty()).unwrap();
    }
    let data = content();
    let start: usize = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    let body = data[start..].to_vec();
    let len = body.len();
    let builder = Response::builder()
        .header(header::CONTENT_LENGTH, len)
        .header(header::CONTENT_TYPE, "video/mp4");
    let builder = if start > 0 {
        builder.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{LEN}", LEN - 1),
        )
    } else {
        builder.status(StatusCode::OK)
    };
    if n < s.cuts {
        let first = body[..300_000.min(len)].to_vec();
        // The pause lets the first bytes reach the client before the connection drops.
        let stream = futures_util::stream::unfold(0u8, move |step| {
            let first = first.clone();
            async move {
                match step {
                    0 => Some((Ok::<_, std::io::Error>(bytes::Bytes::from(first)), 1)),
                    1 => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Some((Err(std::io::Error::other("cut")), 2))
                    }
                    _ => None,
                }
            }
        });
        return builder.body(Body::from_stream(stream)).unwrap();
    }
    builder.body(Body::from(body)).unwrap()
}

async fn start(cuts: u32, status: Option<StatusCode>) -> (String, Server) {
    let s = Server {
        hits: Arc::default(),
        cuts,
        status,
        saw_auth: Arc::default(),
    };
    let app = Router::new()
        .route("/v.mp4", axum::routing::get(serve))
        .with_state(s.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v.mp4?Expires=1&Signature=secret"), s)
}

fn quick() -> Backoff {
    Backoff::new(Duration::from_millis(10), Duration::from_millis(50), 5)
}

#[tokio::test]
async fn a_cut_download_resumes_with_range_and_verifies() {
    let (url, server) = start(2, None).await;
    let dir = tempfile::tempdir().unwrap();
    let part = part_path(dir.path(), "v", "mp4", "t");
    let client = kino_http::download_client("test").unwrap();
    let got = fetch_resumable(&client, &url, &part, quick())
        .await
        .unwrap();
    assert!(got.resumed);
    assert_eq!(got.bytes, LEN as u64);
    assert_eq!(got.sha256, hex::encode(Sha256::digest(content())));
    assert_eq!(got.mime.as_deref(), Some("video/mp4"));
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
    assert_eq!(server.saw_auth.load(Ordering::SeqCst), 0);
    let final_path = finalize_no_overwrite(&part, dir.path(), "v", "mp4").unwrap();
    assert_eq!(std::fs::read(final_path).unwrap(), content());
}

#[tokio::test]
async fn a_part_left_by_an_earlier_process_is_continued() {
    let (url, server) = start(0, None).await;
    let dir = tempfile::tempdir().unwrap();
    let part = part_path(dir.path(), "v", "mp4", "t");
    std::fs::write(&part, &content()[..123_456]).unwrap();
    let client = kino_http::download_client("test").unwrap();
    let got = fetch_resumable(&client, &url, &part, quick())
        .await
        .unwrap();
    assert_eq!((got.bytes, got.resumed), (LEN as u64, true));
    assert_eq!(std::fs::read(&part).unwrap(), content());
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_expired_url_fails_at_once_without_retries() {
    let (url, server) = start(0, Some(StatusCode::FORBIDDEN)).await;
    let dir = tempfile::tempdir().unwrap();
    let client = kino_http::download_client("test").unwrap();
    let err = fetch_resumable(
        &client,
        &url,
        &part_path(dir.path(), "v", "mp4", "t"),
        quick(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DownloadError::Gone { status: 403 }));
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_dead_host_is_retried_a_bounded_number_of_times_and_the_error_hides_the_signature() {
    let (url, server) = start(0, Some(StatusCode::SERVICE_UNAVAILABLE)).await;
    let dir = tempfile::tempdir().unwrap();
    let client = kino_http::download_client("test").unwrap();
    let err = fetch_resumable(
        &client,
        &url,
        &part_path(dir.path(), "v", "mp4", "t"),
        quick(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, DownloadError::Exhausted { attempts: 5, .. }),
        "{err}"
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 5);
    let refused = fetch_resumable(
        &client,
        "http://127.0.0.1:9/v.mp4?Signature=secret",
        &part_path(dir.path(), "w", "mp4", "t"),
        quick(),
    )
    .await
    .unwrap_err();
    assert!(!refused.to_string().contains("secret"), "{refused}");
}
