//! `kino serve`: the REST API and the workers, until Ctrl-C or SIGTERM. Stopping loses nothing:
//! unfinished jobs stay in the ledger and the next start follows them again.

use serde_json::json;

use kino_core::ErrorKind;
use kino_server::{WorkerConfig, Workers, router};

use crate::args::{ServeArgs, WorkerArgs};
use crate::context::Context;
use crate::error::CommandError;

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn worker_config(ctx: &Context, concurrency: Option<u32>) -> WorkerConfig {
    let defaults = WorkerConfig::default();
    WorkerConfig {
        concurrency: concurrency.map_or(defaults.concurrency, |c| c as usize),
        caps: ctx.settings.caps.clone(),
        ..defaults
    }
}

/// `kino worker`: the workers of `kino serve` without HTTP, until Ctrl-C or SIGTERM, which give
/// their jobs back to the ledger for the other workers.
pub async fn worker(ctx: &mut Context, args: WorkerArgs) -> Result<(), CommandError> {
    // No embedded sandbox: a job sent to one lives only in the process that started it.
    let engine = ctx.engine(false).await?;
    let info = engine.ledger().describe().await?;
    let providers = engine.provider_ids();
    if providers.is_empty() {
        return Err(CommandError::new(
            ErrorKind::Config,
            "no provider is configured, so this worker could follow no job",
        )
        .hint(
            "set the credentials of the providers whose jobs it should follow (`kino providers`)",
        ));
    }
    ctx.printer.note(&format!(
        "kino worker {}: {} ledger {}, following {} (Ctrl-C stops; its jobs go back to the fleet)",
        engine.owner(),
        info.backend,
        info.location,
        providers.join(", ")
    ));
    let workers = Workers::new(engine, worker_config(ctx, Some(args.concurrency)));
    workers.run(shutdown_signal()).await;
    Ok(())
}

/// How long open streams may take to close after Ctrl-C or SIGTERM.
const STREAM_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn serve(ctx: &mut Context, args: ServeArgs) -> Result<(), CommandError> {
    let token = ctx
        .settings
        .serve_token
        .as_ref()
        .map(|t| t.expose().to_string());
    if !args.bind.ip().is_loopback() && token.is_none() {
        return Err(CommandError::new(
            ErrorKind::Config,
            format!("refusing to serve on {} without a token: anyone who reaches it could spend your credits", args.bind),
        )
        .hint("set KINO_SERVE_TOKEN (clients send `Authorization: Bearer <token>`), or bind to 127.0.0.1"));
    }
    let engine = ctx.engine(true).await?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| {
            CommandError::new(
                ErrorKind::Config,
                format!("cannot listen on {}: {e}", args.bind),
            )
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| CommandError::new(ErrorKind::Internal, e.to_string()))?;
    let workers = Workers::new(engine.clone(), worker_config(ctx, None));
    let app = router(
        engine,
        workers.clone(),
        token,
        ctx.settings.home.join("uploads"),
    );
    // The address first, on stdout, so scripts (and tests) using port 0 learn it.
    ctx.printer.data(&json!({"listening": addr.to_string(), "api": format!("http://{addr}/v1")}), || {
        format!("kino serve: http://{addr}/v1 (Ctrl-C stops; unfinished jobs continue on the next start)")
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker_task = {
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            workers
                .run(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
        })
    };
    let mut rx = stop_rx;
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = rx.wait_for(|s| *s).await;
    });
    let signal = async {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        // An open dashboard or MCP session holds a stream that never ends by itself; graceful
        // shutdown would wait for it forever. Nothing is lost by cutting it: the ledger holds
        // every job.
        tokio::time::sleep(STREAM_GRACE).await;
    };
    let served = tokio::select! {
        served = server => served,
        () = signal => Ok(()),
    };
    let _ = worker_task.await;
    served.map_err(|e| CommandError::new(ErrorKind::Internal, format!("the server stopped: {e}")))
}

/// `kino mcp`: the MCP tools over stdio, with workers following the jobs they start. Stops when
/// the client closes stdin; unfinished jobs stay in the ledger.
pub async fn mcp(ctx: &mut Context) -> Result<(), CommandError> {
    use rmcp::ServiceExt;
    let engine = ctx.engine(true).await?;
    let workers = Workers::new(engine.clone(), worker_config(ctx, None));
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let worker_task = {
        let workers = workers.clone();
        tokio::spawn(async move {
            workers
                .run(async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                })
                .await;
        })
    };
    let service = kino_server::KinoMcp::new(engine, workers)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| CommandError::new(ErrorKind::Internal, format!("MCP start failed: {e}")))?;
    let ended = service.waiting().await;
    let _ = stop_tx.send(true);
    let _ = worker_task.await;
    ended
        .map(|_| ())
        .map_err(|e| CommandError::new(ErrorKind::Internal, format!("MCP stopped: {e}")))
}
