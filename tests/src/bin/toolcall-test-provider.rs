//! A provider app for the registry's tests: serves `org.toolcalld.ToolProvider1` at
//! /org/example/Provider, publishes one tool (`play`, a song from an enum) under the prefix it
//! is given, prints `published HANDLE` and serves until killed. How it carries out `play` is its
//! mode: `ok` answers `{"tool", "played": SONG, "for": the caller option}`, `hang` never answers, `die` exits mid-invoke, `fail`
//! answers the D-Bus error `org.example.Error.Jammed`. A refused Publish is printed as
//! `refused ERROR` and the exit status is 2. Each Invoke is printed as `invoked NAME` first.
//!
//!     toolcall-test-provider ADDRESS PREFIX MODE

use std::collections::HashMap;
use std::io::Write;

use toolcall_dbus::{CallOptions, RegistryProxy};
use zbus::{OwnedVariant, interface};

const TOOLS: &str = r#"[{"name": "play", "description": "Play a song.", "parameters": {"type": "object",
  "properties": {"song": {"type": "string", "enum": ["jazz", "rock"]}}, "required": ["song"]}}]"#;
const PATH: &str = "/org/example/Provider";

#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.example.Error")]
enum ProviderError {
    #[zbus(error)]
    ZBus(zbus::Error),
    Jammed(String),
}

struct Provider {
    mode: String,
}

#[interface(name = "org.toolcalld.ToolProvider1")]
impl Provider {
    async fn invoke(
        &self,
        name: String,
        arguments_json: String,
        options: HashMap<String, OwnedVariant>,
    ) -> Result<String, ProviderError> {
        let caller = options
            .get("caller")
            .and_then(|c| c.downcast_ref::<String>().ok())
            .unwrap_or_default();
        let arguments: serde_json::Value = serde_json::from_str(&arguments_json).expect("arguments are JSON");
        println!("invoked {name}");
        std::io::stdout().flush().expect("stdout");
        match self.mode.as_str() {
            "hang" => std::future::pending().await,
            "die" => std::process::exit(3),
            "fail" => Err(ProviderError::Jammed("the player is jammed".into())),
            _ => Ok(serde_json::json!({"tool": name, "played": arguments["song"], "for": caller}).to_string()),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, address, prefix, mode] = args.as_slice() else {
        eprintln!("usage: toolcall-test-provider ADDRESS PREFIX MODE");
        std::process::exit(64);
    };
    let connection = zbus::connection::Builder::address(address.as_str())
        .serve_at(PATH, Provider { mode: mode.clone() })
        .build()
        .await
        .expect("connect to the bus");
    let registry = RegistryProxy::new(&connection).await.expect("registry proxy");
    let options = CallOptions {
        prefix: Some(prefix.clone()),
        ..CallOptions::default()
    };
    let path = zbus::ObjectPath::try_from(PATH).expect("valid path");
    match registry.publish(TOOLS, &path, options.to_wire()).await {
        Ok(handle) => println!("published {handle}"),
        Err(e) => {
            println!("refused {e}");
            std::process::exit(2);
        }
    }
    std::io::stdout().flush().expect("stdout");
    std::future::pending::<()>().await;
}
