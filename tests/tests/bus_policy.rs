//! The system-bus policy on a real dbus-daemon configured like the system bus, with the
//! daemon and its clients run as other users (`toolcalld_tests::system_bus`), on the files as
//! `make install-data` lays them out. Needs root; CI runs as root.

use std::fs;

use toolcall_dbus::{BUS_NAME, MANAGER_PATH as OBJECT, REGISTRY_INTERFACE, SESSIONS_PATH, TOOLSETS_PATH};
use toolcalld_tests::installed::*;
use toolcalld_tests::system_bus::*;
use toolcalld_tests::{TempDir, workspace_dir};

#[test]
fn system_bus_policy_limits_owner_and_callers() {
    let setup = SystemSetup::new("");
    let (bus, app) = (&setup.bus, &setup.app);
    let (service_uid, member, other) = (setup.service_uid, setup.member, setup.other);

    // The system activation file is read and names the service.
    let activatable = dbus_send(
        As::Root,
        bus,
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus.ListActivatableNames",
        &[],
    )
    .unwrap();
    assert!(activatable.contains(&format!("\"{BUS_NAME}\"")), "{activatable}");

    // Only the toolcalld user may own the name: root and others get AccessDenied and exit
    // (`timeout` ends a daemon that wrongly got the name, with status 124).
    for (who, label) in [(As::Root, "root"), (member, "a toolcall member"), (other, "nobody")] {
        let out = output(app.daemon(&["timeout", "30"], who, bus));
        let stderr = text(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(ACCESS_DENIED) && stderr.contains("not allowed to own"),
            "toolcalld as {label} must not own {BUS_NAME}: {}\n{stderr}",
            out.status
        );
    }
    let (mut daemon, owner_uid) = setup.serve();
    assert!(
        owner_uid.contains(&format!("uint32 {service_uid}")),
        "{BUS_NAME} owned by {owner_uid}"
    );

    // Method calls: root and members of toolcall get answers, anyone else AccessDenied from
    // the bus (the service never sees the call).
    for (who, label) in [(As::Root, "root"), (member, "a toolcall member")] {
        let out = app.call(who, bus);
        assert!(out.status.success(), "{label}: {}\n{}", out.status, text(&out.stderr));
        let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("result JSON");
        assert!(result["function_calls"].is_array(), "{label}: {result}");
    }
    let out = app.call(other, bus);
    assert!(
        out.status.code() == Some(4)
            && text(&out.stderr).contains(ACCESS_DENIED)
            && text(&out.stderr).contains("group toolcall"),
        "nobody's call was not refused: {}\n{}\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    // The same malformed message, two callers: the bus refuses it for nobody, while for a
    // member it reaches the service (which rejects the arguments).
    let call = format!("{BUS_NAME}.Call");
    let args = ["string:tools", "string:query"];
    let refused = dbus_send(other, bus, BUS_NAME, OBJECT, &call, &args).unwrap_err();
    assert!(refused.contains(ACCESS_DENIED), "{refused}");
    let reached = dbus_send(member, bus, BUS_NAME, OBJECT, &call, &args).unwrap_err();
    assert!(
        !reached.contains(ACCESS_DENIED) && reached.contains("InvalidArgs"),
        "{reached}"
    );
    // The registry likewise: members reach it, nobody else does.
    let route = format!("{REGISTRY_INTERFACE}.Route");
    let refused = dbus_send(other, bus, BUS_NAME, OBJECT, &route, &args).unwrap_err();
    assert!(refused.contains(ACCESS_DENIED), "{refused}");
    let reached = dbus_send(member, bus, BUS_NAME, OBJECT, &route, &args).unwrap_err();
    assert!(
        !reached.contains(ACCESS_DENIED) && reached.contains("InvalidArgs"),
        "a member's Route: {reached}"
    );

    // Introspection and reading properties are open to everyone; setting is not.
    let props = "org.freedesktop.DBus.Properties";
    let version = dbus_send(
        other,
        bus,
        BUS_NAME,
        OBJECT,
        &format!("{props}.Get"),
        &[&format!("string:{BUS_NAME}"), "string:Version"],
    )
    .unwrap();
    assert!(
        version.contains(&format!("\"{}\"", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let all = dbus_send(
        other,
        bus,
        BUS_NAME,
        OBJECT,
        &format!("{props}.GetAll"),
        &[&format!("string:{BUS_NAME}")],
    )
    .unwrap();
    assert!(all.contains("\"QueueDepth\"") && all.contains("\"Model\""), "{all}");
    let xml = dbus_send(
        other,
        bus,
        BUS_NAME,
        OBJECT,
        "org.freedesktop.DBus.Introspectable.Introspect",
        &[],
    )
    .unwrap();
    assert!(xml.contains(&format!("<interface name=\"{BUS_NAME}\">")), "{xml}");
    // The folders of the clients' objects are not listed, not even to the group.
    for who in [other, member] {
        for folder in [TOOLSETS_PATH, SESSIONS_PATH] {
            let listed = dbus_send(
                who,
                bus,
                BUS_NAME,
                folder,
                "org.freedesktop.DBus.Introspectable.Introspect",
                &[],
            )
            .unwrap_err();
            assert!(listed.contains(ACCESS_DENIED), "{folder}: {listed}");
        }
    }
    let set = dbus_send(
        other,
        bus,
        BUS_NAME,
        OBJECT,
        &format!("{props}.Set"),
        &[&format!("string:{BUS_NAME}"), "string:Version", "variant:string:x"],
    )
    .unwrap_err();
    assert!(set.contains(ACCESS_DENIED), "{set}");

    // ReloadModels: root and the toolcall-admin group (the admin is in toolcall too: group rules
    // apply in no set order, so none may deny what another allows); a plain member is refused.
    let reload = format!("{BUS_NAME}.ReloadModels");
    for (who, label) in [
        (As::Root, "root"),
        (setup.admin, "a member of toolcall and toolcall-admin"),
    ] {
        let outcome = dbus_send(who, bus, BUS_NAME, OBJECT, &reload, &[])
            .unwrap_or_else(|e| panic!("{label}'s ReloadModels refused: {e}"));
        assert!(outcome.contains("unchanged"), "{label}: {outcome}");
    }
    for (who, label) in [(member, "a toolcall member"), (other, "nobody")] {
        let refused = dbus_send(who, bus, BUS_NAME, OBJECT, &reload, &[]).unwrap_err();
        assert!(refused.contains(ACCESS_DENIED), "{label}: {refused}");
    }
    // A member still reaches the manager's other methods (the group's policy lists them).
    for method in ["ListModels", "Cancel"] {
        let args: &[&str] = if method == "Cancel" { &["string:none"] } else { &[] };
        let reply = dbus_send(member, bus, BUS_NAME, OBJECT, &format!("{BUS_NAME}.{method}"), args);
        assert!(reply.is_ok(), "a member's {method}: {reply:?}");
    }
    // And no group's policy denies anything: dbus-daemon applies group policies in no set
    // order, so a deny in one could undo another's allow for a member of both.
    let policy = fs::read_to_string(workspace_dir().join("dbus-interfaces/org.toolcalld.ToolCall1.conf")).unwrap();
    for group_policy in policy.split("<policy group=").skip(1) {
        let body = group_policy.split("</policy>").next().unwrap();
        assert!(!body.contains("<deny"), "a group policy denies: {body}");
    }

    assert!(daemon.0.try_wait().unwrap().is_none(), "toolcalld died during the test");
    assert_eq!(bus.config_errors(), Vec::<String>::new());
}

#[test]
fn a_malformed_policy_is_caught() {
    // dbus-daemon only logs a broken policy file and skips it; SystemBus::config_errors is
    // what notices. Check it notices.
    let scratch = TempDir::new("policy-broken");
    let policy = scratch.0.join("policy");
    fs::create_dir(&policy).unwrap();
    let good = read(&workspace_dir().join("dbus-interfaces/org.toolcalld.ToolCall1.conf"));
    fs::write(policy.join("broken.conf"), good.replace("<allow own=", "<allow owns=")).unwrap();
    let bus = SystemBus::start(&scratch.0, &policy, &scratch.0);
    let errors = bus.config_errors();
    assert!(errors.iter().any(|e| e.contains("broken.conf")), "{errors:?}");
}
