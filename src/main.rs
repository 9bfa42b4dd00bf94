//! The `flext-quality` command: serve | worker | analyze | migrate | replay | tools.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use flext_quality::config::{AnalysisSettings, LogFormat, Settings};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "flext-quality",
    version,
    about = "Code quality for every repository of an organisation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// HTTP server plus in-process workers.
    Serve {
        /// Number of in-process workers.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Run no workers here (use `flext-quality worker` elsewhere).
        #[arg(long)]
        no_workers: bool,
    },
    /// Workers only, for scaling out.
    Worker {
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
    /// Analyse a local checkout: no GitHub, no database. Exit 0 when the gate passes, 1 when
    /// it fails, 2 on usage, configuration or backend errors.
    #[command(name = "analyze")]
    Analyse {
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Report new and fixed findings against this revision of the same repository.
        #[arg(long)]
        base: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// A config file to use instead of the tree's `.flext-quality.toml` / `pyproject.toml`.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Import findings from a SARIF report made by another tool (repeatable).
        #[arg(long)]
        sarif: Vec<PathBuf>,
        /// Run the tools in the bubblewrap jail: `auto` uses it when it works here and warns
        /// when it does not (you are analysing your own code), `required` refuses to run
        /// without it, `off` never uses it.
        #[arg(long, value_enum, default_value_t = Sandbox::Auto)]
        sandbox: Sandbox,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Sign a webhook payload with the configured secret and POST it to a server.
    Replay {
        file: PathBuf,
        #[arg(long)]
        event: String,
        #[arg(long)]
        url: Option<String>,
    },
    /// Manage the pinned analysis tools.
    Tools {
        #[command(subcommand)]
        action: ToolsAction,
    },
}

#[derive(Subcommand)]
enum ToolsAction {
    /// Install the pinned tools into a virtual environment in the data dir.
    Install,
}

#[derive(Clone, Copy, ValueEnum)]
enum Sandbox {
    Auto,
    Required,
    Off,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
    Markdown,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only where a person reads them: not in files, pipes or log collectors.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

fn main() -> ExitCode {
    flext_quality::server::harden_process();
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let settings = match &cli.command {
        // `analyze` and `tools` read only the analysis settings: a server setting they do not
        // use cannot stop them.
        Command::Analyse { .. } | Command::Tools { .. } => None,
        _ => match Settings::from_env() {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        },
    };
    let analysis = match &settings {
        Some(s) => Ok(s.analysis.clone()),
        None => AnalysisSettings::from_env(),
    };
    let analysis = match analysis {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    // The settings hold the secrets now; nothing started from here (pip, git, tools) needs
    // them in its environment. Still single-threaded, so changing the environment is sound.
    for secret in [
        "GITHUB_PRIVATE_KEY",
        "GITHUB_WEBHOOK_SECRET",
        "DATABASE_URL",
    ] {
        std::env::remove_var(secret);
    }
    init_logging(
        settings
            .as_ref()
            .map_or(LogFormat::Pretty, |s| s.log_format),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(run(cli.command, settings, analysis));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(
    command: Command,
    settings: Option<Settings>,
    analysis: AnalysisSettings,
) -> Result<ExitCode> {
    use flext_quality::server;
    let server_settings = || settings.clone().context("server settings were not read");
    match command {
        Command::Serve {
            workers,
            no_workers,
        } => {
            server::serve(server_settings()?, if no_workers { 0 } else { workers }).await?;
        }
        Command::Worker { workers } => server::worker(server_settings()?, workers).await?,
        Command::Migrate => {
            let settings = server_settings()?;
            let store = server::open_store(&settings).await?;
            store.close().await;
            println!("migrations applied ({})", settings.database_kind());
        }
        Command::Replay { file, event, url } => {
            return replay(&server_settings()?, &file, &event, url).await;
        }
        Command::Tools {
            action: ToolsAction::Install,
        } => {
            let dir = analysis.tools_dir.clone();
            tokio::task::spawn_blocking(move || flext_quality::tools::install(&dir))
                .await
                .context("install task")??;
            println!(
                "analysis tools installed in {}",
                analysis.tools_dir.join("venv").display()
            );
        }
        Command::Analyse {
            path,
            base,
            format,
            config,
            sarif,
            sandbox,
        } => {
            use flext_quality::analysis::jail::{JailState, SandboxSetting};
            use flext_quality::local::{analyse_local, describe_error, Format as F, LocalOptions};
            let options = LocalOptions {
                path,
                base,
                format: match format {
                    Format::Text => F::Text,
                    Format::Json => F::Json,
                    Format::Sarif => F::Sarif,
                    Format::Markdown => F::Markdown,
                },
                config,
                sarif,
            };
            let sandbox = match (sandbox, analysis.sandbox) {
                (_, SandboxSetting::Off) | (Sandbox::Off, _) => SandboxSetting::Off,
                (Sandbox::Required, _) => SandboxSetting::Required,
                (Sandbox::Auto, _) => SandboxSetting::Auto,
            };
            let root = options.path.canonicalize().unwrap_or(options.path.clone());
            let engine = flext_quality::local::local_engine(&analysis, sandbox, &root).await;
            match engine.jail.state() {
                JailState::Unjailed(why) => eprintln!(
                    "warning: the tools run without the bubblewrap jail ({why}); pass --sandbox required to refuse that"
                ),
                JailState::Unavailable(why) => {
                    eprintln!("error: --sandbox required, but the jail cannot be made here: {why}");
                    return Ok(ExitCode::from(2));
                }
                _ => {}
            }
            return Ok(
                match analyse_local(&engine, &analysis.policy.gate, &options).await {
                    Ok((text, code)) => {
                        println!("{text}");
                        ExitCode::from(code)
                    }
                    Err(e) => {
                        eprintln!("error: {}", describe_error(&e));
                        ExitCode::from(2)
                    }
                },
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn replay(
    settings: &Settings,
    file: &PathBuf,
    event: &str,
    url: Option<String>,
) -> Result<ExitCode> {
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let secret = settings
        .github
        .webhook_secrets
        .first()
        .context("GITHUB_WEBHOOK_SECRET is not set; replay signs with it")?;
    let signature = flext_quality::github::signature::sign(secret, &body);
    let mut id = [0u8; 16];
    openssl::rand::rand_bytes(&mut id)?;
    let delivery: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let url = url.unwrap_or_else(|| format!("http://127.0.0.1:{}/webhooks/github", settings.port));
    let response = reqwest::Client::new()
        .post(&url)
        .header("Content-Type", "application/json")
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", &delivery)
        .header("X-Hub-Signature-256", signature)
        .body(body)
        .send()
        .await
        .with_context(|| format!("posting to {url}"))?;
    let status = response.status();
    println!(
        "{} {}",
        status.as_u16(),
        response.text().await.unwrap_or_default().trim()
    );
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
