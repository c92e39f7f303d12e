//! The catalogue's rules: prefixes held by their first publisher until it leaves, limits,
//! what `choose` gives and refuses.

use super::*;

#[test]
fn all_providers_together_publish_at_most_max_published_bytes() {
    let registry = Registry::default();
    let limits = ToolLimits::default();
    let long = format!(
        r#"[{{"name": "t", "description": "{}", "parameters": {{"type": "object"}}}}]"#,
        "x".repeat(200 * 1024)
    );
    // 200 KiB each: the 21st passes 4 MiB.
    let refused = (0..32)
        .map(|i| registry.publish(&format!(":1.{i}"), (&format!("p{i}"), path("/b")), &long, &limits))
        .position(|published| published.is_err());
    assert_eq!(refused, Some(20));
    let refused = registry.publish(":1.20", ("p20", path("/b")), &long, &limits).err();
    assert!(matches!(refused, Some(ToolCallError::LimitExceeded(_))), "{refused:?}");
}

const TOOLS: &str = r#"[{"name": "play", "description": "Play.", "parameters": {"type": "object", "properties": {}}},
                      {"name": "stop", "parameters": {"type": "object", "properties": {}}}]"#;

fn path(p: &str) -> OwnedObjectPath {
    OwnedObjectPath::try_from(p).unwrap()
}

#[test]
fn a_prefix_is_its_first_publishers_until_it_leaves() {
    let registry = Registry::default();
    let limits = ToolLimits::default();
    let off = (&limits, Narrowing { above: 0, top_k: 0 });
    let open = PrefixAccess::open();
    let handle = registry.publish(":1.1", ("media", path("/m")), TOOLS, &limits).unwrap();
    let taken = registry.publish(":1.2", ("media", path("/x")), TOOLS, &limits);
    assert!(matches!(taken, Err(ToolCallError::AccessDenied(_))), "{taken:?}");
    assert!(matches!(
        registry.unpublish(":1.2", handle.as_str()),
        Err(ToolCallError::AccessDenied(_))
    ));
    let chosen = registry.choose(None, off, &open).unwrap();
    assert!(
        chosen.tools_json.contains(r#""name":"media.play""#),
        "{}",
        chosen.tools_json
    );
    assert_eq!(
        chosen.providers["media.stop"],
        Provider {
            owner: ":1.1".into(),
            path: "/m".into(),
            tool: "stop".into()
        }
    );
    let one = registry.choose(Some(&["media.play".to_string()]), off, &open).unwrap();
    assert_eq!(one.providers.len(), 1);
    assert!(registry.choose(Some(&["media.pause".to_string()]), off, &open).is_err());
    assert!(registry.choose(Some(&[]), off, &open).is_err());
    let one_tool = ToolLimits {
        max_tools: 1,
        ..ToolLimits::default()
    };
    assert!(matches!(
        registry.choose(None, (&one_tool, off.1), &open),
        Err(ToolCallError::LimitExceeded(_))
    ));
    // More than max_tools are published, and retrieval will keep one of them.
    let to_one = Narrowing { above: 1, top_k: 1 };
    assert_eq!(
        registry
            .choose(None, (&one_tool, to_one), &open)
            .unwrap()
            .providers
            .len(),
        2
    );
    let media_closed = BTreeMap::from([("media".to_string(), Vec::new())]);
    let closed = PrefixAccess::of(&media_closed, None);
    let named = registry.choose(Some(&["media.play".to_string()]), off, &closed);
    assert!(matches!(named, Err(ToolCallError::AccessDenied(_))));
    let all = registry.choose(None, off, &closed);
    assert!(matches!(all, Err(ToolCallError::AccessDenied(_))), "nothing left");
    assert_eq!(registry.catalogue_json(&closed), "[]");
    let unpublished = registry.choose(Some(&["media.nothing".to_string()]), off, &closed);
    assert!(
        matches!(unpublished, Err(ToolCallError::AccessDenied(_))),
        "a hidden prefix does not tell what it holds"
    );
    assert_eq!(registry.provider_of("media.play").unwrap().tool, "play");
    assert_eq!(registry.provider_of("media.pause"), None);
    // "media" and three more.
    for prefix in ["a", "b", "c"] {
        registry.publish(":1.1", (prefix, path("/m")), TOOLS, &limits).unwrap();
    }
    let fifth = registry.publish(":1.1", ("e", path("/m")), TOOLS, &limits);
    assert!(matches!(fifth, Err(ToolCallError::LimitExceeded(_))), "{fifth:?}");
    let long = format!(
        r#"[{{"name": "{}", "parameters": {{"type": "object"}}}}]"#,
        "x".repeat(63)
    );
    assert!(toolcall_engine::tools::parse_tools(&long, &limits).is_ok());
    assert!(
        registry.publish(":1.1", ("a", path("/m")), &long, &limits).is_err(),
        "a.xxx is too long"
    );
    assert!(registry.depart(":1.1"));
    assert!(!registry.depart(":1.1"));
    registry.publish(":1.2", ("media", path("/x")), TOOLS, &limits).unwrap();
    for bad in ["", "Media", "1media", "me-dia", &"m".repeat(33)] {
        assert!(
            registry.publish(":1.3", (bad, path("/x")), TOOLS, &limits).is_err(),
            "{bad:?}"
        );
    }
}
