//! Entry point: parse the configuration, set up logging, run until a signal.

use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use server::config::{Cli, Command};
use server::{app, healthcheck, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(msg) = cli.config.check() {
        Cli::command()
            .error(ErrorKind::ArgumentConflict, msg)
            .exit();
    }
    if let Some(Command::Healthcheck { url }) = cli.command {
        let url =
            url.unwrap_or_else(|| format!("http://127.0.0.1:{}/ready", cli.config.admin_port));
        let ok = healthcheck::probe(&url, Duration::from_secs(3)).await;
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    telemetry::init(cli.config.log_format);
    match app::run(cli.config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(%err, "cannot start");
            ExitCode::FAILURE
        }
    }
}
