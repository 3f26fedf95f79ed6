//! kino's command-line face. Thin by design: it parses arguments, reads the environment
//! (the only layer that does), builds an engine, and renders results; the work is in the
//! library crates.

mod args;
mod batch_file;
mod budget;
mod commands;
mod context;
mod duration;
mod error;
mod help;
mod prices;
mod printer;
mod profiles;
mod progress;
mod render;
mod request;
mod settings;

use std::process::ExitCode;

pub use args::Cli;
pub use error::CommandError;

/// Runs kino with the process's arguments and environment; returns the exit code.
pub fn main() -> ExitCode {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let mut cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    if let Err(e) = args::pair_segment_media(&mut cli, &matches) {
        e.exit();
    }
    let filter = std::env::var("KINO_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "warn".into()),
        )
        .with_target(false)
        .init();
    let printer = printer::Printer::new(cli.json, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::dispatch(
        cli.command,
        printer,
        cli.profile.as_deref(),
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&printer, &e);
            ExitCode::from(e.kind.exit_code() as u8)
        }
    }
}

fn report(printer: &printer::Printer, e: &CommandError) {
    match &e.data {
        Some(data) => printer.data(data, String::new),
        None if printer.json => {
            let doc = kino_engine::view::error_json(e.kind, &e.message, &e.hints);
            printer.data(&doc, String::new);
        }
        None => {}
    }
    eprintln!("error: {}", e.message);
    for h in &e.hints {
        eprintln!("  hint: {h}");
    }
}
