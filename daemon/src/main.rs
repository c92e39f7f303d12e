//! toolcalld: serves org.toolcalld.ToolCall1 on D-Bus.
//!
//! Start-up order: configuration -> logging -> models (a missing or corrupt default bundle is a clear
//! startup failure) -> worker pool -> objects served -> bus name requested -> READY=1.
//! SIGTERM/SIGINT: stop taking requests, let in-flight ones finish within the grace period,
//! exit 0. SIGHUP: re-read the configuration's reloadable keys and the bundles. With `WatchdogSec=`, WATCHDOG=1
//! is sent only while every worker is alive.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use toolcall_dbus::BUS_NAME;
use toolcalld::{Cli, Escalator, Models, Overrides, Service, Settings};

fn main() -> ExitCode {
    toolcall_engine::memory::bound_heap_growth();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e:#}");
            eprintln!("toolcalld: {e:#}");
            let _ = sd_notify::notify(&[NotifyState::Status(&format!("failed: {e:#}"))]);
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let overrides = Overrides {
        config_file: cli.config,
        bus: cli.bus,
        model_dir: cli.model,
        models_dir: cli.models_dir,
    };
    let settings = Settings::load(&overrides, std::env::vars().collect()).map_err(anyhow::Error::msg)?;
    init_logging(&settings.log_level);
    log::info!(
        "toolcalld {} loading model bundles (model_dir {}, models_dir {:?}, default_model {:?})",
        env!("CARGO_PKG_VERSION"),
        settings.model_dir.display(),
        settings.models_dir,
        settings.default_model
    );
    let _ = sd_notify::notify(&[NotifyState::Status("loading model")]);
    toolcall_engine::set_threads(settings.threads);
    // Before the models: a bad setting fails at once, not after seconds of loading.
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    let escalation = Escalator::open(&settings, credentials.as_deref()).map_err(anyhow::Error::msg)?;
    if let Some(escalator) = &escalation {
        log::info!(
            "unsure answers escalate to {} (threshold {})",
            escalator.name(),
            settings.escalation_threshold
        );
    }
    let retriever = settings.retriever().map_err(anyhow::Error::msg)?;
    let models = Models::open(&settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(serve((models, retriever, escalation), settings, overrides))
}

/// The journal when stderr is connected to it, else stderr; either way without the HTTP
/// client's records below warnings ([`WithoutHttpWire`]).
fn init_logging(level: &str) {
    let level: log::LevelFilter = level.parse().unwrap_or(log::LevelFilter::Info);
    let journal = std::env::var_os("JOURNAL_STREAM").is_some() && systemd_journal_logger::connected_to_journal();
    let logger: Box<dyn log::Log> = match systemd_journal_logger::JournalLog::new() {
        Ok(j) if journal => Box::new(j.with_syslog_identifier("toolcalld".into())),
        _ => Box::new(
            env_logger::Builder::new()
                .filter_level(level)
                .format_timestamp_millis()
                .build(),
        ),
    };
    let _ = log::set_logger(Box::leak(Box::new(WithoutHttpWire(logger))));
    log::set_max_level(level);
}

/// Leaves out the debug and trace records of escalation's HTTP client and its TLS: at trace,
/// ureq dumps each request's head, the `Authorization` header (the API key) included.
struct WithoutHttpWire(Box<dyn log::Log>);

impl WithoutHttpWire {
    fn is_wire(metadata: &log::Metadata) -> bool {
        let crate_name = metadata.target().split("::").next().unwrap_or_default();
        metadata.level() > log::Level::Warn && matches!(crate_name, "ureq" | "ureq_proto" | "rustls")
    }
}

impl log::Log for WithoutHttpWire {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        !Self::is_wire(metadata) && self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record) {
        if !Self::is_wire(record.metadata()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

async fn serve(
    (models, retriever, escalation): (Models, toolcall_engine::retrieval::Retriever, Option<Escalator>),
    settings: Settings,
    overrides: Overrides,
) -> anyhow::Result<()> {
    let builder = match settings.bus.as_str() {
        "system" => zbus::connection::Builder::system(),
        "session" => zbus::connection::Builder::session(),
        address => zbus::connection::Builder::address(address),
    };
    let connection = builder
        .build()
        .await
        .with_context(|| format!("connecting to the {} bus", settings.bus))?;
    let service = Service::start((models, retriever), escalation, settings.clone());
    service.serve_bus(&connection).await.context("serving the objects")?;

    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let flags = zbus::fdo::RequestNameFlags::DO_NOT_QUEUE;
    match connection.request_name_with_flags(BUS_NAME, flags).await {
        Ok(zbus::fdo::RequestNameReply::PrimaryOwner) => {}
        Ok(reply) => bail!("cannot own {BUS_NAME}: {reply:?} (is another toolcalld running?)"),
        Err(e) => bail!("cannot own {BUS_NAME}: {e}"),
    }
    log::info!("serving {BUS_NAME} on the {} bus", settings.bus);
    let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status("ready")]);

    let watchdog = sd_notify::watchdog_enabled();
    let mut tick = tokio::time::interval(watchdog.map_or(Duration::from_secs(5), |w| w / 3));
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => {
                let _ = sd_notify::notify(&[NotifyState::Reloading]);
                // The bundles are read again off this loop (the watchdog and signals go on);
                // READY=1 once that is done.
                match Settings::load(&overrides, std::env::vars().collect()) {
                    Ok(new) => {
                        let models = service.reload(new);
                        tokio::spawn(async move {
                            let _ = models.await;
                            log::info!("configuration reloaded");
                            let _ = sd_notify::notify(&[NotifyState::Ready]);
                        });
                    }
                    Err(e) => {
                        log::warn!("configuration not reloaded: {e}");
                        let _ = sd_notify::notify(&[NotifyState::Ready]);
                    }
                }
            }
            _ = tick.tick() => {
                service.tick();
                let status = format!("ready; {} request(s) queued or running", service.depth());
                if watchdog.is_some() && service.healthy() {
                    let _ = sd_notify::notify(&[NotifyState::Watchdog, NotifyState::Status(&status)]);
                } else {
                    let _ = sd_notify::notify(&[NotifyState::Status(&status)]);
                }
            }
        }
    }

    log::info!("stopping: finishing in-flight requests");
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
    if !service.shutdown().await {
        log::warn!("grace period over with requests still running");
    }
    let _ = connection.release_name(BUS_NAME).await;
    log::info!("stopped");
    Ok(())
}
