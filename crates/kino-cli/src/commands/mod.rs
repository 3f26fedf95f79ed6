mod attach;
mod batch;
mod catalog;
mod config;
mod cost;
mod info;
mod inspect;
mod jobs;
mod ledger;
mod manage;
mod media;
mod sandbox;
mod serve;

use crate::args::{Command, LedgerCommand, LibtvCommand};
use crate::context::Context;
use crate::error::CommandError;
use crate::printer::Printer;
use crate::settings::Settings;

pub async fn dispatch(
    command: Command,
    printer: Printer,
    profile: Option<&str>,
) -> Result<(), CommandError> {
    // Completions need no settings: a bad one must not keep the script from the shell.
    if let Command::Completions { shell } = command {
        return config::completions(shell);
    }
    let settings = Settings::load(profile)?;
    let mut ctx = Context::new(settings, printer);
    match command {
        Command::Providers => info::providers(&ctx),
        Command::Doctor => info::doctor(&ctx).await,
        Command::Run(args) => jobs::run(&mut ctx, args).await,
        Command::Submit(args) => jobs::submit(&mut ctx, args).await,
        Command::Wait(args) => jobs::wait(&mut ctx, args).await,
        Command::Resume(args) => jobs::resume(&mut ctx, args).await,
        Command::Status { job } => inspect::status(&ctx, &job).await,
        Command::Events(args) => inspect::events(&ctx, args).await,
        Command::List(args) => inspect::list(&ctx, args).await,
        Command::Cancel { job } => manage::cancel(&mut ctx, &job).await,
        Command::Reply(args) => jobs::reply(&mut ctx, args).await,
        Command::Attach(args) => attach::attach(&mut ctx, args).await,
        Command::Libtv(LibtvCommand::SwitchProject) => manage::libtv_switch_project(&ctx).await,
        Command::Models(args) => catalog::models(&ctx, args).await,
        Command::Schema { provider, model } => catalog::schema(&ctx, &provider, &model).await,
        Command::Credits { provider } => catalog::credits(&ctx, &provider).await,
        Command::Preview { job } => manage::preview(&mut ctx, &job).await,
        Command::Download(args) => manage::download(&mut ctx, args).await,
        Command::Upload(args) => manage::upload(&mut ctx, args).await,
        Command::Sandbox(args) => sandbox::serve(&ctx, args).await,
        Command::Serve(args) => serve::serve(&mut ctx, args).await,
        Command::Mcp => serve::mcp(&mut ctx).await,
        Command::Worker(args) => serve::worker(&mut ctx, args).await,
        Command::Ledger(LedgerCommand::Migrate) => ledger::migrate(&ctx).await,
        Command::Ledger(LedgerCommand::Export { out }) => ledger::export(&ctx, out).await,
        Command::Ledger(LedgerCommand::Import { file }) => ledger::import(&ctx, &file).await,
        Command::Media(cmd) => media::run(&ctx, cmd),
        Command::Cost(args) => cost::cost(&ctx, args).await,
        Command::Batch(args) => batch::batch(&mut ctx, args).await,
        Command::Config => config::show(&ctx.settings, &ctx.printer),
        Command::Completions { shell } => config::completions(shell),
    }
}
