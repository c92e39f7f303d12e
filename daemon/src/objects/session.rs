//! A session: `/org/toolcalld/ToolCall1/sessions/<n>`, a conversation on a toolset's prefix.

use std::sync::{Arc, Mutex};

use toolcall_dbus::ReceivedOptions as Options;
use toolcall_engine::options::DEFAULT_MAX_NEW_TOKENS;
use toolcall_engine::{CallOptions, CallResult, Error as EngineError, Session};
use zbus::interface;
use zbus::message::Header;
use zbus::object_server::ObjectServer;

use crate::clients::ObjectKind;
use crate::models::LoadedModel;
use crate::ownership::{Claim, Owner, object_path};
use crate::request::{Method, Request, Result};
use crate::service::Shared;

/// Tokens a turn's chat markers, facts tags and the last answer's end may add beyond the turn's
/// own text (an upper bound).
const TURN_MARKERS_TOKENS: usize = 64;

/// `/org/toolcalld/ToolCall1/sessions/<n>`
pub struct SessionObject {
    shared: Arc<Shared>,
    session: Arc<Mutex<toolcall_engine::Session>>,
    /// Its toolset's engine.
    engine: Arc<LoadedModel>,
    owner: Owner,
}

impl SessionObject {
    pub fn new(shared: Arc<Shared>, (session, engine): (Session, Arc<LoadedModel>), owner: Owner) -> SessionObject {
        SessionObject {
            shared,
            session: Arc::new(Mutex::new(session)),
            engine,
            owner,
        }
    }

    /// This session's share of the KV budget.
    fn claim(&self, header: &Header<'_>) -> Claim {
        let bytes_per_token = self.engine.kv_bytes_per_token();
        Claim::new(
            self.shared.clone(),
            self.owner.name.clone(),
            (object_path(header), bytes_per_token),
        )
    }

    /// A turn of this session: before it runs, the session is counted for what it may grow
    /// to (its tokens, the turn's text as if each byte were a token, the turn's markers and
    /// the answer's `max_new_tokens`); after it, for what it holds.
    async fn turn(
        &self,
        method: Method,
        header: &Header<'_>,
        options: &Options,
        text_bytes: usize,
        turn: impl FnOnce(&Arc<LoadedModel>, &mut Session, &CallOptions) -> std::result::Result<CallResult, EngineError>
        + Send
        + 'static,
    ) -> Result<String> {
        let request = self.request(method, header, options)?;
        let (session, claim) = (self.session.clone(), self.claim(header));
        request
            .answer(&self.shared, move |engine, options| {
                let mut session = session.lock().expect("session lock");
                let facts = options.facts.as_ref().map_or(0, String::len);
                let answer = options.max_new_tokens.unwrap_or(DEFAULT_MAX_NEW_TOKENS);
                claim.tokens(session.len() + text_bytes + facts + TURN_MARKERS_TOKENS + answer)?;
                let result = turn(engine, &mut session, options);
                claim.tokens(session.len())?;
                result
            })
            .await
    }

    /// A request on this session, checked to come from its owner; the session counts as used
    /// now (see `expiry`).
    fn request(&self, method: Method, header: &Header<'_>, options: &Options) -> Result<Request> {
        let caller = self.owner.check(header)?;
        let path = object_path(header);
        self.shared.clients.touch(&caller, &path);
        Request::new(method, caller, Some(path.to_string()), options, &self.shared)?.on(self.engine.clone())
    }
}

#[interface(name = "org.toolcalld.ToolCall1.Session")]
impl SessionObject {
    #[zbus(out_args("result_json"))]
    async fn send(&self, text: String, options: Options, #[zbus(header)] header: Header<'_>) -> Result<String> {
        let grows_by = text.len();
        self.turn(
            Method::Send,
            &header,
            &options,
            grows_by,
            move |engine, session, options| engine.send(session, &text, options),
        )
        .await
    }

    #[zbus(out_args("result_json"))]
    async fn submit_tool_results(
        &self,
        results_json: String,
        options: Options,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<String> {
        let grows_by = results_json.len();
        let turn = move |engine: &Arc<LoadedModel>, session: &mut Session, options: &CallOptions| {
            engine.submit_tool_results(session, &results_json, options)
        };
        self.turn(Method::SubmitToolResults, &header, &options, grows_by, turn)
            .await
    }

    async fn reset(&self, #[zbus(header)] header: Header<'_>) -> Result<()> {
        let request = self.request(Method::Reset, &header, &Options::new())?;
        let (session, claim) = (self.session.clone(), self.claim(&header));
        let reset = move |engine: &Arc<LoadedModel>, _: &CallOptions| {
            let mut session = session.lock().expect("session lock");
            engine.reset_session(&mut session);
            claim.tokens(session.len())
        };
        request.run(&self.shared, reset).await?;
        Ok(())
    }

    async fn close(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(object_server)] server: &ObjectServer,
    ) -> Result<()> {
        self.owner
            .release(&self.shared, &header, server, ObjectKind::Session)
            .await
    }
}
