//! Unit tests of the client registry's caps and budgets.

use super::*;

fn caps(per_client: usize, in_all: usize, room: usize) -> Caps {
    Caps {
        per_client,
        per_user: usize::MAX,
        in_all,
        room,
        user_room: usize::MAX,
    }
}

fn path(n: u32) -> OwnedObjectPath {
    OwnedObjectPath::try_from(format!("/t/{n}")).unwrap()
}

fn refused_by(result: Result<(), EngineError>) -> Limit {
    match result {
        Err(EngineError::LimitExceeded { limit, .. }) => limit,
        other => panic!("not refused by a limit: {other:?}"),
    }
}

#[test]
fn the_clients_of_one_user_share_its_cap() {
    let registry = ClientRegistry::default();
    let caps = Caps {
        per_user: 2,
        ..caps(8, 8, 1000)
    };
    for (name, uid) in [(":1.1", 1000), (":1.2", 1000), (":1.3", 1000), (":1.4", 1001)] {
        registry.set_uid(name, uid);
    }
    registry
        .add_object(":1.1", (&path(1), ObjectKind::Toolset, 10), &caps)
        .unwrap();
    registry
        .add_object(":1.2", (&path(2), ObjectKind::Toolset, 10), &caps)
        .unwrap();
    let third = registry.add_object(":1.3", (&path(3), ObjectKind::Toolset, 10), &caps);
    assert_eq!(refused_by(third), Limit::ObjectsPerUser);
    // Another user is not held back by the first one's objects.
    registry
        .add_object(":1.4", (&path(4), ObjectKind::Toolset, 10), &caps)
        .unwrap();
    registry.forget_object(":1.1", &path(1));
    registry
        .add_object(":1.3", (&path(3), ObjectKind::Toolset, 10), &caps)
        .unwrap();
}

#[test]
fn the_clients_of_one_user_share_its_kv_room() {
    let registry = ClientRegistry::default();
    let caps = Caps {
        user_room: 500,
        ..caps(8, 8, 1000)
    };
    for (name, uid) in [(":1.1", 1000), (":1.2", 1000), (":1.3", 1001)] {
        registry.set_uid(name, uid);
    }
    registry
        .add_object(":1.1", (&path(1), ObjectKind::Toolset, 300), &caps)
        .unwrap();
    let over = registry.add_object(":1.2", (&path(2), ObjectKind::Session, 300), &caps);
    assert_eq!(refused_by(over), Limit::KvBudgetPerUser);
    registry
        .add_object(":1.2", (&path(2), ObjectKind::Session, 200), &caps)
        .unwrap();
    assert_eq!(
        refused_by(registry.resize(":1.2", &path(2), 201, &caps)),
        Limit::KvBudgetPerUser
    );
    // Another user has its own share of the room left in all.
    registry
        .add_object(":1.3", (&path(3), ObjectKind::Toolset, 400), &caps)
        .unwrap();
    assert_eq!(registry.kv_bytes(), 900);
}

#[test]
fn caps_per_client_and_in_all_and_a_departure_frees() {
    let registry = ClientRegistry::default();
    registry
        .add_object(":1.1", (&path(1), ObjectKind::Toolset, 100), &caps(2, 3, 1000))
        .unwrap();
    registry
        .add_object(":1.1", (&path(2), ObjectKind::Session, 100), &caps(2, 3, 1000))
        .unwrap();
    let per_client = registry.add_object(":1.1", (&path(3), ObjectKind::Toolset, 100), &caps(2, 3, 1000));
    assert_eq!(refused_by(per_client), Limit::ObjectsPerClient);
    registry
        .add_object(":1.2", (&path(4), ObjectKind::Toolset, 100), &caps(2, 3, 1000))
        .unwrap();
    let in_all = registry.add_object(":1.3", (&path(5), ObjectKind::Toolset, 100), &caps(2, 3, 1000));
    assert_eq!(refused_by(in_all), Limit::Objects);

    assert_eq!(registry.depart(":1.1").len(), 2);
    // Its objects no longer count, and their bytes are free again.
    assert_eq!(registry.kv_bytes(), 100);
    registry
        .add_object(":1.3", (&path(5), ObjectKind::Toolset, 100), &caps(2, 3, 1000))
        .unwrap();
}

#[test]
fn the_kv_room_is_checked_when_an_object_is_added_or_grows() {
    let registry = ClientRegistry::default();
    registry
        .add_object(":1.1", (&path(1), ObjectKind::Toolset, 300), &caps(8, 8, 1000))
        .unwrap();
    registry
        .add_object(":1.1", (&path(2), ObjectKind::Session, 300), &caps(8, 8, 1000))
        .unwrap();
    let full = registry.add_object(":1.2", (&path(3), ObjectKind::Toolset, 500), &caps(8, 8, 1000));
    assert_eq!(refused_by(full), Limit::KvBudget);
    // A session grows while there is room, and may always shrink.
    registry.resize(":1.1", &path(2), 700, &caps(8, 8, 1000)).unwrap();
    let grown = registry.resize(":1.1", &path(2), 701, &caps(8, 8, 1000));
    assert_eq!(refused_by(grown), Limit::KvBudget);
    assert_eq!(registry.kv_bytes(), 1000, "a refused growth changes nothing");
    registry.resize(":1.1", &path(2), 300, &caps(8, 8, 1000)).unwrap();
    assert_eq!(registry.kv_bytes(), 600);
    // An object whose owner left cannot be resized.
    registry.depart(":1.1");
    assert!(matches!(
        registry.resize(":1.1", &path(2), 10, &caps(8, 8, 1000)),
        Err(EngineError::Cancelled)
    ));
}
