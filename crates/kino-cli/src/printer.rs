use std::io::{IsTerminal, Write};

use serde_json::Value;

/// Where output goes. stdout carries data only: one JSON document (or JSON lines) when it is not
/// a terminal or with --json, human text otherwise. Progress and notes go to stderr.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    pub json: bool,
    pub quiet: bool,
    pub stderr_tty: bool,
}

impl Printer {
    pub fn new(force_json: bool, quiet: bool) -> Self {
        Self {
            json: force_json || !std::io::stdout().is_terminal(),
            quiet,
            stderr_tty: std::io::stderr().is_terminal(),
        }
    }

    /// The command's result: JSON, or the human rendering.
    pub fn data(&self, value: &Value, human: impl FnOnce() -> String) {
        let mut out = std::io::stdout().lock();
        let text = if self.json {
            value.to_string()
        } else {
            human()
        };
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// One line of a stream (`kino events --follow`).
    pub fn line(&self, value: &Value, human: impl FnOnce() -> String) {
        self.data(value, human);
    }

    /// A note for the person at the terminal, on stderr.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Shows progress only to a person watching stderr.
    pub fn shows_progress(&self) -> bool {
        !self.quiet && self.stderr_tty
    }
}
