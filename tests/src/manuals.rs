//! The manual pages and shell completions that `make install` ships, generated from the code:
//! toolcalld(8) and toolcallctl(1) from their clap definitions (clap_mangen), toolcalld.toml(5)
//! from the shipped configuration file's comments, org.toolcalld.ToolCall1(5) from the
//! introspection XML; toolcallctl's completions for bash, zsh and fish (clap_complete).
//! They are committed (`docs/man/`, `completions/`) so that installing needs no build step;
//! `tests/tests/manuals.rs` checks they are up to date (`TOOLCALL_UPDATE_MANUALS=1` rewrites
//! them).

use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::Shell;
use roff::{Roff, bold, roman};
use toolcall_dbus::{BUS_NAME, MANAGER_PATH, SESSIONS_PATH, TOOLSETS_PATH};

use crate::workspace_dir;

/// Every generated file: its path in the workspace and its content.
pub fn generated() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = vec![
        (PathBuf::from("docs/man/toolcalld.8"), toolcalld_page()),
        (PathBuf::from("docs/man/toolcallctl.1"), toolcallctl_page()),
    ];
    let mut toolcallctl = toolcall_client::cli::Cli::command();
    toolcallctl.build();
    for sub in toolcallctl.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("toolcallctl-{}", sub.get_name());
        let mut see_also = Roff::new();
        section(&mut see_also, "SEE ALSO", &["toolcallctl(1)"]);
        let page = clap_page(sub.clone(), "1", &see_also);
        files.push((PathBuf::from(format!("docs/man/{name}.1")), page));
    }
    files.extend([
        (PathBuf::from("docs/man/toolcalld.toml.5"), config_page().into_bytes()),
        (
            PathBuf::from(format!("docs/man/{BUS_NAME}.5")),
            interface_page().into_bytes(),
        ),
    ]);
    // toolcalld is started by systemd with one or two flags: only toolcallctl gets completions.
    let mut command = toolcall_client::cli::Cli::command();
    for (shell, file) in [
        (Shell::Bash, "completions/toolcallctl.bash"),
        (Shell::Zsh, "completions/_toolcallctl"),
        (Shell::Fish, "completions/toolcallctl.fish"),
    ] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command, "toolcallctl", &mut script);
        files.push((PathBuf::from(file), script));
    }
    files
}

/// A page of clap_mangen's sections for `command`, then `extra` sections.
fn clap_page(command: clap::Command, section: &str, extra: &Roff) -> Vec<u8> {
    let man = clap_mangen::Man::new(command)
        .section(section)
        .manual("toolcalld")
        .source(format!("toolcalld {}", env!("CARGO_PKG_VERSION")));
    let mut page = Vec::new();
    man.render_title(&mut page).unwrap();
    man.render_name_section(&mut page).unwrap();
    man.render_synopsis_section(&mut page).unwrap();
    man.render_description_section(&mut page).unwrap();
    man.render_options_section(&mut page).unwrap();
    man.render_subcommands_section(&mut page).unwrap();
    page.extend(extra.to_roff().into_bytes());
    page
}

fn section(roff: &mut Roff, title: &str, paragraphs: &[&str]) {
    roff.control("SH", [title]);
    for (i, paragraph) in paragraphs.iter().enumerate() {
        if i > 0 {
            roff.control("PP", []);
        }
        roff.text([roman(*paragraph)]);
    }
}

fn toolcalld_page() -> Vec<u8> {
    let mut extra = Roff::new();
    section(
        &mut extra,
        "SIGNALS",
        &[
            "SIGTERM and SIGINT: stop taking requests, let those in flight finish within shutdown_grace_ms, exit 0. SIGHUP: re-read the configuration's reloadable keys (queue, timeouts, caps, log level).",
        ],
    );
    section(
        &mut extra,
        "FILES",
        &[
            "/etc/toolcalld/toolcalld.toml: the configuration (toolcalld.toml(5)). /usr/share/toolcalld/models/default: the model bundle.",
        ],
    );
    section(
        &mut extra,
        "SEE ALSO",
        &["toolcallctl(1), toolcalld.toml(5), org.toolcalld.ToolCall1(5)"],
    );
    clap_page(toolcalld::Cli::command(), "8", &extra)
}

fn toolcallctl_page() -> Vec<u8> {
    let mut extra = Roff::new();
    section(
        &mut extra,
        "EXIT STATUS",
        &[
            "0: answered. 1: the service answered with an error (its D-Bus name on stderr). 2: usage (bad arguments, an unreadable tools file). 3: the bus or the service cannot be reached. 4: the bus policy denied the call (on the system bus only root and members of group toolcall may call).",
        ],
    );
    section(
        &mut extra,
        "EXAMPLES",
        &[
            "toolcallctl call --tools home.json \"turn on the kitchen light\"",
            "printf 'set a timer for 5 minutes\\n' | toolcallctl --json=pretty session --tools home.json",
        ],
    );
    section(&mut extra, "SEE ALSO", &["toolcalld(8), org.toolcalld.ToolCall1(5)"]);
    clap_page(toolcall_client::cli::Cli::command(), "1", &extra)
}

fn title(roff: &mut Roff, name: &str, section: &str) {
    let source = format!("toolcalld {}", env!("CARGO_PKG_VERSION"));
    roff.control("TH", [name, section, "", source.as_str(), "toolcalld"]);
}

/// toolcalld.toml(5): the shipped file's opening comment, then each key with its default and
/// the comment above it (keys that follow one comment share it).
fn config_page() -> String {
    let shipped = std::fs::read_to_string(workspace_dir().join("daemon/toolcalld.toml")).unwrap();
    let mut roff = Roff::new();
    title(&mut roff, "toolcalld.toml", "5");
    roff.control("SH", ["NAME"]);
    roff.text([roman("toolcalld.toml - configuration of toolcalld")]);
    roff.control("SH", ["DESCRIPTION"]);
    let mut comment = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut intro_done = false;
    let flush = |roff: &mut Roff, comment: &mut Vec<String>, keys: &mut Vec<String>| {
        if !keys.is_empty() {
            roff.control("TP", []);
            roff.text([bold(keys.join(", "))]);
        }
        if !comment.is_empty() {
            roff.text([roman(comment.join(" "))]);
        }
        comment.clear();
        keys.clear();
    };
    for line in shipped.lines() {
        if let Some(text) = line.strip_prefix('#') {
            if !keys.is_empty() {
                flush(&mut roff, &mut comment, &mut keys);
            }
            comment.push(text.trim().to_string());
        } else if line.trim().is_empty() {
            if !intro_done {
                flush(&mut roff, &mut comment, &mut keys);
                roff.control("SH", ["KEYS"]);
                roff.text([roman("Each key with its default.")]);
                intro_done = true;
            }
        } else {
            keys.push(line.trim().to_string());
        }
    }
    flush(&mut roff, &mut comment, &mut keys);
    section(&mut roff, "SEE ALSO", &["toolcalld(8)"]);
    roff.to_roff()
}

/// org.toolcalld.ToolCall1(5): the introspection XML of the interfaces toolcalld serves, as installed
/// under /usr/share/dbus-1/interfaces, comments included.
fn interface_page() -> String {
    let mut roff = Roff::new();
    title(&mut roff, BUS_NAME, "5");
    roff.control("SH", ["NAME"]);
    roff.text([roman(format!(
        "{BUS_NAME} - the D-Bus interfaces of toolcalld: the manager, toolsets, sessions and the tool registry"
    ))]);
    roff.control("SH", ["DESCRIPTION"]);
    roff.text([roman(format!(
        "toolcalld owns the bus name {BUS_NAME} and serves the manager and the tool registry at {MANAGER_PATH}, each client's toolsets under {TOOLSETS_PATH} and its sessions under {SESSIONS_PATH}. The interfaces follow, as their introspection XML (installed in /usr/share/dbus-1/interfaces, with org.toolcalld.ToolProvider1.xml, the interface provider apps serve)."
    ))]);
    for (name, xml) in toolcall_dbus::INTERFACE_XML {
        roff.control("SH", [name.to_uppercase().as_str()]);
        roff.control("nf", []);
        for line in xml
            .lines()
            .filter(|l| !l.starts_with("<!DOCTYPE") && !l.contains("introspect.dtd"))
        {
            roff.text([roman(line)]);
        }
        roff.control("fi", []);
    }
    section(&mut roff, "SEE ALSO", &["toolcalld(8), toolcallctl(1), busctl(1)"]);
    roff.to_roff()
}
