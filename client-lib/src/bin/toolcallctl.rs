//! toolcallctl: command-line client of toolcalld. JSON results on stdout, human errors on
//! stderr. Exit codes: 0 success, 1 the service answered with an error, 2 usage or input
//! file error, 3 the bus or service could not be reached, 4 the bus's policy refused the call
//! (on the system bus only root and members of group `toolcall` may call).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use toolcall_client::{Bus, CallOptions, Client, Error};

#[derive(Parser)]
#[command(version, about = "Command-line client of toolcalld (org.toolcalld.ToolCall1)")]
struct Cli {
    /// Use the session bus.
    #[arg(long, global = true, conflicts_with_all = ["system", "address"])]
    session: bool,
    /// Use the system bus (the default).
    #[arg(long, global = true, conflicts_with = "address")]
    system: bool,
    /// Use the bus at this D-Bus address (unix:path=...).
    #[arg(long, global = true)]
    address: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One-shot call: prints the result JSON.
    Call {
        #[command(flatten)]
        tools: ToolsArg,
        #[command(flatten)]
        options: OptionArgs,
        /// The request, e.g. "dim the kitchen to 30".
        query: String,
    },
    /// Registers the tools once and runs each query on the registered toolset (one JSON line each).
    Register {
        #[command(flatten)]
        tools: ToolsArg,
        #[command(flatten)]
        options: OptionArgs,
        /// Queries to run on the toolset.
        queries: Vec<String>,
    },
    /// Multi-turn session: reads turns from stdin, one per line. A line `results: JSON`
    /// submits tool results; any other line is a user turn. One JSON line out per turn.
    Session {
        #[command(flatten)]
        tools: ToolsArg,
        #[command(flatten)]
        options: OptionArgs,
    },
    /// Service version, model and queue depth as JSON.
    Status,
}

#[derive(Args)]
struct ToolsArg {
    /// JSON file with the tool list ([{"name", "description", "parameters"}]); - for stdin.
    #[arg(long, short)]
    tools: PathBuf,
}

#[derive(Args)]
struct OptionArgs {
    /// Most calls in one answer.
    #[arg(long)]
    max_calls: Option<u32>,
    /// Require at least one call (no empty answer).
    #[arg(long)]
    require_call: bool,
    /// Most generated tokens.
    #[arg(long)]
    max_new_tokens: Option<u32>,
    /// Deadline in milliseconds.
    #[arg(long)]
    timeout_ms: Option<u32>,
    /// Facts for the model, e.g. "date: 2026-11-26; areas: kitchen, bedroom".
    #[arg(long)]
    facts: Option<String>,
    /// How much more (in logits) the model must prefer another call than ending the answer.
    #[arg(long)]
    call_margin: Option<f64>,
}

impl OptionArgs {
    fn to_options(&self) -> CallOptions {
        CallOptions {
            max_calls: self.max_calls,
            allow_empty: self.require_call.then_some(false),
            max_new_tokens: self.max_new_tokens,
            timeout_ms: self.timeout_ms,
            facts: self.facts.clone(),
            call_margin: self.call_margin,
            // toolcallctl makes one request at a time on its own connection: Ctrl-C (leaving
            // the bus) is its cancel.
            request_id: None,
        }
    }
}

enum Failure {
    Usage(String),
    Service(Error),
    Unreachable(Error),
    /// The bus refused the call (policy), before the service saw it.
    Denied(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Service { ref kind, .. } if matches!(kind, toolcall_client::ErrorKind::Other(n) if n == "org.freedesktop.DBus.Error.AccessDenied") => {
                Failure::Denied(e)
            }
            Error::Service { ref kind, .. } if matches!(kind, toolcall_client::ErrorKind::Other(n) if n.starts_with("org.freedesktop.DBus.Error")) => {
                Failure::Unreachable(e)
            }
            Error::Service { .. } | Error::BadReply(_) => Failure::Service(e),
            Error::Bus(_) => Failure::Unreachable(e),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("toolcallctl: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Service(e)) => {
            eprintln!("toolcallctl: {e}");
            ExitCode::from(1)
        }
        Err(Failure::Unreachable(e)) => {
            eprintln!("toolcallctl: cannot reach toolcalld: {e}");
            ExitCode::from(3)
        }
        Err(Failure::Denied(e)) => {
            eprintln!(
                "toolcallctl: permission denied by the bus policy: {e}\n\
                 (on the system bus only root and members of group toolcall may call toolcalld)"
            );
            ExitCode::from(4)
        }
    }
}

fn read_tools(arg: &ToolsArg) -> Result<String, Failure> {
    let text = if arg.tools.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| Failure::Usage(format!("stdin: {e}")))?
    } else {
        std::fs::read_to_string(&arg.tools).map_err(|e| Failure::Usage(format!("{}: {e}", arg.tools.display())))?
    };
    Ok(text)
}

fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string(value).expect("serialise"));
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let bus = match (&cli.address, cli.session) {
        (Some(address), _) => Bus::Address(address.clone()),
        (None, true) => Bus::Session,
        (None, false) => Bus::System,
    };
    let client = Client::connect(&bus).await.map_err(Failure::Unreachable)?;
    match cli.command {
        Command::Call { tools, options, query } => {
            let tools = read_tools(&tools)?;
            print_json(&client.call(&tools, &query, &options.to_options()).await?);
        }
        Command::Register {
            tools,
            options,
            queries,
        } => {
            let toolset = client.register_toolset(&read_tools(&tools)?).await?;
            for query in queries {
                print_json(&toolset.call(&query, &options.to_options()).await?);
            }
            toolset.release().await?;
        }
        Command::Session { tools, options } => {
            let toolset = client.register_toolset(&read_tools(&tools)?).await?;
            let session = toolset.open_session().await?;
            for line in std::io::stdin().lock().lines() {
                let line = line.map_err(|e| Failure::Usage(format!("stdin: {e}")))?;
                if line.trim().is_empty() {
                    continue;
                }
                let result = match line.strip_prefix("results:") {
                    Some(results) => {
                        session
                            .submit_tool_results(results.trim(), &options.to_options())
                            .await?
                    }
                    None => session.send(&line, &options.to_options()).await?,
                };
                print_json(&result);
            }
            session.close().await?;
            toolset.release().await?;
        }
        Command::Status => print_json(&client.status().await?),
    }
    Ok(())
}
