//! toolcalld's service run inside the test process (`toolcalld::Service`), each client on a
//! peer-to-peer D-Bus connection over a `UnixStream::pair()`: the end-to-end suite without a
//! bus daemon or a process start, as zbus tests its own services.

use std::collections::HashMap;
use std::sync::Mutex;

use toolcall_client::Client;
use toolcalld::{Models, Overrides, Service, Settings};

use crate::suite::Connect;
use crate::{TempDir, bundle};

pub struct InProcess {
    service: Service,
    /// The service's side of each peer connection, kept open for the test's length.
    peers: Mutex<Vec<zbus::Connection>>,
    _dir: TempDir,
}

impl InProcess {
    /// Loads `bundle_name` and starts the service with `config` (toolcalld.toml text; the
    /// environment's TOOLCALLD_* variables are not read).
    pub fn start(bundle_name: &str, config: &str) -> InProcess {
        let dir = TempDir::new("in-process");
        let config_file = dir.0.join("toolcalld.toml");
        std::fs::write(&config_file, config).expect("write config");
        let overrides = Overrides {
            config_file: Some(config_file),
            bus: None,
            model_dir: Some(bundle(bundle_name)),
            models_dir: None,
        };
        let settings = Settings::load(&overrides, HashMap::new()).expect("valid configuration");
        let models = Models::open(&settings).expect("the bundle loads");
        InProcess {
            service: Service::start((models, settings.retriever().unwrap()), None, settings),
            peers: Mutex::new(Vec::new()),
            _dir: dir,
        }
    }
}

impl Connect for InProcess {
    async fn client(&self) -> Client {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        let guid = zbus::Guid::generate();
        let served = self
            .service
            .serve_peer(zbus::connection::Builder::unix_stream(ours).server(guid).p2p());
        let (server, client) = tokio::join!(
            served.build(),
            zbus::connection::Builder::unix_stream(theirs).p2p().build(),
        );
        self.peers
            .lock()
            .unwrap()
            .push(server.expect("the service's end of the peer connection"));
        Client::with_connection(client.expect("the client's end of the peer connection"))
            .await
            .expect("client")
    }
}
