use std::time::Duration;

use serde_json::json;

use kino_core::ErrorKind;
use kino_sandbox::{Sandbox, SandboxConfig};

use crate::args::SandboxArgs;
use crate::context::Context;
use crate::error::CommandError;

pub async fn serve(ctx: &Context, args: SandboxArgs) -> Result<(), CommandError> {
    let secs = |field: &str, v: f64| {
        if v.is_finite() && v >= 0.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(CommandError::usage(format!(
                "invalid `--{field}`: must be a number of seconds, 0 or more"
            )))
        }
    };
    let config = SandboxConfig {
        pending: secs("pending", args.pending)?,
        running: secs("running", args.running)?,
        video_size: args.video_size,
        max_file_size_mb: args.max_file_size_mb,
        tasks_qps: (args.tasks_qps > 0).then_some(args.tasks_qps),
        ..SandboxConfig::default()
    };
    let handle = Sandbox::start(args.host, args.port, config)
        .await
        .map_err(|e| {
            CommandError::new(
                ErrorKind::Config,
                format!("cannot serve on {}:{}: {e}", args.host, args.port),
            )
        })?;
    let doc = json!({
        "dashscope_base_url": handle.dashscope_base_url(),
        "skillsvideo_base_url": handle.skillsvideo_base_url(),
        "xyq_base_url": handle.xyq_base_url(),
        "libtv_base_url": handle.libtv_base_url(),
        "api": handle.api_addr().to_string(),
        "cdn": handle.cdn_addr().to_string(),
    });
    ctx.printer.data(&doc, || {
        format!(
            "kino sandbox is serving (any key works, e.g. sk-sandbox):\n  \
             export DASHSCOPE_HTTP_BASE_URL={} DASHSCOPE_API_KEY=sk-sandbox\n  \
             export SKILLS_VIDEO_BASE_URL={} SKILLS_VIDEO_API_KEY=sk-sandbox\n  \
             export XYQ_OPENAPI_BASE={} XYQ_ACCESS_KEY=sk-sandbox\n  \
             export OPENAPI_IM_BASE={} LIBTV_ACCESS_KEY=sk-sandbox\nCtrl-C stops it.",
            handle.dashscope_base_url(),
            handle.skillsvideo_base_url(),
            handle.xyq_base_url(),
            handle.libtv_base_url()
        )
    });
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    Ok(())
}
