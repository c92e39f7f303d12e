//! toolcallctl: command-line client of toolcalld (the command line and the printing are
//! `toolcall_client::cli`). Results on stdout: for people on a terminal, JSON elsewhere or with
//! `--json`; errors on stderr. Exit codes: 0 success, 1 the service answered with an error, 2 usage or input
//! file error, 3 the bus or service could not be reached, 4 the bus's policy refused the call
//! (on the system bus only root and members of group `toolcall` may call).

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use clap::Parser;
use toolcall_client::cli::{Cli, Command, OptionArgs, Style, ToolsArg};
use toolcall_client::{Bus, CallOptions, Client, Error, RemoteToolset};

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

/// Prints a result JSON in `style`.
fn show(style: Style, json: &str) -> Result<(), Failure> {
    let text = style
        .result_json(json)
        .map_err(|e| Failure::Service(Error::BadReply(e)))?;
    println!("{text}");
    Ok(())
}

fn show_routed(style: Style, json: &str) -> Result<(), Failure> {
    let text = style
        .route_json(json)
        .map_err(|e| Failure::Service(Error::BadReply(e)))?;
    println!("{text}");
    Ok(())
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let bus = match (&cli.address, cli.session) {
        (Some(address), _) => Bus::Address(address.clone()),
        (None, true) => Bus::Session,
        (None, false) => Bus::System,
    };
    let style = Style::choose(cli.json, std::io::stdout().is_terminal());
    let client = Client::connect(&bus).await.map_err(Failure::Unreachable)?;
    match cli.command {
        Command::Call { tools, options, query } => {
            let tools = read_tools(&tools)?;
            let call_options = CallOptions {
                model: options.model.clone(),
                ..options.to_call_options()
            };
            show(style, &client.call_json(&tools, &query, &call_options).await?)?;
        }
        Command::Register {
            tools,
            options,
            queries,
        } => {
            let toolset = register(&client, &read_tools(&tools)?, &options).await?;
            for query in queries {
                show(style, &toolset.call_json(&query, &options.to_call_options()).await?)?;
            }
            toolset.release().await?;
        }
        Command::Session { tools, options } => {
            let toolset = register(&client, &read_tools(&tools)?, &options).await?;
            let session = toolset.open_session().await?;
            for line in std::io::stdin().lock().lines() {
                let line = line.map_err(|e| Failure::Usage(format!("stdin: {e}")))?;
                if line.trim().is_empty() {
                    continue;
                }
                let result = match line.strip_prefix("results:") {
                    Some(results) => {
                        session
                            .submit_tool_results_json(results.trim(), &options.to_options())
                            .await?
                    }
                    None => session.send_json(&line, &options.to_options()).await?,
                };
                show(style, &result)?;
            }
            session.close().await?;
            toolset.release().await?;
        }
        Command::Status => println!("{}", style.status(&client.status().await?)),
        Command::Models => println!("{}", style.models(&client.list_models().await?)),
        Command::ReloadModels => {
            for (model, outcome) in client.reload_models().await? {
                println!("{model}: {outcome}");
            }
        }
        Command::Route(args) => show_routed(style, &client.route_json(&args.query, &args.to_options()).await?)?,
        Command::Dispatch(args) => show_routed(style, &client.dispatch_json(&args.query, &args.to_options()).await?)?,
        Command::Registry => println!("{}", client.published_tools().await?),
    }
    Ok(())
}

/// The toolset of `register` and `session`, on `--model`'s bundle if given.
async fn register(client: &Client, tools: &str, options: &OptionArgs) -> Result<RemoteToolset, Failure> {
    let model = CallOptions {
        model: options.model.clone(),
        ..CallOptions::default()
    };
    Ok(client.register_toolset_with(tools, &model).await?)
}
