//! The `flext-quality` command: serve | worker | analyze | migrate | replay | tools.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use flext_quality::config::{variables_help, AnalysisSettings, LogFormat, Settings};
use std::path::PathBuf;
use std::process::ExitCode;

const SERVER_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "GITHUB_APP_ID",
    "GITHUB_PRIVATE_KEY",
    "GITHUB_PRIVATE_KEY_PATH",
    "GITHUB_WEBHOOK_SECRET",
    "GITHUB_API_URL",
    "PORT",
    "PUBLIC_URL",
    "FLEXT_QUALITY_DATA_DIR",
    "FLEXT_QUALITY_TOOLS_DIR",
    "FLEXT_QUALITY_SANDBOX",
    "FLEXT_QUALITY_ANALYSIS_TIMEOUT_SECS",
    "FLEXT_QUALITY_ANALYSIS_CORES",
    "FLEXT_QUALITY_JOB_DEADLINE_SECS",
    "FLEXT_QUALITY_MAX_FINDINGS_PER_BACKEND",
    "FLEXT_QUALITY_MAX_TREE_BYTES",
    "FLEXT_QUALITY_MAX_TREE_ENTRIES",
    "FLEXT_QUALITY_MAX_ATTEMPTS",
    "FLEXT_QUALITY_LEASE_SECS",
    "FLEXT_QUALITY_MAX_ANNOTATIONS",
    "FLEXT_QUALITY_POLICY_FILE",
    "FLEXT_QUALITY_SARIF_TOOLS",
    "FLEXT_QUALITY_EVENT_HOOKS",
    "RUST_LOG",
    "LOG_FORMAT",
];

const ANALYZE_VARIABLES: &[&str] = &[
    "FLEXT_QUALITY_TOOLS_DIR",
    "FLEXT_QUALITY_DATA_DIR",
    "FLEXT_QUALITY_SANDBOX",
    "FLEXT_QUALITY_ANALYSIS_TIMEOUT_SECS",
    "FLEXT_QUALITY_ANALYSIS_CORES",
    "FLEXT_QUALITY_MAX_FINDINGS_PER_BACKEND",
    "FLEXT_QUALITY_POLICY_FILE",
    "FLEXT_QUALITY_SARIF_TOOLS",
];

#[derive(Parser)]
#[command(
    name = "flext-quality",
    version,
    about = "Code quality for every repository of an organisation: a self-hosted GitHub App that \
             analyses pull requests and pushes, and the same engine for local checkouts.",
    after_help = "Settings come from the environment; a .env file in the working directory is read if present. \
                  Each command's --help lists the variables it reads."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// HTTP server (webhooks, health checks) plus in-process workers. On a first start it
    /// creates the SQLite database and installs the pinned analysis tools (about a minute).
    #[command(after_help = variables_help(SERVER_VARIABLES))]
    Serve {
        /// Number of in-process workers (each runs one job at a time).
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Run no workers here (run `flext-quality worker` elsewhere, on the same database).
        #[arg(long)]
        no_workers: bool,
    },
    /// Workers only, to scale out on other machines sharing the database.
    #[command(after_help = variables_help(SERVER_VARIABLES))]
    Worker {
        /// Number of workers (each runs one job at a time).
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
    /// Analyse a local checkout: no GitHub, no database. Exit 0 when the gate passes (or there
    /// is nothing to analyse), 1 when it fails, 2 on a usage or configuration error or when a
    /// backend failed.
    #[command(name = "analyze", after_help = variables_help(ANALYZE_VARIABLES))]
    Analyse {
        /// The directory to analyse.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Report new and fixed findings against this revision of the same git repository
        /// (a branch, tag or commit; the working directory is compared with it).
        #[arg(long)]
        base: Option<String>,
        /// Output format: text (grouped by file), json, sarif (SARIF 2.1.0) or markdown.
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
        /// Do not install missing analysis tools; say which command would.
        #[arg(long)]
        no_install: bool,
        /// With --base, list every open finding, not only the new and fixed ones.
        #[arg(long)]
        all: bool,
    },
    /// Apply the database migrations and exit (`serve` and `worker` also apply them at start).
    #[command(after_help = variables_help(&["DATABASE_URL", "FLEXT_QUALITY_DATA_DIR"]))]
    Migrate,
    /// Sign a webhook payload with GITHUB_WEBHOOK_SECRET and POST it, to try a local server.
    #[command(after_help = variables_help(&["GITHUB_WEBHOOK_SECRET", "PORT"]))]
    Replay {
        /// The JSON payload to send (for example one of GitHub's webhook examples).
        file: PathBuf,
        /// The event name, sent as X-GitHub-Event (`pull_request`, `push`, …).
        #[arg(long)]
        event: String,
        /// Where to POST it; default http://127.0.0.1:$PORT/webhooks/github.
        #[arg(long)]
        url: Option<String>,
    },
    /// Manage the pinned analysis tools.
    Tools {
        #[command(subcommand)]
        action: ToolsAction,
    },
    /// Settings of one project (a repository the App is installed on).
    Project {
        #[command(subcommand)]
        action: ProjectAction,
    },
    /// Print a new one-time link that signs the local admin in to the dashboard (for servers
    /// without GitHub sign-in; works once, for 24 hours).
    #[command(name = "sign-in-link", after_help = variables_help(&["DATABASE_URL", "PUBLIC_URL", "PORT", "FLEXT_QUALITY_DATA_DIR"]))]
    SignInLink,
    /// API keys for scripts (`Authorization: Bearer …`).
    #[command(name = "api-key")]
    ApiKey {
        #[command(subcommand)]
        action: ApiKeyAction,
    },
}

#[derive(Subcommand)]
enum ApiKeyAction {
    /// Create a key and print it (shown this once; only its hash is stored).
    #[command(after_help = variables_help(&["DATABASE_URL", "FLEXT_QUALITY_DATA_DIR"]))]
    Create {
        /// What the key is for (shown in the list and the audit log).
        #[arg(long)]
        name: String,
        /// viewer (read), maintainer (also trigger analyses, project settings) or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// List the keys (never the keys themselves).
    #[command(after_help = variables_help(&["DATABASE_URL", "FLEXT_QUALITY_DATA_DIR"]))]
    List,
    /// Revoke a key by its id.
    #[command(after_help = variables_help(&["DATABASE_URL", "FLEXT_QUALITY_DATA_DIR"]))]
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum ProjectAction {
    /// Send this project's state-change alerts to its own Slack incoming webhook instead of
    /// SLACK_WEBHOOK_URL. The URL is stored sealed with FLEXT_QUALITY_SECRET_KEY.
    #[command(after_help = variables_help(&["DATABASE_URL", "FLEXT_QUALITY_SECRET_KEY", "FLEXT_QUALITY_DATA_DIR"]))]
    SetSlack {
        /// The repository, `OWNER/NAME`.
        repo: String,
        /// The incoming-webhook URL; `-` reads it from standard input (keeps it out of the
        /// shell history). Leave it out with --clear.
        url: Option<String>,
        /// Remove the project's own destination (alerts go to SLACK_WEBHOOK_URL again).
        #[arg(long, conflicts_with = "url")]
        clear: bool,
    },
}

#[derive(Subcommand)]
enum ToolsAction {
    /// Install the pinned tools (tools/requirements.txt) into `<tools dir>/venv`, shared by
    /// `serve`, `worker` and `analyze`. Does nothing when they are already there.
    #[command(after_help = variables_help(&["FLEXT_QUALITY_TOOLS_DIR"]))]
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
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let traces = flext_quality::telemetry::layer(
        std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty()),
        std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "flext-quality".into()),
    );
    // Colour codes only where a person reads them: not in files, pipes or log collectors.
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter).with(traces);
    match format {
        // Each line carries its spans' fields: the trace and span ids among them.
        LogFormat::Json => registry.with(fmt.json()).init(),
        LogFormat::Pretty => registry.with(fmt).init(),
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
        "SLACK_WEBHOOK_URL",
        "FLEXT_QUALITY_SECRET_KEY",
        "FLEXT_QUALITY_EVENT_HOOKS",
        "FLEXT_QUALITY_SESSION_KEY",
        "FLEXT_QUALITY_METRICS_TOKEN",
        "GITHUB_CLIENT_SECRET",
    ] {
        std::env::remove_var(secret);
    }
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
    // The trace exporter's task runs on the runtime.
    let _entered = runtime.enter();
    init_logging(
        settings
            .as_ref()
            .map_or(LogFormat::Pretty, |s| s.log_format),
    );
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
            install_tools(&analysis).await?;
        }
        Command::Project {
            action: ProjectAction::SetSlack { repo, url, clear },
        } => {
            let url = match (url.as_deref(), clear) {
                (_, true) => None,
                (Some("-"), _) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    Some(line.trim().to_owned())
                }
                (Some(u), _) => Some(u.to_owned()),
                (None, false) => {
                    eprintln!("error: give the webhook URL (or `-` to read it), or --clear");
                    return Ok(ExitCode::from(2));
                }
            };
            let url = url.map(secrecy::SecretString::from);
            match server::set_project_slack(&server_settings()?, &repo, url).await {
                Ok(message) => println!("{message}"),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
        Command::SignInLink => println!("{}", server::sign_in_link(&server_settings()?).await?),
        Command::ApiKey { action } => {
            let settings = server_settings()?;
            let store = server::open_store(&settings).await?;
            // Changes made from the command line are audited as the machine's operator.
            let actor = format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "operator".into())
            );
            match action {
                ApiKeyAction::Create { name, role } => {
                    let Ok(role) = role.parse::<flext_quality::domain::status::Role>() else {
                        eprintln!(
                            "error: --role must be viewer, maintainer or admin, not `{role}`"
                        );
                        return Ok(ExitCode::from(2));
                    };
                    let (key, secret) = store.create_api_key(&actor, &name, role).await?;
                    eprintln!(
                        "API key {} created ({}, id {}); it is shown only now:",
                        key.name, key.role, key.id
                    );
                    println!("{secret}");
                }
                ApiKeyAction::List => {
                    for k in store.list_api_keys().await? {
                        let state = if k.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        };
                        println!("{}\t{}\t{}\t{}…\t{state}", k.id, k.name, k.role, k.prefix);
                    }
                }
                ApiKeyAction::Revoke { id } => {
                    if !store.revoke_api_key(&actor, id).await? {
                        eprintln!("error: no active API key with id {id}");
                        return Ok(ExitCode::from(2));
                    }
                    println!("API key {id} revoked");
                }
            }
            store.close().await;
        }
        Command::Analyse {
            path,
            base,
            format,
            config,
            sarif,
            sandbox,
            no_install,
            all,
        } => {
            let options = flext_quality::local::LocalOptions {
                path,
                base,
                format: match format {
                    Format::Text => flext_quality::local::Format::Text,
                    Format::Json => flext_quality::local::Format::Json,
                    Format::Sarif => flext_quality::local::Format::Sarif,
                    Format::Markdown => flext_quality::local::Format::Markdown,
                },
                config,
                sarif,
                all,
            };
            return analyse(&analysis, options, sandbox, no_install).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn install_tools(analysis: &AnalysisSettings) -> Result<()> {
    let dir = analysis.tools_dir.clone();
    if flext_quality::tools::is_installed(&dir) {
        println!(
            "analysis tools already installed in {}",
            dir.join("venv").display()
        );
        return Ok(());
    }
    eprintln!(
        "installing the pinned analysis tools into {} (the first time takes about a minute)…",
        dir.join("venv").display()
    );
    tokio::task::spawn_blocking(move || flext_quality::tools::install(&dir))
        .await
        .context("install task")??;
    println!(
        "analysis tools installed in {}",
        analysis.tools_dir.join("venv").display()
    );
    Ok(())
}

async fn analyse(
    analysis: &AnalysisSettings,
    options: flext_quality::local::LocalOptions,
    sandbox: Sandbox,
    no_install: bool,
) -> Result<ExitCode> {
    use flext_quality::analysis::jail::{JailState, SandboxSetting};
    use flext_quality::local::{analyse_local, check_options, describe_error};
    // Everything the user typed is checked before any tool runs.
    if let Err(e) = check_options(&options) {
        eprintln!("error: {}", describe_error(&e));
        return Ok(ExitCode::from(2));
    }
    if !flext_quality::tools::is_installed(&analysis.tools_dir) {
        if no_install {
            eprintln!(
                "error: the analysis tools are not installed in {}; run `flext-quality tools install` (or drop --no-install)",
                analysis.tools_dir.join("venv").display()
            );
            return Ok(ExitCode::from(2));
        }
        install_tools(analysis).await?;
    }
    let sandbox = match (sandbox, analysis.sandbox) {
        (_, SandboxSetting::Off) | (Sandbox::Off, _) => SandboxSetting::Off,
        (Sandbox::Required, _) => SandboxSetting::Required,
        (Sandbox::Auto, _) => SandboxSetting::Auto,
    };
    let root = options.path.canonicalize().unwrap_or(options.path.clone());
    let engine = flext_quality::local::local_engine(analysis, sandbox, &root).await;
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
    Ok(
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
    )
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
