//! Run-time configuration of the sandbox.

use std::time::Duration;

use serde_json::Value;

/// Behaviour knobs of a running sandbox. Change them at run time with
/// [`SandboxHandle::set_config`](crate::SandboxHandle::set_config) or `POST /_sandbox/config`.
///
/// Per-task values (`pending`, `running`, `video_size`) are captured when a task is created, so
/// changing them later affects new tasks only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Accepted bearer keys. Empty = accept any non-empty bearer token except ones starting with "sk-invalid".
    pub api_keys: Vec<String>,
    /// How long a task stays PENDING, then RUNNING, before it finishes.
    pub pending: Duration,
    pub running: Duration,
    /// Delay before the create (submit) response is written; the task is recorded (and counted) BEFORE the delay.
    pub submit_delay: Duration,
    /// When set, result videos are padded to exactly this many bytes (see [`crate::media`]).
    /// Values smaller than the sample plus an 8-byte box header are ignored (bare sample).
    pub video_size: Option<u64>,
    /// When set, result-file downloads are throttled to about this many bytes/second.
    pub download_rate: Option<u64>,
    /// Query-rate limit on /tasks* per key (the real one is 20/s). None = unlimited.
    pub tasks_qps: Option<u32>,
    /// Upload policy lifetime (expire_in_seconds) and size limit (max_file_size_mb).
    pub policy_ttl: Duration,
    pub max_file_size_mb: u64,
    /// DashScope: how long a result URL stays valid (its `Expires=`; the real one: 24 h).
    /// Captured when a task is created.
    pub url_validity: Duration,
    /// Xiaoyunque / LibTV: delay between successive entries (messages, artifacts) the scripted
    /// backend agent appends. Captured when a run (or LibTV turn) starts.
    pub conversation_step: Duration,
    /// Xiaoyunque `upload_file` answers the pre-2026-04-15 `data.asset_id` instead of
    /// `data.pippit_asset_id`.
    pub xyq_legacy_asset_id: bool,
    /// Upload size limits (MiB) of Xiaoyunque `upload_file` and LibTV upload.
    pub xyq_max_upload_mb: u64,
    pub libtv_max_upload_mb: u64,
    /// skills.video: interval of the `: ping` SSE comments (zero = none). Keep-alives are sent
    /// when nothing else was written for this long. Like the two knobs below, captured when a
    /// stream opens.
    pub sv_keepalive: Duration,
    /// skills.video: abort the SSE connection (no clean end of stream) after this many `data:`
    /// events, instead of sending the next one; the generation goes on server-side.
    pub sv_drop_stream_after: Option<u32>,
    /// skills.video: after this many `data:` events send nothing more (not even keep-alives) and
    /// keep the connection open until the client leaves.
    pub sv_stall_after: Option<u32>,
    /// skills.video: report the old PredictionStatus words (`starting`, `processing`,
    /// `succeeded`, `failed`, `canceled`) instead of QueueState (`IN_QUEUE`, `IN_PROGRESS`,
    /// `COMPLETED`, `FAILED`, `CANCELED`), in SSE events and `GET /generation/{id}` alike.
    pub sv_legacy_status: bool,
    /// skills.video: the live credit balance. Creates are charged at creation (a create costing
    /// more than the balance is refused with 402) and failed generations are refunded, so this
    /// value changes as the sandbox is used.
    pub sv_credits: i64,
    /// skills.video: `openapi.json` uses `servers[0].url = "/api"` and `/v1/generation/…` paths
    /// instead of the full `…/api/v1` base and `/generation/…` paths.
    pub sv_v1_paths: bool,
    /// skills.video: serve an OpenAPI 3.1 document (nullable as type arrays) instead of 3.0
    /// (`nullable: true`).
    pub sv_openapi_31: bool,
    /// xingyun3d: the known `(app_id, secret)` pairs. Empty = any app id is known, its secret
    /// being `secret-<app_id>`.
    pub xy_apps: Vec<(String, String)>,
    /// xingyun3d: seconds added to the sandbox's own clock — used both for the ±60 s
    /// `X-TIMESTAMP` check and for the `Date` response header (and reported task times).
    pub xy_clock_skew: i64,
    /// xingyun3d: time a task spends in each of `not_send`, `waiting`, `processing` before it is
    /// `finished` (or `error`). Captured when a task is created.
    pub xy_step: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            api_keys: Vec::new(),
            pending: Duration::from_millis(500),
            running: Duration::from_millis(1500),
            submit_delay: Duration::ZERO,
            video_size: None,
            download_rate: None,
            tasks_qps: Some(20),
            policy_ttl: Duration::from_secs(300),
            max_file_size_mb: 100,
            url_validity: Duration::from_secs(24 * 3600),
            conversation_step: Duration::from_millis(300),
            xyq_legacy_asset_id: false,
            xyq_max_upload_mb: 200,
            libtv_max_upload_mb: 200,
            sv_keepalive: Duration::from_secs(15),
            sv_drop_stream_after: None,
            sv_stall_after: None,
            sv_legacy_status: false,
            sv_credits: 100_000,
            sv_v1_paths: false,
            sv_openapi_31: false,
            xy_apps: Vec::new(),
            xy_clock_skew: 0,
            xy_step: Duration::from_millis(300),
        }
    }
}

/// Error applying a partial config from the admin endpoint.
#[derive(Debug, thiserror::Error)]
#[error("invalid sandbox config: {0}")]
pub(crate) struct ConfigPatchError(String);

impl SandboxConfig {
    /// Apply the admin endpoint's partial JSON: `pending_ms`, `running_ms`, `submit_delay_ms`,
    /// `video_size`, `download_rate` (plus `tasks_qps`, `policy_ttl_secs`, `url_validity_secs`, `max_file_size_mb`,
    /// `api_keys`, `conversation_step_ms`, `xyq_legacy_asset_id`, `xyq_max_upload_mb`,
    /// `libtv_max_upload_mb`, `sv_keepalive_ms`, `sv_drop_stream_after`, `sv_stall_after`,
    /// `sv_legacy_status`, `sv_credits`, `sv_v1_paths`, `sv_openapi_31`, `xy_step_ms`,
    /// `xy_clock_skew_secs`, `xy_apps` as an object `{app_id: secret}`). A `null` clears an
    /// optional value. Nothing is changed on error.
    pub(crate) fn apply_patch(&mut self, patch: &Value) -> Result<(), ConfigPatchError> {
        let obj = patch
            .as_object()
            .ok_or_else(|| ConfigPatchError("body must be a JSON object".into()))?;
        let mut next = self.clone();
        for (key, value) in obj {
            match key.as_str() {
                "pending_ms" => next.pending = Duration::from_millis(req_u64(key, value)?),
                "running_ms" => next.running = Duration::from_millis(req_u64(key, value)?),
                "submit_delay_ms" => {
                    next.submit_delay = Duration::from_millis(req_u64(key, value)?)
                }
                "video_size" => next.video_size = opt_u64(key, value)?,
                "download_rate" => next.download_rate = opt_u64(key, value)?,
                "tasks_qps" => {
                    next.tasks_qps =
                        opt_u64(key, value)?.map(|v| u32::try_from(v).unwrap_or(u32::MAX));
                }
                "policy_ttl_secs" => next.policy_ttl = Duration::from_secs(req_u64(key, value)?),
                "url_validity_secs" => {
                    next.url_validity = Duration::from_secs(req_u64(key, value)?)
                }
                "max_file_size_mb" => next.max_file_size_mb = req_u64(key, value)?,
                "conversation_step_ms" => {
                    next.conversation_step = Duration::from_millis(req_u64(key, value)?)
                }
                "xyq_legacy_asset_id" => {
                    next.xyq_legacy_asset_id = value.as_bool().ok_or_else(|| {
                        ConfigPatchError("`xyq_legacy_asset_id` must be a boolean".into())
                    })?;
                }
                "xyq_max_upload_mb" => next.xyq_max_upload_mb = req_u64(key, value)?,
                "libtv_max_upload_mb" => next.libtv_max_upload_mb = req_u64(key, value)?,
                "sv_keepalive_ms" => {
                    next.sv_keepalive = Duration::from_millis(req_u64(key, value)?)
                }
                "sv_drop_stream_after" => next.sv_drop_stream_after = opt_u32(key, value)?,
                "sv_stall_after" => next.sv_stall_after = opt_u32(key, value)?,
                "sv_legacy_status" => next.sv_legacy_status = req_bool(key, value)?,
                "sv_credits" => {
                    next.sv_credits = value
                        .as_i64()
                        .ok_or_else(|| ConfigPatchError(format!("`{key}` must be an integer")))?;
                }
                "sv_v1_paths" => next.sv_v1_paths = req_bool(key, value)?,
                "sv_openapi_31" => next.sv_openapi_31 = req_bool(key, value)?,
                "xy_step_ms" => next.xy_step = Duration::from_millis(req_u64(key, value)?),
                "xy_clock_skew_secs" => {
                    next.xy_clock_skew = value
                        .as_i64()
                        .ok_or_else(|| ConfigPatchError(format!("`{key}` must be an integer")))?;
                }
                "xy_apps" => {
                    let bad = || ConfigPatchError("xy_apps must be an object of strings".into());
                    next.xy_apps = value
                        .as_object()
                        .ok_or_else(bad)?
                        .iter()
                        .map(|(id, secret)| secret.as_str().map(|s| (id.clone(), s.to_owned())))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(bad)?;
                }
                "api_keys" => {
                    let arr = value.as_array().ok_or_else(|| {
                        ConfigPatchError("api_keys must be an array of strings".into())
                    })?;
                    next.api_keys = arr
                        .iter()
                        .map(|v| v.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            ConfigPatchError("api_keys must be an array of strings".into())
                        })?;
                }
                other => return Err(ConfigPatchError(format!("unknown field `{other}`"))),
            }
        }
        *self = next;
        Ok(())
    }
}

fn req_u64(key: &str, value: &Value) -> Result<u64, ConfigPatchError> {
    value
        .as_u64()
        .ok_or_else(|| ConfigPatchError(format!("`{key}` must be a non-negative integer")))
}

fn req_bool(key: &str, value: &Value) -> Result<bool, ConfigPatchError> {
    value
        .as_bool()
        .ok_or_else(|| ConfigPatchError(format!("`{key}` must be a boolean")))
}

fn opt_u32(key: &str, value: &Value) -> Result<Option<u32>, ConfigPatchError> {
    match opt_u64(key, value)? {
        None => Ok(None),
        Some(v) => u32::try_from(v)
            .map(Some)
            .map_err(|_| ConfigPatchError(format!("`{key}` is too large"))),
    }
}

fn opt_u64(key: &str, value: &Value) -> Result<Option<u64>, ConfigPatchError> {
    if value.is_null() {
        Ok(None)
    } else {
        req_u64(key, value).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patch_applies_known_fields_and_rejects_bad_ones() {
        let mut c = SandboxConfig::default();
        c.apply_patch(
            &json!({"pending_ms": 10, "running_ms": 20, "video_size": 9000, "download_rate": null}),
        )
        .expect("valid patch");
        assert_eq!(c.pending, Duration::from_millis(10));
        assert_eq!(c.running, Duration::from_millis(20));
        assert_eq!(c.video_size, Some(9000));
        c.apply_patch(&json!({"conversation_step_ms": 20, "xyq_legacy_asset_id": true}))
            .expect("valid patch");
        assert_eq!(c.conversation_step, Duration::from_millis(20));
        assert!(c.xyq_legacy_asset_id);
        assert!(c.apply_patch(&json!({"xyq_legacy_asset_id": 1})).is_err());
        c.apply_patch(&json!({
            "sv_keepalive_ms": 50, "sv_drop_stream_after": 1, "sv_stall_after": null,
            "sv_legacy_status": true, "sv_credits": -5, "sv_v1_paths": true, "sv_openapi_31": true
        }))
        .expect("valid sv patch");
        assert_eq!(c.sv_keepalive, Duration::from_millis(50));
        assert_eq!(c.sv_drop_stream_after, Some(1));
        assert_eq!(c.sv_stall_after, None);
        assert!(c.sv_legacy_status && c.sv_v1_paths && c.sv_openapi_31);
        assert_eq!(c.sv_credits, -5);
        c.apply_patch(&json!({
            "xy_step_ms": 40, "xy_clock_skew_secs": -120, "xy_apps": {"app": "s3cret"}
        }))
        .expect("valid xy patch");
        assert_eq!(c.xy_step, Duration::from_millis(40));
        assert_eq!(c.xy_clock_skew, -120);
        assert_eq!(c.xy_apps, vec![("app".to_owned(), "s3cret".to_owned())]);
        assert!(c.apply_patch(&json!({"xy_apps": {"app": 1}})).is_err());
        assert!(
            c.apply_patch(&json!({"sv_stall_after": 1u64 << 40}))
                .is_err()
        );
        assert!(c.apply_patch(&json!({"sv_credits": "1"})).is_err());
        let before = c.clone();
        assert!(c.apply_patch(&json!({"pending_ms": -1})).is_err());
        assert!(
            c.apply_patch(&json!({"running_ms": 1, "bogus": 1}))
                .is_err()
        );
        assert!(c.apply_patch(&json!([1])).is_err());
        assert_eq!(c, before);
    }
}
