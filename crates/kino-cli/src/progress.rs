//! What a person sees on stderr while a command follows jobs. On a terminal: each event as a
//! line and one spinner per job. Elsewhere: only what must not wait for the end, the web link
//! of a submitted job and a question asked.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::oneshot;

use kino_core::{Event, EventKind, JobId, JobState};

pub struct Display {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Display {
    /// Clears the spinners, so what follows on the terminal starts on a clean line.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Lines worth a note even when nobody watches a terminal.
fn essential(e: &Event) -> Option<String> {
    match &e.kind {
        EventKind::Submitted {
            web_link: Some(link),
            ..
        } => Some(format!("job {}: watch it at {link}", e.job_id)),
        EventKind::State {
            to: JobState::NeedsInput,
            reason: Some(q),
            ..
        } => Some(format!(
            "job {} asks: {q}\n  answer with `kino reply {} \"…\"`",
            e.job_id,
            e.job_id.short()
        )),
        _ => None,
    }
}

/// Platform text reaches the terminal without control characters (no escape sequences).
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                ' '
            } else {
                c
            }
        })
        .collect()
}

pub fn spawn(mut events: Receiver<Event>, fancy: bool) -> Display {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let multi = MultiProgress::with_draw_target(if fancy {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let mut bars: HashMap<JobId, ProgressBar> = HashMap::new();
        loop {
            let event = tokio::select! {
                _ = &mut stopped => break,
                e = events.recv() => match e {
                    Ok(e) => e,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                },
            };
            if !fancy {
                if let Some(line) = essential(&event) {
                    eprintln!("{}", printable(&line));
                }
                continue;
            }
            let bar = bars.entry(event.job_id).or_insert_with(|| {
                let b = multi.add(ProgressBar::new_spinner());
                b.set_style(style.clone());
                b.set_prefix(event.job_id.short());
                b.enable_steady_tick(Duration::from_millis(120));
                b
            });
            if let EventKind::State { to, .. } = &event.kind {
                bar.set_message(to.to_string());
            }
            let _ = multi.println(format!(
                "  {} {}",
                event.job_id.short(),
                event.kind.summary()
            ));
        }
        for bar in bars.values() {
            bar.finish_and_clear();
        }
        let _ = multi.clear();
    });
    Display { stop, task }
}
