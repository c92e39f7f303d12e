//! Fuzz target: a `Call` request's arguments as they arrive on the bus: the body bytes of
//! signature `(ssa{sv})` (tools JSON, query, options) decoded as toolcalld's handler receives
//! them, then the options type-checked by `CallOptions::from_wire`. Any input may be rejected;
//! none may panic. Options that pass must survive a round trip through `to_wire` unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use toolcall_dbus::{CallOptions, ReceivedOptions};
use zbus::OwnedVariant;
use zbus::wire::LE;
use zbus::wire::serialized::{Context, Data};

fuzz_target!(|data: &[u8]| {
    let body = Data::new(data, Context::new_dbus(LE, 0));
    let Ok(((_tools, _query, options), _)) = body.deserialize::<(String, String, ReceivedOptions)>() else {
        return;
    };
    for accept_test_fault in [false, true] {
        let Ok((parsed, _test_fault)) = CallOptions::from_wire(&options, accept_test_fault) else {
            continue;
        };
        let resent: ReceivedOptions = parsed
            .to_wire()
            .into_iter()
            .map(|(k, v)| (k.to_string(), OwnedVariant::try_from(v).expect("owned")))
            .collect();
        let (reparsed, _) = CallOptions::from_wire(&resent, false).expect("options the service sent itself parse");
        assert_eq!(parsed, reparsed);
    }
});
