use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use kino_core::PollPolicy;
use kino_http::Backoff;

/// How long a create request may be in flight (the API client's 120 s timeout, with margin):
/// the sender's lease covers it, and nobody takes its answer for lost before it has passed.
pub(crate) const SUBMIT_WINDOW: Duration = Duration::from_secs(180);

/// The lease a download holds, so no other process writes the same part file meanwhile.
pub(crate) const DOWNLOAD_LEASE: Duration = Duration::from_secs(15 * 60);

#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Where artifacts go when a job names no directory.
    pub default_out_dir: PathBuf,
    /// Overrides every provider's poll schedule (tests, impatient users).
    pub poll_override: Option<PollPolicy>,
    /// How long a lease lasts beyond the next planned step.
    pub lease: Duration,
    pub download_backoff: Backoff,
    /// Refused-but-retryable create attempts (429, 503, no connection) before giving up.
    pub submit_attempts: u32,
    /// Failed polls in a row before a foreground command reports the platform unavailable
    /// (the job itself stays followable).
    pub max_poll_failures: u32,
    /// The least time failures in a row must span before a foreground command reports the
    /// platform unavailable, however many there were.
    pub min_outage: Duration,
    /// Task-list look-ups that find nothing before a lost create is declared never made.
    pub reconcile_attempts: u32,
    pub reconcile_interval: Duration,
    /// The least time between two requests to a provider, across every process of the ledger
    /// (a platform's rate limit), by provider id.
    pub paces: HashMap<String, Duration>,
    /// How long another job's result URL must stay valid beyond a submit to be sent as an input
    /// (`job:ID#N`); a URL expiring sooner is replaced by an upload of the local copy.
    pub chain_url_margin: Duration,
    /// Prices by provider, model, mode, resolution and duration (the user's under kino.toml
    /// `[[prices]]`, then the published ones).
    pub prices: kino_core::cost::PriceTable,
    /// Each kino.toml profile's `max_cost`: limits every job created under it must keep,
    /// whichever face creates it.
    pub profile_limits: HashMap<String, Vec<kino_core::cost::Amount>>,
    /// The profile new jobs are recorded under when a face names none (`None`: the
    /// environment's account).
    pub profile: Option<String>,
    /// kino.toml's request defaults, by provider and profile.
    pub defaults: kino_core::RequestDefaults,
    /// ffmpeg and ffprobe, for probing each downloaded result and making thumbnails; none
    /// leaves results unprobed (a library never looks the tools up itself).
    pub media_tools: Option<crate::media::Tools>,
    /// Where thumbnails are kept (`JOBID-N.jpg`): beside the ledger on this machine, never in
    /// the user's output directory. None makes none.
    pub thumbs_dir: Option<PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            default_out_dir: PathBuf::from("."),
            poll_override: None,
            lease: Duration::from_secs(45),
            download_backoff: Backoff::default(),
            submit_attempts: 4,
            max_poll_failures: 12,
            min_outage: Duration::from_secs(60),
            reconcile_attempts: 3,
            reconcile_interval: Duration::from_secs(3),
            paces: HashMap::new(),
            chain_url_margin: Duration::from_secs(3600),
            prices: kino_core::cost::PriceTable::builtin(),
            profile_limits: HashMap::new(),
            profile: None,
            defaults: kino_core::RequestDefaults::default(),
            media_tools: None,
            thumbs_dir: None,
        }
    }
}
