//! A media player app that offers its controls to the system's assistant through toolcalld's
//! tool registry, in Rust: it serves `org.toolcalld.ToolProvider1` on its own connection,
//! publishes the tools of examples/tools/media.json under a prefix ("media": media.play,
//! media.pause, media.set_volume) and carries out the calls toolcalld routes to it. Its tools
//! go when it exits.
//!
//!     cargo run --example media_provider -- [--address ADDR | --system] [--prefix media]
//!
//! Then, from the assistant (or a shell): `toolcallctl dispatch "pause the music"`.
//! Prints `published PUBLICATION` once published, then one JSON line per call it carries out;
//! exits 1 if the service refuses the publication (say, another app holds the prefix).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};
use toolcall_client::{Bus, Client};
use zbus::{OwnedVariant, interface};

const TOOLS: &str = include_str!("../../examples/tools/media.json");
const PATH: &str = "/org/example/MediaPlayer";

/// The player's state: what plays, how loud.
struct Player {
    state: Mutex<(Option<String>, i64)>,
}

#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.toolcalld.ToolProvider1.Error")]
enum ProviderError {
    #[zbus(error)]
    ZBus(zbus::Error),
    UnknownTool(String),
}

#[interface(name = "org.toolcalld.ToolProvider1")]
impl Player {
    /// One routed call: `arguments_json` as the tool's schema has it; the option `caller` is
    /// the bus name of the assistant that asked.
    async fn invoke(
        &self,
        name: String,
        arguments_json: String,
        options: HashMap<String, OwnedVariant>,
    ) -> Result<String, ProviderError> {
        let arguments: Value = serde_json::from_str(&arguments_json).unwrap_or_default();
        let caller = options
            .get("caller")
            .and_then(|c| c.downcast_ref::<String>().ok())
            .unwrap_or_default();
        let mut state = self.state.lock().expect("player lock");
        match name.as_str() {
            "play" => state.0 = arguments["what"].as_str().map(str::to_string),
            "pause" => state.0 = None,
            "set_volume" => state.1 = arguments["level"].as_i64().unwrap_or(state.1),
            other => return Err(ProviderError::UnknownTool(format!("no tool {other:?}"))),
        }
        let report = json!({"tool": name, "playing": state.0, "volume": state.1, "for": caller});
        println!("{report}");
        Ok(report.to_string())
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut bus, mut prefix) = (Bus::Session, "media".to_string());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--address" => bus = Bus::Address(args.next().expect("--address ADDR")),
            "--system" => bus = Bus::System,
            "--prefix" => prefix = args.next().expect("--prefix PREFIX"),
            other => {
                eprintln!("media_provider: unknown argument {other:?}");
                std::process::exit(64);
            }
        }
    }
    let client = Client::connect(&bus).await.unwrap_or_else(|e| {
        eprintln!("media_provider: {e}");
        std::process::exit(1)
    });
    let player = Player {
        state: Mutex::new((None, 50)),
    };
    client
        .connection()
        .object_server()
        .at(PATH, player)
        .await
        .expect("serve the provider object");
    match client.publish(TOOLS, PATH, &prefix).await {
        Ok(publication) => println!("published {publication}"),
        Err(e) => {
            eprintln!("media_provider: {e}");
            std::process::exit(1);
        }
    }
    tokio::signal::ctrl_c().await.expect("wait for Ctrl-C");
}
