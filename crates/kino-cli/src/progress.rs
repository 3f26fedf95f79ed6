//! The live display on stderr while a command follows jobs: one spinner line per job.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use kino_core::{Event, EventKind, JobId};

/// Runs until the channel closes or the task is aborted.
pub fn spawn(mut events: Receiver<Event>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let mut bars: HashMap<JobId, ProgressBar> = HashMap::new();
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            };
            let bar = bars.entry(event.job_id).or_insert_with(|| {
                let b = multi.add(ProgressBar::new_spinner());
                b.set_style(style.clone());
                b.set_prefix(event.job_id.short());
                b.enable_steady_tick(Duration::from_millis(120));
                b
            });
            match &event.kind {
                EventKind::State { to, .. } => {
                    bar.set_message(event.kind.summary());
                    if to.is_terminal() && *to != kino_core::JobState::Succeeded {
                        bar.finish();
                    }
                }
                EventKind::Downloaded { .. } => {
                    bar.finish_with_message(event.kind.summary());
                }
                _ => {
                    let _ = multi.println(format!(
                        "  {} {}",
                        event.job_id.short(),
                        event.kind.summary()
                    ));
                }
            }
        }
        for bar in bars.values() {
            bar.finish_and_clear();
        }
    })
}
