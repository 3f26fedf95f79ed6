//! The long help of `kino --help` and `kino COMMAND --help`: real examples, what the exit codes
//! mean, and where the configuration lives. Kept here so args.rs stays the shape of the
//! command line.

/// `kino --help`, after the commands.
pub const TOP: &str = "\
Examples:
  kino run \"a lighthouse at dawn, slow dolly in\"       # no key set: the sandbox, nothing spent
  kino run dashscope \"a red kite\" --param duration=10  # submit, follow, download here
  kino submit xyq \"a 30 s ad for a tea shop\" --json    # a receipt at once; `kino wait ID` follows
  kino list --state running                            # what the ledger holds, newest first
  kino resume                                          # after a crash: finish what was left

Exit codes:
  0  ok
  1  internal error (a bug: please report it)
  2  usage or invalid input; nothing was spent or recorded
  3  credentials or configuration (a missing key, a bad kino.toml, an unknown profile)
  4  the job failed, was canceled or expired on the platform
  5  still running: a bounded wait ended; the job goes on (`kino wait ID`)
  6  needs input: the agent asked a question (`kino reply ID \"…\"`)
  7  the platform or the network is unavailable after retries; the job stays followable

Configuration:
  Credentials come from the environment (or ./.env), named as the seed scripts name them:
  DASHSCOPE_API_KEY, SKILLS_VIDEO_API_KEY, XYQ_ACCESS_KEY, LIBTV_ACCESS_KEY,
  XINGYUN3D_APP_ID + XINGYUN3D_APP_SECRET; base URLs: DASHSCOPE_HTTP_BASE_URL,
  SKILLS_VIDEO_BASE_URL, XYQ_OPENAPI_BASE, OPENAPI_IM_BASE, XINGYUN3D_BASE_URL.
  KINO_HOME holds the SQLite ledger; KINO_LEDGER=postgres://… shares one ledger with a fleet.
  kino.toml (in KINO_HOME, then the current directory, which wins) holds profiles, several
  accounts per provider chosen with --profile or KINO_PROFILE, and request defaults:
    [profiles.work.dashscope]
    api_key_env = \"WORK_DASHSCOPE_KEY\"
    [defaults.dashscope]
    resolution = \"720P\"
  `kino config` shows every setting, its value and where it came from (secrets as set/not set).
  Output is JSON when stdout is not a terminal or with --json; logs go to stderr (KINO_LOG).";

pub const RUN: &str = "\
Examples:
  kino run \"a red kite over the sea\"           # the default provider, into the current directory
  kino run dashscope \"a cat surfing\" --model wan2.6-t2v --param duration=10
  kino run dashscope --input img_url=./cat.png \"the cat turns its head\" --out ~/videos
  kino run xingyun3d --ppt ./deck.pptx --profile work --timeout 30m

A local file is uploaded before the create request. kino.toml's [defaults.PROVIDER] fill what
the command line leaves out; --dry-run shows the request as it would be sent and its expected
cost, spending and recording nothing. Ctrl-C leaves the job running; `kino resume` goes on.";

pub const SUBMIT: &str = "\
Examples:
  kino submit \"a red kite\" --json               # {\"job_id\", \"handle\", \"state\", …} at once
  kino submit libtv \"a 15 s trailer\" --input ./poster.png
  kino submit dashscope \"a kite\" --queue        # record only; a worker (or kino serve) sends it
  kino submit dashscope \"a kite\" --profile work --max-cost \"2 CNY\"

Follow the job later with `kino wait ID`, `kino status ID` or `kino events ID --follow`.";

pub const WAIT: &str = "\
Examples:
  kino wait 1a2b3c4d                        # up to 10 minutes
  kino wait 1a2b3c4d 5e6f7a8b --timeout 2h  # several jobs at once
  kino wait 1a2b3c4d --timeout 90s --json   # exit 5 with done=false if it is still running

A job is named by its full id, a prefix, or its short id (the last 8 hex digits). Waiting
never resubmits; a job still running when the timeout passes goes on, and exits 5.";

pub const STATUS: &str = "\
Examples:
  kino status 1a2b3c4d            # state, handle, results and their files
  kino status 1a2b3c4d --json     # the same JSON as `kino wait` and the REST API

Reads the ledger only: no network, no credentials.";

pub const LIST: &str = "\
Examples:
  kino list                                     # newest first
  kino list --state running --state queued      # unfinished ones
  kino list --provider xyq --limit 5 --json

States: pending, submitting, unknown, queued, running, needs_input, succeeded, failed,
canceled, expired. The JSON of each job names the profile whose account made it (null: the
environment's).";

pub const REPLY: &str = "\
Examples:
  kino reply 1a2b3c4d \"yes, 10 seconds, in English\"
  kino reply 1a2b3c4d \"use this logo\" --input ./logo.png
  kino reply 1a2b3c4d \"go on\" --no-wait --json

For xyq and libtv jobs in needs_input (exit 6 shows the question). The reply is sent with the
account that started the conversation, and recorded before it leaves, like a submit.";

pub const DOWNLOAD: &str = "\
Examples:
  kino download 1a2b3c4d                    # only results not on disk (a deleted file too)
  kino download 1a2b3c4d --out ~/videos     # a fresh copy into another directory
  kino download 1a2b3c4d --prefix final

Platform result URLs expire (DashScope: 24 h); kino downloads as soon as they appear.";

pub const ATTACH: &str = "\
Examples:
  kino attach dashscope 0385dc79-5ff8-4d44-b0a4-3e1c6e7a2f1a   # a seed script's task_id
  kino attach xyq 7312c8a1/9a0b1c2d --no-wait                 # THREAD_ID/RUN_ID
  kino attach skillsvideo gen_01HX… --profile work            # the account that made it

Sends no create request: one status query checks the platform knows the handle, then the job
is followed and downloaded like any other. A handle already followed is refused.";

pub const MEDIA: &str = "\
Examples:
  kino media probe clip.mp4 --json
  kino media concat a.mp4 b.mp4 c.mp4 -o joined.mp4
  kino media trim joined.mp4 --start 0:05 --duration 10 -o cut.mp4
  kino media overlay cut.mp4 music.m4a -o final.mp4 --replace

Runs ffmpeg and ffprobe (KINO_FFMPEG, KINO_FFPROBE; default: found on PATH). A missing tool
exits 3 with the fix; outputs are written to a temporary file and renamed on success.";

pub const CONFIG: &str = "\
Examples:
  kino config                       # SETTING  VALUE  SOURCE
  kino config --json                # {\"DASHSCOPE_API_KEY\": {\"value\": \"set\", \"source\": …}, …}
  kino config --profile work        # with the `work` profile selected

Sources: default, environment, .env, kino.toml (PATH). Profiles appear as
profiles.NAME.PROVIDER.KEY, defaults as defaults.PROVIDER.FIELD. Credentials show only as set
or not set; KINO_LEDGER's password as ***. A bad setting exits 3.";

pub const SERVE: &str = "\
Examples:
  kino serve                                         # 127.0.0.1:8787: dashboard, REST, /mcp
  KINO_SERVE_TOKEN=… kino serve --bind 0.0.0.0:8787  # off loopback a bearer token is required
  kino serve --profile work                          # new jobs use the `work` accounts by default

REST: POST /v1/jobs {\"provider\", \"prompt\", \"request\", \"profile\"}, GET /v1/jobs[/ID],
GET /v1/jobs/ID/events (SSE), POST /v1/jobs/ID/cancel|reply. Its workers follow every
unfinished job of the ledger, each with the account that made it.";

pub const WORKER: &str = "\
Examples:
  KINO_LEDGER=postgres://kino@db/kino kino worker   # one of many machines sharing the work
  kino worker --concurrency 32
  KINO_DASHSCOPE_CONCURRENCY=4 kino worker          # at most 4 DashScope jobs at once, fleet-wide

Workers claim due jobs from the ledger; a dead worker's jobs are taken over after its lease
(KINO_LEASE_SECS). Each job is sent and followed with its profile's account, so every worker
needs the same kino.toml profiles.";

pub const MCP: &str = "\
Examples:
  kino mcp                                         # MCP over stdio, for an agent
  KINO_LEDGER=postgres://kino@db/kino kino mcp     # the agent's jobs in the fleet's ledger
  kino mcp --profile work                          # the agent's jobs use the `work` accounts

Tools: providers, generate (with a bounded wait), status, wait, events, cancel, reply, list,
model_schema, upload. Nothing but protocol goes to stdout; logs go to stderr.";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::CommandFactory;

    fn long_help(path: &[&str]) -> String {
        let mut cmd = crate::args::Cli::command();
        cmd.build();
        let mut at = &mut cmd;
        for name in path {
            at = at.find_subcommand_mut(name).unwrap();
        }
        at.render_long_help().to_string()
    }

    #[test]
    fn every_everyday_command_teaches_with_examples() {
        for name in [
            "run", "submit", "wait", "status", "list", "reply", "download", "attach", "media",
            "config", "serve", "worker", "mcp",
        ] {
            let text = long_help(&[name]);
            let examples = text
                .lines()
                .filter(|l| l.trim_start().starts_with("kino ") || l.contains(" kino "))
                .count();
            assert!(text.contains("Examples:"), "{name}: {text}");
            assert!(
                (2..=6).contains(&examples),
                "{name}: {examples} examples\n{text}"
            );
        }
    }

    #[test]
    fn no_line_is_wrapped_on_a_100_column_terminal() {
        for text in [
            super::TOP,
            super::RUN,
            super::SUBMIT,
            super::WAIT,
            super::STATUS,
            super::LIST,
            super::REPLY,
            super::DOWNLOAD,
            super::ATTACH,
            super::MEDIA,
            super::CONFIG,
            super::SERVE,
            super::WORKER,
            super::MCP,
        ] {
            for line in text.lines() {
                assert!(line.chars().count() <= 98, "too long: {line}");
            }
        }
    }

    #[test]
    fn the_top_help_names_every_exit_code_and_where_configuration_lives() {
        let text = long_help(&[]);
        for code in 0..=7 {
            assert!(
                text.lines()
                    .any(|l| l.trim_start().starts_with(&format!("{code}  "))),
                "exit code {code} missing:\n{text}"
            );
        }
        for needle in [
            "DASHSCOPE_API_KEY",
            "KINO_HOME",
            "KINO_LEDGER",
            "kino.toml",
            "--profile",
            "KINO_PROFILE",
            "kino config",
        ] {
            assert!(text.contains(needle), "{needle} missing");
        }
        // The global flag is documented on every command.
        assert!(long_help(&["run"]).contains("--profile <NAME>"));
    }
}
