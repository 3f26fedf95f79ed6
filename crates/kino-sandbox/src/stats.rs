//! Request counters exposed by [`SandboxHandle::stats`](crate::SandboxHandle::stats) and
//! `GET /_sandbox/stats`.

/// Snapshot of the sandbox's counters.
///
/// Endpoint counters (`queries`, `lists`, `cancels`, `policies`, `downloads`) count every request
/// routed to that endpoint, whatever its answer (auth failures, faults and 429s included).
/// `downloads` and `range_downloads` also count Xiaoyunque/LibTV result and upload files fetched
/// from the CDN host.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Accepted create requests (tasks created) — the "paid" count.
    pub creates: u64,
    /// All POSTs to the submit endpoints, including rejected ones.
    pub create_attempts: u64,
    /// `GET /tasks/{id}`.
    pub queries: u64,
    /// `GET /tasks`.
    pub lists: u64,
    /// `POST /tasks/{id}/cancel`.
    pub cancels: u64,
    /// getPolicy calls.
    pub policies: u64,
    /// Successful OSS POSTs.
    pub uploads: u64,
    /// Result-file GETs (any status).
    pub downloads: u64,
    /// Result-file GETs carrying a Range header.
    pub range_downloads: u64,
    /// Requests to the CDN/OSS host that carried an Authorization header (must stay 0).
    pub auth_on_cdn: u64,
    /// Create requests rejected with 403 for a missing `X-DashScope-Async`.
    pub async_header_missing: u64,
    /// 429s sent (injected or QPS).
    pub throttled: u64,
    /// The most `/tasks*` requests of one key admitted within one second (the window
    /// `tasks_qps` limits): what a rate limit test compares with its limit.
    pub peak_tasks_per_second: u64,
    /// Xiaoyunque runs created by `submit_run`.
    pub xyq_runs: u64,
    /// All Xiaoyunque `submit_run` POSTs, rejected ones included.
    pub xyq_submits: u64,
    /// Xiaoyunque `get_thread` calls (any answer).
    pub xyq_queries: u64,
    /// Successful Xiaoyunque `upload_file` calls.
    pub xyq_uploads: u64,
    /// Accepted LibTV `POST /openapi/session` calls that carried a message.
    pub libtv_sends: u64,
    /// All LibTV `POST /openapi/session` calls, rejected ones included.
    pub libtv_session_posts: u64,
    /// LibTV `GET /openapi/session/{id}` calls (any answer).
    pub libtv_queries: u64,
    /// Successful LibTV uploads (either path).
    pub libtv_uploads: u64,
    /// Successful LibTV `POST /openapi/session/change-project` calls.
    pub libtv_project_changes: u64,
    /// skills.video generations created (SSE or not).
    pub sv_creates: u64,
    /// All skills.video create POSTs, rejected ones included.
    pub sv_create_attempts: u64,
    /// skills.video SSE responses opened (`200 text/event-stream`).
    pub sv_streams: u64,
    /// skills.video `GET /generation/{id}` calls (any answer).
    pub sv_polls: u64,
    /// skills.video `GET /credits` calls (any answer).
    pub sv_credit_queries: u64,
    /// xingyun3d render tasks created.
    pub xy_creates: u64,
    /// All xingyun3d `create_render_task` calls, rejected ones included.
    pub xy_create_attempts: u64,
    /// xingyun3d `get_render_task` calls (any answer).
    pub xy_gets: u64,
    /// xingyun3d `cancel_render_task` calls (any answer).
    pub xy_cancels: u64,
    /// Successful xingyun3d `parse_ppt_file` calls (a `parse_ppt_file_name` handed out).
    pub xy_ppt_parses: u64,
    /// xingyun3d requests rejected for a bad `X-TOKEN` or an expired/missing `X-TIMESTAMP`.
    pub xy_bad_signatures: u64,
}
