"""Collect real tool definitions from MCP servers published on npm (permissive licences only).

The tools are a source held out from training as a whole: the evaluation
model/eval/public_tools_requests.jsonl asks for them, and no training example offers them. Each package in PACKAGES (pinned,
licence checked by hand) is installed with `npm install --ignore-scripts` into its own temp folder,
started over stdio, asked initialize + tools/list, and killed. name, description and inputSchema
are kept as returned; tools whose inputSchema is over MAX_SCHEMA_CHARS are dropped (see stderr).
Dependencies (MCP SDK, zod) follow each package's semver ranges: a later run may differ slightly.

Run from the repository root (needs node and npm; Python 3 stdlib only):
    python3 model/scripts/collect_mcp_tools.py [--out model/data/public_tools.json] [--keep DIR]
Print the engine's form of a collected file ([{name, description, parameters}] using only the
supported JSON Schema subset; counts of what was dropped or rewritten go to stderr):
    python3 model/scripts/collect_mcp_tools.py --to-engine model/data/public_tools.json
"""
import argparse, collections, datetime, json, os, queue, re, subprocess, sys, tempfile, threading

# (package, version, licence as checked, note, server args; "{root}" = a scratch allowed dir)
MCP_NOTE = ("package.json says 'SEE LICENSE IN LICENSE' (file not shipped); README: MIT; the "
            "upstream repo is MIT for code before 2026-01 and Apache-2.0 for later contributions")
PACKAGES = [
    ("@modelcontextprotocol/server-filesystem", "2026.8.31", "Apache-2.0 AND MIT", MCP_NOTE, ["{root}"]),
    ("@modelcontextprotocol/server-memory", "2026.8.31", "Apache-2.0 AND MIT", MCP_NOTE, []),
    ("@modelcontextprotocol/server-sequential-thinking", "2026.8.31", "Apache-2.0 AND MIT", MCP_NOTE, []),
    ("time-mcp", "1.0.6", "MIT", "", []),
    ("@kazuph/mcp-taskmanager", "1.1.1", "MIT", "", []),
    ("@h1deya/mcp-server-weather", "0.1.3", "MIT", "", []),
    ("open-meteo-mcp-server", "2.1.0", "MIT", "", []),
    ("mcp-server-apple-events", "1.5.0", "MIT", "", []),
    ("mcp-git", "0.0.4", "MIT", "", []),
    ("@coo-quack/calc-mcp", "2.1.1", "MIT", "package.json has no license field; the shipped LICENSE file is MIT", []),
]
MAX_SCHEMA_CHARS = 10000
ENGINE_KEYWORDS = set("""type properties required additionalProperties items minItems maxItems enum const minimum
    maximum exclusiveMinimum exclusiveMaximum multipleOf minLength maxLength pattern format anyOf description
    title default examples""".split())
ENGINE_FORMATS = set("date-time time date duration email hostname ipv4 ipv6 uuid uri".split())


def list_tools(cmd, cwd, env, timeout=30.0):
    """Start an MCP server over stdio and return the tools from its tools/list reply."""
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: ([lines.put(l) for l in p.stdout], lines.put("")), daemon=True).start()
    def send(msg):
        p.stdin.write(json.dumps(dict(jsonrpc="2.0", **msg)) + "\n"); p.stdin.flush()
    def reply(msg_id):
        while line := lines.get(timeout=timeout):  # queue.Empty if the server hangs
            msg = json.loads(line) if line.startswith("{") else {}  # skip log lines on stdout
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg["result"]
        raise RuntimeError(f"server closed stdout before answering request {msg_id} (exit {p.poll()})")
    try:
        send({"id": 1, "method": "initialize", "params": {"protocolVersion": "2024-11-05",
              "capabilities": {}, "clientInfo": {"name": "probe", "version": "0"}}})
        reply(1)
        send({"method": "notifications/initialized"})
        send({"id": 2, "method": "tools/list"})
        return reply(2)["tools"]
    finally:
        p.kill(); p.wait()


def collect(work):
    root, home = os.path.join(work, "root"), os.path.join(work, "home")
    [os.makedirs(d, exist_ok=True) for d in (root, home)]
    env = dict(os.environ, HOME=home, MEMORY_FILE_PATH=os.path.join(home, "memory.jsonl"))
    sources = []
    for i, (name, version, lic, note, args) in enumerate(PACKAGES):
        prefix = os.path.join(work, f"pkg{i}")
        subprocess.run(["npm", "install", "--prefix", prefix, "--ignore-scripts", "--no-audit", "--no-fund",
                        "--no-save", "--loglevel=error", f"{name}@{version}"], check=True, stdout=sys.stderr)
        pkg_dir = os.path.join(prefix, "node_modules", name)
        meta = json.load(open(os.path.join(pkg_dir, "package.json")))
        if meta.get("license") != lic and not note:
            print(f"{name}: package.json license {meta.get('license')!r}, recorded {lic!r}", file=sys.stderr)
        bin_ = meta["bin"] if isinstance(meta["bin"], str) else next(iter(meta["bin"].values()))
        listed = list_tools(["node", os.path.join(pkg_dir, bin_)] + [a.format(root=root) for a in args], root, env)
        tools = [{k: t[k] for k in ("name", "description", "inputSchema") if k in t} for t in listed
                 if len(json.dumps(t["inputSchema"])) <= MAX_SCHEMA_CHARS]
        big = [t["name"] for t in listed if len(json.dumps(t["inputSchema"])) > MAX_SCHEMA_CHARS]
        if big:
            print(f"{name}: dropped (inputSchema over {MAX_SCHEMA_CHARS} chars): {', '.join(big)}", file=sys.stderr)
        print(f"{name}@{version}: {len(tools)} tools", file=sys.stderr)
        sources.append(dict(package=name, version=version, license=lic,
                            **({"license_note": note} if note else {}), tools=tools))
    return {"collected": datetime.date.today().isoformat(), "sources": sources}


def to_engine(tool, log=None):
    """MCP tool -> engine tool {name, description, parameters}. Inlines local $ref (then drops
    $defs/definitions), turns oneOf into anyOf, merges a one-branch allOf, and drops $schema,
    unknown formats and every other keyword the engine does not accept; log counts each change."""
    log = collections.Counter() if log is None else log
    root = tool.get("inputSchema") or {"type": "object", "properties": {}}
    def resolve(ref, node=root):
        for part in (ref[2:].split("/") if ref != "#" else []):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node
    def conv(s, depth=0):
        if not isinstance(s, dict) or depth > 32:
            return s if isinstance(s, bool) else {}
        s = dict(s)
        while str(s.get("$ref", "")).startswith("#") and depth < 32:
            s = dict(resolve(s.pop("$ref")), **s); log["$ref inlined"] += 1; depth += 1
        if "oneOf" in s:
            s["anyOf"] = s.pop("oneOf"); log["oneOf -> anyOf"] += 1
        if isinstance(s.get("allOf"), list) and len(s["allOf"]) == 1 and isinstance(s["allOf"][0], dict):
            s = dict(s.pop("allOf")[0], **s); log["allOf[1] merged"] += 1
        out = {}
        for k, v in s.items():
            if k not in ENGINE_KEYWORDS or (k == "format" and v not in ENGINE_FORMATS) \
                    or (k == "items" and isinstance(v, list)) or (k.startswith("exclusiveM") and isinstance(v, bool)):
                log[f"dropped {k}" + (f"={v}" if k == "format" else "")] += 1
                continue
            if k == "properties":
                v = {p: conv(sub, depth + 1) for p, sub in v.items()}
            elif k in ("items", "additionalProperties") and isinstance(v, dict):
                v = conv(v, depth + 1)
            elif k == "anyOf":
                v = [conv(b, depth + 1) for b in v]
            out[k] = v
        if "required" in out and out.get("additionalProperties", False) is False:
            keep = [r for r in out["required"] if r in out.get("properties", {})]
            if len(keep) != len(out["required"]):
                log["required name without a property dropped"] += 1
            out["required"] = keep
        return out
    params = {**conv(root), "type": "object"}
    params.setdefault("properties", {})
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", tool["name"])
    name = (name if re.match(r"[A-Za-z_]", name) else "_" + name)[:64]
    if name != tool["name"]:
        log["tool renamed"] += 1
    return {"name": name, "description": tool.get("description", ""), "parameters": params}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="model/data/public_tools.json")
    ap.add_argument("--keep", help="install into this folder and keep it (default: a temp dir)")
    ap.add_argument("--to-engine", metavar="COLLECTED", help="print the engine form of a collected file")
    a = ap.parse_args()
    if a.to_engine:
        log = collections.Counter()
        tools = [to_engine(t, log) for src in json.load(open(a.to_engine))["sources"] for t in src["tools"]]
        print(json.dumps(tools, indent=1, ensure_ascii=False))
        print(f"{len(tools)} tools; conversion: {dict(log)}", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory(prefix="mcp-") as tmp:
        work = os.path.abspath(a.keep) if a.keep else tmp
        data = collect(work)
    with open(a.out, "w") as f:
        json.dump(data, f, indent=1, ensure_ascii=False); f.write("\n")
    print(f"wrote {a.out}: {sum(len(s['tools']) for s in data['sources'])} tools, "
          f"{os.path.getsize(a.out)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
