//! Two real users on a bus configured like the system bus (`toolcalld_tests::system_bus`):
//! one user's connections share its caps, and however many it opens, another user still gets
//! in. Clients are `toolcallctl session` processes run as `nobody` and as `daemon`, both
//! members of the `toolcall` group. Needs root; CI runs as root.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Stdio};

use toolcalld_tests::installed::text;
use toolcalld_tests::system_bus::{As, SystemSetup, argv_as, command};

/// A `toolcallctl session` that has answered its first turn: it holds a toolset and a session
/// until it is dropped (its stdin closes, and it releases both and exits).
struct HeldSession {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Drop for HeldSession {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// Opens a session as `who`: the toolset and session it holds, or toolcallctl's error output.
fn open_session(setup: &SystemSetup, who: As) -> Result<HeldSession, String> {
    let mut argv: Vec<String> = ["timeout", "120"].map(String::from).to_vec();
    argv.extend(argv_as(who, &setup.app.path("toolcallctl")));
    let mut child = command(&argv)
        .args(["--address", &setup.bus.address, "session", "--tools"])
        .arg(setup.app.path("tools.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("toolcallctl starts");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"turn on the kitchen light\n").unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    if stdout.read_line(&mut line).unwrap() == 0 {
        let mut stderr = Vec::new();
        child.stderr.take().unwrap().read_to_end(&mut stderr).unwrap();
        let status = child.wait().unwrap();
        return Err(format!("{status}: {}", text(&stderr)));
    }
    assert!(line.contains("function_calls"), "{line}");
    Ok(HeldSession {
        child,
        stdin: Some(stdin),
    })
}

/// A second user in the `toolcall` group: Debian's `daemon` account (the bus refuses a uid
/// that has no account).
fn second_user(setup: &SystemSetup) -> As {
    let user = nix::unistd::User::from_name("daemon")
        .unwrap()
        .expect("the daemon account (base-passwd)");
    As::User(user.uid.as_raw(), user.gid.as_raw(), Some(setup.call_gid))
}

#[test]
fn one_users_connections_share_its_object_cap_and_another_user_still_gets_in() {
    // Each session holds two objects (its toolset and itself): two sessions fill a user's cap.
    let setup = SystemSetup::new("max_objects_per_user = 4\nmax_objects_per_client = 16\nmax_objects = 8\n");
    let (_daemon, _) = setup.serve();
    let (a, b) = (setup.member, second_user(&setup));
    let first = open_session(&setup, a).expect("A's first session");
    let _second = open_session(&setup, a).expect("A's second session, on another connection");
    let refused = open_session(&setup, a).map(|_| ()).unwrap_err();
    assert!(
        refused.contains("LimitExceeded") && refused.contains("limit max_objects_per_user exceeded"),
        "{refused}"
    );
    let _theirs = open_session(&setup, b).expect("the other user's session");
    // A's first session released (toolcallctl closes it and exits), A has room again.
    drop(first);
    open_session(&setup, a).expect("A's room is back");
}

#[test]
fn one_user_cannot_take_the_whole_kv_budget() {
    // The tiny model holds 512 bytes per token: 1 MB is 2048 tokens, room for a few sessions
    // of the home tools (toolset and session ~300 tokens each, plus the turn) per user.
    let setup = SystemSetup::new(
        "max_kv_mb = 2\nmax_kv_mb_per_user = 1\nmax_objects_per_user = 32\nmax_objects_per_client = 32\nmax_objects = 64\n",
    );
    let (_daemon, _) = setup.serve();
    let (a, b) = (setup.member, second_user(&setup));
    let mut held = Vec::new();
    let refused = loop {
        match open_session(&setup, a) {
            Ok(session) => held.push(session),
            Err(e) => break e,
        }
        assert!(held.len() < 10, "A's share never ran out");
    };
    assert!(!held.is_empty(), "A could not open one session: {refused}");
    assert!(
        refused.contains("LimitExceeded") && refused.contains("limit max_kv_mb_per_user exceeded"),
        "{refused}\n{}",
        setup.daemon_log()
    );
    let _theirs = open_session(&setup, b).expect("the other user's share is untouched");
}
