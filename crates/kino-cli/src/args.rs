use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// kino — create images and videos on AI platforms; never lose a paid job.
#[derive(Debug, Parser)]
#[command(
    name = "kino",
    version,
    propagate_version = true,
    after_long_help = crate::help::TOP
)]
pub struct Cli {
    /// Print one JSON document (JSON lines for streams) even on a terminal.
    #[arg(long, global = true)]
    pub json: bool,
    /// Less on stderr: no progress display.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Use the accounts and defaults of this kino.toml profile (default: KINO_PROFILE, else
    /// kino.toml's `profile`, else the credentials in the environment).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Providers, their modes and default models, and whether credentials are set.
    Providers,
    /// Check credentials (status only), reachability, ffmpeg and the ledger; spends nothing.
    Doctor,
    /// Submit a job, follow it and download its results.
    #[command(after_long_help = crate::help::RUN)]
    Run(RunArgs),
    /// Submit a job and return its receipt at once.
    #[command(after_long_help = crate::help::SUBMIT)]
    Submit(SubmitArgs),
    /// Follow jobs until they finish or the timeout passes (exit 5, the jobs go on).
    #[command(after_long_help = crate::help::WAIT)]
    Wait(WaitArgs),
    /// A job as the ledger has it.
    #[command(after_long_help = crate::help::STATUS)]
    Status {
        /// The job: its id, a prefix of it, or its short id (the last 8 hex digits).
        job: String,
    },
    /// A job's event history.
    Events(EventsArgs),
    /// Jobs in the ledger, newest first.
    #[command(after_long_help = crate::help::LIST)]
    List(ListArgs),
    /// Cancel a job (DashScope cancels only tasks that have not started).
    Cancel { job: String },
    /// Answer the question a conversational job (xyq, libtv) waits on, then follow it.
    #[command(after_long_help = crate::help::REPLY)]
    Reply(ReplyArgs),
    /// Adopt a job another tool submitted (a seed script's task_id …): record it, follow it,
    /// download its results. Sends no create request.
    #[command(after_long_help = crate::help::ATTACH)]
    Attach(AttachArgs),
    /// LibTV commands.
    #[command(subcommand)]
    Libtv(LibtvCommand),
    /// The models of a provider (skills.video: from its OpenAPI documents).
    Models(ModelsArgs),
    /// A skills.video model's request schema and a template to start from.
    Schema { provider: String, model: String },
    /// The account's credit balance (skills.video).
    Credits { provider: String },
    /// A xingyun3d job's preview URL.
    Preview { job: String },
    /// Download a succeeded job's results (again).
    #[command(after_long_help = crate::help::DOWNLOAD)]
    Download(DownloadArgs),
    /// Upload a local file and print the reference to use as an input.
    Upload(UploadArgs),
    /// Follow every unfinished job in the ledger until it is done.
    Resume(ResumeArgs),
    /// Serve the REST API (jobs, SSE events) with workers that follow every unfinished job.
    #[command(after_long_help = crate::help::SERVE)]
    Serve(ServeArgs),
    /// Serve MCP over stdio (for agents); nothing but protocol on stdout.
    #[command(after_long_help = crate::help::MCP)]
    Mcp,
    /// Follow the ledger's jobs without serving HTTP: many workers, on many machines sharing a
    /// PostgreSQL ledger (KINO_LEDGER=postgres://…), divide the work.
    #[command(after_long_help = crate::help::WORKER)]
    Worker(WorkerArgs),
    /// What jobs cost: charged (as the platforms reported), estimated, and still in flight, by
    /// day, provider and model.
    Cost(CostArgs),
    /// Run many jobs from a file (JSON lines, CSV or YAML rows): `--dry-run` shows the plan, its
    /// cost and a review hash; `--review HASH` runs exactly that plan; `kino batch status`.
    Batch(BatchArgs),
    /// The ledger itself: schema, and moving job history between ledgers.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Serve the local platform emulator.
    Sandbox(SandboxArgs),
    /// Media tools over ffmpeg and ffprobe: probe, join, cut, lay audio over video.
    #[command(subcommand, after_long_help = crate::help::MEDIA)]
    Media(MediaCommand),
    /// The effective configuration: every setting kino reads, its value and where it came from
    /// (default, environment, .env, kino.toml), with kino.toml's profiles and defaults.
    /// Credentials show only as set / not set.
    #[command(after_long_help = crate::help::CONFIG)]
    Config,
    /// A shell completion script on stdout (`kino completions bash > …/completions/kino`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct JobArgs {
    /// [PROVIDER] [PROMPT]: the provider may be left out (dashscope when DASHSCOPE_API_KEY is set,
    /// else the embedded sandbox).
    #[arg(value_name = "PROVIDER_OR_PROMPT", num_args = 0..=2)]
    pub words: Vec<String>,
    /// t2v, i2v, kf2v, r2v, vace, videoedit (detected from the fields when left out).
    #[arg(long)]
    pub mode: Option<String>,
    /// The model (default: kino.toml's [defaults.PROVIDER] model, else the provider's;
    /// `kino providers` and `kino models PROVIDER` list them).
    #[arg(long)]
    pub model: Option<String>,
    /// DashScope: KEY=PATH|URL, a media field. Xiaoyunque and LibTV: PATH, a file to attach.
    /// Local files are uploaded before the submit. Repeatable.
    #[arg(long = "input", value_name = "[KEY=]PATH|URL")]
    pub inputs: Vec<String>,
    /// An already uploaded input (Xiaoyunque asset id, LibTV file URL). Repeatable.
    #[arg(long = "asset", value_name = "ID")]
    pub assets: Vec<String>,
    /// xingyun3d: a text segment the presenter speaks. Repeatable, in order.
    #[arg(long = "segment", value_name = "TEXT")]
    pub segments: Vec<String>,
    /// xingyun3d: a picture (URL) shown with the segment given just before it.
    #[arg(long = "segment-media", value_name = "URL")]
    pub segment_media: Vec<String>,
    /// xingyun3d: render from a PowerPoint file (.pptx).
    #[arg(long, value_name = "FILE")]
    pub ppt: Option<PathBuf>,
    /// A request file in JSON or YAML (the platform's own fields).
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// For each --segment-media, the --segment it follows (filled from the argument order).
    #[arg(skip)]
    pub media_owner: Vec<usize>,
    /// KEY=VALUE: any request field; VALUE is read as JSON when it parses (5, true, ["a"]). Repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// The flat request JSON of the seed scripts, inline or @FILE.
    #[arg(long, value_name = "JSON|@FILE")]
    pub request: Option<String>,
    /// Directory for the results (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// File name stem for the results.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Validate and show the request that would be sent and its expected cost; spends and
    /// records nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

/// Spending limits checked against the expected cost before anything is sent.
#[derive(Clone, Debug, Default, Args)]
pub struct BudgetArgs {
    /// Refuse (exit 2, nothing sent) what would cost more than AMOUNT: "5 CNY", "200 credits".
    /// Repeatable, one per unit; a profile's `max_cost` applies as well.
    #[arg(long = "max-cost", value_name = "AMOUNT")]
    pub max_cost: Vec<String>,
    /// Under a limit, let a request whose cost is unknown go ahead (it is refused otherwise).
    #[arg(long)]
    pub allow_unknown_cost: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Stop following after this long (exit 5; `kino wait` or `kino resume` continue).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Record the job and leave sending it to the workers (`kino worker`, `kino serve`); the
    /// default on a shared (PostgreSQL) ledger.
    #[arg(long, conflicts_with = "here")]
    pub queue: bool,
    /// Send the create request from this process, even on a shared ledger.
    #[arg(long)]
    pub here: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub jobs: Vec<String>,
    /// e.g. 90s, 10m, 2h (default: 10m).
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub timeout: String,
}

#[derive(Debug, Args)]
pub struct ReplyArgs {
    /// The job waiting for an answer: its id, a prefix of it, or its short id.
    pub job: String,
    /// The answer, sent exactly as written.
    pub message: String,
    /// A file to attach (uploaded first). Repeatable.
    #[arg(long = "input", value_name = "PATH")]
    pub inputs: Vec<String>,
    /// An already uploaded input (asset id or URL). Repeatable.
    #[arg(long = "asset", value_name = "ID")]
    pub assets: Vec<String>,
    /// Return once the reply is sent, without following the job.
    #[arg(long)]
    pub no_wait: bool,
    /// Stop following after this long (exit 5).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// dashscope, skillsvideo, xyq, libtv or xingyun3d.
    pub provider: String,
    /// The platform's id of the job: a DashScope task_id, a skills.video generation id, a
    /// Xiaoyunque THREAD_ID/RUN_ID, a LibTV sessionId, a xingyun3d task_id.
    pub handle: String,
    /// Directory for the results (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// File name stem for the results.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Return once the job is recorded, without following it (`kino wait` follows it).
    #[arg(long, conflicts_with = "timeout")]
    pub no_wait: bool,
    /// Stop following after this long (exit 5; `kino wait` or `kino resume` continue).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    pub provider: String,
    /// Fetch the platform's documents again (skills.video).
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Subcommand)]
pub enum LibtvCommand {
    /// Bind the access key to a new project; later sessions are created there.
    SwitchProject,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    pub job: String,
    /// Keep printing new events until the job is done.
    #[arg(long)]
    pub follow: bool,
    /// Only events after this sequence number.
    #[arg(long, default_value_t = 0)]
    pub since: i64,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BatchArgs {
    #[command(subcommand)]
    pub command: Option<BatchCommand>,
    /// The rows: .jsonl/.ndjson (a JSON object a line), .csv (a header row) or .yaml/.yml (a
    /// list, or `rows:` with `defaults:` and `template:`). Each row: `provider` and the flat
    /// request fields `--request` takes, plus optional mode, model, prefix, out and vars.
    #[arg(required = true, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Validate every row and print the plan, its expected cost and its review hash; records
    /// and sends nothing.
    #[arg(long, conflicts_with = "review")]
    pub dry_run: bool,
    /// Run only if the plan is still the one reviewed (the hash `--dry-run` printed, or at least
    /// its first 8 hex digits).
    #[arg(long, value_name = "HASH")]
    pub review: Option<String>,
    /// Directory for the results of rows that name no `out` (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The prompt of rows that give none, with `{{NAME}}` variables.
    #[arg(long, value_name = "TEXT")]
    pub template: Option<String>,
    /// NAME=VALUE: a template variable for every row (a row's own `vars` win). Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Rows in flight at once per provider: N for every provider (default 4), or PROVIDER=N.
    /// Repeatable.
    #[arg(long = "concurrency", value_name = "N|PROVIDER=N")]
    pub concurrency: Vec<String>,
    /// Send every row even after one fails (default: stop sending at the first failure; rows
    /// already sent are followed to their end).
    #[arg(long)]
    pub keep_going: bool,
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// Stop following after this long (exit 5; `kino batch resume` goes on).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Recent batches, or every row of one (BATCH: its id or a unique prefix).
    Status { batch: Option<String> },
    /// Go on with a batch whose command was interrupted: follow its sent rows, send its waiting
    /// ones, with the options it started with.
    Resume {
        batch: String,
        /// Stop following after this long (exit 5).
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct CostArgs {
    /// How far back: a duration (7d, 24h) or a date (2026-11-01, UTC).
    #[arg(long, default_value = "30d", value_name = "DURATION|DATE")]
    pub since: String,
    /// Group by any of day, provider and model, comma-separated; `--by none` gives one total.
    #[arg(long, value_delimiter = ',', default_value = "day,provider,model")]
    pub by: Vec<CostBy>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CostBy {
    Day,
    Provider,
    Model,
    None,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only jobs in this state (repeatable).
    #[arg(long = "state")]
    pub states: Vec<String>,
    /// Only jobs of this provider.
    #[arg(long)]
    pub provider: Option<String>,
    /// At most this many jobs.
    #[arg(long)]
    pub limit: Option<u32>,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The job: its id, a prefix of it, or its short id.
    pub job: String,
    /// Fetch a fresh copy of every result into DIR (default: only results not on disk, into
    /// the job's own directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// File name stem for the results.
    #[arg(long)]
    pub prefix: Option<String>,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    pub provider: String,
    pub file: PathBuf,
    /// The model the file will be used with (DashScope binds uploads to a model).
    #[arg(long, default_value = "wan2.6-i2v-flash")]
    pub model: String,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback requires KINO_SERVE_TOKEN.
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub bind: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Jobs this worker follows at once (the rest wait in the ledger for any worker).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Bring the ledger's schema up to date and say which it is.
    Migrate,
    /// Write every job (with its events and results) as JSON lines, oldest first.
    Export {
        /// Write here instead of stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Read jobs written by `kino ledger export` into this ledger; jobs it already has are
    /// left alone.
    Import {
        /// The export file, or `-` for stdin.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[arg(long, default_value_t = 8790)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Seconds a task stays PENDING, then RUNNING.
    #[arg(long, default_value_t = 2.0)]
    pub pending: f64,
    #[arg(long, default_value_t = 5.0)]
    pub running: f64,
    /// Pad result videos to this many bytes (a valid MP4 with a `free` box).
    #[arg(long)]
    pub video_size: Option<u64>,
    /// Largest upload accepted, in MB.
    #[arg(long, default_value_t = 100)]
    pub max_file_size_mb: u64,
    /// DashScope task queries allowed per key per second (beyond: 429); 0 for no limit.
    #[arg(long, default_value_t = 20)]
    pub tasks_qps: u32,
}

#[derive(Debug, Subcommand)]
pub enum MediaCommand {
    /// ffprobe's view of a file: container, duration, size, and each stream's codec, size, rate.
    Probe { file: PathBuf },
    /// Join clips in order: copied when their streams agree, encoded again otherwise.
    Concat(ConcatArgs),
    /// Cut a clip: --start and --end (or --duration); times in seconds or [HH:]MM:SS[.fff].
    Trim(TrimArgs),
    /// Lay an audio track over a video (mixed with its own sound, or replacing it).
    Overlay(OverlayArgs),
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// The file to write; its extension names the container (.mp4, .mov, .mkv, …).
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: PathBuf,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ConcatArgs {
    /// The clips, in order (at least two).
    #[arg(required = true, num_args = 2.., value_name = "CLIP")]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Encode again even when the clips could be joined by copying.
    #[arg(long)]
    pub reencode: bool,
}

#[derive(Debug, Args)]
pub struct TrimArgs {
    pub input: PathBuf,
    /// Where the cut starts (default: the beginning).
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Where it ends (default: the end).
    #[arg(long, value_name = "TIME", conflicts_with = "duration")]
    pub end: Option<String>,
    /// How long the cut lasts.
    #[arg(long, value_name = "TIME")]
    pub duration: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Cut at key frames without encoding again (fast, not exact to the frame).
    #[arg(long)]
    pub copy: bool,
}

#[derive(Debug, Args)]
pub struct OverlayArgs {
    pub video: PathBuf,
    pub audio: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Drop the video's own sound instead of mixing the track with it.
    #[arg(long)]
    pub replace: bool,
}

/// `--segment-media` belongs to the `--segment` just before it; clap keeps each option's values
/// apart, so the pairing is read from the positions on the command line.
pub fn pair_segment_media(cli: &mut Cli, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
    let (job, sub) = match (&mut cli.command, matches.subcommand()) {
        (Command::Run(a), Some(("run", m))) => (&mut a.job, m),
        (Command::Submit(a), Some(("submit", m))) => (&mut a.job, m),
        _ => return Ok(()),
    };
    let segments: Vec<usize> = sub
        .indices_of("segments")
        .map(|i| i.collect())
        .unwrap_or_default();
    let media: Vec<usize> = sub
        .indices_of("segment_media")
        .map(|i| i.collect())
        .unwrap_or_default();
    let mut owners = Vec::new();
    for m in media {
        let owner = segments.iter().rposition(|s| *s < m).ok_or_else(|| {
            clap::Error::raw(
                clap::error::ErrorKind::ArgumentConflict,
                "invalid `--segment-media`: it must follow the --segment it belongs to\n",
            )
        })?;
        if owners.contains(&owner) {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::ArgumentConflict,
                "invalid `--segment-media`: one picture per --segment\n",
            ));
        }
        owners.push(owner);
    }
    job.media_owner = owners;
    Ok(())
}
