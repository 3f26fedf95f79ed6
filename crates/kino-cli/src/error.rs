use kino_core::{Diagnostic, ErrorKind};

/// What a command ends with when it does not succeed: a kind (the exit code), a message, and
/// hints a person can act on. Every library error converts into one.
#[derive(Debug)]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
    pub hints: Vec<String>,
    /// Data to print on stdout all the same (a bounded wait's job, a question).
    pub data: Option<Box<serde_json::Value>>,
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            hints: Vec::new(),
            data: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(Box::new(data));
        self
    }
}

impl<E: Diagnostic> From<E> for CommandError {
    fn from(e: E) -> Self {
        Self {
            kind: e.kind(),
            message: e.to_string(),
            hints: e.hints(),
            data: None,
        }
    }
}
