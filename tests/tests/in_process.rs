//! The shared end-to-end suite (tests/src/suite.rs) against toolcalld's service run in this
//! process, each client on a peer-to-peer connection: the same cases as `service.rs` runs over
//! a real bus, without a bus daemon or a process start.

use toolcalld_tests::TINY;
use toolcalld_tests::in_process::InProcess;
use toolcalld_tests::suite;
use toolcalld_tests::suite::Connect;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_matches_the_xml_files() {
    let service = InProcess::start(TINY, suite::INTROSPECTION_CONFIG);
    suite::introspection_matches_the_xml_files(&service).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toolset_and_a_session_from_start_to_end() {
    let service = InProcess::start(TINY, suite::TOOLSET_AND_SESSION_CONFIG);
    suite::a_toolset_and_a_session_from_start_to_end(&service).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_clients_together_hold_at_most_max_objects() {
    let service = InProcess::start(TINY, suite::MAX_OBJECTS_CONFIG);
    suite::all_clients_together_hold_at_most_max_objects(&service).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_expires_and_frees_its_slot() {
    let service = InProcess::start(TINY, suite::IDLE_SESSIONS_CONFIG);
    suite::an_idle_session_expires_and_frees_its_slot(&service).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_format_answers_with_tool_calls_and_ids() {
    let service = InProcess::start(TINY, suite::OPENAI_FORMAT_CONFIG);
    suite::the_openai_format_answers_with_tool_calls_and_ids(&service).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_named_error_then_a_normal_call() {
    let service = InProcess::start(TINY, suite::NAMED_ERRORS_CONFIG);
    suite::every_named_error_then_a_normal_call(&service).await;
}

/// The registry's providers are called back by their bus names: a peer-to-peer client may not
/// publish, nor have calls dispatched (refused before any inference).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_and_dispatching_need_a_bus() {
    let service = InProcess::start(TINY, "");
    let client = service.client().await;
    let tools = r#"[{"name": "ping", "parameters": {"type": "object", "properties": {}}}]"#;
    let publish = client.publish(tools, "/org/example/Peer", "peer").await.unwrap_err();
    assert!(publish.to_string().contains("AccessDenied"), "{publish}");
    let dispatch = client
        .dispatch("ping", &toolcall_client::CallOptions::default())
        .await
        .unwrap_err();
    assert!(dispatch.to_string().contains("AccessDenied"), "{dispatch}");
    let route = client
        .route("ping", &toolcall_client::CallOptions::default())
        .await
        .unwrap_err();
    assert!(route.to_string().contains("no tools are published"), "{route}");
}
