use kino_core::Millis;

/// A local file already turned into a platform reference, so a resumed job does not upload twice
/// while the reference lives (DashScope: 48 h).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRecord {
    pub provider: String,
    pub model: String,
    pub local_path: String,
    pub bytes: u64,
    /// The file's modification time (ms): a changed file is uploaded again.
    pub modified: Millis,
    pub reference: String,
    pub created_at: Millis,
    pub expires_at: Millis,
}
